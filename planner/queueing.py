"""Server scenario: Poisson arrivals served by a continuous-batching engine (chunked prefill).

Model (checked against the discrete-event simulation in ``planner.simulate`` by the tests):

* Iterations as a Markov chain. With B sequences decoding, an iteration that prefills j prompts
  lasts s_j = step_time(B decodes + j * I prompt tokens). The prompts it prefills are the ones
  that arrived during the previous iteration, so j_next ~ Poisson(lam * s_j): a chain on j
  (0 .. STATES - 1, the tail lumped into the last state) whose stationary law pi gives the mean
  iteration tau = sum_j pi_j s_j. Prefills are lumpy (a whole prompt at a time), so tau is well
  above the step time of the mean token mix (Jensen: step time is a max of rooflines); a fluid
  model underestimates it by up to 2x near capacity.
* Little's law closes the loop: B = lam * (O - 1) * tau(B), solved by bisection. The engine is
  stable while lam is below its capacity, the rate at which B reaches the largest concurrency
  that fits (memory, scheduler cap).
* TPOT. Mean = tau. Concurrency behaves like an M/G/infinity count, so B is Poisson, its
  spread sqrt(B) amplified by the feedback 1 / (1 - lam (O - 1) dtau/dB) (more sequences ->
  longer iterations -> more sequences); TPOT_q is tau of the chain at B + z_q * that spread.
* TTFT. A request lands in an iteration of type j with the length-biased probability
  pi_j s_j / tau, waits for the rest of it (uniform on [0, s_j]), then is prefilled together
  with the k ~ Poisson(lam s_j) others that arrived in it: TTFT = U s_j + s_(k+1). The mean and
  quantiles are those of this mixture (prompts longer than max_batched_tokens - B run as extra
  passes inside step_time).
* Lengths. Token counts are lognormal fitted to mean and p95 (deterministic when no p95); the
  chain uses the means, TTFT quantiles add the prefill time of the input's q-quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from planner.grid import Array, Grid
from planner.perf import Memory, StepTime, memory, step_time
from planner.scenarios import operating_batch

__all__ = ["PERCENTILES", "STATES", "LengthDist", "ServerResult", "server"]

PERCENTILES = (50, 90, 95, 99)
STATES = 32  # prompts prefilled per iteration: 0 .. STATES - 1
_LOG_FACTORIAL = np.array([math.lgamma(k + 1.0) for k in range(STATES)])


def _poisson_pmf(mean: Array) -> Array:
    """P(K = k), k = 0 .. STATES - 1, along a new last axis; the tail is lumped into the last k."""
    k = np.arange(STATES, dtype=np.float64)
    m = np.maximum(mean[..., None], 1e-300)  # mean 0 -> all mass at k = 0
    p = np.exp(k * np.log(m) - m - _LOG_FACTORIAL)
    p[..., -1] += np.maximum(1.0 - p.sum(axis=-1), 0.0)
    return np.asarray(p, dtype=np.float64)
_Z95 = NormalDist().inv_cdf(0.95)


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

    def second_moment(self) -> float:
        return self.mean**2 * math.exp(self.sigma**2)


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


def _lengths(grid: Grid, b: Array, i: float, o: float) -> Array:
    """s[n, j]: iteration time with b[n] decodes and j prompts of i tokens, j = 0 .. STATES."""
    j = np.arange(STATES + 1, dtype=np.float64)[:, None]
    st = step_time(grid, decode_tokens=b, decode_context=i + o / 2.0, prefill_tokens=j * i,
                   prefill_context=i)
    return np.asarray(st.total, dtype=np.float64).T


def _transitions(rate: Array, s: Array) -> Array:
    """P[n, j, k] = P(k prompts arrive during an iteration of type j), tail lumped into the last."""
    return _poisson_pmf(rate[:, None] * s[:, :STATES])


def _stationary(p: Array) -> Array:
    """pi with pi P = pi, sum pi = 1, for every row (batched linear solve)."""
    a = np.swapaxes(p, -1, -2) - np.eye(STATES)
    a[:, -1, :] = 1.0
    rhs = np.zeros(p.shape[:-1])
    rhs[:, -1] = 1.0
    return np.asarray(np.linalg.solve(a, rhs[..., None])[..., 0], dtype=np.float64)


def _chain(grid: Grid, b: Array, rate: Array, i: float, o: float) -> tuple[Array, Array, Array]:
    """Iteration lengths s[n, j], stationary pi[n, j] and mean iteration tau[n] at b decodes."""
    s = _lengths(grid, b, i, o)
    pi = _stationary(_transitions(rate, s))
    return s, pi, np.sum(pi * s[:, :STATES], axis=-1)


def _solve_batch(grid: Grid, rate: Array, b_hi: Array, i: float, o: float) -> Array:
    """Smallest B with lam (O - 1) tau(B) <= B on [0, b_hi], by bisection."""
    lo = np.zeros_like(b_hi)
    hi = b_hi.copy()
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        over = rate * max(o - 1.0, 0.0) * _chain(grid, mid, rate, i, o)[2] > mid
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    return hi


def _ttft_quantiles(s: Array, pi: Array, rate: Array, tau: Array) -> tuple[Array, dict[int, Array]]:
    """Mean and quantiles of U s_j + s_(k+1), j length-biased, k ~ Poisson(lam s_j)."""
    s_j = s[:, :STATES]
    w = pi * s_j / tau[:, None]  # length-biased landing probability
    pk = _poisson_pmf(rate[:, None] * s_j)
    s_next = s[:, None, 1:]  # s_(k+1)
    mean = np.sum(w * s_j / 2.0, axis=-1) + np.einsum("nj,njk,nk->n", w, pk, s[:, 1:])
    weight = w[:, :, None] * pk

    def cdf(t: Array) -> Array:
        frac = np.clip((t[:, None, None] - s_next) / s_j[:, :, None], 0.0, 1.0)
        return np.asarray(np.sum(weight * frac, axis=(1, 2)), dtype=np.float64)

    quantiles = {}
    for pct in PERCENTILES:
        lo, hi = np.zeros_like(tau), 2.0 * np.max(s, axis=-1)
        for _ in range(40):
            mid = 0.5 * (lo + hi)
            below = cdf(mid) < pct / 100.0
            lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
        quantiles[pct] = hi
    return mean, quantiles


def server(grid: Grid, *, request_rate: npt.ArrayLike, input_tokens: LengthDist,
           output_tokens: LengthDist, batch_cap: npt.ArrayLike = np.inf) -> ServerResult:
    i, o = input_tokens.mean, output_tokens.mean
    rate = np.broadcast_to(np.asarray(request_rate, dtype=np.float64), grid.params.shape).copy()
    b_max = np.maximum(operating_batch(grid, cap=batch_cap, input_tokens=i, output_tokens=o), 0.0)
    b_run = np.maximum(b_max, 1.0)
    full = step_time(grid, decode_tokens=b_run, decode_context=i + o / 2.0,
                     prefill_tokens=b_run * i / o, prefill_context=i)
    capacity = np.where(b_max >= 1, b_max / (o * full.total), 0.0)
    lam = np.where(rate < capacity, rate, 0.0)
    b_mean = _solve_batch(grid, lam, b_run, i, o)
    s, pi, tau = _chain(grid, b_mean, lam, i, o)
    stable = (rate < capacity) & (b_max >= 1) & (b_mean < b_run)
    step = step_time(grid, decode_tokens=b_mean, decode_context=i + o / 2.0,
                     prefill_tokens=rate * i * tau, prefill_context=i)

    ttft_mean, ttft_q = _ttft_quantiles(s, pi, lam, tau)
    # Feedback: a surplus of dB decodes lengthens iterations, which keeps lam (O - 1) dtau more
    # sequences in flight; a Poisson surplus sqrt(B) is amplified by 1 / (1 - gain).
    h = np.maximum(0.05 * b_mean, 1.0)
    gain = lam * max(o - 1.0, 0.0) * (_chain(grid, b_mean + h, lam, i, o)[2] - tau) / h
    spread = np.sqrt(b_mean) / (1.0 - np.clip(gain, 0.0, 0.9))
    ttft, tpot, e2e = {}, {}, {}
    for pct in PERCENTILES:
        q = pct / 100.0
        longer = step_time(grid, decode_tokens=b_mean, decode_context=i + o / 2.0,
                           prefill_tokens=max(input_tokens.quantile(q) - i, 0.0), prefill_context=i)
        ttft[pct] = ttft_q[pct] + np.where(input_tokens.quantile(q) > i,
                                           longer.total - longer.overhead - longer.communication, 0.0)
        b_q = np.clip(b_mean + NormalDist().inv_cdf(q) * spread, 1.0, b_run)
        tpot[pct] = np.maximum(_chain(grid, b_q, lam, i, o)[2], tau)
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
