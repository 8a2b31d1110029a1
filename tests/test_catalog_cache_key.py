"""What the catalog cache's entry key (hardware_catalog.caching.cache.entry_key) is a function of.

The key must change with everything the cached arrays are computed from (the catalog, its tables,
the model's source, numpy) so that an entry is never stale; the package version is not among
them (the installed source is hashed) and is only recorded in the entry's description.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import default_catalog_dir, load_catalog
from hardware_catalog.caching import cache
from hardware_catalog.caching.cache_store import source_digest
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


def test_after_a_hit_the_first_plan_builds_no_model_constants(tmp_path: Path, cache_in: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """What the first search of a fresh process would otherwise build per candidate block (the
    step-time and memory constants) comes from the entry: none is built after a hit."""
    from hardware_catalog.inputs.workload import load_workload
    from planner.model.perf import MemoryModel, StepModel
    from planner.search.planning import plan
    from tests.test_catalog_cache import WORKLOAD, _small_catalog

    catalog = load_catalog(_small_catalog(tmp_path / "catalog"))
    assert cache.prepare_tables(catalog, CatalogTables.from_catalog(catalog)) == "built"
    tables = CatalogTables.from_catalog(catalog)  # a new process's tables
    assert cache.prepare_tables(catalog, tables) == "hit"
    built = []
    for model in (StepModel, MemoryModel):
        original = model.build
        monkeypatch.setattr(model, "build", staticmethod(lambda grid, f=original: built.append(1) or f(grid)))
    result = plan(load_workload(WORKLOAD), catalog, tables=tables, explain=False)
    assert result.plans and not built
    # the same plan without the cache does build them (the counter can fail)
    plan(load_workload(WORKLOAD), catalog, tables=CatalogTables.from_catalog(catalog), explain=False)
    assert built
