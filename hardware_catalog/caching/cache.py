"""The compiled catalog cache: a catalog's performance-model constants, kept on disk between runs.

The search reads, for every candidate row of a catalog (``planner.search.shapes.candidates.Universe``),
the step-time and memory-model constants derived from the catalog's tables. Building them for the
whole catalog takes about a second; a plan builds the part its workload needs. This module keeps
the whole set per catalog under the user's cache directory, as two ``.npy`` arrays (no pickle; a
row's constants side by side: ``Universe.adopt``) and a JSON description, and maps them into
memory copy-on-write in later runs.

An entry's key is a SHA-256 of everything its arrays are a function of: the catalog's content hash
(``Catalog.version``: every YAML file of the catalog directory and of each overlay, price sheets
and ``owned.yaml`` included), the tables built from it (byte for byte), the source of the
performance model and of the Universe (``CODE``) and the numpy version. An edited, added or
deleted file therefore gives a new key: an entry is never stale. (The package version is recorded
in the description, not the key: the arrays are a function of the source hashed into it, and
asking the installed distributions for it costs a fresh process 3-15 ms.)

Reading checks the description (format, key, shapes) and a checksum of each array before the
arrays are used (``_checksum``: two wrapping 64-bit sums of the array's words, one weighted by
position in 1 MiB chunks; any change confined to one word, any truncation and any reordering of
chunks is caught, at memory speed: ~6x faster than CRC-32 over the shipped catalog's 326 MB);
anything that does not check out, cannot be read or is truncated is rebuilt silently. Once an
array file has checked out, the description records its stamp (inode, size, modification and
change times, ``_stamp``; only once the change time has settled, ``SETTLED_NS``) and later reads
of that same, unwritten file skip the checksum (20-35 ms of every plan, and every page of the
326 MB mapped): any write to the file or a file put in its place changes its change time, which
only the kernel sets, so it is checked again. Writing goes
to a temporary file in the same directory that is then renamed, arrays
first, description last, so a reader sees a complete entry or none and two processes building the
same entry both succeed (their files are identical). A directory that cannot be written means no
caching, never a failure. ``HWPLAN_NO_CACHE=1`` turns the cache off; ``HWPLAN_CACHE_DIR`` moves
it (default: platformdirs' user cache directory for ``hwplan``). ``hwplan cache info|clear``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from hardware_catalog.caching import answers_cache, cache_store, compiled, compiled_code, compiled_workload
from hardware_catalog.caching.cache_store import ENV_DIR, ENV_OFF, cache_dir, enabled, source_digest
from hardware_catalog.caching.cache_store import atomic_write as _atomic
from planner.domain import Catalog
from planner.memo import cached
from planner.model.estimate import ESTIMATE_TABLES
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import universe

__all__ = ["ENV_DIR", "ENV_OFF", "FORMAT", "KEEP", "cache_dir", "catalog_tables", "clear", "enabled", "entry_key",
           "info", "prepare_tables"]

FORMAT = 3  # bump when the entry layout changes (2: the checksum replaced CRC-32; 3: arrays [row, coefficient])
KEEP = 4  # entries kept (most recently used); each is ~400 MB for the shipped catalog
ARRAYS = ("step", "memory")
# A checked array file's stamp is recorded only once its change time is this far in the past: the
# kernel's file clock ticks coarsely (up to ~10 ms), so a write within the same tick as the one
# stamped would leave the change time as it was; any later write moves it past the stamp's.
SETTLED_NS = 2_000_000_000
_ROOT = Path(__file__).resolve().parents[2]
# the source the cached arrays are computed by: an edit to any of these gives a new key (rglob: a
# subpackage of planner/model would be part of the model too; the answers cache's key builds on this one)
CODE = (*sorted((_ROOT / "planner" / "model").rglob("*.py")), _ROOT / "planner" / "search" / "shapes" / "candidates.py",
        Path(__file__).resolve())


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("hwplan")
    except metadata.PackageNotFoundError:
        return "source"


def entry_key(catalog: Catalog, tables: CatalogTables) -> str:
    """The key of a catalog's entry (see the module docstring for what goes into it)."""
    parts = (str(FORMAT), catalog.version, tables.digest(), source_digest(CODE, _ROOT).hex(), np.__version__)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def catalog_tables(catalog: Catalog, *, answers: bool = False) -> CatalogTables:
    """``CatalogTables.from_catalog`` with the Universe's constants taken from the cache (built and
    stored there on a miss) unless the cache is off; ``answers``: with the capacity answers kept on
    disk too (``hardware_catalog.caching.answers_cache``; the caller saves them with ``answers_cache.save``)."""
    tables = CatalogTables.from_catalog(catalog)
    prepare_tables(catalog, tables, answers=answers)
    # the same tables serve the catalog's estimates (a plan's chip-order check estimates batch-1 TPOTs): built
    # by the same ``from_catalog``, so not built twice (the Universe's constants do not enter a gathered row)
    cached(catalog, ESTIMATE_TABLES, lambda: tables)
    return tables


def prepare_tables(catalog: Catalog, tables: CatalogTables, *, answers: bool = False) -> str:
    """Give ``tables``' Universe every row's constants from the cache: "hit", "built" (computed and
    stored), "unwritable" (computed, not stored) or "off" (nothing done); ``answers``: back the
    tables' capacity answers with the cache's files for the entry (``hardware_catalog.caching.answers_cache``)."""
    if not enabled():
        return "off"
    u = universe(tables)
    try:
        key = entry_key(catalog, tables)
    except OSError:  # the model's source cannot be read (an unusual install): no key, no caching
        return "off"
    if answers:
        answers_cache.attach(tables, key)
    folder = cache_dir()
    arrays = _read(folder, key, list(u.array_shapes()))
    if arrays is not None:
        u.adopt(*arrays)
        _touch(folder / f"{key}.json")
        return "hit"
    step, memory = u.arrays()
    return "built" if _write(folder, key, catalog.version, {"step": step, "memory": memory}) else "unwritable"


def _read(folder: Path, key: str, shapes: list[tuple[int, ...]]) -> tuple[np.ndarray, np.ndarray] | None:
    """The entry's arrays if it is complete and checks out, else None (a bad entry is removed)."""
    meta_path = folder / f"{key}.json"
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format") != FORMAT or meta.get("key") != key:
            raise ValueError("another format or key")
        out, stamps = [], {}
        for name, shape in zip(ARRAYS, shapes, strict=True):
            info = meta["arrays"][name]
            path = folder / f"{key}.{name}.npy"
            st = path.stat()
            if st.st_size != info["bytes"]:
                raise ValueError("truncated")
            a = np.load(path, mmap_mode="c", allow_pickle=False)
            if a.dtype != np.float64 or a.shape != tuple(shape) or not a.flags.c_contiguous:
                raise ValueError("unexpected array")
            stamps[name] = _stamp(st)
            if not _verified(meta, name, stamps[name]) and _checksum(a) != info["checksum"]:
                raise ValueError("checksum mismatch")
            out.append(a.view(np.ndarray))  # the same pages; slices skip memmap's per-slice bookkeeping
        if meta.get("verified") != stamps and all(s[3] < time.time_ns() - SETTLED_NS for s in stamps.values()):
            with contextlib.suppress(OSError):  # (a read-only cache: checked again next time)
                _atomic(meta_path, lambda f: f.write(json.dumps({**meta, "verified": stamps}, indent=1).encode()))
        return out[0], out[1]
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, EOFError):
        _remove(folder, key)
        return None


def _verified(meta: dict[str, Any], name: str, stamp: list[int]) -> bool:
    """Whether the description records this very file's stamp from an earlier check."""
    verified = meta.get("verified")
    return isinstance(verified, dict) and verified.get(name) == stamp


def _stamp(st: os.stat_result) -> list[int]:
    """What identifies an array file's bytes once they have been checked: its inode, size and
    modification and change times. Any write to the file, or a file put in its place, gives a
    new change time, which no one but the kernel sets."""
    return [st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _write(folder: Path, key: str, version: str, arrays: dict[str, np.ndarray]) -> bool:
    """Store an entry (temporary files renamed into place, description last); False if it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        described = {}
        for name in ARRAYS:
            a = np.ascontiguousarray(arrays[name], dtype=np.float64)
            path = folder / f"{key}.{name}.npy"
            _atomic(path, partial(np.save, arr=a, allow_pickle=False))
            described[name] = {"shape": list(a.shape), "bytes": path.stat().st_size,
                               "checksum": _checksum(a)}
        meta = {"format": FORMAT, "key": key, "catalog_version": version, "package": _package_version(),
                "arrays": described}
        _atomic(folder / f"{key}.json", lambda f: f.write(json.dumps(meta, indent=1).encode()))
        _prune(folder)
        return True
    except OSError:
        return False


_CHUNK = 1 << 17  # words (1 MiB) per positional weight


def _checksum(a: np.ndarray) -> str:
    """Two wrapping 64-bit sums of a float64 array's words: plain, and with each 1 MiB chunk's sum
    weighted by its position (a Fletcher-like sum at memory speed; array ops wrap silently)."""
    words = np.ascontiguousarray(a).reshape(-1).view(np.uint64)
    whole = len(words) // _CHUNK * _CHUNK
    sums = np.append(words[:whole].reshape(-1, _CHUNK).sum(axis=1, dtype=np.uint64),
                     words[whole:].sum(dtype=np.uint64))
    weighted = (sums * np.arange(1, len(sums) + 1, dtype=np.uint64)).sum(dtype=np.uint64)
    return f"{int(sums.sum(dtype=np.uint64)):016x}{int(weighted):016x}"


def _entries(folder: Path) -> list[Path]:
    """The entries' descriptions, most recently used first (a file removed meanwhile is skipped)."""
    return cache_store.entries(folder, ".json")


def _remove(folder: Path, key: str) -> int:
    freed = 0
    for path in (folder / f"{key}.json", *(folder / f"{key}.{name}.npy" for name in ARRAYS)):
        try:
            size = path.stat().st_size
            path.unlink()
            freed += size
        except OSError:
            pass
    return freed


def _touch(path: Path) -> None:
    with contextlib.suppress(OSError):
        os.utime(path)


def _prune(folder: Path) -> None:
    for old in _entries(folder)[KEEP:]:
        _remove(folder, old.stem)
    # what a killed writer left: its temporaries, and arrays renamed into place whose description never was
    cache_store.sweep_temporaries(folder)
    now = time.time()
    for path in folder.glob("*.npy"):
        with contextlib.suppress(OSError):
            if not (folder / f"{path.name.split('.')[0]}.json").exists() and \
                    now - path.stat().st_mtime > cache_store.ORPHAN_AGE_S:
                path.unlink()


def info() -> dict[str, Any]:
    """Where the cache is, whether it is on, its entries (key, catalog version, bytes), its
    compiled catalogs, compiled workloads, kept dataclass code, capacity answers, per-row values and the
    export's deploy data (key, bytes)."""
    folder = cache_dir()
    entries = []
    for meta_path in _entries(folder):
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            size = sum(p.stat().st_size for p in folder.glob(f"{meta_path.stem}.*"))
        except (OSError, ValueError):
            continue
        entries.append({"key": meta_path.stem, "catalog_version": meta.get("catalog_version"), "bytes": size})
    catalogs = [{"key": p.name.removesuffix(compiled.SUFFIX), "bytes": p.stat().st_size}
                for p in compiled.entries(folder)]
    workloads = [{"key": p.name.removesuffix(compiled_workload.SUFFIX), "bytes": p.stat().st_size}
                 for p in compiled_workload.entries(folder)]
    code = [{"key": p.name.removesuffix(compiled_code.SUFFIX), "bytes": p.stat().st_size}
            for p in compiled.entries(folder, compiled_code.SUFFIX)]
    answers = [{"key": p.name.removesuffix(answers_cache.SUFFIX), "bytes": p.stat().st_size}
               for p in answers_cache.entries(folder)]
    rows = [{"key": p.name.removesuffix(answers_cache.ROW_SUFFIX), "bytes": p.stat().st_size}
            for p in answers_cache.row_entries(folder)]
    deploy = [{"key": p.name.removesuffix(compiled.DEPLOY_SUFFIX), "bytes": p.stat().st_size}
              for p in compiled.entries(folder, compiled.DEPLOY_SUFFIX)]
    return {"directory": str(folder), "enabled": enabled(),
            "usable": folder.is_dir() or not folder.exists(),  # (a file there: nothing can be kept)
            "entries": entries, "catalogs": catalogs,
            "workloads": workloads, "code": code, "answers": answers, "rows": rows, "deploy": deploy,
            "bytes": sum(e["bytes"] for e in (*entries, *catalogs, *workloads, *code, *answers, *rows, *deploy))}


def clear() -> int:
    """Remove every entry, compiled catalogs, workloads, dataclass code, capacity answers, per-row values and
    deploy data included (and stray temporary files); bytes freed."""
    folder = cache_dir()
    if not folder.is_dir():
        return 0
    freed = 0
    for path in [*folder.glob("*.npy"), *folder.glob("*.json"), *folder.glob(f"*{compiled.SUFFIX}"),
                 *folder.glob(f"*{compiled_workload.SUFFIX}"), *folder.glob(f"*{compiled_code.SUFFIX}"),
                 *folder.glob(f"*{answers_cache.SUFFIX}"), *folder.glob(f"*{answers_cache.ROW_SUFFIX}"),
                 *folder.glob(f"*{compiled.DEPLOY_SUFFIX}"),
                 *folder.glob(".*.tmp")]:
        try:
            freed += path.stat().st_size
            path.unlink()
        except OSError:
            pass
    return freed
