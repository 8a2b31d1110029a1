"""The compiled catalog: a validated ``Catalog`` kept on disk, so a later run skips YAML and pydantic.

``load_catalog`` (what the CLI calls) gives the catalog ``hardware_catalog.load_catalog`` would
give for the same directories. Its key is a SHA-256 of everything that catalog is a function of:
the bytes and relative path of every YAML file of the catalog directory and of each overlay (price
sheets and ``owned.yaml`` included; the same hash ``Catalog.version`` is cut from), the absolute
directories, the source of every module under ``planner/`` and ``hardware_catalog/`` (the loader,
the schema and the classes pickled) and the Python version. An edited, added or deleted file gives
a new key, so an entry is never stale; a directory that does not load is never stored (the loader
raises its usual error naming the file and field).

An entry is one file, ``<key>.catalog.pickle``: a magic line, the SHA-256 of the payload, the
payload (a pickled ``Catalog``). It is read only when the file belongs to this user and no one
else may write it (pickle runs code: the directory is as trusted as the user's own files) and its
payload hashes to the stored digest; anything else (corrupt, truncated, another format, an object
that is not this catalog) is removed and rebuilt silently. Writing goes through a temporary file
renamed into place (``cache_store.atomic_write``), so concurrent first runs both succeed; a
directory that cannot be written means no caching, never a failure. ``HWPLAN_NO_CACHE=1`` turns it
off with the array cache (``hardware_catalog.caching.cache``); ``hwplan cache clear`` removes entries.

Standard library only at import: a hit imports the domain classes the pickle names, not the
YAML parser, pydantic or the catalog schema.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import pickle
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hardware_catalog.caching import cache_store
from hardware_catalog.caching.cache_store import atomic_write, cache_dir, enabled, ours_alone, prune, source_digest
from hardware_catalog.content_hash import catalog_hash

if TYPE_CHECKING:
    from planner.domain import Catalog

__all__ = ["DEPLOY_SUFFIX", "FORMAT", "KEEP", "SUFFIX", "code_digest", "entries", "load_catalog", "load_files",
           "read_entry", "write_entry"]

FORMAT = 1  # bump when the entry layout changes
KEEP = 8  # entries kept (most recently used); ~0.3 MB each for the shipped catalog
SUFFIX = ".catalog.pickle"
DEPLOY_SUFFIX = ".deploy.pickle"  # the export's deploy data (hardware_catalog.export.base.deploy_data)
_MAGIC = b"hwplan-catalog %d\n" % FORMAT
_ROOT = Path(__file__).resolve().parents[2]
_CODE_DIRS = (_ROOT / "planner", _ROOT / "hardware_catalog")
_T = TypeVar("_T")


@functools.cache
def _code_files() -> tuple[Path, ...]:
    return tuple(p for folder in _CODE_DIRS for p in sorted(folder.rglob("*.py")))


def code_digest() -> bytes:
    """SHA-256 of the source of every module under planner/ and hardware_catalog/ (read once per
    process): an entry is a function of it."""
    return source_digest(_code_files(), _ROOT)


def _key(folders: Sequence[Path], content: hashlib._Hash) -> str:
    sha = hashlib.sha256(_MAGIC)
    sha.update(content.digest())
    for folder in folders:
        sha.update(str(folder.resolve()).encode() + b"\0")
    sha.update(code_digest())
    sha.update(sys.version.encode())
    return sha.hexdigest()[:32]


def load_catalog(directory: Path | str | None = None, *, overlays: Sequence[Path | str] = ()) -> Catalog:
    """``hardware_catalog.load_catalog(directory, overlays=overlays)``, from the compiled entry when
    one exists for exactly these files (stored after a successful load when none does)."""
    base = Path(directory) if directory is not None else Path(str(resources.files("hardware_catalog") / "data"))
    folders = (base, *(Path(p) for p in overlays))
    if not enabled() or not all(folder.is_dir() for folder in folders):
        return load_files(directory, overlays=overlays)  # (a missing directory: the loader's error)
    try:
        content = catalog_hash(folders)
        key = _key(folders, content)
    except OSError:  # a file that cannot be read: the loader names it
        return load_files(directory, overlays=overlays)
    folder = cache_dir()
    path = folder / f"{key}{SUFFIX}"
    version = content.hexdigest()[:16]
    catalog = _read(path, version)
    if catalog is None:
        catalog = load_files(directory, overlays=overlays)
        _write(folder, path, catalog)
    return catalog


def _read(path: Path, version: str) -> Catalog | None:
    """The entry's catalog if it is there, trusted and intact, else None (a bad entry is removed)."""
    from planner.domain import Catalog

    return read_entry(path, Catalog, lambda c: c.version == version)


def read_entry(path: Path, kind: type[_T], accept: Callable[[_T], bool] = lambda _: True) -> _T | None:
    """The ``kind`` pickled in an entry if the entry is there, trusted, intact, of that kind and
    ``accept``-ed, else None (a bad entry is removed). Shared with ``compiled_workload``."""
    try:
        with open(path, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
    except OSError:
        return None
    try:
        if not ours_alone(st):
            return None  # never unpickled (and not ours to remove)
        head, digest, payload = data[:len(_MAGIC)], data[len(_MAGIC):len(_MAGIC) + 32], data[len(_MAGIC) + 32:]
        if head != _MAGIC or hashlib.sha256(payload).digest() != digest:
            raise ValueError("corrupt entry")
        value = pickle.loads(payload)  # noqa: S301 - our own file, checked above
        if not isinstance(value, kind) or not accept(value):
            raise ValueError("another object")
    except Exception:  # noqa: BLE001 - any damage to an entry means: rebuild it, never fail
        with contextlib.suppress(OSError):
            path.unlink()
        return None
    with contextlib.suppress(OSError):
        os.utime(path)
    return value


def _write(folder: Path, path: Path, catalog: Catalog) -> bool:
    """Store an entry (a temporary file renamed into place); False if it cannot be."""
    return write_entry(folder, path, catalog, suffix=SUFFIX, keep=KEEP)


def write_entry(folder: Path, path: Path, value: object, *, suffix: str, keep: int) -> bool:
    """Store ``value`` as the entry ``path`` (a temporary file renamed into place) and keep the
    ``keep`` most recently used entries ending in ``suffix``; False if it cannot be stored."""
    try:
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    except (pickle.PicklingError, TypeError, AttributeError):  # a value pickle cannot store: no entry, not a failure
        return False
    try:
        folder.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda f: f.write(_MAGIC + hashlib.sha256(payload).digest() + payload), private=True)
    except OSError:
        return False
    prune(folder, suffix, keep)
    return True


def entries(folder: Path, suffix: str = SUFFIX) -> list[Path]:
    """The compiled catalogs (entries ending in ``suffix``) in ``folder``, most recently used first."""
    return cache_store.entries(folder, suffix)


def load_files(directory: Path | str | None, *, overlays: Sequence[Path | str]) -> Catalog:
    """The loader itself (YAML, pydantic, cross-checks), imported only on a miss."""
    from hardware_catalog.loader import load_catalog as load

    return load(directory, overlays=overlays)
