"""Diagnostic: the tp of records that do not state it, against the rule before and against published tps.

The shipped mapping (``planner.calibration.predict._tuned_tp``) puts a record without a tp at the tp, within
a node and dividing its chips, that the model predicts the most for the record's own figure (Offline /
max-throughput tokens/s, Server / Interactive SLO capacity: what a submitter tunes to). This prints:

1. For every record of FILE without a tp: per scenario, how many map to another tp than the smallest whose
   weights take at most 80% of a chip (``_inferred_tp``, the rule before) and, where the record has an
   observed figure, the median APE and the share within 25% under each rule, then the remapped records.
2. For every record of FILE that states a tp (the submitter's published configuration): the same record with
   its tp hidden, and how often each rule recovers the published tp, per scenario, then the misses.

In sample: the shipped calibration predicts every variant.

    PYTHONPATH=$PWD .venv/bin/python bench/tp_rule.py hardware_catalog/data/measurements/mlperf.yaml
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
from collections import Counter  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.inputs.measurements import read_measurements  # noqa: E402
from planner.calibration.predict import (  # noqa: E402
    METRICS,
    Measurement,
    Scenario,
    _hardware_id,
    _inferred_tp,
    predict_calibrated,
    prepare,
)
from planner.domain import Catalog  # noqa: E402
from planner.model.grid import CatalogTables  # noqa: E402

TOKENS, CAPACITY = METRICS.index("output_tokens_per_s"), METRICS.index("slo_capacity_requests_per_s")


def _ape(predicted: float, observed: float | None) -> float | None:
    if not observed:
        return None
    return abs(predicted - observed) / observed if np.isfinite(predicted) else float("inf")


def _smallest(catalog: Catalog, m: Measurement) -> int:
    return _inferred_tp(catalog, dataclasses.replace(m, tp=None), _hardware_id(catalog, m), m.pp or 1)


def unstated(catalog: Catalog, tables: CatalogTables, records: list[Measurement]) -> None:
    tuned, _ = prepare(catalog, tables, records)
    before, _ = prepare(catalog, tables, [dataclasses.replace(m, tp=_smallest(catalog, m)) for m in tuned.records])
    rows_t = dict(zip((m.id for m in tuned.records), predict_calibrated(tables, tuned, catalog.calibration),
                      strict=True))
    rows_b = dict(zip((m.id for m in before.records), predict_calibrated(tables, before, catalog.calibration),
                      strict=True))
    tp_b = {m.id: c.tp for m, c in zip(before.records, before.configs, strict=True)}
    rows = []
    for m, c in zip(tuned.records, tuned.configs, strict=True):
        if m.id not in rows_b:
            continue
        key = CAPACITY if m.scenario is Scenario.SERVER else TOKENS
        observed = m.observed.get(METRICS[key])
        rows.append((m.tags.get("scenario", str(m.scenario)), m.id, tp_b[m.id], c.tp,
                     _ape(float(rows_b[m.id][key]), observed), _ape(float(rows_t[m.id][key]), observed)))
    print("records without tp: the smallest fitting tp -> the tuned tp")
    for scenario in sorted({r[0] for r in rows}):
        part = [r for r in rows if r[0] == scenario]
        moved = [r for r in part if r[2] != r[3]]
        scored = [r for r in part if r[4] is not None]
        line = f"  {scenario}: {len(part)} records, {len(moved)} mapped differently"
        if scored:
            median = [statistics.median(r[i] for r in scored) for i in (4, 5)]
            within = [float(np.mean([r[i] <= 0.25 for r in scored])) for i in (4, 5)]
            line += (f"; {len(scored)} with an observed figure: median APE {100 * median[0]:.1f}% -> "
                     f"{100 * median[1]:.1f}%, within 25% {100 * within[0]:.0f}% -> {100 * within[1]:.0f}%")
        print(line)
        for _s, rid, old, new, ape_old, ape_new in moved:
            apes = "" if ape_old is None else f"  APE {100 * ape_old:.0f}% -> {100 * ape_new:.0f}%"
            print(f"      {rid}: tp {old} -> {new}{apes}")


def stated(catalog: Catalog, tables: CatalogTables, records: list[Measurement]) -> None:
    published, _ = prepare(catalog, tables, records)
    hidden, _ = prepare(catalog, tables, [dataclasses.replace(m, tp=None) for m in published.records])
    tuned = {m.id: c.tp for m, c in zip(hidden.records, hidden.configs, strict=True)}
    total, agree, before, misses = Counter[str](), Counter[str](), Counter[str](), []
    for m, c in zip(published.records, published.configs, strict=True):
        if m.id not in tuned:
            continue
        scenario, smallest = m.tags.get("scenario", str(m.scenario)), _smallest(catalog, m)
        total[scenario] += 1
        agree[scenario] += tuned[m.id] == c.tp
        before[scenario] += smallest == c.tp
        if tuned[m.id] != c.tp:
            misses.append(f"      {m.id}: published {c.tp}, tuned {tuned[m.id]}, smallest fitting {smallest}")
    print("records stating tp, hidden: published tp recovered by the smallest fitting tp / the tuned tp")
    for scenario in sorted(total):
        print(f"  {scenario}: {total[scenario]} records, {before[scenario]} / {agree[scenario]}")
    print(f"  all: {sum(total.values())} records, {sum(before.values())} / {sum(agree.values())}")
    print("\n".join(misses))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("file", type=Path)
    args = parser.parse_args()
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    records = list(read_measurements(args.file).records)
    unstated(catalog, tables, [m for m in records if m.tp is None])
    stated(catalog, tables, [m for m in records if m.tp is not None])


if __name__ == "__main__":
    main()
