"""Open Graph Benchmark datasets (Hu et al. 2020): ``ogbn-*`` (node), ``ogbl-*`` (link), ``ogbg-*`` (graph).

Two incompatibilities of ``ogb`` 1.3.6 are handled here:

* torch >= 2.6 defaults ``torch.load(weights_only=True)``; OGB's PyG classes save PyG ``Data``
  internals (``DataEdgeAttr``, storages) and ``ogbl`` splits hold numpy arrays. :func:`ogb_safe_loading`
  allow-lists exactly those classes for the duration of the load (a scoped
  ``torch.serialization.safe_globals``; nothing global is changed, nothing is loaded with
  ``weights_only=False``).
* OGB asks on stdin when a dataset folder lacks its ``RELEASE_v<version>.txt`` marker (and before
  downloads over 1 GB). Folders are staged into ``<cache>/ogb/<dir_name>`` with the marker, and a
  prompt that cannot be answered (no TTY) becomes a :class:`DatasetNotFoundError`.

Lookup: ``<root>/<dir_name>/`` (``dir_name`` is the name with ``_``: ``ogbn_arxiv``, holding
``raw/``, ``split/`` and ``RELEASE_v1.txt``) under a data root, then the cache, then OGB's download.
"""
from __future__ import annotations

import contextlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import torch
from torch_geometric.utils import remove_self_loops, to_undirected

from graphemb.data.features import default_features, featurize_graphs
from graphemb.data.paths import (DatasetNotFoundError, cache_root, data_roots, find_child,
                                 remove_if_created, stage_tree)
from graphemb.data.registry import DatasetSpec, GraphDataset, UnknownDatasetError, register_dataset

_KINDS = {"ogbn": "nodeproppred", "ogbl": "linkproppred", "ogbg": "graphproppred"}


def ogb_safe_globals() -> List[Any]:
    """Classes OGB's saved files need under ``torch.load(weights_only=True)``."""
    import numpy as np
    from torch_geometric.data.data import DataEdgeAttr, DataTensorAttr
    from torch_geometric.data.storage import EdgeStorage, GlobalStorage, NodeStorage

    out: List[Any] = [DataEdgeAttr, DataTensorAttr, GlobalStorage, NodeStorage, EdgeStorage]
    try:  # numpy arrays in ogbl split files
        from numpy.core.multiarray import _reconstruct  # type: ignore[attr-defined]
    except ImportError:  # numpy >= 2 moved it
        from numpy._core.multiarray import _reconstruct  # type: ignore
    out += [_reconstruct, np.ndarray, np.dtype]
    out += sorted({type(np.dtype(t)) for t in (np.int64, np.int32, np.float32, np.float64, np.bool_, np.uint8)},
                  key=lambda c: c.__name__)
    return out


@contextlib.contextmanager
def ogb_safe_loading() -> Iterator[None]:
    """Scope in which OGB's ``torch.load`` calls succeed with ``weights_only=True``."""
    with torch.serialization.safe_globals(ogb_safe_globals()):
        yield


@lru_cache(maxsize=None)
def _master(kind: str):
    import pandas as pd
    import ogb

    path = Path(ogb.__file__).parent / kind / "master.csv"
    return pd.read_csv(path, index_col=0, keep_default_na=False)


def ogb_names() -> List[str]:
    """Every OGB dataset name known to the installed ``ogb`` package."""
    return sorted(n for k in _KINDS.values() for n in _master(k).columns)


def is_ogb_name(name: str) -> bool:
    return name.split("-")[0].lower() in _KINDS and "-" in name


def _meta(name: str) -> Dict[str, str]:
    kind = _KINDS[name.split("-")[0].lower()]
    m = _master(kind)
    if name not in m.columns:
        raise KeyError(f"unknown OGB dataset {name!r}; known: {', '.join(sorted(m.columns))}")
    return dict(m[name])


def _stage(name: str, root: Optional[str], cache: Optional[str]) -> tuple[Optional[Path], List[Path]]:
    """Find ``<dir_name>`` with ``raw/`` under the roots, else in the cache; stage into the cache."""
    meta = _meta(name)
    dir_name = "_".join(name.split("-"))
    marker = f"RELEASE_v{meta['version']}.txt"
    base = cache_root(cache) / "ogb"
    tried: List[Path] = []
    for r in data_roots(root):
        d = find_child(r, dir_name) or find_child(r, name)
        tried.append(d or r / dir_name)
        if d is not None and (d / "raw").is_dir():
            stage_tree(d, base / dir_name, ("raw", "split", "mapping", marker))
            (base / dir_name).mkdir(parents=True, exist_ok=True)
            (base / dir_name / marker).touch()
            return base, tried
    tried.append(base / dir_name)
    if (base / dir_name / "raw").is_dir():
        (base / dir_name / marker).touch()
        return base, tried
    return None, tried


def load_ogb(name: str, root: Optional[str] = None, cache: Optional[str] = None,
             download: bool = True, **kwargs: Any) -> GraphDataset:
    """Load an OGB dataset as a :class:`GraphDataset`.

    ``ogbn-*``: node level with the official split as masks. ``ogbl-*``: node level (all nodes in
    ``train_mask``) with the official edge split in ``extra["split_edge"]``. ``ogbg-*``: graph level,
    official split in ``extra["split_idx"]``; OGB's categorical atom/bond features become float32
    ``x`` (use an embedding per column for the molecular sets). Heterogeneous sets are not supported.
    """
    if kwargs:
        raise TypeError(f"unexpected options for {name}: {sorted(kwargs)}")
    meta = _meta(name)
    if meta.get("is hetero", "False") == "True":
        raise ValueError(f"{name} is heterogeneous; graphemb loads homogeneous OGB datasets only")
    prefix = name.split("-")[0].lower()
    base, tried = _stage(name, root, cache)
    created = None
    if base is None:
        if not download:
            raise DatasetNotFoundError(name, tried, "download=False")
        base = cache_root(cache) / "ogb"
        created = (base / "_".join(name.split("-")), (base / "_".join(name.split("-"))).exists())
    base.mkdir(parents=True, exist_ok=True)
    try:
        with ogb_safe_loading():
            ds, extra = _construct(prefix, name, str(base))
    except (Exception, SystemExit) as e:  # offline, refused >1GB prompt (EOF), HTTP error
        if created is None:
            raise
        remove_if_created(*created)
        raise DatasetNotFoundError(name, [*tried, meta["url"]], f"download failed: {e!r}") from e
    return _to_graphdataset(prefix, name, ds, extra)


def _construct(prefix: str, name: str, root: str):
    if prefix == "ogbn":
        from ogb.nodeproppred import PygNodePropPredDataset as D
        ds = D(name, root=root)
        return ds, {"split_idx": ds.get_idx_split()}
    if prefix == "ogbl":
        from ogb.linkproppred import PygLinkPropPredDataset as D
        ds = D(name, root=root)
        return ds, {"split_edge": ds.get_edge_split()}
    from ogb.graphproppred import PygGraphPropPredDataset as D
    ds = D(name, root=root)
    return ds, {"split_idx": ds.get_idx_split()}


def _to_graphdataset(prefix: str, name: str, ds, extra: Dict[str, Any]) -> GraphDataset:
    if prefix in ("ogbn", "ogbl"):
        d = ds[0]
        n = int(d.num_nodes)
        ei, _ = remove_self_loops(d.edge_index)
        d.edge_index = to_undirected(ei, num_nodes=n)
        for key in ("edge_attr", "edge_weight", "edge_year"):  # per-edge data no longer aligned
            if key in d:
                del d[key]
        note = "OGB node features"
        if d.x is None:  # ogbn-proteins, ogbl-ddi: documented default
            d.x, note = default_features(d.edge_index, n, "degree")
        d.x = d.x.float()
        d.node_id = torch.arange(n)
        if prefix == "ogbn":
            d.y = d.y.view(-1) if d.y.dim() == 2 and d.y.size(1) == 1 else d.y
            for key, split in (("train_mask", "train"), ("val_mask", "valid"), ("test_mask", "test")):
                m = torch.zeros(n, dtype=torch.bool)
                m[extra["split_idx"][split]] = True
                d[key] = m
            num_classes = int(ds.num_classes)
        else:
            d.train_mask = torch.ones(n, dtype=torch.bool)
            d.val_mask = torch.zeros(n, dtype=torch.bool)
            d.test_mask = torch.zeros(n, dtype=torch.bool)
            num_classes = 0
        return GraphDataset(name=name, level="node", data=d, num_features=d.x.size(1), num_classes=num_classes,
                            feature_note=note, source="ogb", extra=extra)
    graphs = []
    for i in range(len(ds)):
        g = ds[i]
        ei, _ = remove_self_loops(g.edge_index)
        g.edge_index = to_undirected(ei, num_nodes=g.num_nodes)
        if "edge_attr" in g:
            del g["edge_attr"]  # bond features no longer aligned after to_undirected
        g.x = g.x.float() if g.x is not None else None
        g.y = g.y.view(-1) if g.y.numel() == 1 else g.y  # [1] single task, [1, T] multi-task
        g.graph_id = torch.tensor([i])
        graphs.append(g)
    note = "OGB categorical features as float"
    if graphs and graphs[0].x is None:  # ogbg-ppa: documented default
        xs, note = featurize_graphs(graphs, "degree")
        for g, x in zip(graphs, xs):
            g.x = x
    return GraphDataset(name=name, level="graph", graphs=graphs, num_features=int(graphs[0].x.size(1)),
                        num_classes=int(ds.num_classes), source="ogb", feature_note=note, extra=extra)


def _ogb_local(name: str):
    def local(root: Optional[str], cache: Optional[str]) -> bool:
        dir_name = "_".join(name.split("-"))
        dirs = [find_child(r, dir_name) for r in data_roots(root)] + [cache_root(cache) / "ogb" / dir_name]
        return any(d is not None and (d / "raw").is_dir() for d in dirs)
    return local


def ogb_spec(name: str) -> DatasetSpec:
    """Spec for an OGB name (validated against the installed ``ogb`` master tables)."""
    try:
        _meta(name)
    except KeyError as e:
        raise UnknownDatasetError(str(e.args[0])) from None
    level = "graph" if name.lower().startswith("ogbg") else "node"
    return DatasetSpec(name, level, "ogb", load_ogb, _ogb_local(name))


# Common OGB sets, listed by `graphemb datasets`; any other OGB name resolves through `ogb_spec`.
OGB_COMMON = {"ogbn-arxiv": "node", "ogbn-products": "node", "ogbn-proteins": "node", "ogbl-collab": "node",
              "ogbl-ddi": "node", "ogbl-ppa": "node", "ogbl-citation2": "node", "ogbg-molhiv": "graph",
              "ogbg-molpcba": "graph", "ogbg-ppa": "graph"}
for _n, _level in OGB_COMMON.items():
    register_dataset(DatasetSpec(_n, _level, "ogb", load_ogb, _ogb_local(_n)))


def _pairs(part: Dict[str, Any], key: str = "edge") -> torch.Tensor:
    """``[2, E]`` pairs of one part of an OGB edge split (``edge``/``edge_neg`` ``[E, 2]``, or
    ``source_node``/``target_node`` ``[E]``)."""
    if key in part:
        return torch.as_tensor(part[key]).long().view(-1, 2).t().contiguous()
    if key == "edge" and "source_node" in part:
        return torch.stack([torch.as_tensor(part["source_node"]).long(), torch.as_tensor(part["target_node"]).long()])
    raise ValueError(f"OGB edge split part has no {key!r} (keys: {sorted(part)})")


def official_link_split(dataset: GraphDataset):
    """The official edge split of an ``ogbl-*`` dataset as a :class:`~graphemb.data.splits.LinkSplit`
    (no re-split), or ``None`` for any other dataset.

    ``train_data`` holds the official train edges only (both directions), ``train_pos`` them
    deduplicated (``u < v``); ``val_*``/``test_*`` are the official pairs exactly as OGB gives
    them (not reordered, not deduplicated). For ``ogbl-citation2`` (MRR against 1000 negatives of
    each query) ``val_neg``/``test_neg`` hold each query's negatives in query order, its source node
    repeated: ``[2, Q * 1000]``.
    """
    from graphemb.data.splits import LinkSplit, undirected_pairs

    if dataset.source != "ogb" or not dataset.name.lower().startswith("ogbl-"):
        return None
    split_edge = dataset.extra.get("split_edge")
    if split_edge is None:
        raise ValueError(f"{dataset.name} has no official edge split (extra['split_edge']); load it with load_dataset")
    data = dataset.data
    n = int(data.num_nodes)
    out = {}
    for part, prefix in (("valid", "val"), ("test", "test")):
        p = split_edge[part]
        out[f"{prefix}_pos"] = _pairs(p, "edge")
        if "edge_neg" in p:
            out[f"{prefix}_neg"] = _pairs(p, "edge_neg")
        elif "target_node_neg" in p:  # per-query negatives
            neg = torch.as_tensor(p["target_node_neg"]).long()
            src = out[f"{prefix}_pos"][0]
            out[f"{prefix}_neg"] = torch.stack([src.repeat_interleave(neg.size(1)), neg.reshape(-1)])
        else:
            raise ValueError(f"{dataset.name} split {part!r} has no negatives (keys: {sorted(p)})")
    train_pos = undirected_pairs(_pairs(split_edge["train"], "edge"), n)
    train_data = data.clone()
    train_data.edge_index = torch.cat([train_pos, train_pos.flip(0)], 1)
    return LinkSplit(train_data, train_pos, out["val_pos"], out["val_neg"], out["test_pos"], out["test_neg"])


def ogb_eval_targets(dataset: GraphDataset) -> torch.Tensor:
    """Targets in the Evaluator's layout: ``[N, T]`` node labels (``ogbn-*``) or ``[G, T]`` graph
    labels (``ogbg-*``; NaN = missing)."""
    if dataset.level == "node":
        y = dataset.data.y
        return y.view(y.size(0), -1)
    return torch.cat([g.y.reshape(1, -1) for g in dataset.graphs])
