"""Diagnostic: how the tp of records that do not state it is chosen, against what a submitter tunes for.

For every record of FILE without a tp, the shipped mapping (``planner.calibration.predict``: the smallest
power-of-two tp whose weights take at most 80% of a chip, raised only where the SLO cannot be met) is
compared with the tp, within the node and dividing the record's chips, that the model predicts the most
for the record's own figure: Offline / max-throughput tokens/s, Server / Interactive SLO capacity (the
rate a submitter tunes to). Prints, per scenario, how many records each rule maps differently and, where
the record has an observed figure, the median APE and the share within 25% under each rule, then the
remapped records. In sample: the shipped calibration predicts every variant.

    PYTHONPATH=$PWD .venv/bin/python bench/tp_rule.py hardware_catalog/data/measurements/mlperf.yaml
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.inputs.measurements import read_measurements  # noqa: E402
from planner.calibration.predict import METRICS, Measurement, Scenario, predict_calibrated, prepare  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402

TOKENS, CAPACITY = METRICS.index("output_tokens_per_s"), METRICS.index("slo_capacity_requests_per_s")


def _ape(predicted: float, observed: float | None) -> float | None:
    if not observed:
        return None
    return abs(predicted - observed) / observed if np.isfinite(predicted) else float("inf")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    unstated = [m for m in read_measurements(args.file).records if m.tp is None]
    shipped, _skipped = prepare(catalog, tables, unstated)
    predicted = predict_calibrated(tables, shipped, catalog.calibration)
    variants: list[Measurement] = []
    for m, c in zip(shipped.records, shipped.configs, strict=True):
        variants += [dataclasses.replace(m, tp=tp, pp=c.pp) for tp in (1, 2, 4, 8, 16)
                     if tp <= c.hardware.chips_per_node and m.chips % (tp * c.pp) == 0]
    tried, _ = prepare(catalog, tables, variants)  # (a variant whose weights do not fit is skipped)
    tried_out = predict_calibrated(tables, tried, catalog.calibration)
    by_record: dict[str, list[tuple[int, np.ndarray]]] = {}
    for m, c, row in zip(tried.records, tried.configs, tried_out, strict=True):
        by_record.setdefault(m.id, []).append((c.tp, row))
    rows = []
    for m, c, row in zip(shipped.records, shipped.configs, predicted, strict=True):
        key = CAPACITY if m.scenario is Scenario.SERVER else TOKENS
        options = by_record.get(m.id, [])
        if not options:
            continue
        tp, best = max(options, key=lambda o: (np.nan_to_num(o[1][key], nan=-1.0), -o[0]))  # ties: fewer chips
        observed = m.observed.get(METRICS[key])
        rows.append((m.tags.get("scenario", str(m.scenario)), m.id, c.tp, tp,
                     _ape(float(row[key]), observed), _ape(float(best[key]), observed)))
    for scenario in sorted({r[0] for r in rows}):
        part = [r for r in rows if r[0] == scenario]
        moved = [r for r in part if r[2] != r[3]]
        scored = [r for r in part if r[4] is not None]
        line = f"{scenario}: {len(part)} records without tp, {len(moved)} mapped differently"
        if scored:
            median = [statistics.median(r[i] for r in scored) for i in (4, 5)]
            within = [float(np.mean([r[i] <= 0.25 for r in scored])) for i in (4, 5)]
            line += (f"; {len(scored)} with an observed figure: median APE {100 * median[0]:.1f}% -> "
                     f"{100 * median[1]:.1f}%, within 25% {100 * within[0]:.0f}% -> {100 * within[1]:.0f}%")
        print(line)
        for _s, rid, old, new, ape_old, ape_new in moved:
            apes = "" if ape_old is None else f"  APE {100 * ape_old:.0f}% -> {100 * ape_new:.0f}%"
            print(f"    {rid}: tp {old} -> {new}{apes}")


if __name__ == "__main__":
    main()
