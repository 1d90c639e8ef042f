"""Multimodal attributed graphs: the ``MultimodalGraph`` container and its on-disk loaders.

Every per-node array is keyed by **node id**, never by row order: features are attached with
their ids (``add_features(name, ids, values)``) and aligned through an id index, so a missing
image or a reordered file raises an error instead of silently shifting rows (the MAGB extractor
bug this design avoids).

Layouts:

* **MAGB** (arXiv 2410.09132, github sktsherlock/MAGB), ``<root>/``:
  ``<Name>.csv`` (columns ``id``, text column(s), ``label``, ``neighbors`` = a Python/JSON list of
  neighbour ids), edges from ``<Name>_edges.csv`` (``src,dst``) if present, else
  ``<Name>Graph.pt`` (a DGL graph) through DGL when it imports, else the CSV neighbour column
  (DGL failing at import time, with ``OSError`` as often as ``ImportError``, means "no DGL"; a
  folder whose only edges are the ``.pt`` then says to run ``experiments/mag/magb_graph_to_edges.py``
  once where DGL works), per-encoder features
  ``<Name>_<encoder>_<maxlen>_<pool>.npy`` (row ``i`` is node id ``i``: MAGB ids are ``0..N-1``;
  anything else raises), images ``<ImagesDir>/<id>.jpg``.
* **plain** (this library's), ``<root>/``:
  ``nodes.csv`` or ``nodes.parquet`` with column ``id`` and optional ``text``, ``label`` (ints or
  strings), ``image`` (path relative to ``root``); ``edges.csv`` / ``edges.parquet`` with ``src``,
  ``dst`` (node ids, read as undirected); ``images/<id>.<jpg|jpeg|png>`` used when there is no
  ``image`` column; ``features/<name>.npz`` holding arrays ``ids`` and ``x`` (what
  :func:`save_plain` writes; nodes a file does not list get a zero vector and mask 0, as nodes
  without an image do).

Bad-input policy (documented, never silent):
    an empty id cell, a text column that is empty in every row or holds numbers instead of text,
    a file that does not decode in the given ``encoding`` (default UTF-8; ``encoding=`` /
    ``--encoding`` reads others) -> :class:`~graphemb.utils.io.DataFileError` naming the file,
    the row (and line) and the column; unknown ids (edges, texts, features referring to nodes that do not exist), duplicate ids,
    feature files whose row count does not match -> ``ValueError`` naming the file and the fix;
    missing image files -> ``FileNotFoundError`` by default, or with ``missing_images="mask"``
    the node keeps ``image_path=None`` and image encoders give it a zero vector and mask 0;
    NaN/inf feature rows -> ``ValueError`` by default, or with ``nan="mask"`` a zero vector and
    ``mask[i] = False``; nodes without a feature row -> ``ValueError`` by default, or with
    ``missing="mask"`` a zero vector and mask 0.
"""
from __future__ import annotations

import ast
import codecs
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from graphemb.utils.io import DataFileError, atomic_write, decode_error, load_npz

__all__ = ["MultimodalGraph", "FeatureSet", "load_magb", "load_plain", "save_plain",
           "load_mag", "magb_feature_name"]

IMAGE_EXTS = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


@dataclass
class FeatureSet:
    """One named node-feature matrix aligned to the graph's node order.

    ``x``: float32 ``[N, d]``; ``mask``: bool ``[N]`` (False = no valid vector, zero-filled).
    """

    x: Tensor
    mask: Tensor
    source: str = ""


def _as_id_array(ids: Iterable) -> np.ndarray:
    arr = np.asarray(list(ids) if not isinstance(ids, (np.ndarray, pd.Series, pd.Index, Tensor)) else ids)
    if isinstance(ids, Tensor):
        arr = ids.cpu().numpy()
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return arr.astype(str)


@dataclass
class MultimodalGraph:
    """A graph whose nodes carry text, images and named feature matrices.

    Fields:
        node_ids: ``[N]`` unique ids (int64 or str); position ``i`` is node ``i`` everywhere below.
        edge_index: ``[2, E]`` long, positions into ``node_ids``; undirected (both directions),
            no self-loops, no duplicates.
        y: ``[N]`` long class labels, ``-1`` = unlabelled (or ``None``).
        text: ``N`` strings or ``None`` (node without text).
        image_paths: ``N`` paths or ``None`` (node without image).
        images: optional ``N`` in-memory images (PIL) for generated graphs.
        features: ``name -> FeatureSet``; add them with :meth:`add_features` (keyed by id).
        label_names: optional class names (``label_names[c]``).
        name: dataset name, part of the encoder cache key.
    """

    node_ids: np.ndarray
    edge_index: Tensor
    y: Tensor | None = None
    text: list | None = None
    image_paths: list | None = None
    images: list | None = None
    features: dict[str, FeatureSet] = field(default_factory=dict)
    label_names: list[str] | None = None
    name: str = "mag"

    def __post_init__(self) -> None:
        self.node_ids = _as_id_array(self.node_ids)
        n = len(self.node_ids)
        idx = pd.Index(self.node_ids)
        if not idx.is_unique:
            dup = idx[idx.duplicated()].unique()[:5].tolist()
            raise ValueError(f"duplicate node ids in {self.name!r}: {dup}; node ids must be unique")
        self._index = idx
        self.edge_index = clean_edges(torch.as_tensor(self.edge_index, dtype=torch.long).view(2, -1), n)
        for attr in ("text", "image_paths", "images"):
            v = getattr(self, attr)
            if v is not None and len(v) != n:
                raise ValueError(f"{attr} has {len(v)} entries but the graph has {n} nodes")
        if self.y is not None:
            self.y = torch.as_tensor(self.y, dtype=torch.long).view(-1)
            if self.y.numel() != n:
                raise ValueError(f"y has {self.y.numel()} labels but the graph has {n} nodes")

    # ---- sizes -----------------------------------------------------------------------------
    @property
    def num_nodes(self) -> int:
        return len(self.node_ids)

    @property
    def num_classes(self) -> int:
        if self.y is None or not (self.y >= 0).any():
            return 0
        return int(self.y.max()) + 1

    def __repr__(self) -> str:
        feats = {k: tuple(v.x.shape) for k, v in self.features.items()}
        return (f"MultimodalGraph({self.name!r}, nodes={self.num_nodes}, "
                f"edges={self.edge_index.size(1) // 2}, classes={self.num_classes}, "
                f"text={self.text is not None}, images={self.image_paths is not None or self.images is not None}, "
                f"features={feats})")

    # ---- id alignment ----------------------------------------------------------------------
    def index_of(self, ids: Iterable, *, what: str = "ids") -> np.ndarray:
        """Positions of ``ids`` in the graph; raises naming the unknown ids."""
        arr = _as_id_array(ids)
        if self.node_ids.dtype.kind in "iu" and arr.dtype.kind not in "iu":
            try:
                arr = arr.astype(np.int64)
            except ValueError:
                pass
        elif self.node_ids.dtype.kind not in "iu" and arr.dtype.kind in "iu":
            arr = arr.astype(str)
        pos = self._index.get_indexer(arr)
        bad = pos < 0
        if bad.any():
            raise ValueError(f"{int(bad.sum())} {what} are not nodes of {self.name!r} "
                             f"(e.g. {arr[bad][:5].tolist()}); every row must name an existing node id")
        return pos

    def add_features(self, name: str, ids: Iterable, values: np.ndarray | Tensor, *,
                     missing: str = "error", nan: str = "error", source: str = "") -> FeatureSet:
        """Attach a feature matrix whose row ``k`` belongs to node ``ids[k]``.

        Args:
            missing: ``"error"`` (default) or ``"mask"``: nodes without a row get zeros, mask 0.
            nan: ``"error"`` (default) or ``"mask"``: rows with NaN/inf become zeros, mask 0.
        """
        if missing not in ("error", "mask") or nan not in ("error", "mask"):
            raise ValueError("missing and nan must be 'error' or 'mask'")
        vals = torch.as_tensor(np.array(values, dtype=np.float32))
        if vals.dim() != 2:
            raise ValueError(f"features {name!r} must be 2-D [rows, dim], got shape {tuple(vals.shape)}")
        ids = _as_id_array(ids)
        if len(ids) != vals.size(0):
            raise ValueError(f"features {name!r}{' (' + source + ')' if source else ''} have {vals.size(0)} "
                             f"rows but {len(ids)} ids; the ids must list one node per row")
        if not pd.Index(ids).is_unique:
            raise ValueError(f"features {name!r} list some node id twice")
        pos = torch.as_tensor(self.index_of(ids, what=f"rows of features {name!r}"))
        finite = torch.isfinite(vals).all(1)
        if not finite.all() and nan == "error":
            bad = ids[(~finite).numpy()][:5].tolist()
            raise ValueError(f"features {name!r} have {int((~finite).sum())} rows with NaN/inf "
                             f"(node ids {bad}); fix them or pass nan='mask' (zero vector, mask 0)")
        x = torch.zeros(self.num_nodes, vals.size(1))
        mask = torch.zeros(self.num_nodes, dtype=torch.bool)
        x[pos] = torch.where(finite.view(-1, 1), vals, torch.zeros_like(vals))
        mask[pos] = finite
        covered = torch.zeros(self.num_nodes, dtype=torch.bool)
        covered[pos] = True
        if not covered.all() and missing == "error":
            lack = self.node_ids[(~covered).numpy()][:5].tolist()
            raise ValueError(f"features {name!r} have no row for {int((~covered).sum())} nodes "
                             f"(e.g. {lack}); provide them or pass missing='mask' (zero vector, mask 0)")
        fs = FeatureSet(x=x, mask=mask, source=source)
        self.features[name] = fs
        return fs

    def set_text(self, ids: Iterable, texts: Sequence[str | None]) -> None:
        """Set node texts by id; ids that are not nodes raise, nodes not listed get ``None``."""
        pos = self.index_of(ids, what="text rows")
        if len(pos) != len(texts):
            raise ValueError(f"{len(pos)} ids but {len(texts)} texts")
        out: list = [None] * self.num_nodes
        for p, t in zip(pos.tolist(), texts):
            out[p] = t if isinstance(t, str) else None
        self.text = out

    def feature(self, name: str) -> Tensor:
        if name not in self.features:
            raise KeyError(f"no features {name!r} on {self.name!r}; have {sorted(self.features)}; "
                           f"run `graphemb mag encode` or add_features() first")
        return self.features[name].x

    def to_pyg(self, features: str | None = None):
        """A PyG ``Data`` with ``x`` (the named features, if given), ``edge_index``, ``y``, ``node_id``."""
        from torch_geometric.data import Data

        d = Data(edge_index=self.edge_index, num_nodes=self.num_nodes)
        if features is not None:
            d.x = self.feature(features)
            d.x_mask = self.features[features].mask
        if self.y is not None:
            d.y = self.y
        d.node_id = torch.as_tensor(self.node_ids) if self.node_ids.dtype.kind in "iu" else None
        return d


def clean_edges(edge_index: Tensor, num_nodes: int) -> Tensor:
    """Symmetrise, drop self-loops and duplicates; validates positions are in ``[0, N)``."""
    if edge_index.numel() == 0:
        return edge_index.new_zeros((2, 0))
    if int(edge_index.min()) < 0 or int(edge_index.max()) >= num_nodes:
        raise ValueError(f"edge_index refers to nodes outside [0, {num_nodes})")
    ei = torch.cat([edge_index, edge_index.flip(0)], 1)
    ei = ei[:, ei[0] != ei[1]]
    key = torch.unique(ei[0] * num_nodes + ei[1])
    return torch.stack([key // num_nodes, key % num_nodes])


# ---------------------------------------------------------------------------------------------
# loaders
# ---------------------------------------------------------------------------------------------
def _check_encoding(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r}; use e.g. 'utf-8', 'latin-1' or 'cp1252'") from None


def _read_csv(path: Path, encoding: str = "utf-8") -> pd.DataFrame:
    """``pd.read_csv`` with errors naming the file: bad encoding (line, row, column), ragged rows."""
    encoding = _check_encoding(encoding)
    try:
        return pd.read_csv(path, encoding=encoding)
    except UnicodeDecodeError:
        raise decode_error(path, encoding) from None
    except pd.errors.ParserError as e:
        raise DataFileError(path, f"malformed CSV ({e})", "every row needs the header's number of fields") from None
    except pd.errors.EmptyDataError:
        raise DataFileError(path, "empty file (no header, no rows)") from None


def _read_table(root: Path, stem: str, encoding: str = "utf-8") -> tuple[pd.DataFrame, Path] | None:
    p = root / f"{stem}.parquet"
    if p.is_file():
        return pd.read_parquet(p), p
    p = root / f"{stem}.csv"
    if p.is_file():
        return _read_csv(p, encoding), p
    return None


def _row(df: pd.DataFrame, k: int, path: Path) -> str:
    return f"row {k + 1}" + (f" (line {k + 2})" if path.suffix == ".csv" else "")


def _check_ids(df: pd.DataFrame, path: Path, column: str = "id") -> None:
    col = df[column]
    empty = col.isna().to_numpy().copy()
    if col.dtype == object or pd.api.types.is_string_dtype(col.dtype):
        empty |= col.map(lambda v: isinstance(v, str) and not v.strip()).to_numpy(dtype=bool)
    if empty.any():
        k = int(np.flatnonzero(empty)[0])
        raise DataFileError(path, f"{_row(df, k, path)}, column {column!r}: empty id "
                            f"({int(empty.sum())} row(s) without an id)", "every node needs an id")


def _check_text(df: pd.DataFrame, path: Path, columns: Sequence[str]) -> None:
    if len(columns) and all(df[c].isna().all() for c in columns):
        what = f"text column {columns[0]!r} is" if len(columns) == 1 else f"text columns {list(columns)} are"
        raise DataFileError(path, f"{what} empty in every row", "fill it or name other text columns (text_columns=[...])")
    for c in columns:
        col = df[c]
        if col.isna().all():
            continue
        if col.dtype.kind in "biufcmM":
            k = int(np.flatnonzero(col.notna().to_numpy())[0])
            raise DataFileError(path, f"{_row(df, k, path)}, column {c!r}: text column holds {col.dtype} values "
                                f"({col.iloc[k]!r}), not text", "name the real text columns (text_columns=[...])")
        bad = col.map(lambda v: not (isinstance(v, str) or v is None or (isinstance(v, float) and np.isnan(v))))
        if bad.any():
            k = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
            raise DataFileError(path, f"{_row(df, k, path)}, column {c!r}: {type(col.iloc[k]).__name__} value "
                                f"{col.iloc[k]!r} where text was expected")


def _find_images(ids: np.ndarray, folder: Path | None, explicit: Sequence | None, root: Path,
                 missing_images: str) -> list | None:
    if missing_images not in ("error", "mask"):
        raise ValueError(f"missing_images must be 'error' or 'mask', got {missing_images!r}")
    if explicit is None and (folder is None or not folder.is_dir()):
        return None
    if explicit is not None:
        paths = [None if (p is None or (isinstance(p, float) and np.isnan(p)) or p == "") else str(root / str(p))
                 for p in explicit]
        exists = [p is not None and os.path.isfile(p) for p in paths]
    else:
        files = {}
        for f in os.scandir(folder):
            stem, ext = os.path.splitext(f.name)
            if ext.lower() in IMAGE_EXTS:
                files.setdefault(stem, f.path)
        paths = [files.get(str(i)) for i in ids]
        exists = [p is not None for p in paths]
    if not all(exists):
        lack = [str(i) for i, e in zip(ids, exists) if not e]
        if missing_images == "error":
            where = folder if explicit is None else root
            raise FileNotFoundError(f"{len(lack)} of {len(ids)} nodes have no image file under {where} "
                                    f"(e.g. ids {lack[:5]}); add them or pass missing_images='mask' "
                                    f"(their image vectors become zeros with mask 0)")
        paths = [p if e else None for p, e in zip(paths, exists)]
    return paths


def _labels(col: pd.Series) -> tuple[Tensor, list[str] | None]:
    if col.dtype.kind in "iu":
        return torch.tensor(col.to_numpy(), dtype=torch.long), None
    if col.dtype.kind == "f" and np.all(np.isnan(col) | (col == np.round(col))):
        return torch.as_tensor(col.fillna(-1).to_numpy(), dtype=torch.long), None
    codes, names = pd.factorize(col, sort=True)  # NaN -> -1
    return torch.as_tensor(codes, dtype=torch.long), [str(n) for n in names]


def load_plain(root: str | os.PathLike, *, name: str | None = None, missing_images: str = "error",
               nan: str = "error", encoding: str = "utf-8") -> MultimodalGraph:
    """Load the plain layout (see module doc) from ``root``; CSV files are read as ``encoding``."""
    root = Path(root)
    found = _read_table(root, "nodes", encoding)
    if found is None:
        raise FileNotFoundError(f"no nodes.csv or nodes.parquet under {root}; see graphemb.multimodal.data "
                                f"for the plain layout")
    nodes, nodes_path = found
    if "id" not in nodes.columns:
        raise ValueError(f"{nodes_path} needs an 'id' column, has {list(nodes.columns)}")
    _check_ids(nodes, nodes_path)
    if "text" in nodes.columns:
        _check_text(nodes, nodes_path, ["text"])
    found = _read_table(root, "edges", encoding)
    if found is None:
        raise FileNotFoundError(f"no edges.csv or edges.parquet under {root}")
    edges, edges_path = found
    if not {"src", "dst"} <= set(edges.columns):
        raise ValueError(f"{edges_path} needs 'src' and 'dst' columns, has {list(edges.columns)}")
    _check_ids(edges, edges_path, "src")
    _check_ids(edges, edges_path, "dst")
    ids = _as_id_array(nodes["id"])
    y, label_names = _labels(nodes["label"]) if "label" in nodes.columns else (None, None)
    g = MultimodalGraph(node_ids=ids, edge_index=torch.zeros(2, 0, dtype=torch.long), y=y,
                        label_names=label_names, name=name or root.resolve().name)
    src = g.index_of(edges["src"], what="edge sources")
    dst = g.index_of(edges["dst"], what="edge targets")
    g.edge_index = clean_edges(torch.as_tensor(np.stack([src, dst])), g.num_nodes)
    if "text" in nodes.columns:
        g.text = [t if isinstance(t, str) else None for t in nodes["text"]]
    g.image_paths = _find_images(ids, root / "images", nodes["image"].tolist() if "image" in nodes.columns else None,
                                 root, missing_images)
    fdir = root / "features"
    if fdir.is_dir():
        for f in sorted(fdir.glob("*.npz")):
            z = load_npz(f, ("ids", "x"), what="feature file")
            g.add_features(f.stem, z["ids"], z["x"], missing="mask", nan=nan, source=str(f))
    return g


def save_plain(graph: MultimodalGraph, root: str | os.PathLike) -> Path:
    """Write ``graph`` in the plain layout (nodes.csv, edges.csv, features/*.npz)."""
    root = Path(root)
    (root / "features").mkdir(parents=True, exist_ok=True)
    cols: dict[str, Any] = {"id": graph.node_ids}
    if graph.text is not None:
        cols["text"] = graph.text
    if graph.y is not None:
        cols["label"] = graph.y.numpy()
    if graph.image_paths is not None:
        cols["image"] = [None if p is None else os.path.relpath(p, root) for p in graph.image_paths]
    with atomic_write(root / "nodes.csv", "w", newline="") as f:
        pd.DataFrame(cols).to_csv(f, index=False)
    ei = graph.edge_index[:, graph.edge_index[0] < graph.edge_index[1]].numpy()
    with atomic_write(root / "edges.csv", "w", newline="") as f:
        pd.DataFrame({"src": graph.node_ids[ei[0]], "dst": graph.node_ids[ei[1]]}).to_csv(f, index=False)
    for k, fs in graph.features.items():
        keep = fs.mask.numpy()
        with atomic_write(root / "features" / f"{k}.npz") as f:
            np.savez(f, ids=graph.node_ids[keep], x=fs.x.numpy()[keep])
    return root


_MAGB_FEATURE = re.compile(r"^(?P<name>.+?)_(?P<encoder>.+)_(?P<maxlen>\d+)_(?P<pool>[A-Za-z]+)$")


def magb_feature_name(encoder: str, max_length: int, pooling: str) -> str:
    """Feature-set name used for MAGB's ``<Name>_<encoder>_<maxlen>_<pool>.npy`` files."""
    return f"{encoder}_{max_length}_{pooling}"


def _parse_neighbours(cell) -> list:
    if isinstance(cell, (list, tuple, np.ndarray)):
        return list(cell)
    if cell is None or (isinstance(cell, float) and np.isnan(cell)) or str(cell).strip() in ("", "[]"):
        return []
    s = str(cell).strip()
    try:
        v = json.loads(s)
    except json.JSONDecodeError:
        v = ast.literal_eval(s)
    return list(v) if isinstance(v, (list, tuple)) else [v]


def load_magb(root: str | os.PathLike, name: str | None = None, *, text_columns: Sequence[str] | None = None,
              label_column: str = "label", neighbour_column: str | None = None, image_dir: str | None = None,
              missing_images: str = "error", nan: str = "error", use_dgl: bool = True,
              encoding: str = "utf-8") -> MultimodalGraph:
    """Load a MAGB dataset folder (see module doc).

    Args:
        root: the dataset folder (holding ``<Name>.csv``).
        name: dataset name (default: the folder name).
        text_columns: columns joined (with ``". "``) into the node text; default ``text`` if
            present, else ``title`` + ``description`` where present.
        neighbour_column: default ``neighbors`` / ``neighbours`` / ``neighbor``.
        image_dir: image folder (default ``<Name>Images``, ``images`` or ``Images`` under root).
        use_dgl: read ``<Name>Graph.pt`` through DGL when DGL is importable.
        encoding: text encoding of ``<Name>.csv`` (default UTF-8).
    """
    root = Path(root)
    name = name or root.resolve().name
    csv = root / f"{name}.csv"
    if not csv.is_file():
        raise FileNotFoundError(f"MAGB dataset {name!r}: {csv} not found; pass the folder holding {name}.csv "
                                f"(set GRAPHEMB_DATA or give a path)")
    df = _read_csv(csv, encoding)
    if "id" not in df.columns:
        raise ValueError(f"{csv} needs an 'id' column, has {list(df.columns)}")
    _check_ids(df, csv)
    ids = _as_id_array(df["id"])
    if text_columns is None:
        text_columns = ["text"] if "text" in df.columns else [c for c in ("title", "description") if c in df.columns]
    missing_cols = [c for c in text_columns if c not in df.columns]
    if missing_cols:
        raise DataFileError(csv, f"text column(s) {missing_cols} missing (columns {list(df.columns)})",
                            "name existing columns with text_columns=[...]")
    _check_text(df, csv, text_columns)
    text = None
    if text_columns:
        parts = df[list(text_columns)].astype("string").fillna("")
        joined = parts.apply(lambda r: ". ".join(s for s in r if s), axis=1) if len(text_columns) > 1 else parts.iloc[:, 0]
        text = [t if t else None for t in joined.tolist()]
    y, label_names = _labels(df[label_column]) if label_column in df.columns else (None, None)
    g = MultimodalGraph(node_ids=ids, edge_index=torch.zeros(2, 0, dtype=torch.long), y=y, text=text,
                        label_names=label_names, name=name)
    g.edge_index = _magb_edges(root, name, df, g, neighbour_column, use_dgl, encoding)
    folder = None
    for cand in ([image_dir] if image_dir else [f"{name}Images", "images", "Images"]):
        if (root / cand).is_dir():
            folder = root / cand
            break
    if image_dir and folder is None:
        raise FileNotFoundError(f"image folder {root / image_dir} does not exist")
    g.image_paths = _find_images(ids, folder, None, root, missing_images)
    # Per-encoder features: row i <-> node id i (MAGB ids are 0..N-1).
    feats = sorted(p for p in list(root.glob(f"{name}_*.npy")) + list((root / "Feature").glob(f"{name}_*.npy"))
                   if _MAGB_FEATURE.match(p.stem))
    for p in feats:
        m = _MAGB_FEATURE.match(p.stem)
        try:
            arr = np.load(p, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            raise DataFileError(p, f"truncated or corrupt .npy feature file ({e})",
                                "re-extract it (e.g. `graphemb mag encode`)") from None
        if arr.shape[0] != g.num_nodes:
            raise ValueError(f"{p} has {arr.shape[0]} rows but {csv} has {g.num_nodes} nodes; the file is not "
                             f"aligned to this dataset (re-extract it, e.g. `graphemb mag encode`)")
        ids_file = p.with_suffix(".ids.npy")
        if ids_file.is_file():
            row_ids = np.load(ids_file, allow_pickle=False)
        elif ids.dtype.kind in "iu" and np.array_equal(np.sort(ids), np.arange(len(ids))):
            row_ids = np.arange(len(ids))
        else:
            raise ValueError(f"{p}: rows can only be matched to nodes when the CSV ids are 0..N-1 or a "
                             f"sidecar {ids_file.name} lists the id of each row")
        g.add_features(magb_feature_name(m["encoder"], int(m["maxlen"]), m["pool"]), row_ids, np.asarray(arr),
                       nan=nan, source=str(p))
    return g


CONVERT_SCRIPT = "experiments/mag/magb_graph_to_edges.py"


def _load_dgl_graphs():
    """DGL's ``load_graphs``, or the reason it cannot be had. DGL fails at import time with
    ``ImportError`` but also ``OSError`` / ``FileNotFoundError`` (a missing ``libdgl.so`` or CUDA
    library) or ``RuntimeError`` (a torch it was not built for): all mean "no DGL here"."""
    try:
        from dgl.data.utils import load_graphs  # optional dependency, imported lazily
    except Exception as e:  # noqa: BLE001 (see the docstring)
        return None, f"{type(e).__name__}: {e}"
    return load_graphs, ""


def _edges_from_ids(g: MultimodalGraph, src_ids, dst_ids, what: str) -> Tensor:
    src = g.index_of(src_ids, what=f"{what} sources")
    dst = g.index_of(dst_ids, what=f"{what} targets")
    return clean_edges(torch.as_tensor(np.stack([src, dst])), g.num_nodes)


def _magb_edges(root: Path, name: str, df: pd.DataFrame, g: MultimodalGraph, neighbour_column: str | None,
                use_dgl: bool, encoding: str = "utf-8") -> Tensor:
    """Edges of a MAGB folder, from the first source present: ``<Name>_edges.csv`` (``src,dst``
    node ids, what :data:`CONVERT_SCRIPT` writes from the DGL graph), ``<Name>Graph.pt`` through
    DGL (when ``use_dgl`` and DGL imports), the CSV neighbour column."""
    edges_csv = root / f"{name}_edges.csv"
    if edges_csv.is_file():
        e = _read_csv(edges_csv, encoding)
        if not {"src", "dst"} <= set(e.columns):
            raise DataFileError(edges_csv, f"needs columns 'src' and 'dst', has {list(e.columns)}")
        _check_ids(e, edges_csv, "src")
        _check_ids(e, edges_csv, "dst")
        return _edges_from_ids(g, e["src"].to_numpy(), e["dst"].to_numpy(), edges_csv.name)
    pt = root / f"{name}Graph.pt"
    why_not_dgl = "use_dgl=False" if use_dgl is False else ""
    if use_dgl and pt.is_file():
        load_graphs, why_not_dgl = _load_dgl_graphs()
        if load_graphs is not None:
            dg = load_graphs(str(pt))[0][0]
            src, dst = dg.edges()
            if dg.num_nodes() != g.num_nodes:
                raise ValueError(f"{pt} has {dg.num_nodes()} nodes but {name}.csv has {g.num_nodes}")
            # DGL node k is CSV id k (MAGB convention)
            return _edges_from_ids(g, src.numpy(), dst.numpy(), f"{pt.name} edge")
    cands = [neighbour_column] if neighbour_column else ["neighbors", "neighbours", "neighbor", "neighbour"]
    col = next((c for c in cands if c in df.columns), None)
    if col is None:
        if pt.is_file():
            raise FileNotFoundError(
                f"{name}: the edges are only in {pt} (a DGL graph) and DGL cannot be loaded here "
                f"({why_not_dgl or 'not installed'}); {name}.csv has no neighbour column (looked for {cands}). "
                f"Fix: where DGL works run `python {CONVERT_SCRIPT} {root}` once (writes {edges_csv.name}, "
                f"read without DGL), or `pip install dgl` matching your torch")
        raise ValueError(f"{name}: no edges: no {edges_csv.name}, no {pt.name} and {name}.csv has no neighbour "
                         f"column (looked for {cands}); add one of them")
    if pt.is_file() and use_dgl:
        import warnings

        warnings.warn(f"{name}: DGL cannot be loaded ({why_not_dgl}); edges come from the {col!r} column of "
                      f"{name}.csv instead of {pt.name}", stacklevel=3)
    nbrs = [_parse_neighbours(c) for c in df[col]]
    lens = np.fromiter((len(n) for n in nbrs), dtype=np.int64, count=len(nbrs))
    flat = np.asarray([v for n in nbrs for v in n])
    if flat.size == 0:
        return torch.zeros(2, 0, dtype=torch.long)
    return _edges_from_ids(g, np.repeat(g.node_ids, lens), flat, f"neighbour lists ({col!r})")


def load_mag(name_or_path: str, *, root: str | os.PathLike | None = None, **kwargs) -> MultimodalGraph:
    """Resolve a MAG by path or by name under ``root`` / ``$GRAPHEMB_DATA`` and pick the layout.

    ``synthetic-mag`` (optionally ``synthetic-mag:n=600,seed=1``) builds the generated graph.
    A folder with ``nodes.*`` is the plain layout; one with ``<Name>.csv`` is MAGB. ``kwargs`` go
    to :func:`load_plain` / :func:`load_magb` (``encoding="latin-1"``, ``missing_images="mask"``, ...);
    a generated graph ignores ``encoding``.
    """
    if name_or_path.split(":")[0].lower() == "synthetic-mag":
        from graphemb.multimodal.synthetic import make_synthetic_mag, parse_synthetic_spec

        kwargs.pop("encoding", None)
        return make_synthetic_mag(**parse_synthetic_spec(name_or_path))
    p = Path(name_or_path).expanduser()
    tried = [str(p)]
    if not p.is_dir():
        base = root or os.environ.get("GRAPHEMB_DATA")
        if base is not None:
            for cand in (Path(base) / name_or_path, Path(base) / "mag" / name_or_path):
                tried.append(str(cand))
                if cand.is_dir():
                    p = cand
                    break
    if not p.is_dir():
        raise FileNotFoundError(f"MAG dataset {name_or_path!r} not found (tried {tried}); give a folder path, "
                                f"set GRAPHEMB_DATA to the folder holding it, or use 'synthetic-mag'")
    if (p / "nodes.csv").is_file() or (p / "nodes.parquet").is_file():
        return load_plain(p, **kwargs)
    return load_magb(p, **kwargs)
