"""The writable catalog: a YAML directory with per-resource ETags, validated atomic writes,
a change history that can be rolled back, and versioned snapshots for readers.

Layout (beside the loader's files)::

    .lock            flock target: one writer at a time, across threads and worker processes
    .version         rewritten after every change; readers compare it to reload (cheap)
    .history.jsonl   one JSON line per change: seq, when, action, kind, id, key digest,
                     ETags before/after and the previous file content (null = did not exist)

A write holds the exclusive lock, checks the HTTP precondition against the file on disk, loads
the whole catalog with the change applied in a temporary copy (any CatalogError rejects it and
nothing is touched), then writes atomically, appends the history line and bumps ``.version``.
A request holds the ``Snapshot`` it started with; the next request sees the new version.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from api.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired
from api.files import atomic_write, etag_matches, etag_of, locked, remove_durably
from hardware_catalog import default_catalog_dir, load_catalog
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.grid import CatalogTables

__all__ = ["WRITABLE", "CatalogStore", "Resource", "Snapshot"]

WRITABLE = ("hardware", "models")  # one file per entry: <kind>/<id>.yaml
LIST_FILES = {"runtimes": "runtimes.yaml", "precisions": "precisions.yaml"}  # read-only here
CATALOG_FILES = ("precisions.yaml", "runtimes.yaml", "calibration.yaml")
HEADER = b"# Written by the hwplan service; every change is in .history.jsonl\n"
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Resource:
    content: dict[str, Any]
    etag: str


@dataclass(frozen=True)
class Snapshot:
    """One catalog version: the domain catalog, its tables, and every entry with its ETag."""

    key: bytes
    catalog: Catalog
    tables: CatalogTables
    entries: Mapping[str, Mapping[str, Resource]]  # kind -> id -> resource
    memo: dict[Any, Any] = field(default_factory=dict, compare=False)  # per-version caches


class CatalogStore:
    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self._lock_file = self.dir / ".lock"
        self._version_file = self.dir / ".version"
        self._history_file = self.dir / ".history.jsonl"
        self._load_lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    # -- setup and reading ---------------------------------------------------------------------

    def initialise(self) -> None:
        """Copy the shipped catalog into a missing or empty directory."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self._lock_file, exclusive=True):
            if not any(p.suffix == ".yaml" or p.is_dir() for p in self.dir.iterdir()):
                shutil.copytree(default_catalog_dir(), self.dir, dirs_exist_ok=True)
            if not self._version_file.exists():
                self._bump_version(0)

    def snapshot(self) -> Snapshot:
        """The current version, reloaded when ``.version`` changed since the last load."""
        key = self._read_version()
        snap = self._snapshot
        if snap is not None and snap.key == key:
            return snap
        with self._load_lock:
            snap = self._snapshot
            if snap is not None and snap.key == self._read_version():
                return snap
            with locked(self._lock_file, exclusive=False):
                key = self._read_version()
                catalog = load_catalog(self.dir)
                snap = Snapshot(key=key, catalog=catalog, tables=CatalogTables.from_catalog(catalog),
                                entries=self._read_entries())
            self._snapshot = snap
            return snap

    def _read_version(self) -> bytes:
        try:
            return self._version_file.read_bytes()
        except FileNotFoundError:
            return b""

    def _read_entries(self) -> dict[str, dict[str, Resource]]:
        out: dict[str, dict[str, Resource]] = {}
        for kind in WRITABLE:
            out[kind] = {}
            for path in sorted((self.dir / kind).glob("*.yaml")):
                raw = path.read_bytes()
                out[kind][path.stem] = Resource(yaml.load(raw, Loader=_Loader), etag_of(raw))
        for kind, name in LIST_FILES.items():
            data = yaml.load((self.dir / name).read_bytes(), Loader=_Loader)
            out[kind] = {e["id"]: Resource(e, etag_of(json.dumps(e, sort_keys=True).encode()))
                         for e in data[kind]}
        return out

    # -- writing -------------------------------------------------------------------------------

    def put(self, kind: str, rid: str, content: dict[str, Any], *, if_match: str | None,
            if_none_match: str | None, actor: str) -> tuple[str, bool]:
        """Create or replace ``<kind>/<rid>.yaml``; returns (new ETag, created)."""
        new = HEADER + yaml.safe_dump(content, sort_keys=False, allow_unicode=True, width=110).encode()
        with locked(self._lock_file, exclusive=True):
            path = self.dir / kind / f"{rid}.yaml"
            old = _read_or_none(path)
            _check_precondition(old, if_match=if_match, if_none_match=if_none_match)
            self._apply(kind, rid, old, new, action="put", actor=actor)
        return etag_of(new), old is None

    def delete(self, kind: str, rid: str, *, if_match: str | None, actor: str) -> None:
        with locked(self._lock_file, exclusive=True):
            old = _read_or_none(self.dir / kind / f"{rid}.yaml")
            if old is None:
                raise NotFound(f"no {kind} entry {rid!r}", field="id")
            _check_precondition(old, if_match=if_match, if_none_match=None)
            self._apply(kind, rid, old, None, action="delete", actor=actor)

    def rollback(self, seq: int, *, actor: str) -> dict[str, Any]:
        """Undo change ``seq``: restore its previous content, if the entry is still as it left it."""
        with locked(self._lock_file, exclusive=True):
            history = self._read_history()
            entry = next((e for e in history if e["seq"] == seq), None)
            if entry is None:
                raise NotFound(f"no change with seq {seq}", field="seq")
            kind, rid = entry["kind"], entry["id"]
            current = _read_or_none(self.dir / kind / f"{rid}.yaml")
            if (etag_of(current) if current is not None else None) != entry["etag_after"]:
                raise Conflict(f"{kind}/{rid} changed after change {seq}; roll back the later "
                               "changes first", field="seq")
            previous = None if entry["previous"] is None else entry["previous"].encode()
            return self._apply(kind, rid, current, previous, action="rollback", actor=actor,
                               rolls_back=seq, history=history)

    def history(self, limit: int) -> list[dict[str, Any]]:
        with locked(self._lock_file, exclusive=False):
            return self._read_history()[-limit:][::-1]

    def _apply(self, kind: str, rid: str, old: bytes | None, new: bytes | None, *, action: str,
               actor: str, rolls_back: int | None = None,
               history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """Validate the catalog with the change, write it, record it; caller holds the lock."""
        self._validate_with(kind, rid, new)
        path = self.dir / kind / f"{rid}.yaml"
        seq = len(history if history is not None else self._read_history()) + 1
        entry = {"seq": seq, "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                 "action": action, "kind": kind, "id": rid, "key_sha256": actor,
                 "etag_before": None if old is None else etag_of(old),
                 "etag_after": None if new is None else etag_of(new),
                 "rolls_back": rolls_back, "previous": None if old is None else old.decode()}
        _write_or_remove(path, new)
        try:
            with open(self._history_file, "a", encoding="utf-8") as f:
                f.write(json.dumps(entry) + "\n")
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            _write_or_remove(path, old)  # no unrecorded change
            raise
        self._bump_version(seq)
        return entry

    def _validate_with(self, kind: str, rid: str, new: bytes | None) -> None:
        with tempfile.TemporaryDirectory(prefix="hwplan-candidate-") as tmp:
            root = Path(tmp)
            for name in CATALOG_FILES:
                if (self.dir / name).is_file():
                    shutil.copy2(self.dir / name, root / name)
            for sub in WRITABLE:
                (root / sub).mkdir()
                for src in (self.dir / sub).glob("*.yaml"):
                    shutil.copy2(src, root / sub / src.name)
            target = root / kind / f"{rid}.yaml"
            if new is None:
                target.unlink()
            else:
                target.write_bytes(new)
            try:
                load_catalog(root)
            except CatalogError as exc:
                error = CatalogError(f"the change would make the catalog invalid: "
                                     f"{exc.message.replace(f'{root}/', '')}")
                error.field = exc.field
                raise error from exc

    def _read_history(self) -> list[dict[str, Any]]:
        try:
            lines = self._history_file.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        return [json.loads(line) for line in lines if line.strip()]

    def _bump_version(self, seq: int) -> None:
        atomic_write(self._version_file, json.dumps({"seq": seq, "nonce": uuid.uuid4().hex}).encode())


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_or_remove(path: Path, content: bytes | None) -> None:
    if content is not None:
        atomic_write(path, content)
    elif path.exists():
        remove_durably(path)


def _check_precondition(old: bytes | None, *, if_match: str | None, if_none_match: str | None) -> None:
    """Existing entries need a matching If-Match; new ones need ``If-None-Match: *``."""
    current = None if old is None else etag_of(old)
    if if_none_match is not None:
        if if_none_match.strip() != "*":
            raise PreconditionRequired("only If-None-Match: * is supported (create if absent)")
        if current is not None:
            raise PreconditionFailed(f"the entry exists (ETag {current}); use If-Match to replace it")
        return
    if if_match is None:
        hint = f"If-Match: {current}" if current else "If-None-Match: * to create it"
        raise PreconditionRequired(f"send {hint} so that concurrent edits are not lost")
    if not etag_matches(if_match, current):
        raise PreconditionFailed(f"If-Match {if_match} is stale: the entry's ETag is now {current}")

