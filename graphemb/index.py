"""Nearest-neighbour search over a run's embeddings, by cosine similarity.

``build_index(RUN_DIR, INDEX)`` writes a folder::

    INDEX/vectors.npy   L2-normalised float32 [n, d] (row i is ids[i])
    INDEX/ids.json      the node (or graph) ids, as the run stores them
    INDEX/meta.json     run, level, n, dim, backend, and for an approximate backend its recall@10
    INDEX/faiss.index   only with backend faiss (HNSW over inner products)

Backends: ``numpy`` (exact: one matrix product and a partial sort per query batch), ``faiss``
(``faiss-cpu`` HNSW, approximate) or ``usearch`` (HNSW); ``auto`` uses faiss, then usearch, when
installed, else numpy. The exact search always stays available (``backend="numpy"`` at query
time), and building an approximate index measures its recall@10 against it on up to 200 queries.

Scores are cosine similarities; ties are broken by row order (stable sort), and a query by id
never returns the query itself.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, Path]
BACKENDS = ("auto", "numpy", "faiss", "usearch")


def _available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def resolve_backend(backend: str = "auto") -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown index backend {backend!r}; choose one of {list(BACKENDS)}")
    if backend == "auto":
        return "faiss" if _available("faiss") else "usearch" if _available("usearch") else "numpy"
    mod = {"faiss": "faiss", "usearch": "usearch"}.get(backend)
    if mod and not _available(mod):
        raise ImportError(f"index backend {backend!r} is not installed: pip install "
                          f"{'faiss-cpu' if backend == 'faiss' else 'usearch'} (or use --backend numpy)")
    return backend


def normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.where(n > 0, n, 1.0)


def select_topk(sims: np.ndarray, k: int):
    """Best ``k`` columns of each row of ``sims`` ``[b, n]``: ``(cols [b, k], scores [b, k])``,
    best first; equal scores keep the lower column first, also at the k-th place (NaN = -inf)."""
    n = sims.shape[1]
    k = min(k, n)
    if np.issubdtype(sims.dtype, np.floating) and np.isnan(sims).any():
        sims = np.where(np.isnan(sims), -np.inf, sims)
    if k < n:
        part = np.argpartition(-sims, kth=k, axis=1)  # [:, :k] the k best (any order), [:, k] the next best
        cand = np.sort(part[:, :k], axis=1)
        kth = np.take_along_axis(sims, cand, 1).min(1)
        nxt = np.take_along_axis(sims, part[:, k:k + 1], 1)[:, 0]
        bad = np.flatnonzero(nxt >= kth)  # a column left out ties with the k-th score: choose the lowest ones
        if len(bad):
            sb, kb = sims[bad], kth[bad, None]
            tied = sb == kb
            keep = (sb > kb) | (tied & (np.cumsum(tied, axis=1) <= k - (sb > kb).sum(1, keepdims=True)))
            cand[bad] = np.nonzero(keep)[1].reshape(len(bad), k)  # ascending column order per row
    else:
        cand = np.tile(np.arange(n), (len(sims), 1))
    order = np.argsort(-np.take_along_axis(sims, cand, 1), axis=1, kind="stable")
    cols = np.take_along_axis(cand, order, 1)
    return cols, np.take_along_axis(sims, cols, 1)


def exact_search(vectors: np.ndarray, queries: np.ndarray, k: int, exclude: Optional[np.ndarray] = None,
                 block: int = 256):
    """Top-``k`` rows by inner product: ``(rows [q, k], scores [q, k])``, best first.

    ``exclude[i]`` (a row index or -1) is left out of query ``i``'s results; ``block`` queries are
    scored at a time (bounded memory: ``block x n`` similarities).
    """
    k = min(k, vectors.shape[0] - (0 if exclude is None else 1))
    if k < 1:
        return np.zeros((len(queries), 0), dtype=np.int64), np.zeros((len(queries), 0), dtype=np.float32)
    rows_out, scores_out = [], []
    for s in range(0, len(queries), block):
        sims = queries[s:s + block] @ vectors.T
        if exclude is not None:
            ex = exclude[s:s + block]
            has = ex >= 0
            sims[np.flatnonzero(has), ex[has]] = -np.inf
        rows, scores = select_topk(sims, k)
        rows_out.append(rows)
        scores_out.append(scores)
    return np.concatenate(rows_out), np.concatenate(scores_out)


def recall_at_k(approx_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    """Mean fraction of the exact top-k found by the approximate top-k."""
    hits = [len(set(a.tolist()) & set(e.tolist())) / max(len(e), 1) for a, e in zip(approx_rows, exact_rows)]
    return float(np.mean(hits)) if hits else 1.0


def _run_ids(run_dir: Path, n: int) -> List[Any]:
    from graphemb.training import rundir

    est = run_dir / "estimator.json"
    if est.is_file():
        ids = json.loads(est.read_text()).get("ids")
        if ids is not None:
            return ids
    _, ids, _ = rundir.load_embeddings(run_dir)
    return ids.tolist()


def _ann_build(backend: str, vectors: np.ndarray, seed: int = 0):
    if backend == "faiss":
        import faiss

        index = faiss.IndexHNSWFlat(vectors.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = 64
        index.add(vectors)
        return index
    from usearch.index import Index

    index = Index(ndim=vectors.shape[1], metric="cos")
    index.add(np.arange(len(vectors)), vectors)
    return index


def _ann_search(backend: str, index, queries: np.ndarray, k: int) -> np.ndarray:
    if backend == "faiss":
        _, rows = index.search(queries, k)
        return rows
    res = index.search(queries, k)
    keys = np.asarray(res.keys)
    return keys.reshape(len(queries), -1)


@dataclass
class Index:
    """A loaded index (see module docstring)."""

    path: Path
    vectors: np.ndarray
    ids: List[Any]
    meta: Dict[str, Any]

    def row_of(self, node_id: Any) -> int:
        key = str(node_id)
        for i, v in enumerate(self.ids):  # one pass over the ids, only for a query by id
            if str(v) == key:
                return i
        raise KeyError(f"id {node_id!r} is not in the index {self.path} ({len(self.ids)} ids, e.g. {self.ids[:3]})")

    def search(self, *, node_id: Any = None, vector: Optional[np.ndarray] = None, k: int = 10,
               backend: Optional[str] = None) -> List[Dict[str, Any]]:
        """The ``k`` nearest ids to ``node_id`` (itself excluded) or to ``vector``: ``[{"id", "score"}]``."""
        if (node_id is None) == (vector is None):
            raise ValueError("search needs exactly one of an id or a vector")
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if node_id is not None:
            row = self.row_of(node_id)
            q, exclude = self.vectors[row:row + 1], np.array([row])
        else:
            q = normalize(np.asarray(vector, dtype=np.float32).reshape(1, -1))
            if q.shape[1] != self.vectors.shape[1]:
                raise ValueError(f"query vector has {q.shape[1]} dimensions; the index holds {self.vectors.shape[1]}")
            exclude = None
        backend = backend or self.meta.get("backend", "numpy")
        if backend == "numpy":
            rows, scores = exact_search(self.vectors, q, k, exclude)
            rows, scores = rows[0], scores[0]
        else:
            ann = _load_ann(self, backend)
            cand = _ann_search(backend, ann, q, k + 1)[0]
            cand = [int(r) for r in cand if r >= 0 and (exclude is None or r != exclude[0])][:k]
            rows = np.asarray(cand, dtype=np.int64)
            scores = self.vectors[rows] @ q[0]
        return [{"id": self.ids[int(r)], "score": float(s)} for r, s in zip(rows, scores)]


def _load_ann(index: Index, backend: str):
    if backend == "faiss":
        import faiss

        return faiss.read_index(str(index.path / "faiss.index"))
    return _ann_build(backend, index.vectors)  # usearch: rebuilt from the stored vectors


def build_index(run_dir: PathLike, out: PathLike, backend: str = "auto") -> Dict[str, Any]:
    """Index a run's exported embeddings; returns the meta record (see module docstring)."""
    from graphemb.training import rundir
    from graphemb.utils.io import atomic_write

    run_dir, out = Path(run_dir), Path(out)
    emb, _, level = rundir.load_embeddings(run_dir)
    vectors = normalize(emb.numpy())
    ids = _run_ids(run_dir, len(vectors))
    backend = resolve_backend(backend)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_write(out / "vectors.npy") as f:
        np.save(f, vectors)
    with atomic_write(out / "ids.json", "w") as f:
        json.dump(ids, f)
    meta: Dict[str, Any] = {"run_dir": str(run_dir), "level": level, "n": int(len(vectors)),
                            "dim": int(vectors.shape[1]), "backend": backend, "metric": "cosine"}
    if backend != "numpy":
        ann = _ann_build(backend, vectors)
        if backend == "faiss":
            import faiss

            faiss.write_index(ann, str(out / "faiss.index"))
        rng = np.random.default_rng(0)
        sample = rng.choice(len(vectors), size=min(200, len(vectors)), replace=False)
        k = min(10, len(vectors))
        exact, _ = exact_search(vectors, vectors[sample], k)
        meta["recall@10"] = recall_at_k(_ann_search(backend, ann, vectors[sample], k), exact)
    with atomic_write(out / "meta.json", "w") as f:
        json.dump(meta, f, indent=2)
    return meta


def load_index(path: PathLike) -> Index:
    path = Path(path)
    if not (path / "meta.json").is_file():
        raise FileNotFoundError(f"{path} is not an index (no meta.json); build one with `graphemb index RUN_DIR --out {path}`")
    return Index(path, np.load(path / "vectors.npy", allow_pickle=False),
                 json.loads((path / "ids.json").read_text()), json.loads((path / "meta.json").read_text()))


def read_vector(path: PathLike) -> np.ndarray:
    """A query vector from ``.npy``, ``.json`` (a list) or text (numbers separated by spaces/commas)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"query vector file {path} not found")
    if path.suffix == ".npy":
        return np.load(path, allow_pickle=False).reshape(-1)
    text = path.read_text()
    if path.suffix == ".json":
        return np.asarray(json.loads(text), dtype=np.float32).reshape(-1)
    return np.asarray([float(t) for t in text.replace(",", " ").split()], dtype=np.float32)
