"""Typed run configuration: one source of truth for hyperparameters.

A run is described by :class:`RunConfig`. Values are resolved in this order (later wins):

1. the dataclass defaults (the model's own ``Config``, :class:`TrainConfig`, ...);
2. a named preset (``graphemb.presets``), e.g. ``paper`` for the official IsoC-VGAE settings;
3. a YAML file (``--config experiments/isoc-vgae_cora_node.yaml``);
4. ``--set key=value`` overrides with dotted keys (``--set model.encoder.hidden_channels=256``).

The resolved config is saved with every run (``config.yaml`` in the run directory) and is all
that is needed to rebuild the model from its checkpoint.

Validation (one mechanism for every config dataclass, the models' own ``Config`` included):

* single-value rules sit on the field as metadata, ``field(default=200, metadata=check(gt=0))``
  (``gt``/``ge``/``lt``/``le`` bounds, ``choices``, ``each=True`` for every item of a list);
* rules that relate several fields go in an optional ``validate(self) -> None`` method raising
  ``ValueError`` / :class:`ConfigError` (fields named relative to the dataclass; the walker
  prefixes the section, e.g. ``task: link_val_ratio + link_test_ratio must be < 1``);
* :func:`validate` walks a dataclass (and the dataclasses inside it) and raises a
  :class:`ConfigError` naming the dotted key, e.g. ``train.epochs must be > 0, got 0``.
  Every :class:`RunConfig` is validated when it is built (``__post_init__``), so
  ``build_run_config``, saved configs and ``dataclasses.replace`` all check before anything
  runs or is written; :func:`graphemb.training.trainer.fit` checks its ``TrainConfig`` too.
"""
from __future__ import annotations

import copy
import re
import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Mapping, Optional, Sequence, Union

import yaml

TASKS = ("node", "link", "graph")
_FLOAT = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message says which and what is allowed."""


# ----------------------------------------------------------------------------- validation


@dataclass(frozen=True)
class Check:
    """Constraints on one config value (see :func:`check`); ``None`` values are not checked."""

    gt: Optional[float] = None
    ge: Optional[float] = None
    lt: Optional[float] = None
    le: Optional[float] = None
    choices: Optional[Sequence[Any]] = None
    each: bool = False

    def problem(self, value: Any) -> Optional[str]:
        """What is wrong with ``value`` ("must be > 0"), or ``None`` when it passes."""
        if self.choices is not None and value not in self.choices:
            return f"must be one of {list(self.choices)}"
        bounds = [("gt", ">", lambda v, b: v > b), ("ge", ">=", lambda v, b: v >= b),
                  ("lt", "<", lambda v, b: v < b), ("le", "<=", lambda v, b: v <= b)]
        active = [(sym, getattr(self, k), ok) for k, sym, ok in bounds if getattr(self, k) is not None]
        if not active:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:  # NaN too
            return "must be a number " + " and ".join(f"{sym} {b}" for sym, b, _ in active)
        if all(ok(value, b) for _, b, ok in active):
            return None
        return "must be " + " and ".join(f"{sym} {b}" for sym, b, _ in active)


def check(*, gt: Optional[float] = None, ge: Optional[float] = None, lt: Optional[float] = None,
          le: Optional[float] = None, choices: Optional[Sequence[Any]] = None, each: bool = False) -> Dict[str, Any]:
    """Field metadata declaring a value rule: ``field(default=0.0, metadata=check(ge=0, lt=1))``.

    Args:
        gt / ge / lt / le: bounds (``>``, ``>=``, ``<``, ``<=``).
        choices: the allowed values.
        each: apply the rule to every item of a list value instead of the list itself.
    """
    return {"check": Check(gt=gt, ge=ge, lt=lt, le=le, choices=tuple(choices) if choices is not None else None,
                           each=each)}


def validate(obj: Any, where: str = "") -> None:
    """Check every field rule (:func:`check`) and ``validate()`` method of dataclass ``obj`` and of
    the dataclasses it holds; raise :class:`ConfigError` naming the dotted key ``where.field``."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return
    prefix = f"{where}." if where else ""
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name, None)
        key = prefix + f.name
        rule = f.metadata.get("check")
        if rule is not None and value is not None:
            items = list(enumerate(value)) if rule.each and isinstance(value, (list, tuple)) else [(None, value)]
            for i, v in items:
                problem = rule.problem(v)
                if problem:
                    at = key if i is None else f"{key}[{i}]"
                    raise ConfigError(f"{at} {problem}, got {v!r}; fix it in the config or with --set {key}=...")
        validate(value, key)
    own = getattr(obj, "validate", None)
    if callable(own):
        try:
            own()
        except ValueError as e:  # ConfigError included; the method names fields relative to obj
            raise ConfigError(f"{where or type(obj).__name__}: {e}") from None


@dataclass
class DataConfig:
    """Where and how to load the dataset.

    Attributes:
        name: registered dataset name (``graphemb datasets`` lists them).
        root: explicit data root (else ``GRAPHEMB_DATA``, then the cache, then download).
        features: node features: ``None`` (the loader default: the dataset's own, else one-hot
            degree capped at 64), ``"auto-constant"`` (the dataset's own, else a constant 1),
            ``"degree"`` or ``"constant"`` (these two replace existing features).
        options: extra keyword arguments for the loader (e.g. synthetic generator sizes).
    """

    name: str = "Cora"
    root: Optional[str] = None
    features: Optional[str] = None
    options: Dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainConfig:
    """One trainer for all models.

    Attributes:
        epochs: maximum number of epochs.
        lr: learning rate of the model's main parameter group (Adam).
        weight_decay: L2 penalty (Adam's ``weight_decay``).
        batch_size: graphs per mini-batch for graph-level data (ignored for one graph unless
            ``num_neighbors`` is set).
        num_neighbors: neighbours sampled per hop for seed mini-batches on one large graph
            (``-1``: all); empty = full batch. ``batch_size`` is then the number of seed nodes
            (seed edges for pair-loss models such as GAE/VGAE) per batch.
        sampler: neighbour sampler: ``auto`` (PyG's when pyg-lib/torch-sparse are installed,
            else native), ``native`` (vectorised torch, no compiled extension) or ``pyg``.
        inference_chunk_size: node embeddings after training layer by layer over chunks of
            this many nodes (memory ``O(N d)``); ``None`` (default) = chunks of 65536 when
            ``num_neighbors`` is set, else one full-batch pass; ``0`` = always full batch.
        precision: ``fp32`` (default) or ``bf16`` (``torch.autocast`` on CPU and CUDA; weights,
            gradients and optimiser state stay fp32), see ``graphemb.training.precision``.
        compile: run the model's forward through ``torch.compile`` (default ``False``; optional:
            on CPU a Cora IsoC-VGAE epoch measured 0.95x eager after ~28 s of compiling, see
            ``experiments/bench_speed.py --compile``), same random draws and ``graph_ops`` as eager.
        graph_ops: full batch on one graph: build the graph's operators once (normalised
            adjacency, neighbourhood-mean matrix, degrees, sparse copy of sparse features; see
            ``graphemb.nn.graph_ops``) and pass them to every step of a model that takes
            ``ops`` (default ``True``); ``False`` recomputes them from ``edge_index`` per step.
        sparse_features_below: with ``graph_ops``, input features with fewer non-zeros than this
            share go through a sparse product in the first GCN layer (default ``0.1``, measured
            by ``experiments/bench_speed.py --density``); ``0`` keeps them dense.
        distributed: data-parallel training over the processes of a ``torchrun`` launch
            (DistributedDataParallel; gloo on CPU, nccl on CUDA); ``batch_size`` is then per
            process and rank 0 writes the run (``graphemb.training.distributed``).
        patience: early stopping on the training loss (epochs without improvement by more than
            ``min_delta``); 0 disables it. The best-loss weights are restored.
        min_delta: minimal improvement of the training loss.
        grad_clip: max gradient norm, ``None`` for no clipping.
        seed: random seed (model init, sampling, splits).
        deterministic: request deterministic kernels where torch has them.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        progress: progress bar on/off; ``None`` = only on a TTY.
        lr_schedule: ``constant`` (default) or ``cosine`` (GraphMAE), applied per epoch
            (``graphemb.training.schedules``).
        warmup_epochs: linear learning-rate warm-up epochs before the schedule (BGRL); 0 = none.
        select_by: which weights training returns: ``None`` (default) the last epoch's, or the
            best-loss epoch's when ``patience`` > 0; ``"val"`` the epoch with the best
            unsupervised validation score (link task: AUC of the model's pair scores on the
            validation edges, no labels; MaskGAE).
        val_every: epochs between validation scores when ``select_by="val"``.
        checkpoint_every: save a resumable checkpoint (model, optimiser, RNG states, epoch,
            early-stopping state, history) every this many epochs while a run directory is
            written (``--resume``); 0 disables it. Default 10.
    """

    epochs: int = field(default=200, metadata=check(gt=0))
    lr: float = field(default=0.01, metadata=check(gt=0))
    weight_decay: float = field(default=0.0, metadata=check(ge=0))
    batch_size: int = field(default=64, metadata=check(gt=0))
    num_neighbors: List[int] = field(default_factory=list, metadata=check(ge=-1, each=True))
    sampler: Literal["auto", "native", "pyg"] = "auto"
    inference_chunk_size: Optional[int] = field(default=None, metadata=check(ge=0))
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    graph_ops: bool = True
    sparse_features_below: float = field(default=0.1, metadata=check(ge=0, le=1))
    distributed: bool = False
    patience: int = field(default=0, metadata=check(ge=0))
    min_delta: float = field(default=0.0, metadata=check(ge=0))
    grad_clip: Optional[float] = field(default=None, metadata=check(gt=0))
    seed: int = field(default=0, metadata=check(ge=0))
    deterministic: bool = False
    device: str = "cpu"
    progress: Optional[bool] = None
    lr_schedule: str = field(default="constant", metadata=check(choices=("constant", "cosine")))
    warmup_epochs: int = field(default=0, metadata=check(ge=0))
    select_by: Optional[str] = None
    val_every: int = field(default=1, metadata=check(gt=0))
    checkpoint_every: int = field(default=10, metadata=check(ge=0))

    def validate(self) -> None:
        if 0 in self.num_neighbors:
            raise ConfigError(f"num_neighbors must hold counts > 0 (or -1 for all neighbours), "
                              f"got {self.num_neighbors}")


@dataclass
class TaskConfig:
    """The downstream task and how its data are split.

    Attributes:
        name: ``node``, ``link`` or ``graph``.
        protocol: evaluation protocol (node ``linear``|``mlp``, link ``dot``|``mlp``, graph
            ``svm``|``mlp``); ``None`` = the task's default.
        link_val_ratio / link_test_ratio: edge split for link prediction (85/5/10 by default);
            the encoder sees training edges only.
        graph_pool: graph readout over node embeddings (``sum``, ``mean``, ``max``).
        node_pretrain: node task with ``train.select_by=val``: the encoder trains on the link
            split's training edges (``train_edges``, default) or on the whole graph (``full``,
            MaskGAE's ``--full_data``: the validation edges that score checkpoints are then seen).
        split: node task: ``None`` (default) = the dataset's public split when it has one, else a
            random ``1:1:8`` train/val/test split drawn per seed (BGRL's 10/10/80); a ratio string
            ``"a:b:c"`` forces a random split with those proportions (stratified by nothing).
        graph_readout: pool every encoder layer and concatenate (``concat``) or the model's output
            embedding ``z`` only (``last``). ``concat`` takes ``ModelOutput.layers``: for VGAE these
            are the encoder layers before the mu/logstd heads, so mu itself is not pooled.
    """

    name: str = field(default="node", metadata=check(choices=TASKS))
    protocol: Optional[str] = None
    link_val_ratio: float = field(default=0.05, metadata=check(gt=0, lt=1))
    link_test_ratio: float = field(default=0.10, metadata=check(gt=0, lt=1))
    graph_pool: str = field(default="sum", metadata=check(choices=("sum", "add", "mean", "max")))
    graph_readout: str = field(default="concat", metadata=check(choices=("concat", "last")))
    node_pretrain: str = field(default="train_edges", metadata=check(choices=("train_edges", "full")))
    split: Optional[str] = None

    def validate(self) -> None:
        if self.link_val_ratio + self.link_test_ratio >= 1:
            raise ConfigError(f"link_val_ratio + link_test_ratio must be < 1 (training edges must remain), "
                              f"got {self.link_val_ratio} + {self.link_test_ratio}")


@dataclass
class RunConfig:
    """Everything that defines a run. ``model`` holds the model's own ``Config`` dataclass."""

    model_name: str
    model: Any
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    task: TaskConfig = field(default_factory=TaskConfig)
    preset: Optional[str] = None

    def __post_init__(self) -> None:
        # Every way of building a run (build_run_config, a saved config.yaml, dataclasses.replace)
        # is checked here, before any data are loaded or any file is written.
        for section in ("model", "data", "train", "task"):
            validate(getattr(self, section), section)

    def to_dict(self) -> Dict[str, Any]:
        d = to_dict(self)
        d["model"] = {"name": self.model_name, **d["model"]}
        del d["model_name"]
        return d


# ----------------------------------------------------------------------------- (de)serialisation

def to_dict(obj: Any) -> Any:
    """Dataclasses -> plain dicts/lists (YAML/JSON safe)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    return obj


def _coerce(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(a, value, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{where}: {value!r} does not fit {tp}")
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {tp.__name__}, got {value!r}")
        return from_dict(tp, value, where)
    if origin in (list, List, Sequence) or tp in (list,):
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        inner = args[0] if args else Any
        return [_coerce(inner, v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin in (dict, Dict) or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: {value!r} is not one of {list(args)}")
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            if isinstance(value, str):
                try:
                    return float(value)  # YAML reads "5e-6" as a string
                except ValueError:
                    pass
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys (naming the valid ones)."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = set(data) - set(fields)
    if unknown:
        raise ConfigError(
            f"unknown key(s) {sorted(unknown)} in {where or cls.__name__}; valid keys: {sorted(fields)}"
        )
    kwargs = {k: _coerce(hints[k], v, f"{where + '.' if where else ''}{k}") for k, v in data.items()}
    return cls(**kwargs)


def deep_update(base: Dict[str, Any], new: Mapping[str, Any]) -> Dict[str, Any]:
    """Recursive dict update (returns a new dict)."""
    out = copy.deepcopy(base)
    for k, v in new.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_update(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def parse_override(text: str) -> Dict[str, Any]:
    """``"a.b.c=1e-3"`` -> ``{"a": {"b": {"c": 0.001}}}`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")):
        raise ConfigError(f"override {text!r} has an empty key")
    if re.fullmatch(r"\s*\d+(\.\d+)?(:\d+(\.\d+)?)+\s*", raw):
        value: Any = raw.strip()  # "1:1:8" is a ratio, not YAML 1.1's base-60 integer
    else:
        value = yaml.safe_load(raw) if raw.strip() else ""
    if isinstance(value, str) and _FLOAT.fullmatch(value.strip()):
        value = float(value)  # YAML 1.1 reads "5e-6" (no dot) as a string
    out: Dict[str, Any] = value
    for part in reversed(key.split(".")):
        out = {part: out}
    return out


def load_yaml(path: Union[str, Path]) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} not found")
    with open(path) as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at top level")
    return data


def save_yaml(data: Mapping[str, Any], path: Union[str, Path]) -> None:
    """Write ``data`` as YAML, atomically (temporary name + rename)."""
    from graphemb.utils.io import atomic_write

    with atomic_write(path, "w") as f:
        yaml.safe_dump(to_dict(dict(data)), f, sort_keys=False)


def build_run_config(
    model: Optional[str] = None,
    *,
    dataset: Optional[str] = None,
    task: Optional[str] = None,
    preset: Optional[str] = None,
    config_file: Optional[Union[str, Path]] = None,
    overrides: Sequence[str] = (),
    values: Optional[Mapping[str, Any]] = None,
) -> RunConfig:
    """Resolve defaults -> preset -> YAML file -> ``values`` -> ``--set`` overrides into a RunConfig.

    Args:
        model: registered model name (may instead come from the YAML's ``model.name``).
        dataset / task: shorthands for ``data.name`` / ``task.name``.
        preset: named preset (``default`` or ``paper``); may also come from the YAML's ``preset``.
        config_file: a YAML file in the layout of :meth:`RunConfig.to_dict`.
        overrides: ``key.path=value`` strings.
        values: a nested mapping applied before ``overrides`` (Python API).
    """
    from graphemb.models import MODELS
    from graphemb.presets import get_preset

    layered: Dict[str, Any] = {}
    if config_file is not None:
        layered = load_yaml(config_file)
    if values:
        layered = deep_update(layered, values)
    shorthand: Dict[str, Any] = {}
    if model is not None:
        shorthand["model"] = {"name": model}
    if dataset is not None:
        shorthand["data"] = {"name": dataset}
    if task is not None:
        shorthand["task"] = {"name": task}
    if preset is not None:
        shorthand["preset"] = preset
    layered = deep_update(layered, shorthand)
    for o in overrides:
        layered = deep_update(layered, parse_override(o))

    model_section = dict(layered.get("model") or {})
    name = model_section.pop("name", None)
    if not name:
        raise ConfigError("no model given: pass MODEL (e.g. isoc-vgae) or set model.name in the config")
    model_cls = MODELS.get(name)
    task_name = (layered.get("task") or {}).get("name", TaskConfig.name)
    if task_name not in TASKS:
        raise ConfigError(f"unknown task {task_name!r}; choose one of {list(TASKS)}")
    preset_name = layered.get("preset") or "default"
    ds_name = (layered.get("data") or {}).get("name", DataConfig.name)
    base = get_preset(name, preset_name, task_name, dataset=ds_name)  # nested dict of preset values
    merged = deep_update(base, {k: v for k, v in layered.items() if k != "model"})
    # Layer over the model's own defaults, so that a partial section (``encoder: {conv: gin}``)
    # keeps the model's other encoder defaults instead of EncoderConfig's generic ones.
    model_defaults = to_dict(model_cls.Config())
    merged["model"] = deep_update(deep_update(model_defaults, base.get("model", {})), model_section)
    extra = set(merged) - {"model", "data", "train", "task", "preset"}
    if extra:
        raise ConfigError(f"unknown top-level key(s) {sorted(extra)}; valid: model, data, train, task, preset")
    return RunConfig(
        model_name=name,
        model=from_dict(model_cls.Config, merged.get("model", {}), "model"),
        data=from_dict(DataConfig, merged.get("data", {}), "data"),
        train=from_dict(TrainConfig, merged.get("train", {}), "train"),
        task=from_dict(TaskConfig, merged.get("task", {}), "task"),
        preset=preset_name,
    )


def run_config_from_dict(d: Mapping[str, Any]) -> RunConfig:
    """Rebuild a saved (fully resolved) RunConfig without re-applying presets."""
    from graphemb.models import MODELS

    model_section = dict(d["model"])
    name = model_section.pop("name")
    return RunConfig(
        model_name=name,
        model=from_dict(MODELS.get(name).Config, model_section, "model"),
        data=from_dict(DataConfig, d.get("data", {}), "data"),
        train=from_dict(TrainConfig, d.get("train", {}), "train"),
        task=from_dict(TaskConfig, d.get("task", {}), "task"),
        preset=d.get("preset"),
    )
