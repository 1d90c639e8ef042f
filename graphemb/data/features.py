"""Default node features for graphs that have none (IMDB-BINARY, COLLAB, REDDIT-*).

``"degree"`` (default): one-hot degree with ``B = min(cap, max_degree + 1)`` buckets, degree
``d`` goes to bucket ``min(d, B - 1)`` (so with ``cap=64`` degrees >= 63 share the last bucket).
For a set of graphs ``max_degree`` is taken over the whole set, so every graph gets the same
width. ``"constant"``: a single feature equal to 1 for every node.

Link prediction: degree features must not see the held-out edges, so
:func:`refeaturize_training_graph` recomputes them on the training graph after the split.
"""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data

FEATURE_KINDS = ("degree", "constant")
# "auto": keep the dataset's features, else degree one-hot; "auto-constant": keep them, else a
# constant 1 (the official IsoC-VGAE graph code); "degree" / "constant" replace existing features.
FEATURE_CHOICES = ("auto", "auto-constant", "degree", "constant")
DEFAULT_DEGREE_CAP = 64
DEGREE_NOTE = "degree one-hot"  # every note of degree features starts with this


def node_degree(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Degree of every node of an undirected graph stored with both directions, ``[N]`` long."""
    return torch.bincount(edge_index[0], minlength=num_nodes)[:num_nodes]


def degree_buckets(max_degree: int, cap: int = DEFAULT_DEGREE_CAP) -> int:
    """Number of one-hot buckets: ``min(cap, max_degree + 1)``."""
    if cap < 1:
        raise ValueError(f"degree cap must be >= 1, got {cap}")
    return int(min(cap, max_degree + 1))


def degree_onehot(degree: Tensor, num_buckets: int) -> Tensor:
    """One-hot of ``min(degree, num_buckets - 1)``: ``[N]`` -> ``[N, num_buckets]`` float32."""
    idx = degree.clamp(max=num_buckets - 1)
    out = torch.zeros(degree.numel(), num_buckets, dtype=torch.float32)
    out[torch.arange(degree.numel()), idx] = 1.0
    return out


def default_features(
    edge_index: Tensor, num_nodes: int, kind: str = "degree", cap: int = DEFAULT_DEGREE_CAP
) -> Tuple[Tensor, str]:
    """Features of one graph: ``(x [N, F] float32, note)``."""
    if kind not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {FEATURE_KINDS}, got {kind!r}")
    if kind == "constant":
        return torch.ones(num_nodes, 1), "constant 1"
    deg = node_degree(edge_index, num_nodes)
    b = degree_buckets(int(deg.max()) if num_nodes else 0, cap)
    return degree_onehot(deg, b), f"{DEGREE_NOTE} ({b} buckets, cap {cap})"


def featurize_graphs(
    graphs: Sequence[Data], kind: str = "degree", cap: int = DEFAULT_DEGREE_CAP
) -> Tuple[List[Tensor], str]:
    """Default features for a set of graphs with one shared width.

    Degrees are computed in one pass over the concatenated edge lists (no per-node loop).
    Returns one ``x`` per graph and the feature note.
    """
    if kind not in FEATURE_KINDS:
        raise ValueError(f"features must be one of {FEATURE_KINDS}, got {kind!r}")
    sizes = [int(g.num_nodes) for g in graphs]
    total = sum(sizes)
    if kind == "constant":
        return list(torch.ones(total, 1).split(sizes)), "constant 1"
    offsets = torch.tensor([0] + sizes[:-1]).cumsum(0) if sizes else torch.zeros(0, dtype=torch.long)
    src = (torch.cat([g.edge_index[0] + o for g, o in zip(graphs, offsets.tolist())])
           if graphs else torch.zeros(0, dtype=torch.long))
    deg = torch.bincount(src, minlength=total)[:total]
    b = degree_buckets(int(deg.max()) if total else 0, cap)
    return list(degree_onehot(deg, b).split(sizes)), f"{DEGREE_NOTE} ({b} buckets, cap {cap})"


def refeaturize_training_graph(train_data: Data, feature_note: str,
                               cap: int = DEFAULT_DEGREE_CAP) -> Tuple[Data, Optional[str]]:
    """Degree features of a link task's training graph, from its edges only.

    ``train_data`` is the training graph of an edge split (``edge_index`` = training edges, both
    directions). When ``feature_note`` says its features are degree one-hots (computed by the
    loader on the full graph), returns a shallow copy with ``x`` recomputed from the training
    edges (buckets from the training graph's maximum degree) and the new note; otherwise
    returns ``(train_data, None)`` unchanged (constant and real features do not depend on edges).
    """
    if not str(feature_note).startswith(DEGREE_NOTE):
        return train_data, None
    x, note = default_features(train_data.edge_index, int(train_data.num_nodes), "degree", cap)
    out = train_data.clone()
    out.x = x
    return out, note + ", training edges only"
