"""The runtime support table the candidate enumeration reads (``candidates._supports``) is kept
per catalog: each feature set must still get its own table, the one the runtimes' support
matrices give, in whatever order feature sets are asked for."""

from __future__ import annotations

import numpy as np

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import _supports

FEATURE_SETS = [("prefix_caching",), ("speculative",), ("expert_parallel", "dp_attention"),
                ("prefix_caching", "speculative"), ("disaggregation",)]


def _direct(catalog: Catalog, tables: CatalogTables, features: tuple[str, ...]) -> np.ndarray:
    """[hardware, runtime] straight from each runtime's support matrix (``Runtime.supports``)."""
    return np.array([[all(catalog.runtimes[r].supports(f, catalog.hardware[h].family) for f in features)
                      for r in tables.runtime_ids] for h in tables.hardware_ids], dtype=bool)


def test_each_feature_set_gets_its_own_table_in_any_order(catalog: Catalog, tables: CatalogTables) -> None:
    expected = {f: _direct(catalog, tables, f) for f in FEATURE_SETS}
    assert len({e.tobytes() for e in expected.values()}) > 1  # the sets differ: a shared table would show
    for features in [*FEATURE_SETS, *reversed(FEATURE_SETS)]:
        got = _supports(catalog, tables, features)
        assert got.shape == (len(tables.hardware_ids), len(tables.runtime_ids))
        assert np.array_equal(got, expected[features]), features


def test_the_kept_table_cannot_be_changed_by_a_caller(catalog: Catalog, tables: CatalogTables) -> None:
    table = _supports(catalog, tables, ("prefix_caching",))
    assert not table.flags.writeable
