"""How much traffic one replica carries within the latency SLOs.

The server queueing model (``planner.model.load.queueing``) gives each candidate's latency percentiles at a
given arrival rate. ``screen`` drops candidates that miss an SLO even with no load, using lower
bounds that need no queueing model, and bounds each one's SLO capacity from above
(``slo_ceiling``); ``search_capacity`` finds, per candidate, the highest rung of a ladder of
utilisations (fractions of the capacity it is given: the planner passes the ceiling) at which
every target percentile still holds. A rate between two rungs is never credited: the answer is
conservative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.model.grid import Array
from planner.model.load.queueing import (
    PERCENTILES,
    EndLengths,
    LengthDist,
    ServerResult,
    batch_limit,
    end_lengths,
    engine_capacity,
    prefill_alone,
    saturated_rate,
    serve,
    tpot_tuned_cap,
)
from planner.model.load.scheduler import SERVING_OVERLAP, ServingStep
from planner.model.perf import MemoryModel, StepModel
from planner.workload import METRICS, Slo, Traffic

__all__ = ["UTILIZATION", "CapacitySearch", "default_prior", "length_dists", "no_load_ms", "screen",
           "full_rates", "latencies_ms", "meets_slo", "search_capacity", "slo_ceiling", "tuned_cap"]

UTILIZATION = np.array([0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.88, 0.91, 0.94,
                        0.97])
# experiments behind the values: docs/design.md, "Tuning constants and the experiments behind them"
FILL = 3  # a bracket with at most this many rungs inside is evaluated whole: fewer calls vs more evaluations
SECANT_FILL = 2  # the same after the first step, once the secant places the probes
# The answer (highest rung meeting every SLO, -1: none) is bracketed by probes at the tertiles of
# a prior on it: PRIOR_ROWS pseudo-rows, PRIOR_TOP of them at the top rung (TPOT- and e2e-bound
# rows nearly reach the ceiling the ladder is relative to), the rest spread evenly; the planner
# adds the answers found so far for the same workload.
PRIOR_ROWS, PRIOR_TOP = 4.0, 0.5  # prior's weight and its top-rung share: probes near likely answers vs robustness


def default_prior() -> Array:
    """Pseudo-counts of the answer rung, index answer + 1 (see PRIOR_ROWS)."""
    prior = np.full(len(UTILIZATION) + 1, PRIOR_ROWS * (1.0 - PRIOR_TOP) / len(UTILIZATION))
    prior[-1] = PRIOR_ROWS * PRIOR_TOP
    return prior


@dataclass(frozen=True)
class CapacitySearch:
    """Per replica shape: its SLO capacity and the latencies evaluated on the way."""

    rate: Array  # SLO capacity, requests/s per replica (0: no rung meets every target)
    rung: Array  # its utilisation rung (-1: none)
    latency_ms: dict[tuple[str, int], Array]  # (metric, percentile) -> [n, rungs]; NaN: not evaluated
    max_batch: Array


def length_dists(traffic: Traffic) -> tuple[LengthDist, LengthDist]:
    """Input and output token counts as the queueing model takes them."""
    return LengthDist.of(traffic.input_tokens), LengthDist.of(traffic.output_tokens)


def latencies_ms(res: ServerResult) -> dict[tuple[str, int], Array]:
    """(metric, percentile) -> ms per row, every percentile ``res`` has."""
    out = {}
    for metric, by_pct in zip(METRICS, (res.ttft_s, res.tpot_s, res.e2e_s), strict=True):
        for pct, values in by_pct.items():
            out[(metric, pct)] = values * 1e3
    return out


def meets_slo(res: ServerResult, slo: Slo) -> npt.NDArray[np.bool_]:
    """Per row, whether the engine has a steady state (``ServerResult.stable``: below its capacity, the mean
    concurrency below the most sequences that fit) and every SLO target holds (nan: not, no steady state)."""
    ok = res.stable.copy()
    lat = latencies_ms(res)
    for metric, pct, limit in slo.items():
        ok &= np.nan_to_num(lat[(metric, pct)], nan=np.inf) <= limit
    return np.asarray(ok)


def screen(step: StepModel, mem: MemoryModel, traffic: Traffic, slo: Slo
           ) -> tuple[npt.NDArray[np.bool_], Array, Array, Array]:
    """Cheap checks before the queueing model: (meets every SLO at no load, raw capacity, max batch,
    ceiling on the SLO capacity).

    No-load latency is a lower bound on any loaded latency: TTFT >= prefill of the prompt's
    q-quantile alone, TPOT >= one decode step of a single sequence, e2e >= TTFT + (O_q - 1) TPOT.
    Raw capacity is the request rate at the largest concurrency that fits (``saturated_rate``) and
    the ceiling ``slo_ceiling``, both where every check passes (0 elsewhere). Iterations are timed as
    the queueing model times them (``ServingStep``: with the serving iteration cost) at the roofline's
    overlap, which a candidate's own overlap (at most 1) only lengthens: every bound stays one.
    """
    step = ServingStep.of(step)
    i, o = length_dists(traffic)
    b_max = batch_limit(mem, np.inf, i, o)
    ok = b_max >= 1
    for (_metric, _pct, limit), bound in zip(slo.items(), no_load_ms(step, traffic, slo), strict=True):
        ok &= bound <= limit
    capacity, ceiling = np.zeros(len(ok)), np.zeros(len(ok))
    rows = np.flatnonzero(ok)  # raw capacity and ceiling only where every check passes
    left = step.take(rows)
    capacity[rows] = saturated_rate(left, np.maximum(b_max[rows], 1.0), i.mean, o.mean)
    ceiling[rows] = np.minimum(capacity[rows], slo_ceiling(left, traffic, slo))
    return ok, capacity, b_max, ceiling


def no_load_ms(step: StepModel, traffic: Traffic, slo: Slo) -> list[Array]:
    """Per SLO target (``slo.items()`` order), ``screen``'s lower bound on its latency at any load, in ms."""
    i, o = length_dists(traffic)
    tpot = step.total(decode_tokens=1.0, decode_context=i.mean + o.mean / 2.0) * 1e3
    ttft: dict[int, Array] = {}  # prefill of the prompt's q-quantile alone, by percentile
    bounds = []
    for metric, pct, _limit in slo.items():
        q = pct / 100.0
        if metric != "tpot_ms" and pct not in ttft:
            ttft[pct] = prefill_alone(step, i.quantile(q)) * 1e3
        bounds.append(tpot if metric == "tpot_ms" else ttft[pct] + (
            (o.quantile(q) - 1.0) * tpot if metric == "e2e_ms" else 0.0))
    return bounds


def slo_ceiling(step: StepModel, traffic: Traffic, slo: Slo) -> Array:
    """Per row, a request rate above which ``planner.model.load.queueing.server`` cannot meet the TPOT and
    e2e targets (inf when there are none).

    In that model every TPOT percentile (p50 and up) is at least the mean iteration tau, and
    every e2e percentile at least (O - 1) tau, so the targets need tau <= L = min(TPOT limits,
    e2e limits / (O - 1)). At rate lam, B = lam (O - 1) tau decodes run with lam tau prompts
    prefilled per iteration on average, so by the affine floors of the step time
    (``StepModel.floors``: a + b_d d + b_p p, which hold for the mean over the chain too),
    tau >= a + S lam tau with S = b_d (O - 1) + b_p I. A tau <= L exists only if
    lam <= (1 - a / L) / S; the ceiling is the smallest such bound over the floors. The factor
    1 + 1e-6 covers the chain's lumped tail (at most queueing._TAIL = 1e-8 of its mass) and rounding;
    tests/test_planner.py checks that the model misses an SLO just above the ceiling.
    """
    i, o = length_dists(traffic)
    decodes = max(o.mean - 1.0, 0.0)
    taus = [limit for metric, _pct, limit in slo.items() if metric == "tpot_ms"]
    taus += [limit / decodes for metric, _pct, limit in slo.items() if metric == "e2e_ms" and decodes > 0]
    if not taus:
        return np.full(len(step), np.inf)
    tau = min(taus) / 1e3
    # S = b_d (O - 1) + b_p I for floor 2 i + j (StepModel.floors); for each side i of the linear
    # roofline, the floor with the largest S gives the smallest bound (those with a > tau give none)
    (a, per_token), (att_d, att_p) = step.floor_terms(decode_context=i.mean + o.mean / 2.0, prefill_context=i.mean)
    attention = np.maximum(att_d[0] * decodes + att_p[0] * i.mean, att_d[1] * decodes + att_p[1] * i.mean)
    lam = np.full(len(step), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for side in range(2):
            s = per_token[side] * (decodes + i.mean) + attention
            slack = 1.0 - a[side] / tau
            lam = np.minimum(lam, np.where(s > 0, slack / s, np.where(slack >= 0, np.inf, 0.0)))
    return np.asarray(np.maximum(lam, 0.0) * (1.0 + 1e-6), dtype=np.float64)


def tuned_cap(step: StepModel, mem: MemoryModel, traffic: Traffic, slo: Slo,
              overlap: float | Array = SERVING_OVERLAP) -> Array:
    """Per row, the engine's cap on concurrent sequences tuned to the SLO's TPOT targets
    (``queueing.tpot_tuned_cap``; inf where there are none, or none to tune): what a deployment sets where, at
    its share of the load, that engine meets every SLO target too (``planner.search.build``)."""
    limits = {pct: limit / 1e3 for metric, pct, limit in slo.items() if metric == "tpot_ms"}
    if not limits:
        return np.full(len(step), np.inf)
    i, o = length_dists(traffic)
    return tpot_tuned_cap(step, mem, input_tokens=i, output_tokens=o, tpot_limits=limits, overlap=overlap)


def _evaluate_pairs(step: StepModel, mem: MemoryModel, traffic: Traffic, rates: Array, slo: Slo, rows: np.ndarray,
                    rungs: np.ndarray, lat: dict[tuple[str, int], Array], max_batch: Array,
                    overlap: float | Array = SERVING_OVERLAP, full: Array | None = None,
                    lengths: EndLengths | None = None) -> np.ndarray:
    """One queueing-model call over (row, rung) pairs; fills lat and max_batch; True where the engine
    has a steady state (``ServerResult.stable``: below its capacity, the mean concurrency below the
    most sequences that fit) and every SLO holds. Without SLO targets stability alone decides: a rung
    past it would plan a queue that grows without bound. ``full``: every row's ``queueing.engine_capacity``
    (``full_rates``) and ``lengths`` its ``queueing.end_lengths``, computed once per search rather than once per
    call."""
    i, o = length_dists(traffic)
    res = serve(step.take(rows), mem.take(rows), request_rate=rates[rows, rungs], input_tokens=i, output_tokens=o,
                percentiles=tuple(pct for _metric, pct, _limit in slo.items()),
                overlap=overlap if np.ndim(overlap) == 0 else np.asarray(overlap)[rows],
                limits={(metric[:-3], pct): limit / 1e3 for metric, pct, limit in slo.items()
                        if metric in ("ttft_ms", "tpot_ms")}, capacity=None if full is None else full[rows],
                lengths=None if lengths is None else lengths.take(rows))
    for key, values in latencies_ms(res).items():
        lat[key][rows, rungs] = values
    max_batch[rows] = res.max_batch
    return meets_slo(res, slo)


def _every_rung_inside(small: np.ndarray, lo: np.ndarray, width: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, rung) pairs for every rung strictly inside the brackets of rows ``small`` (lo + 1 .. lo + width)."""
    fill_rows = np.repeat(small, width[small])
    fill_rungs = np.repeat(lo[small], width[small]) + 1 + (
        np.arange(len(fill_rows)) - np.repeat(np.cumsum(width[small]) - width[small], width[small]))
    return fill_rows, fill_rungs


def _probes(lo: np.ndarray, hi: np.ndarray, prior: Array) -> tuple[np.ndarray, np.ndarray]:
    """(row, rung) pairs to evaluate next for open brackets (lo, hi): every rung inside a bracket
    of at most FILL, else the two rungs that split the prior's mass on the bracket into thirds
    (a probe p holds iff the answer is >= p)."""
    width = hi - lo - 1
    rows = np.flatnonzero(width > 0)
    fill_rows, fill_rungs = _every_rung_inside(rows[width[rows] <= FILL], lo, width)
    big = rows[width[rows] > FILL]
    answer = np.arange(-1, len(prior) - 1)  # prior index -> answer
    inside = (answer >= lo[big, None]) & (answer < hi[big, None])
    mass = np.where(inside, prior, 0.0)
    mass = np.where(mass.sum(axis=1, keepdims=True) > 0, mass, inside)  # no prior mass in a bracket: even
    cdf = np.cumsum(mass, axis=1) / mass.sum(axis=1, keepdims=True)  # P(answer <= index - 1)
    split = np.stack([np.argmax(cdf >= q, axis=1) for q in (1 / 3, 2 / 3)], axis=1)  # P(answer < p) >= q
    split = np.clip(split, lo[big, None] + 1, hi[big, None] - 1)
    distinct = split[:, 1] != split[:, 0]
    probe_rows = np.concatenate([big, big[distinct]])
    probe_rungs = np.concatenate([split[:, 0], split[distinct, 1]])
    return np.concatenate([fill_rows, probe_rows]), np.concatenate([fill_rungs, probe_rungs])


def _load_axis(step: StepModel, mem: MemoryModel, traffic: Traffic, capacity: Array, overlap: float | Array) -> Array:
    """x[n, rung] = rho / (1 - rho), rho the rung's rate over the rate at the mean prompt count
    (``saturated_rate``, at or above ``serve``'s capacity): the axis along which ``_secant_probes`` takes latency
    as linear (a queue's delay grows about so with its load). Measured against ``serve``'s own capacity (the
    full engine's rate) instead, the examples' searches made 421 queueing-model calls instead of 426: not worth
    its cost per search."""
    i, o = length_dists(traffic)
    b_run = np.maximum(batch_limit(mem, np.inf, i, o), 1.0)
    saturated = saturated_rate(ServingStep.of(step, overlap), b_run, i.mean, o.mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = np.clip(capacity[:, None] * UTILIZATION / saturated[:, None], 0.0, 0.999)
    rho = np.nan_to_num(rho, nan=0.999)
    return np.asarray(rho / (1.0 - rho), dtype=np.float64)


def _secant_probes(lo: np.ndarray, hi: np.ndarray, x: Array, lat: dict[tuple[str, int], Array], slo: Slo,
                   no_load: list[Array]) -> tuple[np.ndarray, np.ndarray]:
    """(row, rung) pairs to evaluate next for open brackets (lo, hi) once latencies are known: every
    rung inside a bracket of at most SECANT_FILL, else the two rungs around the predicted answer.

    Per SLO target, latency is taken as linear in the load axis ``x`` through the two known points
    nearest the answer: the rungs lo and hi where evaluated (hi's latency finite), else the no-load
    bound (``no_load_ms``) and rung lo. The predicted answer is the highest rung below where the
    first target's line crosses its limit (the bracket's middle where no line rises); its probes are
    it and the rung above, so that when the prediction is right both close the bracket."""
    k = x.shape[1]
    width = hi - lo - 1
    rows = np.flatnonzero(width > 0)
    fill_rows, fill_rungs = _every_rung_inside(rows[width[rows] <= SECANT_FILL], lo, width)
    big = rows[width[rows] > SECANT_FILL]
    lo_b, hi_b = lo[big], hi[big]
    has_lo = lo_b >= 0
    at_lo, at_hi = np.maximum(lo_b, 0), np.minimum(hi_b, k - 1)
    x_lo = np.where(has_lo, x[big, at_lo], 0.0)
    cross = np.full(len(big), np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        for (metric, pct, limit), floor in zip(slo.items(), no_load, strict=True):
            latency = lat[(metric, pct)][big]
            y_lo = np.where(has_lo, latency[np.arange(len(big)), at_lo], floor[big])
            y_hi = latency[np.arange(len(big)), at_hi]
            use_hi = (hi_b < k) & np.isfinite(y_hi)  # else the line through the no-load bound and rung lo
            x1, y1 = np.where(use_hi, x_lo, 0.0), np.where(use_hi, y_lo, floor[big])
            x2, y2 = np.where(use_hi, x[big, at_hi], x_lo), np.where(use_hi, y_hi, y_lo)
            rises = (use_hi | has_lo) & (y2 > y1)
            cross = np.minimum(cross, np.where(rises, x1 + (limit - y1) * (x2 - x1) / (y2 - y1), np.inf))
    guess = np.where(np.isfinite(cross), (x[big] <= np.nan_to_num(cross, nan=-np.inf)[:, None]).sum(axis=1) - 1,
                     (lo_b + hi_b) // 2)
    guess = np.clip(guess, lo_b, hi_b - 1)
    pair = np.stack([guess, guess + 1], axis=1)
    inside = (pair > lo_b[:, None]) & (pair < hi_b[:, None])  # at least one: the bracket holds 3+ rungs
    probe_rows = np.repeat(big, inside.sum(axis=1))
    return np.concatenate([fill_rows, probe_rows]), np.concatenate([fill_rungs, pair[inside]])


def full_rates(step: StepModel, mem: MemoryModel, traffic: Traffic, overlap: float | Array = SERVING_OVERLAP
               ) -> Array:
    """Per row, ``serve``'s capacity (``queueing.engine_capacity``: the full engine's rate at the most sequences that
    fit) as ``_evaluate_pairs`` calls it: the same bits per row (a row's full batch does not depend on the rows
    beside it), once per search instead of once per queueing-model call (bench/plan_bench.py median plan
    237 -> 222 ms)."""
    i, o = length_dists(traffic)
    return engine_capacity(step, mem, input_tokens=i, output_tokens=o, overlap=overlap)


def search_capacity(step: StepModel, mem: MemoryModel, traffic: Traffic, capacity: Array, slo: Slo,
                    prior: Array | None = None, overlap: float | Array = SERVING_OVERLAP) -> CapacitySearch:
    """Per row, the highest utilisation rung at which the engine has a steady state and every SLO target holds.

    Latency rises with load, so the rungs that meet the SLOs form a prefix of the ladder and the
    answer is the rung below the lowest rung that breaks. Each row keeps a bracket (highest rung
    known to hold, lowest known to break); each step is one queueing-model call over the
    (row, rung) probes of every open bracket (first ``_probes``, placed by ``prior``, pseudo-counts
    of the answer as ``default_prior`` gives them; then ``_secant_probes``, placed by the latencies
    found), until every bracket is closed. Latencies are
    kept at the rungs evaluated (NaN elsewhere); the rung just above the answer is always among
    them, which is what ``binding`` reads.
    """
    n, k = len(capacity), len(UTILIZATION)
    prior = default_prior() if prior is None else prior
    rates = capacity[:, None] * UTILIZATION[None, :]
    lat = {(m, p): np.full((n, k), np.nan) for m in METRICS for p in PERCENTILES}
    max_batch = np.zeros(n)
    lo, hi = np.full(n, -1), np.full(n, k)  # highest rung known to hold, lowest known to break
    x, no_load = _load_axis(step, mem, traffic, capacity, overlap), no_load_ms(ServingStep.of(step), traffic, slo)
    full = full_rates(step, mem, traffic, overlap)
    # the iteration lengths at every bracket's ends, once per search (over one plan of each example, the step times
    # every queueing-model call evaluated there were ~4% of the time)
    i, o = length_dists(traffic)
    lengths = end_lengths(step, mem, input_tokens=i, output_tokens=o, overlap=overlap)
    first = True
    while True:
        rows, rungs = _probes(lo, hi, prior) if first else _secant_probes(lo, hi, x, lat, slo, no_load)
        first = False
        if not len(rows):
            break
        ok = _evaluate_pairs(step, mem, traffic, rates, slo, rows, rungs, lat, max_batch, overlap, full, lengths)
        np.maximum.at(lo, rows[ok], rungs[ok])
        np.minimum.at(hi, rows[~ok], rungs[~ok])
    answer = hi - 1
    rate = np.where(answer >= 0, rates[np.arange(n), np.maximum(answer, 0)], 0.0)
    return CapacitySearch(rate=rate, rung=answer, latency_ms=lat, max_batch=max_batch)
