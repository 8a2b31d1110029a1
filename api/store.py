"""The writable catalog: a YAML directory with per-resource ETags, validated atomic writes,
a change history that can be rolled back, and versioned snapshots for readers.

Layout (beside the loader's files)::

    .lock            flock target: one writer at a time, across threads and worker processes
    .version         rewritten after every change; readers compare it to reload (cheap)
    .shipped         digest of the shipped catalog this directory was copied from (see initialise)
    .history.jsonl   a write-ahead log: per change a "pending" line (seq, when, action, kind,
                     id, the key's name, ETags before/after, the previous file content: null =
                     did not exist), then a "committed" or "aborted" line for that seq

A write holds the exclusive lock, checks the HTTP precondition against the file on disk, and
builds what serving builds (``build_serving``: catalog, tables, the performance model of every
row the changed entry takes part in) from a temporary copy with the change applied; any error
rejects it and nothing is touched. Then, each step durable before the next:

    1. append the "pending" line (fsync)
    2. replace the entry file (temp file, fsync, rename, fsync the directory) or remove it
    3. bump ``.version``
    4. append the "committed" line (fsync): the change is acknowledged only after this

Recovery (``recover``, run when the store starts and after any failure of steps 1-4) rolls back
every pending change without its committed line: it puts the previous content back if the file
holds the new one, and appends "aborted". So every acknowledged change is in the history and no
change outside it survives a crash at any step. A torn last line (a crash inside step 1 or 4)
is cut off. A request holds the ``Snapshot`` it started with; the next request sees the new version.
"""

from __future__ import annotations

import datetime
import hashlib
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

import numpy as np
import yaml

from api.errors import Conflict, NotFound, PreconditionFailed, PreconditionRequired
from api.files import atomic_write, etag_matches, etag_of, locked, remove_durably
from hardware_catalog import default_catalog_dir, load_catalog
from hardware_catalog.caching.cache import prepare_tables
from hardware_catalog.files import YAML_LOADER
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import PARALLEL, universe

__all__ = ["WRITABLE", "CatalogStore", "Resource", "Snapshot", "build_serving"]

WRITABLE = ("hardware", "models")  # one file per entry: <kind>/<id>.yaml
LIST_FILES = {"runtimes": "runtimes.yaml", "precisions": "precisions.yaml"}  # read-only here
CATALOG_FILES = ("precisions.yaml", "runtimes.yaml", "calibration.yaml")
HEADER = b"# Written by the hwplan service; every change is in .history.jsonl\n"
_Loader: Any = YAML_LOADER  # as the catalog loader reads the files (2e7 a number, no key twice)


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
        self._shipped_file = self.dir / ".shipped"
        self.outdated_base = False  # the shipped catalog changed, but edits here keep the old copy
        self._load_lock = threading.Lock()
        self._snapshot: Snapshot | None = None

    # -- setup and reading ---------------------------------------------------------------------

    def initialise(self) -> None:
        """Copy the shipped catalog into a missing or empty directory; recover an interrupted write;
        follow an upgraded shipped catalog (``_follow_shipped``)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        with locked(self._lock_file, exclusive=True):
            shipped = _digest(default_catalog_dir())
            if not any(p.suffix == ".yaml" or p.is_dir() for p in self.dir.iterdir()):
                shutil.copytree(default_catalog_dir(), self.dir, dirs_exist_ok=True)
                atomic_write(self._shipped_file, shipped.encode())
            if not self._version_file.exists():
                self._bump_version(0)
            self._recover()
            self._follow_shipped(shipped)

    def _follow_shipped(self, shipped: str) -> None:
        """After an upgrade the shipped catalog (prices, chips, models) is newer than this copy.
        A copy nobody has changed since it was made (its files still hash to the ``.shipped``
        marker) is refreshed file by file, each atomically (a crash part-way leaves the old marker,
        so the next start finishes the job). A changed copy, by the API or by hand, or one without
        a marker (a directory hwplan did not create), is never touched: ``outdated_base`` says the
        shipped catalog differs and /readyz reports it."""
        base = _read_or_none(self._shipped_file)
        if base is not None and base.decode() == shipped:
            return
        pending = self.dir / ".shipped.next"  # a refresh that a crash interrupted: finish it
        if not pending.exists():
            here = _digest(self.dir)
            if base is None or here != base.decode():
                self.outdated_base = here != shipped
                return
            atomic_write(pending, shipped.encode())
        source = default_catalog_dir()
        wanted = {p.relative_to(source) for p in source.rglob("*.yaml")}
        for rel in sorted(wanted):
            new = (source / rel).read_bytes()
            if _read_or_none(self.dir / rel) != new:
                atomic_write(self.dir / rel, new)
        for path in self.dir.rglob("*.yaml"):  # entries the new shipped catalog no longer has
            if path.relative_to(self.dir) not in wanted:
                remove_durably(path)
        atomic_write(self._shipped_file, shipped.encode())
        remove_durably(pending)
        self._bump_version(len(self._log()))

    def _recover(self) -> list[int]:
        """Roll back every pending change that has no committed line (caller holds the lock);
        returns their seqs. Deterministic: the outcome depends only on the files."""
        self._cut_torn_tail()
        log = self._log()
        closed = {e["seq"] for e in log if e["state"] in ("committed", "aborted")}
        open_entries = {e["seq"]: e for e in log if e["state"] == "pending" and e["seq"] not in closed}
        for seq, entry in sorted(open_entries.items()):
            path = self.dir / entry["kind"] / f"{entry['id']}.yaml"
            current = _read_or_none(path)
            if (None if current is None else etag_of(current)) != entry["etag_before"]:
                _write_or_remove(path, None if entry["previous"] is None else entry["previous"].encode())
            self._append({"seq": seq, "state": "aborted"})
        for kind in WRITABLE:  # temp files of an interrupted atomic_write
            for tmp in (self.dir / kind).glob(".*.tmp"):
                tmp.unlink()
        if open_entries:
            self._bump_version(max(open_entries))
        return sorted(open_entries)

    def _cut_torn_tail(self) -> None:
        try:
            raw = self._history_file.read_bytes()
        except FileNotFoundError:
            return
        if raw and not raw.endswith(b"\n"):
            with open(self._history_file, "r+b") as f:
                f.truncate(raw.rfind(b"\n") + 1)
                os.fsync(f.fileno())

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
                catalog, tables = build_serving(self.dir)
                # every Universe row's constants from the catalog cache, and the capacity answers earlier
                # runs (other workers, a previous start, `hwplan plan`) kept for this catalog version
                prepare_tables(catalog, tables, answers=True)
                snap = Snapshot(key=key, catalog=catalog, tables=tables, entries=self._read_entries())
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
            if old is not None and _holds(old, content):  # nothing to change: no write, no new version
                return etag_of(old), False
            self._apply(kind, rid, old, new, action="put", actor=actor)
        return etag_of(new), old is None

    def delete(self, kind: str, rid: str, *, if_match: str | None, actor: str) -> None:
        with locked(self._lock_file, exclusive=True):
            old = _read_or_none(self.dir / kind / f"{rid}.yaml")
            if old is None:
                raise NotFound(f"no {kind} entry {rid!r}", field="path.entry_id")
            _check_precondition(old, if_match=if_match, if_none_match=None)
            self._apply(kind, rid, old, None, action="delete", actor=actor)

    def rollback(self, seq: int, *, actor: str) -> dict[str, Any]:
        """Undo change ``seq``: restore its previous content, if the entry is still as it left it."""
        with locked(self._lock_file, exclusive=True):
            history = self._read_history()
            entry = next((e for e in history if e["seq"] == seq), None)  # committed changes only
            if entry is None:
                raise NotFound(f"no change with seq {seq}", field="seq")
            kind, rid = entry["kind"], entry["id"]
            current = _read_or_none(self.dir / kind / f"{rid}.yaml")
            if (etag_of(current) if current is not None else None) != entry["etag_after"]:
                raise Conflict(f"{kind}/{rid} changed after change {seq}; roll back the later "
                               "changes first", field="seq")
            previous = None if entry["previous"] is None else entry["previous"].encode()
            return self._apply(kind, rid, current, previous, action="rollback", actor=actor,
                               rolls_back=seq)

    def history(self, limit: int) -> list[dict[str, Any]]:
        with locked(self._lock_file, exclusive=False):
            return self._read_history()[-limit:][::-1]

    def _apply(self, kind: str, rid: str, old: bytes | None, new: bytes | None, *, action: str,
               actor: str, rolls_back: int | None = None) -> dict[str, Any]:
        """Validate the catalog with the change, then the write-ahead sequence of the module
        docstring; caller holds the lock. Any failure rolls the change back before it is raised."""
        self._validate_with(kind, rid, new)
        path = self.dir / kind / f"{rid}.yaml"
        seq = max((e["seq"] for e in self._log()), default=0) + 1
        entry = {"seq": seq, "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                 "action": action, "kind": kind, "id": rid, "key_name": actor,
                 "etag_before": None if old is None else etag_of(old),
                 "etag_after": None if new is None else etag_of(new),
                 "rolls_back": rolls_back, "previous": None if old is None else old.decode()}
        try:
            self._append({**entry, "state": "pending"})
            _write_or_remove(path, new)
            self._bump_version(seq)
            self._append({"seq": seq, "state": "committed"})
        except BaseException:
            self._recover()
            raise
        return entry

    def _append(self, line: dict[str, Any]) -> None:
        """One history line, durable (fsync) before this returns."""
        _append_line(self._history_file, json.dumps(line).encode() + b"\n")

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
                build_serving(root, changed=(kind, rid) if new is not None else None)
            except CatalogError as exc:
                error = CatalogError(f"the change would make the catalog invalid: "
                                     f"{exc.message.replace(f'{root}/', '')}")
                error.field = exc.field if exc.file == str(target) else None  # a field of the body
                raise error from exc

    def _log(self) -> list[dict[str, Any]]:
        """Every history line (a torn last line is skipped; ``_recover`` cuts it off)."""
        try:
            lines = self._history_file.read_bytes().split(b"\n")
        except FileNotFoundError:
            return []
        out = []
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                if i < len(lines) - 1:  # only the last line may be torn
                    raise
                continue
            if "state" not in entry:  # a change recorded before the write-ahead log: committed
                entry.pop("key_sha256", None)
                out += [{**entry, "key_name": "(not recorded)", "state": "pending"},
                        {"seq": entry["seq"], "state": "committed"}]
            else:
                out.append(entry)
        return out

    def _read_history(self) -> list[dict[str, Any]]:
        """The committed changes, oldest first (pending and aborted ones are not changes)."""
        log = self._log()
        committed = {e["seq"] for e in log if e["state"] == "committed"}
        return [{k: v for k, v in e.items() if k != "state"} for e in log
                if e["state"] == "pending" and e["seq"] in committed]

    def _bump_version(self, seq: int) -> None:
        atomic_write(self._version_file, json.dumps({"seq": seq, "nonce": uuid.uuid4().hex}).encode())


def build_serving(directory: Path, *, changed: tuple[str, str] | None = None) -> tuple[Catalog, CatalogTables]:
    """What serving builds from a catalog directory: the domain catalog and its tables (a
    snapshot) and, for ``changed`` (kind, id), the performance model of every Universe row that
    entry takes part in, as a plan request builds them. Numeric trouble becomes a CatalogError."""
    catalog = load_catalog(directory)
    try:
        with np.errstate(over="raise", invalid="ignore", divide="ignore"):  # inf/nan: shapes beyond a chip
            tables = CatalogTables.from_catalog(catalog)
            if changed is not None:
                kind, rid = changed
                u = universe(tables)
                rows = np.arange(len(u.combo_columns[0]) * len(tables.model_ids) * len(PARALLEL), dtype=np.int64)
                column, ids = ("hardware", tables.hardware_ids) if kind == "hardware" else ("model", tables.model_ids)
                rows = rows[u.factors(rows)[column] == ids.index(rid)]
                u.models(rows)
    except (ArithmeticError, ValueError) as exc:
        raise CatalogError(f"the performance model cannot be built: {exc}", file=str(directory)) from exc
    return catalog, tables


def _digest(directory: Path) -> str:
    """Content digest of a catalog directory's YAML files (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted(directory.rglob("*.yaml")):
        h.update(str(path.relative_to(directory)).encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _append_line(file: Path, data: bytes) -> None:
    with open(file, "ab") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _read_or_none(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _holds(old: bytes, content: dict[str, Any]) -> bool:
    """Whether a file already holds ``content`` (an entry as the service writes it, in JSON types: a date as
    its ISO string): a PUT of what a GET gave then keeps the file, its ETag and the catalog version, where a
    rewrite would change all three (its bytes gain the service's header) and leave other clients' If-Match
    stale for nothing."""
    try:
        current = yaml.load(old, Loader=_Loader)  # noqa: S506 - a safe loader
    except (yaml.YAMLError, ValueError):
        return False
    return bool(json.loads(json.dumps(current, default=str)) == content)


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

