"""The matching graph of two corpora (TDmatch, Ahmadi et al., ICDE 2022, arXiv 2112.08776).

Nodes: the objects of corpus A (table rows or documents), the objects of corpus B, one node per
distinct token / n-gram, and optionally one node per column. Edges (undirected):
object–token for every n-gram of the object, column–token for every n-gram seen in that column.
TDmatch drops the corpus-B n-grams that never occur in corpus A; here that is
``b_only_tokens="drop"`` (the default, as the paper) or ``"keep"``.
"""
from __future__ import annotations

from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data

from graphemb.matching.text import Normalizer, vocab_ids

__all__ = ["Corpus", "MatchingGraph", "build_graph", "OBJECT_A", "OBJECT_B", "TOKEN", "COLUMN",
           "NODE_TYPES", "undirected"]

OBJECT_A, OBJECT_B, TOKEN, COLUMN = 0, 1, 2, 3
NODE_TYPES = ("object_a", "object_b", "token", "column")


@dataclass
class Corpus:
    """A list of objects, each a list of fields (table cells, or one field for a text).

    Attributes:
        ids: object ids (unique strings), ``len == len(fields)``.
        fields: ``fields[i]`` the cells of object ``i`` (a text document has one field).
        columns: column names of a table (``len == len(fields[i])``), ``None`` for text.
        name: a label used in messages.
    """

    ids: List[str]
    fields: List[List[str]]
    columns: Optional[List[str]] = None
    name: str = "corpus"

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.fields):
            raise ValueError(f"{self.name}: {len(self.ids)} ids but {len(self.fields)} objects")
        if not self.fields:
            raise ValueError(f"{self.name}: corpus has no objects; check the input file is not empty")
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(f"{self.name}: object ids are not unique")
        if self.columns is not None:
            bad = [i for i, f in enumerate(self.fields) if len(f) != len(self.columns)]
            if bad:
                raise ValueError(f"{self.name}: object {self.ids[bad[0]]!r} has {len(self.fields[bad[0]])} "
                                 f"fields but the table has {len(self.columns)} columns")

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def is_table(self) -> bool:
        return self.columns is not None

    @classmethod
    def from_texts(cls, texts: Sequence[str], ids: Optional[Sequence[str]] = None, name: str = "text") -> "Corpus":
        """One object per text; ids default to ``"0", "1", ...``."""
        ids = [str(i) for i in range(len(texts))] if ids is None else [str(i) for i in ids]
        return cls(ids=ids, fields=[[str(t)] for t in texts], columns=None, name=name)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]], columns: Sequence[str], ids: Optional[Sequence[str]] = None,
                  name: str = "table") -> "Corpus":
        """One object per row; missing cells (``None``/NaN) become empty strings."""
        def cell(v: Any) -> str:
            return "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
        ids = [str(i) for i in range(len(rows))] if ids is None else [str(i) for i in ids]
        return cls(ids=ids, fields=[[cell(v) for v in r] for r in rows], columns=[str(c) for c in columns], name=name)

    def texts(self, style: Literal["values", "column: value"] = "values") -> List[str]:
        """Each object as one string: cells joined by spaces, or ``"col: value, ..."`` for tables."""
        if style == "column: value" and self.columns is not None:
            return [", ".join(f"{c}: {v}" for c, v in zip(self.columns, f) if v != "") for f in self.fields]
        return [" ".join(v for v in f if v != "") for f in self.fields]


def undirected(pairs: np.ndarray) -> Tensor:
    """``[2, 2E]`` sorted, de-duplicated, both directions, no self-loops, from ``[E, 2]`` pairs."""
    pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    if not len(pairs):
        return torch.zeros(2, 0, dtype=torch.long)
    n = int(pairs.max()) + 1
    u, v = pairs[:, 0], pairs[:, 1]
    code = np.unique(np.concatenate([u * n + v, v * n + u]))  # 1-D codes: sorted by (u, v), de-duplicated
    return torch.from_numpy(np.stack([code // n, code % n])).long()


@dataclass
class MatchingGraph:
    """A matching graph and its node bookkeeping.

    Attributes:
        data: PyG ``Data`` with ``edge_index`` ``[2, 2E]`` (undirected, sorted, no self-loops),
            ``node_type`` ``[N]`` (``OBJECT_A``, ``OBJECT_B``, ``TOKEN``, ``COLUMN``), ``num_nodes``.
        names: ``names[v]`` the object id (``"A:<id>"``/``"B:<id>"``), the token, or ``"COL:<name>"``.
        a_nodes: ``[len(A)]`` node of each A object, ``-1`` when it was pruned.
        b_nodes: ``[len(B)]`` node of each B object, ``-1`` when it was pruned.
        meta: build parameters and the size history (``meta["sizes"]``).
    """

    data: Data
    names: List[str]
    a_nodes: Tensor
    b_nodes: Tensor
    meta: Dict[str, Any] = field(default_factory=dict)

    @property
    def num_nodes(self) -> int:
        return int(self.data.num_nodes)

    @property
    def num_edges(self) -> int:
        """Undirected edge count."""
        return int(self.data.edge_index.size(1)) // 2

    @property
    def node_type(self) -> Tensor:
        return self.data.node_type

    def sizes(self) -> Dict[str, int]:
        """Node counts per type and the undirected edge count."""
        counts = torch.bincount(self.node_type, minlength=4).tolist()
        out = {k: int(c) for k, c in zip(("objects_a", "objects_b", "tokens", "columns"), counts)}
        out.update(nodes=self.num_nodes, edges=self.num_edges)
        return out

    def node_of(self, name: str) -> int:
        """Node id of a name (``"A:<id>"``, a token, ``"COL:<name>"``); ``KeyError`` if absent."""
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"no node named {name!r} in the graph") from None

    def edge_set(self) -> set:
        """Undirected edges as a set of ``(name, name)`` with the smaller node id first (for tests)."""
        ei = self.data.edge_index
        keep = ei[0] < ei[1]
        return {(self.names[u], self.names[v]) for u, v in ei[:, keep].t().tolist()}

    def pairs(self) -> np.ndarray:
        """``[E, 2]`` undirected edges, ``u < v``."""
        ei = self.data.edge_index.numpy()
        return ei[:, ei[0] < ei[1]].T.copy()

    def with_edges(self, pairs: np.ndarray, **meta: Any) -> "MatchingGraph":
        """Same nodes, new undirected edge set built from ``[E, 2]`` pairs."""
        data = Data(edge_index=undirected(pairs), node_type=self.node_type.clone(), num_nodes=self.num_nodes)
        return MatchingGraph(data, list(self.names), self.a_nodes.clone(), self.b_nodes.clone(), {**self.meta, **meta})

    def subgraph(self, keep: Tensor, **meta: Any) -> "MatchingGraph":
        """The induced subgraph on ``keep`` (``[N]`` bool); pruned objects map to ``-1``."""
        keep = keep.bool()
        new_id = torch.full((self.num_nodes,), -1, dtype=torch.long)
        new_id[keep] = torch.arange(int(keep.sum()))
        ei = self.data.edge_index
        m = keep[ei[0]] & keep[ei[1]]
        data = Data(edge_index=new_id[ei[:, m]], node_type=self.node_type[keep].clone(), num_nodes=int(keep.sum()))
        remap = lambda nodes: torch.where(nodes >= 0, new_id[nodes.clamp(min=0)], nodes)  # noqa: E731
        names = [n for n, k in zip(self.names, keep.tolist()) if k]
        return MatchingGraph(data, names, remap(self.a_nodes), remap(self.b_nodes), {**self.meta, **meta})

    def to_networkx(self):
        """A ``networkx.Graph`` with node attributes ``name`` and ``type``."""
        import networkx as nx

        g = nx.Graph()
        types = self.node_type.tolist()
        g.add_nodes_from((v, {"name": n, "type": NODE_TYPES[t]}) for v, (n, t) in enumerate(zip(self.names, types)))
        g.add_edges_from(map(tuple, self.pairs().tolist()))
        return g

    def save(self, directory: str | Path) -> Path:
        """Write ``graph.pt`` (tensors) and ``graph.json`` (names, meta) into ``directory``."""
        from graphemb.utils.io import atomic_write, write_json

        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        with atomic_write(d / "graph.pt") as f:
            torch.save({"edge_index": self.data.edge_index, "node_type": self.node_type,
                        "a_nodes": self.a_nodes, "b_nodes": self.b_nodes}, f)
        write_json(d / "graph.json", {"names": self.names, "meta": self.meta})
        return d

    @classmethod
    def load(cls, directory: str | Path) -> "MatchingGraph":
        """Read a graph written by :meth:`save`."""
        d = Path(directory)
        if not (d / "graph.pt").is_file():
            raise FileNotFoundError(f"no matching graph in {d} (expected graph.pt and graph.json); "
                                    "create one with `graphemb match build A B --out DIR`")
        from graphemb.utils.io import DataFileError, read_json

        try:
            t = torch.load(d / "graph.pt", weights_only=True)
        except (RuntimeError, EOFError, OSError) as e:
            raise DataFileError(d / "graph.pt", f"truncated or corrupt matching graph ({e})",
                                "rebuild it with `graphemb match build`") from None
        j = read_json(d / "graph.json", what="matching graph names file")
        data = Data(edge_index=t["edge_index"], node_type=t["node_type"], num_nodes=len(j["names"]))
        return cls(data, j["names"], t["a_nodes"], t["b_nodes"], j["meta"])


def build_graph(a: Corpus, b: Corpus, *, max_n: int = 3, normalizer: Optional[Normalizer] = None,
                column_nodes: bool = True, b_only_tokens: Literal["drop", "keep"] = "drop") -> MatchingGraph:
    """Build the matching graph of corpora ``a`` and ``b``.

    Args:
        a, b: the two corpora (tables or texts).
        max_n: longest n-gram (default 3, as TDmatch). n-grams are formed inside one field.
        normalizer: tokeniser shared by both sides (default :class:`Normalizer()`).
        column_nodes: add a node per column name (shared by both tables when names coincide)
            linked to the n-grams of that column.
        b_only_tokens: ``"drop"`` (TDmatch): n-grams of B absent from A get no node;
            ``"keep"``: they get nodes too.
    Returns:
        :class:`MatchingGraph`; node order: A objects, B objects, columns, tokens (first seen).
    """
    if b_only_tokens not in ("drop", "keep"):
        raise ValueError(f"b_only_tokens must be 'drop' or 'keep', got {b_only_tokens!r}")
    norm = normalizer or Normalizer()
    n_a, n_b = len(a), len(b)
    col_names: List[str] = []
    if column_nodes:
        for c in (a.columns or []) + (b.columns or []):
            if c not in col_names:
                col_names.append(c)
    col_id = {c: n_a + n_b + i for i, c in enumerate(col_names)}
    offset = n_a + n_b + len(col_names)
    vocab: Dict[str, int] = {}
    obj_src, obj_dst, col_src, col_dst = array("q"), array("q"), array("q"), array("q")

    def add(corpus: Corpus, base: int, grow: bool) -> None:
        cols = corpus.columns
        cache: Dict[str, List[int]] = {}  # a repeated cell (country, date...) is tokenised once per side
        for i, fields in enumerate(corpus.fields):
            for j, f in enumerate(fields):
                ids = cache.get(f)
                if ids is None:
                    ids = cache[f] = vocab_ids(norm.ngrams(f, max_n), vocab, grow)
                if not ids:
                    continue
                obj_src.extend([base + i] * len(ids))
                obj_dst.extend(ids)
                c = col_id.get(cols[j]) if (cols is not None and column_nodes) else None
                if c is not None:
                    col_src.extend([c] * len(ids))
                    col_dst.extend(ids)

    add(a, 0, True)
    add(b, n_a, b_only_tokens == "keep")
    pairs = np.stack([np.concatenate([np.frombuffer(obj_src, np.int64), np.frombuffer(col_src, np.int64)]),
                      np.concatenate([np.frombuffer(obj_dst, np.int64), np.frombuffer(col_dst, np.int64)]) + offset], 1)
    tokens = list(vocab)
    node_type = torch.cat([torch.full((n_a,), OBJECT_A), torch.full((n_b,), OBJECT_B),
                           torch.full((len(col_names),), COLUMN), torch.full((len(tokens),), TOKEN)]).long()
    names = [f"A:{i}" for i in a.ids] + [f"B:{i}" for i in b.ids] + [f"COL:{c}" for c in col_names] + tokens
    data = Data(edge_index=undirected(pairs), node_type=node_type, num_nodes=len(names))
    meta = {"max_n": max_n, "column_nodes": column_nodes, "b_only_tokens": b_only_tokens}
    g = MatchingGraph(data, names, torch.arange(n_a), torch.arange(n_a, n_a + n_b), meta)
    g.meta["sizes"] = {"built": g.sizes()}
    return g
