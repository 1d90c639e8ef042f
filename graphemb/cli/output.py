"""What every ``graphemb`` command prints, in one place.

* ``result(args, text, record)``: the command's outcome. With ``--json`` the record is printed as
  one JSON object, always the **last line of stdout** (the human text goes to stderr); without it
  the text goes to stdout. ``--quiet`` drops the text, never the JSON.
* ``log(args, text)``: progress notes on stderr, dropped by ``--quiet``.
* ``add_habits(parser)``: ``-q/--quiet`` and ``-v/--verbose`` on every (sub)command, ``--json``
  on the ones in :data:`RESULT_COMMANDS`.
* ``apply_habits(args)``: ``--quiet`` turns progress bars off (through ``GRAPHEMB_PROGRESS``, the
  switch :mod:`graphemb.utils.progress` reads) and logging to warnings; ``-v`` / ``-vv`` show
  INFO / DEBUG logs of the ``graphemb`` loggers.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from typing import Any, Iterator, Mapping, Tuple

# commands whose outcome is a record (``--json`` added when the command lacks it)
RESULT_COMMANDS = {
    "datasets", "train", "evaluate", "embed", "reproduce", "info", "index", "search", "plot", "report",
    "mag encode", "mag train", "mag export", "match build", "match embed", "match run",
}


def _to_json(obj: Any) -> str:
    def default(v: Any) -> Any:
        if hasattr(v, "tolist"):
            return v.tolist()
        if hasattr(v, "__fspath__"):
            return os.fspath(v)
        return float(v)

    return json.dumps(obj, default=default)


def result(args: argparse.Namespace, text: str, record: Mapping[str, Any] | list) -> None:
    """Print a command's outcome (see module docstring)."""
    as_json = getattr(args, "json", False)
    if text and not getattr(args, "quiet", False):
        print(text, file=sys.stderr if as_json else sys.stdout, flush=True)
    if as_json:
        print(_to_json(record), flush=True)


def log(args: argparse.Namespace, text: str) -> None:
    """A progress note on stderr (silenced by ``--quiet``)."""
    if not getattr(args, "quiet", False):
        print(text, file=sys.stderr, flush=True)


def subcommands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[Tuple[str, argparse.ArgumentParser]]:
    """Every (nested) sub-parser with its command path, e.g. ``("mag train", parser)``."""
    for action in parser._actions:  # argparse keeps sub-parsers only here
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                path = f"{prefix} {name}".strip()
                yield path, sub
                yield from subcommands(sub, path)


def _has(parser: argparse.ArgumentParser, option: str) -> bool:
    return any(option in a.option_strings for a in parser._actions)


_ROLE = re.compile(r":(?:func|class|meth|mod|data|attr):`~?([^`]+)`")


def plain(text: str | None) -> str | None:
    """Docstring markup to terminal text: ``x`` -> `x`, :func:`a.b` -> a.b."""
    if not text:
        return text
    return _ROLE.sub(r"\1", text).replace("``", "`")


def add_habits(parser: argparse.ArgumentParser) -> None:
    """Add ``-q``/``-v`` to every command and ``--json`` to the result commands; help texts in
    plain text (docstrings used as descriptions lose their markup)."""
    for p in [parser, *(sub for _, sub in subcommands(parser))]:
        p.description = plain(p.description)
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction) and not a.help:
                a.help = "the command to run (each takes --help)"
            a.help = plain(a.help)
            for choice in getattr(a, "_choices_actions", []):
                choice.help = plain(choice.help)
    for path, sub in subcommands(parser):
        if any(isinstance(a, argparse._SubParsersAction) for a in sub._actions):
            continue  # a command group: its leaves get the options
        if not _has(sub, "--quiet"):
            sub.add_argument("-q", "--quiet", action="store_true",
                             help="print only the result (and errors); no progress bars")
        if not _has(sub, "--verbose"):
            sub.add_argument("-v", "--verbose", action="count", default=0,
                             help="more log output (-v info, -vv debug)")
        if path in RESULT_COMMANDS and not _has(sub, "--json"):
            sub.add_argument("--json", action="store_true",
                             help="print the result as one JSON object, the last line of stdout")


def apply_habits(args: argparse.Namespace) -> None:
    """Act on ``--quiet`` / ``--verbose`` before the command runs."""
    if getattr(args, "quiet", False):
        os.environ["GRAPHEMB_PROGRESS"] = "0"
        level = logging.WARNING
    else:
        level = {0: logging.WARNING, 1: logging.INFO}.get(getattr(args, "verbose", 0) or 0, logging.DEBUG)
    logger = logging.getLogger("graphemb")
    logger.setLevel(level)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
