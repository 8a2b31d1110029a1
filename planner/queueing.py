"""Server scenario: Poisson arrivals served by a continuous-batching engine (chunked prefill).

Model (checked against the discrete-event simulation in ``planner.simulate`` by the tests):

* Iterations as a Markov chain. With B sequences decoding, an iteration that prefills j prompts
  lasts s_j = step_time(B decodes + j * I prompt tokens). The prompts it prefills are the ones
  that arrived during the previous iteration, so j_next ~ Poisson(lam * s_j): a chain on j
  (0 .. K - 1, the tail lumped into the last state) whose stationary law pi gives the mean
  iteration tau = sum_j pi_j s_j. Prefills are lumpy (a whole prompt at a time), so tau is well
  above the step time of the mean token mix (Jensen: step time is a max of rooflines); a fluid
  model underestimates it by up to 2x near capacity.
* Little's law closes the loop: B = lam * (O - 1) * tau(B). tau is increasing in B and the
  smallest root is found by the Illinois variant of false position on [0, B_max] (bracketed,
  superlinear; a handful of chain evaluations instead of 40 bisection steps). The engine is
  stable while lam is below its capacity, the rate at which B reaches the largest concurrency
  that fits (memory, scheduler cap).
* TPOT. Mean = tau. Concurrency behaves like an M/G/infinity count, so B is Poisson, its
  spread sqrt(B) amplified by the feedback 1 / (1 - lam (O - 1) dtau/dB) (more sequences ->
  longer iterations -> more sequences); TPOT_q is tau of the chain at B + z_q * that spread.
* TTFT. A request lands in an iteration of type j with the length-biased probability
  pi_j s_j / tau, waits for the rest of it (uniform on [0, s_j]), then is prefilled together
  with the k ~ Poisson(lam s_j) others that arrived in it: TTFT = U s_j + s_(k+1). The mean is
  exact; so are the quantiles: the mixture's CDF is piecewise linear, so it is accumulated over
  its sorted breakpoints and inverted by interpolation (prompts longer than
  max_batched_tokens - B run as extra passes inside step_time).
* Lengths. Token counts are lognormal fitted to mean and p95 (deterministic when no p95); the
  chain uses the means, TTFT quantiles add the prefill time of the input's q-quantile.

Cost. The chain size K (at most ``STATES``) is chosen per row: a first guess from a linearised
chain at the largest concurrency (``_chain_size``), checked after the solve: a row whose last,
lumped state holds more than ``_TAIL`` of the stationary mass is solved again one size up.
Rows are grouped by K, so a lightly loaded row runs a chain of a few states (at ~zero load,
lam s_0 <= _TAIL, K = 1: all mass at j = 0, TTFT = U s_0 + s_1) and only rows near capacity
pay for 32. The Poisson law is built by the recurrence p_k = p_(k-1) m / k, and the chain at the
root is reused for TTFT, so a row costs ~a dozen chain evaluations of K states (the original
fixed 32 states, 40-step bisections: ~15-300x slower, agreeing to ~1e-6).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from planner.grid import Array, Grid
from planner.perf import Memory, StepModel, StepTime, memory
from planner.scenarios import operating_batch

__all__ = ["PERCENTILES", "STATES", "LengthDist", "ServerResult", "server"]

PERCENTILES = (50, 90, 95, 99)
STATES = 32  # most prompts prefilled per iteration the chain tracks: 0 .. STATES - 1
_SIZES = (1, 2, 3, 4, 6, 8, 11, 16, 22, STATES)  # chain sizes K rows are grouped by
_TAIL = 1e-8  # largest probability a chain of size K < STATES may lump into its last state
_CALL_COST = 4000  # fixed cost of one chain evaluation, in units of the per-row cost of one state pair
_TOL = 1e-9  # relative tolerance of the root finder for B (of its bracket, [0, B_max])
_ITERATIONS = 100  # cap on root-finder iterations (Illinois: each stale end is halved)
_Z95 = NormalDist().inv_cdf(0.95)


def _poisson_pmf(mean: Array, states: int = STATES) -> Array:
    """P(K = k), k = 0 .. states - 1, along a new last axis; the tail is lumped into the last k.

    By the recurrence p_k = p_(k-1) mean / k from p_0 = exp(-mean): mean 0 puts all mass at
    k = 0; past mean ~745 p_0 underflows and all mass goes to the last k, as it should.
    """
    factors = np.empty(mean.shape + (states,))
    factors[..., 0] = np.exp(-mean)
    factors[..., 1:] = mean[..., None] / np.arange(1.0, states)
    p = np.cumprod(factors, axis=-1)
    p[..., -1] += np.maximum(1.0 - p.sum(axis=-1), 0.0)
    return np.asarray(p, dtype=np.float64)


@dataclass(frozen=True)
class LengthDist:
    """Token-count distribution: lognormal with the given mean and 95th percentile."""

    mean: float
    p95: float | None = None

    @property
    def sigma(self) -> float:
        """Solve p95 = mean * exp(z95 sigma - sigma^2 / 2) for the smaller root."""
        if self.p95 is None or self.p95 <= self.mean:
            return 0.0
        disc = _Z95**2 - 2.0 * math.log(self.p95 / self.mean)
        return _Z95 - math.sqrt(disc) if disc > 0 else _Z95

    def quantile(self, q: float) -> float:
        s = self.sigma
        if s == 0.0:
            return self.mean
        return self.mean * math.exp(NormalDist().inv_cdf(q) * s - s * s / 2.0)



@dataclass(frozen=True)
class ServerResult:
    """Per-configuration latency figures at one arrival rate (seconds)."""

    ttft_mean_s: Array
    tpot_mean_s: Array
    e2e_mean_s: Array
    ttft_s: dict[int, Array]  # by percentile
    tpot_s: dict[int, Array]
    e2e_s: dict[int, Array]
    batch_mean: Array
    max_batch: Array
    capacity_requests_per_s: Array
    utilization: Array  # request_rate / capacity
    stable: npt.NDArray[np.bool_]
    output_tokens_per_s: Array
    memory: Memory
    decode: StepTime


@dataclass(frozen=True)
class _Chain:
    """The chain of K states at B decodes, per row: s[n, 0..K], P[n, j, k], pi[n, j], tau[n]."""

    s: Array
    p: Array
    pi: Array
    tau: Array

    def take(self, rows: npt.NDArray[np.intp]) -> _Chain:
        return _Chain(self.s[rows], self.p[rows], self.pi[rows], self.tau[rows])

    def put(self, rows: npt.NDArray[np.intp], other: _Chain) -> None:
        self.s[rows], self.p[rows], self.pi[rows], self.tau[rows] = other.s, other.p, other.pi, other.tau


def _lengths(step: StepModel, b: Array, i: float, o: float, states: int) -> Array:
    """s[n, j]: iteration time with b[n] decodes and j prompts of i tokens, j = 0 .. states."""
    return step.total(decode_tokens=b[:, None], decode_context=i + o / 2.0,
                      prefill_tokens=np.arange(states + 1, dtype=np.float64)[None, :] * i, prefill_context=i)


def _stationary(p: Array) -> Array:
    """pi with pi P = pi, sum pi = 1, for every row (batched linear solve)."""
    n, k, _ = p.shape
    if k == 1:
        return np.ones((n, 1))
    a = np.swapaxes(p, -1, -2) - np.eye(k)
    a[:, -1, :] = 1.0
    rhs = np.zeros((n, k, 1))
    rhs[:, -1, 0] = 1.0
    return np.asarray(np.linalg.solve(a, rhs)[..., 0], dtype=np.float64)


def _chain(step: StepModel, b: Array, rate: Array, i: float, o: float, states: int) -> _Chain:
    """Iteration lengths, transitions, stationary law and mean iteration at b decodes."""
    s = _lengths(step, b, i, o, states)
    p = _poisson_pmf(rate[:, None] * s[:, :states], states)
    pi = _stationary(p)
    return _Chain(s, p, pi, np.einsum("nj,nj->n", pi, s[:, :states]))


def _illinois(f: Callable[[Array, npt.NDArray[np.intp]], Array], lo: Array, f_lo: Array, hi: Array,
              f_hi: Array, tol: Array, on_done: Callable[[npt.NDArray[np.intp], Array], None]) -> None:
    """A root of f between lo and hi, where f(lo) > 0 >= f(hi), per element.

    Illinois false position: the secant of the bracket, halving the value kept at an end that
    stays twice in a row. ``f(x, idx)`` evaluates the elements idx at x; an element is done when
    the bracket is below tol or f(x) is ~0, and ``on_done(idx, x)`` is told its root.
    """
    active = np.flatnonzero(np.ones(lo.shape, dtype=bool))
    side = np.zeros(lo.shape, dtype=np.int8)  # which end moved last: +1 lo, -1 hi
    for it in range(_ITERATIONS):
        x_lo, fl, x_hi, fh = lo[active], f_lo[active], hi[active], f_hi[active]
        x = x_lo + fl * (x_hi - x_lo) / (fl - fh)
        x = np.where(np.isfinite(x) & (x > x_lo) & (x < x_hi), x, 0.5 * (x_lo + x_hi))
        fx = f(x, active)
        above = fx > 0
        # Illinois: an end kept for the second time has its value halved
        keep_hi = above & (side[active] == 1)
        keep_lo = ~above & (side[active] == -1)
        f_hi[active] = np.where(keep_hi, 0.5 * fh, np.where(above, fh, fx))
        f_lo[active] = np.where(keep_lo, 0.5 * fl, np.where(above, fx, fl))
        lo[active] = np.where(above, x, x_lo)
        hi[active] = np.where(above, x_hi, x)
        side[active] = np.where(above, 1, -1)
        done = (hi[active] - lo[active] <= tol[active]) | (np.abs(fx) <= 1e-14) | (it == _ITERATIONS - 1)
        if done.any():
            on_done(active[done], x[done])
            active = active[~done]
        if active.size == 0:
            return


def _solve_batch(step: StepModel, rate: Array, b_hi: Array, i: float, o: float,
                 states: int) -> tuple[Array, _Chain]:
    """Smallest B with lam (O - 1) tau(B) <= B on [0, b_hi], and the chain there.

    lam (O - 1) tau(0) > 0 >= lam (O - 1) tau(b_hi) - b_hi brackets it; with no sign change the
    answer is b_hi (over capacity) and with lam = 0 it is 0.
    """
    c = rate * max(o - 1.0, 0.0)
    n = len(b_hi)
    at0 = _chain(step, np.zeros(n), rate, i, o, states)
    at_hi = _chain(step, b_hi, rate, i, o, states)
    g_lo, g_hi = c * at0.tau, c * at_hi.tau - b_hi
    b = np.where(g_hi > 0, b_hi, 0.0)
    out = at0.take(np.arange(n))
    over = np.flatnonzero(g_hi > 0)
    out.put(over, at_hi.take(over))
    rows = np.flatnonzero((g_lo > 0) & (g_hi <= 0))
    if rows.size == 0:
        return b, out
    sub, lam, c_rows = step.take(rows), rate[rows], c[rows]
    last: list[tuple[npt.NDArray[np.intp], _Chain]] = []  # the latest evaluation: rows, chain

    def f(x: Array, idx: npt.NDArray[np.intp]) -> Array:
        ch = _chain(sub.take(idx), x, lam[idx], i, o, states)
        last[:] = [(idx, ch)]
        return c_rows[idx] * ch.tau - x

    def on_done(idx: npt.NDArray[np.intp], x: Array) -> None:
        b[rows[idx]] = x  # x was just evaluated: keep its chain
        evaluated, ch = last[0]
        out.put(rows[idx], ch.take(np.searchsorted(evaluated, idx)))

    _illinois(f, np.zeros(rows.size), g_lo[rows].copy(), b_hi[rows].copy(), g_hi[rows].copy(),
              _TOL * b_hi[rows], on_done)
    return b, out


def _ttft(ch: _Chain, tau: Array) -> tuple[Array, dict[int, Array]]:
    """Mean and quantiles of U s_j + s_(k+1), j length-biased, k ~ Poisson(lam s_j).

    The mixture's CDF is piecewise linear: component (j, k), of weight w_j P_jk, is uniform on
    [s_(k+1), s_(k+1) + s_j]. Sorting the 2 K^2 ends and accumulating the slope changes gives
    the CDF at every breakpoint; each quantile is then an exact linear interpolation.
    """
    n, k = ch.pi.shape
    s_j = ch.s[:, :k]
    w = ch.pi * s_j / np.where(tau > 0, tau, 1.0)[:, None]  # length-biased landing probability
    mean = np.einsum("nj,nj->n", w, s_j) / 2.0 + np.einsum("nj,njk,nk->n", w, ch.p, ch.s[:, 1:])
    start = np.broadcast_to(ch.s[:, None, 1:], (n, k, k)).reshape(n, k * k)
    length = np.broadcast_to(s_j[:, :, None], (n, k, k)).reshape(n, k * k)
    slope = (w[:, :, None] * ch.p).reshape(n, k * k) / length
    points = np.concatenate([start, start + length], axis=1)
    order = np.argsort(points, axis=1)
    points = np.take_along_axis(points, order, axis=1)
    slope = np.cumsum(np.take_along_axis(np.concatenate([slope, -slope], axis=1), order, axis=1),
                      axis=1)[:, :-1]  # on the segment [points[m], points[m + 1]]
    cdf = np.zeros_like(points)
    np.cumsum(slope * np.diff(points, axis=1), axis=1, out=cdf[:, 1:])
    quantiles = {}
    for pct in PERCENTILES:
        q = pct / 100.0
        m = np.clip(np.sum(cdf < q, axis=1) - 1, 0, 2 * k * k - 2)[:, None]  # cdf[m] < q <= cdf[m + 1]
        a, f, d = (np.take_along_axis(x, m, axis=1)[:, 0] for x in (points, cdf, slope))
        quantiles[pct] = a + (q - f) / np.where(d > 0, d, np.inf)
    return mean, quantiles


def _chain_size(step: StepModel, rate: Array, b_hi: Array, i: float, o: float) -> npt.NDArray[np.intp]:
    """Per row, a first guess of the chain size K (a size of _SIZES; checked after the solve).

    With s_j ~ s_0 + j d at the largest concurrency (an upper bound on every chain used), the
    chain j' ~ Poisson(a + b j), a = lam s_0, b = lam d, has mean a / (1 - b) and variance
    mean / (1 - b^2) (slope d over j = 0 .. 8): K covers the mean + 7 sd + 3. K = 1 (all mass at j = 0)
    when an arrival during an iteration is itself below _TAIL.
    """
    s = _lengths(step, b_hi, i, o, 8)
    a, b = rate * s[:, 0], np.clip(rate * (s[:, 8] - s[:, 0]) / 8.0, 0.0, 0.99)
    mean = a / (1.0 - b)
    need = mean + 7.0 * np.sqrt(mean / (1.0 - b * b)) + 3.0
    sizes = np.asarray(_SIZES)
    size = sizes[np.minimum(np.searchsorted(sizes, np.nan_to_num(need, nan=0.0)), len(sizes) - 1)]
    return np.where(a <= _TAIL, 1, size)


def _next_group(size: npt.NDArray[np.intp]) -> tuple[int, npt.NDArray[np.intp]]:
    """The rows to solve next and their chain size: those of the smallest pending size, lifted into
    the next larger pending size while that costs less than a separate set of chain evaluations
    (a larger chain is as accurate or more: it only lumps less of the tail)."""
    pending = np.unique(size[size > 0])
    k, rows = int(pending[0]), size == pending[0]
    for bigger in pending[1:]:
        if rows.sum() * (int(bigger) ** 2 - k * k) >= _CALL_COST:
            break
        k, rows = int(bigger), rows | (size == bigger)
    return k, np.flatnonzero(rows)


def _group(step: StepModel, lam: Array, b_run: Array, i: float, o: float, states: int
           ) -> tuple[Array, Array, Array, dict[int, Array], dict[int, Array], Array]:
    """b_mean, tau, TTFT mean and quantiles, TPOT quantiles for rows sharing a chain size K;
    last, pi_(K-1), the stationary mass of the state the tail is lumped into."""
    b_mean, ch = _solve_batch(step, lam, b_run, i, o, states)
    tau = ch.tau
    ttft_mean, ttft_q = _ttft(ch, tau)
    # Feedback: a surplus of dB decodes lengthens iterations, which keeps lam (O - 1) dtau more
    # sequences in flight; a Poisson surplus sqrt(B) is amplified by 1 / (1 - gain). The chain
    # at B + h and at each percentile's B are evaluated in one call.
    n = len(b_mean)
    h = np.maximum(0.05 * b_mean, 1.0)
    zs = [NormalDist().inv_cdf(pct / 100.0) for pct in PERCENTILES]
    b_h = b_mean + h
    first = _chain(step, b_h, lam, i, o, states).tau
    gain = lam * max(o - 1.0, 0.0) * (first - tau) / h
    spread = np.sqrt(b_mean) / (1.0 - np.clip(gain, 0.0, 0.9))
    b_q = np.concatenate([np.clip(b_mean + z * spread, 1.0, b_run) for z in zs])
    rows = np.tile(np.arange(n), len(zs))
    taus = _chain(step.take(rows), b_q, lam[rows], i, o, states).tau.reshape(len(zs), n)
    tpot = {pct: np.maximum(taus[m], tau) for m, pct in enumerate(PERCENTILES)}
    return b_mean, tau, ttft_mean, ttft_q, tpot, ch.pi[:, -1]


def server(grid: Grid, *, request_rate: npt.ArrayLike, input_tokens: LengthDist,
           output_tokens: LengthDist, batch_cap: npt.ArrayLike = np.inf) -> ServerResult:
    i, o = input_tokens.mean, output_tokens.mean
    rate = np.broadcast_to(np.asarray(request_rate, dtype=np.float64), grid.params.shape).copy()
    b_max = np.maximum(operating_batch(grid, cap=batch_cap, input_tokens=i, output_tokens=o), 0.0)
    b_run = np.maximum(b_max, 1.0)
    model = StepModel.build(grid)
    ctx = {"decode_context": i + o / 2.0, "prefill_context": i}
    capacity = np.where(b_max >= 1, b_max / (o * model.total(decode_tokens=b_run, prefill_tokens=b_run * i / o,
                                                              **ctx)), 0.0)
    lam = np.where(rate < capacity, rate, 0.0)

    n = len(rate)
    b_mean, tau, ttft_mean = np.zeros(n), np.zeros(n), np.zeros(n)
    ttft_q = {pct: np.zeros(n) for pct in PERCENTILES}
    tpot = {pct: np.zeros(n) for pct in PERCENTILES}
    size = _chain_size(model, lam, b_run, i, o)  # 0 once a row is solved
    while np.any(size):
        k, rows = _next_group(size)
        part = model.take(rows) if rows.size < n else model
        g_b, g_tau, g_mean, g_q, g_tpot, last = _group(part, lam[rows], b_run[rows], i, o, k)
        b_mean[rows], tau[rows], ttft_mean[rows] = g_b, g_tau, g_mean
        for pct in PERCENTILES:
            ttft_q[pct][rows], tpot[pct][rows] = g_q[pct], g_tpot[pct]
        size[rows] = 0
        if 1 < k < STATES:  # a row whose last state holds mass is solved again a size up
            size[rows[last > _TAIL]] = _SIZES[_SIZES.index(k) + 1]

    stable = (rate < capacity) & (b_max >= 1) & (b_mean < b_run)
    step = model.parts(decode_tokens=b_mean, prefill_tokens=rate * i * tau, **ctx)
    ttft, e2e = {}, {}
    for pct in PERCENTILES:
        q = pct / 100.0
        longer = model.parts(decode_tokens=b_mean, prefill_tokens=max(input_tokens.quantile(q) - i, 0.0), **ctx)
        ttft[pct] = ttft_q[pct] + np.where(input_tokens.quantile(q) > i, longer.compute + longer.memory, 0.0)
        o_q = output_tokens.quantile(q)
        e2e[pct] = np.maximum(ttft[pct] + (o - 1.0) * tau, ttft_mean + (o_q - 1.0) * tpot[pct])
    nan = np.where(stable, 1.0, np.nan)  # an unstable queue has no steady-state latency
    return ServerResult(
        ttft_mean_s=ttft_mean * nan,
        tpot_mean_s=tau * nan,
        e2e_mean_s=(ttft_mean + (o - 1.0) * tau) * nan,
        ttft_s={k: v * nan for k, v in ttft.items()},
        tpot_s={k: v * nan for k, v in tpot.items()},
        e2e_s={k: v * nan for k, v in e2e.items()},
        batch_mean=b_mean,
        max_batch=b_max,
        capacity_requests_per_s=capacity,
        utilization=np.where(capacity > 0, rate / np.maximum(capacity, 1e-300), np.inf),
        stable=stable,
        output_tokens_per_s=np.where(stable, rate * o, np.nan),
        memory=memory(grid, batch=np.maximum(b_mean, 1.0), context_tokens=i + o),
        decode=step,
    )
