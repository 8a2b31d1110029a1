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
import numpy.typing as npt

from planner.grid import Array, Grid
from planner.perf import step_time
from planner.queueing import PERCENTILES, LengthDist, server
from planner.scenarios import operating_batch
from planner.workload import METRICS, Slo, Traffic

__all__ = ["UTILIZATION", "LoadCurves", "screen", "search_capacity"]

FULL_LADDER_ROWS = 400  # below this many row x rung pairs, evaluate the whole ladder at once
UTILIZATION = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.91, 0.94,
                        0.97])


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


def screen(grid: Grid, traffic: Traffic, slo: Slo) -> tuple[npt.NDArray[np.bool_], Array, Array]:
    """Cheap checks before the queueing model: (meets every SLO at no load, raw capacity, max batch).

    No-load latency is a lower bound on any loaded latency: TTFT >= prefill of the prompt's
    q-quantile alone, TPOT >= one decode step of a single sequence, e2e >= TTFT + (O_q - 1) TPOT.
    Raw capacity is the request rate at the largest concurrency that fits (max_throughput).
    """
    i, o = _lengths(traffic)
    b_max = operating_batch(grid, cap=np.inf, input_tokens=i.mean, output_tokens=o.mean)
    b_run = np.maximum(b_max, 1.0)
    full = step_time(grid, decode_tokens=b_run, decode_context=i.mean + o.mean / 2.0,
                     prefill_tokens=b_run * i.mean / o.mean, prefill_context=i.mean)
    capacity = np.where(b_max >= 1, b_max / (o.mean * full.total), 0.0)
    tpot = step_time(grid, decode_tokens=1.0, decode_context=i.mean + o.mean / 2.0).total * 1e3
    ok = b_max >= 1
    for metric, pct, limit in slo.items():
        q = pct / 100.0
        i_q = i.quantile(q)
        ttft = step_time(grid, decode_tokens=0.0, decode_context=0.0, prefill_tokens=i_q,
                         prefill_context=i_q).total * 1e3
        bound = {"ttft_ms": ttft, "tpot_ms": tpot, "e2e_ms": ttft + (o.quantile(q) - 1.0) * tpot}[metric]
        ok &= bound <= limit
    return ok, capacity, b_max


def search_capacity(grid: Grid, traffic: Traffic, capacity: Array, slo: Slo) -> tuple[LoadCurves, Array, Array]:
    """Per row, the highest utilisation rung at which every SLO target holds, by binary search.

    Latency rises with load, so the rungs that meet the SLOs form a prefix of the ladder and a
    binary search over rung indices finds its end in ~log2(len(UTILIZATION)) queueing-model
    calls over the active rows. Latencies are kept at the rungs evaluated (NaN elsewhere); the
    rung just above the answer is always among them, which is what ``binding`` reads.
    Returns (curves, SLO capacity in requests/s per replica, rung index; -1 = no rung meets).
    """
    n, k = len(grid), len(UTILIZATION)
    rates = capacity[:, None] * UTILIZATION[None, :]
    lat = {(m, p): np.full((n, k), np.nan) for m in METRICS for p in PERCENTILES}
    max_batch = np.zeros(n)
    lo = np.full(n, -1)
    hi = np.full(n, k)
    i, o = _lengths(traffic)
    if n * k <= FULL_LADDER_ROWS:  # few rows: one call over every rung beats log2(k) calls
        res = server(grid.take(np.repeat(np.arange(n), k)), request_rate=rates.ravel(), input_tokens=i,
                     output_tokens=o)
        ok = np.ones(n * k, dtype=bool)
        for key, values in _latencies(res).items():
            lat[key] = values.reshape(n, k)
        for metric, pct, limit in slo.items():
            ok &= np.nan_to_num(lat[(metric, pct)].ravel(), nan=np.inf) <= limit
        lo = np.cumprod(ok.reshape(n, k), axis=1).sum(axis=1) - 1  # the prefix that meets every SLO
        max_batch = res.max_batch.reshape(n, k)[:, 0]
        hi = lo + 1
    while np.any(active := hi - lo > 1):
        rows = np.flatnonzero(active)
        mid = (lo[rows] + hi[rows]) // 2
        res = server(grid.take(rows), request_rate=rates[rows, mid], input_tokens=i, output_tokens=o)
        ok = np.ones(len(rows), dtype=bool)
        for key, values in _latencies(res).items():
            lat[key][rows, mid] = values
        for metric, pct, limit in slo.items():
            ok &= np.nan_to_num(lat[(metric, pct)][rows, mid], nan=np.inf) <= limit
        max_batch[rows] = res.max_batch
        lo[rows] = np.where(ok, mid, lo[rows])
        hi[rows] = np.where(ok, hi[rows], mid)
    rate = np.where(lo >= 0, rates[np.arange(n), np.maximum(lo, 0)], 0.0)
    return LoadCurves(capacity=capacity, rates=rates, latency_ms=lat, max_batch=max_batch), rate, lo
