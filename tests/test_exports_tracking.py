"""Exports with ids (multimodal features/predictions, matching embeddings) and --tracker."""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pandas as pd
import pytest

from graphemb.cli.main import main

TINY = ["--set", "train.epochs=3", "--set", "model.encoder.hidden_channels=8",
        "--set", "data.options={num_nodes: 30, feature_dim: 4}", "-q"]
MAG = "synthetic-mag:n=90,seed=1"


def _last(capsys):
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_mag_export_features_with_ids(tmp_path, monkeypatch, capsys):
    from graphemb.multimodal import load_mag
    from graphemb.multimodal.cli import resolve_features

    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "f.parquet"
    assert main(["mag", "export", MAG, "--features", "text:tfidf:6+image:pixels", "--out", str(out), "--json", "-q"]) == 0
    rec = _last(capsys)
    df = pd.read_parquet(out)
    g = load_mag(MAG)
    names = resolve_features(g, "text:tfidf:6+image:pixels")
    assert rec["feature_sets"] == names and df.columns[0] == "id"
    assert df["id"].tolist() == list(g.node_ids)
    expect = np.concatenate([g.features[n].x.numpy() for n in names], 1)
    np.testing.assert_allclose(df.iloc[:, 1:].to_numpy(), expect, atol=1e-6)
    assert main(["mag", "export", MAG, "--features", "text:tfidf:6", "--out", str(tmp_path / "f.npy"), "-q"]) == 0
    assert np.load(tmp_path / "f.ids.npy").tolist() == list(g.node_ids)


def test_mag_predictions_match_the_reported_accuracy(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "pred.parquet"
    assert main(["mag", "train", MAG, "--features", "text:tfidf:8", "--seeds", "2", "--epochs", "5",
                 "--predictions", str(out), "--json", "-q"]) == 0
    rec = _last(capsys)
    df = pd.read_parquet(out)
    assert list(df.columns) == ["id", "label", "split", "pred_seed0", "pred_seed1"]
    test = df[df.split == 2]
    assert (test.pred_seed0 == test.label).mean() == pytest.approx(rec["values"][0])


def test_match_embed_exports_a_table_with_node_names(tmp_path, capsys):
    (tmp_path / "a.csv").write_text("name,city\nalpha cafe,paris\nbeta bar,rome\n")
    (tmp_path / "b.txt").write_text("the alpha cafe in paris\na beta bar in rome\n")
    g = tmp_path / "g"
    assert main(["match", "build", str(tmp_path / "a.csv"), str(tmp_path / "b.txt"), "--out", str(g), "-q"]) == 0
    out = tmp_path / "z.parquet"
    assert main(["match", "embed", str(g), "--preset", "tiny", "--out", str(out), "--json", "-q"]) == 0
    rec = _last(capsys)
    df = pd.read_parquet(out)
    from graphemb.matching.graph import MatchingGraph

    names = MatchingGraph.load(g).names
    assert df["id"].tolist() == list(names) and df.shape[1] == 1 + rec["shape"][1]


class _Writer:
    calls: list = []

    def __init__(self, log_dir=None, comment=""):
        _Writer.calls.append(("init", log_dir))

    def add_scalar(self, tag, value, step):
        _Writer.calls.append(("scalar", tag, value, step))

    def add_hparams(self, hparams, metrics, run_name=None):
        _Writer.calls.append(("hparams", hparams, metrics))

    def close(self):
        _Writer.calls.append(("close",))


def test_tensorboard_tracker_logs_config_losses_and_final_metrics(tmp_path, monkeypatch):
    fake = types.ModuleType("torch.utils.tensorboard")
    fake.SummaryWriter = _Writer
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", fake)
    _Writer.calls = []
    run = tmp_path / "run"
    assert main(["train", "gae", "--dataset", "synthetic", "--out", str(run), "--tracker", "tensorboard", *TINY]) == 0
    hist = json.loads((run / "metrics.json").read_text())["history"]
    scalars = [(t, v, s) for kind, *rest in _Writer.calls if kind == "scalar" for t, v, s in [rest]]
    assert [(s, v) for t, v, s in scalars if t == "train/loss"] == [(i + 1, h["loss"]) for i, h in enumerate(hist)]
    (hp, final), = [(c[1], c[2]) for c in _Writer.calls if c[0] == "hparams"]
    assert hp["train.epochs"] == 3 and hp["model.name"] == "gae"
    assert final["final/epochs_run"] == 3.0 and final["final/final_loss"] == pytest.approx(hist[-1]["loss"])
    assert _Writer.calls[0] == ("init", str(run / "tensorboard")) and _Writer.calls[-1] == ("close",)


def test_tracker_absent_logs_nothing_and_the_run_succeeds(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.setitem(sys.modules, "mlflow", None)
    for tracker in ("tensorboard", "mlflow"):
        assert main(["train", "gae", "--dataset", "synthetic", "--out", str(tmp_path / tracker), "--tracker", tracker,
                     *TINY]) == 0
        assert (tmp_path / tracker / "checkpoint.pt").is_file() and not (tmp_path / tracker / "tensorboard").exists()


def test_mlflow_tracker(tmp_path, monkeypatch):
    calls = []
    fake = types.ModuleType("mlflow")
    fake.set_experiment = lambda name: calls.append(("exp", name))

    class _Run:
        def __enter__(self):
            return self

        def __exit__(self, *a):
            calls.append(("end",))

    fake.start_run = lambda run_name=None: calls.append(("start", run_name)) or _Run()
    fake.log_params = lambda p: calls.append(("params", p))
    fake.log_metrics = lambda m, step=None: calls.append(("metrics", m, step))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    assert main(["train", "gae", "--dataset", "synthetic", "--out", str(tmp_path / "r"), "--tracker", "mlflow", *TINY]) == 0
    steps = [c[2] for c in calls if c[0] == "metrics" and c[2] is not None]
    assert steps == [1, 2, 3] and ("exp", "graphemb") in calls and calls[-1] == ("end",)
    params = next(c[1] for c in calls if c[0] == "params")
    assert params["train.epochs"] == "3"
