"""Accuracy arithmetic: absolute percentage errors and their summaries, per metric and per group.

APE = |predicted - observed| / observed. A summary gives n, the median and 90th percentile APE
(linear interpolation, numpy's default) and the share of predictions within 25%. A Server record's output
throughput is in no summary: the model is given the record's rate, so its throughput there is that rate times
the output length wherever the engine keeps up (the SLO capacity says whether it does), not a prediction; pooled
in, they put the shipped calibration's 5-fold tokens/s median at 3.7% (6.2% without them) and `hwplan validate`'s
on the MLPerf file at 2.0% (4.0%, the Offline records alone).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from planner.calibration.predict import METRICS, Measurement, RecordSet
from planner.model.estimate import Scenario
from planner.model.grid import Array

__all__ = ["RecordError", "Summary", "ape", "by_group", "by_metric", "record_errors", "summarise", "summarised"]

_THROUGHPUT = METRICS.index("output_tokens_per_s")


@dataclass(frozen=True)
class Summary:
    n: int
    median_ape: float
    p90_ape: float
    within_25pct: float


@dataclass(frozen=True)
class RecordError:
    """One record's predicted and observed metrics (SI units) and APE, for the metrics it has."""

    id: str
    predicted: Mapping[str, float]
    observed: Mapping[str, float]
    ape: Mapping[str, float]


def ape(predicted: Array, observed: Array) -> Array:
    """Absolute percentage error as a fraction; nan where not observed, inf where not predicted."""
    with np.errstate(divide="ignore", invalid="ignore"):
        err = np.abs(predicted - observed) / observed
    return np.where(np.isnan(observed), np.nan, np.where(np.isnan(predicted), np.inf, err))


def summarise(errors: Array) -> Summary:
    """Summary of the finite-or-infinite APEs in ``errors`` (nan = not observed, ignored)."""
    e = errors[~np.isnan(errors)]
    if e.size == 0:
        return Summary(0, float("nan"), float("nan"), float("nan"))
    big = np.where(np.isinf(e), 1e300, e)  # interpolating next to an inf would give nan (inf - inf)
    p90 = float(np.percentile(big, 90))
    return Summary(n=int(e.size), median_ape=float(np.median(e)), p90_ape=math.inf if p90 >= 1e299 else p90,
                   within_25pct=float(np.mean(e <= 0.25)))


def summarised(rs: RecordSet, predicted: Array) -> Array:
    """``ape`` of every record and metric, a Server record's output throughput left out (nan: see the module
    docstring): what the summaries pool."""
    errors = ape(predicted, rs.observed)
    errors[[m.scenario is Scenario.SERVER for m in rs.records], _THROUGHPUT] = np.nan
    return errors


def record_errors(rs: RecordSet, predicted: Array) -> list[RecordError]:
    errors = ape(predicted, rs.observed)
    rows = []
    for j, m in enumerate(rs.records):
        have = [k for k in range(len(METRICS)) if not np.isnan(rs.observed[j, k])]
        rows.append(RecordError(
            id=m.id,
            predicted={METRICS[k]: float(predicted[j, k]) for k in have},
            observed={METRICS[k]: float(rs.observed[j, k]) for k in have},
            ape={METRICS[k]: float(errors[j, k]) for k in have},
        ))
    return rows


def by_metric(rs: RecordSet, predicted: Array) -> dict[str, Summary]:
    errors = summarised(rs, predicted)
    return {name: summarise(errors[:, k]) for k, name in enumerate(METRICS) if not np.all(np.isnan(errors[:, k]))}


def by_group(rs: RecordSet, predicted: Array, key: Callable[[Measurement], str],
             metrics: Sequence[str] = METRICS) -> dict[str, Summary]:
    """Summary of every APE of the given metrics, pooled over the records of each group."""
    errors = summarised(rs, predicted)[:, [METRICS.index(m) for m in metrics]]
    groups: dict[str, list[int]] = {}
    for j, m in enumerate(rs.records):
        groups.setdefault(key(m), []).append(j)
    return {g: summarise(errors[idx].ravel()) for g, idx in sorted(groups.items())}
