"""Vision-language node encoders: a joint CLIP embedding and a generic VLM hidden-state adapter.

* :class:`CLIPJointEncoder` (``load_vlm_encoder(path, kind="clip")``): CLIP's projected text
  embedding and projected image embedding of a node, combined by ``"mean"`` (of the L2-normalised
  embeddings, the space CLIP aligns) or ``"concat"``. A node missing one modality uses the other.
* :class:`VLMMeanEncoder` (``kind="vlm"``): any ``AutoProcessor`` + ``AutoModel`` VLM (Qwen2-VL,
  LLaVA, ...): the node's text and image go through the processor together and the output is
  the masked mean of the last hidden state, as MAGB does for its VLM features.

Items are ``(text, image)`` pairs; ``image`` a path, a PIL image or ``None``.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from graphemb.multimodal.encoders.base import batches, from_pretrained, pool_tokens, to_numpy
from graphemb.multimodal.encoders.image import open_image
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

__all__ = ["CLIPJointEncoder", "VLMMeanEncoder", "load_vlm_encoder"]


def _name(name_or_path: str) -> str:
    return os.path.basename(os.path.normpath(name_or_path)) if os.path.isdir(name_or_path) else name_or_path


class CLIPJointEncoder:
    """Joint CLIP embedding of ``(text, image)`` pairs; ``dim`` = projection dim (x2 for concat)."""

    modality = "multimodal"

    def __init__(self, name: str, model, tokenizer, processor, *, combine: str, max_length: int,
                 device: torch.device) -> None:
        if combine not in ("mean", "concat"):
            raise ValueError(f"combine must be 'mean' or 'concat', got {combine!r}")
        self.name, self.model, self.tokenizer, self.processor = name, model, tokenizer, processor
        self.pooling, self.max_length, self.device = combine, max_length, device
        p = int(model.config.projection_dim)
        self.dim = 2 * p if combine == "concat" else p

    @torch.no_grad()
    def _batch(self, pairs: Sequence) -> torch.Tensor:
        p = int(self.model.config.projection_dim)
        b = len(pairs)
        txt = torch.zeros(b, p, device=self.device)
        img = torch.zeros(b, p, device=self.device)
        has_t = torch.tensor([isinstance(t, str) and t != "" for t, _ in pairs], device=self.device)
        has_i = torch.tensor([i is not None for _, i in pairs], device=self.device)
        if has_t.any():
            texts = [t for (t, _), h in zip(pairs, has_t.tolist()) if h]
            tok = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                                 return_tensors="pt").to(self.device)
            txt[has_t] = _features(self.model.get_text_features(**tok)).float()
        if has_i.any():
            ims = [open_image(i) for (_, i), h in zip(pairs, has_i.tolist()) if h]
            pix = self.processor(images=ims, return_tensors="pt")["pixel_values"].to(self.device)
            img[has_i] = _features(self.model.get_image_features(pixel_values=pix)).float()
        if self.pooling == "concat":
            return torch.cat([txt, img], 1)
        txt = torch.nn.functional.normalize(txt, dim=-1)
        img = torch.nn.functional.normalize(img, dim=-1)
        n = (has_t.float() + has_i.float()).clamp(min=1).view(-1, 1)
        return (txt + img) / n

    def encode(self, pairs: Sequence, batch_size: int = 32, show_progress: bool | None = None) -> np.ndarray:
        """Embed ``(text, image)`` pairs into ``float32 [n, dim]``."""
        out = np.zeros((len(pairs), self.dim), dtype=np.float32)
        bar = progress(total=len(pairs), enabled=show_progress, desc=f"clip:{self.name}")
        for s in range(0, len(pairs), batch_size):
            chunk = pairs[s : s + batch_size]
            out[s : s + len(chunk)] = to_numpy(self._batch(chunk))
            bar.update(len(chunk))
        bar.close()
        return out


def _features(x):
    """``get_*_features`` returns a tensor (or, in newer transformers, an output object)."""
    if isinstance(x, torch.Tensor):
        return x
    for k in ("text_embeds", "image_embeds", "pooler_output"):
        v = getattr(x, k, None)
        if v is not None:
            return v
    raise TypeError(f"unexpected CLIP feature output {type(x).__name__}")


class VLMMeanEncoder:
    """Masked mean of a VLM's last hidden state over the tokens of ``(text, image)`` (MAGB).

    The node's text (cut to ``max_length`` tokens) is put into ``prompt`` (``"{text}"`` by default).
    The VLM must see where the image goes: when the processor has a chat template (released
    checkpoints such as Qwen2-VL-Instruct or llava-hf ship one) the prompt becomes one user turn
    ``[image, text]`` rendered by it; otherwise the processor's ``image_token`` (``<image>`` for
    LLaVA, ``<|image_pad|>`` for Qwen2-VL) is put in front of the prompt unless it already holds
    it. Nodes are encoded one at a time (no padding, so a node's vector does not depend on its
    batch); ``dim`` = the language model's hidden size. A node without image is text only.
    """

    modality = "multimodal"
    pooling = "mean"

    def __init__(self, name: str, model, processor, *, max_length: int, device: torch.device, dim: int,
                 prompt: str = "{text}", use_chat_template: bool | None = None) -> None:
        if "{text}" not in prompt:
            raise ValueError(f"VLM prompt {prompt!r} must contain '{{text}}' where the node text goes")
        self.name, self.model, self.processor = name, model, processor
        self.max_length, self.device, self.dim, self.prompt = max_length, device, dim, prompt
        has_template = getattr(processor, "chat_template", None) is not None
        if use_chat_template and not has_template:
            raise ValueError(f"VLM processor of {name!r} has no chat template; pass use_chat_template=False")
        self.use_chat_template = has_template if use_chat_template is None else bool(use_chat_template)

    def _truncate(self, text: str) -> str:
        tok = getattr(self.processor, "tokenizer", None)
        if tok is None or not text or self.max_length <= 0:
            return text
        ids = tok(text, add_special_tokens=False)["input_ids"]
        return text if len(ids) <= self.max_length else tok.decode(ids[: self.max_length])

    def format(self, text: str | None, has_image: bool) -> str:
        """The model input text of one node (see the class docstring)."""
        body = self.prompt.format(text=self._truncate(text or ""))
        if self.use_chat_template:
            content = ([{"type": "image"}] if has_image else []) + [{"type": "text", "text": body}]
            return self.processor.apply_chat_template([{"role": "user", "content": content}], tokenize=False,
                                                      add_generation_prompt=False)
        image_token = getattr(self.processor, "image_token", None)
        if has_image and image_token and image_token not in body:
            body = image_token + body
        return body

    @torch.no_grad()
    def _one(self, text: str | None, image) -> torch.Tensor:
        kwargs = {"text": [self.format(text, image is not None)], "return_tensors": "pt"}
        if image is not None:
            kwargs["images"] = [open_image(image)]
        inputs = self.processor(**kwargs).to(self.device)
        out = self.model(**inputs, output_hidden_states=True)
        hidden = getattr(out, "last_hidden_state", None)
        if hidden is None:
            hidden = out.hidden_states[-1]
        mask = inputs.get("attention_mask", torch.ones(hidden.shape[:2], device=self.device))
        return pool_tokens(hidden.float(), mask, "mean")[0]

    def encode(self, pairs: Sequence, batch_size: int = 1, show_progress: bool | None = None) -> np.ndarray:
        """Embed ``(text, image)`` pairs into ``float32 [n, dim]``, one node at a time
        (``batch_size`` is accepted for the common interface; VLM processors differ in how they
        batch images with text)."""
        out = np.zeros((len(pairs), self.dim), dtype=np.float32)
        for i, (t, im) in enumerate(progress(pairs, enabled=show_progress, desc=f"vlm:{self.name}")):
            out[i] = to_numpy(self._one(t, im))
        return out


def load_vlm_encoder(name_or_path: str, *, kind: str = "auto", combine: str = "mean", max_length: int = 77,
                     device: str = "cpu", prompt: str = "{text}",
                     use_chat_template: bool | None = None) -> CLIPJointEncoder | VLMMeanEncoder:
    """Load a joint text+image encoder: ``kind="clip"`` / ``"vlm"`` / ``"auto"`` (by config type).

    ``combine`` applies to CLIP; ``prompt`` and ``use_chat_template`` (None = when the processor
    has one) to :class:`VLMMeanEncoder`; ``max_length`` caps the node text in tokens for both.
    """
    from transformers import AutoConfig, AutoModel, AutoProcessor

    dev = resolve_device(device)
    cfg = from_pretrained(AutoConfig, name_or_path, "VLM config")
    if kind == "auto":
        kind = "clip" if cfg.model_type == "clip" else "vlm"
    if kind == "clip":
        from transformers import AutoImageProcessor, AutoTokenizer, CLIPModel

        model = from_pretrained(CLIPModel, name_or_path, "CLIP model").to(dev).eval()
        tok = from_pretrained(AutoTokenizer, name_or_path, "CLIP tokenizer")
        proc = from_pretrained(AutoImageProcessor, name_or_path, "CLIP image processor")
        return CLIPJointEncoder(_name(name_or_path), model, tok, proc, combine=combine, max_length=max_length, device=dev)
    if kind != "vlm":
        raise ValueError(f"kind must be auto|clip|vlm, got {kind!r}")
    model = from_pretrained(AutoModel, name_or_path, "VLM").to(dev).eval()
    proc = from_pretrained(AutoProcessor, name_or_path, "VLM processor")
    tcfg = getattr(cfg, "text_config", None) or cfg
    dim = int(getattr(tcfg, "hidden_size", 0))
    return VLMMeanEncoder(_name(name_or_path), model, proc, max_length=max_length, device=dev, dim=dim, prompt=prompt,
                          use_chat_template=use_chat_template)
