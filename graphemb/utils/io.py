"""Safe file IO shared by every writer and reader of the library.

* :func:`atomic_write` / :func:`atomic_path`: write to a per-process temporary name in the
  target's folder (``.<name>.<pid>-<random>.tmp<suffix>``) and ``os.replace`` it onto the target,
  so a reader, a crash or a second process writing the same file never sees half a file.
* :func:`file_digest`: SHA-256 of a file's content (cache keys that notice edits which keep the
  size and the modification time).
* :func:`read_json`, :func:`load_npz`: readers whose errors name the file and what is wrong
  (:class:`DataFileError`) instead of a bare ``JSONDecodeError`` / ``BadZipFile``.
* :func:`load_pickle_restricted`: unpickle a data file whose globals must come from an
  allow-list (:class:`RestrictedUnpickler`), so a crafted pickle under a shared data root can
  never import or call anything else (``os.system``, ``eval``, ...).
"""
from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import pickle
import secrets
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any, Dict, Iterator, Optional, Sequence, Union

import numpy as np

__all__ = ["DataFileError", "RestrictedUnpickler", "UnsafePickleError", "atomic_path", "atomic_write", "decode_error", "file_digest", "files_digest", "load_npz", "load_pickle_restricted",
           "read_json", "temp_name", "write_json"]

PathLike = Union[str, os.PathLike]


class DataFileError(ValueError):
    """A file exists but cannot be read as what it should be (truncated, corrupt, inconsistent).

    Attributes:
        path: the offending file.
    """

    def __init__(self, path: PathLike, problem: str, fix: str = "") -> None:
        self.path = Path(path)
        msg = f"{self.path}: {problem}"
        if fix:
            msg += f"; {fix}"
        super().__init__(msg)


def temp_name(path: PathLike) -> Path:
    """A temporary sibling of ``path`` unique to this process and call; it keeps the last suffix
    (``np.savez`` / ``np.save`` append ``.npz`` / ``.npy`` to names without it)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{p.suffix}")


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed onto ``path``, on error removed.

    For writers that take a file name (``save_yaml(obj, tmp)``, ``df.to_parquet(tmp)``).
    The parent folder is created.
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(p)
    try:
        yield tmp
        os.replace(tmp, p)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_write(path: PathLike, mode: str = "wb", *, encoding: Optional[str] = None,
                 newline: Optional[str] = None) -> Iterator[IO[Any]]:
    """``with atomic_write(path) as f: ...``: an open file on a temporary name, flushed, fsynced
    and renamed onto ``path`` when the block ends without an exception (removed otherwise).

    ``mode`` is ``"wb"`` (default) or ``"w"`` (text; ``encoding`` defaults to UTF-8). Works with
    ``np.savez(f, ...)``, ``torch.save(obj, f)``, ``json.dump(obj, f)``, ``df.to_csv(f)``.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding, newline=newline) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())


def write_json(path: PathLike, obj: Any, **kwargs: Any) -> None:
    """``json.dump(obj)`` into ``path`` atomically (``kwargs`` go to ``json.dump``)."""
    with atomic_write(path, "w") as f:
        json.dump(obj, f, **kwargs)


def file_digest(path: PathLike, *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the content of ``path`` (follows symlinks)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def files_digest(paths: Sequence[PathLike], base: Optional[PathLike] = None) -> str:
    """One SHA-256 over several files: their names (relative to ``base``) and contents, sorted by name."""
    h = hashlib.sha256()
    items = sorted((os.path.relpath(p, base) if base is not None else Path(p).name, p) for p in paths)
    for rel, p in items:
        h.update(f"{rel}\0{file_digest(p)}\0".encode())
    return h.hexdigest()


def read_json(path: PathLike, *, what: str = "JSON file") -> Any:
    """``json.load`` with errors naming the file: an empty, truncated or non-JSON file raises
    :class:`DataFileError` (``FileNotFoundError`` stays as it is)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataFileError(p, f"{what} is not UTF-8 text ({e})", "restore or delete it") from None
    if not text.strip():
        raise DataFileError(p, f"{what} is empty (an interrupted write?)", "restore or delete it")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        kind = "truncated" if e.pos >= len(text.rstrip()) else "not valid JSON"
        raise DataFileError(p, f"{what} is {kind} (line {e.lineno}, column {e.colno}: {e.msg})",
                            "restore or delete it") from None


def load_npz(path: PathLike, keys: Sequence[str] = (), *, what: str = ".npz file") -> Dict[str, np.ndarray]:
    """All arrays of an ``.npz`` archive (``allow_pickle=False``), read eagerly.

    Raises :class:`DataFileError` naming the file when it is truncated / not a zip archive, when
    a member is corrupt, or when one of ``keys`` is missing.
    """
    p = Path(path)
    try:
        with np.load(p, allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise DataFileError(p, f"{what} lacks array(s) {missing} (has {sorted(z.files)})",
                                    "it was not written by this library or is from another version")
            return {k: z[k] for k in z.files}
    except DataFileError:
        raise
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise DataFileError(p, f"{what} is truncated or corrupt ({type(e).__name__}: {e})",
                            "delete it and write it again") from None


class UnsafePickleError(DataFileError):
    """A pickle refers to a global outside the allow-list; nothing of it was executed."""


class RestrictedUnpickler(pickle.Unpickler):
    """A :class:`pickle.Unpickler` whose :meth:`find_class` resolves only ``allowed`` globals.

    ``allowed`` holds ``(module, name)`` pairs as they are spelled in the pickle (Python 2 pickles
    say ``__builtin__`` / ``copy_reg``; the standard name mapping is applied after the check).
    Any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``...) raises
    :class:`UnsafePickleError` before it is imported, so a crafted ``__reduce__`` never runs.
    """

    def __init__(self, file: IO[bytes], allowed: frozenset, *, path: PathLike = "<pickle>",
                 encoding: str = "ASCII") -> None:
        super().__init__(file, encoding=encoding)
        self.allowed = allowed
        self.path = path

    def find_class(self, module: str, name: str) -> Any:  # noqa: D401 (pickle API)
        if (module, name) not in self.allowed:
            raise UnsafePickleError(
                self.path, f"refusing to unpickle global {module}.{name} (nothing was executed): this file "
                f"may only hold types of {', '.join(sorted({m.split('.')[0] for m, _ in self.allowed}))}, "
                f"so it is not the dataset's released file",
                "delete it and restore the original file (or let the loader download it)")
        with warnings.catch_warnings():  # numpy.core / scipy.sparse.csr moved: deprecation noise only
            warnings.simplefilter("ignore")
            return super().find_class(module, name)


def load_pickle_restricted(path: PathLike, allowed: frozenset, *, encoding: str = "latin1") -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (``encoding="latin1"`` reads the
    Python 2 era pickles of numpy arrays). Truncated or corrupt files raise :class:`DataFileError`."""
    p = Path(path)
    with open(p, "rb") as f:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return RestrictedUnpickler(f, allowed, path=p, encoding=encoding).load()
        except UnsafePickleError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError, IndexError,
                KeyError, UnicodeDecodeError, MemoryError) as e:
            kind = "truncated" if isinstance(e, EOFError) or "truncated" in str(e) else "corrupt"
            raise DataFileError(p, f"{kind} pickle ({type(e).__name__}: {e})",
                                "delete it and restore the original file") from None


def decode_error(path: PathLike, encoding: str, delimiter: str = ",") -> DataFileError:
    """The :class:`DataFileError` for a CSV-like file that does not decode as ``encoding``: it
    names the line, the row (line - 1, after the header) and the column (header name) of the
    first bad byte, and the ``--encoding`` fix."""
    path = Path(path)
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
        return DataFileError(path, f"cannot be read as {encoding}")
    except UnicodeDecodeError as e:
        start = raw.rfind(b"\n", 0, e.start) + 1
        line = raw.count(b"\n", 0, e.start) + 1
        header = next(csv.reader(io.StringIO(raw.split(b"\n", 1)[0].decode(encoding, "replace")), delimiter=delimiter), [])
        prefix = raw[start:e.start].decode(encoding, "replace")
        col = len(next(csv.reader(io.StringIO(prefix), delimiter=delimiter), [""])) - 1 if prefix else 0
        where = f"line {line}" + (f" (row {line - 1})" if line > 1 else " (header)")
        name = f", column {header[col]!r}" if 0 <= col < len(header) else ""
        return DataFileError(path, f"{where}{name}: byte {raw[e.start:e.start + 1]!r} is not valid {encoding} "
                             f"({e.reason})", "pass the file's encoding (encoding='latin-1', CLI --encoding latin-1)")
