"""A small discrete-event simulation of a continuous-batching engine with chunked prefill.

It is the reference the analytic server model (``planner.model.load.queueing``) is checked against, and it
shares that model's physics: every iteration lasts the step time of what it runs, as the analytic
model times it (``planner.model.load.scheduler.ServingStep``: the roofline with partial overlap).

Engine (vLLM V1 / SGLang / TensorRT-LLM in-flight batching, simplified):

* Requests arrive as a Poisson process (seeded numpy Generator) with input and output lengths
  drawn from ``LengthDist`` (deterministic, or lognormal fitted to mean and p95).
* An iteration runs every running decode (one token each) plus as many waiting prompt tokens as
  fit in ``max_batched_tokens - decodes``, first come first served, chunked: a prompt may be
  split over several iterations. A request holds a slot from its first prefill chunk until its
  last token; slots are capped by the largest concurrency that fits (memory, scheduler, caller).
* A request's first token comes at the end of the iteration that finishes its prefill (TTFT =
  that time - arrival); each later iteration adds one token. Per-request TPOT = (last token time
  - first token time) / (output - 1).
* The first ``warmup`` requests are dropped from the statistics (the engine starts empty), and
  arrivals continue until every measured request has finished, so the load stays steady.

Pure: a one-row Grid in, numbers out; the random stream is the only state, and it is seeded.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, batch_limit
from planner.model.load.scheduler import SERVING_OVERLAP, ServingStep
from planner.model.perf import MemoryModel, StepModel

__all__ = ["RequestTrace", "SimulationResult", "sample_lengths", "simulate_requests", "simulate_server"]

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class SimulationResult:
    """Per-request latency statistics of one simulated run (seconds)."""

    ttft_mean_s: float
    tpot_mean_s: float
    ttft_s: dict[int, float]  # by percentile
    tpot_s: dict[int, float]
    e2e_mean_s: float
    e2e_s: dict[int, float]
    batch_mean: float  # time-averaged running decodes
    max_batch: float  # the concurrency cap used
    requests: int  # measured requests
    iterations: int


def sample_lengths(dist: LengthDist, size: int, rng: np.random.Generator) -> npt.NDArray[np.int64]:
    """Integer token counts >= 1: lognormal with the dist's mean and p95 (constant if none); for
    a mixture, each draw's component first, then its length."""
    if dist.parts:
        which = rng.choice(len(dist.parts), size=size, p=[w for w, _ in dist.parts])
        out = np.empty(size, dtype=np.int64)
        for k, (_, part) in enumerate(dist.parts):
            out[which == k] = sample_lengths(part, int(np.count_nonzero(which == k)), rng)
        return out
    if dist.knots:  # empirical: inverse-transform sampling through the quantile knots, scaled to the mean
        # the knots' quantile function (flat below the first knot) need not have the stated mean (MLPerf's
        # llama2-70b prompts: p50 152, p99 791, max 1021 give 316 against the published 222); the
        # analytic model scales its prompt sums to the mean (queueing._sum_nodes), and so does this
        levels = (np.arange(4096) + 0.5) / 4096
        scale = dist.mean / float(np.mean([dist.quantile(u) for u in levels]))
        return np.maximum(np.rint([scale * dist.quantile(u) for u in rng.uniform(size=size)]), 1).astype(np.int64)
    sigma = dist.sigma
    if sigma == 0.0:
        return np.full(size, max(round(dist.mean), 1), dtype=np.int64)
    mu = math.log(dist.mean) - sigma * sigma / 2.0  # E[exp(N(mu, s^2))] = exp(mu + s^2 / 2)
    return np.maximum(np.rint(rng.lognormal(mu, sigma, size)), 1).astype(np.int64)


@dataclass
class _Engine:
    """Mutable simulation state, private to one ``simulate_server`` call."""

    arrival: npt.NDArray[np.float64]
    prompt: npt.NDArray[np.int64]
    output: npt.NDArray[np.int64]
    first_s: npt.NDArray[np.float64]
    last_s: npt.NDArray[np.float64]
    generated: npt.NDArray[np.int64]
    prefilled: npt.NDArray[np.int64]
    running: list[int]  # decoding requests
    waiting: deque[int]  # arrived, prefill not finished (head may be partly prefilled)
    started: int  # requests holding a slot while still in prefill
    measured: int  # requests 0 .. measured - 1 are waited for
    finished: int = 0  # of those, how many have produced their last token
    next_arrival: int = 0


def _schedule(eng: _Engine, budget: float, slots: float) -> tuple[list[tuple[int, int]], float]:
    """FCFS chunked prefill: (request, tokens) pairs and the prompt context term for step_time."""
    chunks: list[tuple[int, int]] = []
    attended = 0.0  # sum over chunks of tokens * mean causal context they attend to
    for r in eng.waiting:
        if budget <= 0:
            break
        done = int(eng.prefilled[r])
        if done == 0:
            if slots <= 0:
                break
            slots -= 1
            eng.started += 1
        take = int(min(eng.prompt[r] - done, budget))
        chunks.append((r, take))
        attended += take * (done + take / 2.0)
        budget -= take
    return chunks, attended


def _iterate(step: StepModel, eng: _Engine, now: float, b_max: float) -> float:
    """Run one iteration starting at ``now``; return its end time."""
    decodes = eng.running
    d = len(decodes)
    ctx = float(np.sum(eng.prompt[decodes] + eng.generated[decodes])) / d if d else 0.0
    slots = b_max - d - eng.started
    chunks, attended = _schedule(eng, float(step.coefficients.max_batched_tokens[0]) - d, slots)
    p = sum(take for _, take in chunks)
    # the one-row ServingStep is the analytic model's own formula
    seconds = step.total(decode_tokens=float(d), decode_context=ctx, prefill_tokens=float(p),
                         prefill_context=2.0 * attended / p if p else 0.0)  # p * p_ctx / 2 = attended
    end = now + float(seconds[0])
    if d:
        idx = np.asarray(decodes)
        eng.generated[idx] += 1
        eng.last_s[idx] = end
        done = eng.generated[idx] >= eng.output[idx]
        eng.finished += int(np.count_nonzero(idx[done] < eng.measured))
        eng.running = idx[~done].tolist()
    for r, take in chunks:
        eng.prefilled[r] += take
        if eng.prefilled[r] == eng.prompt[r]:  # prefill finished: first token at the end
            eng.waiting.remove(r)
            eng.started -= 1
            eng.first_s[r] = eng.last_s[r] = end
            eng.generated[r] = 1
            if eng.output[r] > 1:
                eng.running.append(r)
            elif r < eng.measured:
                eng.finished += 1
    return end


def _admit(eng: _Engine, now: float) -> None:
    n = eng.arrival.shape[0]
    while eng.next_arrival < n and eng.arrival[eng.next_arrival] <= now:
        eng.waiting.append(eng.next_arrival)
        eng.next_arrival += 1


@dataclass(frozen=True, eq=False)
class RequestTrace:
    """Per-request latencies of the measured requests of one simulated run, in arrival order
    (seconds; ``tpot_s`` only for requests of more than one output token)."""

    ttft_s: npt.NDArray[np.float64]
    tpot_s: npt.NDArray[np.float64]
    e2e_s: npt.NDArray[np.float64]
    input_tokens: npt.NDArray[np.int64]
    output_tokens: npt.NDArray[np.int64]
    batch_mean: float  # time-averaged running decodes
    max_batch: float  # the concurrency cap used
    iterations: int


def simulate_requests(grid: Grid, *, request_rate: float, input_tokens: LengthDist,
                      output_tokens: LengthDist, requests: int = 3000, warmup: int = 300,
                      batch_cap: float = math.inf, seed: int = 0,
                      overlap: float = SERVING_OVERLAP) -> RequestTrace:
    """Simulate ``warmup + requests`` measured arrivals on a one-row ``grid``; the measured
    requests' latencies one by one. ``overlap``: as ``planner.model.load.scheduler`` (1: the roofline).

    The concurrency cap is ``queueing.batch_limit``, as in the analytic model. Raises ValueError for a grid of
    more than one row or a cap below 1.
    """
    if len(grid) != 1:
        raise ValueError("simulate_server takes a one-row Grid")
    b_max = float(batch_limit(MemoryModel.build(grid), batch_cap, input_tokens, output_tokens)[0])
    if b_max < 1:
        raise ValueError("not even one sequence fits")
    rng = np.random.default_rng(seed)
    measured = warmup + requests
    n = int(measured * 1.25) + 50  # arrivals keep coming while the measured ones finish
    eng = _Engine(
        arrival=np.cumsum(rng.exponential(1.0 / request_rate, n)),
        prompt=sample_lengths(input_tokens, n, rng),
        output=sample_lengths(output_tokens, n, rng),
        first_s=np.full(n, np.nan), last_s=np.full(n, np.nan),
        generated=np.zeros(n, dtype=np.int64), prefilled=np.zeros(n, dtype=np.int64),
        running=[], waiting=deque(), started=0, measured=measured)
    step = ServingStep.of(StepModel.build(grid), overlap)
    now, iterations, busy_decode = 0.0, 0, 0.0
    while eng.finished < measured:
        _admit(eng, now)
        if not eng.running and not eng.waiting:
            if eng.next_arrival >= n:
                raise RuntimeError("simulation ran out of arrivals")  # cannot happen when stable
            now = float(eng.arrival[eng.next_arrival])
            continue
        d = len(eng.running)
        end = _iterate(step, eng, now, b_max)
        busy_decode += d * (end - now)
        now, iterations = end, iterations + 1
    keep = slice(warmup, measured)
    multi = eng.output[keep] > 1
    return RequestTrace(
        ttft_s=eng.first_s[keep] - eng.arrival[keep],
        tpot_s=(eng.last_s[keep] - eng.first_s[keep])[multi] / (eng.output[keep][multi] - 1),
        e2e_s=eng.last_s[keep] - eng.arrival[keep],
        input_tokens=eng.prompt[keep].copy(), output_tokens=eng.output[keep].copy(),
        batch_mean=busy_decode / now, max_batch=b_max, iterations=iterations)


def simulate_server(grid: Grid, *, request_rate: float, input_tokens: LengthDist,
                    output_tokens: LengthDist, requests: int = 3000, warmup: int = 300,
                    batch_cap: float = math.inf, seed: int = 0,
                    overlap: float = SERVING_OVERLAP) -> SimulationResult:
    """``simulate_requests`` summarised: means and percentiles over the measured requests."""
    t = simulate_requests(grid, request_rate=request_rate, input_tokens=input_tokens,
                          output_tokens=output_tokens, requests=requests, warmup=warmup,
                          batch_cap=batch_cap, seed=seed, overlap=overlap)
    return SimulationResult(
        ttft_mean_s=float(t.ttft_s.mean()),
        tpot_mean_s=float(t.tpot_s.mean()),
        ttft_s={q: float(np.percentile(t.ttft_s, q)) for q in PERCENTILES},
        tpot_s={q: float(np.percentile(t.tpot_s, q)) for q in PERCENTILES},
        e2e_mean_s=float(t.e2e_s.mean()),
        e2e_s={q: float(np.percentile(t.e2e_s, q)) for q in PERCENTILES},
        batch_mean=t.batch_mean,
        max_batch=t.max_batch,
        requests=requests,
        iterations=t.iterations,
    )
