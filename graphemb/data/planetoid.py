"""Planetoid citation graphs (Cora, CiteSeer, PubMed; Yang et al. 2016) with the public split.

Raw files ``<root>/<Name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` are staged
into ``<cache>/planetoid/<Name>/raw`` and processed there by PyG's ``Planetoid`` (its
``processed/`` folder makes later loads fast). Features are the raw binary bag-of-words
(no row normalisation); the public split is 20 labels per class / 500 val / 1000 test.
"""
from __future__ import annotations

from typing import Any, Optional

import torch
from torch_geometric.utils import remove_self_loops, to_undirected

from graphemb.data.features import DEFAULT_DEGREE_CAP, default_features
from graphemb.data.paths import DatasetNotFoundError, cache_root, locate_raw, remove_if_created
from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")


def raw_file_names(name: str) -> list[str]:
    return [f"ind.{name.lower()}.{s}" for s in _SUFFIXES]


def _planetoid_local(name: str):
    def local(root: Optional[str], cache: Optional[str]) -> bool:
        found, _ = locate_raw(name, "planetoid", raw_file_names(name), root=root, cache=cache, stage=False)
        return found is not None
    return local


def load_planetoid(name: str, root: Optional[str] = None, cache: Optional[str] = None,
                   download: bool = True, *, features: str = "auto", degree_cap: int = DEFAULT_DEGREE_CAP,
                   **kwargs: Any) -> GraphDataset:
    """Load a Planetoid dataset (``name`` in Cora, CiteSeer, PubMed) with its public split.

    ``features="auto"`` keeps the bag-of-words; ``"degree"`` / ``"constant"`` replace it
    (structure-only ablations, see :mod:`graphemb.data.features`).
    """
    from torch_geometric.datasets import Planetoid

    name = PLANETOID[name.lower()]
    if kwargs:
        raise TypeError(f"unexpected options for {name}: {sorted(kwargs)}; "
                        f"Planetoid takes features='auto'|'degree'|'constant' and degree_cap")
    pyg_root, tried = locate_raw(name, "planetoid", raw_file_names(name), root=root, cache=cache)
    if pyg_root is None:
        pyg_root = cache_root(cache) / "planetoid"
        if not download:
            raise DatasetNotFoundError(name, tried, "download=False")
        existed = (pyg_root / name).exists()
        try:
            ds = Planetoid(str(pyg_root), name)  # PyG's own download code path
        except Exception as e:  # offline, proxy, HTTP error: all mean "not available"
            remove_if_created(pyg_root / name, existed)
            raise DatasetNotFoundError(name, [*tried, Planetoid.url], f"download failed: {e}") from e
    else:
        ds = Planetoid(str(pyg_root), name)
    d = ds[0]
    ei, _ = remove_self_loops(d.edge_index)
    d.edge_index = to_undirected(ei, num_nodes=d.num_nodes)
    note = "bag-of-words (binary, not normalised)"
    if features not in ("auto", "auto-constant"):  # Planetoid graphs always have features
        d.x, note = default_features(d.edge_index, d.num_nodes, features, degree_cap)
    d.x = d.x.float()
    d.node_id = torch.arange(d.num_nodes)
    return GraphDataset(name=name, level="node", data=d, num_features=d.x.size(1),
                        num_classes=int(d.y.max()) + 1, source="planetoid", feature_note=note)


for _key, _name in PLANETOID.items():
    register_dataset(DatasetSpec(_name, "node", "planetoid", load_planetoid, _planetoid_local(_name)))
