"""The queueing model runs a ``ServedStep`` (prefix caching, speculative decoding) as that step.

``serve`` times iterations with ``ServingStep.of(step, overlap)``; it once rebuilt a plain step from
the coefficients, so under load a cached prefix's context and the draft and verify passes were not
charged (a served step gave the plain step's latencies, bit for bit), and every capacity search of a
prefix-caching or speculative plan was optimistic.

Basis: the zero-load limit. With one request in the engine, a request's TPOT is one decode step of
one sequence, whatever the queueing model does around it: the step model's own time at one decode
token and the mean context (``ServedStep.total``), which the offsets and the draft passes raise
above the plain step's. And a served step keeps its features through ``take`` and a new overlap.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, serve
from planner.model.load.scheduler import ServingStep
from planner.model.perf import MemoryModel, StepModel
from planner.model.serving import ServedStep

FEATURES = {
    "prefix": {"prefill_offset": 8000.0, "decode_offset": 8000.0, "draft_tokens": 0},
    "speculative": {"prefill_offset": 0.0, "decode_offset": 0.0, "draft_tokens": 3},
}
PROMPT, OUTPUT = LengthDist(800.0), LengthDist(200.0)


@pytest.fixture(scope="module")
def grid(one_row: Callable[..., Grid]) -> Grid:
    return one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8")


def _one_decode(step: StepModel) -> float:
    return float(step.total(decode_tokens=1.0, decode_context=PROMPT.mean + OUTPUT.mean / 2.0)[0])


@pytest.mark.parametrize("feature", list(FEATURES))
def test_serve_charges_the_served_step_at_zero_load(grid: Grid, feature: str) -> None:
    plain = StepModel.build(grid)
    served = ServedStep(plain.coefficients, **FEATURES[feature])
    assert _one_decode(served) > 1.02 * _one_decode(plain)  # the feature costs something per step
    mem = MemoryModel.build(grid)
    for overlap in (1.0, 0.7):
        res = serve(served, mem, request_rate=1e-5, input_tokens=PROMPT, output_tokens=OUTPUT, percentiles=(50,),
                    overlap=overlap)
        # the served step's own time (built with the overlap, not through ServingStep.of)
        expected = _one_decode(ServedStep(plain.coefficients, **FEATURES[feature], overlap=overlap))
        assert res.tpot_s[50][0] == pytest.approx(expected, rel=1e-4)  # the features add >= 2%


@pytest.mark.parametrize("feature", list(FEATURES))
def test_a_served_step_keeps_its_features_through_take_and_overlap(grid: Grid, feature: str) -> None:
    served = ServedStep(StepModel.build(grid).coefficients, **FEATURES[feature])
    for step in (ServingStep.of(served, 0.6), ServingStep.of(served, 0.6).take(np.array([0]))):
        assert isinstance(step, ServedStep)
        assert (step.prefill_offset, step.decode_offset, step.draft_tokens) == (
            served.prefill_offset, served.decode_offset, served.draft_tokens)
        rebuilt = ServedStep(served.coefficients, **FEATURES[feature], overlap=0.6)
        assert _one_decode(step) == _one_decode(rebuilt)
