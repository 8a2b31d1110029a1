"""Server scenario: Poisson arrivals served by a continuous-batching engine (chunked prefill).

Model (checked against the discrete-event simulation in ``planner.simulate`` by the tests):

* Steady state. At arrival rate lam, each iteration of length tau decodes B = lam * O * tau
  sequences (Little's law: a request decodes for O iterations) and prefills lam * I * tau prompt
  tokens. tau is the fixed point tau = step_time(B(tau), T(tau)), found by bisection. The engine
  is stable while lam is below its capacity, the rate at which B reaches the largest concurrency
  that fits (memory, scheduler cap).
* TPOT. Mean = tau. Concurrency in an engine that is not memory-bound behaves like an
  M/G/infinity system, so B is Poisson: its q-quantile ~ B + z_q sqrt(B); TPOT_q is the step
  time at that concurrency.
* TTFT. Prompts queue for prefill room, max_batched_tokens - B tokens per iteration: an M/G/1
  queue with service S = I * tau / room (Pollaczek-Khinchine mean wait
  W = lam E[S^2] / (2 (1 - rho))), an exponential tail P(wait > t) = rho exp(-rho t / W)
  (Kingman-style heavy-traffic approximation), plus the residual of the running iteration and
  the prefill iterations themselves.
* Lengths. Token counts are lognormal fitted to mean and p95 (deterministic when no p95).
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

__all__ = ["PERCENTILES", "LengthDist", "ServerResult", "server"]

PERCENTILES = (50, 90, 95, 99)
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


def _mixed(grid: Grid, b: Array, rate: Array, tau: Array, i: float, o: float) -> StepTime:
    return step_time(grid, decode_tokens=b, decode_context=i + o / 2.0,
                     prefill_tokens=rate * i * tau, prefill_context=i)


def _solve_tau(grid: Grid, rate: Array, tau_hi: Array, i: float, o: float) -> Array:
    """Smallest tau with step_time(lam O tau, lam I tau) <= tau, by bisection on [0, tau_hi]."""
    lo = np.zeros_like(tau_hi)
    hi = tau_hi.copy()
    for _ in range(48):
        mid = 0.5 * (lo + hi)
        over = _mixed(grid, rate * o * mid, rate, mid, i, o).total > mid
        lo = np.where(over, mid, lo)
        hi = np.where(over, hi, mid)
    return hi


def server(grid: Grid, *, request_rate: npt.ArrayLike, input_tokens: LengthDist,
           output_tokens: LengthDist, batch_cap: npt.ArrayLike = np.inf) -> ServerResult:
    i, o = input_tokens.mean, output_tokens.mean
    rate = np.broadcast_to(np.asarray(request_rate, dtype=np.float64), grid.params.shape).copy()
    b_max = np.maximum(operating_batch(grid, cap=batch_cap, input_tokens=i, output_tokens=o), 0.0)
    b_run = np.maximum(b_max, 1.0)
    full = step_time(grid, decode_tokens=b_run, decode_context=i + o / 2.0,
                     prefill_tokens=b_run * i / o, prefill_context=i)
    capacity = np.where(b_max >= 1, b_max / (o * full.total), 0.0)
    stable = (rate < capacity) & (b_max >= 1)

    tau = _solve_tau(grid, np.where(stable, rate, 0.0), full.total, i, o)
    b_mean = rate * o * tau
    step = _mixed(grid, b_mean, rate, tau, i, o)

    room = np.maximum(grid.max_batched_tokens - b_mean, 1.0)
    service_mean = i * tau / room
    rho = np.minimum(rate * service_mean, 0.999)
    wait_mean = rate * input_tokens.second_moment() * (tau / room) ** 2 / (2.0 * (1.0 - rho))
    stable &= rate * service_mean < 1.0

    ttft_mean = 0.5 * tau + wait_mean + np.maximum(np.ceil(i / room), 1.0) * tau
    ttft, tpot, e2e = {}, {}, {}
    for pct in PERCENTILES:
        q = pct / 100.0
        with np.errstate(divide="ignore", invalid="ignore"):
            tail = np.where(rho > 1.0 - q, wait_mean / rho * np.log(rho / (1.0 - q)), 0.0)
        i_q = input_tokens.quantile(q)
        ttft[pct] = q * tau + tail + np.maximum(np.ceil(i_q / room), 1.0) * tau
        b_q = np.minimum(b_mean + NormalDist().inv_cdf(q) * np.sqrt(b_mean), b_run)
        tpot[pct] = np.maximum(_mixed(grid, np.maximum(b_q, 1.0), rate, tau, i, o).total, tau)
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
