"""The one progress-bar switch of the library: bars only when somebody watches.

Every bar (training epochs, probes, encoders) goes through :func:`progress`, and every on/off
decision through :func:`progress_enabled`: an explicit ``enabled`` wins; else ``GRAPHEMB_PROGRESS``
(``0``/``false``/``off``/``no`` switch bars off, ``1``/``true``/``on``/``yes`` on); else a bar is
shown only when stderr is a terminal.
"""
from __future__ import annotations

import os
import sys
from typing import Any, Iterable, Optional, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
ENV_PROGRESS = "GRAPHEMB_PROGRESS"
_OFF = {"0", "false", "off", "no"}
_ON = {"1", "true", "on", "yes"}


def progress_enabled(enabled: Optional[bool] = None) -> bool:
    """``enabled`` when given; else ``$GRAPHEMB_PROGRESS`` when set; else whether stderr is a TTY."""
    if enabled is not None:
        return bool(enabled)
    env = os.environ.get(ENV_PROGRESS, "").strip().lower()
    if env in _OFF:
        return False
    if env in _ON:
        return True
    return sys.stderr.isatty()


def progress(iterable: Optional[Iterable[T]] = None, enabled: Optional[bool] = None, **kwargs: Any) -> Any:
    """A tqdm bar over ``iterable`` (or a manual bar: ``progress(total=n)`` then ``.update``),
    disabled unless :func:`progress_enabled` says otherwise."""
    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)
