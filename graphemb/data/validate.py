"""Input checks that turn silent corruption into clear errors.

``validate_graph(data)`` raises ``ValueError`` naming the problem and the fix for: no nodes,
a malformed or non-integer ``edge_index``, indices out of range, non-float or mis-shaped ``x``,
NaN/inf features (with the offending rows). Isolated nodes are legal; they are counted in the
returned :class:`GraphReport` (and warned about with ``warn=True``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch
from torch import Tensor
from torch_geometric.data import Data


@dataclass
class GraphReport:
    """What :func:`validate_graph` found on a valid graph."""

    num_nodes: int
    num_edges: int  # directed entries of edge_index
    num_isolated: int
    isolated: Tensor  # [num_isolated] node ids
    num_self_loops: int


def _rows(idx: Tensor, limit: int = 10) -> str:
    ids = idx.tolist()
    more = f" ... ({len(ids)} rows)" if len(ids) > limit else ""
    return ", ".join(map(str, ids[:limit])) + more


def validate_graph(data: Data, name: str = "graph", warn: bool = False) -> GraphReport:
    """Check one graph; return a :class:`GraphReport` or raise ``ValueError``.

    Args:
        data: a PyG ``Data`` with ``edge_index`` ``[2, E]`` and optionally ``x`` ``[N, F]``.
        name: used in messages (e.g. the dataset name).
        warn: emit a ``UserWarning`` when there are isolated nodes.
    """
    n = data.num_nodes
    if n is None or n == 0:
        raise ValueError(f"{name}: empty graph (0 nodes); every graph needs at least one node")
    ei = data.edge_index
    if ei is None:
        ei = torch.zeros(2, 0, dtype=torch.long)
    if not isinstance(ei, Tensor) or ei.dim() != 2 or ei.size(0) != 2:
        shape = tuple(ei.shape) if isinstance(ei, Tensor) else type(ei).__name__
        raise ValueError(f"{name}: edge_index must be a [2, E] tensor, got {shape}")
    if ei.dtype != torch.long:
        raise ValueError(f"{name}: edge_index must be int64 (torch.long), got {ei.dtype}; "
                         f"use edge_index.long()")
    if ei.numel():
        lo, hi = int(ei.min()), int(ei.max())
        if lo < 0 or hi >= n:
            bad = ((ei < 0) | (ei >= n)).any(0).nonzero().view(-1)
            raise ValueError(f"{name}: edge_index out of range for {n} nodes (min {lo}, max {hi}); "
                             f"bad edge columns: {_rows(bad)}; set num_nodes or fix the indices")
    x = getattr(data, "x", None)
    if x is not None:
        if not isinstance(x, Tensor) or x.dim() != 2:
            raise ValueError(f"{name}: x must be a [N, F] tensor, got "
                             f"{tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__}")
        if x.size(0) != n:
            raise ValueError(f"{name}: x has {x.size(0)} rows but the graph has {n} nodes")
        if not torch.is_floating_point(x):
            raise ValueError(f"{name}: x must be floating point, got {x.dtype}; use x.float()")
        finite = torch.isfinite(x).all(1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().view(-1)
            raise ValueError(f"{name}: x has NaN/inf in rows {_rows(bad)}; "
                             f"impute or drop these features before training")
    deg = torch.bincount(ei.reshape(-1), minlength=n) if ei.numel() else torch.zeros(n, dtype=torch.long)
    isolated = (deg == 0).nonzero().view(-1)
    if warn and isolated.numel():
        warnings.warn(f"{name}: {isolated.numel()} isolated node(s) (no edges), e.g. {_rows(isolated, 5)}",
                      stacklevel=2)
    return GraphReport(num_nodes=int(n), num_edges=int(ei.size(1)), num_isolated=int(isolated.numel()),
                       isolated=isolated, num_self_loops=int((ei[0] == ei[1]).sum()))
