"""Amazon / Coauthor / CitationFull raw .npz graphs (PyG layout) and the random node split."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from graphemb.api import node_masks, node_split_name, parse_split
from graphemb.config import ConfigError, build_run_config
from graphemb.data import DatasetNotFoundError, load_dataset


def _write_npz(path, n=6):
    # a path 0-1-2-3-4-5 stored one direction only, plus a self loop on 0; 3 binary features
    rows, cols = np.arange(n - 1), np.arange(1, n)
    adj = sp.csr_matrix((np.ones(n), (np.r_[rows, 0], np.r_[cols, 0])), shape=(n, n))
    attr = sp.csr_matrix(np.eye(n, 3) * 2.0)
    path.parent.mkdir(parents=True)
    np.savez(path, adj_data=adj.data, adj_indices=adj.indices, adj_indptr=adj.indptr, adj_shape=adj.shape,
             attr_data=attr.data, attr_indices=attr.indices, attr_indptr=attr.indptr, attr_shape=attr.shape,
             labels=np.array([0, 1, 0, 1, 2, 2]))


@pytest.mark.parametrize("name,rel", [
    ("Amazon-Photo", "Amazon/Photo/raw/amazon_electronics_photo.npz"),
    ("Coauthor-Physics", "Coauthor/Physics/raw/ms_academic_phy.npz"),
    ("DBLP", "CitationFull/dblp/raw/dblp.npz"),
])
def test_npz_graph_from_a_data_root(tmp_path, cache_dir, name, rel):
    root = tmp_path / "root"
    _write_npz(root / rel)
    ds = load_dataset(name, root=str(root), download=False)
    d = ds.data
    assert (ds.level, ds.num_classes, ds.num_features, d.num_nodes) == ("node", 3, 3, 6)
    pairs = {(int(u), int(v)) for u, v in d.edge_index.t()}
    assert pairs == {(i, i + 1) for i in range(5)} | {(i + 1, i) for i in range(5)}  # undirected, no loop
    assert torch.equal(d.x[:3], torch.eye(3))  # binarised features
    assert getattr(d, "train_mask", None) is None  # no public split
    assert not any(p.is_relative_to(root) for p in cache_dir.rglob("*") if p.is_file())  # nothing written to root


def test_npz_graph_missing_names_the_paths(tmp_path, cache_dir):
    with pytest.raises(DatasetNotFoundError, match="Amazon/Computers/raw"):
        load_dataset("Amazon-Computers", root=str(tmp_path), download=False)


def test_random_node_split_per_seed(tmp_path, cache_dir):
    root = tmp_path / "root"
    _write_npz(root / "Coauthor/CS/raw/ms_academic_cs.npz")
    ds = load_dataset("Coauthor-CS", root=str(root), download=False)
    cfg = build_run_config("dgi", dataset="Coauthor-CS", task="node")
    assert node_split_name(cfg, ds) == "random 1:1:8 per seed"
    big = type(ds)(name="x", level="node", num_features=1, num_classes=2,
                   data=type(ds.data)(x=torch.zeros(100, 1), y=torch.zeros(100, dtype=torch.long)))
    tr, va, te = node_masks(cfg, big, seed=0)
    assert (int(tr.sum()), int(va.sum()), int(te.sum())) == (10, 10, 80)
    assert not (tr & va).any() and not (tr & te).any() and not (va & te).any()
    tr1, _, _ = node_masks(cfg, big, seed=1)
    assert not torch.equal(tr, tr1)  # a new split per seed
    assert torch.equal(tr, node_masks(cfg, big, seed=0)[0])  # and reproducible
    cfg2 = build_run_config("dgi", dataset="Coauthor-CS", task="node", overrides=["task.split=2:1:7"])
    assert int(node_masks(cfg2, big, seed=0)[0].sum()) == 20


def test_parse_split():
    assert parse_split("1:1:8") == pytest.approx((0.1, 0.1, 0.8))
    with pytest.raises(ConfigError, match="train:val:test"):
        parse_split("1:1")


def test_shared_computers_cs_dblp_reddit(graphs_root, cache_dir):
    for name, n in (("Amazon-Computers", 13752), ("Coauthor-CS", 18333), ("DBLP", 17716)):
        if not (graphs_root / {"Amazon-Computers": "Amazon", "Coauthor-CS": "Coauthor", "DBLP": "CitationFull"}[name]).is_dir():
            pytest.skip(f"{name} not in shared datasets")
        assert load_dataset(name, root=str(graphs_root), download=False).data.num_nodes == n
    if (graphs_root / "REDDIT-BINARY").is_dir():
        r = load_dataset("REDDIT-BINARY", root=str(graphs_root), download=False)
        assert len(r.graphs) == 2000 and {int(g.y) for g in r.graphs} == {0, 1}  # GIN labels remapped


def test_reproduce_record_names_protocol_and_split():
    from graphemb import api

    rec = api.reproduce("dgi", "synthetic", task="node", seeds=2,
                        overrides=["train.epochs=2", "model.encoder.hidden_channels=8", "task.split=1:1:8",
                                   "data.options={num_nodes: 60}"])
    assert rec["protocol"] == "linear" and rec["split"] == "random 1:1:8 per seed"
    assert len(rec["values"]) == 2
