"""Data-to-text matching graphs (TDmatch, Ahmadi, Sand & Papotti, ICDE 2022, arXiv 2112.08776).

build (``graph``) -> expand (``expand``) -> compress (``compress``) -> embed (``walks``, ``embed``)
-> rank (``match``) -> evaluate (``metrics``); baselines and loaders alongside.
"""
from graphemb.matching.compress import CompressConfig, CompressReport, compress
from graphemb.matching.datasets import (MatchingDataset, load_coronacheck, load_er, load_matching, load_pair,
                                        load_pair_dir, read_corpus)
from graphemb.matching.embed import embed_graph
from graphemb.matching.expand import ExpandReport, expand_with_encoder, expand_with_synonyms
from graphemb.matching.graph import COLUMN, OBJECT_A, OBJECT_B, TOKEN, Corpus, MatchingGraph, build_graph
from graphemb.matching.match import cosine_scores, mutual_nearest, object_scores, one_to_one, top_k
from graphemb.matching.metrics import gold_matrix, pair_prf, ranking_metrics
from graphemb.matching.text import Normalizer
from graphemb.matching.walks import WalkConfig, random_walks, walk_embeddings, walk_preset

__all__ = [
    "Corpus", "MatchingGraph", "build_graph", "OBJECT_A", "OBJECT_B", "TOKEN", "COLUMN", "Normalizer",
    "expand_with_encoder", "expand_with_synonyms", "ExpandReport", "compress", "CompressConfig", "CompressReport",
    "WalkConfig", "walk_preset", "random_walks", "walk_embeddings", "embed_graph",
    "cosine_scores", "object_scores", "top_k", "mutual_nearest", "one_to_one",
    "gold_matrix", "ranking_metrics", "pair_prf",
    "MatchingDataset", "load_matching", "load_coronacheck", "load_er", "load_pair", "load_pair_dir", "read_corpus",
]
