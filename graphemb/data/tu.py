"""TU Dortmund graph classification sets (Morris et al. 2020), from TU raw files or GIN text files.

Sources, in order (``format="auto"``):

1. TU raw files ``<root>/<Name>/raw/<Name>_A.txt``, ``_graph_indicator.txt``, ... staged into
   ``<cache>/tu/<Name>/raw`` and processed by PyG's ``TUDataset``;
2. the GIN/DGCNN text format ``<root>/<Name>/gin_format/<file>.txt`` (Xu et al. 2019): line 1 the
   number of graphs; per graph ``n label``; then ``n`` lines ``tag deg nbr_1 .. nbr_deg [attrs]``.
   Node tags become one-hot features (sorted distinct tags); labels are mapped to ``0..C-1`` in
   sorted order, as PyG does for TU labels;
3. the canonical TU download into the cache (``download=True``).

Node features: TU node labels one-hot (``use_node_attr=True`` prepends continuous attributes);
graphs without any (IMDB-*, COLLAB, REDDIT-*) get the documented default of
:mod:`graphemb.data.features` (``features="degree"``, cap 64; or ``"constant"``).
``features="degree"|"constant"`` also overrides existing features.

Folds: when ``<Name>/gin_format/10fold_idx/{train,test}_idx-K.txt`` exist (0-based indices) they
are exposed as ``GraphDataset.folds``, for TU raw files only when the GIN file lists the same
graphs in the same order (node counts and label partition agree).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.utils import remove_self_loops, to_undirected

from graphemb.data.features import DEFAULT_DEGREE_CAP, FEATURE_CHOICES, featurize_graphs
from graphemb.data.paths import (DatasetNotFoundError, cache_root, data_roots, find_child,
                                 locate_raw, remove_if_created)
from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset

# Common TU benchmark names (canonical spelling); any other TU name works as "tu:<NAME>".
TU_NAMES = (
    "MUTAG", "PTC_MR", "PTC_MM", "PTC_FR", "PTC_FM", "NCI1", "NCI109", "PROTEINS", "PROTEINS_full",
    "ENZYMES", "DD", "AIDS", "BZR", "COX2", "DHFR", "Mutagenicity", "FRANKENSTEIN", "MSRC_9",
    "IMDB-BINARY", "IMDB-MULTI", "COLLAB", "REDDIT-BINARY", "REDDIT-MULTI-5K", "REDDIT-MULTI-12K",
    "github_stargazers", "deezer_ego_nets", "twitch_egos", "reddit_threads",
)
_GIN_CACHE_VERSION = 1


# ----------------------------------------------------------------------------- GIN text format

def find_gin_file(folder: Path, name: str) -> Optional[Path]:
    """The GIN text file in ``folder`` (``<Name>.txt``, or e.g. ``IMDBBINARY.txt``)."""
    if not folder.is_dir():
        return None
    files = sorted(p for p in folder.glob("*.txt") if p.is_file())
    key = lambda s: s.lower().replace("-", "").replace("_", "")  # noqa: E731
    for p in files:
        if key(p.stem) == key(name):
            return p
    return files[0] if len(files) == 1 else None


def parse_gin_file(path: Path) -> Dict[str, Tensor]:
    """Parse a GIN text file into flat tensors.

    Returns ``{"num_nodes": [G], "label": [G] (raw labels), "tag": [sum n] (raw tags),
    "edge_index": [2, E] (graph-local ids, as listed), "num_edges": [G]}``.
    """
    with open(path) as f:
        tokens = f.read().split("\n")
    it = iter(tokens)
    g = int(next(it).strip())
    sizes, labels, tags, src, dst, ecount = [], [], [], [], [], []
    for gi in range(g):
        line = next(it).split()
        while not line:  # tolerate blank lines between graphs
            line = next(it).split()
        n, lab = int(line[0]), int(line[1])
        sizes.append(n)
        labels.append(lab)
        e0 = len(src)
        for v in range(n):
            row = next(it).split()
            if len(row) < 2:
                raise ValueError(f"{path}: graph {gi} node {v}: expected 'tag deg nbrs...', got {row!r}")
            deg = int(row[1])
            tags.append(int(row[0]))
            nb = row[2:2 + deg]
            if len(nb) != deg:
                raise ValueError(f"{path}: graph {gi} node {v}: degree {deg} but {len(nb)} neighbours")
            src.extend([v] * deg)
            dst.extend(int(u) for u in nb)
        ecount.append(len(src) - e0)
    return {
        "num_nodes": torch.tensor(sizes, dtype=torch.long),
        "label": torch.tensor(labels, dtype=torch.long),
        "tag": torch.tensor(tags, dtype=torch.long),
        "edge_index": torch.tensor([src, dst], dtype=torch.long).view(2, -1),
        "num_edges": torch.tensor(ecount, dtype=torch.long),
    }


def load_gin_parsed(path: Path, cache_dir: Path) -> Dict[str, Tensor]:
    """:func:`parse_gin_file`, cached in ``cache_dir/gin_parsed.pt`` (keyed by file size + mtime)."""
    st = path.stat()
    stamp = torch.tensor([_GIN_CACHE_VERSION, st.st_size, int(st.st_mtime)], dtype=torch.long)
    cached = cache_dir / "gin_parsed.pt"
    if cached.exists():
        try:
            out = torch.load(cached, weights_only=True)
            if torch.equal(out.get("stamp", torch.zeros(0)), stamp):
                return out
        except Exception:  # corrupt or old cache: re-parse
            pass
    out = parse_gin_file(path)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(f".tmp{os.getpid()}")
    torch.save({**out, "stamp": stamp}, tmp)
    os.replace(tmp, cached)
    return out


def read_gin_folds(folder: Path) -> Optional[List[Tuple[Tensor, Tensor]]]:
    """``[(train_idx, test_idx)]`` from ``folder/10fold_idx/{train,test}_idx-K.txt`` (K = 1..)."""
    d = folder / "10fold_idx"
    if not d.is_dir():
        return None
    folds = []
    k = 1
    while (d / f"train_idx-{k}.txt").exists() and (d / f"test_idx-{k}.txt").exists():
        tr = torch.tensor([int(t) for t in (d / f"train_idx-{k}.txt").read_text().split()], dtype=torch.long)
        te = torch.tensor([int(t) for t in (d / f"test_idx-{k}.txt").read_text().split()], dtype=torch.long)
        folds.append((tr, te))
        k += 1
    return folds or None


def gin_graphs(parsed: Dict[str, Tensor]) -> Tuple[List[Data], bool]:
    """Graphs from a parsed GIN file: ``(graphs, has_features)``; ``has_features`` is False when
    every node carries the same tag (then ``x`` is left unset)."""
    sizes = parsed["num_nodes"].tolist()
    _, y = torch.unique(parsed["label"], sorted=True, return_inverse=True)
    tag_vals, tag_idx = torch.unique(parsed["tag"], sorted=True, return_inverse=True)
    has_x = tag_vals.numel() > 1
    x_all = torch.nn.functional.one_hot(tag_idx, tag_vals.numel()).float() if has_x else None
    eis = parsed["edge_index"].split(parsed["num_edges"].tolist(), dim=1)
    xs = x_all.split(sizes) if has_x else [None] * len(sizes)
    graphs = [Data(x=x, edge_index=ei, y=y[i:i + 1], num_nodes=n)
              for i, (x, ei, n) in enumerate(zip(xs, eis, sizes))]
    return graphs, has_x


# ----------------------------------------------------------------------------- normalisation

def undirected_graph_edges(graphs: Sequence[Data]) -> List[Tensor]:
    """Every graph's ``edge_index`` made undirected, coalesced, without self loops, in one
    vectorised pass over the concatenated edge lists."""
    sizes = torch.tensor([int(g.num_nodes) for g in graphs], dtype=torch.long)
    offs = torch.cumsum(sizes, 0) - sizes
    ecount = torch.tensor([g.edge_index.size(1) for g in graphs], dtype=torch.long)
    if not graphs:
        return []
    ei = torch.cat([g.edge_index for g in graphs], 1) + offs.repeat_interleave(ecount).view(1, -1)
    total = int(sizes.sum())
    ei, _ = remove_self_loops(ei)
    ei = to_undirected(ei, num_nodes=total)  # coalesced: sorted by source node, so by graph
    node_graph = torch.repeat_interleave(torch.arange(len(graphs)), sizes)
    eg = node_graph[ei[0]]
    counts = torch.bincount(eg, minlength=len(graphs)).tolist()
    ei = ei - offs[eg].view(1, -1)
    return list(ei.split(counts, dim=1))


def _finish(name: str, graphs: List[Data], has_x: bool, features: str, cap: int, x_note: str,
            source: str, folds: Optional[List[Tuple[Tensor, Tensor]]]) -> GraphDataset:
    if features not in FEATURE_CHOICES:
        raise ValueError(f"features must be one of {FEATURE_CHOICES}, got {features!r}")
    eis = undirected_graph_edges(graphs)
    out = [Data(x=g.x, edge_index=ei, y=g.y.view(1).long(), graph_id=torch.tensor([i]), num_nodes=g.num_nodes)
           for i, (g, ei) in enumerate(zip(graphs, eis))]
    if features.startswith("auto") and has_x:
        note = x_note
        for g in out:
            g.x = g.x.float()
    else:
        kind = {"auto": "degree", "auto-constant": "constant"}.get(features, features)
        xs, note = featurize_graphs(out, kind, cap)
        for g, x in zip(out, xs):
            g.x = x
    ys = torch.cat([g.y for g in out]) if out else torch.zeros(0, dtype=torch.long)
    return GraphDataset(name=name, level="graph", graphs=out, num_features=int(out[0].x.size(1)) if out else 0,
                        num_classes=int(ys.max()) + 1 if ys.numel() else 0, feature_note=note,
                        folds=folds, source=source)


def _folds_if_same_order(graphs: Sequence[Data], gin_dir: Path, name: str, cache_dir: Path):
    gf = find_gin_file(gin_dir, name)
    folds = read_gin_folds(gin_dir)
    if gf is None or folds is None:
        return None
    parsed = load_gin_parsed(gf, cache_dir)
    sizes = torch.tensor([int(g.num_nodes) for g in graphs])
    if parsed["num_nodes"].numel() != sizes.numel() or not torch.equal(parsed["num_nodes"], sizes):
        return None
    y = torch.cat([g.y.view(-1)[:1] for g in graphs])
    pairs = torch.unique(torch.stack([y, parsed["label"]]), dim=1)  # label bijection check
    if pairs.size(1) != torch.unique(y).numel() or pairs.size(1) != torch.unique(parsed["label"]).numel():
        return None
    return folds


# ----------------------------------------------------------------------------- locating and loading

def _tu_raw_files(name: str) -> List[str]:
    return [f"{name}_A.txt", f"{name}_graph_indicator.txt"]


def _find_gin_dir(name: str, root: Optional[str], cache: Optional[str]) -> Tuple[Optional[Path], List[Path]]:
    tried = []
    for r in data_roots(root):
        d = find_child(r, name)
        tried.append((d or r / name) / "gin_format")
        if d is not None and find_gin_file(d / "gin_format", d.name) is not None:
            return d / "gin_format", tried
    c = cache_root(cache) / "tu" / name / "gin_format"
    tried.append(c)
    if find_gin_file(c, name) is not None:
        return c, tried
    return None, tried


def load_tu(
    name: str,
    root: Optional[str] = None,
    cache: Optional[str] = None,
    download: bool = True,
    *,
    features: str = "auto",
    degree_cap: int = DEFAULT_DEGREE_CAP,
    format: str = "auto",
    use_node_attr: bool = False,
) -> GraphDataset:
    """Load a TU dataset (see the module docstring).

    Args:
        name: TU name (exact spelling, e.g. ``"IMDB-BINARY"``); a case-insensitive folder match is accepted.
        features: ``"auto"`` (TU node labels/attributes, else degree one-hot), ``"auto-constant"``
            (TU node labels/attributes, else a constant 1, as the official IsoC-VGAE graph code),
            ``"degree"``, ``"constant"`` (the last two replace existing features).
        degree_cap: bucket cap of the degree one-hot.
        format: ``"auto"``, ``"tu"`` (raw TU files only) or ``"gin"`` (GIN text file only).
        use_node_attr: include continuous TU node attributes (PROTEINS, ENZYMES) before the labels.
    """
    if format not in ("auto", "tu", "gin"):
        raise ValueError(f"format must be 'auto', 'tu' or 'gin', got {format!r}")
    tried: List[Path | str] = []
    cache_ds = cache_root(cache) / "tu" / name
    if format in ("auto", "tu"):
        pyg_root, t = locate_raw(name, "tu", _tu_raw_files(name), root=root, cache=cache,
                                 subdirs=("raw", "gin_format"))
        tried += t
        if pyg_root is not None:
            return _load_tu_raw(name, pyg_root, features, degree_cap, use_node_attr)
    if format in ("auto", "gin"):
        gin_dir, t = _find_gin_dir(name, root, cache)
        tried += t
        if gin_dir is not None:
            gf = find_gin_file(gin_dir, name)
            parsed = load_gin_parsed(gf, cache_ds / "processed_gin")
            graphs, has_x = gin_graphs(parsed)
            note = f"GIN node-tag one-hot ({graphs[0].x.size(1)})" if has_x else ""
            return _finish(name, graphs, has_x, features, degree_cap, note, "gin", read_gin_folds(gin_dir))
    if not download or format == "gin":
        raise DatasetNotFoundError(name, tried, "download=False" if not download else "no GIN file")
    from torch_geometric.datasets import TUDataset

    pyg_root = cache_root(cache) / "tu"
    existed = cache_ds.exists()
    try:
        TUDataset(str(pyg_root), name, use_node_attr=use_node_attr)  # PyG's download code path
    except Exception as e:  # offline, unknown name on the server, HTTP error
        remove_if_created(cache_ds, existed)
        raise DatasetNotFoundError(name, [*tried, f"{TUDataset.url}/{name}.zip"], f"download failed: {e}") from e
    return _load_tu_raw(name, pyg_root, features, degree_cap, use_node_attr)


def _load_tu_raw(name: str, pyg_root: Path, features: str, cap: int, use_node_attr: bool) -> GraphDataset:
    from torch_geometric.datasets import TUDataset

    ds = TUDataset(str(pyg_root), name, use_node_attr=use_node_attr)
    graphs = [ds[i] for i in range(len(ds))]
    has_x = graphs[0].x is not None and graphs[0].x.size(1) > 0 if graphs else False
    if has_x:
        parts = []
        if use_node_attr and ds.num_node_attributes:
            parts.append(f"{ds.num_node_attributes} node attributes")
        if ds.num_node_labels:
            parts.append(f"node-label one-hot ({ds.num_node_labels})")
        note = " + ".join(parts) or f"TU features ({graphs[0].x.size(1)})"
    else:
        note = ""
    folds = _folds_if_same_order(graphs, pyg_root / name / "gin_format", name, pyg_root / name / "processed_gin")
    return _finish(name, graphs, has_x, features, cap, note, "tu", folds)


# ----------------------------------------------------------------------------- registry glue

def _tu_local(name: str):
    def local(root: Optional[str], cache: Optional[str]) -> bool:
        hit, _ = locate_raw(name, "tu", _tu_raw_files(name), root=root, cache=cache, stage=False)
        return hit is not None or _find_gin_dir(name, root, cache)[0] is not None
    return local


def tu_spec(name: str) -> DatasetSpec:
    """A spec for any TU name (used for ``tu:<NAME>`` and local TU folders)."""
    canon = {n.lower(): n for n in TU_NAMES}.get(name.lower(), name)
    return DatasetSpec(canon, "graph", "tu", load_tu, _tu_local(canon))


def _looks_like_tu(d: Path) -> bool:
    return (d / "raw" / f"{d.name}_A.txt").exists() or find_gin_file(d / "gin_format", d.name) is not None


def find_local_tu_name(name: str, root: Optional[str | os.PathLike] = None) -> Optional[str]:
    """Folder name of a TU-layout dataset called ``name`` (case-insensitive) under a data root."""
    for r in data_roots(root):
        d = find_child(r, name)
        if d is not None and _looks_like_tu(d):
            return d.name
    return None


def local_tu_names(root: Optional[str | os.PathLike] = None) -> List[str]:
    """TU-layout dataset folders under the data roots."""
    out = []
    for r in data_roots(root):
        if r.is_dir():
            out += [d.name for d in sorted(r.iterdir()) if d.is_dir() and _looks_like_tu(d)]
    return out


for _n in TU_NAMES:
    register_dataset(tu_spec(_n))
