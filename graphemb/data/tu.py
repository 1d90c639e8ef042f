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

Caches: ``<cache>/tu/<Name>/processed/`` (PyG's ``TUDataset`` output) and
``processed_gin/gin_parsed.pt`` are stamped with the SHA-256 of the files they were made from and
rebuilt when that content changes (a same-size edit included). Processing happens in a private
temporary folder that is renamed into place, so concurrent loaders never read half a cache.
Before processing, the TU files are checked for consistency (:func:`check_tu_files`): line
counts that disagree, node ids out of range, edges between graphs, unsorted graph indicators and
non-numeric or empty lines raise :class:`~graphemb.utils.io.DataFileError` naming the file and line.
"""
from __future__ import annotations

import os
import secrets
import shutil
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
from graphemb.utils.io import DataFileError, atomic_write, file_digest, files_digest

# Common TU benchmark names (canonical spelling); any other TU name works as "tu:<NAME>".
TU_NAMES = (
    "MUTAG", "PTC_MR", "PTC_MM", "PTC_FR", "PTC_FM", "NCI1", "NCI109", "PROTEINS", "PROTEINS_full",
    "ENZYMES", "DD", "AIDS", "BZR", "COX2", "DHFR", "Mutagenicity", "FRANKENSTEIN", "MSRC_9",
    "IMDB-BINARY", "IMDB-MULTI", "COLLAB", "REDDIT-BINARY", "REDDIT-MULTI-5K", "REDDIT-MULTI-12K",
    "github_stargazers", "deezer_ego_nets", "twitch_egos", "reddit_threads",
)
_GIN_CACHE_VERSION = 2
_TU_STAMP = "graphemb_raw.sha256"


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
    """:func:`parse_gin_file`, cached in ``cache_dir/gin_parsed.pt`` (keyed by the file's SHA-256)."""
    digest = f"v{_GIN_CACHE_VERSION}:{file_digest(path)}"
    cached = cache_dir / "gin_parsed.pt"
    if cached.exists():
        try:
            out = torch.load(cached, weights_only=True)
            if out.get("sha256") == digest:
                return out
        except Exception:  # noqa: BLE001 (corrupt or old cache: re-parse)
            pass
    out = parse_gin_file(path)
    with atomic_write(cached) as f:
        torch.save({**out, "sha256": digest}, f)
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


# ----------------------------------------------------------------------------- TU raw files

_TU_PER_NODE = ("node_labels", "node_attributes")
_TU_PER_EDGE = ("edge_labels", "edge_attributes")
_TU_PER_GRAPH = ("graph_labels", "graph_attributes")


def _read_numeric_lines(path: Path, ncols: Optional[int] = None) -> "np.ndarray":
    """The comma-separated numbers of a TU file as a ``[rows, cols]`` float64 array; an empty
    line, a missing, extra or non-numeric field raises :class:`DataFileError` naming the line."""
    import numpy as np
    import pandas as pd

    def read(dtype):
        return pd.read_csv(path, header=None, sep=",", skipinitialspace=True, skip_blank_lines=False,
                           dtype=dtype, keep_default_na=dtype is not str, engine="c")

    try:
        try:
            vals = read(np.float64).to_numpy()  # fast path; NaN marks empty or missing fields
            df = None
        except ValueError:  # a non-numeric token: re-read as text to name the line
            df = read(str)
            vals = df.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "file is empty", "restore the file from the TU release") from None
    except pd.errors.ParserError as e:
        raise DataFileError(path, f"inconsistent number of fields ({e})", "every line needs the same fields") from None
    if ncols is not None and vals.shape[1] != ncols:
        raise DataFileError(path, f"line 1 has {vals.shape[1]} comma-separated fields, expected {ncols}")
    bad = np.isnan(vals).any(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        if df is None:
            what = "is empty" if np.isnan(vals[k]).all() else "has a missing field"
        else:
            row = ", ".join(df.iloc[k].tolist())
            what = "is empty" if not row.strip(", ") else f"has a missing or non-numeric field ({row!r})"
        raise DataFileError(path, f"line {k + 1} {what}", "each line must hold numbers separated by commas")
    return vals


def check_tu_files(raw: Path, name: str) -> Dict[str, int]:
    """Check that the TU files of ``name`` in ``raw`` agree with each other.

    ``graph_indicator`` defines the ``N`` nodes (values ``1..G``, sorted, every graph used);
    ``A`` lists ``E`` edges as ``i, j`` with ``1 <= i, j <= N`` inside one graph; ``node_*`` files
    need ``N`` lines, ``edge_*`` files ``E`` lines and ``graph_*`` files ``G`` lines.
    Returns ``{"nodes": N, "edges": E, "graphs": G}``; raises :class:`DataFileError` naming the
    file and the line (or the two counts that disagree).
    """
    import numpy as np

    f_ind, f_a = raw / f"{name}_graph_indicator.txt", raw / f"{name}_A.txt"
    ind = _read_numeric_lines(f_ind, 1)[:, 0]
    n = ind.size
    if not np.all(ind == np.round(ind)) or ind.min() < 1:
        k = int(np.flatnonzero((ind != np.round(ind)) | (ind < 1))[0])
        raise DataFileError(f_ind, f"line {k + 1}: graph ids must be integers >= 1, got {ind[k]:g}")
    ind = ind.astype(np.int64)
    if np.any(np.diff(ind) < 0):
        k = int(np.flatnonzero(np.diff(ind) < 0)[0]) + 1
        raise DataFileError(f_ind, f"line {k + 1}: graph id {ind[k]} after {ind[k - 1]}; nodes must be listed "
                            "graph by graph (sorted graph ids)")
    g = int(ind.max())
    used = np.zeros(g + 1, dtype=bool)
    used[ind] = True
    if not used[1:].all():
        raise DataFileError(f_ind, f"graph {int(np.flatnonzero(~used[1:])[0]) + 1} has no node (ids run to {g})")
    a = _read_numeric_lines(f_a, 2).astype(np.int64)
    e = a.shape[0]
    out_of_range = (a < 1) | (a > n)
    if out_of_range.any():
        k = int(np.flatnonzero(out_of_range.any(1))[0])
        raise DataFileError(f_a, f"line {k + 1}: node id {int(a[k][out_of_range[k]][0])} outside 1..{n} "
                            f"({f_ind.name} has {n} lines, one per node)")
    cross = ind[a[:, 0] - 1] != ind[a[:, 1] - 1]
    if cross.any():
        k = int(np.flatnonzero(cross)[0])
        raise DataFileError(f_a, f"line {k + 1}: edge {a[k, 0]}, {a[k, 1]} joins graphs {ind[a[k, 0] - 1]} and "
                            f"{ind[a[k, 1] - 1]} ({f_ind.name}); edges must stay inside one graph")
    for kinds, count, unit in ((_TU_PER_NODE, n, f"nodes ({f_ind.name})"), (_TU_PER_EDGE, e, f"edges ({f_a.name})"),
                               (_TU_PER_GRAPH, g, f"graphs (ids in {f_ind.name})")):
        for kind in kinds:
            p = raw / f"{name}_{kind}.txt"
            if p.is_file():
                rows = _read_numeric_lines(p).shape[0]
                if rows != count:
                    raise DataFileError(p, f"{rows} lines but {count} {unit}; one line per item expected",
                                        "the files of this dataset are from different versions or truncated")
    return {"nodes": n, "edges": e, "graphs": g}


def _tu_raw_paths(raw: Path, name: str) -> List[Path]:
    return sorted(p for p in raw.glob(f"{name}_*.txt") if p.is_file())


def _process_tu(ds_dir: Path, name: str, digest: str) -> None:
    """Run PyG's TU processing in a private folder and rename its ``processed/`` into place."""
    raw = ds_dir / "raw"
    check_tu_files(raw, name)
    work = ds_dir / f".processing-{os.getpid()}-{secrets.token_hex(4)}"
    wraw = work / name / "raw"
    wraw.mkdir(parents=True)
    try:
        for p in _tu_raw_paths(raw, name):
            # PyG drops a last line without "\n"; give such files their newline in the private copy.
            with open(p, "rb") as fh:
                fh.seek(max(p.stat().st_size - 1, 0))
                ends_nl = fh.read(1) in (b"\n", b"")
            if ends_nl:
                (wraw / p.name).symlink_to(p.resolve())
            else:
                (wraw / p.name).write_bytes(p.read_bytes() + b"\n")
        from torch_geometric.datasets import TUDataset

        TUDataset(str(work), name)
        (work / name / "processed" / _TU_STAMP).write_text(digest)
        final = ds_dir / "processed"
        stale = ds_dir / f".stale-{os.getpid()}-{secrets.token_hex(4)}"
        if final.exists():
            os.rename(final, stale)
        try:
            os.rename(work / name / "processed", final)
        except OSError:  # another process put a fresh one there first: keep it
            pass
        shutil.rmtree(stale, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _load_tu_raw(name: str, pyg_root: Path, features: str, cap: int, use_node_attr: bool) -> GraphDataset:
    from torch_geometric.datasets import TUDataset

    ds_dir = pyg_root / name
    digest = files_digest(_tu_raw_paths(ds_dir / "raw", name))
    stamp = ds_dir / "processed" / _TU_STAMP
    if not (stamp.is_file() and stamp.read_text().strip() == digest and (ds_dir / "processed" / "data.pt").is_file()):
        _process_tu(ds_dir, name, digest)
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
