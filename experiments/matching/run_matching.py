"""Matching results: every ``--method`` of ``graphemb match run`` (baselines, graph embeddings,
fusions, ``best``) with every hubness reduction, on CoronaCheck and the ER sets.

One JSON record per (method, dataset, seed) in ``records/<dataset>/<method>__seed<k>.json``,
written as soon as it is measured; deterministic methods (BM25, TF-IDF, MiniLM) run once (seed 0).
Each record holds the metrics of the method as registered (its own hubness reduction), the
metrics and N_k hubness of the same method under every reduction (``by_hubness``), and the
seconds of each stage. ``RESULTS.md`` is regenerated from all records (``--report``), and from
``records/before/`` (the table on main before issue 11) for the "today" column; every number in
it, the notes included, is written by :func:`report`.

    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/run_matching.py --seeds 3
    python experiments/matching/run_matching.py --report     # RESULTS.md from the records only
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from graphemb.matching.hubness import HUBNESS_METHODS  # noqa: E402
from graphemb.matching.methods import METHODS, PROTOCOLS, MethodConfig  # noqa: E402

DATASETS = ["coronacheck", "coronacheck-usr", "coronacheck-gen", "Fodors-Zagats", "Beer", "iTunes-Amazon", "Amazon-Google",
            "DBLP-ACM"]
BASELINES = ["bm25", "tfidf", "minilm"]
RUN_ORDER = ["bm25", "tfidf", "minilm", "walks", "isoc-vgae", "both", "fused", "fused-rrf", "best", "fused-agree",
             "isoc-vgae-text"]
SHOWN = ["mrr", "map@5", "hits@1", "hits@5", "hits@10"]
# the targets of issue 11 (MRR, every query counted, pessimistic ties): "CoronaCheck all claims >= 0.90, user
# claims >= 0.70", read two ways: all 7,058 claims in one graph (the `coronacheck` set; user claims = its `usr`
# group), and each claim set in its own graph (`coronacheck-gen` / `coronacheck-usr`)
TARGETS = {("coronacheck", None): 0.90, ("coronacheck", "usr"): 0.70, ("coronacheck-gen", None): 0.90,
           ("coronacheck-usr", None): 0.70}
# today's (pre-issue-11) method names -> ours
BEFORE_NAMES = {"walks": "walks", "isoc-vgae (walk feats)": "isoc-vgae", "both": "both", "BM25": "bm25",
                "TF-IDF": "tfidf", "MiniLM (col: value)": "minilm"}
REC = HERE / "records"
# GNN of the `fast` rows (the first table): MATCHING_GNN without its early stopping (that run began before
# early stopping landed on main); every other preset runs `match run`'s GNN (MATCHING_GNN as it is)
GNN_OVERRIDES = {"train": {"patience": 0}}
LEGACY_PRESET = "fast"  # records/<dataset>/<method>__seed<k>.json; other presets: <method>__<preset>__seed<k>.json


def default_preset() -> str:
    """The walk preset ``graphemb match run`` defaults to (the preset of the targets table)."""
    from graphemb.matching.cli import DEFAULT_PRESET

    return DEFAULT_PRESET


def gnn_overrides(preset: str):
    return GNN_OVERRIDES if preset == LEGACY_PRESET else None
CMD = "PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/run_matching.py"


def protocol_of(dataset: str) -> str:
    return "claims" if dataset.lower().startswith("coronacheck") else "er"


def record_path(root: Path, dataset: str, method: str, seed: int, preset: str = LEGACY_PRESET) -> Path:
    """Deterministic methods (no walks): one record whatever the preset."""
    if METHODS[method].deterministic or preset == LEGACY_PRESET:
        return root / dataset / f"{method}__seed{seed}.json"
    return root / dataset / f"{method}__{preset}__seed{seed}.json"


def measure(name: str, ctx, seed: int, command: str) -> dict:
    """The record of method ``name`` on ``ctx`` at ``seed`` (all hubness variants inside)."""
    from graphemb.matching.methods import evaluate_method

    t = time.perf_counter()
    main = evaluate_method(name, ctx)
    by = {}
    for h in HUBNESS_METHODS:
        r = main if h == main["hubness_method"] else evaluate_method(name, ctx, h, ks=(1, 5, 10), full=False)
        by[h] = {"metrics": {k: r["metrics"][k] for k in SHOWN + ["queries", "missed"]},
                 "hubness": r["hubness_after"]}
    cfg = ctx.cfg
    return {"dataset": ctx.ds.name, "method": name, "seed": seed, "deterministic": METHODS[name].deterministic,
            "protocol": protocol_of(ctx.ds.name), "protocol_text": PROTOCOLS[protocol_of(ctx.ds.name)],
            "command": command, "description": METHODS[name].description,
            "config": {k: v for k, v in cfg.__dict__.items() if k not in ("seed", "device")},
            "hubness_method": main["hubness_method"], "metrics": main["metrics"], "groups": main.get("groups"),
            "stages": main["stages"], "stages_cpu": main["stages_cpu"],
            "seconds": main["seconds"], "hubness_before": main["hubness_before"],
            "hubness_after": main["hubness_after"], "by_hubness": by,
            "graph": getattr(ctx, "compress_report", None) and {"before": ctx.compress_report.before,
                                                                 "after": ctx.compress_report.after},
            "record_s": time.perf_counter() - t}


def run(datasets: List[str], methods: List[str], seeds: List[int], preset: str, out: Path, command: str,
        skip_existing: bool, store: Optional[str]) -> None:
    """Seeds outermost (every dataset gets seed 0 before any gets seed 1), one record per
    (method, dataset, seed) written as soon as it is measured, RESULTS.md refreshed after each."""
    import torch

    from graphemb.matching.datasets import load_matching
    from graphemb.matching.methods import MatchContext
    from graphemb.utils.io import write_json

    torch.set_num_threads(1)
    encoder = None
    for seed in seeds:
        for name in datasets:
            todo = [m for m in methods if not (METHODS[m].deterministic and seed != seeds[0])]
            todo = [m for m in todo if not (skip_existing and record_path(
                out, load_name(name), m, 0 if METHODS[m].deterministic else seed, preset).is_file())]
            if not todo:
                continue
            t = time.perf_counter()
            ds = load_matching(name)
            load_s = time.perf_counter() - t
            ctx = MatchContext(ds, MethodConfig(walk_preset=preset, seed=seed, gnn_overrides=gnn_overrides(preset)),
                               text_encoder=encoder, store=store,
                               log=lambda m: print(m, file=sys.stderr, flush=True))
            for m in todo:
                rec = measure(m, ctx, 0 if METHODS[m].deterministic else seed, command)
                rec["stages"] = {"load": load_s, **rec["stages"]}
                rec["cached_stages"] = sorted(set(ctx.cached))
                path = record_path(out, ds.name, m, rec["seed"], preset)
                path.parent.mkdir(parents=True, exist_ok=True)
                write_json(path, rec, indent=1)
                print(f"[{ds.name}] seed {seed} {m}: MRR {rec['metrics']['mrr']:.3f}", file=sys.stderr, flush=True)
            encoder = ctx._encoder
            report(out)


def load_name(name: str) -> str:
    """The dataset's own name as records use it (``DBLP-ACM`` for ``dblp-acm``)."""
    from graphemb.matching.datasets import ER_DATASETS

    return next((er for er in ER_DATASETS if er.lower() == name.lower()), name)


# ---------------------------------------------------------------- report

def _preset(r: dict) -> Optional[str]:
    """A record's walk preset (``None`` for deterministic methods: no walks)."""
    return None if r["deterministic"] else r["config"]["walk_preset"]


def _load(root: Path) -> Dict[tuple, List[dict]]:
    """Records by ``(dataset, method, walk preset or None)``."""
    recs: Dict[tuple, List[dict]] = {}
    for p in sorted(root.glob("*/*__seed*.json")):
        if p.parent.name in ("before", "oracle", "e2e", "speed", "scale", "encode"):  # not table records
            continue
        r = json.loads(p.read_text())
        recs.setdefault((r["dataset"], r["method"], _preset(r)), []).append(r)
    for v in recs.values():
        v.sort(key=lambda r: r["seed"])
    return recs


def _before(root: Path) -> Dict[tuple, float]:
    """Today's (pre-issue-11) MRR per (dataset, method) from records/before/."""
    out = {}
    for p in sorted((root / "before").glob("*.json")):
        r = json.loads(p.read_text())
        for m in r["methods"]:
            if m["method"] in BEFORE_NAMES:
                out[(r["dataset"], BEFORE_NAMES[m["method"]])] = (m["metrics"]["mrr"]["mean"], m["n_seeds"])
    return out


def _ms(vals: List[float]) -> tuple:
    import numpy as np

    a = np.asarray(vals, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=0))


def _fmt(vals: List[float], det: bool) -> str:
    m, s = _ms(vals)
    return f"{m:.3f}" if det or len(vals) == 1 else f"{m:.3f} ± {s:.3f}"


def _reference(model: str, dataset: str) -> dict:
    import yaml

    refs = yaml.safe_load((HERE.parent / "references.yaml").read_text())["references"]
    hit = [e for e in refs if (e["model"], e["dataset"], e["task"]) == (model, dataset, "matching")]
    if len(hit) != 1:
        raise KeyError(f"experiments/references.yaml holds {len(hit)} matching references for {model}/{dataset}")
    return hit[0]


KINDS = ["gold row", "gold country, other table", "other country", "no gold or pruned"]
HUB_LABEL = {"none": "raw", "csls": "CSLS", "inverted_softmax": "IS", "dis": "DIS (QB-Norm)",
             "dbnorm_dis": "DBNorm DualIS", "dbnorm_ddis": "DBNorm DualDIS"}


def _rows(recs: Dict[tuple, List[dict]], d: str, presets: List[str]) -> List[tuple]:
    """``(method, preset)`` keys of dataset ``d`` in table order: methods as RUN_ORDER, the default preset first."""
    keys = [(m, p) for (dd, m, p) in recs if dd == d]
    order = {m: i for i, m in enumerate(RUN_ORDER)}
    return sorted(keys, key=lambda k: (order.get(k[0], len(order)), k[0], presets.index(k[1]) if k[1] in presets
                                       else -1 if k[1] is None else len(presets)))


def report(root: Path = REC, out: Optional[Path] = None) -> str:
    """Write RESULTS.md from the records under ``root``; returns its text."""
    from graphemb.matching.embed import gnn_config

    recs = _load(root)
    before = _before(root)
    dflt = default_preset()
    presets = [dflt] + sorted({k[2] for k in recs if k[2] not in (None, dflt)})
    order = [d for d in DATASETS if any(k[0] == d for k in recs)] + sorted({k[0] for k in recs} - set(DATASETS))
    L: List[str] = ["# Matching results (issue 11: methods, fusion, hubness)", "",
                    "Generated by `python experiments/matching/run_matching.py --report` from "
                    "`experiments/matching/records/<dataset>/<method>[__<preset>]__seed<k>.json`; nothing here is typed "
                    "by hand.", ""]
    cmds = sorted({r["command"] for v in recs.values() for r in v})
    L += ["Commands:", ""] + [f"- `{c}`" for c in cmds] + [""]
    L += ["Protocols (named per row in the `protocol` column):", ""]
    L += [f"- `{k}`: {v}." for k, v in PROTOCOLS.items()] + [""]
    cfg = next(iter(recs.values()))[0]["config"] if recs else {}
    gl, gd = gnn_config(GNN_OVERRIDES), gnn_config(None)
    L += [f"Settings: `walks` = the TDmatch walk preset of the row (`{dflt}` is what `graphemb match run` defaults to; "
          f"`{LEGACY_PRESET}` rows are the first table, kept). IsoC-VGAE `MATCHING_GNN` (2 x "
          f"{gd['model']['encoder']['hidden_channels']}, at most {gd['train']['epochs']} epochs): with its early stopping "
          f"(patience {gd['train']['patience']}, min delta {gd['train']['min_delta']}) as `match run` in every row but "
          f"the `{LEGACY_PRESET}` ones, which ran {gl['train']['epochs']} epochs without it. Graph 1-{cfg.get('ngrams')}-grams "
          f"compressed (min degree {cfg.get('min_degree')}, max A-B path {cfg.get('max_path')}); hubness: query bank = "
          f"the query-side objects (at most {cfg.get('bank_size')} sampled), gallery bank = the candidates against each "
          f"other (own score left out), inverse temperatures {cfg.get('beta')} / {cfg.get('beta_gallery')}, CSLS k = "
          f"{cfg.get('csls_k')}; N_k with k = {cfg.get('hub_k')}. Seed-dependent methods: mean ± population std over the "
          "seeds in the `seeds` column, each seed re-trains walks and GNN; `det.` = deterministic, run once (no walks: "
          "`walks` –). Scores, reductions, fusions and metrics are computed block by block (no dense query x candidate "
          "matrix). Single CPU thread on a shared 2-core machine (times are noisy).", ""]
    # -- main table
    L += ["## All methods", "",
          "`today` = the MRR of the same method in the table on main before issue 11 (records/before/; "
          "its seeds in brackets). `seconds` = the sum of the method's stages when run alone (ingredients are "
          "computed once per dataset and shared between methods in a run). `coronacheck` = all 7,058 claims in one "
          "graph (as `graphemb match run coronacheck`); `coronacheck-gen` / `-usr` = each claim set in its own graph.", "",
          "| dataset | protocol | method | walks | hubness | seeds | MRR | MAP@5 | Hits@1 | Hits@5 | Hits@10 | queries | missed | seconds | today |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for d in order:
        for m, p in _rows(recs, d, presets):
            rs = recs[(d, m, p)]
            det = rs[0]["deterministic"]
            cells = [_fmt([r["metrics"][k] for r in rs], det) for k in SHOWN]
            b = before.get((d, m))
            L.append(f"| {d} | {rs[0]['protocol']} | {m} | {p or '–'} | {HUB_LABEL[rs[0]['hubness_method']]} | "
                     f"{'det.' if det else len(rs)} | " + " | ".join(cells)
                     + f" | {rs[0]['metrics']['queries']:.0f} | {_ms([r['metrics']['missed'] for r in rs])[0]:.0f} | "
                     f"{_ms([r['seconds'] for r in rs])[0]:.1f} | {'' if b is None else f'{b[0]:.3f} ({b[1]})'} |")
    missing = sorted({d for (d, _) in before} - {k[0] for k in recs}, key=lambda d: DATASETS.index(d)
                     if d in DATASETS else len(DATASETS))
    if missing:
        L += ["", "Not rerun in this table (no record under records/<dataset>/ yet): "
              + "; ".join(f"{d} (today: " + ", ".join(f"{m} {v[0]:.3f}" for (dd, m), v in sorted(before.items())
                                                    if dd == d) + ")" for d in missing) + "."]
    # -- query groups (CoronaCheck all claims)
    grouped = [(k, v) for k, v in recs.items() if v[0].get("groups")]
    if grouped:
        names = sorted({g for _, v in grouped for g in v[0]["groups"]})
        L += ["", "## Claim groups of `coronacheck` (all claims in one graph)", "",
              "MRR of each claim group in the same run (every claim counted, pessimistic ties), mean ± std over seeds.",
              "", "| method | walks | hubness | seeds | MRR all | " + " | ".join(f"MRR {g} (queries)" for g in names) + " |",
              "|---|---|---|---|---|" + "---|" * len(names)]
        for d in order:
            for m, p in _rows(recs, d, presets):
                rs = recs[(d, m, p)]
                if not rs[0].get("groups"):
                    continue
                det = rs[0]["deterministic"]
                L.append(f"| {m} | {p or '–'} | {HUB_LABEL[rs[0]['hubness_method']]} | {'det.' if det else len(rs)} | "
                         f"{_fmt([r['metrics']['mrr'] for r in rs], det)} | " + " | ".join(
                             f"{_fmt([r['groups'][g]['mrr'] for r in rs], det)} ({rs[0]['groups'][g]['queries']})"
                             for g in names) + " |")
    # -- targets
    L += ["", "## Targets", "",
          f"`best` at the default walk preset (`{dflt}`, what `graphemb match run` gives; another preset only where "
          f"`{dflt}` has no record, named in `walks`). CoronaCheck: against the issue's targets, read two ways (all "
          "claims in one graph, user claims = its `usr` group; or each claim set in its own graph). ER: against the "
          "best of BM25, TF-IDF and MiniLM on the same queries; every dataset: against the best MRR of any method in "
          "today's table (4 decimals: the comparisons are exact, a 1-query difference shows).", "",
          "| dataset | claims | walks | seeds | best MRR | target | met | best of BM25/TF-IDF/MiniLM | met | best today | met |",
          "|---|---|---|---|---|---|---|---|---|---|---|"]
    yes = lambda ok: "yes" if ok else "**no**"  # noqa: E731
    for d in order:
        p = next((p for p in presets if (d, "best", p) in recs), None)
        if p is None:
            continue
        rs = recs[(d, "best", p)]
        for grp in [None] + sorted({g for (dd, gg) in TARGETS if dd == d and gg for g in [gg]}):
            vals = [r["metrics"]["mrr"] if grp is None else r["groups"][grp]["mrr"] for r in rs
                    if grp is None or r.get("groups")]
            if not vals:
                continue
            bm = _ms(vals)[0]
            tgt = TARGETS.get((d, grp))

            def mrr_of(x):
                rr = recs[(d, x, None)]
                return _ms([r["metrics"]["mrr"] if grp is None else r["groups"][grp]["mrr"] for r in rr])[0]

            base = [(mrr_of(x), x) for x in BASELINES if (d, x, None) in recs
                    and (grp is None or recs[(d, x, None)][0].get("groups"))]
            bb = max(base) if base else None
            today = [v[0] for (dd, _), v in before.items() if dd == d] if grp is None else []
            L.append(f"| {d} | {grp or 'all'} | {p} | {len(vals)} | {bm:.4f} | {'' if tgt is None else f'{tgt:.2f}'} | "
                     f"{'' if tgt is None else yes(bm >= tgt)} | {'' if bb is None else f'{bb[0]:.4f} ({bb[1]})'} | "
                     f"{'' if bb is None else yes(bm >= bb[0])} | {f'{max(today):.4f}' if today else ''} | "
                     f"{yes(bm >= max(today)) if today else ''} |")
    # -- hubness
    L += ["", "## Hubness before / after, per dataset and scorer", "",
          "Each cell: MRR / skewness of N_k / share of candidates never in any query's top-k (k as above), "
          "over the dataset's queries; mean over the seeds.", "",
          "| dataset | method | walks | " + " | ".join(HUB_LABEL[h] for h in HUBNESS_METHODS) + " |",
          "|---|---|---|" + "---|" * len(HUBNESS_METHODS)]
    for d in order:
        for m, p in _rows(recs, d, presets):
            if m not in RUN_ORDER:
                continue
            rs = recs[(d, m, p)]
            cells = []
            for h in HUBNESS_METHODS:
                mrr = _ms([r["by_hubness"][h]["metrics"]["mrr"] for r in rs])[0]
                sk = _ms([r["by_hubness"][h]["hubness"]["skewness"] for r in rs])[0]
                nv = _ms([r["by_hubness"][h]["hubness"]["never_retrieved"] for r in rs])[0]
                cells.append(f"{mrr:.3f} / {sk:.2f} / {nv:.2f}")
            L.append(f"| {d} | {m} | {p or '–'} | " + " | ".join(cells) + " |")
    # -- stage seconds
    L += ["", "## Stage seconds of `best` and its parts", "",
          "Mean over seeds, wall seconds; MiniLM vectors are read from the on-disk cache when present (then `minilm` "
          "is the cache read); walks and GNN embeddings are computed once per (dataset, seed) and shared.", ""]
    stage_names: List[str] = []
    keys = [(d, "best", p) for d in order for p in presets if (d, "best", p) in recs]
    for k in keys:
        for r in recs[k]:
            stage_names += [s for s in r["stages"] if s not in stage_names]
    if stage_names:
        L += ["| dataset | walks | " + " | ".join(stage_names) + " | total |", "|---|---|" + "---|" * (len(stage_names) + 1)]
        for k in keys:
            rs = recs[k]
            vals = [_ms([r["stages"].get(s, 0.0) for r in rs])[0] for s in stage_names]
            L.append(f"| {k[0]} | {k[2]} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {sum(vals):.1f} |")
    # -- oracle / upper bound (experiments/matching/oracle.py)
    orc = sorted((root / "oracle").glob("*.json"))
    if orc:
        L += ["", "## Why the CoronaCheck targets are missed: per-claim upper bound", "",
              "`experiments/matching/oracle.py` (records/oracle/, one seed): the rank of each claim's gold row under "
              "every scorer. `oracle` = the MRR if each claim took the best rank any of the six base scorers (BM25, "
              "TF-IDF, MiniLM, walks, IsoC-VGAE on walk / MiniLM features) gives it: a fusion that only re-ranks "
              "these scores cannot pass it on a claim, only a new signal can. `in some top-k` = share of claims "
              "whose gold row is in the top-k of at least one base scorer. The `best-*` columns are label-free "
              "variants of `best` fixed before they were measured (`oracle.py`'s docstring); they are reported, "
              "none is chosen from these numbers (that would tune on the test labels).", ""]
        recs_o = [json.loads(p.read_text()) for p in orc]
        var = [v for v in recs_o[0]["variants"]]
        L += ["| dataset | claims | walks | seed | queries | best MRR | best Hits@1 / @5 | oracle MRR | in some top-1 / "
              "top-5 / top-20 | " + " | ".join(f"{v} MRR" for v in var) + " |",
              "|---|---|---|---|---|---|---|---|---|" + "---|" * len(var)]
        for r in recs_o:
            for g, v in r["groups"].items():
                b, a = v["base_oracle"], v["all_oracle"]
                L.append(f"| {r['dataset']} | {g} | {r['preset']} | {r['seed']} | {b['queries']} | {a['mrr']['best']:.4f} | "
                         f"{a['hits']['best']['1']:.2f} / {a['hits']['best']['5']:.2f} | {b['oracle_mrr']:.4f} | "
                         f"{b['any_hits']['1']:.2f} / {b['any_hits']['5']:.2f} / {b['any_hits']['20']:.2f} | "
                         + " | ".join(f"{a['mrr'][x]:.4f}" for x in var) + " |")
        L += ["", "Per-scorer MRR in the same runs:", "",
              "| dataset | claims | " + " | ".join(recs_o[0]["methods"]) + " |", "|---|---|" + "---|" * len(recs_o[0]["methods"])]
        for r in recs_o:
            for g, v in r["groups"].items():
                L.append(f"| {r['dataset']} | {g} | " + " | ".join(f"{v['all_oracle']['mrr'][m]:.4f}" for m in r["methods"])
                         + " |")
        if any("best_top1" in v for r in recs_o for v in r["groups"].values()):
            L += ["", "What `best` ranks first, share of the claims (CoronaCheck's rows: one per (table, country); "
                  "the tables are measures such as new / total confirmed, deaths):", "",
                  "| dataset | claims | gold rows per claim | " + " | ".join(KINDS) + " |", "|---|---|---|" + "---|" * len(KINDS)]
            for r in recs_o:
                for g, v in r["groups"].items():
                    if "best_top1" in v:
                        L.append(f"| {r['dataset']} | {g} | {v['gold_rows_per_claim']:.2f} | "
                                 + " | ".join(f"{v['best_top1'].get(k, 0.0):.2f}" for k in KINDS) + " |")
        L += ["", "Commands: " + "; ".join(f"`{r['command']}`" for r in recs_o) + "."]
    # -- notes (every number generated)
    L += ["", "## Notes", ""]
    for model in ("tf-idf", "bm25", "minilm"):
        ref = _reference(model, "coronacheck-gen")
        ours = recs.get(("coronacheck-gen", model.replace("-", ""), None))
        o = f"{_ms([r['metrics']['mrr'] for r in ours])[0]:.3f}" if ours else "not run"
        L.append(f"- Reference {model} MRR {ref['value']} ({ref['source']}; `experiments/references.yaml`); ours on "
                 f"coronacheck-gen (the 7,008 generated claims): {o}.")
    L.append("- The ER query set is the left records with a gold match, but the hubness query bank is all left "
             "records, so no bank sees which records have a match.")
    L.append("- DIS (QB-Norm) normalises only the rows whose raw top-1 is some bank query's top-1; when the bank "
             "holds every query (the sets with at most 4096 query-side objects), every row qualifies and "
             "DIS equals the inverted softmax.")
    L.append("- `best` is one fixed recipe for every dataset (no per-dataset choice); it was picked among the "
             "fusions x reductions of the hubness table on seed 0 of coronacheck-usr, Beer, iTunes-Amazon and "
             "coronacheck-gen, which are also evaluated here, so its margin over `fused` is optimistic.")
    L.append("- ER pair P/R/F1 (in the records, not shown): the maximum-weight one-to-one assignment on each query's "
             "20 best candidates (sparse); the `fast` rows used the dense assignment over all candidates.")
    if (HERE / "SCALE.md").exists():
        L.append("- Scale benchmark (generated table-to-text corpora, seconds and peak memory per stage), `match run` "
                 "end to end and what a cheaper walk stage costs `best`: [SCALE.md](SCALE.md), written by "
                 "`experiments/matching/bench_scale.py` from its records.")
    text = "\n".join(L) + "\n"
    (out or HERE / "RESULTS.md").write_text(text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--methods", nargs="*", default=RUN_ORDER, choices=list(METHODS))
    ap.add_argument("--seeds", type=int, default=3, help="seed-dependent methods run for seeds 0..N-1")
    ap.add_argument("--preset", default=None, help="walk preset (default: match run's, lean)")
    ap.add_argument("--records", default=str(REC))
    ap.add_argument("--skip-existing", action="store_true", help="keep records already written (resume a run)")
    ap.add_argument("--report", action="store_true", help="only regenerate RESULTS.md from the records")
    ap.add_argument("--store", default=None, help="keep walk/GNN embeddings here between runs (reruns of a method "
                    "reuse them; their seconds are the ones measured when they were computed)")
    args = ap.parse_args()
    if args.report:
        report(Path(args.records))
        return 0
    if args.seeds < 1:
        ap.error("--seeds must be >= 1")
    argv, skip = [], False
    for a in sys.argv[1:]:  # the command as recorded: without resume / cache plumbing
        if skip:
            skip = False
        elif a == "--store":
            skip = True
        elif a != "--skip-existing" and not a.startswith("--store="):
            argv.append(a)
    run(args.datasets, args.methods, list(range(args.seeds)), args.preset or default_preset(), Path(args.records),
        (CMD + " " + " ".join(argv)).strip(), args.skip_existing, args.store)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
