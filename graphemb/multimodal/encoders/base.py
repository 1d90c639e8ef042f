"""Shared pieces of the node encoders: the ``NodeEncoder`` protocol, token pooling, batching.

Devices and progress bars come from :mod:`graphemb.utils` (one implementation each).

Every node encoder (text, image, vision-language) is a small object with ``name``, ``dim``,
``modality`` and ``encode(items, batch_size, show_progress) -> np.ndarray [n, dim] float32``.
Encoders hold only their frozen model; nothing is stashed between calls.
"""
from __future__ import annotations

import os
from typing import Iterator, Protocol, Sequence, TypeVar, runtime_checkable

import numpy as np
import torch
from torch import Tensor

POOLINGS = ("mean", "cls", "last")
T = TypeVar("T")


@runtime_checkable
class NodeEncoder(Protocol):
    """What the cache, the CLI and the loaders need from an encoder."""

    name: str
    dim: int
    modality: str  # "text" | "image" | "multimodal"

    def encode(self, items: Sequence, batch_size: int = 64, show_progress: bool | None = None) -> np.ndarray:
        ...


def pool_tokens(hidden: Tensor, attention_mask: Tensor, pooling: str) -> Tensor:
    """Pool token states ``[B, T, D]`` into ``[B, D]``.

    ``mean``: masked mean over real tokens (MAGB's default); ``cls``: the first token;
    ``last``: the last real token (works for left and right padding).
    """
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    mask = attention_mask.to(hidden.dtype).unsqueeze(-1)
    if pooling == "mean":
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
    if pooling == "cls":
        return hidden[:, 0]
    # index of the last position whose mask is 1: argmax of mask * position
    pos = torch.arange(1, hidden.size(1) + 1, device=hidden.device).view(1, -1)
    last = (attention_mask.long() * pos).argmax(1)
    return hidden[torch.arange(hidden.size(0), device=hidden.device), last]


def batches(items: Sequence[T], batch_size: int) -> Iterator[Sequence[T]]:
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    for i in range(0, len(items), batch_size):
        yield items[i : i + batch_size]


def hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def from_pretrained(loader, name_or_path: str, what: str, **kwargs):
    """``loader.from_pretrained`` trying local files first, the hub only when allowed.

    Raises a ``FileNotFoundError`` naming the model and the fix when neither works.
    """
    try:
        return loader.from_pretrained(name_or_path, local_files_only=True, **kwargs)
    except (OSError, ValueError) as local_err:
        if os.path.isdir(name_or_path) or hub_offline():
            raise FileNotFoundError(
                f"cannot load {what} from {name_or_path!r} ({local_err}); pass a local model "
                f"directory (save_pretrained output) or unset HF_HUB_OFFLINE to download it"
            ) from local_err
        try:
            return loader.from_pretrained(name_or_path, **kwargs)
        except Exception as hub_err:  # network errors come in many types
            raise FileNotFoundError(
                f"cannot load {what} {name_or_path!r} locally or from the Hugging Face hub "
                f"({hub_err}); download it where there is internet and pass the local directory"
            ) from hub_err


def to_numpy(x: Tensor) -> np.ndarray:
    return x.detach().to("cpu", torch.float32).numpy()
