"""Where the CPU time of one seed mini-batch training step goes (1 thread).

Builds the bench's `synthetic` graph (avg degree 10, 128 features), trains ``--steps`` batches
(after ``--warmup``) of a model with fan-out ``[10, 5]``, 1024 seeds, width 256, native sampler,
and times with ``time.process_time`` each part of a step: sampling the subgraph, forward,
loss, backward, optimiser step. Then one more ``--steps`` batches run under ``torch.profiler``
for the operators with the most self CPU time (the profiler measures elapsed time per operator,
which a loaded machine inflates; the shares are what to read). Works with any graphemb tree on
``PYTHONPATH`` (e.g. an older commit, for a before/after comparison): the record names the
commit of the ``graphemb`` it imported. One JSON line per run appended to ``--out``.

    PYTHONPATH=. OMP_NUM_THREADS=1 python experiments/scale/profile_step.py --n 100000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "records" / "profile_step.jsonl"


def _commit() -> str:
    import graphemb

    root = Path(graphemb.__file__).resolve().parents[1]
    stamp = root / "COMMIT"  # a `git archive` snapshot names its commit here
    if stamp.is_file():
        return stamp.read_text().strip()
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True,
                          text=True).stdout.strip()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100000)
    p.add_argument("--model", default="isoc-vgae")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", default=str(OUT))
    args = p.parse_args()

    import torch

    torch.set_num_threads(1)
    from torch.profiler import ProfilerActivity, profile

    from graphemb.config import build_run_config
    from graphemb.data.synthetic import make_sbm
    from graphemb.models import MODELS
    from graphemb.models.base import NodeBatch
    from graphemb.training.sampling import seed_batches

    data = make_sbm(num_nodes=args.n, avg_degree=10, feature_dim=128, num_classes=10, seed=0)
    cfg = build_run_config(args.model, dataset="synthetic", overrides=["model.encoder.hidden_channels=256"])
    torch.manual_seed(0)
    model = MODELS.get(args.model).from_config(128, cfg.model).train()
    opt = torch.optim.Adam(model.param_groups(1e-3), lr=1e-3)
    batches = iter(seed_batches(data, [10, 5], 1024, sampler="native", generator=torch.Generator().manual_seed(0))())
    clock = time.process_time
    parts = dict.fromkeys(["sample", "forward", "loss", "backward", "optimizer"], 0.0)
    nodes = edges = 0

    def step(timed: bool) -> None:
        nonlocal nodes, edges
        t = [clock()]
        b = next(batches)
        t.append(clock())
        nb = NodeBatch.from_data(b)
        opt.zero_grad(set_to_none=True)
        out = model(b.x, b.edge_index, nb=nb)
        t.append(clock())
        loss = model.loss(out, b.x, b.edge_index, nb=nb)
        t.append(clock())
        loss.total.backward()
        t.append(clock())
        opt.step()
        t.append(clock())
        if timed:
            for k, a, c in zip(parts, t[:-1], t[1:]):
                parts[k] += (c - a) / args.steps
            nodes, edges = nodes + b.num_nodes / args.steps, edges + b.edge_index.size(1) / args.steps

    for _ in range(args.warmup):
        step(False)
    for _ in range(args.steps):
        step(True)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(args.steps):
            step(False)
    events = sorted(prof.key_averages(), key=lambda e: e.self_cpu_time_total, reverse=True)
    total = sum(e.self_cpu_time_total for e in events)
    top = [{"op": e.key, "self_share": e.self_cpu_time_total / total, "calls_per_step": e.count / args.steps}
           for e in events[:12]]
    rec = dict(n=args.n, model=args.model, commit=_commit(), steps=args.steps, fanout="10,5", batch_size=1024,
               width=256, sampler="native", threads=1, batch_nodes=nodes, batch_edges=edges,
               cpu_s_per_step=parts, cpu_s_per_step_total=sum(parts.values()), top_ops=top,
               loadavg=os.getloadavg()[0], nice=os.nice(0),
               command="python experiments/scale/profile_step.py " + f"--n {args.n} --model {args.model} --steps {args.steps}",
               finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    print(json.dumps(rec, indent=1))


if __name__ == "__main__":
    main()
