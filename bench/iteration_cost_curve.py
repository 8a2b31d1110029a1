"""Diagnostic: how well the MLPerf records under load identify the serving iteration cost.

For each value of ``serving_fit.ITERATION_GRID`` this predicts the Server and Interactive records'
SLO capacity with the shipped calibration's efficiencies and overlaps, the cost set to that value for
every runtime (as ``serving_fit.fitted_iteration`` does), and prints the median absolute percentage
error pooled and per runtime with at least ``serving_fit.MIN_RECORDS`` records, the best value, one
bootstrap standard error of the best median (the rule's) and the values within it: where several are,
the data do not tell them apart and the rule picks the one nearest its shrinkage target.

Then, per MLPerf round, the median APE of the SLO capacity, TPOT p50, TPOT p99 and TTFT p99 at the records'
rates on a wider grid (up to 20 ms; efficiencies and overlaps still the shipped ones, so each round is in
sample): what a single cost can do for each round at best. Measured 2026-12-06: TPOT p99 is best at 12-20 ms
on v4.1 (11-15%) and at 6 ms on v5.1 (23.7%, no value reaches 20%), SLO capacity at 6 ms (v4.1 4.2%) and 8 ms
(v5.1 11.7%): the rounds' engines differ, so a cost fitted on one round misses the other's TPOT whatever
the fitting rule (the by-round cross-validation's 26% TPOT p99).

    PYTHONPATH=$PWD .venv/bin/python bench/iteration_cost_curve.py [hardware_catalog/data/measurements/mlperf.yaml]
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.inputs.measurements import read_measurements  # noqa: E402
from planner.calibration import serving_fit  # noqa: E402
from planner.calibration.predict import METRICS, RecordSet, predict, prepare  # noqa: E402
from planner.calibration.validate import ape  # noqa: E402
from planner.domain import Catalog  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402
from planner.model.load.scheduler import overlap_of  # noqa: E402

DEFAULT = Path(__file__).resolve().parents[1] / "hardware_catalog/data/measurements/mlperf.yaml"


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    catalog = load_catalog()
    rs, _ = prepare(catalog, CatalogTables.from_catalog(catalog), read_measurements(path).records)
    sub = serving_fit.server_records(rs)
    calibration = catalog.calibration
    errors = serving_fit.iteration_errors(catalog, calibration, sub)  # what serving_fit.fitted_iteration reads
    runtimes = np.array([c.runtime.id for c in sub.configs])
    groups = [("pooled", np.ones(len(runtimes), dtype=bool))] + [
        (rid, runtimes == rid) for rid in sorted(set(runtimes.tolist()))
        if (runtimes == rid).sum() >= serving_fit.MIN_RECORDS]
    print(f"{path.name}: SLO capacity median APE by serving iteration cost (shipped calibration otherwise)")
    print(f"{'records':<14}{'n':>5}  " + "".join(f"{c * 1e3:>7.0f}ms" for c in serving_fit.ITERATION_GRID)
          + "   best    1 s.e.  within it")
    for name, mask in groups:
        mine = {c: e[mask] for c, e in errors.items()}
        best, spread = serving_fit.best_and_spread(mine)
        within = ", ".join(f"{c * 1e3:.0f}" for c in serving_fit.within(mine))
        medians = "".join(f"{100 * float(np.median(e)):>8.1f}%" for e in mine.values())
        print(f"{name:<14}{int(mask.sum()):>5}  {medians}  {best * 1e3:>4.0f} ms  {100 * spread:>5.1f} pt  {within} ms")
    print(f"shipped: pooled {1e3 * (calibration.serving_iteration_s or 0.0):.0f} ms, per runtime "
          f"{ {k: f'{1e3 * v:.0f} ms' for k, v in calibration.serving_iteration_runtime.items()} or 'none'}; "
          f"intervals {calibration.serving_iteration_interval} pooled, "
          f"{dict(calibration.serving_iteration_interval_runtime) or 'none'} per runtime")
    by_round(catalog, sub)


WIDE_GRID = (0.0, 0.002, 0.004, 0.006, 0.008, 0.010, 0.012, 0.015, 0.020)
BY_ROUND = ("slo_capacity_requests_per_s", "tpot_p50_s", "tpot_p99_s", "ttft_p99_s")


def by_round(catalog: Catalog, sub: RecordSet) -> None:
    """Per round and metric, the median APE at each WIDE_GRID cost (a prediction past capacity: an infinite
    error, as ``hwplan validate`` counts it)."""
    calibration = catalog.calibration
    overlap = np.array([overlap_of(calibration, c.runtime.id) for c in sub.configs])
    errors = {}
    for cost in WIDE_GRID:
        trial = replace(calibration, serving_iteration_s=cost, serving_iteration_runtime={})
        tables = CatalogTables.from_catalog(replace(catalog, calibration=trial))
        errors[cost] = ape(predict(tables, sub, overlap=overlap), sub.observed)
    rounds = np.array([m.tags.get("round", "") for m in sub.records])
    print("\nper round, median APE at each serving iteration cost (every runtime; in sample)")
    print(f"{'metric':<30}{'round':<7}{'n':>5}  " + "".join(f"{c * 1e3:>7.0f}ms" for c in WIDE_GRID))
    for name in BY_ROUND:
        k = METRICS.index(name)
        for r in sorted(set(rounds.tolist())):
            mask = (rounds == r) & ~np.isnan(sub.observed[:, k])
            medians = "".join(f"{100 * float(np.median(e[mask, k])):>8.1f}%" for e in errors.values())
            print(f"{name:<30}{r:<7}{int(mask.sum()):>5}  {medians}")


if __name__ == "__main__":
    main()
