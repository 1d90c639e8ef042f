"""Reproduce the numbers of experiments/RESULTS.md.

For every row (model, preset, dataset, task) this trains once per seed and evaluates every
protocol of the task on the same frozen embeddings. That is exactly what

    graphemb reproduce MODEL --config experiments/configs/<row>.yaml --seeds N --protocol P --json

computes for each protocol P (same seeds, same deterministic CPU training), only without
training twice. Raw records go to experiments/results/<row>.json (each with the resolved config it
ran); RESULTS.md is rebuilt from them and from experiments/references.yaml (the published / other
projects' numbers, per model, dataset, task and protocol) and nothing else: ``--report-only``
rebuilds it without training, ``--check`` verifies that the committed RESULTS.md is exactly what
the records give. A record whose stored config no longer matches its row's current config (or
one marked with ``--mark-stale``) is shown as stale.

    python experiments/run_results.py --seeds 5 --threads 2 [--device cuda] [--only 'vgae_paper_*'] [--resume] [--report-only]
    python experiments/run_results.py --check
"""
from __future__ import annotations

import argparse
import difflib
import fnmatch
import json
import sys
import time
from pathlib import Path
from typing import Optional

import yaml

from graphemb.utils.io import write_json

HERE = Path(__file__).resolve().parent
CONFIGS, RESULTS, REFERENCES = HERE / "configs", HERE / "results", HERE / "references.yaml"

NODE_SETS, GRAPH_SETS = ("Cora", "CiteSeer"), ("MUTAG", "PTC_MR", "PROTEINS", "IMDB-BINARY")
MODELS = (("isoc-vgae", "paper"), ("isoc-vgae", "default"), ("vgae", "paper"))
PROTOCOLS = {"node": ("linear", "mlp"), "link": ("dot", "mlp"), "graph": ("svm", "mlp")}

# Self-supervised zoo rows (issue 8): (model, preset, dataset, task) -> what the row changes in the
# preset to fit this project's 2-core CPU budget. Every such cut is written into the row's config
# and record (``cpu_cut``) and shown in RESULTS.md; an empty dict runs the preset unchanged.
ZOO_ROWS = {
    ("graphmae", "paper", "MUTAG", "graph"): {},
    ("maskgae", "paper", "Cora", "node"): {},
    ("maskgae", "paper", "CiteSeer", "node"): {},
    ("maskgae", "paper", "Cora", "link"): {},
    ("maskgae", "paper", "CiteSeer", "link"): {},
    ("dgi", "paper", "Cora", "node"): {},
    ("dgi", "paper", "CiteSeer", "node"): {},
    # 1500 -> 300 epochs (cosine schedule over the 300): 1.5 CPU s/epoch on 1 thread, the official
    # 1500 would cost 37 CPU min per seed
    ("graphmae", "paper", "Cora", "node"): {"train": {"epochs": 300}},
    ("graphmae", "paper", "CiteSeer", "node"): {},
    ("graphmae", "paper", "PTC_MR", "graph"): {},
    ("graphmae", "paper", "IMDB-BINARY", "graph"): {},
    ("graphmae", "paper", "PROTEINS", "graph"): {},
    # 100 -> 2 epochs (cosine schedule over the 2): 111 s/epoch (wall, 1 thread, one 1-epoch run
    # beside one other run), the official 100 would take ~15 hours for 5 seeds
    ("graphmae", "paper", "REDDIT-BINARY", "graph"): {"train": {"epochs": 2}},
    # the co-purchase / co-authorship / citation columns: random 10/10/80 splits per seed (BGRL)
    ("dgi", "paper", "Amazon-Computers", "node"): {},
    ("dgi", "paper", "Coauthor-CS", "node"): {},
    ("dgi", "paper", "DBLP", "node"): {},
    # 10000 -> 300 epochs, warm-up 1000 -> 30 (the same share): 3.4 s/epoch (wall, 1 thread, one
    # 4-epoch run on the loaded 2-core machine), the official schedule would take ~9 hours per seed
    ("bgrl", "paper", "Amazon-Computers", "node"): {"train": {"epochs": 300, "warmup_epochs": 30}},
    # 10000 -> 100 epochs, warm-up 1000 -> 10: 16.5 s/epoch (wall, 1 thread, one 3-epoch run beside
    # two other runs on the 2-core machine); 300 epochs would take ~7 hours for 5 seeds
    ("bgrl", "paper", "Coauthor-CS", "node"): {"train": {"epochs": 100, "warmup_epochs": 10}},
    # 500 -> 200 epochs: 2.8 s/epoch (wall, 1 thread, one 10-epoch run beside two other runs)
    ("maskgae", "paper", "Amazon-Computers", "node"): {"train": {"epochs": 200}},
    # 2000 -> 200 epochs (cosine schedule over the 200): 3.8 s/epoch (wall, 1 thread, one 5-epoch run)
    ("graphmae2", "paper", "Cora", "node"): {"train": {"epochs": 200}},
    # 500 -> 150 epochs (cosine schedule over the 150): 10 s/epoch (wall, 1 thread, one 3-epoch run
    # beside two other runs on the 2-core machine), the official 500 would take ~7 hours for 5 seeds
    ("graphmae2", "paper", "CiteSeer", "node"): {"train": {"epochs": 150}},
    # 10 -> 5 epochs (no schedule, no early stopping in the preset): 122 s/epoch at width 2048
    # (wall, 1 thread, one 1-epoch run beside one other run), the preset's 10 would take ~100 min
    # for 5 seeds
    ("isoc-vgae", "default", "DBLP", "node"): {"train": {"epochs": 5}},
    # the paper's node recipe, trained on the training edges of each seed's 85/5/10 split
    ("dgi", "paper", "Cora", "link"): {},
    ("dgi", "paper", "CiteSeer", "link"): {},
    # 1500 -> 300 epochs as the node row (0.7 s/epoch today, wall, 1 thread, beside two other runs)
    ("graphmae", "paper", "Cora", "link"): {"train": {"epochs": 300}},
    # the Cora node recipe on DBLP (the official code has no DBLP command)
    ("maskgae", "paper", "DBLP", "node"): {},
    # the Cora node recipe on Coauthor-CS (no CS command either); 500 -> 200 epochs as Computers:
    # 5.1 s/epoch (wall, 1 thread, one 3-epoch run beside one other run), 500 would take ~3.5 hours
    ("maskgae", "paper", "Coauthor-CS", "node"): {"train": {"epochs": 200}},
    # the paper recipe unchanged (30 epochs at lr 5e-6): 19 s/epoch (wall, 1 thread, one 2-epoch run
    # beside one other run)
    ("isoc-vgae", "paper", "DBLP", "node"): {},
    # 30 -> 10 epochs: 63 s/epoch at width 512 (wall, 1 thread, one 1-epoch run beside two other
    # runs on the 2-core machine), the paper's 30 would take ~2-3 hours for 5 seeds
    ("isoc-vgae", "paper", "Coauthor-CS", "node"): {"train": {"epochs": 10}},
    # the CiteSeer node recipe (300 epochs) on the training edges of each seed's 85/5/10 split
    ("graphmae", "paper", "CiteSeer", "link"): {},
}

OUR_MODELS = {m for m, _ in MODELS}  # the zoo models stay "other methods" beside IsoC-VGAE
# the percentage metrics a row shows, by task (link rows show AUC / AP)
ROW_METRICS = {"node": ("accuracy",), "link": ("auc", "ap"), "graph": ("accuracy",)}


def load_references(path: Path = REFERENCES) -> list:
    """The entries of experiments/references.yaml (see its header for the fields)."""
    entries = yaml.safe_load(path.read_text())["references"]
    need = {"model", "dataset", "task", "protocol", "metric", "value", "std", "source"}
    for i, e in enumerate(entries):
        if not need <= set(e):
            raise ValueError(f"{path} entry {i} lacks {sorted(need - set(e))}")
    return entries


def fmt_reference(entries) -> str:
    """``"AUC 91.4 ± 0.01 / AP 92.6 ± 0.01 (source)"`` for the entries of one (model, row)."""
    if not entries:
        return ""
    vals = " / ".join(f"{e['metric'].upper() if e['metric'] != 'accuracy' else ''}{' ' if e['metric'] != 'accuracy' else ''}"
                      f"{e['value']}" + (f" ± {e['std']}" if e.get("std") is not None else "") for e in entries)
    return f"{vals.strip()} ({entries[0]['source']})"


def _references_of(refs, model, dataset, task, protocol) -> list:
    """The entries of one (model, dataset, task, protocol) in a row's metrics, in metric order."""
    hit = [e for e in refs if (e["model"], e["dataset"], e["task"], e["protocol"]) == (model, dataset, task, protocol)
           and e["metric"] in ROW_METRICS[task]]
    return sorted(hit, key=lambda e: ROW_METRICS[task].index(e["metric"]))


def references_for(refs, model, dataset, task, protocol, same_model: bool) -> str:
    """Reference cell: the row model's own published number, or other methods' (named)."""
    out = []
    models = sorted({e["model"] for e in refs})
    for m in models:
        if (m == model) != same_model or (not same_model and m in OUR_MODELS):
            continue
        hit = _references_of(refs, m, dataset, task, protocol)
        if hit:
            out.append(fmt_reference(hit) if same_model else f"{m}: {fmt_reference(hit)}")
    return "; ".join(out)


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
    yield from ZOO_ROWS


def row_name(model, preset, ds, task) -> str:
    return f"{model}_{preset}_{ds.lower()}_{task}"


def write_config(model, preset, ds, task) -> Path:
    path = CONFIGS / f"{row_name(model, preset, ds, task)}.yaml"
    cfg = {"model": {"name": model}, "preset": preset, "data": {"name": ds}, "task": {"name": task}}
    for section, values in ZOO_ROWS.get((model, preset, ds, task), {}).items():
        cfg.setdefault(section, {}).update(values)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def command(path: Path, seeds: int, protocol: str, device: str) -> str:
    m = yaml.safe_load(path.read_text())["model"]["name"]
    return (f"graphemb reproduce {m} --config experiments/configs/{path.name} --seeds {seeds} "
            f"--protocol {protocol} --device {device} --json")


def row_protocols(model: str, task: str) -> tuple:
    """The protocols a row is evaluated with: its task's, plus ``decoder`` for link rows of a
    model with its own edge decoder (``link_scores``, MaskGAE)."""
    from graphemb.models import MODELS

    extra = ("decoder",) if task == "link" and hasattr(MODELS.get(model), "link_scores") else ()
    return PROTOCOLS[task] + extra


def finished_seeds(row, stored: Optional[dict], device: str) -> Optional[dict]:
    """What a stored row already holds that a rerun of the current recipe would recompute
    exactly: ``{"results": {protocol: [ProtocolResult per seed]}, "seconds": {protocol: s},
    "seconds_per_epoch": s, "peak_memory_mb": MB}``, or None when the row must start from seed 0
    (no record, stale, another device, or other protocols). Seed k's numbers do not depend on how
    many seeds run, so seeds 0..n-1 of the record are the first n seeds of any longer run."""
    from graphemb.evaluation.stats import ProtocolResult

    if stored is None or staleness(row, stored):
        return None
    recs = {r["protocol"]: r for r in stored["records"]}
    if set(recs) != set(row_protocols(row[0], row[3])) or any(r["device"] != device for r in recs.values()):
        return None
    results, nan = {}, float("nan")  # non-finite values are stored as null
    for p, r in recs.items():
        extras = {k: v["values"] for k, v in r.items() if isinstance(v, dict) and set(v) == {"mean", "std", "values"}}
        results[p] = [ProtocolResult(r["metric"], nan if v is None else v,
                                     {k: nan if vals[i] is None else vals[i] for k, vals in extras.items()})
                      for i, v in enumerate(r["values"])]
    if len({len(v) for v in results.values()}) != 1:
        return None
    first = next(iter(recs.values()))
    return {"results": results, "seconds": {p: r["seconds"] for p, r in recs.items()},
            "seconds_per_epoch": first["train_seconds_per_epoch"], "peak_memory_mb": first["peak_memory_mb"]}


def run_row(model, preset, ds, task, seeds: int, device: str, svm_jobs=None, on_seed=None, done=None) -> dict:
    """Train seeds ``0..seeds-1`` of one row and evaluate every protocol of its task. After each
    seed ``on_seed(row_json)`` (when given) receives the row over the seeds done so far, whose
    commands name that many seeds (seed k's result does not depend on how many seeds run), so a
    run stopped midway still leaves an exact, reproducible record. ``done`` (from
    :func:`finished_seeds`) continues a stored row after its last finished seed."""
    from graphemb import api
    from graphemb.config import build_run_config
    from dataclasses import replace

    path = write_config(model, preset, ds, task)
    base = build_run_config(config_file=path)
    protocols = row_protocols(model, task)
    per_protocol = {p: [] for p in protocols}
    eval_secs = {p: 0.0 for p in protocols}
    train_secs, epoch_secs, peak = 0.0, [], []
    res = None
    start = 0
    if done is not None:  # the stored seconds already hold training and evaluation of those seeds
        per_protocol = {p: list(done["results"][p]) for p in protocols}
        eval_secs = dict(done["seconds"])
        start = len(per_protocol[protocols[0]])
        epoch_secs, peak = [done["seconds_per_epoch"]] * start, [done["peak_memory_mb"]]
    if start >= seeds:
        return None
    data = api.load_data(base)
    for s in range(start, seeds):
        cfg = replace(base, train=replace(base.train, seed=s, device=device, progress=False))
        t = time.perf_counter()
        run = api.train_config(cfg, data)
        train_secs += time.perf_counter() - t
        epoch_secs.append(run.train_result.seconds_per_epoch)
        peak.append(run.train_result.peak_memory_mb or 0.0)
        for p in protocols:
            t = time.perf_counter()
            opts = {"n_jobs": svm_jobs} if p == "svm" and svm_jobs else None
            _, r = api.evaluate_embeddings(cfg, run.embeddings, data, run.split, protocol=p, seed=s, device=device,
                                           options=opts, model=run.model)
            eval_secs[p] += time.perf_counter() - t
            per_protocol[p].append(r)
        splits = {p: api.split_name(cfg, data, task, p) for p in protocols}
        res = {"row": row_name(model, preset, ds, task), "config": comparable_config(base),
               "records": _row_records(model, preset, ds, task, path, device, per_protocol, train_secs, eval_secs,
                                       epoch_secs, peak, splits)}
        if on_seed is not None:
            on_seed(res)
    return res


def _row_records(model, preset, ds, task, path, device, per_protocol, train_secs, eval_secs, epoch_secs, peak,
                 splits) -> list:
    """One record per protocol over the seeds in ``per_protocol`` (``{protocol: [ProtocolResult]}``)."""
    from graphemb.evaluation.stats import record_from_results

    records = []
    for p, results in per_protocol.items():
        rec = record_from_results(model, ds, task, p, results, train_secs + eval_secs[p])
        rec.update(preset=preset, command=command(path, len(results), p, device), device=device,
                   train_seconds_per_epoch=sum(epoch_secs) / len(epoch_secs), peak_memory_mb=max(peak))
        cut = ZOO_ROWS.get((model, preset, ds, task))
        if cut:
            rec["cpu_cut"] = f"changed from the {preset} preset for CPU time: {json.dumps(cut)}"
        rec["split"] = splits[p]
        records.append(rec)
    return records


def comparable_config(cfg) -> dict:
    """The resolved config of a row without what varies per run (seed, device, progress)."""
    d = cfg.to_dict()
    for k in ("seed", "device", "progress"):
        d.get("train", {}).pop(k, None)
    return json.loads(json.dumps(d))


def current_config(model, preset, ds, task) -> dict:
    from graphemb.config import build_run_config

    return comparable_config(build_run_config(config_file=CONFIGS / f"{row_name(model, preset, ds, task)}.yaml"))


def field_defaults(model, task) -> dict:
    """The dataclass defaults of a row's config (no preset): what a record written before a field
    existed ran with."""
    from graphemb.config import RunConfig, TaskConfig
    from graphemb.models import MODELS

    return comparable_config(RunConfig(model_name=model, model=MODELS.get(model).Config(), task=TaskConfig(name=task)))


def staleness(row, stored: dict) -> str:
    """Why a stored row no longer shows the current code's recipe ("" when it does)."""
    if stored.get("stale"):
        return stored["stale"]
    if "config" in stored:
        changed = config_changes(stored["config"], current_config(*row), defaults=field_defaults(row[0], row[3]))
        if changed:
            return f"its config differs from the row's current config ({', '.join(changed[:3])}); rerun"
    return ""


FREE_FORM = ("options",)  # config mappings whose keys are not dataclass fields


def config_changes(stored: dict, current: dict, prefix: str = "", defaults: Optional[dict] = None) -> list:
    """Dotted keys whose stored value differs from the current one. Keys the record does not
    have are options added after it was written: their defaults keep the old behaviour (the
    convention for every new config field), so they make a record stale only where the current
    value is not that default (``defaults``: the dataclass defaults; without them a missing key
    never counts). Free-form mappings (``data.options``, loader keyword arguments) have no such
    defaults and are compared whole."""
    out = []
    defaults = defaults if isinstance(defaults, dict) else {}
    for k, v in current.items():
        if k not in stored:
            if k in defaults and defaults[k] != v:
                out.append(f"{prefix}{k}")
            continue
        if isinstance(v, dict) and isinstance(stored[k], dict) and k not in FREE_FORM:
            out += config_changes(stored[k], v, f"{prefix}{k}.", defaults.get(k))
        elif stored[k] != v:
            out.append(f"{prefix}{k}")
    out += [f"{prefix}{k}" for k in stored if k not in current]
    return out


def fmt(block, scale=100.0) -> str:
    if block is None or block.get("mean") is None:
        return "n/a"
    return f"{scale * block['mean']:.2f} ± {scale * block['std']:.2f}"


def load_rows():
    """``[(row, stored JSON)]`` for every row that has a record file, in table order."""
    out = []
    for row in rows():
        f = RESULTS / f"{row_name(*row)}.json"
        if f.is_file():
            out.append((row, json.loads(f.read_text())))
    return out


def report() -> str:
    """RESULTS.md from the stored records and experiments/references.yaml only."""
    refs = load_references()
    stored = load_rows()
    out = ["# Results", "",
           "Generated by `python experiments/run_results.py` from the raw records in `experiments/results/`",
           "and the reference numbers in `experiments/references.yaml` (nothing typed by hand;",
           "`python experiments/run_results.py --check` verifies it). Every row names the command that",
           "reproduces it (seeds 0..N-1, N in the `seeds` column, on the device the row names;",
           "cuda rows ran on one H200 with torch 2.11 / PyG 2.8.0, cpu rows on 2 cores with torch 2.13).",
           "Values are percentages, mean ± population std over seeds. `reference` is a published (or",
           "official-code) number of the row's own model under the same protocol; `other methods` are",
           "published numbers of other models under the same protocol, for context. A row marked",
           "**stale** was computed before a change of its recipe and awaits a rerun.", "",
           "Protocols: node `linear` = logistic regression on the Planetoid public split, best validation",
           "(GraphMAE); node `mlp` = official IsoC-VGAE MLP probe (4 hidden layers, dropout 0.5, trained on",
           "every node outside val/test). Link: 85/5/10 edge split per seed, encoder trained on training edges",
           "only; `dot` = inner-product scores (AUC/AP, Hits@K and MRR against the test negatives); `mlp` =",
           "official Hadamard-MLP predictor; `decoder` = the trained model's own edge decoder (MaskGAE's",
           "protocol). Graph: `svm` = RBF SVM with C by inner 5-fold CV inside 10-fold",
           "CV (InfoGraph/GraphMAE): the GIN repository's published folds where the data ship them in the",
           "same graph order (PTC_MR, PROTEINS, IMDB-BINARY; these folds are not stratified and test",
           "floor(G/10) graphs each, so G mod 10 graphs are never tested: 4 on PTC_MR, 3 on PROTEINS),",
           "else stratified folds drawn with the seed (MUTAG; every graph tested once). GraphMAE's own",
           "evaluation draws stratified folds with seed 0 for every run instead (`--probe fold_seed=0`); on",
           "IMDB-BINARY that alone closes most of GraphMAE's gap to its paper (record:",
           "`experiments/results/checks/graphmae_paper_imdb-binary_graph_official_svm.json`). `mlp` = official",
           "single 50/20/30 split with the MLP probe. Featureless IMDB-BINARY gets",
           "one-hot degree (`default`) or a constant 1 (`paper`, as the official code). Graph embeddings",
           "are sum-pooled; `default` VGAE rows pool its encoder layer (`concat` readout, which for VGAE",
           "excludes the mu head), IsoC-VGAE rows pool the last layer h^L. The IsoC-VGAE `paper` graph",
           "preset uses PairNorm as the official code (PN-SCS, scale 20, over the whole mini-batch).", ""]
    out += summary_tables(stored, refs)
    for task, head in (("node", "Node classification (accuracy)"), ("link", "Link prediction (AUC / AP)"),
                       ("graph", "Graph classification (accuracy)")):
        out += [f"## {head}", "",
                "| model | preset | dataset | protocol | seeds | ours | reference | other methods | s/epoch (device) | command |",
                "|---|---|---|---|---|---|---|---|---|---|"]
        for row, res in stored:
            why = staleness(row, res)
            for r in res["records"]:
                if r["task"] != task:
                    continue
                ours = fmt(r) if task != "link" else f"{fmt(r)} / {fmt(r.get('ap'))}"
                if r.get("cpu_cut"):
                    ours += f" ({r['cpu_cut']})"
                if why:
                    ours = f"**stale** ({why}): {ours}"
                key = (r["model"], r["dataset"], task, r["protocol"])
                out.append(f"| {r['model']} | {r['preset']} | {r['dataset']} | {r['protocol']} | {len(r['values'])} | "
                           f"{ours} | {references_for(refs, *key, same_model=True)} | "
                           f"{references_for(refs, *key, same_model=False)} | "
                           f"{r['train_seconds_per_epoch']:.3f} ({r.get('device', 'cpu')}) | `{r['command']}` |")
        out.append("")
    ablation = sorted(RESULTS.glob("ablation_*.json"))
    if ablation:
        out += ["## The `paper` preset against the official code: link `mlp` ablation", "",
                "Same splits per seed (seeds 0..N-1). The first four variants score the same trained encoder;",
                "only the embedding mode (eval- or train-mode forward pass) and the predictor's training pairs",
                "(one direction, or both directions with twice the negatives) change. The `linear encoder`",
                "variants retrain it with every layer linear (`model.encoder.act=identity`), which is what the",
                "official code's late-bound activation lambda computes (see the docstring of",
                "`experiments/link_mlp_vs_official.py`).", "",
                "| dataset | variant | seeds | AUC | AP | command |", "|---|---|---|---|---|---|"]
        for f in ablation:
            res = json.loads(f.read_text())
            why = f"**stale** ({res['stale']}): " if res.get("stale") else ""
            for r in res["records"]:
                out.append(f"| {r['dataset']} | {r['variant']} | {len(r['values'])} | {why}{fmt(r)} | "
                           f"{fmt(r.get('ap'))} | `{r['command']}` |")
        official = [e for e in refs if e["model"] == "isoc-vgae" and e["task"] == "link" and e["protocol"] == "mlp"]
        if official:
            out += ["", f"Official code: {fmt_reference(official)}."]
        out.append("")
    out += ["## Choosing the IsoC-VGAE `default` preset (validation only)", "", tuning_report().strip(), ""]
    out += ["## Speed and memory", "",
            "Generated from the records of `experiments/bench_speed.py` (`experiments/results/speed/`) and",
            "`experiments/bench_precision.py` (`experiments/results/precision/`); each block names its command.",
            "The CPU rows ran on this project's shared 2-core machine (load average 5-10 from other jobs),",
            "1 thread: ratios within one run are what count, and CPU seconds (`time.process_time`) stand",
            "beside wall seconds because wall time includes waiting for a core.", "",
            "### Training cost per model (issue 8)", ""]
    out += [_sibling("bench_speed").report(kinds=("cost",)).strip(), ""]
    out += ["### GCN propagation on a new graph per step (dropped or masked edges, mini-batches)", "",
            _sibling("bench_speed").report(kinds=("propagation",)).strip(), ""]
    out += ["### IsoC-VGAE against its dense matrix products (issue 9 §5)", "",
            _sibling("bench_speed").report(kinds=("roofline", "density", "compile")).strip(), ""]
    out += ["### fp32 against bf16 (`train.precision`)", "", _sibling("bench_precision").report().strip(), ""]
    for f in sorted(RESULTS.glob("bench_*.md")):
        out += ["```", f.read_text().strip().split("\n[")[0], "```", ""]
    cost = [e for e in refs if e["model"] == "isoc-vgae" and e["metric"] in ("seconds_per_epoch", "peak_memory_mb")]
    for e in cost:
        unit = "s per training epoch" if e["metric"] == "seconds_per_epoch" else "MB peak memory"
        out.append(f"- Reference ({e['dataset']}): {e['value']} {unit}: {e['source']}.")
    if cost:
        out.append("")
    for sub, title in (("scale", "Large graphs"), ("mag", "Multimodal attributed graphs"),
                       ("matching", "Data-to-text matching")):
        f = HERE / sub / "RESULTS.md"
        if f.is_file():
            body = f.read_text().strip().splitlines()
            body = [("#" + line if line.startswith("#") else line) for line in body]  # nest headings
            out += [f"## {title} (from experiments/{sub}/RESULTS.md)", ""] + body + [""]
    return "\n".join(out)


# The summary tables of issue 8: one per level (and link protocol), a row per (model, preset), a
# column per dataset, under the protocol the published numbers use.
SUMMARY = (
    ("node", "linear", ("Cora", "CiteSeer", "Amazon-Computers", "Coauthor-CS", "DBLP"),
     "Node classification, linear probe (accuracy)"),
    ("link", "dot", ("Cora", "CiteSeer"), "Link prediction, inner-product scores (AUC / AP)"),
    ("link", "mlp", ("Cora", "CiteSeer"), "Link prediction, Hadamard-MLP probe (AUC / AP)"),
    ("link", "decoder", ("Cora", "CiteSeer"), "Link prediction, the model's own edge decoder (AUC / AP)"),
    ("graph", "svm", ("MUTAG", "PROTEINS", "IMDB-BINARY", "REDDIT-BINARY", "PTC_MR"),
     "Graph classification, SVM 10-fold (accuracy)"),
)
SUMMARY_MODELS = (("isoc-vgae", "paper"), ("isoc-vgae", "default"), ("vgae", "paper"), ("vgae", "default"),
                  ("graphmae", "paper"), ("graphmae2", "paper"), ("maskgae", "paper"), ("bgrl", "paper"),
                  ("dgi", "paper"))


def summary_cell(record: Optional[dict], why_stale: str = "") -> str:
    """``"80.60 ± 0.49 (5†)"``: mean ± std over the seeds, their number, ``†`` when the row was cut
    for CPU time, ``*`` when stale; ``—`` when no record exists."""
    if record is None:
        return "—"
    task = record["task"]
    val = fmt(record) if task != "link" else f"{fmt(record)} / {fmt(record.get('ap'))}"
    marks = ("†" if record.get("cpu_cut") else "") + ("*" if why_stale else "")
    return f"{val} ({len(record['values'])}{marks})"


def summary_reference(refs, model, dataset, task, protocol) -> str:
    """The row model's published number for the cell under the same protocol (``""`` if none)."""
    return " / ".join(f"{e['value']}" for e in _references_of(refs, model, dataset, task, protocol))


def summary_tables(stored, refs) -> list:
    """The summary section's lines from the stored rows ``[(row, stored JSON)]`` and the references."""
    from graphemb.presets import PRESETS

    found = {}
    for row, res in stored:
        why = staleness(row, res)
        for r in res["records"]:
            found[(r["model"], r["preset"], r["dataset"], r["task"], r["protocol"])] = (r, why)
    out = ["## Summary: one table per level", "",
           "Cells: ours as mean ± std (number of seeds; `†` = epochs cut for CPU time, see the row below;",
           "`*` = stale), then the model's own published number in brackets. `—` = not run yet. The last",
           "two lines compare graphemb's best cell per column with the best published number.", ""]
    for task, protocol, datasets, head in SUMMARY:
        level = "graph" if task == "graph" else "node"
        models = [(m, p) for m, p in SUMMARY_MODELS
                  if protocol in row_protocols(m, task) and  # e.g. `decoder`: only models with one
                  (any(k[:2] == (m, p) and k[3] == task for k in found) or
                   ((m, p, level) in PRESETS and m not in OUR_MODELS and p == "paper"))]
        out += [f"### {head}", "", "| model | preset | " + " | ".join(datasets) + " |",
                "|---|---|" + "---|" * len(datasets)]
        best_ours, best_ref = {}, {}
        for m, p in models:
            cells = []
            for ds in datasets:
                rec, why = found.get((m, p, ds, task, protocol), (None, ""))
                ref = summary_reference(refs, m, ds, task, protocol)
                cells.append(summary_cell(rec, why) + (f" [{ref}]" if ref else ""))
                if rec is not None and not why and rec.get("mean") is not None and \
                        rec["mean"] > best_ours.get(ds, (-1.0, ""))[0]:
                    best_ours[ds] = (rec["mean"], m)
            out.append(f"| {m} | {p} | " + " | ".join(cells) + " |")
        for ds in datasets:
            vals = [(float(e["value"]), e["model"]) for e in refs if (e["dataset"], e["task"]) == (ds, task)
                    and e["metric"] == ROW_METRICS[task][0] and e["protocol"] == protocol]
            if vals:
                best_ref[ds] = max(vals)
        out.append("| best of graphemb | | " + " | ".join(
            f"{100 * best_ours[ds][0]:.2f} ({best_ours[ds][1]})" if ds in best_ours else "—" for ds in datasets) + " |")
        out.append("| best published | | " + " | ".join(
            f"{best_ref[ds][0]} ({best_ref[ds][1]})" if ds in best_ref else "—" for ds in datasets) + " |")
        out.append("")
    return out


def _sibling(name: str):
    """Another script of experiments/ as a module (their report functions render its records)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, HERE / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


TUNING, TUNING_MD = RESULTS / "tuning", RESULTS / "tuning.md"


def _cell(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def candidate_cell(candidate: dict, key: str) -> str:
    """A tuning candidate's value of ``key``; ``(P)`` when it keeps preset P's value."""
    if key in candidate:
        return _cell(candidate[key])
    preset = candidate.get("preset", "paper")
    return preset if key == "preset" else f"({preset})"


def tuning_report(records_dir: Path = TUNING) -> str:
    """experiments/results/tuning.md from the records of ``experiments/tune_isoc_vgae.py``
    (``<records_dir>/<level>.json``) only: one table per level, validation accuracy in percent,
    mean ± population std over the seeds, every candidate's command."""
    from graphemb.evaluation.stats import summarize

    out = ["Generated by `python experiments/run_results.py` from the records that",
           "`experiments/tune_isoc_vgae.py` writes to `experiments/results/tuning/<level>.json` (nothing typed",
           "by hand). Candidates are layered over the `paper` preset (`preset: default` = the current",
           "`default` preset itself); scores are **validation** accuracy in percent, mean ± population std",
           "over the seeds (node: linear probe on Cora's public validation set; graph: the validation part",
           "of the official 50/20/30 split with the `mlp` probe). Test scores are never read. `(best)` marks",
           "the highest mean per target.", ""]
    files = sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []
    if not files:
        return "\n".join(out + ["No tuning records are stored yet: run `python experiments/tune_isoc_vgae.py`.", ""])
    for f in files:
        res = json.loads(f.read_text())
        recs = res["records"]
        keys = list(dict.fromkeys(k for r in recs for k in r["candidate"]))
        targets = list(dict.fromkeys(t for r in recs for t in r["validation"]))
        best = {t: max(summarize(r["validation"][t])[0] for r in recs if t in r["validation"]) for t in targets}
        out += [f"### {res['level']} level ({res['seeds']} seed(s), {res.get('device', 'cpu')})", "",
                f"Command: `{res['command']}`" + ("" if res.get("complete", True) else
                                                  " (**stopped before every candidate ran**)"), "",
                "| " + " | ".join(keys + [f"{t} validation" for t in targets]) + " |",
                "|" + "---|" * (len(keys) + len(targets))]
        for r in recs:
            cells = [candidate_cell(r["candidate"], k) for k in keys]
            for t in targets:
                v = r["validation"].get(t)
                if v is None:
                    cells.append("n/a")
                    continue
                m, sd = summarize(v)
                cells.append(f"{100 * m:.2f} ± {100 * sd:.2f}" + (" (best)" if m == best[t] else ""))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def write_reports() -> None:
    """Rewrite experiments/RESULTS.md and experiments/results/tuning.md from the stored records."""
    TUNING_MD.write_text(tuning_report())
    (HERE / "RESULTS.md").write_text(report())


def check() -> int:
    """0 when experiments/RESULTS.md and experiments/results/tuning.md are exactly what the stored
    records give, else 1 (with a diff)."""
    bad = 0
    for path, want in ((HERE / "RESULTS.md", report()), (TUNING_MD, tuning_report())):
        have = path.read_text() if path.is_file() else ""
        if want == have:
            print(f"{path.relative_to(HERE.parent)} matches the stored records")
            continue
        bad = 1
        sys.stdout.writelines(difflib.unified_diff(have.splitlines(True), want.splitlines(True),
                                                   f"{path.name} (committed)", f"{path.name} (from records)"))
        print(f"\n{path.relative_to(HERE.parent)} differs from what the records give; run "
              "`python experiments/run_results.py --report-only` and commit it")
    return bad


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("--only", default=None, help="comma-separated glob patterns on row names (e.g. 'vgae_paper_*')")
    p.add_argument("--svm-jobs", type=int, default=None, help="parallel jobs for the SVM grid search")
    p.add_argument("--import-records", default=None, help="JSONL written by --records-out: store its rows, then report")
    p.add_argument("--report-only", action="store_true", help="rebuild RESULTS.md from the stored records only")
    p.add_argument("--check", action="store_true", help="exit 1 unless RESULTS.md is what the stored records give")
    p.add_argument("--mark-stale", default=None, metavar="ROWS",
                   help="comma-separated glob patterns on row names or ablation record names (e.g. "
                        "'ablation_link_mlp_cora'): mark them stale (with --reason), then report")
    p.add_argument("--reason", default="computed before a change of its recipe; rerun pending")
    p.add_argument("--resume", action="store_true",
                   help="continue each row after the seeds its stored record already holds (when the record "
                        "is current and from the same device); rows with enough seeds are skipped")
    p.add_argument("--records-out", default=None, help="also append every row's records to this JSONL file")
    args = p.parse_args()
    if args.check:
        return check()
    import torch

    torch.set_num_threads(args.threads)
    CONFIGS.mkdir(exist_ok=True)
    RESULTS.mkdir(exist_ok=True)
    if args.import_records:
        for line in Path(args.import_records).read_text().splitlines():
            res = json.loads(line)
            (RESULTS / f"{res['row']}.json").write_text(json.dumps(res, indent=1))
    if args.mark_stale:
        files = [RESULTS / f"{row_name(*row)}.json" for row in rows()] + sorted(RESULTS.glob("ablation_*.json"))
        for f in files:
            if f.is_file() and any(fnmatch.fnmatch(f.stem, k) for k in args.mark_stale.split(",")):
                res = json.loads(f.read_text())
                res["stale"] = args.reason
                f.write_text(json.dumps(res, indent=1))
    skip_all = args.report_only or args.import_records or args.mark_stale
    for row in rows():
        path = write_config(*row)
        name = row_name(*row)
        if skip_all or (args.only and not any(fnmatch.fnmatch(name, k) for k in args.only.split(","))):
            continue
        t = time.perf_counter()

        def store(res, name=name):  # after every seed: a stopped run keeps the seeds it finished
            write_json(RESULTS / f"{name}.json", res, indent=1)
            write_reports()

        done = None
        if args.resume and (RESULTS / f"{name}.json").is_file():
            done = finished_seeds(row, json.loads((RESULTS / f"{name}.json").read_text()), args.device)
        res = run_row(*row, seeds=args.seeds, device=args.device, svm_jobs=args.svm_jobs, on_seed=store, done=done)
        if res is None:
            print(f"{name}: the stored record already has {args.seeds} seeds of the current recipe", flush=True)
            continue
        if args.records_out:
            with open(args.records_out, "a") as f:
                f.write(json.dumps(res) + "\n")
        print(f"{name}: " + "; ".join(f"{r['protocol']} {fmt(r)}" for r in res["records"]) +
              f" [{time.perf_counter() - t:.0f} s]", flush=True)
    write_reports()
    return 0


if __name__ == "__main__":
    sys.exit(main())
