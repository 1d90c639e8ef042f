"""Seeded splits: edge split for link prediction, stratified k-fold, random index splits.

``link_split`` follows the GAE protocol (Kipf & Welling 2016, 85/5/10): positives are the
graph's undirected edges, split once; negatives are sampled uniformly among the non-edges of the
FULL graph (never an edge of any split, never a self loop), deduplicated, disjoint between val
and test, and exactly as many as the positives of each split. Sampling is vectorised: draw in
bulk, dedupe on the key ``u * N + v`` (``u < v``), redraw only the shortfall.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data


@dataclass
class LinkSplit:
    """Result of :func:`link_split`; all pair tensors are ``[2, E]`` with ``u < v``.

    Attributes:
        train_data: copy of the input with ``edge_index`` = training edges in both directions.
        train_pos: training edges, one direction.
        val_pos, val_neg, test_pos, test_neg: held-out positives and sampled non-edges.
    """

    train_data: Data
    train_pos: Tensor
    val_pos: Tensor
    val_neg: Tensor
    test_pos: Tensor
    test_neg: Tensor

    @property
    def num_nodes(self) -> int:
        return int(self.train_data.num_nodes)


def undirected_pairs(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Unique ``u < v`` pairs of an edge list (either direction, self loops dropped), ``[2, E]`` sorted."""
    u = torch.minimum(edge_index[0], edge_index[1])
    v = torch.maximum(edge_index[0], edge_index[1])
    keep = u != v
    key = torch.unique(u[keep] * num_nodes + v[keep])
    return torch.stack([key // num_nodes, key % num_nodes])


def sample_non_edges(
    edge_index: Tensor, num_nodes: int, num_samples: int, generator: torch.Generator, max_rounds: int = 100
) -> Tensor:
    """``num_samples`` distinct ``u < v`` non-edges, uniform among all non-edges, ``[2, num_samples]``
    in random order."""
    n = num_nodes
    existing = torch.unique(undirected_pairs(edge_index, n).mul(torch.tensor([[n], [1]])).sum(0))
    available = n * (n - 1) // 2 - existing.numel()
    if num_samples > available:
        raise ValueError(f"cannot sample {num_samples} negative pairs: the graph has only {available} "
                         f"non-edges; lower val_ratio/test_ratio")
    found = torch.zeros(0, dtype=torch.long)
    for _ in range(max_rounds):
        short = num_samples - found.numel()
        if short <= 0:
            break
        m = 2 * short + 64
        a = torch.randint(0, n, (m,), generator=generator)
        b = torch.randint(0, n, (m,), generator=generator)
        u, v = torch.minimum(a, b), torch.maximum(a, b)
        key = (u * n + v)[u != v]
        key = key[~torch.isin(key, existing)]
        found = torch.unique(torch.cat([found, key]))
    else:
        if found.numel() < num_samples:
            raise RuntimeError(f"negative sampling found only {found.numel()} of {num_samples} pairs "
                               f"in {max_rounds} rounds (graph too dense)")
    found = found[torch.randperm(found.numel(), generator=generator)[:num_samples]]
    return torch.stack([found // n, found % n])


def link_split(data: Data, val_ratio: float = 0.05, test_ratio: float = 0.10, seed: int = 0) -> LinkSplit:
    """Split the undirected edges of ``data`` into train/val/test and sample balanced negatives.

    Args:
        data: a graph with undirected ``edge_index`` (either or both directions).
        val_ratio, test_ratio: fractions of undirected edges held out (``floor`` of the count).
        seed: seeds the edge permutation and the negative sampling.
    Returns:
        :class:`LinkSplit`; ``train_data`` keeps every node attribute of ``data``.
    """
    if not (0 <= val_ratio and 0 <= test_ratio and val_ratio + test_ratio < 1):
        raise ValueError(f"need 0 <= val_ratio, test_ratio and val_ratio + test_ratio < 1, "
                         f"got {val_ratio}, {test_ratio}")
    n = int(data.num_nodes)
    g = torch.Generator().manual_seed(seed)
    pos = undirected_pairs(data.edge_index, n)
    e = pos.size(1)
    n_val, n_test = int(e * val_ratio), int(e * test_ratio)
    perm = torch.randperm(e, generator=g)
    test_pos = pos[:, perm[:n_test]]
    val_pos = pos[:, perm[n_test:n_test + n_val]]
    train_pos = pos[:, perm[n_test + n_val:]]
    train_pos = train_pos[:, torch.argsort(train_pos[0] * n + train_pos[1])]
    neg = sample_non_edges(data.edge_index, n, n_val + n_test, g)
    val_neg, test_neg = neg[:, :n_val], neg[:, n_val:]
    train_data = data.clone()
    train_data.edge_index = torch.cat([train_pos, train_pos.flip(0)], 1)
    train_data.num_nodes = n
    for key in ("edge_attr", "edge_weight"):
        if key in train_data:
            del train_data[key]
    return LinkSplit(train_data, train_pos, val_pos, val_neg, test_pos, test_neg)


def stratified_kfold(y: Tensor, k: int = 10, seed: int = 0) -> List[Tuple[Tensor, Tensor]]:
    """Stratified, shuffled ``k``-fold split (scikit-learn's ``StratifiedKFold``): ``[(train_idx, test_idx)] * k``."""
    from sklearn.model_selection import StratifiedKFold

    y_np = torch.as_tensor(y).view(-1).cpu().numpy()
    skf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    return [(torch.from_numpy(tr).long(), torch.from_numpy(te).long())
            for tr, te in skf.split(y_np.reshape(-1, 1), y_np)]


def random_split_indices(
    n: int,
    fractions: Sequence[float] = (0.5, 0.2, 0.3),
    seed: int = 0,
    stratify: Optional[Tensor] = None,
) -> Tuple[Tensor, ...]:
    """Disjoint random index sets of sizes ``floor(f * n)`` (per class when ``stratify`` is given).

    When the fractions sum to 1 the last part takes the remainder, so every index is used.
    Returns one sorted LongTensor per fraction.
    """
    fr = torch.tensor(list(fractions), dtype=torch.float64)
    if (fr < 0).any() or float(fr.sum()) > 1 + 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to at most 1, got {list(fractions)}")
    full = abs(float(fr.sum()) - 1) < 1e-9
    g = torch.Generator().manual_seed(seed)
    groups = torch.zeros(n, dtype=torch.long) if stratify is None else torch.as_tensor(stratify).view(-1).long()
    if groups.numel() != n:
        raise ValueError(f"stratify has {groups.numel()} labels for n={n}")
    _, groups = torch.unique(groups, return_inverse=True)
    # Random order within each group: shuffle, then stable sort by group.
    order = torch.randperm(n, generator=g)
    order = order[torch.argsort(groups[order], stable=True)]
    gs = groups[order]
    counts = torch.bincount(gs)
    start = torch.cumsum(counts, 0) - counts
    rank = torch.arange(n) - start[gs]  # position within its group
    bounds = torch.floor(torch.cumsum(fr, 0).view(1, -1) * counts.view(-1, 1).double()).long()  # [G, P]
    if full:
        bounds[:, -1] = counts
    part = (rank.view(-1, 1) >= bounds[gs]).sum(1)  # index of the part, P = unused
    return tuple(torch.sort(order[part == p]).values for p in range(len(fractions)))
