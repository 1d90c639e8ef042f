"""Ranking candidates by cosine similarity; mutual-nearest and one-to-one assignment."""
from __future__ import annotations

from typing import Literal, Tuple

import numpy as np
import torch
from torch import Tensor

from graphemb.matching.graph import MatchingGraph

__all__ = ["cosine_scores", "object_scores", "top_k", "mutual_nearest", "one_to_one"]


def cosine_scores(q: Tensor, c: Tensor, chunk: int = 4096) -> Tensor:
    """``[Q, C]`` cosine similarities, computed ``chunk`` query rows at a time (float32)."""
    qn = torch.nn.functional.normalize(q.float(), dim=1)
    cn = torch.nn.functional.normalize(c.float(), dim=1)
    return torch.cat([qn[s : s + chunk] @ cn.t() for s in range(0, max(len(qn), 1), chunk)], 0)


def object_scores(graph: MatchingGraph, emb: Tensor, query_side: Literal["a", "b"] = "b",
                  chunk: int = 4096) -> Tuple[Tensor, Tensor]:
    """Scores of every query object (side ``query_side``) against every object of the other side.

    Returns ``(scores [Q, C], present [Q])``: candidates pruned from the graph score ``-inf``;
    ``present`` is ``False`` for pruned queries (count them as misses).
    """
    if query_side not in ("a", "b"):
        raise ValueError(f"query_side must be 'a' or 'b', got {query_side!r}")
    qn, cn = (graph.b_nodes, graph.a_nodes) if query_side == "b" else (graph.a_nodes, graph.b_nodes)
    qv, cv = emb[qn.clamp(min=0)], emb[cn.clamp(min=0)]
    s = cosine_scores(qv, cv, chunk)
    s[:, cn < 0] = float("-inf")
    present = qn >= 0
    s[~present] = float("-inf")
    return s, present


def top_k(scores: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """``(values, indices)`` of the ``k`` best candidates per query."""
    return scores.topk(min(k, scores.size(1)), dim=1)


def mutual_nearest(scores: Tensor) -> Tensor:
    """``[M, 2]`` (query, candidate) pairs that are each other's best match (finite scores only)."""
    best_c = scores.argmax(1)
    best_q = scores.argmax(0)
    q = torch.arange(scores.size(0))
    keep = (best_q[best_c] == q) & torch.isfinite(scores[q, best_c])
    return torch.stack([q[keep], best_c[keep]], 1)


def one_to_one(scores: Tensor, min_score: float = float("-inf")) -> Tensor:
    """``[M, 2]`` pairs of the maximum-weight one-to-one assignment (``linear_sum_assignment``),
    dropping pairs scoring below ``min_score`` or ``-inf``."""
    from scipy.optimize import linear_sum_assignment

    s = scores.detach().double().numpy()
    finite = np.isfinite(s)
    w = np.where(finite, s, (s[finite].min() - 1.0) if finite.any() else 0.0)
    r, c = linear_sum_assignment(w, maximize=True)
    keep = finite[r, c] & (s[r, c] >= min_score)
    return torch.from_numpy(np.stack([r[keep], c[keep]], 1)).long()
