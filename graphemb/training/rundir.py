"""Run directories: everything needed to inspect, evaluate, resume and reuse a training run.

Layout of ``RUN_DIR``::

    config.yaml       the fully resolved RunConfig (rebuilds the model without presets)
    metrics.json      training summary, per-epoch losses, evaluation results, versions, git commit
    checkpoint.pt     {"state_dict", "config", "in_channels", "version"}; torch.load(weights_only=True)
    embeddings.npz    "embeddings" [n, d] float32, "ids" [n] (node or graph ids), "level"
    split.pt          link task only: the edge split the encoder was trained on (tensors)

How a run is written (:class:`RunWriter`), so that runs are never mixed or lost:

* ``RUN_DIR.lock`` (next to ``RUN_DIR``) is held with an exclusive ``flock`` by the one process
  writing ``RUN_DIR``; a second writer fails at once with :class:`RunDirBusy` naming the holder.
  Evaluations hold it shared, so a run is never replaced while it is being evaluated. The
  kernel drops the lock when its process dies (even ``kill -9``); a leftover file is harmless.
* a non-empty ``RUN_DIR`` is refused (:class:`RunDirExists`) unless ``overwrite``; then the old
  run is replaced as a whole (never merged with the new one) and only once the new one is done.
* the run is written into ``RUN_DIR.partial`` and renamed to ``RUN_DIR`` after it finished. A
  failed or invalid run leaves ``RUN_DIR`` untouched. While training, ``RUN_DIR.partial/resume.pt``
  holds a resumable checkpoint every ``train.checkpoint_every`` epochs; an interrupted run
  (SIGINT / SIGTERM, or any failure after a checkpoint) keeps ``RUN_DIR.partial`` and
  ``graphemb train --resume RUN_DIR.partial`` continues it. ``resume.pt`` is removed from the
  finished run. A new run (not ``--resume``) discards a stale ``RUN_DIR.partial`` with a warning.

Every file is written under a per-process temporary name in its final folder and renamed
(:func:`graphemb.utils.io.atomic_write`), so an interrupted write never leaves a truncated file.
"""
from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Union

import numpy as np
import torch
import yaml

from graphemb import __version__
from graphemb.config import RunConfig, run_config_from_dict
from graphemb.utils.io import atomic_write, load_npz, read_json

PathLike = Union[str, Path]

PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
RESUME_FILE = "resume.pt"

try:  # POSIX; elsewhere the lock falls back to an exclusive-create file
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class RunDirExists(FileExistsError):
    """``--out`` names a non-empty directory (or a file) and ``overwrite`` was not given."""

    exit_code = 2


class NothingToResume(FileNotFoundError):
    """``--resume`` names a directory without an interrupted run (no ``resume.pt``)."""

    exit_code = 2


class RunDirBusy(RuntimeError):
    """Another process is writing (or evaluating) the run directory."""

    exit_code = 1


class RunInterrupted(KeyboardInterrupt):
    """Training was interrupted by SIGINT / SIGTERM; the message says what was kept where."""

    def __init__(self, message: str = "", signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)


# ----------------------------------------------------------------------------- atomic files


def _torch_save_atomic(obj: Any, path: Path) -> None:
    with atomic_write(path) as f:
        torch.save(obj, f)


# ----------------------------------------------------------------------------- locking


class RunLock:
    """An ``flock`` on ``RUN_DIR.lock``: exclusive for writers, shared for readers (evaluate).

    Never blocks: a conflict raises :class:`RunDirBusy` naming the process that holds it. The
    lock file is removed by the last exclusive holder; acquiring re-checks that the locked file
    is still the one at the path (so removal never lets two processes in).
    """

    def __init__(self, run_dir: PathLike, *, shared: bool = False, purpose: str = "write") -> None:
        run_dir = Path(run_dir)
        self.path = run_dir.with_name(run_dir.name + LOCK_SUFFIX)
        self.run_dir = run_dir
        self.shared = shared
        self.purpose = purpose
        self._fd: Optional[int] = None

    def _busy(self) -> RunDirBusy:
        try:
            holder = self.path.read_text().strip()
        except OSError:
            holder = ""
        who = f" ({holder})" if holder else ""
        return RunDirBusy(f"{self.run_dir} is in use by another graphemb process{who}; wait for it to finish "
                          f"or choose another --out (lock file {self.path})")

    def acquire(self) -> "RunLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fcntl is None:  # pragma: no cover - no flock: exclusive create
            try:
                self._fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_RDWR)
            except FileExistsError:
                raise self._busy() from None
            self._write_holder()
            return self
        while True:
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise self._busy() from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self._fd = fd
                if not self.shared:
                    self._write_holder()
                return self
            os.close(fd)  # the file was removed by its last holder between open and flock: retry

    def _write_holder(self) -> None:
        assert self._fd is not None
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        text = f"pid {os.getpid()} on {socket.gethostname()}, {self.purpose}, since {when}"
        os.ftruncate(self._fd, 0)
        os.write(self._fd, text.encode())

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            if fcntl is None:  # pragma: no cover
                os.unlink(self.path)
                return
            if self.shared:  # remove the file only when no one else holds it
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    return
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        finally:
            os.close(fd)

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


@contextlib.contextmanager
def _locked_dir(path: Path) -> Iterator[None]:
    """Exclusive, blocking ``flock`` on the directory ``path`` for a short read-modify-write of a
    file in it; re-locks when the directory was replaced (renamed) meanwhile."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    while True:
        fd = os.open(path, os.O_RDONLY)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield
    finally:
        os.close(fd)


# ----------------------------------------------------------------------------- writing a run


def partial_dir(run_dir: PathLike) -> Path:
    """``RUN_DIR.partial``: where a run is written until it finished."""
    run_dir = Path(run_dir)
    return run_dir.with_name(run_dir.name + PARTIAL_SUFFIX)


def final_dir(path: PathLike) -> Path:
    """The run directory a path names: ``X`` for ``X`` or ``X.partial``."""
    path = Path(path)
    if path.name.endswith(PARTIAL_SUFFIX) and len(path.name) > len(PARTIAL_SUFFIX):
        return path.with_name(path.name[: -len(PARTIAL_SUFFIX)])
    return path


def check_out(out: PathLike, overwrite: bool = False) -> Path:
    """Refuse an ``--out`` that would lose a run: a file, or a non-empty directory without
    ``overwrite`` (:class:`RunDirExists`). Called before any data is loaded, and again under the lock."""
    out = Path(out)
    if out.name.endswith(PARTIAL_SUFFIX) or out.name.endswith(LOCK_SUFFIX):
        raise RunDirExists(f"--out {out} ends in {PARTIAL_SUFFIX!r} or {LOCK_SUFFIX!r}, names graphemb keeps for its "
                           f"own files; choose another --out (to continue an interrupted run use --resume {out})")
    if out.exists() and not out.is_dir():
        raise RunDirExists(f"--out {out} exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise RunDirExists(f"--out {out} is not empty (it holds an earlier run); choose another --out, or pass "
                           f"--overwrite (Python: overwrite=True) to replace that run as a whole")
    return out


class RunWriter:
    """Write one run atomically: lock, check ``out``, fill ``out.partial``, rename it into place.

    >>> with RunWriter("runs/cora", overwrite=False) as w:   # doctest: +SKIP
    ...     save_config(w.path, config); ...; w.commit()

    Args:
        out: the final run directory.
        overwrite: replace an existing run at ``out`` (as a whole, at :meth:`commit`).
        resume: continue the run kept in ``out.partial`` (it must hold ``resume.pt``).

    Leaving the block without :meth:`commit` (an exception) removes ``out.partial`` unless it
    holds a resume checkpoint; SIGINT / SIGTERM raise :class:`RunInterrupted` saying what was kept
    (a signal that lands while a checkpoint is written leaves the previous checkpoint).
    """

    def __init__(self, out: PathLike, *, overwrite: bool = False, resume: bool = False) -> None:
        self.out = Path(out)
        self.path = partial_dir(self.out)
        self.overwrite = overwrite
        self.resume = resume
        self.committed = False
        self._lock = RunLock(self.out, purpose="resuming" if resume else "training")
        self._old_handlers: Dict[int, Any] = {}
        self.signalled: Optional[int] = None

    @property
    def resume_file(self) -> Path:
        return self.path / RESUME_FILE

    def __enter__(self) -> "RunWriter":
        check_out(self.out, self.overwrite)  # fail before taking the lock for the common mistake
        self._lock.acquire()
        try:
            check_out(self.out, self.overwrite)
            if self.resume:
                if not self.resume_file.is_file():
                    raise NothingToResume(f"nothing to resume: {self.resume_file} not found (the run was not "
                                            f"interrupted after a checkpoint, see train.checkpoint_every)")
            elif self.path.exists():
                warnings.warn(f"discarding the interrupted run in {self.path} (continue it instead with "
                              f"`graphemb train --resume {self.path}`)", RuntimeWarning, stacklevel=2)
                shutil.rmtree(self.path)
            self.path.mkdir(parents=True, exist_ok=True)
            self._install_signal_handlers()
        except BaseException:
            self._lock.release()
            raise
        return self

    def _install_signal_handlers(self) -> None:
        """SIGINT / SIGTERM raise :class:`RunInterrupted` and are remembered: torch may wrap the
        exception when it lands inside its C++ code (e.g. while a checkpoint is saved), and the
        run must still end as interrupted, keeping its partial directory."""
        if threading.current_thread() is not threading.main_thread():
            return

        def on_signal(signum, frame):
            self.signalled = signum
            raise RunInterrupted(f"interrupted ({signal.Signals(signum).name})", signum)

        for sig in (signal.SIGINT, signal.SIGTERM):
            self._old_handlers[sig] = signal.signal(sig, on_signal)

    def _restore_signal_handlers(self) -> None:
        for sig, handler in self._old_handlers.items():
            signal.signal(sig, handler)
        self._old_handlers = {}

    def commit(self) -> Path:
        """Rename the finished run into place, replacing an earlier run at ``out`` as a whole."""
        with contextlib.suppress(FileNotFoundError):
            self.resume_file.unlink()
        trash = None
        if self.out.is_dir():
            if any(self.out.iterdir()):
                trash = self.out.with_name(f".{self.out.name}.replaced-{os.getpid()}")
                if trash.exists():
                    shutil.rmtree(trash)
                os.replace(self.out, trash)
            else:
                self.out.rmdir()
        try:
            os.replace(self.path, self.out)
        except BaseException:
            if trash is not None:
                os.replace(trash, self.out)
            raise
        self.committed = True
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
        return self.out

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            self._restore_signal_handlers()
            if self.committed or exc_type is None:
                return
            kept = self.resume_file.is_file()
            if not kept:
                shutil.rmtree(self.path, ignore_errors=True)
            untouched = f"{self.out} is untouched" if self.out.exists() else f"nothing was written to {self.out}"
            if issubclass(exc_type, KeyboardInterrupt) or self.signalled is not None:
                signum = self.signalled or getattr(exc, "signum", signal.SIGINT)
                what = f"interrupted ({signal.Signals(signum).name})"
                if kept:
                    msg = (f"{what}; {untouched}; the partial run is kept in {self.path}: continue it with "
                           f"`graphemb train --resume {self.path}`")
                else:
                    msg = f"{what} before the first checkpoint (train.checkpoint_every); {untouched}"
                raise RunInterrupted(msg, signum) from None
            if kept and isinstance(exc, BaseException):
                exc.add_note(f"{untouched}; the partial run is kept in {self.path}: once the cause is fixed, "
                             f"continue it with `graphemb train --resume {self.path}`")
        finally:
            self._lock.release()


# ----------------------------------------------------------------------------- files of a run


def save_config(path: PathLike, config: RunConfig) -> None:
    with atomic_write(Path(path) / "config.yaml", "w") as f:
        yaml.safe_dump(config.to_dict(), f, sort_keys=False)


def load_config(path: PathLike) -> RunConfig:
    path = Path(path)
    f = path / "config.yaml"
    if not f.is_file():
        hint = ""
        if partial_dir(path).is_dir():
            hint = f"; an unfinished run is in {partial_dir(path)} (continue it with --resume)"
        raise FileNotFoundError(f"{f} not found: {path} is not a graphemb run directory (create one with "
                                f"`graphemb train ... --out {path}`){hint}")
    with open(f) as fh:
        return run_config_from_dict(yaml.safe_load(fh))


def save_metrics(path: PathLike, metrics: Mapping[str, Any]) -> None:
    with atomic_write(Path(path) / "metrics.json", "w") as f:
        json.dump(metrics, f, indent=2, default=float)


def load_metrics(path: PathLike) -> Dict[str, Any]:
    f = Path(path) / "metrics.json"
    if not f.is_file():
        return {}
    return read_json(f, what="metrics file")


def update_metrics(path: PathLike, update: Callable[[Dict[str, Any]], None]) -> Dict[str, Any]:
    """Read ``metrics.json``, apply ``update(metrics)`` in place, write it back atomically.

    Concurrent updaters are serialised (``flock`` on the run directory), so none loses another's
    entries, and a crash mid-write leaves the previous file.
    """
    path = Path(path)
    with _locked_dir(path):
        metrics = load_metrics(path)
        update(metrics)
        save_metrics(path, metrics)
    return metrics


def save_checkpoint(path: PathLike, model: torch.nn.Module, config: RunConfig, in_channels: int) -> None:
    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    _torch_save_atomic({"state_dict": state, "config": config.to_dict(), "in_channels": int(in_channels),
                        "version": __version__}, path / "checkpoint.pt")


def load_checkpoint(path: PathLike, map_location: Union[str, torch.device] = "cpu"):
    """Rebuild the model of a run from ``checkpoint.pt`` (loaded with ``weights_only=True``).

    Returns ``(model, config)``.
    """
    from graphemb.models import MODELS

    f = Path(path) / "checkpoint.pt"
    if not f.is_file():
        raise FileNotFoundError(f"{f} not found: the run in {path} has no checkpoint (did training finish?)")
    ckpt = torch.load(f, map_location=map_location, weights_only=True)
    config = run_config_from_dict(ckpt["config"])
    model = MODELS.get(config.model_name).from_config(ckpt["in_channels"], config.model)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    return model, config


def save_training_state(path: PathLike, state: Mapping[str, Any]) -> None:
    """Write a resumable training state (tensors and plain values only) to ``path`` atomically."""
    _torch_save_atomic(dict(state), Path(path))


def load_training_state(path: PathLike) -> Dict[str, Any]:
    """Load what :func:`save_training_state` wrote (``weights_only=True``, on CPU)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: nothing to resume")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - name the file
        raise ValueError(f"{path} is not a readable graphemb training state ({e}); delete "
                         f"{path.parent} and train again") from None


def save_embeddings(path: PathLike, embeddings: torch.Tensor, ids: torch.Tensor, level: str) -> None:
    with atomic_write(Path(path) / "embeddings.npz") as f:
        np.savez(f, embeddings=embeddings.detach().cpu().float().numpy(), ids=ids.detach().cpu().numpy(),
                 level=np.array(level))


def load_embeddings(path: PathLike):
    """Returns ``(embeddings [n, d] float32 tensor, ids [n] tensor, level)``."""
    f = Path(path) / "embeddings.npz"
    if not f.is_file():
        raise FileNotFoundError(f"{f} not found: the run in {path} saved no embeddings (did training finish?)")
    z = load_npz(f, ("embeddings", "ids", "level"), what="embeddings file")
    return torch.from_numpy(z["embeddings"]), torch.from_numpy(z["ids"]), str(z["level"])


def save_split(path: PathLike, split: Any) -> None:
    """Save the tensors of a link split (``train_pos``, ``val_pos``, ``val_neg``, ``test_pos``,
    ``test_neg``, and ``train_neg`` when the split has one): everything a link protocol reads."""
    path = Path(path)
    tensors = {k: getattr(split, k).cpu() for k in ("train_pos", "val_pos", "val_neg", "test_pos", "test_neg")}
    if getattr(split, "train_neg", None) is not None:  # fixed predictor negatives, when a split has them
        tensors["train_neg"] = split.train_neg.cpu()
    _torch_save_atomic(tensors, path / "split.pt")


def load_split(path: PathLike) -> Optional[Dict[str, torch.Tensor]]:
    f = Path(path) / "split.pt"
    if not f.is_file():
        return None
    return torch.load(f, weights_only=True)


# ----------------------------------------------------------------------------- provenance


def _git_info(source: Path) -> Optional[Dict[str, Any]]:
    """``{"commit", "dirty"}`` of the git checkout holding ``source`` (graphemb's own
    package folder), or ``None`` when it is not in one or git is absent."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(source), *args], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        top = Path(git("rev-parse", "--show-toplevel"))
        if not (top / "graphemb" / "__init__.py").is_file() or (top / "graphemb").resolve() != source.resolve():
            return None  # e.g. installed into a venv that sits inside some other repository
        commit = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError, ValueError):
        return None
    return {"commit": commit, "dirty": dirty}


def provenance() -> Dict[str, Any]:
    """Versions of graphemb, torch, torch-geometric and Python, and the git commit (with a
    ``dirty`` flag for uncommitted changes to tracked files) when graphemb runs from a checkout."""
    import torch_geometric

    import graphemb

    return {
        "versions": {"graphemb": __version__, "torch": torch.__version__,
                     "torch_geometric": torch_geometric.__version__, "python": platform.python_version()},
        "git": _git_info(Path(graphemb.__file__).resolve().parent),
        "command": list(sys.argv),
    }
