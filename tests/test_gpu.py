"""CUDA paths (run with `pytest -m gpu` on a machine with a GPU)."""
from __future__ import annotations

import pytest
import torch

from graphemb import api
from graphemb.training import rundir

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]

TINY = ["train.epochs=3", "model.encoder.hidden_channels=16", "train.progress=false"]


def _dot_auc(run_dir) -> float:
    from sklearn.metrics import roc_auc_score

    emb, _, _ = rundir.load_embeddings(run_dir)
    split = rundir.load_split(run_dir)
    pos, neg = split["test_pos"], split["test_neg"]
    scores = torch.sigmoid(torch.cat([(emb[e[0]] * emb[e[1]]).sum(1) for e in (pos, neg)]))
    return float(roc_auc_score([1] * pos.size(1) + [0] * neg.size(1), scores.numpy()))


@pytest.mark.parametrize("model", ["isoc-vgae", "vgae", "gae"])
def test_train_on_cuda_matches_contract(model, tmp_path):
    run = api.train(model, "synthetic", task="link", device="cuda", out=tmp_path / model,
                    overrides=TINY + ["data.options={num_nodes: 120, feature_dim: 8, p_in: 0.15}"])
    assert run.embeddings.device.type == "cpu" and torch.isfinite(run.embeddings).all()
    cpu_model, cfg = rundir.load_checkpoint(tmp_path / model, map_location="cpu")  # CUDA-trained, CPU-loaded
    assert cfg.train.device == "cuda"
    rec = api.evaluate(tmp_path / model, device="cuda")
    # the CUDA evaluation is the AUC of sigmoid(z_u . z_v) on the saved test pairs, recomputed
    # here on CPU with scikit-learn; SBM classes with class-mean features score far above 0.5
    assert rec["metric"] == "auc" and rec["mean"] == pytest.approx(_dot_auc(tmp_path / model), abs=1e-5)
    assert rec["mean"] > 0.75


def test_graph_minibatches_on_cuda():
    run = api.train("isoc-vgae", "synthetic-graphs", device="cuda",
                    overrides=TINY + ["train.batch_size=8", "data.options={num_graphs: 32, num_nodes: 10}"])
    assert run.embeddings.shape[0] == 32 and torch.isfinite(run.embeddings).all()
    assert run.train_result.peak_memory_mb is not None and run.train_result.peak_memory_mb > 0


def test_cuda_and_cpu_agree_on_embeddings_of_the_same_weights():
    run = api.train("isoc-vgae", "synthetic", task="node", device="cuda",
                    overrides=TINY + ["data.options={num_nodes: 60, feature_dim: 8}"])
    d = run.dataset.data
    cpu = run.model.cpu().embed(d.x, d.edge_index)
    gpu = run.model.cuda().embed(d.x.cuda(), d.edge_index.cuda()).cpu()
    torch.testing.assert_close(cpu, gpu, rtol=1e-3, atol=1e-3)
