"""Graph classification on frozen (pooled) graph embeddings.

Two protocols:

* :func:`svm_protocol` — the InfoGraph / GraphMAE protocol (InfoGraph
  ``unsupervised/evaluate_embedding.py::svc_classify``, GraphMAE
  ``main_graph.py::evaluate_graph_embeddings_using_svm``): 10-fold cross-validation, stratified
  folds drawn with the seed (every graph tested once), or the dataset's fixed folds when it ships
  them (the GIN ``10fold_idx`` files: not stratified, ``G mod 10`` graphs never tested; see
  :func:`cv_splits`);
  in each fold an RBF ``SVC`` whose ``C`` is chosen from ``{1e-3, ..., 1e3}`` by a 5-fold inner
  ``GridSearchCV`` (accuracy) on the training fold; the reported value is the mean test-fold
  accuracy, the std across folds goes to ``extra["fold_std"]``. Neither reference standardises
  the embeddings (``standardize=False`` by default; when on, the scaler is fitted inside each
  training fold).
* :func:`mlp_protocol` — the official IsoC-VGAE graph classifier (github upperr/IsoC-VGAE
  ``train_graph.py``/``load_data.py``): one random split (shuffled, first 20% validation, next
  30% test, the remaining 50% training), input dropout 0.5, four hidden
  ``Linear -> BatchNorm -> ReLU`` layers of width 256, bias-free output, Adam (lr 1e-3),
  mini-batches of 64, at most 50 epochs, early stopping after 10 epochs without improvement;
  the test accuracy at the best validation accuracy (ties: the later epoch) is reported.
"""
from __future__ import annotations

import warnings
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from graphemb.evaluation.node import (ArrayLike, Device, as_float_tensor, as_labels,
                                      fit_mlp_classifier)
from graphemb.evaluation.stats import ProtocolResult
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress

DEFAULT_CS: Tuple[float, ...] = (1e-3, 1e-2, 1e-1, 1.0, 1e1, 1e2, 1e3)
Fold = Tuple[ArrayLike, ArrayLike]


def _numpy_xy(graph_emb: ArrayLike, y: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    x = as_float_tensor(graph_emb, "graph_emb", "cpu").double().numpy()
    yy = as_labels(y, x.shape[0], "cpu").numpy()
    if (yy < 0).any():
        raise ValueError("graph labels must be non-negative class ids")
    return x, yy


def svm_protocol(
    graph_emb: ArrayLike,
    y: ArrayLike,
    seed: int = 0,
    folds: Optional[Sequence[Fold]] = None,
    *,
    n_splits: int = 10,
    Cs: Sequence[float] = DEFAULT_CS,
    inner_cv: int = 5,
    kernel: str = "rbf",
    standardize: bool = False,
    n_jobs: Optional[int] = None,
    fold_seed: Optional[int] = None,
) -> ProtocolResult:
    """SVM accuracy under 10-fold cross-validation (:func:`cv_splits`) with inner-CV choice of ``C``.

    Args:
        graph_emb: ``[G, d]`` graph embeddings; y: ``[G]`` class ids.
        seed: shuffles the stratified folds (``StratifiedKFold(shuffle=True, random_state=seed)``)
            and seeds ``SVC``.
        folds: precomputed ``(train_idx, test_idx)`` pairs, e.g. the GIN ``10fold_idx`` files
            (then ``n_splits`` and the seed's fold shuffling are not used; they are not
            stratified and may leave graphs untested, see :func:`cv_splits`).
        Cs: the ``C`` grid; inner_cv: folds of the inner grid search (stratified, unshuffled).
        kernel: SVC kernel (InfoGraph/GraphMAE: the default ``"rbf"``).
        standardize: z-score features inside every training fold first.
        n_jobs: parallel grid-search jobs (default 1).
        fold_seed: when set, the outer folds are drawn stratified with this seed instead of
            ``seed``, also where ``folds`` are given (GraphMAE's evaluation draws them with
            ``random_state=0`` for every run); ``SVC`` keeps ``seed``. Default ``None``.
    Returns:
        ``ProtocolResult("accuracy", mean_fold_acc, {"fold_std", "num_folds", "num_untested"})``.
    """
    x, yy = _numpy_xy(graph_emb, y)
    splits = cv_splits(yy, seed, folds, n_splits) if fold_seed is None else \
        cv_splits(yy, int(fold_seed), None, n_splits)
    untested = np.setdiff1d(np.arange(len(yy)), np.concatenate([te for _, te in splits]))
    svc = SVC(kernel=kernel, random_state=int(seed))
    est, grid = (make_pipeline(StandardScaler(), svc), {"svc__C": list(Cs)}) if standardize \
        else (svc, {"C": list(Cs)})
    accs = []
    for tr, te in progress(splits, desc="svm folds", leave=False):
        with warnings.catch_warnings():
            # a class smaller than inner_cv in one training fold only warns in sklearn
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            clf = GridSearchCV(est, grid, cv=inner_cv, scoring="accuracy", n_jobs=n_jobs)
            clf.fit(x[tr], yy[tr])
        accs.append(float((clf.predict(x[te]) == yy[te]).mean()))
    a = np.asarray(accs)
    return ProtocolResult("accuracy", float(a.mean()), {"fold_std": float(a.std(ddof=0)), "num_folds": float(a.size),
                                                        "num_untested": float(untested.size)})


def cv_splits(y: ArrayLike, seed: int = 0, folds: Optional[Sequence[Fold]] = None,
              n_splits: int = 10) -> list:
    """The outer folds of :func:`svm_protocol` as ``[(train_idx, test_idx)]`` numpy pairs.

    Without ``folds``: ``StratifiedKFold(n_splits, shuffle=True, random_state=seed)``, so every
    graph is tested exactly once. With ``folds`` (e.g. the GIN repository's ``10fold_idx``
    files) they are used as given after checking them: those files are *not* stratified (class
    shares per test fold vary, e.g. 29-56% positives on PTC_MR) and hold ``floor(G / 10)`` test
    graphs per fold, so ``G mod 10`` graphs are never tested (PTC_MR 4, PROTEINS 3, MUTAG 8;
    IMDB-BINARY none); :func:`svm_protocol` reports their count as ``num_untested``.
    """
    yy = np.asarray(y).ravel()
    if folds is None:
        counts = np.bincount(yy)
        smallest = counts[counts > 0].min()
        if smallest < n_splits:
            raise ValueError(f"the smallest class has {smallest} graphs, fewer than n_splits={n_splits}; "
                             "lower n_splits or pass precomputed folds")
        return list(StratifiedKFold(n_splits, shuffle=True, random_state=int(seed)).split(np.zeros(len(yy)), yy))
    splits = [(np.asarray(tr, dtype=np.int64).ravel(), np.asarray(te, dtype=np.int64).ravel()) for tr, te in folds]
    for i, (tr, te) in enumerate(splits):
        if tr.size == 0 or te.size == 0:
            raise ValueError(f"fold {i} has an empty train or test part")
        if np.intersect1d(tr, te).size:
            raise ValueError(f"fold {i}: train and test indices overlap")
        if min(tr.min(), te.min()) < 0 or max(tr.max(), te.max()) >= len(yy):
            raise ValueError(f"fold {i} indexes outside [0, {len(yy)}); folds and embeddings disagree")
    tested = np.concatenate([te for _, te in splits])
    if np.unique(tested).size != tested.size:
        raise ValueError("the precomputed folds test some graph more than once; test folds must be disjoint")
    return splits


def official_split(num_graphs: int, seed: int, val_ratio: float = 0.2, test_ratio: float = 0.3
                   ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The official IsoC-VGAE graph split: shuffle, first ``int(0.2 G)`` validation, next
    ``int(0.3 G)`` test, the rest (~50%) training. Returns ``(train, val, test)`` indices."""
    perm = np.random.default_rng(int(seed)).permutation(num_graphs)
    n_val, n_test = int(val_ratio * num_graphs), int(test_ratio * num_graphs)
    return perm[n_val + n_test:], perm[:n_val], perm[n_val:n_val + n_test]


def mlp_protocol(
    graph_emb: ArrayLike,
    y: ArrayLike,
    seed: int = 0,
    *,
    split: Optional[Tuple[ArrayLike, ArrayLike, ArrayLike]] = None,
    hidden: int = 256,
    num_hidden: int = 4,
    dropout: float = 0.5,
    lr: float = 1e-3,
    epochs: int = 50,
    patience: int = 10,
    batch_size: int = 64,
    device: Device = None,
) -> ProtocolResult:
    """The official IsoC-VGAE MLP graph classifier on its single 50/20/30 split.

    Args:
        graph_emb: ``[G, d]`` graph embeddings; y: ``[G]`` class ids.
        seed: draws the split (:func:`official_split`) and seeds the MLP.
        split: optional precomputed ``(train, val, test)`` index arrays.
        hidden, num_hidden, dropout, lr, epochs, patience, batch_size: official 256, 4, 0.5,
            1e-3, 50, 10, 64.
    Returns:
        ``ProtocolResult("accuracy", test_acc, {"val_accuracy", "best_epoch"})``.
    """
    dev = resolve_device(device)
    x = as_float_tensor(graph_emb, "graph_emb", dev)
    yy = as_labels(y, x.size(0), dev)
    parts = split if split is not None else official_split(x.size(0), seed)
    idx = [torch.as_tensor(np.asarray(p, dtype=np.int64)).view(-1).to(dev) for p in parts]
    for name, p in zip(("train", "val", "test"), idx):
        if p.numel() == 0:
            raise ValueError(f"the {name} part of the graph split is empty ({x.size(0)} graphs); need more graphs")
    best_val, test_acc, best_epoch = fit_mlp_classifier(
        x, yy, *idx, seed, hidden=hidden, num_hidden=num_hidden, dropout=dropout, lr=lr,
        epochs=epochs, patience=patience, batch_size=batch_size, keep_latest_on_tie=True,
        desc="graph mlp probe")
    return ProtocolResult("accuracy", test_acc, {"val_accuracy": best_val, "best_epoch": float(best_epoch)})
