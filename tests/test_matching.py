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
    # objects a0 a1 | b0 b1; one column C linked to the table tokens t, lone, x.
    #   t: a0, a1, b0 (+ C)            -> 3 linking neighbours: kept
    #   lone: a0 (+ C), x: b1 (+ C)    -> 1 object each (the column does not count): dropped
    #   c1 - c2: b0 - c1 - c2 - a1     -> a token-token chain (as after expansion): contracted to a1-b0
    #   s: a0, b0 (no column)          -> a single degree-2 token: kept, not contracted
    #   d1 - d2: a0 - d1 - d2          -> dangling: d2 (1 neighbour) goes, then d1 (now 1) goes
    names = ["a0", "a1", "b0", "b1", "COL:C", "t", "lone", "x", "c1", "c2", "s", "d1", "d2"]
    types = [0, 0, 1, 1, 3, 2, 2, 2, 2, 2, 2, 2, 2]
    pairs = [(0, 5), (1, 5), (2, 5), (4, 5), (0, 6), (4, 6), (3, 7), (4, 7),
             (2, 8), (8, 9), (9, 1), (0, 10), (2, 10), (0, 11), (11, 12)]
    g = graph_from(names, types, pairs)
    p, n = prune_tokens(g, 2)
    assert n == 4 and p.names == ["a0", "a1", "b0", "b1", "COL:C", "t", "c1", "c2", "s"]
    assert ("COL:C", "t") in p.edge_set() and p.b_nodes.tolist() == [2, 3]  # b1 stays, isolated
    c, k = contract_chains(p)
    assert k == 2 and c.names == ["a0", "a1", "b0", "b1", "COL:C", "t", "s"]
    assert c.edge_set() == {("a0", "t"), ("a1", "t"), ("b0", "t"), ("COL:C", "t"), ("a1", "b0"),
                            ("a0", "s"), ("b0", "s")}
    s, off = keep_short_paths(c, 2)  # COL:C is 2 + 2 away from the sides; b1 reaches no A object
    assert off == 2 and s.names == ["a0", "a1", "b0", "t", "s"] and s.b_nodes.tolist() == [2, -1]
    full, rep = compress(g, CompressConfig(min_degree=2, contract=True, max_path=2))
    assert full.names == s.names and full.edge_set() == s.edge_set()
    assert rep.steps == {"pruned_tokens": 4, "contracted_tokens": 2, "off_path_nodes": 2,
                         "pruned_objects_a": 0, "pruned_objects_b": 1}
    assert rep.before["nodes"] == 13 and rep.after == {"objects_a": 2, "objects_b": 1, "tokens": 2, "columns": 0,
                                                       "nodes": 5, "edges": 6}


def test_pruning_on_a_built_table_graph_drops_single_object_tokens():
    # every table token has a column edge; only tokens shared by two objects may stay
    a = Corpus.from_rows([["rome", "3"], ["paris", "3"]], ["city", "pop"])
    b = Corpus.from_texts(["rome has 3"])
    g = build_graph(a, b, max_n=1)
    p, n = prune_tokens(g, 2)
    # rome: A:0, B:0 -> kept; 3: A:0, A:1, B:0 -> kept; paris: A:1 only -> dropped
    assert n == 1 and [x for x in p.names if x in ("rome", "3", "paris")] == ["rome", "3"]
    assert contract_chains(p)[1] == 0  # no token-token chain to contract


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
    # sklearn defaults: idf = ln((1+3)/(1+df)) + 1, l2 rows; query = (apple, cherry)
    i_apple, i_rare = np.log(4 / 3) + 1, np.log(4 / 2) + 1
    q = np.array([i_apple, i_rare]) / np.hypot(i_apple, i_rare)
    expect = [q[0] * i_apple / np.hypot(i_apple, i_rare), q[0], q[1]]
    assert tfidf_scores(["cherry apple"], c)[0].tolist() == pytest.approx(expect)
    # 1-character tokens (e.g. "7") are not terms under the default pattern; "10" is
    assert tfidf_scores(["7 x"], ["7 x", "10"])[0].tolist() == [0.0, 0.0]
    assert tfidf_scores(["10"], ["7 x", "10"])[0].tolist() == pytest.approx([0.0, 1.0])
    with pytest.raises(ValueError, match="fit_on"):
        tfidf_scores(["a"], ["a"], fit_on="everything")


# ---------------------------------------------------------------- bad input

def test_bad_inputs_raise_clear_errors(tmp_path):
    empty = tmp_path / "e.csv"
    empty.write_text("a,b\n")
    with pytest.raises(ValueError, match="no rows"):
        read_corpus(empty)
    ragged = tmp_path / "r.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(ValueError, match=r"r\.csv: line 3: 3 fields, more than the header.s 2"):
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
    from graphemb.matching.embed import embed_graph

    a, b, gold = planted(4)
    g = build_graph(a, b, max_n=1, column_nodes=False)
    cfg = walk_preset("tiny")
    z = embed_graph(g, "isoc-vgae", walk_cfg=cfg, gnn_overrides={"train": {"epochs": 5}})
    assert z.shape[0] == g.num_nodes and torch.isfinite(z).all()
    # the planted name tokens link each A object to its B object: ranking B by the GNN's
    # embeddings beats a random ranking of the 4 candidates (E[1/rank] = H_4 / 4 ~ 0.52)
    s, present = object_scores(g, z, "b")
    m = ranking_metrics(s, gold_matrix(gold, len(a)), query_mask=present)
    random_mrr = sum(1.0 / r for r in range(1, len(a) + 1)) / len(a)
    assert m["queries"] == len(a) and m["mrr"] > random_mrr + 0.3, (m["mrr"], random_mrr)
    both = embed_graph(g, "both", walk_cfg=cfg, gnn_overrides={"train": {"epochs": 5}})
    assert both.shape == (g.num_nodes, 16 + z.shape[1])
    # each half is L2-normalised (rows of visited nodes)
    assert torch.allclose(both[:, :16].norm(dim=1)[: len(a)], torch.ones(len(a)), atol=1e-5)


def write_planted_pair(folder, n=4):
    """A pair folder (a.csv, b.txt, gold.json) of the planted corpus; B line q matches A row n-1-q."""
    a, b, gold = planted(n)
    folder.mkdir()
    (folder / "a.csv").write_text("name,desc\n" + "\n".join(",".join(r) for r in a.fields) + "\n")
    (folder / "b.txt").write_text("\n".join(f[0] for f in b.fields) + "\n")
    (folder / "gold.json").write_text(json.dumps({str(q): [str(g[0])] for q, g in enumerate(gold)}))
    return a, b, gold


def test_cli_match_run_json_line(tmp_path, capsys):
    from graphemb.cli.main import main

    a, b, gold = write_planted_pair(tmp_path / "planted", 5)
    ds = load_matching(str(tmp_path / "planted"))
    assert ds.name == "planted" and ds.query_side == "b" and ds.gold == gold
    rc = main(["match", "run", str(tmp_path / "planted"), "--method", "walks", "--preset", "fast", "--ngrams", "1",
               "--no-columns", "--json"])
    assert rc == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["metric"] == "mrr" and rec["dataset"] == "planted" and rec["model"] == "walks"
    assert rec["mean"] == 1.0 and rec["values"] == [1.0]  # the planted corpus is matched perfectly
    for k in ("hits@1", "hits@10", "map@5", "build_s", "embed_s", "match_s"):
        assert k in rec and len(rec[k]["values"]) == 1
    assert rec["hits@1"]["values"] == [1.0] and rec["queries"]["values"] == [5.0]
    # an unknown dataset name gives one clear error line, exit code 2
    assert main(["match", "run", "no-such-set"]) == 2
    assert "unknown matching dataset" in capsys.readouterr().err


@pytest.fixture(scope="module")
def minilm():
    from graphemb.multimodal.encoders.text import load_text_encoder

    return load_text_encoder("minilm")


def test_expand_with_real_minilm_links_car_and_automobile(minilm):
    a = Corpus.from_texts(["car banana"])
    b = Corpus.from_texts(["automobile house"])
    g = build_graph(a, b, max_n=1, b_only_tokens="keep")
    h, rep = expand_with_encoder(g, minilm, threshold=0.7)  # ~3 s with the offline model load
    # cos(car, automobile) ~ 0.87; every other pair < 0.5
    assert rep.added == [("car", "automobile")]
    assert h.edge_set() - g.edge_set() == {("car", "automobile")}


class RecordingEncoder:
    """Bag-of-words hashing encoder that records what it was asked to encode."""

    def __init__(self, dim=32):
        self.dim, self.seen = dim, []

    def encode(self, texts, batch_size=64, show_progress=None):
        self.seen.append(list(texts))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.split():
                out[i, sum(map(ord, w)) % self.dim] += 1.0
        return out


def test_gnn_with_text_features_on_planted():
    from graphemb.matching.embed import embed_graph, node_texts

    a, b, _ = planted(4)
    g = build_graph(a, b, max_n=1, column_nodes=False)
    texts = node_texts(g)
    assert texts[0] == " ".join(a.fields[0]).strip()  # object A:0 = its name + description words
    assert texts[g.node_of(a.fields[0][0])] == a.fields[0][0]  # a token node is its own text
    enc = RecordingEncoder()
    z = embed_graph(g, "isoc-vgae", features="text", text_encoder=enc,
                    gnn_overrides={"train": {"epochs": 3}, "model": {"encoder": {"hidden_channels": 8}}})
    assert enc.seen == [texts]  # the GNN's input features came from the node texts, once
    assert z.shape == (g.num_nodes, 8) and torch.isfinite(z).all()
