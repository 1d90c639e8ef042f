"""CLI smoke tests: synthetic data end to end, Cora from the shared datasets, clear errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphemb.cli.main import main

TINY = ["--set", "train.epochs=2", "--set", "model.encoder.hidden_channels=8", "--no-progress"]
SYN = ["--set", "data.options={num_nodes: 60, feature_dim: 6}"]


def _last_json(capsys):
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def test_datasets_lists_registered_names(capsys):
    assert main(["datasets", "--json"]) == 0
    names = {r["name"] for r in _last_json(capsys)}
    assert {"Cora", "CiteSeer", "MUTAG", "synthetic"} <= names


def test_model_help_names_every_registered_model():
    """The parser is built without importing the models, so its help names them by hand: keep
    that list equal to the registry."""
    import re

    from graphemb.cli.main import _MODEL_HELP
    from graphemb.models import MODELS
    listed = set(re.match(r"a registered model: ([^(]*)", _MODEL_HELP).group(1).replace(" ", "").split(","))
    assert listed == set(MODELS.names())


def test_train_evaluate_embed_on_synthetic(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", "isoc-vgae", "--dataset", "synthetic", "--seed", "1", "--out", str(run), *TINY, *SYN]) == 0
    assert (run / "checkpoint.pt").is_file()
    capsys.readouterr()
    assert main(["evaluate", str(run), "--task", "node", "--protocol", "linear", "--json"]) == 0
    rec = _last_json(capsys)
    assert set(rec) >= {"model", "dataset", "task", "protocol", "metric", "mean", "std", "values", "seconds"}
    assert rec["model"] == "isoc-vgae" and rec["protocol"] == "linear" and rec["metric"] == "accuracy"
    assert main(["embed", str(run), "--level", "node", "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (60, 8)


def test_reproduce_link_json(capsys):
    code = main(["reproduce", "vgae", "--dataset", "synthetic", "--task", "link", "--seeds", "2", "--json",
                 *TINY, "--set", "data.options={num_nodes: 80, feature_dim: 6, p_in: 0.2}"])
    assert code == 0
    rec = _last_json(capsys)
    assert rec["task"] == "link" and rec["metric"] == "auc" and len(rec["values"]) == 2
    assert rec["values"][0] != rec["values"][1]  # each seed re-splits and re-trains
    assert set(rec["ap"]) == {"mean", "std", "values"} and len(rec["ap"]["values"]) == 2


def test_probe_options_reach_the_protocol_and_the_record(tmp_path, capsys):
    run = tmp_path / "r"
    assert main(["train", "isoc-vgae", "--dataset", "synthetic", "--out", str(run), *TINY, *SYN]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--protocol", "linear", "--probe", "weight_decays=[0.5]", "--json"]) == 0
    assert _last_json(capsys)["weight_decay"]["values"] == [0.5]  # the only candidate is the one kept
    assert main(["evaluate", str(run), "--protocol", "linear", "--probe", "nosuch=1"]) == 2
    assert "has no option 'nosuch'" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--probe", "weight_decays"]) == 2  # not KEY=VALUE
    assert main(["reproduce", "isoc-vgae", "--dataset", "synthetic", "--seeds", "1", "--json", *TINY, *SYN,
                 "--probe", "weight_decays=[0.25]", "--probe", "epochs=20"]) == 0
    rec = _last_json(capsys)
    assert rec["probe_options"] == {"weight_decays": [0.25], "epochs": 20} and rec["weight_decay"]["values"] == [0.25]


def test_reproduce_graph_on_synthetic(capsys):
    code = main(["reproduce", "gae", "--dataset", "synthetic-graphs", "--seeds", "1", "--json", *TINY,
                 "--set", "data.options={num_graphs: 30, num_nodes: 8}", "--set", "train.batch_size=10"])
    assert code == 0
    rec = _last_json(capsys)
    assert rec["task"] == "graph" and rec["protocol"] == "svm" and rec["split"] == "stratified folds per seed"
    # GraphMAE's evaluation: the same stratified folds (random_state=0) for every run, named in the record
    assert main(["reproduce", "gae", "--dataset", "synthetic-graphs", "--seeds", "1", "--json", *TINY,
                 "--set", "data.options={num_graphs: 30, num_nodes: 8}", "--set", "train.batch_size=10",
                 "--probe", "fold_seed=0", "--probe", "Cs=[1.0]", "--probe", "n_splits=3"]) == 0
    rec = _last_json(capsys)
    assert rec["split"] == "stratified folds drawn with seed 0 for every run"
    assert rec["probe_options"] == {"fold_seed": 0, "Cs": [1.0], "n_splits": 3}


def test_cora_from_shared_datasets(graphs_root, cache_dir, tmp_path, capsys):
    run = tmp_path / "cora"
    assert main(["train", "isoc-vgae", "--dataset", "Cora", "--data-root", str(graphs_root), "--out", str(run),
                 *TINY, "--set", "model.encoder.hidden_channels=64"]) == 0
    capsys.readouterr()
    assert main(["evaluate", str(run), "--data-root", str(graphs_root), "--json"]) == 0
    rec = _last_json(capsys)
    from graphemb.data import load_dataset

    d = load_dataset("Cora", graphs_root).data
    # no better than predicting the test set's majority class (0.319 on Cora) without the
    # embeddings; even two epochs of a 64-wide GCN encoder are far above it (~0.56)
    chance = float(torch.bincount(d.y[d.test_mask]).max()) / int(d.test_mask.sum())
    assert rec["dataset"] == "Cora" and rec["protocol"] == "linear" and rec["mean"] > chance + 0.15, (rec, chance)


@pytest.mark.parametrize("argv, message", [
    (["train", "isoc-vgae", "--dataset", "NoSuchSet", "--out", "x"], "NoSuchSet"),
    (["train", "no-model", "--dataset", "synthetic", "--out", "x"], "unknown model 'no-model'"),
    (["train", "gae", "--dataset", "synthetic", "--set", "train.epochs", "--out", "x"], "key.path=value"),
    (["evaluate", "/nonexistent/run"], "not a graphemb run directory"),
    (["train", "gae", "--dataset", "synthetic-graphs", "--task", "node", "--out", "x"], "set of graphs"),
])
def test_errors_are_one_clear_line(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("graphemb: error:") and message in err


def test_results_commands_run(graphs_root, cache_dir, capsys, monkeypatch):
    """The commands printed in experiments/RESULTS.md work (shortened to 1 seed, 2 epochs)."""
    from pathlib import Path

    monkeypatch.setenv("GRAPHEMB_DATA", str(graphs_root))
    cfg = Path(__file__).resolve().parents[1] / "experiments" / "configs" / "vgae_paper_cora_link.yaml"
    assert main(["reproduce", "vgae", "--config", str(cfg), "--seeds", "1", "--protocol", "dot", "--device", "cpu",
                 "--json", "--set", "train.epochs=2", "--no-progress"]) == 0
    rec = _last_json(capsys)
    assert rec["dataset"] == "Cora" and rec["task"] == "link" and rec["preset"] == "paper"
    assert set(rec) >= {"ap", "mrr", "hits@50"}


def test_train_requires_a_dataset(capsys):
    assert main(["train", "gae", "--out", "x"]) == 2
    assert "--dataset" in capsys.readouterr().err


def test_graph_task_is_inferred_from_a_config_without_task(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {name: gae}\ndata: {name: synthetic-graphs, options: {num_graphs: 20, num_nodes: 8}}\n")
    assert main(["reproduce", "gae", "--config", str(cfg), "--seeds", "1", "--json", *TINY,
                 "--set", "train.batch_size=10"]) == 0
    assert _last_json(capsys)["task"] == "graph"


def test_building_the_cli_does_not_import_heavy_optional_libraries():
    """`graphemb --help` must not pay for gensim or sentence-transformers (lazy package namespaces)."""
    import subprocess
    import sys

    code = ("import sys; from graphemb.cli.main import build_parser; build_parser(); "
            "print(','.join(m for m in ('gensim', 'sentence_transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
