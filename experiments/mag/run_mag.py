"""MAG results table: text-only, image-only, concat and learned fusion x MLP / GCN / SAGE / GAT,
full supervision (60/20/20) and 3-shot; unsupervised IsoC-VGAE + the core linear probe; and link
prediction (GCN / SAGE on concat features), mean ± std over seeds.

Default graph: the synthetic MAG. Text: all-MiniLM-L6-v2 (offline package); image: the
weight-free ``pixels`` encoder (8x8 RGB; no vision weights are available offline). Features are
cached under $GRAPHEMB_CACHE.

    python experiments/mag/run_mag.py --seeds 3   # its output is the top of experiments/mag/RESULTS.md

On a MAGB dataset (``<Name>.csv`` + ``<Name>Graph.pt`` + ``<Name>_<enc>_<len>_<pool>.npy``) or a
plain-layout folder, loaded by :func:`graphemb.multimodal.load_mag`; feature files the dataset
ships are used by name (``magb_feature_name``: ``<enc>_<len>_<pool>``), otherwise the text /
images are encoded with ``--text-encoder`` / ``--image-encoder``:

    python experiments/mag/run_mag.py --dataset /data/MAGB/Movies --seeds 3 \\
        --text-feature Llama-3.2-1B-Instruct_512_mean --image-feature CLIP-ViT-L-14_256_mean
"""
from __future__ import annotations

import argparse
import sys
import time

import torch

from graphemb.evaluation.ranking import hits_at_k, mrr, rank_against_negatives
from graphemb.evaluation.stats import summarize
from graphemb.multimodal.data import MultimodalGraph, load_mag
from graphemb.multimodal.encoders.cache import encode_graph
from graphemb.multimodal.encoders.image import load_image_encoder
from graphemb.multimodal.encoders.text import load_text_encoder
from graphemb.multimodal.synthetic import make_synthetic_mag
from graphemb.multimodal.tasks import (NodeTaskConfig, embed_unsupervised, fused_features, link_prediction,
                                       link_split, node_classification, probe_embeddings)

MODELS = ("mlp", "gcn", "sage", "gat")
SHOTS = ((None, "full"), (3, "3-shot"))


def _pm(values: list[float], scale: float = 100.0, digits: int = 1) -> str:
    m, s = summarize(values)
    return f"{scale * m:.{digits}f} ± {scale * s:.{digits}f}"


def _feature(g: MultimodalGraph, modality: str, name: str | None, encoder: str) -> tuple[str, str]:
    """``(feature name, description)``: a feature set the dataset ships, or one encoded now."""
    if name is not None:
        if name not in g.features:
            raise SystemExit(f"--{modality}-feature {name!r} is not a feature set of {g.name!r}; it has "
                             f"{sorted(g.features) or 'none'} (MAGB files <Name>_<enc>_<len>_<pool>.npy are "
                             f"named <enc>_<len>_<pool>)")
        return name, f"`{name}` ({g.features[name].x.size(1)}-d, shipped with the dataset)"
    if modality == "text":
        key = encode_graph(g, "text", load_text_encoder(encoder), show_progress=False)
        desc = ("all-MiniLM-L6-v2" if encoder == "minilm" else f"`{encoder}`") + " (mean pooling, max length 256)"
    else:
        key = encode_graph(g, "image", load_image_encoder(encoder), show_progress=False)
        desc = "`pixels` (8x8 RGB)" if encoder == "pixels" else f"`{encoder}`"
    return key, f"{desc}, {g.features[key].x.size(1)}-d"


def class_oracle_link(g: MultimodalGraph, seed: int, num_negatives: int) -> dict:
    """Reference scorer that uses the labels: score 1 when both ends share a class, else 0
    (ties averaged), on the same test edges and negatives as :func:`link_prediction`."""
    _, _, _, te, neg = link_split(g, seed, num_negatives)
    y = g.y
    r = rank_against_negatives((y[te[0]] == y[te[1]]).float(), (y[te[0]].unsqueeze(1) == y[neg]).float(),
                               ties="average")
    return {"mrr": mrr(r), **{f"hits@{k}": hits_at_k(r, k) for k in (1, 3, 10)}}


def link_block(g: MultimodalGraph, text: str, image: str, seeds: list, a) -> dict:
    """Print the link-prediction table; returns the mean MRR per model."""
    print("## Link prediction (concat features)\n")
    print(f"85/5/10 split of the undirected edges (split seed = run seed); the fused GNN (the predictor "
          f"settings above, output width 64) scores `z_u . z_v`, trained with BCE against one corrupted "
          f"tail per training edge (redrawn each epoch, never a training edge), best validation-MRR epoch "
          f"(at most {a.epochs}, patience 50); each test edge (u, v) is ranked against {a.negatives} "
          f"filtered corrupted tails (distinct, never u and never a true tail of u: no train/val/test "
          f"edge of u counts as a negative), ties averaged. Mean ± std over "
          f"{a.seeds} seeds; the MLP row (no message passing) is a reference, and so is the last row, a scorer that "
          f"reads the labels (1 if both ends share a class, else 0; ties averaged, so its order within a class is "
          f"random): what class membership alone gives. A model can exceed it by ordering candidates within a "
          f"class.\n")
    print("| model | MRR | Hits@1 | Hits@3 | Hits@10 |")
    print("|---|---|---|---|---|")
    link: dict = {}
    for m in ("mlp", "gcn", "sage"):
        rs = [link_prediction(g, [text, image], NodeTaskConfig(model=m, epochs=a.epochs), seed=s,
                              num_negatives=a.negatives) for s in seeds]
        link[m] = summarize([r["mrr"] for r in rs])[0]
        print(f"| {m.upper()} | " + " | ".join(_pm([r[k] for r in rs], 1.0, 3)
                                               for k in ("mrr", "hits@1", "hits@3", "hits@10")) + " |", flush=True)
    rs = [class_oracle_link(g, s, a.negatives) for s in seeds]
    print("| same-class oracle (labels) | " + " | ".join(_pm([r[k] for r in rs], 1.0, 3)
                                                       for k in ("mrr", "hits@1", "hits@3", "hits@10")) + " |")
    print()

    return link


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--dataset", default=None,
                   help="MAGB or plain-layout folder (or name under $GRAPHEMB_DATA); default: the synthetic MAG")
    p.add_argument("--nodes", type=int, default=600, help="synthetic MAG only")
    p.add_argument("--data-seed", type=int, default=0, help="synthetic MAG only")
    p.add_argument("--text-feature", default=None, help="use this shipped feature set as the text modality")
    p.add_argument("--image-feature", default=None, help="use this shipped feature set as the image modality")
    p.add_argument("--text-encoder", default="minilm")
    p.add_argument("--image-encoder", default="pixels")
    p.add_argument("--epochs", type=int, default=100, help="supervised predictors and link prediction")
    p.add_argument("--unsup-hidden", type=int, default=128)
    p.add_argument("--unsup-epochs", type=int, default=50)
    p.add_argument("--unsup-lr", type=float, default=1e-3)
    p.add_argument("--negatives", type=int, default=100, help="sampled negatives per test edge")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--only", choices=["link"], default=None,
                   help="run only this block (its output replaces that section of RESULTS.md)")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    g = make_synthetic_mag(num_nodes=a.nodes, seed=a.data_seed) if a.dataset is None else load_mag(a.dataset)
    if g.y is None or g.num_classes < 2:
        raise SystemExit(f"{g.name!r} has no class labels; the node-classification table needs them")
    text, text_desc = _feature(g, "text", a.text_feature, a.text_encoder)
    image, image_desc = _feature(g, "image", a.image_feature, a.image_encoder)
    rows = [("text", [text], "concat"), ("image", [image], "concat"),
            ("concat", [text, image], "concat"), ("learned", [text, image], "learned")]
    seeds = list(range(a.seeds))
    ei = g.edge_index
    lab = (g.y[ei[0]] >= 0) & (g.y[ei[1]] >= 0)
    homophily = float((g.y[ei[0]] == g.y[ei[1]])[lab].float().mean())
    cmd = "python experiments/mag/run_mag.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"# MAG results: {'synthetic MAG' if a.dataset is None else g.name}\n\nCommand: `{cmd.strip()}`\n")
    print(f"Graph `{g.name}`: {g.num_nodes} nodes, {ei.size(1) // 2} edges, {g.num_classes} classes, "
          f"edge homophily {homophily:.2f}. Text features: {text_desc}; image features: {image_desc}. "
          f"Node classification, test accuracy (%) at the best validation epoch, mean ± std over "
          f"{a.seeds} seeds (split seed = run seed).\n")
    print("Predictors (same for every cell, no per-model tuning): 2 layers, hidden 64, dropout 0.5 once per "
          f"layer, AdamW lr 0.01, weight decay 5e-4, label smoothing 0.1, at most {a.epochs} epochs, early "
          "stopping on validation accuracy (patience 50); GAT: 4 concatenated heads, "
          "`EncoderConfig(gat_uniform_init=True)` (attention vectors start at zero = uniform attention, "
          "see `graphemb/nn/encoders.py`).\n")
    if a.only == "link":
        link = link_block(g, text, image, seeds, a)
        print(f"- link prediction, MRR: GCN {'>' if link['gcn'] > link['mlp'] else '<='} MLP, "
              f"SAGE {'>' if link['sage'] > link['mlp'] else '<='} MLP\n")
        print(f"Total time: {time.perf_counter() - t0:.0f} s on {a.threads} CPU thread(s).")
        return 0
    means: dict = {}
    for shots, title in ((None, "Full supervision (60/20/20)"), (3, "3-shot (3 train nodes per class, same val/test)")):
        print(f"## {title}\n")
        print("| features | " + " | ".join(m.upper() for m in MODELS) + " |")
        print("|---|" + "---|" * len(MODELS))
        for name, feats, fusion in rows:
            cells = []
            for m in MODELS:
                r = node_classification(g, feats, NodeTaskConfig(model=m, fusion=fusion, epochs=a.epochs),
                                        seeds=seeds, shots=shots, show_progress=False)
                cells.append(_pm(r["accuracy"]))
                means[shots, name, m] = r["accuracy_mean"]
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
        print()

    # ---- unsupervised: IsoC-VGAE on the fused features, then the core linear probe ----------------
    overrides = {"model": {"encoder": {"hidden_channels": a.unsup_hidden}},
                 "train": {"epochs": a.unsup_epochs, "lr": a.unsup_lr}}
    print("## Unsupervised: IsoC-VGAE + linear probe\n")
    print(f"IsoC-VGAE (`graphemb.api.fit_embeddings(data, \"isoc-vgae\", overrides=..., seed=s)`) trained without "
          f"labels on the z-scored features (concatenated for `concat`): the model defaults (2-layer GCN "
          f"encoder, no bias, BatchNorm on the hidden layer, loss weights 1 / 0.1 / 1) with hidden width "
          f"{a.unsup_hidden}, {a.unsup_epochs} epochs, Adam lr {a.unsup_lr:g}; a fixed small config, not tuned. "
          "Then the core `node/linear` probe (`graphemb.evaluation.protocols`; logistic regression, Adam lr "
          "0.01, 300 epochs, weight decay in {1e-4, 1e-3, 1e-2} and epoch chosen on validation accuracy) on "
          "the same 60/20/20 and 3-shot masks as above; seed s seeds the model, the split and the probe. "
          "Reference columns: the same probe on the z-scored input features themselves. Test accuracy (%); "
          "the core probe returns accuracy only (no predictions), so there is no macro-F1 here.\n")
    print("| features | IsoC-VGAE, full | IsoC-VGAE, 3-shot | input features, full | input features, 3-shot |")
    print("|---|---|---|---|---|")
    unsup: dict = {}
    t_unsup = time.perf_counter()
    for name, feats, _ in rows[:3]:
        acc: dict = {}
        for s in seeds:
            embs = {"isoc": embed_unsupervised(g, feats, seed=s, overrides=overrides),
                    "input": fused_features(g, feats)}
            for kind, z in embs.items():
                for shots, tag in SHOTS:
                    acc.setdefault((kind, tag), []).append(probe_embeddings(g, z, seed=s, shots=shots)["accuracy"])
        unsup[name] = {k: summarize(v)[0] for k, v in acc.items()}
        print(f"| {name} | " + " | ".join(_pm(acc[k, t]) for k in ("isoc", "input") for _, t in SHOTS) + " |",
              flush=True)
    print(f"\n({time.perf_counter() - t_unsup:.0f} s for this block.)\n")

    link = link_block(g, text, image, seeds, a)

    print("## Checks (on the mean test scores above)\n")
    for shots, label in ((None, "full supervision"), (3, "3-shot")):
        lose = [f"{m.upper()} on {n}" for n, _, _ in rows for m in MODELS[1:]
                if means[shots, n, m] <= means[shots, n, "mlp"]]
        print(f"- {label}, graph model > MLP on the same features: "
              + ("all 12 cells" if not lose else "fails for " + ", ".join(lose)))
        lose = [f"{m.upper()}/{f}" for m in MODELS for f in ("concat", "learned")
                if means[shots, f, m] <= max(means[shots, "text", m], means[shots, "image", m])]
        print(f"- {label}, fusion > each single modality for the same model: "
              + ("all 8 cells" if not lose else "fails for " + ", ".join(lose)))
    for _, tag in SHOTS:
        vs_input = ", ".join(f"{n} {'yes' if unsup[n]['isoc', tag] > unsup[n]['input', tag] else 'no'}"
                             for n, _, _ in rows[:3])
        fused = unsup["concat"]["isoc", tag] > max(unsup["text"]["isoc", tag], unsup["image"]["isoc", tag])
        print(f"- unsupervised {tag}, IsoC-VGAE > the probe on its input features: {vs_input}; "
              f"IsoC-VGAE on concat > on each single modality: {'yes' if fused else 'no'}")
    print(f"- link prediction, MRR: GCN {'>' if link['gcn'] > link['mlp'] else '<='} MLP, "
          f"SAGE {'>' if link['sage'] > link['mlp'] else '<='} MLP")
    print()
    print(f"Total time: {time.perf_counter() - t0:.0f} s on {a.threads} CPU thread(s).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
