"""Planetoid citation graphs (Cora, CiteSeer, PubMed; Yang et al. 2016) with the public split.

Raw files ``<root>/<Name>/raw/ind.<name>.{x,tx,allx,y,ty,ally,graph,test.index}`` are staged
into ``<cache>/planetoid/<Name>/raw`` and processed there into
``processed/graphemb_v<N>.pt`` (tensors only, read back with ``weights_only=True``), stamped with
the SHA-256 of the raw files: a raw file whose content changed (even at the same size and
modification time) is re-processed. Features are the raw binary bag-of-words (no row
normalisation); the public split is 20 labels per class / 500 val / 1000 test, assembled exactly
as PyG's ``Planetoid`` does (CiteSeer's missing test nodes get zero features and label 0).

The raw files are Python 2 pickles. They are read with a restricted unpickler
(:func:`graphemb.utils.io.load_pickle_restricted`) that resolves only the numpy / scipy.sparse /
builtin container types these files hold, so a crafted file under a shared data root raises
:class:`~graphemb.utils.io.UnsafePickleError` instead of running code.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from itertools import chain
from pathlib import Path
from typing import Any, Dict, Optional

import numpy as np
import torch
from torch_geometric.utils import coalesce, remove_self_loops, to_undirected

from graphemb.data.features import DEFAULT_DEGREE_CAP, default_features
from graphemb.data.paths import DatasetNotFoundError, cache_root, locate_raw, remove_if_created
from graphemb.data.registry import DatasetSpec, GraphDataset, register_dataset
from graphemb.utils.io import DataFileError, atomic_write, files_digest, load_pickle_restricted

PLANETOID = {"cora": "Cora", "citeseer": "CiteSeer", "pubmed": "PubMed"}
_SUFFIXES = ("x", "tx", "allx", "y", "ty", "ally", "graph", "test.index")
URL = "https://github.com/kimiyoung/planetoid/raw/master/data"  # the canonical release (as PyG)
_PROCESSED_VERSION = 1

# What the released pickles hold: scipy CSR feature matrices, numpy one-hot label arrays and a
# defaultdict(list) adjacency. Both the Python 2 spellings of the modules and today's are listed.
_ARRAY_GLOBALS = {
    (m, n)
    for m in ("numpy.core.multiarray", "numpy._core.multiarray")
    for n in ("_reconstruct", "scalar")
} | {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
     ("numpy._core.numeric", "_frombuffer")}
_SPARSE_GLOBALS = {
    (m, n)
    for n in ("csr_matrix", "csc_matrix", "coo_matrix")
    for m in ("scipy.sparse", f"scipy.sparse.{n[:3]}", f"scipy.sparse._{n[:3]}")
}
_BUILTIN_GLOBALS = {
    (m, n)
    for m in ("__builtin__", "builtins")
    for n in ("list", "dict", "tuple", "set", "frozenset", "int", "float", "bool", "str", "bytes", "complex")
} | {("collections", "defaultdict"), ("collections", "OrderedDict"),
     ("_codecs", "encode")}  # protocol-2 pickles written by Python 3 spell bytes as _codecs.encode(str, "latin1")
PLANETOID_PICKLE_GLOBALS = frozenset(_ARRAY_GLOBALS | _SPARSE_GLOBALS | _BUILTIN_GLOBALS)


def raw_file_names(name: str) -> list[str]:
    return [f"ind.{name.lower()}.{s}" for s in _SUFFIXES]


def _planetoid_local(name: str):
    def local(root: Optional[str], cache: Optional[str]) -> bool:
        found, _ = locate_raw(name, "planetoid", raw_file_names(name), root=root, cache=cache, stage=False)
        return found is not None
    return local


# ----------------------------------------------------------------------------- raw files

def _dense(obj: Any, path: Path) -> np.ndarray:
    arr = obj.toarray() if hasattr(obj, "toarray") else obj
    if not isinstance(arr, np.ndarray) or arr.ndim != 2:
        raise DataFileError(path, f"expected a 2-D array or sparse matrix, got {type(obj).__name__}",
                            "restore the original Planetoid file")
    return np.asarray(arr, dtype=np.float32)


def read_planetoid_raw(raw_dir: str | os.PathLike, name: str) -> Dict[str, torch.Tensor]:
    """Assemble a Planetoid graph from its raw files (safely unpickled) as PyG does.

    Returns ``{"x" [N, F] float32, "y" [N] long, "edge_index" [2, E] (directed as listed, no self
    loops, coalesced), "train_mask", "val_mask", "test_mask" [N] bool}``. Inconsistent files
    (label and feature rows disagreeing, neighbours outside the graph) raise :class:`DataFileError`.
    """
    raw = Path(raw_dir)
    prefix = name.lower()
    f = {s: raw / f"ind.{prefix}.{s}" for s in _SUFFIXES}
    x, tx, allx = (_dense(load_pickle_restricted(f[s], PLANETOID_PICKLE_GLOBALS), f[s]) for s in ("x", "tx", "allx"))
    y, ty, ally = (_dense(load_pickle_restricted(f[s], PLANETOID_PICKLE_GLOBALS), f[s]) for s in ("y", "ty", "ally"))
    graph = load_pickle_restricted(f["graph"], PLANETOID_PICKLE_GLOBALS)
    if not isinstance(graph, dict):
        raise DataFileError(f["graph"], f"expected a dict of neighbour lists, got {type(graph).__name__}")
    try:
        test_index = np.loadtxt(f["test.index"], dtype=np.int64, ndmin=1)
    except ValueError as e:
        raise DataFileError(f["test.index"], f"expected one integer per line ({e})") from None
    for a, b, what in ((x, y, "x/y"), (tx, ty, "tx/ty"), (allx, ally, "allx/ally")):
        if a.shape[0] != b.shape[0]:
            raise DataFileError(raw, f"{what} of {name} have {a.shape[0]} feature rows but {b.shape[0]} label rows",
                                "restore the original files")
    if len(test_index) != tx.shape[0]:
        raise DataFileError(f["test.index"], f"lists {len(test_index)} test nodes but tx has {tx.shape[0]} rows")
    sorted_test = np.sort(test_index)
    if prefix == "citeseer":  # isolated test nodes are missing from tx/ty: zero rows for them
        span = int(test_index.max() - test_index.min()) + 1
        tx_ext = np.zeros((span, tx.shape[1]), np.float32)
        ty_ext = np.zeros((span, ty.shape[1]), np.float32)
        tx_ext[sorted_test - test_index.min()] = tx
        ty_ext[sorted_test - test_index.min()] = ty
        tx, ty = tx_ext, ty_ext
    feats = np.concatenate([allx, tx], 0)
    labels = np.concatenate([ally, ty], 0)
    n = feats.shape[0]
    if int(test_index.max()) >= n or int(test_index.min()) < 0:
        raise DataFileError(f["test.index"], f"test node ids outside [0, {n})")
    feats[test_index] = feats[sorted_test]
    labels[test_index] = labels[sorted_test]
    yv = torch.from_numpy(labels.argmax(1)).long()
    keys = np.fromiter(graph.keys(), dtype=np.int64, count=len(graph))
    lens = np.fromiter((len(v) for v in graph.values()), dtype=np.int64, count=len(graph))
    src = np.repeat(keys, lens)
    dst = np.fromiter(chain.from_iterable(graph.values()), dtype=np.int64, count=int(lens.sum()))
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise DataFileError(f["graph"], f"neighbour lists name nodes outside [0, {n}) (the features have {n} rows)")
    ei, _ = remove_self_loops(torch.from_numpy(np.stack([src, dst])))
    ei = coalesce(ei, num_nodes=n)
    idx = torch.arange(n)
    return {"x": torch.from_numpy(feats), "y": yv, "edge_index": ei,
            "train_mask": idx < y.shape[0], "val_mask": (idx >= y.shape[0]) & (idx < y.shape[0] + 500),
            "test_mask": torch.zeros(n, dtype=torch.bool).index_fill_(0, torch.from_numpy(test_index), True)}


def _processed(ds_dir: Path, name: str) -> Dict[str, torch.Tensor]:
    """The processed tensors of ``ds_dir/raw``, re-made when the raw files' SHA-256 changed."""
    raw = ds_dir / "raw"
    digest = files_digest([raw / n for n in raw_file_names(name)])
    target = ds_dir / "processed" / f"graphemb_v{_PROCESSED_VERSION}.pt"
    if target.is_file():
        try:
            out = torch.load(target, weights_only=True)
            if out.get("raw_sha256") == digest:
                return out
        except Exception:  # noqa: BLE001 (a corrupt cache file is simply rebuilt)
            pass
    out = {**read_planetoid_raw(raw, name), "raw_sha256": digest}
    with atomic_write(target) as fh:
        torch.save(out, fh)
    return out


def download_url(url: str, folder: str) -> str:
    """PyG's downloader (kept as a module attribute so tests can simulate being offline)."""
    from torch_geometric.data import download_url as pyg_download

    return pyg_download(url, folder, log=False)


def _download(ds_dir: Path, name: str) -> None:
    """Fetch the raw files of ``name`` into ``ds_dir/raw`` (all or nothing)."""
    raw = ds_dir / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".download-", dir=raw))
    try:
        for fn in raw_file_names(name):
            download_url(f"{URL}/{fn}", str(tmp))
        for fn in raw_file_names(name):
            os.replace(tmp / fn, raw / fn)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def load_planetoid(name: str, root: Optional[str] = None, cache: Optional[str] = None,
                   download: bool = True, *, features: str = "auto", degree_cap: int = DEFAULT_DEGREE_CAP,
                   normalize: bool = False, **kwargs: Any) -> GraphDataset:
    """Load a Planetoid dataset (``name`` in Cora, CiteSeer, PubMed) with its public split.

    ``features="auto"`` keeps the bag-of-words; ``"degree"`` / ``"constant"`` replace it
    (structure-only ablations, see :mod:`graphemb.data.features`). ``normalize=True`` scales
    every bag-of-words row to sum 1 (PyG's ``NormalizeFeatures``, what GraphMAE's and DGI's
    official code feed the encoder; ``--set data.options.normalize=true``); empty rows stay 0.
    """
    from torch_geometric.data import Data

    name = PLANETOID[name.lower()]
    if kwargs:
        raise TypeError(f"unexpected options for {name}: {sorted(kwargs)}; "
                        f"Planetoid takes features='auto'|'degree'|'constant', degree_cap and normalize")
    pyg_root, tried = locate_raw(name, "planetoid", raw_file_names(name), root=root, cache=cache)
    if pyg_root is None:
        pyg_root = cache_root(cache) / "planetoid"
        if not download:
            raise DatasetNotFoundError(name, tried, "download=False")
        existed = (pyg_root / name).exists()
        try:
            _download(pyg_root / name, name)
        except Exception as e:  # offline, proxy, HTTP error: all mean "not available"
            remove_if_created(pyg_root / name, existed)
            raise DatasetNotFoundError(name, [*tried, URL], f"download failed: {e}") from e
    t = _processed(pyg_root / name, name)
    d = Data(x=t["x"], y=t["y"], train_mask=t["train_mask"], val_mask=t["val_mask"], test_mask=t["test_mask"],
             num_nodes=t["x"].size(0))
    d.edge_index = to_undirected(t["edge_index"], num_nodes=d.num_nodes)
    note = "bag-of-words (binary, not normalised)"
    if features not in ("auto", "auto-constant"):  # Planetoid graphs always have features
        d.x, note = default_features(d.edge_index, d.num_nodes, features, degree_cap)
    d.x = d.x.float()
    if normalize and features in ("auto", "auto-constant"):
        d.x = d.x / d.x.sum(dim=-1, keepdim=True).clamp(min=1.0)
        note = "bag-of-words, rows scaled to sum 1 (NormalizeFeatures)"
    d.node_id = torch.arange(d.num_nodes)
    return GraphDataset(name=name, level="node", data=d, num_features=d.x.size(1),
                        num_classes=int(d.y.max()) + 1, source="planetoid", feature_note=note)


for _key, _name in PLANETOID.items():
    register_dataset(DatasetSpec(_name, "node", "planetoid", load_planetoid, _planetoid_local(_name)))
