"""A scikit-learn style estimator for graph embeddings.

>>> import networkx as nx
>>> from graphemb import Embedder
>>> G = nx.karate_club_graph()
>>> emb = Embedder("gae", epochs=20).fit_transform(G)        # numpy [34, 16], rows = G.nodes
>>> Embedder("gae", epochs=20).fit(G).ids_[:3]
[0, 1, 2]

The constructor only stores its arguments (so ``sklearn.base.clone`` and ``get_params`` /
``set_params`` work); everything learned ends with ``_``. Training goes through
:func:`graphemb.api.train`, so an estimator and a ``graphemb train`` run are the same thing:
``save`` writes a run directory and ``Embedder.load`` reads one written by either.

Inputs (``graphemb.data.convert``): a PyG ``Data``; a ``networkx`` graph (node attributes as
features, any hashable node ids, kept in ``ids_``); a ``scipy.sparse`` adjacency with a feature
matrix (``fit(A, X)``); or, with ``task="graph"``, a list of ``Data`` / networkx graphs (one
vector per graph). Graphs without features get one-hot degree features (``min(64, max degree +
1)`` buckets; ``features="constant"`` for a constant 1 instead); a graph embedded later with
:meth:`Embedder.transform` gets the same width.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Union

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import Tensor

PathLike = Union[str, Path]
_ESTIMATOR_FILE = "estimator.json"


def _nest(dotted: Mapping[str, Any]) -> Dict[str, Any]:
    """``{"train.patience": 10}`` -> ``{"train": {"patience": 10}}`` (nested mappings pass through)."""
    from graphemb.config import deep_update

    out: Dict[str, Any] = {}
    for key, value in dotted.items():
        node: Any = value
        for part in reversed(str(key).split(".")):
            node = {part: node}
        out = deep_update(out, node)
    return out


class Embedder(BaseEstimator):
    """Fit a self-supervised graph embedding model and embed graphs with it.

    Args:
        model: registered model name (``isoc-vgae``, ``vgae``, ``gae``, ...).
        preset: hyperparameter preset (``default`` | ``paper``; ``None`` = ``default``).
        task: ``node`` (one vector per node), ``link`` (node vectors trained on 85% of the edges;
            the held-out split is kept for ``graphemb evaluate``) or ``graph`` (one vector per graph
            of a list of graphs).
        device: ``cpu`` | ``cuda`` | ``cuda:N`` | ``auto``.
        seed: random seed of the model initialisation and sampling.
        epochs / lr / hidden_channels: shorthands for ``train.epochs``, ``train.lr`` and
            ``model.encoder.hidden_channels``; ``None`` keeps the preset's value.
        overrides: any config value by dotted key, e.g. ``{"train.patience": 10}``; the
            shorthands above win over it.
        features: for graphs without features: ``degree`` (default) or ``constant``.
        progress: progress bar; ``None`` = only on a terminal.

    Attributes (after ``fit``):
        model_: the trained :class:`~graphemb.models.base.EmbeddingModel` (CPU, eval mode).
        config_: the resolved :class:`~graphemb.config.RunConfig`.
        embeddings_: embeddings of the training input, numpy ``[N, d]`` (or ``[G, d]``).
        ids_: node ids (or graph indices) in row order.
        labels_: node labels of the training graph when it had ``y`` (else ``None``).
        history_: per-epoch losses (list of dicts).
        n_features_in_: input feature width the model expects.
        degree_buckets_: one-hot width of default features (``None`` when features were given).
    """

    def __init__(
        self,
        model: str = "isoc-vgae",
        preset: Optional[str] = None,
        task: str = "node",
        device: str = "cpu",
        seed: int = 0,
        epochs: Optional[int] = None,
        lr: Optional[float] = None,
        hidden_channels: Optional[int] = None,
        overrides: Optional[Mapping[str, Any]] = None,
        features: str = "degree",
        progress: Optional[bool] = None,
    ) -> None:
        self.model = model
        self.preset = preset
        self.task = task
        self.device = device
        self.seed = seed
        self.epochs = epochs
        self.lr = lr
        self.hidden_channels = hidden_channels
        self.overrides = overrides
        self.features = features
        self.progress = progress

    # ------------------------------------------------------------------ config
    def _values(self) -> Dict[str, Any]:
        from graphemb.config import deep_update
        from graphemb.models import MODELS

        values = _nest(self.overrides or {})
        short: Dict[str, Any] = {"train": {"seed": int(self.seed), "device": self.device}}
        if self.progress is not None:
            short["train"]["progress"] = bool(self.progress)
        if self.epochs is not None:
            short["train"]["epochs"] = int(self.epochs)
        if self.lr is not None:
            short["train"]["lr"] = float(self.lr)
        if self.hidden_channels is not None:
            has_encoder = "encoder" in getattr(MODELS.get(self.model).Config, "__dataclass_fields__", {})
            short["model"] = ({"encoder": {"hidden_channels": int(self.hidden_channels)}} if has_encoder
                              else {"hidden_channels": int(self.hidden_channels)})
        return deep_update(values, short)

    # ------------------------------------------------------------------ inputs
    def _convert(self, data: Any, x: Any, fitted: bool):
        """``(list of converted graphs, graph level?)``, features filled."""
        from graphemb.data.convert import fill_features, to_graph, to_graphs

        graph_level = self.task == "graph"
        if isinstance(data, (list, tuple)):
            if not graph_level:
                raise ValueError(f"a list of graphs needs task='graph' (one vector per graph); got task={self.task!r}")
            graphs = to_graphs(data)
        else:
            if graph_level:
                raise ValueError("task='graph' embeds a list of graphs; pass a list (or use task='node')")
            graphs = [to_graph(data, x)]
        featureless = graphs[0].featureless
        if fitted:
            if featureless != (self.degree_buckets_ is not None):
                raise ValueError("this embedder was fitted on graphs " + ("without" if self.degree_buckets_ is not None
                                 else "with") + " features; give the new graph(s) the same kind of input")
            buckets = self.degree_buckets_
        else:
            buckets = None
        used = fill_features(graphs, self.features, buckets) if featureless else None
        width = graphs[0].data.x.size(1)
        if fitted and width != self.n_features_in_:
            raise ValueError(f"the new graph has {width} features but the embedder was fitted on "
                             f"{self.n_features_in_}; use the same feature columns")
        return graphs, used

    # ------------------------------------------------------------------ API
    def fit(self, data: Any, x: Any = None) -> "Embedder":
        """Train on ``data`` (see the module docstring for the accepted inputs); returns ``self``.

        Args:
            x: node features ``[N, F]`` when ``data`` is a scipy adjacency (or to replace ``data.x``).
        """
        from graphemb import api
        from graphemb.data.convert import as_dataset

        if self.task not in ("node", "link", "graph"):
            raise ValueError(f"task must be 'node', 'link' or 'graph', got {self.task!r}")
        graphs, buckets = self._convert(data, x, fitted=False)
        if self.task == "graph":
            payload: Any = [g.data for g in graphs]
            ids: List[Any] = list(range(len(graphs)))
            labels = None
            ys = [getattr(g.data, "y", None) for g in graphs]
            if all(y is not None for y in ys):
                labels = torch.cat(ys).numpy()
        else:
            payload, ids, labels = graphs[0].data, graphs[0].ids, graphs[0].labels
            if labels is not None:
                payload.y = torch.as_tensor(labels) if labels.dtype.kind in "biuf" else None
        run = api.train(self.model, as_dataset(payload), task=self.task, preset=self.preset, values=self._values())
        self.model_ = run.model
        self.config_ = run.config
        self.history_ = run.train_result.history
        self.train_result_ = run.train_result
        self.split_ = run.split
        self.embeddings_ = run.embeddings.numpy()
        self.ids_ = ids
        self.labels_ = labels
        self.n_features_in_ = int(graphs[0].data.x.size(1))
        self.degree_buckets_ = buckets
        return self

    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise RuntimeError("this Embedder is not fitted yet: call fit(data) first (or Embedder.load(run_dir))")

    def transform(self, data: Any, x: Any = None, as_tensor: bool = False) -> Union[np.ndarray, Tensor]:
        """Embed ``data`` with the trained encoder (inductive: any graph with the same features).

        Returns ``[N, d]`` for one graph (rows in node order, see :func:`node_ids`) or ``[G, d]``
        for a list of graphs; numpy unless ``as_tensor``.
        """
        from graphemb.training.inference import embed_graphs, embed_nodes

        self._check_fitted()
        graphs, _ = self._convert(data, x, fitted=True)
        cfg = self.config_
        if self.task == "graph":
            emb = embed_graphs(self.model_, [g.data for g in graphs], device=self.device, pool=cfg.task.graph_pool,
                               readout=cfg.task.graph_readout)
        else:
            emb = embed_nodes(self.model_, graphs[0].data, device=self.device)
        self.model_.cpu()
        return emb if as_tensor else emb.numpy()

    def fit_transform(self, data: Any, x: Any = None, as_tensor: bool = False) -> Union[np.ndarray, Tensor]:
        """``fit(data).embeddings_``: embeddings of the training input (rows match ``ids_``)."""
        self.fit(data, x)
        return torch.from_numpy(self.embeddings_) if as_tensor else self.embeddings_

    # ------------------------------------------------------------------ persistence
    def save(self, path: PathLike, overwrite: bool = False) -> Path:
        """Write a run directory (config, checkpoint, embeddings, metrics + ``estimator.json``).

        As ``graphemb train --out``: a non-empty ``path`` is refused unless ``overwrite`` (then
        replaced as a whole); written to ``path.partial`` under ``path.lock``, renamed when done.
        """
        from graphemb.training import rundir

        self._check_fitted()
        with rundir.RunWriter(path, overwrite=overwrite) as writer:
            self._write_run(writer.path)
            return writer.commit()

    def _write_run(self, d: Path) -> None:
        from graphemb.api import _train_summary
        from graphemb.training import rundir
        from graphemb.utils.io import atomic_write

        rundir.save_config(d, self.config_)
        rundir.save_checkpoint(d, self.model_, self.config_, self.n_features_in_)
        int_ids = all(isinstance(i, (int, np.integer)) and not isinstance(i, bool) for i in self.ids_)
        id_tensor = torch.as_tensor([int(i) for i in self.ids_]) if int_ids else torch.arange(len(self.ids_))
        rundir.save_embeddings(d, torch.from_numpy(self.embeddings_), id_tensor,
                               "graph" if self.task == "graph" else "node")
        if self.split_ is not None:
            rundir.save_split(d, self.split_)
        metrics = {"history": self.history_, **rundir.provenance()}
        if self.train_result_ is not None:
            metrics["train"] = _train_summary(self.train_result_)
        rundir.save_metrics(d, metrics)
        if self.labels_ is not None:
            with atomic_write(d / "labels.npy") as f:
                np.save(f, np.asarray(self.labels_))
        state = {
            "params": self.get_params(),
            "n_features_in": self.n_features_in_,
            "degree_buckets": self.degree_buckets_,
            # non-integer node ids (strings, tuples) live here; embeddings.npz then holds 0..N-1
            "ids": None if int_ids else [i if isinstance(i, (str, int, float)) else list(i) for i in self.ids_],
        }
        with atomic_write(d / _ESTIMATOR_FILE, "w") as f:
            json.dump(state, f, indent=2, default=str)

    @classmethod
    def load(cls, path: PathLike) -> "Embedder":
        """Rebuild a fitted estimator from a run directory (one saved by :meth:`save` or by
        ``graphemb train``). ``transform`` then embeds new graphs with the trained encoder."""
        from graphemb.training import rundir

        path = Path(path)
        model, config = rundir.load_checkpoint(path)
        emb, ids, level = rundir.load_embeddings(path)
        state_file = path / _ESTIMATOR_FILE
        state = json.loads(state_file.read_text()) if state_file.is_file() else {}
        params = state.get("params") or {
            "model": config.model_name, "preset": config.preset, "task": config.task.name,
            "device": config.train.device, "seed": config.train.seed,
        }
        est = cls(**params)
        est.model_ = model
        est.config_ = config
        est.history_ = rundir.load_metrics(path).get("history", [])
        est.train_result_ = None
        split = rundir.load_split(path)
        if split is not None:
            from types import SimpleNamespace

            split = SimpleNamespace(**split)
        est.split_ = split
        est.embeddings_ = emb.numpy()
        est.ids_ = state["ids"] if state.get("ids") is not None else ids.tolist()
        labels = path / "labels.npy"
        est.labels_ = np.load(labels, allow_pickle=False) if labels.is_file() else None
        est.n_features_in_ = int(state.get("n_features_in") or _in_channels(path))
        est.degree_buckets_ = state.get("degree_buckets")
        return est


def _in_channels(path: Path) -> int:
    ckpt = torch.load(path / "checkpoint.pt", map_location="cpu", weights_only=True)
    return int(ckpt["in_channels"])


def node_ids(data: Any) -> List[Any]:
    """The row order :meth:`Embedder.transform` uses for ``data`` (node ids of a networkx graph)."""
    from graphemb.data.convert import to_graph

    return to_graph(data).ids
