"""Run directories never mix or lose runs: --overwrite, temp dir + rename, signals, lock,
resume with bit-identical weights, provenance in metrics.json, atomic evaluate updates."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from graphemb import api
from graphemb.cli.main import main
from graphemb.training import rundir, trainer

REPO = Path(__file__).resolve().parents[1]
TINY = ["train.epochs=3", "model.encoder.hidden_channels=8", "train.progress=false",
        "data.options={num_nodes: 40, feature_dim: 6}"]
LINK = ["train.epochs=2", "model.encoder.hidden_channels=8", "train.progress=false",
        "data.options={num_nodes: 60, feature_dim: 6, p_in: 0.2}"]


def _snapshot(d: Path) -> dict:
    """Every file under ``d`` with its bytes (what "untouched" means)."""
    return {str(p.relative_to(d)): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _old_run(out: Path) -> dict:
    """A finished link run with an evaluation record in its metrics; returns its snapshot."""
    api.train("gae", "synthetic", task="link", out=out, overrides=LINK)
    api.evaluate(out, protocol="dot")
    assert (out / "split.pt").is_file() and "evaluation" in rundir.load_metrics(out)
    return _snapshot(out)


def _fake_run(out: Path) -> dict:
    """An existing run directory (its content does not matter to a new run); returns its snapshot."""
    out.mkdir(parents=True)
    for name in ("config.yaml", "metrics.json", "checkpoint.pt", "embeddings.npz"):
        (out / name).write_bytes(f"old {name}".encode())
    return _snapshot(out)


def _no_leftovers(out: Path) -> None:
    assert not rundir.partial_dir(out).exists()
    assert not out.with_name(out.name + ".lock").exists()
    assert not [p for p in out.parent.iterdir() if ".replaced-" in p.name or p.name.endswith(".tmp")]


# ----------------------------------------------------------------------------- --out / --overwrite


def test_non_empty_out_is_refused_without_overwrite(tmp_path, capsys):
    out = tmp_path / "run"
    before = _fake_run(out)
    with pytest.raises(rundir.RunDirExists, match="not empty.*--overwrite"):
        api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
    capsys.readouterr()
    code = main(["train", "gae", "--dataset", "synthetic", "--out", str(out), "--set", "train.epochs=1"])
    assert code == 2 and "--overwrite" in capsys.readouterr().err
    assert _snapshot(out) == before
    _no_leftovers(out)
    (tmp_path / "empty").mkdir()  # an empty directory is fine
    api.train("gae", "synthetic", task="node", out=tmp_path / "empty", overrides=TINY)
    assert (tmp_path / "empty" / "checkpoint.pt").is_file()


def test_overwrite_replaces_the_old_run_as_a_whole(tmp_path):
    out = tmp_path / "run"
    _old_run(out)  # link run: split.pt + an evaluation record
    run = api.train("gae", "synthetic", task="node", out=out, overrides=TINY, overwrite=True)
    assert run.run_dir == out
    assert not (out / "split.pt").exists()  # nothing of the old run survives
    metrics = rundir.load_metrics(out)
    assert "evaluation" not in metrics and len(metrics["history"]) == 3
    assert rundir.load_config(out).task.name == "node"
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.yaml", "embeddings.npz", "metrics.json"]
    _no_leftovers(out)


# ----------------------------------------------------------------------------- failures leave the old run


def test_invalid_config_writes_nothing(tmp_path, capsys):
    out = tmp_path / "new"
    code = main(["train", "gae", "--dataset", "synthetic", "--out", str(out), "--set", "train.epochs=0"])
    assert code == 2 and "train.epochs must be > 0" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("checkpoint_every", [0, 1])
def test_failed_run_leaves_the_existing_run_untouched(tmp_path, monkeypatch, checkpoint_every):
    out = tmp_path / "run"
    before = _fake_run(out)
    # invalid for this dataset (a node dataset has no graph task): fails after the lock is taken
    with pytest.raises(ValueError, match="set of graphs"):
        api.train("gae", "synthetic", task="graph", out=out, overrides=TINY, overwrite=True)
    assert _snapshot(out) == before
    _no_leftovers(out)

    def boom(*a, **k):
        raise RuntimeError("embedding failed")

    monkeypatch.setattr(api, "compute_embeddings", boom)  # fails after training finished
    with pytest.raises(RuntimeError, match="embedding failed") as err:
        api.train("gae", "synthetic", task="node", out=out, overwrite=True,
                  overrides=TINY + [f"train.checkpoint_every={checkpoint_every}"])
    assert _snapshot(out) == before
    partial = rundir.partial_dir(out)
    if checkpoint_every:  # a resumable checkpoint is kept and named in the error
        assert (partial / "resume.pt").is_file()
        assert any(str(partial) in n and "--resume" in n for n in err.value.__notes__)
    else:
        assert not partial.exists()


# SIGINT's in-process path is also covered by the resume tests; its subprocess run is slow-only
@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM])
def test_signal_keeps_the_existing_run_and_the_partial_one(tmp_path, sig):
    out = tmp_path / "run"
    before = _fake_run(out)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", GRAPHEMB_PROGRESS="0")
    cmd = [sys.executable, "-c", "import sys; from graphemb.cli.main import main; sys.exit(main())",
           "train", "gae", "--dataset", "synthetic", "--out", str(out), "--overwrite", "--no-progress",
           "--set", "train.epochs=1000000", "--set", "train.checkpoint_every=1",
           "--set", "data.options={num_nodes: 30, feature_dim: 4}", "--set", "model.encoder.hidden_channels=4"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    resume_file = rundir.partial_dir(out) / "resume.pt"
    try:
        deadline = time.monotonic() + 120
        while not resume_file.is_file():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.05)
        # a second process writing the same --out fails at once, naming the first
        with pytest.raises(rundir.RunDirBusy, match=rf"in use by another graphemb process \(pid {proc.pid} "):
            api.train("gae", "synthetic", task="node", out=out, overrides=TINY, overwrite=True)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig, err
    assert f"--resume {rundir.partial_dir(out)}" in err and "is untouched" in err
    assert _snapshot(out) == before
    state = torch.load(resume_file, weights_only=True)
    assert state["epoch"] >= 1 and len(state["history"]) == state["epoch"]
    rundir.RunLock(out).acquire().release()  # the lock was released


# ----------------------------------------------------------------------------- one writer at a time


def test_second_writer_fails_clearly_and_nothing_is_mixed(tmp_path, capsys):
    out = tmp_path / "run"
    with rundir.RunWriter(out) as first:
        (first.path / "marker").write_text("first")
        with pytest.raises(rundir.RunDirBusy, match=rf"in use by another graphemb process \(pid {os.getpid()}"):
            api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
        capsys.readouterr()
        code = main(["train", "gae", "--dataset", "synthetic", "--out", str(out), "--no-progress",
                     "--set", "train.epochs=1"])
        assert code == 1 and "in use by another graphemb process" in capsys.readouterr().err
        with pytest.raises(rundir.RunDirBusy):  # nor can a run be evaluated while it is written
            api.evaluate(out)
        assert sorted(p.name for p in first.path.iterdir()) == ["marker"]
        first.commit()
    assert sorted(p.name for p in out.iterdir()) == ["marker"]
    _no_leftovers(out)


def test_evaluate_holds_a_shared_lock_writers_wait_for(tmp_path):
    out = tmp_path / "run"
    api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
    with rundir.RunLock(out, shared=True), rundir.RunLock(out, shared=True):  # two readers are fine
        with pytest.raises(rundir.RunDirBusy):
            api.train("gae", "synthetic", task="node", out=out, overrides=TINY, overwrite=True)
    _no_leftovers(out)


# ----------------------------------------------------------------------------- resume


class _InterruptAt:
    """Wraps the trainer's epoch iterator: Ctrl-C just before epoch ``at`` starts."""

    def __init__(self, at: int) -> None:
        self.at = at

    def __call__(self, iterable, **kwargs):
        for epoch in iterable:
            if epoch == self.at:
                raise KeyboardInterrupt
            yield epoch


RESUME_CASES = {
    # IsoC-VGAE samples eps in training and has BatchNorm; patience exercises early stopping.
    "node": ("isoc-vgae", "synthetic", ["train.epochs=7", "train.checkpoint_every=2", "train.patience=50",
                                        "model.encoder.hidden_channels=8", "model.encoder.dropout=0.3",
                                        "data.options={num_nodes: 40, feature_dim: 6}"]),
    # shuffled mini-batches of graphs: the loader's generator must be restored too
    "graph": ("gae", "synthetic-graphs", ["train.epochs=6", "train.checkpoint_every=2", "train.batch_size=4",
                                          "model.encoder.hidden_channels=8",
                                          "data.options={num_graphs: 12, num_nodes: 6}"]),
}


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_resume_ends_with_bit_identical_weights(tmp_path, monkeypatch, case):
    model, dataset, sets = RESUME_CASES[case]
    sets = sets + ["train.progress=false"]
    full = api.train(model, dataset, seed=4, out=tmp_path / "full", overrides=sets)

    out = tmp_path / "cut"
    epochs = full.config.train.epochs
    # interrupted before the last epoch: the last checkpoint is at epoch 4 (every 2), so the
    # resumed run redoes the epochs after it from the restored RNG states
    monkeypatch.setattr(trainer, "progress", _InterruptAt(6))
    with pytest.raises(rundir.RunInterrupted, match="--resume"):
        api.train(model, dataset, seed=4, out=out, overrides=sets)
    monkeypatch.undo()
    partial = rundir.partial_dir(out)
    state = torch.load(partial / "resume.pt", weights_only=True)  # tensors and plain values only
    assert state["epoch"] == 4 and len(state["history"]) == 4
    assert not out.exists()

    resumed = api.resume(partial)
    assert resumed.run_dir == out and not partial.exists() and not (out / "resume.pt").exists()
    a, b = rundir.load_checkpoint(tmp_path / "full")[0].state_dict(), rundir.load_checkpoint(out)[0].state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert torch.equal(resumed.embeddings, full.embeddings)
    ma, mb = rundir.load_metrics(tmp_path / "full"), rundir.load_metrics(out)
    assert ma["history"] == mb["history"] and len(mb["history"]) == epochs
    assert ma["train"]["best_epoch"] == mb["train"]["best_epoch"]


def test_resume_cli(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run"
    sets = TINY + ["train.epochs=4", "train.checkpoint_every=2"]
    monkeypatch.setattr(trainer, "progress", _InterruptAt(4))
    argv = ["train", "gae", "--dataset", "synthetic", "--out", str(out)] + [a for s in sets for a in ("--set", s)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert f"--resume {rundir.partial_dir(out)}" in err
    monkeypatch.undo()
    assert main(["train", "--resume", str(out), "--set", "train.epochs=9"]) == 2  # config is the saved one
    assert "--resume continues the run with its saved config" in capsys.readouterr().err
    assert main(["train", "--resume", str(rundir.partial_dir(out))]) == 0
    assert len(rundir.load_metrics(out)["history"]) == 4
    assert main(["train", "--resume", str(out)]) == 2
    assert "nothing to resume" in capsys.readouterr().err


def test_a_new_run_discards_a_stale_partial_with_a_warning(tmp_path, monkeypatch):
    out = tmp_path / "run"
    monkeypatch.setattr(trainer, "progress", _InterruptAt(3))
    with pytest.raises(rundir.RunInterrupted):
        api.train("gae", "synthetic", task="node", out=out, overrides=TINY + ["train.checkpoint_every=1"])
    monkeypatch.undo()
    with pytest.warns(RuntimeWarning, match="discarding the interrupted run"):
        api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
    assert len(rundir.load_metrics(out)["history"]) == 3
    _no_leftovers(out)


# ----------------------------------------------------------------------------- metrics.json


def _git(*args):
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()


def test_metrics_record_versions_and_git_commit(tmp_path, monkeypatch):
    import torch_geometric

    import graphemb

    out = tmp_path / "run"
    api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
    m = rundir.load_metrics(out)
    assert m["versions"]["graphemb"] == graphemb.__version__
    assert m["versions"]["torch"] == torch.__version__
    assert m["versions"]["torch_geometric"] == torch_geometric.__version__
    assert m["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    from_checkout = Path(graphemb.__file__).resolve().parent == REPO / "graphemb" and _git("rev-parse", "HEAD")
    if from_checkout:
        assert m["git"] == {"commit": _git("rev-parse", "HEAD"),
                            "dirty": bool(_git("status", "--porcelain", "--untracked-files=no"))}
    else:
        assert m["git"] is None
    monkeypatch.setenv("PATH", str(tmp_path / "no-git-here"))  # git absent: recorded as None, no failure
    assert rundir.provenance()["git"] is None


def test_evaluate_updates_metrics_atomically_and_keeps_training_metrics(tmp_path, monkeypatch):
    out = tmp_path / "run"
    api.train("gae", "synthetic", task="node", out=out, overrides=TINY)
    trained = rundir.load_metrics(out)
    api.evaluate(out, protocol="linear")
    m = rundir.load_metrics(out)
    assert set(m["evaluation"]) == {"node/linear"}
    assert {k: m[k] for k in trained} == trained  # training metrics, versions, git: all kept
    before = (out / "metrics.json").read_bytes()

    def crash(obj, f, *a, **k):
        f.write('{"truncated": ')
        raise OSError("disk full")

    monkeypatch.setattr(rundir.json, "dump", crash)
    with pytest.raises(OSError, match="disk full"):
        api.evaluate(out, protocol="linear", seed=1)
    monkeypatch.undo()
    assert (out / "metrics.json").read_bytes() == before  # a crashed update leaves the old file
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.pt", "config.yaml", "embeddings.npz", "metrics.json"]


def test_concurrent_metrics_updates_lose_nothing(tmp_path):
    rundir.save_metrics(tmp_path, {"train": {"epochs_run": 3}})
    inside = threading.Event()

    def slow(m):
        inside.set()
        time.sleep(0.3)  # the other updater runs meanwhile
        m["a"] = 1

    t = threading.Thread(target=rundir.update_metrics, args=(tmp_path, slow))
    t.start()
    inside.wait(10)
    rundir.update_metrics(tmp_path, lambda m: m.__setitem__("b", 2))
    t.join()
    assert rundir.load_metrics(tmp_path) == {"train": {"epochs_run": 3}, "a": 1, "b": 2}


def test_estimator_save_keeps_the_same_guarantees(tmp_path):
    import networkx as nx

    from graphemb import Embedder

    out = tmp_path / "run"
    before = _fake_run(out)
    est = Embedder(model="gae", epochs=2, hidden_channels=4).fit(nx.cycle_graph(5))
    with pytest.raises(rundir.RunDirExists, match="--overwrite"):
        est.save(out)
    assert _snapshot(out) == before
    assert est.save(out, overwrite=True) == out
    assert "old checkpoint.pt".encode() != (out / "checkpoint.pt").read_bytes()
    assert rundir.load_metrics(out)["versions"]["torch"] == torch.__version__
    _no_leftovers(out)
