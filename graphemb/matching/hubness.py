"""Hubness of a ranker and its reduction on score matrices (any ranker: cosine, BM25, fused...).

A *hub* is a candidate that shows up in the top-k of many queries. Hubness is measured by the
k-occurrence ``N_k(c)`` = number of queries whose top-k holds candidate ``c`` (Radovanović et al.,
JMLR 2010): its skewness, and the share of candidates never retrieved (``N_k = 0``).

Reductions (all post-hoc, no labels; ``s`` = a ``[Q, C]`` block of query x candidate scores):

- ``csls`` (Conneau et al., ICLR 2018, "Word translation without parallel data"):
  ``2 s(q, c) - r_Q(c) - r_C(q)`` with ``r_Q(c)`` the mean of the ``k`` highest scores of ``c``
  against the query bank and ``r_C(q)`` the mean of the ``k`` highest scores of row ``q``.
- ``inverted_softmax`` (Smith et al., ICLR 2017): ``exp(b s(q,c)) / sum_{q' in QB} exp(b s(q',c))``.
- ``dis``, the dynamic inverted softmax of QB-Norm (Bogolin et al., CVPR 2022): the inverted
  softmax only for the rows whose raw top-1 lies in the activation set (candidates that are the
  top-1 of some query-bank query); other rows keep ``exp(b s)``.
- ``dbnorm_dis`` / ``dbnorm_ddis``, dual-bank normalisation (DBNorm; Wang, Jian & Xue, EMNLP 2023,
  "Balance Act: Mitigating Hubness in Cross-Modal Retrieval with Query and Gallery Banks"): the
  product of a query-bank and a gallery-bank inverted softmax,
  ``exp(b1 s)/sum_{q' in QB} exp(b1 s(q',c)) * exp(b2 s)/sum_{g in GB} exp(b2 s(g,c))`` (dual
  inverted softmax), and its dynamic form (dual dynamic inverted softmax: each factor's denominator
  only for rows whose raw top-1 is in that bank's activation set).

The inverted-softmax family is returned as the *log* of the paper's value (``b s - logsumexp``):
the same order in every row, without overflow. Bank statistics are per-candidate vectors
(:class:`BankNorm`) accumulated over blocks of bank rows, so a bank never needs to be one matrix.
Banks are built without labels: by default the queries themselves (query bank) and the candidates
scored against each other (gallery bank, each candidate's own score excluded).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Iterator, Optional, Union

import torch
from torch import Tensor

__all__ = ["HUBNESS_METHODS", "BankNorm", "fit_hubness", "reduce_hubness", "k_occurrence", "hubness_stats", "nk_stats",
           "bank_rows"]

def _clean(x) -> Tensor:
    """float64 copy with NaN -> ``-inf`` (infinities kept, unlike ``torch.nan_to_num``); numpy ok."""
    x = torch.as_tensor(x).double()
    return torch.where(torch.isnan(x), torch.full_like(x, float("-inf")), x)


HUBNESS_METHODS = ("none", "csls", "inverted_softmax", "dis", "dbnorm_dis", "dbnorm_ddis")
_NEEDS_GALLERY = ("dbnorm_dis", "dbnorm_ddis")

Blocks = Union[Tensor, Iterable[Tensor]]


def _iter_blocks(x: Blocks, chunk: int = 4096) -> Iterator[Tensor]:
    if isinstance(x, Tensor):
        for s in range(0, x.size(0), chunk):
            yield x[s : s + chunk]
    else:
        yield from x


def bank_rows(n: int, size: Optional[int], seed: int = 0) -> Tensor:
    """Indices of a bank of ``size`` rows sampled without replacement from ``n`` (all when
    ``size`` is ``None`` or ``>= n``), sorted."""
    if size is None or size >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:size].sort().values


def k_occurrence(scores: Blocks, k: int = 10) -> Tensor:
    """``N_k`` ``[C]``: how many rows hold each candidate among their ``k`` best (finite) scores."""
    counts: Optional[Tensor] = None
    for block in _iter_blocks(scores):
        block = _clean(block)
        if counts is None:
            counts = torch.zeros(block.size(1), dtype=torch.long)
        v, i = block.topk(min(k, block.size(1)), dim=1)
        counts += torch.bincount(i[torch.isfinite(v)], minlength=block.size(1))
    if counts is None:
        raise ValueError("k_occurrence needs at least one block of scores")
    return counts


def hubness_stats(scores: Blocks, k: int = 10, candidates: Optional[Tensor] = None) -> Dict[str, float]:
    """Skewness of ``N_k`` (population, as ``scipy.stats.skew``), share of candidates with
    ``N_k = 0`` and the largest ``N_k``, over ``candidates`` (``[C]`` bool; default all)."""
    return nk_stats(k_occurrence(scores, k), k, candidates)


def nk_stats(nk: Tensor, k: int, candidates: Optional[Tensor] = None) -> Dict[str, float]:
    """:func:`hubness_stats` of a given k-occurrence vector ``nk`` ``[C]``."""
    n = nk.double()
    if candidates is not None:
        n = n[candidates.bool()]
    mu, sd = n.mean(), n.std(unbiased=False)
    skew = float(((n - mu) ** 3).mean() / sd ** 3) if sd > 0 else 0.0
    return {"k": k, "skewness": skew, "never_retrieved": float((n == 0).double().mean()), "max_nk": float(n.max()),
            "candidates": int(n.numel())}


@dataclass
class BankNorm:
    """Per-candidate bank statistics of one reduction; :meth:`transform` applies it to any block.

    Attributes:
        method: one of :data:`HUBNESS_METHODS`.
        k: CSLS neighbourhood size.  beta: query-bank inverse temperature.  beta_gallery: gallery-bank one.
        query_term: ``[C]`` ``r_Q(c)`` (CSLS) or ``logsumexp_{q' in QB} beta s(q', c)`` (IS family).
        gallery_term: ``[C]`` ``logsumexp_{g in GB} beta_gallery s(g, c)`` (DBNorm only).
        query_active, gallery_active: ``[C]`` bool activation sets (dynamic variants only).
    """

    method: str
    k: int
    beta: float
    beta_gallery: float
    query_term: Optional[Tensor] = None
    gallery_term: Optional[Tensor] = None
    query_active: Optional[Tensor] = None
    gallery_active: Optional[Tensor] = None

    def transform(self, scores: Tensor) -> Tensor:
        """Reduced scores of a ``[Q, C]`` block (float64; ``-inf`` entries stay ``-inf``)."""
        s = _clean(scores)
        finite = torch.isfinite(s)
        if self.method == "none":
            return s
        if self.method == "csls":
            v = s.topk(min(self.k, s.size(1)), dim=1).values
            fv = torch.isfinite(v)
            r_c = (torch.where(fv, v, 0).sum(1) / fv.sum(1).clamp(min=1)).unsqueeze(1)
            out = 2 * s - self.query_term.unsqueeze(0) - r_c
        else:
            top1 = s.argmax(1)
            dual = self.method in _NEEDS_GALLERY
            b1 = self.beta
            out = b1 * s
            dynamic = self.method in ("dis", "dbnorm_ddis")
            q_rows = self.query_active[top1] if dynamic else torch.ones_like(top1, dtype=torch.bool)
            out = out - q_rows.unsqueeze(1).double() * self.query_term.unsqueeze(0)
            if dual:
                g_rows = self.gallery_active[top1] if self.method == "dbnorm_ddis" else torch.ones_like(q_rows)
                out = out + self.beta_gallery * s - g_rows.unsqueeze(1).double() * self.gallery_term.unsqueeze(0)
        return torch.where(finite, out, torch.full_like(out, float("-inf")))

    def __call__(self, block, rows=None):
        """The ``adjust(block, rows)`` hook of a blocked scorer: :meth:`transform` on a numpy or
        torch block, returned in the block's type (numpy: its dtype). ``rows`` is not needed."""
        if isinstance(block, Tensor):
            return self.transform(block)
        import numpy as np

        b = np.asarray(block)
        return self.transform(torch.from_numpy(b)).numpy().astype(b.dtype, copy=False)


def _column_lse(bank: Blocks, beta: float, exclude: Optional[Tensor]) -> tuple[Tensor, Tensor]:
    """``(logsumexp over bank rows of beta * s, activation set)`` per candidate, blockwise."""
    lse: Optional[Tensor] = None
    active: Optional[Tensor] = None
    start = 0
    for block in _iter_blocks(bank):
        b = _clean(block)
        if exclude is not None:
            ex = exclude[start : start + b.size(0)]
            rows = torch.nonzero(ex >= 0).squeeze(1)
            b = b.clone()
            b[rows, ex[rows]] = float("-inf")
        start += b.size(0)
        part = torch.logsumexp(beta * b, 0)
        lse = part if lse is None else torch.logaddexp(lse, part)
        top = b.argmax(1)[torch.isfinite(b.max(1).values)]
        hit = torch.zeros(b.size(1), dtype=torch.bool)
        hit[top] = True
        active = hit if active is None else active | hit
    if lse is None:
        raise ValueError("an empty bank: pass at least one row of bank scores")
    return torch.where(torch.isfinite(lse), lse, torch.zeros_like(lse)), active


def _column_topk_mean(bank: Blocks, k: int) -> Tensor:
    best: Optional[Tensor] = None
    for block in _iter_blocks(bank):
        b = _clean(block)
        cand = b if best is None else torch.cat([best, b], 0)
        best = cand.topk(min(k, cand.size(0)), dim=0).values
    if best is None:
        raise ValueError("an empty bank: pass at least one row of bank scores")
    fin = torch.isfinite(best)
    return torch.where(fin, best, 0).sum(0) / fin.sum(0).clamp(min=1)


def fit_hubness(method: str, query_bank: Optional[Blocks] = None, gallery_bank: Optional[Blocks] = None, *,
                k: int = 10, beta: float = 20.0, beta_gallery: float = 20.0,
                gallery_self: Optional[Tensor] = None) -> BankNorm:
    """Bank statistics of ``method`` (see the module docstring).

    Args:
        query_bank: ``[Bq, C]`` scores of bank queries against the candidates (a tensor or an
            iterable of row blocks); needed by every method but ``none``.
        gallery_bank: ``[Bg, C]`` scores of bank candidates (posed as queries) against the
            candidates; needed by ``dbnorm_*``.
        k: CSLS neighbourhood (10, Conneau et al.).  beta, beta_gallery: inverse temperatures of
            the query- and gallery-bank softmax (20, QB-Norm's default, for cosine-scale scores).
        gallery_self: ``[Bg]`` candidate index of each gallery-bank row (``-1``: none); that entry
            is left out of the gallery statistics (a candidate is not its own neighbour).
    """
    if method not in HUBNESS_METHODS:
        raise ValueError(f"unknown hubness reduction {method!r}; choose one of {', '.join(HUBNESS_METHODS)}")
    norm = BankNorm(method, k, beta, beta_gallery)
    if method == "none":
        return norm
    if query_bank is None:
        raise ValueError(f"hubness reduction {method!r} needs a query bank (scores of bank queries x candidates)")
    if method == "csls":
        norm.query_term = _column_topk_mean(query_bank, k)
        return norm
    norm.query_term, norm.query_active = _column_lse(query_bank, beta, None)
    if method in _NEEDS_GALLERY:
        if gallery_bank is None:
            raise ValueError(f"{method!r} needs a gallery bank (scores of bank candidates x candidates)")
        norm.gallery_term, norm.gallery_active = _column_lse(gallery_bank, beta_gallery, gallery_self)
    return norm


def reduce_hubness(scores: Tensor, method: str = "csls", query_bank: Optional[Blocks] = None,
                   gallery_bank: Optional[Blocks] = None, **kwargs) -> Tensor:
    """``fit_hubness(method, query_bank, gallery_bank, **kwargs).transform(scores)``; the query bank
    defaults to ``scores`` itself (the queries are their own bank, as in CSLS)."""
    qb = scores if query_bank is None else query_bank
    return fit_hubness(method, qb, gallery_bank, **kwargs).transform(scores)
