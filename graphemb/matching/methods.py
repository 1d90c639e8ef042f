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
from graphemb.matching.fusion import fuse
from graphemb.matching.graph import COLUMN, TOKEN, MatchingGraph
from graphemb.matching.hubness import HUBNESS_METHODS, bank_rows, fit_hubness, hubness_stats

__all__ = ["MethodConfig", "MethodSpec", "METHODS", "BASE_SCORERS", "MatchContext", "BaseScores",
           "method_scores", "evaluate_method", "PROTOCOLS"]

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
        walk_preset: TDmatch walk preset of ``walks`` (``fast``: 20 walks/node, 5 Word2Vec epochs).
        gnn_overrides: over :data:`graphemb.matching.embed.MATCHING_GNN` (nested dict).
        hubness: reduction on each base scorer (:data:`~graphemb.matching.hubness.HUBNESS_METHODS`);
            ``None`` = the method's own (``none``, ``dbnorm_ddis`` for ``best``).
        beta, beta_gallery: inverse temperatures of the query-/gallery-bank softmax (20).
        csls_k: CSLS neighbourhood (10).  bank_size: bank rows sampled (4096; ``None`` = all).
        hub_k: k of the k-occurrence reported as hubness (10).
        ngrams, min_degree, max_path: graph building and compression (TDmatch: 3, 2, 4).
        seed, device: of the walks and the GNN.
    """

    walk_preset: str = "fast"
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
    """One base scorer's scores: ``query`` ``[n, C]`` (all query-side objects), ``present`` ``[n]``
    (False: the query object was pruned from the graph), ``gallery`` ``[Bg, C]`` bank candidates
    against all candidates and ``gallery_self`` ``[Bg]`` (each bank row's own candidate)."""

    query: Tensor
    present: Tensor
    gallery: Optional[Tensor]
    gallery_self: Optional[Tensor]
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
                self.cached.append(key[0])
                return self._cache[key]
        t = time.perf_counter()
        self._cache[key] = fn()
        self.stages[key] = time.perf_counter() - t
        self.log(f"{self.ds.name}: {stage} in {self.stages[key]:.1f}s")
        if path is not None:
            from graphemb.utils.io import atomic_write

            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_write(path) as f:
                torch.save({"value": self._cache[key], "seconds": self.stages[key]}, f)
        return self._cache[key]

    def stage_seconds(self, keys: Sequence[Any]) -> Dict[str, float]:
        return {(k if isinstance(k, str) else k[0]): self.stages[k] for k in keys if k in self.stages}

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
                         lambda: walk_embeddings(self.graph(), walk_preset(self.cfg.walk_preset, seed=s)))

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


def _embedding_scores(ctx: MatchContext, z: Tensor) -> BaseScores:
    from graphemb.matching.match import cosine_scores

    g = ctx.graph()
    qn, cn = (g.b_nodes, g.a_nodes) if ctx.ds.query_side == "b" else (g.a_nodes, g.b_nodes)
    qv, cv = z[qn.clamp(min=0)], z[cn.clamp(min=0)]
    s = cosine_scores(qv, cv).double()
    s[:, cn < 0] = float("-inf")
    present = qn >= 0
    s[~present] = float("-inf")
    gb = ctx.gallery_bank
    gs = cosine_scores(cv[gb], cv).double()
    gs[:, cn < 0] = float("-inf")
    gs[cn[gb] < 0] = float("-inf")
    return BaseScores(s, present, gs, gb, cosine=True)


def _text_scores(ctx: MatchContext, fn: Callable[[List[str], List[str]], Tensor], cosine: bool) -> BaseScores:
    ct = ctx.cand_texts()
    gb = ctx.gallery_bank
    return BaseScores(fn(ctx.query_texts(), ct).double(), torch.ones(ctx.n_query, dtype=torch.bool),
                      fn([ct[i] for i in gb.tolist()], ct).double(), gb, cosine=cosine)


def _bm25(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.baselines import bm25_scores

    return ctx._get("bm25", "BM25", lambda: _text_scores(ctx, bm25_scores, cosine=False))


def _tfidf(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.baselines import tfidf_scores

    return ctx._get("tfidf", "TF-IDF", lambda: _text_scores(ctx, tfidf_scores, cosine=True))


def _minilm(ctx: MatchContext) -> BaseScores:
    from graphemb.matching.match import cosine_scores

    qv, cv = ctx.minilm_vectors()
    gb = ctx.gallery_bank
    return BaseScores(cosine_scores(qv, cv).double(), torch.ones(ctx.n_query, dtype=torch.bool),
                      cosine_scores(cv[gb], cv).double(), gb, cosine=True)


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


def _reduce(ctx: MatchContext, b: BaseScores, method: str) -> Tensor:
    cfg = ctx.cfg
    if method == "none":
        return b.query
    scale = 1.0
    if not b.cosine:  # BM25: largest score -> 1, so beta means what it means for cosines
        fin = b.query[torch.isfinite(b.query)]
        scale = 1.0 / float(fin.max()) if fin.numel() and float(fin.max()) > 0 else 1.0
    qb = b.query[ctx.query_bank] * scale
    gb = b.gallery * scale if b.gallery is not None else None
    norm = fit_hubness(method, qb, gb, k=cfg.csls_k, beta=cfg.beta, beta_gallery=cfg.beta_gallery,
                       gallery_self=b.gallery_self)
    return norm.transform(b.query * scale)


def method_scores(name: str, ctx: MatchContext, hubness: Optional[str] = None) -> Tuple[Tensor, Tensor, Dict[str, float]]:
    """``(scores [n, C], present [n], seconds)`` of method ``name`` on all query-side objects.

    ``hubness`` overrides the config's and the method's own reduction. ``seconds``: the cost of
    each ingredient (computed once per context; a fused method lists all of its ingredients) plus
    ``hubness`` and ``fusion`` as measured in this call.
    """
    if name not in METHODS:
        raise KeyError(f"unknown matching method {name!r}; choose one of {', '.join(METHODS)}")
    spec = METHODS[name]
    hub = hubness or ctx.cfg.hubness or spec.hubness
    if hub not in HUBNESS_METHODS:
        raise ValueError(f"unknown hubness reduction {hub!r}; choose one of {', '.join(HUBNESS_METHODS)}")
    parts = [ctx.base(c) for c in spec.components]
    t = time.perf_counter()
    reduced = [_reduce(ctx, b, hub) for b in parts]
    t_hub = time.perf_counter() - t
    t = time.perf_counter()
    scores = reduced[0] if len(reduced) == 1 else fuse(reduced, spec.fusion, weights=spec.weights)
    t_fuse = time.perf_counter() - t
    present = torch.stack([b.present for b in parts]).any(0)
    keys: List[Any] = []
    for c in spec.components:
        keys += [k for k in ctx.ingredients(c) if k not in keys]
    secs = ctx.stage_seconds(keys)
    secs.update(hubness=t_hub, fusion=t_fuse)
    return scores, present, secs


def evaluate_method(name: str, ctx: MatchContext, hubness: Optional[str] = None, *,
                    ks: Sequence[int] = (1, 3, 5, 10, 20), full: bool = True) -> Dict[str, Any]:
    """Metrics (every query counted, pessimistic ties), hubness of the final scores with and
    without the reduction, and stage seconds of method ``name`` on ``ctx``'s dataset.

    ``ks``: the cut-offs of MRR@K / MAP@K / Hits@K. ``full=False`` skips the one-to-one pairs and
    the scores without the reduction (``hubness_before``, ``mrr_without_hubness``).
    """
    from graphemb.matching.match import one_to_one
    from graphemb.matching.metrics import gold_matrix, pair_prf, ranking_metrics

    spec = METHODS[name]
    hub = hubness or ctx.cfg.hubness or spec.hubness
    scores, present, secs = method_scores(name, ctx, hub)
    ds = ctx.ds
    t = time.perf_counter()
    q = torch.as_tensor(ds.queries, dtype=torch.long)
    s = scores[q]
    m = ranking_metrics(s, gold_matrix(ds.gold, s.size(1)), query_mask=present[q], ks=ks)
    if full and ds.query_side == "a" and len(ds.pairs):
        pred = one_to_one(s)
        pred = torch.stack([q[pred[:, 0]], pred[:, 1]], 1)
        m.update({f"pairs_{k}": v for k, v in pair_prf(pred.numpy(), ds.pairs).items()})
    secs["evaluate"] = time.perf_counter() - t
    cand = torch.isfinite(scores).any(0)
    out: Dict[str, Any] = {"method": name, "hubness_method": hub, "metrics": {k: float(v) for k, v in m.items()},
                           "stages": secs, "seconds": float(sum(secs.values())),
                           "pruned_queries": int((~present[q]).sum()),
                           "hubness_after": hubness_stats(s, ctx.cfg.hub_k, cand)}
    if hub != "none" and full:
        raw, _, _ = method_scores(name, ctx, "none")
        out["hubness_before"] = hubness_stats(raw[q], ctx.cfg.hub_k, cand)
        rm = ranking_metrics(raw[q], gold_matrix(ds.gold, s.size(1)), query_mask=present[q], ks=(1,))
        out["mrr_without_hubness"] = float(rm["mrr"])
    elif hub == "none":
        out["hubness_before"] = out["hubness_after"]
    return out
