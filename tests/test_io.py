"""Shared file IO: atomic writes, content digests, readers whose errors name the file."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest

from graphemb.utils.io import (DataFileError, atomic_path, atomic_write, file_digest, load_npz, read_json,
                               temp_name, write_json)


def test_temp_name_is_per_process_hidden_sibling_keeping_suffix(tmp_path):
    a, b = temp_name(tmp_path / "x.npz"), temp_name(tmp_path / "x.npz")
    assert a != b  # random part: two writers in one process never share a temp file
    assert a.parent == tmp_path and a.name.startswith(".x.npz.") and a.suffix == ".npz"
    assert f".{os.getpid()}-" in a.name


def test_atomic_write_replaces_only_on_success(tmp_path):
    p = tmp_path / "sub" / "m.json"
    write_json(p, {"a": 1})
    assert json.loads(p.read_text()) == {"a": 1}
    with pytest.raises(RuntimeError):
        with atomic_write(p, "w") as f:
            f.write('{"a": 2')  # half a file, then a crash
            raise RuntimeError("interrupted")
    assert json.loads(p.read_text()) == {"a": 1}  # the old file is intact
    assert sorted(x.name for x in p.parent.iterdir()) == ["m.json"]  # no temp file left behind


def test_atomic_path_with_numpy_savez_writes_the_target_name(tmp_path):
    p = tmp_path / "e.npz"
    with atomic_write(p) as f:
        np.savez(f, x=np.arange(3))
    with atomic_path(tmp_path / "f.npz") as tmp:
        np.savez(tmp, x=np.arange(4))
    assert sorted(x.name for x in tmp_path.iterdir()) == ["e.npz", "f.npz"]
    assert load_npz(p)["x"].tolist() == [0, 1, 2]
    assert load_npz(tmp_path / "f.npz", ["x"])["x"].tolist() == [0, 1, 2, 3]


def test_file_digest_sees_same_size_edits(tmp_path):
    p = tmp_path / "a.txt"
    p.write_text("1, 2\n")
    d1 = file_digest(p)
    st = p.stat()
    p.write_text("2, 1\n")
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))  # same size, same mtime
    assert file_digest(p) != d1


def test_truncated_npz_names_the_file(tmp_path):
    p = tmp_path / "embeddings.npz"
    np.savez(p, embeddings=np.ones((50, 8)), ids=np.arange(50))
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(DataFileError, match=r"embeddings\.npz: .*truncated or corrupt"):
        load_npz(p)
    q = tmp_path / "k.npz"
    np.savez(q, x=np.ones(2))
    with pytest.raises(DataFileError, match=r"k\.npz: .*lacks array\(s\) \['ids'\]"):
        load_npz(q, ["x", "ids"])


def test_truncated_and_empty_json_name_the_file(tmp_path):
    p = tmp_path / "metrics.json"
    p.write_text('{"a": {"b": 1')
    with pytest.raises(DataFileError, match=r"metrics\.json: .* is truncated"):
        read_json(p)
    p.write_text("")
    with pytest.raises(DataFileError, match=r"metrics\.json: .* is empty"):
        read_json(p)
    p.write_text("{a: 1}")
    with pytest.raises(DataFileError, match=r"not valid JSON \(line 1, column 2"):
        read_json(p)


def test_run_dir_readers_name_truncated_files(tmp_path):
    import torch

    from graphemb.training.rundir import load_embeddings, load_metrics, save_embeddings, save_metrics

    save_embeddings(tmp_path, torch.ones(40, 4), torch.arange(40), "node")
    save_metrics(tmp_path, {"loss": [1.0, 0.5], "eval": {"acc": 0.8}})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings.npz", "metrics.json"]
    f = tmp_path / "embeddings.npz"
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(DataFileError, match=r"embeddings\.npz: embeddings file is truncated"):
        load_embeddings(tmp_path)
    m = tmp_path / "metrics.json"
    m.write_text(m.read_text()[:-5])
    with pytest.raises(DataFileError, match=r"metrics\.json: metrics file is truncated"):
        load_metrics(tmp_path)


def test_matching_graph_save_is_atomic_and_load_names_truncation(tmp_path):
    from graphemb.matching.graph import Corpus, MatchingGraph, build_graph

    g = build_graph(Corpus.from_texts(["red apple", "green pear"]), Corpus.from_texts(["apple red"]))
    g.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.json", "graph.pt"]
    assert MatchingGraph.load(tmp_path).names == g.names
    j = tmp_path / "graph.json"
    j.write_text(j.read_text()[:10])
    with pytest.raises(DataFileError, match=r"graph\.json: .* is truncated"):
        MatchingGraph.load(tmp_path)
