"""The queueing model's root finder takes the newest point without the step that would close the
bracket across the root where the interpolation already puts the root next to it
(``planner.model.load.queueing._next_point``, issue #21).

Basis: the root finder without that shortcut (``_SETTLE`` = 0: every row closes its bracket by
evaluating across the root) and g(B) = lam (O - 1) tau(B) - B evaluated directly on both sides of
the answer. The shortcut must spare chain evaluations, change no bit of B or of the chain there,
and leave the root bracketed within the tolerance (a shortcut taken on a wrong prediction moves B).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import planner.model.load.queueing as queueing
from planner.model.grid import Grid
from planner.model.load.queueing import STATES, LengthDist, saturated_rate
from planner.model.load.scheduler import ServingStep
from planner.model.perf import MemoryModel, StepCoefficients, StepModel

PROMPTS = LengthDist(1000.0, 4000.0)
OUTPUTS = LengthDist(300.0, 900.0)
LOADS = np.array([0.05, 0.3, 0.6, 0.8, 0.9, 0.94, 0.97])


def _rows(one_row: Callable[..., Grid]) -> tuple[ServingStep, np.ndarray, np.ndarray]:
    """Two configurations, each at every load: (step, rate, b_hi)."""
    grids = [one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8"),
             one_row(model="llama-3.1-8b", hardware="l4", tp=1, precision="bf16")]
    steps = [ServingStep.of(StepModel.build(g)) for g in grids]
    picks, lam, b_hi = [], [], []
    for j, (step, grid) in enumerate(zip(steps, grids, strict=True)):
        mem = MemoryModel.build(grid)
        b_run = np.maximum(mem.operating_batch(cap=np.inf, input_tokens=PROMPTS.mean, output_tokens=OUTPUTS.mean), 1.0)
        capacity = float(saturated_rate(step, b_run, PROMPTS.mean, OUTPUTS.mean)[0])
        picks += [j] * len(LOADS)
        lam += list(LOADS * capacity)
        b_hi += [float(b_run[0])] * len(LOADS)
    stacked = np.concatenate([s.coefficients.stacked() for s in steps], axis=1)
    return ServingStep(StepCoefficients.from_stacked(stacked[:, picks])), np.array(lam), np.array(b_hi)


def _solve(step: ServingStep, lam: np.ndarray, b_hi: np.ndarray) -> tuple[tuple[object, ...], int]:
    """``_solve_batch`` on STATES states and the chain rows it evaluated."""
    evaluated = 0
    chain = queueing._chain

    def counted(*args: object, **kwargs: object) -> queueing._Chain:
        nonlocal evaluated
        result = chain(*args, **kwargs)  # type: ignore[arg-type]
        evaluated += len(result.tau)
        return result

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(queueing, "_chain", counted)
        found = queueing._solve_batch(step, lam, b_hi, np.zeros(len(lam)), PROMPTS, OUTPUTS.mean, STATES)
    return found, evaluated


def test_the_shortcut_spares_evaluations_and_changes_no_bit(one_row: Callable[..., Grid],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    step, lam, b_hi = _rows(one_row)
    (b, chain, given_up, _), spared = _solve(step, lam, b_hi)
    monkeypatch.setattr(queueing, "_SETTLE", 0.0)
    (b_full, chain_full, given_up_full, _), full = _solve(step, lam, b_hi)
    assert spared < full
    assert np.array_equal(b, b_full) and np.array_equal(given_up, given_up_full)
    for field in ("s", "pi", "tau", "d"):
        assert np.array_equal(getattr(chain, field), getattr(chain_full, field))


def test_the_root_stays_bracketed_within_the_tolerance(one_row: Callable[..., Grid]) -> None:
    step, lam, b_hi = _rows(one_row)
    (b, _, given_up, _), _ = _solve(step, lam, b_hi)
    inside = np.flatnonzero((b > 0) & (b < b_hi) & ~given_up)
    assert len(inside) >= len(lam) // 2  # (the rows whose queue reaches B_max first have no root inside)
    tol = queueing._TOL * b_hi[inside]
    c = lam[inside] * (OUTPUTS.mean - 1.0)
    sub = step.take(inside)
    below, above = (queueing._chain(sub, b[inside] + sign * tol, lam[inside], PROMPTS, OUTPUTS.mean, STATES).tau
                    for sign in (-1.0, 1.0))
    assert np.all(c * below - (b[inside] - tol) > 0.0)  # g > 0 a tolerance below the answer
    assert np.all(c * above - (b[inside] + tol) < 0.0)  # g < 0 a tolerance above it
