"""Fit ``planner.model.load.scheduler.FITTED_OVERLAP`` on MLPerf Server and Interactive records.

One scalar for every chip and model, on a grid over its physical range [0, 1], shrunk toward the
roofline's prior of 1: the largest overlap whose median APE of the predicted SLO capacity
(``slo_capacity_requests_per_s``, at the shipped efficiencies: since 2026-12-04 fitted on the MLPerf records too,
so its figures are in sample; the by-round cross-validation of the calibration is the honest one) is
within one bootstrap standard error of the smallest (the median is flat over a wide range of
overlaps; the data do not tell those apart). Cross-validated by round: the overlap chosen on one
round is scored on the other. Prints, per overlap and round, the median APE
and share within 25% of the SLO capacity, the median APE of TTFT p99 and TPOT p99 at the record's
rate and the share of records the model puts over capacity at their rate ('unstable').

    PYTHONPATH=$PWD .venv/bin/python bench/fit_serving_overlap.py ../shared/calibration/mlperf.yaml
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, predict, prepare
from planner.calibration.validate import ape
from planner.model.grid import CatalogTables

GRID = tuple(np.round(np.linspace(0.0, 1.0, 11), 2))
BOOTSTRAP = 400  # resamples of the records for the standard error of the median APE


def choose(errors: dict[float, np.ndarray], rng: np.random.Generator) -> float:
    """The largest overlap whose median APE is within one bootstrap standard error of the smallest."""
    medians = {v: float(np.median(e)) for v, e in errors.items()}
    best = min(medians, key=lambda v: medians[v])
    e = errors[best]
    draws = [np.median(e[rng.integers(0, len(e), len(e))]) for _ in range(BOOTSTRAP)]
    return max(v for v in errors if medians[v] <= medians[best] + float(np.std(draws)))
CAPACITY, TTFT, TPOT = (METRICS.index(k) for k in ("slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mlperf", type=Path)
    args = parser.parse_args()
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, read_measurements(args.mlperf).records)
    keep = [k for k, m in enumerate(rs.records) if m.tags.get("scenario") in ("Server", "Interactive")]
    rs = rs.take(keep)
    rounds = np.array([m.tags.get("round", "") for m in rs.records])
    names = sorted(set(rounds))
    errors: dict[float, np.ndarray] = {}
    print("| overlap | round | n | SLO capacity median APE | within 25% | TTFT p99 | TPOT p99 | unstable |")
    print("|---|---|---|---|---|---|---|---|")
    for overlap in GRID:
        err = ape(predict(tables, rs, overlap=float(overlap)), rs.observed)
        errors[overlap] = err[:, CAPACITY]
        for r in [*names, "all"]:
            rows = (rounds == r) | (r == "all")
            cap = err[rows, CAPACITY]
            print(f"| {overlap:.1f} | {r} | {rows.sum()} | {100 * np.median(cap):.1f}% | "
                  f"{100 * np.mean(cap <= 0.25):.0f}% | {100 * np.median(err[rows, TTFT]):.1f}% | "
                  f"{100 * np.median(err[rows, TPOT]):.1f}% | {100 * np.mean(np.isinf(err[rows, TPOT])):.0f}% |",
                  flush=True)
    rng = np.random.default_rng(0)
    held_out = []
    for r in names:
        test = rounds == r
        best = choose({v: e[~test] for v, e in errors.items()}, rng)
        held_out.append(errors[best][test])
        print(f"fit on the other rounds: overlap {best:.1f}; {r}: SLO capacity median APE "
              f"{100 * np.median(errors[best][test]):.1f}%")
    both = np.concatenate(held_out)
    print(f"by round, held out: median APE {100 * np.median(both):.1f}%, within 25% {100 * np.mean(both <= 0.25):.0f}%")
    print(f"fit on all rounds: overlap {choose(errors, rng):.1f}")


if __name__ == "__main__":
    main()
