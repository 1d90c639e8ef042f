"""Frozen-embedding protocols: hand-built embeddings with hand-computed expectations."""
from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.model_selection import StratifiedKFold

from graphemb.evaluation import (DEFAULT_PROTOCOLS, PROTOCOLS, EvalInputs, ProtocolResult,
                                 dot_protocol, get_protocol, graph_mlp_protocol, linear_probe,
                                 link_metrics, link_mlp_protocol, mlp_probe, protocol_names,
                                 record_from_results, result_record, run_protocol, summarize,
                                 svm_protocol)
from graphemb.evaluation.graph import official_split
from graphemb.evaluation.link import rank_against_shared_negatives
from graphemb.evaluation.ranking import rank_against_negatives

FAST_MLP = dict(hidden=16, lr=0.01, epochs=30, patience=30, batch_size=32)


def separable(n: int, num_classes: int, copies: int = 4, noise: float = 0.1, seed: int = 0):
    """Class one-hot repeated ``copies`` times (survives 0.5 input dropout) plus small noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % num_classes
    x = torch.nn.functional.one_hot(y, num_classes).float().repeat(1, copies) * 2.0
    return x + noise * torch.randn(x.shape, generator=g), y


def masks(n: int, n_train: int, n_val: int, n_test: int | None = None):
    """Consecutive train / val / test blocks; nodes after the test block are in no mask."""
    tr, va, te = (torch.zeros(n, dtype=torch.bool) for _ in range(3))
    tr[:n_train] = True
    va[n_train:n_train + n_val] = True
    te[n_train + n_val:] = True
    if n_test is not None:
        te[n_train + n_val + n_test:] = False
    return tr, va, te


# ----------------------------------------------------------------------------- stats
def test_summarize_uses_population_std():
    mean, std = summarize([1.0, 2.0, 3.0, 4.0])
    assert mean == pytest.approx(2.5)
    assert std == pytest.approx(math.sqrt(1.25))  # ddof=0; the sample std would be 1.291
    with pytest.raises(ValueError, match="at least one"):
        summarize([])


def test_result_record_fields_and_extras():
    rec = result_record("isoc-vgae", "Cora", "link", "dot", "auc", [0.9, 0.8], 12.5,
                        extra_values={"ap": [0.95, 0.85], "mrr": [float("nan"), 0.5]})
    assert list(rec)[:9] == ["model", "dataset", "task", "protocol", "metric", "mean", "std", "values", "seconds"]
    assert rec["mean"] == pytest.approx(0.85) and rec["std"] == pytest.approx(0.05)
    assert rec["values"] == [0.9, 0.8] and rec["seconds"] == 12.5
    assert rec["ap"] == {"mean": pytest.approx(0.9), "std": pytest.approx(0.05), "values": [0.95, 0.85]}
    assert rec["mrr"]["mean"] is None and rec["mrr"]["values"] == [None, 0.5]  # NaN -> null
    json.loads(json.dumps(rec, allow_nan=False))  # one valid JSON line
    with pytest.raises(ValueError, match="one value per seed"):
        result_record("m", "d", "link", "dot", "auc", [0.9, 0.8], 1.0, {"ap": [0.9]})


def test_record_from_results_aggregates_common_extras():
    res = [ProtocolResult("auc", 0.9, {"ap": 0.8, "val_auc": 0.7}), ProtocolResult("auc", 0.7, {"ap": 0.6})]
    rec = record_from_results("gae", "Cora", "link", "dot", res, 3.0)
    assert rec["metric"] == "auc" and rec["mean"] == pytest.approx(0.8)
    assert rec["ap"]["values"] == [0.8, 0.6] and "val_auc" not in rec
    with pytest.raises(ValueError, match="mix"):
        record_from_results("gae", "Cora", "link", "dot", res + [ProtocolResult("accuracy", 1.0)], 3.0)


# ----------------------------------------------------------------------------- node
def test_linear_probe_separable_and_random():
    x, y = separable(120, 3)
    tr, va, te = masks(120, 30, 30)
    res = linear_probe(x, y, tr, va, te, seed=0, epochs=60, weight_decays=(1e-4, 1e-2))
    assert res.metric == "accuracy" and res.value == pytest.approx(1.0)
    assert res.extra["weight_decay"] in (1e-4, 1e-2)
    g = torch.Generator().manual_seed(1)
    noise, y_rand = torch.randn(600, 8, generator=g), torch.randint(0, 2, (600,), generator=g)
    tr, va, te = masks(600, 200, 100)
    chance = linear_probe(noise, y_rand, tr, va, te, seed=0, epochs=60, weight_decays=(1e-4,))
    assert 0.38 < chance.value < 0.62


def test_linear_probe_selection_never_sees_test_labels():
    g = torch.Generator().manual_seed(2)
    x, y = torch.randn(90, 6, generator=g), torch.randint(0, 3, (90,), generator=g)
    tr, va, te = masks(90, 40, 25)
    a = linear_probe(x, y, tr, va, te, seed=3, epochs=40)
    y2 = y.clone()
    y2[te] = (y2[te] + 1) % 3  # scramble only the test labels
    b = linear_probe(x, y2, tr, va, te, seed=3, epochs=40)
    assert {k: a.extra[k] for k in ("best_epoch", "weight_decay", "val_accuracy")} == \
           {k: b.extra[k] for k in ("best_epoch", "weight_decay", "val_accuracy")}
    assert a.value != b.value


def test_linear_probe_seeded_and_leaves_global_rng_alone():
    x, y = separable(60, 3, noise=1.0)
    tr, va, te = masks(60, 20, 20)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = linear_probe(x, y, tr, va, te, seed=5, epochs=20)
    after = torch.rand(1)
    assert torch.equal(before, after)  # protocols restore the caller's RNG
    b = linear_probe(x, y, tr, va, te, seed=5, epochs=20)
    assert a == b


def test_node_inputs_rejected_with_clear_errors():
    x, y = separable(30, 3)
    tr, va, te = masks(30, 10, 10)
    with pytest.raises(ValueError, match="overlap"):
        linear_probe(x, y, tr, tr | va, te, epochs=1)
    bad = x.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(bad, y, tr, va, te, epochs=1)
    y_unl = y.clone()
    y_unl[0] = -1
    with pytest.raises(ValueError, match="unlabelled"):
        linear_probe(x, y_unl, tr, va, te, epochs=1)
    with pytest.raises(ValueError, match="selects no nodes"):
        linear_probe(x, y, torch.zeros(30, dtype=torch.bool), va, te, epochs=1)


def test_mlp_probe_trains_outside_val_test_and_separates():
    x, y = separable(160, 4)
    tr, va, te = masks(160, 8, 40, 40)  # nodes 88..159 are in no mask
    y = y.clone()
    y[150:] = -1  # unlabelled nodes outside val/test are skipped, not trained on
    res = mlp_probe(x, y, tr, va, te, seed=0, **FAST_MLP)
    assert res.extra["num_train"] == 8 + 62
    assert res.value == pytest.approx(1.0)
    only_mask = mlp_probe(x, y, tr, va, te, seed=0, train_on="mask", **FAST_MLP)
    assert only_mask.extra["num_train"] == 8


def test_mlp_probe_random_is_chance():
    g = torch.Generator().manual_seed(4)
    x, y = torch.randn(400, 8, generator=g), torch.randint(0, 2, (400,), generator=g)
    tr, va, te = masks(400, 100, 100)
    res = mlp_probe(x, y, tr, va, te, seed=0, **{**FAST_MLP, "epochs": 10})
    assert 0.38 < res.value < 0.62


# ----------------------------------------------------------------------------- link
# 1-D embeddings: z0=1, z1=2, z2=1, z3=0, z4=-1
Z = torch.tensor([[1.0], [2.0], [1.0], [0.0], [-1.0]])
POS = torch.tensor([[0, 0, 1], [1, 2, 3]])   # dots 2, 1, 0
NEG = torch.tensor([[2, 0, 1], [3, 4, 2]])   # dots 0, -1, 2


def test_link_metrics_hand_computed_with_ties():
    split = SimpleNamespace(test_pos=POS, test_neg=NEG)
    res = dot_protocol(Z, split, ks=(1, 2, 3))
    # AUC over the 9 (pos, neg) pairs, a tie counting 1/2: (2.5 + 2 + 1.5) / 9
    assert res.metric == "auc" and res.value == pytest.approx(6 / 9)
    # AP: thresholds 2 (P=1/2, R=1/3), 1 (P=2/3, R=2/3), 0 (P=3/5, R=1)
    assert res.extra["ap"] == pytest.approx((1 / 2 + 2 / 3 + 3 / 5) / 3)
    # Hits@K pessimistic: a positive must beat the K-th best negative (2, 0, -1) strictly
    assert res.extra["hits@1"] == 0.0
    assert res.extra["hits@2"] == pytest.approx(2 / 3)
    assert res.extra["hits@3"] == 1.0
    # MRR, tie-averaged ranks 1.5, 2, 2.5
    assert res.extra["mrr"] == pytest.approx((1 / 1.5 + 1 / 2 + 1 / 2.5) / 3)


def test_link_metrics_do_not_depend_on_input_order():
    split = SimpleNamespace(test_pos=POS, test_neg=NEG)
    ref = dot_protocol(Z, split, ks=(1, 2, 3))
    perm = torch.tensor([3, 0, 4, 1, 2])  # relabel nodes: new id of old node i is perm[i]
    z2 = torch.empty_like(Z)
    z2[perm] = Z
    split2 = SimpleNamespace(test_pos=perm[POS][:, [2, 0, 1]], test_neg=perm[NEG][:, [1, 2, 0]].flip(0))
    res = dot_protocol(z2, split2, ks=(1, 2, 3))
    assert res.value == pytest.approx(ref.value, abs=1e-12)  # only float summation order may differ
    assert res.extra == pytest.approx(ref.extra, abs=1e-12)


def test_dot_protocol_ranks_on_logits_not_saturated_sigmoid():
    z = torch.tensor([[6.0], [7.0], [6.5]])
    # dots 42 (pos) vs 39 (neg): float32 sigmoid gives 1.0 for both, a false tie
    assert torch.sigmoid(torch.tensor(42.0)) == torch.sigmoid(torch.tensor(39.0))
    res = dot_protocol(z, SimpleNamespace(test_pos=torch.tensor([[0], [1]]), test_neg=torch.tensor([[0], [2]])), ks=(1,))
    assert res.value == 1.0 and res.extra["mrr"] == 1.0 and res.extra["hits@1"] == 1.0


def test_hits_and_mrr_agree_with_ogb_and_ranking_module():
    g = torch.Generator().manual_seed(0)
    pos = torch.randint(0, 6, (50,), generator=g).double()  # many ties on purpose
    neg = torch.randint(0, 6, (70,), generator=g).double()
    out = link_metrics(pos, neg, ks=(5, 20))
    pess = rank_against_shared_negatives(pos, neg, "pessimistic")
    for k in (5, 20):
        assert out[f"hits@{k}"] == pytest.approx(float((pess <= k).double().mean()))
    full = rank_against_negatives(pos, neg.expand(50, 70), ties="average")
    assert torch.allclose(rank_against_shared_negatives(pos, neg, "average"), full)
    from ogb.linkproppred import Evaluator
    ogb_mrr = Evaluator("ogbl-citation2").eval({"y_pred_pos": pos, "y_pred_neg": neg.expand(50, 70)})["mrr_list"]
    assert out["mrr"] == pytest.approx(float(ogb_mrr.mean()))


def test_dot_protocol_random_embeddings_is_chance():
    g = torch.Generator().manual_seed(5)
    z = torch.randn(200, 16, generator=g)
    split = SimpleNamespace(test_pos=torch.randint(0, 200, (2, 400), generator=g),
                            test_neg=torch.randint(0, 200, (2, 400), generator=g))
    assert 0.42 < dot_protocol(z, split).value < 0.58


def _cluster_split():
    """4 complete clusters of 8 nodes; within-cluster pairs are edges, across are not."""
    x, cluster = separable(32, 4, copies=2, noise=0.05)
    pairs = torch.combinations(torch.arange(32), 2).t()
    same = cluster[pairs[0]] == cluster[pairs[1]]
    g = torch.Generator().manual_seed(0)
    pos = pairs[:, same][:, torch.randperm(int(same.sum()), generator=g)]  # 112 edges
    neg = pairs[:, ~same][:, torch.randperm(int((~same).sum()), generator=g)]
    train = pos[:, 32:]
    data = SimpleNamespace(edge_index=torch.cat([train, train.flip(0)], 1))
    return x, SimpleNamespace(train_data=data, train_pos=train, val_pos=pos[:, :12], val_neg=neg[:, :12],
                              test_pos=pos[:, 12:32], test_neg=neg[:, 12:32])


def test_link_mlp_protocol_separates_clusters():
    x, split = _cluster_split()
    res = link_mlp_protocol(x, split, seed=0, **{**FAST_MLP, "epochs": 25})
    assert res.metric == "auc" and res.value == pytest.approx(1.0)
    assert res.extra["ap"] == pytest.approx(1.0) and res.extra["val_auc"] == pytest.approx(1.0)
    assert res == link_mlp_protocol(x, split, seed=0, **{**FAST_MLP, "epochs": 25})  # seeded


def test_link_split_errors_name_the_field():
    with pytest.raises(ValueError, match="test_neg"):
        dot_protocol(Z, SimpleNamespace(test_pos=POS))
    with pytest.raises(ValueError, match="outside"):
        dot_protocol(Z, SimpleNamespace(test_pos=POS + 10, test_neg=NEG))


# ----------------------------------------------------------------------------- graph
def test_svm_protocol_separable_random_and_folds():
    x, y = separable(40, 2, copies=2, noise=0.3)
    res = svm_protocol(x, y, seed=0, Cs=(0.1, 10.0), inner_cv=3)
    assert res.metric == "accuracy" and res.value == pytest.approx(1.0)
    assert res.extra == {"fold_std": 0.0, "num_folds": 10.0, "num_untested": 0.0}
    g = torch.Generator().manual_seed(6)
    noise, y_rand = torch.randn(100, 4, generator=g), torch.randint(0, 2, (100,), generator=g)
    rnd = svm_protocol(noise, y_rand, seed=0, Cs=(1.0,), inner_cv=2)
    assert 0.3 < rnd.value < 0.7
    # precomputed folds (the GIN 10-fold files) are used as given
    folds = list(StratifiedKFold(10, shuffle=True, random_state=3).split(noise.numpy(), y_rand.numpy()))
    assert svm_protocol(noise, y_rand, seed=99, folds=folds, Cs=(1.0,), inner_cv=2).value == \
           svm_protocol(noise, y_rand, seed=3, Cs=(1.0,), inner_cv=2).value
    with pytest.raises(ValueError, match="overlap"):
        svm_protocol(noise, y_rand, folds=[(np.arange(60), np.arange(50, 100))])
    # fold_seed (GraphMAE: random_state=0 for every run) draws the folds, also over given folds
    at3 = svm_protocol(noise, y_rand, seed=3, Cs=(1.0,), inner_cv=2).value
    assert svm_protocol(noise, y_rand, seed=0, Cs=(1.0,), inner_cv=2).value != at3
    assert svm_protocol(noise, y_rand, seed=0, fold_seed=3, Cs=(1.0,), inner_cv=2).value == at3
    other = list(StratifiedKFold(10, shuffle=True, random_state=0).split(noise.numpy(), y_rand.numpy()))
    assert svm_protocol(noise, y_rand, seed=0, folds=other, fold_seed=3, Cs=(1.0,), inner_cv=2).value == at3


def test_official_graph_split_and_mlp():
    tr, va, te = official_split(50, seed=1)
    assert (len(tr), len(va), len(te)) == (25, 10, 15)
    assert sorted(np.concatenate([tr, va, te]).tolist()) == list(range(50))
    x, y = separable(80, 2, copies=4, noise=0.2)
    res = graph_mlp_protocol(x, y, seed=0, **FAST_MLP)
    assert res.metric == "accuracy" and res.value == pytest.approx(1.0)


# ----------------------------------------------------------------------------- registry
def test_registry_keys_defaults_and_errors():
    assert set(PROTOCOLS.names()) == {"node/linear", "node/mlp", "link/dot", "link/mlp", "link/decoder", "graph/svm",
                                      "graph/mlp", "node/ogb", "link/ogb", "graph/ogb"}
    assert DEFAULT_PROTOCOLS == {"node": "linear", "link": "dot", "graph": "svm"}
    assert get_protocol("node") is PROTOCOLS.get("node/linear")
    assert get_protocol("graph", "MLP") is PROTOCOLS.get("graph/mlp")
    assert protocol_names("link") == ["decoder", "dot", "mlp", "ogb"]
    with pytest.raises(KeyError, match="known: decoder, dot, mlp, ogb"):
        get_protocol("link", "knn")
    with pytest.raises(ValueError, match="unknown task"):
        get_protocol("edge")
    with pytest.raises(ValueError, match="EvalInputs.split"):
        run_protocol("link", None, EvalInputs(embeddings=Z), seed=0)


def test_run_protocol_forwards_options():
    x, y = separable(60, 3)
    tr, va, te = masks(60, 15, 15)
    inputs = EvalInputs(embeddings=x.numpy(), y=y.numpy(), train_mask=tr, val_mask=va, test_mask=te,
                        options={"epochs": 30, "weight_decays": (1e-3,)})
    res = run_protocol("node", None, inputs, seed=0)
    assert res == linear_probe(x, y, tr, va, te, 0, epochs=30, weight_decays=(1e-3,))
    link = run_protocol("link", "dot", EvalInputs(embeddings=Z, split=SimpleNamespace(test_pos=POS, test_neg=NEG),
                                                  options={"ks": (1,)}), seed=0)
    assert link.value == pytest.approx(6 / 9)


def test_decoder_protocol_scores_the_pairs_with_the_given_scorer_and_refuses_without_one():
    """link/decoder: AUC of the scorer's scores (not of z_u . z_v), ties counted 1/2; a model
    without an edge decoder gets an error naming the other protocols."""
    split = SimpleNamespace(test_pos=POS, test_neg=NEG)
    seen = []

    def scorer(pairs):  # scores the pair (u, v) by -u: its own ranking, unrelated to Z
        seen.append(pairs.size(1))
        return -pairs[0].double()

    res = run_protocol("link", "decoder", EvalInputs(embeddings=Z, split=split, pair_scores=scorer,
                                                     options={"ks": (1,)}), seed=0)
    from sklearn.metrics import roc_auc_score

    pos, neg = -POS[0].double(), -NEG[0].double()
    want = roc_auc_score([1] * pos.numel() + [0] * neg.numel(), torch.cat([pos, neg]).numpy())
    assert res.value == pytest.approx(want) and seen == [POS.size(1), NEG.size(1)]
    dot = run_protocol("link", "dot", EvalInputs(embeddings=Z, split=split, options={"ks": (1,)}), seed=0)
    assert res.value != pytest.approx(dot.value)
    with pytest.raises(ValueError, match="has none .*--protocol dot"):
        run_protocol("link", "decoder", EvalInputs(embeddings=Z, split=split), seed=0)
    with pytest.raises(ValueError, match="returned 1 scores"):
        run_protocol("link", "decoder", EvalInputs(embeddings=Z, split=split,
                                                   pair_scores=lambda p: torch.zeros(1)), seed=0)


# ----------------------------------------------------------------------------- device
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_protocols_on_cuda_match_cpu_quality():
    x, y = separable(160, 4)
    tr, va, te = masks(160, 8, 40, 40)
    assert linear_probe(x, y, tr, va, te, 0, epochs=60, device="cuda").value == pytest.approx(1.0)
    assert mlp_probe(x, y, tr, va, te, 0, device="cuda", **FAST_MLP).value == pytest.approx(1.0)
    a = mlp_probe(x, y, tr, va, te, 1, device="cuda", **FAST_MLP)
    assert a == mlp_probe(x, y, tr, va, te, 1, device="cuda", **FAST_MLP)  # seeded on CUDA too
    xl, split = _cluster_split()
    # ks=(): Hits@K needs only ogb (CPU), which GPU-only images may lack
    assert link_mlp_protocol(xl, split, 0, device="cuda", ks=(), **{**FAST_MLP, "epochs": 25}).value == pytest.approx(1.0)
    dot = dot_protocol(Z, SimpleNamespace(test_pos=POS, test_neg=NEG), ks=(), device="cuda")
    assert dot.value == pytest.approx(6 / 9) and dot.extra["mrr"] == pytest.approx((1 / 1.5 + 1 / 2 + 1 / 2.5) / 3)
    xg, yg = separable(80, 2, copies=4, noise=0.2)
    assert graph_mlp_protocol(xg, yg, 0, device="cuda", **FAST_MLP).value == pytest.approx(1.0)
