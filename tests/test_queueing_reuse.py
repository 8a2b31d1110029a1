"""The queueing model reuses chains it has already solved (``planner.model.load.queueing``): the chain of
STATES states at the largest concurrency that the chain-size check solves (``_sized``) is the top
end of the root's bracket for the rows that run on STATES states, and the root's own chain feeds the
variable-length quantiles (``_varied``).

Basis: the same numbers computed afresh. ``_group`` without the reused chain recomputes the top end
from scratch; its every output must be bit-identical with the reused one (a row taking another row's
chain, or a stale one, changes them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.model.grid import Grid
from planner.model.load.queueing import STATES, LengthDist, _group, _sized, full_batch_rate, saturated_rate
from planner.model.load.scheduler import ServingStep
from planner.model.perf import MemoryModel, StepCoefficients, StepModel

PROMPTS = LengthDist(1000.0, 4000.0)  # heavy tail: most loaded rows need STATES states
OUTPUTS = LengthDist(300.0, 900.0)
# up to where both rows run on STATES states (llama-3.1-8b bf16 on an L4, batch 15, first does at 0.995 of
# its capacity under the 2026-12-06 calibration; the test asserts that it does)
LOADS = np.array([0.3, 0.6, 0.8, 0.9, 0.94, 0.97, 0.995])


@pytest.mark.parametrize(("model", "hardware", "tp"), [("llama-3.1-70b", "h100-sxm", 4), ("llama-3.1-8b", "l4", 1)])
def test_the_check_chain_reused_at_the_top_of_the_bracket_changes_nothing(
        one_row: Callable[..., Grid], model: str, hardware: str, tp: int) -> None:
    grids = [one_row(model=model, hardware=hardware, tp=tp, precision=p) for p in ("fp8", "bf16")]
    steps = [ServingStep.of(StepModel.build(g)) for g in grids]
    mems = [MemoryModel.build(g) for g in grids]
    o = OUTPUTS.mean
    picks, lam, b_hi = [], [], []
    for j, (step, mem) in enumerate(zip(steps, mems, strict=True)):  # two different rows, each at every load
        b_run = np.maximum(mem.operating_batch(cap=np.inf, input_tokens=PROMPTS.mean, output_tokens=o), 1.0)
        capacity = float(saturated_rate(step, b_run, PROMPTS.mean, o)[0])
        picks += [j] * len(LOADS)
        lam += list(LOADS * capacity)
        b_hi += [float(b_run[0])] * len(LOADS)
    stacked = np.concatenate([s.coefficients.stacked() for s in steps], axis=1)
    rows = ServingStep(StepCoefficients.from_stacked(stacked[:, picks]))
    lam_a, b_hi_a = np.array(lam), np.array(b_hi)
    size, top, checked = _sized(rows, lam_a, b_hi_a, PROMPTS, o)
    at = np.flatnonzero(size == STATES)
    assert top is not None and len(at) >= 2 and len(set(np.array(picks)[at].tolist())) == 2  # both rows, reused
    args = (rows.take(at), lam_a[at], b_hi_a[at], np.zeros(len(at)), PROMPTS, OUTPUTS, STATES, (50, 90, 99))
    full = full_batch_rate(rows.take(at), b_hi_a[at], PROMPTS, OUTPUTS)
    fresh = _group(*args, full=full)
    reused = _group(*args, (top.take(at), checked[at]), full=full)
    for a, b in zip(fresh, reused, strict=True):
        for x, y in ((a, b),) if not isinstance(a, dict) else ((a[k], b[k]) for k in a):
            assert np.array_equal(x, y, equal_nan=True)
    swapped = top.take(at[::-1])  # another row's chain at the top: the answer moves
    moved = _group(*args, (swapped, checked[at]), full=full)
    assert not np.array_equal(moved[1], fresh[1])
