"""Ranking candidates without a dense query x candidate matrix; top-k retrieval; one-to-one assignment.

A *scorer* gives the scores of a block of query rows against every candidate
(``scorer.block(rows) -> [len(rows), C]``); everything here walks the queries block by block, so
1M candidates x 100k queries never holds more than ``budget`` scores at once:

- :func:`blocked_topk`: the ``k`` best candidates per query (exact, through
  :func:`graphemb.index.select_topk`; with ``backend="faiss"``/``"usearch"`` an HNSW index of
  :mod:`graphemb.index` instead, approximate);
- :func:`blocked_ranking_metrics`: MRR / MAP@K / Hits@K exactly as
  :func:`graphemb.matching.metrics.ranking_metrics` on the dense matrix, ties pessimistic (or
  averaged): each gold candidate's rank is a count of the candidates scoring at least as high,
  so no row is ever sorted;
- :func:`one_to_one_sparse`: maximum-weight one-to-one assignment on the sparse top-k graph
  (``scipy.sparse.csgraph.min_weight_full_bipartite_matching``), not a dense
  ``linear_sum_assignment``.

Score adjustments (hubness reduction: CSLS, inverted softmax, ...) plug in with
:class:`AdjustedScorer`: ``adjust(block [b, C], rows [b]) -> [b, C]`` is applied inside every
block, so retrieval, ranks and assignment all see the adjusted scores. Per-candidate statistics
for such an adjustment are computed with :func:`iter_blocks` (or :func:`blocked_topk` on the
transposed scorer).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, Literal, Optional, Protocol, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from graphemb.matching.graph import MatchingGraph

__all__ = ["Scorer", "EmbeddingScorer", "DenseScorer", "SparseScorer", "RowsScorer", "AdjustedScorer", "Adjust",
           "BUDGET", "iter_blocks", "blocked_topk", "blocked_ranks", "blocked_ranking_metrics", "blocked_scan", "Scan",
           "rank_metrics", "one_to_one_sparse", "one_to_one_topk",
           "object_scorer",
           "cosine_scores", "object_scores", "top_k", "mutual_nearest", "one_to_one"]

#: Scores held at once by the blocked computations (float32: 8M scores = 32 MB per block).
BUDGET = 1 << 23

#: ``adjust(block [b, C], rows [b]) -> adjusted [b, C]`` (rows: the block's query indices).
Adjust = Callable[[np.ndarray, np.ndarray], np.ndarray]


class Scorer(Protocol):
    """Scores of query rows against all candidates, one block of rows at a time."""

    @property
    def shape(self) -> Tuple[int, int]: ...

    def block(self, rows: np.ndarray) -> np.ndarray: ...


@dataclass
class EmbeddingScorer:
    """Cosine (or, with ``normalize=False``, inner-product) scores of query and candidate vectors.

    Args:
        queries: ``[Q, d]``; candidates: ``[C, d]`` (float32 copies are kept).
        candidate_mask: ``[C]`` bool, ``False`` for candidates that score ``-inf`` (pruned).
        query_mask: ``[Q]`` bool, ``False`` for queries whose every score is ``-inf`` (pruned).
        stable: compute each block in float64 and round it to float32, so a score does not depend
            on which rows share its block (BLAS rounds a matrix's edge tiles differently from a
            single row's product) and identical candidates tie exactly; about 2x the cost.
    """

    queries: np.ndarray
    candidates: np.ndarray
    candidate_mask: Optional[np.ndarray] = None
    normalize: bool = True
    query_mask: Optional[np.ndarray] = None
    stable: bool = False

    def __post_init__(self) -> None:
        from graphemb.index import normalize

        q, c = (np.asarray(x.numpy() if isinstance(x, Tensor) else x, dtype=np.float32)
                for x in (self.queries, self.candidates))
        if q.ndim != 2 or c.ndim != 2 or q.shape[1] != c.shape[1]:
            raise ValueError(f"queries [Q, d] and candidates [C, d] must share d; got {q.shape} and {c.shape}")
        self.queries, self.candidates = (normalize(q), normalize(c)) if self.normalize else (q, c)
        self._ct = np.ascontiguousarray(self.candidates.T, dtype=np.float64 if self.stable else np.float32)
        self._q = self.queries.astype(np.float64) if self.stable else self.queries
        for name, n in (("candidate_mask", len(c)), ("query_mask", len(q))):
            m = getattr(self, name)
            if m is not None:
                m = np.asarray(m, dtype=bool)
                if m.shape != (n,):
                    raise ValueError(f"{name} must be [{n}], got {m.shape}")
                setattr(self, name, m)

    @property
    def shape(self) -> Tuple[int, int]:
        return len(self.queries), len(self.candidates)

    def block(self, rows: np.ndarray) -> np.ndarray:
        s = self._q[rows] @ self._ct
        if self.stable:
            s = s.astype(np.float32)
        if self.candidate_mask is not None:
            s[:, ~self.candidate_mask] = -np.inf
        if self.query_mask is not None:
            s[~self.query_mask[rows]] = -np.inf
        return s


@dataclass
class DenseScorer:
    """An existing ``[Q, C]`` score matrix (Tensor or array; its dtype is kept) seen as a scorer."""

    scores: np.ndarray

    def __post_init__(self) -> None:
        s = self.scores
        self.scores = s.detach().cpu().numpy() if isinstance(s, Tensor) else np.asarray(s)
        if self.scores.ndim != 2:
            raise ValueError(f"scores must be [Q, C], got shape {self.scores.shape}")

    @property
    def shape(self) -> Tuple[int, int]:
        return self.scores.shape  # type: ignore[return-value]

    def block(self, rows: np.ndarray) -> np.ndarray:
        return self.scores[rows]


@dataclass
class SparseScorer:
    """Scores ``queries @ candidates.T`` of two sparse row matrices ``[Q, V]`` and ``[C, V]``
    (BM25 / TF-IDF term weights; :mod:`graphemb.matching.baselines`), dense float64 per block."""

    queries: "object"
    candidates: "object"

    def __post_init__(self) -> None:
        import scipy.sparse as sp

        self.queries, self.candidates = sp.csr_matrix(self.queries), sp.csr_matrix(self.candidates)
        if self.queries.shape[1] != self.candidates.shape[1]:
            raise ValueError(f"queries [Q, V] and candidates [C, V] must share V; got {self.queries.shape} "
                             f"and {self.candidates.shape}")
        self._ct = self.candidates.T.tocsc()

    @property
    def shape(self) -> Tuple[int, int]:
        return self.queries.shape[0], self.candidates.shape[0]

    def block(self, rows: np.ndarray) -> np.ndarray:
        return np.asarray((self.queries[rows] @ self._ct).toarray(), dtype=np.float64)


@dataclass
class RowsScorer:
    """The rows ``rows`` of ``scorer`` (in that order) seen as a scorer of ``len(rows)`` queries."""

    scorer: "Scorer"
    rows: np.ndarray

    def __post_init__(self) -> None:
        self.rows = np.asarray(self.rows, dtype=np.int64)

    @property
    def shape(self) -> Tuple[int, int]:
        return len(self.rows), self.scorer.shape[1]

    def block(self, rows: np.ndarray) -> np.ndarray:
        return self.scorer.block(self.rows[rows])


@dataclass
class AdjustedScorer:
    """``scorer`` with ``adjust(block, rows)`` applied to every block (hubness reduction hook)."""

    scorer: Scorer
    adjust: Adjust

    @property
    def shape(self) -> Tuple[int, int]:
        return self.scorer.shape

    def block(self, rows: np.ndarray) -> np.ndarray:
        out = self.adjust(self.scorer.block(rows), rows)
        if out.shape != (len(rows), self.shape[1]):
            raise ValueError(f"adjust returned shape {out.shape}, expected {(len(rows), self.shape[1])}")
        return out


def iter_blocks(scorer: Scorer, budget: int = BUDGET, rows: Optional[np.ndarray] = None
                ) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
    """``(rows [b], scores [b, C])`` over all query rows (or the given ``rows``), in order,
    ``b * C <= budget`` (at least one row per block)."""
    q, c = scorer.shape
    rows = np.arange(q) if rows is None else np.asarray(rows, dtype=np.int64)
    step = max(1, budget // max(c, 1))
    for s in range(0, len(rows), step):
        r = rows[s : s + step]
        yield r, scorer.block(r)


def blocked_topk(scorer: Scorer, k: int, *, budget: int = BUDGET, backend: str = "numpy"
                 ) -> Tuple[np.ndarray, np.ndarray]:
    """``(indices [Q, k], scores [Q, k])`` of each query's ``k`` best candidates, best first.

    ``backend="numpy"`` (default) is exact; equal scores list the lower candidate index first (a
    listing order, not a rank: ranks come from :func:`blocked_ranks`). ``"faiss"``/``"usearch"``/
    ``"auto"`` use :mod:`graphemb.index`'s HNSW (approximate) for a plain :class:`EmbeddingScorer`.
    """
    from graphemb.index import resolve_backend, select_topk

    q, c = scorer.shape
    k = min(int(k), c)
    if k < 1:
        return np.zeros((q, 0), dtype=np.int64), np.zeros((q, 0), dtype=np.float32)
    backend = resolve_backend(backend)
    if backend != "numpy" and isinstance(scorer, EmbeddingScorer):
        return _ann_topk(scorer, k, backend)
    idx, val = [], []
    for _, s in iter_blocks(scorer, budget):
        i, v = select_topk(s, k)
        idx.append(i)
        val.append(v)
    return np.concatenate(idx), np.concatenate(val)


def _ann_topk(scorer: EmbeddingScorer, k: int, backend: str) -> Tuple[np.ndarray, np.ndarray]:
    from graphemb.index import _ann_build, _ann_search

    keep = np.arange(scorer.shape[1]) if scorer.candidate_mask is None else np.flatnonzero(scorer.candidate_mask)
    k = min(k, len(keep))
    ann = _ann_build(backend, np.ascontiguousarray(scorer.candidates[keep]))
    local = _ann_search(backend, ann, scorer.queries, k).astype(np.int64)
    idx = np.where(local >= 0, keep[local.clip(min=0)], -1)
    val = np.einsum("qd,qkd->qk", scorer.queries, scorer.candidates[idx.clip(min=0)])
    return idx, np.where(idx >= 0, val, -np.inf).astype(np.float32)


def _gold_csr(gold: Sequence[Sequence[int]], q: int, c: int) -> Tuple[np.ndarray, np.ndarray]:
    """``(indptr [Q+1], candidates)`` of the de-duplicated gold lists, candidates ascending."""
    if len(gold) != q:
        raise ValueError(f"gold has {len(gold)} lists for {q} queries")
    lens = np.fromiter((len(g) for g in gold), dtype=np.int64, count=q)
    flat = np.fromiter((j for g in gold for j in g), dtype=np.int64, count=int(lens.sum()))
    if len(flat) and (flat.min() < 0 or flat.max() >= c):
        raise ValueError(f"gold candidate indices must lie in [0, {c}); got {flat.min()}..{flat.max()}")
    code = np.unique(np.repeat(np.arange(q, dtype=np.int64), lens) * c + flat)
    indptr = np.searchsorted(code // max(c, 1), np.arange(q + 1), side="left") if c else np.zeros(q + 1, np.int64)
    return indptr.astype(np.int64), code % max(c, 1)


def _gold_positions(s: np.ndarray, pq: np.ndarray, pc: np.ndarray, budget: int
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pessimistic 1-based position of every gold pair ``(pq, pc)`` of the block ``s``.

    Pessimistic order (as ``average_precision_at_k``): score descending; at equal score the
    irrelevant candidates first, then the relevant ones by candidate index. Returns
    ``(position, j, first, gold_score)``: ``j`` is the pair's 1-based order among its query's gold
    candidates, ``first`` marks ``j == 1``.
    """
    ps = s[pq, pc]
    # order the gold pairs of each query: score descending, then candidate ascending
    o = np.lexsort((pc, -ps, pq))
    pq, pc, ps = pq[o], pc[o], ps[o]
    n = len(pq)
    new_q = np.r_[True, pq[1:] != pq[:-1]] if n else np.zeros(0, bool)
    g_start = np.maximum.accumulate(np.where(new_q, np.arange(n), 0)) if n else np.zeros(0, np.int64)
    j = np.arange(n) - g_start + 1
    # relevant candidates of the same query scoring >= this one: end of its equal-score run
    new_run = new_q | np.r_[True, ps[1:] != ps[:-1]] if n else np.zeros(0, bool)
    run_id = np.cumsum(new_run) - 1
    run_end = np.r_[np.flatnonzero(new_run)[1:], n][run_id] if n else np.zeros(0, np.int64)
    rel_ge = run_end - g_start
    if n == len(s) and (pq == np.arange(n)).all():  # one gold candidate per row: compare in place
        ge = np.count_nonzero(s >= ps[:, None], axis=1)
    else:
        ge = np.empty(n, dtype=np.int64)
        step = max(1, budget // max(s.shape[1], 1))
        for t in range(0, n, step):  # all candidates scoring >= the gold score, a chunk of pairs at a time
            ge[t : t + step] = np.count_nonzero(s[pq[t : t + step]] >= ps[t : t + step, None], axis=1)
    irrel_ge = ge - rel_ge
    inv = np.empty(n, dtype=np.int64)
    inv[o] = np.arange(n)
    return (irrel_ge + j)[inv], j[inv], (j == 1)[inv], ps[inv]


def _block_ranks(s: np.ndarray, indptr: np.ndarray, gc: np.ndarray, rows: np.ndarray, ks: Sequence[int],
                 ties: str, budget: int) -> Tuple[np.ndarray, Dict[int, np.ndarray]]:
    """First-relevant ranks ``[b]`` and AP@K ``{k: [b]}`` of one contiguous block of rows."""
    b = len(rows)
    if np.issubdtype(s.dtype, np.floating) and np.isnan(s).any():
        s = np.where(np.isnan(s), -np.inf, s)
    lo, hi = int(indptr[rows[0]]), int(indptr[rows[-1] + 1])
    counts = np.diff(indptr[rows[0] : rows[-1] + 2])
    pq = np.repeat(np.arange(b), counts)
    pc = gc[lo:hi]
    ranks = np.full(b, np.inf)
    aps = {k: np.zeros(b) for k in ks}
    if not len(pq):
        return ranks, aps
    pos, j, first, ps = _gold_positions(s, pq, pc, budget)
    fq = pq[first]
    pes = pos[first].astype(np.float64)
    if ties == "pessimistic":
        ranks[fq] = pes
    else:  # optimistic rank of the best gold candidate: the candidates scoring strictly higher + 1
        opt = (s[fq] > ps[first][:, None]).sum(1).astype(np.float64) + 1
        ranks[fq] = opt if ties == "optimistic" else 0.5 * (opt + pes)
    for k in ks:  # AP@K = sum over gold within the top K of (j / position), / min(K, #gold)
        kk = min(k, s.shape[1])
        hit = pos <= kk
        aps[k] = np.bincount(pq[hit], weights=j[hit] / pos[hit], minlength=b) / np.maximum(np.minimum(counts, kk), 1)
    return ranks, aps


@dataclass
class Scan:
    """What one pass over a scorer's blocks gives (:func:`blocked_scan`).

    Attributes:
        ranks: ``[Q]`` 1-based rank of each query's best gold candidate (``inf``: none).
        aps: ``{k: [Q]}`` AP@k.  has_gold: ``[Q]`` bool.
        topk: ``(indices [Q, k], scores [Q, k])`` (:func:`blocked_topk`'s order) or ``None``.
        k_occurrence: ``[C]`` N_k of :func:`graphemb.matching.hubness.k_occurrence` or ``None``.
        finite: ``[C]`` bool, candidates with a finite score for some query.
    """

    ranks: np.ndarray
    aps: Dict[int, np.ndarray]
    has_gold: np.ndarray
    topk: Optional[Tuple[np.ndarray, np.ndarray]]
    k_occurrence: Optional[np.ndarray]
    finite: np.ndarray

    def metrics(self, query_mask: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None) -> Dict[str, float]:
        """:func:`graphemb.matching.metrics.ranking_metrics`'s dict over all queries (or the
        positions ``rows``); ``query_mask`` ``[Q]`` ``False`` = a miss."""
        return rank_metrics(self.ranks, self.aps, self.has_gold, query_mask, rows)


def rank_metrics(ranks: np.ndarray, aps: Dict[int, np.ndarray], has_gold: np.ndarray,
                 query_mask: Optional[np.ndarray] = None, rows: Optional[np.ndarray] = None) -> Dict[str, float]:
    """``mrr``, ``mrr@K``, ``map@K``, ``hits@K``, ``queries``, ``missed`` from per-query first-gold
    ranks and AP@K (keys of ``aps``), over ``rows`` (default all); ``query_mask`` ``False`` = a miss."""
    from graphemb.evaluation.ranking import hits_at_k, mrr

    ok = np.asarray(has_gold, dtype=bool)
    if query_mask is not None:
        m = np.asarray(query_mask.numpy() if isinstance(query_mask, Tensor) else query_mask, dtype=bool)
        ok = ok & m
        ranks = np.where(m, ranks, np.inf)
        aps = {k: np.where(m, v, 0.0) for k, v in aps.items()}
    if rows is not None:
        rows = np.asarray(rows, dtype=np.int64)
        ranks, ok, aps = ranks[rows], ok[rows], {k: v[rows] for k, v in aps.items()}
    rt = torch.from_numpy(np.asarray(ranks, dtype=np.float64))
    out: Dict[str, float] = {"mrr": mrr(rt)}
    for k in sorted(aps):
        out[f"mrr@{k}"] = mrr(rt, k)
        out[f"map@{k}"] = float(aps[k].mean()) if len(ranks) else float("nan")
        out[f"hits@{k}"] = hits_at_k(rt, k)
    out["queries"] = int(len(ranks))
    out["missed"] = int((~ok).sum())
    return out


def blocked_scan(scorer: Scorer, gold: Sequence[Sequence[int]], *, ks: Iterable[int] = (), ties: str = "pessimistic",
                 topk: int = 0, hub_k: int = 0, budget: int = BUDGET) -> Scan:
    """One pass over ``scorer``'s blocks (each block scored once) giving the gold ranks and AP@K
    (as :func:`blocked_ranks`), the ``topk`` best candidates per query (``0``: none; as
    :func:`blocked_topk`), the k-occurrence N_{hub_k} (``0``: none) and the finite candidates."""
    from graphemb.evaluation.ranking import _check_ties
    from graphemb.index import select_topk

    _check_ties(ties)
    ks = tuple(ks)
    q, c = scorer.shape
    indptr, gc = _gold_csr(gold, q, c)
    ranks = np.full(q, np.inf)
    aps = {k: np.zeros(q) for k in ks}
    idx, val = [], []
    nk = np.zeros(c, dtype=np.int64) if hub_k else None
    finite = np.zeros(c, dtype=bool)
    kk = min(int(topk), c)
    for rows, s in iter_blocks(scorer, budget // 2):
        r, a = _block_ranks(s, indptr, gc, rows, ks, ties, budget // 2)
        ranks[rows] = r
        for k in ks:
            aps[k][rows] = a[k]
        if kk > 0:
            i, v = select_topk(s, kk)
            idx.append(i)
            val.append(v)
        if nk is not None:
            from graphemb.matching.hubness import k_occurrence

            nk += k_occurrence(torch.from_numpy(np.ascontiguousarray(s)), hub_k).numpy()
        finite |= np.isfinite(s).any(0)
    top = None
    if topk:
        top = ((np.concatenate(idx), np.concatenate(val)) if idx else
               (np.zeros((q, max(kk, 0)), np.int64), np.zeros((q, max(kk, 0)), np.float64)))
    return Scan(ranks, aps, np.diff(indptr) > 0, top, nk, finite)


def blocked_ranks(scorer: Scorer, gold: Sequence[Sequence[int]], *, ties: str = "pessimistic",
                  budget: int = BUDGET) -> np.ndarray:
    """``[Q]`` 1-based rank of each query's best gold candidate (``inf`` without gold), blockwise;
    equal to :func:`graphemb.evaluation.ranking.rank_of_first_relevant` on the dense matrix."""
    return _blocked(scorer, gold, (), ties, budget)[0]


def _blocked(scorer: Scorer, gold, ks, ties, budget):
    from graphemb.evaluation.ranking import _check_ties

    _check_ties(ties)
    q, c = scorer.shape
    indptr, gc = _gold_csr(gold, q, c)
    ranks = np.full(q, np.inf)
    aps = {k: np.zeros(q) for k in ks}
    for rows, s in iter_blocks(scorer, budget // 2):
        r, a = _block_ranks(s, indptr, gc, rows, ks, ties, budget // 2)
        ranks[rows] = r
        for k in ks:
            aps[k][rows] = a[k]
    return ranks, aps, indptr


def blocked_ranking_metrics(scorer: Scorer, gold: Sequence[Sequence[int]], *,
                            query_mask: Optional[np.ndarray | Tensor] = None, ks: Iterable[int] = (1, 3, 5, 10, 20),
                            ties: str = "pessimistic", budget: int = BUDGET) -> Dict[str, float]:
    """:func:`graphemb.matching.metrics.ranking_metrics` of ``scorer`` against per-query gold
    candidate lists, computed block by block (same keys, same values: ``mrr``, ``mrr@K``,
    ``map@K``, ``hits@K``, ``queries``, ``missed``). ``query_mask`` ``False`` = a miss."""
    ks = tuple(ks)
    ranks, aps, indptr = _blocked(scorer, gold, ks, ties, budget)
    out = rank_metrics(ranks, aps, np.diff(indptr) > 0, query_mask)
    # the keys in the order of ``ks`` (rank_metrics sorts them)
    return {"mrr": out["mrr"], **{f"{m}@{k}": out[f"{m}@{k}"] for k in ks for m in ("mrr", "map", "hits")},
            "queries": out["queries"], "missed": out["missed"]}


def one_to_one_sparse(scorer: Scorer, k: int = 20, *, min_score: float = float("-inf"), budget: int = BUDGET
                      ) -> Tensor:
    """``[M, 2]`` (query, candidate) pairs of the maximum-weight one-to-one assignment restricted
    to each query's ``k`` best candidates (:func:`blocked_topk`, then :func:`one_to_one_topk`).

    With ``k >= C`` this is the dense ``linear_sum_assignment`` optimum.
    """
    idx, val = blocked_topk(scorer, k, budget=budget)
    return one_to_one_topk(idx, val, scorer.shape[1], min_score=min_score)


def one_to_one_topk(idx: np.ndarray, val: np.ndarray, num_candidates: int, *,
                    min_score: float = float("-inf")) -> Tensor:
    """Maximum-weight one-to-one assignment on the sparse graph of top-k lists ``idx``/``val``
    ``[Q, k]`` (``min_weight_full_bipartite_matching``, maximising; ``-1`` / ``-inf`` = no edge).

    When that graph has no matching covering its smaller side, a warning says so and the
    assignment is solved with one private "unassigned" slot per query, priced so that it first
    matches as many queries as the graph allows, then maximises their total score; the unmatched
    queries are left out. Pairs scoring ``-inf`` or below ``min_score`` are dropped.
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import min_weight_full_bipartite_matching

    q, c = len(idx), num_candidates
    k = idx.shape[1] if idx.ndim == 2 else 0
    val = np.asarray(val, dtype=np.float64)
    keep = np.isfinite(val) & (idx >= 0)
    if not keep.any():
        return torch.zeros(0, 2, dtype=torch.long)
    rows = np.repeat(np.arange(q), k)[keep.ravel()]
    cols, v = idx[keep], val[keep]
    spread = float(v.max() - v.min())
    w = v - v.min() + 1.0  # a full matching has a fixed number of edges: shifting keeps the optimum
    try:
        r, col = min_weight_full_bipartite_matching(sp.csr_matrix((w, (rows, cols)), shape=(q, c)), maximize=True)
    except ValueError:
        big = (spread + 1.0) * q + 1.0  # one more real pair always beats any re-arrangement of scores
        dr = np.r_[rows, np.arange(q)]
        dc = np.r_[cols, c + np.arange(q)]
        dw = np.r_[w + big, np.ones(q)]
        r, col = min_weight_full_bipartite_matching(sp.csr_matrix((dw, (dr, dc)), shape=(q, c + q)), maximize=True)
        real = col < c
        warnings.warn(f"one-to-one assignment: the top-{k} graph has no matching covering min(Q={q}, C={c}); "
                      f"{min(q, c) - int(real.sum())} queries stay unassigned (raise k to consider more candidates)",
                      RuntimeWarning, stacklevel=2)
        r, col = r[real], col[real]
    code = rows * c + cols  # the chosen pairs' scores, looked up in the top-k lists
    order = np.argsort(code)
    chosen = v[order][np.searchsorted(code[order], r * c + col)]
    ok = chosen >= min_score
    return torch.from_numpy(np.stack([r[ok], col[ok]], 1)).long()


def object_scorer(graph: MatchingGraph, emb: Tensor, query_side: Literal["a", "b"] = "b",
                  queries: Optional[np.ndarray] = None) -> Tuple[EmbeddingScorer, np.ndarray]:
    """Cosine scorer of the query objects (side ``query_side``; all, or the object indices
    ``queries``) against the other side's objects, and ``present [Q]`` (``False``: the query's
    object was pruned, a miss). Pruned candidates score ``-inf``."""
    if query_side not in ("a", "b"):
        raise ValueError(f"query_side must be 'a' or 'b', got {query_side!r}")
    qn, cn = (graph.b_nodes, graph.a_nodes) if query_side == "b" else (graph.a_nodes, graph.b_nodes)
    qn, cn = qn.numpy(), cn.numpy()
    if queries is not None:
        qn = qn[np.asarray(queries, dtype=np.int64)]
    e = emb.detach().float().numpy()
    scorer = EmbeddingScorer(e[qn.clip(min=0)], e[cn.clip(min=0)], candidate_mask=cn >= 0, query_mask=qn >= 0)
    return scorer, qn >= 0


def cosine_scores(q: Tensor, c: Tensor, chunk: int = 4096) -> Tensor:
    """``[Q, C]`` cosine similarities (float32), ``chunk`` query rows at a time (dense: small inputs)."""
    scorer = EmbeddingScorer(q.detach().float().numpy(), c.detach().float().numpy())
    blocks = [s for _, s in iter_blocks(scorer, budget=chunk * max(len(c), 1))]
    return torch.from_numpy(np.concatenate(blocks) if blocks else np.zeros((0, len(c)), np.float32))


def object_scores(graph: MatchingGraph, emb: Tensor, query_side: Literal["a", "b"] = "b",
                  chunk: int = 4096) -> Tuple[Tensor, Tensor]:
    """Dense ``(scores [Q, C], present [Q])`` of every query object (side ``query_side``) against
    the other side (see :func:`object_scorer`; pruned queries' rows are ``-inf``)."""
    scorer, present = object_scorer(graph, emb, query_side)
    s = torch.from_numpy(np.concatenate([b for _, b in iter_blocks(scorer, chunk * max(scorer.shape[1], 1))]))
    return s, torch.from_numpy(present)


def top_k(scores: Tensor, k: int) -> Tuple[Tensor, Tensor]:
    """``(values, indices)`` of the ``k`` best candidates per query of a dense matrix."""
    return scores.topk(min(k, scores.size(1)), dim=1)


def mutual_nearest(scores: Tensor) -> Tensor:
    """``[M, 2]`` (query, candidate) pairs that are each other's best match (finite scores only)."""
    best_c = scores.argmax(1)
    best_q = scores.argmax(0)
    q = torch.arange(scores.size(0))
    keep = (best_q[best_c] == q) & torch.isfinite(scores[q, best_c])
    return torch.stack([q[keep], best_c[keep]], 1)


def one_to_one(scores: Tensor, min_score: float = float("-inf"), k: Optional[int] = None) -> Tensor:
    """``[M, 2]`` pairs of the maximum-weight one-to-one assignment of a dense ``[Q, C]`` matrix
    (:func:`one_to_one_sparse` over the ``k`` best candidates per query; ``None`` = all, the
    ``linear_sum_assignment`` optimum), dropping pairs scoring below ``min_score`` or ``-inf``."""
    return one_to_one_sparse(DenseScorer(scores), k=scores.size(1) if k is None else k, min_score=min_score)
