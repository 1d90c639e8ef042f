"""graphemb index / search: exact cosine search (numpy) and approximate backends when installed."""
from __future__ import annotations

import json

import networkx as nx
import numpy as np
import pytest

from graphemb.cli.main import main
from graphemb.index import build_index, exact_search, load_index, normalize, recall_at_k


def test_exact_search_hand_computed_with_ties_and_self_exclusion():
    v = normalize(np.array([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32))
    rows, scores = exact_search(v, v[[0]], k=3)
    # row 1 ties row 0 (cos 1): lower row first; then row 3 (cos 0.7071), then row 2 (0)
    assert rows.tolist() == [[0, 1, 3]]
    np.testing.assert_allclose(scores, [[1, 1, 2 ** -0.5]], atol=1e-6)
    rows, _ = exact_search(v, v[[0]], k=3, exclude=np.array([0]))
    assert rows.tolist() == [[1, 3, 2]]


def test_exact_search_equals_brute_force_recall_1():
    rng = np.random.default_rng(0)
    v = normalize(rng.normal(size=(300, 16)))
    q = normalize(rng.normal(size=(50, 16)))
    rows, _ = exact_search(v, q, k=10)
    brute = np.argsort(-(q @ v.T), axis=1, kind="stable")[:, :10]
    assert recall_at_k(rows, brute) == 1.0
    assert recall_at_k(np.array([[0, 1]]), np.array([[1, 2]])) == 0.5


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from graphemb import Embedder

    d = tmp_path_factory.mktemp("idx") / "run"
    G = nx.relabel_nodes(nx.karate_club_graph(), {i: f"m{i}" for i in range(34)})
    Embedder("gae", epochs=3, hidden_channels=8).fit(G).save(d)
    return d


def test_index_and_search_by_id_and_vector(run, tmp_path, capsys):
    out = tmp_path / "index"
    assert main(["index", str(run), "--out", str(out), "--backend", "numpy", "-q"]) == 0
    index = load_index(out)
    assert index.ids[:2] == ["m0", "m1"] and index.vectors.shape == (34, 16)
    emb = normalize(np.load(run / "embeddings.npz")["embeddings"])
    expect = [f"m{i}" for i in np.argsort(-(emb[5] @ emb.T), kind="stable") if i != 5][:4]
    assert main(["search", str(out), "--id", "m5", "-k", "4", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [h["id"] for h in rec["hits"]] == expect
    np.testing.assert_allclose([h["score"] for h in rec["hits"]], np.sort(emb[5] @ emb.T)[::-1][1:5], atol=1e-5)
    np.save(tmp_path / "q.npy", emb[7] * 3.0)  # scale does not matter for cosine
    assert main(["search", str(out), "--vector", str(tmp_path / "q.npy"), "-k", "1", "--json"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["hits"][0]["id"] == "m7"


def test_search_errors(run, tmp_path, capsys):
    out = tmp_path / "index"
    build_index(run, out, backend="numpy")
    assert main(["search", str(out), "--id", "nobody"]) == 2  # an unknown id is a usage error
    assert "nobody" in capsys.readouterr().err
    assert main(["search", str(out)]) == 2
    assert main(["search", str(tmp_path / "nothing"), "--id", "m1"]) == 1


@pytest.mark.parametrize("backend", ["faiss", "usearch"])
def test_approximate_backend_recall_is_reported(backend, run, tmp_path):
    pytest.importorskip(backend)
    meta = build_index(run, tmp_path / backend, backend=backend)
    assert meta["backend"] == backend and 0.5 < meta["recall@10"] <= 1.0
    exact = load_index(tmp_path / backend).search(node_id="m3", k=5, backend="numpy")
    approx = load_index(tmp_path / backend).search(node_id="m3", k=5)
    assert len(approx) == 5 and "m3" not in [h["id"] for h in approx]
    assert len({h["id"] for h in exact} & {h["id"] for h in approx}) >= 3
