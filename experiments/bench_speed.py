"""Seconds per training epoch and peak memory of each model on one dataset.

Each model trains in its own subprocess (so peak RSS is its own), with the same thread count.
Speed is reported as a ratio to GAE measured in the same run, since machines are noisy.

    python experiments/bench_speed.py --dataset Cora --epochs 10 --threads 2 [--device cpu]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = r"""
import json, sys, time, torch
torch.set_num_threads({threads})
from graphemb import api
from graphemb.config import build_run_config
cfg = build_run_config({model!r}, dataset={dataset!r}, task="node", preset={preset!r},
                       overrides=["train.epochs={epochs}", "train.patience=0", "train.progress=false",
                                  "train.device={device}", "train.seed=0"])
ds = api.load_data(cfg)
run = api.train_config(cfg, ds)
tr = run.train_result
print(json.dumps({{"model": {model!r}, "preset": {preset!r}, "s_per_epoch": tr.seconds_per_epoch,
                  "peak_mb": tr.peak_memory_mb}}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", default="gae:default,vgae:default,isoc-vgae:paper,isoc-vgae:default")
    args = p.parse_args()
    rows = []
    for spec in args.models.split(","):
        model, preset = spec.split(":")
        code = CHILD.format(model=model, preset=preset, dataset=args.dataset, epochs=args.epochs,
                            threads=args.threads, device=args.device)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    ref = rows[0]["s_per_epoch"]
    print(f"dataset {args.dataset}, {args.epochs} epochs, {args.threads} threads, device {args.device}")
    print("| model | preset | s/epoch | ratio to " + rows[0]["model"] + " | peak memory (MB) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['preset']} | {r['s_per_epoch']:.3f} | {r['s_per_epoch'] / ref:.1f}x | {r['peak_mb']:.0f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
