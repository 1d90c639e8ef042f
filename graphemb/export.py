"""One writer for every table of vectors with their ids: node/link/graph embeddings, multimodal
features and predictions, matching embeddings.

``.npy``: the matrix in ``FILE.npy`` and the ids in ``FILE.ids.npy`` (one column, or one per id
field for pairs; string ids are stored as a fixed-width unicode array, loadable without pickle).
``.parquet``: id column(s) first, then ``e0 .. e{d-1}`` (or the names given by ``columns``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

import numpy as np

PathLike = Union[str, Path]


def _plain_ids(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a)
    return a.astype(str) if a.dtype.kind == "O" else a


def write_table(out: PathLike, emb: np.ndarray, ids: Mapping[str, np.ndarray],
                columns: Optional[Sequence[str]] = None) -> Path:
    """Write ``emb [n, d]`` with id column(s) ``ids`` (each ``[n]``) to ``.npy`` or ``.parquet``."""
    from graphemb.utils.io import atomic_write

    out = Path(out)
    emb = np.asarray(emb)
    ids = {k: _plain_ids(v) for k, v in ids.items()}
    if any(len(v) != len(emb) for v in ids.values()):
        raise ValueError(f"{out.name}: {len(emb)} rows but id columns of lengths {[len(v) for v in ids.values()]}")
    if out.suffix not in (".npy", ".parquet"):
        raise ValueError(f"unsupported output {out.name!r}: use a .npy (ids in <stem>.ids.npy) or .parquet file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npy":
        id_arr = np.stack(list(ids.values()), 1) if len(ids) > 1 else next(iter(ids.values()))
        with atomic_write(out.with_name(out.stem + ".ids.npy")) as f:
            np.save(f, id_arr)
        with atomic_write(out) as f:
            np.save(f, emb)
        return out
    import pandas as pd

    names = list(columns) if columns is not None else [f"e{j}" for j in range(emb.shape[1] if emb.ndim > 1 else 1)]
    values = emb.reshape(len(emb), -1)
    df = pd.DataFrame({**ids, **{c: values[:, j] for j, c in enumerate(names)}})
    with atomic_write(out) as f:
        df.to_parquet(f, index=False)
    return out
