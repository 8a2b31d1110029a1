"""An upper bound on a replica's SLO capacity from the linear layers' compute roofline alone.

It needs no performance-model constants (only the catalog tables behind them), so the search can
bound a plan key's cost before it builds or screens any of its shapes (``prepare``'s lazy
screening). Why it is a bound, term by term:

- A step's time (``StepModel.total``; ``ServedStep.total`` is never below it) includes the linear
  layers' roofline max(compute, weight streaming) >= compute = (tokens / m) x lc, where m <= pp
  is the number of pipeline microbatches the tokens are split into and lc is
  ``linear_compute_s_per_token``: 2 N_active / (tp x peak x e_c) (``perf.StepModel.build``), or
  with expert parallelism over n = tp chips 2 (N_active + (imbalance - 1) N_routed) / (n x peak x
  e_c) >= 2 N_active / (n x peak x e_c) (``moe.ep_step``, imbalance >= 1, pp = 1); an experts-only
  checkpoint runs its other matmuls at their own peak, never above the configured precision's
  (``moe.linear_flop_params``), which only raises lc. Every other term (attention, communication,
  overhead, extra passes) is >= 0.
- The screen's capacity is ``saturated_rate``: b / (O x total(b decode tokens, b I / O prefill
  tokens)) <= b / (O x b (1 + I / O) / pp x lc) = pp / ((I + O) x lc); the ceiling is at most
  that, SLO capacity at most the ceiling's top rung, and a replica evaluated by the queueing
  model is credited at most that.

So capacity <= tp x pp x peak x e_c / (2 N_active (I + O)) with I, O the token counts the queueing
model runs (``Served.traffic``), and a replica's cost per unit of capacity is at least
price x 2 N_active (I + O) / (peak x e_c), the same for every shape of a (hardware, runtime,
precision, model). tests/test_roofline_bound.py checks it against screened ceilings and
evaluated capacities.
"""

from __future__ import annotations

import numpy as np

from planner.model.grid import Array
from planner.search.shapes.candidates import Candidates
from planner.workload import Traffic

__all__ = ["capacity_bound"]


def capacity_bound(cand: Candidates, traffic: Traffic) -> Array:
    """Per candidate, requests/s its SLO capacity never exceeds (see the module docstring); inf
    where a factor is missing (no bound rather than a wrong one)."""
    t = cand.tables
    flops = cand.chips * t.peak_linear[cand.hardware, cand.precision] * \
        t.efficiency.eff_compute[cand.hardware, cand.runtime] * t.speed[cand.model, cand.hardware, cand.runtime]
    per_request = 2.0 * t.model["active_params"][cand.model] * (traffic.input_tokens.mean + traffic.output_tokens.mean)
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = flops / per_request
    return np.asarray(np.where(np.isnan(bound) | (per_request <= 0), np.inf, bound), dtype=np.float64)

