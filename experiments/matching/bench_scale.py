"""Scale benchmark of the matching pipeline on a generated table-to-text corpus (issue 11 §2).

A table of ``rows`` rows (country, region, date, measure, value, source) and ``rows / 10`` short
claims, each written from one row ("Italy reported 1,234 new deaths on 2020-04-03 ...", some
words paraphrased or dropped); the gold candidate of a claim is its row. Every stage runs in its
own subprocess, reading the previous stage's output from a work folder, and reports its wall
seconds, CPU seconds, and the process's peak resident memory (``ru_maxrss``) next to the
resident memory before the stage's own work began (after imports and reading its input):

    generate  -> build (graph) -> compress -> walks (random walks + Word2Vec, ``quick`` preset)
    -> project (sparse random projection of each object's n-gram incidence: the retrieval
       input at every size, so the retrieval stages compare like with like)
    -> rank (blocked exact top-20) -> evaluate (blocked MRR, pessimistic ties)
    -> assign (one-to-one on the sparse top-20 graph)

One record per size: ``experiments/matching/records/scale/rows<N>.json``; ``--report`` writes
``experiments/matching/SCALE.md`` from all records (this benchmark, ``speed.py``'s and the
end-to-end ``match run`` records of ``--e2e``).

    PYTHONPATH=. OMP_NUM_THREADS=1 python experiments/matching/bench_scale.py --rows 10000 100000
    PYTHONPATH=. OMP_NUM_THREADS=1 python experiments/matching/bench_scale.py --rows 1000000 --stages generate build compress project rank evaluate assign
    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/bench_scale.py --e2e coronacheck
    python experiments/matching/bench_scale.py --user-corpus /tmp/factchecks16k   # the issue's new-user corpus
    PYTHONPATH=. OMP_NUM_THREADS=1 python experiments/matching/bench_scale.py --e2e /tmp/factchecks16k
    python experiments/matching/bench_scale.py --report
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "records"
STAGES = ["generate", "build", "compress", "walks", "project", "rank", "evaluate", "assign"]
TOP_K = 20

COUNTRIES = ["Italy", "Spain", "France", "Germany", "Brazil", "India", "Japan", "Kenya", "Chile", "Peru", "Canada",
             "Mexico", "Egypt", "Norway", "Sweden", "Poland", "Greece", "Turkey", "Iran", "Iraq", "Nepal", "Cuba",
             "Ghana", "Mali", "Chad", "Oman", "Qatar", "Laos", "Fiji", "Togo", "Benin", "Niger", "Sudan", "Yemen",
             "Israel", "Jordan", "Latvia", "Malta", "Monaco", "Panama", "Rwanda", "Serbia", "Uganda", "Zambia"]
REGIONS = ["north", "south", "east", "west", "central", "coastal", "capital", "rural", "urban", "island"]
MEASURES = [("cases", "new cases"), ("deaths", "new deaths"), ("tests", "tests performed"),
            ("recovered", "recoveries"), ("hospitalised", "people in hospital"), ("vaccinated", "doses given")]
SOURCES = ["ministry", "who", "jhu", "ecdc", "owid", "local agency"]
COLUMNS = ["country", "region", "date", "measure", "value", "source"]


def generate(rows: int, seed: int = 0, queries: Optional[int] = None):
    """``(table Corpus, claims Corpus, gold)``: ``queries`` claims (default one per 10 rows), gold =
    the row each describes."""
    from graphemb.matching.graph import Corpus

    rng = np.random.default_rng(seed)
    c = rng.integers(len(COUNTRIES), size=rows)
    r = rng.integers(len(REGIONS), size=rows)
    day = rng.integers(0, 3 * 365, size=rows)
    m = rng.integers(len(MEASURES), size=rows)
    v = np.exp(rng.uniform(0, 13, size=rows)).astype(np.int64)
    s = rng.integers(len(SOURCES), size=rows)
    dates = (np.datetime64("2020-01-01") + day).astype(str)
    table = [[COUNTRIES[a], REGIONS[b], d, MEASURES[e][0], f"{x:,}", SOURCES[y]]
             for a, b, d, e, x, y in zip(c.tolist(), r.tolist(), dates.tolist(), m.tolist(), v.tolist(), s.tolist())]
    q = rng.choice(rows, size=max(1, rows // 10 if queries is None else queries), replace=False)
    verbs = ["reported", "recorded", "had", "counted", "saw"]
    texts = []
    for i, vb, drop_region, drop_date in zip(q.tolist(), rng.integers(len(verbs), size=len(q)).tolist(),
                                            (rng.random(len(q)) < 0.5).tolist(), (rng.random(len(q)) < 0.3).tolist()):
        row = table[i]
        where = row[0] if drop_region else f"the {row[1]} of {row[0]}"
        when = "" if drop_date else f" on {row[2]}"
        texts.append(f"{where} {verbs[vb]} {row[4]} {dict(MEASURES)[row[3]]}{when} according to {row[5]}")
    a = Corpus.from_rows(table, COLUMNS, name=f"table{rows}")
    b = Corpus.from_texts(texts, name=f"claims{rows}")
    gold = [[int(i)] for i in q]
    return a, b, gold


SUBJECTS = ["vaccine", "mask", "garlic", "vitamin", "lockdown", "antibody", "ventilator", "hospital", "school",
            "border", "airport", "testing kit", "hand sanitizer", "quarantine", "booster", "nurse", "pharmacy",
            "curfew", "stimulus", "ivermectin", "5g tower", "ozone", "bleach", "zinc", "hydroxychloroquine"]
EFFECTS = ["cures", "prevents", "spreads", "causes", "reduces", "doubles", "halves", "blocks", "increases", "stops"]
OUTCOMES = ["infections", "deaths", "hospital admissions", "fever", "transmission", "symptoms", "cases", "immunity"]
VERDICTS = ["false", "misleading", "true", "partly false", "unproven", "missing context"]
PEOPLE = ["minister", "doctor", "governor", "mayor", "blogger", "senator", "professor", "influencer", "pastor"]
SYN = {"cures": "heals", "prevents": "stops", "spreads": "transmits", "causes": "leads to", "reduces": "lowers",
       "deaths": "fatalities", "infections": "infection cases", "doctor": "physician", "vaccine": "jab"}


def user_corpus(out: Path, n_texts: int = 16_000, n_claims: int = 500, seed: int = 0) -> Path:
    """The issue's new-user scenario: ``a.txt`` (``n_texts`` short fact-check texts), ``b.txt``
    (``n_claims`` claims, each a paraphrase of one text: synonyms, dropped words) and ``gold.json``."""
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n_texts):
        subj, eff, outc = (SUBJECTS[rng.integers(len(SUBJECTS))], EFFECTS[rng.integers(len(EFFECTS))],
                           OUTCOMES[rng.integers(len(OUTCOMES))])
        who, country = PEOPLE[rng.integers(len(PEOPLE))], COUNTRIES[rng.integers(len(COUNTRIES))]
        pct, year = int(rng.integers(2, 99)), int(rng.integers(2019, 2024))
        texts.append(f"a {who} in {country} said the {subj} {eff} {outc} by {pct} percent in {year} "
                     f"verdict {VERDICTS[rng.integers(len(VERDICTS))]}")
    pick = rng.choice(n_texts, size=n_claims, replace=False)
    claims = []
    for i in pick.tolist():
        words = texts[i].split(" verdict ")[0].split()
        words = [SYN.get(w, w) if rng.random() < 0.5 else w for w in words]
        keep = rng.random(len(words)) > 0.2
        claims.append(" ".join(w for w, k in zip(words, keep) if k))
    out.mkdir(parents=True, exist_ok=True)
    (out / "a.txt").write_text("\n".join(texts) + "\n")
    (out / "b.txt").write_text("\n".join(claims) + "\n")
    (out / "gold.json").write_text(json.dumps({str(j): [str(i)] for j, i in enumerate(pick.tolist())}))
    return out


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _load(work: Path, name: str):
    with open(work / name, "rb") as f:
        return pickle.load(f)


def _save(work: Path, name: str, obj) -> None:
    with open(work / name, "wb") as f:
        pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)


def run_stage(stage: str, rows: int, work: Path, seed: int, queries: Optional[int] = None) -> Dict[str, Any]:
    """Run one stage in this process; returns its measurements (and a few stage facts)."""
    import torch

    from graphemb.matching.graph import MatchingGraph

    torch.set_num_threads(1)
    info: Dict[str, Any] = {}

    def graph(name):
        return MatchingGraph.load(work / name)

    if stage == "generate":
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        a, b, gold = generate(rows, seed, queries)
        _save(work, "corpus.pkl", (a, b, gold))
        info.update(candidates=len(a), queries=len(b))
    elif stage == "build":
        from graphemb.matching.graph import build_graph

        a, b, _ = _load(work, "corpus.pkl")
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        g = build_graph(a, b, max_n=3)
        g.save(work / "built")
        info.update(g.sizes())
    elif stage == "compress":
        from graphemb.matching.compress import compress

        g = graph("built")
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        g, _ = compress(g)
        g.save(work / "compressed")
        info.update(g.sizes())
    elif stage == "walks":
        from graphemb.matching.walks import walk_embeddings, walk_preset

        g = graph("compressed")
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        cfg = walk_preset("quick", seed=seed)
        parts: Dict[str, float] = {}
        z = walk_embeddings(g, cfg, parts)
        np.save(work / "walks.npy", z.numpy())
        info.update(parts=parts, walk_config=cfg.__dict__)
    elif stage == "project":
        g = graph("compressed")
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        np.save(work / "project.npy", random_projection(g, 64, seed))
    elif stage in ("rank", "evaluate", "assign"):
        import graphemb.evaluation.ranking  # noqa: F401  (imported here, not inside the timed stage)
        from graphemb.matching.match import blocked_ranking_metrics, blocked_topk, object_scorer, one_to_one_topk

        g = graph("compressed")
        _, b, gold = _load(work, "corpus.pkl")
        z = torch.from_numpy(np.load(work / "project.npy"))
        scorer, present = object_scorer(g, z, "b")
        rss0, t0, c0 = _rss_mb(), time.perf_counter(), time.process_time()
        if stage == "rank":
            top, top_s = blocked_topk(scorer, TOP_K)
            np.save(work / "top_idx.npy", top)
            np.save(work / "top_val.npy", top_s)
            info["top_k"] = TOP_K
        elif stage == "evaluate":
            m = blocked_ranking_metrics(scorer, gold, query_mask=present)
            info.update({k: m[k] for k in ("mrr", "hits@1", "hits@10", "queries", "missed")})
        else:
            import warnings

            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always")
                pairs = one_to_one_topk(np.load(work / "top_idx.npy"), np.load(work / "top_val.npy"),
                                        scorer.shape[1]).numpy()
            gold_pairs = {(int(q), gold[q][0]) for q in range(len(gold))}
            info.update(pairs=int(len(pairs)), correct=int(sum((int(a), int(c)) in gold_pairs for a, c in pairs)),
                        fallback=bool(w))
        info["scorer"] = list(scorer.shape)
    else:
        raise ValueError(f"unknown stage {stage!r}; choose from {STAGES}")
    return {"seconds": time.perf_counter() - t0, "cpu_s": time.process_time() - c0, "rss_before_mb": rss0,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, **info}


def random_projection(g, dim: int, seed: int) -> np.ndarray:
    """``[N, dim]`` float32: each node's row of the (degree-normalised) adjacency times a fixed
    Gaussian matrix, i.e. a sum of random token vectors per object (the retrieval input here)."""
    import scipy.sparse as sp

    ei = g.data.edge_index.numpy()
    n = g.num_nodes
    deg = np.bincount(ei[0], minlength=n).astype(np.float64)
    w = 1.0 / np.sqrt(deg[ei[1]].clip(min=1))  # rare tokens weigh more (idf-like)
    adj = sp.csr_matrix((w, (ei[0], ei[1])), shape=(n, n))
    r = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return np.asarray(adj @ r, dtype=np.float32)


def bench(rows: int, stages: List[str], seed: int, work_root: Path, queries: Optional[int] = None) -> Dict[str, Any]:
    work = work_root / f"rows{rows}"
    work.mkdir(parents=True, exist_ok=True)
    out_path = RECORDS / "scale" / f"rows{rows}.json"
    rec = json.loads(out_path.read_text()) if out_path.is_file() else {"rows": rows, "stages": {}}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GRAPHEMB_PROGRESS": "0"}
    for st in stages:
        cmd = [sys.executable, __file__, "--stage", st, "--rows", str(rows), "--work", str(work), "--seed", str(seed)]
        cmd += [] if queries is None else ["--queries", str(queries)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if p.returncode != 0:
            raise SystemExit(f"stage {st} at {rows} rows failed:\n{p.stderr[-3000:]}")
        res = json.loads(p.stdout.strip().splitlines()[-1])
        res["load_avg_1min"] = os.getloadavg()[0]
        rec["stages"][st] = res
        rec.update(seed=seed, machine=f"{platform.machine()} {os.cpu_count()} cpus", threads=1,
                   command=" ".join(["python experiments/matching/bench_scale.py", "--rows", str(rows), "--stages", *stages,
                                     *([] if queries is None else ["--queries", str(queries)])]))
        print(rows, st, {k: (round(v, 2) if isinstance(v, float) else v) for k, v in res.items() if k != "walk_config"},
              flush=True)
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(json.dumps(rec, indent=1))
    return rec


def e2e(dataset: str, extra: List[str], cold: bool = False) -> None:
    """Run ``graphemb match run DATASET --json EXTRA`` and store its record (with the load average).

    ``cold``: with an empty ``$GRAPHEMB_CACHE`` (a new temporary folder), so MiniLM encodes every
    text as on a user's first run; otherwise the cache as found (a rerun reads the vectors)."""
    cmd = [sys.executable, "-m", "graphemb", "match", "run", dataset, "--json", *extra]
    env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="e2e_cache_") if cold else None
    if tmp:
        env["GRAPHEMB_CACHE"] = tmp
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{p.stderr[-3000:]}")
    rec = json.loads(p.stdout.strip().splitlines()[-1])
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec.update(command="graphemb match run " + " ".join([dataset, "--json", *extra]), process_wall_s=wall,
               process_cpu_s=ru.ru_utime + ru.ru_stime, load_avg_1min=os.getloadavg()[0],
               text_cache="cold (empty cache)" if cold else "as found in $GRAPHEMB_CACHE",
               omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"),
               recorded_by="python experiments/matching/bench_scale.py --e2e " + " ".join(
                   [dataset, *(["--cold"] if cold else []), *extra]))
    name = "_".join([Path(dataset).name if Path(dataset).is_dir() else dataset, *[x.strip("-") for x in extra]]
                    + (["cold"] if cold else []))
    out = RECORDS / "e2e" / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rec, indent=1))
    print(json.dumps({k: rec[k] for k in ("dataset", "mean", "seconds", "process_wall_s", "process_cpu_s", "stages")}))


def _walks_per_node(r: Dict[str, Any]) -> int:
    """Walks per start node a speed record ran with (its walk config applied to its graph's size)."""
    from dataclasses import fields

    from graphemb.matching.walks import WalkConfig

    if "walks_per_node" in r:
        return int(r["walks_per_node"])
    names = {f.name for f in fields(WalkConfig)}
    cfg = WalkConfig(**{k: v for k, v in r["walk"].items() if k in names})
    g = r["graph"]
    return cfg.walks_for(g["objects_a"] + g["objects_b"] + g["columns"])


def _fmt(x: Any, nd: int = 1) -> str:
    return "–" if x is None else f"{x:.{nd}f}" if isinstance(x, float) else str(x)


def report() -> str:
    """SCALE.md from the records in records/scale, records/e2e and records/speed."""
    lines = ["# Matching: speed and scale", "",
             "Generated by `python experiments/matching/bench_scale.py --report` from the records in "
             "`experiments/matching/records/{e2e,speed,scale}`; every number below is in a record. "
             "The machine has 2 CPU cores shared with other jobs: each record stores the 1-minute load average "
             "seen when it was written, and CPU seconds next to wall seconds (CPU seconds move less with the load).", ""]
    e2e_recs = sorted((RECORDS / "e2e").glob("*.json"))
    if e2e_recs:
        lines += ["## `graphemb match run` end to end", "",
                  "MRR: every query counted, pessimistic ties. `total` = the record's `seconds` (load + all stages); "
                  "process wall / CPU = the whole command, Python start-up and imports included. `embed` holds the "
                  "walks, Word2Vec, text-feature and GNN stages before it; stage seconds are wall seconds. "
                  "`factchecks16k` is the issue's new-user scenario (16,000 short fact-check texts vs 500 claims, "
                  "written by `bench_scale.py --user-corpus DIR`); run with the old default (TDmatch `paper` walks) "
                  "it had not finished after 29 minutes (issue 11; not re-run here).", ""]
        order = ["load", "build", "expand", "compress", "walks", "word2vec", "text_features", "gnn", "embed"]
        recs = [json.loads(p.read_text()) for p in e2e_recs]
        seen = {s for r in recs for s in r.get("stages", {})}
        stage_names = [s for s in order if s in seen] + sorted(seen - set(order) - {"rank", "evaluate", "assign"}) \
            + [s for s in ("rank", "evaluate", "assign") if s in seen]
        lines += ["| command | MRR | " + " | ".join(f"{s} s" for s in stage_names) +
                  " | total s | process wall s | process CPU s | load avg |",
                  "|---|---|" + "---|" * (len(stage_names) + 4)]
        for r in recs:
            st = r.get("stages", {})
            lines.append(f"| `{r['command']}` | {r['mean']:.3f} | " + " | ".join(_fmt(st.get(s)) for s in stage_names)
                         + f" | {r['seconds']:.1f} | {r['process_wall_s']:.1f} | {r['process_cpu_s']:.1f} | "
                         f"{r['load_avg_1min']:.1f} |")
        cpu_recs = [r for r in recs if r.get("stages_cpu")]
        if cpu_recs:
            names = [s for s in ["load", "build", "walks", "gnn_walks", "load_minilm", "minilm", "bm25"]
                     if any(s in r["stages_cpu"] for r in cpu_recs)]
            names += sorted({s for r in cpu_recs for s in r["stages_cpu"]} - set(names))
            lines += ["", "CPU seconds per ingredient (registry methods: `stages_cpu` of the record, this process, all "
                      "its threads; `minilm` = encoding every text on a cold cache, a cache read otherwise), and MRR "
                      "of the record's query groups:", "",
                      "| command | cache | threads | MRR groups | " + " | ".join(f"{s} CPU s" for s in names)
                      + " | process CPU s | process wall s |", "|---|---|---|---|" + "---|" * (len(names) + 2)]
            for r in cpu_recs:
                grp = ", ".join(f"{g} {v['mrr']:.3f}" for g, v in (r.get("groups") or {}).items())
                lines.append(f"| `{r['command']}` | {r.get('text_cache', '')} | {r.get('threads', '')} | {grp} | "
                             + " | ".join(_fmt(r["stages_cpu"].get(s)) for s in names)
                             + f" | {r['process_cpu_s']:.1f} | {r['process_wall_s']:.1f} |")
        lines.append("")
    speed = sorted(p for p in (RECORDS / "speed").glob("*.json") if "methods" not in json.loads(p.read_text()))
    best_sweep = sorted(p for p in (RECORDS / "speed").glob("*.json") if "methods" in json.loads(p.read_text()))
    if best_sweep:
        lines += ["## What a cheaper walk stage costs `best` (CoronaCheck, all claims in one graph)", "",
                  "`python experiments/matching/speed.py --configs b-...`: `best` and its graph scorers through the "
                  "method registry (`match run`'s GNN: `MATCHING_GNN` with early stopping), all 7,058 claims in one "
                  "graph, MRR on all claims / the 7,008 generated / the 50 user claims, pessimistic ties, seed 0 "
                  "(one seed; the user-claim MRR moves by ~0.05 between seeds). CPU seconds of this process per "
                  "ingredient (`minilm`: cold encode in the first record, a cache read after).", ""]
        lines += ["| config | walks/node | negatives | corpus target | walks CPU s | GNN CPU s | MiniLM CPU s | "
                  "best all | best gen | best usr | walks all | IsoC-VGAE all | load avg |", "|---" * 13 + "|"]
        for p in best_sweep:
            r = json.loads(p.read_text())
            w, c, res = r["walk"], r["cpu_seconds"], r["results"]
            g = r["graph"]
            from graphemb.matching.walks import WalkConfig

            wpn = WalkConfig(**w).walks_for(g["objects_a"] + g["objects_b"] + g["columns"])
            lines.append(f"| {r['config']} | {wpn} | {w['negative']} | {w['target_tokens'] or '–'} | {c['walks']:.1f} | "
                         f"{c.get('gnn_walks', float('nan')):.1f} | {c.get('minilm', float('nan')):.1f} | "
                         f"{res['best']['all']['mrr']:.4f} | {res['best']['gen']['mrr']:.4f} | "
                         f"{res['best']['usr']['mrr']:.4f} | {res['walks']['all']['mrr']:.4f} | "
                         f"{res['isoc-vgae']['all']['mrr']:.4f} | {r['load_avg_1min']:.1f} |")
        lines.append("")
    if speed:
        lines += ["## What the cheaper embeddings cost in MRR (CoronaCheck)", "",
                  "`python experiments/matching/speed.py --configs ...`: all 7,058 claims in one graph (1-3-grams, "
                  "column nodes, B-only tokens dropped, compressed), MRR on the 7,008 generated and the 50 user "
                  "claims, pessimistic ties, seed 0 (one seed: read differences under ~0.01 on gen and ~0.05 on usr "
                  "as noise). Walks: walks/node x length, Word2Vec epochs, dim, window, threads; GNN: IsoC-VGAE "
                  "(`MATCHING_GNN`, 2 x 128) on the walk features, `both` = walks ++ GNN.", ""]
        base = [json.loads((RECORDS / f"{d}.json").read_text()) for d in ("coronacheck-gen", "coronacheck-usr")
                if (RECORDS / f"{d}.json").is_file()]
        if base:
            lines += ["Before (the `RESULTS.md` records of `run_matching.py`: walk preset `fast`, GNN 30 epochs, each "
                      "claim set in its own graph, wall seconds on one thread):", "",
                      "| dataset | walks s | GNN s | MRR walks | MRR IsoC-VGAE | MRR both |", "|---|---|---|---|---|---|"]
            for r in base:
                mm = {m["method"]: m["metrics"]["mrr"]["mean"] for m in r["methods"]}
                lines.append(f"| {r['dataset']} | {r['walks_s']:.1f} | {r['gnn_s']:.1f} | {mm.get('walks', float('nan')):.3f} | "
                             f"{mm.get('isoc-vgae (walk feats)', float('nan')):.3f} | {mm.get('both', float('nan')):.3f} |")
            lines.append("")
        other: List[Dict[str, Any]] = []
        lines += ["| config | walks/node | length | epochs | dim | window | negatives | GNN | walks+W2V s (CPU s) | "
                  "GNN s (CPU s) | embedding | MRR gen | MRR usr | load avg |", "|---" * 15 + "|"]
        for p in speed:
            r = json.loads(p.read_text())
            w, t = r["walk"], r["seconds"]
            if w.get("workers", 1) != 1:
                raise ValueError(f"{p}: the table assumes 1 Word2Vec thread")
            if r["gnn"] is None:
                gnn = "–"
            else:  # the resolved config (MATCHING_GNN + overrides); older records: patience 0 then
                tr = (r.get("gnn_resolved") or {"train": {"patience": 0, **r["gnn"].get("train", {})},
                                                 "model": r["gnn"].get("model", {"encoder": {"hidden_channels": 128}})})
                hid = tr.get("model", {}).get("encoder", {}).get("hidden_channels", 128)
                t_ = tr["train"]
                gnn = (f"{hid} wide, <= {t_['epochs']} ep" + (f", stop: patience {t_['patience']}, "
                       f"min_delta {t_.get('min_delta')}" if t_.get("patience") else ""))
            ws = f"{t['walks'] + t['word2vec']:.1f} ({t['walks+word2vec_cpu']:.1f})"
            gs = f"{t['gnn']:.1f} ({t['gnn_cpu']:.1f})" if "gnn" in t else "–"
            if r.get("dataset", "coronacheck") != "coronacheck":
                other.append(r)
                continue
            for k, res in r["results"].items():
                lines.append(f"| {r['config']} | {_walks_per_node(r)} | {w['walk_length']} | "
                             f"{w['epochs']} | {w['dim']} | {w['window']} | {w['negative']} | {gnn} | {ws} | {gs} | {k} | "
                             f"{res['gen']['mrr']:.3f} | {res['usr']['mrr']:.3f} | {r['load_avg_1min']:.1f} |")
        if other:
            lines += ["", "Other datasets (`speed.py --dataset NAME`; MRR on all its queries, pessimistic ties, seed 0):", "",
                      "| dataset | config | walks/node | epochs | negatives | walks+W2V s (CPU s) | MRR | load avg |",
                      "|---|---|---|---|---|---|---|---|"]
            for r in sorted(other, key=lambda r: (r["dataset"], r["config"])):
                w, t = r["walk"], r["seconds"]
                lines.append(f"| {r['dataset']} | {r['config']} | {_walks_per_node(r)} | {w['epochs']} | {w['negative']} | "
                             f"{t['walks'] + t['word2vec']:.1f} ({t['walks+word2vec_cpu']:.1f}) | "
                             f"{r['results']['walks']['all']['mrr']:.3f} | {r['load_avg_1min']:.1f} |")
        lines.append("")
    enc = RECORDS / "encode" / "minilm@coronacheck.json"
    if enc.is_file():
        r = json.loads(enc.read_text())
        lines += ["## What MiniLM's encode costs (CoronaCheck texts)", "",
                  f"`{r['command']}`: {r['texts']} texts ({r['claims']} claims, {r['rows']} rows as `column: value`), "
                  f"{r['tokens']['mean']:.1f} tokens on average, at most {r['tokens']['max']}; one thread; "
                  f"CPU bfloat16 instructions: {', '.join(r['cpu_flags_bf16']) or 'none'} ({r['machine']}); "
                  f"load average {r['load_avg_1min']:.1f}.", "",
                  "| encode | CPU s | x float32 | mean / min cosine to float32 |", "|---|---|---|---|"]
        f32 = r["results"]["float32"]["cpu_s"]
        for name, v in r["results"].items():
            lines.append(f"| {name} | {v['cpu_s']:.1f} | {v['cpu_s'] / f32:.2f} | {v['mean_cosine_to_float32']:.5f} / "
                         f"{v['min_cosine_to_float32']:.5f} |")
        lines.append("")
    scale = sorted((RECORDS / "scale").glob("*.json"), key=lambda p: json.loads(p.read_text())["rows"])
    if scale:
        recs = [json.loads(p.read_text()) for p in scale]
        lines += ["## Scale: generated table-to-text corpus", "",
                  "`python experiments/matching/bench_scale.py --rows N`: a table of N rows (6 columns) and N/10 "
                  "claims (fewer where the facts below say so: `--queries`), each stage in its own subprocess on one thread. Per stage: wall seconds / CPU seconds / "
                  "peak resident MB of the stage's process (the MB before the stage's own work, after imports and "
                  "reading its input, in brackets). The retrieval stages (rank = exact blocked top-20, evaluate = "
                  "blocked MRR, assign = one-to-one on the sparse graph of rank's top-20 lists) use the `project` vectors at every "
                  "size; `walks` (random walks + Word2Vec, `quick` preset) is timed where it ran. `–`: not run at "
                  "that size (too slow for the shared 2-core machine in this session).", ""]
        lines += ["| stage | " + " | ".join(f"{r['rows']:,} rows" for r in recs) + " |", "|---|" + "---|" * len(recs)]
        for st in STAGES:
            cells = []
            for r in recs:
                s = r["stages"].get(st)
                cells.append("–" if s is None else f"{s['seconds']:.1f} s / {s['cpu_s']:.1f} s / "
                             f"{s['peak_rss_mb']:.0f} MB ({s['rss_before_mb']:.0f})")
            lines.append(f"| {st} | " + " | ".join(cells) + " |")
        cells = []
        for r in recs:  # exact retrieval is O(Q x C): its CPU time per scored pair should stay flat
            s = r["stages"].get("rank")
            cells.append("–" if s is None else f"{1e9 * s['cpu_s'] / (s['scorer'][0] * s['scorer'][1]):.2f} ns")
        lines.append("| rank CPU per (query x candidate) | " + " | ".join(cells) + " |")
        facts = []
        for r in recs:
            s = r["stages"]
            f = [f"{r['rows']:,} rows"]
            if "build" in s:
                f.append(f"graph {s['build']['nodes']:,} nodes / {s['build']['edges']:,} edges")
            if "compress" in s:
                f.append(f"compressed {s['compress']['nodes']:,} / {s['compress']['edges']:,}")
            if "rank" in s:
                f.append(f"scorer {s['rank']['scorer'][0]:,} queries x {s['rank']['scorer'][1]:,} candidates")
            if "evaluate" in s:
                f.append(f"MRR {s['evaluate']['mrr']:.3f} (projection vectors)")
            if "assign" in s:
                f.append(f"assigned {s['assign']['pairs']:,} pairs, {s['assign']['correct']:,} correct"
                         + (", top-k graph infeasible: fallback used" if s['assign']['fallback'] else ""))
            loads = [v.get("load_avg_1min", float("nan")) for v in s.values()]
            f.append(f"load avg {min(loads):.1f}-{max(loads):.1f}")
            facts.append("- " + "; ".join(f))
        lines += [""] + facts + [""]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--stages", nargs="+", default=STAGES, choices=STAGES)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--queries", type=int, default=None, help="claims generated (default rows / 10)")
    ap.add_argument("--work", default=None, help="work folder (default: a temporary folder)")
    ap.add_argument("--stage", default=None, help=argparse.SUPPRESS)  # internal: run one stage here
    ap.add_argument("--e2e", default=None, metavar="DATASET", help="time `graphemb match run DATASET --json`")
    ap.add_argument("--cold", action="store_true", help="with --e2e: an empty feature cache (MiniLM encodes all)")
    ap.add_argument("--report", action="store_true", help="only write SCALE.md from the records")
    ap.add_argument("--user-corpus", default=None, metavar="DIR",
                    help="write the new-user scenario (16,000 fact-check texts vs 500 claims) to DIR and stop")
    args, extra = ap.parse_known_args()
    if args.stage:
        print(json.dumps(run_stage(args.stage, args.rows[0], Path(args.work), args.seed, args.queries)))
        return
    if args.user_corpus:
        print(user_corpus(Path(args.user_corpus), seed=args.seed))
        return
    if args.e2e:
        e2e(args.e2e, extra, cold=args.cold)
    elif not args.report:
        if extra:
            ap.error(f"unrecognised arguments: {' '.join(extra)}")
        root = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench_scale_"))
        for n in args.rows:
            bench(n, args.stages, args.seed, root, args.queries)
    (HERE / "SCALE.md").write_text(report())


if __name__ == "__main__":
    main()
