"""Data-parallel training (issue 9 §4): global batches shared among ranks, two gloo processes
that end with the same parameters and with the result of one process on the same global batch."""
from __future__ import annotations

import os
import socket
import time

import pytest
import torch
import torch.multiprocessing as mp
from model_cases import ring_graph

from graphemb import api
from graphemb.config import ConfigError, TrainConfig
from graphemb.models import MODELS, GAEConfig
from graphemb.nn import EncoderConfig
from graphemb.training import distributed, rundir
from graphemb.training.distributed import World, share
from graphemb.training.sampling import seed_batches
from graphemb.training.trainer import fit

# Full fan-out, one hop more than the 2-layer GCN reads (its normalisation needs the outer
# nodes' degrees): each rank's batch is exact, so K ranks of batch b take the
# steps of one process with batch K b (up to the order of float reductions).
RUN = ["train.epochs=2", "train.progress=false", "train.num_neighbors=[-1, -1, -1]", "train.sampler=native",
       "train.inference_chunk_size=0", "train.checkpoint_every=0", "train.lr=0.05"]
MODELS_UNDER_TEST = {
    "gae": ["model.encoder.hidden_channels=8", "model.encoder.out_channels=4"],  # seed edges
    "bgrl": ["model.encoder.hidden_channels=8", "model.encoder.out_channels=4", "model.encoder.norm=null",
             "model.predictor_channels=6"],  # seed nodes, augmentations keyed on node ids
}
PER_RANK = {"gae": 41, "bgrl": 40}  # 82 undirected edges, 80 nodes: one global batch each epoch


def test_share_cuts_global_batches_into_near_equal_consecutive_parts():
    parts = [share(10, World(r, 3, active=True)).tolist() for r in range(3)]
    assert parts == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    assert [share(2, World(r, 3, active=True)).tolist() for r in range(3)] == [[0], [1], [0]]  # no rank idles
    assert share(5, distributed.SINGLE).tolist() == [0, 1, 2, 3, 4]


@pytest.mark.parametrize("kind", ["nodes", "edges"])
def test_ranks_share_the_batches_of_one_process(kind):
    d = ring_graph(n=30)
    g = lambda: torch.Generator().manual_seed(4)  # noqa: E731 - alike on every rank
    one = [b.n_id[b.seed_mask] if kind == "nodes" else b.n_id[b.pos_edge_index]
           for b in seed_batches(d, [1], 8, kind, "native", g())()]
    ranks = [[b.n_id[b.seed_mask] if kind == "nodes" else b.n_id[b.pos_edge_index]
              for b in seed_batches(d, [1], 4, kind, "native", g(), World(r, 2, active=True))()] for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(one)
    for step, full in enumerate(one):
        joined = torch.cat([ranks[0][step], ranks[1][step]], -1)
        if kind == "nodes":
            assert torch.equal(torch.sort(joined).values, torch.sort(full).values)
        else:
            assert torch.equal(joined, full)  # the same pairs, in the same order


def test_ranks_share_the_graph_batches_of_pygs_loader():
    from torch_geometric.data import Data
    from torch_geometric.loader import DataLoader

    from graphemb.training.trainer import make_batches

    graphs = [Data(x=torch.full((i + 1, 1), float(i)), edge_index=torch.zeros(2, 0, dtype=torch.long))
              for i in range(11)]
    which = lambda b: sorted(int(v) for v in torch.unique(b.x))  # noqa: E731 - graph i has features i
    one = [which(b) for b in DataLoader(graphs, batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(3))]
    cfg = TrainConfig(batch_size=2)
    ranks = [[which(b) for b in make_batches(graphs, cfg, torch.Generator().manual_seed(3),
                                             world=World(r, 2, active=True))()] for r in range(2)]
    assert [sorted(a + b) for a, b in zip(*ranks)] == one and all(ranks[0]) and all(ranks[1])


def test_distributed_without_a_process_group_is_a_config_error(monkeypatch):
    for k in distributed.TORCHRUN_ENV:
        monkeypatch.delenv(k, raising=False)
    model = MODELS.get("gae").from_config(5, GAEConfig(encoder=EncoderConfig(hidden_channels=4, out_channels=2)))
    with pytest.raises(ConfigError, match="torchrun --nproc_per_node K -m graphemb train"):
        fit(model, ring_graph(), TrainConfig(epochs=1, num_neighbors=[-1], distributed=True, progress=False))
    with pytest.raises(ConfigError, match="needs a process group"):
        api.train("gae", ring_graph(), task="node", overrides=RUN + ["train.distributed=true"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, tmp: str) -> None:
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port), OMP_NUM_THREADS="1", GRAPHEMB_PROGRESS="0")
    torch.set_num_threads(1)
    for name, sets in MODELS_UNDER_TEST.items():
        run = api.train(name, ring_graph(), task="node", out=os.path.join(tmp, name),
                        overrides=RUN + sets + [f"train.batch_size={PER_RANK[name]}", "train.distributed=true"])
        torch.save({"state": run.model.state_dict(), "history": run.train_result.history,
                    "has_embeddings": run.embeddings is not None, "run_dir": run.run_dir},
                   os.path.join(tmp, f"{name}-rank{rank}.pt"))
    graphs = api.train("gae", "synthetic-graphs", task="graph", out=os.path.join(tmp, "graphs"), overrides=[
        "data.options={num_graphs: 12, num_nodes: 8, feature_dim: 5}", "train.batch_size=3", "train.epochs=2",
        "train.progress=false", "train.checkpoint_every=0", "model.encoder.hidden_channels=8",
        "train.distributed=true"])
    torch.save(graphs.model.state_dict(), os.path.join(tmp, f"graphs-rank{rank}.pt"))


def test_two_gloo_processes_train_one_model_like_one_process_with_the_global_batch(tmp_path):
    torch.set_num_threads(1)
    ctx = mp.start_processes(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=False,
                             start_method="spawn")
    deadline = time.monotonic() + 240
    while not ctx.join(timeout=5):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("distributed workers did not finish within 240 s")
    g0, g1 = (torch.load(tmp_path / f"graphs-rank{r}.pt") for r in (0, 1))  # a graph task: shares of graphs
    assert all(torch.equal(g0[k], g1[k]) for k in g0)
    assert rundir.load_embeddings(tmp_path / "graphs")[0].shape[0] == 12
    for name, sets in MODELS_UNDER_TEST.items():
        r0, r1 = (torch.load(tmp_path / f"{name}-rank{r}.pt", weights_only=False) for r in (0, 1))
        assert r0["state"].keys() == r1["state"].keys()
        for k in r0["state"]:  # DDP keeps every rank's parameters (and EMA targets) identical
            assert torch.equal(r0["state"][k], r1["state"][k]), (name, k)
        assert r0["history"] == r1["history"]  # losses averaged over the ranks
        # Rank 0 alone embeds and writes the run; rank 1 writes nothing (no second run dir).
        assert r0["has_embeddings"] and not r1["has_embeddings"] and r1["run_dir"] is None
        assert sorted(p.name for p in tmp_path.iterdir() if not p.suffix == ".pt") == sorted([*MODELS_UNDER_TEST, "graphs"])
        one = api.train(name, ring_graph(), task="node",
                        overrides=RUN + sets + [f"train.batch_size={2 * PER_RANK[name]}"])
        for k, v in one.model.state_dict().items():
            assert torch.allclose(r0["state"][k], v, rtol=1e-4, atol=1e-6), (name, k)
        for h0, h1 in zip(r0["history"], one.train_result.history):
            assert h0["loss"] == pytest.approx(h1["loss"], rel=1e-5)
        emb, _, _ = rundir.load_embeddings(tmp_path / name)
        assert torch.allclose(torch.as_tensor(emb), one.embeddings, rtol=1e-4, atol=1e-5)
        assert not rundir.partial_dir(tmp_path / name).exists()


@pytest.mark.slow
def test_torchrun_cli_reports_and_writes_on_rank_zero_only(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1", GRAPHEMB_PROGRESS="0")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
           str(_free_port()), "-m", "graphemb", "train", "bgrl", "--dataset", "synthetic", "--out", str(out),
           "--set", "data.options.num_nodes=60", "--set", "model.encoder.hidden_channels=8", "--set", "train.epochs=2",
           "--set", "train.num_neighbors=[3,3]", "--set", "train.batch_size=16", "--set", "train.distributed=true"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("trained bgrl on synthetic") == 1  # rank 0 reports, rank 1 is silent
    assert {p.name for p in out.iterdir()} >= {"checkpoint.pt", "config.yaml", "embeddings.npz", "metrics.json"}
    assert not rundir.partial_dir(out).exists()
