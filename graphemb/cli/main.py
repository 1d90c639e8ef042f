"""``graphemb`` command line: datasets, train, evaluate, embed, reproduce (+ ``mag``, ``match``).

Every subcommand is a thin layer over :mod:`graphemb.api`; with ``--json`` the last line of
stdout is one JSON object.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

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
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _require_dataset(args: argparse.Namespace) -> None:
    if args.dataset is None and args.config is None:
        raise ValueError("no dataset given: pass --dataset NAME (see `graphemb datasets`) or a --config with data.name")


def _print_json(obj) -> None:
    print(json.dumps(obj, default=float))


def cmd_datasets(args: argparse.Namespace) -> int:
    from graphemb.data import list_datasets

    rows = list_datasets(root=args.data_root)
    if args.json:
        _print_json(rows)
        return 0
    print(f"{'name':<22} {'level':<6} {'local':<6} source")
    for r in rows:
        print(f"{r['name']:<22} {r['level']:<6} {'yes' if r.get('local') else 'no':<6} {r.get('source', '')}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from graphemb import api

    _require_dataset(args)
    run = api.train(
        args.model, args.dataset, task=args.task, preset=args.preset, config_file=args.config,
        overrides=args.overrides, seed=args.seed, device=args.device, out=args.out,
        data_root=args.data_root, deterministic=args.deterministic,
        progress=False if args.no_progress else None,
    )
    tr = run.train_result
    print(f"trained {run.config.model_name} on {run.config.data.name} ({run.config.task.name}): "
          f"{tr.epochs_run} epochs, final loss {tr.history[-1]['loss']:.4f}, "
          f"{tr.seconds_per_epoch:.3f} s/epoch; run saved to {args.out}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from graphemb import api

    rec = api.evaluate(args.run_dir, task=args.task, protocol=args.protocol, seed=args.seed,
                       device=args.device, data_root=args.data_root)
    if args.json:
        _print_json(rec)
    else:
        print(api.format_record(rec))
    return 0


def cmd_embed(args: argparse.Namespace) -> int:
    from graphemb import api

    path = api.export_embeddings(args.run_dir, level=args.level, out=args.out, pairs=args.pairs,
                                 readout=args.readout, data_root=args.data_root)
    print(f"wrote {path}")
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from graphemb import api

    _require_dataset(args)
    rec = api.reproduce(
        args.model, args.dataset, task=args.task, seeds=args.seeds, protocol=args.protocol,
        preset=args.preset, config_file=args.config, overrides=args.overrides, device=args.device,
        data_root=args.data_root, deterministic=args.deterministic,
        progress=False if args.no_progress else None, first_seed=args.first_seed,
    )
    if args.json:
        _print_json(rec)
    else:
        print(api.format_record(rec))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="graphemb", description=__doc__.splitlines()[0])
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("datasets", help="list registered datasets and whether they are found locally")
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_datasets)

    p = sub.add_parser("train", help="train an embedding model and save a run directory")
    p.add_argument("model", help="model name: isoc-vgae | vgae | gae")
    _add_common_train_args(p)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--out", required=True, help="run directory to create")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a run's frozen embeddings")
    p.add_argument("run_dir")
    p.add_argument("--task", choices=TASK_CHOICES, default=None)
    p.add_argument("--protocol", default=None,
                   help="node: linear|mlp; link: dot|mlp; graph: svm|mlp; ogb: the official OGB split and "
                        "Evaluator (the default on OGB datasets)")
    p.add_argument("--seed", type=int, default=None, help="probe seed (default: the run's seed)")
    p.add_argument("--device", default=None)
    p.add_argument("--data-root", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("embed", help="export a run's node, link or graph embeddings with their ids")
    p.add_argument("run_dir")
    p.add_argument("--level", choices=TASK_CHOICES, required=True)
    p.add_argument("--out", required=True, help=".npy (ids in <stem>.ids.npy) or .parquet (column 'id')")
    p.add_argument("--pairs", default=None, help="link level: CSV of node-id pairs (src,dst); default: the run's test pairs")
    p.add_argument("--readout", default=None, help="link: hadamard|concat|l1|l2; graph: sum|mean|max")
    p.add_argument("--data-root", default=None)
    p.set_defaults(func=cmd_embed)

    p = sub.add_parser("reproduce", help="train and evaluate over several seeds; mean ± std")
    p.add_argument("model")
    _add_common_train_args(p)
    p.add_argument("--seeds", type=int, default=5, help="number of seeds (0..N-1 after --first-seed)")
    p.add_argument("--first-seed", type=int, default=0)
    p.add_argument("--protocol", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    for mod in ("graphemb.multimodal.cli", "graphemb.matching.cli"):
        try:
            module = __import__(mod, fromlist=["add_subparser"])
        except ImportError as e:  # optional extras missing: the subcommand says how to get them
            _add_unavailable(sub, mod.split(".")[1], e)
            continue
        module.add_subparser(sub)
    return parser


def _add_unavailable(sub, name: str, err: Exception) -> None:
    cmd = {"multimodal": "mag", "matching": "match"}[name]
    p = sub.add_parser(cmd, help=f"(unavailable: {err})")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    def fail(args):
        raise RuntimeError(f"`graphemb {cmd}` is unavailable: {err}. Install the extras: pip install -e \".[text,match]\"")

    p.set_defaults(func=fail)


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("graphemb: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `graphemb datasets | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as e:  # noqa: BLE001 - the CLI turns errors into one clear line
        if args.debug or os.environ.get("GRAPHEMB_DEBUG"):
            raise
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"graphemb: error: {msg}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
