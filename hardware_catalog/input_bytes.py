"""An input file's bytes, read at most ``MAX_FILE_BYTES`` of (standard library only: the compiled workload
cache hashes a workload's bytes before any parser is imported).

A workload, catalog entry, price sheet or measurements file is a few kB to a few MB (the MLPerf records:
2.5 MB); a 300 MB workload file was accepted and parsed into 933 MB of memory, and ``hwplan plan /dev/zero``
read until the kernel killed it. Past the cap the file is refused, naming it, before it is parsed.

A catalog directory's files are found by globbing, so one of them may be a FIFO or a link to a device:
``refuse_special`` names it before it is opened (``hwplan catalog validate`` with a FIFO at hardware/x.yaml
waited forever for a writer; a link to /dev/zero was read whole by the catalog's content hash until the
kernel killed the process).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from planner.errors import CatalogError

__all__ = ["MAX_FILE_BYTES", "read_bytes", "refuse_special"]

MAX_FILE_BYTES = 64 * 2**20


def read_bytes(path: Path | str) -> bytes:
    """The file's bytes; a CatalogError naming it past MAX_FILE_BYTES (an OSError where it cannot be read)."""
    with open(path, "rb") as f:
        data = f.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise CatalogError(f"larger than {MAX_FILE_BYTES // 2**20} MiB: not an input file hwplan reads "
                           "(a workload, catalog entry, price sheet or measurements file is kB to a few MB)",
                           file=str(path))
    return data


def refuse_special(path: Path | str) -> None:
    """A CatalogError naming ``path`` where it is, or links to, a FIFO, a device or a socket. A path that
    cannot be stat-ed (missing, a link loop) is left to the reader, which names it with its OSError."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise CatalogError("not a regular file (a FIFO, a device or a socket, or a link to one): a catalog "
                           "directory holds YAML files; move or remove it", file=str(path))
