"""Built-in stochastic block model (SBM) data that needs no files, drawn in O(E).

* ``synthetic`` (node level): one (degree-corrected) SBM graph, block = class; features
  ``x_v = mu_{y_v} + noise * eps`` with class means ``mu_c ~ N(0, I_d)``; stratified 60/20/20
  train/val/test masks. Sized either by ``avg_degree`` (+ ``homophily``, the expected fraction of
  edges inside a class) or by the classical ``p_in`` / ``p_out`` edge probabilities.
* ``synthetic-graphs`` (graph level): each graph of class ``c`` is an SBM with ``c + 1`` blocks
  (class 0 is Erdos-Renyi with ``p_in``; more blocks = sparser, more modular graphs); node
  features ``mu_c + noise * eps``; sizes uniform in ``[num_nodes // 2, num_nodes]``.

Edges are never drawn pair by pair (that is O(N^2)): :func:`sbm_edges` draws the number of
edges of every block pair, then their endpoints (Karrer & Newman 2011, "Stochastic blockmodels
and community structure in networks", arXiv 1008.3926), so a 1M-node / 10M-edge graph builds
in seconds. Everything is drawn from one ``torch.Generator`` seeded by ``seed``: same seed,
same dataset.
"""
from __future__ import annotations

from typing import Any, List, Optional

import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset
from graphemb.data.splits import random_split_indices


def powerlaw_weights(n: int, exponent: float, generator: torch.Generator) -> Tensor:
    r"""Degree propensities ``theta [n]`` with a power-law tail :math:`P(\theta > t) \propto
    t^{-(\gamma - 1)}` (Pareto, minimum 1), so expected degrees follow :math:`P(k) \propto
    k^{-\gamma}`; capped at ``sqrt(n) * 10`` so a few hubs cannot absorb every edge."""
    if exponent <= 2:
        raise ValueError(f"degree_exponent must be > 2 (finite mean degree), got {exponent}")
    u = 1.0 - torch.rand(n, generator=generator, dtype=torch.float64)  # (0, 1]
    return u.pow(-1.0 / (exponent - 1.0)).clamp(max=10.0 * max(n, 1) ** 0.5)


def _pair_capacity(sizes: Tensor, a: Tensor, b: Tensor) -> Tensor:
    """Number of distinct undirected node pairs between blocks ``a`` and ``b`` (``a <= b``)."""
    na, nb = sizes[a].double(), sizes[b].double()
    return torch.where(a == b, na * (na - 1) / 2, na * nb)


def sbm_edges(
    blocks: Tensor,
    expected: Tensor,
    generator: torch.Generator,
    theta: Optional[Tensor] = None,
    max_rounds: int = 30,
) -> Tensor:
    r"""Undirected (degree-corrected) SBM edges in O(E): both directions, coalesced, no self
    loops, no duplicates.

    For every block pair ``a <= b`` the number of edges is ``Binomial(C_ab, M_ab / C_ab)`` with
    ``C_ab`` the number of distinct pairs and ``M_ab = expected[a, b]`` (the mean); endpoints are
    then drawn inside the two blocks with probability proportional to ``theta`` (uniform when
    ``None``). Self loops and repeated pairs are dropped and only the shortfall of each block
    pair is redrawn (at most ``max_rounds`` times, so extremely dense or hub-heavy blocks can end
    a few edges short). With uniform ``theta`` this is exactly the classical SBM: each pair of
    blocks ``a, b`` is an edge independently with probability ``M_ab / C_ab``. Cost
    ``O(E log N)`` time (one ``searchsorted`` per endpoint) and ``O(N + E + K^2)`` memory.

    Args:
        blocks: block of each node ``[N]`` (values ``0..K-1``).
        expected: ``[K, K]`` expected number of undirected edges per block pair (the upper
            triangle is read; ``expected[a, a]`` are edges inside block ``a``).
        theta: optional positive degree propensities ``[N]``.
    Returns:
        ``edge_index [2, 2E]`` sorted by (row, col).
    """
    n = blocks.numel()
    k = int(blocks.max()) + 1 if n else 0
    if n < 2 or k == 0:
        return torch.zeros(2, 0, dtype=torch.long)
    if expected.shape != (k, k):
        raise ValueError(f"expected must be [{k}, {k}] for {k} blocks, got {tuple(expected.shape)}")
    blocks = blocks.long()
    sizes = torch.bincount(blocks, minlength=k)
    order = torch.argsort(blocks, stable=True)  # nodes grouped by block
    start = torch.cumsum(sizes, 0) - sizes
    a, b = torch.triu_indices(k, k)
    cap = _pair_capacity(sizes, a, b)
    mean = expected.double()[a, b].clamp(min=0)
    prob = torch.where(cap > 0, (mean / cap.clamp(min=1)).clamp(max=1.0), torch.zeros_like(mean))
    target = torch.binomial(cap, prob, generator=generator).long()  # edges per block pair
    if theta is not None:
        w = theta.double()[order]
        cum = torch.cumsum(w, 0)
        wstart = torch.cat([cum.new_zeros(1), cum])[start]  # mass before each block
        wsize = torch.zeros(k, dtype=torch.float64).index_add_(0, blocks, theta.double())

    def draw(block_of_edge: Tensor) -> Tensor:
        r = torch.rand(block_of_edge.numel(), generator=generator, dtype=torch.float64)
        if theta is None:
            pos = start[block_of_edge] + (r * sizes[block_of_edge]).long().clamp(
                max=sizes[block_of_edge] - 1)
        else:
            pos = torch.searchsorted(cum, wstart[block_of_edge] + r * wsize[block_of_edge], right=True)
            lo, hi = start[block_of_edge], start[block_of_edge] + sizes[block_of_edge] - 1
            pos = torch.minimum(torch.maximum(pos, lo), hi)  # guards float round-off at the block ends
        return order[pos]

    pair_id = torch.arange(a.numel())
    keys = torch.zeros(0, dtype=torch.long)
    have = torch.zeros_like(target)
    for _ in range(max_rounds):
        short = (target - have).clamp(min=0)
        if int(short.sum()) == 0:
            break
        # Uniform draws hit a free pair with chance (C - have) / C: oversample by its inverse
        # (and 10 %) so each round fills about two thirds of what is left, even in dense blocks.
        free = (cap - have.double()).clamp(min=1)
        m = torch.where(short > 0, (short.double() * cap / free * 1.1).ceil().long() + 1, 0)
        pid = torch.repeat_interleave(pair_id, m)
        u, v = draw(a[pid]), draw(b[pid])
        lo, hi = torch.minimum(u, v), torch.maximum(u, v)
        new = (lo * n + hi)[lo != hi]
        new = new[~torch.isin(new, keys)] if keys.numel() else new
        new = torch.unique(new)
        # Keep at most the shortfall of each block pair, in random order.
        new = new[torch.randperm(new.numel(), generator=generator)]
        bu, bv = blocks[new // n], blocks[new % n]
        pidx = _pair_index(torch.minimum(bu, bv), torch.maximum(bu, bv), k)
        srt = torch.argsort(pidx, stable=True)
        new, pidx = new[srt], pidx[srt]
        cnt = torch.bincount(pidx, minlength=a.numel())
        rank = torch.arange(new.numel()) - (torch.cumsum(cnt, 0) - cnt)[pidx]
        keep = rank < short[pidx]
        keys = torch.cat([keys, new[keep]])
        have = have + torch.bincount(pidx[keep], minlength=a.numel())
    keys = torch.sort(keys).values
    u, v = keys // n, keys % n
    ei = torch.cat([torch.stack([u, v]), torch.stack([v, u])], 1)
    return ei[:, torch.argsort(ei[0] * n + ei[1])]


def _pair_index(a: Tensor, b: Tensor, k: int) -> Tensor:
    """Position of block pair ``(a, b)``, ``a <= b``, in ``torch.triu_indices(k, k)`` order."""
    return a * k - a * (a - 1) // 2 + (b - a)


def block_expectations(
    sizes: Tensor,
    *,
    avg_degree: Optional[float] = None,
    homophily: float = 0.8,
    p_in: Optional[float] = None,
    p_out: Optional[float] = None,
) -> Tensor:
    """Expected undirected edges per block pair ``[K, K]`` (upper triangle used).

    Either ``avg_degree`` (mean degree ``2E / N``) with ``homophily`` (expected fraction of edges
    inside a block; shared among blocks in proportion to their pair counts), or the classical
    probabilities ``p_in`` (same block) / ``p_out`` (different blocks).
    """
    k = sizes.numel()
    s = sizes.double()
    inside = s * (s - 1) / 2
    across = torch.triu(s.view(-1, 1) * s.view(1, -1), diagonal=1)
    if avg_degree is not None:
        if p_in is not None or p_out is not None:
            raise ValueError("give either avg_degree (with homophily) or p_in/p_out, not both")
        if avg_degree < 0 or not 0 <= homophily <= 1:
            raise ValueError(f"need avg_degree >= 0 and 0 <= homophily <= 1, got {avg_degree}, {homophily}")
        total = float(s.sum()) * avg_degree / 2
        if k == 1:
            homophily = 1.0
        m_in = inside * (homophily * total / max(float(inside.sum()), 1.0))
        m_out = across * ((1 - homophily) * total / max(float(across.sum()), 1.0))
    else:
        p_in = 0.1 if p_in is None else p_in
        p_out = 0.01 if p_out is None else p_out
        if not (0 <= p_out <= 1 and 0 <= p_in <= 1):
            raise ValueError(f"p_in and p_out must be probabilities, got {p_in}, {p_out}")
        m_in, m_out = inside * p_in, across * p_out
    return torch.diag(m_in) + m_out


def _class_means(num_classes: int, dim: int, g: torch.Generator) -> Tensor:
    return torch.randn(num_classes, dim, generator=g)


def make_sbm(
    num_nodes: int = 300,
    num_classes: int = 3,
    p_in: Optional[float] = None,
    p_out: Optional[float] = None,
    feature_dim: int = 16,
    noise: float = 1.0,
    seed: int = 0,
    avg_degree: Optional[float] = None,
    homophily: float = 0.8,
    degree_exponent: Optional[float] = None,
) -> Data:
    """One (degree-corrected) SBM graph with class-correlated Gaussian features and stratified
    60/20/20 masks, built in O(N + E) (see :func:`sbm_edges`).

    Args:
        num_nodes, num_classes: ``N`` and the number of blocks (= classes, balanced).
        p_in, p_out: edge probability inside / across classes (default ``0.1`` / ``0.01``, used
            when ``avg_degree`` is not given).
        avg_degree: expected mean degree ``2E / N`` (e.g. ``10``); with ``homophily`` (default
            ``0.8``, the expected fraction of intra-class edges).
        degree_exponent: ``None`` (default, Poisson-like degrees) or ``gamma > 2`` for power-law
            degrees (degree-corrected SBM, see :func:`powerlaw_weights`).
        feature_dim, noise: features ``mu_y + noise * N(0, I)``, ``[N, feature_dim]`` float32.
        seed: seeds everything.
    """
    if num_nodes < num_classes or num_classes < 1:
        raise ValueError(f"need num_nodes >= num_classes >= 1, got {num_nodes}, {num_classes}")
    g = torch.Generator().manual_seed(seed)
    y = (torch.arange(num_nodes) % num_classes)[torch.randperm(num_nodes, generator=g)]
    mu = _class_means(num_classes, feature_dim, g)
    x = torch.randn(num_nodes, feature_dim, generator=g).mul_(noise).add_(mu[y])
    theta = powerlaw_weights(num_nodes, degree_exponent, g) if degree_exponent is not None else None
    expected = block_expectations(torch.bincount(y, minlength=num_classes), avg_degree=avg_degree,
                                  homophily=homophily, p_in=p_in, p_out=p_out)
    ei = sbm_edges(y, expected, g, theta=theta)
    tr, va, te = random_split_indices(num_nodes, (0.6, 0.2, 0.2), seed=seed, stratify=y)
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    for m, idx in zip(masks, (tr, va, te)):
        m[idx] = True
    return Data(x=x, edge_index=ei, y=y, train_mask=masks[0], val_mask=masks[1],
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
    """A balanced set of SBM graphs; class ``c`` has ``c + 1`` blocks (see module docstring).

    Each graph's edges come from :func:`sbm_edges` (O(E) per graph; the loop is over graphs).
    """
    if num_nodes < 2 * num_classes:
        raise ValueError(f"num_nodes must be >= 2 * num_classes so halved graphs still hold "
                         f"{num_classes} blocks, got {num_nodes}")
    g = torch.Generator().manual_seed(seed)
    mu = _class_means(num_classes, feature_dim, g)
    labels = (torch.arange(num_graphs) % num_classes)[torch.randperm(num_graphs, generator=g)]
    sizes = torch.randint(max(num_nodes // 2, num_classes), num_nodes + 1, (num_graphs,), generator=g)
    graphs = []
    for i in range(num_graphs):
        c, n = int(labels[i]), int(sizes[i])
        blocks = torch.arange(n) % (c + 1)
        expected = block_expectations(torch.bincount(blocks, minlength=c + 1), p_in=p_in, p_out=p_out)
        ei = sbm_edges(blocks, expected, g)
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
