"""Official OGB protocols (Hu et al. 2020): the dataset's own split, the dataset's own metric,
computed by the official ``ogb.*.Evaluator`` (which works offline: its metadata ships with
``ogb``). Registered as ``node/ogb``, ``link/ogb`` and ``graph/ogb``; the default protocol of
every OGB dataset.

* ``ogbn-*``: a linear probe on the frozen node embeddings, trained on the official ``train``
  nodes, the (weight decay, epoch) chosen by the Evaluator's metric on ``valid``, that metric on
  ``test`` reported: accuracy for single-label sets (cross-entropy), ROC-AUC over the tasks for
  the multi-label ``ogbn-proteins`` (one binary logit per task, binary cross-entropy).
* ``ogbl-*``: ``z_u . z_v`` scores of the official valid/test positives and negatives (no
  re-split; the encoder was trained on the official train edges only), Hits@K with the official
  K (``ogbl-collab`` 50, ``ogbl-ddi`` 20, ``ogbl-ppa`` 100) or MRR against each query's own
  negatives (``ogbl-citation2``), as the Evaluator computes them.
* ``ogbg-*``: the same probe on frozen graph embeddings over the official scaffold/species
  split, the dataset's metric (ROC-AUC for ``ogbg-molhiv``, AP for ``ogbg-molpcba``, accuracy for
  ``ogbg-ppa``); missing labels (NaN) of multi-task sets are left out of the loss, as the
  Evaluator leaves them out of the metric.

Evaluators never build the encoder; they train only the small probe on frozen embeddings.
"""
from __future__ import annotations

import math
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.evaluation.node import ArrayLike, Device, as_float_tensor, seeded
from graphemb.evaluation.stats import ProtocolResult
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

_KIND = {"ogbn": "nodeproppred", "ogbl": "linkproppred", "ogbg": "graphproppred"}
_TASK = {"ogbn": "node", "ogbl": "link", "ogbg": "graph"}
_SUPPORTED = {"acc", "rocauc", "ap", "mrr"}


def is_ogb(name: Optional[str]) -> bool:
    """Whether ``name`` is an OGB dataset name (``ogbn-*``, ``ogbl-*``, ``ogbg-*``)."""
    return bool(name) and "-" in str(name) and str(name).split("-")[0].lower() in _KIND


def evaluator(name: str):
    """The official ``ogb.<kind>.Evaluator`` of dataset ``name``."""
    kind = _KIND[name.split("-")[0].lower()]
    module = __import__(f"ogb.{kind}", fromlist=["Evaluator"])
    return module.Evaluator(name)


def official_metric(name: str) -> str:
    """The Evaluator's metric for ``name`` (``"acc"``, ``"rocauc"``, ``"ap"``, ``"hits@50"``, ``"mrr"``)."""
    return str(evaluator(name).eval_metric)


def describe(name: str) -> str:
    """The protocol in words, stored in the JSON record (``"official"`` key)."""
    kind = _KIND[name.split("-")[0].lower()]
    metric = official_metric(name)
    what = {"ogbn": "official train/valid/test nodes, linear probe",
            "ogbl": "official edge split (encoder trained on the train edges only), z_u.z_v scores",
            "ogbg": "official train/valid/test graphs, linear probe"}[name.split("-")[0].lower()]
    return f"OGB official protocol for {name}: {what}, metric {metric} by ogb.{kind}.Evaluator"


def check_protocol(name: str, task: str, protocol: str) -> None:
    """Refuse a non-official protocol where it would not use the official split or metric.

    ``node/linear`` and ``node/mlp`` on single-label ``ogbn-*`` and ``link/dot``/``link/mlp`` on
    ``ogbl-*`` use the official split already and are allowed; graph protocols other than ``ogb``
    re-split (10-fold CV, random 50/20/30) and multi-label node sets need the ``ogb`` probe.
    """
    if not is_ogb(name) or protocol == "ogb":
        return
    prefix = name.split("-")[0].lower()
    if task != _TASK[prefix]:
        return  # e.g. a link task on an ogbn graph: graphemb's own GAE split, no official one exists
    if prefix == "ogbg":
        raise ValueError(f"{name} is evaluated on its official split with its own metric "
                         f"({official_metric(name)}): use --protocol ogb (graph/{protocol} re-splits the graphs)")
    if prefix == "ogbn" and official_metric(name) != "acc":
        raise ValueError(f"{name} is multi-label ({official_metric(name)} over its tasks); node/{protocol} "
                         f"is a single-label classifier: use --protocol ogb")


def _split_rows(split_idx: Mapping[str, Any], n: int) -> Tuple[Tensor, Tensor, Tensor]:
    missing = [k for k in ("train", "valid", "test") if k not in split_idx]
    if missing:
        raise ValueError(f"OGB split_idx lacks {missing}; pass the dataset's get_idx_split()")
    rows = []
    for k in ("train", "valid", "test"):
        r = torch.as_tensor(np.asarray(split_idx[k]) if not isinstance(split_idx[k], Tensor) else split_idx[k])
        r = r.long().view(-1)
        if r.numel() == 0 or int(r.min()) < 0 or int(r.max()) >= n:
            raise ValueError(f"OGB split '{k}' is empty or indexes outside [0, {n}); embeddings and "
                             f"split come from different datasets?")
        rows.append(r)
    return rows[0], rows[1], rows[2]


def _targets(y: ArrayLike, n: int, metric: str) -> Tensor:
    """Targets ``[n, T]`` float64 (NaN = missing) for rocauc/ap, ``[n, 1]`` class ids for acc."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).detach().cpu()
    if t.size(0) != n:
        raise ValueError(f"y has {t.size(0)} rows but there are {n} embeddings")
    t = t.view(n, -1)
    if metric == "acc":
        if t.size(1) != 1:
            raise ValueError(f"accuracy needs one label per item, got y of shape {tuple(t.shape)}")
        return t.long()
    return t.double()


def _score(ev, metric: str, y_true: Tensor, logits: Tensor) -> float:
    if metric == "acc":
        y_pred = logits.argmax(-1, keepdim=True)
    else:
        y_pred = logits
    return float(ev.eval({"y_true": y_true.cpu(), "y_pred": y_pred.detach().double().cpu()})[metric])


def probe_protocol(
    emb: ArrayLike,
    y: ArrayLike,
    split_idx: Mapping[str, Any],
    name: str,
    seed: int = 0,
    *,
    lr: float = 0.01,
    weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2),
    epochs: int = 300,
    eval_every: int = 10,
    device: Device = None,
) -> ProtocolResult:
    """Linear probe on the official split of an ``ogbn-*`` / ``ogbg-*`` dataset, scored by its Evaluator.

    For each weight decay a fresh ``nn.Linear`` is trained full batch (Adam) on the official
    ``train`` rows; every ``eval_every`` epochs (and after the last) the Evaluator scores
    ``valid``; the (weight decay, epoch) with the best valid score (earliest on ties) is kept and
    the Evaluator's score of its predictions on ``test`` is reported. (The Evaluator is not cheap:
    ROC-AUC over ``ogbn-proteins``' 112 tasks takes about a second per call, hence ``eval_every``.)

    Args:
        emb: ``[N, d]`` node or graph embeddings (row ``i`` = node / graph ``i``).
        y: ``[N]`` / ``[N, 1]`` class ids (acc) or ``[N, T]`` binary targets, NaN = missing (rocauc, ap).
        split_idx: ``{"train", "valid", "test"}`` index tensors (``dataset.get_idx_split()``).
        name: the OGB dataset name (picks the Evaluator and its metric).
        seed: seeds the probe initialisation (same for every weight decay).
        lr, weight_decays, epochs, eval_every: the probe's optimisation and selection grid.
    Returns:
        ``ProtocolResult(<metric>, test value, {"val_<metric>", "best_epoch", "weight_decay"})``.
    """
    ev = evaluator(name)
    metric = str(ev.eval_metric)
    if metric not in _SUPPORTED - {"mrr"}:
        raise ValueError(f"{name}: metric {metric!r} is not supported by the ogb probe (supported: acc, rocauc, ap)")
    if epochs < 1 or eval_every < 1:
        raise ValueError(f"epochs and eval_every must be >= 1, got {epochs} and {eval_every}")
    dev = resolve_device(device)
    x = as_float_tensor(emb, "emb", dev)
    n = x.size(0)
    target = _targets(y, n, metric)
    tr, va, te = _split_rows(split_idx, n)
    if metric == "acc":
        num_out = int(target[torch.cat([tr, va, te])].max()) + 1
        y_tr = target[tr].view(-1).to(dev)
    else:
        num_out = target.size(1)
        y_tr = target[tr].to(dev, torch.float32)
        known = ~torch.isnan(y_tr)
        y_tr = torch.nan_to_num(y_tr)
    x_tr, x_va, x_te = x[tr.to(dev)], x[va.to(dev)], x[te.to(dev)]
    best_val, best = -math.inf, None
    for wd in weight_decays:
        with seeded(seed, dev):
            clf = nn.Linear(x.size(1), num_out).to(dev)
            opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=float(wd))
            for epoch in progress(range(epochs), desc=f"ogb probe wd={wd:g}", leave=False):
                clf.train()
                out = clf(x_tr)
                if metric == "acc":
                    loss = F.cross_entropy(out, y_tr)
                else:
                    loss = F.binary_cross_entropy_with_logits(out[known], y_tr[known])
                opt.zero_grad()
                loss.backward()
                opt.step()
                if (epoch + 1) % eval_every and epoch + 1 != epochs:
                    continue
                clf.eval()
                with torch.no_grad():
                    val = _score(ev, metric, target[va], clf(x_va))
                if val > best_val:
                    best_val = val
                    best = (float(wd), epoch, {k: v.detach().clone() for k, v in clf.state_dict().items()})
    wd, epoch, state = best
    clf.load_state_dict(state)
    clf.eval()
    with torch.no_grad():
        test = _score(ev, metric, target[te], clf(x_te))
    return ProtocolResult(metric, test, {f"val_{metric}": best_val, "best_epoch": float(epoch), "weight_decay": wd})


def _pair_scores(z: Tensor, pairs: Tensor) -> Tensor:
    pairs = torch.as_tensor(pairs).long().to(z.device)
    return (z[pairs[0]].double() * z[pairs[1]].double()).sum(-1).cpu()


def _per_query(pos: Tensor, neg: Tensor) -> int:
    """``K`` when ``neg`` ``[2, Q*K]`` holds ``K`` negatives per query of ``pos`` ``[2, Q]`` (heads repeated)."""
    q = pos.size(1)
    if q == 0 or neg.size(1) % q:
        raise ValueError(f"per-query negatives: {neg.size(1)} negative pairs for {q} queries is not a multiple")
    k = neg.size(1) // q
    if not torch.equal(neg[0].view(q, k), pos[0].view(q, 1).expand(q, k)):
        raise ValueError("per-query negatives must repeat each query's source node K times, in query order")
    return k


def link_protocol(emb: ArrayLike, split: Any, name: str, seed: int = 0, *, device: Device = None) -> ProtocolResult:
    """Official ``ogbl-*`` evaluation of ``z_u . z_v`` scores on the official valid/test edges.

    Args:
        emb: ``[N, d]`` node embeddings of an encoder trained on the official train edges.
        split: a ``LinkSplit`` from :func:`graphemb.data.ogb.official_link_split` (``val_pos``,
            ``val_neg``, ``test_pos``, ``test_neg`` ``[2, E]``; for MRR sets the negatives are
            ``K`` per query, the query's source repeated).
        name: the OGB dataset name; seed: unused (deterministic).
    Returns:
        ``ProtocolResult(<metric>, test value, {"val_<metric>", and for Hits@K sets hits@10/50/100})``.
    """
    ev = evaluator(name)
    metric = str(ev.eval_metric)
    z = as_float_tensor(emb, "emb", resolve_device(device))

    def run(pos_e: Tensor, neg_e: Tensor, k: Optional[int] = None) -> Dict[str, float]:
        pos_e, neg_e = torch.as_tensor(pos_e).long(), torch.as_tensor(neg_e).long()
        pos, neg = _pair_scores(z, pos_e), _pair_scores(z, neg_e)
        if metric == "mrr":
            neg = neg.view(pos.numel(), _per_query(pos_e, neg_e))
            out = ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})
            return {key.replace("_list", ""): float(v.mean()) for key, v in out.items()}
        if metric.startswith("hits@"):
            res = {}
            for kk in sorted({int(metric.split("@")[1]), 10, 50, 100}):
                ev.K = kk
                res[f"hits@{kk}"] = float(ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})[f"hits@{kk}"])
            ev.K = int(metric.split("@")[1])
            return res
        return {metric: float(ev.eval({"y_pred_pos": pos, "y_pred_neg": neg})[metric])}

    test = run(split.test_pos, split.test_neg)
    val = run(split.val_pos, split.val_neg)
    extra = {k: v for k, v in test.items() if k != metric}
    extra[f"val_{metric}"] = val[metric]
    return ProtocolResult(metric, test[metric], extra)


def is_ogb_task(name: str, task: str) -> bool:
    """Whether ``task`` is the task OGB defines for ``name`` (``node`` for ogbn, ``link`` for ogbl, ``graph`` for ogbg)."""
    return is_ogb(name) and _TASK[name.split("-")[0].lower()] == task
