"""fp32 against bf16 training (``train.precision``): epoch cost and every probe, per seed.

For each row of ``experiments/run_results.py`` named in ``--rows`` (its config file
``experiments/configs/<row>.yaml``) and each seed, the model is trained once per precision in
this process (seed-major, so the precisions of a seed run back to back on the same load) and the
frozen embeddings (always computed in fp32, eval mode) go through the row's probes
(node: ``linear``, ``mlp``; graph: ``svm``). Records: ``experiments/results/precision/<row>_<precision>.json``,
rewritten after every seed (a stopped run keeps the seeds it finished); ``experiments/run_results.py``
renders them into RESULTS.md. Each record stores wall and CPU seconds per epoch, the final and
best training loss (finite or not), the machine's load average and whether its CPU has native
bf16 matrix units (AVX512-BF16 / AMX); without them torch emulates bf16 products.

    python experiments/bench_precision.py --rows isoc-vgae_paper_mutag_graph --seeds 3 --threads 1
    python experiments/bench_precision.py --rows isoc-vgae_paper_cora_node --seeds 3 --threads 1
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "results" / "precision"
PROTOCOLS = {"node": ("linear", "mlp"), "graph": ("svm",)}


def cpu_info() -> dict:
    import torch

    return {"machine": platform.machine(), "torch": torch.__version__,
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "native_bf16": bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())}


def command(row: str, precision: str, seeds: int, threads: int) -> str:
    return (f"python experiments/bench_precision.py --rows {row} --precisions {precision} --seeds {seeds} "
            f"--threads {threads}")


def run(rows, precisions, seeds: int, threads: int) -> None:
    import torch

    sys.path.insert(0, str(HERE))
    import run_results as rr

    from graphemb import api
    from graphemb.config import build_run_config
    from graphemb.evaluation.stats import record_from_results
    from graphemb.utils.io import write_json

    torch.set_num_threads(threads)
    OUT.mkdir(parents=True, exist_ok=True)
    for row in rows:
        spec = next((r for r in rr.rows() if rr.row_name(*r) == row), None)
        if spec is None:
            raise SystemExit(f"unknown row {row!r}; rows are those of experiments/run_results.py, e.g. "
                             "isoc-vgae_paper_cora_node")
        model, preset, ds, task = spec
        if task not in PROTOCOLS:
            raise SystemExit(f"row {row!r} is a {task} row; bench_precision covers node and graph rows")
        base = build_run_config(config_file=rr.write_config(*spec))
        data = api.load_data(base)
        state = {p: {"results": {q: [] for q in PROTOCOLS[task]}, "seeds": []} for p in precisions}
        for s in range(seeds):
            for p in precisions:
                cfg = replace(base, train=replace(base.train, seed=s, device="cpu", progress=False, precision=p))
                load0 = os.getloadavg()[0]
                t, c = time.perf_counter(), time.process_time()
                trained = api.train_config(cfg, data)
                wall, cpu = time.perf_counter() - t, time.process_time() - c
                tr = trained.train_result
                losses = [h["loss"] for h in tr.history]
                state[p]["seeds"].append({
                    "seed": s, "epochs_run": tr.epochs_run, "seconds_per_epoch": tr.seconds_per_epoch,
                    "cpu_seconds_per_epoch": cpu / max(tr.epochs_run, 1), "train_wall_seconds": wall,
                    "final_loss": losses[-1], "best_loss": tr.best_loss,
                    "loss_finite": all(map(lambda v: v == v and abs(v) != float("inf"), losses)),
                    "load_average_1min": [load0, os.getloadavg()[0]]})
                for q in PROTOCOLS[task]:
                    _, r = api.evaluate_embeddings(cfg, trained.embeddings, data, trained.split, protocol=q, seed=s,
                                                   device="cpu")
                    state[p]["results"][q].append(r)
                n = s + 1
                recs = []
                for q, results in state[p]["results"].items():
                    rec = record_from_results(model, ds, task, q, results, sum(x["train_wall_seconds"] for x in state[p]["seeds"]))
                    rec.update(preset=preset, precision=p, split=api.split_name(cfg, data, task, q))
                    recs.append(rec)
                write_json(OUT / f"{row}_{p}.json", {
                    "row": row, "precision": p, "threads": threads, "command": command(row, p, n, threads),
                    "config": rr.comparable_config(cfg), "cpu": cpu_info(), "seeds": state[p]["seeds"],
                    "records": recs}, indent=1)
                print(f"{row} {p} seed {s}: " + "; ".join(f"{r['protocol']} {100 * r['values'][-1]:.2f}" for r in recs)
                      + f"; {tr.seconds_per_epoch:.2f} s/epoch, loss {losses[-1]:.4f}", flush=True)


def _mean_std(values):
    from graphemb.evaluation.stats import summarize

    return summarize(values)


def report(records_dir: Path = OUT) -> str:
    """The precision section of RESULTS.md from the records in ``records_dir`` only.

    Per row and probe: each precision's mean ± population std over its seeds, and
    ``bf16 - fp32`` of the means; "within noise" when that difference is no larger than the
    larger of the two seed standard deviations over the seeds both have (not judged below two)."""
    files = sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []
    recs = [json.loads(f.read_text()) for f in files]
    out = []
    for row in dict.fromkeys(r["row"] for r in recs):
        by_p = {r["precision"]: r for r in recs if r["row"] == row}
        cpu = next(iter(by_p.values()))["cpu"]
        out += [f"**{row}** (CPU {cpu['machine']}, {cpu['cpu_capability']}, native bf16 matrix units: "
                f"{'yes' if cpu['native_bf16'] else 'no'}; torch {cpu['torch']})", ""]
        for p, r in by_p.items():
            out.append(f"- {p}: `{r['command']}` (`experiments/results/precision/{row}_{p}.json`)")
        out += ["", "| precision | seeds | " + " | ".join(f"{q['protocol']} (%)" for q in next(iter(by_p.values()))["records"])
                + " | wall s/epoch | CPU s/epoch | final loss (finite) |", "|---" * (5 + len(next(iter(by_p.values()))["records"])) + "|"]
        for p, r in by_p.items():
            seeds = r["seeds"]
            cells = [f"{100 * q['mean']:.2f} ± {100 * q['std']:.2f}" for q in r["records"]]
            wall = sum(x["seconds_per_epoch"] for x in seeds) / len(seeds)
            cpu_s = sum(x["cpu_seconds_per_epoch"] for x in seeds) / len(seeds)
            loss = ", ".join(f"{x['final_loss']:.4f}" for x in seeds)
            finite = "yes" if all(x["loss_finite"] for x in seeds) else "**no**"
            out.append(f"| {p} | {len(seeds)} | " + " | ".join(cells) + f" | {wall:.2f} | {cpu_s:.2f} | {loss} ({finite}) |")
        if {"fp32", "bf16"} <= set(by_p):
            a, b = by_p["fp32"], by_p["bf16"]
            n = min(len(a["seeds"]), len(b["seeds"]))
            out.append("")
            for qa, qb in zip(a["records"], b["records"]):
                ma, sa = _mean_std(qa["values"][:n])
                mb, sb = _mean_std(qb["values"][:n])
                d = mb - ma
                verdict = ("within noise" if abs(d) <= max(sa, sb) else "**outside noise**") if n >= 2 else \
                    "not judged (one seed each; the seed-to-seed spread needs at least two)"
                out.append(f"- {qa['protocol']}: bf16 - fp32 = {100 * d:+.2f} points over seeds 0..{n - 1} "
                           f"(seed std fp32 {100 * sa:.2f}, bf16 {100 * sb:.2f}): {verdict}.")
            ca = sum(x["cpu_seconds_per_epoch"] for x in a["seeds"][:n]) / n
            cb = sum(x["cpu_seconds_per_epoch"] for x in b["seeds"][:n]) / n
            out.append(f"- epoch cost bf16 / fp32: {cb / ca:.2f}x (CPU seconds, same seeds, same process).")
        out.append("")
    return "\n".join(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", required=True, help="comma-separated row names of experiments/run_results.py")
    p.add_argument("--precisions", default="fp32,bf16")
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    run(a.rows.split(","), a.precisions.split(","), a.seeds, a.threads)


if __name__ == "__main__":
    main()
