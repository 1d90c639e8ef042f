"""Training cost: seconds per epoch and peak memory per model, and IsoC-VGAE against its matmuls.

Every figure is a ratio to a reference measured in the same run, with wall and CPU seconds
(``time.process_time``) and the machine's 1-minute load average beside it, since this machine
is shared. Each mode prints a table and writes one JSON record (``--out``, default under
``experiments/results/speed/``) that ``experiments/run_results.py`` renders into RESULTS.md.

Cost per model (issue 8): each model trains in its own subprocess (so peak RSS is its own),
``--epochs`` epochs with its ``paper`` preset's model and optimiser, all with the same thread
count; ratios to GAE of the same run::

    python experiments/bench_speed.py --dataset Cora --epochs 5 --threads 1
    python experiments/bench_speed.py --dataset Amazon-Computers --epochs 5 --threads 1

``--roofline`` (issue 9 §5): full-batch IsoC-VGAE (``paper`` preset) epochs as a ratio to the
same dense fp32 matrix products alone (every linear layer's forward ``X W`` and both backward
products ``dY W^T``, ``X^T dY``, shapes recorded from a real forward pass; operands allocated
before the clock starts), all in one process, after a discarded warm-up epoch. Variants: the default trainer (per-graph
operators, sparse features), the same with dense features, the per-step path
(``train.graph_ops=false``), and bf16 autocast (``--bf16-epochs``, 0 to skip). Rounds are
interleaved and the best round of each is reported::

    python experiments/bench_speed.py --roofline --dataset Cora --epochs 5 --threads 1

``--density``: the dense against the sparse (CSR) first-layer product, forward and weight
gradient, at Cora's shape for several feature densities (sets ``train.sparse_features_below``)::

    python experiments/bench_speed.py --density --threads 1

``--propagation``: one GCN propagation ``Â H`` (forward and backward, width 256) on the
dataset's graph with 20 % of its edges dropped (a new graph at every step, as BGRL's and
MaskGAE's views are): PyG's ``gcn_norm`` + gather-scatter ``propagate`` against building the CSR
operator (:func:`graphemb.nn.graph_ops.gcn_operator`, what ``GNNEncoder`` does without
``GraphOps``) and one sparse product, in one process, best of 5::

    python experiments/bench_speed.py --propagation --dataset Amazon-Computers --threads 1

``--compile``: eager against ``train.compile=true`` fp32 epochs of the same model, all in one
process with an empty Inductor cache. Each way a run of 1 epoch and one of 1 + E; an epoch is
their difference over E. Compiled runs of a fresh model reuse the first compiled run's graphs
(the record counts them), so the compiled pair runs after one cold 1-epoch run; compile time =
cold minus warm 1-epoch run, reported apart. The record keeps every run's losses (compiled
training draws the same random numbers as eager)::

    python experiments/bench_speed.py --compile --dataset Cora --epochs 5 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT_DIR = HERE / "results" / "speed"
ALL_MODELS = "gae:paper,vgae:paper,isoc-vgae:paper,graphmae:paper,graphmae2:paper,maskgae:paper,bgrl:paper,dgi:paper"

CHILD = r"""
import json, os, resource, time, torch
torch.set_num_threads({threads})
from graphemb import api
from graphemb.config import build_run_config
cfg = build_run_config({model!r}, dataset={dataset!r}, task="node", preset={preset!r},
                       overrides=["train.epochs={epochs}", "train.patience=0", "train.progress=false",
                                  "train.device={device}", "train.seed=0", "train.lr_schedule=constant",
                                  "train.warmup_epochs=0"])
ds = api.load_data(cfg)
rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
load0 = os.getloadavg()[0]
run = api.train_config(cfg, ds)
tr = run.train_result
print(json.dumps({{"model": {model!r}, "preset": {preset!r}, "epochs": tr.epochs_run,
                  "s_per_epoch": tr.seconds_per_epoch, "cpu_s_per_epoch": tr.cpu_seconds_per_epoch,
                  "peak_mb": tr.peak_memory_mb, "rss_before_train_mb": rss0,
                  "load_average_1min": [load0, os.getloadavg()[0]]}}))
"""

ROOFLINE = r"""
import json, os, time, torch
from dataclasses import replace
torch.set_num_threads({threads})
from graphemb import api
from graphemb.config import build_run_config
from graphemb.models import MODELS
from graphemb.training.trainer import fit

def clock():
    return time.perf_counter(), time.process_time()

cfg = build_run_config("isoc-vgae", dataset={dataset!r}, task="node", preset="paper",
                       overrides=["train.epochs={epochs}", "train.patience=0", "train.progress=false", "train.seed=0"])
ds = api.load_data(cfg)
VARIANTS = {{"fp32": {{}}, "fp32_dense_features": {{"sparse_features_below": 0.0}},
            "fp32_per_step": {{"graph_ops": False}}, "bf16": {{"precision": "bf16", "epochs": {bf16_epochs}}}}}
if {bf16_epochs} == 0:
    del VARIANTS["bf16"]

def epoch_cost(over):
    tc = replace(cfg.train, **over)
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(ds.num_features, cfg.model)
    res = fit(model, ds.data, tc)
    return {{"wall": res.seconds_per_epoch, "cpu": res.cpu_seconds_per_epoch, "final_loss": res.history[-1]["loss"]}}, model

torch.manual_seed(0)
probe = MODELS.get("isoc-vgae").from_config(ds.num_features, cfg.model)
shapes = []
hooks = [m.register_forward_hook(lambda m, i, o: shapes.append((i[0].shape[0], m.weight.shape[1], m.weight.shape[0])))
         for m in probe.modules() if type(m).__name__ == "Linear" and getattr(m, "weight", None) is not None
         and m.weight.dim() == 2]
probe.train(); probe(ds.data.x, ds.data.edge_index)
for h in hooks: h.remove()
g = torch.Generator().manual_seed(0)
operands = [(torch.randn(n, i, generator=g), torch.randn(i, o, generator=g), torch.randn(n, o, generator=g))
            for n, i, o in shapes]

def products():
    w, c = clock()
    for x, wt, dy in operands:
        x @ wt; dy @ wt.t(); x.t() @ dy
    w2, c2 = clock()
    return {{"wall": w2 - w, "cpu": c2 - c}}

epoch_cost({{"epochs": 1}}); products()  # warm-up (allocator, MKL, lazy init), not recorded
rounds = {{k: [] for k in list(VARIANTS) + ["products"]}}
for r in range({rounds}):
    for name, over in VARIANTS.items():
        if name == "bf16" and r > 0:
            continue
        rounds[name].append(epoch_cost(over)[0])
        rounds["products"].append(products())
best = {{k: {{m: min(x[m] for x in v) for m in ("wall", "cpu")}} for k, v in rounds.items() if v}}
print(json.dumps({{"best": best, "rounds": rounds, "linear_layers": len(shapes), "shapes": shapes,
                  "feature_density": float((ds.data.x != 0).float().mean()), "load_average_1min": os.getloadavg()[0]}}))
"""

DENSITY = r"""
import json, os, time, torch
torch.set_num_threads({threads})
from graphemb.nn.graph_ops import SparseOperator
n, f, o = 2708, 1433, 512
g = torch.Generator().manual_seed(0)
W = torch.randn(o, f, generator=g, requires_grad=True)
dy = torch.randn(n, o, generator=g)
def cost(fn, reps=5):
    out = []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - w, time.process_time() - c))
    return min(x[0] for x in out), min(x[1] for x in out)
rows = []
for d in ({densities}):
    x = (torch.rand(n, f, generator=g) < d).float()
    sp = SparseOperator.from_dense(x)
    dw, dc = cost(lambda: (x @ W.t()).backward(dy))
    sw, sc = cost(lambda: sp.mm(W.t()).backward(dy))
    rows.append({{"density": d, "dense_wall": dw, "dense_cpu": dc, "sparse_wall": sw, "sparse_cpu": sc}})
print(json.dumps({{"shape": [n, f, o], "rows": rows, "load_average_1min": os.getloadavg()[0]}}))
"""

PROPAGATION = r"""
import json, os, time, torch
torch.set_num_threads({threads})
from torch_geometric.nn import GCNConv
from torch_geometric.nn.conv.gcn_conv import gcn_norm
from graphemb import api
from graphemb.config import build_run_config
from graphemb.nn.graph_ops import gcn_operator
ds = api.load_data(build_run_config("gae", dataset={dataset!r}, task="node"))
n, ei = ds.data.num_nodes, ds.data.edge_index
g = torch.Generator().manual_seed(0)
view = ei[:, torch.rand(ei.size(1), generator=g) > 0.2]
conv = GCNConv(8, 8)  # its propagate only
h = torch.randn(n, {width}, generator=g, requires_grad=True)
dy = torch.randn(n, {width}, generator=g)
def pyg():
    e, w = gcn_norm(view, None, n, add_self_loops=True)
    conv.propagate(e, x=h, edge_weight=w).backward(dy)
def csr():
    gcn_operator(view, n).mm(h).backward(dy)
def cost(fn, reps=5):
    fn()  # warm-up
    out = []
    for _ in range(reps):
        w, c = time.perf_counter(), time.process_time()
        fn()
        out.append((time.perf_counter() - w, time.process_time() - c))
    return {{"wall": min(x[0] for x in out), "cpu": min(x[1] for x in out)}}
e, w = gcn_norm(view, None, n, add_self_loops=True)
ref = conv.propagate(e, x=h.detach(), edge_weight=w)
gap = float((gcn_operator(view, n).mm(h.detach()) - ref).abs().max())
print(json.dumps({{"nodes": n, "edges": int(view.size(1)), "width": {width}, "pyg": cost(pyg), "csr": cost(csr),
                  "max_abs_difference": gap, "load_average_1min": os.getloadavg()[0]}}))
"""

COMPILE = r"""
import json, os, tempfile, time
os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="bench_compile_")  # cold: no earlier run's kernels
import torch
from dataclasses import replace
torch.set_num_threads({threads})
from graphemb import api
from graphemb.config import build_run_config
from graphemb.models import MODELS
from graphemb.training.trainer import fit
cfg = build_run_config("isoc-vgae", dataset={dataset!r}, task="node", preset="paper",
                       overrides=["train.patience=0", "train.progress=false", "train.seed=0"])
ds = api.load_data(cfg)
def run(compile, epochs):
    torch.manual_seed(0)
    model = MODELS.get("isoc-vgae").from_config(ds.num_features, cfg.model)
    w, c = time.perf_counter(), time.process_time()
    res = fit(model, ds.data, replace(cfg.train, compile=compile, epochs=epochs))
    return {{"wall": time.perf_counter() - w, "cpu": time.process_time() - c, "epochs": epochs,
            "losses": [h["loss"] for h in res.history],
            "compiled_graphs": torch._dynamo.utils.counters["stats"]["unique_graphs"]}}
e = {epochs}
out = {{"eager_1": run(False, 1), "eager_n": run(False, e + 1), "compiled_cold_1": run(True, 1),
       "compiled_1": run(True, 1), "compiled_n": run(True, e + 1)}}
torch._dynamo.reset()
print(json.dumps({{"runs": out, "load_average_1min": os.getloadavg()[0]}}))
"""


def child(code: str) -> dict:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"benchmark subprocess failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def machine() -> dict:
    import platform

    import torch

    return {"machine": platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())}


def save(rec: dict, out: str | None, default: str) -> None:
    path = Path(out) if out else OUT_DIR / default
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rec, indent=1) + "\n")
    print(f"record: {path}")


def command(args, mode: str) -> str:
    parts = ["python experiments/bench_speed.py"] + ([f"--{mode}"] if mode else [])
    if mode == "propagation":
        parts += [f"--dataset {args.dataset}"]
    if mode in ("", "roofline", "compile"):
        parts += [f"--dataset {args.dataset}", f"--epochs {args.epochs}"]
    if mode == "roofline":
        parts += [f"--rounds {args.rounds}", f"--bf16-epochs {args.bf16_epochs}"]
    if mode == "" and args.models != ALL_MODELS:
        parts += [f"--models {args.models}"]
    parts += [f"--threads {args.threads}"]
    return " ".join(parts)


def slug(dataset: str) -> str:
    return dataset.lower().replace("-", "_")


def roofline(args) -> None:
    r = child(ROOFLINE.format(dataset=args.dataset, epochs=args.epochs, threads=args.threads,
                              rounds=args.rounds, bf16_epochs=args.bf16_epochs))
    rec = {"kind": "roofline", "command": command(args, "roofline"), "dataset": args.dataset, "epochs": args.epochs,
           "threads": args.threads, "device": "cpu", "machine": machine(), **r}
    print(roofline_table(rec))
    save(rec, args.out, f"roofline_{slug(args.dataset)}_cpu.json")


def roofline_table(rec: dict) -> str:
    b = rec["best"]
    ref = b["products"]
    lines = [f"IsoC-VGAE `paper` preset on {rec['dataset']}, {rec['epochs']} epochs, {rec['threads']} thread(s), cpu "
             f"({rec['machine']['cpu_capability']}, native bf16: {rec['machine']['native_bf16']}); "
             f"{rec['linear_layers']} linear layers; features {100 * rec['feature_density']:.1f} % non-zero; "
             f"best of {len(rec['rounds']['fp32'])} interleaved round(s); load average {rec['load_average_1min']:.1f}",
             "", "| | wall s/epoch | ratio (wall) | CPU s/epoch | ratio (CPU) |", "|---|---|---|---|---|",
             f"| dense fp32 products alone (fwd + 2 bwd) | {ref['wall']:.3f} | 1.00x | {ref['cpu']:.3f} | 1.00x |"]
    names = {"fp32": "fp32 epoch (default: per-graph operators, sparse features)",
             "fp32_dense_features": "fp32 epoch, dense features", "fp32_per_step": "fp32 epoch, per-step path "
             "(`train.graph_ops=false`)", "bf16": "bf16 epoch (autocast)"}
    for k, label in names.items():
        if k in b:
            lines.append(f"| {label} | {b[k]['wall']:.3f} | {b[k]['wall'] / ref['wall']:.2f}x | {b[k]['cpu']:.3f} | "
                         f"{b[k]['cpu'] / ref['cpu']:.2f}x |")
    return "\n".join(lines)


def density(args) -> None:
    r = child(DENSITY.format(threads=args.threads, densities="0.013, 0.05, 0.1, 0.15, 0.2, 0.3"))
    rec = {"kind": "density", "command": command(args, "density"), "threads": args.threads, "device": "cpu",
           "machine": machine(), **r}
    print(density_table(rec))
    save(rec, args.out, "density_cpu.json")


def density_table(rec: dict) -> str:
    n, f, o = rec["shape"]
    lines = [f"First-layer product `X W` ({n}x{f} by {f}x{o}) forward and weight gradient, dense against CSR "
             f"(`SparseOperator`), {rec['threads']} thread(s), best of 5; load average {rec['load_average_1min']:.1f}",
             "", "| non-zero share | dense (ms, CPU) | sparse (ms, CPU) | sparse / dense |", "|---|---|---|---|"]
    for r in rec["rows"]:
        lines.append(f"| {100 * r['density']:.1f} % | {1000 * r['dense_cpu']:.0f} | {1000 * r['sparse_cpu']:.0f} | "
                     f"{r['sparse_cpu'] / r['dense_cpu']:.2f}x |")
    return "\n".join(lines)


def propagation(args) -> None:
    r = child(PROPAGATION.format(dataset=args.dataset, threads=args.threads, width=256))
    rec = {"kind": "propagation", "command": command(args, "propagation"), "dataset": args.dataset,
           "threads": args.threads, "device": "cpu", "machine": machine(), **r}
    print(propagation_table(rec))
    save(rec, args.out, f"propagation_{slug(args.dataset)}_cpu.json")


def propagation_table(rec: dict) -> str:
    p, c = rec["pyg"], rec["csr"]
    return "\n".join([
        f"One GCN propagation on {rec['dataset']} with 20 % of the edges dropped ({rec['nodes']} nodes, "
        f"{rec['edges']} directed edges, width {rec['width']}), forward + backward, {rec['threads']} thread(s), "
        f"best of 5; load average {rec['load_average_1min']:.1f}; largest difference of the outputs "
        f"{rec['max_abs_difference']:.1e}", "",
        "| | wall ms | CPU ms | ratio (CPU) |", "|---|---|---|---|",
        f"| PyG `gcn_norm` + `propagate` (gather-scatter) | {1000 * p['wall']:.0f} | {1000 * p['cpu']:.0f} | 1.00x |",
        f"| `gcn_operator` (CSR, built per call) + sparse product | {1000 * c['wall']:.0f} | {1000 * c['cpu']:.0f} | "
        f"{c['cpu'] / p['cpu']:.2f}x |"])


def compile_mode(args) -> None:
    r = child(COMPILE.format(dataset=args.dataset, epochs=args.epochs, threads=args.threads))
    rec = {"kind": "compile", "command": command(args, "compile"), "dataset": args.dataset, "epochs": args.epochs,
           "threads": args.threads, "device": "cpu", "machine": machine(), **r}
    print(compile_table(rec))
    save(rec, args.out, f"compile_{slug(args.dataset)}_cpu.json")


def compile_summary(rec: dict) -> dict:
    """Steady epoch cost (the runs of 1 + E epochs minus the 1-epoch runs, over E; compiled
    ones warm) and the compile time (cold minus warm compiled 1-epoch run), wall and CPU."""
    r, e = rec["runs"], rec["epochs"]
    if "compiled_cold_1" not in r:
        raise ValueError("this compile record predates the cold/warm compiled runs (its compiled epochs mix in "
                         "the compilation); rerun python experiments/bench_speed.py --compile")
    out = {}
    for m in ("wall", "cpu"):
        eager = (r["eager_n"][m] - r["eager_1"][m]) / e
        comp = (r["compiled_n"][m] - r["compiled_1"][m]) / e
        out[m] = {"eager": eager, "compiled": comp, "ratio": comp / eager,
                  "compile_s": r["compiled_cold_1"][m] - r["compiled_1"][m]}
    return out


def loss_gap(rec: dict) -> float:
    """Largest relative difference between the eager and the compiled epoch losses."""
    a, b = rec["runs"]["eager_n"]["losses"], rec["runs"]["compiled_n"]["losses"]
    return max(abs(x - y) / abs(x) for x, y in zip(a, b))


def compile_table(rec: dict) -> str:
    s = compile_summary(rec)
    lines = [f"IsoC-VGAE `paper` preset on {rec['dataset']}, fp32, {rec['threads']} thread(s), cpu: runs of 1 and "
             f"{rec['epochs'] + 1} epochs each way; epoch = (run of {rec['epochs'] + 1} - run of 1) / {rec['epochs']}; "
             f"load average {rec['load_average_1min']:.1f}", "",
             "| | eager s/epoch | compiled s/epoch | compiled / eager | compile time (s) |", "|---|---|---|---|---|"]
    for m in ("wall", "cpu"):
        x = s[m]
        lines.append(f"| {m} | {x['eager']:.3f} | {x['compiled']:.3f} | {x['ratio']:.2f}x | {x['compile_s']:.1f} |")
    cold, warm = (rec["runs"][k]["compiled_graphs"] for k in ("compiled_cold_1", "compiled_n"))
    note = "the warm runs compiled nothing" if cold == warm else "the warm runs recompiled: their epochs include it"
    lines += ["", f"Largest relative gap between the eager and compiled epoch losses: {loss_gap(rec):.1e}; "
              f"compiled graphs after the cold / last warm run: {cold} / {warm} ({note}). CPU compile time "
              "counts this process only, not Inductor's compile workers; wall is the cost paid."]
    return "\n".join(lines)


def cost(args) -> None:
    rows = []
    for spec in args.models.split(","):
        model, preset = spec.split(":")
        rows.append(child(CHILD.format(model=model, preset=preset, dataset=args.dataset, epochs=args.epochs,
                                       threads=args.threads, device=args.device)))
        print(json.dumps(rows[-1]), flush=True)
    rec = {"kind": "cost", "command": command(args, ""), "dataset": args.dataset, "epochs": args.epochs,
           "threads": args.threads, "device": args.device, "machine": machine(), "rows": rows}
    print(cost_table(rec))
    save(rec, args.out, f"cost_{slug(args.dataset)}_{args.device}.json")


def cost_table(rec: dict) -> str:
    rows = rec["rows"]
    ref = next((r for r in rows if r["model"] == "gae"), rows[0])
    lines = [f"{rec['dataset']}, {rec['epochs']} epochs per model (each in its own process, `paper` preset model and "
             f"optimiser, schedules off), {rec['threads']} thread(s), {rec['device']}; ratios to {ref['model']} of "
             "the same run", "",
             f"| model | preset | wall s/epoch | ratio to {ref['model']} (wall) | CPU s/epoch | ratio to {ref['model']} "
             "(CPU) | peak RSS (MB) | RSS before training (MB) | load average |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['model']} | {r['preset']} | {r['s_per_epoch']:.3f} | {r['s_per_epoch'] / ref['s_per_epoch']:.1f}x | "
                     f"{r['cpu_s_per_epoch']:.3f} | {r['cpu_s_per_epoch'] / ref['cpu_s_per_epoch']:.1f}x | "
                     f"{r['peak_mb']:.0f} | {r['rss_before_train_mb']:.0f} | {r['load_average_1min'][0]:.1f} |")
    return "\n".join(lines)


TABLES = {"roofline": roofline_table, "density": density_table, "compile": compile_table, "cost": cost_table,
          "propagation": propagation_table}


def report(records_dir: Path = OUT_DIR, kinds=("cost", "propagation", "roofline", "density", "compile")) -> str:
    """The speed blocks of RESULTS.md (records of the given kinds, in that order) from the
    records in ``records_dir`` only."""
    recs = [json.loads(f.read_text()) for f in sorted(records_dir.glob("*.json"))] if records_dir.is_dir() else []
    out = []
    for kind in kinds:
        for rec in (r for r in recs if r["kind"] == kind):
            out += [f"Command: `{rec['command']}`", "", TABLES[kind](rec), ""]
    if not out:
        out = [f"No records of {', '.join(kinds)} are stored yet."]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", default=ALL_MODELS)
    p.add_argument("--roofline", action="store_true", help="IsoC-VGAE epoch vs its dense matrix products")
    p.add_argument("--rounds", type=int, default=2, help="--roofline: interleaved rounds (best one kept)")
    p.add_argument("--bf16-epochs", type=int, default=2, help="--roofline: bf16 epochs (first round only; 0 skips)")
    p.add_argument("--density", action="store_true", help="dense vs sparse first-layer product by feature density")
    p.add_argument("--compile", action="store_true", help="eager vs train.compile=true epochs")
    p.add_argument("--propagation", action="store_true", help="PyG gather-scatter vs CSR GCN propagation")
    p.add_argument("--out", default=None, help="record file (default under experiments/results/speed/)")
    args = p.parse_args()
    if args.roofline:
        return roofline(args)
    if args.density:
        return density(args)
    if args.compile:
        return compile_mode(args)
    if args.propagation:
        return propagation(args)
    return cost(args)


if __name__ == "__main__":
    main()
