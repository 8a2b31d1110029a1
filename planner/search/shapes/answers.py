"""Capacity answers kept per catalog version, across requests.

What one replica shape carries within the SLOs (``capacity.search_capacity``: its SLO capacity, the
rung, the concurrency and the latencies one rung above) depends on the shape's performance-model
constants and ceiling, the serving features, the token-length distributions and the SLO, and on
nothing else a workload says: not the request rate, the peak, the budget, the quality floor, the
quotas or the objective. So a re-plan that changes only those (a planner editing the budget or the
traffic, an explanation relaxing the budget, a sweep over rates, the pools of a disaggregated plan
searched again pinned to a format) asks the queueing model nothing new about a shape already
evaluated. ``Prepared.evaluate`` (``planner.search.shapes.prepare``) files each answer under its question,
the context (features, lengths, SLO; ``question``) and the row's constants, in the ``Answers`` of the
catalog's tables (``shared``), which live and die with the tables (``planner.memo``): a new catalog
version starts empty. Bounded: the oldest answers go first past ``ANSWERS_KEPT``. A store may have a
``Backing`` (``hwplan plan`` gives it the compiled catalog cache's, ``hardware_catalog.caching.answers_cache``):
a question's answers kept there join the store the first time a search asks it (``open``), and the
answers found since (``fresh``) are written back when the command ends.

The answer a search finds for a shape is the highest utilisation rung at which every target
percentile holds; where latency rises with load it does not depend on the order the rungs were probed
in (the prior, which differs between requests): tests/test_capacity_memo.py checks that plans with a
history of other requests are the plans of a fresh process. Where it does not rise (docs/design.md,
``SECANT_FILL``: 10 of the examples' 1,055 searched rows, TTFT between low rungs) the rung reported can
depend on the probes, and the store makes the first search's answer the one every later search of that
question takes; the examples give the same answers either way.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Protocol

from planner.memo import Firsts, cached
from planner.model.grid import CatalogTables
from planner.model.serving import Served
from planner.search.shapes.candidates import enumerations
from planner.search.shapes.row_memo import shared_rows
from planner.workload import Workload

__all__ = ["ANSWERS_KEPT", "QUESTION_BYTES", "Answers", "Backing", "forget", "question", "share", "shared"]

# answers kept per catalog version: ~0.6 KB each in memory (a 16-byte question digest, the row's constants),
# so ~30 MB at most; a plan files 40-700 of them
ANSWERS_KEPT = 50_000

QUESTION_BYTES = 16  # a key's first bytes: its question (``question``); the rest, the row's constants
Answer = tuple[float, ...]


class Backing(Protocol):
    """Where a store's answers outlive the process: per question, (key, answer) pairs."""

    def load(self, question: bytes) -> list[tuple[bytes, Answer]]: ...


class Answers:
    """Capacity answers by key (``question`` + a row's constants), the ``size`` newest kept; safe to share
    between threads (a service plans requests in a pool)."""

    def __init__(self, size: int = ANSWERS_KEPT) -> None:
        if size < 1:
            raise ValueError(f"Answers size must be at least 1, got {size}")
        self.size = size
        self.backing: Backing | None = None
        self._kept: OrderedDict[bytes, Answer] = OrderedDict()
        self._opened = Firsts()  # questions whose backed answers were taken in
        self._fresh: dict[bytes, Answer] = {}  # answers found here, not yet written back (with a backing)
        self._lock = threading.Lock()

    def open(self, question: bytes) -> None:
        """Take in the backing's answers to ``question`` (once per question; nothing without a backing)."""
        backing = self.backing
        if backing is None or not self._opened.first(question):
            return
        loaded = backing.load(question)
        with self._lock:
            for key, value in loaded:
                self._kept.setdefault(key, value)
            self._trim()

    def get(self, key: bytes) -> Answer | None:
        with self._lock:
            return self._kept.get(key)

    def __setitem__(self, key: bytes, value: Answer) -> None:
        with self._lock:
            self._kept[key] = value
            if self.backing is not None:
                self._fresh[key] = value
                if len(self._fresh) > self.size:  # (a backing never written to keeps no more than the store)
                    del self._fresh[next(iter(self._fresh))]
            self._trim()

    def _trim(self) -> None:
        while len(self._kept) > self.size:
            self._kept.popitem(last=False)

    def fresh(self) -> dict[bytes, list[tuple[bytes, Answer]]]:
        """The answers found since the last call, by question (and forgotten as unwritten)."""
        with self._lock:
            found, self._fresh = self._fresh, {}
        out: dict[bytes, list[tuple[bytes, Answer]]] = {}
        for key, value in found.items():
            out.setdefault(key[:QUESTION_BYTES], []).append((key, value))
        return out

    def __len__(self) -> int:
        return len(self._kept)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._opened.clear()
            self._fresh.clear()


def question(served: Served, w: Workload) -> bytes:
    """What a shape's answer depends on besides its constants: the served features, the token lengths
    (with the prefix they share) and the SLO, as a 16-byte digest (BLAKE2b)."""
    t = w.traffic
    text = repr((served, t.input_tokens, t.output_tokens, t.prefix, w.slo))
    return hashlib.blake2b(text.encode(), digest_size=QUESTION_BYTES).digest()


def shared(tables: CatalogTables) -> Answers:
    """The answers kept for these tables (one store per catalog version)."""
    return cached(tables, _KEY, Answers)


def share(tables: CatalogTables, store: Answers) -> Answers:
    """Give ``tables`` ``store`` as its answers (before any search of them; returns the store they keep).

    For catalogs that differ only where no answer looks (a sweep's price variants: prices are not
    among a row's constants, ``Prepared.evaluate``'s signature): an answer's key holds everything it
    depends on, so one store serves them all."""
    return cached(tables, _KEY, lambda: store)


def forget(tables: CatalogTables) -> None:
    """Empty what these tables keep between searches: the capacity answers, the per-row screen and tuned
    engine (``row_memo``) and the enumerations (``candidates.enumerated``), so that the next search asks its
    question as if for the first time (a benchmark's)."""
    shared(tables).clear()
    shared_rows(tables).clear()
    enumerations(tables).clear()


_KEY = "capacity-answers"
