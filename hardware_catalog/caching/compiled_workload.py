"""The compiled workload: a validated ``Workload`` kept on disk, so a later run of the same file
skips the YAML parser and the workload schema.

``load_workload`` (what ``hwplan plan`` calls) gives what ``hardware_catalog.inputs.workload.
load_workload`` gives for the same file and ``--prices`` sheet. Reading a workload validates it
against ``WorkloadIn``, whose schema (with the price sheet's) pydantic builds at import: with the
YAML parser that is ~20-60 ms of a fresh process, more than the parsing itself. An entry's key is a
SHA-256 of the workload file's bytes and path as given, the price sheet's (its path goes into each
offer's ``file``), the source of every module under ``planner/`` and ``hardware_catalog/``
(``compiled.code_digest``) and the Python version: an edited file or module gives a new key, so an
entry is never stale. A file that does not load is never stored (the loader raises its usual error
naming the file and field), nor one that changed while it was loaded.

Entries are ``<key>.workload.pickle`` beside the compiled catalogs, in the same format and read
under the same checks (``compiled.read_entry``: owner-only, SHA-256 of the payload; anything else
is removed and rebuilt silently). ``HWPLAN_NO_CACHE=1`` turns it off; ``hwplan cache clear``
removes entries. Standard library only at import, like ``hardware_catalog.caching.compiled``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from hardware_catalog.caching import compiled
from hardware_catalog.caching.cache_store import cache_dir, enabled
from hardware_catalog.input_bytes import read_bytes

if TYPE_CHECKING:
    from planner.workload import Workload

__all__ = ["KEEP", "SUFFIX", "entries", "load_workload"]

KEEP = 32  # entries kept (most recently used); a few kB each
SUFFIX = ".workload.pickle"


def load_workload(path: Path | str, *, prices: Path | str | None = None) -> Workload:
    """``inputs.workload.load_workload(path, prices=prices)``, from the compiled entry when one exists
    for exactly these files (stored after a successful load when none does)."""
    from planner.workload import Workload

    if not enabled():
        return _load(path, prices)
    try:
        inputs = _inputs(path, prices)
    except OSError:  # a file that cannot be read: the loader names it
        return _load(path, prices)
    folder = cache_dir()
    entry = folder / f"{_key(inputs)}{SUFFIX}"
    workload = compiled.read_entry(entry, Workload)
    if workload is None:
        workload = _load(path, prices)
        if _unchanged(inputs, path, prices):  # what was loaded is what the key hashed
            compiled.write_entry(folder, entry, workload, suffix=SUFFIX, keep=KEEP)
    return workload


def entries(folder: Path) -> list[Path]:
    """The compiled workloads in ``folder``, most recently used first."""
    return compiled.entries(folder, SUFFIX)


def _inputs(path: Path | str, prices: Path | str | None) -> list[bytes]:
    """Each input file's path as given and bytes (the price sheet's only with ``--prices``)."""
    parts = [str(path).encode(), read_bytes(path)]
    if prices is not None:
        parts += [str(prices).encode(), read_bytes(prices)]
    return parts


def _unchanged(inputs: list[bytes], path: Path | str, prices: Path | str | None) -> bool:
    try:
        return _inputs(path, prices) == inputs
    except OSError:
        return False


def _key(inputs: list[bytes]) -> str:
    sha = hashlib.sha256(b"hwplan-workload\n")
    for part in inputs:  # each length-prefixed: no two lists of parts hash the same bytes
        sha.update(len(part).to_bytes(8, "little"))
        sha.update(part)
    sha.update(compiled.code_digest())
    sha.update(sys.version.encode())
    return sha.hexdigest()[:32]


def _load(path: Path | str, prices: Path | str | None) -> Workload:
    """The loader itself (YAML, pydantic), imported only on a miss."""
    from hardware_catalog.inputs.workload import load_workload as load

    return load(path, prices=prices)
