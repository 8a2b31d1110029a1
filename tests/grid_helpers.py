"""Grids held to a scheduler cap: the regime a queueing-model-vs-simulation tolerance was set on."""

from __future__ import annotations

import functools
from dataclasses import replace

import numpy as np

from hardware_catalog import load_catalog
from planner.model.grid import Grid


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
