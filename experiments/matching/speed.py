"""What each speed-up of the graph embedding costs in MRR: CoronaCheck (all 7,058 claims in one
graph), MRR reported on the generated (7,008) and the user (50) claims, pessimistic ties.

Each config writes ``experiments/matching/records/speed/<config>.json`` (seconds of the walks,
Word2Vec and GNN stages, and the metrics); ``experiments/matching/scale_report.py`` renders them.
The graph is the RESULTS.md one (1-3-grams, column nodes, B-only tokens dropped, compressed).

    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/speed.py \\
        --configs w-fast-1t w-fast-2t ...
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from graphemb.matching.compress import compress
from graphemb.matching.datasets import load_matching
from graphemb.matching.embed import gnn_config, gnn_embeddings
from graphemb.matching.graph import build_graph
from graphemb.matching.match import blocked_ranking_metrics, object_scorer
from graphemb.matching.walks import walk_embeddings, walk_preset
from graphemb.utils.io import atomic_write

OUT = Path(__file__).resolve().parent / "records" / "speed"

#: name -> (walk preset + overrides, GNN overrides or None for walks only)
CONFIGS = {
    "w-fast-1t": (("fast", {}), None),
    "w-fast-2t": (("fast", {"workers": 2}), None),
    "w-10x20-5ep-2t": (("fast", {"walks_per_node": 10, "workers": 2}), None),
    "w-10x20-3ep-2t": (("fast", {"walks_per_node": 10, "epochs": 3, "workers": 2}), None),
    "w-5x20-5ep-2t": (("fast", {"walks_per_node": 5, "workers": 2}), None),
    "w-10x10-5ep-2t": (("fast", {"walks_per_node": 10, "walk_length": 10, "workers": 2}), None),
    "w-10x20-5ep-d64-2t": (("fast", {"walks_per_node": 10, "dim": 64, "workers": 2}), None),
    "w-10x20-5ep-1t": (("fast", {"walks_per_node": 10}), None),
    "w-10x20-3ep-1t": (("fast", {"walks_per_node": 10, "epochs": 3}), None),
    "w-5x20-5ep-1t": (("fast", {"walks_per_node": 5}), None),
    "w-10x10-5ep-1t": (("fast", {"walks_per_node": 10, "walk_length": 10}), None),
    "w-10x20-5ep-d64-1t": (("fast", {"walks_per_node": 10, "dim": 64}), None),
    "w-10x20-5ep-w2-1t": (("fast", {"walks_per_node": 10, "window": 2}), None),
    "w-10x20-5ep-s1e-4-1t": (("fast", {"walks_per_node": 10, "sample": 1e-4}), None),
    "w-10x20-5ep-neg2-1t": (("fast", {"walks_per_node": 10, "negative": 2}), None),
    "w-20x20-3ep-neg2-1t": (("fast", {"epochs": 3, "negative": 2}), None),
    "w-10x20-5ep-neg2-s1e-4-1t": (("fast", {"walks_per_node": 10, "negative": 2, "sample": 1e-4}), None),
    "w-quick-1t": (("quick", {}), None),
    "w-quick-neg2-1t": (("quick", {"negative": 2}), None),
    "g-default-quick-1t": (("quick", {}), {}),
    "g30-fast-1t": (("fast", {}), {"train": {"epochs": 30, "patience": 0}}),
    "g30-10x20-1t": (("fast", {"walks_per_node": 10}), {"train": {"epochs": 30, "patience": 0}}),
    "g-pat3-10x20-1t": (("fast", {"walks_per_node": 10}), {"train": {"epochs": 30, "patience": 3, "min_delta": 0.005}}),
    "g15-10x20-1t": (("fast", {"walks_per_node": 10}), {"train": {"epochs": 15, "patience": 0}}),
    "g30-h64-10x20-1t": (("fast", {"walks_per_node": 10}),
                         {"train": {"epochs": 30, "patience": 0}, "model": {"encoder": {"hidden_channels": 64}}}),
    "g30-10x20-2t": (("fast", {"walks_per_node": 10, "workers": 2}), {"train": {"epochs": 30, "patience": 0}}),
    "g-pat3-10x20-2t": (("fast", {"walks_per_node": 10, "workers": 2}),
                        {"train": {"epochs": 30, "patience": 3, "min_delta": 0.005}}),
    "g15-10x20-2t": (("fast", {"walks_per_node": 10, "workers": 2}), {"train": {"epochs": 15, "patience": 0}}),
    "g30-h64-10x20-2t": (("fast", {"walks_per_node": 10, "workers": 2}),
                         {"train": {"epochs": 30, "patience": 0}, "model": {"encoder": {"hidden_channels": 64}}}),
}


#: name -> (walk preset, walk overrides, GNN overrides): ``best`` and its graph scorers measured
#: through the method registry (:mod:`graphemb.matching.methods`) with ``match run``'s GNN (early
#: stopping), so the MRR cost of a cheaper walk stage is the one a user of ``best`` pays
BEST_CONFIGS = {
    "b-quick": ("quick", {}, None),
    "b-fast": ("fast", {}, None),
    "b-quick-neg2": ("quick", {"negative": 2}, None),
    "b-1m-neg2": ("quick", {"target_tokens": 1_000_000, "negative": 2}, None),
    "b-quick-s1e-4": ("quick", {"sample": 1e-4}, None),
    "b-1m-ep3": ("quick", {"target_tokens": 1_000_000, "epochs": 3}, None),
    "b-quick-neg2-s1e-4": ("quick", {"negative": 2, "sample": 1e-4}, None),
}
BEST_METHODS = ("best", "walks", "isoc-vgae")


def run_best(names, seed: int, dataset: str) -> None:
    """``b-*`` configs: one record each with the MRR of :data:`BEST_METHODS` (on the dataset's query
    groups too) and the wall and CPU seconds of every ingredient."""
    from graphemb.matching.methods import MatchContext, MethodConfig, evaluate_method

    ds = load_matching(dataset)
    g, _ = compress(build_graph(ds.a, ds.b, max_n=3))
    encoder = None
    for name in names:
        preset, over, gnn = BEST_CONFIGS[name]
        ctx = MatchContext(ds, MethodConfig(walk_preset=preset, walk_overrides=over, gnn_overrides=gnn, seed=seed),
                           graph=g, text_encoder=encoder)
        res = {}
        for m in BEST_METHODS:
            r = evaluate_method(m, ctx, full=False)
            res[m] = {"all": r["metrics"], **r.get("groups", {})}
        encoder = ctx._encoder
        keys = list(ctx.stages)
        rec = {"config": name, "methods": list(BEST_METHODS), "walk": walk_preset(preset, seed=seed, **over).__dict__,
               "gnn": gnn, "gnn_resolved": gnn_config(gnn), "seed": seed,
               "seconds": ctx.stage_seconds(keys), "cpu_seconds": ctx.stage_seconds(keys, cpu=True),
               "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
               "note": "seconds: wall; cpu_seconds: CPU seconds of this process (all its threads) per ingredient; "
                       "minilm is a read of the on-disk cache when it was encoded before",
               "machine": f"{platform.machine()} {os.cpu_count()} cpus", "protocol": "ranking-pessimistic",
               "graph": g.sizes(), "dataset": ds.name, "results": res}
        with atomic_write(OUT / f"{name}@{ds.name}.json", "w") as f:
            json.dump(rec, f, indent=1)
        print(name, ds.name, {k: round(v, 1) for k, v in rec["cpu_seconds"].items()},
              {m: {k: round(v["mrr"], 4) for k, v in r.items()} for m, r in res.items()}, flush=True)


def evaluate(ds, g, z, lo, hi):
    scorer, present = object_scorer(g, z, ds.query_side, ds.queries[lo:hi])
    return blocked_ranking_metrics(scorer, ds.gold[lo:hi], query_mask=present)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--configs", nargs="+", default=list(CONFIGS), choices=list(CONFIGS) + list(BEST_CONFIGS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dataset", default="coronacheck",
                    help="coronacheck (MRR on gen and usr claims) or another set (MRR on all its queries)")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    best = [c for c in args.configs if c in BEST_CONFIGS]
    if best:
        run_best(best, args.seed, args.dataset)
        args.configs = [c for c in args.configs if c not in BEST_CONFIGS]
        if not args.configs:
            return
    ds = load_matching(args.dataset)
    corona = args.dataset == "coronacheck"
    n_gen = len(ds.b) - 50 if corona else len(ds.queries)  # claims_GEN first, then the 50 claims_USR
    g, _ = compress(build_graph(ds.a, ds.b, max_n=3))
    OUT.mkdir(parents=True, exist_ok=True)
    cache: dict = {}  # walk config -> (embeddings, timings): GNN variants share their walks
    for name in args.configs:
        (preset, over), gnn = CONFIGS[name]
        cfg = walk_preset(preset, seed=args.seed, **over)
        key = json.dumps(cfg.__dict__, sort_keys=True)
        if key not in cache:
            tw: dict = {}
            c0 = time.process_time()
            zw = walk_embeddings(g, cfg, tw)
            tw["walks+word2vec_cpu"] = time.process_time() - c0
            cache[key] = (zw, tw)
        z, t = cache[key][0], dict(cache[key][1])
        if gnn is not None:
            t0, c0 = time.perf_counter(), time.process_time()
            zg = gnn_embeddings(g, z, overrides=gnn, seed=args.seed)
            t["gnn"], t["gnn_cpu"] = time.perf_counter() - t0, time.process_time() - c0
            nz = torch.nn.functional.normalize
            embs = {"gnn": zg, "both": torch.cat([nz(z, dim=1), nz(zg, dim=1)], 1)}
        else:
            embs = {"walks": z}
        rec = {"config": name, "walk": cfg.__dict__, "gnn": gnn,
               "gnn_resolved": None if gnn is None else gnn_config(gnn), "seed": args.seed, "seconds": t,
               "threads": torch.get_num_threads(), "load_avg_1min": os.getloadavg()[0],
               "note": "seconds: wall; *_cpu: CPU seconds of this process (all its threads)",
               "machine": f"{platform.machine()} {os.cpu_count()} cpus", "protocol": "ranking-pessimistic",
               "graph": g.sizes(), "results": {}}
        for k, e in embs.items():
            rec["results"][k] = ({"gen": evaluate(ds, g, e, 0, n_gen), "usr": evaluate(ds, g, e, n_gen, len(ds.queries))}
                                 if corona else {"all": evaluate(ds, g, e, 0, len(ds.queries))})
        rec["dataset"] = ds.name
        rec["walks_per_node"] = cfg.walks_for(int((g.node_type != 2).sum()) if cfg.start == "non-token" else g.num_nodes)
        with atomic_write(OUT / (f"{name}.json" if corona else f"{name}@{ds.name}.json"), "w") as f:
            json.dump(rec, f, indent=1)
        print(name, ds.name, {k: round(v, 1) for k, v in t.items()},
              {k: {s: round(m["mrr"], 4) for s, m in r.items()} for k, r in rec["results"].items()}, flush=True)


if __name__ == "__main__":
    main()
