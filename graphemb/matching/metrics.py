"""Matching metrics: MRR@K, MAP@K, Hits@K with pessimistic ties, and pair precision/recall/F1.

Every query counts: a query without gold, or whose object was pruned from the graph, is a miss
(rank ``inf``, AP 0), never skipped.
"""
from __future__ import annotations

from typing import Dict, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from graphemb.evaluation.ranking import average_precision_at_k, hits_at_k, mrr, rank_of_first_relevant

__all__ = ["KS", "gold_matrix", "ranking_metrics", "pair_prf"]

KS = (1, 3, 5, 10, 20)


def gold_matrix(gold: Sequence[Sequence[int]], num_candidates: int) -> Tensor:
    """``[Q, C]`` bool from per-query lists of gold candidate indices."""
    rel = torch.zeros(len(gold), num_candidates, dtype=torch.bool)
    q = [i for i, g in enumerate(gold) for _ in g]
    c = [j for g in gold for j in g]
    if q:
        rel[torch.tensor(q), torch.tensor(c)] = True
    return rel


def ranking_metrics(scores: Tensor, relevant: Tensor, *, query_mask: Optional[Tensor] = None,
                    ks: Iterable[int] = KS, ties: str = "pessimistic") -> Dict[str, float]:
    """Ranking metrics of ``scores`` ``[Q, C]`` against ``relevant`` ``[Q, C]`` bool.

    Args:
        query_mask: ``[Q]`` bool, ``False`` for queries that cannot be answered (pruned object):
            they count as misses.
        ties: ``pessimistic`` (default) or ``average`` (see ``graphemb.evaluation.ranking``).
    Returns:
        ``mrr``, ``mrr@K``, ``map@K``, ``hits@K``, ``queries``, ``missed`` (no gold or pruned).
    """
    scores = torch.nan_to_num(scores.to(torch.float64), nan=float("-inf"))
    ranks = rank_of_first_relevant(scores, relevant, ties=ties)
    ok = relevant.any(1)
    if query_mask is not None:
        ok = ok & query_mask.bool()
        ranks = torch.where(query_mask.bool(), ranks, torch.full_like(ranks, float("inf")))
    out: Dict[str, float] = {"mrr": mrr(ranks)}
    for k in ks:
        ap = average_precision_at_k(scores, relevant, k)
        if query_mask is not None:
            ap = torch.where(query_mask.bool(), ap, torch.zeros_like(ap))
        out[f"mrr@{k}"] = mrr(ranks, k)
        out[f"map@{k}"] = float(ap.mean()) if ap.numel() else float("nan")
        out[f"hits@{k}"] = hits_at_k(ranks, k)
    out["queries"] = int(scores.size(0))
    out["missed"] = int((~ok).sum())
    return out


def pair_prf(pred: np.ndarray | Tensor, gold: np.ndarray | Tensor) -> Dict[str, float]:
    """Precision, recall and F1 of predicted ``[M, 2]`` pairs against gold ``[G, 2]`` pairs."""
    p = {tuple(x) for x in np.asarray(pred).reshape(-1, 2).tolist()}
    g = {tuple(x) for x in np.asarray(gold).reshape(-1, 2).tolist()}
    tp = len(p & g)
    prec = tp / len(p) if p else 0.0
    rec = tp / len(g) if g else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    return {"precision": prec, "recall": rec, "f1": f1, "tp": tp}
