"""Grids held to a scheduler cap: the regime a queueing-model-vs-simulation tolerance was set on."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.model.grid import Grid

# vLLM's documented max_num_seqs: the checks of the queueing model against the simulation set their
# tolerances with the cap binding; the shipped calibration raises vLLM's cap on GPUs to what the MLPerf
# records ran (planner/calibration/concurrency.py), where memory sets the batch instead (its own checks:
# tests/test_overload_tpot.py, memory-bound)
DOCUMENTED_CAP = 256.0


def at_cap(grid: Grid, cap: float = DOCUMENTED_CAP) -> Grid:
    """``grid`` with every row's scheduler cap at ``cap`` sequences."""
    return replace(grid, max_concurrency=np.full(len(grid), cap))
