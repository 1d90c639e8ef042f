"""One trainer for every embedding model: full batch on one graph, mini-batches of graphs for
graph sets, and neighbour-sampled mini-batches on one large graph. All three feed the same
``model.forward(x, edge_index, batch)`` / ``model.loss(...)`` contract."""
from __future__ import annotations

import copy
import math
import random
import resource
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

import numpy as np
import torch
from torch_geometric.data import Batch, Data

from graphemb.config import TrainConfig, validate
from graphemb.models.base import EmbeddingModel
from graphemb.training import distributed
from graphemb.training.distributed import SINGLE, World
from graphemb.training.precision import autocast_context, compiled
from graphemb.training.sampling import accepts_graph_ops, check_seed_batches, step_loss
from graphemb.training.schedules import make_scheduler
from graphemb.utils.progress import progress

GraphInput = Union[Data, Sequence[Data]]


@dataclass
class TrainResult:
    """What training returns (the model itself is trained in place).

    Attributes:
        history: one dict per epoch: ``loss`` and the model's named loss parts.
        best_epoch: 1-based epoch with the lowest training loss.
        best_loss: that loss.
        epochs_run: epochs actually run (fewer than configured after early stopping).
        stopped_early: whether early stopping ended training.
        seconds: wall time of the training loop.
        seconds_per_epoch: ``seconds / epochs_run``.
        cpu_seconds_per_epoch: CPU time of this process (``time.process_time``, all threads)
            over the epochs run in this call, per epoch; on a loaded machine it is what the
            wall time would be without waiting for a core.
        peak_memory_mb: peak CUDA memory allocated when on CUDA, else the process's peak
            resident set size (includes data loading).
        best_val_epoch / best_val_score: with ``select_by="val"``, the epoch whose weights were
            restored and its validation score (else ``0`` / ``None``).
    """

    history: List[Dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_loss: float = math.inf
    epochs_run: int = 0
    stopped_early: bool = False
    seconds: float = 0.0
    seconds_per_epoch: float = 0.0
    cpu_seconds_per_epoch: float = 0.0
    peak_memory_mb: Optional[float] = None
    best_val_epoch: int = 0
    best_val_score: Optional[float] = None


def neighbor_sampling_available() -> bool:
    """Whether PyG's neighbour sampler has a backend (pyg-lib or torch-sparse); without one
    ``train.sampler=auto`` uses graphemb's native sampler."""
    from graphemb.training.sampling import pyg_sampling_available

    return pyg_sampling_available()


def make_batches(data: GraphInput, cfg: TrainConfig, generator: torch.Generator,
                 seed_kind: str = "nodes", world: World = SINGLE) -> Callable[[], Iterable[Data]]:
    """Return a function yielding one epoch of batches for ``data``.

    * one ``Data`` and no ``cfg.num_neighbors``: the whole graph, once per epoch;
    * one ``Data`` with ``cfg.num_neighbors``: sampled subgraphs around seed nodes (or seed
      edges, ``seed_kind="edges"``), see :func:`graphemb.training.sampling.seed_batches`;
    * a sequence of graphs: shuffled ``Batch`` es of ``cfg.batch_size`` graphs.

    With several processes (``world``) each yields its share of every global batch of
    ``cfg.batch_size x world.size`` (see :mod:`graphemb.training.distributed`).
    """
    if isinstance(data, Data):
        if not cfg.num_neighbors:
            return lambda: (data,)
        from graphemb.training.sampling import seed_batches

        return seed_batches(data, cfg.num_neighbors, cfg.batch_size, seed_kind=seed_kind,
                            sampler=cfg.sampler, generator=generator, world=world)
    graphs = list(data)
    if not graphs:
        raise ValueError("cannot train on an empty set of graphs")
    if world.size > 1:
        return _graph_shares(graphs, cfg.batch_size, generator, world)
    from torch_geometric.loader import DataLoader

    loader = DataLoader(graphs, batch_size=cfg.batch_size, shuffle=True, generator=generator)
    return lambda: iter(loader)


def _graph_shares(graphs: List[Data], batch_size: int, generator: torch.Generator, world: World
                  ) -> Callable[[], Iterable[Data]]:
    """This rank's share of each global batch of graphs, shuffled as PyG's (torch's) loader
    shuffles, so the global batches are those of one process with ``batch_size x world.size``:
    the loader's iterator draws a base seed from ``generator``, then its sampler a ``randperm``."""
    step = batch_size * world.size

    def epoch() -> Iterable[Data]:
        torch.empty((), dtype=torch.int64).random_(generator=generator)  # DataLoader's base seed
        perm = torch.randperm(len(graphs), generator=generator)
        for s in range(0, len(graphs), step):
            b = perm[s:s + step]
            yield Batch.from_data_list([graphs[i] for i in b[distributed.share(b.numel(), world)].tolist()])

    return epoch


def _peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def steps_per_epoch(data: GraphInput, cfg: TrainConfig, seed_kind: str = "nodes", world: World = SINGLE) -> int:
    """Optimiser steps in one epoch (what EMA schedules count): 1 full batch, else batches of
    seed nodes, seed edges (undirected) or graphs, global over the ``world``'s ranks."""
    if isinstance(data, Data):
        if not cfg.num_neighbors:
            return 1
        ei = data.edge_index
        n = int((ei[0] < ei[1]).sum()) if seed_kind == "edges" else int(data.num_nodes)
        return distributed.num_global_batches(n, cfg.batch_size, world)
    return distributed.num_global_batches(len(data), cfg.batch_size, world)


class ValidationSelector:
    """Checkpoint selection on an unsupervised validation score (higher is better).

    ``score_fn(model) -> float`` is called every ``every`` epochs (and at the last one); the
    best-scoring weights are kept and restored by :meth:`restore`.
    """

    def __init__(self, score_fn: Optional[Callable[[EmbeddingModel], float]], every: int, epochs: int) -> None:
        if score_fn is None:
            raise ValueError("train.select_by='val' needs a validation score: train the link task "
                             "(validation edges), or drop --set train.select_by")
        if every < 1:
            raise ValueError(f"train.val_every must be >= 1, got {every}")
        self.score_fn, self.every, self.epochs = score_fn, every, epochs
        self.best_score, self.best_epoch, self.best_state = -math.inf, 0, None

    def step(self, model: EmbeddingModel, epoch: int, record: Dict[str, float]) -> None:
        if epoch % self.every and epoch != self.epochs:
            return
        score = float(self.score_fn(model))
        record["val_score"] = score
        if score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            self.best_state = copy.deepcopy(model.state_dict())

    def restore(self, model: EmbeddingModel, result: "TrainResult") -> None:
        if self.best_state is not None:
            model.load_state_dict(self.best_state)
            result.best_val_epoch, result.best_val_score = self.best_epoch, self.best_score


def _after_step(model: EmbeddingModel, step: int, total_steps: int) -> None:
    """The model's post-optimiser-step hook (EMA target updates), when it has one."""
    hook = getattr(model, "after_step", None)
    if hook is not None:
        hook(step, total_steps)


# ----------------------------------------------------------------------------- resumable state
# A checkpoint holds everything the loop below carries from one epoch to the next, so that a
# resumed run ends with bit-identical weights: model and optimiser state, every RNG state (as
# tensors, so it loads with ``torch.load(weights_only=True)``), the epoch, early stopping and
# the history. Whatever else the loop carries between epochs (an LR scheduler, EMA weights)
# goes into ``stateful`` in ``fit``, or resumed runs stop matching uninterrupted ones.


def rng_state(generator: torch.Generator) -> Dict[str, Any]:
    """Python, NumPy, torch (CPU, CUDA) and the loader generator's RNG states, as tensors."""
    _, keys, pos, has_gauss, gauss = np.random.get_state()
    version, internal, py_gauss = random.getstate()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(), "generator": generator.get_state(),
        "numpy_keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)),
        "numpy_pos": torch.tensor([pos, has_gauss], dtype=torch.int64),
        "numpy_gauss": torch.tensor(gauss, dtype=torch.float64),
        "python": torch.tensor(internal, dtype=torch.int64),
        "python_gauss": torch.tensor([] if py_gauss is None else [py_gauss], dtype=torch.float64),
        "python_version": version,
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any], generator: torch.Generator) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    pos, has_gauss = (int(v) for v in state["numpy_pos"].tolist())
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), pos, has_gauss,
                         float(state["numpy_gauss"])))
    gauss = state["python_gauss"].tolist()
    random.setstate((int(state["python_version"]), tuple(int(v) for v in state["python"].tolist()),
                     gauss[0] if gauss else None))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


@dataclass
class _LoopState:
    """What the training loop carries between epochs besides model and optimiser."""

    epoch: int = 0
    wait: int = 0
    best_state: Optional[Dict[str, torch.Tensor]] = None
    seconds: float = 0.0


def save_resume_state(path: Path, stateful: Dict[str, Any], generator: torch.Generator, result: TrainResult,
                      loop: _LoopState) -> None:
    """Write a resumable checkpoint. ``stateful`` maps names to objects with ``state_dict()`` /
    ``load_state_dict()`` (model, optimiser; add an LR scheduler or EMA weights here)."""
    from graphemb.training import rundir

    rundir.save_training_state(path, {
        "stateful": {k: v.state_dict() for k, v in stateful.items()}, "rng": rng_state(generator),
        "epoch": loop.epoch, "wait": loop.wait, "best_state": loop.best_state, "seconds": loop.seconds,
        "best_epoch": result.best_epoch, "best_loss": result.best_loss, "history": result.history,
    })


def load_resume_state(path: Path, stateful: Dict[str, Any], generator: torch.Generator, result: TrainResult,
                      device: torch.device) -> _LoopState:
    """Restore a :func:`save_resume_state` file into ``stateful``, the RNGs and ``result``."""
    from graphemb.training import rundir

    state = rundir.load_training_state(path)
    missing = set(stateful) - set(state["stateful"])
    if missing:
        raise ValueError(f"{path} holds no state for {sorted(missing)}: it was written by another graphemb "
                         "version or config; train again without --resume")
    for k, obj in stateful.items():
        obj.load_state_dict(state["stateful"][k])  # the optimiser moves its moments to the device
    set_rng_state(state["rng"], generator)
    result.history = list(state["history"])
    result.best_epoch, result.best_loss = int(state["best_epoch"]), float(state["best_loss"])
    result.epochs_run = int(state["epoch"])
    best = state["best_state"]
    best = {k: v.to(device) for k, v in best.items()} if best is not None else None
    return _LoopState(epoch=int(state["epoch"]), wait=int(state["wait"]), best_state=best,
                      seconds=float(state["seconds"]))


def graph_ops_for(model: EmbeddingModel, data: GraphInput, cfg: TrainConfig):
    """The :class:`~graphemb.nn.graph_ops.GraphOps` of ``data`` when training is full batch on
    one graph and the model takes ``ops`` (else ``None``). ``cfg.graph_ops=False`` turns it off
    (every step then recomputes them from ``edge_index``; same losses up to float rounding).
    With ``cfg.compile`` too: torch.compile does not trace sparse tensors, so each sparse product
    runs eager between compiled pieces (a graph break), the rest of the forward compiled."""
    if not cfg.graph_ops or not isinstance(data, Data) or cfg.num_neighbors or not accepts_graph_ops(model):
        return None
    x = getattr(data, "x", None)
    if x is None or x.dim() != 2 or not x.is_floating_point():
        return None
    from graphemb.nn.graph_ops import GraphOps

    return GraphOps.build(x, data.edge_index, sparse_below=cfg.sparse_features_below)


def make_optimizer(model: EmbeddingModel, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    """Adam over ``model.param_groups(cfg.lr)``; torch's fused (single-kernel) implementation
    on CPU and CUDA when every parameter is a float tensor there (the same update up to float
    rounding, about 5x cheaper per step on CPU: 11 ms against 61 ms for IsoC-VGAE's 7.9M
    parameters), else the default one."""
    groups = model.param_groups(cfg.lr)
    params = [p for g in groups for p in g["params"]]
    fused = device.type in ("cpu", "cuda") and all(p.is_floating_point() and p.device.type == device.type
                                                  for p in params)
    return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, fused=True if fused else None)


def _check_distributed(data: GraphInput, cfg: TrainConfig, resume: bool) -> None:
    from graphemb.config import ConfigError

    if isinstance(data, Data) and not cfg.num_neighbors:
        raise ConfigError("train.distributed=true shares seed mini-batches among the processes, but this run "
                          "trains full batch on one graph: set train.num_neighbors (e.g. [10, 5]) and "
                          "train.batch_size (seeds per process)")
    if resume:
        raise ConfigError("resuming a distributed run is not supported (it would need every rank's RNG "
                          "state); train it again")


def _checkpoint_due(cfg: TrainConfig, epoch: int, checkpoint: Optional[Path]) -> bool:
    return checkpoint is not None and cfg.checkpoint_every > 0 and epoch % cfg.checkpoint_every == 0 \
        and epoch < cfg.epochs


def fit(model: EmbeddingModel, data: GraphInput, cfg: TrainConfig, *,
        checkpoint: Optional[Union[str, Path]] = None, resume: bool = False,
        val_score: Optional[Callable[[EmbeddingModel], float]] = None) -> TrainResult:
    """Train ``model`` in place on ``data`` with Adam; return the loss history and timings.

    Early stopping watches the epoch's mean training loss (``cfg.patience`` > 0) and restores
    the weights of the best epoch. With ``cfg.select_by == "val"``, ``val_score(model)`` (higher
    is better; no labels) picks the weights returned instead. ``cfg.lr_schedule`` /
    ``cfg.warmup_epochs`` set a per-epoch learning-rate schedule; ``model.after_step(step,
    total_steps)`` runs after every optimiser step. Raises ``FloatingPointError`` naming the epoch
    when the loss becomes NaN/inf.

    With ``cfg.distributed`` (under ``torchrun``) each process trains on its share of every
    global batch inside ``DistributedDataParallel``; only rank 0 writes ``checkpoint`` and
    shows progress (:mod:`graphemb.training.distributed`).

    Args:
        checkpoint: file for a resumable training state, written every ``cfg.checkpoint_every``
            epochs (model, optimiser, RNG states, epoch, early stopping, history).
        resume: continue from ``checkpoint`` instead of starting at epoch 1; the run then ends
            with the same weights as an uninterrupted one (same config, seed and device; the LR
            schedule and EMA targets are part of the saved state, the validation selector's best
            weights are not).
        val_score: the unsupervised score ``cfg.select_by="val"`` needs (see :class:`ValidationSelector`).
    """
    validate(cfg, "train")
    world = distributed.join(cfg)
    if world.active:
        _check_distributed(data, cfg, resume)
    checkpoint = Path(checkpoint) if checkpoint is not None and world.is_main else None
    if resume and checkpoint is None:
        raise ValueError("resume=True needs the checkpoint file to resume from")
    device = distributed.device_for(cfg, world)
    model.to(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    generator = torch.Generator().manual_seed(cfg.seed)
    if isinstance(data, Data) and not cfg.num_neighbors:
        # PyG's Data.to() moves tensors in place: move a shallow copy once, so the caller's
        # graph stays where it was (and is not re-sent to the device every epoch).
        data = copy.copy(data).to(device)
    if isinstance(data, Data) and cfg.num_neighbors:
        check_seed_batches(model)
    seed_kind = getattr(model, "seed_kind", "nodes")
    epoch_batches = make_batches(data, cfg, generator, seed_kind=seed_kind, world=world)
    optimizer = make_optimizer(model, cfg, device)
    runner = compiled(model, cfg.compile)
    # full batch on one graph: the graph's operators (normalised adjacency, degrees, sparse
    # features, ...) are built once here and passed to every step, not recomputed per step
    ops = graph_ops_for(model, data, cfg)
    train_step = distributed.data_parallel(runner, device) if world.active else \
        (lambda batch, b: step_loss(runner, batch, b, ops=ops))
    scheduler = make_scheduler(optimizer, cfg.epochs, cfg.lr_schedule, cfg.warmup_epochs)
    selector = ValidationSelector(val_score, cfg.val_every, cfg.epochs) if cfg.select_by == "val" else None
    if cfg.select_by not in (None, "val"):
        raise ValueError(f"unknown train.select_by {cfg.select_by!r}; choose 'val' or leave it unset")
    per_epoch = steps_per_epoch(data, cfg, seed_kind, world)
    total_steps, step = cfg.epochs * per_epoch, 0

    stateful: Dict[str, Any] = {"model": model, "optimizer": optimizer}  # all saved in a checkpoint
    if scheduler is not None:
        stateful["scheduler"] = scheduler
    result = TrainResult()
    loop = _LoopState()
    if resume:
        loop = load_resume_state(checkpoint, stateful, generator, result, device)
        step = loop.epoch * per_epoch
    best_state, wait = loop.best_state, loop.wait
    start, cpu_start, first_epoch = time.perf_counter(), time.process_time(), loop.epoch
    bar = progress(range(loop.epoch + 1, cfg.epochs + 1), enabled=cfg.progress if world.is_main else False,
                   desc="train", unit="epoch")
    for epoch in bar:
        model.train()
        totals: Dict[str, float] = {}
        weight_sum = 0.0
        for batch in epoch_batches():
            batch = batch.to(device)
            b = getattr(batch, "batch", None) if isinstance(batch, Batch) else None
            optimizer.zero_grad(set_to_none=True)
            with autocast_context(cfg.precision, device):
                loss = train_step(batch, b)
            if not torch.isfinite(loss.total):
                raise FloatingPointError(
                    f"training loss became {loss.total.item()} at epoch {epoch}; "
                    "lower train.lr, enable train.grad_clip, or check the features for NaN/inf"
                )
            loss.total.backward()
            if cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            optimizer.step()
            _after_step(model, step, total_steps)
            step += 1
            w = float(batch.num_graphs) if isinstance(batch, Batch) else 1.0
            weight_sum += w
            totals["loss"] = totals.get("loss", 0.0) + w * float(loss.total.detach())
            for k, v in loss.parts.items():
                totals[k] = totals.get(k, 0.0) + w * float(v)
        record = distributed.mean_over_ranks(totals, weight_sum, world)
        if scheduler is not None:
            scheduler.step()
        if selector is not None:
            selector.step(model, epoch, record)
        result.history.append(record)
        result.epochs_run = epoch
        if hasattr(bar, "set_postfix"):
            bar.set_postfix(loss=f"{record['loss']:.4f}")
        if record["loss"] < result.best_loss - cfg.min_delta:
            result.best_loss, result.best_epoch, wait = record["loss"], epoch, 0
            if cfg.patience > 0:
                best_state = copy.deepcopy(model.state_dict())
        else:
            wait += 1
            if cfg.patience > 0 and wait >= cfg.patience:
                result.stopped_early = True
                break
        if _checkpoint_due(cfg, epoch, checkpoint):
            loop = _LoopState(epoch, wait, best_state, loop.seconds + time.perf_counter() - start)
            save_resume_state(checkpoint, stateful, generator, result, loop)
            start = time.perf_counter()
    distributed.check_in_sync(list(model.parameters()), world)
    result.seconds = loop.seconds + time.perf_counter() - start
    result.seconds_per_epoch = result.seconds / max(result.epochs_run, 1)
    result.cpu_seconds_per_epoch = (time.process_time() - cpu_start) / max(result.epochs_run - first_epoch, 1)
    result.peak_memory_mb = _peak_memory_mb(device)
    if best_state is not None:
        model.load_state_dict(best_state)
    if selector is not None:
        selector.restore(model, result)
    return result
