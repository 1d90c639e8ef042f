"""Activation and normalisation resolvers (by name, with errors that list the choices)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

from torch import nn
from torch_geometric.nn import LayerNorm as GraphLayerNorm
from torch_geometric.nn import PairNorm

_ACTS: Dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "prelu": nn.PReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "leaky-relu": lambda: nn.LeakyReLU(0.2),
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "identity": nn.Identity,
    "linear": nn.Identity,
}

NORMS = (None, "batch", "layer", "pair")


def resolve_act(name: str) -> nn.Module:
    """A fresh activation module for ``name`` (case-insensitive; ``_`` == ``-``).

    Known: relu, prelu, elu, gelu, leaky-relu (slope 0.2), silu, tanh, sigmoid, identity/linear.
    Each call returns a new module, so no activation is shared (or late-bound) between layers.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key not in _ACTS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(_ACTS)}")
    return _ACTS[key]()


def make_norm(
    name: Optional[str],
    channels: int,
    graph_level: bool = True,
    pair_norm_scale: float = 1.0,
) -> nn.Module:
    """A normalisation layer for ``channels`` features.

    Args:
        name: ``None`` (identity), ``"batch"`` (BatchNorm over all nodes of the mini-batch),
            ``"layer"`` (with ``graph_level``: PyG ``LayerNorm(mode="graph")``, one mean/std per
            graph over its nodes and features, ``batch``-aware; otherwise per-row
            ``torch.nn.LayerNorm``) or ``"pair"`` (PairNorm, Zhao & Akoglu 2020, per graph,
            ``batch``-aware, ``scale = pair_norm_scale``).
        graph_level: whether the input rows are nodes of graphs (encoders) or plain rows (MLPs).
    """
    if name is None or name == "none":
        return nn.Identity()
    if name == "batch":
        return nn.BatchNorm1d(channels)
    if name == "layer":
        return GraphLayerNorm(channels, mode="graph") if graph_level else nn.LayerNorm(channels)
    if name == "pair":
        if not graph_level:
            raise ValueError("PairNorm normalises over the nodes of a graph; use it in encoders only")
        return PairNorm(scale=pair_norm_scale)
    raise ValueError(f"unknown norm {name!r}; choose one of {NORMS}")


def norm_takes_batch(module: nn.Module) -> bool:
    """Whether ``module.forward`` needs the ``batch`` vector (graph-wise statistics)."""
    return isinstance(module, (GraphLayerNorm, PairNorm))
