"""Frozen embeddings from a trained model: nodes of one graph, or pooled graphs of a set."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.models.base import EmbeddingModel
from graphemb.nn.readout import graph_readout
from graphemb.utils.device import resolve_device


@torch.no_grad()
def embed_nodes(model: EmbeddingModel, data: Data, device: str | torch.device = "cpu") -> Tensor:
    """Deterministic node embeddings ``[N, d]`` of one graph (full batch, eval mode), on CPU."""
    dev = resolve_device(device)
    model.to(dev).eval()
    return model.embed(data.x.to(dev), data.edge_index.to(dev)).cpu()


@torch.no_grad()
def embed_graphs(
    model: EmbeddingModel,
    graphs: Sequence[Data],
    device: str | torch.device = "cpu",
    pool: str = "sum",
    readout: str = "concat",
    batch_size: int = 256,
) -> Tensor:
    """One embedding per graph ``[G, d]``: node embeddings of each mini-batch pooled per graph.

    Args:
        pool: ``sum`` | ``mean`` | ``max``.
        readout: ``concat`` pools every encoder layer and concatenates (InfoGraph/GraphMAE);
            ``last`` pools the model's output embedding ``z`` only.
    """
    from torch_geometric.loader import DataLoader

    dev = resolve_device(device)
    model.to(dev).eval()
    out = []
    for batch in DataLoader(list(graphs), batch_size=batch_size, shuffle=False):
        batch = batch.to(dev)
        if readout == "concat":
            layers = model(batch.x, batch.edge_index, batch.batch).layers
        else:  # the deterministic embedding alone; no decoder pass needed
            layers = [model.embed(batch.x, batch.edge_index, batch.batch)]
        out.append(graph_readout(layers, batch.batch, pool=pool, mode=readout if len(layers) > 1 else "last",
                                 num_graphs=batch.num_graphs).cpu())
    return torch.cat(out, 0)
