"""The ``--method`` registry of ``graphemb match run``: baselines, graph embeddings, fusions, ``best``.

Every method gives a ``[n, C]`` score matrix of *all* objects of the query side (``n``) against
all candidates (``C``), so the query bank of a hubness reduction is built from the query-side
objects without looking at which of them have gold. Methods:

==================  ===========================================================================
``bm25``            Okapi BM25 (:func:`~graphemb.matching.baselines.bm25_scores`), rows as cells.
``tfidf``           scikit-learn TF-IDF cosine (:func:`~graphemb.matching.baselines.tfidf_scores`).
``minilm``          all-MiniLM-L6-v2 cosine; candidates of a table serialised ``column: value``.
``walks``           TDmatch random walks + Word2Vec on the matching graph.
``isoc-vgae``       IsoC-VGAE on the graph, walk embeddings as node features.
``isoc-vgae-text``  IsoC-VGAE on the graph, MiniLM vectors as node features (objects: their text's
                    vector; tokens and columns: their name's).
``both``            walks and IsoC-VGAE (walk features) concatenated, L2-normalised halves.
``fused``           z-score fusion of walks, isoc-vgae, minilm and bm25.
``fused-rrf``       the same four by reciprocal-rank fusion.
``fused-agree``     ``fused`` weighted by each scorer's top-1 agreement with the others (no labels).
``best``            ``fused`` with DBNorm DualDIS on each scorer (the default of ``match run``).
==================  ===========================================================================

A hubness reduction (``MethodConfig.hubness``, :mod:`graphemb.matching.hubness`) applies to each
base scorer before fusion; ``best`` fixes its own (``dbnorm_ddis``) unless one is given. Banks: the
query-side objects (sampled to ``bank_size``) and, for DBNorm, the candidates scored against each
other. Scores that are not cosines (BM25) are divided by their largest value first, so the
inverse temperatures mean the same for every scorer.

MiniLM vectors are cached on disk per dataset (:func:`graphemb.multimodal.encoders.cache.encode_nodes`,
under ``$GRAPHEMB_CACHE``), so reruns and other seeds do not re-encode.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor

from graphemb.matching.datasets import MatchingDataset
from graphemb.matching.graph import COLUMN, TOKEN, MatchingGraph
from graphemb.matching.hubness import HUBNESS_METHODS, bank_rows, fit_hubness

__all__ = ["MethodConfig", "MethodSpec", "METHODS", "BASE_SCORERS", "MatchContext", "BaseScores",
           "method_scorer", "method_scores", "evaluate_method", "PROTOCOLS"]

#: how each dataset family is evaluated (named in every record and in RESULTS.md)
PROTOCOLS = {
    "claims": "TDmatch (Ahmadi, Sand & Papotti, ICDE 2022) claim->row ranking: every claim ranks all table rows; "
              "MRR / MAP@k / Hits@k, pessimistic ties, claims without a gold row or pruned from the graph count as misses",
    "er": "TDmatch ER ranking: every left record with a gold match ranks all right records; MRR / MAP@k / Hits@k, "
          "pessimistic ties, pruned queries count as misses; pair P/R/F1 of the one-to-one assignment",
}


@dataclass
class MethodConfig:
    """Settings shared by every method (graph, embeddings, hubness reduction, fusion).

    Attributes:
        walk_preset: TDmatch walk preset of ``walks`` (``lean``, ``match run``'s default: a ~1M-node walk
            corpus, 5 Word2Vec epochs, 2 negatives; :data:`~graphemb.matching.walks.WALK_PRESETS`).
        walk_overrides: fields of the preset's :class:`~graphemb.matching.walks.WalkConfig` to change
            (e.g. ``{"negative": 2}``); ``None``: the preset as it is.
        gnn_overrides: over :data:`graphemb.matching.embed.MATCHING_GNN` (nested dict).
        hubness: reduction on each base scorer (:data:`~graphemb.matching.hubness.HUBNESS_METHODS`);
            ``None`` = the method's own (``none``, ``dbnorm_ddis`` for ``best``).
        beta, beta_gallery: inverse temperatures of the query-/gallery-bank softmax (20).
        csls_k: CSLS neighbourhood (10).  bank_size: bank rows sampled (4096; ``None`` = all).
        hub_k: k of the k-occurrence reported as hubness (10).
        ngrams, min_degree, max_path: graph building and compression (TDmatch: 3, 2, 4).
        seed, device: of the walks and the GNN.
    """

    walk_preset: str = "lean"
    walk_overrides: Optional[Dict[str, Any]] = None
    gnn_overrides: Optional[Dict[str, Any]] = None
    hubness: Optional[str] = None
    beta: float = 20.0
    beta_gallery: float = 20.0
    csls_k: int = 10
    bank_size: Optional[int] = 4096
    hub_k: int = 10
    ngrams: int = 3
    min_degree: int = 2
    max_path: int = 4
    seed: int = 0
    device: str = "cpu"


@dataclass(frozen=True)
class MethodSpec:
    """A registered method: its base scorers, fusion and default hubness reduction."""

    name: str
    components: Tuple[str, ...]
    fusion: str = "zscore"
    hubness: str = "none"
    deterministic: bool = False
    description: str = ""
    weights: Optional[str] = None  # None: equal; "agreement": graphemb.matching.fusion.agreement_weights


@dataclass
class BaseScores:
    """One base scorer, blocked (:class:`graphemb.matching.match.Scorer`, float64 blocks):
    ``query`` ``[n, C]`` (all query-side objects x all candidates), ``present`` ``[n]`` bool
    (False: the query object was pruned from the graph), ``gallery`` ``[Bg, C]`` bank candidates
    against all candidates and ``gallery_self`` ``[Bg]`` (each bank row's own candidate)."""

    query: Any
    present: np.ndarray
    gallery: Optional[Any]
    gallery_self: Optional[np.ndarray]
    cosine: bool


class MatchContext:
    """Ingredients of one dataset, computed once and shared by methods and seeds (in memory;
    MiniLM vectors also on disk). ``stages`` holds the seconds each ingredient took to compute.

    ``graph``: a prebuilt matching graph, or a callable building it when a method first needs it
    (default: TDmatch build + compress with ``cfg``'s n-grams, min degree and max path).
    ``store``: a folder where the seeded embeddings (walks, GNN) are kept between runs
    (``<store>/<dataset>/<walk preset>/<key>.pt`` with the seconds they took; only for
    experiments that rerun methods on the same config: the key holds the walk preset and seed,
    not the GNN overrides). ``cached`` lists the ingredients read from it.
    """

    def __init__(self, dataset: MatchingDataset, cfg: Optional[MethodConfig] = None, *, text_encoder: Any = None,
                 graph: Union[None, MatchingGraph, Callable[[], MatchingGraph]] = None,
                 log: Callable[[str], None] = lambda m: None, store: Optional[str] = None) -> None:
        self.ds = dataset
        self.cfg = cfg or MethodConfig()
        self._encoder = text_encoder
        self._graph = graph
        self._cache: Dict[Any, Any] = {}
        self.stages: Dict[Any, float] = {}
        self.cpu_stages: Dict[Any, float] = {}  # CPU seconds of this process (all threads) per ingredient
        self.log = log
        self.store = store
        self.cached: List[str] = []
        qa, ca = (dataset.b, dataset.a) if dataset.query_side == "b" else (dataset.a, dataset.b)
        self.query_corpus, self.cand_corpus = qa, ca
        self.n_query, self.n_cand = len(qa), len(ca)
        self.gallery_bank = bank_rows(self.n_cand, self.cfg.bank_size, seed=1)
        self.query_bank = bank_rows(self.n_query, self.cfg.bank_size, seed=2)

    # -- timing and caching
    def _get(self, key: Any, stage: str, fn: Callable[[], Any]) -> Any:
        if key in self._cache:
            return self._cache[key]
        path = None
        if self.store is not None and isinstance(key, tuple):  # seeded embeddings: kept between runs
            from pathlib import Path

            path = Path(self.store) / self.ds.name / self.cfg.walk_preset / f"{key[0]}__seed{key[1]}.pt"
            if path.is_file():
                blob = torch.load(path, weights_only=True)
                self._cache[key], self.stages[key] = blob["value"], float(blob["seconds"])
                self.cpu_stages[key] = float(blob.get("cpu_seconds", float("nan")))
                self.cached.append(key[0])
                return self._cache[key]
        t, c = time.perf_counter(), time.process_time()
        self._cache[key] = fn()
        self.stages[key] = time.perf_counter() - t
        self.cpu_stages[key] = time.process_time() - c
        self.log(f"{self.ds.name}: {stage} in {self.stages[key]:.1f}s")
        if path is not None:
            from graphemb.utils.io import atomic_write

            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as f:
                torch.save({"value": self._cache[key], "seconds": self.stages[key],
                            "cpu_seconds": self.cpu_stages[key]}, f)
        return self._cache[key]

    def stage_seconds(self, keys: Sequence[Any], cpu: bool = False) -> Dict[str, float]:
        """Wall (or, ``cpu=True``, CPU) seconds of the ingredients ``keys`` computed so far."""
        src = self.cpu_stages if cpu else self.stages
        return {(k if isinstance(k, str) else k[0]): src[k] for k in keys if k in src}

    # -- text
    @property
    def encoder(self) -> Any:
        if self._encoder is None:
            from graphemb.multimodal.encoders.text import load_text_encoder

            self._encoder = self._get("load_minilm", "load MiniLM", lambda: load_text_encoder("minilm"))
        return self._encoder

    def encode(self, texts: Sequence[str]) -> Tensor:
        """MiniLM vectors of ``texts`` ``[n, 384]``, through the on-disk cache (keyed by text)."""
        from graphemb.multimodal.encoders.cache import encode_nodes

        uniq, inv = np.unique(np.asarray(list(texts), dtype=object).astype(str), return_inverse=True)
        x, _ = encode_nodes(f"matching-{self.ds.name}", "text", self.encoder, uniq, list(uniq), show_progress=False)
        return torch.from_numpy(x[inv])

    def query_texts(self) -> List[str]:
        return self.query_corpus.texts()

    def cand_texts(self, style: str = "values") -> List[str]:
        return self.cand_corpus.texts(style)  # type: ignore[arg-type]

    def minilm_vectors(self) -> Tuple[Tensor, Tensor]:
        """``(queries [n, d], candidates [C, d])``: queries as their values, candidates as
        ``column: value`` (the MiniLM baseline's serialisation)."""
        return self._get("minilm", "MiniLM encode", lambda: (self.encode(self.query_texts()),
                                                             self.encode(self.cand_texts("column: value"))))

    # -- graph
    def graph(self) -> MatchingGraph:
        def make() -> MatchingGraph:
            from graphemb.matching.compress import CompressConfig, compress
            from graphemb.matching.graph import build_graph

            g = build_graph(self.ds.a, self.ds.b, max_n=self.cfg.ngrams)
            g, rep = compress(g, CompressConfig(self.cfg.min_degree, True, self.cfg.max_path))
            self.compress_report = rep
            return g

        if self._graph is None or callable(self._graph):
            self._graph = self._get("build", "build + compress", self._graph or make)
        return self._graph

    def node_text_features(self) -> Tensor:
        """MiniLM node features ``[N, d]``: an object node gets its text's vector (as in
        :meth:`minilm_vectors`), a token or column node the vector of its name."""
        def make() -> Tensor:
            g = self.graph()
            types = g.node_type.numpy()
            names = [n.replace("_", " ") if t == TOKEN else (n[4:] if t == COLUMN else "") for n, t in zip(g.names, types)]
            other = np.flatnonzero((types == TOKEN) | (types == COLUMN))
            x = torch.zeros(g.num_nodes, self.encoder.dim)
            x[torch.from_numpy(other)] = self.encode([names[i] for i in other])
            qv, cv = self.minilm_vectors()
            qn, cn = (g.b_nodes, g.a_nodes) if self.ds.query_side == "b" else (g.a_nodes, g.b_nodes)
            x[qn[qn >= 0]] = qv[qn >= 0]
            x[cn[cn >= 0]] = cv[cn >= 0]
            return x

        return self._get("node_text", "MiniLM node features", make)

    def walks(self) -> Tensor:
        from graphemb.matching.walks import walk_embeddings, walk_preset

        s = self.cfg.seed
        return self._get(("walks", s), "walks + Word2Vec",
                         lambda: walk_embeddings(self.graph(), walk_preset(self.cfg.walk_preset, seed=s,
                                                                      **(self.cfg.walk_overrides or {}))))

    def gnn(self, features: str) -> Tensor:
        from graphemb.matching.embed import gnn_embeddings

        s = self.cfg.seed
        x = self.walks() if features == "walks" else self.node_text_features()
        return self._get((f"gnn_{features}", s), f"IsoC-VGAE ({features} features)",
                         lambda: gnn_embeddings(self.graph(), x, overrides=self.cfg.gnn_overrides, seed=s,
                                                device=self.cfg.device))

    def ingredients(self, scorer: str) -> List[Any]:
        """Cache keys whose seconds make up ``scorer``'s cost."""
        s = self.cfg.seed
        graph = ["build", ("walks", s)]
        return {"bm25": ["bm25"], "tfidf": ["tfidf"], "minilm": ["load_minilm", "minilm"],
                "walks": graph, "isoc-vgae": graph + [("gnn_walks", s)],
                "isoc-vgae-text": ["build", "load_minilm", "minilm", "node_text", ("gnn_text", s)],
                "both": graph + [("gnn_walks", s)]}[scorer]

    # -- base scorers
    def base(self, scorer: str) -> BaseScores:
        key = (f"scores:{scorer}", self.cfg.seed if scorer in _SEEDED else None)
        if key not in self._cache:
            self._cache[key] = BASE_SCORERS[scorer](self)
        return self._cache[key]


def _f64(scorer: Any) -> Any:
    from graphemb.matching.match import AdjustedScorer

    return AdjustedScorer(scorer, lambda b, rows: np.asarray(b, dtype=np.float64))


def _embedding_scores(ctx: MatchContext, z: Tensor) -> BaseScores:
    from graphemb.matching.match import EmbeddingScorer

    g = ctx.graph()
    qn, cn = (g.b_nodes, g.a_nodes) if ctx.ds.query_side == "b" else (g.a_nodes, g.b_nodes)
    qn, cn = qn.numpy(), cn.numpy()
    e = z.detach().float().numpy()
    qv, cv = e[qn.clip(min=0)], e[cn.clip(min=0)]
    gb = ctx.gallery_bank.numpy()
    return BaseScores(_f64(EmbeddingScorer(qv, cv, candidate_mask=cn >= 0, query_mask=qn >= 0, stable=True)),
                      qn >= 0, _f64(EmbeddingScorer(cv[gb], cv, candidate_mask=cn >= 0, query_mask=cn[gb] >= 0,
                                                    stable=True)), gb, cosine=True)


def _text_scores(ctx: MatchContext, matrices: Callable[[List[str], List[str]], Tuple[Any, Any]],
                 cosine: bool) -> BaseScores:
    from graphemb.matching.match import SparseScorer

    ct = ctx.cand_texts()
    gb = ctx.gallery_bank.numpy()
    return BaseScores(SparseScorer(*matrices(ctx.query_texts(), ct)), np.ones(ctx.n_query, dtype=bool),
                      SparseScorer(*matrices([ct[i] for i in gb.tolist()], ct)), gb, cosine=cosine)


def _bm25(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.baselines import bm25_matrices

    return ctx._get("bm25", "BM25", lambda: _text_scores(ctx, bm25_matrices, cosine=False))


def _tfidf(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.baselines import tfidf_matrices

    return ctx._get("tfidf", "TF-IDF", lambda: _text_scores(ctx, tfidf_matrices, cosine=True))


def _minilm(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.match import EmbeddingScorer

    qv, cv = (x.float().numpy() for x in ctx.minilm_vectors())
    gb = ctx.gallery_bank.numpy()
    return BaseScores(_f64(EmbeddingScorer(qv, cv, stable=True)), np.ones(ctx.n_query, dtype=bool),
                      _f64(EmbeddingScorer(cv[gb], cv, stable=True)), gb, cosine=True)


def _both(ctx: MatchContext) -> BaseScores:
    nz = torch.nn.functional.normalize
    return _embedding_scores(ctx, torch.cat([nz(ctx.walks(), dim=1), nz(ctx.gnn("walks"), dim=1)], 1))


BASE_SCORERS: Dict[str, Callable[[MatchContext], BaseScores]] = {
    "bm25": _bm25,
    "tfidf": _tfidf,
    "minilm": _minilm,
    "walks": lambda ctx: _embedding_scores(ctx, ctx.walks()),
    "isoc-vgae": lambda ctx: _embedding_scores(ctx, ctx.gnn("walks")),
    "isoc-vgae-text": lambda ctx: _embedding_scores(ctx, ctx.gnn("text")),
    "both": _both,
}
_SEEDED = ("walks", "isoc-vgae", "isoc-vgae-text", "both")

_FUSED = ("walks", "isoc-vgae", "minilm", "bm25")
METHODS: Dict[str, MethodSpec] = {
    "bm25": MethodSpec("bm25", ("bm25",), deterministic=True, description="Okapi BM25 (Lucene idf, k1=1.5, b=0.75)"),
    "tfidf": MethodSpec("tfidf", ("tfidf",), deterministic=True, description="TF-IDF cosine (scikit-learn defaults)"),
    "minilm": MethodSpec("minilm", ("minilm",), deterministic=True, description="all-MiniLM-L6-v2 cosine"),
    "walks": MethodSpec("walks", ("walks",), description="TDmatch walks + Word2Vec"),
    "isoc-vgae": MethodSpec("isoc-vgae", ("isoc-vgae",), description="IsoC-VGAE, walk features"),
    "isoc-vgae-text": MethodSpec("isoc-vgae-text", ("isoc-vgae-text",), description="IsoC-VGAE, MiniLM node features"),
    "both": MethodSpec("both", ("both",), description="walks ++ IsoC-VGAE (walk features)"),
    "fused": MethodSpec("fused", _FUSED, "zscore", description="z-score fusion of walks, IsoC-VGAE, MiniLM, BM25"),
    "fused-rrf": MethodSpec("fused-rrf", _FUSED, "rrf", description="reciprocal-rank fusion of the same four"),
    "fused-agree": MethodSpec("fused-agree", _FUSED, "zscore", weights="agreement",
                              description="z-score fusion of the same four, weighted by top-1 agreement"),
    "best": MethodSpec("best", _FUSED, "zscore", "dbnorm_ddis",
                       description="fused with DBNorm dual dynamic inverted softmax on each scorer"),
}


def _reduce(ctx: MatchContext, b: BaseScores, method: str, budget: int) -> Any:
    """``b.query`` with hubness reduction ``method`` applied block by block; the bank statistics
    are accumulated over blocks of bank rows (no dense bank or score matrix)."""
    from graphemb.matching.match import AdjustedScorer, iter_blocks

    cfg = ctx.cfg
    if method == "none":
        return b.query
    scale = 1.0
    if not b.cosine:  # BM25: largest score -> 1, so beta means what it means for cosines
        top = max((float(np.max(s, initial=-np.inf, where=np.isfinite(s))) for _, s in iter_blocks(b.query, budget)),
                  default=-np.inf)
        scale = 1.0 / top if np.isfinite(top) and top > 0 else 1.0

    def bank(scorer: Any, rows: Optional[np.ndarray] = None):
        return (torch.from_numpy(s * scale) for _, s in iter_blocks(scorer, budget, rows))

    norm = fit_hubness(method, bank(b.query, ctx.query_bank.numpy()),
                       bank(b.gallery) if b.gallery is not None else None, k=cfg.csls_k, beta=cfg.beta,
                       beta_gallery=cfg.beta_gallery,
                       gallery_self=None if b.gallery_self is None else torch.as_tensor(b.gallery_self))
    return AdjustedScorer(b.query, lambda s, rows: norm(s * scale, rows))


def method_scorer(name: str, ctx: MatchContext, hubness: Optional[str] = None, *, budget: Optional[int] = None
                  ) -> Tuple[Any, np.ndarray, Dict[str, float]]:
    """``(scorer [n, C], present [n], seconds)`` of method ``name`` on all query-side objects:
    a blocked :class:`~graphemb.matching.match.Scorer` (each block: the base scorers' blocks,
    their hubness reduction, the fusion), so no method holds a dense ``[n, C]`` matrix.

    ``hubness`` overrides the config's and the method's own reduction. ``seconds``: the cost of
    each ingredient (computed once per context; a fused method lists all of its ingredients),
    ``hubness`` (the bank statistics) and ``fusion`` (its weights) as measured in this call; the
    per-block scoring, reduction and fusion are paid by whoever reads the blocks (``evaluate``).
    """
    from graphemb.matching.fusion import FusedScorer
    from graphemb.matching.match import BUDGET

    if name not in METHODS:
        raise KeyError(f"unknown matching method {name!r}; choose one of {', '.join(METHODS)}")
    budget = budget or BUDGET
    spec = METHODS[name]
    hub = hubness or ctx.cfg.hubness or spec.hubness
    if hub not in HUBNESS_METHODS:
        raise ValueError(f"unknown hubness reduction {hub!r}; choose one of {', '.join(HUBNESS_METHODS)}")
    parts = [ctx.base(c) for c in spec.components]
    t, c0 = time.perf_counter(), time.process_time()
    reduced = [_reduce(ctx, b, hub, budget) for b in parts]
    t_hub, c_hub = time.perf_counter() - t, time.process_time() - c0
    t, c0 = time.perf_counter(), time.process_time()
    scorer = reduced[0] if len(reduced) == 1 else FusedScorer(reduced, spec.fusion, weights=spec.weights,
                                                               budget=budget)
    t_fuse, c_fuse = time.perf_counter() - t, time.process_time() - c0
    ctx.cpu_stages["hubness"], ctx.cpu_stages["fusion"] = c_hub, c_fuse  # of the latest call
    present = np.stack([b.present for b in parts]).any(0)
    keys: List[Any] = []
    for c in spec.components:
        keys += [k for k in ctx.ingredients(c) if k not in keys]
    secs = ctx.stage_seconds(keys)
    secs.update(hubness=t_hub, fusion=t_fuse)
    return scorer, present, secs


def method_scores(name: str, ctx: MatchContext, hubness: Optional[str] = None) -> Tuple[Tensor, Tensor, Dict[str, float]]:
    """Dense ``(scores [n, C], present [n], seconds)`` of :func:`method_scorer` (for small inputs
    and inspection; :func:`evaluate_method` never builds it)."""
    from graphemb.matching.match import iter_blocks

    scorer, present, secs = method_scorer(name, ctx, hubness)
    n, c = scorer.shape
    blocks = [torch.as_tensor(b) for _, b in iter_blocks(scorer)]
    s = torch.cat(blocks) if blocks else torch.zeros(n, c, dtype=torch.float64)
    return s, torch.from_numpy(present), secs


def evaluate_method(name: str, ctx: MatchContext, hubness: Optional[str] = None, *,
                    ks: Sequence[int] = (1, 3, 5, 10, 20), full: bool = True, budget: Optional[int] = None,
                    top_k: int = 20) -> Dict[str, Any]:
    """Metrics (every query counted, pessimistic ties), hubness of the final scores with and
    without the reduction, and stage seconds of method ``name`` on ``ctx``'s dataset.

    Everything is computed block by block (:func:`method_scorer`,
    :func:`graphemb.matching.match.blocked_scan`: one pass gives ranks, AP@K, N_k and the top-k
    lists), at most ``budget`` scores at a time (default
    :data:`graphemb.matching.match.BUDGET`). ``ks``: the cut-offs of MRR@K / MAP@K / Hits@K.
    ``groups``: the metrics of each of the dataset's query groups (``ds.groups``). The one-to-one
    pairs (ER) are the maximum-weight assignment on each query's ``top_k`` candidates
    (:func:`graphemb.matching.match.one_to_one_topk`). ``full=False`` skips the pairs and the
    scores without the reduction (``hubness_before``, ``mrr_without_hubness``).
    """
    from graphemb.matching.match import BUDGET, RowsScorer, blocked_scan, one_to_one_topk
    from graphemb.matching.metrics import pair_prf

    budget = budget or BUDGET
    spec = METHODS[name]
    hub = hubness or ctx.cfg.hubness or spec.hubness
    scorer, present, secs = method_scorer(name, ctx, hub, budget=budget)
    ds = ctx.ds
    t, c0 = time.perf_counter(), time.process_time()
    q = np.asarray(ds.queries, dtype=np.int64)
    pairs = full and ds.query_side == "a" and len(ds.pairs)
    scan = blocked_scan(RowsScorer(scorer, q), ds.gold, ks=ks, topk=top_k if pairs else 0, hub_k=ctx.cfg.hub_k,
                        budget=budget)
    m = scan.metrics(present[q])
    if pairs:
        idx, val = scan.topk
        pred = one_to_one_topk(idx, val, scorer.shape[1]).numpy()
        pred = np.stack([q[pred[:, 0]], pred[:, 1]], 1)
        m.update({f"pairs_{k}": v for k, v in pair_prf(pred, ds.pairs).items()})
    secs["evaluate"] = time.perf_counter() - t
    cpu = {**ctx.stage_seconds([k for k in ctx.cpu_stages if (k if isinstance(k, str) else k[0]) in secs], cpu=True),
           "evaluate": time.process_time() - c0}
    groups = {g: {k: float(v) for k, v in scan.metrics(present[q], ix).items()} for g, ix in (ds.groups or {}).items()}
    out: Dict[str, Any] = {"method": name, "hubness_method": hub, "metrics": {k: float(v) for k, v in m.items()},
                           "stages": secs, "stages_cpu": cpu, "seconds": float(sum(secs.values())),
                           "pruned_queries": int((~present[q]).sum()),
                           "hubness_after": _nk_stats(scan.k_occurrence, scan.finite, ctx.cfg.hub_k)}
    if groups:
        out["groups"] = groups
    if hub != "none" and full:
        raw = evaluate_method(name, ctx, "none", ks=(1,), full=False, budget=budget)
        out["hubness_before"] = raw["hubness_after"]
        out["mrr_without_hubness"] = float(raw["metrics"]["mrr"])
    elif hub == "none":
        out["hubness_before"] = out["hubness_after"]
    return out


def _nk_stats(nk: np.ndarray, candidates: np.ndarray, k: int) -> Dict[str, float]:
    """:func:`~graphemb.matching.hubness.hubness_stats` from a k-occurrence vector."""
    from graphemb.matching.hubness import nk_stats

    return nk_stats(torch.from_numpy(nk), k, torch.from_numpy(candidates))
