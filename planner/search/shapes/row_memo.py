"""Per-row values a search computes from a row's constants and its question alone, kept per catalog version.

Two steps of a search compute, for Universe rows (``planner.search.shapes.candidates``), values that depend on
the row's constants and on the question (``answers.question``: the served features, the token lengths with
their shared prefix, the SLO) and on nothing else a workload says: the screen (``capacity.screen``: whether
a row meets every SLO target at no load, its raw capacity, its most sequences and the ceiling on its SLO
capacity; ``prepare``) and the engine's cap tuned to the TPOT targets (``capacity.tuned_cap``; ``build``).
A re-plan of the same question (an edited rate, budget, quota or quality floor, an explanation's relaxed
re-solves, a lever report's variants, a sweep over traffic) asks them again for the same rows.
``RowMemo`` keeps them per question and per name, by Universe row, so such a re-plan computes them only for
rows it has not met: the same values (each is computed row by row: a row's value does not depend on the
rows computed beside it), in less time (bench/replan_bench.py --edit mean: with ``candidates.enumerated``, a
re-plan of an edited mean rate in 0.28-0.87x, median 0.78x, the CPU time of one without them over the examples).

A memo belongs to one catalog's tables (``shared_rows``: a Universe row names a row's constants only
within its tables, so the tables of a catalog at measured speed keep their own), lives and dies with
them (``planner.memo``); ``answers.forget`` empties it with the tables' capacity answers (a benchmark of a
question never asked empties both). Bounded: the least recently asked questions go first past
``QUESTIONS_KEPT`` questions or ``ROWS_KEPT`` rows in all (a question that alone would pass the rows'
bound keeps at most that many of the rows it stored last; the others are computed again when asked). Safe
to share between threads (a service plans requests in a pool).

A memo may have a ``Backing`` (``hwplan plan`` and the service give it the compiled catalog cache's,
``hardware_catalog.caching.answers_cache``, as they do the capacity answers): the rows kept there for a
(question, name) join the memo the first time a search asks it, and the rows computed since (``fresh``) are
written back when the command ends, so the next ``hwplan plan`` of the same question (a fresh process)
screens and tunes only rows no run has met.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import numpy as np
import numpy.typing as npt

from planner.memo import Firsts, cached
from planner.model.grid import Array, CatalogTables

__all__ = ["QUESTIONS_KEPT", "ROWS_KEPT", "Backing", "RowMemo", "memoised", "merged", "shared_rows"]

QUESTIONS_KEPT = 64  # questions kept per catalog version's tables, the most recently asked
ROWS_KEPT = 500_000  # rows kept over every question and name: ~20 MB (a row's id and 4 values; a screen holds
# 8-75 k rows of the examples' questions)

IntArray = npt.NDArray[np.int64]
Key = tuple[bytes, str]  # (question, name)


class Backing(Protocol):
    """Where a memo's rows outlive the process: per (question, name), sorted distinct Universe rows and their
    values [k, rows], or None where nothing (readable) is kept."""

    def load(self, question: bytes, name: str) -> tuple[IntArray, Array] | None: ...


class RowMemo:
    """Values [k, row] by (question, name), for sorted Universe rows."""

    def __init__(self, questions: int = QUESTIONS_KEPT, rows: int = ROWS_KEPT) -> None:
        if questions < 1 or rows < 1:
            raise ValueError(f"RowMemo sizes must be at least 1, got {questions}, {rows}")
        self.questions, self.rows = questions, rows
        self.backing: Backing | None = None
        self._kept: OrderedDict[Key, tuple[IntArray, Array]] = OrderedDict()
        self._opened = Firsts()  # (question, name) pairs whose backed rows were taken in
        self._fresh: dict[Key, list[tuple[IntArray, Array]]] = {}  # rows computed here, not yet written back
        self._lock = threading.Lock()

    def _open(self, key: Key, width: int) -> None:
        """Take in the backing's rows of ``key`` (once per key; nothing without a backing, nor from a file whose
        values are not ``width`` per row: another layout is not this name's)."""
        backing = self.backing
        if backing is None or not self._opened.first(key):
            return
        loaded = backing.load(*key)
        if loaded is not None and len(loaded[0]) and loaded[1].shape[0] == width:
            with self._lock:
                self._merge(key, *loaded)

    def lookup(self, question: bytes, name: str, rows: IntArray, width: int) -> tuple[npt.NDArray[np.bool_], Array]:
        """(which of ``rows`` are kept, their values [width, len(rows)]; nan where not kept)."""
        self._open((question, name), width)
        values = np.full((width, len(rows)), np.nan)
        with self._lock:
            entry = self._kept.get((question, name))
            if entry is not None:
                self._kept.move_to_end((question, name))
        if entry is None or not len(rows):
            return np.zeros(len(rows), dtype=bool), values
        kept_rows, kept_values = entry
        at = np.minimum(np.searchsorted(kept_rows, rows), len(kept_rows) - 1)
        hit = kept_rows[at] == rows
        values[:, hit] = kept_values[:, at[hit]]
        return hit, values

    def store(self, question: bytes, name: str, rows: IntArray, values: Array) -> None:
        """Keep ``values`` [k, len(rows)] of ``rows`` (rows already kept keep their first values)."""
        if not len(rows):
            return
        rows, first = np.unique(rows, return_index=True)
        values = values[:, first]
        key = (question, name)
        with self._lock:
            self._merge(key, rows, values)
            if self.backing is not None:
                self._fresh.setdefault(key, []).append((rows, values))

    def _merge(self, key: Key, rows: IntArray, values: Array) -> None:
        """Keep ``values`` of the sorted distinct ``rows`` under ``key`` beside what it keeps (rows already kept keep
        their first values); the lock held."""
        entry = self._kept.get(key)
        if entry is not None:
            both = merged(*entry, rows, values)
            if len(both[0]) <= self.rows:
                rows, values = both
        # past the bound a question keeps only these rows (the others are computed again when asked)
        self._kept[key] = (rows[:self.rows], values[:, :self.rows])
        self._kept.move_to_end(key)
        self._evict(key[0])

    def fresh(self) -> dict[Key, tuple[IntArray, Array]]:
        """The rows computed since the last call (sorted, distinct), by (question, name), and forgotten as unwritten."""
        with self._lock:
            found, self._fresh = self._fresh, {}
        out = {}
        for key, parts in found.items():
            rows, first = np.unique(np.concatenate([r for r, _ in parts]), return_index=True)
            out[key] = (rows, np.concatenate([v for _, v in parts], axis=1)[:, first])
        return out

    def _evict(self, newest: bytes) -> None:
        """Drop the least recently asked questions (never ``newest``) while either bound is passed."""
        count: OrderedDict[bytes, int] = OrderedDict()
        for (q, _name), (rows, _values) in self._kept.items():  # in order of last use
            count[q] = count.get(q, 0) + len(rows)
        total = sum(count.values())
        for q in list(count):
            if len(count) <= self.questions and total <= self.rows:
                break
            if q == newest:
                continue
            for key in [k for k in self._kept if k[0] == q]:
                del self._kept[key]
            total -= count.pop(q)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._opened.clear()
            self._fresh.clear()

    def __len__(self) -> int:
        """Rows kept, over every question and name."""
        with self._lock:
            return sum(len(rows) for rows, _ in self._kept.values())


def merged(rows: IntArray, values: Array, more_rows: IntArray, more_values: Array) -> tuple[IntArray, Array]:
    """The sorted distinct rows of both (each sorted and distinct) and their values [k, rows], a row in both keeping
    its first values (a row's values do not change under one question: either would do)."""
    new = ~np.isin(more_rows, rows, assume_unique=True)
    both = np.concatenate([rows, more_rows[new]])
    order = np.argsort(both, kind="stable")
    return both[order], np.concatenate([values, more_values[:, new]], axis=1)[:, order]


def shared_rows(tables: CatalogTables) -> RowMemo:
    """The memo kept for these tables (one per catalog version's tables)."""
    return cached(tables, _KEY, RowMemo)


def memoised(memo: RowMemo | None, question: bytes, name: str, rows: IntArray, width: int,
             compute: Callable[[npt.NDArray[np.intp]], Array]) -> Array:
    """``compute(index)`` of the positions ``index`` into ``rows`` (Universe rows) it is asked for, [width, len(index)],
    for the rows ``memo`` does not keep under (question, name); the values of every row, [width, len(rows)].
    ``compute`` must give a row the same values whatever rows it computes beside it. No memo: all computed."""
    if memo is None:
        return compute(np.arange(len(rows)))
    hit, values = memo.lookup(question, name, rows, width)
    missing = np.flatnonzero(~hit)
    if missing.size:
        fresh = compute(missing)
        values[:, missing] = fresh
        memo.store(question, name, rows[missing], fresh)
    return values


_KEY = "row-memo"
