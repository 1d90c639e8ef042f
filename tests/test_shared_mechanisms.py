"""One implementation of each shared mechanism (edge split, negative sampling, dataset lookup,
progress switch, device resolution), used everywhere; and the layering rule that the multimodal
and matching pipelines never import the ``graphemb.api`` facade."""
from __future__ import annotations

import ast
import io
import sys
from pathlib import Path

import pytest
import torch

import graphemb
from graphemb.data.paths import DatasetNotFoundError, find_dataset_dir
from graphemb.data.splits import sample_corrupted_tails, sample_negatives, split_edges, undirected_pairs
from graphemb.multimodal.data import MultimodalGraph
from graphemb.multimodal.tasks import link_split as mag_link_split
from graphemb.multimodal.tasks import rank_tails
from graphemb.utils.device import resolve_device
from graphemb.utils.progress import progress, progress_enabled

PKG = Path(graphemb.__file__).resolve().parent


def _imports(path: Path) -> list[str]:
    """Every module a file imports (absolute names; relative imports resolved against the package)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    pkg = ".".join(path.relative_to(PKG.parent).with_suffix("").parts[:-1])
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = pkg.split(".")[: len(pkg.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out.append(base)
            out += [f"{base}.{a.name}" for a in node.names]
    return out


def test_layering_multimodal_and_matching_never_import_the_api_facade():
    files = sorted((PKG / "multimodal").rglob("*.py")) + sorted((PKG / "matching").rglob("*.py"))
    assert len(files) > 10
    bad = {str(f.relative_to(PKG)): m for f in files for m in _imports(f) if m == "graphemb.api"}
    assert not bad, f"these modules import the graphemb.api facade (use graphemb.training instead): {bad}"
    # the detector itself works: api.py's own users are found
    assert "graphemb.api" in _imports(PKG / "cli" / "main.py")


def test_one_home_per_mechanism():
    """No second copy: no module outside utils/ picks a device ("auto" -> cuda if available), asks
    whether stderr is a terminal or builds a tqdm bar itself, and no module outside data/paths.py
    reads $GRAPHEMB_DATA / $GRAPHEMB_CACHE."""
    offenders = []
    for f in PKG.rglob("*.py"):
        rel = f.relative_to(PKG).as_posix()
        src = f.read_text()
        code = "\n".join(line.split("#")[0] for line in src.splitlines())
        picks_device = '"cuda" if' in code or "'cuda' if" in code  # the "auto" idiom of resolve_device
        if not rel.startswith("utils/") and (picks_device or "isatty" in code
                                               or "from tqdm" in code or "import tqdm" in code):
            offenders.append(rel)
        if rel != "data/paths.py" and ('environ.get("GRAPHEMB_DATA' in code or 'environ["GRAPHEMB_DATA' in code
                                       or 'environ.get("GRAPHEMB_CACHE' in code):
            offenders.append(rel)
    assert not offenders, offenders


def test_fit_embeddings_lives_in_training_and_api_reexports_it():
    from graphemb import api
    from graphemb.training.embeddings import fit_embeddings

    assert api.fit_embeddings is fit_embeddings


# ----------------------------------------------------------------------------- negatives
def _ring(n: int) -> torch.Tensor:
    i = torch.arange(n)
    e = torch.stack([i, (i + 1) % n])
    return torch.cat([e, e.flip(0)], 1)


def _keys(pairs: torch.Tensor, n: int) -> set:
    return set((pairs[0] * n + pairs[1]).tolist())


def test_sample_negatives_never_an_edge_distinct_and_seed_deterministic():
    n = 7
    ring = _ring(n)  # 7 edges, C(7,2) - 7 = 14 undirected non-edges
    neg = sample_negatives(ring, n, 14, torch.Generator().manual_seed(0))
    assert neg.shape == (2, 14) and bool((neg[0] < neg[1]).all())
    pos = _keys(undirected_pairs(ring, n), n)
    got = _keys(neg, n)
    # all 14 non-edges exactly once: none is an edge, none repeated, no self loop
    expected = {u * n + v for u in range(n) for v in range(u + 1, n)} - pos
    assert got == expected and len(got) == 14
    a = sample_negatives(ring, n, 9, torch.Generator().manual_seed(3))
    b = sample_negatives(ring, n, 9, torch.Generator().manual_seed(3))
    c = sample_negatives(ring, n, 9, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # the direction of the excluded edges does not matter
    one_way = ring[:, :n]
    assert torch.equal(sample_negatives(one_way, n, 9, torch.Generator().manual_seed(3)), a)
    with pytest.raises(ValueError, match="only 14 non-edges"):
        sample_negatives(ring, n, 15, torch.Generator())


def test_split_edges_disjoint_cover_and_seed_deterministic():
    n = 40
    ring = _ring(n)  # 40 undirected edges
    tr, va, te = split_edges(ring, n, 0.1, 0.2, torch.Generator().manual_seed(1))
    assert (tr.size(1), va.size(1), te.size(1)) == (28, 4, 8)
    ktr, kva, kte = _keys(tr, n), _keys(va, n), _keys(te, n)
    assert ktr | kva | kte == _keys(undirected_pairs(ring, n), n)
    assert not (ktr & kva or ktr & kte or kva & kte)
    again = split_edges(ring, n, 0.1, 0.2, torch.Generator().manual_seed(1))
    assert all(torch.equal(x, y) for x, y in zip((tr, va, te), again))
    assert not torch.equal(split_edges(ring, n, 0.1, 0.2, torch.Generator().manual_seed(2))[2], te)


def test_corrupted_tails_filtered_distinct_and_seed_deterministic():
    # head 0 is linked to 1..4; its only non-neighbours are 5 and 6
    n = 7
    star = torch.tensor([[0, 0, 0, 0, 5], [1, 2, 3, 4, 6]])
    known = torch.cat([star, star.flip(0)], 1)
    heads = torch.tensor([0, 0, 0, 5])
    t = sample_corrupted_tails(heads, n, 2, torch.Generator().manual_seed(0), exclude=known)
    assert t.shape == (4, 2)
    for row in range(3):
        assert sorted(t[row].tolist()) == [5, 6]  # every allowed tail once, never a true tail
    assert 5 not in t[3].tolist() and 6 not in t[3].tolist() and len(set(t[3].tolist())) == 2
    t2 = sample_corrupted_tails(heads, n, 2, torch.Generator().manual_seed(0), exclude=known)
    assert torch.equal(t, t2)
    with pytest.raises(ValueError, match="head node 0: it has only 2 non-neighbours"):
        sample_corrupted_tails(heads, n, 3, torch.Generator(), exclude=known)


def test_mag_link_ranking_is_filtered():
    """A hand-built MAG where an unfiltered ranking counts true tails as negatives.

    Node 0 links to 1..20 (train, val and test edges of 0 alike); 21..29 (a path) are not
    neighbours of 0. Scores: every neighbour of 0 scores 1 with 0, non-neighbours 0. With filtered
    negatives every held-out edge of head 0 is ranked first (MRR 1); an unfiltered sampler draws
    true tails (1..20) as negatives with the same score and averages the rank down.
    """
    n = 30
    star = torch.stack([torch.zeros(20, dtype=torch.long), torch.arange(1, 21)])
    path = torch.stack([torch.arange(21, 29), torch.arange(22, 30)])
    e = torch.cat([star, path], 1)  # 28 undirected edges: 1 val, 2 test per split
    g = MultimodalGraph(node_ids=torch.arange(n).numpy(), edge_index=torch.cat([e, e.flip(0)], 1), name="star")
    z = torch.zeros(n, 2)
    z[:21] = torch.tensor([1.0, 0.0])
    z[21:] = torch.tensor([0.0, 1.0])
    known = _keys(g.edge_index, n)
    hit = False
    for seed in range(20):
        _, va, neg_va, te, neg_te = mag_link_split(g, seed, num_negatives=2)
        for pos, neg in ((va, neg_va), (te, neg_te)):
            assert neg.shape == (pos.size(1), 2)
            for q in range(pos.size(1)):
                h = int(pos[0, q])
                assert all(h * n + int(t) not in known and int(t) != h for t in neg[q])
            heads0 = pos[0] == 0
            if heads0.any():
                hit = True
                r = rank_tails(z, pos[:, heads0], neg[heads0])
                assert torch.equal(r, torch.ones_like(r))
    assert hit
    # what an unfiltered ranking would do: a true tail (2) drawn as a negative ties with the positive
    unfiltered = rank_tails(z, torch.tensor([[0], [1]]), torch.tensor([[2, 25]]))
    assert float(unfiltered[0]) == 1.5


# ----------------------------------------------------------------------------- lookup, progress, device
def test_find_dataset_dir_prefixes_case_and_errors(tmp_path, monkeypatch):
    (tmp_path / "matching" / "er" / "DBLP-ACM").mkdir(parents=True)
    (tmp_path / "mag" / "Toys").mkdir(parents=True)
    assert find_dataset_dir("er/dblp-acm", tmp_path, prefixes=("matching", "")) == \
        tmp_path / "matching" / "er" / "DBLP-ACM"
    assert find_dataset_dir("Toys", tmp_path, prefixes=("", "mag")) == tmp_path / "mag" / "Toys"
    monkeypatch.setenv("GRAPHEMB_DATA", str(tmp_path))
    assert find_dataset_dir("toys", prefixes=("", "mag")) == tmp_path / "mag" / "Toys"
    with pytest.raises(DatasetNotFoundError) as err:
        find_dataset_dir("Nope", tmp_path, prefixes=("", "mag"))
    assert err.value.tried == [str(tmp_path / "Nope"), str(tmp_path / "mag" / "Nope")]
    monkeypatch.delenv("GRAPHEMB_DATA")
    with pytest.raises(FileNotFoundError, match="no data root"):
        find_dataset_dir("Toys")
    # the matching and MAG loaders go through it
    from graphemb.matching.datasets import find_root
    from graphemb.multimodal.data import load_mag

    assert find_root("er/DBLP-ACM", tmp_path) == tmp_path / "matching" / "er" / "DBLP-ACM"
    with pytest.raises(FileNotFoundError, match="mag/Nope"):
        load_mag("Nope", root=tmp_path)


def test_progress_switch(monkeypatch):
    monkeypatch.setenv("GRAPHEMB_PROGRESS", "0")
    assert progress_enabled() is False and progress_enabled(True) is True
    assert progress(range(3)).disable is True
    monkeypatch.setenv("GRAPHEMB_PROGRESS", "1")
    assert progress_enabled() is True and progress_enabled(False) is False
    bar = progress(total=5, enabled=False)
    assert bar.disable is True and bar.total == 5
    monkeypatch.delenv("GRAPHEMB_PROGRESS")
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # not a terminal
    assert progress_enabled() is False


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(ValueError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="--device cpu"):
            resolve_device("cuda")
