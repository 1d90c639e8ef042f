"""Run directories: everything needed to inspect, evaluate and reuse a training run.

Layout of ``RUN_DIR``::

    config.yaml       the fully resolved RunConfig (rebuilds the model without presets)
    metrics.json      training summary, per-epoch losses, and evaluation results
    checkpoint.pt     {"state_dict", "config", "in_channels", "version"}; torch.load(weights_only=True)
    embeddings.npz    "embeddings" [n, d] float32, "ids" [n] (node or graph ids), "level"
    split.pt          link task only: the edge split the encoder was trained on (tensors)

Files are written to a temporary name and renamed, so an interrupted write never leaves a
truncated file behind.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np
import torch

from graphemb import __version__
from graphemb.config import RunConfig, run_config_from_dict, save_yaml
from graphemb.utils.io import load_npz, read_json, temp_name
import yaml

PathLike = Union[str, Path]


def _atomic(path: Path) -> Path:
    return temp_name(path)  # per-process name: concurrent writers never share a temp file


def _replace(tmp: Path, path: Path) -> None:
    os.replace(tmp, path)


def prepare_run_dir(path: PathLike, overwrite: bool = True) -> Path:
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"run directory {path} exists and is not a directory; choose another --out")
    if path.is_dir() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"run directory {path} is not empty; choose another --out")
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_config(path: PathLike, config: RunConfig) -> None:
    path = Path(path)
    tmp = _atomic(path / "config.yaml")
    save_yaml(config.to_dict(), tmp)
    _replace(tmp, path / "config.yaml")


def load_config(path: PathLike) -> RunConfig:
    path = Path(path)
    f = path / "config.yaml"
    if not f.is_file():
        raise FileNotFoundError(f"{f} not found: {path} is not a graphemb run directory (create one with `graphemb train ... --out {path}`)")
    with open(f) as fh:
        return run_config_from_dict(yaml.safe_load(fh))


def save_metrics(path: PathLike, metrics: Mapping[str, Any]) -> None:
    path = Path(path)
    tmp = _atomic(path / "metrics.json")
    with open(tmp, "w") as f:
        json.dump(metrics, f, indent=2, default=float)
    _replace(tmp, path / "metrics.json")


def load_metrics(path: PathLike) -> Dict[str, Any]:
    f = Path(path) / "metrics.json"
    if not f.is_file():
        return {}
    return read_json(f, what="metrics file")


def update_metrics(path: PathLike, key: str, value: Any) -> Dict[str, Any]:
    metrics = load_metrics(path)
    metrics[key] = value
    save_metrics(path, metrics)
    return metrics


def save_checkpoint(path: PathLike, model: torch.nn.Module, config: RunConfig, in_channels: int) -> None:
    path = Path(path)
    tmp = _atomic(path / "checkpoint.pt")
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "config": config.to_dict(), "in_channels": int(in_channels), "version": __version__}, tmp)
    _replace(tmp, path / "checkpoint.pt")


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu"):
    """Rebuild the model of a run from ``checkpoint.pt`` (loaded with ``weights_only=True``).

    Returns ``(model, config)``.
    """
    from graphemb.models import MODELS

    f = Path(path) / "checkpoint.pt"
    if not f.is_file():
        raise FileNotFoundError(f"{f} not found: the run in {path} has no checkpoint (did training finish?)")
    ckpt = torch.load(f, map_location=map_location, weights_only=True)
    config = run_config_from_dict(ckpt["config"])
    model = MODELS.get(config.model_name).from_config(ckpt["in_channels"], config.model)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, config


def save_embeddings(path: PathLike, embeddings: torch.Tensor, ids: torch.Tensor, level: str) -> None:
    path = Path(path)
    tmp = _atomic(path / "embeddings.npz")
    np.savez(tmp, embeddings=embeddings.detach().cpu().float().numpy(), ids=ids.detach().cpu().numpy(), level=np.array(level))
    _replace(tmp, path / "embeddings.npz")


def load_embeddings(path: PathLike):
    """Returns ``(embeddings [n, d] float32 tensor, ids [n] tensor, level)``."""
    f = Path(path) / "embeddings.npz"
    if not f.is_file():
        raise FileNotFoundError(f"{f} not found: the run in {path} saved no embeddings (did training finish?)")
    z = load_npz(f, ("embeddings", "ids", "level"), what="embeddings file")
    return torch.from_numpy(z["embeddings"]), torch.from_numpy(z["ids"]), str(z["level"])


def save_split(path: PathLike, split: Any) -> None:
    """Save the tensors of a link split (``train_pos``, ``val_pos``, ``val_neg``, ``test_pos``,
    ``test_neg``, and ``train_neg`` when the split has one): everything a link protocol reads."""
    path = Path(path)
    tensors = {k: getattr(split, k).cpu() for k in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")}
    if getattr(split, "train_neg", None) is not None:  # fixed predictor negatives, when a split has them
        tensors["train_neg"] = split.train_neg.cpu()
    tmp = _atomic(path / "split.pt")
    torch.save(tensors, tmp)
    _replace(tmp, path / "split.pt")


def load_split(path: PathLike) -> Optional[Dict[str, torch.Tensor]]:
    f = Path(path) / "split.pt"
    if not f.is_file():
        return None
    return torch.load(f, weights_only=True)
