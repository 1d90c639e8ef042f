"""Fusion, predictors, splits, node classification / link prediction on tiny graphs, the CLI,
and a text-attributed graph with real text embedded by MiniLM."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from graphemb.multimodal.cli import add_subparser, parse_feature_spec
from graphemb.multimodal.data import MultimodalGraph
from graphemb.multimodal.fusion import ConcatFusion, LearnedFusion, MeanFusion
from graphemb.multimodal.predictors import NodePredictor
from graphemb.multimodal.tasks import (NodeTaskConfig, few_shot, link_prediction, node_classification,
                                       random_split)


def test_fusions_by_hand():
    a, b = torch.tensor([[1.0, 2.0], [3.0, 4.0]]), torch.tensor([[5.0], [6.0]])
    assert torch.equal(ConcatFusion([2, 1])([a, b]), torch.tensor([[1.0, 2.0, 5.0], [3.0, 4.0, 6.0]]))
    m = MeanFusion([2, 1], dim=2)
    with torch.no_grad():
        for p in m.proj:
            p.weight.fill_(1.0)
            p.bias.zero_()
    # node 0 has both modalities: mean of (3, 3) and (5, 5); node 1 lacks b: only (7, 7)
    out = m([a, b], [torch.tensor([True, True]), torch.tensor([True, False])])
    assert torch.allclose(out, torch.tensor([[4.0, 4.0], [7.0, 7.0]]))
    lf = LearnedFusion([2, 1], dim=3)
    w = lf.weights([a, b], [torch.tensor([True, True]), torch.tensor([False, True])])
    # node 0 lacks modality b: all weight on a; node 1 has both: a proper convex combination
    assert w[0].tolist() == [1.0, 0.0] and torch.allclose(w[1].sum(), torch.tensor(1.0)) and (w[1] > 0).all()


def test_late_fusion_is_weighted_logit_average():
    torch.manual_seed(0)
    p = NodePredictor([2, 3], 4, model="mlp", fusion="late", dropout=0.0)
    with torch.no_grad():
        p.beta.copy_(torch.tensor([0.0, float(np.log(3.0))]))  # weights 1/4, 3/4
    xs, ei = [torch.randn(5, 2), torch.randn(5, 3)], torch.zeros(2, 0, dtype=torch.long)
    p.eval()
    expect = 0.25 * p.backbones[0](xs[0], ei) + 0.75 * p.backbones[1](xs[1], ei)
    assert torch.allclose(p(xs, ei), expect, atol=1e-6)



def test_gat_attention_starts_uniform_and_dropout_is_applied_once():
    from graphemb.multimodal.predictors import Backbone

    torch.manual_seed(0)
    # star: node 0 linked to 1, 2, 3 (both directions); GATConv adds self loops
    ei = torch.tensor([[0, 0, 0, 1, 2, 3], [1, 2, 3, 0, 0, 0]])
    x = torch.randn(4, 6) * 10  # wide, large inputs: Glorot attention would be far from uniform
    gat = Backbone(6, 3, model="gat", hidden=8, heads=2)
    _, (e, a) = gat.body.convs[0](x, ei, return_attention_weights=True)
    deg = torch.tensor([4.0, 2.0, 2.0, 2.0])  # in-degree with self loop
    assert torch.allclose(a, (1.0 / deg[e[1]]).unsqueeze(1).expand_as(a))
    assert gat.body.convs[0].att_src.requires_grad  # still learned
    glorot = Backbone(6, 3, model="gat", hidden=8, heads=2, uniform_attention_init=False)
    _, (_, a2) = glorot.body.convs[0](x, ei, return_attention_weights=True)
    assert not torch.allclose(a2, a)
    # dropout p=0.5 hits the head input once (the encoder already drops its last layer; dropping
    # again would zero 75%): positive weights and inputs make every hidden unit > 0 in eval mode
    gcn = Backbone(6, 1, model="gcn", hidden=64, dropout=0.5)
    with torch.no_grad():
        for p in gcn.body.parameters():
            p.abs_()
    seen = []
    gcn.head.register_forward_pre_hook(lambda m, inp: seen.append(inp[0]))
    xb, eb = torch.ones(50, 6), torch.zeros(2, 0, dtype=torch.long)
    gcn.eval()
    gcn(xb, eb)
    gcn.train()
    gcn(xb, eb)
    assert (seen[0] > 0).all()
    assert 0.45 < float((seen[1] == 0).float().mean()) < 0.55

def test_splits():
    tr, va, te = random_split(100, seed=3)
    assert (tr.sum(), va.sum(), te.sum()) == (60, 20, 20) and not (tr & va).any() and not (va & te).any()
    assert torch.equal(random_split(100, seed=3)[0], tr) and not torch.equal(random_split(100, seed=4)[0], tr)
    y = torch.arange(100) % 4
    fs = few_shot(tr, y, 3, seed=0)
    assert (fs & ~tr).sum() == 0
    assert torch.bincount(y[fs], minlength=4).tolist() == [3, 3, 3, 3]


def _two_block_graph(n: int = 80, seed: int = 0) -> MultimodalGraph:
    """Two classes, edges only inside classes; features are pure noise, so only the graph helps."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 2
    src = rng.integers(0, n, 4 * n)
    dst = np.where(rng.random(4 * n) < 1.0, (src + 2 * rng.integers(1, n // 2, 4 * n)) % n, 0)  # same parity
    g = MultimodalGraph(node_ids=np.arange(n), edge_index=torch.as_tensor(np.stack([src, dst])),
                        y=torch.as_tensor(y), name="blocks")
    x = rng.normal(size=(n, 8)).astype(np.float32)
    x[:, 0] += 0.3 * (2 * y - 1)  # a weak feature signal, plus one clean-ish hint so training starts
    g.add_features("noise", np.arange(n), x)
    return g


def test_gcn_beats_mlp_on_homophilous_noise_features():
    g = _two_block_graph()
    cfg = dict(epochs=60, patience=60, hidden=16)
    mlp = node_classification(g, ["noise"], NodeTaskConfig(model="mlp", **cfg), seeds=[0, 1])
    gcn = node_classification(g, ["noise"], NodeTaskConfig(model="gcn", **cfg), seeds=[0, 1])
    assert gcn["accuracy_mean"] > 0.9 and gcn["accuracy_mean"] > mlp["accuracy_mean"] + 0.15
    # two balanced classes: macro-F1 is close to accuracy and far from chance (0.5) as well
    assert len(gcn["macro_f1"]) == 2 and gcn["macro_f1_mean"] > 0.85
    assert gcn["macro_f1_mean"] > mlp["macro_f1_mean"] + 0.1


def _cliques(k: int = 30, size: int = 6, seed: int = 0) -> MultimodalGraph:
    """``k`` disjoint cliques of ``size`` nodes with pure-noise features: a true tail shares its
    head's clique, a random corrupted tail almost never does."""
    rng = np.random.default_rng(seed)
    iu = np.triu_indices(size, 1)
    src = np.concatenate([iu[0] + size * j for j in range(k)])
    dst = np.concatenate([iu[1] + size * j for j in range(k)])
    n = k * size
    g = MultimodalGraph(node_ids=np.arange(n), edge_index=torch.as_tensor(np.stack([src, dst])),
                        y=torch.as_tensor(np.arange(n) // size), name="cliques")
    g.add_features("noise", np.arange(n), rng.normal(size=(n, 8)).astype(np.float32))
    return g


def test_link_prediction_beats_random_ranking():
    k = 20
    # a random scorer puts the true tail at rank 1..k+1 uniformly (ties averaged): E[1/rank]
    random_mrr = sum(1.0 / r for r in range(1, k + 2)) / (k + 1)  # ~0.174
    random_hits = {h: h / (k + 1) for h in (1, 3, 10)}
    g = _cliques()
    runs = [link_prediction(g, ["noise"], NodeTaskConfig(model="gcn", epochs=60, hidden=32, dropout=0.0),
                            num_negatives=k, seed=s) for s in (0, 1)]
    for r in runs:
        assert set(r) >= {"mrr", "hits@1", "hits@3", "hits@10"}
        assert r["hits@1"] <= r["hits@3"] <= r["hits@10"] and r["hits@1"] <= r["mrr"] <= r["hits@10"] + 1e-9
    mrr = np.mean([r["mrr"] for r in runs])
    assert mrr > random_mrr + 0.25, (mrr, random_mrr)
    assert np.mean([r["hits@10"] for r in runs]) > random_hits[10] + 0.3


def test_real_text_graph_with_minilm(shared_datasets, cache_dir):
    """Records of the DBLP-ACM entity-resolution benchmark linked by gold matches; MiniLM
    embeddings of matched records (different wording of the same paper) must be closer than
    those of random record pairs, and the cache must make the second encoding free."""
    from graphemb.multimodal.encoders.cache import encode_graph
    from graphemb.multimodal.encoders.text import load_text_encoder

    from conftest import require_data

    folder = require_data(shared_datasets / "matching" / "er" / "DBLP-ACM")
    lines = (folder / "test.txt").read_text().splitlines()[:200]
    recs, edges = {}, []
    for ln in lines:
        left, right, lab = ln.split("\t")
        for r in (left, right):
            recs.setdefault(r, len(recs))
        if lab.strip() == "1":
            edges.append((recs[left], recs[right]))
    texts = [t for t, _ in sorted(recs.items(), key=lambda kv: kv[1])]
    g = MultimodalGraph(node_ids=np.arange(len(texts)), edge_index=torch.tensor(edges).t(), text=texts, name="dblp-acm-200")
    enc = load_text_encoder("minilm")
    key = encode_graph(g, "text", enc, show_progress=False)
    z = torch.nn.functional.normalize(g.feature(key), dim=1)
    ei = g.edge_index
    pos = (z[ei[0]] * z[ei[1]]).sum(1).mean()
    gen = torch.Generator().manual_seed(0)
    r = torch.randint(0, g.num_nodes, (2, 500), generator=gen)
    rnd = (z[r[0]] * z[r[1]]).sum(1).mean()
    assert ei.size(1) > 20 and pos > rnd + 0.3

    calls = []
    real = enc.encode
    enc.encode = lambda items, **kw: calls.append(len(items)) or real(items, **kw)
    g2 = MultimodalGraph(node_ids=g.node_ids, edge_index=g.edge_index, text=texts, name="dblp-acm-200")
    encode_graph(g2, "text", enc, show_progress=False)
    assert calls == [] and torch.equal(g2.feature(key), g.feature(key))


@pytest.mark.slow
def test_unsupervised_isoc_vgae_probe():
    """IsoC-VGAE through graphemb.api.fit_embeddings on fused features, then the probe."""
    from graphemb.multimodal.encoders.cache import encode_graph
    from graphemb.multimodal.encoders.image import PixelEncoder
    from graphemb.multimodal.synthetic import make_synthetic_mag
    from graphemb.multimodal.tasks import unsupervised_node_classification

    g = make_synthetic_mag(num_nodes=120, homophily=0.9)
    key = encode_graph(g, "image", PixelEncoder(4), use_cache=False)
    r = unsupervised_node_classification(g, [key], overrides={"train": {"epochs": 20}})
    chance = float(torch.bincount(g.y).max()) / g.num_nodes  # majority-class rate (~1/6)
    assert len(r["accuracy"]) == 1 and r["accuracy_mean"] > chance + 0.1, (r, chance)


def test_probe_embeddings_uses_core_protocol_on_magb_split():
    """The unsupervised probe is the core node/linear (node/mlp) protocol on MAGB's masks: a
    k-shot probe sees only the k-shot train nodes. Embeddings = one-hot label for every node,
    except that train nodes outside the 3-shot set carry a *shifted* label: trained on all train
    nodes the probe learns the shift (the best-validation epoch is an early, near-chance one);
    on the 3-shot nodes it is exact (1.0)."""
    from graphemb.evaluation.protocols import EvalInputs, run_protocol
    from graphemb.multimodal.tasks import node_split, probe_embeddings

    n, c = 120, 3
    y = torch.arange(n) % c
    g = MultimodalGraph(node_ids=np.arange(n), edge_index=torch.zeros(2, 0, dtype=torch.long), y=y, name="onehot")
    full_tr, _, _ = node_split(g, seed=1)
    shot_tr, va, te = node_split(g, seed=1, shots=3)
    assert torch.equal(node_split(g, seed=1)[1], va) and int(shot_tr.sum()) == 9 and not (shot_tr & ~full_tr).any()
    shown = torch.where(full_tr & ~shot_tr, (y + 1) % c, y)
    z = torch.nn.functional.one_hot(shown, c).float()
    for proto, worse in (("linear", 0.5), ("mlp", 0.9)):  # mlp: dropout + BatchNorm blur the shift
        opts = {"epochs": 100} if proto == "linear" else {"epochs": 100, "patience": 100, "hidden": 16}
        full = probe_embeddings(g, z, seed=1, protocol=proto, options=opts)
        shot = probe_embeddings(g, z, seed=1, shots=3, protocol=proto, options=opts)
        assert full["accuracy"] < worse and shot["accuracy"] == 1.0, (proto, full, shot)
    direct = run_protocol("node", "linear", EvalInputs(z, y=y, train_mask=shot_tr, val_mask=va, test_mask=te,
                                                       options={"epochs": 100}), 1)
    assert direct.value == probe_embeddings(g, z, seed=1, shots=3, options={"epochs": 100})["accuracy"]


def test_unsupervised_isoc_vgae_fast():
    """Tiny IsoC-VGAE on the two-block graph (noise features, class = connected component): its
    embeddings smooth over the graph, so the linear probe beats the same probe on the raw
    features by a wide margin."""
    from graphemb.multimodal.tasks import fused_features, probe_embeddings, unsupervised_node_classification

    g = _two_block_graph()
    ov = {"model": {"encoder": {"hidden_channels": 16}}, "train": {"epochs": 10}}
    r = unsupervised_node_classification(g, ["noise"], seeds=[0, 1], overrides=ov, probe_options={"epochs": 100})
    raw = [probe_embeddings(g, fused_features(g, ["noise"]), seed=s, options={"epochs": 100})["accuracy"]
           for s in (0, 1)]
    assert len(r["accuracy"]) == 2 and r["protocol"] == "node/linear" and "macro_f1" not in r
    assert r["accuracy_mean"] > 0.85 and r["accuracy_mean"] > np.mean(raw) + 0.15, (r["accuracy"], raw)
    shot = unsupervised_node_classification(g, ["noise"], seeds=[0], shots=3, overrides=ov,
                                            probe_options={"epochs": 100})
    chance = float(torch.bincount(g.y).max()) / g.num_nodes  # majority-class rate, 0.5 here
    assert len(shot["accuracy"]) == 1 and shot["accuracy"][0] > chance + 0.2, (shot, chance)


def test_cli_predictor_names_match_the_registry():
    """The CLI spells the predictor names without importing torch; they must be the registry's."""
    from graphemb.multimodal import cli, predictors

    assert cli.PREDICTORS == predictors.PREDICTORS
