"""The queueing model's first guess of a row's chain size (``planner.model.load.queueing._sized``).

Basis: from B = 0 on (no pipeline), every iteration of the chain grows with the decodes B, so the
chain's stationary law only moves up with B and the chain at the largest concurrency b_hi bounds
the tail mass of the chain at the root B <= b_hi. A size read off the chain the rows run on (bands
and all) at b_hi therefore never has to be solved again one size up (each such retry is a second
root search). With heavy-tailed prompts the arrivals are a mixture of Poissons, and a size read
off the mean-prompt chain missed at most loads here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, _group, _sized, full_batch_rate, saturated_rate
from planner.model.load.scheduler import ServingStep
from planner.model.perf import MemoryModel, StepModel

PROMPTS = LengthDist(1000.0, 4000.0)  # heavy tail: p95 four times the mean
OUTPUTS = LengthDist(300.0, 900.0)
LOADS = np.array([0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.94, 0.97])


@pytest.mark.parametrize(("model", "hardware", "tp"), [("llama-3.1-70b", "h100-sxm", 4), ("llama-3.1-8b", "l4", 1)])
def test_sized_chains_are_not_solved_again(one_row: Callable[..., Grid], model: str, hardware: str, tp: int) -> None:
    grid = one_row(model=model, hardware=hardware, tp=tp, precision="fp8")
    step = ServingStep.of(StepModel.build(grid))
    mem = MemoryModel.build(grid)
    o = OUTPUTS.mean
    b_run = np.maximum(mem.operating_batch(cap=np.inf, input_tokens=PROMPTS.mean, output_tokens=o), 1.0)
    capacity = float(saturated_rate(step, b_run, PROMPTS.mean, o)[0])
    rows = step.take(np.zeros(len(LOADS), dtype=np.intp))
    lam, b_hi = LOADS * capacity, np.full(len(LOADS), b_run[0])
    size = _sized(rows, lam, b_hi, PROMPTS, o)[0]
    assert size.max() > 8  # the heavy loads need long chains: the check is exercised
    for k in np.unique(size):
        at = np.flatnonzero(size == k)
        retry = _group(rows.take(at), lam[at], b_hi[at], np.zeros(len(at)), PROMPTS, OUTPUTS, int(k), (99,),
                       full=full_batch_rate(rows.take(at), b_hi[at], PROMPTS, OUTPUTS))[0]
        assert not retry.any(), (int(k), LOADS[at][retry])
