"""Augmentors on hand-built graphs: what is hidden, in which direction, and what is returned."""
from __future__ import annotations

import pytest
import torch

from graphemb.augment import (
    Compose,
    EdgeDropping,
    EdgeMasking,
    FeatureMasking,
    PathMasking,
    View,
    random_walk_edges,
    sample_nodes,
)


def undirected(pairs):
    ei = torch.tensor(pairs).t()
    return torch.cat([ei, ei.flip(0)], 1)


def pair_set(ei):
    return {(min(u, v), max(u, v)) for u, v in ei.t().tolist()}


PATH = undirected([(0, 1), (1, 2), (2, 3), (3, 4)])  # a path 0-1-2-3-4


def test_feature_masking_zeroes_whole_columns():
    torch.manual_seed(0)
    x = torch.arange(1.0, 31.0).view(5, 6)
    v = FeatureMasking(0.5)(x, PATH)
    zero_cols = (v.x == 0).all(0)
    assert 0 < int(zero_cols.sum()) < 6  # some, not all, columns at p = 0.5 with this seed
    assert torch.equal(v.x[:, ~zero_cols], x[:, ~zero_cols])  # the rest untouched
    assert torch.equal(v.edge_index, PATH) and v.masked_nodes is None


def test_feature_masking_extremes():
    x = torch.ones(3, 4)
    assert torch.equal(FeatureMasking(0.0)(x, PATH).x, x)
    assert torch.equal(FeatureMasking(1.0)(x, PATH).x, torch.zeros(3, 4))
    with pytest.raises(ValueError, match="in \\[0, 1\\]"):
        FeatureMasking(1.5)


def test_edge_dropping_partitions_directed_edges():
    torch.manual_seed(1)
    ei = undirected([(i, i + 1) for i in range(50)])
    v = EdgeDropping(0.3)(torch.zeros(51, 1), ei)
    kept = set(map(tuple, v.edge_index.t().tolist()))
    dropped = set(map(tuple, v.masked_edges.t().tolist()))
    assert kept | dropped == set(map(tuple, ei.t().tolist())) and not kept & dropped
    # directed: some pair keeps exactly one direction (with 100 edges at p = 0.3 this happens)
    assert any((v_, u) not in kept for u, v_ in kept)


def test_edge_dropping_undirected_keeps_pairs_whole():
    torch.manual_seed(1)
    ei = undirected([(i, i + 1) for i in range(50)])
    v = EdgeDropping(0.3, undirected=True)(torch.zeros(51, 1), ei)
    kept = set(map(tuple, v.edge_index.t().tolist()))
    assert all((b, a) in kept for a, b in kept)
    assert 0 < v.masked_edges.size(1) < ei.size(1)


def test_edge_masking_hides_targets_in_both_directions():
    torch.manual_seed(0)
    ei = undirected([(i, j) for i in range(8) for j in range(i + 1, 8)])  # K8, 28 pairs
    v = EdgeMasking(0.5)(torch.zeros(8, 1), ei)
    masked = pair_set(v.masked_edges)
    visible = pair_set(v.edge_index)
    assert masked and visible and not masked & visible  # a masked pair never visible
    assert masked | visible == pair_set(ei)
    assert v.masked_edges.size(1) == len(masked)  # one column per pair, u <= v
    assert bool((v.masked_edges[0] <= v.masked_edges[1]).all())
    assert v.edge_index.size(1) == 2 * len(visible)  # visible pairs keep both directions


def test_edge_masking_all_and_none():
    x = torch.zeros(5, 1)
    assert EdgeMasking(1.0)(x, PATH).edge_index.size(1) == 0
    v = EdgeMasking(0.0)(x, PATH)
    assert torch.equal(v.edge_index, PATH) and v.masked_edges.size(1) == 0


def test_random_walk_follows_edges_and_stops_on_isolated_nodes():
    torch.manual_seed(0)
    ei = PATH
    walks = random_walk_edges(ei, 6, torch.tensor([0, 4, 5]), walk_length=4)  # node 5 is isolated
    assert walks.shape == (3, 4)
    assert (walks[2] == -1).all()
    for w, s in zip(walks[:2], (0, 4)):
        cur = s
        for e in w.tolist():  # consecutive edges chain: source of step t = target of step t-1
            assert ei[0, e].item() == cur
            cur = ei[1, e].item()
    # from 0 the first step can only be 0 -> 1
    assert tuple(ei[:, walks[0, 0]].tolist()) == (0, 1)


def test_path_masking_masks_walked_pairs_only():
    torch.manual_seed(3)
    star = undirected([(0, i) for i in range(1, 6)])  # a star: every walk goes through 0
    v = PathMasking(p=0.2, walk_length=1)(torch.zeros(6, 1), star)
    # one root (round(0.2 * 6) = 1), one step: exactly one pair masked
    assert v.masked_edges.size(1) == 1
    masked = pair_set(v.masked_edges)
    assert not masked & pair_set(v.edge_index) and len(pair_set(v.edge_index)) == 4


def test_path_masking_long_walk_masks_a_connected_path():
    torch.manual_seed(0)
    v = PathMasking(p=0.2, walk_length=3)(torch.zeros(5, 1), PATH)  # one root, 3 steps
    masked = pair_set(v.masked_edges)
    assert 1 <= len(masked) <= 3 and not masked & pair_set(v.edge_index)
    nodes = {n for p in masked for n in p}
    assert len(nodes) == len(masked) + 1  # the masked pairs form one path (a tree on a path graph)


def test_path_masking_directed_hiding_is_the_official_bookkeeping():
    """``hide="directed"`` (EdisonLeeeee/MaskGAE ``MaskPath``): the walked directed edges are the
    positives and the unwalked ones are re-symmetrised, so a pair walked one way stays visible."""
    torch.manual_seed(3)
    star = undirected([(0, i) for i in range(1, 6)])
    for _ in range(5):
        v = PathMasking(p=0.2, walk_length=1, hide="directed")(torch.zeros(6, 1), star)
        assert v.masked_edges.size(1) == 1 and 0 in v.masked_edges[:, 0].tolist()  # one directed star edge
        assert pair_set(v.edge_index) == pair_set(star) and v.edge_index.size(1) == star.size(1)
    # a two-step walk 1 -> 0 -> 1 walks both directions of (0, 1): only then the pair is hidden
    two = undirected([(0, 1)])
    v = PathMasking(p=1.0, walk_length=2, hide="directed")(torch.zeros(2, 1), two)
    assert v.edge_index.size(1) == 0 and sorted(map(tuple, v.masked_edges.t().tolist())) == [(0, 1), (1, 0)]
    from graphemb.augment.draws import KeyedDraws
    with pytest.raises(ValueError, match="hide='directed'"):
        PathMasking(hide="directed")(torch.zeros(6, 1), star, KeyedDraws(torch.arange(6), key=1))
    with pytest.raises(ValueError, match="hide"):
        PathMasking(hide="both")


def test_compose_accumulates_masked_edges():
    torch.manual_seed(0)
    ei = undirected([(i, j) for i in range(6) for j in range(i + 1, 6)])
    x = torch.ones(6, 4)
    v = Compose([FeatureMasking(1.0), EdgeMasking(0.3), EdgeMasking(0.3)])(x, ei)
    assert torch.equal(v.x, torch.zeros(6, 4))
    assert pair_set(v.masked_edges) | pair_set(v.edge_index) == pair_set(ei)
    assert not pair_set(v.masked_edges) & pair_set(v.edge_index)


def test_sample_nodes_count_and_distinct():
    torch.manual_seed(0)
    idx = sample_nodes(10, 0.5)
    assert idx.numel() == 5 and idx.unique().numel() == 5
    assert sample_nodes(10, 0.0).numel() == 0


def test_view_is_a_plain_record():
    v = View(torch.zeros(2, 1), torch.zeros(2, 0, dtype=torch.long))
    assert v.num_nodes == 2 and v.masked_edges is None
