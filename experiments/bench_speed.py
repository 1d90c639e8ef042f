"""Seconds per training epoch and peak memory of each model on one dataset.

Each model trains in its own subprocess (so peak RSS is its own), with the same thread count.
Speed is reported as a ratio to GAE measured in the same run, since machines are noisy.

    python experiments/bench_speed.py --dataset Cora --epochs 10 --threads 2 [--device cpu]

``--roofline``: one IsoC-VGAE (``paper`` preset) epoch in fp32 and in bf16 as a ratio to the
same dense fp32 matrix products alone (every linear layer's forward ``X W`` and both backward
products ``dY W^T``, ``X^T dY``, shapes recorded from a real forward pass), all in one process:

    python experiments/bench_speed.py --roofline --dataset Cora --epochs 5 --threads 1
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


ROOFLINE = r"""
import json, time, torch
torch.set_num_threads({threads})
from graphemb import api
from graphemb.config import build_run_config
from graphemb.models import MODELS
from graphemb.training.trainer import fit

def best(f, reps=3):
    ts = []
    for _ in range(reps):
        t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
    return min(ts)

out = {{}}
for precision in ("fp32", "bf16"):
    cfg = build_run_config("isoc-vgae", dataset={dataset!r}, task="node", preset="paper",
                           overrides=["train.epochs={epochs}", "train.patience=0", "train.progress=false",
                                      "train.seed=0", "train.precision=" + precision])
    ds = api.load_data(cfg)
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(ds.num_features, cfg.model)
    res = fit(model, ds.data, cfg.train)
    out[precision] = res.seconds_per_epoch
    if precision == "fp32":
        shapes = []
        hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((i[0].shape[0], m.weight.shape[1], m.weight.shape[0])))
                 for m in model.modules() if hasattr(m, "weight") and getattr(m, "weight") is not None
                 and m.weight.dim() == 2 and type(m).__name__ == "Linear"]
        model.train(); model(ds.data.x, ds.data.edge_index)
        for h in hooks: h.remove()
def products():
    for n, i, o in shapes:
        x, w, dy = torch.randn(n, i), torch.randn(i, o), torch.randn(n, o)
        x @ w; dy @ w.t(); x.t() @ dy
mm = best(products)
print(json.dumps({{"fp32_epoch_s": out["fp32"], "bf16_epoch_s": out["bf16"], "fp32_matmul_s": mm,
                  "linear_layers": len(shapes)}}))
"""


def roofline(args) -> None:
    code = ROOFLINE.format(dataset=args.dataset, epochs=args.epochs, threads=args.threads)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"IsoC-VGAE paper preset on {args.dataset}, {args.epochs} epochs, {args.threads} thread(s), cpu; "
          f"{r['linear_layers']} linear layers")
    print("| | s/epoch | ratio to the dense fp32 products alone |")
    print("|---|---|---|")
    print(f"| dense fp32 products (fwd + 2 bwd) | {r['fp32_matmul_s']:.3f} | 1.00x |")
    for p in ("fp32", "bf16"):
        print(f"| {p} epoch | {r[p + '_epoch_s']:.3f} | {r[p + '_epoch_s'] / r['fp32_matmul_s']:.2f}x |")
    print(json.dumps(r))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", default="gae:default,vgae:default,isoc-vgae:paper,isoc-vgae:default")
    p.add_argument("--roofline", action="store_true", help="IsoC-VGAE epoch vs its dense matrix products")
    args = p.parse_args()
    if args.roofline:
        return roofline(args)
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
