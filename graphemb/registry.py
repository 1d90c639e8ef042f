"""A tiny name -> object registry, the unit of extension (as PyKEEN's class resolver).

Registering a model, dataset, encoder or protocol under a name makes the CLI, the configs and
the per-model test template pick it up without further wiring.
"""
from __future__ import annotations

from typing import Callable, Dict, Generic, Iterator, TypeVar

T = TypeVar("T")


def normalize_name(name: str) -> str:
    """Canonical key: case-insensitive, ``_`` and ``-`` equivalent."""
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    """Map names to objects (classes or factories).

    Args:
        kind: what the registry holds, used in error messages (``"model"``, ``"dataset"``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str, obj: T | None = None) -> Callable[[T], T] | T:
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""

        def deco(o: T) -> T:
            key = normalize_name(name)
            if key in self._items and self._items[key] is not o:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[key] = o
            return o

        return deco(obj) if obj is not None else deco

    def get(self, name: str) -> T:
        key = normalize_name(name)
        if key not in self._items:
            known = ", ".join(sorted(self._items)) or "(none)"
            raise KeyError(f"unknown {self.kind} {name!r}; known {self.kind}s: {known}")
        return self._items[key]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))

    def names(self) -> list[str]:
        return sorted(self._items)

    def items(self):
        return sorted(self._items.items())
