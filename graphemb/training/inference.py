"""Frozen embeddings from a trained model: nodes of one graph (full batch, or layer by layer
over node chunks for graphs too large for one pass), or pooled graphs of a set."""
from __future__ import annotations

from typing import List, Optional, Sequence

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


def _csr(crow: Tensor, col: Tensor, values: Tensor, size) -> Tensor:
    """A sparse CSR matrix from a valid CSR slice (torch's "beta" warning silenced)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, size, check_invariants=False)


def _gcn_stage(conv, h: Tensor, csr, deg_hat: Tensor, chunk: int, dev: torch.device) -> Tensor:
    """GCNConv over all nodes with the full graph's normalisation ``1/sqrt(d_u d_v)`` (self loop
    included), chunk by chunk: ``out_v = sum_u w_uv (W h_u) + w_vv (W h_v) + b``. Each chunk's
    rows of the normalised adjacency are one sparse CSR matrix (a slice of the graph's CSR), so
    no ``[edges, d]`` message tensor is built; the outputs are written in place (memory: ``h``,
    ``W h`` and the output, ``O(N d)``, plus one chunk's edges)."""
    if not (conv.normalize and conv.add_self_loops and not conv.improved):
        raise ValueError("layer-wise inference supports GCNConv with its default normalisation only")
    n = h.size(0)
    hw = torch.empty(n, conv.out_channels, dtype=h.dtype)
    for s in range(0, n, chunk):
        hw[s:s + chunk] = conv.lin(h[s:s + chunk].to(dev)).cpu()
    out = torch.empty_like(hw)
    isd = deg_hat.rsqrt().to(hw.dtype)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        lo, hi = int(csr.rowptr[s]), int(csr.rowptr[e])
        src = csr.col[lo:hi]
        w = isd[src] * torch.repeat_interleave(isd[s:e], csr.rowptr[s + 1:e + 1] - csr.rowptr[s:e])
        crow = csr.rowptr[s:e + 1] - lo
        if dev.type == "cpu":
            adj, cols = _csr(crow, src, w, (e - s, n)), hw
        else:  # only the chunk's sources travel to the device
            used, inv = torch.unique(src, return_inverse=True)
            adj, cols = _csr(crow, inv, w, (e - s, used.numel())).to(dev), hw[used].to(dev)
        agg = adj @ cols
        agg += hw[s:e].to(dev) * (isd[s:e] ** 2).to(dev).unsqueeze(-1)
        if conv.bias is not None:
            agg += conv.bias
        out[s:e] = agg.cpu()
    return out


MAX_CHUNK_EDGES = 2 ** 18


def _node_ranges(rowptr: Tensor, n: int, chunk: int, max_edges: int):
    """Consecutive node ranges ``[s, e)`` of at most ``chunk`` nodes and ``max_edges`` in-edges
    (at least one node each, whatever its degree)."""
    s = 0
    while s < n:
        cap = int(torch.searchsorted(rowptr, rowptr[s] + max_edges, right=True)) - 1
        e = max(s + 1, min(n, s + chunk, cap))
        yield s, e
        s = e


def _local_stage(conv, h: Tensor, csr, chunk: int, dev: torch.device) -> Tensor:
    """Any conv that only aggregates over in-neighbours (SAGE, GIN, GAT): run it on the
    bipartite neighbourhood of each chunk (chunk nodes + their in-neighbours, the chunk's
    in-edges only) and keep the chunk's rows (written in place into one ``[N, d]`` output).
    PyG's convs build ``[edges, d]`` messages, so a chunk also holds at most
    ``MAX_CHUNK_EDGES`` in-edges (memory bounded independently of ``N``)."""
    n = h.size(0)
    out: Optional[Tensor] = None
    for s, e in _node_ranges(csr.rowptr, n, chunk, MAX_CHUNK_EDGES):
        lo, hi = int(csr.rowptr[s]), int(csr.rowptr[e])
        src = csr.col[lo:hi]
        tgt = torch.repeat_interleave(torch.arange(s, e), csr.rowptr[s + 1:e + 1] - csr.rowptr[s:e])
        nodes = torch.unique(torch.cat([torch.arange(s, e), src]))
        ei = torch.stack([torch.searchsorted(nodes, src), torch.searchsorted(nodes, tgt)])
        res = conv(h[nodes].to(dev), ei.to(dev))
        rows = res[torch.searchsorted(nodes, torch.arange(s, e)).to(dev)].cpu()
        if out is None:
            out = torch.empty(n, rows.size(1), dtype=rows.dtype)
        out[s:e] = rows
    return out


@torch.no_grad()
def embed_nodes_layerwise(model: EmbeddingModel, data: Data, device: str | torch.device = "cpu",
                          chunk_size: int = 65536) -> Tensor:
    """Node embeddings ``[N, d]`` of one graph layer by layer over chunks of ``chunk_size``
    nodes, each with its full neighbourhood (PyG ``BasicGNN.inference``): memory ``O(N d)``
    (one layer at a time, on CPU) plus one chunk's edges on ``device``, instead of the
    ``O(E d L)`` activations of a full-batch pass. The same numbers as :func:`embed_nodes`.

    Uses ``model.inference_stages()`` (default: the encoder's stages; a model whose embedding
    adds layers on top of the encoder, e.g. VGAE's ``mu`` head, lists them too) and
    ``model.combine_stage_outputs`` (default: the last stage; MaskGAE concatenates them all).
    """
    from graphemb.training.sampling import to_csr

    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    from torch_geometric.nn import GCNConv
    from torch_geometric.utils import remove_self_loops

    dev = resolve_device(device)
    model.to(dev).eval()
    n = int(data.num_nodes)
    ei, _ = remove_self_loops(data.edge_index)
    csr = to_csr(ei, n)
    deg_hat = csr.degree().to(torch.float) + 1
    h = data.x.float().cpu()
    outputs = []
    for stage in model.inference_stages():
        if isinstance(stage.conv, GCNConv):
            h = _gcn_stage(stage.conv, h, csr, deg_hat, chunk_size, dev)
        else:
            h = _local_stage(stage.conv, h, csr, chunk_size, dev)
        for s in range(0, n, chunk_size):  # in place: the conv's output is not needed after post
            h[s:s + chunk_size] = stage.post(h[s:s + chunk_size].to(dev)).cpu()
        outputs.append(h)
    return model.combine_stage_outputs(outputs)


def embed_nodes_for(model: EmbeddingModel, data: Data, train_cfg) -> Tensor:
    """Node embeddings as ``train_cfg`` asks (``inference_chunk_size``, see ``TrainConfig``)."""
    chunk_size = train_cfg.inference_chunk_size
    if chunk_size is None:
        chunk_size = 65536 if train_cfg.num_neighbors else 0
    device = train_cfg.device
    if chunk_size:
        return embed_nodes_layerwise(model, data, device=device, chunk_size=chunk_size)
    return embed_nodes(model, data, device=device)
