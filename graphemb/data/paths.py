"""Where datasets are looked up, and where processed files go.

Lookup order (first hit wins):

1. an explicit ``root`` (CLI ``--data-root``) or else ``$GRAPHEMB_DATA`` (``os.pathsep``-separated
   list allowed). These roots may be **read-only**: raw files found there are copied into the cache
   and processed there; nothing is ever written under a root.
2. the writable cache ``$GRAPHEMB_CACHE`` (default ``$XDG_CACHE_HOME/graphemb`` or
   ``~/.cache/graphemb``), laid out as ``<cache>/<source>/<Name>/{raw,processed}``.
3. the canonical download (PyG / OGB code paths) into the cache, when ``download=True``;
   a failed download (offline) becomes a :class:`DatasetNotFoundError`.

A root uses PyG's layout: ``<root>/<Name>/raw/...`` (Planetoid and TUDataset alike), optionally
``<root>/<Name>/gin_format/`` (GIN text format + ``10fold_idx``), and ``<root>/<ogb_dir>/``
(``ogbn_arxiv/raw``, ``split/``, ``RELEASE_v1.txt``) for OGB.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

ENV_DATA = "GRAPHEMB_DATA"
ENV_CACHE = "GRAPHEMB_CACHE"

# Raw files above this size are symlinked into the cache instead of copied.
_SYMLINK_BYTES = 256 * 2**20


class DatasetNotFoundError(FileNotFoundError):
    """A dataset is neither under a data root, nor in the cache, nor downloadable.

    Attributes:
        name: the dataset name.
        tried: every location that was looked at, in lookup order.
    """

    def __init__(self, name: str, tried: Sequence[Path | str], reason: str = "") -> None:
        self.name = name
        self.tried = [str(p) for p in tried]
        lines = "\n".join(f"  - {p}" for p in self.tried) or "  (no location)"
        why = f" ({reason})" if reason else ""
        msg = (
            f"dataset {name!r} not found{why}. Looked in:\n{lines}\n"
            f"Fix: pass --data-root DIR (root=DIR) or set {ENV_DATA}=DIR to a folder holding "
            f"<Name>/raw/..., or set {ENV_CACHE} to a writable cache and allow downloads when online."
        )
        super().__init__(msg)

    def __str__(self) -> str:  # FileNotFoundError would otherwise format (errno, strerror)
        return self.args[0]


def cache_root(cache: Optional[str | os.PathLike] = None) -> Path:
    """The writable cache: ``cache`` argument > ``$GRAPHEMB_CACHE`` > ``$XDG_CACHE_HOME/graphemb``
    > ``~/.cache/graphemb``. Not created here."""
    if cache is not None:
        return Path(cache).expanduser()
    env = os.environ.get(ENV_CACHE)
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "graphemb"


def data_roots(root: Optional[str | os.PathLike] = None) -> List[Path]:
    """Read-only data roots in lookup order: ``root`` if given, else the entries of ``$GRAPHEMB_DATA``.

    A root that has a ``graphs/`` sub-folder (``../shared/datasets``) is followed by that folder.
    """
    if root is not None:
        roots = [Path(root).expanduser()]
    else:
        env = os.environ.get(ENV_DATA, "")
        roots = [Path(p).expanduser() for p in env.split(os.pathsep) if p.strip()]
    out: List[Path] = []
    for r in roots:
        out.append(r)
        if (r / "graphs").is_dir():
            out.append(r / "graphs")
    return out


def find_child(parent: Path, name: str) -> Optional[Path]:
    """``parent/name``, or a child whose name matches case-insensitively (``cora`` -> ``Cora``)."""
    exact = parent / name
    if exact.is_dir():
        return exact
    if not parent.is_dir():
        return None
    low = name.lower()
    for child in sorted(parent.iterdir()):
        if child.is_dir() and child.name.lower() == low:
            return child
    return None


def has_files(folder: Path, names: Iterable[str]) -> bool:
    """Whether every file in ``names`` exists in ``folder``."""
    return folder.is_dir() and all((folder / n).exists() for n in names)


def stage_tree(src: Path, dst: Path, subdirs: Sequence[str] = ("raw",)) -> Path:
    """Copy ``src/<subdir>/**`` into ``dst/<subdir>/**`` (files only, never touching ``src``).

    Files already present in ``dst`` with the same content (SHA-256; a same-size edit is seen)
    are kept, others are replaced, so the processed files keyed by the raw content are rebuilt.
    Files larger than 256 MiB are symlinked rather than copied. Copies get mode ``0o644``
    whatever the source mode, so a read-only root does not produce a read-only cache; they are
    written to a per-process temporary name and renamed. When a file that was already staged is
    replaced (its content changed), ``dst/processed*`` folders are removed, so loaders whose
    processed files do not record the raw content (OGB's) rebuild them too. Returns ``dst``.
    """
    from graphemb.utils.io import file_digest, temp_name

    replaced = False
    for sub in subdirs:
        s = src / sub if sub else src
        if not s.exists():
            continue
        files = [s] if s.is_file() else [p for p in sorted(s.rglob("*")) if p.is_file()]
        for f in files:
            rel = f.relative_to(src)
            t = dst / rel
            big = f.stat().st_size > _SYMLINK_BYTES
            if t.is_symlink() and big and t.resolve() == f.resolve():
                continue
            if (t.exists() and not t.is_symlink() and t.stat().st_size == f.stat().st_size
                    and file_digest(t) == file_digest(f)):
                continue
            replaced |= t.exists() or t.is_symlink()
            t.parent.mkdir(parents=True, exist_ok=True)
            tmp = temp_name(t)  # atomic: readers never see half a file
            if big:
                tmp.symlink_to(f.resolve())
            else:
                shutil.copyfile(f, tmp)
                os.chmod(tmp, 0o644)
            os.replace(tmp, t)
    if replaced:
        for stale in sorted(dst.glob("processed*")):
            if stale.is_dir():  # renamed first: a concurrent reader never sees a half-deleted folder
                gone = stale.with_name(f".{stale.name}.stale-{os.getpid()}")
                os.rename(stale, gone)
                shutil.rmtree(gone, ignore_errors=True)
    return dst


def remove_if_created(path: Path, existed_before: bool) -> None:
    """Undo a partially created cache folder (after a failed download)."""
    if not existed_before and path.exists():
        shutil.rmtree(path, ignore_errors=True)


def locate_raw(
    name: str,
    source: str,
    raw_files: Sequence[str],
    *,
    root: Optional[str | os.PathLike] = None,
    cache: Optional[str | os.PathLike] = None,
    subdirs: Sequence[str] = ("raw",),
    stage: bool = True,
) -> tuple[Optional[Path], List[Path]]:
    """Find ``<Name>/raw/<raw_files>`` in the data roots, else in the cache.

    A hit under a data root is staged (copied) into ``<cache>/<source>/<Name>/`` together with
    ``subdirs``. Returns ``(pyg_root, tried)`` where ``pyg_root = <cache>/<source>`` is what PyG's
    dataset classes take as ``root`` (``None`` when not found), and ``tried`` lists the raw folders
    looked at, in order. ``stage=False`` only checks (nothing is copied).
    """
    tried: List[Path] = []
    pyg_root = cache_root(cache) / source
    for r in data_roots(root):
        d = find_child(r, name)
        tried.append((d or r / name) / "raw")
        if d is not None and has_files(d / "raw", raw_files):
            if stage:
                stage_tree(d, pyg_root / name, subdirs)
            return pyg_root, tried
    tried.append(pyg_root / name / "raw")
    if has_files(pyg_root / name / "raw", raw_files):
        return pyg_root, tried
    return None, tried
