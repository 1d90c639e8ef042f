"""Matching datasets: CoronaCheck (claims -> table rows), ER pair files, and a user's own corpora.

Data root: the ``root`` argument, else ``$GRAPHEMB_DATA``; a dataset is looked up under
``<root>/matching/...`` and then ``<root>/...``.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Literal, Optional, Sequence

import numpy as np

from graphemb.matching.graph import Corpus
from graphemb.utils.io import DataFileError, decode_error, read_json

__all__ = ["MatchingDataset", "load_matching", "load_coronacheck", "load_er", "load_pair", "read_corpus",
           "load_pair_dir", "parse_er_record", "find_root", "read_table_strict", "ER_DATASETS"]

ER_DATASETS = ("DBLP-ACM", "Amazon-Google", "Beer", "Fodors-Zagats", "iTunes-Amazon")
CORONA_COLUMNS = ["table", "country", "january", "february", "march", "april", "may", "june"]


@dataclass
class MatchingDataset:
    """Two corpora and the gold matches of the query objects.

    Attributes:
        a, b: the corpora (graph side A keeps all its tokens; see ``build_graph``).
        query_side: ``"b"`` (queries are B objects, candidates A objects) or ``"a"``.
        queries: ``[Q]`` indices of the query objects on the query side.
        gold: ``gold[q]`` candidate indices (other side) that match query ``q`` (may be empty: a miss).
        pairs: ``[P, 2]`` gold ``(a index, b index)`` pairs (for precision/recall/F1).
        groups: named subsets of the queries (positions in ``queries``) reported on their own
            beside the whole set (CoronaCheck ``all``: ``gen`` and ``usr`` claims); ``None``: none.
    """

    name: str
    a: Corpus
    b: Corpus
    query_side: Literal["a", "b"]
    queries: np.ndarray
    gold: List[List[int]]
    pairs: np.ndarray
    groups: Optional[Dict[str, np.ndarray]] = None

    def __repr__(self) -> str:
        return (f"MatchingDataset({self.name!r}, |A|={len(self.a)}, |B|={len(self.b)}, queries={len(self.queries)}, "
                f"side={self.query_side}, gold pairs={len(self.pairs)})")


def find_root(sub: str, root: Optional[str | Path] = None) -> Path:
    """The folder ``sub`` under ``root`` or ``$GRAPHEMB_DATA`` (``<r>/matching/<sub>``, then ``<r>/<sub>``),
    through the library's one lookup (:func:`graphemb.data.paths.find_dataset_dir`)."""
    from graphemb.data.paths import find_dataset_dir

    return find_dataset_dir(sub, root, prefixes=("matching", ""), what="matching dataset")


def _unquote_claim(line: str) -> str:
    line = line.strip()
    if len(line) >= 2 and line[0] == "'" and line[-1] == "'":
        line = line[1:-1]
    return line.replace("''", "'")


def load_coronacheck(root: Optional[str | Path] = None, claims: Literal["all", "gen", "usr"] = "all") -> MatchingDataset:
    """CoronaCheck (TDmatch): 1,158 table rows (A) and 7,008 generated + 50 user claims (B).

    ``corona_tables.csv`` quotes with ``|``; claims are quoted with ``'`` and escape ``''``. Gold
    rows come from ``corona_GT.json`` (row text = cells joined by spaces); the 96 generated claims
    without a gold row stay as queries (misses).
    """
    d = find_root("coronacheck", root)
    with open(d / "corona_tables.csv", newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, quotechar="|"))
    bad = [i for i, r in enumerate(rows) if len(r) != len(CORONA_COLUMNS)]
    if bad:
        raise ValueError(f"{d/'corona_tables.csv'} line {bad[0]+1}: {len(rows[bad[0]])} cells, expected "
                         f"{len(CORONA_COLUMNS)} (is the quote char '|'?)")
    row_text = [" ".join(r) for r in rows]
    index: Dict[str, List[int]] = {}
    for i, t in enumerate(row_text):
        index.setdefault(t, []).append(i)
    files = {"gen": ["claims_GEN.csv"], "usr": ["claims_USR.csv"], "all": ["claims_GEN.csv", "claims_USR.csv"]}
    if claims not in files:
        raise ValueError(f"claims must be 'all', 'gen' or 'usr', got {claims!r}")
    texts: List[str] = []
    spans: Dict[str, np.ndarray] = {}
    for fn in files[claims]:
        start = len(texts)
        texts += [_unquote_claim(l) for l in (d / fn).read_text(encoding="utf-8").splitlines() if l.strip()]
        spans["gen" if "GEN" in fn else "usr"] = np.arange(start, len(texts))
    gt = json.loads((d / "corona_GT.json").read_text(encoding="utf-8"))
    missing = [t for t in texts if t not in gt]
    if missing:
        raise ValueError(f"{len(missing)} claims are not keys of corona_GT.json (first: {missing[0]!r}); "
                         "check the '' unescaping")
    gold = [sorted({i for r in gt[t] for i in index.get(r, [])}) for t in texts]
    a = Corpus.from_rows(rows, CORONA_COLUMNS, ids=[f"row{i}" for i in range(len(rows))], name="corona tables")
    b = Corpus.from_texts(texts, ids=[f"claim{i}" for i in range(len(texts))], name="claims")
    pairs = np.array([(c, q) for q, g in enumerate(gold) for c in g], dtype=np.int64).reshape(-1, 2)
    return MatchingDataset(f"coronacheck-{claims}" if claims != "all" else "coronacheck", a, b, "b",
                           np.arange(len(texts)), gold, pairs, spans if claims == "all" else None)


_COL = re.compile(r"(?:^|\s)COL\s+(\S+)\s+VAL(?:\s|$)")


def parse_er_record(s: str) -> Dict[str, str]:
    """``"COL title VAL foo COL year VAL 2001"`` -> ``{"title": "foo", "year": "2001"}``."""
    s = s.strip()
    ms = list(_COL.finditer(s))
    if not ms:
        raise ValueError(f"not a 'COL attr VAL value' record: {s[:80]!r}")
    out = {}
    for m, nxt in zip(ms, ms[1:] + [None]):
        out[m.group(1)] = s[m.end() : nxt.start() if nxt else len(s)].strip()
    return out


def load_er(name: str, root: Optional[str | Path] = None, splits: Sequence[str] = ("train", "valid", "test")) -> MatchingDataset:
    """An ER benchmark from its pair files: the left (A) and right (B) tables are the distinct
    records of the pairs; gold = de-duplicated positive pairs; queries = left records with a match."""
    d = find_root(f"er/{name}", root)
    left: Dict[str, int] = {}
    right: Dict[str, int] = {}
    pos = set()
    for sp_ in splits:
        p = d / f"{sp_}.txt"
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found (ER pair file `left<TAB>right<TAB>label`)")
        for k, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split("\t")
            if len(parts) != 3:
                raise ValueError(f"{p}:{k}: expected 3 tab-separated fields, got {len(parts)}")
            l, r, y = (x.strip() for x in parts)
            i = left.setdefault(l, len(left))
            j = right.setdefault(r, len(right))
            if y == "1":
                pos.add((i, j))
    def table(recs: Dict[str, int], side: str) -> Corpus:
        parsed = [parse_er_record(s) for s in recs]
        cols: List[str] = []
        for r in parsed:
            cols += [c for c in r if c not in cols]
        return Corpus.from_rows([[r.get(c, "") for c in cols] for r in parsed], cols,
                                ids=[f"{side}{i}" for i in range(len(parsed))], name=f"{name} {side}")
    a, b = table(left, "L"), table(right, "R")
    pairs = np.array(sorted(pos), dtype=np.int64).reshape(-1, 2)
    queries = np.unique(pairs[:, 0])
    gold_map: Dict[int, List[int]] = {}
    for i, j in pairs.tolist():
        gold_map.setdefault(i, []).append(j)
    return MatchingDataset(name, a, b, "a", queries, [gold_map[int(q)] for q in queries], pairs)


def read_table_strict(path: str | Path, delimiter: str = ",", encoding: str = "utf-8"):
    """A header + rows text table as a DataFrame of strings, never shifting columns.

    Every row must have exactly the header's number of fields (quoted fields may hold the
    delimiter and newlines); a row with more or fewer raises :class:`DataFileError` naming the
    line, as do duplicate header names, an empty file and bytes that do not decode as ``encoding``.
    Blank lines are skipped.
    """
    import pandas as pd

    p = Path(path)
    try:
        text = p.read_bytes().decode(encoding)
    except UnicodeDecodeError:
        raise decode_error(p, encoding, delimiter) from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader, None)
        if header is None:
            raise DataFileError(p, "empty table (no header and no rows)")
        dup = sorted({c for c in header if header.count(c) > 1})
        if dup:
            raise DataFileError(p, f"line 1: duplicate column name(s) {dup} in the header")
        rows = []
        for r in reader:
            if not r:
                continue
            if len(r) != len(header):
                more = "more" if len(r) > len(header) else "fewer"
                raise DataFileError(p, f"line {reader.line_num}: {len(r)} fields, {more} than the header's "
                                    f"{len(header)} ({', '.join(header)})",
                                    "quote fields that contain the delimiter; every row needs the header's fields")
            rows.append(r)
    except csv.Error as e:
        raise DataFileError(p, f"line {reader.line_num}: malformed {'TSV' if delimiter == chr(9) else 'CSV'} ({e})") from None
    return pd.DataFrame(rows, columns=header, dtype=str)


def read_corpus(path: str | Path, *, id_column: Optional[str] = None, text_column: Optional[str] = None,
                encoding: str = "utf-8", name: Optional[str] = None) -> Corpus:
    """A corpus from a file: ``.csv``/``.tsv``/``.parquet`` tables (header row; each row an object,
    ids from ``id_column`` or the row number; ``text_column`` makes a text corpus of that column),
    or any other file as text, one object per non-empty line."""
    import pandas as pd

    p = Path(path)
    name = name or p.name
    if not p.is_file():
        raise FileNotFoundError(f"corpus file {p} not found")
    try:
        "".encode(encoding)
    except LookupError:
        raise ValueError(f"unknown encoding {encoding!r} for {p}; use e.g. 'utf-8' or 'latin-1'") from None
    suffix = p.suffix.lower()
    if suffix in (".csv", ".tsv", ".parquet"):
        df = pd.read_parquet(p) if suffix == ".parquet" else read_table_strict(p, "\t" if suffix == ".tsv" else ",",
                                                                               encoding)
        if len(df) == 0:
            raise ValueError(f"{p}: table has a header but no rows; nothing to match")
        ids = None
        if id_column is not None:
            if id_column not in df.columns:
                raise ValueError(f"{p}: id column {id_column!r} not in {list(df.columns)}")
            ids = df.pop(id_column).astype(str).tolist()
        if text_column is not None:
            if text_column not in df.columns:
                raise ValueError(f"{p}: text column {text_column!r} not in {list(df.columns)}")
            return Corpus.from_texts(df[text_column].astype(str).tolist(), ids, name=name)
        return Corpus.from_rows(df.astype(object).values.tolist(), [str(c) for c in df.columns], ids, name=name)
    try:
        raw = p.read_bytes().decode(encoding)
    except UnicodeDecodeError:
        raise decode_error(p, encoding, delimiter="\0") from None
    lines = [l.strip() for l in io.StringIO(raw).read().splitlines()]
    texts = [l for l in lines if l]
    if not texts:
        raise ValueError(f"{p}: text file has no objects (expected one document per non-empty line)")
    return Corpus.from_texts(texts, name=name)


def load_pair(a_path: str | Path, b_path: str | Path, gold_path: Optional[str | Path] = None, *,
              encoding: str = "utf-8", id_column: Optional[str] = None, query_side: Literal["a", "b"] = "b") -> MatchingDataset:
    """A user's own pair of corpora plus optional ground truth.

    ``gold_path``: ``.json`` ``{query_id: [candidate ids]}`` or a two-column CSV/TSV of
    ``a_id,b_id`` pairs (a header row is skipped when its ids are unknown). Without gold every
    object of the query side is a query with no gold (metrics are then meaningless).
    """
    a = read_corpus(a_path, id_column=id_column, encoding=encoding, name="A")
    b = read_corpus(b_path, id_column=id_column, encoding=encoding, name="B")
    a_idx = {x: i for i, x in enumerate(a.ids)}
    b_idx = {x: i for i, x in enumerate(b.ids)}
    pairs: List[tuple] = []
    if gold_path is not None:
        g = Path(gold_path)
        if g.suffix.lower() == ".json":
            obj = read_json(g, what="gold file")
            q_idx, c_idx = (b_idx, a_idx) if query_side == "b" else (a_idx, b_idx)
            for q, cs in obj.items():
                for c in ([cs] if isinstance(cs, str) else cs):
                    if str(q) not in q_idx or str(c) not in c_idx:
                        raise ValueError(f"{g}: pair ({q!r}, {c!r}) names an unknown object")
                    pr = (c_idx[str(c)], q_idx[str(q)]) if query_side == "b" else (q_idx[str(q)], c_idx[str(c)])
                    pairs.append(pr)
        else:
            rows = list(csv.reader(g.read_text(encoding=encoding).splitlines(), delimiter="\t" if g.suffix == ".tsv" else ","))
            for k, r in enumerate(rows):
                if not r:
                    continue
                if len(r) != 2:
                    raise ValueError(f"{g}:{k+1}: expected 2 fields (a_id, b_id), got {len(r)}")
                if r[0] not in a_idx or r[1] not in b_idx:
                    if k == 0:
                        continue  # header
                    raise ValueError(f"{g}:{k+1}: unknown id in pair {r}")
                pairs.append((a_idx[r[0]], b_idx[r[1]]))
    arr = np.array(sorted(set(pairs)), dtype=np.int64).reshape(-1, 2)
    n_q = len(b) if query_side == "b" else len(a)
    gold: List[List[int]] = [[] for _ in range(n_q)]
    for i, j in arr.tolist():
        gold[j if query_side == "b" else i].append(i if query_side == "b" else j)
    return MatchingDataset("pair", a, b, query_side, np.arange(n_q), gold, arr)


_PAIR_SUFFIXES = (".csv", ".tsv", ".parquet", ".txt")


def load_pair_dir(directory: str | Path, encoding: str = "utf-8") -> MatchingDataset:
    """A user's pair of corpora laid out in one folder: ``a.<ext>`` and ``b.<ext>`` (``csv``, ``tsv``,
    ``parquet`` or ``txt``) and an optional ``gold.json`` / ``gold.csv`` / ``gold.tsv`` (see
    :func:`load_pair`; queries are the B objects). The dataset is named after the folder."""
    d = Path(directory)

    def one(stem: str, suffixes: Sequence[str], required: bool) -> Optional[Path]:
        found = [d / f"{stem}{s}" for s in suffixes if (d / f"{stem}{s}").is_file()]
        if len(found) > 1:
            raise ValueError(f"{d}: several {stem}.* files ({', '.join(p.name for p in found)}); keep one")
        if not found and required:
            raise FileNotFoundError(f"{d}: no {stem}.<{'|'.join(x[1:] for x in suffixes)}> corpus file; a pair "
                                    "folder holds a.*, b.* and optionally gold.json")
        return found[0] if found else None

    ds = load_pair(one("a", _PAIR_SUFFIXES, True), one("b", _PAIR_SUFFIXES, True),
                   one("gold", (".json", ".csv", ".tsv"), False), encoding=encoding)
    ds.name = d.name
    return ds


def load_matching(name: str, root: Optional[str | Path] = None) -> MatchingDataset:
    """By name: ``coronacheck`` (all claims), ``coronacheck-gen``, ``coronacheck-usr``, an ER set
    (``DBLP-ACM``, ``er/DBLP-ACM``, case-insensitive), or a folder holding ``a.*``, ``b.*`` and
    ``gold.json`` (:func:`load_pair_dir`)."""
    if Path(name).is_dir():
        return load_pair_dir(name)
    key = name.strip().lower()
    if key in ("coronacheck", "coronacheck-all"):
        return load_coronacheck(root, "all")
    if key in ("coronacheck-gen", "coronacheck-usr"):
        return load_coronacheck(root, key.split("-")[1])  # type: ignore[arg-type]
    key = key.removeprefix("er/")
    for er in ER_DATASETS:
        if er.lower() == key:
            return load_er(er, root)
    raise KeyError(f"unknown matching dataset {name!r}; known: coronacheck, coronacheck-gen, coronacheck-usr, "
                   + ", ".join(ER_DATASETS) + ", or a folder with a.*, b.* and gold.json")
