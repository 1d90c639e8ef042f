"""Shared test setup: one torch thread (2-core CI machines thrash with two busy threads),
and the location of the read-only shared datasets."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

_SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SHARED_DATASETS = Path(os.environ.get("GRAPHEMB_SHARED_DATASETS", str(_SHARED)))


@pytest.fixture(scope="session")
def shared_datasets() -> Path:
    """``../shared/datasets`` (read-only); tests that need it skip when it is absent."""
    if not SHARED_DATASETS.is_dir():
        pytest.skip(f"shared datasets not found at {SHARED_DATASETS}")
    return SHARED_DATASETS


@pytest.fixture(scope="session")
def graphs_root(shared_datasets: Path) -> Path:
    return shared_datasets / "graphs"


@pytest.fixture()
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private writable cache so tests never write to the user's cache or to shared/."""
    d = tmp_path / "cache"
    monkeypatch.setenv("GRAPHEMB_CACHE", str(d))
    return d
