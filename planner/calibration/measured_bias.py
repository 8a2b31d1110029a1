"""Where the predictions measurably miss: observed / predicted per (model, runtime, metric) group.

A plan is as good as the prediction for its model on its runtime. Measurement files give that
prediction's error per group of runs: each record is predicted exactly as ``hwplan validate`` does
(``predict_calibrated``, the catalog's calibration) and its observed / predicted ratio taken for
``throughput`` (max-throughput and Offline runs: output tokens/s) or ``slo_capacity`` (Server
and Interactive runs: the highest rate meeting the run's p99 limits; MLPerf's is the rate the
submitter ran, a lower bound of the system's capacity, so a ratio below 1 there may be partly the
submitter's margin), and for ``tpot`` (every run that reports its time per output token: the median
at a Server run's rate, else the mean; a ratio above 1 is a TPOT the model understates). A group is
listed where it has at least ``MIN_RECORDS`` distinct runs (a
duplicate log counted once) and its median ratio lies outside [LOW, HIGH]: the band the issue's
accuracy bars draw (25%), beyond which a planner should say so next to the plan rather than in a
report. A chip's entry groups the same way per (hardware, runtime, metric) over models: where runs of at
least ``MIN_MODELS`` models on one chip and runtime miss alike, the miss is the pair's (its efficiencies
or the runtime's prior), not one model's, and every model planned there carries it (TPU v5e on
JetStream: no TPU record is in the calibration, and four models' runs reached 0.32-0.70x).
bench/measured_bias.py writes the catalog's measured_bias.yaml from this; tests/test_measured_bias.py
recomputes it against the shipped catalog.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from planner.calibration.predict import METRICS, Measurement, predict_calibrated, prepare
from planner.domain import Calibration, Catalog, MeasuredBias
from planner.model.estimate import Scenario
from planner.model.grid import CatalogTables

__all__ = ["HIGH", "LOW", "MIN_MODELS", "MIN_RECORDS", "Source", "fitted_on", "measured_bias"]

MIN_RECORDS = 5  # fewer runs make a median too fragile to print beside a plan
MIN_MODELS = 3  # a chip's entry: runs of at least this many models, so the miss is not one model's
LOW, HIGH = 0.8, 1.25  # median observed / predicted within this band: not listed

_THROUGHPUT, _CAPACITY = METRICS.index("output_tokens_per_s"), METRICS.index("slo_capacity_requests_per_s")
_TPOT_P50, _TPOT = METRICS.index("tpot_p50_s"), METRICS.index("tpot_s")


@dataclass(frozen=True)
class Source:
    """One measurement file's records, how an entry cites it, and whether the calibration was fitted on it."""

    records: Sequence[Measurement]
    file: str  # its path in the repository
    holds: str  # what its runs are
    sample: str  # "in": the calibration was fitted on it (``fitted_on``); "out": no fit read it


def fitted_on(calibration: Calibration, content: bytes) -> bool:
    """Whether the calibration was fitted on a file of this content (calibration.yaml's ``fitted_on``
    names each file it read with its SHA-256: ``hwplan calibrate`` writes it)."""
    files = calibration.fitted_on.get("files", [])
    digest = hashlib.sha256(content).hexdigest()
    return isinstance(files, list) and any(isinstance(f, dict) and f.get("sha256") == digest for f in files)


def measured_bias(catalog: Catalog, sources: Sequence[Source]) -> list[MeasuredBias]:
    """The listed groups of every source: per (model, runtime, metric), then the chips' per (hardware, runtime,
    metric), each in that order within each source."""
    tables = CatalogTables.from_catalog(catalog)
    out: list[MeasuredBias] = []
    for src in sources:
        # a run whose runtime stands in for the engine it used (mlperf.runtime_ran) measures that engine, not this one
        kept = [m for m in src.records if m.same_log_as is None and "runtime_ran" not in m.tags]
        rs, _skipped = prepare(catalog, tables, kept)
        if not len(rs):
            continue
        predicted = predict_calibrated(tables, rs, catalog.calibration)
        groups: dict[tuple[str, str, str], list[tuple[float, str]]] = {}
        chips: dict[tuple[str, str, str], list[tuple[float, str]]] = {}  # (hardware, runtime, metric): (ratio, model)
        for k, m in enumerate(rs.records):
            capacity = not np.isnan(rs.observed[k, _CAPACITY])
            if not capacity and m.scenario is Scenario.SERVER:
                continue  # a server run's throughput is its rate x output: nothing predicted
            col = _CAPACITY if capacity else _THROUGHPUT
            model, runtime, hardware = rs.configs[k].model.id, rs.configs[k].runtime.id, rs.configs[k].hardware.id
            with np.errstate(divide="ignore", invalid="ignore"):  # (a run predicted at no capacity: no ratio)
                ratio = float(rs.observed[k, col] / predicted[k, col])
            if np.isfinite(ratio) and ratio > 0:
                groups.setdefault((model, runtime, "slo_capacity" if capacity else "throughput"), []).append(
                    (ratio, hardware))
                chips.setdefault((hardware, runtime, "slo_capacity" if capacity else "throughput"), []).append(
                    (ratio, model))
            # the time per output token a plan's TPOT targets rest on: the run's median where it reports one
            # at its rate, else its mean (a static batch's step)
            tpot = _TPOT_P50 if not np.isnan(rs.observed[k, _TPOT_P50]) else _TPOT
            ratio = float(rs.observed[k, tpot] / predicted[k, tpot])
            if np.isfinite(ratio) and ratio > 0:
                groups.setdefault((model, runtime, "tpot"), []).append((ratio, hardware))
                chips.setdefault((hardware, runtime, "tpot"), []).append((ratio, model))
        for (model, runtime, metric), runs in sorted(groups.items()):
            out += _listed(runs, src, runtime, metric, model=model, hardware=tuple(sorted({h for _, h in runs})))
        for (hardware, runtime, metric), runs in sorted(chips.items()):
            if len(models := tuple(sorted({m for _, m in runs}))) >= MIN_MODELS:
                out += _listed(runs, src, runtime, metric, model=None, hardware=(hardware,), models=models)
    return out


def _listed(runs: list[tuple[float, str]], src: Source, runtime: str, metric: str, *, model: str | None,
            hardware: tuple[str, ...], models: tuple[str, ...] = ()) -> list[MeasuredBias]:
    """The group's entry where it has enough runs and its median ratio lies outside the band, else none."""
    ratios = np.array([r for r, _ in runs])
    median = float(np.median(ratios))
    if len(runs) < MIN_RECORDS or LOW <= median <= HIGH:
        return []
    return [MeasuredBias(model=model, runtime=runtime, metric=metric, records=len(runs), median=round(median, 3),
                         low=round(float(np.percentile(ratios, 10)), 3),
                         high=round(float(np.percentile(ratios, 90)), 3), hardware=hardware, sample=src.sample,
                         file=src.file, holds=src.holds, models=models)]
