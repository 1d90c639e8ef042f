"""Data layer: lookup order, read-only roots, real datasets from ../shared, errors, OGB loading."""
from __future__ import annotations

import os
import shutil
import stat
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch_geometric.utils import is_undirected

from graphemb.data import (DatasetNotFoundError, GraphDataset, UnknownDatasetError, list_datasets,
                           load_dataset, ogb_safe_loading, validate_graph)
from graphemb.data.paths import cache_root, data_roots, locate_raw


def _listing(root: Path) -> dict:
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(root.rglob("*"))}


def _make_readonly(root: Path) -> None:
    for p in sorted(root.rglob("*"), reverse=True) + [root]:
        p.chmod(stat.S_IREAD | stat.S_IEXEC if p.is_dir() else stat.S_IREAD)


def _make_writable(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)


@pytest.fixture(scope="module")
def mod_cache(tmp_path_factory) -> Path:
    """One cache for the real-dataset tests of this module, so each dataset is processed once."""
    return tmp_path_factory.mktemp("graphemb_cache")


# ----------------------------------------------------------------------------- lookup order

def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("GRAPHEMB_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "graphemb"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_root() == Path.home() / ".cache" / "graphemb"
    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path / "c"))
    assert cache_root() == tmp_path / "c"
    assert cache_root(tmp_path / "arg") == tmp_path / "arg"


def test_data_roots_explicit_root_beats_env(monkeypatch, tmp_path):
    monkeypatch.setenv("GRAPHEMB_DATA", os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")]))
    assert data_roots() == [tmp_path / "a", tmp_path / "b"]
    assert data_roots(tmp_path / "x") == [tmp_path / "x"]


def _fake_raw(base: Path, content: str) -> None:
    (base / "Toy" / "raw").mkdir(parents=True)
    (base / "Toy" / "raw" / "Toy_A.txt").write_text(content)


def test_locate_raw_order_root_env_cache(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    _fake_raw(tmp_path / "root", "from-root")
    _fake_raw(tmp_path / "env", "from-env")
    monkeypatch.setenv("GRAPHEMB_DATA", str(tmp_path / "env"))
    staged = cache / "tu" / "Toy" / "raw" / "Toy_A.txt"

    hit, _ = locate_raw("Toy", "tu", ["Toy_A.txt"], root=tmp_path / "root", cache=cache)
    assert hit == cache / "tu" and staged.read_text() == "from-root"
    shutil.rmtree(cache)
    # From $GRAPHEMB_DATA; the folder matches case-insensitively and is staged under the asked name.
    hit, _ = locate_raw("toy", "tu", ["Toy_A.txt"], cache=cache)
    assert (cache / "tu" / "toy" / "raw" / "Toy_A.txt").read_text() == "from-env"
    shutil.rmtree(cache)
    hit, _ = locate_raw("Toy", "tu", ["Toy_A.txt"], cache=cache)
    assert staged.read_text() == "from-env"
    # Nothing under the roots: the cache copy is used as is.
    monkeypatch.setenv("GRAPHEMB_DATA", str(tmp_path / "empty"))
    staged.write_text("cached")
    hit, tried = locate_raw("Toy", "tu", ["Toy_A.txt"], cache=cache)
    assert hit == cache / "tu" and staged.read_text() == "cached"
    assert tried == [tmp_path / "empty" / "Toy" / "raw", cache / "tu" / "Toy" / "raw"]
    shutil.rmtree(cache)
    hit, tried = locate_raw("Toy", "tu", ["Toy_A.txt"], cache=cache)
    assert hit is None and len(tried) == 2


def test_readonly_root_is_never_written(graphs_root, tmp_path, monkeypatch):
    root = tmp_path / "ro"
    shutil.copytree(graphs_root / "Cora", root / "Cora")
    _make_readonly(root)
    before = _listing(root)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GRAPHEMB_DATA", str(root))  # found through the variable, not an argument
    try:
        ds = load_dataset("cora", cache=cache)
        after = _listing(root)
    finally:
        _make_writable(root)
    assert after == before
    assert ds.data.num_nodes == 2708
    processed = list((cache / "planetoid" / "Cora" / "processed").glob("*.pt"))
    assert processed, "processed files must be written to the cache"
    for f in (cache / "planetoid" / "Cora" / "raw").iterdir():
        assert f.stat().st_mode & stat.S_IWUSR, "cached raw copies must be writable"


# ----------------------------------------------------------------------------- real datasets

def test_cora_public_split(graphs_root, mod_cache):
    ds = load_dataset("Cora", graphs_root, cache=mod_cache)
    d = ds.data
    assert isinstance(ds, GraphDataset) and ds.level == "node" and ds.source == "planetoid"
    assert d.num_nodes == 2708 and d.edge_index.size(1) == 10556
    assert ds.num_features == 1433 and ds.num_classes == 7 and d.x.dtype == torch.float32
    assert (int(d.train_mask.sum()), int(d.val_mask.sum()), int(d.test_mask.sum())) == (140, 500, 1000)
    assert not bool((d.train_mask & d.test_mask).any())
    assert bool((d.edge_index[0] != d.edge_index[1]).all())
    assert is_undirected(d.edge_index, num_nodes=d.num_nodes)
    assert torch.equal(d.node_id, torch.arange(2708))
    rep = validate_graph(d, "Cora")
    assert rep.num_isolated == 0 and rep.num_self_loops == 0
    deg = load_dataset("Cora", graphs_root, cache=mod_cache, features="degree", degree_cap=4)
    assert deg.num_features == 4 and deg.feature_note.startswith("degree one-hot")
    with pytest.raises(TypeError, match="unexpected options for Cora"):
        load_dataset("Cora", graphs_root, cache=mod_cache, use_node_attr=True)
    # normalize=True: PyG NormalizeFeatures, each bag-of-words row divided by its word count
    norm = load_dataset("Cora", graphs_root, cache=mod_cache, normalize=True)
    counts = d.x.sum(1, keepdim=True)
    assert torch.allclose(norm.data.x, d.x / counts) and "sum 1" in norm.feature_note
    assert torch.equal(norm.data.x > 0, d.x > 0) and torch.equal(norm.data.y, d.y)


def test_mutag_graph_level(graphs_root, mod_cache):
    ds = load_dataset("MUTAG", graphs_root, cache=mod_cache)
    assert ds.level == "graph" and len(ds.graphs) == 188
    assert ds.num_features == 7 and ds.num_classes == 2 and ds.feature_note.startswith("node-label one-hot")
    ys = torch.cat([g.y for g in ds.graphs])
    assert all(g.y.shape == (1,) for g in ds.graphs)
    assert torch.bincount(ys).tolist() == [63, 125]  # raw file: 63 x "-1", 125 x "1"
    assert [int(g.graph_id) for g in ds.graphs[:3]] == [0, 1, 2]
    g0 = ds.graphs[0]
    assert g0.x.dtype == torch.float32 and torch.equal(g0.x.sum(1), torch.ones(g0.num_nodes))
    assert is_undirected(g0.edge_index, num_nodes=g0.num_nodes)
    # MUTAG's GIN file lists graphs in another order, so its fold indices must not be attached.
    assert ds.folds is None
    assert len(load_dataset("tu:MUTAG", graphs_root, cache=mod_cache).graphs) == 188


def test_imdb_binary_degree_features(graphs_root, mod_cache):
    ds = load_dataset("IMDB-BINARY", graphs_root, cache=mod_cache)
    assert len(ds.graphs) == 1000 and ds.num_classes == 2
    assert ds.num_features == 64 and "degree one-hot" in ds.feature_note  # max degree 135 > cap 64
    for g in ds.graphs[:20]:
        deg = torch.bincount(g.edge_index[0], minlength=g.num_nodes)
        assert torch.equal(g.x.argmax(1), deg.clamp(max=63))
        assert torch.equal(g.x.sum(1), torch.ones(g.num_nodes))
    assert ds.folds is not None and len(ds.folds) == 10
    assert sum(te.numel() for _, te in ds.folds) == 1000
    const = load_dataset("IMDB-BINARY", graphs_root, cache=mod_cache, features="constant")
    assert const.num_features == 1 and torch.equal(const.graphs[3].x, torch.ones(const.graphs[3].num_nodes, 1))


def test_ptc_mr_from_gin_format(graphs_root, mod_cache):
    gin = load_dataset("PTC_MR", graphs_root, cache=mod_cache, format="gin")
    assert gin.source == "gin" and len(gin.graphs) == 344 and gin.num_classes == 2
    assert torch.bincount(torch.cat([g.y for g in gin.graphs])).tolist() == [192, 152]
    assert gin.folds is not None and len(gin.folds) == 10
    tr, te = gin.folds[0]
    assert not set(tr.tolist()) & set(te.tolist()) and int(torch.cat([tr, te]).max()) < 344
    assert "GIN node-tag one-hot" in gin.feature_note
    # The TU raw files follow the GIN order (shared README): same graph sizes, folds attached.
    tu = load_dataset("ptc_mr", graphs_root, cache=mod_cache)
    assert tu.source == "tu"
    assert [g.num_nodes for g in tu.graphs] == [g.num_nodes for g in gin.graphs]
    assert [g.edge_index.size(1) for g in tu.graphs] == [g.edge_index.size(1) for g in gin.graphs]
    assert tu.folds is not None and torch.equal(tu.folds[3][1], gin.folds[3][1])


def test_list_datasets_marks_local(graphs_root, tmp_path):
    rows = {r["name"]: r for r in list_datasets(graphs_root, cache=tmp_path / "c")}
    assert rows["Cora"]["local"] and rows["Cora"]["level"] == "node"
    assert rows["PTC_MR"]["local"] and rows["PTC_MR"]["source"] == "tu"
    assert rows["PubMed"]["local"] is False
    assert rows["synthetic"]["local"]
    assert not (tmp_path / "c").exists(), "listing must not stage anything"


# ----------------------------------------------------------------------------- errors

def test_unknown_dataset_is_clear():
    with pytest.raises(UnknownDatasetError, match="tu:<NAME>") as e:
        load_dataset("no-such-dataset")
    assert isinstance(e.value, KeyError) and "Cora" in str(e.value)
    with pytest.raises(UnknownDatasetError, match="ogbn-arxiv"):
        load_dataset("ogbn-nope")


def test_offline_not_found_names_every_path(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    cache = tmp_path / "cache"
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("Cora", empty, cache=cache, download=False)
    msg = str(e.value)
    assert isinstance(e.value, FileNotFoundError)
    assert str(empty / "Cora" / "raw") in msg and str(cache / "planetoid" / "Cora" / "raw") in msg
    assert "GRAPHEMB_DATA" in msg and "--data-root" in msg
    with pytest.raises(DatasetNotFoundError) as e:
        load_dataset("tu:NOT_THERE", empty, cache=cache, download=False)
    assert str(empty / "NOT_THERE" / "gin_format") in str(e.value)

    # Download attempted (PyG's downloader, canonical URL) but offline: caught, the half-made
    # cache folder removed.
    from torch_geometric.datasets import Planetoid

    import graphemb.data.planetoid as planetoid_mod

    def offline(url, folder):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(planetoid_mod, "download_url", offline)
    with pytest.raises(DatasetNotFoundError, match="download failed") as e:
        load_dataset("CiteSeer", empty, cache=cache, download=True)
    assert Planetoid.url in str(e.value)
    assert not (cache / "planetoid" / "CiteSeer").exists()


# ----------------------------------------------------------------------------- OGB

def _fake_ogbg(root: Path) -> Path:
    """A 2-graph ogbg-molhiv in OGB's raw layout: a path 0-1-2 (label 0) and an edge 0-1 (label 1)."""
    d = root / "ogbg_molhiv"
    (d / "raw").mkdir(parents=True)
    (d / "split" / "scaffold").mkdir(parents=True)
    (d / "RELEASE_v1.txt").write_text("")

    def w(p: str, a) -> None:
        pd.DataFrame(np.asarray(a)).to_csv(d / p, header=False, index=False, compression="gzip")

    w("raw/edge.csv.gz", [[0, 1], [1, 2], [0, 1]])
    w("raw/num-node-list.csv.gz", [3, 2])
    w("raw/num-edge-list.csv.gz", [2, 1])
    w("raw/node-feat.csv.gz", np.arange(45).reshape(5, 9))
    w("raw/edge-feat.csv.gz", np.zeros((3, 3), dtype=int))
    w("raw/graph-label.csv.gz", [[0], [1]])
    for s, idx in (("train", [0]), ("valid", [1]), ("test", [1])):
        w(f"split/scaffold/{s}.csv.gz", idx)
    return d


def test_ogb_graph_dataset_weights_only(tmp_path):
    root = tmp_path / "ogb_root"
    _fake_ogbg(root)
    before = _listing(root)
    ds = load_dataset("ogbg-molhiv", root, cache=tmp_path / "cache", download=False)
    assert _listing(root) == before
    assert ds.level == "graph" and len(ds.graphs) == 2 and ds.num_classes == 2
    g0, g1 = ds.graphs
    assert g0.edge_index.tolist() == [[0, 1, 1, 2], [1, 0, 2, 1]] and g1.edge_index.tolist() == [[0, 1], [1, 0]]
    assert g0.x.dtype == torch.float32 and g0.x[1].tolist() == list(range(9, 18))
    assert g0.y.tolist() == [0] and g1.y.tolist() == [1]
    assert ds.extra["split_idx"]["train"].tolist() == [0]
    again = load_dataset("ogbg-molhiv", root, cache=tmp_path / "cache", download=False)  # processed reload
    assert len(again.graphs) == 2


def test_ogb_safe_loading_allows_pyg_and_numpy(tmp_path):
    from torch_geometric.data import Data

    p = tmp_path / "x.pt"
    d = Data(x=torch.ones(2, 1), edge_index=torch.tensor([[0], [1]]))
    torch.save({"data": d, "edge": np.arange(4).reshape(2, 2)}, p)
    with pytest.raises(Exception):
        torch.load(p, weights_only=True)
    with ogb_safe_loading():
        out = torch.load(p, weights_only=True)
    assert out["data"].edge_index.tolist() == [[0], [1]] and out["edge"].tolist() == [[0, 1], [2, 3]]
    with pytest.raises(Exception):  # the allow-list is scoped, not global
        torch.load(p, weights_only=True)
