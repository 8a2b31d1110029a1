"""First-come-first-served prefill of long prompts: the queueing model's TTFT against the simulation.

``planner.model.load.queueing`` prefills the prompts that arrived during one iteration together in
the next. With prompts longer than a pass's token budget (MLPerf llama3.1-405b: mean 9,429 tokens,
p99 18,958, against a budget of 8,192) those prompts fill several passes, and an FCFS engine
(vLLM V1, TensorRT-LLM; ``planner.model.load.simulate`` runs the same policy request by request)
gives each its first token when its own last pass ends, not when the last of them is prefilled.
``planner.model.load.scheduler.fcfs_prefill_share`` credits that; without it the model's TTFT p99 on
the 405b benchmark's lengths ran 1.3-1.6x the simulation's at 70-85% of capacity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from grid_helpers import saturated_capacity

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, server
from planner.model.load.scheduler import fcfs_prefill_share
from planner.model.load.simulate import simulate_requests


def test_short_prompts_finish_together() -> None:
    """Every prompt fits in one pass: the whole iteration's prefill ends at once (share 1)."""
    share = fcfs_prefill_share(np.array([64.0]), 200.0 * np.arange(1.0, 9.0)[None, :], np.array([8192.0]))
    np.testing.assert_allclose(share, 1.0)


def test_pass_sized_prompts_wait_for_those_ahead() -> None:
    """Each prompt exactly one pass, no decodes: the p-th of j + 1 ends after p of the j + 1 passes,
    so the mean share is (j + 2) / (2 (j + 1)) (closed form: the mean of p / (j + 1), p = 1 .. j + 1)."""
    j = np.arange(8.0)
    share = fcfs_prefill_share(np.zeros(1), 8192.0 * (j + 1.0)[None, :], np.array([8192.0]))
    np.testing.assert_allclose(share[0], (j + 2.0) / (2.0 * (j + 1.0)))


# the MLPerf llama3.1-405b lengths (../shared/calibration/mlperf.yaml lengths block: input mean 9428.64,
# p50 10112, p99 18958, max 19988; output mean 684.68)
INPUT_405B = LengthDist(9428.64, knots=((0.5, 10112.0), (0.99, 18958.0), (1.0, 19988.0)))
OUTPUT_405B = LengthDist(684.68)


@pytest.mark.parametrize("load", [0.7, 0.85])
def test_long_prompt_ttft_tracks_fcfs_simulation(one_row: Callable[..., Grid], load: float) -> None:
    """llama3.1-405b fp8 on 4 B200 (an MLPerf v5.1 Server replica) with the benchmark's lengths:
    the model's TTFT p50 and p99 within 25% of the simulation's (seen at 70% / 85% of capacity: p50 -10% / -18%,
    p99 -5% / +15%; without the FCFS share p99 +28% / +57%)."""
    grid = one_row(model="llama-3.1-405b", hardware="b200", tp=4, precision="fp8", kv_precision="fp8",
                   runtime="tensorrt-llm")
    cap = saturated_capacity(grid, INPUT_405B, OUTPUT_405B)  # the load reference the figures were seen at
    rate = load * cap
    ana = server(grid, request_rate=rate, input_tokens=INPUT_405B, output_tokens=OUTPUT_405B, percentiles=(50, 99))
    trace = simulate_requests(grid, request_rate=rate, input_tokens=INPUT_405B, output_tokens=OUTPUT_405B,
                              requests=1500, warmup=200, seed=1)
    for q in (50, 99):
        model, sim = float(ana.ttft_s[q][0]), float(np.percentile(trace.ttft_s, q))
        assert abs(model / sim - 1.0) <= 0.25, f"TTFT p{q} at {load:.0%}: model {model:.3g} s, simulation {sim:.3g} s"
