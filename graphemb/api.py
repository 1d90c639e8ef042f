"""Python API: the CLI's verbs in a few calls.

>>> from graphemb import api
>>> run = api.train("isoc-vgae", "Cora", task="node", preset="paper", seed=0, out="runs/cora")
>>> api.evaluate(run, protocol="linear")["mean"]        # doctest: +SKIP
>>> api.reproduce("vgae", "Cora", task="link", seeds=5)  # mean ± std over seeds  # doctest: +SKIP
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.export import write_table
from graphemb.config import ConfigError, RunConfig, build_run_config, to_dict
from graphemb.models import MODELS
from graphemb.models.base import EmbeddingModel
from graphemb.registry import normalize_name
from graphemb.training import rundir
from graphemb.training.embeddings import fit_embeddings  # noqa: F401  (re-export)
from graphemb.training.inference import embed_graphs, embed_nodes_for
from graphemb.training.trainer import TrainResult, fit
from graphemb.utils.seed import set_seed

PathLike = Union[str, Path]


@dataclass
class Run:
    """A trained run: config, model, training summary and frozen embeddings.

    Attributes:
        config: the resolved :class:`~graphemb.config.RunConfig`.
        model: the trained model (on CPU, eval mode).
        train_result: loss history and timings.
        embeddings: node embeddings ``[N, d]`` (node/link tasks) or graph embeddings ``[G, d]``.
        ids: node ids ``[N]`` or graph ids ``[G]`` matching the rows of ``embeddings``.
        dataset: the loaded dataset.
        split: the link split (link task only).
        run_dir: where the run was saved, if anywhere.
    """

    config: RunConfig
    model: EmbeddingModel
    train_result: TrainResult
    embeddings: Tensor
    ids: Tensor
    dataset: Any
    split: Any = None
    run_dir: Optional[Path] = None


def _default_task(dataset) -> str:
    return "graph" if dataset.level == "graph" else "node"


def load_data(config: RunConfig, root: Optional[str] = None):
    """Load the dataset a config names (``root`` overrides ``config.data.root``)."""
    from graphemb.data import load_dataset

    kwargs = dict(config.data.options)
    if config.data.features:
        kwargs.setdefault("features", config.data.features)
    return load_dataset(config.data.name, root=root or config.data.root, **kwargs)


def _check_task(task: str, dataset) -> None:
    """A task that does not fit the data is a configuration error (CLI exit code 2)."""
    if task in ("node", "link") and dataset.level != "node":
        raise ConfigError(f"task {task!r} needs a single-graph dataset, but {dataset.name!r} is a set of graphs; use --task graph")
    if task == "graph" and dataset.level != "graph":
        raise ConfigError(f"task 'graph' needs a set of graphs, but {dataset.name!r} is one graph; use --task node or link")


def _validate(dataset) -> None:
    """Clear errors for empty graphs, bad indices and NaN/inf features before any training."""
    from graphemb.data.validate import validate_graph

    graphs = [dataset.data] if dataset.level == "node" else list(dataset.graphs or [])
    if not graphs or graphs[0] is None:
        raise ValueError(f"dataset {dataset.name!r} holds no graphs")
    for i, g in enumerate(graphs):  # once per run, per graph (not per node)
        label = dataset.name if dataset.level == "node" else f"{dataset.name} graph {i}"
        if getattr(g, "x", None) is None:
            raise ValueError(f"{label} has no node features; set --set data.features=degree (or constant)")
        validate_graph(g, name=label)


def prepare_training_input(config: RunConfig, dataset):
    """What the encoder trains on: the graph (node), its training edges only (link), or the graphs."""
    task = config.task.name
    _check_task(task, dataset)
    _validate(dataset)
    if task == "node":
        if config.train.select_by == "val":
            # Unsupervised checkpoint selection on held-out edges (MaskGAE's node protocol): the
            # encoder trains on the training edges; embeddings are still of the full graph.
            from graphemb.data.splits import link_split

            split = link_split(dataset.data, val_ratio=config.task.link_val_ratio,
                               test_ratio=config.task.link_test_ratio, seed=config.train.seed)
            return (dataset.data if config.task.node_pretrain == "full" else split.train_data), split
        return dataset.data, None
    if task == "link":
        from graphemb.data.ogb import official_link_split
        from graphemb.data.splits import link_split

        from graphemb.data.features import DEFAULT_DEGREE_CAP, refeaturize_training_graph

        split = official_link_split(dataset)  # ogbl-*: the official edges, never re-split
        if split is None:
            split = link_split(dataset.data, val_ratio=config.task.link_val_ratio,
                               test_ratio=config.task.link_test_ratio, seed=config.train.seed)
        # degree features from the training edges only (the loader computed them on all edges)
        cap = int(config.data.options.get("degree_cap", DEFAULT_DEGREE_CAP))
        train_data, note = refeaturize_training_graph(split.train_data, dataset.feature_note, cap)
        if note is not None:
            split = replace(split, train_data=train_data)
        return split.train_data, split
    return list(dataset.graphs), None


def compute_embeddings(model: EmbeddingModel, config: RunConfig, train_input, dataset):
    """Frozen embeddings and their ids for the run's task."""
    device = config.train.device
    if config.task.name == "graph":
        # the training mini-batch size; in eval mode no norm mixes the graphs of a batch (the paper
        # preset's whole-batch PairNorm uses its running statistics), so the batching never matters
        emb = embed_graphs(model, train_input, device=device, pool=config.task.graph_pool,
                           readout=config.task.graph_readout, batch_size=config.train.batch_size or 256)
        ids = torch.as_tensor([int(getattr(g, "graph_id", i)) for i, g in enumerate(train_input)]) \
            if not hasattr(dataset, "graph_ids") else torch.as_tensor(dataset.graph_ids)
        return emb, ids
    emb = embed_nodes_for(model, dataset.data if config.task.name == "node" else train_input, config.train)
    ids = getattr(dataset.data, "node_id", None)
    if ids is None:
        ids = torch.arange(emb.size(0))
    return emb, ids


def train(
    model: str,
    dataset: Optional[Union[str, Any]] = None,
    *,
    task: Optional[str] = None,
    preset: Optional[str] = None,
    config_file: Optional[PathLike] = None,
    overrides: Sequence[str] = (),
    values: Optional[Mapping[str, Any]] = None,
    seed: Optional[int] = None,
    device: Optional[str] = None,
    out: Optional[PathLike] = None,
    data_root: Optional[str] = None,
    deterministic: bool = False,
    progress: Optional[bool] = None,
    overwrite: bool = False,
) -> Run:
    """Train ``model`` on ``dataset`` for ``task`` and (optionally) save a run directory.

    Args:
        model: registered model name (``isoc-vgae``, ``vgae``, ``gae``).
        dataset: a dataset name, a loaded ``GraphDataset``, or your own graph: a PyG ``Data``
            (node level; featureless graphs get one-hot degree features) or a list of ``Data``
            (graph level). The returned :class:`Run` holds the trained ``model`` too.
        task: ``node`` | ``link`` | ``graph`` (default: ``graph`` for sets of graphs, else ``node``).
        preset: ``default`` | ``paper``.
        config_file / overrides / values: see :func:`graphemb.config.build_run_config`.
        seed / device: shorthands for ``train.seed`` / ``train.device``.
        out: run directory; nothing is written when ``None``. Written to ``out.partial`` and
            renamed into place when finished (see :mod:`graphemb.training.rundir`).
        overwrite: replace an existing run in ``out`` (as a whole); without it a non-empty
            ``out`` raises :class:`~graphemb.training.rundir.RunDirExists` before anything runs.
    """
    if out is not None:
        rundir.check_out(out, overwrite)  # before loading any data
    sets: List[str] = []
    if seed is not None:
        sets.append(f"train.seed={seed}")
    if device is not None:
        sets.append(f"train.device={device}")
    if deterministic:
        sets.append("train.deterministic=true")
    if progress is not None:
        sets.append(f"train.progress={str(progress).lower()}")
    config, loaded = _resolve(model, dataset, task=task, preset=preset, config_file=config_file,
                              overrides=list(overrides) + sets, values=values, data_root=data_root)
    return train_config(config, loaded, out=out, overwrite=overwrite)


def resume(run_dir: PathLike, *, overwrite: bool = False, device: Optional[str] = None,
           data_root: Optional[str] = None, progress: Optional[bool] = None, dataset: Optional[Any] = None) -> Run:
    """Continue an interrupted run from its last checkpoint (``train.checkpoint_every``).

    Args:
        run_dir: the unfinished run, ``OUT.partial`` (or ``OUT`` itself); it must hold
            ``resume.pt``. The finished run is renamed to ``OUT``.
        overwrite: replace a finished run already at ``OUT`` (needed if the interrupted run
            was started with ``overwrite``).
        device: train on another device (the weights then differ from an uninterrupted run).
        dataset: the loaded dataset, when the run was trained on one passed in memory
            (default: load ``data.name`` of the saved config).
    The config is the one saved with the run; the result equals an uninterrupted run.
    """
    out = rundir.final_dir(run_dir)
    partial = rundir.partial_dir(out)
    if not (partial / rundir.RESUME_FILE).is_file():
        done = "" if not (out / "checkpoint.pt").is_file() else f" ({out} holds a finished run)"
        raise rundir.NothingToResume(f"nothing to resume in {partial}: no {rundir.RESUME_FILE} there{done}; an "
                                "interrupted run keeps one once it reached train.checkpoint_every epochs")
    config = rundir.load_config(partial)
    if device is not None or progress is not None:
        config = replace(config, train=replace(config.train, device=device or config.train.device,
                                               progress=config.train.progress if progress is None else progress))
    dataset = dataset if dataset is not None else load_data(config, data_root)
    return train_config(config, dataset, out=out, overwrite=overwrite, resume=True)


def _task_given(task, config_file, overrides, values) -> bool:
    """Whether the caller named a task anywhere (argument, ``--set task.name``, values, YAML)."""
    from graphemb.config import load_yaml

    if task is not None or any(o.split("=", 1)[0].strip() == "task.name" for o in overrides):
        return True
    if values and isinstance(values.get("task"), Mapping) and "name" in values["task"]:
        return True
    if config_file is not None:
        section = load_yaml(config_file).get("task")
        return isinstance(section, Mapping) and "name" in section
    return False


def _resolve(model, dataset, *, task, preset, config_file, overrides, values, data_root):
    """Resolve the config and load the dataset; with no task named anywhere, the task is the
    dataset's natural one (``graph`` for sets of graphs, else ``node``) and its preset level applies."""
    if isinstance(dataset, Data) or isinstance(dataset, (list, tuple)):
        from graphemb.data.convert import as_dataset

        dataset = as_dataset(dataset)  # a user's own graph(s)
    loaded = None if dataset is None or isinstance(dataset, str) else dataset
    ds_name = dataset if isinstance(dataset, str) else (loaded.name if loaded is not None else None)
    kwargs = dict(dataset=ds_name, preset=preset, config_file=config_file, overrides=list(overrides), values=values)
    config = build_run_config(model, task=task, **kwargs)
    if loaded is None:
        loaded = load_data(config, data_root)
    if not _task_given(task, config_file, overrides, values):
        natural = _default_task(loaded)
        if natural != config.task.name:
            config = build_run_config(model, task=natural, **kwargs)
    return config, loaded


def _in_channels(train_input, dataset) -> int:
    """Feature width the encoder sees (a link task's training graph may re-derive its features)."""
    x = getattr(train_input, "x", None)
    return int(x.size(1)) if isinstance(x, Tensor) else int(dataset.num_features)


def train_config(config: RunConfig, dataset, out: Optional[PathLike] = None, *, overwrite: bool = False,
                 resume: bool = False) -> Run:
    """Train from a resolved config on a loaded dataset (the core of :func:`train`).

    With ``out``, the run is written through a :class:`~graphemb.training.rundir.RunWriter`:
    locked, into ``out.partial`` with a resumable checkpoint every ``train.checkpoint_every``
    epochs, renamed to ``out`` when finished (``resume``: continue ``out.partial``).
    """
    from graphemb.training import distributed

    if out is None or not distributed.join(config.train).is_main:  # only rank 0 writes the run
        if resume and out is None:
            raise ValueError("resume=True needs the run directory (out=...)")
        return _train(config, dataset, resume=resume)
    with rundir.RunWriter(out, overwrite=overwrite, resume=resume) as writer:
        if not resume:
            rundir.save_config(writer.path, config)
        run = _train(config, dataset, checkpoint=writer.resume_file, resume=resume)
        _write_run_files(run, writer.path)
        run.run_dir = writer.commit()
    return run


def _train(config: RunConfig, dataset, checkpoint: Optional[Path] = None, resume: bool = False) -> Run:
    set_seed(config.train.seed, config.train.deterministic)
    train_input, split = prepare_training_input(config, dataset)
    in_channels = _in_channels(train_input, dataset)
    model = MODELS.get(config.model_name).from_config(in_channels, config.model)
    result = fit(model, train_input, config.train, checkpoint=checkpoint, resume=resume,
                 val_score=_link_val_score(split, train_input))
    from graphemb.training.distributed import is_main

    # The ranks of a distributed run end with the same weights: rank 0 alone embeds.
    emb, ids = compute_embeddings(model, config, train_input, dataset) if is_main() else (None, None)
    model.cpu().eval()
    return Run(config, model, result, emb, ids, dataset, split, None)


def _link_val_score(split, train_data):
    """Unsupervised checkpoint score for ``train.select_by=val``: validation-edge AUC of the model's
    pair scores (``model.link_scores(x, edge_index, pairs)`` when it has a decoder for them, else
    ``z_u . z_v`` of its embeddings).
    Uses validation edges and sampled non-edges only, never labels. ``None`` without a link split."""
    if split is None:
        return None
    from sklearn.metrics import roc_auc_score

    from graphemb.evaluation.link import pair_dot

    def score(model: EmbeddingModel) -> float:
        dev = next(model.parameters()).device
        x, ei = train_data.x.to(dev), train_data.edge_index.to(dev)
        scorer = getattr(model, "link_scores", None)
        z = model.embed(x, ei) if scorer is None else None
        with torch.no_grad():
            pos, neg = (scorer(x, ei, e.to(dev)) if scorer is not None else pair_dot(z, e.to(dev))
                        for e in (split.val_pos, split.val_neg))
        labels = np.r_[np.ones(pos.numel()), np.zeros(neg.numel())]
        return float(roc_auc_score(labels, torch.cat([pos, neg]).double().cpu().numpy()))

    return score


def _train_summary(result: TrainResult) -> Dict[str, Any]:
    d = to_dict(result)
    d.pop("history")
    return d


def _write_run_files(run: Run, d: Path) -> None:
    rundir.save_config(d, run.config)
    rundir.save_checkpoint(d, run.model, run.config, _in_channels(getattr(run.split, "train_data", None), run.dataset))
    level = "graph" if run.config.task.name == "graph" else "node"
    rundir.save_embeddings(d, run.embeddings, run.ids, level)
    if run.split is not None:
        rundir.save_split(d, run.split)
    metrics = {"train": _train_summary(run.train_result), "history": run.train_result.history,
               **rundir.provenance()}
    rundir.save_metrics(d, metrics)


def save_run(run: Run, out: Optional[PathLike] = None, *, overwrite: bool = False) -> Path:
    """Write a run (config, checkpoint, embeddings, split, metrics) to ``out`` (default
    ``run.run_dir``) as a whole: locked, via ``out.partial``, renamed into place. Returns the path."""
    out = out if out is not None else run.run_dir
    if out is None:
        raise ValueError("run has no run_dir; pass out= to save_run() (or to train())")
    with rundir.RunWriter(out, overwrite=overwrite) as writer:
        _write_run_files(run, writer.path)
        run.run_dir = writer.commit()
    return run.run_dir


# ----------------------------------------------------------------------------- evaluation


DEFAULT_RANDOM_SPLIT = "1:1:8"


def parse_split(text: str) -> Tuple[float, float, float]:
    """``"1:1:8"`` -> ``(0.1, 0.1, 0.8)``: train/val/test proportions of a random node split."""
    from graphemb.config import ConfigError

    try:
        parts = [float(p) for p in str(text).split(":")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(p < 0 for p in parts) or sum(parts) <= 0 or parts[0] == 0 or parts[2] == 0:
        raise ConfigError(f"task.split must look like train:val:test with positive train and test parts "
                          f"(e.g. 1:1:8), got {text!r}")
    total = sum(parts)
    return parts[0] / total, parts[1] / total, parts[2] / total


def node_split_name(config: RunConfig, dataset) -> str:
    """``public`` or ``random a:b:c`` (per seed): the node split the evaluation uses."""
    d = dataset.data
    if config.task.split is None and getattr(d, "train_mask", None) is not None:
        return "public"
    return f"random {config.task.split or DEFAULT_RANDOM_SPLIT} per seed"


def node_masks(config: RunConfig, dataset, seed: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Train/val/test masks: the public split, or a random split drawn with ``seed``."""
    from graphemb.data.splits import random_split_indices

    d = dataset.data
    if config.task.split is None and getattr(d, "train_mask", None) is not None:
        return d.train_mask, d.val_mask, d.test_mask
    fr = parse_split(config.task.split or DEFAULT_RANDOM_SPLIT)
    masks = []
    for idx in random_split_indices(d.num_nodes, fr, seed=seed):
        m = torch.zeros(d.num_nodes, dtype=torch.bool)
        m[idx] = True
        masks.append(m)
    return masks[0], masks[1], masks[2]


def split_name(config: RunConfig, dataset, task: str, protocol: Optional[str] = None,
               options: Optional[Mapping[str, Any]] = None) -> str:
    """Which data split a record's numbers come from (stored in every JSON record);
    ``options``: the protocol options (``--probe``), e.g. the SVM's ``fold_seed``."""
    if task == "node":
        return node_split_name(config, dataset)
    if task == "graph" and (protocol or config.task.protocol) == "mlp":
        return "random 50/20/30 per seed"
    if task == "link":
        t = config.task
        return f"edges {1 - t.link_val_ratio - t.link_test_ratio:.2f}/{t.link_val_ratio:.2f}/{t.link_test_ratio:.2f} per seed"
    if (options or {}).get("fold_seed") is not None:
        return f"stratified folds drawn with seed {int(options['fold_seed'])} for every run"
    return "dataset 10 folds" if getattr(dataset, "folds", None) else "stratified folds per seed"


def _pair_scorer(model: Optional[EmbeddingModel], split) -> Optional[Any]:
    """The model's own pair scores over the training graph (``model.link_scores``), or ``None``
    when it has no edge decoder (or no model is given)."""
    scorer = getattr(model, "link_scores", None)
    if scorer is None or split is None:
        return None
    train = split.train_data
    dev = next(model.parameters()).device

    def score(pairs: Tensor) -> Tensor:
        return scorer(train.x.to(dev), train.edge_index.to(dev), pairs.to(dev)).cpu()

    return score


def _eval_inputs(task: str, embeddings: Tensor, dataset, split, options: Optional[Mapping[str, Any]] = None,
                 config: Optional[RunConfig] = None, seed: int = 0, model: Optional[EmbeddingModel] = None) -> Any:
    from graphemb.evaluation.protocols import EvalInputs

    options = dict(options or {})
    name = getattr(dataset, "name", None)
    official = getattr(dataset, "extra", {}).get("split_idx")  # OGB: the official split
    if task == "node":
        d = dataset.data
        if config is not None:
            tr, va, te = node_masks(config, dataset, seed)
        else:
            tr, va, te = d.train_mask, d.val_mask, d.test_mask
        return EvalInputs(embeddings, y=d.y, train_mask=tr, val_mask=va, test_mask=te, options=options,
                          dataset=name, split_idx=official)
    if task == "link":
        if split is None:
            raise ValueError("link evaluation needs the edge split the encoder was trained on; "
                             "train the run with --task link")
        return EvalInputs(embeddings, split=split, options=options, dataset=name,
                          pair_scores=_pair_scorer(model, split))
    if getattr(dataset, "source", "") == "ogb":
        from graphemb.data.ogb import ogb_eval_targets

        y = ogb_eval_targets(dataset)  # [G, T], NaN = missing: the Evaluator's layout
    else:
        y = torch.cat([g.y.view(-1)[:1] for g in dataset.graphs])
    return EvalInputs(embeddings, y=y, folds=getattr(dataset, "folds", None), options=options, dataset=name,
                      split_idx=official)


def _split_namespace(tensors: Optional[Mapping[str, Tensor]]):
    if tensors is None:
        return None
    from types import SimpleNamespace

    return SimpleNamespace(**tensors)


def evaluate_embeddings(config: RunConfig, embeddings: Tensor, dataset, split, *, task: Optional[str] = None,
                        protocol: Optional[str] = None, seed: Optional[int] = None, device: Optional[str] = None,
                        options: Optional[Mapping[str, Any]] = None, model: Optional[EmbeddingModel] = None):
    """Run one protocol on frozen embeddings; returns ``(protocol name, ProtocolResult)``.

    ``options`` are keyword overrides for the protocol function (e.g. ``{"n_jobs": 8}`` for svm).
    ``model``: the trained model, needed only by ``link/decoder`` (its own pair scores).
    """
    from graphemb.evaluation.protocols import protocol_key, run_protocol

    trained = config.task.name
    task = task or trained
    if task == "link" and trained != "link":
        raise ConfigError(f"this run was trained for task {trained!r} on all edges; link evaluation needs an "
                         "encoder trained on training edges only: train with --task link")
    if task == "graph" and trained != "graph" or task != "graph" and trained == "graph":
        raise ConfigError(f"this run was trained for task {trained!r}; it cannot be evaluated for task {task!r}")
    from graphemb.evaluation import ogb as _ogb

    ogb_dataset = getattr(dataset, "source", "") == "ogb" and _ogb.is_ogb(dataset.name)
    default = "ogb" if ogb_dataset and _ogb.is_ogb_task(dataset.name, task) else None
    key = protocol_key(task, protocol or config.task.protocol or default)
    if ogb_dataset:
        _ogb.check_protocol(dataset.name, task, key.split("/", 1)[1])
    seed = config.train.seed if seed is None else seed
    inputs = _eval_inputs(task, embeddings, dataset, split, options, config=config, seed=seed, model=model)
    return key.split("/", 1)[1], run_protocol(task, key, inputs, seed, device or config.train.device)


def _name_official_protocol(rec: Dict[str, Any], dataset, protocol: str) -> None:
    """An OGB record says which official protocol produced it (``rec["official"]``)."""
    if protocol == "ogb":
        from graphemb.evaluation.ogb import describe

        rec["official"] = describe(dataset.name)


def _rederive_training_graph(config: RunConfig, dataset, split):
    """The training graph a saved link run's encoder read (the edge split is deterministic in the
    seed), checked against the run's stored split."""
    train_input, again = prepare_training_input(config, dataset)
    if again is None or not all(torch.equal(getattr(again, k).cpu(), getattr(split, k).cpu())
                                for k in ("train_pos", "test_pos", "test_neg")):
        raise RuntimeError("the stored edge split of this run is not what its config re-derives (data or code "
                           "changed since it was trained); retrain it to score pairs with its decoder")
    return train_input


def evaluate(
    run: Union[Run, PathLike],
    *,
    task: Optional[str] = None,
    protocol: Optional[str] = None,
    seed: Optional[int] = None,
    device: Optional[str] = None,
    data_root: Optional[str] = None,
    options: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Evaluate a run's frozen embeddings with one protocol; returns the JSON result record.

    The record is also stored in the run directory's ``metrics.json`` under ``evaluation``.
    ``options`` are keyword overrides for the protocol function (e.g. ``{"epochs": 100}`` for
    the linear probe).
    """
    from graphemb.evaluation.stats import record_from_results

    import contextlib

    start = time.perf_counter()
    run_dir = run.run_dir if isinstance(run, Run) else Path(run)
    # Shared lock: no run replaces this one while it is evaluated, so the record below lands in
    # the run it was computed on; concurrent evaluations serialise only their metrics update.
    lock = rundir.RunLock(run_dir, shared=True, purpose="evaluating") if run_dir is not None else None
    with lock or contextlib.nullcontext():
        if isinstance(run, Run):
            config, emb, dataset, split, model = run.config, run.embeddings, run.dataset, run.split, run.model
        else:
            config = rundir.load_config(run_dir)
            emb, _, _ = rundir.load_embeddings(run_dir)
            dataset = load_data(config, data_root)
            split = _split_namespace(rundir.load_split(run_dir))
            model = None
            if protocol and normalize_name(protocol) == "decoder" and split is not None:
                model = rundir.load_checkpoint(run_dir)[0]
                split.train_data = _rederive_training_graph(config, dataset, split)
        name, result = evaluate_embeddings(config, emb, dataset, split, task=task, protocol=protocol, seed=seed,
                                           device=device, options=options, model=model)
        rec = record_from_results(config.model_name, config.data.name, task or config.task.name, name, [result],
                                  time.perf_counter() - start)
        _name_official_protocol(rec, dataset, name)
        rec["split"] = split_name(config, dataset, task or config.task.name, name, options)
        if run_dir is not None:
            def add_record(metrics: Dict[str, Any]) -> None:
                metrics.setdefault("evaluation", {})[f"{rec['task']}/{name}"] = rec

            rundir.update_metrics(run_dir, add_record)  # atomic; keeps the training metrics
    return rec


def reproduce(
    model: Optional[str],
    dataset: Optional[str] = None,
    *,
    task: Optional[str] = None,
    seeds: int = 5,
    first_seed: int = 0,
    protocol: Optional[str] = None,
    preset: Optional[str] = None,
    config_file: Optional[PathLike] = None,
    overrides: Sequence[str] = (),
    device: Optional[str] = None,
    data_root: Optional[str] = None,
    deterministic: bool = False,
    progress: Optional[bool] = None,
    probe_options: Optional[Mapping[str, Any]] = None,
) -> Dict[str, Any]:
    """Train and evaluate with seeds ``first_seed .. first_seed + seeds - 1``; mean ± std.

    ``probe_options``: keyword options of the evaluation protocol (e.g. ``{"weight_decays":
    [0.1]}`` for the linear probe), stored in the record as ``probe_options``.

    Each seed re-initialises the model, and for link prediction also draws a new edge split.
    Returns the JSON record ``{"model", "dataset", "task", "protocol", "metric", "mean", "std",
    "values", "seconds", ...}`` plus ``train_seconds_per_epoch`` (mean over seeds).
    """
    from graphemb.evaluation.stats import record_from_results

    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    start = time.perf_counter()
    base, loaded = _resolve(model, dataset, task=task, preset=preset, config_file=config_file,
                            overrides=list(overrides), values=None, data_root=data_root)
    model = base.model_name
    results, epoch_secs, name = [], [], None
    for s in range(first_seed, first_seed + seeds):
        cfg = replace(base, train=replace(base.train, seed=s, device=device or base.train.device,
                                          deterministic=deterministic or base.train.deterministic,
                                          progress=base.train.progress if progress is None else progress))
        run = train_config(cfg, loaded)
        name, res = evaluate_embeddings(cfg, run.embeddings, loaded, run.split, protocol=protocol, seed=s, device=device,
                                        options=probe_options, model=run.model)
        results.append(res)
        epoch_secs.append(run.train_result.seconds_per_epoch)
    rec = record_from_results(model, loaded.name, base.task.name, name, results, time.perf_counter() - start)
    _name_official_protocol(rec, loaded, name)
    rec["split"] = split_name(base, loaded, base.task.name, name, probe_options)
    rec["preset"] = base.preset
    rec["train_seconds_per_epoch"] = float(np.mean(epoch_secs))
    if probe_options:
        rec["probe_options"] = dict(probe_options)
    return rec


def format_record(rec: Mapping[str, Any]) -> str:
    """One human-readable line for a result record."""
    def pct(v):
        return "nan" if v is None else f"{v:.4f}"

    line = (f"{rec['model']} on {rec['dataset']} ({rec['task']}, {rec['protocol']}): {rec['metric']} "
            f"{pct(rec['mean'])} ± {pct(rec['std'])} over {len(rec['values'])} seed(s)")
    for k, v in rec.items():
        if isinstance(v, dict) and "mean" in v:
            line += f"; {k} {pct(v['mean'])} ± {pct(v['std'])}"
    return line + f" [{rec['seconds']:.1f} s]"


# ----------------------------------------------------------------------------- export


def export_embeddings(
    run_dir: PathLike,
    *,
    level: str,
    out: PathLike,
    pairs: Optional[PathLike] = None,
    readout: Optional[str] = None,
    data_root: Optional[str] = None,
) -> Path:
    """Write a run's node, link (pair) or graph embeddings with their ids to ``.npy``/``.parquet``.

    Args:
        level: ``node`` (rows = nodes), ``link`` (rows = node pairs: ``pairs`` CSV with columns
            ``src,dst`` of node ids, default the run's test pairs), ``graph`` (rows = graphs).
        readout: link ``hadamard|concat|l1|l2`` (default hadamard); graph ``sum|mean|max``
            (default: the run's pooling).
    """
    from graphemb.nn.readout import link_readout

    run_dir, out = Path(run_dir), Path(out)
    config = rundir.load_config(run_dir)
    emb, ids, saved_level = rundir.load_embeddings(run_dir)
    if level == "graph":
        if saved_level != "graph":
            raise ValueError(f"run {run_dir} holds node embeddings; graph embeddings need a run trained with --task graph")
        if readout and readout != config.task.graph_pool:
            model, _ = rundir.load_checkpoint(run_dir)
            dataset = load_data(config, data_root)
            emb = embed_graphs(model, list(dataset.graphs), pool=readout, readout=config.task.graph_readout)
        return write_table(out, emb.numpy(), {"id": ids.numpy()})
    if saved_level == "graph":
        raise ValueError(f"run {run_dir} holds graph embeddings; --level {level} needs a node- or link-level run")
    if level == "node":
        return write_table(out, emb.numpy(), {"id": ids.numpy()})
    # link level
    id_to_row = {int(v): i for i, v in enumerate(ids.tolist())}
    if pairs is not None:
        import pandas as pd

        df = pd.read_csv(pairs)
        if not {"src", "dst"} <= set(df.columns):
            raise ValueError(f"{pairs} must have columns 'src' and 'dst' (node ids); found {list(df.columns)}")
        unknown = [v for v in pd.concat([df.src, df.dst]).unique().tolist() if int(v) not in id_to_row]
        if unknown:
            raise ValueError(f"{pairs} names {len(unknown)} node id(s) not in the run, e.g. {unknown[:5]}")
        rows = torch.tensor([[id_to_row[int(s)] for s in df.src], [id_to_row[int(d)] for d in df.dst]])
    else:
        split = rundir.load_split(run_dir)
        if split is None:
            raise ValueError(f"run {run_dir} has no link split; pass --pairs FILE (CSV with src,dst)")
        rows = torch.cat([split["test_pos"], split["test_neg"]], 1)
    feats = link_readout(emb, rows, readout or "hadamard")
    return write_table(out, feats.numpy(), {"src": ids[rows[0]].numpy(), "dst": ids[rows[1]].numpy()})
