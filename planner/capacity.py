"""How much traffic one replica carries within the latency SLOs.

The server queueing model (``planner.queueing``) gives each candidate's latency percentiles as a
function of its arrival rate. ``load_curves`` evaluates every candidate at a ladder of
utilisations (fractions of its raw capacity) in one vectorised call; ``slo_capacity`` then reads
off, for any SLO, the highest rate at which every target percentile still holds. Latency grows
with load, so a rate between two rungs is never credited: the answer is conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.grid import Array, Grid
from planner.queueing import PERCENTILES, LengthDist, server
from planner.workload import METRICS, Slo, Traffic

__all__ = ["UTILIZATION", "LoadCurves", "load_curves", "slo_capacity", "zero_load_ok"]

UTILIZATION = np.array([0.02, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95])


@dataclass(frozen=True)
class LoadCurves:
    """Per candidate (rows) and utilisation rung (columns)."""

    capacity: Array  # raw capacity, requests/s per replica (memory- or compute-limited)
    rates: Array  # [n, rungs] requests/s per replica
    latency_ms: dict[tuple[str, int], Array]  # (metric, percentile) -> [n, rungs]
    max_batch: Array


def _lengths(traffic: Traffic) -> tuple[LengthDist, LengthDist]:
    return (LengthDist(traffic.input_tokens.mean, traffic.input_tokens.p95),
            LengthDist(traffic.output_tokens.mean, traffic.output_tokens.p95))


def _latencies(res: object) -> dict[tuple[str, int], Array]:
    out = {}
    for metric, attr in zip(METRICS, ("ttft_s", "tpot_s", "e2e_s"), strict=True):
        by_pct = getattr(res, attr)
        for pct in PERCENTILES:
            out[(metric, pct)] = by_pct[pct] * 1e3
    return out


def zero_load_ok(grid: Grid, traffic: Traffic, slo: Slo) -> tuple[np.ndarray, Array]:
    """Whether each candidate fits and meets every SLO at (almost) no load; and its capacity."""
    i, o = _lengths(traffic)
    res = server(grid, request_rate=1e-9, input_tokens=i, output_tokens=o)
    lat = _latencies(res)
    ok = res.max_batch >= 1
    for metric, pct, limit in slo.items():
        ok &= np.nan_to_num(lat[(metric, pct)], nan=np.inf) <= limit
    return ok, res.capacity_requests_per_s


def load_curves(grid: Grid, traffic: Traffic, capacity: Array) -> LoadCurves:
    """Evaluate every candidate at every utilisation rung in one call."""
    n, k = len(grid), len(UTILIZATION)
    rows = np.repeat(np.arange(n), k)
    rates = capacity[:, None] * UTILIZATION[None, :]
    i, o = _lengths(traffic)
    res = server(grid.take(rows), request_rate=rates.ravel(), input_tokens=i, output_tokens=o)
    lat = {key: v.reshape(n, k) for key, v in _latencies(res).items()}
    return LoadCurves(capacity=capacity, rates=rates, latency_ms=lat,
                      max_batch=res.max_batch.reshape(n, k)[:, 0])


def slo_capacity(curves: LoadCurves, slo: Slo) -> tuple[Array, Array]:
    """Highest per-replica rate meeting every SLO target, and the rung index used (-1: none)."""
    ok = np.ones_like(curves.rates, dtype=bool)
    for metric, pct, limit in slo.items():
        ok &= np.nan_to_num(curves.latency_ms[(metric, pct)], nan=np.inf) <= limit
    # Latency rises with load: credit only the prefix of rungs that all meet the SLO.
    prefix = np.cumprod(ok, axis=1).astype(bool)
    rung = prefix.sum(axis=1) - 1
    rate = np.where(rung >= 0, np.take_along_axis(curves.rates, np.maximum(rung, 0)[:, None], 1)[:, 0], 0.0)
    return rate, rung
