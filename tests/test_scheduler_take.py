"""``ServingStep.take`` (``planner.model.load.scheduler``) builds a row subset without re-checking the
overlap and takes the path flags of ``StepModel`` from per-row flags gathered from its parent.

Basis: the same rows built afresh, ``ServingStep(coefficients.take(rows), overlap[rows])``, which
validates the overlap and computes every flag from the subset's own coefficients. Flags, the one-pass
token count and every step time must be identical, bit for bit, for subsets whose flags differ from
their parent's (dense rows only, MoE rows only, unpipelined rows only, one row, no row).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.model.grid import Grid
from planner.model.load.scheduler import ServingStep
from planner.model.perf import StepCoefficients, StepModel

CONFIGS = [  # dense, MoE, pipelined, windowed (sliding-window layers)
    {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4},
    {"model": "mixtral-8x7b", "hardware": "h100-sxm", "tp": 2},
    {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4, "pp": 2},
    {"model": "gemma-3-27b", "hardware": "h100-sxm", "tp": 1},
    {"model": "llama-3.1-8b", "hardware": "l4", "tp": 1},
]


@pytest.fixture(scope="module")
def rows(one_row: Callable[..., Grid]) -> StepCoefficients:
    steps = [StepModel.build(one_row(**config)) for config in CONFIGS]
    return StepCoefficients.from_stacked(np.concatenate([s.coefficients.stacked() for s in steps], axis=1))


def _flags(step: StepModel) -> tuple[bool, bool, bool, float]:
    return step.windowed, step.moe, step.pipelined, step.one_pass


def _times(step: StepModel) -> list[np.ndarray]:
    n = len(step)
    b = np.linspace(1.0, 300.0, n)
    y = np.arange(5.0)[:, None] * np.array([200.0, 2000.0, 9000.0])  # prompts x bands, several passes
    return [step.total(decode_tokens=b[:, None, None], decode_context=1500.0, prefill_tokens=y[None],
                       prefill_context=np.maximum(y, 1.0)[None]),
            step.total(decode_tokens=b, decode_context=800.0),
            *vars(step.parts(decode_tokens=b, decode_context=800.0, prefill_tokens=3000.0,
                             prefill_context=1000.0)).values()]


@pytest.mark.parametrize("overlap", ["scalar", "per row"])
@pytest.mark.parametrize("pick", [[0, 1, 2, 3, 4], [0, 4], [1], [2, 2, 0], [3, 1], [4, 0, 1], []])
def test_a_taken_subset_is_the_subset_built_afresh(rows: StepCoefficients, overlap: str, pick: list[int]) -> None:
    per_row = np.array([0.3, 0.8, 1.0, 0.0, 0.55])
    parent = ServingStep(rows, 0.7 if overlap == "scalar" else per_row)
    at = np.array(pick, dtype=np.intp)
    fresh = ServingStep(rows.take(at), 0.7 if overlap == "scalar" else per_row[at])
    for taken in (parent.take(at), parent.take(np.arange(5)).take(at)):  # also a subset of a subset
        assert _flags(taken) == _flags(fresh)
        assert vars(taken).keys() == vars(fresh).keys()  # take builds without __init__: every attribute set
        assert np.array_equal(taken.overlap, fresh.overlap)
        if len(at):
            for a, b in zip(_times(taken), _times(fresh), strict=True):
                assert a.shape == b.shape and np.array_equal(a, b)
    assert _flags(parent) == (True, True, True, float(rows.max_batched_tokens.min()))  # the mix has every path


def test_the_subsets_flags_differ_from_the_parents(rows: StepCoefficients) -> None:
    """The check above can fail: a dense, unpipelined, unwindowed row takes none of the paths."""
    parent = ServingStep(rows)
    assert _flags(parent.take(np.array([0])))[:3] == (False, False, False)
    assert _flags(parent.take(np.array([1])))[:3] == (False, True, False)
    assert _flags(parent.take(np.array([2])))[:3] == (False, False, True)
    assert _flags(parent.take(np.array([3])))[:3] == (True, False, False)
