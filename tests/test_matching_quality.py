"""Hubness reduction, score fusion and the ``--method`` registry of the matching package."""
from __future__ import annotations

import math

import pytest
import torch

from graphemb.matching.fusion import agreement_weights, fuse, row_ranks, zscore_rows
from graphemb.matching.hubness import fit_hubness, hubness_stats, k_occurrence, reduce_hubness

torch.set_num_threads(1)

# 3 queries x 3 candidates; candidate 0 is a hub (every query's raw top-1), gold = (c1, c2, c0).
S = torch.tensor([[0.9, 0.8, 0.1],
                  [0.9, 0.2, 0.7],
                  [0.8, 0.3, 0.2]], dtype=torch.float64)
GOLD_TOP1 = [1, 2, 0]
# candidates scored against each other (gallery bank); the diagonal is left out via gallery_self
G = torch.tensor([[1.0, 0.6, 0.5],
                  [0.6, 1.0, 0.1],
                  [0.5, 0.1, 1.0]], dtype=torch.float64)


def close(got, want, atol=1e-9):
    torch.testing.assert_close(got, torch.tensor(want, dtype=torch.float64), rtol=0, atol=atol)


def lse(*xs):
    m = max(xs)
    return m + math.log(sum(math.exp(x - m) for x in xs))


def test_hub_stats_by_hand():
    assert k_occurrence(S, 1).tolist() == [3, 0, 0]
    st = hubness_stats(S, k=1)
    # N_1 = [3, 0, 0]: mean 1, deviations (2, -1, -1): m2 = 2, m3 = 2, skew = 2 / 2**1.5
    assert st["skewness"] == pytest.approx(2 / 2 ** 1.5)
    assert st["never_retrieved"] == pytest.approx(2 / 3)
    assert st["max_nk"] == 3
    # -inf entries are never retrieved; blocks give the same counts as one matrix
    s = S.clone()
    s[0, 0] = float("-inf")
    assert k_occurrence(s, 1).tolist() == [2, 1, 0]
    assert k_occurrence(iter([S[:2], S[2:]]), 2).tolist() == k_occurrence(S, 2).tolist() == [3, 2, 1]


def test_csls_by_hand():
    out = reduce_hubness(S, "csls", k=2)
    r_q = [0.9, (0.8 + 0.3) / 2, (0.7 + 0.2) / 2]          # mean of each column's 2 best
    r_c = [(0.9 + 0.8) / 2, (0.9 + 0.7) / 2, (0.8 + 0.3) / 2]  # mean of each row's 2 best
    want = [[2 * S[i, j].item() - r_q[j] - r_c[i] for j in range(3)] for i in range(3)]
    close(out, want)
    assert out.argmax(1).tolist() == GOLD_TOP1
    assert k_occurrence(out, 1).tolist() == [1, 1, 1]


def test_inverted_softmax_by_hand():
    out = reduce_hubness(S, "inverted_softmax", beta=10.0)
    den = [lse(9, 9, 8), lse(8, 2, 3), lse(1, 7, 2)]  # log sum_q exp(10 s(q, c)) per column
    want = [[10 * S[i, j].item() - den[j] for j in range(3)] for i in range(3)]
    close(out, want)
    assert out[0].tolist() == pytest.approx([-0.861994, -0.0091735, -6.0091735], abs=1e-6)
    assert out.argmax(1).tolist() == GOLD_TOP1
    # the paper's value is exp of ours: each column of exp(out) sums to 1 over the bank (= the queries)
    assert out.exp().sum(0).tolist() == pytest.approx([1.0, 1.0, 1.0])


def test_dynamic_inverted_softmax_only_touches_rows_whose_top1_is_active():
    # bank = S: every bank query's top-1 is c0, so the activation set is {c0}
    norm = fit_hubness("dis", S, beta=10.0)
    assert norm.query_active.tolist() == [True, False, False]
    rows = torch.tensor([[0.9, 0.8, 0.1],    # top-1 c0 (active): normalised
                         [0.1, 0.5, 0.3]],   # top-1 c1 (not active): 10 * s, untouched
                        dtype=torch.float64)
    out = norm.transform(rows)
    den = [lse(9, 9, 8), lse(8, 2, 3), lse(1, 7, 2)]
    assert out[0].tolist() == pytest.approx([9 - den[0], 8 - den[1], 1 - den[2]])
    assert out[1].tolist() == pytest.approx([1.0, 5.0, 3.0])


def test_dual_bank_inverted_softmax_by_hand():
    self_ = torch.arange(3)
    out = reduce_hubness(S, "dbnorm_dis", gallery_bank=G, gallery_self=self_, beta=10.0, beta_gallery=5.0)
    qden = [lse(9, 9, 8), lse(8, 2, 3), lse(1, 7, 2)]
    gden = [lse(3.0, 2.5), lse(3.0, 0.5), lse(2.5, 0.5)]  # 5 * G off the diagonal, per column
    want = [[15 * S[i, j].item() - qden[j] - gden[j] for j in range(3)] for i in range(3)]
    close(out, want)
    # dynamic: gallery activation set = nearest other candidate of each candidate = {c1, c0, c0}
    norm = fit_hubness("dbnorm_ddis", S, G, gallery_self=self_, beta=10.0, beta_gallery=5.0)
    assert norm.gallery_active.tolist() == [True, True, False]
    row = torch.tensor([[0.1, 0.5, 0.3]], dtype=torch.float64)  # top-1 c1: in A_G, not in A_Q
    assert norm.transform(row)[0].tolist() == pytest.approx([15 * v - gden[j] for j, v in enumerate([0.1, 0.5, 0.3])])


def test_hubness_keeps_minus_inf_and_streams_banks():
    s = S.clone()
    s[:, 2] = float("-inf")  # a pruned candidate
    for m in ("csls", "inverted_softmax", "dis"):
        out = reduce_hubness(s, m, beta=10.0, k=2)
        assert torch.isinf(out[:, 2]).all() and torch.isfinite(out[:, :2]).all()
    a = fit_hubness("inverted_softmax", S, beta=10.0)
    b = fit_hubness("inverted_softmax", iter([S[:1], S[1:]]), beta=10.0)
    assert torch.allclose(a.query_term, b.query_term)
    with pytest.raises(ValueError, match="gallery bank"):
        fit_hubness("dbnorm_dis", S)
    with pytest.raises(ValueError, match="unknown hubness"):
        fit_hubness("cls", S)


# ---------------------------------------------------------------- fusion

def test_row_ranks_and_zscore_by_hand():
    s = torch.tensor([[3.0, 1.0, 3.0, float("-inf")]])
    assert row_ranks(s).tolist() == [[1.5, 3.0, 1.5, 4.0]]
    z = zscore_rows(torch.tensor([[1.0, 2.0, 3.0, float("-inf")], [5.0, 5.0, 5.0, 5.0]]))
    sd = math.sqrt(2 / 3)
    assert z[0].tolist() == pytest.approx([-1 / sd, 0.0, 1 / sd, -1 / sd])
    assert z[1].tolist() == [0.0, 0.0, 0.0, 0.0]
    # rrf of two scorers by hand: ranks (1, 2) and (2, 1) tie; (1, 2) twice wins
    f = fuse([torch.tensor([[2.0, 1.0]]), torch.tensor([[1.0, 2.0]]), torch.tensor([[5.0, 0.0]])], "rrf", k=60)
    assert f[0].tolist() == pytest.approx([2 / 61 + 1 / 62, 1 / 62 + 1 / 61 + 1 / 62])


def _planted(n: int = 60, seed: int = 0):
    """Gold = identity. Two useful scorers with independent noise (cosine scale) and one pure-noise
    scorer on a 1000x larger scale, which an unnormalised sum lets dominate."""
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(n, dtype=torch.float64)
    good1 = eye + 0.35 * torch.randn(n, n, generator=g, dtype=torch.float64)
    good2 = eye + 0.35 * torch.randn(n, n, generator=g, dtype=torch.float64)
    loud = 1000.0 * torch.randn(n, n, generator=g, dtype=torch.float64)
    return [good1, good2, loud]


def _hits1(s: torch.Tensor) -> float:
    return float((s.argmax(1) == torch.arange(s.size(0))).double().mean())


def test_fusion_on_planted_corpus():
    good1, good2, loud = _planted()
    single = max(_hits1(good1), _hits1(good2))
    assert _hits1(fuse([good1, good2, loud], "sum")) < 0.15          # the scale of the noise wins
    assert _hits1(fuse([good1, good2], "zscore")) > single            # two noisy views beat one
    w = agreement_weights([good1, good2, loud])
    assert w[2] < 0.2 and w[0] > 0.35 and w[1] > 0.35 and w.sum().item() == pytest.approx(1.0)
    for m in ("rrf", "zscore"):
        fused = fuse([good1, good2, loud], m, weights="agreement")
        assert _hits1(fused) >= single                                # the noisy scorer is tuned out
        assert _hits1(fused) > _hits1(fuse([good1, good2, loud], m)) - 1e-9
    with pytest.raises(ValueError, match="shape"):
        fuse([good1, good2[:3]])


# ---------------------------------------------------------------- the --method registry

class HashEncoder:
    """Bag-of-words hashing 'text encoder' (no model weights) that records what it encodes."""

    name, max_length, pooling = "hash-bow", 0, "none"

    def __init__(self, dim: int = 64):
        self.dim, self.seen = dim, []

    def encode(self, texts, batch_size=64, show_progress=None):
        import numpy as np

        self.seen += list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in t.replace(":", " ").replace(",", " ").split():
                out[i, sum(map(ord, w)) % self.dim] += 1.0
        return out


def _planted_dataset(n: int = 8):
    import numpy as np

    from graphemb.matching.datasets import MatchingDataset
    from graphemb.matching.graph import Corpus

    rng = np.random.default_rng(0)
    words = [f"w{i}x" for i in range(300)]
    names = [f"name{i}z" for i in range(n)]
    rows = [[names[i], " ".join(rng.choice(words, 3))] for i in range(n)]
    a = Corpus.from_rows(rows, ["name", "desc"])
    b = Corpus.from_texts([f"{rows[i][1]} about {names[i]}" for i in reversed(range(n))])
    gold = [[n - 1 - i] for i in range(n)]
    return MatchingDataset("planted", a, b, "b", np.arange(n), gold, np.array([[g[0], q] for q, g in enumerate(gold)]))


def _ctx(monkeypatch, tmp_path, enc=None):
    from graphemb.matching.methods import MatchContext, MethodConfig

    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path))
    cfg = MethodConfig(walk_preset="tiny", bank_size=None,
                       gnn_overrides={"train": {"epochs": 3}, "model": {"encoder": {"hidden_channels": 8}}})
    return MatchContext(_planted_dataset(), cfg, text_encoder=enc or HashEncoder())


def test_baseline_methods_are_the_baselines_on_all_query_objects(monkeypatch, tmp_path):
    from graphemb.matching.baselines import bm25_scores
    from graphemb.matching.methods import METHODS, method_scores

    assert {"bm25", "tfidf", "minilm", "walks", "isoc-vgae", "isoc-vgae-text", "both", "fused", "best"} <= set(METHODS)
    ctx = _ctx(monkeypatch, tmp_path)
    s, present, secs = method_scores("bm25", ctx)
    torch.testing.assert_close(s, bm25_scores(ctx.ds.b.texts(), ctx.ds.a.texts()).double())
    assert present.all() and set(secs) >= {"bm25", "hubness", "fusion"}
    # a reduction on a method = the same reduction on its score matrix (BM25 scaled to max 1 first)
    h, _, _ = method_scores("bm25", ctx, "csls")
    torch.testing.assert_close(h, reduce_hubness(s / s.max(), "csls", k=10))
    with pytest.raises(KeyError, match="unknown matching method"):
        method_scores("bm26", ctx)
    with pytest.raises(ValueError, match="unknown hubness"):
        method_scores("bm25", ctx, "cls")


def test_best_on_planted_corpus_counts_every_query_and_caches_text(monkeypatch, tmp_path):
    from graphemb.matching.methods import evaluate_method

    enc = HashEncoder()
    ctx = _ctx(monkeypatch, tmp_path, enc)
    r = evaluate_method("best", ctx)
    assert r["hubness_method"] == "dbnorm_ddis" and r["metrics"]["queries"] == 8 and r["metrics"]["missed"] == 0
    assert r["metrics"]["mrr"] == 1.0  # names are unique tokens: every scorer ranks the gold row first
    assert set(r["stages"]) >= {"build", "walks", "gnn_walks", "minilm", "bm25", "hubness", "fusion", "evaluate"}
    assert {"skewness", "never_retrieved"} <= set(r["hubness_before"]) and "mrr_without_hubness" in r
    # MiniLM-style node features: an object node carries its own text's vector
    x = ctx.node_text_features()
    qv, cv = ctx.minilm_vectors()
    g = ctx.graph()
    torch.testing.assert_close(x[g.a_nodes[0]], cv[0])
    torch.testing.assert_close(x[g.b_nodes[3]], qv[3])
    # a second context on the same dataset reads the vectors from the disk cache: nothing re-encoded
    seen = len(enc.seen)
    ctx2 = _ctx(monkeypatch, tmp_path, enc)
    torch.testing.assert_close(ctx2.minilm_vectors()[0], qv)
    assert len(enc.seen) == seen


def _tied_dataset(n: int = 6):
    """Queries whose gold row has an identical twin (rows i and n + i): every text scorer ties them."""
    import numpy as np

    from graphemb.matching.datasets import MatchingDataset
    from graphemb.matching.graph import Corpus

    rng = np.random.default_rng(1)
    words = [f"w{i}x" for i in range(40)]
    rows = [[f"name{i}z", " ".join(rng.choice(words, 3))] for i in range(n)]
    a = Corpus.from_rows(rows + [list(r) for r in rows], ["name", "desc"])
    b = Corpus.from_texts([f"{rows[i][1]} about {rows[i][0]}" for i in range(n)] + ["w1x w2x"])
    gold = [[n + i] if i % 2 else [i] for i in range(n)] + [[]]  # the last query has no gold: a miss
    pairs = np.array([[g[0], q] for q, g in enumerate(gold) if g])
    return MatchingDataset("tied", a, b, "b", np.arange(n + 1), gold, pairs)


def _dense_reference(ctx, name, hub, ks):
    """The dense computation the blocked evaluation must equal: every base scorer as a full matrix,
    its reduction fitted on full bank matrices, :func:`fuse` of the full matrices, dense metrics."""
    from graphemb.matching.match import iter_blocks
    from graphemb.matching.methods import METHODS
    from graphemb.matching.metrics import gold_matrix, ranking_metrics

    def dense(scorer):
        return torch.cat([torch.as_tensor(b) for _, b in iter_blocks(scorer)]).double()

    spec = METHODS[name]
    parts, present = [], []
    for c in spec.components:
        b = ctx.base(c)
        sq = dense(b.query)
        present.append(torch.as_tensor(b.present))
        if hub != "none":
            fin = sq[torch.isfinite(sq)]
            scale = 1.0 if b.cosine else 1.0 / float(fin.max())
            norm = fit_hubness(hub, sq[ctx.query_bank] * scale, dense(b.gallery) * scale, k=ctx.cfg.csls_k,
                               beta=ctx.cfg.beta, beta_gallery=ctx.cfg.beta_gallery,
                               gallery_self=torch.as_tensor(b.gallery_self))
            sq = norm.transform(sq * scale)
        parts.append(sq)
    s = parts[0] if len(parts) == 1 else fuse(parts, spec.fusion, weights=spec.weights)
    q = torch.as_tensor(ctx.ds.queries)
    present = torch.stack(present).any(0)[q]
    m = ranking_metrics(s[q], gold_matrix(ctx.ds.gold, s.size(1)), query_mask=present, ks=ks)
    return m, hubness_stats(s[q], ctx.cfg.hub_k, torch.isfinite(s[q]).any(0))


@pytest.mark.parametrize("name", ["bm25", "tfidf", "minilm", "walks", "fused", "fused-rrf", "fused-agree", "best"])
def test_blocked_method_evaluation_equals_the_dense_computation_with_ties(monkeypatch, tmp_path, name):
    """Every registry method is scored block by block (one query row per block here) and still
    gives exactly the dense matrix's metrics and hubness, ties counted pessimistically."""
    import numpy as np

    from graphemb.matching.methods import MatchContext, MethodConfig, evaluate_method, method_scores

    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path))
    cfg = MethodConfig(walk_preset="tiny", bank_size=5,
                       gnn_overrides={"train": {"epochs": 2}, "model": {"encoder": {"hidden_channels": 8}}})
    ctx = MatchContext(_tied_dataset(), cfg, text_encoder=HashEncoder())
    ks = (1, 3, 5)
    c = ctx.n_cand
    for hub in ("none", "csls", "inverted_softmax", "dbnorm_ddis"):
        r = evaluate_method(name, ctx, hub, ks=ks, full=False, budget=2 * c)
        want, nk = _dense_reference(ctx, name, hub, ks)
        assert r["metrics"].keys() == want.keys()
        for k, v in want.items():
            assert r["metrics"][k] == pytest.approx(v, abs=1e-12), (name, hub, k)
        for k, v in nk.items():
            assert r["hubness_after"][k] == pytest.approx(v, abs=1e-12), (name, hub, k)
    if name == "bm25":  # query groups: each group's metrics are the dense metrics of its rows alone
        from graphemb.matching.metrics import gold_matrix, ranking_metrics

        ctx.ds.groups = {"first": np.arange(3), "rest": np.arange(3, 7)}
        r = evaluate_method(name, ctx, "csls", ks=ks, full=False, budget=2 * c)
        s, present, _ = method_scores(name, ctx, "csls")
        rel = gold_matrix(ctx.ds.gold, c)
        for g, ix in ctx.ds.groups.items():
            want = ranking_metrics(s[ix], rel[ix], query_mask=present[ix], ks=ks)
            assert r["groups"][g] == pytest.approx(want, abs=1e-12), g
        assert r["groups"]["rest"]["missed"] == 1
    if name == "bm25":  # the twins tie: every gold row ranks 2nd (pessimistic), and one query has no gold
        m = evaluate_method(name, ctx, "none", ks=ks, full=False)["metrics"]
        assert m["hits@1"] == 0.0 and m["hits@3"] == pytest.approx(6 / 7) and m["missed"] == 1


def test_no_method_reads_more_rows_than_its_budget(monkeypatch, tmp_path):
    """The base scorers are only ever asked for blocks within the budget: no method (fusions,
    best, every hubness reduction, the evaluation and the ER assignment) builds the dense matrix."""
    from graphemb.matching import match
    from graphemb.matching.methods import METHODS, MatchContext, MethodConfig, evaluate_method

    seen = []
    for cls in (match.EmbeddingScorer, match.SparseScorer):
        orig = cls.block
        monkeypatch.setattr(cls, "block", lambda self, rows, _o=orig: (seen.append(len(rows)), _o(self, rows))[1])
    monkeypatch.setenv("GRAPHEMB_CACHE", str(tmp_path))
    ds = _tied_dataset()
    ds.query_side, ds.a, ds.b = "a", ds.b, ds.a  # ER-style: queries on side a, so the pairs are assigned too
    ds.queries = ds.queries[:6]
    ds.gold = [[i] for i in range(6)]
    cfg = MethodConfig(walk_preset="tiny", gnn_overrides={"train": {"epochs": 2}, "model": {"encoder": {"hidden_channels": 8}}})
    ctx = MatchContext(ds, cfg, text_encoder=HashEncoder())
    c = ctx.n_cand
    for name in METHODS:
        r = evaluate_method(name, ctx, budget=4 * c)
        assert "pairs_f1" in r["metrics"]
    assert seen and max(seen) <= 4, max(seen)


def test_cli_match_run_registry_method_json(tmp_path, capsys):
    import json

    from graphemb.cli.main import main

    ds = _planted_dataset(5)
    d = tmp_path / "planted"
    d.mkdir()
    (d / "a.csv").write_text("name,desc\n" + "\n".join(",".join(r) for r in ds.a.fields) + "\n")
    (d / "b.txt").write_text("\n".join(f[0] for f in ds.b.fields) + "\n")
    (d / "gold.json").write_text(json.dumps({str(q): [str(g[0])] for q, g in enumerate(ds.gold)}))
    assert main(["match", "run", str(d), "--method", "bm25", "--hubness", "csls", "--json", "--threads", "1"]) == 0
    rec = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rec["model"] == "bm25" and rec["mean"] == 1.0 and rec["queries"]["values"] == [5.0]
    assert rec["threads"] == 1 and rec["walk_preset"] == "lean" and set(rec["stages_cpu"]) >= {"load", "bm25"}
    assert rec["hubness_method"] == "csls" and "bm25" in rec["stages"] and "build" not in rec["stages"]
    assert {"skewness", "never_retrieved"} <= set(rec["hubness"]["before"])


def test_results_md_is_generated_from_the_records(tmp_path):
    """No hand-typed number: experiments/matching/RESULTS.md regenerates identically from its records."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "experiments" / "matching" / "run_matching.py"
    spec = importlib.util.spec_from_file_location("run_matching", path)
    rm = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rm)
    text = rm.report(rm.REC, tmp_path / "RESULTS.md")
    assert text == (rm.HERE / "RESULTS.md").read_text(), \
        "experiments/matching/RESULTS.md is stale or hand-edited; run `python experiments/matching/run_matching.py --report`"
    assert "| best |" in text and "## Hubness before / after" in text
