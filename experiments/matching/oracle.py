"""Why the CoronaCheck targets are missed: per-scorer ranks of the gold row, an oracle upper bound,
and label-free variants of ``best``, on one seed.

For each claim: the rank of its gold row under every base scorer and fusion of the method
registry (pessimistic ties, every claim counted, a pruned claim is a miss). Per claim group
(``all``/``gen``/``usr``): each method's MRR and Hits@k; the *oracle* MRR (each claim takes the best
rank any listed method gives it: no fusion of these scorers can beat it rank-wise, only a new
signal can); the share of claims whose gold row is in *some* method's top-k; and the MRR of
label-free variants of ``best`` (fixed before looking at their numbers, none chosen by them):

- ``best-graph-hub``: DBNorm DualDIS on the graph scorers only, raw MiniLM and BM25;
- ``best+tfidf``: ``best`` with TF-IDF as a fifth scorer;
- ``best-rrf``: ``best``'s reduced scorers fused by reciprocal ranks instead of z-scores;
- ``best-minilm-values``: ``best`` with MiniLM on rows serialised as bare values (not ``column: value``);
- ``best-agree``: ``best`` with top-1-agreement weights (:func:`graphemb.matching.fusion.agreement_weights`).

And what ``best`` ranks first when it is not a gold row: a row of a gold row's country from another
of the CoronaCheck tables (same country, other measure), or another country.

One record per (dataset, preset, seed): ``records/oracle/<dataset>__<preset>__seed<k>.json``;
``run_matching.py --report`` renders them in RESULTS.md.

    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/oracle.py \\
        --datasets coronacheck coronacheck-usr --seed 0
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Dict, List

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

OUT = HERE / "records" / "oracle"
METHODS_SHOWN = ["bm25", "tfidf", "minilm", "walks", "isoc-vgae", "isoc-vgae-text", "fused", "best"]
KS = (1, 5, 10, 20)


def _ranks(scorer, present: np.ndarray, ds) -> np.ndarray:
    from graphemb.matching.match import RowsScorer, blocked_scan

    q = np.asarray(ds.queries, dtype=np.int64)
    scan = blocked_scan(RowsScorer(scorer, q), ds.gold)
    return np.where(present[q] & scan.has_gold, scan.ranks, np.inf)


def _summary(ranks: Dict[str, np.ndarray], rows: np.ndarray, oracle_of: List[str]) -> Dict[str, object]:
    rr = {m: 1.0 / r[rows] for m, r in ranks.items()}  # 1/inf = 0: a miss
    out: Dict[str, object] = {"queries": int(len(rows)),
                              "mrr": {m: float(v.mean()) for m, v in rr.items()},
                              "hits": {m: {k: float((ranks[m][rows] <= k).mean()) for k in KS} for m in ranks}}
    best_rank = np.min(np.stack([ranks[m][rows] for m in oracle_of]), 0)
    out["oracle_of"] = oracle_of
    out["oracle_mrr"] = float((1.0 / best_rank).mean())
    out["any_hits"] = {k: float((best_rank <= k).mean()) for k in KS}
    out["never_top20"] = float((best_rank > 20).mean())
    return out


def measure(dataset: str, preset: str, seed: int) -> dict:
    import torch

    from graphemb.matching.datasets import load_matching
    from graphemb.matching.fusion import FusedScorer
    from graphemb.matching.match import EmbeddingScorer
    from graphemb.matching.methods import MatchContext, MethodConfig, _f64, _reduce, method_scorer
    from graphemb.matching.methods import BaseScores

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    ds = load_matching(dataset)
    ctx = MatchContext(ds, MethodConfig(walk_preset=preset, seed=seed),
                       log=lambda m: print(m, file=sys.stderr, flush=True))
    ranks: Dict[str, np.ndarray] = {}
    for m in METHODS_SHOWN:
        scorer, present, _ = method_scorer(m, ctx)
        ranks[m] = _ranks(scorer, present, ds)
        print(f"{dataset} {m}: MRR {float((1 / ranks[m]).mean()):.4f}", file=sys.stderr, flush=True)
    budget = 1 << 23
    present = np.stack([ctx.base(c).present for c in ("walks", "isoc-vgae", "minilm", "bm25")]).any(0)
    red = {c: _reduce(ctx, ctx.base(c), "dbnorm_ddis", budget) for c in ("walks", "isoc-vgae", "minilm", "bm25", "tfidf")}
    raw = {c: ctx.base(c).query for c in ("minilm", "bm25")}
    four = [red["walks"], red["isoc-vgae"], red["minilm"], red["bm25"]]
    variants = {
        "best-graph-hub": FusedScorer([red["walks"], red["isoc-vgae"], raw["minilm"], raw["bm25"]], "zscore"),
        "best+tfidf": FusedScorer(four + [red["tfidf"]], "zscore"),
        "best-rrf": FusedScorer(four, "rrf"),
        "best-agree": FusedScorer(four, "zscore", weights="agreement"),
    }
    qv, _ = ctx.minilm_vectors()
    cv = ctx.encode(ctx.cand_texts("values"))
    gb = ctx.gallery_bank.numpy()
    mv = BaseScores(_f64(EmbeddingScorer(qv.numpy(), cv.numpy(), stable=True)), np.ones(ctx.n_query, dtype=bool),
                    _f64(EmbeddingScorer(cv.numpy()[gb], cv.numpy(), stable=True)), gb, cosine=True)
    variants["best-minilm-values"] = FusedScorer([red["walks"], red["isoc-vgae"], _reduce(ctx, mv, "dbnorm_ddis", budget),
                                                  red["bm25"]], "zscore")
    for name, sc in variants.items():
        ranks[name] = _ranks(sc, present, ds)
        print(f"{dataset} {name}: MRR {float((1 / ranks[name]).mean()):.4f}", file=sys.stderr, flush=True)
    groups = {"all": np.arange(len(ds.queries)), **(ds.groups or {})}
    # what best puts first: the gold row, a row of a gold row's country from another table, or another country
    from graphemb.matching.match import RowsScorer, blocked_scan

    sc, pres, _ = method_scorer("best", ctx)
    q = np.asarray(ds.queries, dtype=np.int64)
    top1 = blocked_scan(RowsScorer(sc, q), ds.gold, topk=1).topk[0][:, 0]
    cols = list(ds.a.columns or [])
    ti, ci = (cols.index("table"), cols.index("country")) if {"table", "country"} <= set(cols) else (None, None)
    kinds = []
    for i, gl in enumerate(ds.gold):
        t = int(top1[i])
        if not gl or not pres[q[i]]:
            kinds.append("no gold or pruned")
        elif t in gl:
            kinds.append("gold row")
        elif ci is not None and ds.a.fields[t][ci] in {ds.a.fields[g][ci] for g in gl}:
            kinds.append("gold country, other table")
        else:
            kinds.append("other country" if ci is not None else "other row")
    kinds = np.asarray(kinds)
    n_gold = np.asarray([len(g) for g in ds.gold])
    base = ["bm25", "tfidf", "minilm", "walks", "isoc-vgae", "isoc-vgae-text"]
    rec = {"dataset": ds.name, "preset": preset, "seed": seed, "methods": METHODS_SHOWN, "variants": list(variants),
           "protocol": "ranking-pessimistic (every claim counted, pruned = miss)",
           "command": f"PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python "
                      f"experiments/matching/oracle.py --datasets {dataset} --preset {preset} --seed {seed}",
           "groups": {g: {"base_oracle": _summary(ranks, rows, base),
                          "all_oracle": _summary(ranks, rows, list(ranks)),
                          "best_top1": {k: float((kinds[rows] == k).mean()) for k in sorted(set(kinds.tolist()))},
                          "gold_rows_per_claim": float(n_gold[rows].mean()),
                          "tables": sorted({f[ti] for f in ds.a.fields}) if ti is not None else None}
                      for g, rows in groups.items()},
           "seconds": time.perf_counter() - t0}
    return rec


def main() -> int:
    from graphemb.matching.cli import DEFAULT_PRESET
    from graphemb.utils.io import write_json

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["coronacheck", "coronacheck-usr"])
    ap.add_argument("--preset", default=DEFAULT_PRESET)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    for d in args.datasets:
        rec = measure(d, args.preset, args.seed)
        OUT.mkdir(parents=True, exist_ok=True)
        write_json(OUT / f"{rec['dataset']}__{args.preset}__seed{args.seed}.json", rec, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
