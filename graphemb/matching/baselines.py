"""Unsupervised text-ranking baselines on the same data: TF-IDF, BM25 (scipy.sparse) and MiniLM."""
from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from graphemb.matching.match import cosine_scores
from graphemb.matching.text import Normalizer, vocab_ids

__all__ = ["term_matrix", "tfidf_scores", "tfidf_matrices", "bm25_scores", "bm25_matrices", "encoder_scores"]


def term_matrix(docs: Sequence[str], vocab: Optional[dict] = None, normalizer: Optional[Normalizer] = None,
                ) -> tuple[sp.csr_matrix, dict]:
    """``[n, V]`` term counts of ``docs`` (normalised unigram tokens) and the vocabulary.

    With a given ``vocab`` unknown terms are dropped; otherwise the vocabulary is built here.
    """
    norm = normalizer or Normalizer()
    grow = vocab is None
    vocab = {} if vocab is None else vocab
    rows, cols = [], []
    for i, d in enumerate(docs):
        ids = vocab_ids(norm.tokens(d), vocab, grow)
        rows.extend([i] * len(ids))
        cols.extend(ids)
    m = sp.csr_matrix((np.ones(len(rows), dtype=np.float64), (rows, cols)), shape=(len(docs), len(vocab)))
    m.sum_duplicates()
    return m, vocab


def tfidf_scores(queries: Sequence[str], candidates: Sequence[str], normalizer: Optional[Normalizer] = None, *,
                 fit_on: str = "candidates", **vectorizer_options: Any) -> Tensor:
    """Cosine of TF-IDF vectors, ``[Q, C]``: scikit-learn's ``TfidfVectorizer`` (defaults: lowercase,
    tokens of >= 2 word characters (so 1-digit numbers drop, longer ones stay), no stop words,
    raw tf, smooth idf ``ln((1+n)/(1+df)) + 1``, l2-normalised rows).

    Args:
        normalizer: tokenise with this :class:`Normalizer` (unigrams) instead of sklearn's pattern.
        fit_on: documents the idf is fitted on: ``"candidates"`` (default), ``"queries"`` or ``"both"``.
        vectorizer_options: passed to ``TfidfVectorizer`` (e.g. ``sublinear_tf=True``).
    """
    qm, cm = tfidf_matrices(queries, candidates, normalizer, fit_on=fit_on, **vectorizer_options)
    return torch.from_numpy((qm @ cm.T).toarray())


def tfidf_matrices(queries: Sequence[str], candidates: Sequence[str], normalizer: Optional[Normalizer] = None, *,
                   fit_on: str = "candidates", **vectorizer_options: Any) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(queries [Q, V], candidates [C, V])`` l2-normalised TF-IDF rows whose products are
    :func:`tfidf_scores` (same arguments), for scoring block by block."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    fit_docs = {"candidates": list(candidates), "queries": list(queries), "both": list(candidates) + list(queries)}
    if fit_on not in fit_docs:
        raise ValueError(f"fit_on must be 'candidates', 'queries' or 'both', got {fit_on!r}")
    if normalizer is not None:
        vectorizer_options = {"analyzer": normalizer.tokens, **vectorizer_options}
    vec = TfidfVectorizer(dtype=np.float64, **vectorizer_options).fit(fit_docs[fit_on])
    return sp.csr_matrix(vec.transform(queries)), sp.csr_matrix(vec.transform(candidates))


def bm25_scores(queries: Sequence[str], candidates: Sequence[str], k1: float = 1.5, b: float = 0.75,
                normalizer: Optional[Normalizer] = None, idf: str = "lucene", epsilon: float = 0.25,
                query_counts: bool = False) -> Tensor:
    """Okapi BM25 of each candidate for each query, ``[Q, C]``.

    Args:
        idf: ``"lucene"`` (default, ``ln(1 + (N-df+.5)/(df+.5))``, never negative) or ``"okapi"``
            (``ln((N-df+.5)/(df+.5))``, negatives replaced by ``epsilon`` x mean idf, as rank_bm25).
        query_counts: a query term repeated r times counts r times (rank_bm25) instead of once.
    With ``idf="okapi", query_counts=True`` and whitespace tokens this reproduces the shared
    README's CoronaCheck reference (MRR 0.531 vs 0.529).
    """
    qm, cw = bm25_matrices(queries, candidates, k1, b, normalizer, idf, epsilon, query_counts)
    return torch.from_numpy((qm @ cw.T).toarray())


def bm25_matrices(queries: Sequence[str], candidates: Sequence[str], k1: float = 1.5, b: float = 0.75,
                  normalizer: Optional[Normalizer] = None, idf: str = "lucene", epsilon: float = 0.25,
                  query_counts: bool = False) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``(queries [Q, V], weights [C, V])``: the query term indicators (or counts) and the
    candidates' BM25 term weights, whose products are :func:`bm25_scores` (same arguments)."""
    if idf not in ("lucene", "okapi"):
        raise ValueError(f"idf must be 'lucene' or 'okapi', got {idf!r}")
    c, vocab = term_matrix(candidates, normalizer=normalizer)
    q, _ = term_matrix(queries, vocab, normalizer)
    n = c.shape[0]
    df = np.bincount(c.indices, minlength=len(vocab))
    if idf == "lucene":
        w_idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
    else:
        w_idf = np.log((n - df + 0.5) / (df + 0.5))
        w_idf = np.where(w_idf < 0, epsilon * w_idf.mean(), w_idf) if len(w_idf) else w_idf
    dl = np.asarray(c.sum(1)).ravel()
    avgdl = dl.mean() if n else 0.0
    c = c.tocoo()
    f = c.data
    w = w_idf[c.col] * f * (k1 + 1) / (f + k1 * (1 - b + b * dl[c.row] / max(avgdl, 1e-12)))
    cw = sp.csr_matrix((w, (c.row, c.col)), shape=c.shape)
    qb = q if query_counts else (q > 0).astype(np.float64)
    return sp.csr_matrix(qb), cw


def encoder_scores(queries: Sequence[str], candidates: Sequence[str], encoder: Any, batch_size: int = 64) -> Tensor:
    """Cosine of sentence embeddings (e.g. MiniLM via ``load_text_encoder("minilm")``), ``[Q, C]``."""
    qe = torch.as_tensor(np.asarray(encoder.encode(list(queries), batch_size=batch_size)), dtype=torch.float32)
    ce = torch.as_tensor(np.asarray(encoder.encode(list(candidates), batch_size=batch_size)), dtype=torch.float32)
    return cosine_scores(qe, ce)
