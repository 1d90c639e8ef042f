"""Activation and normalisation resolvers (by name, with errors that list the choices)."""
from __future__ import annotations

from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn
from torch_geometric.nn import LayerNorm as GraphLayerNorm
from torch_geometric.nn import PairNorm as _PyGPairNorm
from torch_geometric.utils import scatter

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
PAIR_NORM_MODES = ("pn", "pn-si", "pn-scs")


class PairNorm(nn.Module):
    r"""PairNorm (Zhao & Akoglu, ICLR 2020, https://openreview.net/forum?id=rkecl1rtwB).

    With :math:`\bar x` the mean row and :math:`s` the scale, the three modes of the reference
    code (github LingxiaoShawn/PairNorm, copied into the official IsoC-VGAE ``layers.py``):

    * ``"pn"`` (default; PyG's ``PairNorm``): :math:`s\,(x_i - \bar x) / \sqrt{\mathrm{mean}_j
      \|x_j - \bar x\|^2}`;
    * ``"pn-si"``: :math:`s\,(x_i - \bar x) / \|x_i - \bar x\|`;
    * ``"pn-scs"`` (scale and centre simultaneously, what the official IsoC-VGAE graph code uses
      at ``s = 20``): :math:`s\,x_i / \sqrt{\epsilon + \|x_i\|^2} - \bar x`, with
      :math:`\bar x` the mean of the *input* rows and :math:`\epsilon = 10^{-6}` as the reference.

    Args:
        mode: one of ``"pn"``, ``"pn-si"``, ``"pn-scs"``.
        scale: :math:`s` (default ``1.0``).
        per_graph: ``True`` (default): statistics per graph of the ``batch`` vector (PyG);
            ``False``: over all rows of the input, i.e. the whole mini-batch of graphs, as the
            reference code (which never sees ``batch``).

    Shapes: ``x [N, F]``, ``batch [N]`` (optional) -> ``[N, F]``.
    """

    def __init__(self, mode: str = "pn", scale: float = 1.0, per_graph: bool = True, eps: float = 1e-6) -> None:
        super().__init__()
        key = str(mode).strip().lower().replace("_", "-")
        if key not in PAIR_NORM_MODES:
            raise ValueError(f"unknown PairNorm mode {mode!r}; choose one of {PAIR_NORM_MODES}")
        self.mode, self.scale, self.per_graph, self.eps = key, float(scale), bool(per_graph), float(eps)
        # PN / PN-SI: PyG's implementation (kept, so existing runs stay bit-identical)
        self._pyg = None if key == "pn-scs" else _PyGPairNorm(scale=scale, scale_individually=key == "pn-si")

    def forward(self, x: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        batch = batch if self.per_graph else None
        if self._pyg is not None:
            return self._pyg(x, batch)
        if batch is None:
            mean = x.mean(dim=0, keepdim=True)
        else:
            mean = scatter(x, batch, dim=0, reduce="mean").index_select(0, batch)
        return self.scale * x / torch.sqrt(self.eps + x.pow(2).sum(-1, keepdim=True)) - mean

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, scale={self.scale}, per_graph={self.per_graph}"


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
    pair_norm_mode: str = "pn",
    pair_norm_per_graph: bool = True,
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
        return PairNorm(pair_norm_mode, pair_norm_scale, per_graph=pair_norm_per_graph)
    raise ValueError(f"unknown norm {name!r}; choose one of {NORMS}")


def norm_takes_batch(module: nn.Module) -> bool:
    """Whether ``module.forward`` needs the ``batch`` vector (graph-wise statistics)."""
    return isinstance(module, (GraphLayerNorm, PairNorm, _PyGPairNorm))
