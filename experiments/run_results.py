"""Reproduce the numbers of experiments/RESULTS.md.

For every row (model, preset, dataset, task) this trains once per seed and evaluates every
protocol of the task on the same frozen embeddings. That is exactly what

    graphemb reproduce MODEL --config experiments/configs/<row>.yaml --seeds N --protocol P --json

computes for each protocol P (same seeds, same deterministic CPU training), only without
training twice. Raw records go to experiments/results/<row>.json; RESULTS.md is rebuilt from
all of them (``--report-only`` rebuilds it without training).

    python experiments/run_results.py --seeds 5 --threads 2 [--device cuda] [--only 'vgae_paper_*'] [--report-only]
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import time
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
CONFIGS, RESULTS = HERE / "configs", HERE / "results"

NODE_SETS, GRAPH_SETS = ("Cora", "CiteSeer"), ("MUTAG", "PTC_MR", "PROTEINS", "IMDB-BINARY")
MODELS = (("isoc-vgae", "paper"), ("isoc-vgae", "default"), ("vgae", "paper"))
PROTOCOLS = {"node": ("linear", "mlp"), "link": ("dot", "mlp"), "graph": ("svm", "mlp")}

# Published numbers, protocol by protocol (issue #2, section 9).
PUBLISHED = {
    ("Cora", "node", "linear"): "GraphMAE 84.2 ± 0.4",
    ("CiteSeer", "node", "linear"): "GraphMAE 73.4 ± 0.4",
    ("Cora", "link", "dot"): "VGAE (Kipf & Welling) AUC 91.4 / AP 92.6",
    ("CiteSeer", "link", "dot"): "VGAE (Kipf & Welling) AUC 90.8 / AP 92.0",
    ("MUTAG", "graph", "svm"): "InfoGraph 89.01 ± 1.13; GraphMAE 88.19 ± 1.26",
    ("PROTEINS", "graph", "svm"): "GraphMAE 75.30 ± 0.39",
    ("IMDB-BINARY", "graph", "svm"): "GraphMAE 75.52 ± 0.66",
    ("Cora", "node", "mlp"): "official IsoC-VGAE code, 1 seed, this machine: 85.5",
    ("Cora", "link", "mlp"): "official IsoC-VGAE code, 1 seed, this machine: AUC 93.1 / AP 94.4",
    ("MUTAG", "graph", "mlp"): "official IsoC-VGAE code, 1 seed, this machine: 76.8",
}


def rows():
    from graphemb.presets import PRESETS

    for model, preset in MODELS:
        same_as_paper = preset != "paper" and PRESETS.get((model, preset, "node")) == PRESETS.get((model, "paper", "node"))
        for ds in NODE_SETS:
            for task in ("node", "link"):
                if not same_as_paper:  # identical config: its rows are the paper rows
                    yield model, preset, ds, task
        for ds in GRAPH_SETS:
            if model == "vgae" and preset == "paper":
                preset_g = "default"  # Kipf & Welling give no graph-level recipe
            else:
                preset_g = preset
            yield model, preset_g, ds, "graph"


def row_name(model, preset, ds, task) -> str:
    return f"{model}_{preset}_{ds.lower()}_{task}"


def write_config(model, preset, ds, task) -> Path:
    path = CONFIGS / f"{row_name(model, preset, ds, task)}.yaml"
    cfg = {"model": {"name": model}, "preset": preset, "data": {"name": ds}, "task": {"name": task}}
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def command(path: Path, seeds: int, protocol: str, device: str) -> str:
    m = yaml.safe_load(path.read_text())["model"]["name"]
    return (f"graphemb reproduce {m} --config experiments/configs/{path.name} --seeds {seeds} "
            f"--protocol {protocol} --device {device} --json")


def run_row(model, preset, ds, task, seeds: int, device: str, svm_jobs=None) -> dict:
    from graphemb import api
    from graphemb.config import build_run_config
    from graphemb.evaluation.stats import record_from_results
    from dataclasses import replace

    path = write_config(model, preset, ds, task)
    base = build_run_config(config_file=path)
    data = api.load_data(base)
    per_protocol = {p: [] for p in PROTOCOLS[task]}
    eval_secs = {p: 0.0 for p in PROTOCOLS[task]}
    train_secs, epoch_secs, peak = 0.0, [], []
    for s in range(seeds):
        cfg = replace(base, train=replace(base.train, seed=s, device=device, progress=False))
        t = time.perf_counter()
        run = api.train_config(cfg, data)
        train_secs += time.perf_counter() - t
        epoch_secs.append(run.train_result.seconds_per_epoch)
        peak.append(run.train_result.peak_memory_mb or 0.0)
        for p in PROTOCOLS[task]:
            t = time.perf_counter()
            opts = {"n_jobs": svm_jobs} if p == "svm" and svm_jobs else None
            _, res = api.evaluate_embeddings(cfg, run.embeddings, data, run.split, protocol=p, seed=s, device=device,
                                             options=opts)
            eval_secs[p] += time.perf_counter() - t
            per_protocol[p].append(res)
    records = []
    for p, results in per_protocol.items():
        rec = record_from_results(model, ds, task, p, results, train_secs + eval_secs[p])
        rec.update(preset=preset, command=command(path, seeds, p, device), device=device,
                   train_seconds_per_epoch=sum(epoch_secs) / len(epoch_secs), peak_memory_mb=max(peak))
        records.append(rec)
    return {"row": row_name(model, preset, ds, task), "records": records}


def fmt(block, scale=100.0) -> str:
    if block is None or block.get("mean") is None:
        return "n/a"
    return f"{scale * block['mean']:.2f} ± {scale * block['std']:.2f}"


def report(seeds_note: str) -> str:
    recs = []
    for f in sorted(RESULTS.glob("*.json")):
        recs += json.loads(f.read_text())["records"]
    out = ["# Results", "",
           "Generated by `python experiments/run_results.py` from the raw records in `experiments/results/`;",
           "every row names the command that reproduces it (seeds 0..N-1, on the device the row names;",
           "cuda rows ran on one H200 with torch 2.11 / PyG 2.8.0, cpu rows on 2 cores with torch 2.13).",
           "Values are percentages,",
           "mean ± population std over seeds. " + seeds_note, "",
           "Protocols: node `linear` = logistic regression on the Planetoid public split, best validation",
           "(GraphMAE); node `mlp` = official IsoC-VGAE MLP probe (4 hidden layers, dropout 0.5, trained on",
           "every node outside val/test). Link: 85/5/10 edge split per seed, encoder trained on training edges",
           "only; `dot` = inner-product scores (AUC/AP, Hits@K and MRR against the test negatives); `mlp` =",
           "official Hadamard-MLP predictor. Graph: `svm` = RBF SVM with C by inner 5-fold CV inside 10-fold",
           "CV (InfoGraph/GraphMAE): the GIN repository's published folds where the data ship them in the",
           "same graph order (PTC_MR, PROTEINS, IMDB-BINARY), else stratified folds drawn with the seed",
           "(MUTAG); `mlp` = official single 50/20/30 split with the MLP probe. Featureless IMDB-BINARY gets",
           "one-hot degree (`default`) or a constant 1 (`paper`, as the official code). Graph embeddings",
           "are sum-pooled; `default` VGAE rows pool its encoder layer (`concat` readout, which for VGAE",
           "excludes the mu head), IsoC-VGAE rows pool the last layer h^L.", ""]
    for task, head in (("node", "Node classification (accuracy)"), ("link", "Link prediction (AUC / AP)"),
                       ("graph", "Graph classification (accuracy)")):
        out += [f"## {head}", "", "| model | preset | dataset | protocol | ours | published | s/epoch (device) | command |",
                "|---|---|---|---|---|---|---|---|"]
        for r in recs:
            if r["task"] != task:
                continue
            ours = fmt(r) if task != "link" else f"{fmt(r)} / {fmt(r.get('ap'))}"
            pub = PUBLISHED.get((r["dataset"], task, r["protocol"]), "")
            out.append(f"| {r['model']} | {r['preset']} | {r['dataset']} | {r['protocol']} | {ours} | {pub} | "
                       f"{r['train_seconds_per_epoch']:.3f} ({r.get('device', 'cpu')}) | `{r['command']}` |")
        out.append("")
    tuning = RESULTS / "tuning.md"
    if tuning.is_file():
        out += ["## Choosing the IsoC-VGAE `default` preset (validation only)", "", tuning.read_text().strip(), ""]
    out += ["## Speed and memory on Cora", "",
            "Seconds per training epoch and peak memory (CUDA: max allocated; CPU: process peak RSS), from",
            "`python experiments/bench_speed.py` (command and settings in the first line of each block).", ""]
    for f in sorted(RESULTS.glob("bench_*.md")):
        out += ["```", f.read_text().strip().split("\n[")[0], "```", ""]
    out += ["The official IsoC-VGAE code, run on this machine with its README settings, takes about 4 s per",
            "training epoch on Cora (a Python loop over nodes) and 1.5 GB peak memory.", ""]
    for sub, title in (("mag", "Multimodal attributed graphs"), ("matching", "Data-to-text matching")):
        f = HERE / sub / "RESULTS.md"
        if f.is_file():
            body = f.read_text().strip().splitlines()
            body = [("#" + line if line.startswith("#") else line) for line in body]  # nest headings
            out += [f"## {title} (from experiments/{sub}/RESULTS.md)", ""] + body + [""]
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default=None, help="comma-separated glob patterns on row names (e.g. 'vgae_paper_*')")
    p.add_argument("--svm-jobs", type=int, default=None, help="parallel jobs for the SVM grid search")
    p.add_argument("--import-records", default=None, help="JSONL written by --records-out: store its rows, then report")
    p.add_argument("--report-only", action="store_true")
    p.add_argument("--records-out", default=None, help="also append every row's records to this JSONL file")
    args = p.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    CONFIGS.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    if args.import_records:
        for line in Path(args.import_records).read_text().splitlines():
            res = json.loads(line)
            (RESULTS / f"{res['row']}.json").write_text(json.dumps(res, indent=1))
    for row in rows():
        path = write_config(*row)
        name = row_name(*row)
        if args.report_only or args.import_records or (
                args.only and not any(fnmatch.fnmatch(name, k) for k in args.only.split(","))):
            continue
        t = time.perf_counter()
        res = run_row(*row, seeds=args.seeds, device=args.device, svm_jobs=args.svm_jobs)
        (RESULTS / f"{name}.json").write_text(json.dumps(res, indent=1))
        if args.records_out:
            with open(args.records_out, "a") as f:
                f.write(json.dumps(res) + "\n")
        print(f"{name}: " + "; ".join(f"{r['protocol']} {fmt(r)}" for r in res["records"]) +
              f" [{time.perf_counter() - t:.0f} s]", flush=True)
    (HERE / "RESULTS.md").write_text(report(f"Seeds: {args.seeds} unless a record says otherwise."))


if __name__ == "__main__":
    main()
