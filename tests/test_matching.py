"""Matching graphs (TDmatch): construction, expansion, compression, walks, ranking, loaders, CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from graphemb.matching import (Corpus, MatchingGraph, Normalizer, build_graph, compress, CompressConfig,
                               expand_with_encoder, expand_with_synonyms, gold_matrix, mutual_nearest,
                               object_scores, one_to_one, pair_prf, random_walks, ranking_metrics,
                               walk_embeddings, walk_preset)
from graphemb.matching.baselines import bm25_scores, tfidf_scores
from graphemb.matching.compress import contract_chains, keep_short_paths, prune_tokens
from graphemb.matching.datasets import load_matching, load_pair, parse_er_record, read_corpus
from graphemb.matching.graph import undirected
from graphemb.matching.walks import csr


def tiny():
    a = Corpus.from_rows([["new york", "8"], ["paris", "2"], ["rome", "3"]], ["city", "pop"])
    b = Corpus.from_texts(["The city of New York.", "Paris, 2 people", "Madrid!"])
    return a, b


# ---------------------------------------------------------------- text + construction

def test_normalizer_numbers_stopwords_punctuation():
    n = Normalizer()
    assert n.tokens("There are 1,000.0 cases in Cote d'Ivoire!") == ["1000", "cases", "cote", "d", "ivoire"]
    assert n.ngrams("new york city", 2) == ["new", "york", "city", "new_york", "york_city"]
    assert Normalizer(numbers="drop").tokens("7 cats") == ["cats"]


def test_build_exact_nodes_and_edges():
    a, b = tiny()
    g = build_graph(a, b, max_n=2)
    toks = ["new", "york", "new_york", "8", "paris", "2", "rome", "3"]
    assert g.names == ["A:0", "A:1", "A:2", "B:0", "B:1", "B:2", "COL:city", "COL:pop"] + toks
    assert g.node_type.tolist() == [0, 0, 0, 1, 1, 1, 3, 3] + [2] * 8
    expected = {("A:0", t) for t in ("new", "york", "new_york", "8")} | {("A:1", "paris"), ("A:1", "2"),
                ("A:2", "rome"), ("A:2", "3")} | {("COL:city", t) for t in ("new", "york", "new_york", "paris", "rome")} \
        | {("COL:pop", t) for t in ("8", "2", "3")} | {("B:0", t) for t in ("new", "york", "new_york")} \
        | {("B:1", "paris"), ("B:1", "2")}
    # "city", "people", "madrid" occur only in B: dropped (TDmatch); B:2 is isolated
    assert g.edge_set() == expected
    ei = g.data.edge_index
    assert ei.size(1) == 2 * len(expected) and (ei[0] != ei[1]).all()
    assert g.a_nodes.tolist() == [0, 1, 2] and g.b_nodes.tolist() == [3, 4, 5]
    nx_g = g.to_networkx()
    assert nx_g.number_of_edges() == len(expected) and nx_g.nodes[6]["type"] == "column"


def test_build_keep_b_only_tokens_and_no_columns():
    a, b = tiny()
    g = build_graph(a, b, max_n=1, column_nodes=False, b_only_tokens="keep")
    assert {"city", "people", "madrid"} <= set(g.names) and not any(n.startswith("COL:") for n in g.names)
    assert ("B:2", "madrid") in g.edge_set()


def test_save_load_roundtrip(tmp_path):
    a, b = tiny()
    g = build_graph(a, b)
    h = MatchingGraph.load(g.save(tmp_path / "g"))
    assert h.names == g.names and torch.equal(h.data.edge_index, g.data.edge_index)
    with pytest.raises(FileNotFoundError, match="match build"):
        MatchingGraph.load(tmp_path / "nothing")


# ---------------------------------------------------------------- expand

class FakeEncoder:
    """Maps words to fixed vectors: 'big' and 'large' are close, everything else orthogonal."""

    def encode(self, texts, batch_size=64, show_progress=None):
        vecs = {"big": [1.0, 0.1, 0, 0], "large": [1.0, 0.0, 0, 0]}
        out = []
        for i, t in enumerate(texts):
            v = np.zeros(4 + len(texts))
            if t in vecs:
                v[:4] = vecs[t]
            else:
                v[4 + i] = 1.0
            out.append(v)
        return np.array(out)


def test_expand_encoder_adds_exactly_the_close_pair():
    a = Corpus.from_texts(["big house", "small car"])
    b = Corpus.from_texts(["large house", "small car"])
    g = build_graph(a, b, max_n=1, b_only_tokens="keep")
    h, rep = expand_with_encoder(g, FakeEncoder(), threshold=0.9)
    assert rep.added == [("big", "large")]
    assert h.edge_set() - g.edge_set() == {("big", "large")} and h.num_edges == g.num_edges + 1
    # already-linked pairs are not re-added, and nothing is added above the threshold
    assert expand_with_encoder(h, FakeEncoder(), threshold=0.9)[1].num_added == 0
    assert expand_with_encoder(g, FakeEncoder(), threshold=0.999)[1].num_added == 0


def test_expand_synonyms_file(tmp_path):
    a = Corpus.from_texts(["usa cases"])
    b = Corpus.from_texts(["america cases"])
    g = build_graph(a, b, max_n=1, b_only_tokens="keep")
    f = tmp_path / "syn.tsv"
    f.write_text("USA\tAmerica\n# comment\nfoo,bar\n")
    h, rep = expand_with_synonyms(g, f)
    assert rep.added == [("usa", "america")] and rep.skipped == [("foo", "bar")]
    assert ("usa", "america") in h.edge_set()


# ---------------------------------------------------------------- compress

def graph_from(names, types, pairs):
    from torch_geometric.data import Data

    ta = torch.tensor(types)
    data = Data(edge_index=undirected(np.array(pairs)), node_type=ta, num_nodes=len(names))
    return MatchingGraph(data, names, (ta == 0).nonzero().view(-1), (ta == 1).nonzero().view(-1), {})


def test_prune_contract_paths_exact():
    # a0 - t (shared by a0,a1,b0)    b0 - c1 - c2 - a1 (degree-2 chain)   lone: token of a0 only
    names = ["a0", "a1", "b0", "b1", "t", "c1", "c2", "lone", "x"]
    types = [0, 0, 1, 1, 2, 2, 2, 2, 2]
    pairs = [(0, 4), (1, 4), (2, 4), (2, 5), (5, 6), (6, 1), (0, 7), (3, 8)]
    g = graph_from(names, types, pairs)
    p, n = prune_tokens(g, 2)
    assert n == 2 and "lone" not in p.names and "x" not in p.names  # b1 keeps its node, isolated
    c, k = contract_chains(p)
    assert k == 2 and c.edge_set() == {("a0", "t"), ("a1", "t"), ("b0", "t"), ("a1", "b0")}
    s, off = keep_short_paths(c, 2)
    assert off == 1 and "b1" not in s.names and s.b_nodes.tolist()[1] == -1
    full, rep = compress(g, CompressConfig(min_degree=2, contract=True, max_path=2))
    assert full.names == ["a0", "a1", "b0", "t"] and rep.steps["pruned_objects_b"] == 1
    assert rep.before["nodes"] == 9 and rep.after["nodes"] == 4


def test_keep_short_paths_drops_far_tokens():
    # a0 - t1 - b0, and a0 - t2 - t3 - t4 (dead end away from B)
    g = graph_from(["a0", "b0", "t1", "t2", "t3", "t4"], [0, 1, 2, 2, 2, 2], [(0, 2), (2, 1), (0, 3), (3, 4), (4, 5)])
    s, off = keep_short_paths(g, 2)
    assert s.names == ["a0", "b0", "t1"] and off == 3


# ---------------------------------------------------------------- walks, matching, metrics

def test_random_walks_follow_edges_and_are_seeded():
    ei = undirected(np.array([(0, 1), (1, 2), (2, 3)]))
    indptr, indices = csr(ei, 5)
    w = random_walks(indptr, indices, np.array([0, 1, 4]), walk_length=6, walks_per_node=50, seed=3)
    assert w.shape == (150, 7)
    adj = {(u, v) for u, v in ei.t().tolist()}
    steps = np.stack([w[:, :-1].ravel(), w[:, 1:].ravel()], 1)
    moving = steps[steps[:, 0] != 4]
    assert all((u, v) in adj for u, v in moving.tolist())
    assert (w[w[:, 0] == 4] == 4).all()  # isolated node stays
    assert np.array_equal(w, random_walks(indptr, indices, np.array([0, 1, 4]), 6, 50, seed=3))
    # from node 1 the first step is uniform over {0, 2}
    first = w[w[:, 0] == 1, 1]
    assert set(first.tolist()) == {0, 2}


def planted(n=6):
    rng = np.random.default_rng(0)
    words = [f"w{i}x" for i in range(200)]
    names = [f"name{i}z" for i in range(n)]
    rows = [[names[i], " ".join(rng.choice(words, 3))] for i in range(n)]
    texts = [f"{rows[i][1]} about {names[i]}" for i in reversed(range(n))]  # B in reverse order
    return Corpus.from_rows(rows, ["name", "desc"]), Corpus.from_texts(texts), [[n - 1 - i] for i in range(n)]


def test_planted_matches_are_found_by_walk_embeddings():
    a, b, gold = planted()
    g = build_graph(a, b, max_n=1, column_nodes=False)
    z = walk_embeddings(g, walk_preset("tiny", walks_per_node=30))
    assert torch.equal(z, walk_embeddings(g, walk_preset("tiny", walks_per_node=30)))  # deterministic
    s, present = object_scores(g, z, "b")
    m = ranking_metrics(s, gold_matrix(gold, len(a)), query_mask=present)
    assert m["mrr"] == 1.0 and m["hits@1"] == 1.0 and m["map@5"] == 1.0
    pairs = one_to_one(s)
    assert sorted(map(tuple, pairs.tolist())) == [(i, len(a) - 1 - i) for i in range(len(a))]
    assert mutual_nearest(s).size(0) == len(a)


def test_metrics_ties_pessimistic_and_misses():
    scores = torch.tensor([[0.5, 0.5, 0.1], [0.9, 0.2, 0.3], [0.1, 0.2, 0.3]])
    rel = gold_matrix([[1], [0], []], 3)
    m = ranking_metrics(scores, rel)
    assert m["mrr"] == pytest.approx((0.5 + 1.0 + 0.0) / 3) and m["missed"] == 1
    m2 = ranking_metrics(scores, rel, query_mask=torch.tensor([True, False, True]))
    assert m2["mrr"] == pytest.approx(0.5 / 3) and m2["hits@1"] == 0.0 and m2["missed"] == 2
    assert pair_prf(np.array([[0, 1], [1, 2]]), np.array([[0, 1], [2, 2]])) == \
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1}


def test_bm25_and_tfidf_hand_computed():
    c = ["apple banana", "apple", "cherry"]
    s = bm25_scores(["banana"], c, k1=1.2, b=0.0)
    idf = np.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    assert s[0].tolist() == pytest.approx([idf, 0.0, 0.0])
    okapi = bm25_scores(["banana banana"], c, k1=1.2, b=0.0, idf="okapi", query_counts=True)
    assert okapi[0, 0].item() == pytest.approx(2 * np.log(2.5 / 1.5))  # repeated query term counts twice
    t = tfidf_scores(["cherry apple"], c)
    assert t[0, 2] > 0 and t[0, 1] > 0 and t[0, 2] > t[0, 1]


# ---------------------------------------------------------------- bad input

def test_bad_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("a,b\n")
    with pytest.raises(ValueError, match="no rows"):
        read_corpus(empty)
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ValueError, match="malformed table"):
        read_corpus(ragged)
    blank = tmp_path / "t.txt"
    blank.write_text("\n  \n\n")
    with pytest.raises(ValueError, match="no objects"):
        read_corpus(blank)
    ok = tmp_path / "ok.txt"
    ok.write_text("hello\n")
    with pytest.raises(ValueError, match="unknown encoding"):
        read_corpus(ok, encoding="no-such-codec")
    with pytest.raises(ValueError, match="no objects"):
        Corpus.from_texts([])
    with pytest.raises(FileNotFoundError, match="GRAPHEMB_DATA"):
        load_matching("coronacheck", root=tmp_path)


def test_load_pair_with_gold(tmp_path):
    (tmp_path / "a.csv").write_text("id,name\nx,alpha\ny,beta\n")
    (tmp_path / "b.txt").write_text("about beta\nabout alpha\n")
    (tmp_path / "g.json").write_text(json.dumps({"0": ["y"], "1": ["x"]}))
    ds = load_pair(tmp_path / "a.csv", tmp_path / "b.txt", tmp_path / "g.json", id_column="id")
    assert ds.gold == [[1], [0]] and ds.pairs.tolist() == [[0, 1], [1, 0]] and ds.a.columns == ["name"]


def test_parse_er_record():
    assert parse_er_record("COL title VAL x COL year VAL") == {"title": "x", "year": ""}
    with pytest.raises(ValueError, match="COL attr VAL"):
        parse_er_record("just text")
    assert parse_er_record("COL title VAL x y COL year VAL 2001") == {"title": "x y", "year": "2001"}


# ---------------------------------------------------------------- real data (counts)

def test_coronacheck_counts(shared_datasets):
    ds = load_matching("coronacheck", root=shared_datasets)
    assert len(ds.a) == 1158 and len(ds.b) == 7058 and len(ds.queries) == 7058
    assert sum(1 for g in ds.gold if not g) == 96
    i = ds.b.ids.index("claim" + str([k for k, f in enumerate(ds.b.fields) if "d'ivoire" in f[0]][0]))
    assert ds.gold[i]  # '' unescaped, so the claim found its gold row
    assert any(f[1] == "korea, south" for f in ds.a.fields)  # '|' quote char honoured


def test_er_counts(shared_datasets):
    ds = load_matching("er/DBLP-ACM", root=shared_datasets)
    assert len(ds.pairs) == 2215 and len(ds.queries) == len(set(ds.pairs[:, 0].tolist()))
    assert ds.a.columns == ["title", "authors", "venue", "year"]


# ---------------------------------------------------------------- CLI

def test_cli_build_and_embed(tmp_path, capsys):
    from graphemb.matching.cli import main

    a, b, _ = planted(4)
    (tmp_path / "a.csv").write_text("name,desc\n" + "\n".join(",".join(r) for r in a.fields) + "\n")
    (tmp_path / "b.txt").write_text("\n".join(f[0] for f in b.fields) + "\n")
    out = tmp_path / "g"
    assert main(["match", "build", str(tmp_path / "a.csv"), str(tmp_path / "b.txt"), "--out", str(out),
                 "--ngrams", "1", "--compress", "--min-degree", "2"]) == 0
    assert main(["match", "embed", str(out), "--method", "walks", "--preset", "tiny"]) == 0
    saved = torch.load(out / "embeddings_walks.pt", weights_only=False)
    assert saved["z"].shape == (len(MatchingGraph.load(out).names), 16)


def test_isoc_vgae_and_both_embeddings_on_planted():
    pytest.importorskip("graphemb.api")
    from graphemb.matching.embed import embed_graph

    a, b, gold = planted(4)
    g = build_graph(a, b, max_n=1, column_nodes=False)
    cfg = walk_preset("tiny")
    z = embed_graph(g, "isoc-vgae", walk_cfg=cfg, gnn_overrides={"train": {"epochs": 5}})
    assert z.shape[0] == g.num_nodes and torch.isfinite(z).all()
    both = embed_graph(g, "both", walk_cfg=cfg, gnn_overrides={"train": {"epochs": 5}})
    assert both.shape == (g.num_nodes, 16 + z.shape[1])
    # each half is L2-normalised (rows of visited nodes)
    assert torch.allclose(both[:, :16].norm(dim=1)[: len(a)], torch.ones(len(a)), atol=1e-5)
