"""Seeded splits and the one negative sampler of the library.

``link_split`` follows the GAE protocol (Kipf & Welling 2016, 85/5/10): positives are the
graph's undirected edges, split once (:func:`split_edges`); negatives are sampled uniformly among
the non-edges of the FULL graph (never an edge of any split, never a self loop), deduplicated,
disjoint between val and test, and exactly as many as the positives of each split
(:func:`sample_negatives`). Ranking protocols that corrupt the tail of each query (MAG link
prediction) draw *filtered* tails with :func:`sample_corrupted_tails`: never the head itself and
never a known tail of the head. Sampling is vectorised: draw in bulk, reject on an integer key
``u * N + v`` with ``torch.isin``, dedupe, redraw only the shortfall. Every function takes an
explicit ``torch.Generator``: the same seed gives the same pairs, the global RNG is untouched.
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


def _pair_keys(edge_index: Optional[Tensor], num_nodes: int) -> Tensor:
    """Sorted unique keys ``u * N + v`` of the (directed) pairs ``edge_index`` ``[2, E]``."""
    if edge_index is None or edge_index.numel() == 0:
        return torch.zeros(0, dtype=torch.long)
    e = torch.as_tensor(edge_index).long().cpu()
    return torch.unique(e[0] * num_nodes + e[1])


def sample_negatives(
    exclude: Optional[Tensor], num_nodes: int, num_samples: int, generator: torch.Generator, max_rounds: int = 100
) -> Tensor:
    """``num_samples`` distinct undirected non-edges, uniform among all pairs ``u < v`` that are
    not in ``exclude`` (either direction) and not self loops.

    Args:
        exclude: ``[2, E]`` pairs that are never returned (edges of the graph, either or both
            directions), or ``None``.
        num_nodes: ``N``; num_samples: how many pairs; generator: the only randomness used.
    Returns:
        ``[2, num_samples]`` pairs with ``u < v``, in random order.
    Raises:
        ValueError: fewer than ``num_samples`` such pairs exist.
    """
    n = int(num_nodes)
    if exclude is None:
        exclude = torch.zeros(2, 0, dtype=torch.long)
    existing = torch.unique(undirected_pairs(torch.as_tensor(exclude).long().cpu(), n)
                            .mul(torch.tensor([[n], [1]])).sum(0))
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


def sample_corrupted_tails(
    heads: Tensor,
    num_nodes: int,
    k: int,
    generator: torch.Generator,
    exclude: Optional[Tensor] = None,
    max_rounds: int = 100,
) -> Tensor:
    """``k`` distinct corrupted tails per query head, *filtered*: a tail ``t`` of head ``h`` is
    never ``h`` itself and never a pair ``(h, t)`` of ``exclude``.

    For a filtered ranking pass every known positive (train, val and test edges, both
    directions for an undirected graph) as ``exclude``: a true tail is then never counted as a
    negative (Bordes et al. 2013's "filtered" setting; OGB's ``ogbl-citation2`` negatives).

    Args:
        heads: ``[Q]`` head node of each query.
        num_nodes: ``N``; k: tails per query; generator: the only randomness used.
        exclude: ``[2, E]`` directed pairs ``(head, tail)`` that are not negatives, or ``None``.
    Returns:
        ``[Q, k]`` tails, uniform among the allowed tails of each head, distinct within a row.
    Raises:
        ValueError: a head has fewer than ``k`` allowed tails (names the head and the count).
    """
    n = int(num_nodes)
    heads = torch.as_tensor(heads).long().cpu().view(-1)
    q = heads.numel()
    if k <= 0 or q == 0:
        return torch.zeros(q, max(k, 0), dtype=torch.long)
    excluded = _pair_keys(exclude, n)
    # allowed tails per head: N - 1 minus the distinct excluded tails other than the head itself
    ex_h, ex_t = excluded // n, excluded % n
    banned = torch.bincount(ex_h[ex_h != ex_t], minlength=n)
    allowed = (n - 1) - banned[heads]
    if bool((allowed < k).any()):
        bad = int(torch.nonzero(allowed < k)[0])
        raise ValueError(f"cannot draw {k} filtered negative tails for head node {int(heads[bad])}: it has only "
                         f"{int(allowed[bad])} non-neighbours; lower num_negatives")
    rows_out, tails_out = [], []
    need = torch.full((q,), k, dtype=torch.long)
    taken = torch.zeros(0, dtype=torch.long)  # keys query * N + tail already drawn
    for _ in range(max_rounds):
        if int(need.sum()) == 0:
            break
        draws = torch.where(need > 0, 2 * need + 4, torch.zeros_like(need))
        rows = torch.repeat_interleave(torch.arange(q), draws)
        tails = torch.randint(0, n, (rows.numel(),), generator=generator)
        h = heads[rows]
        ok = (tails != h) & ~torch.isin(h * n + tails, excluded)
        rows, tails = rows[ok], tails[ok]
        key = rows * n + tails
        ok = ~torch.isin(key, taken)
        rows, tails, key = rows[ok], tails[ok], key[ok]
        # first draw of each (query, tail), kept in draw order
        uniq, inv = torch.unique(key, return_inverse=True)
        first = torch.full((uniq.numel(),), key.numel(), dtype=torch.long).scatter_reduce(
            0, inv, torch.arange(key.numel()), reduce="amin")
        keep = first.sort().values
        rows, tails, key = rows[keep], tails[keep], key[keep]
        # at most need[query] per query, earliest draws first
        order = torch.argsort(rows, stable=True)
        sr = rows[order]
        counts = torch.bincount(sr, minlength=q)
        rank = torch.arange(sr.numel()) - (torch.cumsum(counts, 0) - counts)[sr]
        sel = order[rank < need[sr]]
        rows_out.append(rows[sel])
        tails_out.append(tails[sel])
        taken = torch.cat([taken, key[sel]])
        need -= torch.bincount(rows[sel], minlength=q)
    else:
        if int(need.sum()) > 0:
            raise RuntimeError(f"filtered tail sampling left {int(need.sum())} of {q * k} tails undrawn after "
                               f"{max_rounds} rounds (graph too dense); lower num_negatives")
    rows, tails = torch.cat(rows_out), torch.cat(tails_out)
    return tails[torch.argsort(rows, stable=True)].view(q, k)


def split_edges(edge_index: Tensor, num_nodes: int, val_ratio: float, test_ratio: float,
                generator: torch.Generator) -> Tuple[Tensor, Tensor, Tensor]:
    """Random split of the undirected edges into ``(train_pos, val_pos, test_pos)``, each
    ``[2, E_*]`` with ``u < v``; val and test take ``floor(ratio * E)`` edges, train the rest
    (sorted by ``u * N + v``)."""
    if not (0 <= val_ratio and 0 <= test_ratio and val_ratio + test_ratio < 1):
        raise ValueError(f"need 0 <= val_ratio, test_ratio and val_ratio + test_ratio < 1, "
                         f"got {val_ratio}, {test_ratio}")
    n = int(num_nodes)
    pos = undirected_pairs(edge_index, n)
    e = pos.size(1)
    n_val, n_test = int(e * val_ratio), int(e * test_ratio)
    perm = torch.randperm(e, generator=generator)
    test_pos = pos[:, perm[:n_test]]
    val_pos = pos[:, perm[n_test:n_test + n_val]]
    train_pos = pos[:, perm[n_test + n_val:]]
    train_pos = train_pos[:, torch.argsort(train_pos[0] * n + train_pos[1])]
    return train_pos, val_pos, test_pos


def link_split(data: Data, val_ratio: float = 0.05, test_ratio: float = 0.10, seed: int = 0) -> LinkSplit:
    """Split the undirected edges of ``data`` into train/val/test and sample balanced negatives.

    Args:
        data: a graph with undirected ``edge_index`` (either or both directions).
        val_ratio, test_ratio: fractions of undirected edges held out (``floor`` of the count).
        seed: seeds the edge permutation and the negative sampling.
    Returns:
        :class:`LinkSplit`; ``train_data`` keeps every node attribute of ``data``.
    """
    n = int(data.num_nodes)
    g = torch.Generator().manual_seed(seed)
    train_pos, val_pos, test_pos = split_edges(data.edge_index, n, val_ratio, test_ratio, g)
    n_val, n_test = val_pos.size(1), test_pos.size(1)
    neg = sample_negatives(data.edge_index, n, n_val + n_test, g)
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
