"""Real text-attributed graphs (issue 12 §1): CiteSeer-TAG and WebKB/{Cornell, Texas, Washington,
Wisconsin} from ``../shared/datasets/mag``, MAGB protocol.

Features: MiniLM (all-MiniLM-L6-v2, offline package; mean pooling, 256 tokens), TF-IDF (256-d
LSA, fitted on the graph's own texts, no model) and the two fused (concatenated, each z-scored).
Supervised predictors MLP / GCN / SAGE / GAT / egosep (ego and neighbours kept apart, see
``graphemb/multimodal/predictors.py``) at full supervision (60/20/20) and 3/5/10-shot; then the
label-free IsoC-VGAE, GraphMAE and BGRL trained on the MiniLM features through
``graphemb.training.fit_embeddings`` and the core linear probe on the same splits, plus the same
probe on the MiniLM features themselves. Seed s seeds the split, the model and the probe.

Every finished (dataset, features, model, setting, seed) appends one JSON line to
``experiments/mag/records/real.jsonl`` at once, so a stopped run loses at most one cell and a
restart skips what is recorded with the current config. Each dataset is encoded once (feature
cache under $GRAPHEMB_CACHE); an ``encode`` record keeps the seconds of the first (uncached)
encoding.

    python experiments/mag/run_real.py --seeds 5 --threads 1
    python experiments/mag/run_real.py --time-encoding   # encode seconds, each into an empty cache
    python experiments/mag/make_results.py        # rebuilds experiments/mag/RESULTS.md
"""
from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
RECORDS = HERE / "records" / "real.jsonl"
SHARED_MAG = Path(os.environ.get("GRAPHEMB_SHARED_DATASETS", str(HERE.parents[2] / "shared" / "datasets"))) / "mag"

# WebKB first: small and fast, so an interrupted run still has whole tables
DATASETS = ("WebKB/Cornell", "WebKB/Texas", "WebKB/Washington", "WebKB/Wisconsin", "CiteSeer-TAG")
FEATURES = ("minilm", "tfidf", "fused")
PREDICTORS = ("mlp", "gcn", "sage", "gat", "egosep")
SETTINGS = {"full": None, "3-shot": 3, "5-shot": 5, "10-shot": 10}
UNSUPERVISED = ("isoc-vgae", "graphmae", "bgrl")
PROBE_INPUT = "probe-on-input"  # the linear probe on the MiniLM features themselves

# fixed before the run, not tuned: small enough for one CPU thread
SUPERVISED = dict(epochs=100, patience=30)
UNSUP_OVERRIDES = {"model": {"encoder": {"hidden_channels": 128}}, "train": {"epochs": 50, "lr": 1e-3}}
TEXT = dict(max_length=256, dtype="bfloat16")  # bfloat16: cosine > 0.9999 to float32 (bench_encode.json)


def read_records(path: Path = RECORDS) -> list[dict]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def append_record(rec: dict, path: Path = RECORDS) -> None:
    """One JSON line, flushed and synced, so a killed run keeps every finished cell."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(rec, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def key(rec: dict) -> tuple:
    return rec["kind"], rec["dataset"], rec.get("features"), rec.get("model"), rec.get("setting"), rec.get("seed")


def time_encoding(folder: str, threads: int) -> None:
    """Encode one graph into an empty temporary cache (so nothing is a cache hit) and record the
    seconds of each feature set (replacing an earlier encode record of the same key)."""
    import tempfile

    from graphemb.multimodal.data import load_mag

    g = load_mag(str(SHARED_MAG / folder))
    with tempfile.TemporaryDirectory() as tmp:
        feats, seconds, cached = encode(g, threads, root=tmp)
    for f in ("minilm", "tfidf"):
        append_record({"kind": "encode", "dataset": g.name, "features": f, "feature_sets": feats[f],
                       "seconds": seconds[f], "threads": threads, "text_options": TEXT if f == "minilm" else None,
                       "cached_before": cached[f], "fresh_cache": True})
    print(f"{g.name}: encoding timed", flush=True)


def encode(graph, threads: int, root=None) -> tuple[dict, dict, dict]:
    """``{"minilm": [name], "tfidf": [name], "fused": [both]}``, the encode seconds of each, and
    whether each was already in the feature cache (then the seconds are those of a cache hit)."""
    from graphemb.multimodal.encoders.cache import encode_graph, feature_cache_dir, graph_items
    from graphemb.multimodal.encoders.text import load_text_encoder

    seconds, names, cached = {}, {}, {}
    t0 = time.perf_counter()
    for f in ("minilm", "tfidf"):
        t0 = time.perf_counter()
        enc = (load_text_encoder("minilm", threads=threads, **TEXT) if f == "minilm"
               else load_text_encoder("tfidf").fit(graph_items(graph, "text")))
        cached[f] = any(feature_cache_dir(graph.name, "text", enc, root).glob("chunk-*.npz"))
        names[f] = encode_graph(graph, "text", enc, root=root, show_progress=False)
        seconds[f] = time.perf_counter() - t0
    return {"minilm": [names["minilm"]], "tfidf": [names["tfidf"]],
            "fused": [names["minilm"], names["tfidf"]]}, seconds, cached


def run_dataset(folder: str, seeds: list[int], threads: int, done: dict, features=FEATURES, settings=tuple(SETTINGS),
                unsupervised: bool = True) -> None:
    """The supervised cells of ``features`` x ``settings`` (default: all), then (``unsupervised``)
    the label-free models, each probed on every setting."""
    from graphemb.multimodal.data import load_mag
    from graphemb.multimodal.tasks import (NodeTaskConfig, embed_unsupervised, fused_features, probe_embeddings,
                                           train_node_classifier)

    g = load_mag(str(SHARED_MAG / folder))
    ds = g.name
    feats, enc_seconds, cached = encode(g, threads)
    for f in ("minilm", "tfidf"):
        rec = {"kind": "encode", "dataset": ds, "features": f, "feature_sets": feats[f]}
        if key(rec) not in done:  # the first encoding is the uncached one; keep its time
            rec.update(seconds=enc_seconds[f], threads=threads, text_options=TEXT if f == "minilm" else None,
                       cached_before=cached[f])
            append_record(rec)
            done[key(rec)] = rec
    ei = g.edge_index
    info = {"kind": "graph", "dataset": ds, "nodes": g.num_nodes, "edges": ei.size(1) // 2,
            "classes": g.num_classes, "homophily": float((g.y[ei[0]] == g.y[ei[1]]).float().mean())}
    if key(info) not in done:
        append_record(info)
        done[key(info)] = info
    for setting in settings:
        shots = SETTINGS[setting]
        for f in features:
            for m in PREDICTORS:
                cfg = NodeTaskConfig(model=m, **SUPERVISED)
                for s in seeds:
                    rec = {"kind": "supervised", "dataset": ds, "features": f, "model": m, "setting": setting,
                           "seed": s, "config": asdict(cfg)}
                    if done.get(key(rec), {}).get("config") == rec["config"]:
                        continue
                    t0 = time.perf_counter()
                    r = train_node_classifier(g, feats[f], cfg, seed=s, shots=shots, show_progress=False)
                    rec.update(seconds=time.perf_counter() - t0, accuracy=r["accuracy"], macro_f1=r["macro_f1"],
                               val_accuracy=r["val_accuracy"], best_epoch=r["best_epoch"])
                    append_record(rec)
                    done[key(rec)] = rec
            print(f"{ds} {setting} {f}: done", flush=True)
    for m in (PROBE_INPUT, *UNSUPERVISED) if unsupervised else ():
        config = {"overrides": UNSUP_OVERRIDES if m != PROBE_INPUT else None, "probe": "node/linear"}
        for s in seeds:
            recs = [{"kind": "unsupervised", "dataset": ds, "features": "minilm", "model": m, "setting": setting,
                     "seed": s, "config": config} for setting in SETTINGS]
            if all(done.get(key(r), {}).get("config") == config for r in recs):
                continue
            t0 = time.perf_counter()
            z = (fused_features(g, feats["minilm"]) if m == PROBE_INPUT else
                 embed_unsupervised(g, feats["minilm"], seed=s, model=m, overrides=UNSUP_OVERRIDES))
            train_seconds = time.perf_counter() - t0
            for rec, shots in zip(recs, SETTINGS.values()):
                t0 = time.perf_counter()
                p = probe_embeddings(g, z, seed=s, shots=shots)
                rec.update(train_seconds=train_seconds, probe_seconds=time.perf_counter() - t0,
                           accuracy=p["accuracy"], val_accuracy=p["val_accuracy"])
                append_record(rec)
                done[key(rec)] = rec
        print(f"{ds} unsupervised {m}: done", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--datasets", nargs="*", default=list(DATASETS), help=f"folders under {SHARED_MAG}")
    p.add_argument("--features", nargs="*", default=list(FEATURES), choices=FEATURES,
                   help="supervised cells of these feature sets only (default all)")
    p.add_argument("--settings", nargs="*", default=list(SETTINGS), choices=list(SETTINGS),
                   help="supervised cells of these settings only (default all)")
    p.add_argument("--no-unsupervised", action="store_true", help="skip the label-free models")
    p.add_argument("--time-encoding", action="store_true",
                   help="only re-time the encoding of each dataset into an empty temporary cache")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.time_encoding:
        for folder in a.datasets:
            time_encoding(folder, a.threads)
        return 0
    done = {key(r): r for r in read_records()}
    for folder in a.datasets:
        run_dataset(folder, list(range(a.seeds)), a.threads, done, a.features, a.settings, not a.no_unsupervised)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
