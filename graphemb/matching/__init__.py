"""Data-to-text matching graphs (TDmatch, Ahmadi, Sand & Papotti, ICDE 2022, arXiv 2112.08776).

build (``graph``) -> expand (``expand``) -> compress (``compress``) -> embed (``walks``, ``embed``)
-> rank (``match``) -> evaluate (``metrics``); baselines and loaders alongside; hubness reduction
(``hubness``), score fusion (``fusion``) and the ``--method`` registry (``methods``).
"""
from __future__ import annotations

from graphemb.utils.lazy import lazy_exports

# Public names -> the module defining them. Loaded on first use (PEP 562), so that importing
# `graphemb.matching.cli` for the command line does not pull in its heavy dependencies.
_EXPORTS = {
    'CompressConfig': 'graphemb.matching.compress',
    'CompressReport': 'graphemb.matching.compress',
    'MatchingDataset': 'graphemb.matching.datasets',
    'load_coronacheck': 'graphemb.matching.datasets',
    'load_er': 'graphemb.matching.datasets',
    'load_matching': 'graphemb.matching.datasets',
    'load_pair': 'graphemb.matching.datasets',
    'load_pair_dir': 'graphemb.matching.datasets',
    'read_corpus': 'graphemb.matching.datasets',
    'embed_graph': 'graphemb.matching.embed',
    'ExpandReport': 'graphemb.matching.expand',
    'expand_with_encoder': 'graphemb.matching.expand',
    'expand_with_synonyms': 'graphemb.matching.expand',
    'COLUMN': 'graphemb.matching.graph',
    'OBJECT_A': 'graphemb.matching.graph',
    'OBJECT_B': 'graphemb.matching.graph',
    'TOKEN': 'graphemb.matching.graph',
    'Corpus': 'graphemb.matching.graph',
    'MatchingGraph': 'graphemb.matching.graph',
    'build_graph': 'graphemb.matching.graph',
    'AdjustedScorer': 'graphemb.matching.match',
    'DenseScorer': 'graphemb.matching.match',
    'EmbeddingScorer': 'graphemb.matching.match',
    'blocked_ranking_metrics': 'graphemb.matching.match',
    'blocked_ranks': 'graphemb.matching.match',
    'blocked_topk': 'graphemb.matching.match',
    'iter_blocks': 'graphemb.matching.match',
    'object_scorer': 'graphemb.matching.match',
    'one_to_one_sparse': 'graphemb.matching.match',
    'one_to_one_topk': 'graphemb.matching.match',
    'cosine_scores': 'graphemb.matching.match',
    'mutual_nearest': 'graphemb.matching.match',
    'object_scores': 'graphemb.matching.match',
    'one_to_one': 'graphemb.matching.match',
    'top_k': 'graphemb.matching.match',
    'gold_matrix': 'graphemb.matching.metrics',
    'pair_prf': 'graphemb.matching.metrics',
    'ranking_metrics': 'graphemb.matching.metrics',
    'Normalizer': 'graphemb.matching.text',
    'fuse': 'graphemb.matching.fusion',
    'fit_hubness': 'graphemb.matching.hubness',
    'reduce_hubness': 'graphemb.matching.hubness',
    'hubness_stats': 'graphemb.matching.hubness',
    'METHODS': 'graphemb.matching.methods',
    'MatchContext': 'graphemb.matching.methods',
    'MethodConfig': 'graphemb.matching.methods',
    'method_scores': 'graphemb.matching.methods',
    'evaluate_method': 'graphemb.matching.methods',
    'WalkConfig': 'graphemb.matching.walks',
    'random_walks': 'graphemb.matching.walks',
    'walk_embeddings': 'graphemb.matching.walks',
    'walk_preset': 'graphemb.matching.walks',
}

# ``compress`` is also the name of its submodule: importing the submodule would bind the module
# over the lazy name, so the function is bound eagerly (it needs only numpy/scipy/PyG's Data).
from graphemb.matching.compress import compress  # noqa: E402

__all__ = sorted([*_EXPORTS, "compress"])


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
