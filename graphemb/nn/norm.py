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
        channels: feature width ``F``. With ``per_graph=False`` it is required: training
            (train mode) uses the mini-batch's statistics and keeps running averages of them
            (``momentum`` as BatchNorm), and eval mode uses those running averages, so a frozen
            embedding of one graph never depends on the other graphs of its batch (with batches
            in dataset order, e.g. IMDB-BINARY or PROTEINS sorted by label, batch statistics
            would carry the batch's label into every embedding). The official code avoids it
            differently: it pools a train-mode pass over shuffled batches.
        momentum: update weight of the running averages (default ``0.1``).

    Shapes: ``x [N, F]``, ``batch [N]`` (optional) -> ``[N, F]``.
    """

    def __init__(self, mode: str = "pn", scale: float = 1.0, per_graph: bool = True, eps: float = 1e-6,
                 channels: Optional[int] = None, momentum: float = 0.1) -> None:
        super().__init__()
        key = str(mode).strip().lower().replace("_", "-")
        if key not in PAIR_NORM_MODES:
            raise ValueError(f"unknown PairNorm mode {mode!r}; choose one of {PAIR_NORM_MODES}")
        if not per_graph and channels is None:
            raise ValueError("PairNorm(per_graph=False) needs channels= (the feature width) for the running "
                             "statistics that eval mode uses instead of the batch's")
        self.mode, self.scale, self.per_graph, self.eps = key, float(scale), bool(per_graph), float(eps)
        self.momentum = float(momentum)
        # PN / PN-SI: PyG's implementation (kept, so existing runs stay bit-identical)
        self._pyg = None if key == "pn-scs" else _PyGPairNorm(scale=scale, scale_individually=key == "pn-si")
        if not per_graph:
            self.register_buffer("running_mean", torch.zeros(1, int(channels)))
            self.register_buffer("running_sq_norm", torch.ones(()))  # PN: mean squared centred row norm

    def forward(self, x: Tensor, batch: Optional[Tensor] = None) -> Tensor:
        if not self.per_graph:
            return self._batch_scope(x)
        if self._pyg is not None:
            return self._pyg(x, batch)
        mean = scatter(x, batch, dim=0, reduce="mean").index_select(0, batch) if batch is not None \
            else x.mean(dim=0, keepdim=True)
        return self._scs(x, mean)

    def _scs(self, x: Tensor, mean: Tensor) -> Tensor:
        return self.scale * x / torch.sqrt(self.eps + x.pow(2).sum(-1, keepdim=True)) - mean

    def _batch_scope(self, x: Tensor) -> Tensor:
        """Statistics over all rows (train mode, updating the running ones) or the running ones (eval)."""
        if self.training:
            out = self._pyg(x, None) if self._pyg is not None else self._scs(x, x.mean(dim=0, keepdim=True))
            with torch.no_grad():
                mean = x.detach().mean(dim=0, keepdim=True)
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
                sq = (x.detach() - mean).pow(2).sum(-1).mean()
                self.running_sq_norm.lerp_(sq.to(self.running_sq_norm.dtype), self.momentum)
            return out
        mean = self.running_mean.to(x.dtype)
        if self.mode == "pn-scs":
            return self._scs(x, mean)
        c = x - mean
        if self.mode == "pn-si":  # PyG's PN-SI formula, eps 1e-5 as there
            return self.scale * c / (self._pyg.eps + c.norm(2, -1, keepdim=True))
        return self.scale * c / (self._pyg.eps + self.running_sq_norm.to(x.dtype)).sqrt()

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
        return PairNorm(pair_norm_mode, pair_norm_scale, per_graph=pair_norm_per_graph, channels=channels)
    raise ValueError(f"unknown norm {name!r}; choose one of {NORMS}")


def norm_takes_batch(module: nn.Module) -> bool:
    """Whether ``module.forward`` needs the ``batch`` vector (graph-wise statistics)."""
    return isinstance(module, (GraphLayerNorm, PairNorm, _PyGPairNorm))
