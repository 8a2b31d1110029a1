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

__all__ = ["UTILIZATION", "CapacitySearch", "screen", "search_capacity"]

UTILIZATION = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.91, 0.94,
                        0.97])
PROBES = ((5, 0.5), (12, 0.88))  # (rung index, utilisation) evaluated first for every row


@dataclass(frozen=True)
class CapacitySearch:
    """Per replica shape: its SLO capacity and the latencies evaluated on the way."""

    rate: Array  # SLO capacity, requests/s per replica (0: no rung meets every target)
    rung: Array  # its utilisation rung (-1: none)
    latency_ms: dict[tuple[str, int], Array]  # (metric, percentile) -> [n, rungs]; NaN: not evaluated
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


def _evaluate_pairs(grid: Grid, traffic: Traffic, rates: Array, slo: Slo, rows: np.ndarray,
                    rungs: np.ndarray, lat: dict[tuple[str, int], Array], max_batch: Array) -> np.ndarray:
    """One queueing-model call over (row, rung) pairs; fills lat and max_batch; True where every SLO holds."""
    i, o = _lengths(traffic)
    res = server(grid.take(rows), request_rate=rates[rows, rungs], input_tokens=i, output_tokens=o)
    ok = np.ones(len(rows), dtype=bool)
    for key, values in _latencies(res).items():
        lat[key][rows, rungs] = values
    for metric, pct, limit in slo.items():
        ok &= np.nan_to_num(lat[(metric, pct)][rows, rungs], nan=np.inf) <= limit
    max_batch[rows] = res.max_batch
    return ok


def _predicted_rung(lat: dict[tuple[str, int], Array], slo: Slo, rows: np.ndarray) -> np.ndarray:
    """The rung where the first SLO is predicted to break, from the two probes, or -1 if unknown.

    Queueing delay grows like 1 / (1 - u), so each target's latency is fitted as a + b / (1 - u)
    through the probes and solved for the utilisation where it reaches its limit.
    """
    (j1, u1), (j2, u2) = PROBES
    u_star = np.full(len(rows), 1.0)
    known = np.ones(len(rows), dtype=bool)
    for metric, pct, limit in slo.items():
        l1, l2 = lat[(metric, pct)][rows, j1], lat[(metric, pct)][rows, j2]
        known &= np.isfinite(l1) & np.isfinite(l2)
        with np.errstate(divide="ignore", invalid="ignore"):
            b = (l2 - l1) / (1.0 / (1.0 - u2) - 1.0 / (1.0 - u1))
            a = l1 - b / (1.0 - u1)
            u = np.where(b > 0, np.where(limit > a, 1.0 - b / (limit - a), 0.0), 1.0)
        u_star = np.minimum(u_star, np.nan_to_num(u, nan=0.0))
    rung = np.searchsorted(UTILIZATION, u_star, side="right") - 1
    return np.where(known, rung, -1)


def search_capacity(grid: Grid, traffic: Traffic, capacity: Array, slo: Slo) -> CapacitySearch:
    """Per row, the highest utilisation rung at which every SLO target holds.

    Latency rises with load, so the rungs that meet the SLOs form a prefix of the ladder; the
    answer is the rung whose SLOs hold while the next one's do not. Two probe rungs (50% and 88%)
    are evaluated first, a 1 / (1 - u) fit through them predicts the breaking rung, and that rung
    and the one above are evaluated next; rows the prediction does not settle fall back to a
    binary search. Each step is one queueing-model call over all rows still open, so most rows
    are settled in two calls. Latencies are kept at the rungs evaluated (NaN elsewhere); the rung
    just above the answer is always among them, which is what ``binding`` reads.
    """
    n, k = len(grid), len(UTILIZATION)
    rates = capacity[:, None] * UTILIZATION[None, :]
    lat = {(m, p): np.full((n, k), np.nan) for m in METRICS for p in PERCENTILES}
    max_batch = np.zeros(n)
    lo = np.full(n, -1)  # highest rung known to meet every SLO
    hi = np.full(n, k)  # lowest rung known to break one

    def step(rows: np.ndarray, rungs: np.ndarray) -> None:
        ok = _evaluate_pairs(grid, traffic, rates, slo, rows, rungs, lat, max_batch)
        np.maximum.at(lo, rows[ok], rungs[ok])
        np.minimum.at(hi, rows[~ok], rungs[~ok])
        lo[lo >= hi] = -1  # a rung broke below one that held: search again below the broken one

    probes = np.array([j for j, _ in PROBES])
    step(np.repeat(np.arange(n), len(probes)), np.tile(probes, n))
    open_rows = np.flatnonzero(hi - lo > 1)
    guess = _predicted_rung(lat, slo, open_rows)
    guess = np.clip(guess, lo[open_rows] + 1, hi[open_rows] - 1)
    pair_rows = np.concatenate([open_rows, open_rows])
    pair_rungs = np.concatenate([guess, guess + 1])
    inside = (pair_rungs > lo[pair_rows]) & (pair_rungs < hi[pair_rows])
    if inside.any():
        step(pair_rows[inside], pair_rungs[inside])
    while np.any(active := hi - lo > 1):
        rows = np.flatnonzero(active)
        step(rows, (lo[rows] + hi[rows]) // 2)
    rate = np.where(lo >= 0, rates[np.arange(n), np.maximum(lo, 0)], 0.0)
    return CapacitySearch(rate=rate, rung=lo, latency_ms=lat, max_batch=max_batch)
