"""Capacity answers kept on disk between runs of ``hwplan plan`` and starts of the service
(``planner.search.shapes.answers``).

A planner iterating on a workload file runs ``hwplan plan`` again after each edit, each run a fresh
process. What one replica shape carries within the SLOs does not change with the request rate, the
budget, the quality floor, the quotas or the objective (``planner.search.shapes.answers``), so the answers
one run found are kept here and the next run takes those of the questions it asks (served features,
token lengths and SLO): only the shapes it has not met go through the queueing model.

One file per (key, question), ``<key>-<question>.answers.npz``: the answers' keys (a row's constants
behind the question digest, bytes) as a [n, L] uint8 array, their values as [n, C] float64 and a
SHA-256 of both, read with ``allow_pickle=False``. The key is a SHA-256 of the compiled catalog
cache's entry key (``hardware_catalog.caching.cache.entry_key``: the catalog's files, the tables built from
them, the performance model's source, numpy's version) and the source of the capacity search
(``CODE``): an edited catalog file, model or search gives a new key, so an
answer is never taken from another catalog or another model. A file that cannot be read, has the
wrong layout or fails its check is ignored (the answers are computed again and the file rewritten);
a file is written to a temporary name and renamed, so two runs saving the same question both
succeed and a reader sees one of their files whole; a directory that cannot be written means the
answers are not kept, never a failure. At most ``PER_QUESTION`` answers per file (the newest) and
``FILES`` files (the most recently used). ``HWPLAN_NO_CACHE=1`` turns it off with the rest of the
cache; ``hwplan cache info|clear`` count and remove these files too.

The per-row values a search computes from a row's constants and its question alone (the screen and the tuned
cap: ``planner.search.shapes.row_memo``) are kept the same way, under the same key, one file per (key,
question, name), ``<key>-<question>-<name>.rows.npz``: the Universe rows as int64 [n] (sorted, distinct), their
values as float64 [k, n] and a SHA-256 of the name and both; the ``ROW_FILES`` most recently used are kept.

The service (``api/store.py``) backs each catalog version's tables with these files too and, after
each plan, ``save_later``: one write of the answers found in the last ``SAVE_DELAY_S``, in a
background thread, and ``flush`` at shutdown. So its other worker processes (``hwplan serve
--workers``) and its next start take what it found. Two writers of one question merge what each
read before writing: one's newest answers may be lost (computed again later), never a file torn.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import zipfile
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, ClassVar

import numpy as np

from hardware_catalog.caching import cache_store
from hardware_catalog.caching.cache_store import atomic_write, cache_dir, ours_alone, prune, source_digest
from planner.model.grid import CatalogTables
from planner.search.shapes.answers import QUESTION_BYTES, Answer, shared
from planner.search.shapes.row_memo import merged, shared_rows

__all__ = ["CODE", "FILES", "PER_QUESTION", "ROW_FILES", "ROW_SUFFIX", "SAVE_DELAY_S", "SUFFIX", "DiskAnswers",
           "DiskRows", "attach", "entries", "flush", "row_entries", "save", "save_later"]

SUFFIX = ".answers.npz"
PER_QUESTION = 4096  # answers kept per question (a plan files 40-700; ~0.4 KB each)
SAVE_DELAY_S = 2.0  # a service writes a catalog version's new answers at most this often (``save_later``)
FILES = 256  # question files kept, the most recently used
ROW_SUFFIX = ".rows.npz"
ROW_FILES = 64  # (question, name) files of per-row values kept, the most recently used (a screen: 0.3-3 MB)
_ROOT = Path(__file__).resolve().parents[2]
# the capacity search's source, beside the model's (in the entry key): an edit gives a new key; the per-row
# values are the screen (prepare, capacity) and the tuned cap (build, capacity) kept by row_memo
CODE = (*(_ROOT / "planner" / "search" / "shapes" / name
          for name in ("answers.py", "capacity.py", "prepare.py", "row_memo.py")),
        _ROOT / "planner" / "search" / "build.py")
_NAME = frozenset("abcdefghijklmnopqrstuvwxyz_")  # what a row_memo name may hold (it goes into a file name)


class _DiskFiles:
    """What the two kinds of file share: a folder, the entry's key, their suffix and how many are kept."""

    suffix: ClassVar[str]
    kept: ClassVar[int]

    def __init__(self, folder: Path, key: str) -> None:
        self.folder, self.key = folder, key

    def _pruning(self, pruned: bool) -> tuple[str, int] | None:
        return (self.suffix, self.kept) if pruned else None

    def _save_item(self, key: Any, value: Any) -> int:
        """One item of a memo's ``fresh()`` saved unpruned; how many values it wrote (0: none)."""
        raise NotImplementedError

    def save_fresh(self, items: Iterable[tuple[Any, Any]]) -> int:
        """Every item of a memo's ``fresh()`` saved, then the folder pruned once (a listing of it) if any was
        written; how many values."""
        written = sum(self._save_item(key, value) for key, value in items)
        if written:
            prune(self.folder, self.suffix, self.kept)
        return written


class DiskAnswers(_DiskFiles):
    """A store's ``Backing`` in ``folder`` under ``key``."""

    suffix, kept = SUFFIX, FILES

    def path(self, question: bytes) -> Path:
        return self.folder / f"{self.key}-{question.hex()}{SUFFIX}"

    def load(self, question: bytes) -> list[tuple[bytes, Answer]]:
        path = self.path(question)
        read = _read(path, ("keys", "values"))
        if read is None:
            return []
        keys, values = read
        if (keys.dtype != np.uint8 or values.dtype != np.float64 or keys.ndim != 2 or values.ndim != 2
                or len(keys) != len(values) or keys.shape[1] <= QUESTION_BYTES or values.shape[1] < 3
                or not (keys[:, :QUESTION_BYTES] == np.frombuffer(question, dtype=np.uint8)).all()):
            return []
        _touch(path)
        return [(k.tobytes(), _answer(v)) for k, v in zip(keys, values, strict=True)]

    def save(self, question: bytes, found: list[tuple[bytes, Answer]], *, pruned: bool = True) -> bool:
        """Merge ``found`` into the question's file (the newest PER_QUESTION kept); False if it cannot be
        written. ``pruned``: then keep the FILES most recently used (the caller prunes once otherwise)."""
        merged_answers = dict(self.load(question))
        for key, value in found:
            merged_answers.pop(key, None)
            merged_answers[key] = value
        items = list(merged_answers.items())[-PER_QUESTION:]
        widths = {(len(k), len(v)) for k, v in items}
        if len(widths) != 1:  # one question's answers share a layout; anything else is not kept
            return False
        keys = np.frombuffer(b"".join(k for k, _ in items), dtype=np.uint8).reshape(len(items), -1)
        values = np.array([v for _, v in items], dtype=np.float64)
        return _write(self.path(question), {"keys": keys, "values": values}, self._pruning(pruned))

    def _save_item(self, key: Any, value: Any) -> int:
        return len(value) if self.save(key, value, pruned=False) else 0


class DiskRows(_DiskFiles):
    """A row memo's ``Backing`` (``planner.search.shapes.row_memo``) in ``folder`` under ``key``."""

    suffix, kept = ROW_SUFFIX, ROW_FILES

    def path(self, question: bytes, name: str) -> Path:
        if not name or not set(name) <= _NAME:
            raise ValueError(f"a row memo name is lower-case letters and '_', got {name!r}")
        return self.folder / f"{self.key}-{question.hex()}-{name}{ROW_SUFFIX}"

    def load(self, question: bytes, name: str) -> tuple[np.ndarray, np.ndarray] | None:
        path = self.path(question, name)
        read = _read(path, ("rows", "values"), prefix=name.encode())
        if read is None:
            return None
        rows, values = read
        if (rows.dtype != np.int64 or values.dtype != np.float64 or rows.ndim != 1 or values.ndim != 2
                or values.shape[1] != len(rows) or (len(rows) and (rows[0] < 0 or not (np.diff(rows) > 0).all()))):
            return None
        _touch(path)
        return rows, values

    def save(self, question: bytes, name: str, rows: np.ndarray, values: np.ndarray, *, pruned: bool = True) -> bool:
        """Merge ``values`` [k, len(rows)] of the sorted distinct ``rows`` into the (question, name) file (rows kept
        there keep their values: a row's do not change under one key); False if it cannot be written.
        ``pruned``: then keep the ROW_FILES most recently used (the caller prunes once otherwise)."""
        old = self.load(question, name)
        if old is not None and old[1].shape[0] == values.shape[0]:
            rows, values = merged(*old, rows, values)
        return _write(self.path(question, name), {"rows": np.ascontiguousarray(rows, dtype=np.int64),
                                                  "values": np.ascontiguousarray(values, dtype=np.float64)},
                      self._pruning(pruned), prefix=name.encode())

    def _save_item(self, key: Any, value: Any) -> int:
        (question, name), (rows, values) = key, value
        return len(rows) if self.save(question, name, rows, values, pruned=False) else 0


def _read(path: Path, names: tuple[str, ...], *, prefix: bytes = b"") -> list[np.ndarray] | None:
    """The arrays ``names`` of a file this user alone may write whose check (``_digest``) holds, else None (missing,
    cut, not a zip, another layout, a shared HWPLAN_CACHE_DIR: its content could be anyone's)."""
    try:
        with open(path, "rb") as fh:
            if not ours_alone(os.fstat(fh.fileno())):
                return None
            with np.load(fh, allow_pickle=False) as f:
                arrays, check = [f[name] for name in names], f["check"]
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None
    return arrays if check.tobytes() == _digest(prefix, *arrays) else None


def _write(path: Path, arrays: dict[str, np.ndarray], prune_to: tuple[str, int] | None, *,
           prefix: bytes = b"") -> bool:
    """``arrays`` and their check to ``path`` (owner-only, a temporary file renamed into place); False if it cannot
    be written. ``prune_to`` (suffix, files): then keep that many of those files, the most recently used."""
    check = np.frombuffer(_digest(prefix, *arrays.values()), dtype=np.uint8)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, partial(_savez, arrays={**arrays, "check": check}), private=True)
    except OSError:
        return False
    if prune_to is not None:
        prune(path.parent, *prune_to)
    return True


def _savez(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    np.savez(f, allow_pickle=False, **arrays)


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def _digest(prefix: bytes, *arrays: np.ndarray) -> bytes:
    """SHA-256 of ``prefix`` (a row file's name: a file renamed to another name fails it) and the arrays' bytes."""
    sha = hashlib.sha256(prefix)
    for a in arrays:
        sha.update(np.ascontiguousarray(a).tobytes())
    return sha.digest()


def _answer(values: np.ndarray) -> Answer:
    """A stored row as ``Prepared`` files it: (rate, rung as an int, max batch, latencies...)."""
    out = [float(x) for x in values]
    return (out[0], int(out[1]), *out[2:])


def _key(entry_key: str) -> str:
    parts = (entry_key, source_digest(CODE, _ROOT).hex())
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def entries(folder: Path) -> list[Path]:
    """The question files, most recently used first."""
    return cache_store.entries(folder, SUFFIX)


def row_entries(folder: Path) -> list[Path]:
    """The files of per-row values, most recently used first."""
    return cache_store.entries(folder, ROW_SUFFIX)


def attach(tables: CatalogTables, entry_key: str) -> None:
    """Back the tables' store (``planner.search.shapes.answers.shared``) and row memo (``row_memo.shared_rows``)
    with the files under ``entry_key`` (nothing when the source cannot be read). Called by
    ``cache.prepare_tables``, which does nothing when the cache is off."""
    try:
        key = _key(entry_key)
    except OSError:
        return
    shared(tables).backing = DiskAnswers(cache_dir(), key)
    shared_rows(tables).backing = DiskRows(cache_dir(), key)


def save(tables: CatalogTables) -> int:
    """Write the answers the tables' store found since it was attached (or last saved), and the rows its row
    memo computed since; how many answers."""
    _save_fresh(shared_rows(tables))
    return _save_fresh(shared(tables))


def _save_fresh(memo: Any) -> int:
    """What ``memo`` (a store or a row memo) computed since it was attached or last saved, written to its disk
    backing (none attached: nothing)."""
    backing = memo.backing
    return backing.save_fresh(memo.fresh().items()) if isinstance(backing, _DiskFiles) else 0


_pending: dict[int, tuple[threading.Timer, CatalogTables]] = {}  # tables with a save_later due, by id
_pending_lock = threading.Lock()


def save_later(tables: CatalogTables, delay_s: float = SAVE_DELAY_S) -> bool:
    """``save(tables)`` in a background thread ``delay_s`` from now, unless one is already due (what
    a service calls after each plan: the answers of the plans in between go in one write, off the
    request's path, and the service's other worker processes and its next start take them). False
    when the tables keep no answers on disk (the cache is off or unwritable: nothing to do)."""
    if not isinstance(shared(tables).backing, DiskAnswers) and not isinstance(shared_rows(tables).backing, DiskRows):
        return False
    with _pending_lock:
        if id(tables) in _pending:
            return True
        timer = threading.Timer(delay_s, _save_due, args=(tables,))
        timer.daemon = True
        _pending[id(tables)] = (timer, tables)
        timer.start()
    return True


def _save_due(tables: CatalogTables) -> None:
    with _pending_lock:
        _pending.pop(id(tables), None)
    with contextlib.suppress(OSError):  # (save reports an unwritable directory by its count)
        save(tables)


def flush() -> int:
    """Every save ``save_later`` has due, now (a service's shutdown); the answers written."""
    with _pending_lock:
        due = list(_pending.values())
        _pending.clear()
    written = 0
    for timer, tables in due:
        timer.cancel()
        written += save(tables)
    return written
