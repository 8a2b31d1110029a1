"""Grids held to a scheduler cap: the regime a queueing-model-vs-simulation tolerance was set on."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from hardware_catalog import load_catalog
from planner.model.grid import Grid
from planner.model.load.queueing import LengthDist, saturated_rate
from planner.model.load.scheduler import SERVING_OVERLAP, ServingStep
from planner.model.perf import MemoryModel, StepModel


@functools.cache
def documented_cap() -> float:
    """vLLM's documented max_num_seqs (runtimes.yaml). The checks of the queueing model against the
    simulation set their tolerances with the cap binding; the shipped calibration raises vLLM's cap on
    GPUs to what the MLPerf records ran (planner/calibration/concurrency.py), where memory sets the batch
    instead (its own check: tests/test_overload_tpot.py, memory-bound)."""
    cap = load_catalog().runtimes["vllm"].max_concurrency
    assert cap is not None
    return float(cap)


def at_cap(grid: Grid, cap: float | None = None) -> Grid:
    """``grid`` with every row's scheduler cap at ``cap`` sequences (default: vLLM's documented one)."""
    return replace(grid, max_concurrency=np.full(len(grid), documented_cap() if cap is None else cap))


def saturated_capacity(grid: Grid, input_tokens: LengthDist, output_tokens: LengthDist, *,
                       batch_cap: float = np.inf, overlap: float = SERVING_OVERLAP) -> float:
    """Row 0's ``queueing.saturated_rate`` at its most sequences in flight: the load reference the checks of the
    queueing model against the simulation were written against (``serve``'s capacity until it became the full
    engine's rate, 6-22% lower where an iteration holds few prompts). A check that places its loads with this
    keeps its operating points, whatever ``serve`` reports as its capacity."""
    step = ServingStep.of(StepModel.build(grid), overlap)
    b_max = MemoryModel.build(grid).operating_batch(cap=batch_cap, input_tokens=input_tokens.mean,
                                                    output_tokens=output_tokens.mean)
    return float(saturated_rate(step, np.maximum(b_max, 1.0), input_tokens.mean, output_tokens.mean)[0])
