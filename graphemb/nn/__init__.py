"""Shared GNN building blocks: encoders returning every layer, readouts, MLPs, norms."""
from graphemb.nn.encoders import CONVS, EncoderConfig, GNNEncoder
from graphemb.nn.mlp import MLP
from graphemb.nn.norm import make_norm, resolve_act
from graphemb.nn.readout import graph_readout, link_readout, node_readout

__all__ = [
    "CONVS",
    "EncoderConfig",
    "GNNEncoder",
    "MLP",
    "make_norm",
    "resolve_act",
    "node_readout",
    "link_readout",
    "graph_readout",
]
