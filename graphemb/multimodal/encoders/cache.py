"""On-disk cache of node embeddings, keyed by (dataset, modality, encoder options) and node id.

Layout: ``$GRAPHEMB_CACHE/mag-features/<dataset>/<modality>/<encoder>_<maxlen>_<pool>-<hash>/``
where ``<hash>`` digests every option that changes the vectors (:func:`encoder_options`:
normalisation, backend, pooling, max length/truncation, prompt, image size, ...; not the
device), holding ``meta.json`` (dim, encoder, options) and ``chunk-<k>-<tag>.npz`` files, each
with arrays ``ids``, ``x`` (float32), ``mask`` (bool) and ``fp`` (a content hash of each node's
input: a node whose text or image changed under the same id is re-encoded, never served a stale
vector). Every file is written to a per-process temporary name and renamed
(:func:`graphemb.utils.io.atomic_write`) as encoding proceeds, so an interrupted run resumes from
the last written chunk, two processes never clobber each other's chunk, and a finished run costs
nothing the second time. Nodes already cached are recognised by id, not position. A chunk that
cannot be read (disk damage) is reported with a warning and its nodes are encoded again.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from graphemb.multimodal.encoders.base import NodeEncoder
from graphemb.utils.io import DataFileError, atomic_write, load_npz, read_json, write_json

__all__ = ["cache_root", "feature_cache_dir", "encode_nodes", "encode_graph", "encoder_options", "feature_key"]

# Encoder attributes that change the vectors; each one present is part of the cache key.
VECTOR_OPTIONS = ("name", "dim", "backend", "pooling", "max_length", "truncation", "normalize", "prompt",
                  "use_chat_template", "size", "image_size", "dtype", "revision", "width")


def cache_root() -> Path:
    """``$GRAPHEMB_CACHE`` or ``~/.cache/graphemb``."""
    return Path(os.environ.get("GRAPHEMB_CACHE", Path.home() / ".cache" / "graphemb"))


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]+", "_", s.strip()).strip("_") or "_"


def feature_key(modality: str, encoder: NodeEncoder) -> str:
    """The feature-set name an encoder's output gets on a graph: ``<modality>:<encoder name>``."""
    return f"{modality}:{encoder.name}"


def encoder_options(encoder: NodeEncoder) -> dict:
    """Everything about ``encoder`` that changes its vectors, as a JSON-able dict.

    The attributes of :data:`VECTOR_OPTIONS` the encoder has (``normalize``, ``backend``,
    ``pooling``, ``max_length``, ``prompt``, ``size``...; never ``device``), the encoder's class,
    and whatever its optional ``cache_options() -> dict`` adds (an encoder with other
    vector-changing settings must list them there).
    """
    opts = {k: getattr(encoder, k) for k in VECTOR_OPTIONS if hasattr(encoder, k)}
    if hasattr(encoder, "cache_options"):
        opts.update(encoder.cache_options())
    opts = {k: (str(v) if not isinstance(v, (str, int, float, bool, type(None))) else v) for k, v in opts.items()}
    opts["class"] = f"{type(encoder).__module__}.{type(encoder).__qualname__}"
    return opts


def feature_cache_dir(dataset: str, modality: str, encoder: NodeEncoder, root: str | os.PathLike | None = None) -> Path:
    """The cache folder of (``dataset``, ``modality``, ``encoder`` with all its options)."""
    maxlen = int(getattr(encoder, "max_length", 0) or 0)
    pool = str(getattr(encoder, "pooling", "none"))
    key = hashlib.sha256(json.dumps(encoder_options(encoder), sort_keys=True, default=str).encode()).hexdigest()[:12]
    base = Path(root) if root is not None else cache_root()
    return (base / "mag-features" / _slug(dataset) / _slug(modality)
            / f"{_slug(encoder.name)}_{maxlen}_{_slug(pool)}-{key}")


def _read_chunks(d: Path, dim: int):
    ids, xs, masks, fps = [], [], [], []
    for f in sorted(d.glob("chunk-*.npz")):
        try:
            z = load_npz(f, ("ids", "x", "mask", "fp"), what="cached feature chunk")
        except DataFileError as e:
            warnings.warn(f"ignoring unreadable cache chunk ({e}); its nodes are encoded again", stacklevel=3)
            continue
        if z["x"].ndim != 2 or z["x"].shape[1] != dim:
            raise ValueError(f"cached chunk {f} has shape {z['x'].shape}, expected [*, {dim}]; delete {d}")
        ids.append(z["ids"]), xs.append(z["x"]), masks.append(z["mask"]), fps.append(z["fp"])
    return ids, xs, masks, fps


def _id_key(ids: np.ndarray) -> np.ndarray:
    return np.asarray(ids).astype(str)


def fingerprint(item) -> str:
    """A short content hash of an encoder input, so a cached vector is reused only for the same
    input (a changed text, image file or generated image is re-encoded)."""
    import hashlib

    h = hashlib.blake2b(digest_size=8)
    parts = item if isinstance(item, tuple) else (item,)
    for it in parts:
        if it is None:
            h.update(b"\0none")
        elif isinstance(it, str):
            h.update(b"s" + it.encode("utf-8", "surrogatepass"))
            if os.path.isfile(it):  # an image path: its size and mtime too
                st = os.stat(it)
                h.update(f"{st.st_size}:{st.st_mtime_ns}".encode())
        elif isinstance(it, os.PathLike):
            st = os.stat(it)
            h.update(f"p{os.fspath(it)}:{st.st_size}:{st.st_mtime_ns}".encode())
        elif hasattr(it, "tobytes"):  # PIL image / array
            h.update(f"i{getattr(it, 'size', '')}{getattr(it, 'mode', '')}".encode() + it.tobytes())
        else:
            h.update(repr(it).encode())
    return h.hexdigest()


def encode_nodes(dataset: str, modality: str, encoder: NodeEncoder, ids: Sequence, items: Sequence, *,
                 root: str | os.PathLike | None = None, chunk_size: int = 1024, batch_size: int = 64,
                 show_progress: bool | None = None, use_cache: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Embed ``items[k]`` (the input of node ``ids[k]``) with the cache.

    ``None`` items (a node without text/image) are not encoded: zero row, mask False.
    Returns ``(x float32 [n, dim], mask bool [n])`` in the order of ``ids``.
    """
    ids = np.asarray(ids)
    if len(ids) != len(items):
        raise ValueError(f"{len(ids)} ids but {len(items)} items")
    keys = _id_key(ids)
    fps = np.array([fingerprint(it) for it in items]) if use_cache else None
    present = np.array([it is not None and not (isinstance(it, tuple) and all(v is None for v in it))
                        for it in items], dtype=bool)
    x = np.zeros((len(ids), encoder.dim), dtype=np.float32)
    mask = np.zeros(len(ids), dtype=bool)
    done = np.zeros(len(ids), dtype=bool)
    d = feature_cache_dir(dataset, modality, encoder, root)
    if use_cache:
        d.mkdir(parents=True, exist_ok=True)
        meta = d / "meta.json"
        if meta.is_file():
            m = read_json(meta, what="feature-cache meta file")
            if int(m["dim"]) != encoder.dim:
                raise ValueError(f"cache {d} holds {m['dim']}-d vectors but {encoder.name} gives {encoder.dim}; "
                                 f"delete the folder")
        else:
            write_json(meta, {"dim": encoder.dim, "encoder": repr(encoder), "modality": modality,
                              "options": encoder_options(encoder)}, default=str)
        cid, cx, cm, cfp = _read_chunks(d, encoder.dim)
        if cid:
            import pandas as pd

            cached = pd.Index(_id_key(np.concatenate(cid)))
            cx_all, cm_all, cfp_all = np.concatenate(cx), np.concatenate(cm), np.concatenate(cfp)
            if not cached.is_unique:  # a resumed / refreshed chunk may repeat ids: keep the last copy
                last = ~cached.duplicated(keep="last")
                cached, cx_all, cm_all, cfp_all = cached[last], cx_all[last], cm_all[last], cfp_all[last]
            pos = cached.get_indexer(keys)
            hit = pos >= 0
            hit[hit] = cfp_all[pos[hit]] == fps[hit]  # same node id but changed content: re-encode
            x[hit], mask[hit], done[hit] = cx_all[pos[hit]], cm_all[pos[hit]], True
        next_chunk = len(list(d.glob("chunk-*.npz")))
    todo = np.flatnonzero(~done)
    for s in range(0, len(todo), chunk_size):
        idx = todo[s : s + chunk_size]
        enc = idx[present[idx]]
        if len(enc):
            x[enc] = encoder.encode([items[i] for i in enc], batch_size=batch_size, show_progress=show_progress)
            mask[enc] = True
        if use_cache:  # a per-process tag: two encoders of the same folder never overwrite a chunk
            with atomic_write(d / f"chunk-{next_chunk:05d}-{os.getpid()}{secrets.token_hex(2)}.npz") as f:
                np.savez(f, ids=keys[idx], x=x[idx], mask=mask[idx], fp=fps[idx])
            next_chunk += 1
    return x, mask


def graph_items(graph, modality: str) -> list:
    """The per-node encoder inputs of a :class:`~graphemb.multimodal.data.MultimodalGraph`."""
    def images():
        if graph.images is not None:
            return list(graph.images)
        if graph.image_paths is not None:
            return list(graph.image_paths)
        raise ValueError(f"{graph.name!r} has no images (no image folder / image column)")

    if modality == "text":
        if graph.text is None:
            raise ValueError(f"{graph.name!r} has no node text")
        return [t if isinstance(t, str) and t != "" else None for t in graph.text]
    if modality == "image":
        return images()
    if modality == "multimodal":
        texts = graph.text if graph.text is not None else [None] * graph.num_nodes
        return [(t if isinstance(t, str) and t else None, im) for t, im in zip(texts, images())]
    raise ValueError(f"modality must be text|image|multimodal, got {modality!r}")


def encode_graph(graph, modality: str, encoder: NodeEncoder, *, root: str | os.PathLike | None = None,
                 use_cache: bool = True, chunk_size: int = 1024, batch_size: int = 64,
                 show_progress: bool | None = None) -> str:
    """Encode every node of ``graph`` (cached) and attach the result as ``<modality>:<encoder>``.

    Nodes without the modality get a zero vector and mask 0. Returns the feature name.
    """
    items = graph_items(graph, modality)
    x, mask = encode_nodes(graph.name, modality, encoder, graph.node_ids, items, root=root, use_cache=use_cache,
                           chunk_size=chunk_size, batch_size=batch_size, show_progress=show_progress)
    key = feature_key(modality, encoder)
    fs = graph.add_features(key, graph.node_ids, x, source=f"encoder {encoder.name}")
    fs.mask &= torch.as_tensor(mask)
    return key
