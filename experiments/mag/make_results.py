"""Build experiments/mag/RESULTS.md from stored records only (no training here).

Sources: ``records/synthetic.json`` (``run_mag.py``: the synthetic MAG), ``records/real.jsonl``
(``run_real.py``: CiteSeer-TAG and WebKB), ``bench_encode.json`` (``bench_encode.py``). Every
number in the file, prose included, is formatted from those records by this script.

    python experiments/mag/make_results.py            # writes experiments/mag/RESULTS.md
    python experiments/mag/make_results.py --check    # exit 1 if RESULTS.md is not what the records give
"""
from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import run_mag  # noqa: E402
import run_real  # noqa: E402

from graphemb.evaluation.stats import summarize  # noqa: E402
from graphemb.utils.io import read_json  # noqa: E402

OUT = HERE / "RESULTS.md"
SYNTHETIC = HERE / "records" / "synthetic.json"
BENCH = HERE / "bench_encode.json"
NAMES = {"mlp": "MLP", "gcn": "GCN", "sage": "SAGE", "gat": "GAT", "egosep": "egosep",
         "isoc-vgae": "IsoC-VGAE", "graphmae": "GraphMAE", "bgrl": "BGRL", run_real.PROBE_INPUT: "probe on MiniLM"}
FEATURE_NAMES = {"minilm": "MiniLM", "tfidf": "TF-IDF", "fused": "fused"}


def pm(values, scale: float = 100.0) -> str:
    m, s = summarize(values)
    return f"{scale * m:.1f} ± {scale * s:.1f}"


def latest(records: list[dict]) -> dict:
    """The last record of each key (a rerun cell replaces the earlier one)."""
    return {run_real.key(r): r for r in records}


def cells(recs: dict) -> dict:
    """``(kind, dataset, features, model, setting) -> [records over seeds]``."""
    out: dict = defaultdict(list)
    for r in recs.values():
        if r["kind"] in ("supervised", "unsupervised"):
            out[r["kind"], r["dataset"], r["features"], r["model"], r["setting"]].append(r)
    return out


def _cell(rs: list, seeds: int, f1: bool) -> str:
    if not rs:
        return "–"
    txt = pm([r["accuracy"] for r in rs]) + (f" / {pm([r['macro_f1'] for r in rs])}" if f1 else "")
    return txt + (f" (n={len(rs)})" if len(rs) < seeds else "")


def mean_acc(c: dict, *k) -> float | None:
    rs = c.get(k)
    return summarize([r["accuracy"] for r in rs])[0] if rs else None


def real_section(records: list[dict], seeds: int) -> list[str]:
    recs = latest(records)
    c = cells(recs)
    graphs = {r["dataset"]: r for r in recs.values() if r["kind"] == "graph"}
    enc = {(r["dataset"], r["features"]): r for r in recs.values() if r["kind"] == "encode"}
    order = [d.split("/")[-1] for d in run_real.DATASETS if d.split("/")[-1] in graphs]
    sup = next((r["config"] for r in recs.values() if r["kind"] == "supervised"), None)
    uns = next((r["config"] for r in recs.values() if r["kind"] == "unsupervised" and r["config"]["overrides"]), None)
    settings = list(run_real.SETTINGS)
    out = ["# Real text-attributed graphs: CiteSeer-TAG and WebKB (MAGB protocol)\n",
           f"Commands: `python experiments/mag/run_real.py --seeds {seeds} --threads 1` (one JSON line per "
           "finished cell in `experiments/mag/records/real.jsonl`; resumable), then "
           "`python experiments/mag/make_results.py` (this file, from the records only).\n",
           "Data: `../shared/datasets/mag/CiteSeer-TAG` and `WebKB/{Cornell,Texas,Washington,Wisconsin}` (plain "
           "layout; edges undirected, self-loops dropped). Features: **MiniLM** = all-MiniLM-L6-v2 (offline "
           "package), mean pooling over at most 256 tokens (longer texts cut at the end), run in bfloat16 "
           "(see the encoding benchmark below for how close that is to float32); **TF-IDF** = word 1-2-gram "
           "TF-IDF + 256-d truncated SVD fitted on the graph's own texts (no model); **fused** = both, each "
           "z-scored, concatenated. Protocol (MAGB): random 60/20/20 split of the nodes per seed; k-shot = k "
           "training nodes per class drawn from the 60% part, same validation and test nodes; test scores at "
           f"the best validation-accuracy epoch; mean ± std over {seeds} seeds (seed s = split, init and probe "
           "seed; each seed retrains). Cells: test accuracy / macro-F1 (%); `(n=k)` marks a cell with fewer "
           "seeds recorded than asked; `train s / run` = mean seconds of one training run (unsupervised rows: "
           "the label-free model's training plus one probe).\n"]
    if sup:
        out.append(f"Supervised predictors (one config for every cell, fixed before the run, not tuned): "
                   f"{sup['num_layers']} layers, hidden {sup['hidden']}, dropout {sup['dropout']:g}, AdamW lr "
                   f"{sup['lr']:g}, weight decay {sup['weight_decay']:g}, label smoothing {sup['label_smoothing']:g}, "
                   f"at most {sup['epochs']} epochs, patience {sup['patience']}. GAT: 4 heads, uniform initial "
                   "attention. **egosep** (heterophily-aware, `graphemb/multimodal/predictors.py`): per layer "
                   "`[W_ego h_i || W_nbr mean_{j in N(i)} h_j]` (self excluded from the mean), every layer's output "
                   "concatenated for the head (H2GCN's designs 1 and 3). SAGE (PyG `SAGEConv`, root weight on) "
                   "also keeps a separate self term, but sums it with the neighbour term.\n")
    if uns:
        o = uns["overrides"]
        out.append(f"Unsupervised rows: IsoC-VGAE, GraphMAE, BGRL trained without labels on the z-scored MiniLM "
                   f"features (`graphemb.training.fit_embeddings`, each model's defaults except hidden width "
                   f"{o['model']['encoder']['hidden_channels']}, {o['train']['epochs']} epochs, lr "
                   f"{o['train']['lr']:g}; not tuned), then the core `node/linear` probe (logistic regression, "
                   "weight decay and epoch chosen on validation accuracy) on the same masks. \"probe on MiniLM\" = "
                   "the same probe on the MiniLM features themselves (what the label-free model must beat). The "
                   "core probe returns accuracy only, so these rows have no macro-F1.\n")
    n_sup = len(run_real.FEATURES) * len(run_real.PREDICTORS) * len(settings) * seeds
    n_uns = (1 + len(run_real.UNSUPERVISED)) * len(settings) * seeds
    have = defaultdict(int)
    for r in recs.values():
        if r["kind"] in ("supervised", "unsupervised") and r["seed"] < seeds:
            have[r["dataset"], r["kind"]] += 1
    status = [f"{d.split('/')[-1]} {have[d.split('/')[-1], 'supervised']}/{n_sup} supervised and "
              f"{have[d.split('/')[-1], 'unsupervised']}/{n_uns} unsupervised" for d in run_real.DATASETS]
    complete = all(have[d.split("/")[-1], "supervised"] == n_sup and have[d.split("/")[-1], "unsupervised"] == n_uns
                   for d in run_real.DATASETS)
    out.append("Cells recorded (seed runs): " + "; ".join(status) + "."
               + ("" if complete else f" The run is not complete: `python experiments/mag/run_real.py --seeds {seeds} "
                                      "--threads 1` resumes it (recorded cells are skipped), then rerun "
                                      "`make_results.py`.") + "\n")
    for ds in order:
        gi = graphs[ds]
        e = {f: enc.get((ds, f)) for f in ("minilm", "tfidf")}
        enc_txt = ", ".join(f"{FEATURE_NAMES[f]} {e[f]['seconds']:.1f} s"
                            + (" (empty cache)" if e[f].get("cached_before") is False else
                               " (a cache hit)" if e[f].get("cached_before") else " (cache state not recorded)")
                            for f in e if e[f])
        out += [f"## {ds}\n",
                f"{gi['nodes']} nodes, {gi['edges']} undirected edges, {gi['classes']} classes, edge homophily "
                f"{gi['homophily']:.2f}. Encoding seconds (1 thread): {enc_txt}.\n",
                "| features | model | " + " | ".join(settings) + " | train s / run |",
                "|---|---|" + "---|" * len(settings) + "---|"]
        for f in run_real.FEATURES:
            for m in run_real.PREDICTORS:
                rs = {s: c.get(("supervised", ds, f, m, s), []) for s in settings}
                secs = [r["seconds"] for v in rs.values() for r in v]
                out.append(f"| {FEATURE_NAMES[f]} | {NAMES[m]} | " + " | ".join(_cell(rs[s], seeds, True) for s in settings)
                           + (f" | {summarize(secs)[0]:.1f} |" if secs else " | – |"))
        for m in (run_real.PROBE_INPUT, *run_real.UNSUPERVISED):
            rs = {s: c.get(("unsupervised", ds, "minilm", m, s), []) for s in settings}
            secs = [r["train_seconds"] + r["probe_seconds"] for v in rs.values() for r in v]
            out.append(f"| MiniLM | {NAMES[m]} (unsup.) | " + " | ".join(_cell(rs[s], seeds, False) for s in settings)
                       + (f" | {summarize(secs)[0]:.1f} |" if secs else " | – |"))
        out.append("")
    out += answers(c, order, settings)
    return out


def _diff(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{100 * (a - b):+.1f}"


def answers(c: dict, order: list, settings: list) -> list[str]:
    """Where graph structure helps (GNN - MLP on the same features) and the unsupervised question."""
    out = ["## Where the graph helps: accuracy of each graph predictor minus the MLP on the same features\n",
           "Points of mean test accuracy; positive = the graph predictor is better. MiniLM features.\n",
           "| dataset | setting | " + " | ".join(NAMES[m] for m in run_real.PREDICTORS[1:]) + " |",
           "|---|---|" + "---|" * (len(run_real.PREDICTORS) - 1)]
    wins = defaultdict(lambda: [0, 0])
    for ds in order:
        for s in settings:
            row = []
            for m in run_real.PREDICTORS[1:]:
                a, b = mean_acc(c, "supervised", ds, "minilm", m, s), mean_acc(c, "supervised", ds, "minilm", "mlp", s)
                row.append(_diff(a, b))
                for f in run_real.FEATURES:
                    a, b = mean_acc(c, "supervised", ds, f, m, s), mean_acc(c, "supervised", ds, f, "mlp", s)
                    if a is not None and b is not None:
                        w = wins["citeseer" if ds == "CiteSeer-TAG" else "webkb", m]
                        w[0] += a > b
                        w[1] += 1
            out.append(f"| {ds} | {s} | " + " | ".join(row) + " |")
    out.append("")
    n_webkb = sum(ds != "CiteSeer-TAG" for ds in order)
    for group, label in (("citeseer", "CiteSeer-TAG (homophilous)"),
                         ("webkb", f"the {n_webkb} WebKB graph{'s' if n_webkb != 1 else ''} recorded (heterophilous)")):
        parts = [f"{NAMES[m]} {wins[group, m][0]}/{wins[group, m][1]}" for m in run_real.PREDICTORS[1:]
                 if wins[group, m][1]]
        if parts:
            out.append(f"- On {label}, over all features and settings, cells where the graph predictor beats the "
                       f"MLP: " + ", ".join(parts) + ".")
    eg = [(ds, s, f) for ds in order if ds != "CiteSeer-TAG" for s in settings for f in run_real.FEATURES
          if None not in (mean_acc(c, "supervised", ds, f, "egosep", s), mean_acc(c, "supervised", ds, f, "gcn", s))]
    if eg:
        n = sum(mean_acc(c, "supervised", *k[:1], k[2], "egosep", k[1]) > mean_acc(c, "supervised", k[0], k[2], "gcn", k[1])
                for k in eg)
        out.append(f"- On WebKB, egosep beats GCN in {n} of {len(eg)} (graph, features, setting) cells.")
    out.append("")
    out += ["Best supervised cell (mean test accuracy) per dataset and setting, over all features and predictors:\n",
            "| dataset | " + " | ".join(settings) + " |", "|---|" + "---|" * len(settings)]
    for ds in order:
        row = []
        for s in settings:
            cand = [(mean_acc(c, "supervised", ds, f, m, s), f, m) for f in run_real.FEATURES for m in run_real.PREDICTORS]
            cand = [t for t in cand if t[0] is not None]
            top = max(cand)[0] if cand else None
            row.append(", ".join(f"{NAMES[m]} on {FEATURE_NAMES[f]}" for a, f, m in cand if a >= top - 1e-12)
                       + f" ({100 * top:.1f})" if cand else "–")
        out.append(f"| {ds} | " + " | ".join(row) + " |")
    out.append("")
    out += ["## Unsupervised over MiniLM vs the supervised MLP on MiniLM, few-shot\n",
            "Mean test accuracy minus that of the supervised MLP on the same MiniLM features and masks (points).\n",
            "| dataset | setting | " + " | ".join(NAMES[m] for m in (run_real.PROBE_INPUT, *run_real.UNSUPERVISED)) + " |",
            "|---|---|" + "---|" * (1 + len(run_real.UNSUPERVISED))]
    few = [s for s in settings if s != "full"]
    beat, total = defaultdict(int), defaultdict(int)
    for ds in order:
        for s in few:
            mlp = mean_acc(c, "supervised", ds, "minilm", "mlp", s)
            row = []
            for m in (run_real.PROBE_INPUT, *run_real.UNSUPERVISED):
                u = mean_acc(c, "unsupervised", ds, "minilm", m, s)
                row.append(_diff(u, mlp))
                if u is not None and mlp is not None:
                    beat[m] += u > mlp
                    total[m] += 1
            out.append(f"| {ds} | {s} | " + " | ".join(row) + " |")
    out.append("")
    if any(total[m] for m in run_real.UNSUPERVISED):
        parts = [f"{NAMES[m]} in {beat[m]} of {total[m]}" for m in run_real.UNSUPERVISED if total[m]]
        n_any = sum(beat[m] for m in run_real.UNSUPERVISED)
        verdict = ("no: none of them does in any few-shot cell" if n_any == 0 else
                   "yes, in every few-shot cell, for every model" if all(beat[m] == total[m] for m in run_real.UNSUPERVISED
                                                                        if total[m])
                   else "in some cells only")
        out.append(f"**Does an unsupervised graph model over text embeddings beat the supervised MLP on them in the "
                   f"few-shot settings?** Measured: {verdict}. Cells (dataset x {'/'.join(few)}) where it does: "
                   + ", ".join(parts) + f"; the plain probe on MiniLM does in {beat[run_real.PROBE_INPUT]} of "
                   f"{total[run_real.PROBE_INPUT]}.\n")
    return out


def bench_section() -> list[str]:
    if not BENCH.is_file():
        return []
    b = read_json(BENCH, what="encoding benchmark record")
    v = b["variants"]
    out = ["## Encoding speed (issue 12 §2)\n",
           f"Command: `{b['command'].strip()}` (writes `experiments/mag/bench_encode.json`). {b['docs']} documents "
           f"of {b['dataset']} (seeded sample; {b['tokens']} tokens after cutting to {b['max_length']}, "
           f"{b['truncated_docs']} documents cut), batch size {b['batch_size']}, {b['threads']} threads, CPU "
           f"`{b['cpu']}`, torch {b['torch']}; all variants in one process, interleaved over {b['rounds']} rounds "
           "on a machine shared with other jobs, best round of each. \"before\" = the encoder of commit "
           f"`{b['before_commit']}` loaded from git history (batches in input order, `no_grad`); \"after\" = "
           "tokenise once, batch in length order, restore the order, `inference_mode`, explicit threads.\n",
           "| variant | documents / s | speed-up vs before | max abs diff vs before | min cosine vs before |",
           "|---|---|---|---|---|"]
    for k, r in v.items():
        out.append(f"| {k} | {r['docs_per_second']:.2f} | {r['speedup_vs_before']:.2f}x | "
                   f"{r['max_abs_diff_vs_before']:.1e} | {r['min_cosine_vs_before']:.6f} |")
    best = max(v, key=lambda k: v[k]["speedup_vs_before"])
    out.append(f"\nThe issue aimed at 3x; the fastest variant here ({best}) reaches "
               f"{v[best]['speedup_vs_before']:.2f}x" + (", short of it." if v[best]["speedup_vs_before"] < 3 else ".")
               + " Encoding a graph twice costs nothing (feature cache; tested on Cornell, and on CiteSeer-TAG under `-m slow`, in "
               "`tests/test_multimodal_real.py`).\n")
    return out


def build(seeds: int = 5) -> str:
    parts = real_section(run_real.read_records(), seeds) + bench_section()
    if SYNTHETIC.is_file():
        parts += ["", run_mag.render(read_json(SYNTHETIC, what="synthetic-MAG record"))]
    return "\n".join(parts).rstrip() + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="seeds the real-data run asked for (marks short cells)")
    p.add_argument("--check", action="store_true")
    a = p.parse_args(argv)
    text = build(a.seeds)
    if a.check:
        same = OUT.is_file() and OUT.read_text() == text
        print("RESULTS.md is up to date" if same else "RESULTS.md differs from what the records give; rerun make_results.py")
        return 0 if same else 1
    OUT.write_text(text)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
