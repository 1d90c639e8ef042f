"""Text normalisation, tokens and n-grams for matching graphs (TDmatch, arXiv 2112.08776, §III-A).

One normaliser serves both corpora so a table cell and a sentence that mention the same thing
produce the same token: lowercase, ``1,000`` -> ``1000`` and ``33.0`` -> ``33`` (numbers are
canonicalised before punctuation is dropped), punctuation split, stop words removed
(gensim's English list by default). n-grams (``n`` <= ``max_n``) are formed from the
consecutive kept tokens of one field and joined with ``_``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, List, Optional

__all__ = ["Normalizer", "STOP_WORDS", "normalize_number", "ngrams"]

def _stop_words() -> FrozenSet[str]:
    """gensim's English stop words, imported on first use (gensim is slow to import)."""
    global _STOP_WORDS
    if _STOP_WORDS is None:
        from gensim.parsing.preprocessing import STOPWORDS

        _STOP_WORDS = frozenset(STOPWORDS)
    return _STOP_WORDS


_STOP_WORDS: Optional[FrozenSet[str]] = None


def __getattr__(name: str):
    if name == "STOP_WORDS":  # module attribute, resolved lazily (PEP 562)
        return _stop_words()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
_TOKEN = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?(?![^\W_])|[^\W_]+", re.UNICODE)


def _is_number(tok: str) -> bool:
    return tok[0].isdigit() and tok.replace(",", "").replace(".", "", 1).isdigit()


def normalize_number(tok: str) -> str:
    """Canonical number text: thousands separators dropped, integral floats as integers."""
    t = tok.replace(",", "")
    if "." in t:
        whole, frac = t.split(".", 1)
        frac = frac.rstrip("0")
        t = whole if not frac else f"{whole}.{frac}"
    t = t.lstrip("0") or "0"
    if t.startswith("."):
        t = "0" + t
    return t


@dataclass(frozen=True)
class Normalizer:
    """Tokeniser shared by both corpora.

    Args:
        lowercase: lowercase the text (default ``True``).
        stop_words: words dropped (default gensim's English list); ``frozenset()`` keeps all.
        numbers: ``"canonical"`` (default: ``1,000.0`` -> ``1000``), ``"keep"`` (as written) or
            ``"drop"``.
        min_length: shortest kept word token (numbers are always kept), default 1.
    """

    lowercase: bool = True
    stop_words: FrozenSet[str] = field(default_factory=_stop_words)
    numbers: str = "canonical"
    min_length: int = 1

    def __post_init__(self) -> None:
        if self.numbers not in ("canonical", "keep", "drop"):
            raise ValueError(f"numbers must be 'canonical', 'keep' or 'drop', got {self.numbers!r}")

    def tokens(self, text: str) -> List[str]:
        """Normalised tokens of ``text`` in order."""
        if self.lowercase:
            text = text.lower()
        out: List[str] = []
        for tok in _TOKEN.findall(text):
            if _is_number(tok):
                if self.numbers == "drop":
                    continue
                out.append(normalize_number(tok) if self.numbers == "canonical" else tok)
            elif len(tok) >= self.min_length and tok not in self.stop_words:
                out.append(tok)
        return out

    def ngrams(self, text: str, max_n: int = 3) -> List[str]:
        """Distinct n-grams (1..``max_n``) of ``text``, in order of first occurrence."""
        return ngrams(self.tokens(text), max_n)


def ngrams(tokens: List[str], max_n: int = 3) -> List[str]:
    """Distinct n-grams of ``tokens`` for n = 1..``max_n`` joined with ``_`` (first-seen order)."""
    if max_n < 1:
        raise ValueError(f"max_n must be >= 1, got {max_n}")
    seen: dict = {}
    for n in range(1, max_n + 1):
        for i in range(len(tokens) - n + 1):
            seen.setdefault("_".join(tokens[i : i + n]), None)
    return list(seen)


def field_ngrams(fields: Iterable[str], normalizer: Optional[Normalizer] = None, max_n: int = 3) -> List[List[str]]:
    """n-grams of each field separately (n-grams never cross a table cell boundary)."""
    norm = normalizer or Normalizer()
    return [norm.ngrams(str(f), max_n) for f in fields]


def vocab_ids(terms: Iterable[str], vocab: Dict[str, int], grow: bool) -> List[int]:
    """Ids of ``terms`` in ``vocab``; unknown terms get the next id when ``grow``, else are dropped."""
    ids: List[int] = []
    for t in terms:
        j = vocab.get(t)
        if j is None:
            if not grow:
                continue
            j = vocab[t] = len(vocab)
        ids.append(j)
    return ids
