"""Single-graph benchmarks without a public split, stored as PyG's raw ``.npz`` files:
Amazon-Computers / Amazon-Photo (Shchur et al. 2018, PyG ``Amazon``), Coauthor-CS /
Coauthor-Physics (PyG ``Coauthor``) and DBLP (Bojchevski & Günnemann 2018, PyG ``CitationFull``).

Layout under a data root (PyG's own)::

    <root>/Amazon/Computers/raw/amazon_electronics_computers.npz
    <root>/Amazon/Photo/raw/amazon_electronics_photo.npz
    <root>/Coauthor/CS/raw/ms_academic_cs.npz
    <root>/Coauthor/Physics/raw/ms_academic_phy.npz
    <root>/CitationFull/dblp/raw/dblp.npz

Raw files are staged into ``<cache>/<group>/<Name>/raw`` and processed there by the PyG class
(or downloaded by it when online). These graphs carry no train/val/test masks: node evaluation
draws a random split per seed (``task.split``, default ``1:1:8`` as BGRL).
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import torch
from torch_geometric.utils import remove_self_loops, to_undirected

from graphemb.data.features import DEFAULT_DEGREE_CAP, default_features
from graphemb.data.paths import DatasetNotFoundError, cache_root, data_roots, find_child, has_files, remove_if_created, stage_tree
from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset

# canonical name -> (group folder, PyG name / sub-folder, raw file, PyG class name)
NPZ_GRAPHS: Dict[str, Tuple[str, str, str, str]] = {
    "Amazon-Computers": ("Amazon", "Computers", "amazon_electronics_computers.npz", "Amazon"),
    "Amazon-Photo": ("Amazon", "Photo", "amazon_electronics_photo.npz", "Amazon"),
    "Coauthor-CS": ("Coauthor", "CS", "ms_academic_cs.npz", "Coauthor"),
    "Coauthor-Physics": ("Coauthor", "Physics", "ms_academic_phy.npz", "Coauthor"),
    "DBLP": ("CitationFull", "dblp", "dblp.npz", "CitationFull"),
}


def _find(name: str, root: Optional[str], cache: Optional[str], stage: bool):
    """``(pyg_root, tried)``: the staged ``<cache>/<group>`` holding ``<sub>/raw/<file>``, or ``None``."""
    group, sub, raw, _ = NPZ_GRAPHS[name]
    tried = []
    pyg_root = cache_root(cache) / group.lower()
    for r in data_roots(root):
        g = find_child(r, group)
        d = find_child(g, sub) if g is not None else None
        tried.append(((d or r / group / sub)) / "raw")
        if d is not None and has_files(d / "raw", [raw]):
            if stage:
                stage_tree(d, pyg_root / sub)
            return pyg_root, tried
    tried.append(pyg_root / sub / "raw")
    return (pyg_root if has_files(pyg_root / sub / "raw", [raw]) else None), tried


def _local(name: str):
    return lambda root, cache: _find(name, root, cache, stage=False)[0] is not None


def _pyg_dataset(cls_name: str, pyg_root: str, sub: str):
    import torch_geometric.datasets as D

    return getattr(D, cls_name)(pyg_root, sub)


def load_npz_graph(name: str, root: Optional[str] = None, cache: Optional[str] = None, download: bool = True, *,
                   features: str = "auto", degree_cap: int = DEFAULT_DEGREE_CAP, **kwargs: Any) -> GraphDataset:
    """Load one of :data:`NPZ_GRAPHS` (undirected, no self loops, no public split)."""
    if kwargs:
        raise TypeError(f"unexpected options for {name}: {sorted(kwargs)}; it takes features and degree_cap")
    group, sub, raw, cls_name = NPZ_GRAPHS[name]
    pyg_root, tried = _find(name, root, cache, stage=True)
    if pyg_root is None:
        if not download:
            raise DatasetNotFoundError(name, tried, "download=False")
        pyg_root = cache_root(cache) / group.lower()
        existed = (pyg_root / sub).exists()
        try:
            ds = _pyg_dataset(cls_name, str(pyg_root), sub)
        except Exception as e:  # offline / HTTP error
            remove_if_created(pyg_root / sub, existed)
            raise DatasetNotFoundError(name, tried, f"download failed: {e}") from e
    else:
        ds = _pyg_dataset(cls_name, str(pyg_root), sub)
    d = ds[0]
    ei, _ = remove_self_loops(d.edge_index)
    d.edge_index = to_undirected(ei, num_nodes=d.num_nodes)
    note = "bag-of-words / keywords (as stored)"
    if features not in ("auto", "auto-constant"):
        d.x, note = default_features(d.edge_index, d.num_nodes, features, degree_cap)
    d.x = d.x.float()
    d.node_id = torch.arange(d.num_nodes)
    return GraphDataset(name=name, level="node", data=d, num_features=d.x.size(1), num_classes=int(d.y.max()) + 1,
                        source=cls_name.lower(), feature_note=note)


for _name, (_g, _sub, _raw, _cls) in NPZ_GRAPHS.items():
    _aliases = {"Amazon-Computers": ("computers",), "Amazon-Photo": ("photo",), "Coauthor-CS": ("cs",),
                "Coauthor-Physics": ("physics",), "DBLP": ()}[_name]
    register_dataset(DatasetSpec(_name, "node", _cls.lower(), load_npz_graph, _local(_name)), *_aliases)
