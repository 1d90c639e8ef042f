"""Tasks on multimodal attributed graphs with MAGB's protocol (arXiv 2410.09132).

Every feature set is z-scored per column first (over the nodes that have it; no labels used).

* node classification: random 60/20/20 split from a fixed seed (``k``-shot: ``k`` training nodes
  per class drawn from the 60% part; val/test unchanged), full-batch AdamW with label smoothing,
  the test score of the epoch with the best validation accuracy (earliest on ties), accuracy and
  macro-F1, mean ± std over seeds;
* link prediction: 85/5/10 edge split, a fused GNN scored by ``z_u . z_v``, each test edge ranked
  against ``num_negatives`` sampled corrupted tails with averaged ties (MRR, Hits@1/3/10);
* unsupervised: IsoC-VGAE (``graphemb.api.fit_embeddings``) on the concatenated z-scored
  features, then the core frozen-embedding probes (``graphemb.evaluation.protocols``:
  ``node/linear`` or ``node/mlp``) on the same 60/20/20 (or k-shot) masks. The core probes
  return accuracy only (no predictions), so the unsupervised results have no macro-F1.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score
from torch import Tensor
from tqdm.auto import tqdm

from graphemb.evaluation.ranking import hits_at_k, mrr, rank_against_negatives
from graphemb.evaluation.stats import summarize
from graphemb.multimodal.data import MultimodalGraph
from graphemb.multimodal.encoders.base import progress_enabled, resolve_device
from graphemb.multimodal.predictors import NodePredictor

__all__ = ["NodeTaskConfig", "random_split", "few_shot", "train_node_classifier", "node_classification",
           "link_prediction", "link_split", "node_split", "fused_features", "embed_unsupervised", "probe_embeddings",
           "unsupervised_node_classification"]


@dataclass
class NodeTaskConfig:
    """Training hyperparameters (MAGB-like defaults, sized for CPU)."""

    model: str = "gcn"
    fusion: str = "concat"
    hidden: int = 64
    fusion_dim: int = 64
    num_layers: int = 2
    dropout: float = 0.5
    lr: float = 0.01
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    epochs: int = 200
    patience: int = 50
    device: str = "cpu"
    extra: dict = field(default_factory=dict)


def random_split(num_nodes: int, seed: int, train: float = 0.6, val: float = 0.2) -> tuple[Tensor, Tensor, Tensor]:
    """Boolean train/val/test masks of a random ``train/val/rest`` split drawn from ``seed``."""
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(num_nodes, generator=g)
    n_tr, n_va = int(round(train * num_nodes)), int(round(val * num_nodes))
    masks = [torch.zeros(num_nodes, dtype=torch.bool) for _ in range(3)]
    masks[0][perm[:n_tr]] = True
    masks[1][perm[n_tr : n_tr + n_va]] = True
    masks[2][perm[n_tr + n_va :]] = True
    return masks[0], masks[1], masks[2]


def few_shot(train_mask: Tensor, y: Tensor, shots: int, seed: int) -> Tensor:
    """Keep ``shots`` random training nodes per class (all of a class if it has fewer)."""
    g = torch.Generator().manual_seed(seed + 7919)
    idx = train_mask.nonzero().view(-1)
    idx = idx[torch.randperm(idx.numel(), generator=g)]
    cls = y[idx]
    # rank of each node within its class in the shuffled order (vectorised)
    order = torch.argsort(cls, stable=True)
    sorted_cls = cls[order]
    start = torch.searchsorted(sorted_cls, sorted_cls, right=False)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel()) - start
    out = torch.zeros_like(train_mask)
    out[idx[rank < shots]] = True
    return out


def standardize(x: Tensor, mask: Tensor | None = None) -> Tensor:
    """Per-column z-score over the nodes that have a vector (label-free, transductive)."""
    rows = x if mask is None or not mask.any() else x[mask]
    out = (x - rows.mean(0)) / rows.std(0).clamp(min=1e-6)
    return out if mask is None else out * mask.view(-1, 1).to(x.dtype)


def _inputs(graph: MultimodalGraph, features: Sequence[str], device) -> tuple[list[Tensor], list[Tensor]]:
    xs = [standardize(graph.feature(f), graph.features[f].mask).to(device) for f in features]
    masks = [graph.features[f].mask.to(device) for f in features]
    return xs, masks


def _scores(logits: Tensor, y: Tensor, mask: Tensor) -> tuple[float, float]:
    pred = logits[mask].argmax(1).cpu().numpy()
    true = y[mask].cpu().numpy()
    return float((pred == true).mean()), float(f1_score(true, pred, average="macro"))


def train_node_classifier(graph: MultimodalGraph, features: Sequence[str], cfg: NodeTaskConfig | None = None, *,
                          seed: int = 0, shots: int | None = None, show_progress: bool | None = None) -> dict:
    """One seed of node classification; returns ``accuracy``, ``macro_f1`` (test, at the best
    validation epoch), ``val_accuracy``, ``best_epoch``, and ``predictions`` (``[N]`` class of
    every node at that epoch) with ``split`` (``[N]``: 0 train, 1 validation, 2 test, -1 unused)."""
    cfg = cfg or NodeTaskConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(seed)
    tr, va, te = node_split(graph, seed, shots)
    xs, masks = _inputs(graph, features, dev)
    y, ei = graph.y.to(dev), graph.edge_index.to(dev)
    net = NodePredictor([x.size(1) for x in xs], graph.num_classes, model=cfg.model, fusion=cfg.fusion,
                        hidden=cfg.hidden, fusion_dim=cfg.fusion_dim, num_layers=cfg.num_layers,
                        dropout=cfg.dropout).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    best = (-1.0, 0.0, 0.0, -1)
    best_pred = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    since = 0
    for epoch in tqdm(range(cfg.epochs), desc=f"{cfg.model}/{cfg.fusion}", leave=False,
                      disable=not progress_enabled(show_progress)):
        net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(xs, ei, masks)[tr], y[tr], label_smoothing=cfg.label_smoothing)
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            logits = net(xs, ei, masks)
        val_acc, _ = _scores(logits, y, va)
        if val_acc > best[0]:
            acc, f1 = _scores(logits, y, te)
            best, since = (val_acc, acc, f1, epoch), 0
            best_pred = logits.argmax(1).cpu()
        else:
            since += 1
            if since >= cfg.patience:
                break
    split = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    for code, m in enumerate((tr, va, te)):
        split[m.cpu()] = code
    return {"accuracy": best[1], "macro_f1": best[2], "val_accuracy": best[0], "best_epoch": best[3],
            "predictions": best_pred.numpy(), "split": split.numpy()}


def node_classification(graph: MultimodalGraph, features: Sequence[str], cfg: NodeTaskConfig | None = None, *,
                        seeds: Sequence[int] = (0, 1, 2), shots: int | None = None,
                        show_progress: bool | None = None) -> dict:
    """Run :func:`train_node_classifier` per seed; ``{"accuracy": [...], "macro_f1": [...],
    "accuracy_mean", "accuracy_std", "macro_f1_mean", "macro_f1_std", "seconds"}``."""
    t0 = time.perf_counter()
    runs = [train_node_classifier(graph, features, cfg, seed=s, shots=shots, show_progress=show_progress)
            for s in seeds]
    out: dict = {"seconds": time.perf_counter() - t0, "seeds": list(seeds)}
    out["predictions"] = [r["predictions"] for r in runs]  # one [N] array per seed
    out["splits"] = [r["split"] for r in runs]
    for k in ("accuracy", "macro_f1"):
        out[k] = [r[k] for r in runs]
        out[f"{k}_mean"], out[f"{k}_std"] = summarize(out[k])
    return out


# ---------------------------------------------------------------------------------------------
def _split_edges(edge_index: Tensor, num_nodes: int, seed: int, val: float = 0.05, test: float = 0.10):
    und = edge_index[:, edge_index[0] < edge_index[1]]
    g = torch.Generator().manual_seed(seed)
    perm = torch.randperm(und.size(1), generator=g)
    n_te, n_va = int(round(test * und.size(1))), int(round(val * und.size(1)))
    te, va, tr = und[:, perm[:n_te]], und[:, perm[n_te : n_te + n_va]], und[:, perm[n_te + n_va :]]
    return torch.cat([tr, tr.flip(0)], 1), va, te


def _corrupt_tails(pos: Tensor, num_nodes: int, k: int, g: torch.Generator) -> Tensor:
    """``[Q, k]`` random tails for each positive ``(u, v)`` (may include true edges; rare)."""
    return torch.randint(0, num_nodes, (pos.size(1), k), generator=g)


def link_split(graph: MultimodalGraph, seed: int, num_negatives: int = 100, *,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The evaluation split :func:`link_prediction` uses for ``seed``: ``(train_edge_index [2, 2T]
    (both directions), val [2, V], val_negatives [V, k], test [2, Q], test_negatives [Q, k])``.
    Negatives are random tails drawn from ``generator`` (default: seeded with ``seed + 1``)."""
    g = generator if generator is not None else torch.Generator().manual_seed(seed + 1)
    train_ei, va, te = _split_edges(graph.edge_index, graph.num_nodes, seed)
    neg_va = _corrupt_tails(va, graph.num_nodes, num_negatives, g)
    neg_te = _corrupt_tails(te, graph.num_nodes, num_negatives, g)
    return train_ei, va, neg_va, te, neg_te


def link_prediction(graph: MultimodalGraph, features: Sequence[str], cfg: NodeTaskConfig | None = None, *,
                    seed: int = 0, num_negatives: int = 100, ks: Sequence[int] = (1, 3, 10)) -> dict:
    """Link prediction with a fused GNN (dot-product decoder, BCE with one random negative per
    positive); test edges ranked against ``num_negatives`` corrupted tails, ties averaged.

    Returns ``{"mrr", "hits@1", "hits@3", "hits@10", "val_mrr"}`` at the best validation epoch.
    """
    cfg = cfg or NodeTaskConfig()
    dev = resolve_device(cfg.device)
    torch.manual_seed(seed)
    n = graph.num_nodes
    g = torch.Generator().manual_seed(seed + 1)
    train_ei, va, neg_va, te, neg_te = link_split(graph, seed, num_negatives, generator=g)
    xs, masks = _inputs(graph, features, dev)
    net = NodePredictor([x.size(1) for x in xs], cfg.hidden, model=cfg.model, fusion=cfg.fusion, hidden=cfg.hidden,
                        fusion_dim=cfg.fusion_dim, num_layers=cfg.num_layers, dropout=cfg.dropout).to(dev)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    train_ei = train_ei.to(dev)

    def ranks(z: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
        pos, neg = pos.to(dev), neg.to(dev)
        ps = (z[pos[0]] * z[pos[1]]).sum(-1)
        ns = (z[pos[0]].unsqueeze(1) * z[neg]).sum(-1)
        return rank_against_negatives(ps.cpu(), ns.cpu(), ties="average")

    best: dict = {"val_mrr": -1.0}
    since = 0
    for epoch in range(cfg.epochs):
        net.train()
        opt.zero_grad()
        z = net(xs, train_ei, masks)
        pos = train_ei
        neg = torch.stack([pos[0], torch.randint(0, n, (pos.size(1),), generator=g).to(dev)])
        ps, ns = (z[pos[0]] * z[pos[1]]).sum(-1), (z[neg[0]] * z[neg[1]]).sum(-1)
        loss = F.binary_cross_entropy_with_logits(torch.cat([ps, ns]), torch.cat([torch.ones_like(ps), torch.zeros_like(ns)]))
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            z = net(xs, train_ei, masks)
            v = mrr(ranks(z, va, neg_va))
            if v > best["val_mrr"]:
                r = ranks(z, te, neg_te)
                best = {"val_mrr": v, "mrr": mrr(r), **{f"hits@{k}": hits_at_k(r, k) for k in ks}, "best_epoch": epoch}
                since = 0
            else:
                since += 1
                if since >= cfg.patience:
                    break
    return best


def node_split(graph: MultimodalGraph, seed: int, shots: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """MAGB's split of the labelled nodes: random 60/20/20 from ``seed`` (``shots``: ``k`` train
    nodes per class from the 60% part, val/test unchanged). The same masks as
    :func:`train_node_classifier` uses for that seed."""
    if graph.y is None:
        raise ValueError(f"{graph.name!r} has no labels; node classification needs y")
    labelled = graph.y >= 0
    tr, va, te = (m & labelled for m in random_split(graph.num_nodes, seed))
    if shots is not None:
        tr = few_shot(tr, graph.y, shots, seed)
    return tr, va, te


def fused_features(graph: MultimodalGraph, features: Sequence[str]) -> Tensor:
    """``[N, sum d_m]``: the named feature sets, each z-scored per column (zero rows where a node
    lacks the modality), concatenated (the ``concat`` fusion, fixed since no labels are used)."""
    xs, _ = _inputs(graph, features, torch.device("cpu"))
    return torch.cat(xs, 1)


def embed_unsupervised(graph: MultimodalGraph, features: Sequence[str], *, seed: int = 0,
                       model: str = "isoc-vgae", overrides: dict | None = None, device: str = "cpu") -> Tensor:
    """Node embeddings ``[N, d]`` of a label-free model (default IsoC-VGAE, arXiv 2312.05519)
    trained by :func:`graphemb.api.fit_embeddings` on :func:`fused_features`.

    Args:
        overrides: nested config values, e.g. ``{"model": {"encoder": {"hidden_channels": 128}},
            "train": {"epochs": 50, "lr": 1e-3}}``; default: the model's own defaults.
    """
    from graphemb.api import fit_embeddings

    data = graph.to_pyg()
    data.x = fused_features(graph, features)
    return fit_embeddings(data, model, overrides=overrides, seed=seed, device=device).detach().cpu()


def probe_embeddings(graph: MultimodalGraph, embeddings: Tensor, *, seed: int = 0, shots: int | None = None,
                     protocol: str = "linear", options: dict | None = None, device: str = "cpu") -> dict:
    """One seed of a core frozen-embedding probe (``graphemb.evaluation.protocols``, task
    ``node``, ``protocol`` ``linear`` | ``mlp``) on :func:`node_split` ``(seed, shots)``.

    ``node/mlp`` is run with ``train_on="mask"`` so that it trains on the same (k-shot) train
    nodes, not on every node outside val/test. Returns ``{"accuracy", "val_accuracy"}`` (the core
    protocols expose no predictions, hence no macro-F1).
    """
    from graphemb.evaluation.protocols import EvalInputs, run_protocol

    tr, va, te = node_split(graph, seed, shots)
    opts = {"train_on": "mask"} if protocol == "mlp" else {}
    opts.update(options or {})
    r = run_protocol("node", protocol, EvalInputs(embeddings, y=graph.y, train_mask=tr, val_mask=va, test_mask=te,
                                                  options=opts), seed, device)
    return {"accuracy": float(r.value), "val_accuracy": float(r.extra.get("val_accuracy", float("nan")))}


def unsupervised_node_classification(graph: MultimodalGraph, features: Sequence[str], *, seeds: Sequence[int] = (0,),
                                     shots: int | None = None, protocol: str = "linear",
                                     model: str = "isoc-vgae", overrides: dict | None = None,
                                     probe_options: dict | None = None, device: str = "cpu") -> dict:
    """IsoC-VGAE (or any registered embedding model) on the fused features, then a core probe
    (:func:`probe_embeddings`) on MAGB's split; seed ``s`` seeds both the model and the split.

    Returns ``{"accuracy": [...], "accuracy_mean", "accuracy_std", "val_accuracy": [...], "seeds",
    "protocol", "seconds"}``. Accuracy only: the core probes return no predictions, so there is no
    macro-F1 here (unlike :func:`node_classification`).
    """
    t0 = time.perf_counter()
    runs = []
    for s in seeds:
        z = embed_unsupervised(graph, features, seed=s, model=model, overrides=overrides, device=device)
        runs.append(probe_embeddings(graph, z, seed=s, shots=shots, protocol=protocol, options=probe_options,
                                     device=device))
    accs = [r["accuracy"] for r in runs]
    mean, std = summarize(accs)
    return {"accuracy": accs, "accuracy_mean": mean, "accuracy_std": std,
            "val_accuracy": [r["val_accuracy"] for r in runs], "seeds": list(seeds), "protocol": f"node/{protocol}",
            "seconds": time.perf_counter() - t0}
