"""Benchmark: a re-plan of an edited request rate, with and without what the tables keep per question
besides the capacity answers (issue #21: the page re-plans on every edit, a sweep over traffic and prices
plans thousands of times).

A rate edit asks the same question (token lengths, SLO, served features), so a re-plan on the same tables
takes the capacity answers of the first plan (``planner.search.shapes.answers``) and, since this bench's
change, the screen and the tuned engine per Universe row (``planner.search.shapes.row_memo``) and the
enumeration (``candidates.enumerated``). For each example: plan it on emptied tables (``answers.forget``),
then time (process CPU time, the steadier figure on a shared machine) the plan of the workload at
1.1^k its rate, once with the two new stores in use and once without them (``prepare``'s as they were:
the enumeration and the screen computed afresh, the tuned engine too), the two interleaved per round so
that a busy phase of the machine falls on both. Printed per example: median CPU ms of each, their ratio,
and whether both gave the same plans (they must: kept values are the values). ``--edit peak`` (default)
scales the mean rate and the peak, so the new demand reaches shapes the first plan did not (the queueing
model then runs for them); ``--edit mean`` scales the mean alone, the demand (the peak) staying as it was.

    .venv/bin/python bench/replan_bench.py [--runs 4] [--edit peak|mean] [--only code-assistant ...]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy is imported

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import planner.search.shapes.prepare as prepare_module  # noqa: E402
from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.caching.cache import prepare_tables  # noqa: E402
from hardware_catalog.inputs.workload import load_workload  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402
from planner.search.planning import plan  # noqa: E402
from planner.search.shapes.answers import forget  # noqa: E402
from planner.workload import Workload  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@contextmanager
def without_kept() -> Iterator[None]:
    """``prepare`` as before the row memo and the kept enumeration: both computed afresh every search."""
    kept, rows = prepare_module.kept_enumeration, prepare_module.shared_rows
    prepare_module.kept_enumeration = prepare_module.enumerate_candidates  # type: ignore[assignment]
    prepare_module.shared_rows = lambda _tables: None  # type: ignore[assignment,return-value]
    try:
        yield
    finally:
        prepare_module.kept_enumeration, prepare_module.shared_rows = kept, rows  # type: ignore[assignment]


def at_rate(w: Workload, factor: float, peak_too: bool = True) -> Workload:
    """``w`` at ``factor`` x its mean rate, and its peak too (``peak_too``) or the peak as it was (the demand)."""
    t = w.traffic
    scaled = None if t.peak_requests_per_s is None else t.peak_requests_per_s * factor
    peak = scaled if peak_too else t.peak  # else the demand as it was (the mean is the peak where none is stated)
    return replace(w, traffic=replace(t, requests_per_s=t.requests_per_s * factor, peak_requests_per_s=peak))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=4)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--edit", choices=("peak", "mean"), default="peak")
    args = parser.parse_args()
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    prepare_tables(catalog, tables)  # the Universe from the compiled catalog cache, as hwplan plan reads it
    paths = [p for p in sorted(EXAMPLES.glob("*.yaml")) if args.only is None or p.stem in args.only]
    workloads = {p.stem: load_workload(p) for p in paths}
    times: dict[tuple[str, bool], list[float]] = {(n, k): [] for n in workloads for k in (False, True)}
    same: dict[str, bool] = dict.fromkeys(workloads, True)
    for run in range(args.runs):
        for name, w in workloads.items():
            results = {}
            for kept in (False, True):
                forget(tables)
                if kept:
                    plan(w, catalog, tables=tables, explain=False)
                    edited = at_rate(w, 1.1 ** (run + 1), args.edit == "peak")
                    start = time.process_time()
                    results[kept] = plan(edited, catalog, tables=tables, explain=False)
                else:
                    with without_kept():
                        plan(w, catalog, tables=tables, explain=False)
                        edited = at_rate(w, 1.1 ** (run + 1), args.edit == "peak")
                        start = time.process_time()
                        results[kept] = plan(edited, catalog, tables=tables, explain=False)
                times[(name, kept)].append(time.process_time() - start)
            same[name] &= results[False].plans == results[True].plans
    what = "rate and peak" if args.edit == "peak" else "mean rate (the peak kept)"
    print(f"re-plan of an edited {what} (x1.1^k), capacity answers kept in both; CPU ms, median of", args.runs)
    print(f"{'workload':28} {'without':>9} {'with':>9} {'ratio':>7}  same plans")
    ratios = []
    for name in workloads:
        a = statistics.median(times[(name, False)]) * 1e3
        b = statistics.median(times[(name, True)]) * 1e3
        ratios.append(b / a)
        print(f"{name:28} {a:9.1f} {b:9.1f} {b / a:7.2f}  {'yes' if same[name] else 'NO'}")
    print(f"median ratio {statistics.median(ratios):.2f} over {len(ratios)} workloads")


if __name__ == "__main__":
    main()
