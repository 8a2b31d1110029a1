"""Waiting for a slot: arrivals that find every slot of the concurrency cap taken queue for one.

``planner.model.load.queueing`` lets the count of sequences in flight fluctuate around its mean (a
Poisson count, amplified by the batch's feedback on iteration length); where its percentile
exceeds the largest concurrency that fits, ``planner.model.load.scheduler.slot_wait`` adds the wait
for a free slot to that percentile's TTFT. The simulation (``planner.model.load.simulate``) blocks
arrivals at the cap request by request, so it is the independent reference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, server
from planner.model.load.scheduler import slot_wait
from planner.model.load.simulate import simulate_requests


def test_wait_is_the_excess_over_the_departure_rate() -> None:
    """Closed form: 6 requests over 32 slots, sequences finishing at 3/s: the last waits 2 s; none
    over the slots, no wait."""
    np.testing.assert_allclose(slot_wait(np.array([38.0, 30.0]), np.array([32.0, 32.0]), np.array([3.0, 3.0])),
                               [2.0, 0.0])


def test_ttft_p99_counts_waiting_at_the_concurrency_cap(one_row: Callable[..., Grid]) -> None:
    """llama-3.1-8b on one H100 capped at 32 sequences, chat lengths (mean 800 / p95 2000 in,
    200 / 600 out) at 60% of capacity: the simulation's TTFT p99 is 1.1 s, mostly arrivals waiting
    for a slot. The model must reach at least 40% of it (seen 43%; 19% without the slot wait,
    which only counts the prefill queue) and not exceed it."""
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm")
    i, o = LengthDist(800.0, 2000.0), LengthDist(200.0, 600.0)
    cap = float(server(grid, request_rate=1e-3, input_tokens=i, output_tokens=o,
                       batch_cap=32.0).capacity_requests_per_s[0])
    rate = 0.6 * cap
    model = float(server(grid, request_rate=rate, input_tokens=i, output_tokens=o, batch_cap=32.0,
                         percentiles=(99,)).ttft_s[99][0])
    trace = simulate_requests(grid, request_rate=rate, input_tokens=i, output_tokens=o, batch_cap=32.0,
                              requests=3000, warmup=300, seed=1)
    sim = float(np.percentile(trace.ttft_s, 99))
    assert 0.4 * sim <= model <= sim, f"TTFT p99: model {model:.3g} s, simulation {sim:.3g} s"


def test_slot_wait_does_not_fall_with_load(one_row: Callable[..., Grid]) -> None:
    """The planner's capacity search and the SLO-capacity bisection take the rates that meet an SLO
    to be an interval from 0: TTFT percentiles must not fall as the rate rises. The slot wait reads
    the feedback-amplified spread of the concurrency, so the feedback gain must be computed wherever
    the wait needs it (skipping it where TPOT's clip pinned every percentile at the cap left the
    spread unamplified at higher loads only: a long-document row met a TTFT p95 at 85% of capacity
    that it broke at 80%)."""
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm")
    i, o = LengthDist(800.0, 2000.0), LengthDist(200.0, 600.0)
    cap = float(server(grid, request_rate=1e-3, input_tokens=i, output_tokens=o,
                       batch_cap=32.0).capacity_requests_per_s[0])
    loads = np.linspace(0.3, 0.95, 27)
    res = server(grid.take(np.zeros(len(loads), dtype=np.int64)), request_rate=loads * cap, input_tokens=i,
                 output_tokens=o, batch_cap=32.0, percentiles=(50, 90, 95, 99))
    for q in (90, 95, 99):
        ttft = res.ttft_s[q][np.isfinite(res.ttft_s[q])]
        assert np.all(np.diff(ttft) >= -1e-9 * ttft[1:]), (q, ttft)
