"""Native neighbour sampler (vs PyG's), seed mini-batches and the losses they feed."""
from __future__ import annotations

import pytest
import torch
from scipy.stats import chisquare

from graphemb import api
from graphemb.config import TrainConfig
from graphemb.data.synthetic import make_sbm
from graphemb.models import MODELS, IsoCVGAEConfig, neighbourhood_mean
from graphemb.models.base import NodeBatch
from graphemb.nn import EncoderConfig
from graphemb.training import sampling
from graphemb.training.sampling import (global_degree, resolve_sampler, sample_neighbors, sample_subgraph,
                                        seed_batches, subgraph_sampler, to_csr)

HAS_PYG = sampling.pyg_sampling_available()
TINY = ["train.epochs=2", "model.encoder.hidden_channels=8", "train.progress=false"]


def star_forest(num_stars: int, leaves: int) -> torch.Tensor:
    """Centres ``0..num_stars-1``; star ``s`` owns leaves ``num_stars + s * leaves + j``."""
    c = torch.arange(num_stars).repeat_interleave(leaves)
    leaf = num_stars + torch.arange(num_stars * leaves)
    return torch.stack([torch.cat([c, leaf]), torch.cat([leaf, c])])


def _edge_set(sub):
    return set(map(tuple, torch.stack([sub.n_id[sub.edge_index[0]], sub.n_id[sub.edge_index[1]]]).t().tolist()))


@pytest.mark.parametrize("leaves,k", [(20, 5), (100, 5)])  # random-key path and hub (redraw) path
def test_native_choice_is_uniform_and_without_replacement(leaves, k):
    stars = 100
    ei = star_forest(stars, leaves)
    csr = to_csr(ei, stars * (leaves + 1))
    g = torch.Generator().manual_seed(0)
    counts = torch.zeros(leaves)
    for _ in range(20):
        nbr, tgt = sample_neighbors(csr, torch.arange(stars), k, g)
        assert torch.equal(torch.bincount(tgt, minlength=stars), torch.full((stars,), k))
        slot = nbr - stars - tgt * leaves  # which leaf of its star, 0..leaves-1
        assert bool(((slot >= 0) & (slot < leaves)).all())
        assert torch.unique(tgt * leaves + slot).numel() == nbr.numel()  # no repeats per node
        counts += torch.bincount(slot, minlength=leaves).float()
    assert chisquare(counts.numpy()).pvalue > 1e-3


@pytest.mark.skipif(not HAS_PYG, reason="needs pyg-lib or torch-sparse")
def test_pyg_choice_is_uniform_too_and_fanouts_agree():
    stars, leaves, k = 100, 20, 5
    ei = star_forest(stars, leaves)
    from torch_geometric.data import Data

    torch.manual_seed(0)
    pyg = subgraph_sampler(Data(edge_index=ei, num_nodes=stars * (leaves + 1)), [k], "pyg")
    native = subgraph_sampler(Data(edge_index=ei, num_nodes=stars * (leaves + 1)), [k], "native",
                              torch.Generator().manual_seed(0))
    counts = torch.zeros(leaves)
    for _ in range(20):
        a, b = pyg(torch.arange(stars)), native(torch.arange(stars))
        for sub in (a, b):  # same fan-out limit: k neighbours of every centre, seeds first
            assert torch.equal(sub.n_id[:stars], torch.arange(stars))
            assert torch.equal(torch.bincount(sub.edge_index[1], minlength=stars)[:stars], torch.full((stars,), k))
        slot = a.n_id[a.edge_index[0]] - stars - a.n_id[a.edge_index[1]] * leaves
        counts += torch.bincount(slot, minlength=leaves).float()
    assert chisquare(counts.numpy()).pvalue > 1e-3


@pytest.mark.skipif(not HAS_PYG, reason="needs pyg-lib or torch-sparse")
def test_native_and_pyg_give_the_same_subgraph_at_full_fanout_and_the_same_sizes_below():
    d = make_sbm(num_nodes=300, avg_degree=6, feature_dim=2, seed=2)
    seeds = torch.tensor([0, 17, 42, 99])
    a = subgraph_sampler(d, [-1, -1], "native", torch.Generator().manual_seed(0))(seeds)
    b = subgraph_sampler(d, [-1, -1], "pyg")(seeds)
    assert torch.equal(a.n_id[:4], seeds) and set(a.n_id.tolist()) == set(b.n_id.tolist())
    assert _edge_set(a) == _edge_set(b)
    deg = global_degree(d.edge_index, 300).long()
    for name in ("native", "pyg"):
        s = subgraph_sampler(d, [3], name, torch.Generator().manual_seed(0))(seeds)
        per_seed = torch.bincount(s.edge_index[1], minlength=s.n_id.numel())[:4]
        assert torch.equal(per_seed, deg[seeds].clamp(max=3)), name


def test_hops_expand_each_node_once_seeds_first():
    # Path 0-1-2-3-4: from seed 2 with two full hops: {2}, {1, 3}, {0, 4}.
    ei = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    sub = sample_subgraph(to_csr(ei, 5), torch.tensor([2]), [-1, -1])
    assert sub.n_id.tolist() == [2, 1, 3, 0, 4] and sub.num_sampled_nodes == [1, 2, 2]
    # hop 1: 1->2, 3->2; hop 2: neighbours of 1 and 3 (2 again, 0, 4), each edge once.
    assert _edge_set(sub) == {(1, 2), (3, 2), (0, 1), (2, 1), (2, 3), (4, 3)}


def test_auto_falls_back_to_native_without_the_extension(monkeypatch):
    monkeypatch.setattr(sampling, "pyg_sampling_available", lambda: False)
    assert resolve_sampler("auto") == "native"
    with pytest.raises(RuntimeError, match="sampler=native"):
        resolve_sampler("pyg")
    run = api.train("isoc-vgae", "synthetic", task="node",
                    overrides=TINY + ["train.num_neighbors=[5, 5]", "train.batch_size=10",
                                      "data.options={num_nodes: 40, feature_dim: 6}"])
    assert run.embeddings.shape == (40, 8) and torch.isfinite(run.embeddings).all()


@pytest.mark.parametrize("sampler", ["native", pytest.param("pyg", marks=pytest.mark.skipif(
    not HAS_PYG, reason="needs pyg-lib or torch-sparse"))])
def test_link_models_train_on_seed_edges(sampler):
    run = api.train("vgae", "synthetic", task="node",
                    overrides=TINY + ["train.num_neighbors=[4]", "train.batch_size=16", f"train.sampler={sampler}",
                                      "data.options={num_nodes: 60, feature_dim: 6}"])
    assert run.embeddings.shape[0] == 60 and torch.isfinite(run.embeddings).all()


def test_epoch_of_seed_nodes_and_seed_edges():
    d = make_sbm(num_nodes=50, avg_degree=4, feature_dim=3, seed=0)
    deg = global_degree(d.edge_index, 50)
    seen = []
    for b in seed_batches(d, [2], 16, sampler="native")():
        seen.append(b.n_id[b.seed_mask])
        assert torch.equal(b.global_degree, deg[b.n_id]) and torch.equal(b.x, d.x[b.n_id])
        assert torch.equal(b.y, d.y[b.n_id]) and b.global_num_nodes == 50
    assert torch.equal(torch.sort(torch.cat(seen)).values, torch.arange(50))  # each node once
    keys = set((d.edge_index[0] * 50 + d.edge_index[1]).tolist())
    pos_total = 0
    for b in seed_batches(d, [2], 8, seed_kind="edges", sampler="native")():
        pos, neg = b.n_id[b.pos_edge_index], b.n_id[b.neg_edge_index]
        assert all(k in keys for k in (pos[0] * 50 + pos[1]).tolist())
        assert bool((neg[0] != neg[1]).all()) and neg.size(1) == pos.size(1)
        ends = torch.unique(torch.cat([b.pos_edge_index, b.neg_edge_index], 1))
        assert torch.equal(ends, torch.nonzero(b.seed_mask).view(-1))  # endpoints are the seeds
        pos_total += pos.size(1)
    assert pos_total == d.edge_index.size(1) // 2


def test_isoc_degree_target_is_the_full_graph_degree_under_sampling():
    # Star: centre 0 with 6 leaves; fan-out 2 keeps 2 of its 6 neighbours in the batch.
    ei = star_forest(1, 6)
    from torch_geometric.data import Data

    d = Data(x=torch.randn(7, 3), edge_index=ei, num_nodes=7)
    b = next(iter(seed_batches(d, [2], 1, sampler="native", generator=torch.Generator().manual_seed(0))()))
    assert int(b.seed_mask.sum()) >= 1
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(3, IsoCVGAEConfig(
        encoder=EncoderConfig(hidden_channels=4, num_layers=1), decoder_norm=None)).eval()
    nb = NodeBatch.from_data(b)
    out = model(b.x, b.edge_index, nb=nb)
    loss = model.loss(out, b.x, b.edge_index, nb=nb)
    pred = out.extras["decoder"][0].degree.detach()
    truth = global_degree(ei, 7)[b.n_id[b.seed_mask]]
    assert loss.parts["degree"] == pytest.approx(float(((pred - truth) ** 2).mean()), rel=1e-5)
    if int(b.n_id[0]) == 0:  # the centre was the seed: only 2 of its 6 edges are in the batch
        assert b.edge_index.size(1) == 2 and float(truth[0]) == 6.0


def test_sampled_neighbourhood_mean_is_unbiased_and_exact_at_full_fanout():
    ei = star_forest(1, 10)
    h = torch.arange(11, dtype=torch.float).view(-1, 1)  # centre 0, leaves 1..10
    exact = float(neighbourhood_mean(h, ei)[0])
    assert exact == pytest.approx(55 / 11)
    csr, deg = to_csr(ei, 11), global_degree(ei, 11)
    g = torch.Generator().manual_seed(0)
    est = []
    for _ in range(2000):
        sub = sample_subgraph(csr, torch.tensor([0]), [3], g)
        est.append(float(neighbourhood_mean(h[sub.n_id], sub.edge_index, degree=deg[sub.n_id])[0]))
    est = torch.tensor(est)
    assert abs(float(est.mean()) - exact) < 4 * float(est.std()) / 2000 ** 0.5
    full = sample_subgraph(csr, torch.tensor([0]), [-1], g)
    assert float(neighbourhood_mean(h[full.n_id], full.edge_index, degree=deg[full.n_id])[0]) == pytest.approx(exact)


def test_a_model_without_the_contract_is_refused():
    from graphemb.models.base import EmbeddingModel, LossOutput, ModelOutput
    from graphemb.training.trainer import fit

    class Old(EmbeddingModel):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(()))

        def forward(self, x, edge_index, batch=None):
            return ModelOutput(z=x * self.w)

        def loss(self, out, x, edge_index, batch=None):
            return LossOutput(out.z.sum())

    with pytest.raises(ValueError, match="does not support seed mini-batches"):
        fit(Old(), make_sbm(num_nodes=20, feature_dim=2), TrainConfig(epochs=1, num_neighbors=[2], progress=False))


@pytest.mark.parametrize("conv", ["sage", "gat", "gcn"])
def test_layerwise_inference_is_exact_for_every_conv(conv):
    from graphemb.models import GAEConfig
    from graphemb.training.inference import embed_nodes_layerwise

    d = make_sbm(num_nodes=120, avg_degree=5, feature_dim=6, seed=3)
    torch.manual_seed(0)
    model = MODELS.get("gae").from_config(6, GAEConfig(encoder=EncoderConfig(
        conv=conv, hidden_channels=8, num_layers=3, heads=2 if conv == "gat" else 1, norm="batch")))
    model.train()
    model.loss(model(d.x, d.edge_index), d.x, d.edge_index).total.backward()  # BN running stats move
    full = model.embed(d.x, d.edge_index)
    assert torch.allclose(embed_nodes_layerwise(model, d, chunk_size=13), full, rtol=1e-4, atol=1e-5)


def test_training_with_sampling_embeds_layer_by_layer(monkeypatch):
    from graphemb.training import inference

    calls = []
    real = inference.embed_nodes_layerwise
    monkeypatch.setattr(inference, "embed_nodes_layerwise",
                        lambda *a, **k: calls.append(k["chunk_size"]) or real(*a, **k))
    api.train("gae", "synthetic", task="node", overrides=TINY + [
        "train.num_neighbors=[3]", "train.batch_size=32", "train.inference_chunk_size=25",
        "data.options={num_nodes: 60, feature_dim: 6}"])
    assert calls == [25]


def test_sampler_and_precision_are_validated_config_values():
    from graphemb.config import ConfigError, build_run_config

    cfg = build_run_config("gae", overrides=["train.sampler=native", "train.precision=bf16"])
    assert cfg.train.sampler == "native" and cfg.train.precision == "bf16"
    for bad in ("train.sampler=fast", "train.precision=fp16"):
        with pytest.raises(ConfigError, match="is not one of"):
            build_run_config("gae", overrides=[bad])


# --- keyed draws: the random numbers of a seed mini-batch (graphemb.augment.draws) ----------------
from graphemb.augment import EdgeMasking, FeatureMasking, PathMasking  # noqa: E402
from graphemb.augment.draws import GLOBAL, KeyedDraws  # noqa: E402


def test_keyed_draws_follow_global_ids_not_positions():
    a = KeyedDraws(torch.tensor([5, 9, 2, 2**40 + 7]), key=123)
    b = KeyedDraws(torch.tensor([2, 7, 2**40 + 7, 5, 9]), key=123)
    ua, ub = a.nodes(4), b.nodes(5)
    assert torch.equal(ua, ub[[3, 4, 0, 2]])  # node 5, 9, 2, 2^40+7 wherever they sit
    assert not torch.equal(a.nodes(4), KeyedDraws(a.n_id, key=124).nodes(4))  # the key matters
    assert not torch.equal(a.nodes(4), a.fork(1).nodes(4))  # sub-streams differ
    ea = a.edges(torch.tensor([[0, 1], [1, 0]]))  # 5->9, 9->5
    eb = b.edges(torch.tensor([[3, 4], [4, 3]]))
    assert torch.equal(ea, eb) and ea[0] != ea[1]  # directed edges draw apart
    pa = a.pairs(torch.tensor([0 * 4 + 1, 1 * 4 + 0]))  # the pair {5, 9} seen from both sides
    pb = b.pairs(torch.tensor([3 * 5 + 4]))
    assert pa[0] == pa[1] == pb[0]
    # "a random node" comes from the pool (seeds), by global id: the same source row in both
    pool_a, pool_b = KeyedDraws(a.n_id, 1, pool=torch.tensor([0, 1])), KeyedDraws(b.n_id, 1, pool=torch.tensor([3, 4]))
    src_a = a.n_id[pool_a.source_rows(torch.tensor([2, 3]), 4)]
    src_b = b.n_id[pool_b.source_rows(torch.tensor([0, 2]), 5)]
    assert torch.equal(src_a, src_b) and set(src_a.tolist()) <= {5, 9}


def test_keyed_draws_are_uniform_and_normal():
    d = KeyedDraws(torch.arange(200_000), key=7)
    u = d.nodes(200_000)
    assert 0 < float(u.min()) and float(u.max()) < 1
    assert chisquare(torch.histc(u, bins=20, min=0, max=1).numpy()).pvalue > 1e-3
    x, y = u[:-1], u[1:]  # neighbouring ids are not correlated
    assert abs(float(torch.corrcoef(torch.stack([x, y]))[0, 1])) < 0.01
    z = d.normal_like(torch.zeros(50_000, 4))
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1) < 0.02


def test_global_draws_read_torch_rng_as_the_augmentors_always_did():
    x, ei = torch.randn(6, 8), torch.tensor([[0, 1, 1, 2, 3, 4], [1, 0, 2, 1, 4, 3]])
    torch.manual_seed(3)
    v = FeatureMasking(0.5)(x, ei)
    torch.manual_seed(3)
    assert torch.equal(v.x, x * (torch.rand(8) >= 0.5).float())
    torch.manual_seed(3)
    m = EdgeMasking(0.5)(x, ei)
    torch.manual_seed(3)
    uniq, inv = torch.unique(torch.minimum(ei[0], ei[1]) * 6 + torch.maximum(ei[0], ei[1]), return_inverse=True)
    hidden = (torch.rand(uniq.numel()) < 0.5)[inv]
    assert torch.equal(m.edge_index, ei[:, ~hidden]) and v.draws is GLOBAL


def test_keyed_path_masking_in_a_subgraph_is_the_full_graphs_masking_nearby():
    """Walks keyed on global ids over neighbour lists in global-id order: inside a full
    fan-out subgraph the pairs near the seeds are masked exactly as on the full graph."""
    from model_cases import ring_graph

    d = ring_graph(n=80)
    n, aug = 80, PathMasking(0.3, walk_length=3)
    seeds = torch.tensor([10, 50])
    sub = sample_subgraph(to_csr(d.edge_index, n), seeds, [-1] * 6)
    full = aug(d.x, d.edge_index, KeyedDraws(torch.arange(n), key=99))
    mini = aug(d.x[sub.n_id], sub.edge_index, KeyedDraws(sub.n_id, key=99))

    def hidden_pairs(view, ids, universe):
        g = ids[view.masked_edges]
        return {p for p in map(tuple, torch.sort(g, 0).values.t().tolist()) if set(p) <= universe}

    near = set(sample_subgraph(to_csr(d.edge_index, n), seeds, [-1] * 2).n_id.tolist())
    h_full, h_mini = hidden_pairs(full, torch.arange(n), near), hidden_pairs(mini, sub.n_id, near)
    assert h_full and h_full == h_mini
    assert len(hidden_pairs(full, torch.arange(n), set(range(n)))) < d.edge_index.size(1) // 2  # not everything
