"""Diagnostic (not the issue's metric): MLPerf Server / Interactive p99 TTFT and TPOT at the same
relative load.

The issue's figure compares predicted and observed p99s at the record's submitted rate. Near the
knee latency grows like 1 / (1 - rate / capacity), so that figure is dominated by the error of
the predicted capacity (a record the model puts 5% over its capacity has no steady state at all).
Here each record is predicted instead at the same load relative to capacity as it was run: the
submitted rate is the observed SLO capacity (a lower bound, submitters tune to it), so relative
load 1, i.e. at the model's own SLO capacity. What is left is the error of the curve's shape:
which limit binds and how far the other p99 sits below its own.

Both predictions search the SLO capacity (``capacity=True``), so the engine at the capacity runs with the cap on
sequences that capacity was found at (``predict._engine_cap``: the TPOT-tuned cap or the runtime's default,
whichever carries more within the SLO). Run without it (before 2026-12-07), the second ran at the TPOT-tuned cap
where the capacity was the default cap's, and arrivals waited for a slot: TTFT p99 of llama2-70b Interactive
on 8 H200 (Cisco) 3.2 s where the engine its capacity was found with has 0.20 s (observed 0.27 s), and the
table read 71% for the shape's TTFT error where it is 40%.

    PYTHONPATH=$PWD .venv/bin/python bench/relative_load_p99.py hardware_catalog/data/measurements/mlperf.yaml
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, RecordSet, predict, prepare
from planner.calibration.validate import ape
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.model.load.scheduler import overlap_of

CAPACITY, TTFT, TPOT = (METRICS.index(k) for k in ("slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s"))


def table(catalog: Catalog, rs: RecordSet) -> list[str]:
    """Markdown rows: p99 median APE at the record's rate and at the same relative load."""
    tables = CatalogTables.from_catalog(catalog)
    rs = rs.take([k for k, m in enumerate(rs.records) if m.tags.get("scenario") in ("Server", "Interactive")])
    overlap = overlap_of(catalog.calibration)
    at_rate = predict(tables, rs, overlap=overlap)
    capacity = at_rate[:, CAPACITY]
    keep = np.flatnonzero(capacity > 0)
    moved = rs.take(keep.tolist())
    moved = replace(moved, records=tuple(replace(m, request_rate=float(c))
                                         for m, c in zip(moved.records, capacity[keep], strict=True)))
    at_capacity = predict(tables, moved, overlap=overlap)  # (the engine cap its capacity was found at)
    lines = ["| diagnostic: p99 at | metric | n | median APE | within 25% | unstable |", "|---|---|---|---|---|---|"]
    for label, pred, obs in (("the record's rate", at_rate, rs.observed),
                             ("the same relative load", at_capacity, moved.observed)):
        err = ape(pred, obs)
        for name, col in (("ttft_p99_s", TTFT), ("tpot_p99_s", TPOT)):
            e = err[:, col]
            e = e[~np.isnan(e)]
            lines.append(f"| {label} | {name} | {e.size} | {100 * np.median(e):.1f}% | "
                         f"{100 * np.mean(e <= 0.25):.0f}% | {100 * np.mean(np.isinf(e)):.0f}% |")
    return [*lines, ""]


def print_table(make: Callable[[Catalog, RecordSet], list[str]], doc: str | None) -> None:
    """A diagnostic's command line: the MLPerf file named on it, resolved against the shipped catalog,
    printed as ``make``'s markdown rows (this script's and ``server_offline_ratio.py``'s)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("mlperf", type=Path)
    args = parser.parse_args()
    catalog = load_catalog()
    rs, _ = prepare(catalog, CatalogTables.from_catalog(catalog), read_measurements(args.mlperf).records)
    print("\n".join(make(catalog, rs)))


def main() -> None:
    print_table(table, __doc__)


if __name__ == "__main__":
    main()
