"""Protocols exactly as published (issue 7, section 2): PairNorm as the official IsoC-VGAE code,
degree features after the link split, evaluate == reproduce, fold coverage, results records."""
from __future__ import annotations

import pytest
import torch
from torch_geometric.data import Batch, Data

from graphemb.nn.encoders import EncoderConfig, GNNEncoder
from graphemb.nn.norm import PairNorm, make_norm


# --------------------------------------------------------------------------- PairNorm PN-SCS
def test_pair_norm_scs_matches_hand_computed_values():
    """PN-SCS (reference code): s * x_i / ||x_i|| - mean of the *input* rows, over all rows."""
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    # rows / norms: (.6, .8), (0, 1), (1, 0); input column mean (4/3, 2); s = 20
    want = torch.tensor([[12 - 4 / 3, 16 - 2.0], [0 - 4 / 3, 20 - 2.0], [20 - 4 / 3, 0 - 2.0]])
    norm = PairNorm("pn-scs", scale=20, per_graph=False, channels=2)  # train mode: batch statistics
    assert torch.allclose(norm(x), want, atol=1e-4)
    # over the whole mini-batch: a batch vector does not change the statistics
    assert torch.allclose(norm(x, torch.tensor([0, 0, 1])), want, atol=1e-4)
    # per graph, graph 1 (the single row (1, 0)) is centred on itself: 20 * (1, 0) - (1, 0)
    per_graph = PairNorm("pn-scs", scale=20, per_graph=True)(x, torch.tensor([0, 0, 1]))
    assert torch.allclose(per_graph[2], torch.tensor([19.0, 0.0]), atol=1e-4)
    assert torch.allclose(per_graph[0], torch.tensor([12 - 1.5, 16 - 3.0]), atol=1e-4)


def test_pair_norm_pn_is_pygs_default():
    """Mode PN at scale 1 centres first, then divides by the root mean squared row norm."""
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    c = x - x.mean(0)
    want = c / c.pow(2).sum(1).mean().sqrt()
    assert torch.allclose(make_norm("pair", 2)(x), want, atol=1e-4)


def test_paper_graph_preset_builds_the_official_pair_norm():
    from graphemb.config import build_run_config
    from graphemb.models import MODELS

    cfg = build_run_config("isoc-vgae", dataset="MUTAG", task="graph", preset="paper")
    enc = cfg.model.encoder
    assert (enc.norm, enc.pair_norm_mode, enc.pair_norm_scale, enc.pair_norm_per_graph) == ("pair", "pn-scs", 20.0, False)
    model = MODELS.get("isoc-vgae").from_config(7, cfg.model)
    norms = [m for m in model.modules() if isinstance(m, PairNorm)]
    assert norms and all((n.mode, n.scale, n.per_graph) == ("pn-scs", 20.0, False) for n in norms)


def test_graph_default_preset_is_the_best_stored_tuning_candidate():
    """The IsoC-VGAE graph `default` is the candidate with the highest validation mean in the
    stored tuning records (experiments/results/tuning/graph.json), layered over `paper`; only
    the featureless-graph input (one-hot degree, which MUTAG's tuning cannot judge) differs."""
    import json
    import statistics
    from pathlib import Path

    from graphemb.config import build_run_config

    rec = json.loads((Path(__file__).resolve().parents[1] / "experiments/results/tuning/graph.json").read_text())
    assert rec["complete"]
    best = max(rec["records"], key=lambda r: statistics.mean(next(iter(r["validation"].values()))))
    sets = [f"{k}={v}" for k, v in best["candidate"].items() if k != "preset"]
    tuned = build_run_config("isoc-vgae", dataset="MUTAG", task="graph", preset="paper", overrides=sets).to_dict()
    default = build_run_config("isoc-vgae", dataset="MUTAG", task="graph", preset="default").to_dict()
    for section in ("model", "train", "task"):
        assert default[section] == tuned[section], section
    assert (tuned["data"]["features"], default["data"]["features"]) == ("auto-constant", None)  # None: "auto"


def test_node_default_preset_is_the_best_stored_tuning_candidate():
    """The IsoC-VGAE node `default` is the candidate with the highest validation mean in
    experiments/results/tuning/node.json, layered over `paper`, and it differs from `paper`."""
    import json
    import statistics
    from pathlib import Path

    from graphemb.config import build_run_config

    rec = json.loads((Path(__file__).resolve().parents[1] / "experiments/results/tuning/node.json").read_text())
    assert rec["complete"]
    best = max(rec["records"], key=lambda r: statistics.mean(r["validation"]["Cora/linear"]))
    sets = [f"{k}={v}" for k, v in best["candidate"].items() if k != "preset"]
    tuned = build_run_config("isoc-vgae", dataset="Cora", task="node", preset="paper", overrides=sets).to_dict()
    default = build_run_config("isoc-vgae", dataset="Cora", task="node", preset="default").to_dict()
    paper = build_run_config("isoc-vgae", dataset="Cora", task="node", preset="paper").to_dict()
    for section in ("model", "train", "task", "data"):
        assert default[section] == tuned[section], section
    assert default["model"] != paper["model"] and default["train"] != paper["train"]


def test_batch_scope_pair_norm_uses_running_statistics_in_eval_mode():
    """Eval mode: the running averages of the training batches' statistics, never the batch's
    own (hand-computed with momentum 1: the running mean is the last training batch's mean)."""
    x = torch.tensor([[3.0, 4.0], [0.0, 2.0], [1.0, 0.0]])
    for mode in ("pn-scs", "pn-si", "pn"):
        norm = PairNorm(mode, scale=20, per_graph=False, channels=2, momentum=1.0)
        norm(x)  # train mode: records mean (4/3, 2) and the mean squared centred row norm
        row = torch.tensor([[6.0, 8.0]])
        c = row - torch.tensor([[4 / 3, 2.0]])
        want = {"pn-scs": 20 * row / 10 - torch.tensor([[4 / 3, 2.0]]), "pn-si": 20 * c / c.norm(),
                "pn": 20 * c / (x - x.mean(0)).pow(2).sum(1).mean().sqrt()}[mode]
        assert torch.allclose(norm.eval()(row), want, atol=1e-3), mode
    with pytest.raises(ValueError, match="channels"):
        PairNorm("pn-scs", per_graph=False)


def test_encoder_with_batch_scope_pair_norm_mixes_graphs_only_in_training():
    """Whole-mini-batch statistics (official) while training; a frozen (eval-mode) embedding of a
    graph never depends on its batch mates, else batches of label-sorted graphs (IMDB-BINARY,
    PROTEINS) leak their label into every embedding."""
    torch.manual_seed(0)
    cfg = EncoderConfig(hidden_channels=8, num_layers=2, norm="pair", pair_norm_mode="pn-scs",
                        pair_norm_scale=20, pair_norm_per_graph=False)
    enc = GNNEncoder(4, cfg)
    ei = torch.tensor([[0, 1, 1, 2], [1, 0, 2, 1]])
    g1 = Data(x=torch.randn(3, 4), edge_index=ei)
    g2 = Data(x=torch.randn(3, 4) * 5 + 3, edge_index=ei)
    b = Batch.from_data_list([g1, g2])
    hb = enc(b.x, b.edge_index, b.batch)[0]
    assert not torch.allclose(hb[:3], enc(g1.x, g1.edge_index)[0], atol=1e-3)
    enc.eval()
    hb = enc(b.x, b.edge_index, b.batch)[0]
    assert torch.allclose(hb[:3], enc(g1.x, g1.edge_index)[0], atol=1e-5)
    with pytest.raises(ValueError, match="pair_norm_mode"):
        GNNEncoder(4, EncoderConfig(norm="pair", pair_norm_mode="scs"))


# --------------------------------------------------------------------------- degree features after the split
def _star_plus_path_dataset():
    """Node 0 is a hub of degree 6; the rest is a path, so removing edges changes degrees."""
    from graphemb.data.features import default_features
    from graphemb.data.registry import GraphDataset

    edges = [(0, i) for i in range(1, 7)] + [(i, i + 1) for i in range(1, 12)]
    e = torch.tensor(edges).t()
    ei = torch.cat([e, e.flip(0)], 1)
    n = 13
    x, note = default_features(ei, n, "degree")
    d = Data(x=x, edge_index=ei, num_nodes=n, y=torch.zeros(n, dtype=torch.long), node_id=torch.arange(n))
    return GraphDataset(name="toy", level="node", data=d, num_features=x.size(1), num_classes=1, feature_note=note)


def test_link_degree_features_come_from_the_training_graph():
    from graphemb import api
    from graphemb.config import build_run_config
    from graphemb.data.features import node_degree

    ds = _star_plus_path_dataset()
    cfg = build_run_config("gae", dataset="toy", task="link",
                           values={"task": {"link_val_ratio": 0.2, "link_test_ratio": 0.2}, "train": {"seed": 1}})
    train_input, split = api.prepare_training_input(cfg, ds)
    deg_train = node_degree(train_input.edge_index, 13)
    deg_full = node_degree(ds.data.edge_index, 13)
    assert not torch.equal(deg_train, deg_full)  # the split removed edges
    # one-hot of the training degree, buckets from the training graph's maximum degree
    assert train_input.x.shape == (13, int(deg_train.max()) + 1)
    assert torch.equal(train_input.x.argmax(1), deg_train)
    assert torch.equal(split.train_data.x, train_input.x)
    # the loaded dataset is untouched (node tasks keep full-graph features)
    assert torch.equal(ds.data.x.argmax(1), deg_full)
    # real features are left alone
    ds.feature_note = "bag-of-words"
    assert torch.equal(api.prepare_training_input(cfg, ds)[0].x, ds.data.x)


def test_link_training_sees_training_degree_features(monkeypatch):
    """The encoder is built for, trained on and embeds the training-graph features."""
    from graphemb import api
    from graphemb.data.features import node_degree

    seen = []

    real_fit = api.fit

    def spy(model, data, cfg, *a, **k):
        seen.append(data.x.clone())
        return real_fit(model, data, cfg, *a, **k)

    monkeypatch.setattr(api, "fit", spy)
    ds = _star_plus_path_dataset()
    run = api.train("gae", ds, task="link", seed=1,
                    values={"task": {"link_val_ratio": 0.2, "link_test_ratio": 0.2}, "train": {"epochs": 2}})
    deg_train = node_degree(run.split.train_data.edge_index, 13)
    assert torch.equal(seen[0].argmax(1), deg_train)
    assert run.model.encoder.in_channels == int(deg_train.max()) + 1


# --------------------------------------------------------------------------- evaluate == reproduce
def test_evaluate_saved_link_run_gives_reproduces_number(tmp_path):
    """`graphemb evaluate RUN --protocol mlp` == what `reproduce` gave for that seed, exactly."""
    from graphemb import api

    sets = ["train.epochs=3", "model.encoder.hidden_channels=8", "model.encoder.out_channels=4",
            "data.options={num_nodes: 60, feature_dim: 5, p_in: 0.3}"]
    rep = api.reproduce("gae", "synthetic", task="link", seeds=1, first_seed=2, protocol="mlp", overrides=sets)
    api.train("gae", "synthetic", task="link", seed=2, out=tmp_path / "r", overrides=sets)
    rec = api.evaluate(tmp_path / "r", protocol="mlp")
    assert rec["values"] == rep["values"]
    assert rec["ap"]["values"] == rep["ap"]["values"]


# --------------------------------------------------------------------------- graph folds
def test_drawn_folds_test_every_graph_once_and_fixed_folds_report_the_rest():
    import numpy as np

    from graphemb.evaluation.graph import cv_splits, svm_protocol

    y = np.array([0] * 13 + [1] * 10)
    for seed in (0, 1):
        tested = np.concatenate([te for _, te in cv_splits(y, seed)])
        assert sorted(tested.tolist()) == list(range(23))  # each graph exactly once per repeat
    # GIN-style fixed folds: floor(23 / 10) = 2 test graphs per fold, graphs 20..22 never tested
    perm = np.arange(23)
    fixed = [(np.setdiff1d(perm, perm[2 * k:2 * k + 2]), perm[2 * k:2 * k + 2]) for k in range(10)]
    assert len(cv_splits(y, 0, fixed)) == 10
    x = torch.randn(23, 3, generator=torch.Generator().manual_seed(0))
    assert svm_protocol(x, y, folds=fixed, Cs=(1.0,), inner_cv=2).extra["num_untested"] == 3.0
    assert svm_protocol(x, y, Cs=(1.0,), inner_cv=2, n_splits=5).extra["num_untested"] == 0.0
    dup = fixed[:9] + [(np.arange(2, 23), np.array([0, 1]))]
    with pytest.raises(ValueError, match="more than once"):
        cv_splits(y, 0, dup)


# --------------------------------------------------------------------------- results from records only
def _run_results():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "run_results.py"
    spec = importlib.util.spec_from_file_location("run_results", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_results_md_is_exactly_what_the_stored_records_give():
    """No hand-typed number: RESULTS.md regenerates identically from records + references.yaml."""
    rr = _run_results()
    assert rr.report() == (rr.HERE / "RESULTS.md").read_text(), \
        "experiments/RESULTS.md is stale or hand-edited; run `python experiments/run_results.py --report-only`"
    assert rr.check() == 0


def test_references_are_shown_per_model_and_protocol():
    rr = _run_results()
    refs = [
        {"model": "isoc-vgae", "dataset": "Cora", "task": "link", "protocol": "mlp", "metric": "auc", "value": 93.1,
         "std": None, "source": "official"},
        {"model": "vgae", "dataset": "Cora", "task": "link", "protocol": "dot", "metric": "ap", "value": 92.6,
         "std": 0.01, "source": "K&W"},
        {"model": "vgae", "dataset": "Cora", "task": "link", "protocol": "dot", "metric": "auc", "value": 91.4,
         "std": 0.01, "source": "K&W"},
        {"model": "graphmae", "dataset": "Cora", "task": "link", "protocol": "dot", "metric": "auc", "value": 50.0,
         "std": None, "source": "GM"},
    ]
    # a VGAE row never shows IsoC-VGAE's reference, and vice versa
    assert rr.references_for(refs, "vgae", "Cora", "link", "mlp", same_model=True) == ""
    assert rr.references_for(refs, "isoc-vgae", "Cora", "link", "mlp", same_model=True) == "AUC 93.1 (official)"
    assert rr.references_for(refs, "vgae", "Cora", "link", "dot", same_model=True) == "AUC 91.4 ± 0.01 / AP 92.6 ± 0.01 (K&W)"
    assert rr.references_for(refs, "isoc-vgae", "Cora", "link", "dot", same_model=True) == ""
    # other methods: named, never one of our models
    assert rr.references_for(refs, "isoc-vgae", "Cora", "link", "dot", same_model=False) == "graphmae: AUC 50.0 (GM)"
    # the repository's file parses and every entry has a source
    assert all(e["source"] for e in rr.load_references())


def test_a_record_whose_config_changed_is_shown_stale():
    rr = _run_results()
    row = ("isoc-vgae", "paper", "MUTAG", "graph")
    cfg = rr.current_config(*row)
    assert rr.staleness(row, {"config": cfg}) == ""
    old = {**cfg, "model": {**cfg["model"], "encoder": {**cfg["model"]["encoder"], "pair_norm_mode": "pn"}}}
    assert "config differs" in rr.staleness(row, {"config": old})
    assert rr.staleness(row, {"stale": "old PairNorm"}) == "old PairNorm"
    # a new config field absent from an old record keeps the old behaviour; a loader option does not
    no_field = {**cfg, "model": {k: v for k, v in cfg["model"].items() if k != "mask_rate"}}
    assert rr.staleness(row, {"config": no_field}) == ""
    assert cfg["data"]["options"] == {}
    new_option = {**cfg, "data": {**cfg["data"], "options": {"degree_cap": 400}}}
    assert rr.config_changes(cfg, new_option) == ["data.options"]
    # ... unless the row now sets that field away from its default: the old record ran the default
    link = ("maskgae", "paper", "Cora", "link")
    cur = rr.current_config(*link)
    assert cur["model"]["start"] == "edge" and cur["model"]["mask"] == "path"
    drop = lambda key: {**cur, "model": {k: v for k, v in cur["model"].items() if k != key}}  # noqa: E731
    assert "model.start" in rr.staleness(link, {"config": drop("start")})
    assert rr.staleness(link, {"config": drop("mask")}) == ""  # path masking is the default


def test_resume_continues_a_stored_row_exactly_where_a_fresh_run_would_be(monkeypatch):
    """--resume: seeds 0..n-1 of a current record plus the seeds still missing give the record a
    fresh run of all seeds gives (values, extras, commands); stale or other-device records restart."""
    from types import SimpleNamespace

    from graphemb import api
    from graphemb.evaluation.stats import ProtocolResult

    rr = _run_results()
    row = ("dgi", "paper", "Cora", "node")
    trained = []

    def fake_train(cfg, data):
        trained.append(cfg.train.seed)
        return SimpleNamespace(train_result=SimpleNamespace(seconds_per_epoch=0.1 * (cfg.train.seed + 1),
                                                            peak_memory_mb=10.0 * (cfg.train.seed + 1)),
                               embeddings=cfg.train.seed, split=None, model=None)

    def fake_eval(cfg, emb, data, split, protocol, seed, **kw):
        assert emb == seed  # each seed is evaluated on its own re-trained embeddings
        return None, ProtocolResult("accuracy", 0.5 + 0.01 * seed + (protocol == "mlp") * 0.1,
                                    {"val_accuracy": 0.4 + 0.02 * seed, "best_epoch": float(seed)})

    monkeypatch.setattr(api, "train_config", fake_train)
    monkeypatch.setattr(api, "evaluate_embeddings", fake_eval)
    monkeypatch.setattr(api, "load_data", lambda cfg: None)
    monkeypatch.setattr(api, "split_name", lambda *a: "public")
    fresh = rr.run_row(*row, seeds=3, device="cpu")
    two = rr.run_row(*row, seeds=2, device="cpu")
    trained.clear()
    done = rr.finished_seeds(row, two, "cpu")
    resumed = rr.run_row(*row, seeds=3, device="cpu", done=done)
    assert trained == [2]
    drop = ("seconds", "train_seconds_per_epoch")
    assert [{k: v for k, v in r.items() if k not in drop} for r in resumed["records"]] == \
           [{k: v for k, v in r.items() if k not in drop} for r in fresh["records"]]
    assert resumed["records"][0]["command"].count("--seeds 3") == 1
    assert resumed["records"][0]["values"] == [0.5, 0.51, 0.52]
    assert resumed["records"][0]["peak_memory_mb"] == 30.0
    # enough seeds: nothing to train; stale, another device or other protocols: start from seed 0
    assert rr.run_row(*row, seeds=2, device="cpu", done=done) is None
    assert rr.finished_seeds(row, {**two, "stale": "old"}, "cpu") is None
    assert rr.finished_seeds(row, two, "cuda") is None
    assert rr.finished_seeds(row, {**two, "records": two["records"][:1]}, "cpu") is None
    assert rr.finished_seeds(row, None, "cpu") is None


def test_tuning_report_is_built_from_the_tuning_records_only(tmp_path):
    """tuning.md's tables come from the tuner's records: mean ± population std in percent per
    candidate, '(P)' for values a candidate keeps from preset P, the best mean marked."""
    import json

    rr = _run_results()
    assert "No tuning records" in rr.tuning_report(tmp_path)
    (tmp_path / "node.json").write_text(json.dumps({
        "command": "python experiments/tune_isoc_vgae.py --seeds 2", "level": "node", "seeds": 2, "device": "cpu",
        "complete": False, "records": [
            {"candidate": {"train.lr": 0.001}, "validation": {"Cora/linear": [0.7, 0.8]}},
            {"candidate": {"preset": "default"}, "validation": {"Cora/linear": [0.6, 0.6]}}]}))
    lines = rr.tuning_report(tmp_path).splitlines()
    assert "| train.lr | preset | Cora/linear validation |" in lines
    assert "| 0.001 | paper | 75.00 ± 5.00 (best) |" in lines
    assert "| (default) | default | 60.00 ± 0.00 |" in lines
    assert any("stopped before every candidate ran" in line for line in lines)
    # the committed tuning.md is exactly what the stored records give
    assert rr.TUNING_MD.read_text() == rr.tuning_report()


def test_a_stale_ablation_record_is_shown_stale(tmp_path, monkeypatch):
    import json

    rr = _run_results()
    rec = {"dataset": "Cora", "variant": "ours", "values": [0.91, 0.91], "mean": 0.91, "std": 0.0,
           "ap": {"mean": 0.92, "std": 0.0, "values": [0.92, 0.92]}, "command": "python x.py --seeds 2"}
    (tmp_path / "ablation_link_mlp_cora.json").write_text(json.dumps({"records": [rec], "stale": "old sampler"}))
    monkeypatch.setattr(rr, "RESULTS", tmp_path)
    assert "| Cora | ours | 2 | **stale** (old sampler): 91.00 ± 0.00 | 92.00 ± 0.00 | `python x.py --seeds 2` |" \
        in rr.report().splitlines()


def test_summary_tables_pivot_the_records_with_references_and_best_lines():
    """Issue 8's summary: a row per (model, preset), a column per dataset; `—` where no record,
    `†` for CPU-cut rows; stale cells never count as graphemb's best; a reference shows only
    beside its own protocol."""
    rr = _run_results()

    def rec(model, preset, ds, task, protocol, values, **kw):
        m = sum(values) / len(values)
        sd = (sum((v - m) ** 2 for v in values) / len(values)) ** 0.5
        return {"model": model, "preset": preset, "dataset": ds, "task": task, "protocol": protocol,
                "metric": "accuracy", "values": values, "mean": m, "std": sd, **kw}

    stored = [
        (("dgi", "paper", "Cora", "node"), {"records": [rec("dgi", "paper", "Cora", "node", "linear", [0.8, 0.82])]}),
        (("maskgae", "paper", "Cora", "node"), {"stale": "old mask", "records": [
            rec("maskgae", "paper", "Cora", "node", "linear", [0.9, 0.9], cpu_cut="epochs 200")]}),
        (("maskgae", "paper", "Cora", "link"), {"records": [
            rec("maskgae", "paper", "Cora", "link", "dot", [0.9], ap={"mean": 0.95, "std": 0.0}),
            rec("maskgae", "paper", "Cora", "link", "decoder", [0.96], ap={"mean": 0.97, "std": 0.0})]}),
    ]
    refs = [{"model": "dgi", "dataset": "Cora", "task": "node", "protocol": "linear", "metric": "accuracy",
             "value": 82.3, "std": None, "source": "DGI"},
            {"model": "bgrl", "dataset": "Amazon-Computers", "task": "node", "protocol": "linear",
             "metric": "accuracy", "value": 90.34, "std": None, "source": "BGRL"},
            {"model": "maskgae", "dataset": "Cora", "task": "link", "protocol": "decoder", "metric": "auc",
             "value": 96.45, "std": None, "source": "MaskGAE"}]
    lines = rr.summary_tables(stored, refs)
    row = next(line for line in lines if line.startswith("| dgi | paper |"))
    assert row.startswith("| dgi | paper | 81.00 ± 1.00 (2) [82.3] | — |")
    assert "| maskgae | paper | 90.00 ± 0.00 (2†*) [84.3] |" not in lines  # refs given here lack it
    assert any(line.startswith("| maskgae | paper | 90.00 ± 0.00 (2†*) |") for line in lines)
    # the stale 90.00 is not graphemb's best on Cora: DGI's 81.00 is
    assert "| best of graphemb | | 81.00 (dgi) | — | — | — | — |" in lines
    assert "| best published | | 82.3 (dgi) | — | 90.34 (bgrl) | — | — |" in lines
    # link: AUC / AP cells; the decoder reference beside the decoder cell only
    assert "| maskgae | paper | 90.00 ± 0.00 / 95.00 ± 0.00 (1) | — |" in lines
    assert "| maskgae | paper | 96.00 ± 0.00 / 97.00 ± 0.00 (1) [96.45] | — |" in lines
    # the decoder table lists only models that have their own edge decoder (no everlasting `—`)
    head = lines.index("### Link prediction, the model's own edge decoder (AUC / AP)")
    body = lines[head + 4:lines.index("", head + 2)]
    assert [line.split(" | ")[0] for line in body] == ["| maskgae", "| best of graphemb", "| best published"]
    dot = lines.index("### Link prediction, inner-product scores (AUC / AP)")
    assert any(line.startswith("| dgi | paper |") for line in lines[dot:head])  # dot scores: every model


def test_tuner_resume_reuses_only_records_of_the_same_seeds_device_and_targets(tmp_path, monkeypatch):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    exp = Path(__file__).resolve().parents[1] / "experiments"
    monkeypatch.syspath_prepend(str(exp))
    spec = importlib.util.spec_from_file_location("tune_isoc_vgae", exp / "tune_isoc_vgae.py")
    tune = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tune)
    f = tmp_path / "node.json"
    assert tune.stored_candidates(f, 2, "cpu", ["Cora/linear"]) == {}
    f.write_text(json.dumps({"seeds": 2, "device": "cpu", "records": [
        {"candidate": {"train.lr": 0.001, "model.mask_rate": 0.5}, "validation": {"Cora/linear": [0.8, 0.7]}},
        {"candidate": {"train.lr": 0.01}, "validation": {"CiteSeer/linear": [0.6, 0.6]}}]}))
    got = tune.stored_candidates(f, 2, "cpu", ["Cora/linear"])
    # key order of the candidate does not matter; a record without the target is not reused
    assert got == {json.dumps({"model.mask_rate": 0.5, "train.lr": 0.001}, sort_keys=True): {"Cora/linear": [0.8, 0.7]}}
    assert tune.stored_candidates(f, 3, "cpu", ["Cora/linear"]) == {}
    assert tune.stored_candidates(f, 2, "cuda", ["Cora/linear"]) == {}
    sys.modules.pop("run_results", None)
