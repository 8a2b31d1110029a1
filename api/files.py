"""File primitives of the catalog store: atomic writes, an inter-process lock, ETags."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write", "etag_of", "etag_matches", "locked", "remove_durably"]


def etag_of(content: bytes) -> str:
    """Strong ETag: a quoted sha256 prefix of the file's bytes."""
    return '"' + hashlib.sha256(content).hexdigest()[:32] + '"'


def etag_matches(header: str, current: str | None) -> bool:
    """RFC 9110 §13.1.1 If-Match: ``*`` matches any existing resource, else one of a
    comma-separated list of entity-tags by strong comparison: a weak tag (``W/"..."``) or an
    unquoted one never matches."""
    if current is None:
        return False
    tags = [t.strip() for t in header.split(",")]
    return tags == ["*"] or current in tags


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> None:
    """Write a temp file beside ``path``, fsync it, rename over ``path``, fsync the directory.

    A crash at any point leaves ``path`` either old or new, never partial. The temp name ends in
    ``.tmp`` so the catalog loader (``*.yaml``) never reads it.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)


def remove_durably(path: Path) -> None:
    path.unlink()
    _fsync_dir(path.parent)


@contextlib.contextmanager
def locked(lock_file: Path, *, exclusive: bool) -> Iterator[None]:
    """flock on ``lock_file``: one writer (or many readers) across threads and worker processes."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)
