"""graphemb command line: datasets, train, evaluate, embed, reproduce, info (+ mag, match).

Every subcommand is a thin layer over :mod:`graphemb.api`; with ``--json`` the last line of
stdout is one JSON object (:mod:`graphemb.cli.output`). Exit codes: 0 success, 2 usage or
configuration errors (unknown option, name or key, bad value, a RUN_DIR that is not a run),
1 runtime failures (data missing or malformed, training diverged, out of memory), 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import List, Optional

from graphemb.cli.output import add_habits, apply_habits, result

TASK_CHOICES = ("node", "link", "graph")


def _add_common_train_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default=None, help="dataset name (see `graphemb datasets`); or data.name in --config")
    p.add_argument("--task", choices=TASK_CHOICES, default=None, help="downstream task (default: node, or graph for graph datasets)")
    p.add_argument("--preset", default=None, help="hyperparameter preset: default | paper")
    p.add_argument("--config", default=None, help="YAML config file (see experiments/)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set train.epochs=50 (repeatable)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N | auto")
    p.add_argument("--data-root", default=None, help="dataset root (else GRAPHEMB_DATA, then the cache)")
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels where torch has them")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (also: --quiet, GRAPHEMB_PROGRESS=0)")
    p.add_argument("--tracker", choices=("tensorboard", "mlflow"), default=None,
                   help="also log config, per-epoch losses and final metrics (skipped when not installed)")


def _add_probe_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--probe", action="append", default=None, metavar="KEY=VALUE",
                   help="an option of the evaluation protocol, repeatable (node/linear: lr, weight_decays, epochs, "
                        "standardize; graph/svm: Cs, inner_cv, standardize, fold_seed; e.g. --probe "
                        "'weight_decays=[0.1]'); recorded in the result")


def _require_dataset(args: argparse.Namespace) -> None:
    from graphemb.config import ConfigError

    if args.dataset is None and args.config is None:
        raise ConfigError("no dataset given: pass --dataset NAME (see `graphemb datasets`) or a --config with data.name")


def _probe_options(items: Optional[List[str]]) -> Optional[dict]:
    """``--probe KEY=VALUE`` items as protocol keyword options (values parsed as YAML)."""
    import yaml

    from graphemb.config import ConfigError

    if not items:
        return None
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--probe expects KEY=VALUE (e.g. --probe 'weight_decays=[0.1]'), got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def _run_dir(path: str) -> Path:
    """A RUN_DIR argument, checked before any work (a wrong path is a usage error, exit 2)."""
    from graphemb.config import ConfigError

    p = Path(path)
    if not (p / "config.yaml").is_file():
        raise ConfigError(f"{p} is not a graphemb run directory (no config.yaml); "
                          f"create one with `graphemb train MODEL --dataset NAME --out {p}`")
    return p


def cmd_datasets(args: argparse.Namespace) -> int:
    from graphemb.data import list_datasets

    rows = list_datasets(root=args.data_root)
    lines = [f"{'name':<22} {'level':<6} {'local':<6} source"]
    lines += [f"{r['name']:<22} {r['level']:<6} {'yes' if r.get('local') else 'no':<6} {r.get('source', '')}" for r in rows]
    result(args, "\n".join(lines), rows)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    from graphemb.cli.info import format_info, run_info

    info = run_info(_run_dir(args.run_dir))
    result(args, format_info(info), info)
    return 0


def _resume_conflicts(args: argparse.Namespace) -> List[str]:
    """Options that would change the run; --resume continues the saved config as it is."""
    given = [("MODEL", args.model), ("--dataset", args.dataset), ("--task", args.task), ("--preset", args.preset),
             ("--config", args.config), ("--set", args.overrides), ("--seed", args.seed), ("--out", args.out),
             ("--deterministic", args.deterministic)]
    return [name for name, value in given if value not in (None, [], False)]


def cmd_train(args: argparse.Namespace) -> int:
    from graphemb import api
    from graphemb.config import ConfigError

    progress = False if args.no_progress else None
    if args.resume is not None:
        conflicts = _resume_conflicts(args)
        if conflicts:
            raise ConfigError(f"--resume continues the run with its saved config; drop {', '.join(conflicts)} "
                              f"(or start a new run without --resume)")
        run = api.resume(args.resume, overwrite=args.overwrite, device=args.device, data_root=args.data_root,
                         progress=progress)
    else:
        if args.model is None or args.out is None:
            raise ConfigError("train needs MODEL and --out RUN_DIR (or --resume RUN_DIR.partial to continue a run)")
        _require_dataset(args)
        run = api.train(
            args.model, args.dataset, task=args.task, preset=args.preset, config_file=args.config,
            overrides=args.overrides, seed=args.seed, device=args.device, out=args.out,
            data_root=args.data_root, deterministic=args.deterministic, progress=progress,
            overwrite=args.overwrite,
        )
    from graphemb.training.distributed import is_main

    if not is_main():  # a distributed run reports (and writes) on rank 0 only
        return 0
    tr = run.train_result
    text = (f"trained {run.config.model_name} on {run.config.data.name} ({run.config.task.name}): "
            f"{tr.epochs_run} epochs, final loss {tr.history[-1]['loss']:.4f}, "
            f"{tr.seconds_per_epoch:.3f} s/epoch; run saved to {run.run_dir}")
    rec = {"run_dir": str(run.run_dir), "model": run.config.model_name, "dataset": run.config.data.name,
           "task": run.config.task.name, "epochs_run": tr.epochs_run,
           "final_loss": tr.history[-1]["loss"], "best_loss": tr.best_loss,
           "seconds_per_epoch": tr.seconds_per_epoch}
    from graphemb.tracking import log_run

    log_run(args.tracker, name=f"{run.config.model_name}-{run.config.data.name}-{run.config.task.name}",
            config=run.config.to_dict(), history=tr.history, metrics=rec, run_dir=run.run_dir)
    result(args, text, rec)
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from graphemb import api

    rec = api.evaluate(_run_dir(args.run_dir), task=args.task, protocol=args.protocol, seed=args.seed,
                       device=args.device, data_root=args.data_root, options=_probe_options(args.probe))
    result(args, api.format_record(rec), rec)
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from graphemb import api

    path = api.export_embeddings(_run_dir(args.run_dir), level=args.level, out=args.out, pairs=args.pairs,
                                 readout=args.readout, data_root=args.data_root)
    result(args, f"wrote {path}", {"out": str(path), "level": args.level})
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from graphemb import api

    _require_dataset(args)
    rec = api.reproduce(
        args.model, args.dataset, task=args.task, seeds=args.seeds, protocol=args.protocol,
        preset=args.preset, config_file=args.config, overrides=args.overrides, device=args.device,
        data_root=args.data_root, deterministic=args.deterministic,
        progress=False if args.no_progress else None, first_seed=args.first_seed,
        probe_options=_probe_options(args.probe),
    )
    from graphemb.tracking import log_run

    log_run(args.tracker, name=f"{rec['model']}-{rec['dataset']}-{rec['task']}-reproduce",
            config={"args": {k: v for k, v in vars(args).items() if k != "func"}}, history=[], metrics=rec)
    result(args, api.format_record(rec), rec)
    return 0


def cmd_plot(args: argparse.Namespace) -> int:
    from graphemb import viz

    run_dir = _run_dir(args.run_dir)
    kwargs = {"method": args.method, "data_root": args.data_root} if args.kind == "embedding" else {}
    path = viz.save(viz.plot(run_dir, args.kind, **kwargs), args.out)
    result(args, f"wrote {path}", {"out": str(path), "kind": args.kind, "run_dir": str(run_dir)})
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from graphemb import viz

    runs = [_run_dir(r) for r in args.runs]
    path = viz.write_report(runs, args.out, title=args.title, data_root=args.data_root)
    result(args, f"wrote {path} ({len(runs)} run(s))", {"out": str(path), "runs": [str(r) for r in runs]})
    return 0


def cmd_index(args: argparse.Namespace) -> int:
    from graphemb.index import build_index

    meta = build_index(_run_dir(args.run_dir), args.out, backend=args.backend)
    recall = f", recall@10 {meta['recall@10']:.3f} vs exact" if "recall@10" in meta else ""
    result(args, f"indexed {meta['n']} x {meta['dim']} {meta['level']} embeddings ({meta['backend']}{recall}) in {args.out}",
           {**meta, "out": str(args.out)})
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    from graphemb.config import ConfigError
    from graphemb.index import load_index, read_vector

    if (args.id is None) == (args.vector is None):
        raise ConfigError("pass exactly one of --id NODE_ID or --vector FILE")
    index = load_index(args.index)
    hits = index.search(node_id=args.id, vector=None if args.vector is None else read_vector(args.vector), k=args.k,
                        backend=args.backend)
    text = "\n".join(f"{i + 1:>3}  {h['score']:.4f}  {h['id']}" for i, h in enumerate(hits))
    result(args, text, {"query": args.id if args.id is not None else str(args.vector), "k": args.k, "hits": hits})
    return 0


_MODEL_HELP = ("a registered model: isoc-vgae, gae, vgae, graphmae, graphmae2, maskgae, bgrl, dgi "
               "(an unknown name is an error that lists the registry)")


def build_parser() -> argparse.ArgumentParser:
    from graphemb import __version__

    parser = argparse.ArgumentParser(prog="graphemb", description=__doc__.splitlines()[0],
                                     epilog="Run `graphemb COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"graphemb {__version__}",
                        help="print the version and exit")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("datasets", help="list registered datasets and whether they are found locally")
    p.add_argument("--data-root", default=None, help="dataset root (else GRAPHEMB_DATA, then the cache)")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", help="train an embedding model and save a run directory")
    p.add_argument("model", nargs="?", default=None, help=_MODEL_HELP)
    _add_common_train_args(p)
    p.add_argument("--seed", type=int, default=None, help="random seed (default: the config's, 0)")
    p.add_argument("--out", default=None, help="run directory to create (written to OUT.partial, renamed when done)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run in --out as a whole")
    p.add_argument("--resume", default=None, metavar="RUN_DIR",
                   help="continue an interrupted run (OUT.partial) from its last checkpoint, with its saved config")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's frozen embeddings")
    p.add_argument("run_dir", help="a run directory written by `graphemb train`")
    p.add_argument("--task", choices=TASK_CHOICES, default=None, help="task to evaluate (default: the run's)")
    p.add_argument("--protocol", default=None,
                   help="node: linear|mlp; link: dot|mlp|decoder (the model's own edge decoder); graph: svm|mlp; "
                        "ogb: the official OGB split and Evaluator (the default on OGB datasets)")
    _add_probe_arg(p)
    p.add_argument("--seed", type=int, default=None, help="probe seed (default: the run's seed)")
    p.add_argument("--device", default=None, help="cpu | cuda | cuda:N | auto (default: the run's)")
    p.add_argument("--data-root", default=None, help="dataset root (else GRAPHEMB_DATA, then the cache)")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("embed", help="export a run's node, link or graph embeddings with their ids")
    p.add_argument("run_dir", help="a run directory written by `graphemb train`")
    p.add_argument("--level", choices=TASK_CHOICES, required=True, help="rows: nodes, node pairs or graphs")
    p.add_argument("--out", required=True, help=".npy (ids in <stem>.ids.npy) or .parquet (column 'id')")
    p.add_argument("--pairs", default=None, help="link level: CSV of node-id pairs (src,dst); default: the run's test pairs")
    p.add_argument("--readout", default=None, help="link: hadamard|concat|l1|l2; graph: sum|mean|max")
    p.add_argument("--data-root", default=None, help="dataset root (else GRAPHEMB_DATA, then the cache)")
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("reproduce", help="train and evaluate over several seeds; mean ± std")
    p.add_argument("model", help=_MODEL_HELP)
    _add_common_train_args(p)
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1 after --first-seed)")
    p.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    p.add_argument("--protocol", default=None,
                   help="node: linear|mlp; link: dot|mlp|decoder (the model's own edge decoder); graph: svm|mlp")
    _add_probe_arg(p)
    p.set_defaults(func=cmd_reproduce)

    p = sub.add_parser("info", help="a run's model, dataset, task, config, versions and metrics")
    p.add_argument("run_dir", help="a run directory written by `graphemb train`")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("plot", help="draw a run: loss curve, 2-D embedding map or probe results (needs [viz])")
    p.add_argument("run_dir", help="a run directory written by `graphemb train`")
    p.add_argument("--kind", choices=("loss", "embedding", "probe"), default="loss",
                   help="loss: losses per epoch; embedding: UMAP/t-SNE map coloured by label; probe: evaluation results")
    p.add_argument("--out", required=True, help="image file, .png or .svg")
    p.add_argument("--method", choices=("auto", "umap", "tsne", "pca"), default="auto",
                   help="embedding map: auto = UMAP when umap-learn is installed, else t-SNE")
    p.add_argument("--data-root", default=None, help="dataset root for the labels (else GRAPHEMB_DATA, then the cache)")
    p.set_defaults(func=cmd_plot)

    p = sub.add_parser("report", help="one self-contained HTML page of several runs (needs [viz])")
    p.add_argument("runs", nargs="+", help="run directories")
    p.add_argument("--out", required=True, help="HTML file to write")
    p.add_argument("--title", default="graphemb report", help="page title")
    p.add_argument("--data-root", default=None, help="dataset root for the labels (else GRAPHEMB_DATA, then the cache)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("index", help="build a nearest-neighbour index (cosine) over a run's embeddings")
    p.add_argument("run_dir", help="a run directory written by `graphemb train` (or Embedder.save)")
    p.add_argument("--out", required=True, help="index folder to write")
    p.add_argument("--backend", choices=("auto", "numpy", "faiss", "usearch"), default="auto",
                   help="auto: faiss-cpu, then usearch, when installed, else exact numpy search")
    p.set_defaults(func=cmd_index)

    p = sub.add_parser("search", help="nearest neighbours of a node id or a vector in an index")
    p.add_argument("index", help="an index folder written by `graphemb index`")
    p.add_argument("--id", default=None, help="query by node (or graph) id; the node itself is left out")
    p.add_argument("--vector", default=None, help="query vector file: .npy, .json list, or numbers in text")
    p.add_argument("-k", type=int, default=10, help="number of neighbours (default 10)")
    p.add_argument("--backend", choices=("numpy", "faiss", "usearch"), default=None,
                   help="search backend (default: the index's; numpy = exact)")
    p.set_defaults(func=cmd_search)

    for mod in ("graphemb.multimodal.cli", "graphemb.matching.cli"):
        try:
            module = __import__(mod, fromlist=["add_subparser"])
        except ImportError as e:  # optional extras missing: the subcommand says how to get them
            _add_unavailable(sub, mod.split(".")[1], e)
            continue
        module.add_subparser(sub)
    add_habits(parser)
    return parser


def _add_unavailable(sub, name: str, err: Exception) -> None:
    cmd = {"multimodal": "mag", "matching": "match"}[name]
    p = sub.add_parser(cmd, help=f"(unavailable: {err})")
    p.add_argument("rest", nargs=argparse.REMAINDER, help="(arguments of the unavailable command)")

    def fail(args):
        raise RuntimeError(f"`graphemb {cmd}` is unavailable: {err}. Install the extras: pip install -e \".[text,match]\"")

    p.set_defaults(func=fail)


def exit_code(err: BaseException) -> int:
    """2 for usage/configuration errors (bad values, unknown names: ``ConfigError``, ``KeyError``),
    130 for Ctrl-C (143 for SIGTERM during training), 1 for everything that fails while working
    (data, training, memory); an exception may carry its own ``exit_code``."""
    from graphemb.config import ConfigError

    own = getattr(err, "exit_code", None)  # e.g. rundir.RunDirExists (2), RunDirBusy (1)
    if isinstance(own, int):
        return own
    if isinstance(err, KeyboardInterrupt):
        return 128 + int(getattr(err, "signum", 2))
    if isinstance(err, (ConfigError, KeyError)):
        return 2
    return 1


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # usage errors exit 2 here (argparse)
    apply_habits(args)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt as e:  # SIGINT, or SIGTERM during training (RunInterrupted)
        print(f"graphemb: {e}" if str(e) else "graphemb: interrupted", file=sys.stderr)
        return exit_code(e)
    except BrokenPipeError:  # `graphemb datasets | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - the CLI turns errors into one clear line
        if args.debug or os.environ.get("GRAPHEMB_DEBUG") or getattr(args, "verbose", 0) >= 2:
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        notes = "".join(f"\n  {n}" for n in getattr(e, "__notes__", ()))  # e.g. where a partial run was kept
        print(f"graphemb: error: {msg}{notes}", file=sys.stderr)
        return exit_code(e)


if __name__ == "__main__":
    sys.exit(main())
