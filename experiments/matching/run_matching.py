"""Matching results table: TDmatch-style graphs (walks, IsoC-VGAE, both) vs BM25, TF-IDF and MiniLM.

Writes experiments/matching/RESULTS.md. Single-threaded; every query counts (pessimistic ties,
queries without gold or whose object was pruned are misses).

    PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/run_matching.py
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

from graphemb.matching.baselines import bm25_scores, encoder_scores, tfidf_scores
from graphemb.matching.compress import CompressConfig, compress
from graphemb.matching.datasets import load_matching
from graphemb.matching.embed import MATCHING_GNN, gnn_config, gnn_embeddings
from graphemb.matching.graph import build_graph
from graphemb.matching.match import object_scores
from graphemb.matching.metrics import gold_matrix, ranking_metrics
from graphemb.matching.walks import walk_embeddings, walk_preset

DATASETS = ["coronacheck-usr", "coronacheck-gen", "Fodors-Zagats", "Beer", "iTunes-Amazon", "Amazon-Google", "DBLP-ACM"]


def gnn_overrides(args):
    out = {}
    if args.gnn_epochs:
        out["train"] = {"epochs": args.gnn_epochs}
    if args.gnn_hidden:
        out["model"] = {"encoder": {"hidden_channels": args.gnn_hidden}}
    return out


def evaluate(ds, scores, present=None):
    q = torch.as_tensor(ds.queries, dtype=torch.long)
    s = scores[q]
    mask = present[q] if present is not None else None
    return ranking_metrics(s, gold_matrix(ds.gold, s.size(1)), query_mask=mask)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--datasets", nargs="*", default=DATASETS)
    ap.add_argument("--preset", default="fast", help="walk preset (paper = TDmatch defaults; fast = 20 walks/node, 5 epochs)")
    ap.add_argument("--gnn-epochs", type=int, default=None, help="default: MATCHING_GNN (30)")
    ap.add_argument("--gnn-hidden", type=int, default=None, help="default: MATCHING_GNN (128)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    args = ap.parse_args()
    torch.set_num_threads(1)
    from graphemb.multimodal.encoders.text import load_text_encoder

    minilm = load_text_encoder("minilm")
    rows = []
    sizes = []
    t_all = time.perf_counter()
    for name in args.datasets:
        ds = load_matching(name)
        qside = ds.query_side
        qa, ca = (ds.b, ds.a) if qside == "b" else (ds.a, ds.b)
        t0 = time.perf_counter()
        g0 = build_graph(ds.a, ds.b, max_n=3)
        g, rep = compress(g0, CompressConfig(min_degree=2, contract=True, max_path=4))
        build_s = time.perf_counter() - t0
        sizes.append([ds.name, rep.before, rep.after, rep.steps, build_s, None, None])
        print(f"[{ds.name}] graph {rep.before} -> {rep.after} in {build_s:.1f}s", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        zw = walk_embeddings(g, walk_preset(args.preset, seed=args.seed))
        walk_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        try:
            zg = gnn_embeddings(g, zw, overrides=gnn_overrides(args), seed=args.seed)
            gnn_err = None
        except Exception as e:  # report, don't hide
            zg, gnn_err = None, f"{type(e).__name__}: {e}"
        gnn_s = time.perf_counter() - t0
        sizes[-1][5:] = [walk_s, gnn_s if zg is not None else gnn_err]
        embs = {"walks": (zw, walk_s)}
        if zg is not None:
            nz = torch.nn.functional.normalize
            embs["isoc-vgae (walk feats)"] = (zg, walk_s + gnn_s)
            embs["both"] = (torch.cat([nz(zw, dim=1), nz(zg, dim=1)], 1), walk_s + gnn_s)
        else:
            print(f"[{ds.name}] IsoC-VGAE failed: {gnn_err}", file=sys.stderr)
        for meth, (z, es) in embs.items():
            t0 = time.perf_counter()
            s, present = object_scores(g, z, qside)
            m = evaluate(ds, s, present)
            rows.append((ds.name, meth, m, build_s, es, time.perf_counter() - t0))
        qt = [qa.texts()[i] for i in range(len(qa))]
        t0 = time.perf_counter()
        s = bm25_scores(qt, ca.texts())
        rows.append((ds.name, "BM25", evaluate(ds, s), 0.0, 0.0, time.perf_counter() - t0))
        t0 = time.perf_counter()
        s = tfidf_scores(qt, ca.texts())
        rows.append((ds.name, "TF-IDF", evaluate(ds, s), 0.0, 0.0, time.perf_counter() - t0))
        t0 = time.perf_counter()
        s = encoder_scores(qt, ca.texts("column: value"), minilm)
        rows.append((ds.name, "MiniLM (col: value)", evaluate(ds, s), 0.0, time.perf_counter() - t0, 0.0))
        for r in rows[-len(embs) - 3:]:
            print(f"[{r[0]}] {r[1]}: MRR {r[2]['mrr']:.3f} (embed {r[4]:.1f}s, match {r[5]:.1f}s)", file=sys.stderr, flush=True)
        write(args, rows, sizes, time.perf_counter() - t_all, done=name == args.datasets[-1])
    return 0


def write(args, rows, sizes, total, done):
    cmd = "PYTHONPATH=. OMP_NUM_THREADS=1 GRAPHEMB_DATA=/work/shared/datasets python experiments/matching/run_matching.py " + \
        " ".join(sys.argv[1:])
    p = walk_preset(args.preset)
    gnn = gnn_config(gnn_overrides(args))
    lines = [
        "# Matching results (TDmatch-style graphs vs text baselines)", "",
        f"Command: `{cmd.strip()}`  ",
        f"Seed {args.seed}; single CPU thread (2-core machine shared with other jobs); total {total:.0f}s. "
        f"Walk preset `{args.preset}`: {p.walks_per_node} walks/node, length {p.walk_length}, dim {p.dim}, "
        f"window {p.window}, {p.epochs} Word2Vec epochs (TDmatch `paper` preset: 100 walks/node, 10 epochs). "
        f"IsoC-VGAE: `graphemb.matching.embed.MATCHING_GNN` over the `default` preset = 2 x "
        f"{gnn['model']['encoder']['hidden_channels']} GCN, {gnn['train']['epochs']} epochs (the node-level "
        "default is 2 x 512, 100 epochs: ~25 s/epoch on DBLP-ACM on one thread, so too slow here), the same for "
        "every dataset; input features = the walk embeddings, so its embed s includes the walks. "
        "Graph: 1-3-grams, column nodes, B-only tokens dropped, compressed (tokens with < 2 object/token "
        "neighbours dropped, token-token chains contracted, max A-B path 4). Every query counts: pessimistic "
        "ties; no gold or pruned object = miss. Queries: CoronaCheck claims -> table rows; ER left records with "
        "a match -> right records. BM25: own scipy implementation (Lucene idf, k1=1.5, b=0.75) on normalised "
        "tokens; TF-IDF: scikit-learn `TfidfVectorizer` defaults fitted on the candidates, rows as cells "
        "joined by spaces; MiniLM: all-MiniLM-L6-v2 cosine, candidates serialised as `column: value`.", "",
        "| dataset | method | MRR | MAP@5 | Hits@1 | Hits@5 | Hits@10 | queries | missed | build s | embed s | match s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for n, meth, m, b, e, mt in rows:
        lines.append(f"| {n} | {meth} | {m['mrr']:.3f} | {m['map@5']:.3f} | {m['hits@1']:.3f} | {m['hits@5']:.3f} | "
                     f"{m['hits@10']:.3f} | {m['queries']} | {m['missed']} | {b:.1f} | {e:.1f} | {mt:.1f} |")
    lines += ["", "## Graph sizes before / after compression, and embedding cost", "",
              "| dataset | nodes | edges | tokens | nodes after | edges after | tokens after | pruned tokens | contracted "
              "| off-path | pruned objects A/B | build+compress s | walks s | IsoC-VGAE s |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for n, bf, af, st, s, ws, gs in sizes:
        gtxt = f"{gs:.1f}" if isinstance(gs, float) else f"failed: {gs}" if gs else "-"
        wtxt = f"{ws:.1f}" if ws is not None else "-"
        lines.append(f"| {n} | {bf['nodes']} | {bf['edges']} | {bf['tokens']} | {af['nodes']} | {af['edges']} | {af['tokens']} | "
                     f"{st.get('pruned_tokens', 0)} | {st.get('contracted_tokens', 0)} | {st.get('off_path_nodes', 0)} | "
                     f"{st['pruned_objects_a']}/{st['pruned_objects_b']} | {s:.1f} | {wtxt} | {gtxt} |")
    lines += NOTES
    if not done:
        lines += ["", f"(partial: the run was still going after {total:.0f}s)"]
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


NOTES = [
    "", "## Notes", "",
    "- TF-IDF reference: the shared README quotes TF-IDF MRR 0.562 on CoronaCheck (all 7,058 claims). A standard "
    "TF-IDF does not reproduce it: scikit-learn `TfidfVectorizer` defaults on the same text give 0.414 "
    "(idf fitted on the rows; 0.416 on rows + claims), our previous own implementation 0.418; sublinear tf 0.418, "
    "1-character tokens kept 0.423, English stop words 0.410, no idf smoothing 0.403, whitespace tokens 0.425 "
    "-- all within 0.01. Only non-standard choices move it far: idf fitted on the claims 0.517, word 1-2-grams "
    "0.504, no l2 normalisation of the rows 0.633, numbers dropped 0.675 (on this data the number tokens mislead "
    "TF-IDF more than they help; not analysed further). We keep the standard configuration (sklearn defaults, fitted on "
    "the candidates) and report the gap rather than tune to the reference.",
    "- Compression: pruning counts a token's object/token neighbours only (every table token also has a column "
    "edge, so counting it kept every token); tokens seen by one object are dropped, not contracted into "
    "object-column edges as in the previous table. Without expansion no token-token chains exist, hence "
    "`contracted` = 0.",
    "- IsoC-VGAE cost: see the `IsoC-VGAE s` column (GNN training + inference alone, after the walks).",
]


if __name__ == "__main__":
    raise SystemExit(main())
