"""Real text-attributed graphs from ``../shared/datasets/mag`` (issue 12 §3): CiteSeer-TAG and the
WebKB graph Cornell load with the counts their PROVENANCE.md states, and a short end-to-end
``graphemb mag train`` with TF-IDF features beats the majority-class rate of the test nodes.

The expected counts are copied from ``mag/CiteSeer-TAG/PROVENANCE.md`` and
``mag/WebKB/PROVENANCE.md``: the loader reads edges as undirected and drops self-loops, so the
graph holds the "undirected pairs without self-loops" of those files, twice (both directions).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import require_data
from graphemb.multimodal.data import load_mag


@pytest.fixture(scope="module")
def mag_root(shared_datasets):
    return require_data(shared_datasets / "mag")


def _majority_test_rate(graph, seed: int) -> float:
    """Accuracy of always predicting the most frequent training class, on the test nodes of the
    60/20/20 split ``mag train`` uses for ``seed``."""
    from graphemb.multimodal.tasks import node_split

    tr, _, te = node_split(graph, seed)
    majority = int(torch.bincount(graph.y[tr]).argmax())
    return float((graph.y[te] == majority).float().mean())


def test_citeseer_tag_counts(mag_root):
    g = load_mag(str(require_data(mag_root / "CiteSeer-TAG")))
    assert g.num_nodes == 3186 and g.num_classes == 6
    # 4,397 directed citation lines, 120 self-loops -> 4,225 undirected pairs without self-loops
    assert g.edge_index.size(1) == 2 * 4225
    assert not (g.edge_index[0] == g.edge_index[1]).any()
    # Agents 562, AI 239, DB 685, IR 641, ML 569, HCI 490 (labels.csv order)
    assert torch.bincount(g.y).tolist() == [562, 239, 685, 641, 569, 490]
    assert all(isinstance(t, str) and len(t) >= 32 for t in g.text)  # no empty text (32..2,372 chars)
    assert g.text[1].startswith("Decomposition in Data Mining: An Industrial Case Study")


def test_webkb_cornell_counts_and_heterophily(mag_root):
    g = load_mag(str(require_data(mag_root / "WebKB" / "Cornell")))
    assert g.num_nodes == 191 and g.num_classes == 5
    assert g.edge_index.size(1) == 2 * 274  # 293 directed lines, 1 self-loop, 274 undirected pairs
    assert torch.bincount(g.y).tolist() == [83, 17, 42, 17, 32]  # student, project, course, staff, faculty
    assert g.text[0].startswith("Patty Hough")
    ei = g.edge_index
    homophily = float((g.y[ei[0]] == g.y[ei[1]]).float().mean())
    assert homophily < 0.3  # heterophilous: most links join pages of different classes


# CiteSeer-TAG takes ~15 s (the bigram TF-IDF fit over 3,186 abstracts), hence slow; Cornell ~3 s.
@pytest.mark.parametrize("folder,model", [pytest.param("CiteSeer-TAG", "gcn", marks=pytest.mark.slow),
                                          ("WebKB/Cornell", "mlp")])
def test_mag_train_tfidf_beats_majority_class(mag_root, cache_dir, capsys, monkeypatch, folder, model):
    """``graphemb mag train DATASET --features text:tfidf:64`` end to end (fit TF-IDF on the
    graph's texts, cache, train, evaluate) on one seed; the test accuracy must clear the
    majority-class rate of the same test nodes by a margin, and a second run is served from
    the feature cache (the same vectors, so the same accuracy) without fitting TF-IDF again."""
    from graphemb.cli.main import main
    from graphemb.multimodal.encoders.tfidf import TfidfEncoder

    fits = []
    real_fit = TfidfEncoder._fit
    monkeypatch.setattr(TfidfEncoder, "_fit", lambda self, texts: fits.append(len(texts)) or real_fit(self, texts))

    path = str(require_data(mag_root / folder))
    g = load_mag(path)
    chance = _majority_test_rate(g, seed=0)
    argv = ["mag", "train", path, "--features", "text:tfidf:64", "--model", model, "--seeds", "1",
            "--epochs", "40", "--json", "-q"]
    assert main(argv) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    acc = rec["values"][0]
    assert acc > chance + 0.15, (folder, acc, chance)
    chunks = sorted(cache_dir.rglob("chunk-*.npz"))
    assert chunks and fits == [g.num_nodes]
    assert main(argv) == 0
    again = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert sorted(cache_dir.rglob("chunk-*.npz")) == chunks and fits == [g.num_nodes]  # no re-encoding, no refit
    assert np.isclose(again["values"][0], acc)


def test_interrupted_encoding_of_a_real_graph_resumes(mag_root, cache_dir):
    """Encode Cornell's 191 page texts in chunks of 64, interrupted after the first chunk: the
    rerun encodes only the 127 nodes not yet cached, and the result equals an uninterrupted
    encoding into another cache."""
    from graphemb.multimodal.encoders.cache import encode_graph, graph_items
    from graphemb.multimodal.encoders.tfidf import TfidfEncoder

    g = load_mag(str(require_data(mag_root / "WebKB" / "Cornell")))
    enc = TfidfEncoder(32).fit(graph_items(g, "text"))
    calls = []
    real = enc.encode

    def interrupted(items, **kw):
        if calls:
            raise KeyboardInterrupt
        calls.append(len(items))
        return real(items, **kw)

    enc.encode = interrupted
    with pytest.raises(KeyboardInterrupt):
        encode_graph(g, "text", enc, chunk_size=64, show_progress=False)
    assert calls == [64]
    enc.encode = lambda items, **kw: calls.append(len(items)) or real(items, **kw)
    key = encode_graph(g, "text", enc, chunk_size=64, show_progress=False)
    assert calls == [64, 64, 63]  # 191 - 64 = 127 nodes left, in two chunks
    fresh = load_mag(str(mag_root / "WebKB" / "Cornell"))
    encode_graph(fresh, "text", TfidfEncoder(32).fit(graph_items(fresh, "text")), root=cache_dir / "other",
                 show_progress=False)
    torch.testing.assert_close(g.feature(key), fresh.feature(key))
