"""Raw dataset files: safe unpickling, content-hash caches, and errors naming the broken file."""
from __future__ import annotations

import os
import pickle
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphemb.data import load_dataset
from graphemb.data.planetoid import read_planetoid_raw
from graphemb.utils.io import DataFileError, UnsafePickleError

# ----------------------------------------------------------------------------- Planetoid

# A 6-node "Cora": training nodes 0, 1 (x/y), allx/ally rows 0..3, test nodes listed as 5, 4.
_ALLX = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], np.float32)
_TX = np.array([[0, 1, 1], [1, 0, 1]], np.float32)  # rows for test.index lines "5", "4"
_ALLY = np.array([[1, 0], [0, 1], [1, 0], [0, 1]])
_TY = np.array([[0, 1], [1, 0]])
_GRAPH = defaultdict(list, {0: [1], 1: [0, 2], 2: [1, 3], 3: [2], 4: [5], 5: [4, 5]})  # 5-5 self loop


def _dump(path: Path, obj) -> None:
    path.write_bytes(pickle.dumps(obj, protocol=2))


def _tiny_cora(root: Path) -> Path:
    raw = root / "Cora" / "raw"
    raw.mkdir(parents=True)
    _dump(raw / "ind.cora.x", sp.csr_matrix(_ALLX[:2]))
    _dump(raw / "ind.cora.y", _ALLY[:2])
    _dump(raw / "ind.cora.allx", sp.csr_matrix(_ALLX))
    _dump(raw / "ind.cora.ally", _ALLY)
    _dump(raw / "ind.cora.tx", sp.csr_matrix(_TX))
    _dump(raw / "ind.cora.ty", _TY)
    _dump(raw / "ind.cora.graph", _GRAPH)
    (raw / "ind.cora.test.index").write_text("5\n4\n")
    return raw


def test_tiny_planetoid_assembled_as_pyg(tmp_path):
    raw = _tiny_cora(tmp_path / "root")
    ds = load_dataset("Cora", tmp_path / "root", cache=tmp_path / "cache", download=False)
    d = ds.data
    # test.index line k names the node of tx row k: node 5 <- tx[0], node 4 <- tx[1]
    expect_x = np.concatenate([_ALLX, _TX[[1, 0]]])
    assert torch.equal(d.x, torch.from_numpy(expect_x))
    assert d.y.tolist() == [0, 1, 0, 1, 0, 1]
    assert d.train_mask.tolist() == [True, True, False, False, False, False]
    assert d.val_mask.tolist() == [False, False, True, True, True, True]  # 500 after the training rows
    assert d.test_mask.tolist() == [False, False, False, False, True, True]
    assert sorted(map(tuple, d.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1), (2, 3), (3, 2),
                                                          (4, 5), (5, 4)]  # self loop dropped
    direct = read_planetoid_raw(raw, "Cora")
    assert torch.equal(direct["x"], d.x)


def test_planetoid_cache_sees_same_size_same_mtime_edit(tmp_path):
    raw = _tiny_cora(tmp_path / "root")
    cache = tmp_path / "cache"
    before = load_dataset("Cora", tmp_path / "root", cache=cache, download=False).data
    f = raw / "ind.cora.test.index"
    st = f.stat()
    f.write_text("4\n5\n")  # same size: tx row 0 now belongs to node 4
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = load_dataset("Cora", tmp_path / "root", cache=cache, download=False).data
    assert torch.equal(after.x[4], torch.from_numpy(_TX[0])) and torch.equal(before.x[4], torch.from_numpy(_TX[1]))
    assert after.y[4] == 1 and before.y[4] == 0
    # The staged copy follows the root; a third load reuses the processed file as it is.
    assert (cache / "planetoid" / "Cora" / "raw" / "ind.cora.test.index").read_text() == "4\n5\n"
    proc = cache / "planetoid" / "Cora" / "processed"
    stamp = [(p.name, p.stat().st_mtime_ns) for p in proc.iterdir()]
    load_dataset("Cora", tmp_path / "root", cache=cache, download=False)
    assert [(p.name, p.stat().st_mtime_ns) for p in proc.iterdir()] == stamp
    assert [p.name for p in proc.iterdir()] == ["graphemb_v1.pt"]  # no temp files left


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_crafted_planetoid_pickle_is_refused_and_never_runs(tmp_path):
    raw = _tiny_cora(tmp_path / "root")
    marker = tmp_path / "pwned"
    _dump(raw / "ind.cora.allx", _Exploit(marker))
    with pytest.raises(UnsafePickleError, match=r"ind\.cora\.allx: refusing to unpickle global (posix|nt|os)\.system"):
        load_dataset("Cora", tmp_path / "root", cache=tmp_path / "cache", download=False)
    assert not marker.exists()
    # Other callables smuggled through an allowed-looking container are refused as well.
    _dump(raw / "ind.cora.allx", {"k": eval})  # noqa: S307 (the object is never called)
    with pytest.raises(UnsafePickleError, match=r"global (__builtin__|builtins)\.eval"):
        read_planetoid_raw(raw, "Cora")


def test_truncated_planetoid_pickle_names_the_file(tmp_path):
    raw = _tiny_cora(tmp_path / "root")
    f = raw / "ind.cora.graph"
    f.write_bytes(f.read_bytes()[:-7])
    with pytest.raises(DataFileError, match=r"ind\.cora\.graph: truncated pickle"):
        read_planetoid_raw(raw, "Cora")


def test_planetoid_neighbour_outside_graph_is_named(tmp_path):
    raw = _tiny_cora(tmp_path / "root")
    _dump(raw / "ind.cora.graph", defaultdict(list, {0: [1], 1: [9]}))
    with pytest.raises(DataFileError, match=r"ind\.cora\.graph: neighbour lists name nodes outside \[0, 6\)"):
        read_planetoid_raw(raw, "Cora")


@pytest.mark.parametrize("name", ["Cora", "CiteSeer"])
def test_real_planetoid_safe_reader_equals_pyg(graphs_root, name):
    """The released Python 2 (latin1) pickles load through the allow-list, identical to PyG."""
    import warnings

    from torch_geometric.io.planetoid import read_planetoid_data

    raw = graphs_root / name / "raw"
    ours = read_planetoid_raw(raw, name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = read_planetoid_data(str(raw), name)
    for k in ("x", "y", "train_mask", "val_mask", "test_mask"):
        assert torch.equal(ours[k], getattr(ref, k)), k
    key = lambda ei: torch.sort(ei[0] * ei.max() + ei[0] + ei[1])[0]  # noqa: E731
    assert torch.equal(key(ours["edge_index"]), key(ref.edge_index))


# ----------------------------------------------------------------------------- TU files

def _tiny_tu(root: Path, **override: str) -> Path:
    """Two graphs: a path 1-2-3 (label 1) and an edge 4-5 (label -1); node labels 0/1."""
    files = {"A": "1, 2\n2, 1\n2, 3\n3, 2\n4, 5\n5, 4\n", "graph_indicator": "1\n1\n1\n2\n2\n",
             "graph_labels": "1\n-1\n", "node_labels": "0\n1\n0\n1\n1\n"}
    files.update(override)
    raw = root / "Toy" / "raw"
    raw.mkdir(parents=True)
    for k, v in files.items():
        (raw / f"Toy_{k}.txt").write_text(v)
    return raw


def _load_toy(tmp_path, **kw):
    return load_dataset("tu:Toy", tmp_path / "root", cache=tmp_path / "cache", download=False, **kw)


def test_tu_cache_sees_same_size_same_mtime_edit(tmp_path):
    raw = _tiny_tu(tmp_path / "root")
    before = _load_toy(tmp_path)
    assert before.graphs[0].x.argmax(1).tolist() == [0, 1, 0] and [int(g.y) for g in before.graphs] == [1, 0]
    f = raw / "Toy_node_labels.txt"
    st = f.stat()
    f.write_text("1\n0\n1\n0\n0\n")  # same size, same mtime below
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = _load_toy(tmp_path)
    assert after.graphs[0].x.argmax(1).tolist() == [1, 0, 1]
    assert after.graphs[1].x.argmax(1).tolist() == [0, 0]
    ds_dir = tmp_path / "cache" / "tu" / "Toy"
    assert not [p.name for p in ds_dir.iterdir() if p.name.startswith(".")]  # temp folders cleaned up


def test_tu_last_line_without_newline_is_kept(tmp_path):
    _tiny_tu(tmp_path / "root", graph_labels="1\n-1")  # PyG alone would drop the last label
    ds = _load_toy(tmp_path)
    assert [int(g.y) for g in ds.graphs] == [1, 0]


@pytest.mark.parametrize("override, match", [
    ({"node_labels": "0\n1\n0\n1\n"}, r"Toy_node_labels\.txt: 4 lines but 5 nodes \(Toy_graph_indicator\.txt\)"),
    ({"graph_labels": "1\n-1\n1\n"}, r"Toy_graph_labels\.txt: 3 lines but 2 graphs"),
    ({"edge_labels": "0\n0\n"}, r"Toy_edge_labels\.txt: 2 lines but 6 edges \(Toy_A\.txt\)"),
    ({"A": "1, 2\n2, 9\n"}, r"Toy_A\.txt: line 2: node id 9 outside 1\.\.5"),
    ({"A": "1, 2\n3, 4\n"}, r"Toy_A\.txt: line 2: edge 3, 4 joins graphs 1 and 2"),
    ({"A": "1, 2\n2\n"}, r"Toy_A\.txt: line 2 has a missing field"),
    ({"A": "1, 2\n2, 1, 7\n"}, r"Toy_A\.txt: inconsistent number of fields .*line 2"),
    ({"node_labels": "0\n1\n\n1\n1\n"}, r"Toy_node_labels\.txt: line 3 is empty"),
    ({"node_labels": "0\n1\nC\n1\n1\n"}, r"Toy_node_labels\.txt: line 3 has a missing or non-numeric field \('C'\)"),
    ({"graph_indicator": "1\n2\n1\n2\n2\n"}, r"Toy_graph_indicator\.txt: line 3: graph id 1 after 2"),
    ({"graph_indicator": "1\n1\n1\n3\n3\n"}, r"Toy_graph_indicator\.txt: graph 2 has no node"),
])
def test_inconsistent_tu_files_name_file_and_line(tmp_path, override, match):
    _tiny_tu(tmp_path / "root", **override)
    with pytest.raises(DataFileError, match=match):
        _load_toy(tmp_path)


def test_gin_cache_sees_same_size_edit(tmp_path):
    gin = tmp_path / "root" / "Toy" / "gin_format"
    gin.mkdir(parents=True)
    f = gin / "Toy.txt"
    f.write_text("2\n2 0\n0 1 1\n1 1 0\n1 1\n0 0\n")
    assert [int(g.y) for g in _load_toy(tmp_path, format="gin").graphs] == [0, 1]
    st = f.stat()
    f.write_text("2\n2 1\n0 1 1\n1 1 0\n1 0\n0 0\n")  # labels swapped, same size and mtime
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert [int(g.y) for g in _load_toy(tmp_path, format="gin").graphs] == [1, 0]


def test_staging_a_changed_raw_file_drops_processed_folders(tmp_path):
    from graphemb.data.paths import stage_tree

    src, dst = tmp_path / "root" / "X", tmp_path / "cache" / "X"
    (src / "raw").mkdir(parents=True)
    f = src / "raw" / "a.csv"
    f.write_text("1,2\n")
    stage_tree(src, dst, ("raw",))
    (dst / "processed").mkdir()
    (dst / "processed" / "data.pt").write_text("made from 1,2")
    stage_tree(src, dst, ("raw",))  # unchanged: processed files stay
    assert (dst / "processed" / "data.pt").exists()
    st = f.stat()
    f.write_text("2,1\n")
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    stage_tree(src, dst, ("raw",))
    assert (dst / "raw" / "a.csv").read_text() == "2,1\n"
    assert sorted(p.name for p in dst.iterdir()) == ["raw"]  # processed/ gone, no temp folder left
