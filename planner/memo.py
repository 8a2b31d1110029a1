"""Values computed once per object (a catalog, its tables) and dropped with it.

The planner keeps per-catalog data that every plan would otherwise rebuild: the Universe of
per-row model constants (``planner.search.shapes.candidates``) and pure functions of the catalog such as the
adaptation choices (``planner.levers.adaptation``). They are attached to the object they derive from
through a weak reference, so a replaced catalog takes its data with it, provided no value holds its
owner strongly: the store holds the values, so such a value would keep its owner, and itself, alive
for good (the Universe refers to its tables weakly; tests/test_api_attacks.py counts the tables a
service keeps across catalog writes).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar, cast

__all__ = ["Bounded", "Firsts", "cached"]

T = TypeVar("T")

_STORE: dict[int, tuple[weakref.ref[Any], dict[Hashable, Any]]] = {}


def cached(owner: object, key: Hashable, compute: Callable[[], T]) -> T:
    """``compute()``, computed once per (owner object, key) while the owner lives."""
    entry = _STORE.get(id(owner))
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner), {})
        _STORE[id(owner)] = entry
        weakref.finalize(owner, _STORE.pop, id(owner), None)
    values = entry[1]
    if key not in values:
        values[key] = compute()
    return cast(T, values[key])


class Bounded(Generic[T]):
    """A map of at most ``size`` entries, the least recently used dropped first; safe to share between threads
    (what a catalog's tables keep per workload: ``planner.search.shapes.candidates.enumerated``)."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"Bounded size must be at least 1, got {size}")
        self.size = size
        self._kept: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> T | None:
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


class Firsts:
    """The keys seen so far: ``first(key)`` is true once per key (what a store backed on disk reads once per
    question: ``planner.search.shapes.answers.Answers``, ``planner.search.shapes.row_memo.RowMemo``); safe to share
    between threads."""

    def __init__(self) -> None:
        self._seen: set[Hashable] = set()
        self._lock = threading.Lock()

    def first(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
            return True

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()
