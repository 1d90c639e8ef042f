"""Blocked ranking / top-k / sparse assignment (graphemb.matching.match) against the dense computations."""
import warnings

import numpy as np
import pytest
import torch

from graphemb.matching.match import (AdjustedScorer, DenseScorer, EmbeddingScorer, blocked_ranking_metrics,
                                     blocked_ranks, blocked_topk, iter_blocks, one_to_one, one_to_one_sparse)
from graphemb.matching.metrics import gold_matrix, ranking_metrics
from graphemb.evaluation.ranking import rank_of_first_relevant

torch.set_num_threads(1)


def _tied_case(seed, q=37, c=23, levels=4):
    """Integer scores in a few levels (many ties), some -inf / NaN, 0-3 gold candidates per query."""
    rng = np.random.default_rng(seed)
    s = rng.integers(0, levels, size=(q, c)).astype(np.float64)
    s[rng.random((q, c)) < 0.05] = -np.inf
    s[rng.random((q, c)) < 0.02] = np.nan
    gold = [sorted(rng.choice(c, size=rng.integers(0, 4), replace=False).tolist()) for _ in range(q)]
    gold[0] = gold[0] + gold[0]  # duplicates count once
    return s, gold


@pytest.mark.parametrize("ties", ["pessimistic", "average", "optimistic"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_blocked_metrics_equal_dense_with_ties(seed, ties):
    s, gold = _tied_case(seed)
    mask = np.random.default_rng(seed + 9).random(len(s)) > 0.1
    dense = ranking_metrics(torch.from_numpy(s), gold_matrix(gold, s.shape[1]), query_mask=torch.from_numpy(mask),
                            ties=ties)
    for budget in (1, 50, 10 ** 6):  # one row per block, a few rows, everything at once
        got = blocked_ranking_metrics(DenseScorer(s), gold, query_mask=mask, ties=ties, budget=budget)
        assert got.keys() == dense.keys()
        for k in dense:
            assert got[k] == pytest.approx(dense[k], abs=1e-12), k


@pytest.mark.parametrize("seed", [0, 1])
def test_blocked_scan_one_pass_equals_the_dense_ranks_topk_and_k_occurrence(seed):
    """One pass gives what the separate dense computations give, on blocks of 2 rows: metrics,
    top-k lists (lower index first at ties), N_k and the finite candidates."""
    from graphemb.matching.hubness import k_occurrence
    from graphemb.matching.match import SparseScorer, blocked_scan

    s, gold = _tied_case(seed)
    s[:, 5] = -np.inf  # a candidate no query can retrieve
    c = s.shape[1]
    scan = blocked_scan(DenseScorer(s), gold, ks=(1, 3), topk=4, hub_k=3, budget=4 * c)
    clean = torch.nan_to_num(torch.from_numpy(s), nan=float("-inf"))
    want = ranking_metrics(clean, gold_matrix(gold, c), ks=(1, 3))
    assert scan.metrics() == pytest.approx(want)
    idx, val = blocked_topk(DenseScorer(s), 4)
    np.testing.assert_array_equal(scan.topk[0], idx)
    np.testing.assert_array_equal(scan.topk[1], val)
    np.testing.assert_array_equal(scan.k_occurrence, k_occurrence(clean, 3).numpy())
    assert not scan.finite[5] and scan.finite.sum() == c - 1
    # a sparse-product scorer's blocks are the dense product's rows
    a, b = np.random.default_rng(seed).random((6, 9)), np.random.default_rng(seed + 1).random((4, 9))
    a[a < 0.6], b[b < 0.6] = 0, 0
    sp_blocks = np.concatenate([x for _, x in iter_blocks(SparseScorer(a, b), budget=8)])
    np.testing.assert_allclose(sp_blocks, a @ b.T, atol=1e-12)


def test_blocked_ranks_hand_computed_pessimistic_and_average():
    s = np.array([[3.0, 3.0, 3.0, 1.0],    # gold 1 tied with two others: pessimistic 3, average 2
                  [0.0, 5.0, 5.0, 5.0],    # gold {1, 2}: best 5 tied with one irrelevant -> pes 2, avg 1.5
                  [1.0, 1.0, 1.0, 1.0]])   # no gold -> inf
    gold = [[1], [1, 2], []]
    assert blocked_ranks(DenseScorer(s), gold).tolist() == [3.0, 2.0, np.inf]
    assert blocked_ranks(DenseScorer(s), gold, ties="average").tolist() == [2.0, 1.5, np.inf]
    dense = rank_of_first_relevant(torch.from_numpy(s), gold_matrix(gold, 4), ties="pessimistic")
    assert dense.tolist() == [3.0, 2.0, np.inf]


def test_embedding_scorer_blocks_match_dense_cosine_and_exact_ties():
    rng = np.random.default_rng(0)
    # integer vectors, no normalisation: inner products are exact, so duplicated candidates tie exactly
    c = rng.integers(-2, 3, size=(30, 4)).astype(np.float32)
    c[10] = c[3]
    q = rng.integers(-2, 3, size=(25, 4)).astype(np.float32)
    sc = EmbeddingScorer(q, c, normalize=False)
    dense = q.astype(np.float64) @ c.T.astype(np.float64)
    gold = [[3] if i % 2 else [10, 4] for i in range(25)]
    a = blocked_ranking_metrics(sc, gold, budget=60)
    b = ranking_metrics(torch.from_numpy(dense), gold_matrix(gold, 30))
    assert a == pytest.approx(b, abs=1e-12)
    # cosine blocks agree with the normalised product; masked candidates are -inf
    cos = EmbeddingScorer(q, c, candidate_mask=np.arange(30) != 5)
    blocks = np.concatenate([blk for _, blk in iter_blocks(cos, budget=100)])
    qn, cn = q / np.linalg.norm(q, axis=1, keepdims=True).clip(1e-12), c / np.linalg.norm(c, axis=1, keepdims=True).clip(1e-12)
    ref = qn @ cn.T
    ref[:, 5] = -np.inf
    np.testing.assert_allclose(blocks, ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tied", [True, False])
def test_blocked_topk_equals_full_sort_with_lower_index_first(tied):
    s, _ = _tied_case(3, q=20, c=15)
    s = np.nan_to_num(s, nan=-np.inf) if tied else np.random.default_rng(1).random((20, 15))
    idx, val = blocked_topk(DenseScorer(s), 5, budget=31)
    order = np.lexsort((np.tile(np.arange(15), (20, 1)), -s), axis=1)[:, :5]  # score desc, index asc
    np.testing.assert_array_equal(idx, order)
    np.testing.assert_array_equal(val, np.take_along_axis(s, order, 1))


def test_adjusted_scorer_applies_hook_inside_blocks():
    s = np.arange(12, dtype=np.float64).reshape(3, 4)
    hub = np.array([0.0, 0.0, 0.0, 100.0])  # a per-candidate penalty, e.g. a CSLS term
    seen = []

    def adjust(block, rows):
        seen.append(rows.tolist())
        return block - hub[None, :]

    sc = AdjustedScorer(DenseScorer(s), adjust)
    idx, _ = blocked_topk(sc, 1, budget=4)  # one row per block
    assert idx[:, 0].tolist() == [2, 2, 2]  # candidate 3 would win every row without the penalty
    assert seen == [[0], [1], [2]]
    assert blocked_ranks(sc, [[3], [2], [0]]).tolist() == [4.0, 1.0, 3.0]


def _lsa_total(s):
    from scipy.optimize import linear_sum_assignment

    r, c = linear_sum_assignment(s, maximize=True)
    return s[r, c].sum(), set(zip(r.tolist(), c.tolist()))


@pytest.mark.parametrize("shape", [(6, 6), (5, 9), (9, 5)])
@pytest.mark.parametrize("seed", range(4))
def test_sparse_assignment_with_all_candidates_equals_linear_sum_assignment(shape, seed):
    s = np.random.default_rng(seed).random(shape)
    total, pairs = _lsa_total(s)
    got = one_to_one_sparse(DenseScorer(s), k=shape[1]).numpy()
    assert len(got) == min(shape)
    assert s[got[:, 0], got[:, 1]].sum() == pytest.approx(total, abs=1e-9)
    assert set(map(tuple, got.tolist())) == pairs  # continuous random scores: a unique optimum
    assert set(map(tuple, one_to_one(torch.from_numpy(s)).tolist())) == pairs


def test_sparse_assignment_top_k_finds_optimum_inside_the_graph():
    # a near-diagonal matrix: each row's best candidate is its own column, so top-2 holds the optimum
    rng = np.random.default_rng(5)
    s = rng.random((40, 40)) * 0.5 + np.eye(40)
    got = one_to_one_sparse(DenseScorer(s), k=2).numpy()
    assert sorted(map(tuple, got.tolist())) == [(i, i) for i in range(40)]


def test_sparse_assignment_infeasible_top_k_falls_back_with_warning():
    # every query's top-1 is candidate 0: no perfect matching in the top-1 graph
    s = np.array([[9.0, 1.0, 0.0], [8.0, 0.0, 2.0], [7.0, 3.0, 1.0]])
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        got = one_to_one_sparse(DenseScorer(s), k=1).numpy()
    assert any("no matching covering" in str(x.message) for x in w)
    assert got.tolist() == [[0, 0]]  # only one query can be matched inside the top-1 graph
    # top-2: rows 0,1,2 -> {0,1},{0,2},{0,1}: perfect matching exists; optimum 1+8... by hand:
    # (0,1)+(1,0)+(2,?) impossible -> best full matching: (0,0)=9,(1,2)=2,(2,1)=3 -> 14
    got = one_to_one_sparse(DenseScorer(s), k=2).numpy()
    assert sorted(map(tuple, got.tolist())) == [(0, 0), (1, 2), (2, 1)]


def test_sparse_assignment_drops_low_and_infinite_pairs():
    s = np.array([[5.0, -np.inf], [-np.inf, 0.1]])
    got = one_to_one_sparse(DenseScorer(s), k=2, min_score=0.5).numpy()
    assert got.tolist() == [[0, 0]]


def test_walk_corpus_target_sets_walks_per_node_from_the_graph_size():
    from graphemb.matching.walks import walk_preset

    cfg = walk_preset("quick")  # 2M walk nodes per epoch, walks of 21 nodes, 1..100 walks per start
    assert cfg.walks_for(1000) == 95  # 2M // 21k
    assert cfg.walks_for(100) == 100  # small graph: at most walks_per_node
    assert cfg.walks_for(8220) == 11  # CoronaCheck's objects and columns
    assert cfg.walks_for(1_000_000) == 1  # at least one walk per start
    assert walk_preset("paper").walks_for(10 ** 6) == 100  # no target: always walks_per_node


def test_write_walks_is_the_savetxt_format(tmp_path):
    from graphemb.matching.walks import write_walks

    w = np.array([[3, 10, 3], [0, 7, 123456]])
    write_walks(w, str(tmp_path / "w.txt"))
    np.savetxt(tmp_path / "ref.txt", w, fmt="%d", delimiter=" ")
    assert (tmp_path / "w.txt").read_text() == (tmp_path / "ref.txt").read_text()


def test_build_graph_cell_cache_gives_the_same_edges_as_distinct_cells():
    from graphemb.matching.graph import Corpus, build_graph

    rows = [["italy", "10 cases"], ["italy", "20 cases"], ["spain", "10 cases"]]
    g = build_graph(Corpus.from_rows(rows, ["c", "v"]), Corpus.from_texts(["italy cases", "spain 10"]), max_n=2)
    e = g.edge_set()
    for i, r in enumerate(rows):
        for cell in r:
            for t in cell.split():
                assert tuple(sorted((f"A:{i}", t), key=g.names.index)) in e
    assert ("B:0", "italy") in e and ("B:1", "10") in e and ("B:1", "spain") in e
    assert not any("B:0" in x and "spain" in x for x in e)  # only B:0's own tokens


def test_match_run_json_has_every_stage_and_they_add_up(tmp_path, capsys):
    from graphemb.cli.main import main
    from tests.test_matching import write_planted_pair

    write_planted_pair(tmp_path / "p", 5)
    assert main(["match", "run", str(tmp_path / "p"), "--method", "walks", "--preset", "tiny", "--ngrams", "1",
                 "--compress", "--json"]) == 0
    rec = __import__("json").loads(capsys.readouterr().out.strip().splitlines()[-1])
    st = rec["stages"]
    assert {"load", "build", "compress", "walks", "word2vec", "embed", "rank", "evaluate"} <= set(st)
    assert all(v >= 0 for v in st.values())
    main_stages = sum(st[k] for k in ("load", "build", "compress", "embed", "rank", "evaluate"))
    assert main_stages <= rec["seconds"] + 1e-6 and st["walks"] + st["word2vec"] <= st["embed"] + 1e-6


@pytest.mark.parametrize("ties", ["pessimistic", "average"])
def test_blocked_metrics_one_gold_per_query_equal_dense(ties):
    s, _ = _tied_case(7, q=30, c=12, levels=3)
    gold = [[int(j)] for j in np.random.default_rng(7).integers(12, size=30)]
    dense = ranking_metrics(torch.from_numpy(s), gold_matrix(gold, 12), ties=ties)
    for budget in (1, 37, 10 ** 6):
        assert blocked_ranking_metrics(DenseScorer(s), gold, ties=ties, budget=budget) == pytest.approx(dense, abs=1e-12)


@pytest.mark.parametrize("backend", ["faiss", "usearch"])
def test_ann_backend_top_k_agrees_with_exact(backend):
    pytest.importorskip(backend)
    rng = np.random.default_rng(0)
    c = rng.standard_normal((500, 16)).astype(np.float32)
    q = c[:50] + 0.01 * rng.standard_normal((50, 16)).astype(np.float32)  # each query's nearest is its own row
    mask = np.ones(500, bool)
    mask[7] = False  # a pruned candidate is never returned
    sc = EmbeddingScorer(q, c, candidate_mask=mask)
    idx, val = blocked_topk(sc, 5, backend=backend)
    exact, _ = blocked_topk(sc, 5)
    assert (idx[:, 0] == exact[:, 0]).mean() >= 0.95 and not (idx == 7).any()
    np.testing.assert_allclose(val[:, 0], np.einsum("qd,qd->q", sc.queries, sc.candidates[idx[:, 0]]), rtol=1e-5)


def test_scale_md_is_generated_from_its_records():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "matching" / "bench_scale.py"
    spec = importlib.util.spec_from_file_location("bench_scale", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert (path.parent / "SCALE.md").read_text() == mod.report()  # rerun `bench_scale.py --report` if this fails
