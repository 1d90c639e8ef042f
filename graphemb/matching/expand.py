"""Graph expansion: token–token edges from a text encoder or a synonym file (TDmatch §III-B).

Both functions return a new graph and an :class:`ExpandReport` saying exactly which edges were
added (the published TDmatch notebooks silently added none; here the count is checked in tests).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Optional, Protocol, Sequence, Tuple

import numpy as np
import torch

from graphemb.matching.graph import TOKEN, MatchingGraph
from graphemb.matching.text import Normalizer

__all__ = ["ExpandReport", "expand_with_encoder", "expand_with_synonyms", "read_synonyms"]


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 64, show_progress: Optional[bool] = None) -> np.ndarray: ...


@dataclass
class ExpandReport:
    """What an expansion did: ``added`` new undirected token pairs (names), ``skipped`` inputs."""

    added: List[Tuple[str, str]] = field(default_factory=list)
    skipped: List[Tuple[str, str]] = field(default_factory=list)

    @property
    def num_added(self) -> int:
        return len(self.added)


def _add(graph: MatchingGraph, new: np.ndarray, how: str) -> Tuple[MatchingGraph, List[Tuple[str, str]]]:
    new = np.sort(np.asarray(new, dtype=np.int64).reshape(-1, 2), axis=1)
    old = graph.pairs()
    n = graph.num_nodes
    old_code = old[:, 0] * n + old[:, 1]
    code = np.unique(new[:, 0] * n + new[:, 1])
    code = code[~np.isin(code, old_code) & (code // n != code % n)]
    fresh = np.stack([code // n, code % n], 1)
    added = [(graph.names[u], graph.names[v]) for u, v in fresh.tolist()]
    sizes = dict(graph.meta.get("sizes", {}))
    out = graph.with_edges(np.concatenate([old, fresh], 0))
    sizes[f"expanded ({how})"] = out.sizes()
    out.meta["sizes"] = sizes
    return out, added


def expand_with_encoder(graph: MatchingGraph, encoder: Encoder, *, threshold: float = 0.8,
                        top_k: Optional[int] = None, max_ngram: int = 1, batch_size: int = 1024,
                        show_progress: Optional[bool] = None) -> Tuple[MatchingGraph, ExpandReport]:
    """Link tokens whose encoder embeddings have cosine similarity >= ``threshold``.

    Args:
        graph: the matching graph.
        encoder: any object with ``encode(texts) -> [n, d]`` (e.g.
            ``graphemb.multimodal.encoders.text.load_text_encoder("minilm")``).
        threshold: minimum cosine similarity (default 0.8).
        top_k: keep at most ``k`` most similar partners per token (``None``: all above threshold).
        max_ngram: only tokens with at most this many words take part (default 1: single words;
            numbers never take part).
        batch_size: rows of the similarity matrix computed at once.
    """
    types = graph.node_type.numpy()
    cand = [v for v in np.flatnonzero(types == TOKEN).tolist()
            if graph.names[v].count("_") < max_ngram and not graph.names[v][:1].isdigit()]
    report = ExpandReport()
    if len(cand) < 2:
        return graph, report
    emb = torch.as_tensor(np.asarray(encoder.encode([graph.names[v].replace("_", " ") for v in cand],
                                                    show_progress=show_progress)), dtype=torch.float32)
    if emb.shape[0] != len(cand):
        raise ValueError(f"encoder returned {emb.shape[0]} vectors for {len(cand)} tokens")
    emb = torch.nn.functional.normalize(emb, dim=1)
    ids = torch.tensor(cand)
    found = []
    for s in range(0, len(cand), batch_size):
        sim = emb[s : s + batch_size] @ emb.t()
        rows = torch.arange(s, min(s + batch_size, len(cand)))
        sim[rows - s, rows] = -2.0  # no self pairs
        if top_k is not None:
            val, col = sim.topk(min(top_k, len(cand) - 1), dim=1)
            r = (rows.view(-1, 1).expand_as(col))[val >= threshold]
            c = col[val >= threshold]
        else:
            r, c = (sim >= threshold).nonzero(as_tuple=True)
            r = r + s
        found.append(torch.stack([ids[r], ids[c]], 1))
    pairs = torch.cat(found).numpy()
    out, report.added = _add(graph, pairs, "encoder")
    return out, report


def read_synonyms(path: str | Path, encoding: str = "utf-8") -> List[Tuple[str, str]]:
    """Pairs from a synonym file: one pair per line, ``a<TAB>b`` or ``a,b``; ``#`` comments.

    A line with more than two terms links the first term to each of the others.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"synonym file {p} not found")
    pairs = []
    for k, line in enumerate(p.read_text(encoding=encoding).splitlines(), 1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        parts = [x.strip() for x in (line.split("\t") if "\t" in line else line.split(","))]
        parts = [x for x in parts if x]
        if len(parts) < 2:
            raise ValueError(f"{p}:{k}: expected two terms separated by a tab or a comma, got {line!r}")
        pairs += [(parts[0], q) for q in parts[1:]]
    return pairs


def expand_with_synonyms(graph: MatchingGraph, pairs: Iterable[Tuple[str, str]] | str | Path, *,
                         normalizer: Optional[Normalizer] = None) -> Tuple[MatchingGraph, ExpandReport]:
    """Link the token nodes of each synonym pair (terms normalised as the graph's tokens).

    Pairs whose terms have no token node are reported in ``report.skipped``, never silently lost.
    """
    if isinstance(pairs, (str, Path)):
        pairs = read_synonyms(pairs)
    norm = normalizer or Normalizer()
    types = graph.node_type.tolist()
    index = {n: v for v, n in enumerate(graph.names) if types[v] == TOKEN}
    report = ExpandReport()
    found = []
    for x, y in pairs:
        u, v = index.get("_".join(norm.tokens(x))), index.get("_".join(norm.tokens(y)))
        if u is None or v is None or u == v:
            report.skipped.append((x, y))
        else:
            found.append((u, v))
    if not found:
        return graph, report
    out, report.added = _add(graph, np.array(found), "synonyms")
    return out, report
