"""Where hwplan's caches live, whether they are on, how a cache file is written, found, trusted and
pruned, and the digest of the source an entry was computed by.

Shared by every cache of ``hardware_catalog.caching`` (compiled catalogs, workloads and dataclass code,
the Universe's arrays, capacity answers); standard library only, so a command that needs a catalog
alone (``catalog list``) pays for neither numpy nor the search.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import stat
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["ENV_DIR", "ENV_OFF", "atomic_write", "cache_dir", "enabled", "entries", "ours_alone", "prune",
           "source_digest"]

ENV_OFF = "HWPLAN_NO_CACHE"
ENV_DIR = "HWPLAN_CACHE_DIR"


def enabled() -> bool:
    return os.environ.get(ENV_OFF, "").strip() not in ("1", "true", "yes")


def cache_dir() -> Path:
    """Where entries live: $HWPLAN_CACHE_DIR, else the user cache directory (platformdirs)."""
    explicit = os.environ.get(ENV_DIR)
    if explicit:
        return Path(explicit)
    try:
        from platformdirs import user_cache_dir  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # platformdirs' answer on Linux, without it
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(base) / "hwplan"
    return Path(user_cache_dir("hwplan", appauthor=False))


def atomic_write(path: Path, write: Callable[[BinaryIO], object], *, private: bool = False) -> None:
    """Write ``path`` through a temporary file in its directory renamed into place: a reader sees
    the whole file or none, and two writers of the same file both succeed. ``private``: the file is
    its owner's alone to write (0600; a umask of 002 would let the group write), as ``ours_alone``
    requires of an entry whose content is trusted."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            if private:
                os.fchmod(f.fileno(), 0o600)
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ours_alone(st: os.stat_result) -> bool:
    """Whether a file (its ``os.fstat``) belongs to this user and no group or other may write it: only
    such an entry is trusted (unpickled, or its answers taken), since anyone who can write it could
    have put anything there."""
    return st.st_uid == getattr(os, "geteuid", lambda: st.st_uid)() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def entries(folder: Path, suffix: str) -> list[Path]:
    """The entries ending in ``suffix`` in ``folder``, most recently used first."""
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob(f"*{suffix}"):
        with contextlib.suppress(OSError):
            found.append((path.stat().st_mtime, path))
    return [p for _, p in sorted(found, reverse=True)]


def prune(folder: Path, suffix: str, keep: int) -> None:
    """Remove all but the ``keep`` most recently used entries ending in ``suffix``."""
    for old in entries(folder, suffix)[keep:]:
        with contextlib.suppress(OSError):
            old.unlink()


@functools.cache
def source_digest(paths: tuple[Path, ...], root: Path) -> bytes:
    """SHA-256 of the source files (each with its path under ``root``) an entry was computed by:
    an edited module gives a new key. Read once per process."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(str(path.relative_to(root)).encode() + b"\0")
        sha.update(path.read_bytes())
    return sha.digest()


ORPHAN_AGE_S = 600.0  # a temporary or undescribed file this old is no write in progress (a write takes seconds)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process, or no way to ask: taken as alive
        return True
    return True


def sweep_temporaries(folder: Path) -> int:
    """Remove the temporary files ``atomic_write`` left where its process died before the rename (a kill -9 of
    the service mid-write left a 172 MB array, never pruned: entries are counted by their descriptions and these
    names start with a dot): those of a process no longer running, or older than ORPHAN_AGE_S. Bytes freed."""
    freed, now = 0, time.time()
    for path in folder.glob(".*.tmp"):
        parts = path.name.split(".")  # "", the file's name..., pid, random hex, "tmp"
        pid = int(parts[-3]) if len(parts) >= 4 and parts[-3].isdigit() else None
        try:
            st = path.stat()
            if (pid is not None and pid != os.getpid() and not _alive(pid)) or now - st.st_mtime > ORPHAN_AGE_S:
                path.unlink()
                freed += st.st_size
        except OSError:
            continue
    return freed
