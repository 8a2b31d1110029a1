"""A request's TPOT tail under slow load fluctuations (``planner.model.load.tpot_tail``) against the simulation.

The basis is ``planner.model.load.simulate``: it draws every request's lengths and runs the engine iteration by
iteration, so a request that lives through a burst of arrivals decodes among more sequences and more
prefills; the queueing model only approximates that. The case is MLPerf llama2-70b's traffic (prompts:
the benchmark's p50 / p99 / max knots, mean 222.33; outputs 294.45 tokens, the published mean: MLCommons
inference language/llama2-70b README and processorca.py) on one MI300X (vLLM, fp8) and a 70B on four H100
at half of the model's capacity, where MLPerf Interactive's 40 ms TPOT p99 binds. A long output averages
the per-iteration noise away, so its TPOT tail over the median is mostly the load's slow drift over the
request's lifetime. Before the slow variance, the model's tail (p99 - p50) was 0.54-0.64 of the
simulation's on these cases and at 70% load (TPOT p99 -4..-6%, which moves the SLO capacity 10-15% on
the flat TPOT curve); with it, 0.78-0.90 (TPOT p99 -1..-2%).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, server
from planner.model.load.simulate import simulate_requests
from planner.model.load.tpot_tail import slow_variance

PROMPTS = LengthDist(222.33, knots=((0.5, 152.0), (0.99, 791.0), (1.0, 1021.0)))
OUTPUTS = LengthDist(294.45)
REQUESTS, WARMUP, BATCHES, SEED, LOAD = 20000, 500, 10, 1, 0.5
CONFIGS: dict[str, dict[str, Any]] = {
    "llama-2-70b/mi300x/vllm": {"model": "llama-2-70b", "hardware": "mi300x", "precision": "fp8", "runtime": "vllm"},
    "llama-3.1-70b-fp8/h100-sxm/tp4": {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4, "precision": "fp8"},
}
# the model's TPOT tail may be off the simulation's by BAND plus 2 batch-means standard errors (seed fixed: the
# simulation is deterministic; seen, model / sim: 0.78 and 0.83, standard errors 6% and 7%; before the slow
# variance 0.58 and 0.54, outside by 10 and 12 points)
BAND = 0.2


def _excess(x: npt.NDArray[np.float64]) -> float:
    p50, p99 = np.percentile(x, [50, 99])
    return float(p99 - p50)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_tpot_tail_tracks_simulation(one_row: Callable[..., Grid], config: str) -> None:
    """The model's TPOT p99 - p50 is within BAND + 2 batch-means standard errors of the simulation's."""
    grid = one_row(**CONFIGS[config])
    rate = LOAD * float(server(grid, request_rate=1e-3, input_tokens=PROMPTS,
                               output_tokens=OUTPUTS).capacity_requests_per_s[0])
    ana = server(grid, request_rate=rate, input_tokens=PROMPTS, output_tokens=OUTPUTS, percentiles=(50, 99))
    trace = simulate_requests(grid, request_rate=rate, input_tokens=PROMPTS, output_tokens=OUTPUTS,
                              requests=REQUESTS, warmup=WARMUP, seed=SEED)
    sim = _excess(trace.tpot_s)
    error = float(np.std([_excess(part) for part in np.array_split(trace.tpot_s, BATCHES)], ddof=1)
                  / math.sqrt(BATCHES))
    model = float(ana.tpot_s[99][0] - ana.tpot_s[50][0])
    assert abs(model / sim - 1.0) <= BAND + 2.0 * error / sim, (
        f"{config}: TPOT p99 - p50 model {1e3 * model:.2f} ms, simulation {1e3 * sim:.2f} +- {1e3 * error:.2f} ms")


def test_slow_variance_limits() -> None:
    """Closed forms of the module docstring: with no gain and no prefill (rho = 0) the slow variance is
    alpha^2 Var B_T; a window as long as every lifetime (T = S) averages the Poisson count to 2 B / 3, a
    window far shorter than the lifetimes sees it whole (B = lam S), and no load gives no variance."""
    lam, tau, alpha = np.array([4.0, 0.0]), np.array([0.03, 0.03]), np.array([1e-4, 0.0])
    zero = np.zeros(2)
    same = slow_variance(lam, tau, zero, alpha, zero, np.array([300.0]), np.array([1.0]))
    b = lam[0] * 300.0 * tau[0]
    assert same[0, 0] == pytest.approx(alpha[0] ** 2 * 2.0 * b / 3.0, rel=1e-12)
    assert same[1, 0] == 0.0
    short = slow_variance(lam, tau, zero, alpha, zero, np.array([1.0, 1e6]), np.array([1e-9, 1.0 - 1e-9]))
    b = lam[0] * tau[0] * (1.0 * 1e-9 + 1e6 * (1.0 - 1e-9))
    assert short[0, 0] == pytest.approx(alpha[0] ** 2 * b, rel=1e-5)
