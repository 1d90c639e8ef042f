"""Named datasets: ``load_dataset(name) -> GraphDataset`` and ``list_datasets()``.

Name resolution, in order:

* a registered name (case-insensitive, ``_`` = ``-``): ``cora``, ``citeseer``, ``pubmed``, the
  common TU sets (``mutag``, ``ptc_mr``, ``imdb-binary``, ...), ``synthetic``, ``synthetic-graphs``;
* ``tu:<NAME>`` for any TU Dortmund dataset (exact TU spelling, e.g. ``tu:Mutagenicity``);
* ``ogbn-*``, ``ogbl-*``, ``ogbg-*`` for any OGB dataset known to the installed ``ogb``;
* a folder ``<root>/<NAME>/raw/<NAME>_A.txt`` (TU layout) under a data root.

Anything else raises :class:`UnknownDatasetError` listing what is known.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from torch import Tensor
from torch_geometric.data import Data

from graphemb.registry import Registry, normalize_name


@dataclass
class GraphDataset:
    """A loaded dataset, node level (one graph) or graph level (a set of graphs).

    Attributes:
        name: canonical name (``"Cora"``, ``"MUTAG"``, ``"ogbn-arxiv"``).
        level: ``"node"`` (``data`` is set) or ``"graph"`` (``graphs`` is set).
        data: node level: PyG ``Data`` with ``x`` float32 ``[N, F]``, undirected coalesced
            ``edge_index`` ``[2, E]`` without self loops, ``y`` ``[N]``, ``train_mask`` /
            ``val_mask`` / ``test_mask`` (public split) and ``node_id`` ``[N]``.
        graphs: graph level: a list of ``Data`` each with ``x`` float32, undirected ``edge_index``,
            ``y`` of shape ``[1]`` and ``graph_id`` (position in the published file order).
        num_features: ``F``.
        num_classes: number of node classes (node level) or graph classes (graph level).
        feature_note: where ``x`` comes from (``"bag-of-words"``, ``"degree one-hot (cap 64)"``).
        folds: optional standard 10-fold split as ``(train_idx, test_idx)`` pairs (GIN indices).
        source: ``"planetoid"``, ``"tu"``, ``"gin"``, ``"ogb"`` or ``"synthetic"``.
        extra: source-specific extras (``split_edge`` for ``ogbl-*``, ``split_idx`` for ``ogbg-*``).
    """

    name: str
    level: str
    num_features: int
    num_classes: int
    data: Optional[Data] = None
    graphs: Optional[List[Data]] = None
    feature_note: str = ""
    folds: Optional[List[Tuple[Tensor, Tensor]]] = None
    source: str = ""
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.level not in ("node", "graph"):
            raise ValueError(f"level must be 'node' or 'graph', got {self.level!r}")
        if self.level == "node" and self.data is None:
            raise ValueError(f"node-level dataset {self.name!r} needs `data`")
        if self.level == "graph" and self.graphs is None:
            raise ValueError(f"graph-level dataset {self.name!r} needs `graphs`")

    def __len__(self) -> int:
        return 1 if self.level == "node" else len(self.graphs or [])

    def __repr__(self) -> str:
        size = (f"nodes={self.data.num_nodes}, edges={self.data.edge_index.size(1) // 2}"
                if self.level == "node" else f"graphs={len(self.graphs or [])}")
        return (f"GraphDataset({self.name}, level={self.level}, {size}, features={self.num_features}"
                f" [{self.feature_note}], classes={self.num_classes})")


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: its canonical ``name``, ``level``, ``source`` and ``loader``.

    ``loader(name, root=None, cache=None, download=True, **kwargs) -> GraphDataset``;
    ``local(root, cache) -> bool`` tells whether the files are present without downloading.
    """

    name: str
    level: str
    source: str
    loader: Callable[..., GraphDataset]
    local: Callable[[Optional[str], Optional[str]], bool] = lambda root, cache: True


DATASETS: Registry[DatasetSpec] = Registry("dataset")


class UnknownDatasetError(KeyError):
    """A name that is neither registered, nor ``tu:<NAME>``, nor an OGB name, nor a local TU folder."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def register_dataset(spec: DatasetSpec, *aliases: str) -> DatasetSpec:
    """Register ``spec`` under its name and ``aliases``."""
    for n in (spec.name, *aliases):
        DATASETS.register(n, spec)
    return spec


def _ensure_registered() -> None:
    import graphemb.data  # noqa: F401  (modules register themselves on import)


def resolve(name: str, root: Optional[str | os.PathLike] = None) -> DatasetSpec:
    """The :class:`DatasetSpec` that ``load_dataset(name)`` would use."""
    _ensure_registered()
    from graphemb.data import ogb, tu

    if name in DATASETS:
        return DATASETS.get(name)
    if name.lower().startswith("tu:"):
        return tu.tu_spec(name[3:])
    if ogb.is_ogb_name(name):
        return ogb.ogb_spec(name)
    local = tu.find_local_tu_name(name, root)
    if local is not None:
        return tu.tu_spec(local)
    known = ", ".join(sorted({spec.name for _, spec in DATASETS.items()}, key=str.lower))
    raise UnknownDatasetError(
        f"unknown dataset {name!r}. Known: {known}; any TU dataset as 'tu:<NAME>' "
        f"(e.g. tu:Mutagenicity); any OGB dataset as ogbn-*/ogbl-*/ogbg-* (e.g. ogbn-arxiv); "
        f"or put its TU raw files under <data-root>/{name}/raw/{name}_A.txt"
    )


def load_dataset(
    name: str,
    root: Optional[str | os.PathLike] = None,
    *,
    cache: Optional[str | os.PathLike] = None,
    download: bool = True,
    **kwargs: Any,
) -> GraphDataset:
    """Load a dataset by name (see the module docstring for name resolution).

    Args:
        name: dataset name, e.g. ``"Cora"``, ``"MUTAG"``, ``"tu:COLLAB"``, ``"ogbn-arxiv"``,
            ``"synthetic"``.
        root: read-only data root (CLI ``--data-root``); default ``$GRAPHEMB_DATA``.
        cache: writable cache; default ``$GRAPHEMB_CACHE`` or ``~/.cache/graphemb``.
        download: try the canonical download when the files are nowhere local.
        **kwargs: loader options (``features="degree"|"constant"``, ``degree_cap=64``,
            ``format="auto"|"tu"|"gin"``, synthetic generator parameters, ...).
    Raises:
        UnknownDatasetError: the name resolves to nothing.
        DatasetNotFoundError: known name but no files and no download (names the paths tried).
    """
    spec = resolve(name, root)
    root_s = None if root is None else str(root)
    cache_s = None if cache is None else str(cache)
    return spec.loader(spec.name, root=root_s, cache=cache_s, download=download, **kwargs)


def list_datasets(
    root: Optional[str | os.PathLike] = None, cache: Optional[str | os.PathLike] = None
) -> List[Dict[str, Any]]:
    """One row per registered dataset (plus TU folders found under the data roots):
    ``{"name", "level", "source", "local"}`` where ``local`` says whether it loads without download."""
    _ensure_registered()
    from graphemb.data import tu

    root_s = None if root is None else str(root)
    cache_s = None if cache is None else str(cache)
    seen: Dict[str, DatasetSpec] = {}
    for _, spec in DATASETS.items():
        seen.setdefault(spec.name, spec)
    for extra in tu.local_tu_names(root_s):
        if extra not in DATASETS and normalize_name(extra) not in {normalize_name(n) for n in seen}:
            seen[extra] = tu.tu_spec(extra)
    rows = []
    for n in sorted(seen, key=str.lower):
        spec = seen[n]
        rows.append({"name": spec.name, "level": spec.level, "source": spec.source,
                     "local": bool(spec.local(root_s, cache_s))})
    return rows
