"""Where hwplan's caches live, whether they are on, how a cache file is written, and the digest of the
source an entry was computed by.

Shared by the compiled catalog (``hardware_catalog.caching.compiled``: validated catalogs) and the catalog
cache (``hardware_catalog.caching.cache``: the Universe's arrays); standard library only, so a command
that needs a catalog alone (``catalog list``) pays for neither numpy nor the search.
"""

from __future__ import annotations

import functools
import hashlib
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["ENV_DIR", "ENV_OFF", "atomic_write", "cache_dir", "enabled", "source_digest"]

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


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write ``path`` through a temporary file in its directory renamed into place: a reader sees
    the whole file or none, and two writers of the same file both succeed."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@functools.cache
def source_digest(paths: tuple[Path, ...], root: Path) -> bytes:
    """SHA-256 of the source files (each with its path under ``root``) an entry was computed by:
    an edited module gives a new key. Read once per process."""
    sha = hashlib.sha256()
    for path in paths:
        sha.update(str(path.relative_to(root)).encode() + b"\0")
        sha.update(path.read_bytes())
    return sha.digest()
