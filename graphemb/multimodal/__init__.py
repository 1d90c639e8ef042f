"""Multimodal attributed graphs (MAGB, arXiv 2410.09132): data, node encoders, fusion, predictors.

Quick start::

    from graphemb.multimodal import make_synthetic_mag, encode_graph, load_text_encoder, node_classification
    g = make_synthetic_mag()
    text = encode_graph(g, "text", load_text_encoder("minilm"))
    res = node_classification(g, [text], NodeTaskConfig(model="gcn"))
"""
from __future__ import annotations

from graphemb.utils.lazy import lazy_exports

# Public names -> the module defining them. Loaded on first use (PEP 562), so that importing
# `graphemb.multimodal.cli` for the command line does not pull in its heavy dependencies.
_EXPORTS = {
    'FeatureSet': 'graphemb.multimodal.data',
    'MultimodalGraph': 'graphemb.multimodal.data',
    'load_mag': 'graphemb.multimodal.data',
    'load_magb': 'graphemb.multimodal.data',
    'load_plain': 'graphemb.multimodal.data',
    'save_plain': 'graphemb.multimodal.data',
    'NodeEncoder': 'graphemb.multimodal.encoders',
    'TextEncoder': 'graphemb.multimodal.encoders',
    'load_text_encoder': 'graphemb.multimodal.encoders',
    'encode_graph': 'graphemb.multimodal.encoders.cache',
    'encode_nodes': 'graphemb.multimodal.encoders.cache',
    'load_image_encoder': 'graphemb.multimodal.encoders.image',
    'load_vlm_encoder': 'graphemb.multimodal.encoders.vlm',
    'FUSIONS': 'graphemb.multimodal.fusion',
    'make_fusion': 'graphemb.multimodal.fusion',
    'PREDICTORS': 'graphemb.multimodal.predictors',
    'NodePredictor': 'graphemb.multimodal.predictors',
    'make_synthetic_mag': 'graphemb.multimodal.synthetic',
    'NodeTaskConfig': 'graphemb.multimodal.tasks',
    'embed_unsupervised': 'graphemb.multimodal.tasks',
    'link_prediction': 'graphemb.multimodal.tasks',
    'node_classification': 'graphemb.multimodal.tasks',
    'probe_embeddings': 'graphemb.multimodal.tasks',
    'unsupervised_node_classification': 'graphemb.multimodal.tasks',
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
