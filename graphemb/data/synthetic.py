"""Built-in stochastic block model (SBM) data that needs no files.

* ``synthetic`` (node level): one SBM graph, block = class, edge probability ``p_in`` inside a
  class and ``p_out`` across; features ``x_v = mu_{y_v} + noise * eps`` with class means
  ``mu_c ~ N(0, I_d)``; stratified 60/20/20 train/val/test masks.
* ``synthetic-graphs`` (graph level): each graph of class ``c`` is an SBM with ``c + 1`` blocks
  (class 0 is Erdos-Renyi with ``p_in``; more blocks = sparser, more modular graphs); node
  features ``mu_c + noise * eps``; sizes uniform in ``[num_nodes // 2, num_nodes]``.

Everything is drawn from one ``torch.Generator`` seeded by ``seed``: same seed, same dataset.
"""
from __future__ import annotations

from typing import Any, List

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset
from graphemb.data.splits import random_split_indices


def sbm_edges(blocks: Tensor, p_in: float, p_out: float, generator: torch.Generator) -> Tensor:
    """Undirected SBM edges (both directions, coalesced, no self loops) for block labels ``[N]``.

    Rows are drawn in chunks of about 4M pairs so memory stays bounded for large ``N``.
    """
    n = blocks.numel()
    if not (0 <= p_out <= 1 and 0 <= p_in <= 1):
        raise ValueError(f"p_in and p_out must be probabilities, got {p_in}, {p_out}")
    chunk = max(1, (1 << 22) // max(n, 1))
    cols = torch.arange(n)
    parts = []
    for s in range(0, n, chunk):
        rows = torch.arange(s, min(n, s + chunk))
        prob = torch.where(blocks[rows].view(-1, 1) == blocks.view(1, -1), p_in, p_out)
        hit = (torch.rand(rows.numel(), n, generator=generator) < prob) & (cols.view(1, -1) > rows.view(-1, 1))
        r, c = hit.nonzero(as_tuple=True)
        parts.append(torch.stack([rows[r], c]))
    upper = torch.cat(parts, 1) if parts else torch.zeros(2, 0, dtype=torch.long)
    ei = torch.cat([upper, upper.flip(0)], 1)
    order = torch.argsort(ei[0] * n + ei[1])
    return ei[:, order]


def _class_means(num_classes: int, dim: int, g: torch.Generator) -> Tensor:
    return torch.randn(num_classes, dim, generator=g)


def make_sbm(
    num_nodes: int = 300,
    num_classes: int = 3,
    p_in: float = 0.1,
    p_out: float = 0.01,
    feature_dim: int = 16,
    noise: float = 1.0,
    seed: int = 0,
) -> Data:
    """One SBM graph with class-correlated Gaussian features and stratified 60/20/20 masks."""
    if num_nodes < num_classes or num_classes < 1:
        raise ValueError(f"need num_nodes >= num_classes >= 1, got {num_nodes}, {num_classes}")
    g = torch.Generator().manual_seed(seed)
    y = (torch.arange(num_nodes) % num_classes)[torch.randperm(num_nodes, generator=g)]
    mu = _class_means(num_classes, feature_dim, g)
    x = mu[y] + noise * torch.randn(num_nodes, feature_dim, generator=g)
    ei = sbm_edges(y, p_in, p_out, g)
    tr, va, te = random_split_indices(num_nodes, (0.6, 0.2, 0.2), seed=seed, stratify=y)
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, (tr, va, te)):
        m[idx] = True
    return Data(x=x.float(), edge_index=ei, y=y, train_mask=masks[0], val_mask=masks[1],
                test_mask=masks[2], node_id=torch.arange(num_nodes), num_nodes=num_nodes)


def make_sbm_graphs(
    num_graphs: int = 100,
    num_nodes: int = 20,
    num_classes: int = 2,
    p_in: float = 0.5,
    p_out: float = 0.05,
    feature_dim: int = 8,
    noise: float = 1.0,
    seed: int = 0,
) -> List[Data]:
    """A balanced set of SBM graphs; class ``c`` has ``c + 1`` blocks (see module docstring)."""
    if num_nodes < 2 * num_classes:
        raise ValueError(f"num_nodes must be >= 2 * num_classes so halved graphs still hold "
                         f"{num_classes} blocks, got {num_nodes}")
    g = torch.Generator().manual_seed(seed)
    mu = _class_means(num_classes, feature_dim, g)
    labels = (torch.arange(num_graphs) % num_classes)[torch.randperm(num_graphs, generator=g)]
    sizes = torch.randint(max(num_nodes // 2, num_classes), num_nodes + 1, (num_graphs,), generator=g)
    graphs = []
    for i in range(num_graphs):  # one small dense draw per graph; no per-node loop
        c, n = int(labels[i]), int(sizes[i])
        blocks = torch.arange(n) % (c + 1)
        ei = sbm_edges(blocks, p_in, p_out, g)
        x = mu[c] + noise * torch.randn(n, feature_dim, generator=g)
        graphs.append(Data(x=x.float(), edge_index=ei, y=torch.tensor([c]), graph_id=torch.tensor([i]),
                           num_nodes=n))
    return graphs


def _features_option(kwargs: dict) -> None:
    """Synthetic graphs always carry features: ``features="auto"|"auto-constant"`` keep them."""
    kind = kwargs.pop("features", "auto")
    if kind not in ("auto", "auto-constant"):
        raise ValueError(f"synthetic data keep their class-correlated features; features={kind!r} is not supported")


def load_synthetic(name: str = "synthetic", root: Any = None, cache: Any = None, download: bool = True,
                   **kwargs: Any) -> GraphDataset:
    """``synthetic``: node-level SBM (kwargs of :func:`make_sbm`)."""
    _features_option(kwargs)
    data = make_sbm(**kwargs)
    return GraphDataset(name="synthetic", level="node", data=data, num_features=data.x.size(1),
                        num_classes=int(data.y.max()) + 1, source="synthetic",
                        feature_note="class mean + Gaussian noise")


def load_synthetic_graphs(name: str = "synthetic-graphs", root: Any = None, cache: Any = None,
                          download: bool = True, **kwargs: Any) -> GraphDataset:
    """``synthetic-graphs``: graph-level SBM set (kwargs of :func:`make_sbm_graphs`)."""
    _features_option(kwargs)
    graphs = make_sbm_graphs(**kwargs)
    return GraphDataset(name="synthetic-graphs", level="graph", graphs=graphs,
                        num_features=graphs[0].x.size(1),
                        num_classes=int(torch.cat([gr.y for gr in graphs]).max()) + 1,
                        source="synthetic", feature_note="class mean + Gaussian noise")


register_dataset(DatasetSpec("synthetic", "node", "synthetic", load_synthetic))
register_dataset(DatasetSpec("synthetic-graphs", "graph", "synthetic", load_synthetic_graphs))
