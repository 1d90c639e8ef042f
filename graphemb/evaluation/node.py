"""Node classification on frozen embeddings.

Two protocols:

* :func:`linear_probe` — logistic regression (one ``nn.Linear``, full batch, Adam with weight
  decay) on the public train split, the epoch and weight decay chosen by validation accuracy,
  test accuracy of that choice reported. This is GraphMAE's ``LogisticRegression`` probe
  (THUDM/GraphMAE ``graphmae/evaluation.py``: lr 0.01, 300 epochs, weight decay 1e-4 on Cora and
  1e-2 on CiteSeer, raw embeddings, no standardisation); we search the weight decay on
  validation instead of fixing it per dataset.
* :func:`mlp_probe` — the official IsoC-VGAE classifier (github upperr/IsoC-VGAE
  ``train_node.py``): input dropout 0.5, four hidden ``Linear -> BatchNorm -> ReLU`` layers of
  width ``d // 2``, a bias-free output layer, Adam (lr 1e-3), mini-batches of 512, at most 50
  epochs with early stopping after 10 epochs without a better validation accuracy, trained on
  every labelled node outside the validation and test masks; the test accuracy at the best
  validation epoch is reported.

The helpers :func:`seeded`, :func:`fit_mlp_classifier` and the input converters are shared with
:mod:`graphemb.evaluation.graph` and :mod:`graphemb.evaluation.link`.
"""
from __future__ import annotations

import contextlib
import math
from typing import Iterator, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from graphemb.evaluation.stats import ProtocolResult
from graphemb.nn.mlp import MLP
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

ArrayLike = Union[Tensor, np.ndarray, Sequence]
Device = Union[str, torch.device, None]


# --------------------------------------------------------------------------- shared helpers
@contextlib.contextmanager
def seeded(seed: int, device: Device = None) -> Iterator[None]:
    """Run a block with torch's global RNG seeded to ``seed`` and restore it afterwards.

    Weight initialisation, dropout and shuffling inside the block are reproducible, and the
    caller's RNG state is left untouched (no hidden global side effect).
    """
    dev = resolve_device(device)
    cuda = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(int(seed))
        yield


def as_float_tensor(x: ArrayLike, name: str, device: Device = None) -> Tensor:
    """``x`` as a 2-D float32 tensor on ``device``; NaN/inf rejected with a clear error."""
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, Tensor) else x)
    if t.dim() != 2:
        raise ValueError(f"{name} must be a 2-D array [num_items, dim], got shape {tuple(t.shape)}")
    t = t.detach().to(device=resolve_device(device), dtype=torch.float32)
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} contains NaN or inf values; check the embedding model (diverged training?)")
    return t


def as_labels(y: ArrayLike, n: int, device: Device = None) -> Tensor:
    """Integer class labels ``[n]`` (``-1`` marks unlabelled items)."""
    t = torch.as_tensor(np.asarray(y) if not isinstance(y, Tensor) else y).detach().view(-1)
    if t.numel() != n:
        raise ValueError(f"y has {t.numel()} labels but there are {n} embeddings")
    if t.is_floating_point():
        if not torch.equal(t, t.round()):
            raise ValueError("y must hold integer class ids (multi-label targets are not supported here)")
    return t.to(device=resolve_device(device), dtype=torch.long)


def as_mask(m: ArrayLike, n: int, name: str, device: Device = None) -> Tensor:
    """A bool mask ``[n]`` from a bool mask or an index array."""
    t = torch.as_tensor(np.asarray(m) if not isinstance(m, Tensor) else m).detach().view(-1)
    dev = resolve_device(device)
    if t.dtype == torch.bool:
        if t.numel() != n:
            raise ValueError(f"{name} has {t.numel()} entries but there are {n} embeddings")
        return t.to(dev)
    out = torch.zeros(n, dtype=torch.bool)
    idx = t.long()
    if idx.numel() and (idx.min() < 0 or idx.max() >= n):
        raise ValueError(f"{name} holds indices outside [0, {n})")
    out[idx] = True
    return out.to(dev)


def accuracy(logits: Tensor, y: Tensor) -> float:
    """Fraction of rows whose arg-max equals the label (``nan`` for no rows)."""
    if y.numel() == 0:
        return float("nan")
    return float((logits.argmax(-1) == y).double().mean())


def _batches(n: int, batch_size: int, shuffle: bool) -> Iterator[Tensor]:
    """Index batches over ``n`` rows; a trailing batch of one row is dropped (BatchNorm needs 2)."""
    order = torch.randperm(n) if shuffle else torch.arange(n)
    for start in range(0, n, batch_size):
        idx = order[start:start + batch_size]
        if idx.numel() < 2 and n > 1:
            continue
        yield idx


def probe_mlp(in_dim: int, hidden: int, out_dim: int, num_hidden: int = 4, dropout: float = 0.5) -> MLP:
    """The official IsoC-VGAE probe: ``Dropout(p) -> [Linear -> BatchNorm -> ReLU] x num_hidden ->
    Linear (no bias)``."""
    return MLP(in_dim, hidden, out_dim, num_layers=num_hidden + 1, dropout=0.0, act="relu",
               norm="batch", input_dropout=dropout, bias_last=False)


def fit_mlp_classifier(
    x: Tensor,
    y: Tensor,
    train: Tensor,
    val: Tensor,
    test: Tensor,
    seed: int,
    *,
    hidden: int,
    num_hidden: int = 4,
    dropout: float = 0.5,
    lr: float = 1e-3,
    epochs: int = 50,
    patience: int = 10,
    batch_size: int = 512,
    keep_latest_on_tie: bool = False,
    desc: str = "mlp probe",
) -> Tuple[float, float, int]:
    """Train :func:`probe_mlp` on rows ``train`` and select the epoch on ``val`` accuracy.

    Early stopping as the official code: stop once more than ``patience`` epochs passed since
    the best one. ``keep_latest_on_tie``: ``>=`` selection (official graph probe) instead of
    ``>`` (official node probe).

    Args:
        x: ``[N, d]`` inputs; y: ``[N]`` labels; train/val/test: index tensors into the rows.
    Returns:
        ``(best_val_accuracy, test_accuracy_at_best, best_epoch)`` (epochs counted from 0).
    """
    num_classes = int(y[torch.cat([train, val, test])].max()) + 1
    with seeded(seed, x.device):
        model = probe_mlp(x.size(1), hidden, num_classes, num_hidden, dropout).to(x.device)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        best_val, best_test, best_epoch = -math.inf, float("nan"), -1
        for epoch in progress(range(epochs), desc=desc, leave=False):
            model.train()
            for idx in _batches(train.numel(), batch_size, shuffle=True):
                rows = train[idx.to(train.device)]
                loss = F.cross_entropy(model(x[rows]), y[rows])
                opt.zero_grad()
                loss.backward()
                opt.step()
            model.eval()
            with torch.no_grad():
                val_acc = accuracy(model(x[val]), y[val])
                better = val_acc >= best_val if keep_latest_on_tie else val_acc > best_val
                if better:
                    best_val, best_epoch = val_acc, epoch
                    best_test = accuracy(model(x[test]), y[test])
            if epoch - best_epoch > patience:
                break
    return float(best_val), float(best_test), best_epoch


def _check_split(y: Tensor, masks: dict) -> None:
    for name, m in masks.items():
        if not bool(m.any()):
            raise ValueError(f"{name} selects no nodes; pass the dataset's public split masks")
        if bool((y[m] < 0).any()):
            raise ValueError(f"{name} contains unlabelled nodes (y < 0); remove them from the mask")
    names = list(masks)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if bool((masks[a] & masks[b]).any()):
                raise ValueError(f"{a} and {b} overlap; evaluation splits must be disjoint")


# --------------------------------------------------------------------------- protocols
def linear_probe(
    emb: ArrayLike,
    y: ArrayLike,
    train_mask: ArrayLike,
    val_mask: ArrayLike,
    test_mask: ArrayLike,
    seed: int = 0,
    *,
    lr: float = 0.01,
    weight_decays: Sequence[float] = (1e-4, 1e-3, 1e-2),
    epochs: int = 300,
    standardize: bool = False,
    device: Device = None,
) -> ProtocolResult:
    """Logistic-regression probe with validation model selection (GraphMAE protocol).

    For each weight decay a fresh ``nn.Linear(d, C)`` is trained full batch with Adam on the
    train nodes for ``epochs`` epochs; after every epoch the validation accuracy is measured. The
    (weight decay, epoch) with the highest validation accuracy is kept (ties: lower validation
    loss; GraphMAE keeps the latest epoch) and its test accuracy is reported.

    Args:
        emb: ``[N, d]`` node embeddings.
        y: ``[N]`` class ids (``-1`` = unlabelled, never inside a mask).
        train_mask, val_mask, test_mask: ``[N]`` bool masks (or index arrays), disjoint.
        seed: seeds the initialisation (same seed for every weight decay).
        lr: Adam learning rate (GraphMAE ``lr_f``: 0.01).
        weight_decays: candidates searched on validation (default ``(1e-4, 1e-3, 1e-2)``).
        epochs: epochs per candidate (GraphMAE ``max_epoch_f``: 300).
        standardize: z-score embeddings with train-node statistics first (GraphMAE: no).
        device: ``"cpu"``, ``"cuda"``, ...; default CUDA when available.
    Returns:
        ``ProtocolResult("accuracy", test_acc, {"val_accuracy", "best_epoch", "weight_decay"})``.
    """
    dev = resolve_device(device)
    x = as_float_tensor(emb, "emb", dev)
    n = x.size(0)
    yt = as_labels(y, n, dev)
    masks = {"train_mask": as_mask(train_mask, n, "train_mask", dev),
             "val_mask": as_mask(val_mask, n, "val_mask", dev),
             "test_mask": as_mask(test_mask, n, "test_mask", dev)}
    _check_split(yt, masks)
    tr, va, te = masks["train_mask"], masks["val_mask"], masks["test_mask"]
    if standardize:
        mu, sd = x[tr].mean(0), x[tr].std(0, unbiased=False).clamp_min(1e-12)
        x = (x - mu) / sd
    num_classes = int(yt[tr | va | te].max()) + 1
    best = (-math.inf, -math.inf)  # (val_acc, -val_loss)
    out = {"val_accuracy": float("nan"), "best_epoch": -1.0, "weight_decay": float("nan")}
    test_acc = float("nan")
    for wd in weight_decays:
        with seeded(seed, dev):
            clf = nn.Linear(x.size(1), num_classes).to(dev)
            opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=float(wd))
            for epoch in progress(range(epochs), desc=f"linear probe wd={wd:g}", leave=False):
                clf.train()
                loss = F.cross_entropy(clf(x[tr]), yt[tr])
                opt.zero_grad()
                loss.backward()
                opt.step()
                clf.eval()
                with torch.no_grad():
                    val_logits = clf(x[va])
                    key = (accuracy(val_logits, yt[va]), -float(F.cross_entropy(val_logits, yt[va])))
                    if key > best:
                        best = key
                        test_acc = accuracy(clf(x[te]), yt[te])
                        out = {"val_accuracy": key[0], "best_epoch": float(epoch), "weight_decay": float(wd)}
    return ProtocolResult("accuracy", float(test_acc), out)


def mlp_probe(
    emb: ArrayLike,
    y: ArrayLike,
    train_mask: Optional[ArrayLike],
    val_mask: ArrayLike,
    test_mask: ArrayLike,
    seed: int = 0,
    *,
    train_on: str = "complement",
    hidden: Optional[int] = None,
    num_hidden: int = 4,
    dropout: float = 0.5,
    lr: float = 1e-3,
    epochs: int = 50,
    patience: int = 10,
    batch_size: int = 512,
    device: Device = None,
) -> ProtocolResult:
    """The official IsoC-VGAE MLP node classifier (see the module docstring).

    Args:
        emb: ``[N, d]`` node embeddings; y: ``[N]`` class ids (``-1`` = unlabelled).
        train_mask: used only with ``train_on="mask"``.
        val_mask, test_mask: ``[N]`` bool masks (or index arrays), disjoint.
        train_on: ``"complement"`` (official: every labelled node outside val/test) or ``"mask"``.
        hidden: hidden width (official: ``d // 2``).
        num_hidden, dropout, lr, epochs, patience, batch_size: official 4, 0.5, 1e-3, 50, 10, 512.
    Returns:
        ``ProtocolResult("accuracy", test_acc, {"val_accuracy", "best_epoch", "num_train"})``.
    """
    dev = resolve_device(device)
    x = as_float_tensor(emb, "emb", dev)
    n = x.size(0)
    yt = as_labels(y, n, dev)
    va, te = as_mask(val_mask, n, "val_mask", dev), as_mask(test_mask, n, "test_mask", dev)
    if train_on == "complement":
        tr = ~(va | te) & (yt >= 0)
    elif train_on == "mask":
        if train_mask is None:
            raise ValueError("train_on='mask' needs a train_mask")
        tr = as_mask(train_mask, n, "train_mask", dev)
    else:
        raise ValueError(f"train_on must be 'complement' or 'mask', got {train_on!r}")
    _check_split(yt, {"train nodes": tr, "val_mask": va, "test_mask": te})
    idx = [m.nonzero().view(-1) for m in (tr, va, te)]
    best_val, test_acc, best_epoch = fit_mlp_classifier(
        x, yt, *idx, seed, hidden=hidden or max(1, x.size(1) // 2), num_hidden=num_hidden,
        dropout=dropout, lr=lr, epochs=epochs, patience=patience, batch_size=batch_size,
        keep_latest_on_tie=False, desc="node mlp probe")
    return ProtocolResult("accuracy", test_acc, {"val_accuracy": best_val, "best_epoch": float(best_epoch),
                                                 "num_train": float(idx[0].numel())})
