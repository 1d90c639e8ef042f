"""Readouts: node embeddings from encoder layers, pair features for links, pooled graphs."""
from __future__ import annotations

from typing import Optional, Sequence, Union

import torch
from torch import Tensor
from torch_geometric.nn import global_add_pool, global_max_pool, global_mean_pool

NODE_MODES = ("last", "concat")
LINK_MODES = ("hadamard", "concat", "l1", "l2")
POOLS = {"sum": global_add_pool, "add": global_add_pool, "mean": global_mean_pool, "max": global_max_pool}

Layers = Union[Tensor, Sequence[Tensor]]


def node_readout(layers: Layers, mode: str = "last") -> Tensor:
    """Node embeddings from encoder layers.

    Args:
        layers: ``h^L`` alone, or the list ``[h^1 .. h^L]`` returned by an encoder.
        mode: ``"last"`` (``h^L``, default) or ``"concat"`` (``[h^1 || ... || h^L]``, JK-style).
    Returns:
        ``[N, d]`` (``d = sum_l d_l`` for ``"concat"``).
    """
    if mode not in NODE_MODES:
        raise ValueError(f"unknown node readout {mode!r}; choose one of {NODE_MODES}")
    if isinstance(layers, Tensor):
        return layers
    layers = list(layers)
    if not layers:
        raise ValueError("node_readout got an empty list of layers")
    return layers[-1] if mode == "last" else torch.cat(layers, dim=-1)


def link_readout(z: Tensor, pairs: Tensor, mode: str = "hadamard") -> Tensor:
    """Features of node pairs for a link predictor.

    Args:
        z: ``[N, d]`` node embeddings.
        pairs: ``[2, E]`` (source, target) node indices.
        mode: ``"hadamard"`` (``z_s * z_t``, default), ``"concat"`` (``[z_s || z_t]``, ``2d``),
            ``"l1"`` (``|z_s - z_t|``) or ``"l2"`` (``(z_s - z_t)^2``), element-wise as in
            node2vec's binary operators.
    Returns:
        ``[E, d]`` (``[E, 2d]`` for ``"concat"``).
    """
    if mode not in LINK_MODES:
        raise ValueError(f"unknown link readout {mode!r}; choose one of {LINK_MODES}")
    if pairs.dim() != 2 or pairs.size(0) != 2:
        raise ValueError(f"pairs must have shape [2, E], got {tuple(pairs.shape)}")
    zs, zt = z[pairs[0]], z[pairs[1]]
    if mode == "hadamard":
        return zs * zt
    if mode == "concat":
        return torch.cat([zs, zt], dim=-1)
    if mode == "l1":
        return (zs - zt).abs()
    return (zs - zt).pow(2)


def graph_readout(
    layers: Layers,
    batch: Optional[Tensor] = None,
    pool: str = "sum",
    mode: str = "last",
    num_graphs: Optional[int] = None,
) -> Tensor:
    """Pool node embeddings into one vector per graph.

    Args:
        layers: ``h^L`` or the list ``[h^1 .. h^L]``.
        batch: ``[N]`` graph id of each node (``None``: one graph).
        pool: ``"sum"`` (default, as the official IsoC-VGAE graph code), ``"mean"`` or ``"max"``.
        mode: ``"last"`` (pool ``h^L``) or ``"concat"`` (pool every layer, concatenated;
            InfoGraph / GraphMAE style).
        num_graphs: number of graphs ``B`` (keeps empty trailing graphs; inferred otherwise).
    Returns:
        ``[B, d]``.
    """
    if pool not in POOLS:
        raise ValueError(f"unknown graph pooling {pool!r}; choose one of {sorted(POOLS)}")
    h = node_readout(layers, mode)
    return POOLS[pool](h, batch, num_graphs)
