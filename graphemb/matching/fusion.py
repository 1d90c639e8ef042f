"""Unsupervised fusion of several rankers' ``[Q, C]`` score matrices (no labels anywhere).

- ``rrf``: reciprocal-rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009),
  ``sum_i w_i / (k + rank_i(q, c))`` with ``k = 60`` and 1-based ranks, tied candidates sharing
  their average rank; it only reads ranks, so one scorer's scale cannot dominate.
- ``zscore``: each row of each scorer standardised (mean 0, std 1 over its finite scores), then
  ``sum_i w_i z_i``.
- ``sum``: the raw sum (no normalisation); kept as the wrong baseline the tests show failing.

Weights ``w_i`` are equal, or (``weights="agreement"``) chosen on an unlabelled criterion: scorer
``i`` weighs its mean top-1 agreement with the other scorers (the share of queries on which its
best candidate is theirs), so a scorer that agrees with nobody (noise, or a broken signal) is
down-weighted; weights sum to 1.

A ``-inf`` score (a candidate or query pruned from a graph) counts as the scorer's worst value
for that row, so the other scorers still rank it; a row with no finite score contributes nothing.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

__all__ = ["FUSIONS", "row_ranks", "zscore_rows", "fuse", "agreement_weights", "agreement_from_tops", "FusedScorer"]

def _clean(x: Tensor) -> Tensor:
    """float64 copy with NaN -> ``-inf`` (infinities kept, unlike ``torch.nan_to_num``)."""
    x = x.double()
    return torch.where(torch.isnan(x), torch.full_like(x, float("-inf")), x)


FUSIONS = ("rrf", "zscore", "sum")


def row_ranks(scores: Tensor) -> Tensor:
    """1-based rank of each candidate in its row (highest score = 1), ties share their average
    rank; ``-inf``/NaN rank last (tied among themselves). ``[Q, C]`` float64."""
    from scipy.stats import rankdata

    s = _clean(scores).numpy()
    if s.size == 0:
        return torch.zeros(s.shape, dtype=torch.float64)
    return torch.from_numpy(rankdata(-s, axis=1, method="average").astype(np.float64))


def zscore_rows(scores: Tensor) -> Tensor:
    """Each row standardised over its finite entries; non-finite entries get the row's minimum,
    a constant or empty row becomes zeros. ``[Q, C]`` float64."""
    s = _clean(scores)
    fin = torch.isfinite(s)
    n = fin.sum(1, keepdim=True).clamp(min=1)
    x = torch.where(fin, s, 0)
    mu = x.sum(1, keepdim=True) / n
    sd = (torch.where(fin, (s - mu) ** 2, 0).sum(1, keepdim=True) / n).sqrt()
    z = torch.where(sd > 0, (x - mu) / sd.clamp(min=1e-300), torch.zeros_like(x))
    lo = torch.where(fin, z, torch.inf).min(1, keepdim=True).values
    lo = torch.where(torch.isfinite(lo), lo, 0)
    return torch.where(fin, z, lo.expand_as(z))


def _fuse_equal(parts: Sequence[Tensor], method: str, k: float, weights: Tensor) -> Tensor:
    out: Optional[Tensor] = None
    for w, s in zip(weights.tolist(), parts):
        if method == "rrf":
            t = 1.0 / (k + row_ranks(s))
        elif method == "zscore":
            t = zscore_rows(s)
        else:
            t = _clean(s)
        t = w * t
        out = t if out is None else out + t
    assert out is not None
    return out


def agreement_weights(scores: Sequence[Tensor], floor: float = 0.02) -> Tensor:
    """Mean pairwise top-1 agreement of each scorer with the others (see the module docstring),
    clamped below at ``floor`` and normalised to sum 1. ``[S]`` float64."""
    if len(scores) < 2:
        return torch.ones(len(scores), dtype=torch.float64)
    return agreement_from_tops(torch.stack([_clean(s).argmax(1) for s in scores]), floor)


def agreement_from_tops(tops: Tensor, floor: float = 0.02) -> Tensor:
    """:func:`agreement_weights` from each scorer's best candidate per query, ``tops`` ``[S, Q]``."""
    if len(tops) < 2:
        return torch.ones(len(tops), dtype=torch.float64)
    agree = (tops.unsqueeze(0) == tops.unsqueeze(1)).double().mean(2)  # [S, S]
    w = ((agree.sum(1) - 1) / (len(tops) - 1)).clamp(min=floor)
    return w / w.sum()


def _checked_weights(method: str, shapes: Sequence[tuple], weights: Union[None, str, Sequence[float]],
                     agreement, what: str) -> Tensor:
    """Validate a fusion request (method, one shared ``[Q, C]`` shape) and resolve its weights:
    equal, ``agreement()`` (called only when asked for) or the given floats, as float64."""
    if method not in FUSIONS:
        raise ValueError(f"unknown fusion {method!r}; choose one of {', '.join(FUSIONS)}")
    if not shapes:
        raise ValueError(f"fusion needs at least one of the {what}")
    if len(set(shapes)) != 1:
        raise ValueError(f"{what} to fuse must share one [Q, C] shape, got {sorted(set(shapes))}")
    if weights is None:
        return torch.ones(len(shapes), dtype=torch.float64)
    if isinstance(weights, str):
        if weights != "agreement":
            raise ValueError(f"weights must be None, 'agreement' or a sequence of floats, got {weights!r}")
        return agreement()
    w = torch.as_tensor(list(weights), dtype=torch.float64)
    if w.numel() != len(shapes):
        raise ValueError(f"{w.numel()} weights for {len(shapes)} {what}")
    return w


def fuse(scores: Sequence[Tensor], method: str = "rrf", *, weights: Union[None, str, Sequence[float]] = None,
         k: float = 60.0) -> Tensor:
    """Fuse ``[Q, C]`` score matrices of the same queries and candidates into one ``[Q, C]``.

    Args:
        method: ``rrf`` (default), ``zscore`` or ``sum`` (see the module docstring).
        weights: ``None`` (equal), ``"agreement"`` (:func:`agreement_weights`) or one weight per scorer.
        k: the RRF constant (60).
    """
    w = _checked_weights(method, [tuple(s.shape) for s in scores], weights, lambda: agreement_weights(scores),
                         "score matrices")
    return _fuse_equal(scores, method, k, w)


class FusedScorer:
    """:func:`fuse` of several blocked scorers (:class:`graphemb.matching.match.Scorer`), one
    block of query rows at a time: every fusion here is row-local, so a block of the fused
    scores equals those rows of the dense :func:`fuse`. ``weights="agreement"`` reads each
    scorer's top-1 over all rows first (one blocked pass, no dense matrix).
    """

    def __init__(self, parts: Sequence, method: str = "rrf", *, weights: Union[None, str, Sequence[float]] = None,
                 k: float = 60.0, budget: int = 1 << 23) -> None:
        from graphemb.matching.match import iter_blocks

        self.parts, self.method, self.k = list(parts), method, float(k)

        def agreement():
            return agreement_from_tops(torch.stack([
                torch.cat([_clean(torch.as_tensor(b)).argmax(1) for _, b in iter_blocks(p, budget)]) for p in parts]))

        self.weights = _checked_weights(method, [tuple(p.shape) for p in parts], weights, agreement, "scorers")

    @property
    def shape(self):
        return self.parts[0].shape

    def block(self, rows: np.ndarray) -> np.ndarray:
        blocks = [torch.as_tensor(p.block(rows)) for p in self.parts]
        return _fuse_equal(blocks, self.method, self.k, self.weights).numpy()
