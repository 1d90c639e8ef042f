"""Link prediction on frozen node embeddings.

The edge split is duck-typed on the fields of ``graphemb.data.splits.LinkSplit``:
``train_data`` (a ``Data`` whose ``edge_index`` holds the training edges, both directions),
``train_pos``, ``val_pos``, ``val_neg``, ``test_pos``, ``test_neg`` (each ``[2, E]``), and
optionally ``train_neg``.

Three protocols:

* :func:`dot_protocol` — score ``sigmoid(z_u . z_v)`` (Kipf & Welling 2016). All metrics are
  computed on the logit ``z_u . z_v`` in float64: sigmoid is monotone, so AUC, AP, Hits@K and
  MRR are the same, but a float32 sigmoid saturates to exactly 1.0 for logits above ~17 and
  would create artificial ties.
* :func:`mlp_protocol` — the official IsoC-VGAE predictor (github upperr/IsoC-VGAE
  ``train_link.py``/``model.py``): ``MLP(z_u * z_v)`` with input dropout 0.5, four hidden
  ``Linear -> BatchNorm -> ReLU`` layers of width 256, a bias-free output, binary cross-entropy,
  Adam (lr 1e-3), mini-batches of 512 (positive, negative) pairs, trained on the training
  positives and as many negatives sampled once (excluding training edges and self-loops), at
  most 50 epochs, early stopping after 10 without a better validation AUC; test metrics at the
  best validation AUC.

  Against the official ``train_link.py`` two details differ: there the training positives are
  stored in both directions (PyG ``train_test_split_edges``) with as many negatives, i.e. twice the
  pairs and optimiser steps per epoch (the Hadamard input is symmetric, so only the number of
  distinct negatives and steps changes), and the embeddings come from a train-mode forward pass.
  ``experiments/link_mlp_vs_official.py`` scores both variants, and the official linear encoder,
  on the same splits (records ``experiments/results/ablation_link_mlp_cora*.json``, table in
  ``experiments/RESULTS.md``); the protocol keeps one direction and eval-mode embeddings.
* :func:`decoder_protocol` — the pairs scored by the trained model's own edge decoder (MaskGAE's
  MLP on ``h_u * h_v``, reading the training graph only): how MaskGAE reports link prediction.

Metrics (:func:`link_metrics`): AUC (``sklearn.roc_auc_score``, ties count 1/2) and AP
(``sklearn.average_precision_score``, tied scores share one threshold); Hits@K through
``ogb.linkproppred.Evaluator`` (a positive is a hit when it scores strictly above the K-th best
negative: pessimistic ties); MRR of each positive ranked against *all* negatives of the split,
ties averaged as OGB's MRR evaluator does.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score, roc_auc_score
from torch import Tensor

from graphemb.data.splits import sample_negatives
from graphemb.evaluation.node import (ArrayLike, Device, _batches, as_float_tensor, probe_mlp,
                                      seeded)
from graphemb.evaluation.ranking import Ties, _check_ties
from graphemb.evaluation.stats import ProtocolResult
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

DEFAULT_KS: Tuple[int, ...] = (10, 50, 100)
_SPLIT_FIELDS = ("val_pos", "val_neg", "test_pos", "test_neg")


# --------------------------------------------------------------------------- metrics
def rank_against_shared_negatives(pos: Tensor, neg: Tensor, ties: Ties = "average") -> Tensor:
    """1-based rank of each positive score among one shared pool of negative scores.

    Equivalent to ``ranking.rank_against_negatives(pos, neg.expand(Q, M))`` but in
    ``O((Q + M) log M)`` time and ``O(Q + M)`` memory (a sort and two binary searches).

    Args:
        pos: ``[Q]`` positive scores; neg: ``[M]`` negative scores.
    Returns:
        ``[Q]`` float64 ranks.
    """
    _check_ties(ties)
    if pos.dim() != 1 or neg.dim() != 1:
        raise ValueError(f"expected pos [Q] and neg [M], got {tuple(pos.shape)} and {tuple(neg.shape)}")
    s = torch.sort(neg.to(torch.float64)).values
    p = pos.to(torch.float64).contiguous()
    m = s.numel()
    above = m - torch.searchsorted(s, p, right=True)      # negatives strictly above
    at_least = m - torch.searchsorted(s, p, right=False)  # negatives >= the positive
    if ties == "optimistic":
        return above.to(torch.float64) + 1
    if ties == "pessimistic":
        return at_least.to(torch.float64) + 1
    return 0.5 * (above + at_least).to(torch.float64) + 1


def ogb_hits_at_k(pos: Tensor, neg: Tensor, k: int) -> float:
    """Hits@K as ``ogb.linkproppred.Evaluator`` computes it (pessimistic ties).

    With fewer than ``k`` negatives every positive is a hit (OGB returns 1.0).
    """
    from ogb.linkproppred import Evaluator  # works offline (metadata ships with the package)

    evaluator = Evaluator(name="ogbl-collab")
    evaluator.K = int(k)
    return float(evaluator.eval({"y_pred_pos": pos.double().cpu(), "y_pred_neg": neg.double().cpu()})[f"hits@{k}"])


def link_metrics(pos: Tensor, neg: Tensor, ks: Sequence[int] = DEFAULT_KS) -> Dict[str, float]:
    """AUC, AP, Hits@K (K in ``ks``) and MRR of positive vs negative pair scores.

    Args:
        pos: ``[P]`` scores of true edges; neg: ``[M]`` scores of non-edges (higher = more
            likely an edge; logits or probabilities alike).
    Returns:
        ``{"auc", "ap", "hits@K"..., "mrr"}``.
    """
    pos, neg = pos.detach().double().cpu().view(-1), neg.detach().double().cpu().view(-1)
    if pos.numel() == 0 or neg.numel() == 0:
        raise ValueError(f"link metrics need positives and negatives, got {pos.numel()} and {neg.numel()}; "
                         "check the edge split")
    if not (torch.isfinite(pos).all() and torch.isfinite(neg).all()):
        raise ValueError("link scores contain NaN or inf; check the embeddings")
    scores = torch.cat([pos, neg]).numpy()
    labels = np.concatenate([np.ones(pos.numel()), np.zeros(neg.numel())])
    out = {"auc": float(roc_auc_score(labels, scores)), "ap": float(average_precision_score(labels, scores))}
    for k in ks:
        out[f"hits@{k}"] = ogb_hits_at_k(pos, neg, k)
    out["mrr"] = float((1.0 / rank_against_shared_negatives(pos, neg, "average")).mean())
    return out


# --------------------------------------------------------------------------- split handling
def _edges(split: Any, name: str, device: torch.device, num_nodes: int) -> Tensor:
    e = getattr(split, name, None)
    if e is None:
        raise ValueError(f"link split has no {name!r}; expected a LinkSplit with fields "
                         f"train_data, train_pos, {', '.join(_SPLIT_FIELDS)}")
    e = torch.as_tensor(np.asarray(e) if not isinstance(e, Tensor) else e).long()
    if e.dim() != 2 or e.size(0) != 2:
        raise ValueError(f"split.{name} must be [2, E], got {tuple(e.shape)}")
    if e.numel() and (e.min() < 0 or e.max() >= num_nodes):
        raise ValueError(f"split.{name} references nodes outside [0, {num_nodes}); "
                         "embeddings and split come from different graphs?")
    return e.to(device)


def pair_dot(z: Tensor, edges: Tensor) -> Tensor:
    """``[E]`` float64 inner products ``z_u . z_v`` of the pairs ``edges`` ``[2, E]``."""
    return (z[edges[0]].double() * z[edges[1]].double()).sum(-1)


def training_negatives(train_pos: Tensor, num_nodes: int, seed: int) -> Tensor:
    """The MLP predictor's training negatives: ``train_pos.size(1)`` distinct undirected pairs
    drawn once with ``seed`` by the library's one sampler
    (:func:`graphemb.data.splits.sample_negatives`), never a self-loop nor a training edge.

    A function of ``train_pos`` and ``seed`` alone, both of which a saved run keeps
    (``split.pt``, ``config.yaml``), so ``graphemb evaluate RUN --protocol mlp`` draws exactly
    the negatives that training-time evaluation (``reproduce``) drew.
    """
    pos = train_pos.long().cpu()
    gen = torch.Generator().manual_seed(int(seed))
    return sample_negatives(pos, num_nodes, pos.size(1), gen)


# --------------------------------------------------------------------------- protocols
def dot_protocol(emb: ArrayLike, split: Any, seed: int = 0, *, ks: Sequence[int] = DEFAULT_KS,
                 device: Device = None) -> ProtocolResult:
    """Inner-product decoder ``sigmoid(z_u . z_v)`` scored on the test positives/negatives.

    Args:
        emb: ``[N, d]`` node embeddings (from an encoder trained on the training edges only).
        split: a ``LinkSplit`` (``test_pos``/``test_neg`` ``[2, E]`` are used).
        seed: unused (the protocol is deterministic); kept for the uniform signature.
        ks: the K of Hits@K (default 10, 50, 100).
    Returns:
        ``ProtocolResult("auc", test_auc, {"ap", "hits@K"..., "mrr", "val_auc", "val_ap"})``.
    """
    dev = resolve_device(device)
    z = as_float_tensor(emb, "emb", dev)
    return _scored_protocol(lambda e: pair_dot(z, e), split, dev, z.size(0), ks)


def decoder_protocol(score_pairs: Callable[[Tensor], Tensor], split: Any, num_nodes: int, seed: int = 0, *,
                     ks: Sequence[int] = DEFAULT_KS, device: Device = None) -> ProtocolResult:
    """The test pairs scored by the trained model's own edge decoder (MaskGAE's published link
    protocol), with the metrics of :func:`dot_protocol`.

    Args:
        score_pairs: ``[2, P]`` pairs -> ``[P]`` scores (the model reads the training graph only).
        split: a ``LinkSplit``; num_nodes: nodes of the graph (pairs are checked against it).
        seed: unused (deterministic); ks: the K of Hits@K.
    """
    dev = resolve_device(device)

    def score(e: Tensor) -> Tensor:
        out = torch.as_tensor(score_pairs(e)).reshape(-1)
        if out.numel() != e.size(1):
            raise ValueError(f"the pair scorer returned {out.numel()} scores for {e.size(1)} pairs")
        return out.double()

    return _scored_protocol(score, split, dev, num_nodes, ks)


def _scored_protocol(score: Callable[[Tensor], Tensor], split: Any, dev: torch.device, n: int,
                     ks: Sequence[int]) -> ProtocolResult:
    test = link_metrics(score(_edges(split, "test_pos", dev, n)), score(_edges(split, "test_neg", dev, n)), ks)
    extra = {k: v for k, v in test.items() if k != "auc"}
    if getattr(split, "val_pos", None) is not None and getattr(split, "val_neg", None) is not None:
        val = link_metrics(score(_edges(split, "val_pos", dev, n)), score(_edges(split, "val_neg", dev, n)), ks=())
        extra.update(val_auc=val["auc"], val_ap=val["ap"])
    return ProtocolResult("auc", test["auc"], extra)


def _predict(model: torch.nn.Module, z: Tensor, edges: Tensor, chunk: int = 65536) -> Tensor:
    model.eval()
    with torch.no_grad():
        return torch.cat([model(z[e[0]] * z[e[1]]).view(-1)
                          for e in edges.split(chunk, dim=1)]) if edges.size(1) else z.new_empty(0)


def mlp_protocol(
    emb: ArrayLike,
    split: Any,
    seed: int = 0,
    *,
    hidden: int = 256,
    num_hidden: int = 4,
    dropout: float = 0.5,
    lr: float = 1e-3,
    epochs: int = 50,
    patience: int = 10,
    batch_size: int = 512,
    ks: Sequence[int] = DEFAULT_KS,
    device: Device = None,
) -> ProtocolResult:
    """The official IsoC-VGAE Hadamard-MLP link predictor (see the module docstring).

    Training negatives: ``split.train_neg`` when present, else :func:`training_negatives` (as
    many distinct undirected pairs as ``split.train_pos``, sampled once with ``seed``, avoiding
    self-loops and the training edges; never val/test information, never anything a saved run
    lacks).

    Args:
        emb: ``[N, d]`` node embeddings; split: a ``LinkSplit``; seed: seeds negatives,
            initialisation, dropout and shuffling.
        hidden, num_hidden, dropout, lr, epochs, patience, batch_size: official 256, 4, 0.5,
            1e-3, 50, 10, 512.
    Returns:
        ``ProtocolResult("auc", test_auc, {"ap", "hits@K"..., "mrr", "val_auc", "best_epoch"})``.
    """
    dev = resolve_device(device)
    z = as_float_tensor(emb, "emb", dev)
    n = z.size(0)
    train_pos = _edges(split, "train_pos", dev, n)
    val_pos, val_neg = _edges(split, "val_pos", dev, n), _edges(split, "val_neg", dev, n)
    test_pos, test_neg = _edges(split, "test_pos", dev, n), _edges(split, "test_neg", dev, n)
    if train_pos.size(1) < 2:
        raise ValueError("split.train_pos needs at least 2 edges to train the MLP predictor")
    if getattr(split, "train_neg", None) is not None:
        train_neg = _edges(split, "train_neg", dev, n)
    else:
        train_neg = training_negatives(train_pos, n, seed).to(dev)
    num_pairs = min(train_pos.size(1), train_neg.size(1))

    with seeded(seed, dev):
        model = probe_mlp(z.size(1), hidden, 1, num_hidden, dropout).to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        best_val, best_epoch, best_state = -math.inf, -1, None
        for epoch in progress(range(epochs), desc="link mlp probe", leave=False):
            model.train()
            for idx in _batches(num_pairs, batch_size, shuffle=True):
                idx = idx.to(dev)
                e = torch.cat([train_pos[:, idx], train_neg[:, idx]], 1)
                target = torch.cat([torch.ones(idx.numel(), device=dev), torch.zeros(idx.numel(), device=dev)])
                loss = F.binary_cross_entropy_with_logits(model(z[e[0]] * z[e[1]]).view(-1), target)
                opt.zero_grad()
                loss.backward()
                opt.step()
            val_auc = link_metrics(_predict(model, z, val_pos), _predict(model, z, val_neg), ks=())["auc"]
            if val_auc > best_val:
                best_val, best_epoch = val_auc, epoch
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if epoch - best_epoch > patience:
                break
    if best_state is None:
        raise ValueError("mlp_protocol ran no epoch; use epochs >= 1")
    model.load_state_dict(best_state)
    test = link_metrics(_predict(model, z, test_pos), _predict(model, z, test_neg), ks)
    extra = {k: v for k, v in test.items() if k != "auc"}
    extra.update(val_auc=float(best_val), best_epoch=float(best_epoch))
    return ProtocolResult("auc", test["auc"], extra)
