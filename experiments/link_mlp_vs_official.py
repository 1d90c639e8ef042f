"""Why the `paper` preset's Cora link `mlp` AUC sits below the official IsoC-VGAE code's.

The official ``train_link.py`` differs from ``graphemb``'s link ``mlp`` protocol in two places that
do not change the encoder recipe (read from github upperr/IsoC-VGAE):

* embeddings: it keeps ``h^L`` of the *train-mode* forward pass of its best-loss epoch (BatchNorm
  with batch statistics), ours embeds in eval mode (BatchNorm running statistics);
* predictor pairs: PyG's ``train_test_split_edges`` stores the training positives in *both*
  directions and ``do_edge_split`` samples as many negatives, so each epoch sees every training
  edge twice and twice as many distinct negatives (twice the optimiser steps); ours trains on one
  direction and as many negatives.

A third difference is in the encoder: the official ``model.py`` passes each layer the activation
``lambda x: x if layer == L - 1 else nn.ReLU()``, whose ``layer`` is late-bound, so every encoder
layer is linear; graphemb applies the ReLU (a documented, deliberate difference).
``--linear-encoder`` also trains that variant (``model.encoder.act=identity``, every other setting
and the split unchanged) and scores it twice: our way (eval-mode embeddings, one direction) and the
official way (train-mode embeddings, both-direction pairs).

For each seed this trains the `paper` preset once (``experiments/configs/isoc-vgae_paper_cora_link.yaml``,
the RESULTS row) and scores the four combinations on the same split, writing one record per
variant to ``experiments/results/ablation_link_mlp_<dataset>.json`` (mean ± std over seeds).
``--linear-only`` scores only ``ours`` and the two linear-encoder variants (implies
``--linear-encoder``; a third of the CPU time of the full set) and writes
``ablation_link_mlp_<dataset>_linear.json``, so the four-variant record stays. ``--variants``
picks any subset by short name (``ours``, ``train-mode``, ``both-pairs``, ``official``, ``linear``,
``linear-official``) into ``ablation_link_mlp_<dataset>_<names>.json``.

    python experiments/link_mlp_vs_official.py --seeds 3 --threads 1 [--dataset Cora] [--linear-encoder | --linear-only]
    python experiments/link_mlp_vs_official.py --seeds 3 --threads 1 --variants ours,official
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import torch

from graphemb.utils.io import write_json

HERE = Path(__file__).resolve().parent
VARIANTS = ("ours", "train-mode embeddings", "both-direction pairs", "official (both)")
LINEAR = ("linear encoder", "official (both) + linear encoder")
SHORT = dict(zip(("ours", "train-mode", "both-pairs", "official", "linear", "linear-official"), VARIANTS + LINEAR))


@torch.no_grad()
def train_mode_embeddings(model, data) -> torch.Tensor:
    """``h^L`` of a train-mode forward pass (BatchNorm batch statistics), as the official code."""
    model.train()
    try:
        return model.encoder(data.x, data.edge_index)[-1].detach().cpu()
    finally:
        model.eval()


def official_pairs(split, num_nodes: int, seed: int):
    """Training positives in both directions and as many negatives (official ``do_edge_split``)."""
    from graphemb.evaluation.link import training_negatives

    both = torch.cat([split.train_pos, split.train_pos.flip(0)], 1)
    neg = torch.cat([training_negatives(split.train_pos, num_nodes, seed),
                     training_negatives(split.train_pos, num_nodes, seed + 1_000_003)], 1)
    return SimpleNamespace(train_pos=both, train_neg=neg, val_pos=split.val_pos, val_neg=split.val_neg,
                           test_pos=split.test_pos, test_neg=split.test_neg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dataset", default="Cora")
    p.add_argument("--linear-encoder", action="store_true", help="also train the official linear encoder")
    p.add_argument("--linear-only", action="store_true",
                   help="score only 'ours' and the linear-encoder variants (own record file)")
    p.add_argument("--variants", default=None, help=f"comma-separated subset of {', '.join(SHORT)}")
    p.add_argument("--config", default=None, help="row config (default experiments/configs/isoc-vgae_paper_<dataset>_link.yaml)")
    p.add_argument("--out", default=None, help="record file (default experiments/results/ablation_link_mlp_<dataset>.json)")
    args = p.parse_args()
    if args.variants:
        unknown = set(args.variants.split(",")) - set(SHORT)
        if unknown:
            p.error(f"unknown --variants {sorted(unknown)}; choose from {', '.join(SHORT)}")
        variants = tuple(v for k, v in SHORT.items() if k in args.variants.split(","))
    else:
        args.linear_encoder = args.linear_encoder or args.linear_only
        variants = (VARIANTS[:1] if args.linear_only else VARIANTS) + (LINEAR if args.linear_encoder else ())
    torch.set_num_threads(args.threads)
    from graphemb import api
    from graphemb.config import build_run_config
    from graphemb.evaluation.link import mlp_protocol

    cfg_file = args.config or HERE / "configs" / f"isoc-vgae_paper_{args.dataset.lower()}_link.yaml"
    base = build_run_config(config_file=cfg_file)
    data = api.load_data(base)
    results = {v: [] for v in variants}
    start = time.perf_counter()
    for s in range(args.seeds):
        cfg = replace(base, train=replace(base.train, seed=s, device="cpu", progress=False))
        run = api.train_config(cfg, data)
        n = run.embeddings.size(0)
        emb = {"eval": run.embeddings, "train": train_mode_embeddings(run.model, run.split.train_data)}
        pairs = {"ours": run.split, "both": official_pairs(run.split, n, s)}
        for v, (e, pr) in zip(VARIANTS, (("eval", "ours"), ("train", "ours"), ("eval", "both"), ("train", "both"))):
            if v in results:
                results[v].append(mlp_protocol(emb[e], pairs[pr], seed=s))
        if set(LINEAR) & set(results):
            enc = replace(cfg.model.encoder, act="identity")
            lin = api.train_config(replace(cfg, model=replace(cfg.model, encoder=enc)), data)
            if LINEAR[0] in results:
                results[LINEAR[0]].append(mlp_protocol(lin.embeddings, lin.split, seed=s))
            if LINEAR[1] in results:
                results[LINEAR[1]].append(mlp_protocol(train_mode_embeddings(lin.model, lin.split.train_data),
                                                       official_pairs(lin.split, n, s), seed=s))
        print(f"seed {s}: " + "; ".join(f"{v} {results[v][-1].value:.4f}" for v in variants), flush=True)
        records = write_records(args, data.name, results, s + 1, time.perf_counter() - start)
    for r in records:
        print(f"{r['variant']}: AUC {100 * r['mean']:.2f} ± {100 * r['std']:.2f}; AP {100 * r['ap']['mean']:.2f}")


def write_records(args, dataset: str, results: dict, seeds_done: int, seconds: float) -> list:
    """Store one record per variant over the seeds done so far (after every seed, so a stopped
    run keeps them); the command is the one that reproduces exactly those seeds."""
    from graphemb.evaluation.stats import record_from_results

    flag = (f" --variants {args.variants}" if args.variants else " --linear-only" if args.linear_only else
            " --linear-encoder" if args.linear_encoder else "")
    cmd = (f"python experiments/link_mlp_vs_official.py --seeds {seeds_done} --threads {args.threads} "
           f"--dataset {args.dataset}{flag}")
    records = []
    for v, res in results.items():
        rec = record_from_results("isoc-vgae", dataset, "link", "mlp", res, seconds)
        rec.update(preset="paper", variant=v, command=cmd, device="cpu")
        records.append(rec)
    suffix = ("_" + args.variants.replace(",", "_")) if args.variants else "_linear" if args.linear_only else ""
    out = Path(args.out) if args.out else HERE / "results" / f"ablation_link_mlp_{args.dataset.lower()}{suffix}.json"
    write_json(out, {"records": records}, indent=1)
    return records


if __name__ == "__main__":
    main()
