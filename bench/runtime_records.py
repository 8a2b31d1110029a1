"""One runtime's MLPerf records: per-record errors (shipped calibration and cross-validated by round),
and the #16 pooled figures with and without that runtime's records.

    PYTHONPATH=$PWD:$PWD/bench .venv/bin/python bench/runtime_records.py llmboost

Reads the shipped trimmed copy (hardware_catalog/data/measurements/mlperf.yaml) as bench/under_load_report.py
does, with the same cross-validation (public records + one round fitted, the other predicted). Prints
markdown tables.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.fit import group_cross_validate
from planner.calibration.predict import METRICS, RecordSet, predict_calibrated, prepare
from planner.calibration.validate import ape, summarise
from planner.model.grid import Array, CatalogTables

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "hardware_catalog/data/measurements"
SHOWN = ("output_tokens_per_s", "slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s")
POOLS = (("Offline", ("Offline",), "output_tokens_per_s"),
         ("Server + Interactive", ("Server", "Interactive"), "slo_capacity_requests_per_s"),
         ("Server + Interactive", ("Server", "Interactive"), "ttft_p99_s"),
         ("Server + Interactive", ("Server", "Interactive"), "tpot_p99_s"))


def _cell(p: float, o: float) -> str:
    if np.isnan(o):
        return ""
    if not np.isfinite(p):
        return f"over capacity / {o:.4g}"
    return f"{p:.4g} / {o:.4g} ({100 * abs(p - o) / o:.0f}%)"


def records(rs: RecordSet, predicted: Array, runtime: str, label: str) -> list[str]:
    lines = [f"| {label}: record | " + " | ".join(f"{m} pred / obs (APE)" for m in SHOWN) + " |",
             "|---" * (1 + len(SHOWN)) + "|"]
    for j, m in enumerate(rs.records):
        if m.runtime != runtime:
            continue
        cells = [_cell(predicted[j, METRICS.index(k)], rs.observed[j, METRICS.index(k)]) for k in SHOWN]
        lines.append(f"| {m.id.removeprefix('mlperf-')} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def pooled(rs: RecordSet, predicted: Array, runtime: str, label: str) -> list[str]:
    err = ape(predicted, rs.observed)
    scen = np.array([m.tags.get("scenario", "") for m in rs.records])
    mine = np.array([m.runtime == runtime for m in rs.records])
    lines = [f"| {label}: scenario | metric | records | n | median APE | within 25% |", "|---|---|---|---|---|---|"]
    for name, members, metric in POOLS:
        for which, rows in (("all", np.isin(scen, members)), (f"without {runtime}", np.isin(scen, members) & ~mine),
                            (f"{runtime} only", np.isin(scen, members) & mine)):
            e = err[rows, METRICS.index(metric)]
            s = summarise(e[~np.isnan(e)])
            lines.append(f"| {name} | {metric} | {which} | {s.n} | {100 * s.median_ape:.1f}% | "
                         f"{100 * s.within_25pct:.0f}% |")
    return [*lines, ""]


def main() -> None:
    runtime = sys.argv[1]
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    mlperf = read_measurements(DATA / "mlperf.yaml").records
    rs, _skipped = prepare(catalog, tables, mlperf)
    shipped = predict_calibrated(tables, rs, catalog.calibration)
    both, _ = prepare(catalog, tables, [*read_measurements(DATA / "public_benchmarks.yaml").records, *mlperf])
    cv, _groups = group_cross_validate(catalog, both, lambda m: m.tags.get("round", "public"))
    keep = np.flatnonzero([bool(m.tags) for m in both.records]).tolist()
    by_round, cv = both.take(keep), cv[keep]
    for line in [*records(rs, shipped, runtime, "shipped"), *records(by_round, cv, runtime, "by round"),
                 *pooled(rs, shipped, runtime, "shipped"), *pooled(by_round, cv, runtime, "by round")]:
        print(line)


if __name__ == "__main__":
    main()
