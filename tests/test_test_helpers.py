"""The test suite's own safety nets: real-data tests cannot silently skip in CI."""
from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REQUIRE_DATA_ENV, require_data


def test_missing_data_fails_when_required(tmp_path, monkeypatch):
    missing = tmp_path / "no-such-datasets"
    monkeypatch.setenv(REQUIRE_DATA_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="no-such-datasets.*GRAPHEMB_REQUIRE_DATA=1"):
        require_data(missing)


@pytest.mark.parametrize("value", [None, "0", ""])
def test_missing_data_skips_when_not_required(tmp_path, monkeypatch, value):
    if value is None:
        monkeypatch.delenv(REQUIRE_DATA_ENV, raising=False)
    else:
        monkeypatch.setenv(REQUIRE_DATA_ENV, value)
    with pytest.raises(pytest.skip.Exception, match="not found"):
        require_data(tmp_path / "absent")


def test_present_data_is_returned(tmp_path, monkeypatch):
    monkeypatch.setenv(REQUIRE_DATA_ENV, "1")
    assert require_data(str(tmp_path)) == tmp_path


def test_a_data_file_is_not_a_data_folder(tmp_path, monkeypatch):
    f = tmp_path / "graphs"
    f.write_text("not a folder")
    monkeypatch.setenv(REQUIRE_DATA_ENV, "1")
    with pytest.raises(pytest.fail.Exception):
        require_data(f)


def test_ci_requires_its_real_data():
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert f"export {REQUIRE_DATA_ENV}=1" in ci
    # set before the test command runs
    assert ci.index(f"export {REQUIRE_DATA_ENV}=1") < ci.index("python -m pytest")
