"""Augmentors: feature masking, edge dropping, edge masking and path masking.

Masking (MaskGAE, Li et al. KDD 2023) differs from dropping (BGRL, Thakoor et al. ICLR 2022) in
what it promises: a masked edge is removed in *both* directions from the visible graph and
returned in ``View.masked_edges`` as a reconstruction target, so a model never sees a target
edge as input. Dropping removes directed edges independently and is only a perturbation.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Optional, Sequence

import torch
from torch import Tensor

from graphemb.augment.draws import GLOBAL, GlobalDraws


@dataclass
class View:
    """An augmented graph.

    Attributes:
        x: node features ``[N, F]``.
        edge_index: the visible edges ``[2, E']``.
        masked_nodes: ``[M]`` long indices of nodes whose features were masked, or ``None``.
        masked_edges: ``[2, K]`` edges hidden from ``edge_index`` (one column per undirected
            pair for masking, per directed edge for dropping), or ``None``.
        draws: where the augmentors' random numbers come from (``graphemb.augment.draws``):
            torch's global RNG by default, keyed on global ids in seed mini-batches.
    """

    x: Tensor
    edge_index: Tensor
    masked_nodes: Optional[Tensor] = None
    masked_edges: Optional[Tensor] = None
    draws: GlobalDraws = field(default=GLOBAL, repr=False)

    @property
    def num_nodes(self) -> int:
        return self.x.size(0)


def _check_p(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name}: probability must be in [0, 1], got {p}")


def _add_masked_edges(view: View, hidden: Tensor) -> Optional[Tensor]:
    if view.masked_edges is None:
        return hidden
    return torch.cat([view.masked_edges, hidden], 1)


class Augmentor:
    """Contract: ``augment(view) -> View``; ``aug(x, edge_index)`` starts from a plain graph."""

    def augment(self, view: View) -> View:  # pragma: no cover
        raise NotImplementedError

    def __call__(self, x: Tensor, edge_index: Tensor, draws: GlobalDraws = GLOBAL) -> View:
        return self.augment(View(x, edge_index, draws=draws))

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({args})"


class Identity(Augmentor):
    """No change."""

    def augment(self, view: View) -> View:
        return view


class Compose(Augmentor):
    """Apply augmentors in order; masked nodes/edges accumulate."""

    def __init__(self, augmentors: Sequence[Augmentor]) -> None:
        self.augmentors = list(augmentors)

    def augment(self, view: View) -> View:
        draws = view.draws
        for i, a in enumerate(self.augmentors):
            view = a.augment(replace(view, draws=draws.fork(i)))
        return replace(view, draws=draws)


def sample_nodes(num_nodes: int, rate: float, device: Optional[torch.device] = None) -> Tensor:
    """``int(rate * num_nodes)`` distinct node indices drawn uniformly (GraphMAE's mask draw)."""
    _check_p("sample_nodes", rate)
    return torch.randperm(num_nodes, device=device)[: int(rate * num_nodes)]


class FeatureMasking(Augmentor):
    """Zero each feature *column* with probability ``p`` (the same columns for every node; GRACE
    and BGRL's feature masking). ``masked_nodes`` is unchanged: no node is singled out."""

    def __init__(self, p: float) -> None:
        _check_p("FeatureMasking", p)
        self.p = p

    def augment(self, view: View) -> View:
        if self.p == 0.0:
            return view
        keep = view.draws.columns(view.x.size(1), view.x.device) >= self.p
        return replace(view, x=view.x * keep.to(view.x.dtype))


class EdgeDropping(Augmentor):
    """Drop each directed edge independently with probability ``p`` (BGRL, PyG ``dropout_edge``).

    The dropped edges go to ``masked_edges``; with ``undirected=True`` an undirected pair is
    kept or dropped as a whole (use :class:`EdgeMasking` when the hidden edges are targets).
    """

    def __init__(self, p: float, undirected: bool = False) -> None:
        _check_p("EdgeDropping", p)
        self.p = p
        self.undirected = undirected

    def augment(self, view: View) -> View:
        ei = view.edge_index
        if self.p == 0.0 or ei.size(1) == 0:
            return view
        if self.undirected:
            return _mask_pairs(view, view.draws.edges(ei) < self.p, drop_only=True)
        drop = view.draws.edges(ei) < self.p
        return replace(view, edge_index=ei[:, ~drop], masked_edges=_add_masked_edges(view, ei[:, drop]))


def _pair_keys(edge_index: Tensor, n: int) -> Tensor:
    lo = torch.minimum(edge_index[0], edge_index[1])
    hi = torch.maximum(edge_index[0], edge_index[1])
    return lo * n + hi


def _mask_pairs(view: View, chosen: Tensor, drop_only: bool = False) -> View:
    """Hide every undirected pair that has at least one chosen directed edge (both directions).

    ``masked_edges`` gets one column ``(u, v)`` with ``u <= v`` per hidden pair.
    """
    ei, n = view.edge_index, view.num_nodes
    keys = _pair_keys(ei, n)
    hidden_keys = torch.unique(keys[chosen])
    hidden = torch.isin(keys, hidden_keys)
    pairs = torch.stack([hidden_keys // n, hidden_keys % n]) if not drop_only else ei[:, hidden]
    return replace(view, edge_index=ei[:, ~hidden], masked_edges=_add_masked_edges(view, pairs))


class EdgeMasking(Augmentor):
    """Mask each undirected edge with probability ``p`` (MaskGAE edge masking, ``p = 0.7``).

    Both directions of a masked pair leave ``edge_index``; each masked pair appears once in
    ``masked_edges`` as ``(u, v)``, ``u <= v``. Expects an undirected ``edge_index``.
    """

    def __init__(self, p: float = 0.7) -> None:
        _check_p("EdgeMasking", p)
        self.p = p

    def augment(self, view: View) -> View:
        ei = view.edge_index
        if ei.size(1) == 0:
            return view
        # One draw per undirected pair: both directions read the draw of the pair's (lo, hi) edge.
        return _mask_pairs(view, view.draws.pairs(_pair_keys(ei, view.num_nodes)) < self.p)


def random_walk_edges(edge_index: Tensor, num_nodes: int, start: Tensor, walk_length: int,
                      draws: GlobalDraws = GLOBAL) -> Tensor:
    """Uniform random walks from ``start``; returns the edge id taken at each step. ``draws``
    supplies each step's uniforms and the order of the neighbour lists (``draws.rank``: local
    ids by default, global ids for keyed draws, so a walk is the same in any subgraph that
    holds its neighbourhoods).

    Vectorised over walkers (a loop over ``walk_length`` steps only, O(E log E) for the CSR
    build). A walker on a node without out-edges stays there and records ``-1``.

    Shapes: ``edge_index [2, E]``, ``start [W]`` -> ``[W, walk_length]`` long (ids into the
    columns of ``edge_index``).
    """
    row, col = edge_index
    e = row.numel()
    out = torch.full((start.numel(), walk_length), -1, dtype=torch.long, device=start.device)
    if e == 0 or start.numel() == 0:
        return out
    order = torch.argsort(row * num_nodes + draws.rank(num_nodes, row.device)[col])
    col_sorted = col[order]
    deg = torch.bincount(row, minlength=num_nodes)
    rowptr = torch.zeros(num_nodes + 1, dtype=torch.long, device=row.device)
    rowptr[1:] = torch.cumsum(deg, 0)
    cur = start.clone()
    for step in range(walk_length):
        d = deg[cur]
        has = d > 0
        off = (draws.walkers(start, step) * d).long().clamp(max=(d - 1).clamp(min=0))
        pos = (rowptr[cur] + off).clamp(max=e - 1)
        out[:, step] = torch.where(has, order[pos], torch.full_like(pos, -1))
        cur = torch.where(has, col_sorted[pos], cur)
    return out


class PathMasking(Augmentor):
    """Mask the edges on random walks from sampled roots (MaskGAE path masking).

    ``round(p * N)`` distinct roots (``start="node"``) or the sources of a ``p`` share of the
    edges (``start="edge"``), each repeated ``walks_per_node`` times, walk ``walk_length`` uniform
    steps; every traversed undirected pair is masked (both directions, as :class:`EdgeMasking`).
    MaskGAE's defaults: ``p = 0.7``, ``walks_per_node = 1``, ``walk_length = 3``.

    ``hide="directed"`` is the official code's bookkeeping instead (EdisonLeeeee/MaskGAE
    ``MaskPath``, ``undirected=True``): ``masked_edges`` are the walked directed edges and the
    edges left unwalked are re-symmetrised, so a pair stays visible to the encoder unless both
    its directions were walked (a masked positive can still be seen through its reverse).

    With keyed draws (seed mini-batches, ``graphemb.augment.draws``) each node is a root with
    probability ``p`` and the walks run on the symmetrised (sub)graph, so a walk inside a
    sampled subgraph is the walk the full graph takes wherever the subgraph holds the
    neighbourhoods it passes through (``start="node"`` only).
    """

    def __init__(self, p: float = 0.7, walks_per_node: int = 1, walk_length: int = 3, start: str = "node",
                 hide: str = "pair") -> None:
        _check_p("PathMasking", p)
        if start not in ("node", "edge"):
            raise ValueError(f"PathMasking start must be 'node' or 'edge', got {start!r}")
        if hide not in ("pair", "directed"):
            raise ValueError(f"PathMasking hide must be 'pair' or 'directed', got {hide!r}")
        if walk_length < 1 or walks_per_node < 1:
            raise ValueError("PathMasking walk_length and walks_per_node must be >= 1")
        self.p, self.walks_per_node, self.walk_length, self.start = p, walks_per_node, walk_length, start
        self.hide = hide

    def augment(self, view: View) -> View:
        ei, n = view.edge_index, view.num_nodes
        if ei.size(1) == 0 or self.p == 0.0:
            return replace(view, masked_edges=_add_masked_edges(view, ei.new_zeros(2, 0)))
        if view.draws.keyed:
            return self._keyed(view)
        if self.start == "edge":
            roots = ei[0, torch.rand(ei.size(1), device=ei.device) <= self.p]
        else:
            roots = torch.randperm(n, device=ei.device)[: round(n * self.p)]
        walks = random_walk_edges(ei, n, roots.repeat(self.walks_per_node), self.walk_length)
        chosen = torch.zeros(ei.size(1), dtype=torch.bool, device=ei.device)
        ids = walks[walks >= 0]
        chosen[ids] = True
        if self.hide == "directed":
            kept = ei[:, ~chosen]
            visible = torch.unique(torch.cat([kept, kept.flip(0)], 1), dim=1)
            return replace(view, edge_index=visible, masked_edges=_add_masked_edges(view, ei[:, chosen]))
        return _mask_pairs(view, chosen)

    def _keyed(self, view: View) -> View:
        if self.hide != "pair":
            raise ValueError("PathMasking(hide='directed') has no seed mini-batch form; use hide='pair' "
                             "(MaskGAE: --set model.hide=pair) or train full batch")
        if self.start != "node":
            raise ValueError("PathMasking(start='edge') has no seed mini-batch form (a walk per chosen edge "
                             "is not keyed on global ids); use start='node' or train full batch")
        ei, n = view.edge_index, view.num_nodes
        sym = torch.unique(torch.cat([ei, ei.flip(0)], 1), dim=1)
        roots = torch.nonzero(view.draws.nodes(n, ei.device) < self.p).view(-1)
        walked = torch.cat([random_walk_edges(sym, n, roots, self.walk_length, view.draws.fork(r)).view(-1)
                            for r in range(self.walks_per_node)])
        keys = _pair_keys(sym[:, walked[walked >= 0]], n)
        return _mask_pairs(view, torch.isin(_pair_keys(ei, n), keys))
