"""TF-IDF text features without any pretrained model: ``TfidfVectorizer`` + ``TruncatedSVD``.

``load_text_encoder("tfidf")`` (256-d) or ``"tfidf:128"`` gives an *unfitted* encoder: its
``encode(texts)`` fits on exactly those texts and returns their ``[n, dim]`` float32 vectors
(the same texts always give the same vectors). ``encoder.fit(corpus)`` returns a *fitted* encoder
that only transforms, named ``tfidf-<dim>-<corpus hash>`` so the per-node feature cache never
mixes vectors of two different fits; the MAG pipeline fits on the graph's node texts first.
The fit itself runs on the first ``encode`` call (the name only needs the corpus hash), so a
graph whose vectors are already in the feature cache costs no TF-IDF/SVD fit at all.

Vectorizer: word uni- and bi-grams, sublinear tf, ``min_df=1``, at most 50 000 terms; SVD with a
fixed seed (LSA). When the vocabulary is narrower than ``dim`` the output is zero-padded, so the
width is always ``dim``. Rows are L2-normalised (cosine geometry, as LSA is used).
"""
from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import numpy as np

__all__ = ["TfidfEncoder", "load_tfidf_encoder"]


class TfidfEncoder:
    """TF-IDF + truncated SVD to ``dim`` (see module docstring). ``modality = "text"``."""

    modality = "text"

    def __init__(self, dim: int = 256, seed: int = 0, *, _corpus_texts: list | None = None,
                 _corpus: str = "") -> None:
        if dim < 1:
            raise ValueError(f"tfidf width must be >= 1, got {dim}")
        self.dim = int(dim)
        self.seed = int(seed)
        self._corpus_texts = _corpus_texts  # the pinned corpus of a fitted encoder; set only by fit()
        self._fitted = None  # (vectorizer, svd or None), computed from _corpus_texts on first use
        self.name = f"tfidf-{self.dim}" + (f"-{_corpus}" if _corpus else "")
        self.pooling, self.max_length = "tfidf", 0  # read by the feature cache's folder name

    def __repr__(self) -> str:
        return f"TfidfEncoder(dim={self.dim}, fitted={self.fitted}, name={self.name!r})"

    def _fit(self, texts: Sequence[str]):
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, max_features=50_000)
        try:
            m = vec.fit_transform(texts)
        except ValueError:  # every text empty or stop words only: no vocabulary
            return None, None
        k = min(self.dim, m.shape[1] - 1, m.shape[0] - 1)
        svd = TruncatedSVD(n_components=k, random_state=self.seed).fit(m) if k >= 1 else None
        return vec, svd

    def _transform(self, fitted, texts: Sequence[str]) -> np.ndarray:
        vec, svd = fitted
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if vec is None:
            return out
        m = vec.transform(texts)
        z = svd.transform(m) if svd is not None else m.toarray()
        z = z[:, : self.dim]
        out[:, : z.shape[1]] = z
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)

    def fit(self, corpus: Sequence[str]) -> "TfidfEncoder":
        """A fitted copy (this encoder is unchanged) whose ``encode`` only transforms."""
        texts = _clean(corpus)
        digest = hashlib.sha256("\x00".join(texts).encode("utf-8")).hexdigest()[:10]
        return TfidfEncoder(self.dim, self.seed, _corpus_texts=texts, _corpus=digest)

    @property
    def fitted(self) -> bool:
        """Whether the corpus is pinned (by :meth:`fit`); the fit runs on the first encode."""
        return self._corpus_texts is not None

    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: Optional[bool] = None) -> np.ndarray:
        """``float32 [len(texts), dim]``; an unfitted encoder fits on ``texts`` themselves."""
        texts = _clean(texts)
        if self._corpus_texts is None:
            return self._transform(self._fit(texts), texts)
        if self._fitted is None:
            self._fitted = self._fit(self._corpus_texts)
        return self._transform(self._fitted, texts)


def _clean(texts: Sequence[str]) -> list:
    return [t if isinstance(t, str) else "" for t in texts]


def load_tfidf_encoder(spec: str = "tfidf", seed: int = 0) -> TfidfEncoder:
    """``"tfidf"`` (256-d) or ``"tfidf:DIM"``."""
    head, _, width = spec.partition(":")
    if head.strip().lower() != "tfidf":
        raise ValueError(f"not a tfidf encoder spec: {spec!r} (use 'tfidf' or 'tfidf:DIM')")
    try:
        dim = int(width) if width else 256
    except ValueError:
        raise ValueError(f"tfidf width must be an integer, got {width!r} (e.g. 'tfidf:128')") from None
    return TfidfEncoder(dim, seed)
