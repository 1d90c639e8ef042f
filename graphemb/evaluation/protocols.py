"""Registry of evaluation protocols with one uniform signature.

Every entry is ``fn(inputs: EvalInputs, seed: int, device) -> ProtocolResult`` and is keyed
``"<task>/<name>"``: ``node/linear`` (default for node), ``node/mlp``, ``link/dot`` (default for
link), ``link/mlp``, ``link/decoder`` (the model's own edge decoder), ``graph/svm`` (default for
graph), ``graph/mlp``; ``mlp`` is always the official IsoC-VGAE probe. ``node/ogb``, ``link/ogb``, ``graph/ogb``: the official OGB split and
Evaluator (:mod:`graphemb.evaluation.ogb`), the default for OGB datasets. Register a new protocol with ``@PROTOCOLS.register("node/knn")``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from graphemb.evaluation import graph as _graph
from graphemb.evaluation import link as _link
from graphemb.evaluation import node as _node
from graphemb.evaluation import ogb as _ogb
from graphemb.evaluation.stats import ProtocolResult
from graphemb.registry import Registry, normalize_name

TASKS = ("node", "link", "graph")
DEFAULT_PROTOCOLS: Dict[str, str] = {"node": "linear", "link": "dot", "graph": "svm"}


@dataclass
class EvalInputs:
    """What a protocol may consume (each protocol checks the fields it needs).

    Attributes:
        embeddings: ``[N, d]`` node embeddings (node / link tasks) or ``[G, d]`` graph embeddings.
        y: ``[N]`` or ``[G]`` class ids (node / graph tasks).
        train_mask, val_mask, test_mask: ``[N]`` bool masks (node task; public split).
        split: a ``graphemb.data.splits.LinkSplit`` (link task).
        folds: optional ``(train_idx, test_idx)`` pairs (graph/svm; e.g. the GIN 10 folds).
        options: keyword overrides forwarded to the protocol function (``epochs``, ``Cs``, ...).
        dataset: the dataset name (the ``ogb`` protocols pick their Evaluator by it).
        split_idx: official ``{"train", "valid", "test"}`` indices (``ogb`` node/graph protocols).
        pair_scores: the trained model's own pair scorer, ``[2, P]`` pairs -> ``[P]`` scores
            (``link/decoder``); the protocol never sees the model itself.
    """

    embeddings: Tensor | np.ndarray
    y: Optional[Tensor | np.ndarray] = None
    train_mask: Optional[Tensor | np.ndarray] = None
    val_mask: Optional[Tensor | np.ndarray] = None
    test_mask: Optional[Tensor | np.ndarray] = None
    split: Optional[Any] = None
    folds: Optional[Sequence[Tuple[Any, Any]]] = None
    options: Mapping[str, Any] = field(default_factory=dict)
    dataset: Optional[str] = None
    split_idx: Optional[Mapping[str, Any]] = None
    pair_scores: Optional[Callable[[Tensor], Tensor]] = None


ProtocolFn = Callable[[EvalInputs, int, Any], ProtocolResult]
PROTOCOLS: Registry[ProtocolFn] = Registry("protocol")


def _need(inputs: EvalInputs, key: str, *fields: str) -> None:
    missing = [f for f in fields if getattr(inputs, f) is None]
    if missing:
        raise ValueError(f"protocol {key!r} needs EvalInputs.{', EvalInputs.'.join(missing)}")


@PROTOCOLS.register("node/linear")
def node_linear(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Logistic-regression probe on the public split (:func:`graphemb.evaluation.node.linear_probe`)."""
    _need(inputs, "node/linear", "y", "train_mask", "val_mask", "test_mask")
    return _node.linear_probe(inputs.embeddings, inputs.y, inputs.train_mask, inputs.val_mask,
                              inputs.test_mask, seed, device=device, **dict(inputs.options))


@PROTOCOLS.register("node/mlp")
def node_mlp(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official IsoC-VGAE MLP probe (:func:`graphemb.evaluation.node.mlp_probe`)."""
    _need(inputs, "node/mlp", "y", "val_mask", "test_mask")
    return _node.mlp_probe(inputs.embeddings, inputs.y, inputs.train_mask, inputs.val_mask,
                           inputs.test_mask, seed, device=device, **dict(inputs.options))


@PROTOCOLS.register("link/dot")
def link_dot(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Inner-product scores, AUC/AP/Hits@K/MRR (:func:`graphemb.evaluation.link.dot_protocol`)."""
    _need(inputs, "link/dot", "split")
    return _link.dot_protocol(inputs.embeddings, inputs.split, seed, device=device, **dict(inputs.options))


@PROTOCOLS.register("link/mlp")
def link_mlp(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official Hadamard-MLP predictor (:func:`graphemb.evaluation.link.mlp_protocol`)."""
    _need(inputs, "link/mlp", "split")
    return _link.mlp_protocol(inputs.embeddings, inputs.split, seed, device=device, **dict(inputs.options))


@PROTOCOLS.register("link/decoder")
def link_decoder(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """The model's own edge decoder (:func:`graphemb.evaluation.link.decoder_protocol`)."""
    if inputs.pair_scores is None:
        raise ValueError("protocol 'link/decoder' scores pairs with the trained model's own edge decoder, and this "
                         "model has none (MaskGAE has one); use --protocol dot or --protocol mlp")
    _need(inputs, "link/decoder", "split")
    return _link.decoder_protocol(inputs.pair_scores, inputs.split, int(inputs.embeddings.shape[0]), seed,
                                  device=device, **dict(inputs.options))


@PROTOCOLS.register("graph/svm")
def graph_svm(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """SVM, C by inner CV, 10-fold CV (:func:`graphemb.evaluation.graph.svm_protocol`); CPU only."""
    _need(inputs, "graph/svm", "y")
    return _graph.svm_protocol(inputs.embeddings, inputs.y, seed, inputs.folds, **dict(inputs.options))


@PROTOCOLS.register("graph/mlp")
def graph_mlp(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official IsoC-VGAE MLP on a 50/20/30 split (:func:`graphemb.evaluation.graph.mlp_protocol`)."""
    _need(inputs, "graph/mlp", "y")
    return _graph.mlp_protocol(inputs.embeddings, inputs.y, seed, device=device, **dict(inputs.options))


@PROTOCOLS.register("node/ogb")
def node_ogb(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official ogbn split + Evaluator, linear probe (:func:`graphemb.evaluation.ogb.probe_protocol`)."""
    _need(inputs, "node/ogb", "y", "split_idx", "dataset")
    return _ogb.probe_protocol(inputs.embeddings, inputs.y, inputs.split_idx, inputs.dataset, seed, device=device,
                               **dict(inputs.options))


@PROTOCOLS.register("link/ogb")
def link_ogb(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official ogbl edge split + Evaluator (:func:`graphemb.evaluation.ogb.link_protocol`)."""
    _need(inputs, "link/ogb", "split", "dataset")
    return _ogb.link_protocol(inputs.embeddings, inputs.split, inputs.dataset, seed, device=device,
                              **dict(inputs.options))


@PROTOCOLS.register("graph/ogb")
def graph_ogb(inputs: EvalInputs, seed: int, device: Any = None) -> ProtocolResult:
    """Official ogbg split + Evaluator, linear probe (:func:`graphemb.evaluation.ogb.probe_protocol`)."""
    _need(inputs, "graph/ogb", "y", "split_idx", "dataset")
    return _ogb.probe_protocol(inputs.embeddings, inputs.y, inputs.split_idx, inputs.dataset, seed, device=device,
                               **dict(inputs.options))


def protocol_key(task: str, name: Optional[str] = None) -> str:
    """``"task/name"`` with the task's default when ``name`` is ``None``."""
    task = normalize_name(task)
    if task not in DEFAULT_PROTOCOLS:
        raise ValueError(f"unknown task {task!r}; choose one of {list(TASKS)}")
    name = normalize_name(name) if name else DEFAULT_PROTOCOLS[task]
    if "/" in name:  # accept a full key too
        if not name.startswith(task + "/"):
            raise ValueError(f"protocol {name!r} does not belong to task {task!r}")
        return name
    return f"{task}/{name}"


def get_protocol(task: str, name: Optional[str] = None) -> ProtocolFn:
    """The protocol function for ``task`` (``name`` defaults to the task's default)."""
    key = protocol_key(task, name)
    if key not in PROTOCOLS:
        raise KeyError(f"unknown protocol {name!r} for task {task!r}; known: {', '.join(protocol_names(task))}")
    return PROTOCOLS.get(key)


def protocol_names(task: Optional[str] = None) -> List[str]:
    """Protocol names (without the task prefix) for ``task``, or every full key."""
    if task is None:
        return PROTOCOLS.names()
    prefix = normalize_name(task) + "/"
    return [k[len(prefix):] for k in PROTOCOLS.names() if k.startswith(prefix)]


def run_protocol(task: str, name: Optional[str], inputs: EvalInputs, seed: int,
                 device: Any = None) -> ProtocolResult:
    """Look up and run one protocol for one seed. An option the protocol does not take is a
    ``ConfigError`` that names it (not a bare ``TypeError`` from deep inside)."""
    fn = get_protocol(task, name)
    try:
        return fn(inputs, int(seed), device)
    except TypeError as e:
        bad = [k for k in dict(inputs.options) if f"unexpected keyword argument '{k}'" in str(e)]
        if not bad:
            raise
        from graphemb.config import ConfigError

        doc = (fn.__doc__ or "").strip().splitlines()
        raise ConfigError(f"protocol {task}/{name or 'default'} has no option {bad[0]!r}"
                          + (f"; it is: {doc[0]}" if doc else "")) from None
