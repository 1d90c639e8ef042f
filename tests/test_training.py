"""Trainer, run directories and the Python API on tiny synthetic graphs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from graphemb import api
from graphemb.config import TrainConfig
from graphemb.models import MODELS
from graphemb.models.base import EmbeddingModel, LossOutput, ModelOutput
from graphemb.training import rundir, trainer
from graphemb.training.trainer import fit
from graphemb.data.synthetic import make_sbm

TINY = ["train.epochs=3", "model.encoder.hidden_channels=8", "train.progress=false"]


class _Toy(EmbeddingModel):
    """loss = f(w) for a chosen f: lets the trainer's bookkeeping be checked by hand."""

    def __init__(self, f):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(1.0))
        self.f = f

    def forward(self, x, edge_index, batch=None):
        return ModelOutput(z=x * self.w)

    def loss(self, out, x, edge_index, batch=None):
        return LossOutput(self.f(self.w))


def _graph():
    return make_sbm(num_nodes=30, num_classes=3, feature_dim=4, seed=0)


def test_early_stopping_stops_after_patience():
    m = _Toy(lambda w: 0.0 * w + 1.0)  # constant loss: epoch 1 is the best, then no improvement
    res = fit(m, _graph(), TrainConfig(epochs=50, lr=0.1, patience=3, progress=False))
    assert res.best_epoch == 1 and res.epochs_run == 4 and res.stopped_early
    assert len(res.history) == 4 and res.history[0]["loss"] == pytest.approx(1.0)


def test_decreasing_loss_runs_all_epochs():
    m = _Toy(lambda w: w)  # Adam lowers w every step
    res = fit(m, _graph(), TrainConfig(epochs=6, lr=0.1, patience=2, progress=False))
    assert res.epochs_run == 6 and not res.stopped_early and res.best_epoch == 6
    losses = [h["loss"] for h in res.history]
    assert all(b < a for a, b in zip(losses, losses[1:]))


def test_non_finite_loss_is_named():
    m = _Toy(lambda w: w * float("nan"))
    with pytest.raises(FloatingPointError, match="epoch 1"):
        fit(m, _graph(), TrainConfig(epochs=2, progress=False))


@pytest.mark.skipif(not trainer.neighbor_sampling_available(), reason="no torch-sparse / pyg-lib")
def test_neighbor_sampled_training_runs_the_same_model(monkeypatch):
    from graphemb.models import IsoCVGAE

    sizes, real = [], IsoCVGAE.forward

    def spy(self, x, edge_index, batch=None):
        if self.training:
            sizes.append(x.size(0))
        return real(self, x, edge_index, batch)

    monkeypatch.setattr(IsoCVGAE, "forward", spy)
    run = api.train("isoc-vgae", "synthetic", task="node",
                    overrides=TINY + ["train.num_neighbors=[5, 5]", "train.batch_size=10",
                                      "data.options={num_nodes: 40, feature_dim: 6}"])
    # 40 seed nodes in batches of 10: 4 sampled subgraphs per epoch, not one full-graph pass
    assert len(sizes) == 4 * run.train_result.epochs_run and min(sizes) >= 10, sizes
    assert run.embeddings.shape == (40, 8) and torch.isfinite(run.embeddings).all()


def test_run_dir_round_trip(tmp_path):
    out = tmp_path / "run"
    run = api.train("isoc-vgae", "synthetic", task="node", seed=3, out=out,
                    overrides=TINY + ["data.options={num_nodes: 60, feature_dim: 6}"])
    for f in ("config.yaml", "metrics.json", "checkpoint.pt", "embeddings.npz"):
        assert (out / f).is_file(), f
    model, cfg = rundir.load_checkpoint(out)  # weights_only=True inside
    assert cfg == run.config and cfg.train.seed == 3
    d = run.dataset.data
    torch.testing.assert_close(model.embed(d.x, d.edge_index), run.embeddings)
    emb, ids, level = rundir.load_embeddings(out)
    assert level == "node" and ids.tolist() == list(range(60))
    torch.testing.assert_close(emb, run.embeddings)
    metrics = rundir.load_metrics(out)
    assert metrics["train"]["epochs_run"] == 3 and len(metrics["history"]) == 3


def test_same_seed_same_embeddings():
    kw = dict(task="node", seed=1, overrides=TINY + ["data.options={num_nodes: 50, feature_dim: 6}"])
    a = api.train("vgae", "synthetic", **kw).embeddings
    b = api.train("vgae", "synthetic", **kw).embeddings
    torch.testing.assert_close(a, b)


def _pair_keys(edge_index, n):
    u, v = torch.minimum(edge_index[0], edge_index[1]), torch.maximum(edge_index[0], edge_index[1])
    return u * n + v


@pytest.mark.parametrize("name", MODELS.names())
def test_link_run_never_shows_held_out_edges_to_the_model(name, tmp_path, monkeypatch):
    """Spy on every graph the model receives while training (forward/loss) and while the run's
    embeddings are taken (embed, and any encoder pass): no validation or test positive, in
    either direction, may be in any of them."""
    from graphemb.nn.encoders import GNNEncoder

    cls, seen = MODELS.get(name), []

    def spy(phase, fn, ei_pos):
        def wrapper(self, *args, **kwargs):
            ei = args[ei_pos] if len(args) > ei_pos else kwargs["edge_index"]
            seen.append(("fit" if phase == "encoder" and self.training else phase, ei.detach().cpu().clone()))
            return fn(self, *args, **kwargs)
        return wrapper

    for attr, pos in (("forward", 1), ("loss", 2), ("embed", 1)):
        monkeypatch.setattr(cls, attr, spy(attr, getattr(cls, attr), pos))
    monkeypatch.setattr(GNNEncoder, "forward", spy("encoder", GNNEncoder.forward, 1))

    run = api.train(name, "synthetic", task="link", out=tmp_path / "r",
                    overrides=TINY + ["data.options={num_nodes: 80, feature_dim: 6, p_in: 0.2}"])
    n = run.dataset.data.num_nodes
    held = _pair_keys(torch.cat([run.split.val_pos, run.split.test_pos], 1), n)
    assert held.numel() > 0 and torch.isin(held, _pair_keys(run.dataset.data.edge_index, n)).all()
    phases = {p for p, _ in seen}
    assert {"fit", "loss", "embed"} <= phases, phases  # training and embedding were both observed
    for phase, ei in seen:
        leaked = torch.isin(_pair_keys(ei, n), held)
        assert ei.size(1) > 0 and not leaked.any(), f"{phase} saw held-out edges {ei[:, leaked][:, :5].tolist()}"


def test_link_evaluation_scores_the_saved_embeddings(tmp_path):
    """The default link protocol is AUC of sigmoid(z_u . z_v) on the saved test pairs: recompute
    it with scikit-learn from the run directory alone."""
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = tmp_path / "r"
    api.train("gae", "synthetic", task="link", out=out,
              overrides=TINY + ["data.options={num_nodes: 80, feature_dim: 6, p_in: 0.2}"])
    rec = api.evaluate(out)
    emb, _, _ = rundir.load_embeddings(out)
    split = rundir.load_split(out)
    pos, neg = split["test_pos"], split["test_neg"]
    score = lambda e: torch.sigmoid((emb[e[0]] * emb[e[1]]).sum(1))
    y = np.r_[np.ones(pos.size(1)), np.zeros(neg.size(1))]
    s = torch.cat([score(pos), score(neg)]).numpy()
    assert rec["metric"] == "auc" and rec["protocol"] == "dot"
    assert rec["mean"] == pytest.approx(roc_auc_score(y, s), abs=1e-6)
    assert rec["ap"]["mean"] == pytest.approx(average_precision_score(y, s), abs=1e-6)


def test_decoder_link_protocol_scores_with_the_saved_models_own_decoder(tmp_path):
    """`--protocol decoder` on a saved MaskGAE run: AUC of its edge decoder's probabilities over
    the training graph, recomputed from the checkpoint and split alone; a model without an edge
    decoder (GAE) is refused with the alternatives named."""
    from sklearn.metrics import roc_auc_score

    out = tmp_path / "m"
    opts = TINY + ["data.options={num_nodes: 80, feature_dim: 6, p_in: 0.2}"]
    api.train("maskgae", "synthetic", task="link", out=out, overrides=opts)
    rec = api.evaluate(out, protocol="decoder")
    model, config = rundir.load_checkpoint(out)
    split = rundir.load_split(out)
    train, _ = api.prepare_training_input(config, api.load_data(config))  # the seed's edge split again
    assert torch.equal(torch.cat([split["train_pos"], split["train_pos"].flip(0)], 1), train.edge_index)
    pos, neg = (model.link_scores(train.x, train.edge_index, split[k]) for k in ("test_pos", "test_neg"))
    y = np.r_[np.ones(pos.numel()), np.zeros(neg.numel())]
    assert rec["protocol"] == "decoder"
    assert rec["mean"] == pytest.approx(roc_auc_score(y, torch.cat([pos, neg]).numpy()), abs=1e-6)
    dot = api.evaluate(out, protocol="dot")
    assert dot["mean"] != pytest.approx(rec["mean"], abs=1e-9)
    api.train("gae", "synthetic", task="link", out=tmp_path / "g", overrides=opts)
    with pytest.raises(ValueError, match="has none .*--protocol dot"):
        api.evaluate(tmp_path / "g", protocol="decoder")


def test_evaluate_refuses_leaky_link_evaluation(tmp_path):
    api.train("gae", "synthetic", task="node", out=tmp_path / "n",
              overrides=TINY + ["data.options={num_nodes: 40, feature_dim: 6}"])
    with pytest.raises(ValueError, match="training edges only"):
        api.evaluate(tmp_path / "n", task="link")


def test_graph_level_run(tmp_path):
    run = api.train("isoc-vgae", "synthetic-graphs", out=tmp_path / "g",
                    overrides=TINY + ["train.batch_size=8", "data.options={num_graphs: 40, num_nodes: 8}"])
    assert run.config.task.name == "graph" and run.embeddings.shape[0] == 40
    rec = api.evaluate(run, protocol="svm")
    # class-mean node features summed per graph separate the two classes; chance is the
    # majority-class rate of the labels
    y = torch.cat([g.y for g in run.dataset.graphs])
    chance = float(torch.bincount(y).max()) / y.numel()
    assert rec["metric"] == "accuracy" and rec["mean"] > chance + 0.2, (rec["values"], chance)


def test_fit_embeddings_for_other_pipelines():
    d = _graph()
    z = api.fit_embeddings(d, overrides={"train": {"epochs": 2}, "model": {"encoder": {"hidden_channels": 8}}})
    assert z.shape == (30, 8) and torch.isfinite(z).all()
    d.x[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        api.fit_embeddings(d)


def test_fit_embeddings_returns_the_trained_model_on_request():
    d = _graph()
    kw = dict(overrides={"train": {"epochs": 3}, "model": {"encoder": {"hidden_channels": 8}}}, seed=1)
    z, model = api.fit_embeddings(d, return_model=True, **kw)
    assert not model.training
    # the returned model is the one that made z (not a fresh or re-initialised one) ...
    assert torch.allclose(model.embed(d.x, d.edge_index), z, atol=1e-6)
    # ... and the same seed without return_model gives the same embeddings
    assert torch.allclose(api.fit_embeddings(d, **kw), z, atol=1e-6)
    # inductive use: another graph with the same feature width
    other = _graph()
    other.x = other.x.flip(0)
    z2 = model.embed(other.x, other.edge_index)
    assert z2.shape == z.shape and not torch.allclose(z2, z)


def test_export_embeddings_formats(tmp_path):
    out = tmp_path / "r"
    api.train("gae", "synthetic", task="link", out=out,
              overrides=TINY + ["data.options={num_nodes: 50, feature_dim: 6, p_in: 0.2}"])
    p = api.export_embeddings(out, level="node", out=tmp_path / "n.npy")
    assert np.load(p).shape[0] == 50 and np.load(tmp_path / "n.ids.npy").tolist() == list(range(50))
    p = api.export_embeddings(out, level="link", out=tmp_path / "l.parquet", readout="l1")
    import pandas as pd

    df = pd.read_parquet(p)
    split = rundir.load_split(out)
    assert len(df) == split["test_pos"].size(1) + split["test_neg"].size(1)
    assert list(df.columns[:2]) == ["src", "dst"]
    with pytest.raises(ValueError, match="graph embeddings need"):
        api.export_embeddings(out, level="graph", out=tmp_path / "g.npy")
    with pytest.raises(ValueError, match=".npy"):
        api.export_embeddings(out, level="node", out=tmp_path / "x.csv")


def _dataset(data):
    from graphemb.data.registry import GraphDataset

    return GraphDataset(name="handmade", level="node", num_features=int(data.x.size(1)), num_classes=3, data=data)


def test_bad_input_is_named_before_training():
    d = _graph()
    d.x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"NaN/inf in rows 3"):
        api.train("gae", _dataset(d), task="node", overrides=TINY)
    empty = _graph()
    empty.x, empty.edge_index, empty.num_nodes = torch.zeros(0, 4), torch.zeros(2, 0, dtype=torch.long), 0
    empty.y = torch.zeros(0, dtype=torch.long)
    with pytest.raises(ValueError, match="empty graph"):
        api.train("gae", _dataset(empty), task="node", overrides=TINY)


def test_isolated_nodes_are_fine():
    d = _graph()
    keep = (d.edge_index != 0).all(0)  # node 0 loses all its edges
    d.edge_index = d.edge_index[:, keep]
    run = api.train("isoc-vgae", _dataset(d), task="node", overrides=TINY)
    assert torch.isfinite(run.embeddings).all() and run.embeddings.shape[0] == 30



STOCHASTIC = ["model.encoder.dropout=0.5", "model.encoder.norm=batch", "model.encoder.num_layers=2"]


def _eval_and_train_forward(model, x, edge_index, batch=None):
    import copy

    with torch.no_grad():
        ev = copy.deepcopy(model).eval()(x, edge_index, batch)
        tr = copy.deepcopy(model).train()(x, edge_index, batch)  # a copy: BatchNorm stats stay put
    return ev, tr


@pytest.mark.parametrize("name", MODELS.names())
def test_node_embeddings_are_an_eval_mode_forward(name):
    """Run embeddings = the eval-mode forward (dropout off, BatchNorm running statistics), not a
    train-mode pass: with dropout 0.5 a train-mode embedding would change on every call."""
    run = api.train(name, "synthetic", task="node", seed=0,
                    overrides=TINY + STOCHASTIC + ["data.options={num_nodes: 40, feature_dim: 6}"])
    d, model = run.dataset.data, run.model
    bn = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert bn and all(int(m.num_batches_tracked) > 0 for m in bn)  # trained: running stats moved
    import copy

    from graphemb.training.inference import embed_nodes

    ev, tr = _eval_and_train_forward(model, d.x, d.edge_index)
    assert not torch.allclose(tr.z, ev.z, atol=1e-3)  # a train-mode pass really differs
    expected = copy.deepcopy(model).eval().embed(d.x, d.edge_index)
    torch.testing.assert_close(run.embeddings, expected)
    for _ in range(2):  # from train mode, as right after fit: the same eval-mode result each time
        model.train()
        torch.testing.assert_close(model.embed(d.x, d.edge_index), expected)
        assert model.training  # embed restores the caller's mode
        torch.testing.assert_close(embed_nodes(model.train(), d), expected)


def test_graph_embeddings_pool_an_eval_mode_forward():
    """Graph embeddings (concat readout over layers) pool the eval-mode forward of each batch;
    the official GIN setting (dropout 0.5, BatchNorm inside GIN MLPs, PairNorm)."""
    from torch_geometric.data import Batch

    from graphemb.nn.readout import graph_readout
    from graphemb.training.inference import embed_graphs

    run = api.train("isoc-vgae", "synthetic-graphs", seed=0,
                    overrides=TINY + ["train.batch_size=8", "data.options={num_graphs: 16, num_nodes: 8}",
                                      "model.encoder.conv=gin", "model.encoder.norm=pair", "model.encoder.dropout=0.5",
                                      "model.encoder.num_layers=3"])
    b = Batch.from_data_list(list(run.dataset.graphs))
    ev, tr = _eval_and_train_forward(run.model, b.x, b.edge_index, b.batch)
    t = run.config.task
    for readout in ("concat", "last"):  # both readouts pool the eval-mode pass
        layers = {"concat": (ev.layers, tr.layers), "last": ([ev.z], [tr.z])}[readout]
        expected, wrong = (graph_readout(ls, b.batch, pool=t.graph_pool, mode=readout if len(ls) > 1 else "last",
                                         num_graphs=b.num_graphs) for ls in layers)
        got = embed_graphs(run.model.train(), list(run.dataset.graphs), pool=t.graph_pool, readout=readout)
        torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
        assert not torch.allclose(wrong, expected, atol=1e-2)
        if readout == t.graph_readout:
            torch.testing.assert_close(run.embeddings, expected, rtol=1e-4, atol=1e-4)
