"""What the catalog cache's entry key (hardware_catalog.cache.entry_key) is a function of.

The key must change with everything the cached arrays are computed from (the catalog, its tables,
the model's source, numpy) so that an entry is never stale; the package version is not among
them (the installed source is hashed) and is only recorded in the entry's description.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import cache, default_catalog_dir, load_catalog
from hardware_catalog.cache_store import source_digest
from planner.model.grid import CatalogTables


@pytest.fixture(scope="module")
def shipped() -> tuple[object, CatalogTables]:
    catalog = load_catalog(default_catalog_dir())
    return catalog, CatalogTables.from_catalog(catalog)


def test_an_edited_model_source_gives_a_new_key(shipped: tuple, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, tables = shipped
    source = tmp_path / "planner" / "model" / "perf.py"
    source.parent.mkdir(parents=True)
    source.write_text("A = 1\n")
    monkeypatch.setattr(cache, "CODE", (source,))
    monkeypatch.setattr(cache, "_ROOT", tmp_path)
    source_digest.cache_clear()
    before = cache.entry_key(catalog, tables)
    assert cache.entry_key(catalog, tables) == before  # a function of its inputs
    source.write_text("A = 2\n")
    source_digest.cache_clear()  # (a process reads the source once; a new process sees the edit)
    assert cache.entry_key(catalog, tables) != before
    source_digest.cache_clear()


def test_another_numpy_gives_a_new_key(shipped: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, tables = shipped
    before = cache.entry_key(catalog, tables)
    monkeypatch.setattr(np, "__version__", np.__version__ + ".post1")
    assert cache.entry_key(catalog, tables) != before


def test_the_key_does_not_ask_for_the_package_version(shipped: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    catalog, tables = shipped
    before = cache.entry_key(catalog, tables)
    monkeypatch.setattr(cache, "_package_version", lambda: pytest.fail("package version looked up"))
    assert cache.entry_key(catalog, tables) == before
