"""The queueing model against the discrete-event simulation with variable-length requests.

``planner.model.load.queueing`` runs its Markov chain at the mean lengths and adds the length spread
afterwards (a long prompt's extra prefill in the TTFT quantile, the output quantile and the TPOT
tail in the e2e quantile). ``planner.model.load.simulate`` draws every request's own lengths and runs
the engine iteration by iteration, sharing only the step-time physics. So the comparison below
tests the queueing approximations, for lognormal (mean + p95) and bimodal (mixture) lengths at 30,
60 and 85% of the model's capacity, on a dense model on one chip, a 70B on four and a MoE on two.

Tolerances. Each simulated percentile comes with its standard error, estimated in the test by
batch means (the measured requests, in arrival order, cut into BATCHES runs: neighbours share
a queue, so the requests are not independent and the plain binomial error would be too small).
A metric passes when |model / sim - 1| <= band + 3 standard errors (relative); the band is the
approximation error the model is allowed, stated per metric in BANDS with what was seen.

Every case is held to its band (no case is exempt today). Formerly known (strict xfail until
fixed): TTFT p99 and TPOT p99 under variable lengths are too low (the chain sees only mean-length
prompts, so it misses the long iterations a long prompt makes, which both delay arrivals and stretch
the TPOT of the requests decoding through them), and the bimodal TTFT median is too high (a short
prompt's shorter prefill is not credited).

The simulation itself is checked first against a closed form: with one sequence at a time and
fixed lengths it is an M/D/1 queue, whose waiting time has Erlang's exact distribution.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from grid_helpers import saturated_capacity

from planner.model.grid import Grid
from planner.model.load.queueing import STATES, LengthDist, serve, server
from planner.model.load.scheduler import SERVING_OVERLAP
from planner.model.load.simulate import simulate_requests, simulate_server
from planner.model.perf import MemoryModel, StepModel, step_time

REQUESTS, WARMUP, BATCHES, SEED = 3000, 300, 10, 1
CONFIGS: dict[str, dict[str, Any]] = {
    "llama-3.1-8b/h100-sxm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"},
    "llama-3.1-70b-fp8/h100-sxm/tp4": {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4,
                                       "precision": "fp8"},
    "mixtral-8x7b/h100-sxm/tp2": {"model": "mixtral-8x7b", "hardware": "h100-sxm", "tp": 2},
}
DISTS = {
    # chat traffic like the shipped examples (support-chatbot, domain-task): p95 2.5-3x the mean
    "lognormal": (LengthDist(800.0, 2000.0), LengthDist(200.0, 600.0)),
    # 80% short chat turns, 20% long documents; outputs likewise short / long
    "bimodal": (LengthDist.mixture([(0.8, LengthDist(300.0, 800.0)), (0.2, LengthDist(3000.0, 6000.0))]),
                LengthDist.mixture([(0.8, LengthDist(120.0, 300.0)), (0.2, LengthDist(500.0, 1000.0))])),
}
LOADS = (0.3, 0.6, 0.85)
CASES = [(c, d, load) for c in CONFIGS for d in DISTS for load in LOADS]
METRICS = ("ttft", "tpot", "e2e")
# Allowed approximation error per (metric, percentile), on top of 3 standard errors of the simulation.
# Seen (model / sim - 1 over the 18 cases, seed 1): TPOT p50 -21..+1%; e2e p50 -25..+1%; e2e p99 -16..+14%;
# TTFT p50 -18..+10% (bar the case below); TTFT p99 -32..-3%; TPOT p99 -36..-4% (bimodal at 60-85% load: within
# the band by the simulation's standard errors, 6-12%: short outputs landing in busy periods are not modelled).
BANDS = {("tpot", 50): 0.15, ("e2e", 50): 0.20, ("e2e", 99): 0.15, ("ttft", 50): 0.20, ("ttft", 99): 0.25,
         ("tpot", 99): 0.25}
KNOWN_BAND = 0.25  # the band a known error would have to meet to count as fixed


@dataclass(frozen=True)
class Comparison:
    """Model and simulated percentiles of one case, with the simulation's standard errors."""

    model: dict[tuple[str, int], float]
    sim: dict[tuple[str, int], float]
    error: dict[tuple[str, int], float]  # standard error of sim, by batch means

    def gap(self, key: tuple[str, int]) -> float:
        return self.model[key] / self.sim[key] - 1.0

    def relative_error(self, key: tuple[str, int]) -> float:
        return self.error[key] / self.sim[key]


def batch_means_error(x: npt.NDArray[np.float64], q: float) -> float:
    """Standard error of the q-th percentile of x: the spread of the percentile over BATCHES
    consecutive runs, divided by sqrt(BATCHES)."""
    runs = [np.percentile(part, q) for part in np.array_split(x, BATCHES)]
    return float(np.std(runs, ddof=1) / math.sqrt(BATCHES))


def capacity(grid: Grid, i: LengthDist, o: LengthDist, overlap: float = SERVING_OVERLAP) -> float:
    """The load reference of these checks (``grid_helpers.saturated_capacity``)."""
    return saturated_capacity(grid, i, o, overlap=overlap)


def compare(grid: Grid, i: LengthDist, o: LengthDist, rate: float, overlap: float = SERVING_OVERLAP) -> Comparison:
    ana = server(grid, request_rate=rate, input_tokens=i, output_tokens=o, percentiles=(50, 99), overlap=overlap)
    assert bool(ana.stable[0])
    trace = simulate_requests(grid, request_rate=rate, input_tokens=i, output_tokens=o, overlap=overlap,
                              requests=REQUESTS,
                              warmup=WARMUP, seed=SEED)
    model, sim, error = {}, {}, {}
    for metric, figures, samples in (("ttft", ana.ttft_s, trace.ttft_s), ("tpot", ana.tpot_s, trace.tpot_s),
                                     ("e2e", ana.e2e_s, trace.e2e_s)):
        for q in (50, 99):
            model[metric, q] = float(figures[q][0])
            sim[metric, q] = float(np.percentile(samples, q))
            error[metric, q] = batch_means_error(samples, q)
    return Comparison(model, sim, error)


@pytest.fixture(scope="module")
def case(one_row: Callable[..., Grid]) -> Callable[[str, str, float], Comparison]:
    """case(config, dist, load) -> its Comparison, each simulated once per module."""
    done: dict[tuple[str, str, float], Comparison] = {}

    def get(config: str, dist: str, load: float) -> Comparison:
        if (config, dist, load) not in done:
            grid = one_row(**CONFIGS[config])
            i, o = DISTS[dist]
            done[config, dist, load] = compare(grid, i, o, load * capacity(grid, i, o))
        return done[config, dist, load]

    return get


@pytest.mark.parametrize(("config", "dist", "load"), CASES)
def test_model_tracks_simulation(case: Callable[[str, str, float], Comparison], config: str, dist: str,
                                 load: float) -> None:
    cmp = case(config, dist, load)
    failed = []
    for key, band in BANDS.items():
        limit = band + 3.0 * cmp.relative_error(key)
        if abs(cmp.gap(key)) > limit:
            failed.append(f"{key[0]} p{key[1]}: model {cmp.model[key]:.4g} s vs sim {cmp.sim[key]:.4g} s "
                          f"({cmp.gap(key):+.0%}, allowed +-{limit:.0%})")
    assert not failed, f"{config} {dist} at {load:.0%}: " + "; ".join(failed)


@pytest.mark.parametrize("dist", list(DISTS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_long_prompts_lift_ttft_p99(one_row: Callable[..., Grid], case: Callable[[str, str, float], Comparison],
                                    config: str, dist: str) -> None:
    """At 60% load: what variable prompts add to TTFT p99 over fixed mean-length ones, the model
    must add at least a quarter of (the simulation's lift, less 3 of its standard errors). The
    chain runs on mean lengths, so the model's lift is the long prompts' term in the TTFT quantile
    alone; without it the lift is 0. Seen (model / sim lift): lognormal 1.1-5x, bimodal 0.39-0.57
    (the bimodal shortfall is part of the known TTFT p99 error)."""
    load = 0.6
    grid = one_row(**CONFIGS[config])
    i, o = DISTS[dist]
    fixed_i = LengthDist(i.mean)
    varied = case(config, dist, load)
    fixed = compare(grid, fixed_i, o, load * capacity(grid, i, o))
    key = ("ttft", 99)
    sim_lift = varied.sim[key] - fixed.sim[key] - 3.0 * math.hypot(varied.error[key], fixed.error[key])
    model_lift = varied.model[key] - fixed.model[key]
    assert sim_lift > 0.0
    assert model_lift >= 0.25 * sim_lift, (
        f"{config} {dist}: long prompts add {model_lift:.3g} s to the model's TTFT p99, the simulation "
        f"at least {sim_lift:.3g} s")


# Formerly known: mixtral on 2 x H100 at 85% load with lognormal lengths, TTFT p99: the model sat above
# the simulation (+37% with the calibration of 2026-12-03, +62% with the public-only refit of 2026-12-04:
# at the knee the simulated p99 of 2,700 requests swings with the arrival sequence more than its
# batch-means error says); with the calibration fitted on the public and MLPerf records together it is
# -10%, inside the 25% band, so every case is now held to its band (the list of exempt cases is gone).
# Formerly known: at 85% load with bimodal lengths the mixtral engine's concurrency reaches its
# scheduler cap (256 sequences) at times and arrivals wait for a slot, which the model did not see
# (TTFT p99 -69%) until planner.model.load.scheduler.slot_wait.
SLOT_CASE = ("mixtral-8x7b/h100-sxm/tp2", "bimodal", 0.85)


def test_waiting_for_a_slot_at_the_concurrency_cap(one_row: Callable[..., Grid]) -> None:
    """The former known error is within KNOWN_BAND + 3 standard errors of the simulation's TTFT p99
    (strict xfail before the slot wait). Both sides with the roofline step (overlap 1): with a
    serving overlap the iterations are longer, the case's 85% load is a lower rate and the
    concurrency no longer reaches the cap."""
    config, dist, load = SLOT_CASE
    grid = one_row(**CONFIGS[config])
    i, o = DISTS[dist]
    cmp = compare(grid, i, o, load * capacity(grid, i, o, 1.0), 1.0)
    key = ("ttft", 99)
    assert abs(cmp.gap(key)) <= KNOWN_BAND + 3.0 * cmp.relative_error(key), (
        f"TTFT p99: model {cmp.model[key]:.4g} s vs sim {cmp.sim[key]:.4g} s ({cmp.gap(key):+.0%})")


def md1_waiting_cdf(t: float, lam: float, service: float) -> float:
    """P(W <= t) of the M/D/1 queue (Erlang 1909; Franx 2001, eq. 1):
    (1 - rho) sum_{k=0}^{floor(t / D)} (lam (k D - t))^k / k! e^{-lam (k D - t)}."""
    rho = lam * service
    total = math.fsum((lam * (k * service - t)) ** k / math.factorial(k) * math.exp(-lam * (k * service - t))
                      for k in range(int(t // service) + 1))
    return (1.0 - rho) * total


def md1_waiting_quantile(q: float, lam: float, service: float) -> float:
    lo, hi = 0.0, service
    while md1_waiting_cdf(hi, lam, service) < q:
        hi *= 2.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if md1_waiting_cdf(mid, lam, service) < q else (lo, mid)
    return hi


def test_simulation_is_md1_with_one_sequence(one_row: Callable[..., Grid]) -> None:
    """One sequence at a time, fixed 512-token prompts and 4-token outputs: each request holds the
    engine for the same time D (its prefill pass and three one-token decode passes, timed by
    step_time itself), so the simulation is an M/D/1 queue. Its waiting time TTFT - prefill must
    match the Pollaczek-Khinchine mean rho D / (2 (1 - rho)), the idle share 1 - rho and Erlang's
    quantiles, within 4 batch-means standard errors; TPOT and e2e - W are exactly the service's."""
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm")
    grid = replace(grid, serving_iteration_s=np.zeros(len(grid)))  # step_time's passes alone, as D counts
    prompt, output, rho = 512, 4, 0.7
    prefill = float(step_time(grid, decode_tokens=0.0, decode_context=0.0, prefill_tokens=float(prompt),
                              prefill_context=float(prompt)).total[0])
    decodes = [float(step_time(grid, decode_tokens=1.0, decode_context=float(prompt + g)).total[0])
               for g in range(1, output)]
    service = prefill + math.fsum(decodes)
    lam = rho / service
    trace = simulate_requests(grid, request_rate=lam, input_tokens=LengthDist(prompt),
                              output_tokens=LengthDist(output), requests=8000, warmup=500, batch_cap=1.0, seed=3,
                              overlap=1.0)  # the roofline: D is timed by step_time
    wait = trace.ttft_s - prefill
    assert np.allclose(trace.e2e_s - wait, service, rtol=1e-9)
    assert np.allclose(trace.tpot_s, math.fsum(decodes) / (output - 1), rtol=1e-9)
    runs = np.array_split(wait, BATCHES)
    mean_error = float(np.std([r.mean() for r in runs], ddof=1)) / math.sqrt(BATCHES)
    assert wait.mean() == pytest.approx(rho * service / (2.0 * (1.0 - rho)), abs=4.0 * mean_error)
    idle = np.mean(wait <= 1e-9 * service)
    idle_error = float(np.std([np.mean(r <= 1e-9 * service) for r in runs], ddof=1)) / math.sqrt(BATCHES)
    assert idle == pytest.approx(1.0 - rho, abs=4.0 * idle_error)
    for q in (50, 90, 99):
        exact = md1_waiting_quantile(q / 100.0, lam, service)
        assert np.percentile(wait, q) == pytest.approx(exact, abs=4.0 * batch_means_error(wait, q)), f"p{q}"


def test_tensor_parallel_allreduce_volume(one_row: Callable[..., Grid]) -> None:
    """The communication time per token of a tp4 pass is the Megatron-LM layout (two all-reduces of
    the hidden state per layer, Shoeybi et al. 2019, sec. 3) run as a ring (each rank sends
    2 (p - 1) / p of the payload, Patarasuk and Yuan 2009) over one direction of NVLink 4 (900 GB/s
    bidirectional, NVIDIA H100 datasheet) at the calibrated efficiency; activations 2 bytes (bf16).
    Llama 3.1 70B: 80 layers, hidden 8192 (its config.json)."""
    grid = one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8")
    assert (float(grid.layers[0]), float(grid.hidden[0]), float(grid.link_bytes_per_s[0])) == (80.0, 8192.0, 9e11)
    tp, layers, hidden = 4, 80, 8192
    per_token = 2 * layers * 2.0 * (tp - 1) / tp * hidden * 2.0 / (0.5 * 9e11 * float(grid.eff_communication[0]))
    model = StepModel.build(grid)
    comm = [float(model.parts(decode_tokens=0.0, decode_context=0.0, prefill_tokens=t,
                              prefill_context=t).communication[0]) for t in (1000.0, 2000.0)]
    assert (comm[1] - comm[0]) / 1000.0 == pytest.approx(per_token, rel=1e-6)


@pytest.mark.parametrize("load", [0.7, 0.8])
def test_more_prompts_per_iteration_than_the_standard_chain(one_row: Callable[..., Grid], load: float) -> None:
    """Short prompts at a high rate bring 50-60 prompts into one iteration (qwen2.5-0.5b on B200, 100-token
    prompts, 10-token outputs); a chain of STATES = 32 states lumped them into 31 and put TPOT p50 and TTFT
    p99 10-20% below the simulation, a plateau while the simulated latencies rose. The chain now grows past
    STATES where it lumps a share of its mass (``queueing.MAX_STATES``). (Nearer capacity the simulation's
    scheduler defers prompts past its token budget to the next iteration, which the model runs as extra
    passes of the same one: a separate, documented difference.)"""

    grid = one_row(model="qwen2.5-0.5b", hardware="b200", runtime="vllm")
    inp, out = LengthDist(100.0), LengthDist(10.0)
    rate = load * capacity(grid, inp, out)
    model = server(grid, request_rate=rate, input_tokens=inp, output_tokens=out)
    assert rate * float(model.tpot_mean_s[0]) > 1.5 * STATES  # the premise: more prompts than the standard chain
    sim = simulate_server(grid, request_rate=rate, input_tokens=inp, output_tokens=out, requests=20000, warmup=2000)
    assert float(model.tpot_s[50][0]) == pytest.approx(sim.tpot_s[50], rel=0.05)
    assert float(model.ttft_s[99][0]) == pytest.approx(sim.ttft_s[99], rel=0.08)


def test_a_row_past_a_limit_is_not_refined_and_its_figures_are_lower_bounds(one_row: Callable[..., Grid]) -> None:
    """``serve``'s ``limits``: a row whose quantiles on the 32-state chain already exceed a limit keeps them
    (lumping prompts into the last state shortens the longest iterations, so the larger chain's figures
    are higher, never lower): its TTFT and TPOT are then at or below the refined ones and above the limit."""

    grid = one_row(model="qwen2.5-0.5b", hardware="b200", runtime="vllm")
    step, mem = StepModel.build(grid), MemoryModel.build(grid)
    inp, out = LengthDist(100.0), LengthDist(10.0)
    rate = 0.8 * capacity(grid, inp, out)
    refined = serve(step, mem, request_rate=rate, input_tokens=inp, output_tokens=out, percentiles=(50, 99))
    limits = {("ttft", 99): 0.5 * float(refined.ttft_s[99][0])}  # a target the row misses at any chain size
    kept = serve(step, mem, request_rate=rate, input_tokens=inp, output_tokens=out, percentiles=(50, 99),
                 limits=limits)
    assert float(kept.ttft_s[99][0]) > limits[("ttft", 99)]
    assert float(kept.ttft_s[99][0]) < float(refined.ttft_s[99][0])  # not refined: the 32-state figure
    assert float(kept.tpot_s[50][0]) <= float(refined.tpot_s[50][0])


def test_prompts_arriving_faster_than_iterations_prefill_them_have_no_steady_state(one_row: Callable[..., Grid]
                                                                                   ) -> None:
    """A prefill pool's shape (1-token outputs) of llama-3.1-8b on 4 MI300X (tp 4), prompts of 2,000 tokens (p95
    5,333): under its saturated rate each iteration's lumpy prompts can still bring in more prompts than it
    prefills. The 32-state chain lumped them and reported a finite TTFT; the model now finds no steady state
    there (its largest chain's lumped tail, or its concurrency at the slots). Basis: the simulation's TTFT grows
    with the length of the run at 0.97 of the saturated rate and does not at 0.85.
    (It was 4 x 2 H100s, tp 4 x pp 2, at 30 and 50 requests/s under a saturated rate of 83 that overstated what
    the chain held, ~45. The step model now spreads a pipelined replica's prompts over its pp microbatches in
    both, 2x the prefill throughput, and the chain settles at 50, while the simulation, iteration by iteration,
    does not overlap consecutive iterations in the stages: it has no pipeline to check one against.)"""

    grid = one_row(model="llama-3.1-8b", hardware="mi300x", runtime="vllm", precision="bf16", kv_precision="fp8",
                   tp=4, pp=1)
    inp, out = LengthDist(2000.0, 2000.0 * 8 / 3), LengthDist(1.0)
    saturated = capacity(grid, inp, out)
    for rate, settles in ((0.85 * saturated, True), (0.97 * saturated, False)):
        model = server(grid, request_rate=rate, input_tokens=inp, output_tokens=out)
        ttft = simulate_requests(grid, request_rate=rate, input_tokens=inp, output_tokens=out, requests=3000,
                                 warmup=300).ttft_s
        grows = bool(np.median(ttft[-1000:]) > 2.0 * np.median(ttft[:1000]))
        assert grows == (not settles) and bool(model.stable[0]) == settles, (rate, np.median(ttft[:1000]))
