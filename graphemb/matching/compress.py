"""Graph compression with sparse-matrix algorithms (TDmatch §III-C, without its hours-long loops).

Three steps, each optional, in this order:

1. **prune**: drop token nodes with fewer than ``min_degree`` *linking* neighbours, i.e.
   objects or other tokens; column edges do not count (every table token has one, so counting
   them would keep every token). A token seen by one object only, with no token–token edge,
   cannot lie on a path between two objects and is dropped outright (never contracted into an
   object–column edge). Pruning repeats until no token qualifies (a dangling token chain goes
   entirely);
2. **contract**: replace every maximal chain of at least two degree-2 tokens
   ``u - t1 - ... - tk - v`` (``k >= 2``, so the chain holds a token–token edge, e.g. from
   expansion) by one edge ``u - v`` (components of the chain subgraph via
   ``scipy.sparse.csgraph``). A single degree-2 token ``u - t - v`` stays: it is a shared word,
   not a chain;
3. **paths**: keep only nodes ``v`` with ``d_A(v) + d_B(v) <= max_path`` where ``d_A`` / ``d_B``
   are multi-source BFS distances from all A / all B objects — i.e. nodes on a path of length
   <= ``max_path`` between an object of each side. Objects that fail are pruned (their queries
   later count as misses).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse import csgraph

from graphemb.matching.graph import COLUMN, OBJECT_A, OBJECT_B, TOKEN, MatchingGraph

__all__ = ["CompressConfig", "CompressReport", "compress", "linking_degree", "prune_tokens", "contract_chains", "keep_short_paths"]


@dataclass
class CompressConfig:
    """Compression settings: ``min_degree`` (object/token neighbours a token needs; 0 = no
    pruning), ``contract`` token chains, ``max_path`` (``None`` = no path filter;
    4 = object–token–column–token–object)."""

    min_degree: int = 2
    contract: bool = True
    max_path: Optional[int] = 4


@dataclass
class CompressReport:
    """Sizes before/after and what each step removed."""

    before: Dict[str, int]
    after: Dict[str, int]
    steps: Dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _adj(g: MatchingGraph) -> sp.csr_matrix:
    ei = g.data.edge_index.numpy()
    n = g.num_nodes
    return sp.csr_matrix((np.ones(ei.shape[1], dtype=np.int8), (ei[0], ei[1])), shape=(n, n))


def _degree(g: MatchingGraph) -> np.ndarray:
    return np.bincount(g.data.edge_index[0].numpy(), minlength=g.num_nodes)


def linking_degree(g: MatchingGraph) -> np.ndarray:
    """``[N]`` count of each node's neighbours that are objects or tokens (column edges ignored)."""
    ei = g.data.edge_index.numpy()
    t = g.node_type.numpy()
    m = t[ei[1]] != COLUMN
    return np.bincount(ei[0, m], minlength=g.num_nodes)


def prune_tokens(g: MatchingGraph, min_degree: int = 2) -> Tuple[MatchingGraph, int]:
    """Remove token nodes with fewer than ``min_degree`` object/token neighbours (column edges do
    not count), repeatedly until none is left; returns the graph and the count removed."""
    total = 0
    while True:
        drop = (g.node_type.numpy() == TOKEN) & (linking_degree(g) < min_degree)
        if not drop.any():
            return g, total
        g, total = g.subgraph(torch.from_numpy(~drop)), total + int(drop.sum())


def contract_chains(g: MatchingGraph) -> Tuple[MatchingGraph, int]:
    """Replace maximal chains of >= 2 degree-2 tokens by an edge between the chain's two ends.

    Returns the graph and the number of token nodes contracted away. A single degree-2 token is
    left alone. A chain whose ends meet the same node, or an isolated cycle of such tokens,
    disappears without a new edge.
    """
    chain = (g.node_type.numpy() == TOKEN) & (_degree(g) == 2)
    if not chain.any():
        return g, 0
    pairs = g.pairs()
    inner = chain[pairs[:, 0]] & chain[pairs[:, 1]]
    n = g.num_nodes
    sub = sp.csr_matrix((np.ones(int(inner.sum())), (pairs[inner, 0], pairs[inner, 1])), shape=(n, n))
    _, label = csgraph.connected_components(sub, directed=False)
    size = np.bincount(label, weights=chain.astype(np.float64))
    chain &= size[label] >= 2  # components of one degree-2 token are not chains
    if not chain.any():
        return g, 0
    # boundary edges: exactly one end in a chain; orient as (chain node, outside node)
    bnd = chain[pairs[:, 0]] ^ chain[pairs[:, 1]]
    b = pairs[bnd]
    b = np.where(chain[b[:, 0]][:, None], b, b[:, ::-1])
    comp = label[b[:, 0]]
    order = np.argsort(comp, kind="stable")
    comp, outside = comp[order], b[order, 1]
    # every chain component has 0 or 2 boundary edges (its nodes have degree 2)
    first = np.flatnonzero(np.r_[True, comp[1:] != comp[:-1]])
    counts = np.diff(np.r_[first, len(comp)])
    assert (counts == 2).all(), "a degree-2 chain must have two ends"
    new = np.stack([outside[first], outside[first + 1]], 1)
    kept = pairs[~(chain[pairs[:, 0]] | chain[pairs[:, 1]])]
    out = g.with_edges(np.concatenate([kept, new], 0))
    return out.subgraph(torch.from_numpy(~chain)), int(chain.sum())


def keep_short_paths(g: MatchingGraph, max_path: int = 4) -> Tuple[MatchingGraph, int]:
    """Keep nodes on a path of length <= ``max_path`` between an A object and a B object."""
    t = g.node_type.numpy()
    adj = _adj(g)
    src_a, src_b = np.flatnonzero(t == OBJECT_A), np.flatnonzero(t == OBJECT_B)
    if len(src_a) == 0 or len(src_b) == 0:
        return g.subgraph(torch.zeros(g.num_nodes, dtype=torch.bool)), g.num_nodes
    da = csgraph.dijkstra(adj, unweighted=True, indices=src_a, min_only=True)
    db = csgraph.dijkstra(adj, unweighted=True, indices=src_b, min_only=True)
    keep = (da + db) <= max_path
    return g.subgraph(torch.from_numpy(keep)), int((~keep).sum())


def compress(g: MatchingGraph, cfg: Optional[CompressConfig] = None) -> Tuple[MatchingGraph, CompressReport]:
    """Apply :func:`prune_tokens`, :func:`contract_chains` and :func:`keep_short_paths` per ``cfg``."""
    cfg = cfg or CompressConfig()
    t0 = time.perf_counter()
    before = g.sizes()
    steps: Dict[str, int] = {}
    if cfg.min_degree > 0:
        g, steps["pruned_tokens"] = prune_tokens(g, cfg.min_degree)
    if cfg.contract:
        g, steps["contracted_tokens"] = contract_chains(g)
    if cfg.max_path is not None:
        g, steps["off_path_nodes"] = keep_short_paths(g, cfg.max_path)
    steps["pruned_objects_a"] = int((g.a_nodes < 0).sum())
    steps["pruned_objects_b"] = int((g.b_nodes < 0).sum())
    after = g.sizes()
    sizes = {**g.meta.get("sizes", {}), "compressed": after}
    info = {"min_degree": cfg.min_degree, "contract": cfg.contract, "max_path": cfg.max_path, **steps}
    g = MatchingGraph(g.data, g.names, g.a_nodes, g.b_nodes, {**g.meta, "sizes": sizes, "compress": info})
    return g, CompressReport(before, after, steps, time.perf_counter() - t0)
