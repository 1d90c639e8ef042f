"""``graphemb match {build,embed,run}``: build a matching graph, embed it, rank and evaluate.

Registered by the CLI main through :func:`add_subparser`; each parser sets ``func(args) -> int``.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch

from graphemb.cli.output import log, result

__all__ = ["add_subparser", "run_pipeline"]

#: candidates listed per query by ``match run`` (and the sparse assignment's graph degree)
TOP_K = 20
#: walk preset of ``match run`` / ``match embed`` (and of experiments/matching/RESULTS.md)
DEFAULT_PRESET = "lean"


def _graph_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ngrams", type=int, default=3, help="longest n-gram (default 3)")
    p.add_argument("--no-columns", action="store_true", help="no column nodes")
    p.add_argument("--b-only-tokens", choices=("drop", "keep"), default="drop",
                   help="n-grams of B absent from A: drop (TDmatch, default) or keep")
    p.add_argument("--expand", default=None, metavar="minilm|SYNONYM_FILE",
                   help="add token-token edges from MiniLM similarity or a synonym file")
    p.add_argument("--expand-threshold", type=float, default=0.8, help="cosine threshold for minilm expansion (default 0.8)")
    p.add_argument("--compress", action="store_true", help="prune, contract chains, keep short A-B paths")
    p.add_argument("--min-degree", type=int, default=2, help="compression: prune tokens of lower degree (default 2)")
    p.add_argument("--max-path", type=int, default=4, help="compression: longest A-B path kept (default 4)")


def _embed_args(p: argparse.ArgumentParser, run: bool = False) -> None:
    if run:  # `match run`: any method of the registry, best by default
        from graphemb.matching.hubness import HUBNESS_METHODS
        from graphemb.matching.methods import METHODS

        p.add_argument("--method", choices=tuple(METHODS), default="best",
                       help="baselines (bm25, tfidf, minilm), graph embeddings, fusions or best (default best: "
                            "z-score fusion of walks, IsoC-VGAE, MiniLM and BM25, DBNorm DualDIS on each)")
        p.add_argument("--hubness", choices=HUBNESS_METHODS, default=None,
                       help="hubness reduction on each scorer (default: the method's own; none for a single scorer)")
    else:
        p.add_argument("--method", choices=("walks", "isoc-vgae", "both"), default="walks",
                       help="random walks + Word2Vec, the GNN, or both concatenated (default walks)")
    p.add_argument("--preset", default=DEFAULT_PRESET, help="walk preset: lean (default: a walk corpus of ~1M nodes "
                   "per epoch, 1-100 walks/node, 5 epochs, 2 negatives), quick (~2M nodes, 5 negatives), fast (20 "
                   "walks/node), paper (TDmatch: 100 walks/node, 10 epochs), tiny")
    p.add_argument("--threads", type=int, default=None, help="CPU threads of torch, Word2Vec and the text encoder "
                   "(default: torch's setting, Word2Vec 1 thread)")
    p.add_argument("--features", choices=("walks", "text"), default="walks", help="initial GNN node features")
    p.add_argument("--text-encoder", default="minilm",
                   help="with --features text: minilm (offline MiniLM) or tfidf[:DIM] (no model weights)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    p.add_argument("--gnn-epochs", type=int, default=None, help="GNN training epochs (default: MATCHING_GNN, 30)")
    p.add_argument("--gnn-hidden", type=int, default=None, help="GNN layer width (default: MATCHING_GNN, 128)")


def _gnn_overrides(args: argparse.Namespace) -> Optional[Dict[str, Any]]:
    out: Dict[str, Any] = {}
    if getattr(args, "gnn_epochs", None):
        out["train"] = {"epochs": args.gnn_epochs}
    if getattr(args, "gnn_hidden", None):
        out["model"] = {"encoder": {"hidden_channels": args.gnn_hidden}}
    return out or None


def _walk_threads(args: argparse.Namespace) -> Dict[str, Any]:
    """Word2Vec workers from ``--threads`` (none given: the preset's single thread)."""
    n = getattr(args, "threads", None)
    return {} if n is None else {"workers": int(n)}


def _set_threads(args: argparse.Namespace) -> None:
    n = getattr(args, "threads", None)
    if n is not None:
        if n < 1:
            raise SystemExit(f"--threads must be >= 1, got {n}")
        torch.set_num_threads(int(n))


def _text_encoder(args: argparse.Namespace) -> Any:
    if getattr(args, "features", "walks") != "text":
        return None
    from graphemb.multimodal.encoders.text import load_text_encoder

    return load_text_encoder(args.text_encoder, device=args.device)


def _make_graph(a, b, args: argparse.Namespace, log, stages: Optional[Dict[str, float]] = None) -> Any:
    """Build (+ expand, + compress) the graph; ``stages`` receives each step's seconds."""
    from graphemb.matching.compress import CompressConfig, compress
    from graphemb.matching.expand import expand_with_encoder, expand_with_synonyms
    from graphemb.matching.graph import build_graph

    stages = {} if stages is None else stages
    t = time.perf_counter()
    g = build_graph(a, b, max_n=args.ngrams, column_nodes=not args.no_columns, b_only_tokens=args.b_only_tokens)
    stages["build"] = time.perf_counter() - t
    log(f"built: {g.sizes()}")
    t = time.perf_counter()
    if args.expand:
        if Path(args.expand).is_file():
            g, rep = expand_with_synonyms(g, args.expand)
        elif args.expand.lower() == "minilm":
            from graphemb.multimodal.encoders.text import load_text_encoder

            g, rep = expand_with_encoder(g, load_text_encoder("minilm"), threshold=args.expand_threshold)
        else:
            raise SystemExit(f"--expand {args.expand!r}: neither 'minilm' nor an existing synonym file")
        log(f"expanded: +{rep.num_added} token-token edges ({len(rep.skipped)} skipped)")
        stages["expand"] = time.perf_counter() - t
    t = time.perf_counter()
    if args.compress:
        g, rep = compress(g, CompressConfig(args.min_degree, True, args.max_path))
        log(f"compressed in {rep.seconds:.1f}s: {rep.before} -> {rep.after}; {rep.steps}")
        stages["compress"] = time.perf_counter() - t
    return g


def _build(args: argparse.Namespace) -> int:
    from graphemb.matching.datasets import read_corpus

    a = read_corpus(args.a, encoding=args.encoding, id_column=args.id_column, name="A")
    b = read_corpus(args.b, encoding=args.encoding, id_column=args.id_column, name="B")
    g = _make_graph(a, b, args, lambda m: log(args, m))
    g.save(args.out)
    result(args, f"saved matching graph ({g.num_nodes} nodes, {g.num_edges} edges) to {args.out}",
           {"out": str(args.out), "nodes": int(g.num_nodes), "edges": int(g.num_edges), "sizes": g.sizes()})
    return 0


def _embed(args: argparse.Namespace) -> int:
    from graphemb.matching.embed import embed_graph
    from graphemb.matching.graph import MatchingGraph
    from graphemb.matching.walks import walk_preset

    g = MatchingGraph.load(args.graph_dir)
    z = embed_graph(g, args.method, walk_cfg=walk_preset(args.preset), features=args.features, seed=args.seed,
                    device=args.device, gnn_overrides=_gnn_overrides(args), text_encoder=_text_encoder(args))
    out = Path(args.out) if args.out else Path(args.graph_dir) / f"embeddings_{args.method}.pt"
    if out.suffix in (".npy", ".parquet"):  # a table with the node names as ids
        import numpy as np

        from graphemb.export import write_table

        write_table(out, z.numpy(), {"id": np.asarray(g.names, dtype=str)})
    else:
        from graphemb.utils.io import atomic_write

        with atomic_write(out) as f:
            torch.save({"z": z, "names": g.names, "method": args.method, "seed": args.seed}, f)
    result(args, f"saved {tuple(z.shape)} embeddings to {out}",
           {"out": str(out), "shape": list(z.shape), "method": args.method, "seed": args.seed})
    return 0


def run_pipeline(dataset, args: argparse.Namespace, log=lambda m: None) -> Dict[str, Any]:
    """Build + embed + rank + evaluate one :class:`MatchingDataset`; returns metrics and the
    seconds of each stage (``stages``: build, expand, compress, the embedding's parts, rank,
    evaluate, assign). Ranking and evaluation go block by block (no dense query x candidate
    matrix); the one-to-one assignment runs on the sparse top-k graph."""
    if _registry_path(args):
        return _run_method(dataset, args, log)
    from graphemb.matching.embed import embed_graph
    from graphemb.matching.match import blocked_ranking_metrics, blocked_topk, object_scorer, one_to_one_topk
    from graphemb.matching.metrics import pair_prf
    from graphemb.matching.walks import walk_preset

    stages: Dict[str, float] = {}
    t0 = time.perf_counter()
    g = _make_graph(dataset.a, dataset.b, args, log, stages)
    t1 = time.perf_counter()
    z = embed_graph(g, args.method, walk_cfg=walk_preset(args.preset, **_walk_threads(args)), features=args.features,
                    seed=args.seed, device=args.device, gnn_overrides=_gnn_overrides(args),
                    text_encoder=_text_encoder(args), timings=stages)
    t2 = time.perf_counter()
    stages["embed"] = t2 - t1
    q = np.asarray(dataset.queries, dtype=np.int64)
    scorer, present = object_scorer(g, z, dataset.query_side, q)
    top, top_s = blocked_topk(scorer, TOP_K)  # the ranked candidate lists a user reads
    t3 = time.perf_counter()
    stages["rank"] = t3 - t2
    m = blocked_ranking_metrics(scorer, list(dataset.gold), query_mask=present)
    t4 = time.perf_counter()
    stages["evaluate"] = t4 - t3
    if dataset.query_side == "a" and len(dataset.pairs):
        pred = one_to_one_topk(top, top_s, scorer.shape[1]).numpy()  # pruned queries score -inf: never paired
        pred = np.stack([q[pred[:, 0]], pred[:, 1]], 1)
        m.update({f"pairs_{k}": v for k, v in pair_prf(pred, dataset.pairs).items()})
        stages["assign"] = time.perf_counter() - t4
    t5 = time.perf_counter()
    m.update(build_s=t1 - t0, embed_s=t2 - t1, match_s=t5 - t2, pruned_queries=int((~present).sum()))
    return {"metrics": m, "sizes": g.meta.get("sizes", {}), "seconds": t5 - t0, "stages": stages,
            "top_k": top}


def _registry_path(args: argparse.Namespace) -> bool:
    """Whether ``match run`` goes through :mod:`graphemb.matching.methods` (baselines, fusions,
    best, hubness reduction, MiniLM node features) rather than the single-embedding path."""
    single = args.method in ("walks", "isoc-vgae", "both") and getattr(args, "hubness", None) in (None, "none")
    return not single or (args.method == "isoc-vgae" and getattr(args, "features", "walks") == "text")


def _run_method(dataset, args: argparse.Namespace, log) -> Dict[str, Any]:
    """``match run`` of a registered method: the graph (built only when the method needs one) from
    the CLI's graph options, always compressed as in TDmatch and RESULTS.md; every ingredient timed
    (``stages``); metrics with every query counted and pessimistic ties."""
    from graphemb.matching.methods import MatchContext, MethodConfig, evaluate_method

    name = "isoc-vgae-text" if args.method == "isoc-vgae" and args.features == "text" else args.method
    cfg = MethodConfig(walk_preset=args.preset, walk_overrides=_walk_threads(args) or None,
                       gnn_overrides=_gnn_overrides(args), hubness=args.hubness,
                       ngrams=args.ngrams, min_degree=args.min_degree, max_path=args.max_path, seed=args.seed,
                       device=args.device)
    graph_args = argparse.Namespace(**{**vars(args), "compress": True})  # the TDmatch graph of RESULTS.md
    ctx = MatchContext(dataset, cfg, graph=lambda: _make_graph(dataset.a, dataset.b, graph_args, log), log=log)
    r = evaluate_method(name, ctx)
    m = dict(r["metrics"])
    m["pruned_queries"] = r["pruned_queries"]
    cpu = r["stages_cpu"]
    return {"metrics": m, "sizes": ctx.graph().meta.get("sizes", {}) if "build" in ctx.stages else {},
            "seconds": r["seconds"], "stages": r["stages"], "stages_cpu": cpu, "groups": r.get("groups"), "hubness": {"before": r["hubness_before"],
                                                                       "after": r["hubness_after"]},
            "method": name, "hubness_method": r["hubness_method"]}


def _run(args: argparse.Namespace) -> int:
    from graphemb.matching.datasets import load_matching

    _set_threads(args)
    t, c = time.perf_counter(), time.process_time()
    ds = load_matching(args.dataset, root=args.data_root)
    load_s, load_cpu = time.perf_counter() - t, time.process_time() - c
    res = run_pipeline(ds, args, lambda m: log(args, m))
    m = res["metrics"]
    total = load_s + res["seconds"]
    text = (f"{ds.name} {args.method}: MRR {m['mrr']:.4f}  hits@1 {m['hits@1']:.4f}  hits@10 {m['hits@10']:.4f}  "
            f"({m['queries']} queries, {m['missed']} missed, {total:.1f}s)"
            + "".join(f"; {g}: MRR {v['mrr']:.4f} ({int(v['queries'])} queries)" for g, v in (res.get("groups") or {}).items()))
    from graphemb.evaluation.stats import result_record

    extra = {k: [float(v)] for k, v in m.items() if k != "mrr"}
    rec = result_record(args.method, ds.name, "matching", "ranking-pessimistic", "mrr", [m["mrr"]],
                        total, extra_values=extra)
    rec["stages"] = {"load": load_s, **res["stages"]}
    if "stages_cpu" in res:  # CPU seconds of this process per ingredient (the registry path)
        rec["stages_cpu"] = {"load": load_cpu, **res["stages_cpu"]}
    rec["process_cpu_s_in_run"] = time.process_time()
    rec["threads"] = torch.get_num_threads()
    rec["walk_preset"] = args.preset
    rec.update({k: res[k] for k in ("hubness", "hubness_method", "groups") if res.get(k) is not None})
    result(args, text, rec)
    return 0


def add_subparser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``match`` with its ``build``, ``embed`` and ``run`` sub-commands."""
    p = subparsers.add_parser("match", help="data-to-text matching graphs (TDmatch)")
    sub = p.add_subparsers(dest="match_command", required=True)

    b = sub.add_parser("build", help="build a matching graph from two corpora")
    b.add_argument("a", help="corpus A: .csv/.tsv/.parquet table or text file (one object per line)")
    b.add_argument("b", help="corpus B: same formats")
    b.add_argument("--out", required=True, help="output graph directory")
    b.add_argument("--encoding", default="utf-8", help="text encoding of both corpora (default utf-8)")
    b.add_argument("--id-column", default=None, help="table column holding object ids (default: row numbers)")
    _graph_args(b)
    b.set_defaults(func=_build)

    e = sub.add_parser("embed", help="embed a saved matching graph")
    e.add_argument("graph_dir", help="a graph directory written by `graphemb match build`")
    e.add_argument("--out", default=None, help="output .pt (default GRAPH_DIR/embeddings_<method>.pt), or .parquet / "
                   ".npy for a table with the node names as ids")
    _embed_args(e)
    e.set_defaults(func=_embed)

    r = sub.add_parser("run", help="build + embed + rank + evaluate a dataset")
    r.add_argument("dataset", help="coronacheck, coronacheck-gen, coronacheck-usr, DBLP-ACM, ..., or a folder "
                   "with a.*, b.* and gold.json (queries: B objects)")
    r.add_argument("--data-root", default=None, help="data root (default $GRAPHEMB_DATA)")
    _graph_args(r)
    _embed_args(r, run=True)
    r.set_defaults(func=_run)
    return p


def main(argv: Optional[list] = None) -> int:
    """Stand-alone entry point (``python -m graphemb.matching.cli match ...``); ``graphemb match`` is the same."""
    from graphemb.cli.output import add_habits

    parser = argparse.ArgumentParser(prog="graphemb")
    add_subparser(parser.add_subparsers(dest="command", required=True))
    add_habits(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
