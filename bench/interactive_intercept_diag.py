"""Why the model over-predicts MLPerf Interactive capacity: the fixed part of a serving iteration.

Cross-validated by round (the calibration fitted on the public records + v4.1, as
``bench/under_load_report.py``'s by-round table predicts v5.1). For each system (model, chip, runtime,
tp) with both a v5.1 Server and an Interactive record, a line through the two operating points

    tau = a + b x tokens per iteration

(tau the record's mean TPOT; tokens = decode concurrency + prompt tokens per iteration, both read off
the record by Little's law: rate per replica x (mean e2e - mean TTFT), rate x mean prompt x tau) gives
the observed fixed part a and per-token part b; the same line through the model's step
(``ServingStep`` at the calibration's overlap) at the same two points gives the model's. With
tokens per iteration = lam (I + O) tau at rate lam per replica, the iteration solves
tau = a / (1 - b lam (I + O)): at a TPOT limit tau*, the capacity is (1 - a / tau*) / (b (I + O)).
Near Interactive's 40 ms limit a is a large share of tau*, so the capacity is governed by a; at
Server's 200 ms it is not. The last column, (1 - a_model / tau) / b_model over the same with the
observed a, b at the Interactive record's own mean TPOT, is the capacity ratio the two lines imply.

    PYTHONPATH=$PWD /work/main/.venv/bin/python bench/interactive_intercept_diag.py

Findings (issue #16; 2026-12 main): see docs/accuracy.md, "Interactive: the fixed part of an
iteration".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TypeVar

import numpy as np
from interactive_slo_diag import operating_point  # bench/ is the script's directory

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.fit import fit
from planner.calibration.predict import METRICS, RecordSet, predict_calibrated, prepare
from planner.domain import Calibration, Catalog, Efficiency
from planner.model.grid import CatalogTables
from planner.model.load.scheduler import overlap_of

K = TypeVar("K")
ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "hardware_catalog/data/measurements"


def _col(name: str) -> int:
    return METRICS.index(name)


def main() -> None:
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    records = [*read_measurements(DATA / "public_benchmarks.yaml").records,
               *read_measurements(DATA / "mlperf.yaml").records]
    both, _ = prepare(catalog, tables, records)
    train = [j for j, m in enumerate(both.records) if m.tags.get("round", "public") in ("public", "v4.1")]
    calibration = fit(catalog, both.take(train)).calibration
    fitted = CatalogTables.from_catalog(replace(catalog, calibration=calibration))
    rs: RecordSet = both.take([j for j, m in enumerate(both.records) if m.tags.get("round") == "v5.1"
                               and m.tags.get("scenario") in ("Server", "Interactive")])
    predicted = predict_calibrated(fitted, rs, calibration)
    overlap = np.array([overlap_of(calibration, c.runtime.id) for c in rs.configs])
    decodes, prefill, tau, model_tau = operating_point(fitted, rs, overlap)
    tokens = decodes + prefill
    capacity = _col("slo_capacity_requests_per_s")
    ratio = predicted[:, capacity] / rs.observed[:, capacity]
    systems: dict[tuple[str, str, str, int], dict[str, list[int]]] = {}
    for j, m in enumerate(rs.records):
        key = (m.model, m.hardware, rs.configs[j].runtime.id, int(rs.tp[j]))
        systems.setdefault(key, {}).setdefault(m.tags["scenario"], []).append(j)
    print("system: tokens/iteration I, S | a (ms), b (us/token) observed / model | capacity predicted / observed "
          "I, S | capacity ratio the lines imply at I = from a x from b")
    for key, by in sorted(systems.items()):
        if "Server" not in by or "Interactive" not in by:
            continue
        s, i = by["Server"], by["Interactive"]
        t_s, t_i = float(np.median(tokens[s])), float(np.median(tokens[i]))
        if t_s <= 1.2 * t_i:  # the two points too close for a line
            continue
        lines = []
        for y in (tau, model_tau):
            b = (float(np.median(y[s])) - float(np.median(y[i]))) / (t_s - t_i)
            lines.append((float(np.median(y[i])) - b * t_i, b))
        (a_o, b_o), (a_m, b_m) = lines
        at = float(np.median(tau[i]))
        from_a = (1.0 - a_m / at) / (1.0 - a_o / at)  # the fixed parts' share of the implied ratio
        implied = from_a * b_o / b_m
        print(f"{' '.join(map(str, key))}: {t_i:.0f}, {t_s:.0f} | a {1e3 * a_o:.1f} / {1e3 * a_m:.1f}, "
              f"b {1e6 * b_o:.0f} / {1e6 * b_m:.0f} | {np.median(ratio[i]):.2f}, {np.median(ratio[s]):.2f} | "
              f"{implied:.2f} = {from_a:.2f} (a) x {b_o / b_m:.2f} (b)")
    ceiling(catalog, calibration, both)


def ceiling(catalog: Catalog, calibration: Calibration, both: RecordSet) -> None:
    """What the fixed part is worth: the by-round calibration's per-pass overhead raised by a constant
    on every pair, family and vendor entry (no refit), v5.1 SLO capacity per scenario. An oracle read
    off the held-out round, NOT a candidate for adoption (choosing the constant here is selection on
    the test data)."""
    capacity = _col("slo_capacity_requests_per_s")
    for scenario in ("Interactive", "Server"):
        rs = both.take([j for j, m in enumerate(both.records)
                        if m.tags.get("round") == "v5.1" and m.tags.get("scenario") == scenario])
        for extra in (0.0, 0.004, 0.008):
            def bump(entries: Mapping[K, Efficiency], extra: float = extra) -> dict[K, Efficiency]:
                return {k: replace(e, step_overhead_s=e.step_overhead_s + extra) for k, e in entries.items()}
            raised = replace(calibration, pairs=bump(calibration.pairs),
                             family_runtime=bump(calibration.family_runtime),
                             vendor_runtime=bump(calibration.vendor_runtime))
            tables = CatalogTables.from_catalog(replace(catalog, calibration=raised))
            r = predict_calibrated(tables, rs, raised)[:, capacity] / rs.observed[:, capacity]
            r = r[np.isfinite(r)]
            print(f"ceiling: {scenario} v5.1, per-pass overhead +{1e3 * extra:.0f} ms: n {len(r)}, SLO capacity median "
                  f"APE {100 * np.median(np.abs(r - 1)):.1f}%, within 25% {100 * np.mean(np.abs(r - 1) <= 0.25):.0f}%, "
                  f"median ratio {np.median(r):.2f}")


if __name__ == "__main__":
    main()
