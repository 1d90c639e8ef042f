"""Progress bars that switch themselves off when nobody watches."""
from __future__ import annotations

import os
import sys
from typing import Iterable, Optional, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled(enabled: Optional[bool] = None) -> bool:
    """``enabled`` when given; else on only if stderr is a TTY and ``GRAPHEMB_PROGRESS`` != ``0``."""
    if enabled is not None:
        return bool(enabled)
    if os.environ.get("GRAPHEMB_PROGRESS", "").strip() in {"0", "false", "off"}:
        return False
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], enabled: Optional[bool] = None, **kwargs) -> Iterable[T]:
    """Wrap ``iterable`` in a tqdm bar, disabled when not a TTY or when asked."""
    return tqdm(iterable, disable=not progress_enabled(enabled), **kwargs)
