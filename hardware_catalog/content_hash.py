"""The content hash of a catalog's files: ``Catalog.version`` (``hardware_catalog.loader``) and the
compiled catalog's key (``hardware_catalog.caching.compiled``) start from it. Standard library only,
so a compiled-catalog hit needs neither the YAML parser nor the schema.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from hardware_catalog.input_bytes import read_bytes, refuse_special

__all__ = ["catalog_hash"]


def catalog_hash(folders: Iterable[Path | str]) -> hashlib._Hash:
    """SHA-256 of every YAML file's path (relative to its folder) and bytes; ``Catalog.version`` is
    its first 16 hex digits (``hardware_catalog.loader``). A FIFO or device among them, or a file past
    ``MAX_FILE_BYTES``, is a CatalogError naming it (``input_bytes``), as the loader's read would give."""
    sha = hashlib.sha256()
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.yaml")):
            refuse_special(path)
            sha.update(str(path.relative_to(folder)).encode())
            sha.update(read_bytes(path))
    return sha
