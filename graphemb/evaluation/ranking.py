"""Tie-aware ranking primitives shared by link prediction, MAG link tasks and matching.

Ties are never broken by input order. ``ties="pessimistic"`` ranks a relevant item below every
candidate with an equal score; ``ties="average"`` uses the mean of the optimistic and the
pessimistic rank (as OGB's MRR evaluator does). ``ties="optimistic"`` exists for comparison only.
"""
from __future__ import annotations

from typing import Iterable, Literal

import torch
from torch import Tensor

Ties = Literal["pessimistic", "average", "optimistic"]
_TIES = ("pessimistic", "average", "optimistic")


def _check_ties(ties: str) -> None:
    if ties not in _TIES:
        raise ValueError(f"ties must be one of {_TIES}, got {ties!r}")


def rank_against_negatives(pos: Tensor, neg: Tensor, ties: Ties = "average") -> Tensor:
    """1-based rank of each positive score among its own negatives.

    Args:
        pos: ``[Q]`` score of each query's positive.
        neg: ``[Q, M]`` scores of each query's negatives.
    Returns:
        ``[Q]`` float ranks (``1`` = ranked first).
    """
    _check_ties(ties)
    if pos.dim() != 1 or neg.dim() != 2 or neg.size(0) != pos.size(0):
        raise ValueError(f"expected pos [Q] and neg [Q, M], got {tuple(pos.shape)} and {tuple(neg.shape)}")
    p = pos.view(-1, 1)
    opt = (neg > p).sum(1).to(torch.float64)
    pes = (neg >= p).sum(1).to(torch.float64)
    if ties == "optimistic":
        return opt + 1
    if ties == "pessimistic":
        return pes + 1
    return 0.5 * (opt + pes) + 1


def rank_of_first_relevant(scores: Tensor, relevant: Tensor, ties: Ties = "pessimistic") -> Tensor:
    """1-based rank of the best-ranked relevant candidate of each query.

    Args:
        scores: ``[Q, C]`` candidate scores.
        relevant: ``[Q, C]`` bool, the gold candidates of each query.
    Returns:
        ``[Q]`` float ranks; ``inf`` for a query with no relevant candidate (a miss).
    """
    _check_ties(ties)
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} differ")
    relevant = relevant.bool()
    neg_inf = torch.tensor(float("-inf"), dtype=scores.dtype, device=scores.device)
    best = torch.where(relevant, scores, neg_inf).max(1).values  # best relevant score
    irrelevant = ~relevant
    # Candidates that beat the best relevant one are irrelevant by construction.
    opt = ((scores > best.view(-1, 1)) & irrelevant).sum(1).to(torch.float64)
    pes = ((scores >= best.view(-1, 1)) & irrelevant).sum(1).to(torch.float64)
    if ties == "optimistic":
        rank = opt + 1
    elif ties == "pessimistic":
        rank = pes + 1
    else:
        rank = 0.5 * (opt + pes) + 1
    return torch.where(relevant.any(1), rank, torch.full_like(rank, float("inf")))


def mrr(ranks: Tensor, k: int | None = None) -> float:
    """Mean reciprocal rank; ranks beyond ``k`` (and ``inf`` misses) count 0."""
    r = ranks.to(torch.float64)
    rr = 1.0 / r
    if k is not None:
        rr = torch.where(r <= k, rr, torch.zeros_like(rr))
    return float(rr.mean()) if r.numel() else float("nan")


def hits_at_k(ranks: Tensor, k: int) -> float:
    """Fraction of queries whose rank is at most ``k``."""
    return float((ranks.to(torch.float64) <= k).to(torch.float64).mean()) if ranks.numel() else float("nan")


def average_precision_at_k(scores: Tensor, relevant: Tensor, k: int) -> Tensor:
    """Per-query AP@K with pessimistic ties (relevant items placed after equal-scored others).

    AP@K = sum_{i<=K} P@i * rel_i / min(K, #relevant); a query with no relevant item scores 0.
    Returns ``[Q]`` float64.
    """
    if scores.shape != relevant.shape:
        raise ValueError(f"scores {tuple(scores.shape)} and relevant {tuple(relevant.shape)} differ")
    relevant = relevant.bool()
    q, c = scores.shape
    k = min(k, c)
    # Pessimistic order: by score descending, then irrelevant before relevant.
    # Two stable sorts implement the lexicographic key.
    order = torch.argsort(relevant.to(torch.int8), dim=1, stable=True)
    s = torch.gather(scores, 1, order)
    order = torch.gather(order, 1, torch.argsort(s, dim=1, descending=True, stable=True))
    rel = torch.gather(relevant, 1, order)[:, :k].to(torch.float64)
    prec = rel.cumsum(1) / torch.arange(1, k + 1, dtype=torch.float64, device=scores.device)
    denom = relevant.sum(1).clamp(max=k).to(torch.float64)
    ap = (prec * rel).sum(1) / denom.clamp(min=1)
    return torch.where(denom > 0, ap, torch.zeros_like(ap))


def ranking_report(ranks: Tensor, ks: Iterable[int] = (1, 3, 5, 10, 20)) -> dict:
    """``{"mrr": ..., "hits@K": ...}`` for the given ranks."""
    out = {"mrr": mrr(ranks)}
    for k in ks:
        out[f"hits@{k}"] = hits_at_k(ranks, k)
    return out
