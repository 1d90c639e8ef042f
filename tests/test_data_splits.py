"""Splits, validation, default features, synthetic generators and the GIN parser, on tiny graphs."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

from graphemb.data import (link_split, load_dataset, random_split_indices, stratified_kfold,
                           validate_graph)
from graphemb.data.features import default_features, degree_buckets, degree_onehot, featurize_graphs
from graphemb.data.splits import undirected_pairs
from graphemb.data.synthetic import make_sbm, make_sbm_graphs
from graphemb.data.tu import gin_graphs, parse_gin_file, read_gin_folds


def _keys(pairs: torch.Tensor, n: int) -> set:
    return set((pairs[0] * n + pairs[1]).tolist())


def _ring_with_chords(n: int = 30) -> Data:
    """Ring 0-1-..-(n-1)-0 plus chords i -- i+5 for even i: n + n/2 undirected edges."""
    i = torch.arange(n)
    ring = torch.stack([i, (i + 1) % n])
    ev = i[::2]
    chords = torch.stack([ev, (ev + 5) % n])
    e = torch.cat([ring, chords], 1)
    return Data(x=torch.randn(n, 3), edge_index=torch.cat([e, e.flip(0)], 1), y=i % 2, num_nodes=n)


# ----------------------------------------------------------------------------- link split

def test_link_split_properties():
    data = _ring_with_chords(30)  # 45 undirected edges
    n = 30
    s = link_split(data, val_ratio=0.1, test_ratio=0.2, seed=3)
    assert (s.val_pos.size(1), s.test_pos.size(1), s.train_pos.size(1)) == (4, 9, 32)  # floor(4.5), floor(9)
    assert s.val_neg.size(1) == 4 and s.test_neg.size(1) == 9
    all_pos = _keys(undirected_pairs(data.edge_index, n), n)
    tr, va, te = _keys(s.train_pos, n), _keys(s.val_pos, n), _keys(s.test_pos, n)
    assert tr | va | te == all_pos and not (tr & va) and not (tr & te) and not (va & te)
    # train_data holds exactly the training edges, both directions: no val/test leakage.
    t = s.train_data.edge_index
    assert t.size(1) == 64 and _keys(undirected_pairs(t, n), n) == tr
    assert set((t[0] * n + t[1]).tolist()) == set((t[1] * n + t[0]).tolist())
    assert torch.equal(s.train_data.x, data.x) and s.train_data.num_nodes == n
    # Negatives: true non-edges of the FULL graph, u < v, no self loops, unique, disjoint.
    for neg in (s.val_neg, s.test_neg):
        assert bool((neg[0] < neg[1]).all())
        assert not (_keys(neg, n) & all_pos)
        assert len(_keys(neg, n)) == neg.size(1)
    assert not (_keys(s.val_neg, n) & _keys(s.test_neg, n))
    for pos in (s.train_pos, s.val_pos, s.test_pos):
        assert bool((pos[0] < pos[1]).all())
    again = link_split(data, val_ratio=0.1, test_ratio=0.2, seed=3)
    assert torch.equal(again.test_pos, s.test_pos) and torch.equal(again.test_neg, s.test_neg)
    other = link_split(data, val_ratio=0.1, test_ratio=0.2, seed=4)
    assert not torch.equal(other.test_pos, s.test_pos)


def test_link_split_too_dense_for_negatives():
    k4 = torch.combinations(torch.arange(4)).t()
    data = Data(edge_index=torch.cat([k4, k4.flip(0)], 1), num_nodes=4)
    with pytest.raises(ValueError, match="non-edges"):
        link_split(data, val_ratio=0.2, test_ratio=0.2)


# ----------------------------------------------------------------------------- index splits

def test_stratified_kfold_and_random_split():
    y = torch.tensor([0] * 20 + [1] * 10)
    folds = stratified_kfold(y, k=5, seed=0)
    tests = torch.cat([te for _, te in folds])
    assert sorted(tests.tolist()) == list(range(30))
    for tr, te in folds:
        assert torch.bincount(y[te]).tolist() == [4, 2] and not set(tr.tolist()) & set(te.tolist())

    a, b, c = random_split_indices(30, (0.5, 0.2, 0.3), seed=1, stratify=y)
    assert torch.bincount(y[a]).tolist() == [10, 5] and torch.bincount(y[b]).tolist() == [4, 2]
    assert torch.bincount(y[c]).tolist() == [6, 3]
    assert sorted(torch.cat([a, b, c]).tolist()) == list(range(30))
    p, q = random_split_indices(10, (0.35, 0.25), seed=1)  # floor(3.5), floor(6) - 3
    assert (p.numel(), q.numel()) == (3, 3) and not set(p.tolist()) & set(q.tolist())
    assert torch.equal(random_split_indices(30, seed=5)[0], random_split_indices(30, seed=5)[0])
    with pytest.raises(ValueError, match="sum to at most 1"):
        random_split_indices(10, (0.8, 0.3))


# ----------------------------------------------------------------------------- validation

def test_validate_graph_errors_and_isolated():
    ok = Data(x=torch.ones(4, 2), edge_index=torch.tensor([[0, 1], [1, 0]]))
    rep = validate_graph(ok)
    assert rep.num_isolated == 2 and rep.isolated.tolist() == [2, 3] and rep.num_edges == 2
    with pytest.warns(UserWarning, match="2 isolated"):
        validate_graph(ok, warn=True)
    with pytest.raises(ValueError, match="empty graph"):
        validate_graph(Data(x=torch.zeros(0, 2), edge_index=torch.zeros(2, 0, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"out of range for 4 nodes \(min 0, max 7\)"):
        validate_graph(Data(x=torch.ones(4, 2), edge_index=torch.tensor([[0, 7], [1, 0]])))
    bad = torch.ones(4, 2)
    bad[1, 0] = float("nan")
    bad[3, 1] = float("inf")
    with pytest.raises(ValueError, match="NaN/inf in rows 1, 3"):
        validate_graph(Data(x=bad, edge_index=ok.edge_index))
    with pytest.raises(ValueError, match="x.float"):
        validate_graph(Data(x=torch.ones(4, 2, dtype=torch.long), edge_index=ok.edge_index))
    with pytest.raises(ValueError, match="int64"):
        validate_graph(Data(x=torch.ones(4, 2), edge_index=ok.edge_index.float()))
    with pytest.raises(ValueError, match="3 rows but the graph has 4"):
        validate_graph(Data(x=torch.ones(3, 2), edge_index=ok.edge_index, num_nodes=4))


# ----------------------------------------------------------------------------- features

def test_degree_features_hand_computed():
    # Star with centre 0 and leaves 1..5, plus isolated node 6: degrees [5,1,1,1,1,1,0].
    leaves = torch.arange(1, 6)
    e = torch.stack([torch.zeros(5, dtype=torch.long), leaves])
    ei = torch.cat([e, e.flip(0)], 1)
    x, note = default_features(ei, 7, "degree", cap=3)
    assert x.shape == (7, 3) and x.argmax(1).tolist() == [2, 1, 1, 1, 1, 1, 0] and "cap 3" in note
    x, _ = default_features(ei, 7, "degree", cap=64)
    assert x.shape == (7, 6) and x.argmax(1).tolist() == [5, 1, 1, 1, 1, 1, 0]  # max degree 5 < cap
    assert degree_buckets(5, 64) == 6 and degree_onehot(torch.tensor([0, 9]), 3).tolist() == [[1, 0, 0], [0, 0, 1]]
    x, note = default_features(ei, 7, "constant")
    assert torch.equal(x, torch.ones(7, 1)) and note == "constant 1"
    # A set of graphs shares one width (from the largest degree anywhere in the set).
    path = Data(edge_index=torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]]), num_nodes=3)
    star = Data(edge_index=ei, num_nodes=7)
    xs, _ = featurize_graphs([path, star], "degree", cap=64)
    assert [t.shape for t in xs] == [(3, 6), (7, 6)] and xs[0].argmax(1).tolist() == [1, 2, 1]
    with pytest.raises(ValueError, match="features must be one of"):
        default_features(ei, 7, "random")


# ----------------------------------------------------------------------------- synthetic

def test_synthetic_sbm_deterministic_and_homophilous():
    a = make_sbm(num_nodes=60, num_classes=3, p_in=0.3, p_out=0.01, feature_dim=4, seed=7)
    b = make_sbm(num_nodes=60, num_classes=3, p_in=0.3, p_out=0.01, feature_dim=4, seed=7)
    c = make_sbm(num_nodes=60, num_classes=3, p_in=0.3, p_out=0.01, feature_dim=4, seed=8)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.edge_index, c.edge_index)
    ei = a.edge_index
    assert bool((ei[0] != ei[1]).all()) and _keys(ei, 60) == _keys(ei.flip(0), 60)
    # Expected intra-class edges 3 * C(20,2) * 0.3 = 171, inter 1200 * 0.01 = 12.
    intra = float((a.y[ei[0]] == a.y[ei[1]]).float().mean())
    assert intra > 0.8
    assert torch.bincount(a.y).tolist() == [20, 20, 20]
    m = a.train_mask.int() + a.val_mask.int() + a.test_mask.int()
    assert bool((m == 1).all()) and int(a.train_mask.sum()) == 36
    ds = load_dataset("synthetic", num_nodes=60, num_classes=3, seed=7, feature_dim=4, p_in=0.3, p_out=0.01)
    assert ds.level == "node" and torch.equal(ds.data.edge_index, a.edge_index) and ds.num_classes == 3


def test_synthetic_graphs_blocks_follow_label():
    gs = make_sbm_graphs(num_graphs=12, num_nodes=16, num_classes=3, p_in=1.0, p_out=0.0, seed=1)
    assert [int(g.graph_id) for g in gs] == list(range(12))
    assert torch.bincount(torch.cat([g.y for g in gs])).tolist() == [4, 4, 4]
    for g in gs:
        # p_in = 1, p_out = 0: the graph is exactly c + 1 disjoint cliques (blocks v % (c + 1)).
        c, n = int(g.y), g.num_nodes
        blocks = torch.arange(n) % (c + 1)
        sizes = torch.bincount(blocks)
        assert g.edge_index.size(1) == int((sizes * (sizes - 1)).sum())
        assert bool((blocks[g.edge_index[0]] == blocks[g.edge_index[1]]).all())
    again = load_dataset("synthetic-graphs", num_graphs=12, num_nodes=16, num_classes=3, p_in=1.0, p_out=0.0, seed=1)
    assert all(torch.equal(a.x, b.x) for a, b in zip(gs, again.graphs))


# ----------------------------------------------------------------------------- GIN format

def test_gin_parser_and_folds(tmp_path):
    (tmp_path / "T.txt").write_text(
        "2\n"
        "3 5\n"  # graph 0: path 0-1-2, label 5
        "7 1 1\n7 2 0 2\n9 1 1\n"
        "2 -1\n"  # graph 1: edge 0-1, label -1
        "9 1 1\n7 1 0\n"
    )
    (tmp_path / "10fold_idx").mkdir()
    (tmp_path / "10fold_idx" / "train_idx-1.txt").write_text("0\n")
    (tmp_path / "10fold_idx" / "test_idx-1.txt").write_text("1\n")
    p = parse_gin_file(tmp_path / "T.txt")
    assert p["num_nodes"].tolist() == [3, 2] and p["label"].tolist() == [5, -1]
    assert p["edge_index"].tolist() == [[0, 1, 1, 2, 0, 1], [1, 0, 2, 1, 1, 0]]
    graphs, has_x = gin_graphs(p)
    assert has_x and [int(g.y) for g in graphs] == [1, 0]  # sorted labels: -1 -> 0, 5 -> 1
    assert graphs[0].x.tolist() == [[1, 0], [1, 0], [0, 1]] and graphs[1].x.tolist() == [[0, 1], [1, 0]]
    folds = read_gin_folds(tmp_path)
    assert len(folds) == 1 and folds[0][0].tolist() == [0] and folds[0][1].tolist() == [1]
    (tmp_path / "B.txt").write_text("1\n2 0\n0 2 1\n0 0\n")
    with pytest.raises(ValueError, match="degree 2 but 1 neighbours"):
        parse_gin_file(tmp_path / "B.txt")
