"""Multimodal attributed graphs (MAGB, arXiv 2410.09132): data, node encoders, fusion, predictors.

Quick start::

    from graphemb.multimodal import make_synthetic_mag, encode_graph, load_text_encoder, node_classification
    g = make_synthetic_mag()
    text = encode_graph(g, "text", load_text_encoder("minilm"))
    res = node_classification(g, [text], NodeTaskConfig(model="gcn"))
"""
from graphemb.multimodal.data import FeatureSet, MultimodalGraph, load_mag, load_magb, load_plain, save_plain
from graphemb.multimodal.encoders import NodeEncoder, TextEncoder, load_text_encoder
from graphemb.multimodal.encoders.cache import encode_graph, encode_nodes
from graphemb.multimodal.encoders.image import load_image_encoder
from graphemb.multimodal.encoders.vlm import load_vlm_encoder
from graphemb.multimodal.fusion import FUSIONS, make_fusion
from graphemb.multimodal.predictors import PREDICTORS, NodePredictor
from graphemb.multimodal.synthetic import make_synthetic_mag
from graphemb.multimodal.tasks import (NodeTaskConfig, embed_unsupervised, link_prediction, node_classification,
                                       probe_embeddings, unsupervised_node_classification)

__all__ = ["FeatureSet", "MultimodalGraph", "load_mag", "load_magb", "load_plain", "save_plain", "NodeEncoder",
           "TextEncoder", "load_text_encoder", "load_image_encoder", "load_vlm_encoder", "encode_graph",
           "encode_nodes", "FUSIONS", "make_fusion", "PREDICTORS", "NodePredictor", "make_synthetic_mag",
           "NodeTaskConfig", "node_classification", "link_prediction", "unsupervised_node_classification",
           "embed_unsupervised", "probe_embeddings"]
