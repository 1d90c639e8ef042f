"""Image node encoders: CLIP-style vision towers through transformers, and a weight-free pixel baseline.

``load_image_encoder(name_or_path)``:
    ``"pixels"`` / ``"pixels:<s>"``: the image resized to ``s x s`` (default 8) RGB in ``[0, 1]``,
    flattened (``3 s^2``-d); needs no weights (a baseline and the offline default).
    a local directory or hub name of a CLIP model / CLIP vision tower: the projected image
    embedding of ``CLIPVisionModelWithProjection`` (``image_embeds``);
    any other transformers vision model (ViT, DINOv2, SigLIP vision, ...): ``pooler_output`` when
    the model has one, else the mean of ``last_hidden_state`` over patches.
No torchvision or open_clip dependency: preprocessing is the model's ``AutoImageProcessor``.

Inputs are image paths or PIL images; ``None`` (a node without image) gives a zero vector; the
caller records the mask (see :mod:`graphemb.multimodal.encoders.cache`).
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch

from graphemb.multimodal.encoders.base import batches, from_pretrained, to_numpy
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

__all__ = ["ImageEncoder", "PixelEncoder", "load_image_encoder", "open_image"]


def open_image(item):
    """A PIL RGB image from a path or a PIL image; ``FileNotFoundError`` naming a missing file."""
    from PIL import Image

    if isinstance(item, (str, os.PathLike)):
        if not os.path.isfile(item):
            raise FileNotFoundError(f"image file {item} does not exist")
        with Image.open(item) as im:
            return im.convert("RGB")
    if hasattr(item, "convert"):
        return item.convert("RGB")
    raise TypeError(f"expected an image path or a PIL image, got {type(item).__name__}")


def _run_batches(name: str, items: Sequence, dim: int, batch_size: int, show_progress: bool | None, fn) -> np.ndarray:
    """Apply ``fn(list of PIL) -> Tensor [b, dim]`` to the non-None items, zeros elsewhere."""
    out = np.zeros((len(items), dim), dtype=np.float32)
    present = np.array([it is not None for it in items], dtype=bool)
    idx = np.flatnonzero(present)
    bar = progress(total=len(idx), enabled=show_progress, desc=f"image:{name}", unit="img")
    for chunk in batches(idx, batch_size):
        out[chunk] = to_numpy(fn([open_image(items[i]) for i in chunk]))
        bar.update(len(chunk))
    bar.close()
    return out


class PixelEncoder:
    """Resize to ``size x size`` (bilinear), RGB in ``[0, 1]``, flatten: ``3 size^2``-d, no weights."""

    modality = "image"
    max_length = 0
    pooling = "none"

    def __init__(self, size: int = 8) -> None:
        if size < 1:
            raise ValueError(f"pixel size must be >= 1, got {size}")
        self.size = size
        self.dim = 3 * size * size
        self.name = "pixels" if size == 8 else f"pixels{size}"

    def _batch(self, images: list) -> torch.Tensor:
        from PIL import Image

        arr = np.stack([np.asarray(im.resize((self.size, self.size), Image.BILINEAR), dtype=np.float32) for im in images])
        return torch.from_numpy(arr.reshape(len(images), -1) / 255.0)

    def encode(self, images: Sequence, batch_size: int = 256, show_progress: bool | None = None) -> np.ndarray:
        return _run_batches(self.name, images, self.dim, batch_size, show_progress, self._batch)


class ImageEncoder:
    """A frozen transformers vision tower: ``encode(images) -> float32 [n, dim]``.

    ``output``: ``"image_embeds"`` (CLIP projection), ``"pooler"`` or ``"mean"`` (patch mean).
    """

    modality = "image"
    max_length = 0

    def __init__(self, name: str, model, processor, *, output: str, device: torch.device, dim: int) -> None:
        self.name, self.model, self.processor = name, model, processor
        self.pooling = output
        self.device, self.dim = device, dim

    def __repr__(self) -> str:
        return f"ImageEncoder({self.name!r}, dim={self.dim}, output={self.pooling!r}, device={str(self.device)!r})"

    @torch.no_grad()
    def _batch(self, images: list) -> torch.Tensor:
        pix = self.processor(images=images, return_tensors="pt")["pixel_values"].to(self.device)
        out = self.model(pixel_values=pix)
        if self.pooling == "image_embeds":
            return out.image_embeds.float()
        if self.pooling == "pooler":
            return out.pooler_output.float()
        return out.last_hidden_state.float().mean(1)

    def encode(self, images: Sequence, batch_size: int = 64, show_progress: bool | None = None) -> np.ndarray:
        """Embed image paths / PIL images (``None`` -> zero row) into ``float32 [n, dim]``."""
        return _run_batches(self.name, images, self.dim, batch_size, show_progress, self._batch)


def load_image_encoder(name_or_path: str = "pixels", *, device: str = "cpu") -> ImageEncoder | PixelEncoder:
    """Load an image encoder by name (``pixels[:s]``), local directory or hub name (see module doc)."""
    key = name_or_path.strip().lower()
    if key == "pixels" or key.startswith("pixels:"):
        return PixelEncoder(int(key.split(":")[1]) if ":" in key else 8)
    from transformers import AutoConfig, AutoImageProcessor, AutoModel, CLIPVisionModelWithProjection

    name = os.path.basename(os.path.normpath(name_or_path)) if os.path.isdir(name_or_path) else name_or_path
    dev = resolve_device(device)
    cfg = from_pretrained(AutoConfig, name_or_path, "image model config")
    processor = from_pretrained(AutoImageProcessor, name_or_path, "image processor")
    if cfg.model_type in ("clip", "clip_vision_model"):
        kw = {}
        if cfg.model_type == "clip":  # a full CLIP checkpoint: take the tower's projection dim from the top
            vcfg = cfg.vision_config
            vcfg.projection_dim = cfg.projection_dim
            kw["config"] = vcfg
        model = from_pretrained(CLIPVisionModelWithProjection, name_or_path, "CLIP vision tower", **kw)
        output, dim = "image_embeds", int(model.config.projection_dim)
    else:
        model = from_pretrained(AutoModel, name_or_path, "image model")
        vcfg = getattr(model.config, "vision_config", None) or model.config
        dim = int(getattr(vcfg, "hidden_size", 0))
        output = "pooler" if _has_pooler(model) else "mean"
        if hasattr(model, "vision_model") and not hasattr(model, "embeddings"):
            model = model.vision_model  # e.g. SigLIP: keep the vision tower only
    return ImageEncoder(name, model.to(dev).eval(), processor, output=output, device=dev, dim=dim)


def _has_pooler(model) -> bool:
    return getattr(model, "pooler", None) is not None or hasattr(getattr(model, "vision_model", None), "post_layernorm")
