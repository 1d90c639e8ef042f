"""MultimodalGraph id alignment, the plain and MAGB layouts, bad-input policies, the synthetic MAG,
and the encoder cache (call counting, resume)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from graphemb.multimodal.data import MultimodalGraph, load_mag, load_magb, load_plain, save_plain
from graphemb.multimodal.encoders.cache import encode_graph, encode_nodes
from graphemb.multimodal.encoders.image import PixelEncoder
from graphemb.multimodal.synthetic import make_synthetic_mag, parse_synthetic_spec


def _graph():
    # ids deliberately not 0..N-1 and not sorted
    return MultimodalGraph(node_ids=np.array([30, 10, 20]), edge_index=torch.tensor([[0, 1, 1], [1, 2, 1]]),
                           y=torch.tensor([0, 1, 1]), text=["a", "b", None], name="tiny")


def test_edges_cleaned_and_features_keyed_by_id():
    g = _graph()
    # symmetric, no self loop (1,1), no duplicates
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (1, 0), (1, 2), (2, 1)]
    fs = g.add_features("f", [20, 30, 10], np.array([[2.0], [3.0], [1.0]]))  # rows in another order
    assert fs.x.view(-1).tolist() == [3.0, 1.0, 2.0] and fs.mask.all()
    with pytest.raises(ValueError, match="not nodes"):
        g.add_features("g", [10, 20, 99], np.ones((3, 2)))
    with pytest.raises(ValueError, match="2 rows but 3 ids"):
        g.add_features("g", [10, 20, 30], np.ones((2, 2)))
    with pytest.raises(ValueError, match="no row for 1 nodes"):
        g.add_features("g", [10, 20], np.ones((2, 2)))
    fs = g.add_features("g", [10, 20], np.ones((2, 2)), missing="mask")
    assert fs.mask.tolist() == [False, True, True] and fs.x[0].abs().sum() == 0
    bad = np.array([[1.0, np.nan], [1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(ValueError, match="NaN"):
        g.add_features("h", [30, 10, 20], bad)
    fs = g.add_features("h", [30, 10, 20], bad, nan="mask")
    assert fs.mask.tolist() == [False, True, True] and fs.x[0].tolist() == [0.0, 0.0]
    with pytest.raises(ValueError, match="duplicate node ids"):
        MultimodalGraph(node_ids=[1, 1], edge_index=torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="text rows"):
        g.set_text([10, 77], ["x", "y"])


def test_plain_layout_roundtrip_and_bad_input(tmp_path):
    from PIL import Image

    root = tmp_path / "toy"
    (root / "images").mkdir(parents=True)
    pd.DataFrame({"id": ["u", "v", "w"], "text": ["red shoe", "blue hat", None],
                  "label": ["shoe", "hat", "hat"]}).to_csv(root / "nodes.csv", index=False)
    pd.DataFrame({"src": ["u", "v"], "dst": ["v", "w"]}).to_csv(root / "edges.csv", index=False)
    for i, c in (("u", (255, 0, 0)), ("v", (0, 0, 255))):
        Image.new("RGB", (4, 4), c).save(root / "images" / f"{i}.png")
    with pytest.raises(FileNotFoundError, match="1 of 3 nodes have no image.*'w'"):
        load_plain(root)
    g = load_plain(root, missing_images="mask")
    assert g.label_names == ["hat", "shoe"] and g.y.tolist() == [1, 0, 0]
    assert g.image_paths[2] is None and g.image_paths[0].endswith("u.png")
    assert g.edge_index.size(1) == 4
    key = encode_graph(g, "image", PixelEncoder(1), use_cache=False)
    fs = g.features[key]
    assert fs.mask.tolist() == [True, True, False]
    assert torch.allclose(fs.x, torch.tensor([[1.0, 0, 0], [0, 0, 1.0], [0, 0, 0]]))
    out = save_plain(g, tmp_path / "copy")
    g2 = load_plain(out, missing_images="mask")
    assert torch.equal(g2.features[key].x, fs.x) and g2.features[key].mask.tolist() == [True, True, False]
    pd.DataFrame({"src": ["u"], "dst": ["zz"]}).to_csv(root / "edges.csv", index=False)
    with pytest.raises(ValueError, match="edge targets are not nodes"):
        load_plain(root, missing_images="mask")


def test_magb_layout_csv_neighbours_and_npy(tmp_path, monkeypatch):
    root = tmp_path / "Toys"
    root.mkdir()
    pd.DataFrame({"id": [0, 1, 2, 3], "text": ["a", "b", "c", "d"], "label": [0, 0, 1, 1],
                  "neighbors": ["[1, 2]", "[0]", "[]", "[2]"]}).to_csv(root / "Toys.csv", index=False)
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    np.save(root / "Toys_MiniLM_256_mean.npy", x)
    monkeypatch.setenv("GRAPHEMB_DATA", str(tmp_path))
    g = load_mag("Toys")
    assert g.num_nodes == 4 and g.image_paths is None
    assert sorted(map(tuple, g.edge_index.t().tolist())) == [(0, 1), (0, 2), (1, 0), (2, 0), (2, 3), (3, 2)]
    assert torch.equal(g.feature("MiniLM_256_mean"), torch.from_numpy(x))
    np.save(root / "Toys_MiniLM_256_mean.npy", x[:3])  # one row short: must not shift
    with pytest.raises(ValueError, match="3 rows but .* 4 nodes"):
        load_magb(root)
    np.save(root / "Toys_MiniLM_256_mean.npy", x)
    (root / "ToysImages").mkdir()
    with pytest.raises(FileNotFoundError, match="4 of 4 nodes have no image"):
        load_magb(root)
    with pytest.raises(FileNotFoundError, match="set GRAPHEMB_DATA"):
        load_mag("NoSuchSet")


def test_synthetic_mag_structure():
    g = make_synthetic_mag(num_nodes=120, homophily=0.8, seed=3)
    g2 = make_synthetic_mag(num_nodes=120, homophily=0.8, seed=3)
    assert g.text == g2.text and torch.equal(g.edge_index, g2.edge_index)
    assert g.num_classes == 6 and len(g.images) == 120 and g.images[0].size == (32, 32)
    ei = g.edge_index
    homophily = (g.y[ei[0]] == g.y[ei[1]]).float().mean().item()
    assert homophily > 0.7  # 1/6 for a random graph
    assert g.name == "synthetic-mag-num_nodes=120-homophily=0.8-seed=3"
    assert parse_synthetic_spec("synthetic-mag:n=50,seed=2") == {"num_nodes": 50, "seed": 2}
    with pytest.raises(ValueError, match="bad synthetic-mag option"):
        parse_synthetic_spec("synthetic-mag:bogus=1")


class _Counting:
    """A real (deterministic) encoder that counts the items it is asked to embed."""

    name, dim, modality, max_length, pooling = "count", 2, "text", 8, "mean"

    def __init__(self, fail_after: int | None = None):
        self.calls = 0
        self.fail_after = fail_after

    def encode(self, items, batch_size=64, show_progress=None):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += len(items)
        return np.array([[len(s), s.count("a")] for s in items], dtype=np.float32)


def test_cache_second_run_free_and_resume(cache_dir):
    ids = np.array([5, 6, 7, 8, 9])
    items = ["a", "bb", "aaa", None, "ca"]
    enc = _Counting(fail_after=2)
    with pytest.raises(KeyboardInterrupt):  # interrupted after the first chunk of 2
        encode_nodes("ds", "text", enc, ids, items, chunk_size=2)
    assert enc.calls == 2
    enc.fail_after = None
    x, mask = encode_nodes("ds", "text", enc, ids, items, chunk_size=2)
    assert enc.calls == 2 + 2  # resumed: "aaa" and "ca" only (None is never encoded)
    assert x.tolist() == [[1, 1], [2, 0], [3, 3], [0, 0], [2, 1]] and mask.tolist() == [1, 1, 1, 0, 1]
    # another order and a subset: served by id from the cache, no call
    x2, _ = encode_nodes("ds", "text", enc, ids[::-1], items[::-1], chunk_size=2)
    assert enc.calls == 4 and np.array_equal(x2, x[::-1])
    # same id, changed content: only that node is re-encoded
    items2 = ["a", "bb", "aaaa", None, "ca"]
    x3, _ = encode_nodes("ds", "text", enc, ids, items2, chunk_size=2)
    assert enc.calls == 5 and x3[2].tolist() == [4, 4] and np.array_equal(x3[[0, 1, 4]], x[[0, 1, 4]])
    enc.calls = 4
    # a different key (max length) is a different cache
    enc.max_length = 16
    encode_nodes("ds", "text", enc, ids, items)
    assert enc.calls == 8
