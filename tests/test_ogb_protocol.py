"""OGB datasets: official splits and the official ``ogb.*.Evaluator`` (issue 7 §2).

No OGB data is available offline, so each test builds a tiny dataset in OGB's own shapes (the
objects ``PygNodePropPredDataset`` & co. return: ``ds[0]``, ``num_classes``, ``get_idx_split()`` /
``get_edge_split()``) and loads it through ``load_dataset`` with OGB's dataset class
monkeypatched; the Evaluators are the real ones (their metadata ships with ``ogb``).
"""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Data

import graphemb.data.ogb as ogb_mod
from graphemb import api
from graphemb.config import build_run_config
from graphemb.data import load_dataset


class FakeOGB(list):
    """A list of ``Data`` with the attribute OGB's datasets have."""

    def __init__(self, graphs, num_classes):
        super().__init__(graphs)
        self.num_classes = num_classes


def _load(monkeypatch, tmp_path, name, ds, extra):
    raw = tmp_path / "root" / "_".join(name.split("-")) / "raw"
    raw.mkdir(parents=True)
    (raw / "edge.csv.gz").write_bytes(b"")  # OGB's layout; the monkeypatched class reads nothing
    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(ogb_mod, "_construct", lambda prefix, n, root: (ds, extra))
    return load_dataset(name, root=tmp_path / "root")


def _ring(n):
    i = torch.arange(n)
    return torch.stack([i, (i + 1) % n])


def _separable(n, c, g):
    """Labels i % c and embeddings = one-hot(label) * 3 + small noise (perfectly separable)."""
    y = torch.arange(n) % c
    z = torch.nn.functional.one_hot(y, c).float() * 3 + 0.1 * torch.randn(n, c, generator=g)
    return z, y


# ----------------------------------------------------------------------------- ogbn
def test_ogbn_uses_official_split_and_evaluator(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(0)
    n, c = 60, 3
    z, y = _separable(n, c, g)
    hard = torch.arange(45, 60)  # outside the official test split: labels scrambled w.r.t. z
    y[hard] = (y[hard] + 1) % c
    split = {"train": torch.cat([torch.arange(0, 20), hard[:10]]), "valid": torch.arange(20, 35),
             "test": torch.arange(35, 45)}
    data = Data(x=z.clone(), edge_index=_ring(n), y=y.view(-1, 1), num_nodes=n)
    ds = _load(monkeypatch, tmp_path, "ogbn-arxiv", FakeOGB([data], c), {"split_idx": split})
    d = ds.data
    assert ds.source == "ogb" and d.y.shape == (n,)
    for mask, part in ((d.train_mask, "train"), (d.val_mask, "valid"), (d.test_mask, "test")):
        assert mask.nonzero().view(-1).tolist() == split[part].tolist()
    config = build_run_config("gae", dataset="ogbn-arxiv", task="node")
    name, res = api.evaluate_embeddings(config, z, ds, None, options={"epochs": 100})
    # default protocol: the official one; test nodes are all separable -> accuracy exactly 1
    assert name == "ogb" and res.metric == "acc" and res.value == pytest.approx(1.0)
    # the Evaluator's number: predictions of a probe scored on exactly the official test rows
    from ogb.nodeproppred import Evaluator

    ev = Evaluator("ogbn-arxiv")
    assert ev.eval({"y_true": y[split["test"]].view(-1, 1), "y_pred": z[split["test"]].argmax(1, keepdim=True)})["acc"] \
        == res.value
    # a re-split (or every labelled node) would include the scrambled nodes and miss them
    rec = api.evaluate(api.Run(config, None, None, z, torch.arange(n), ds))  # default probe settings
    assert rec["protocol"] == "ogb" and rec["metric"] == "acc"
    assert "ogbn-arxiv" in rec["official"] and "ogb.nodeproppred.Evaluator" in rec["official"]


def test_ogbn_proteins_multilabel_rocauc_and_single_label_probes_refused(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(1)
    n, tasks = 90, 112  # the Evaluator checks ogbn-proteins' 112 tasks
    z = torch.randn(n, 6, generator=g)
    w = torch.randn(6, tasks, generator=g)
    y = (z @ w > 0).long()  # every task linearly separable in z
    split = {"train": torch.arange(0, 50), "valid": torch.arange(50, 70), "test": torch.arange(70, 90)}
    data = Data(x=None, edge_index=_ring(n), y=y, num_nodes=n)
    ds = _load(monkeypatch, tmp_path, "ogbn-proteins", FakeOGB([data], tasks), {"split_idx": split})
    assert ds.data.y.shape == (n, tasks) and ds.num_features > 0  # degree features: no x in ogbn-proteins
    config = build_run_config("gae", dataset="ogbn-proteins", task="node")
    fast = {"epochs": 100, "eval_every": 50, "weight_decays": (1e-4,)}  # the 112-task Evaluator is slow
    name, res = api.evaluate_embeddings(config, z, ds, None, options=fast)
    assert name == "ogb" and res.metric == "rocauc" and res.value > 0.95
    _, noise = api.evaluate_embeddings(config, torch.randn(n, 6, generator=g), ds, None, options=fast)
    assert abs(noise.value - 0.5) < 0.1  # random embeddings: chance ROC-AUC
    with pytest.raises(ValueError, match="multi-label.*--protocol ogb"):
        api.evaluate_embeddings(config, z, ds, None, protocol="linear")


# ----------------------------------------------------------------------------- ogbl
def _collab(n=40):
    train = torch.stack([torch.arange(0, 20), torch.arange(1, 21)]).t()  # path 0-1-..-20
    train = torch.cat([train, train[:3]])  # OGB collab repeats edges (several years)
    valid = torch.tensor([[21, 22], [23, 24]])
    test = torch.tensor([[25, 26], [27, 28], [29, 30]])
    valid_neg = torch.tensor([[0, 30], [1, 31], [2, 32]])
    test_neg = torch.stack([torch.arange(0, 8), torch.arange(32, 40)]).t()  # 8 shared negatives
    split_edge = {"train": {"edge": train}, "valid": {"edge": valid, "edge_neg": valid_neg},
                  "test": {"edge": test, "edge_neg": test_neg}}
    # ogbl graphs hold the training edges only
    ei = torch.cat([train.t(), train.t().flip(0)], 1)
    return Data(x=torch.ones(n, 2), edge_index=ei, num_nodes=n), split_edge


def test_ogbl_official_edge_split_no_resplit_and_hits(monkeypatch, tmp_path):
    data, split_edge = _collab()
    ds = _load(monkeypatch, tmp_path, "ogbl-collab", FakeOGB([data], 0), {"split_edge": split_edge})
    config = build_run_config("gae", dataset="ogbl-collab", task="link")
    train_input, split = api.prepare_training_input(config, ds)
    # the encoder sees exactly the official train edges (deduplicated, both directions), nothing else
    got = {tuple(e) for e in train_input.edge_index.t().tolist()}
    want = {(i, i + 1) for i in range(20)} | {(i + 1, i) for i in range(20)}
    assert got == want and train_input.edge_index.size(1) == 40
    assert split.test_pos.t().tolist() == split_edge["test"]["edge"].tolist()  # not re-split
    assert split.val_neg.t().tolist() == split_edge["valid"]["edge_neg"].tolist()
    # scores z_u.z_v = s_u * s_v with s = 1 everywhere except chosen nodes
    s = torch.ones(40)
    s[[25, 26]] = 3.0   # test pos (25, 26): 9 > every negative
    s[27] = 0.0         # test pos (27, 28): 0 < every negative (1)
    s[29] = 1.0         # test pos (29, 30): 1 ties the negatives -> OGB counts a tie as a miss
    z = s.view(-1, 1)
    name, res = api.evaluate_embeddings(config, z, ds, split)
    assert name == "ogb" and res.metric == "hits@50"
    # 8 negatives < K = 50: OGB returns 1.0 for Hits@K when there are fewer than K negatives
    assert res.value == 1.0
    from graphemb.evaluation.ogb import link_protocol

    ds.extra["split_edge"]["test"]["edge_neg"] = torch.stack([torch.arange(0, 60) % 24, 32 + torch.arange(60) % 8]).t()
    _, split2 = api.prepare_training_input(config, ds)
    r = link_protocol(z, split2, "ogbl-collab")
    assert r.value == pytest.approx(1 / 3)  # only (25, 26) scores strictly above the 50th negative
    assert r.extra["hits@10"] == pytest.approx(1 / 3) and "val_hits@50" in r.extra


def test_ogbl_citation2_mrr_against_each_querys_negatives(monkeypatch, tmp_path):
    n = 12
    train = {"source_node": torch.arange(0, 6), "target_node": torch.arange(1, 7)}
    valid = {"source_node": torch.tensor([7]), "target_node": torch.tensor([8]),
             "target_node_neg": torch.tensor([[9, 10, 11]])}
    test = {"source_node": torch.tensor([0, 1]), "target_node": torch.tensor([2, 3]),
            "target_node_neg": torch.tensor([[4, 5, 6], [7, 8, 9]])}
    ei = torch.stack([train["source_node"], train["target_node"]])
    data = Data(x=torch.ones(n, 1), edge_index=ei, num_nodes=n)
    ds = _load(monkeypatch, tmp_path, "ogbl-citation2", FakeOGB([data], 0),
               {"split_edge": {"train": train, "valid": valid, "test": test}})
    config = build_run_config("gae", dataset="ogbl-citation2", task="link")
    _, split = api.prepare_training_input(config, ds)
    assert split.test_neg.tolist() == [[0, 0, 0, 1, 1, 1], [4, 5, 6, 7, 8, 9]]
    s = torch.tensor([1.0, 1, 2, 0.5, 3, 1, 0, 1, 4, 2, 2, 2])
    # query 0: pos s0*s2 = 2 vs negatives 3, 1, 0 -> rank 2; query 1: pos 0.5 vs 1, 4, 2 -> rank 4
    name, res = api.evaluate_embeddings(config, s.view(-1, 1), ds, split)
    assert name == "ogb" and res.metric == "mrr" and res.value == pytest.approx((1 / 2 + 1 / 4) / 2)
    assert res.extra["val_mrr"] == pytest.approx(1.0)  # pos s7 * s8 = 4 > negatives 2, 2, 2


# ----------------------------------------------------------------------------- ogbg
def _mol_graphs(labels):
    return [Data(x=torch.ones(3, 2), edge_index=torch.tensor([[0, 1], [1, 2]]), y=lab.view(1, -1), num_nodes=3)
            for lab in labels]


def test_ogbg_molhiv_rocauc_on_official_split_and_resplit_refused(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(2)
    G = 60
    y = (torch.arange(G) % 2).float()
    z = torch.stack([y * 2 - 1, torch.zeros(G)], 1) + 0.05 * torch.randn(G, 2, generator=g)
    split = {"train": torch.arange(0, 30), "valid": torch.arange(30, 44), "test": torch.arange(44, 60)}
    z[split["train"][:6], 0] *= -1  # a few noisy training graphs: the probe still orders test correctly
    ds = _load(monkeypatch, tmp_path, "ogbg-molhiv", FakeOGB(_mol_graphs(y.view(-1, 1)), 2), {"split_idx": split})
    assert ds.level == "graph" and len(ds.graphs) == G
    config = build_run_config("gae", dataset="ogbg-molhiv", task="graph")
    name, res = api.evaluate_embeddings(config, z, ds, None, options={"epochs": 100})
    assert name == "ogb" and res.metric == "rocauc" and res.value == pytest.approx(1.0)
    with pytest.raises(ValueError, match="official split.*--protocol ogb"):
        api.evaluate_embeddings(config, z, ds, None, protocol="svm")


def test_ogbg_molpcba_ap_ignores_missing_labels(monkeypatch, tmp_path):
    g = torch.Generator().manual_seed(3)
    G, T = 40, 128
    z = torch.randn(G, 4, generator=g)
    y = (z @ torch.randn(4, T, generator=g) > 0).double()
    y[torch.rand(G, T, generator=g) < 0.3] = float("nan")  # molpcba has missing labels
    split = {"train": torch.arange(0, 24), "valid": torch.arange(24, 32), "test": torch.arange(32, 40)}
    ds = _load(monkeypatch, tmp_path, "ogbg-molpcba", FakeOGB(_mol_graphs(y), T), {"split_idx": split})
    config = build_run_config("gae", dataset="ogbg-molpcba", task="graph")
    name, res = api.evaluate_embeddings(config, z, ds, None,
                                        options={"epochs": 150, "eval_every": 50, "weight_decays": (1e-4,)})
    assert name == "ogb" and res.metric == "ap"
    from ogb.graphproppred import Evaluator

    ev = Evaluator("ogbg-molpcba")
    chance = ev.eval({"y_true": y[split["test"]], "y_pred": torch.zeros(8, T, dtype=torch.double)})["ap"]
    assert res.value > 0.9 > chance + 0.2


def test_ogbl_end_to_end_trains_on_official_train_edges_and_saved_run_matches(monkeypatch, tmp_path):
    data, split_edge = _collab()
    ds = _load(monkeypatch, tmp_path, "ogbl-collab", FakeOGB([data], 0), {"split_edge": split_edge})
    seen = []
    real_fit = api.fit

    def spy(model, train_input, cfg, *args, **kwargs):
        seen.append(train_input.edge_index.clone())
        return real_fit(model, train_input, cfg, *args, **kwargs)

    monkeypatch.setattr(api, "fit", spy)
    sets = ["train.epochs=2", "model.encoder.hidden_channels=8"]
    rec = api.reproduce("gae", ds, task="link", seeds=1, overrides=sets)
    assert rec["protocol"] == "ogb" and rec["metric"] == "hits@50" and "ogbl-collab" in rec["official"]
    official_train = {(i, i + 1) for i in range(20)} | {(i + 1, i) for i in range(20)}
    assert {tuple(e) for e in seen[0].t().tolist()} == official_train  # never a valid/test edge
    run = api.train("gae", ds, task="link", overrides=sets, seed=0, out=tmp_path / "run")
    again = api.evaluate(tmp_path / "run", data_root=str(tmp_path / "root"))
    assert again["protocol"] == "ogb" and again["values"] == rec["values"]
    assert torch.equal(run.split.test_pos, split_edge["test"]["edge"].t())
