"""Turn a user's own graph into what the models train on.

Accepted inputs (see :func:`to_graph`):

* a PyG ``Data`` (``edge_index``, optional ``x``, ``y``, ``node_id``);
* a ``networkx`` graph: nodes in ``G.nodes`` order, any hashable node ids (kept as ``ids``);
  features from node attributes: ``"x"`` (a vector per node) when every node has it, else every
  numeric attribute (scalar or vector) that all nodes share, in sorted key order; ``"y"`` is the
  label, never a feature;
* a ``scipy.sparse`` adjacency matrix ``[N, N]`` plus an optional feature matrix ``[N, F]``
  (numpy, scipy sparse or torch).

Edges are made undirected and self loops are dropped (the auto-encoders reconstruct an
undirected graph without self loops); isolated nodes and several components are kept.

Graphs without features get the **documented default**: one-hot degree with
``min(64, max_degree + 1)`` buckets (the same as featureless benchmark datasets); the bucket
count is returned so that a new graph embedded later gets the same width.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.data.features import DEFAULT_DEGREE_CAP, degree_buckets, degree_onehot, node_degree

FEATURELESS = ("degree", "constant")


@dataclass
class Graph:
    """One converted graph.

    Attributes:
        data: PyG ``Data`` with float32 ``x [N, F]`` and undirected ``edge_index [2, E]``.
        ids: the node ids in row order (a list; ``range(N)`` for inputs without ids).
        labels: ``y`` as a numpy array when the input had node labels, else ``None``.
        featureless: whether ``x`` was built from the default (no features in the input).
    """

    data: Data
    ids: List[Any]
    labels: Optional[np.ndarray]
    featureless: bool


def _tensor(a: Any) -> Tensor:
    import scipy.sparse as sp

    if sp.issparse(a):
        a = a.toarray()
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a)
    if t.dim() == 1:
        t = t.view(-1, 1)
    return t.float()


def _clean_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    from torch_geometric.utils import remove_self_loops, to_undirected

    edge_index = edge_index.long()
    edge_index, _ = remove_self_loops(edge_index)
    return to_undirected(edge_index, num_nodes=num_nodes)


def _from_scipy(adj: Any) -> Tuple[Tensor, int]:
    import scipy.sparse as sp

    if not sp.issparse(adj):
        raise TypeError(f"expected a scipy sparse adjacency matrix, got {type(adj).__name__}")
    if adj.shape[0] != adj.shape[1]:
        raise ValueError(f"adjacency matrix must be square, got shape {adj.shape}")
    coo = sp.coo_matrix(adj)
    ei = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    return ei, int(adj.shape[0])


def _networkx_features(G: Any, nodes: List[Any]) -> Optional[Tensor]:
    attrs = [G.nodes[n] for n in nodes]
    if not attrs:
        return None
    if all("x" in a for a in attrs):
        return _tensor(np.stack([np.asarray(a["x"], dtype=np.float32).reshape(-1) for a in attrs]))
    shared = set(attrs[0]).intersection(*attrs[1:]) - {"y", "x"}

    def numeric(v: Any) -> bool:
        arr = np.asarray(v)
        return arr.dtype.kind in "biuf" and arr.ndim <= 1

    keys = sorted(k for k in shared if all(numeric(a[k]) for a in attrs))
    if not keys:
        return None
    cols = [np.stack([np.asarray(a[k], dtype=np.float32).reshape(-1) for a in attrs]) for k in keys]
    return _tensor(np.concatenate(cols, 1))


def _networkx(G: Any) -> Tuple[Tensor, int, List[Any], Optional[Tensor], Optional[np.ndarray]]:
    import networkx as nx

    nodes = list(G.nodes())
    adj = nx.to_scipy_sparse_array(G, nodelist=nodes, weight=None, format="coo")
    ei, n = _from_scipy(adj)
    x = _networkx_features(G, nodes)
    labels = None
    if nodes and all("y" in G.nodes[v] for v in nodes):
        labels = np.asarray([G.nodes[v]["y"] for v in nodes])
    return ei, n, nodes, x, labels


def default_x(edge_index: Tensor, num_nodes: int, kind: str = "degree",
              buckets: Optional[int] = None) -> Tuple[Tensor, int]:
    """Features for a featureless graph: ``(x, buckets)``; ``buckets`` fixes the one-hot width
    (pass the training graph's value when embedding a new graph)."""
    if kind not in FEATURELESS:
        raise ValueError(f"features for featureless graphs must be one of {FEATURELESS}, got {kind!r}")
    if kind == "constant":
        return torch.ones(num_nodes, 1), 1
    deg = node_degree(edge_index, num_nodes)
    if buckets is None:
        buckets = degree_buckets(int(deg.max()) if num_nodes else 0, DEFAULT_DEGREE_CAP)
    return degree_onehot(deg, buckets), buckets


def to_graph(obj: Any, x: Any = None) -> Graph:
    """Convert one graph (PyG ``Data``, networkx graph, or scipy adjacency + ``x``).

    Featureless graphs come back with ``x = None`` and ``featureless=True``; fill them with
    :func:`default_x` (the estimator does, keeping the training width).
    """
    import scipy.sparse as sp

    labels = None
    if isinstance(obj, Data):
        n = int(obj.num_nodes or 0)
        ei = obj.edge_index if obj.edge_index is not None else torch.zeros(2, 0, dtype=torch.long)
        feats = obj.x if x is None else _tensor(x)
        node_id = getattr(obj, "node_id", None)
        ids = node_id.tolist() if isinstance(node_id, Tensor) else list(range(n))
        y = getattr(obj, "y", None)
        if isinstance(y, Tensor) and y.dim() == 1 and y.numel() == n:
            labels = y.numpy()
    elif sp.issparse(obj):
        ei, n = _from_scipy(obj)
        feats = None if x is None else _tensor(x)
        ids = list(range(n))
    elif hasattr(obj, "nodes") and hasattr(obj, "edges") and hasattr(obj, "adj"):
        ei, n, ids, feats, labels = _networkx(obj)
        if x is not None:
            feats = _tensor(x)
    else:
        raise TypeError(f"cannot read a graph from {type(obj).__name__}: pass a torch_geometric Data, a "
                        "networkx graph, or a scipy sparse adjacency matrix (with x=features)")
    if n == 0:
        raise ValueError("empty graph (0 nodes): every graph needs at least one node")
    if feats is not None:
        feats = feats.float()
        if feats.dim() != 2 or feats.size(0) != n:
            raise ValueError(f"features must be a [N, F] matrix with N = {n} nodes, got {tuple(feats.shape)}")
    data = Data(x=feats, edge_index=_clean_edges(ei, n), num_nodes=n)
    return Graph(data=data, ids=ids, labels=labels, featureless=feats is None)


def to_graphs(objs: Sequence[Any]) -> List[Graph]:
    """Convert a set of graphs (graph level); graph labels ``y`` are kept per graph."""
    out = []
    for i, g in enumerate(objs):
        try:
            conv = to_graph(g)
        except (TypeError, ValueError) as e:
            raise type(e)(f"graph {i}: {e}") from None
        y = getattr(g, "y", None) if isinstance(g, Data) else getattr(g, "graph", {}).get("y")
        if y is not None:
            conv.data.y = torch.as_tensor(y).view(-1)[:1]
        out.append(conv)
    if not out:
        raise ValueError("empty list of graphs: graph-level embedding needs at least one graph")
    if len({c.featureless for c in out}) > 1:
        raise ValueError("some graphs have features and some do not; give every graph features or none")
    return out


def fill_features(graphs: Sequence[Graph], kind: str = "degree", buckets: Optional[int] = None) -> int:
    """Give featureless graphs their default ``x`` in place, one width for all of them.

    Returns the degree bucket count used (computed over all graphs unless ``buckets`` is given).
    """
    if kind == "degree" and buckets is None:
        max_deg = max(int(node_degree(g.data.edge_index, g.data.num_nodes).max()) for g in graphs)
        buckets = degree_buckets(max_deg, DEFAULT_DEGREE_CAP)
    for g in graphs:
        if g.featureless:
            g.data.x, buckets = default_x(g.data.edge_index, g.data.num_nodes, kind, buckets)
    return int(buckets or 1)


def as_dataset(obj: Any, name: str = "(in-memory)"):
    """A user's ``Data`` (node level) or list of ``Data`` (graph level) as a
    :class:`~graphemb.data.registry.GraphDataset`, so every API verb accepts it.

    Featureless graphs get the default features (module docstring); node ids come from
    ``data.node_id`` when present.
    """
    from graphemb.data.registry import GraphDataset

    if isinstance(obj, Data):
        g = to_graph(obj)
        fill_features([g])
        data = g.data
        data.node_id = torch.as_tensor(g.ids) if all(isinstance(i, int) for i in g.ids) else torch.arange(data.num_nodes)
        if g.labels is not None:
            data.y = torch.as_tensor(g.labels)
        for key in ("train_mask", "val_mask", "test_mask"):
            if getattr(obj, key, None) is not None:
                data[key] = obj[key]
        n_cls = int(data.y.max()) + 1 if getattr(data, "y", None) is not None and data.y.numel() else 0
        return GraphDataset(name=name, level="node", num_features=data.x.size(1), num_classes=n_cls, data=data,
                            feature_note="degree one-hot (cap 64)" if g.featureless else "given", source="user")
    if isinstance(obj, (list, tuple)) and obj and all(isinstance(o, Data) for o in obj):
        gs = to_graphs(obj)
        fill_features(gs)
        graphs = []
        for i, g in enumerate(gs):
            g.data.graph_id = torch.tensor([i])
            graphs.append(g.data)
        ys = [g.y for g in graphs if getattr(g, "y", None) is not None]
        n_cls = int(torch.cat(ys).max()) + 1 if len(ys) == len(graphs) else 0
        return GraphDataset(name=name, level="graph", num_features=graphs[0].x.size(1), num_classes=n_cls,
                            graphs=graphs, feature_note="degree one-hot (cap 64)" if gs[0].featureless else "given",
                            source="user")
    raise TypeError(f"cannot use a {type(obj).__name__} as a dataset: pass a dataset name, a torch_geometric "
                    "Data, or a list of Data")
