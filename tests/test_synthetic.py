"""The O(E) (degree-corrected) SBM generator behind ``synthetic`` / ``synthetic-graphs``."""
from __future__ import annotations

import pytest
import torch

from graphemb.config import build_run_config
from graphemb.data import load_dataset
from graphemb.data.synthetic import block_expectations, make_sbm, sbm_edges


def _check_simple_undirected(ei: torch.Tensor, n: int) -> None:
    assert bool((ei[0] != ei[1]).all()), "self loop"
    key = ei[0] * n + ei[1]
    assert torch.unique(key).numel() == key.numel(), "duplicate edge"
    assert torch.equal(torch.sort(key).values, key), "not coalesced"
    assert torch.equal(torch.sort(ei[1] * n + ei[0]).values, key), "not symmetric"


def test_same_seed_same_graph_other_seed_other_graph():
    kw = dict(num_nodes=3000, num_classes=4, avg_degree=6, feature_dim=8, degree_exponent=2.5)
    a, b, c = make_sbm(seed=3, **kw), make_sbm(seed=3, **kw), make_sbm(seed=4, **kw)
    assert torch.equal(a.edge_index, b.edge_index) and torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.edge_index, c.edge_index)


@pytest.mark.parametrize("homophily", [0.9, 0.3])
def test_edge_count_and_homophily_match_the_targets(homophily):
    n, k = 20000, 5
    d = make_sbm(num_nodes=n, num_classes=k, avg_degree=8, homophily=homophily, feature_dim=2, seed=0)
    _check_simple_undirected(d.edge_index, n)
    e = d.edge_index.size(1) // 2
    # Edge count is a sum of binomials with mean 80000 (sd ~ 280): within 1 %.
    assert abs(e - 80000) < 800
    intra = float((d.y[d.edge_index[0]] == d.y[d.edge_index[1]]).float().mean())
    assert abs(intra - homophily) < 0.01
    # Cross-class edges spread evenly over the 10 class pairs (balanced classes).
    u, v = d.y[d.edge_index[0]], d.y[d.edge_index[1]]
    cross = (u < v)
    counts = torch.bincount(u[cross] * k + v[cross], minlength=k * k).view(k, k)
    upper = counts[torch.triu(torch.ones(k, k, dtype=torch.bool), 1)].double()
    assert float(upper.std() / upper.mean()) < 0.1


def test_probabilities_give_the_classical_sbm_counts():
    # 4 blocks of 500: expected intra 4 * C(500, 2) * 0.02 = 9980, inter 6 * 250000 * 0.001 = 1500.
    blocks = torch.arange(2000) % 4
    m = block_expectations(torch.bincount(blocks), p_in=0.02, p_out=0.001)
    assert float(m[0, 0]) == pytest.approx(0.02 * 500 * 499 / 2) and float(m[0, 1]) == pytest.approx(250.0)
    ei = sbm_edges(blocks, m, torch.Generator().manual_seed(0))
    _check_simple_undirected(ei, 2000)
    same = blocks[ei[0]] == blocks[ei[1]]
    assert abs(int(same.sum()) // 2 - 9980) < 5 * 98  # binomial sd ~ 99
    assert abs(int((~same).sum()) // 2 - 1500) < 5 * 39


def test_power_law_degrees_have_a_heavy_tail_and_the_same_mean():
    kw = dict(num_nodes=20000, num_classes=2, avg_degree=10, feature_dim=2, seed=1)
    flat = torch.bincount(make_sbm(**kw).edge_index[0], minlength=20000)
    heavy_graph = make_sbm(degree_exponent=2.5, **kw)
    _check_simple_undirected(heavy_graph.edge_index, 20000)
    heavy = torch.bincount(heavy_graph.edge_index[0], minlength=20000)
    assert abs(float(heavy.float().mean()) - 10) < 0.3
    # Poisson(10) essentially never exceeds 50; with gamma = 2.5, P(k > 50) = (50 * 3 / 10)^-1.5 ~ 1.7 %.
    assert int((flat > 50).sum()) == 0
    assert 0.008 < float((heavy > 50).float().mean()) < 0.04


def test_options_reach_the_generator_from_config_and_api():
    cfg = build_run_config("gae", dataset="synthetic", overrides=[
        "data.options.num_nodes=1000", "data.options.avg_degree=4", "data.options.num_classes=2",
        "data.options.feature_dim=3"])
    ds = load_dataset(cfg.data.name, **cfg.data.options)
    assert ds.data.x.shape == (1000, 3) and ds.num_classes == 2
    assert abs(ds.data.edge_index.size(1) / 1000 - 4) < 0.4
    with pytest.raises(ValueError, match="either avg_degree"):
        make_sbm(num_nodes=50, avg_degree=4, p_in=0.1)
