"""The Universe's block store shared by searches in threads (as the service runs them).

Blocks are stored as they are first built, and the store moves when it grows, so a search reading
rows while another builds must still get its own rows' constants. Basis: the same rows' constants
built alone in a fresh Universe (np.array_equal, NaN included).
"""

from __future__ import annotations

import threading

import numpy as np

from hardware_catalog import load_catalog
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import PARALLEL, Universe


def test_concurrent_reads_and_builds_get_each_rows_own_constants() -> None:
    tables = CatalogTables.from_catalog(load_catalog())
    shared = Universe(tables)
    rows_total = shared.n_blocks * len(PARALLEL)
    rng = np.random.default_rng(3)
    batches = [np.sort(rng.choice(rows_total, size=400, replace=False)) for _ in range(24)]
    got: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            for i in range(worker, len(batches), 6):
                step, mem = shared.models(batches[i])
                got[i] = (step.coefficients.stacked(), mem.coefficients.stacked())
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    for i, rows in enumerate(batches):
        step, mem = Universe(tables).models(rows)
        assert np.array_equal(got[i][0], step.coefficients.stacked(), equal_nan=True)
        assert np.array_equal(got[i][1], mem.coefficients.stacked(), equal_nan=True)
