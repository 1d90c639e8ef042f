"""Scale benchmark on generated graphs: build, one training epoch and embedding of every node.

For each size N (avg degree 10, 128 features, 10 classes) one subprocess builds the graph
(:func:`graphemb.data.synthetic.make_sbm`, O(E)) and then runs the chosen stages in order, in
the same process, so the ratios compare runs under the same machine load:

* ``isoc-mini`` / ``graphmae-mini``: one IsoC-VGAE / GraphMAE training epoch on seed
  mini-batches (fan-out ``--fanout``, ``--batch-size`` seeds, ``--sampler``), encoder width
  ``--width``; the loop of :func:`graphemb.training.trainer.fit` (``make_batches``,
  ``step_loss``, Adam over ``model.param_groups``), then layer-wise embedding of every node
  (:func:`graphemb.training.inference.embed_nodes_layerwise`, chunks of 65536 nodes);
* ``isoc-full`` / ``graphmae-full``: the same epoch full batch (where it fits), same embedding;
* ``sage``: the reference, PyG GraphSAGE (2 layers, same hidden width,
  10 output classes) + ``NeighborLoader`` with the
  same fan-out and batch (cross-entropy on the seeds), then PyG's layer-wise ``inference``.

Every stage is timed in CPU seconds of the process (``time.process_time``) and wall seconds:
on a shared machine the CPU seconds of a 1-thread run are the figure to judge. Peak RSS is
measured per stage (the kernel's high-water mark is reset at the start of each stage through
``/proc/self/clear_refs``; it then still counts the graph the process holds) and for the process.
A stage written ``name:K`` (e.g. ``sage:200``) trains only the first K batches of its epoch (the
record says so: ``batches`` of ``batches_total``); the report then extrapolates the epoch
linearly and marks the row. Embedding always covers every node.

One JSON line per (N, stage) is appended to ``--out`` as soon as the stage finishes; the
report in ``experiments/scale/RESULTS.md`` is generated from those records (``--report``).

    nice -n 5 python experiments/bench_scale.py --sizes 10000,100000 --stages isoc-mini,graphmae-mini,sage,isoc-full
    nice -n 5 python experiments/bench_scale.py --sizes 1000000 --stages isoc-mini,sage:200,graphmae-mini:200
    python experiments/bench_scale.py --report
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "scale" / "records"
DEFAULT_OUT = RECORDS / "bench_scale_cpu.jsonl"
LEGACY = RECORDS / "bench_scale_10k_cpu.jsonl"  # written by the previous version of this script
PROFILE = RECORDS / "profile_step.jsonl"  # written by experiments/scale/profile_step.py
STAGES = ("isoc-mini", "graphmae-mini", "sage", "isoc-full", "graphmae-full")
MODEL_OF = {"isoc": "isoc-vgae", "graphmae": "graphmae"}


# ----------------------------------------------------------------------------- measuring
def _hwm_mb() -> float:
    """The process's resident-set high-water mark (VmHWM) in MB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _reset_hwm() -> None:
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


class Clock:
    """CPU seconds, wall seconds and the peak RSS of one timed block."""

    def __enter__(self) -> "Clock":
        _reset_hwm()
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall
        self.peak_mb = _hwm_mb()


def _process_peak_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- stages (child)
def _ours(model_name: str, mini: bool, data, args, emit, max_batches: int = 0) -> None:
    import torch

    from graphemb.config import build_run_config
    from graphemb.models import MODELS
    from graphemb.training.inference import embed_nodes_layerwise
    from graphemb.training.sampling import step_loss
    from graphemb.training.trainer import make_batches, steps_per_epoch

    over = ["train.epochs=1", "train.progress=false", f"model.encoder.hidden_channels={args.width}"]
    if mini:
        over += [f"train.num_neighbors=[{args.fanout}]", f"train.batch_size={args.batch_size}",
                 f"train.sampler={args.sampler}"]
    cfg = build_run_config(model_name, dataset="synthetic", overrides=over)
    torch.manual_seed(0)
    model = MODELS.get(model_name).from_config(data.x.size(1), cfg.model)
    seed_kind = getattr(model, "seed_kind", "nodes")
    total = steps_per_epoch(data, cfg.train, seed_kind)
    limit = max_batches if mini and max_batches else total
    nodes = edges = batches = 0
    loss = None
    with Clock() as train:  # fit's inner loop (one epoch; early stopping etc. play no part)
        epoch = make_batches(data, cfg.train, torch.Generator().manual_seed(cfg.train.seed), seed_kind)
        opt = torch.optim.Adam(model.param_groups(cfg.train.lr), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
        model.train()
        for batch in epoch():
            opt.zero_grad(set_to_none=True)
            loss = step_loss(model, batch)
            loss.total.backward()
            opt.step()
            model.after_step(batches, total)
            nodes, edges, batches = nodes + int(batch.num_nodes), edges + int(batch.edge_index.size(1)), batches + 1
            if batches >= limit:
                break
    with Clock() as emb:
        z = embed_nodes_layerwise(model, data, chunk_size=65536)
    emit(stage=f"{model_name}-{'mini' if mini else 'full'}", batches=batches, batches_total=total,
         batch_nodes=nodes / batches, batch_edges=edges / batches, loss=float(loss.total.detach()),
         train_cpu_s=train.cpu, train_wall_s=train.wall, train_peak_rss_mb=train.peak_mb,
         embed_cpu_s=emb.cpu, embed_wall_s=emb.wall, embed_peak_rss_mb=emb.peak_mb, embed_shape=list(z.shape))


def _sage(data, args, emit, max_batches: int = 0) -> None:
    import warnings

    import torch
    import torch.nn.functional as F
    from torch_geometric.loader import NeighborLoader
    from torch_geometric.nn import GraphSAGE

    warnings.filterwarnings("ignore", category=UserWarning)
    fanout = [int(k) for k in args.fanout.split(",")]
    torch.manual_seed(0)
    model = GraphSAGE(data.x.size(1), args.width, num_layers=2, out_channels=10)
    total = -(-int(data.num_nodes) // args.batch_size)
    limit = max_batches or total
    nodes = edges = batches = 0
    with Clock() as train:
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        loader = NeighborLoader(data, num_neighbors=fanout, batch_size=args.batch_size, shuffle=True)
        model.train()
        for b in loader:
            opt.zero_grad()
            loss = F.cross_entropy(model(b.x, b.edge_index)[:b.batch_size], b.y[:b.batch_size])
            loss.backward()
            opt.step()
            nodes, edges, batches = nodes + int(b.num_nodes), edges + int(b.edge_index.size(1)), batches + 1
            if batches >= limit:
                break
    model.eval()
    with Clock() as emb:
        full = NeighborLoader(data, num_neighbors=[-1], batch_size=65536, shuffle=False)
        z = model.inference(full, progress_bar=False)
    emit(stage="pyg-sage-mini", batches=batches, batches_total=total, batch_nodes=nodes / batches,
         batch_edges=edges / batches, loss=float(loss), train_cpu_s=train.cpu, train_wall_s=train.wall,
         train_peak_rss_mb=train.peak_mb, embed_cpu_s=emb.cpu, embed_wall_s=emb.wall,
         embed_peak_rss_mb=emb.peak_mb, embed_shape=list(z.shape))


def child(args) -> None:
    import torch

    torch.set_num_threads(args.threads)
    from graphemb.data.synthetic import make_sbm

    n = args.child
    common = dict(n=n, avg_degree=args.avg_degree, dim=args.dim, threads=args.threads, fanout=args.fanout,
                  batch_size=args.batch_size, width=args.width, sampler=args.sampler, commit=args.commit,
                  command=args.command)

    def emit(**r) -> None:
        r = dict(common, **r, process_peak_rss_mb=_process_peak_mb(), loadavg=os.getloadavg()[0], nice=os.nice(0),
                 finished=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        print(json.dumps(r), flush=True)

    with Clock() as build:
        data = make_sbm(num_nodes=n, avg_degree=args.avg_degree, feature_dim=args.dim, num_classes=10, seed=0)
    edges = int(data.edge_index.size(1))
    common["edges"] = edges
    emit(stage="build", build_cpu_s=build.cpu, build_wall_s=build.wall, build_peak_rss_mb=build.peak_mb)
    runs = {"sage": lambda k: _sage(data, args, emit, k)}
    for kind, name in MODEL_OF.items():
        runs[f"{kind}-mini"] = lambda k, name=name: _ours(name, True, data, args, emit, k)
        runs[f"{kind}-full"] = lambda k, name=name: _ours(name, False, data, args, emit)
    for spec in args.stages:
        stage, _, k = spec.partition(":")
        try:
            runs[stage](int(k or 0))
        except Exception as e:  # e.g. out of memory at full batch: record it, keep the other stages
            emit(stage=stage, error=f"{type(e).__name__}: {str(e)[:200]}")


# ----------------------------------------------------------------------------- report
def load(path: Path) -> List[Dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


SAGE = "pyg-sage-mini"


def _epoch(r: Dict, key: str) -> float:
    """Seconds of the whole epoch: measured, or extrapolated linearly from the measured batches."""
    return r[key] * r["batches_total"] / r["batches"]


def _label(r: Dict) -> str:
    return {"isoc-vgae-mini": "IsoC-VGAE mini-batch", "isoc-vgae-full": "IsoC-VGAE full batch",
            "graphmae-mini": "GraphMAE mini-batch", "graphmae-full": "GraphMAE full batch",
            SAGE: "PyG GraphSAGE + NeighborLoader (reference)"}.get(r["stage"], r["stage"])


def report(records: Optional[List[Dict]] = None, legacy: Optional[List[Dict]] = None,
           profiles: Optional[List[Dict]] = None) -> str:
    """experiments/scale/RESULTS.md from the records (the default ``--out`` file, the legacy 10k
    file and the step profiles of ``experiments/scale/profile_step.py``)."""
    records = load(DEFAULT_OUT) if records is None else records
    legacy = load(LEGACY) if legacy is None else legacy
    profiles = load(PROFILE) if profiles is None else profiles
    out = ["# Scale: generated graphs", "",
           "Generated by `python experiments/bench_scale.py --report` from the records in "
           f"`experiments/scale/records/{DEFAULT_OUT.name}` (one JSON line per size and stage, written by "
           "`experiments/bench_scale.py` as each stage finishes); nothing below is typed by hand.", ""]
    if records:
        r0 = records[0]
        cmds = sorted({r["command"] for r in records})
        out += ["Graphs: `synthetic` (O(E) degree-corrected SBM), avg degree "
                f"{r0['avg_degree']:g}, {r0['dim']} features, 10 classes. Training: one epoch, fan-out "
                f"[{r0['fanout']}], {r0['batch_size']} seeds per batch, width {r0['width']}, sampler "
                f"`{r0['sampler']}`, {r0['threads']} thread; embedding: every node, layer by layer in chunks "
                "of 65536 nodes with full neighbourhoods. The machine (2 cores) was shared with other jobs "
                "(load average in the records; the runs were niced, `nice` in the records), so **CPU seconds of the process** (`time.process_time`, "
                "1 thread) are the figures to judge; wall seconds are shown beside them. Peak RSS: the "
                "stage's own high-water mark (reset at its start; includes the graph held by the "
                "process). `ratio` = the stage's CPU seconds for the training epoch (for the embedding) over "
                "those of the PyG GraphSAGE reference in the same process. A row whose `batches` column is below "
                "the epoch's total trained only those batches: its epoch seconds are **extrapolated** "
                "linearly (measured x total / measured), marked `(extrap.)`.", "",
                "Commands:", ""] + [f"- `{c}`" for c in cmds] + [""]
        out += ["`CPU s` / `wall s`: the graph's build, or one training epoch; `CPU us / sampled edge`: training "
                "CPU seconds over the edges of all trained batches (the per-batch cost is linear in the batch's nodes "
                "and edges; a batch stops growing once N is well above the ~60k nodes it can reach). The "
                "reference is PyG's `GraphSAGE(128, width, num_layers=2, out_channels=10)` trained with "
                "cross-entropy on the seeds' classes; its embedding is PyG's `inference` (output width 10).", "",
                "| N | directed edges | stage | batches | CPU s | wall s | mean batch nodes / edges | CPU us / sampled edge "
                "| embed CPU s | embed wall s | peak RSS train / embed (MB) | ratio to sage (train, embed) |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        sage = {r["n"]: r for r in records if r["stage"] == SAGE and "error" not in r}
        for r in sorted(records, key=lambda r: r["n"]):  # stable: each size's stages in run order
            if r["stage"] == "build":
                out.append(f"| {r['n']} | {r['edges']} | build | | {r['build_cpu_s']:.1f} | "
                           f"{r['build_wall_s']:.1f} | | | | | {r['build_peak_rss_mb']:.0f} | |")
                continue
            if "error" in r:
                out.append(f"| {r['n']} | {r.get('edges', '')} | {r['stage']} | | error: {r['error']} | | | | | | | |")
                continue
            extrap = r["batches"] < r["batches_total"]
            tag = " (extrap.)" if extrap else ""
            ratio = ""
            if r["n"] in sage:
                b = sage[r["n"]]
                ratio = (f"{_epoch(r, 'train_cpu_s') / _epoch(b, 'train_cpu_s'):.2f}x, "
                         f"{r['embed_cpu_s'] / b['embed_cpu_s']:.2f}x")
            per_edge = 1e6 * r["train_cpu_s"] / (r["batches"] * r["batch_edges"]) if r["batch_edges"] else 0.0
            out.append(f"| {r['n']} | {r['edges']} | {_label(r)} | {r['batches']} / {r['batches_total']} | "
                       f"{_epoch(r, 'train_cpu_s'):.1f}{tag} | {_epoch(r, 'train_wall_s'):.1f}{tag} | "
                       f"{r['batch_nodes']:.0f} / {r['batch_edges']:.0f} | {per_edge:.2f} | "
                       f"{r['embed_cpu_s']:.1f} | {r['embed_wall_s']:.1f} | "
                       f"{r['train_peak_rss_mb']:.0f} / {r['embed_peak_rss_mb']:.0f} | {ratio} |")
        out += ["", _target(records), ""]
    if profiles:
        out += _profile_section(profiles)
    if legacy:
        out += ["## Before the trimmed mini-batch encoder (previous code, N = 10k)", "",
                f"`experiments/scale/records/{LEGACY.name}`, written by the previous version of this "
                "script (wall seconds only, under load average about 11; the encoder then ran every layer "
                "on every sampled node):", "",
                "| N | stage | train epoch wall s | embed wall s | ratio to sage (train, embed) | peak RSS so far (MB) |",
                "|---|---|---|---|---|---|"]
        ref = {r["n"]: r for r in legacy if r["stage"] == SAGE}
        for r in legacy:
            if r["stage"] == "build":
                continue
            b = ref.get(r["n"])
            ratio = f"{r['seconds'] / b['seconds']:.2f}x, {r['embed_seconds'] / b['embed_seconds']:.2f}x" if b else ""
            out.append(f"| {r['n']} | {r['stage']} | {r['seconds']:.1f} | {r['embed_seconds']:.1f} | {ratio} | "
                       f"{r['peak_rss_mb']:.0f} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def _profile_section(profiles: List[Dict]) -> List[str]:
    """One row per profiled step (``experiments/scale/profile_step.py``): CPU seconds per part."""
    out = ["## Where the CPU time of one mini-batch step goes", "",
           "`experiments/scale/records/profile_step.jsonl`, from `experiments/scale/profile_step.py` (mean CPU "
           "seconds per step over the timed steps, 1 thread, fan-out [10, 5], 1024 seeds, width 256, native "
           "sampler; `commit` = the graphemb code that ran). Top operators: share of the profiler's self CPU "
           "time over the same number of further steps.", "",
           "| model | N | commit | steps | batch nodes / edges | sample | forward | loss | backward | optimizer | "
           "total CPU s | top operators (share) |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in profiles:
        p = r["cpu_s_per_step"]
        ops = ", ".join(f"`{o['op']}` {100 * o['self_share']:.0f}%" for o in r["top_ops"][:5])
        out.append(f"| {r['model']} | {r['n']} | {r['commit']} | {r['steps']} | {r['batch_nodes']:.0f} / "
                   f"{r['batch_edges']:.0f} | " + " | ".join(f"{p[k]:.3f}" for k in
                                                          ("sample", "forward", "loss", "backward", "optimizer"))
                   + f" | {r['cpu_s_per_step_total']:.3f} | {ops} |")
    cmds = sorted({r["command"] for r in profiles})
    return out + [""] + [f"Command: `PYTHONPATH=<tree> {c}`" for c in cmds] + [""]


def _target(records: List[Dict]) -> str:
    """The issue's 1M target: one IsoC-VGAE mini-batch epoch + embedding of every node in under
    20 minutes (CPU seconds of the 1-thread process) with peak RSS under 8 GB."""
    rows = [r for r in records if r["stage"] == "isoc-vgae-mini" and "error" not in r and r["n"] >= 1_000_000]
    if not rows:
        return ("Target (1M nodes / 10M edges: one IsoC-VGAE mini-batch epoch + embedding in under 20 min, "
                "peak RSS under 8 GB): not measured yet.")
    r = rows[-1]
    cpu = _epoch(r, "train_cpu_s") + r["embed_cpu_s"]
    wall = _epoch(r, "train_wall_s") + r["embed_wall_s"]
    peak = max(r["train_peak_rss_mb"], r["embed_peak_rss_mb"])
    met = cpu < 20 * 60 and peak < 8 * 1024
    how = "extrapolated from " + f"{r['batches']} of {r['batches_total']} batches" if r["batches"] < r["batches_total"] \
        else "the whole epoch measured"
    return (f"Target (N = {r['n']}, {r['edges']} directed edges: one IsoC-VGAE mini-batch epoch + embedding of "
            f"every node in under 20 min of CPU time on 1 thread, peak RSS under 8 GB): "
            f"{cpu / 60:.1f} min CPU ({wall / 60:.1f} min wall on the shared machine; {how}), peak RSS "
            f"{peak:.0f} MB: **{'met' if met else 'not met'}**.")


# ----------------------------------------------------------------------------- main
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="10000,100000,1000000")
    p.add_argument("--stages", default="build", help=f"build alone, or some of {','.join(STAGES)} in run order; "
                   "name:K trains only K batches of that stage's epoch")
    p.add_argument("--avg-degree", type=float, default=10)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--fanout", default="10,5")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--sampler", default="native")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON-lines file the records are appended to")
    p.add_argument("--report", action="store_true", help="write experiments/scale/RESULTS.md from the records")
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--commit", default="", help=argparse.SUPPRESS)
    p.add_argument("--command", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.report:
        (HERE / "scale" / "RESULTS.md").write_text(report())
        return
    args.stages = [s for s in args.stages.split(",") if s and s != "build"]
    unknown = {s.partition(":")[0] for s in args.stages} - set(STAGES)
    if unknown:
        p.error(f"unknown stages {sorted(unknown)}; choose from {STAGES}")
    if args.child:
        child(args)
        return
    command = "python experiments/bench_scale.py " + " ".join(sys.argv[1:])
    stamp = HERE.parent / "COMMIT"  # a snapshot of the tree (git archive) names its commit here
    commit = stamp.read_text().strip() if stamp.is_file() else subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True).stdout.strip()
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for n in (int(s) for s in args.sizes.split(",")):
        argv = [sys.executable, __file__, "--child", str(n), "--commit", commit, "--command", command,
                "--stages", ",".join(args.stages) or "build", "--avg-degree", str(args.avg_degree),
                "--dim", str(args.dim), "--threads", str(args.threads), "--fanout", args.fanout,
                "--batch-size", str(args.batch_size), "--width", str(args.width), "--sampler", args.sampler]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        for line in proc.stdout:
            if line.startswith("{"):
                with out.open("a") as f:
                    f.write(line.strip() + "\n")
                print(line.strip(), flush=True)
        if proc.wait():
            print(f"N = {n}: the process exited with code {proc.returncode}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
