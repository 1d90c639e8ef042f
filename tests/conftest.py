"""Shared test setup: one torch thread (2-core CI machines thrash with two busy threads),
and the location of the read-only shared datasets.

Real-data tests get their folders through :func:`require_data` (directly or through the
``shared_datasets`` / ``graphs_root`` fixtures): a missing folder skips the test locally, but
with ``GRAPHEMB_REQUIRE_DATA=1`` (set by ``.ci/run``) it fails, so CI cannot go green without
its real data.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
REQUIRE_DATA_ENV = "GRAPHEMB_REQUIRE_DATA"


def shared_datasets_path() -> Path:
    """``$GRAPHEMB_SHARED_DATASETS``, else ``../shared/datasets`` next to the checkout."""
    return Path(os.environ.get("GRAPHEMB_SHARED_DATASETS", str(_SHARED)))


def data_required() -> bool:
    """Whether ``GRAPHEMB_REQUIRE_DATA`` asks for missing real data to be an error."""
    return os.environ.get(REQUIRE_DATA_ENV, "").strip().lower() not in ("", "0", "false", "no")


def require_data(path: os.PathLike | str) -> Path:
    """Return ``path`` when it is a folder; otherwise skip the calling test, or fail it when
    ``GRAPHEMB_REQUIRE_DATA=1``."""
    path = Path(path)
    if path.is_dir():
        return path
    if data_required():
        pytest.fail(f"real data folder {path} is missing and {REQUIRE_DATA_ENV}=1: provide the data "
                    f"(GRAPHEMB_SHARED_DATASETS) instead of skipping", pytrace=False)
    pytest.skip(f"real data folder {path} not found (set {REQUIRE_DATA_ENV}=1 to make this an error)")


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` (read-only); see :func:`require_data` when it is absent."""
    return require_data(shared_datasets_path())


@pytest.fixture(scope="session")
def graphs_root(shared_datasets: Path) -> Path:
    return require_data(shared_datasets / "graphs")


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private writable cache so tests never write to the user's cache or to shared/."""
    d = tmp_path / "cache"
    monkeypatch.setenv("GRAPHEMB_CACHE", str(d))
    return d
