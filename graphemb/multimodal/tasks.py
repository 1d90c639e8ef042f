"""Tasks on multimodal attributed graphs with MAGB's protocol (arXiv 2410.09132).

Every feature set is z-scored per column first (over the nodes that have it; no labels used).

* node classification: random 60/20/20 split from a fixed seed (``k``-shot: ``k`` training nodes
  per class drawn from the 60% part; val/test unchanged), full-batch AdamW with label smoothing,
  the test score of the epoch with the best validation accuracy (earliest on ties), accuracy and
  macro-F1, mean ± std over seeds;
* link prediction: 85/5/10 edge split (:func:`graphemb.data.splits.split_edges`), a fused GNN
  scored by ``z_u . z_v``, each test edge ``(u, v)`` ranked against ``num_negatives`` *filtered*
  corrupted tails (:func:`graphemb.data.splits.sample_corrupted_tails`: never ``u`` itself and
  never a true tail of ``u``, i.e. any train/val/test edge of ``u``), ties averaged (MRR,
  Hits@1/3/10);
* unsupervised: IsoC-VGAE (``graphemb.training.embeddings.fit_embeddings``) on the concatenated z-scored
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

from graphemb.data.splits import sample_corrupted_tails, split_edges
from graphemb.evaluation.ranking import hits_at_k, mrr, rank_against_negatives
from graphemb.evaluation.stats import summarize
from graphemb.multimodal.data import MultimodalGraph
from graphemb.multimodal.predictors import NodePredictor
from graphemb.training.embeddings import fit_embeddings
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

__all__ = ["NodeTaskConfig", "random_split", "few_shot", "train_node_classifier", "node_classification",
           "link_prediction", "link_split", "rank_tails", "node_split", "fused_features", "embed_unsupervised",
           "probe_embeddings", "unsupervised_node_classification"]


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
    best_val, best_epoch = -1.0, -1
    best_pred = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    y_va = y[va]
    since = 0
    for epoch in progress(range(cfg.epochs), enabled=show_progress, desc=f"{cfg.model}/{cfg.fusion}", leave=False):
        net.train()
        opt.zero_grad()
        loss = F.cross_entropy(net(xs, ei, masks)[tr], y[tr], label_smoothing=cfg.label_smoothing)
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            pred = net(xs, ei, masks).argmax(1)
        val_acc = float((pred[va] == y_va).float().mean())  # test scores only once, at the best epoch
        if val_acc > best_val:
            best_val, best_epoch, since = val_acc, epoch, 0
            best_pred = pred.cpu()
        else:
            since += 1
            if since >= cfg.patience:
                break
    te_cpu = te.cpu()
    true, pred = graph.y[te_cpu].numpy(), best_pred[te_cpu].numpy()
    split = torch.full((graph.num_nodes,), -1, dtype=torch.long)
    for code, m in enumerate((tr, va, te)):
        split[m.cpu()] = code
    return {"accuracy": float((pred == true).mean()), "macro_f1": float(f1_score(true, pred, average="macro")),
            "val_accuracy": best_val, "best_epoch": best_epoch, "predictions": best_pred.numpy(),
            "split": split.numpy()}


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
def link_split(graph: MultimodalGraph, seed: int, num_negatives: int = 100, *,
               generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    """The evaluation split :func:`link_prediction` uses for ``seed``: ``(train_edge_index [2, 2T]
    (both directions), val [2, V], val_negatives [V, k], test [2, Q], test_negatives [Q, k])``.

    Positives: :func:`~graphemb.data.splits.split_edges` (5 % val, 10 % test, ``floor``) seeded
    with ``seed``. Negatives: ``k = num_negatives`` distinct tails per query drawn from
    ``generator`` (default: seeded with ``seed + 1``), *filtered*: never the head itself and never
    a true tail of the head (any edge of the full graph, train, val or test), so a ranking never
    counts a true edge as a negative.
    """
    g = generator if generator is not None else torch.Generator().manual_seed(seed + 1)
    n = graph.num_nodes
    tr, va, te = split_edges(graph.edge_index, n, 0.05, 0.10, torch.Generator().manual_seed(seed))
    known = torch.cat([graph.edge_index, graph.edge_index.flip(0)], 1)  # true tails, both directions
    neg_va = sample_corrupted_tails(va[0], n, num_negatives, g, exclude=known)
    neg_te = sample_corrupted_tails(te[0], n, num_negatives, g, exclude=known)
    return torch.cat([tr, tr.flip(0)], 1), va, neg_va, te, neg_te


def rank_tails(z: Tensor, pos: Tensor, neg: Tensor) -> Tensor:
    """1-based rank (ties averaged) of each query's true tail among its negative tails, scored by
    ``z_u . z_v``: ``z`` ``[N, d]``, ``pos`` ``[2, Q]``, ``neg`` ``[Q, k]`` -> ``[Q]`` (CPU)."""
    pos, neg = pos.to(z.device), neg.to(z.device)
    ps = (z[pos[0]] * z[pos[1]]).sum(-1)
    ns = (z[pos[0]].unsqueeze(1) * z[neg]).sum(-1)
    return rank_against_negatives(ps.cpu(), ns.cpu(), ties="average")


def link_prediction(graph: MultimodalGraph, features: Sequence[str], cfg: NodeTaskConfig | None = None, *,
                    seed: int = 0, num_negatives: int = 100, ks: Sequence[int] = (1, 3, 10)) -> dict:
    """Link prediction with a fused GNN (dot-product decoder, BCE with one corrupted tail per
    training edge, redrawn each epoch, never a training edge); val/test edges ranked against
    ``num_negatives`` filtered corrupted tails (:func:`link_split`), ties averaged.

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
    train_cpu = train_ei
    train_ei = train_ei.to(dev)

    best: dict = {"val_mrr": -1.0}
    since = 0
    for epoch in range(cfg.epochs):
        net.train()
        opt.zero_grad()
        z = net(xs, train_ei, masks)
        pos = train_ei
        tails = sample_corrupted_tails(train_cpu[0], n, 1, g, exclude=train_cpu).view(-1)
        neg = torch.stack([pos[0], tails.to(dev)])
        ps, ns = (z[pos[0]] * z[pos[1]]).sum(-1), (z[neg[0]] * z[neg[1]]).sum(-1)
        loss = F.binary_cross_entropy_with_logits(torch.cat([ps, ns]), torch.cat([torch.ones_like(ps), torch.zeros_like(ns)]))
        loss.backward()
        opt.step()
        net.eval()
        with torch.no_grad():
            z = net(xs, train_ei, masks)
            v = mrr(rank_tails(z, va, neg_va))
            if v > best["val_mrr"]:
                r = rank_tails(z, te, neg_te)
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
    trained by :func:`graphemb.training.embeddings.fit_embeddings` on :func:`fused_features`.

    Args:
        overrides: nested config values, e.g. ``{"model": {"encoder": {"hidden_channels": 128}},
            "train": {"epochs": 50, "lr": 1e-3}}``; default: the model's own defaults.
    """
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
