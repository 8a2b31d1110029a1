"""CP-SAT: integer replica counts over replica options so the deployment carries the peak load.

One solve covers one plan key (model, precision, KV precision, runtime): its options are the
(hardware, tp, pp) replica shapes that meet the SLOs, each with its SLO-capacity (requests/s a
replica carries within every latency target) and its price. The model follows the OR-Tools
samples' order: data -> variables -> constraints -> objective -> solve -> read-out.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from ortools.sat.python import cp_model

from planner.errors import InputError

__all__ = ["COST_SCALE", "RATE_SCALE", "Option", "Solution", "solve_mix"]

COST_SCALE = 1000  # $/hour -> integer milli-dollars per hour
RATE_SCALE = 1000  # requests/s -> integer milli-requests per second
# CP-SAT works in int64 and rejects a model whose sums could overflow it: every scaled figure,
# and each option's cost at its most replicas, must stay below 2**52 (so sums over a few
# thousand terms stay far below 2**63)
MAX_SCALED = 2**52


def _scaled(value: float, what: str) -> float:
    """``value`` (already scaled), or an InputError naming ``what`` when it cannot be an int64 term."""
    if not math.isfinite(value) or abs(value) >= MAX_SCALED:
        raise InputError(f"{what} is too large for the solver's integer model ({value:.3g} after scaling)")
    return value


@dataclass(frozen=True)
class Option:
    """One replica shape: ``rate`` requests/s within the SLOs at ``cost_per_hour``."""

    index: int  # caller's row id
    hardware: str
    chips: int
    rate: float
    cost_per_hour: float


@dataclass(frozen=True)
class Solution:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    counts: dict[int, int]  # option index -> replicas
    cost_per_hour: float
    elapsed_s: float


class _Model(cp_model.CpModel):
    """A CpModel without the deprecated camelCase aliases ortools attaches to every new model
    (about 1 ms per model, a third of a small solve); this module uses the snake_case API only."""

    def _add_pre_pep8_methods(self) -> None:
        pass


def _greedy(options: list[Option], demand: float, quotas: dict[str, int]) -> dict[int, int]:
    """Cheapest single-shape deployment that carries the demand within quota (the hint)."""
    best: tuple[float, int, int] | None = None
    for o in options:
        n = math.ceil(demand / o.rate)
        if n * o.chips <= quotas.get(o.hardware, n * o.chips) and (best is None or n * o.cost_per_hour < best[0]):
            best = (n * o.cost_per_hour, o.index, n)
    return {} if best is None else {best[1]: best[2]}


def solve_mix(options: list[Option], *, demand: float, max_types: int, quotas: dict[str, int],
              max_cost_per_hour: float | None = None, forbid_type_sets: tuple[frozenset[str], ...] = (),
              time_limit_s: float = 2.0, seed: int = 0, workers: int = 1) -> Solution:
    """Minimise hourly cost subject to capacity >= demand, <= max_types hardware types, quotas."""
    start = time.perf_counter()
    # data
    need = math.ceil(_scaled(demand * RATE_SCALE, "the peak request rate"))
    types = sorted({o.hardware for o in options})
    model = _Model()
    # variables
    # rates round down and costs (for the budget) round up, so a plan never under-provisions the
    # peak or overspends the budget by a rounding unit
    rate = {o.index: math.floor(_scaled(o.rate * RATE_SCALE, "a replica's request rate")) for o in options}
    n = {}
    most_cost = 0  # the cost of every option at its most replicas: a budget above it binds nothing
    for o in options:
        upper = -(-need // rate[o.index]) if rate[o.index] > 0 else 0
        if o.hardware in quotas:
            upper = min(upper, quotas[o.hardware] // o.chips)
        most_cost += int(_scaled(math.ceil(o.cost_per_hour * COST_SCALE) * max(upper, 0),
                                 "a replica's cost at its most replicas"))
        n[o.index] = model.new_int_var(0, max(upper, 0), f"n_{o.index}")
    used = {h: model.new_bool_var(f"used_{h}") for h in types}
    # capacity: replicas carry the peak demand
    model.add(sum(rate[o.index] * n[o.index] for o in options) >= need)
    # a hardware type counts as used when any of its options has replicas
    for o in options:
        model.add(n[o.index] == 0).only_enforce_if(used[o.hardware].Not())
    # at most max_types distinct hardware types
    model.add(sum(used.values()) <= max_types)
    # quotas: chips per hardware id
    for h, quota in quotas.items():
        if h in used:
            model.add(sum(o.chips * n[o.index] for o in options if o.hardware == h) <= quota)
    # budget
    cost = sum(round(o.cost_per_hour * COST_SCALE) * n[o.index] for o in options)
    if max_cost_per_hour is not None:
        model.add(sum(math.ceil(o.cost_per_hour * COST_SCALE) * n[o.index] for o in options)
                  <= math.floor(min(max_cost_per_hour * COST_SCALE, most_cost)))
    # exclusions: type sets already returned as other plans
    for banned in forbid_type_sets:
        if banned <= set(types):
            model.add(sum(used[h] for h in banned) <= len(banned) - 1)
    # objective
    model.minimize(cost)
    for index, count in _greedy(options, demand, quotas).items():
        model.add_hint(n[index], count)
    # solve
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    # One variable per replica shape of a plan key (at most ~100): presolve, probing and symmetry
    # detection cost more than they save (72 solves from five examples: 2.3 -> 1.2 ms each, the
    # same optima).
    solver.parameters.cp_model_presolve = False
    solver.parameters.cp_model_probing_level = 0
    solver.parameters.symmetry_level = 0
    status = solver.solve(model)
    # read-out
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solution(status=name, counts={}, cost_per_hour=math.inf,
                        elapsed_s=time.perf_counter() - start)
    counts = {i: int(solver.value(v)) for i, v in n.items() if solver.value(v) > 0}
    total = sum(o.cost_per_hour * counts.get(o.index, 0) for o in options)
    return Solution(status=name, counts=counts, cost_per_hour=total, elapsed_s=time.perf_counter() - start)
