"""Benchmark: evaluate >= 100,000 configurations of the default catalog in one vectorised call.

Grid: models x hardware x weight precisions x runtimes x tp x batch, built with
CatalogTables.gather from index arrays (invalid combinations are evaluated too: they come back
as nan / fits=False, which is what a planner's first pass over the cross product does).
Prints configurations per second (median of several runs) and the ratio to the 1,000,000/s aim.

    .venv/bin/python bench/perf_grid.py
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from planner.model.grid import CatalogTables, Grid  # noqa: E402
from planner.model.scenarios import max_throughput, static_batch  # noqa: E402

TARGET_PER_S = 1_000_000
TP = (1, 2, 4, 8)
BATCH = (1, 8, 32, 128)
RUNS = 7


def build(tables: CatalogTables) -> tuple[Grid, np.ndarray]:
    shape = (len(tables.model_ids), len(tables.hardware_ids), len(tables.precision_ids),
             len(tables.runtime_ids), len(TP), len(BATCH))
    m, h, p, r, t, b = (a.ravel() for a in np.indices(shape))
    kv = np.full_like(m, tables.precision_ids.index("bf16"))
    grid = tables.gather(model=m, hardware=h, weight_precision=p, kv_precision=kv, runtime=r,
                         tp=np.asarray(TP, dtype=np.float64)[t], pp=1.0)
    return grid, np.asarray(BATCH, dtype=np.float64)[b]


def timed(fn: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    tables = CatalogTables.from_catalog(load_catalog())
    start = time.perf_counter()
    grid, batch = build(tables)
    n = len(grid)
    print(f"grid: {n:,} configurations ({len(tables.model_ids)} models x {len(tables.hardware_ids)} "
          f"hardware x {len(tables.precision_ids)} precisions x {len(tables.runtime_ids)} runtimes x "
          f"{len(TP)} tp x {len(BATCH)} batch), gathered in {time.perf_counter() - start:.3f} s")
    assert n >= 100_000
    with np.errstate(all="ignore"):  # nan rows: precisions a chip cannot compute
        cases = {
            "static_batch": lambda: static_batch(grid, batch=batch, input_tokens=512.0, output_tokens=128.0),
            "max_throughput": lambda: max_throughput(grid, input_tokens=512.0, output_tokens=128.0,
                                                     batch_cap=batch),
        }
        for name, fn in cases.items():
            seconds = timed(fn)
            rate = n / seconds
            print(f"{name:15s} median {seconds * 1e3:8.1f} ms over {RUNS} runs: {rate:12,.0f} configs/s "
                  f"= {rate / TARGET_PER_S:.2f} x target ({TARGET_PER_S:,}/s)")


if __name__ == "__main__":
    main()
