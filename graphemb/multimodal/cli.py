"""``graphemb mag ...``: encode node modalities (cached) and train GNN predictors on them.

    graphemb mag encode DATASET --modality text|image|multimodal --encoder NAME_OR_PATH [--device D] [--encoding E]
                        [--max-length T] [--dtype float32|bfloat16] [--threads N]
    graphemb mag train DATASET [--encoding E] --features SPEC --model mlp|gcn|sage|gat|egosep [--fusion NAME] [--shots K] [--seeds N] [--json]
    graphemb mag export DATASET [--encoding E] --features SPEC --out FEATURES.parquet

DATASET: ``synthetic-mag[:n=600,seed=0,...]``, a folder (plain or MAGB layout), or a name
resolved under ``$GRAPHEMB_DATA``.

SPEC names one or several feature sets joined by ``+``; each is ``MODALITY:ENCODER`` or the name
of a feature set stored with the dataset (MAGB ``.npy`` / plain ``features/*.npz``):
``text:minilm``, ``image:pixels``, ``text:minilm+image:/models/clip-vit-b32``,
``multimodal:/models/clip``, ``MiniLM_256_mean``. Encoder specs are encoded on the fly through
the same cache as ``mag encode`` (so a second run costs nothing). ``--max-length``, ``--dtype``
and ``--threads`` apply to transformer text encoders (``text:minilm``, a model folder); the
first two are part of the cache key, threads only change the speed.
"""
from __future__ import annotations

import argparse
import time

from graphemb.cli.output import result
from graphemb.multimodal.data import MultimodalGraph, load_mag

__all__ = ["add_subparser", "parse_feature_spec", "resolve_features"]

MODALITIES = ("text", "image", "multimodal")
# the predictor names (graphemb.multimodal.predictors.PREDICTORS), spelled here so that building the
# parser does not import torch; tests/test_multimodal_models.py checks that the two agree
PREDICTORS = ("mlp", "gcn", "sage", "gat", "egosep")


def load_encoder(modality: str, name: str, device: str = "cpu", text_options: dict | None = None):
    """The encoder behind ``MODALITY:NAME``; ``text_options`` (``max_length``, ``dtype``,
    ``threads``, ...) go to :func:`~graphemb.multimodal.encoders.text.load_text_encoder` for a
    transformer text model (TF-IDF has no tokens, so they do not apply to it)."""
    if modality == "text":
        from graphemb.multimodal.encoders.text import load_text_encoder

        if name.strip().lower().split(":")[0] == "tfidf":
            return load_text_encoder(name)
        return load_text_encoder(name, device=device, **(text_options or {}))
    if modality == "image":
        from graphemb.multimodal.encoders.image import load_image_encoder

        return load_image_encoder(name, device=device)
    if modality == "multimodal":
        from graphemb.multimodal.encoders.vlm import load_vlm_encoder

        return load_vlm_encoder(name, device=device)
    raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}")


def parse_feature_spec(spec: str) -> list[tuple[str | None, str]]:
    """``"text:minilm+image:pixels"`` -> ``[("text", "minilm"), ("image", "pixels")]``;
    a part without a known ``MODALITY:`` prefix is a stored feature name ``(None, name)``."""
    out: list[tuple[str | None, str]] = []
    for part in filter(None, (s.strip() for s in spec.split("+"))):
        mod, sep, name = part.partition(":")
        if sep and mod in MODALITIES:
            if not name:
                raise ValueError(f"feature spec {part!r} names no encoder; write e.g. text:minilm")
            out.append((mod, name))
        else:
            out.append((None, part))
    if not out:
        raise ValueError(f"empty feature spec {spec!r}; write e.g. text:minilm+image:pixels")
    return out


def resolve_features(graph: MultimodalGraph, spec: str, *, device: str = "cpu",
                     show_progress: bool | None = None, text_options: dict | None = None) -> list[str]:
    """Make sure every feature set of ``spec`` exists on ``graph`` (encoding through the cache);
    ``text_options`` go to the text encoders (:func:`load_encoder`)."""
    from graphemb.multimodal.encoders.cache import encode_graph

    names = []
    for mod, name in parse_feature_spec(spec):
        if mod is None:
            graph.feature(name)  # raises naming the available sets
            names.append(name)
        else:
            enc = load_encoder(mod, name, device, text_options)
            if getattr(enc, "fitted", True) is False:  # tfidf: fit on this graph's texts, then cache
                from graphemb.multimodal.encoders.cache import graph_items

                enc = enc.fit(graph_items(graph, mod))
            names.append(encode_graph(graph, mod, enc, show_progress=show_progress))
    return names


def cmd_encode(args: argparse.Namespace) -> int:
    from graphemb.multimodal.encoders.cache import encode_graph, feature_cache_dir

    graph = load_mag(args.dataset, encoding=args.encoding)
    enc = load_encoder(args.modality, args.encoder, args.device, _text_options(args))
    if getattr(enc, "fitted", True) is False:  # tfidf: fit on this graph's texts first
        from graphemb.multimodal.encoders.cache import graph_items

        enc = enc.fit(graph_items(graph, args.modality))
    key = encode_graph(graph, args.modality, enc, batch_size=args.batch_size)
    fs = graph.features[key]
    cache = feature_cache_dir(graph.name, args.modality, enc)
    result(args, f"{key}: {tuple(fs.x.shape)} for {graph.name} ({int(fs.mask.sum())} nodes with a vector); "
                 f"cached in {cache}",
           {"dataset": graph.name, "modality": args.modality, "feature_set": key, "shape": list(fs.x.shape),
            "nodes_with_vector": int(fs.mask.sum()), "cache": str(cache)})
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from graphemb.evaluation.stats import result_record
    from graphemb.multimodal.tasks import NodeTaskConfig, node_classification

    t0 = time.perf_counter()
    graph = load_mag(args.dataset, encoding=args.encoding)
    feats = resolve_features(graph, args.features, device=args.device, text_options=_text_options(args))
    fusion = args.fusion or "concat"
    cfg = NodeTaskConfig(model=args.model, fusion=fusion, epochs=args.epochs, device=args.device)
    res = node_classification(graph, feats, cfg, seeds=range(args.first_seed, args.first_seed + args.seeds),
                              shots=args.shots)
    protocol = f"{fusion}:{args.shots}-shot" if args.shots else f"{fusion}:60/20/20"
    text = (f"{args.model} on {graph.name} [{args.features}] {protocol}: accuracy "
            f"{100 * res['accuracy_mean']:.2f} ± {100 * res['accuracy_std']:.2f}, macro-F1 "
            f"{100 * res['macro_f1_mean']:.2f} ± {100 * res['macro_f1_std']:.2f} over {args.seeds} seeds")
    rec = result_record(args.model, graph.name, "node", protocol, "accuracy", res["accuracy"],
                        time.perf_counter() - t0, extra_values={"macro_f1": res["macro_f1"]})
    rec["features"] = args.features
    if args.predictions:
        import numpy as np

        from graphemb.export import write_table

        seeds = list(range(args.first_seed, args.first_seed + args.seeds))
        y = graph.y.numpy() if graph.y is not None else np.full(graph.num_nodes, -1)
        cols = np.stack([y, res["splits"][0], *res["predictions"]], 1)
        write_table(args.predictions, cols, {"id": np.asarray(graph.node_ids)},
                    columns=["label", "split", *[f"pred_seed{s}" for s in seeds]])
        rec["predictions"] = str(args.predictions)
    result(args, text, rec)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import numpy as np

    from graphemb.export import write_table

    graph = load_mag(args.dataset, encoding=args.encoding)
    names = resolve_features(graph, args.features, device=args.device, text_options=_text_options(args))
    x = np.concatenate([graph.features[n].x.numpy() for n in names], 1)
    cols = [f"{n}[{j}]" for n in names for j in range(graph.features[n].x.size(1))]
    path = write_table(args.out, x, {"id": np.asarray(graph.node_ids)}, columns=cols)
    result(args, f"wrote {x.shape[0]} x {x.shape[1]} features ({'+'.join(names)}) of {graph.name} to {path}",
           {"out": str(path), "dataset": graph.name, "feature_sets": names, "shape": list(x.shape)})
    return 0


def _text_options(args: argparse.Namespace) -> dict:
    return {"max_length": args.max_length, "dtype": args.dtype, "threads": args.threads}


def _add_text_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--max-length", type=int, default=256,
                   help="text encoders: tokens kept per text, longer texts are cut at the end (default 256; "
                        "part of the cache key)")
    p.add_argument("--dtype", choices=("float32", "bfloat16", "float16"), default="float32",
                   help="text encoders: the model's compute dtype (default float32; part of the cache key)")
    p.add_argument("--threads", type=int, default=None,
                   help="text encoders: torch threads while encoding (default: torch's setting)")


def add_subparser(subparsers) -> argparse.ArgumentParser:
    """Register the ``mag`` command group (``encode``, ``train``) on an argparse subparsers object."""
    p = subparsers.add_parser("mag", help="multimodal attributed graphs (MAGB): encode, train",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mag_command", required=True)
    e = sub.add_parser("encode", help="embed node text/images with a pretrained encoder (cached)")
    e.add_argument("dataset", help="synthetic-mag[:n=600,...], a MAG folder, or a name under $GRAPHEMB_DATA")
    e.add_argument("--encoding", default="utf-8", help="text encoding of the dataset's CSV files (default utf-8)")
    e.add_argument("--modality", choices=MODALITIES, required=True, help="which node content to encode")
    e.add_argument("--encoder", required=True,
                   help="minilm | tfidf[:DIM] (no model weights) | pixels | a local model folder | a hub name")
    e.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    e.add_argument("--batch-size", type=int, default=64, help="items per encoder batch (default 64)")
    _add_text_options(e)
    e.set_defaults(func=cmd_encode)
    t = sub.add_parser("train", help="node classification with a GNN predictor over fused features")
    t.add_argument("dataset", help="synthetic-mag[:n=600,...], a MAG folder, or a name under $GRAPHEMB_DATA")
    t.add_argument("--encoding", default="utf-8", help="text encoding of the dataset's CSV files (default utf-8)")
    t.add_argument("--features", required=True, help="SPEC, e.g. text:minilm+image:pixels")
    t.add_argument("--model", choices=PREDICTORS, default="gcn",
                   help="predictor (default gcn); egosep keeps ego and neighbour features apart (heterophily)")
    t.add_argument("--fusion", choices=("concat", "mean", "learned", "late"), default=None,
                   help="how several feature sets are combined (default concat)")
    t.add_argument("--shots", type=int, default=None, help="k training nodes per class (default: 60/20/20)")
    t.add_argument("--seeds", type=int, default=3, help="number of seeds (default 3)")
    t.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    t.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    t.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    _add_text_options(t)
    t.add_argument("--json", action="store_true", help="print one JSON result object as the last line")
    t.add_argument("--predictions", default=None, metavar="FILE",
                   help="also write every node's predicted class per seed with its id, label and split (.parquet or .npy)")
    t.set_defaults(func=cmd_train)
    x = sub.add_parser("export", help="write node features (encoded through the cache) with their node ids")
    x.add_argument("dataset", help="synthetic-mag[:n=600,...], a MAG folder, or a name under $GRAPHEMB_DATA")
    x.add_argument("--encoding", default="utf-8", help="text encoding of the dataset's CSV files (default utf-8)")
    x.add_argument("--features", required=True, help="SPEC, e.g. text:minilm+image:pixels (concatenated in order)")
    x.add_argument("--out", required=True, help=".parquet (column id, then one per dimension) or .npy (+ .ids.npy)")
    x.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N | auto (default cpu)")
    _add_text_options(x)
    x.set_defaults(func=cmd_export)
    return p
