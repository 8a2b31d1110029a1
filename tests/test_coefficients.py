"""Named per-row coefficients (planner.model.perf, planner.model.grid): slicing rows commutes with
building them, the Universe's cached rows equal a fresh build, and the efficiency table agrees
with the catalog's own per-pair lookup (Catalog.efficiency), which is the basis the arrays copy."""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from planner.domain import Catalog
from planner.model.grid import CatalogTables, Efficiencies
from planner.model.perf import MemoryCoefficients, MemoryModel, StepCoefficients, StepModel
from planner.search.shapes.candidates import PARALLEL, universe


def _grid_rows(tables: CatalogTables, n: int, seed: int = 3) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"model": rng.integers(0, len(tables.model_ids), n),
            "hardware": rng.integers(0, len(tables.hardware_ids), n),
            "weight_precision": rng.integers(0, len(tables.precision_ids), n),
            "kv_precision": np.full(n, tables.precision_ids.index("bf16")),
            "runtime": rng.integers(0, len(tables.runtime_ids), n),
            "tp": rng.choice([1.0, 2.0, 4.0, 8.0], n), "pp": rng.choice([1.0, 2.0], n)}


def _same(a: StepCoefficients | MemoryCoefficients, b: StepCoefficients | MemoryCoefficients) -> None:
    assert type(a) is type(b)
    for f in fields(a):
        np.testing.assert_array_equal(getattr(a, f.name), getattr(b, f.name), err_msg=f.name)


def test_taking_rows_commutes_with_building(tables: CatalogTables) -> None:
    """Coefficients of a row subset = coefficients built from that subset's grid, field by field."""
    grid = tables.gather(**_grid_rows(tables, 400))
    rows = np.array([399, 0, 17, 17, 250])
    with np.errstate(divide="ignore", invalid="ignore"):
        step, mem = StepModel.build(grid), MemoryModel.build(grid)
        sub_step, sub_mem = StepModel.build(grid.take(rows)), MemoryModel.build(grid.take(rows))
    _same(step.take(rows).coefficients, sub_step.coefficients)
    _same(mem.take(rows).coefficients, sub_mem.coefficients)
    _same(step.coefficients[rows], sub_step.coefficients)  # __getitem__ is take
    assert len(step.take(rows)) == len(rows) == len(mem.take(rows))


def test_universe_rows_equal_a_fresh_build(tables: CatalogTables) -> None:
    """The Universe fills its cache a block at a time (Rows.put); what it hands out must equal
    the coefficients built directly from the same configurations."""
    u = universe(tables)
    n_rows = len(u.combo_columns[0]) * len(tables.model_ids) * len(PARALLEL)
    rows = np.unique(np.random.default_rng(5).integers(0, n_rows, 60))
    step, mem = u.models(rows)
    f = u.factors(rows)
    grid = tables.gather(model=f["model"], hardware=f["hardware"], runtime=f["runtime"],
                         weight_precision=f["precision"], kv_precision=f["kv_precision"], tp=f["tp"], pp=f["pp"],
                         ep=f["ep"])
    with np.errstate(divide="ignore", invalid="ignore"):
        _same(step.coefficients, StepModel.build(grid).coefficients)
        _same(mem.coefficients, MemoryModel.build(grid).coefficients)


def test_efficiency_table_matches_the_catalog_lookup(catalog: Catalog, tables: CatalogTables) -> None:
    names = {"eff_compute": "compute", "eff_memory": "memory", "eff_communication": "communication",
             "step_overhead_s": "step_overhead_s", "collective_latency_s": "collective_latency_s"}
    assert set(names) == {f.name for f in fields(Efficiencies)}
    for i, h in enumerate(tables.hardware_ids):
        for k, r in enumerate(tables.runtime_ids):
            e = catalog.efficiency(catalog.hardware[h], catalog.runtimes[r])
            pair = tables.efficiency.take((np.array([i]), np.array([k])))
            for field, attr in names.items():
                assert getattr(pair, field)[0] == getattr(e, attr), (h, r, field)
            assert tables.calibrated[i, k] == e.calibrated
