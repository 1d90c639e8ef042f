"""Uniform random walks (vectorised) + Word2Vec skip-gram node embeddings (TDmatch §IV, EmbDI).

All walks advance one step at once: with the CSR arrays ``indptr``/``indices`` of the graph,
``next = indices[indptr[cur] + floor(u * deg(cur))]`` for a vector of uniforms ``u``; the only
Python loop is over the ``walk_length`` steps.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass, replace
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from graphemb.matching.graph import NODE_TYPES, TOKEN, MatchingGraph

__all__ = ["WalkConfig", "WALK_PRESETS", "walk_preset", "csr", "random_walks", "walk_embeddings"]


@dataclass
class WalkConfig:
    """Random-walk + Word2Vec settings (defaults = TDmatch's ``model_train.py``, the ``paper`` preset).

    Attributes:
        walks_per_node: walks started from every start node (100).
        walk_length: steps per walk (20; a walk holds ``walk_length + 1`` nodes).
        start: ``"non-token"`` (objects and columns, as TDmatch) or ``"all"``.
        dim: embedding size (100).  window: skip-gram window (3).  epochs: Word2Vec epochs (10).
        negative: negative samples (5).  min_count: 1 (every visited node gets a vector).
        seed: seeds the walks and Word2Vec.
        workers: Word2Vec threads (1: deterministic for a seed; more: faster, not bit-reproducible).
        sample: Word2Vec down-sampling of frequent nodes (gensim's default 1e-3).
        target_tokens: size of the walk corpus (nodes per epoch) to aim for: the walks per start
            node become ``target_tokens // (starts * (walk_length + 1))``, at least 1 and at most
            ``walks_per_node``; ``None`` = always ``walks_per_node``. Word2Vec's time grows with
            the corpus, and its quality drops on a corpus that is too small (a few walks per node
            on a small ER graph: ``experiments/matching/SCALE.md``), so a fixed corpus size serves
            small and large graphs alike.
    """

    walks_per_node: int = 100
    walk_length: int = 20
    start: str = "non-token"
    dim: int = 100
    window: int = 3
    epochs: int = 10
    negative: int = 5
    min_count: int = 1
    seed: int = 0
    workers: int = 1
    sample: float = 1e-3
    target_tokens: Optional[int] = None

    def walks_for(self, num_starts: int) -> int:
        """Walks per start node for a graph with ``num_starts`` start nodes (see ``target_tokens``)."""
        if self.target_tokens is None or num_starts == 0:
            return self.walks_per_node
        return max(1, min(self.walks_per_node, self.target_tokens // (num_starts * (self.walk_length + 1))))


WALK_PRESETS: Dict[str, WalkConfig] = {
    "paper": WalkConfig(),
    "fast": WalkConfig(walks_per_node=20, epochs=5),
    "quick": WalkConfig(walks_per_node=100, epochs=5, target_tokens=2_000_000),
    # match run's default: half quick's walk corpus and 2 negatives instead of 5 (Word2Vec ~4x
    # cheaper); `best` fuses the walks with MiniLM and BM25, and loses little MRR for it
    # (experiments/matching/SCALE.md, "best" sweep; RESULTS.md is measured with it)
    "lean": WalkConfig(walks_per_node=100, epochs=5, negative=2, target_tokens=1_000_000),
    "tiny": WalkConfig(walks_per_node=10, walk_length=10, dim=16, epochs=5),
}


def walk_preset(name: str = "paper", **overrides) -> WalkConfig:
    """A preset (``paper``, ``fast``, ``quick``, ``lean``, ``tiny``) with field overrides."""
    if name not in WALK_PRESETS:
        raise KeyError(f"unknown walk preset {name!r}; known: {', '.join(WALK_PRESETS)}")
    return replace(WALK_PRESETS[name], **overrides)


def csr(edge_index: Tensor, num_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(indptr [N+1], indices [E])`` of a directed edge list (both directions for undirected)."""
    ei = edge_index.numpy()
    order = np.lexsort((ei[1], ei[0]))
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(ei[0], minlength=num_nodes), out=indptr[1:])
    return indptr, ei[1][order].astype(np.int64)


def random_walks(indptr: np.ndarray, indices: np.ndarray, starts: np.ndarray, walk_length: int,
                 walks_per_node: int = 1, seed: int = 0) -> np.ndarray:
    """Uniform random walks, ``[walks_per_node * len(starts), walk_length + 1]`` node ids.

    Rows are ordered round by round (all starts, then all starts again...). A walk at a node
    without neighbours stays there.
    """
    rng = np.random.default_rng(seed)
    cur = np.tile(np.asarray(starts, dtype=np.int64), walks_per_node)
    walks = np.empty((cur.size, walk_length + 1), dtype=np.int64)
    walks[:, 0] = cur
    from graphemb.utils.progress import progress

    for step in progress(range(1, walk_length + 1), desc="walks", unit="step", leave=False):
        lo = indptr[cur]
        deg = indptr[cur + 1] - lo
        off = np.minimum((rng.random(cur.size) * deg).astype(np.int64), np.maximum(deg - 1, 0))
        cur = np.where(deg > 0, indices[np.minimum(lo + off, max(len(indices) - 1, 0))], cur)
        walks[:, step] = cur
    return walks


class _EpochBar:
    """A progress bar over Word2Vec epochs (a gensim callback; off when not on a terminal)."""

    def __init__(self, epochs: int) -> None:
        from graphemb.utils.progress import progress

        self.bar = progress(range(epochs), desc="word2vec", unit="epoch", leave=False)
        self.epochs = 0

    def __enter__(self) -> "_EpochBar":
        return self

    def __exit__(self, *exc) -> None:
        self.bar.close()

    # gensim's CallbackAny2Vec protocol (duck-typed; gensim is imported lazily)
    def on_train_begin(self, model) -> None: ...
    def on_train_end(self, model) -> None: ...
    def on_epoch_begin(self, model) -> None: ...

    def on_epoch_end(self, model) -> None:
        self.epochs += 1
        self.bar.update(1)


def write_walks(walks: np.ndarray, path: str) -> None:
    """One walk per line, node ids separated by spaces (gensim's ``corpus_file`` format).

    Formats through a table of the distinct ids' strings (``np.savetxt`` formats every number
    in Python: ~10x slower on millions of walk steps).
    """
    ids, inv = np.unique(walks, return_inverse=True)
    words = np.array([str(i) for i in ids.tolist()], dtype=object)[inv.reshape(walks.shape)]
    with open(path, "w") as f:
        f.write("\n".join(map(" ".join, words.tolist())))
        f.write("\n")


def walk_embeddings(graph: MatchingGraph, cfg: Optional[WalkConfig] = None,
                    timings: Optional[Dict[str, float]] = None) -> Tensor:
    """Skip-gram embeddings of the graph's nodes from random walks, ``[N, cfg.dim]`` float32.

    Nodes that no walk visits (isolated ones) get zero vectors. ``timings`` (a dict) receives the
    seconds of ``walks`` (generation + writing) and ``word2vec``.
    """
    import time

    from gensim.models import Word2Vec

    cfg = cfg or WalkConfig()
    if cfg.start not in ("non-token", "all"):
        raise ValueError(f"start must be 'non-token' or 'all', got {cfg.start!r}")
    indptr, indices = csr(graph.data.edge_index, graph.num_nodes)
    deg = np.diff(indptr)
    ok = deg > 0
    if cfg.start == "non-token":
        ok &= graph.node_type.numpy() != TOKEN
    starts = np.flatnonzero(ok)
    out = torch.zeros(graph.num_nodes, cfg.dim)
    if starts.size == 0:
        return out
    t0 = time.perf_counter()
    walks = random_walks(indptr, indices, starts, cfg.walk_length, cfg.walks_for(len(starts)), cfg.seed)
    fd, path = tempfile.mkstemp(suffix=".walks.txt")
    os.close(fd)
    try:
        write_walks(walks, path)
        t1 = time.perf_counter()
        with _EpochBar(cfg.epochs) as bar:
            model = Word2Vec(corpus_file=path, vector_size=cfg.dim, window=cfg.window, sg=1, negative=cfg.negative,
                             min_count=cfg.min_count, epochs=cfg.epochs, seed=cfg.seed, workers=cfg.workers,
                             sample=cfg.sample, callbacks=[bar])
    finally:
        os.unlink(path)
    if timings is not None:
        timings["walks"] = t1 - t0
        timings["word2vec"] = time.perf_counter() - t1
    keys = np.array([int(k) for k in model.wv.index_to_key], dtype=np.int64)
    out[torch.from_numpy(keys)] = torch.from_numpy(np.asarray(model.wv.vectors, dtype=np.float32))
    return out
