"""CP-SAT over periods: how many replicas of each shape to commit, and to buy on demand or spot,
in every (month, period) for every workload of a fleet, at least total cost over the horizon.

Data -> variables -> constraints -> objective -> solve -> read-out, as ``planner.search.mix.solver``.
Per workload w, shape s, month m and period q (``planner.fleet.demand``):

- committed[w,s,m]: replicas bought at the committed price for every hour of month m; a
  commitment is never given back within the horizon (committed[w,s,m] >= committed[w,s,m-1]),
  which is what a 1-year reservation over a 12-month horizon means;
- on_demand[w,s,m,q] and spot[w,s,m,q]: replicas added in the hours of period q only.

Every period: the SLO capacity of all replicas carries the demand over ``max_utilization``; with
``spare`` k it does so with k replicas of any used shape removed (conservative: k whole replicas
even where the shape has fewer); the non-spot replicas alone carry the raw demand (all spot
capacity may be pre-empted at once: it can serve as headroom, never as the floor); at least
``min_replicas`` (and one per zone) run. Per workload at most ``max_hardware_types`` types; chips
per hardware within the workload's quotas; summed over the fleet, within the fleet's quotas.
Cost = sum of committed x price x 730 h + on-demand / spot x price x the period's hours.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from planner.fleet.options import Shape
from planner.fleet.prices import ChipPrices, Mode, replica_price
from planner.model.grid import Array
from planner.search.mix.solver import COST_SCALE, RATE_SCALE, scaled
from planner.workload import HOURS_PER_MONTH, Availability

__all__ = ["Item", "Solved", "solve_schedule"]


@dataclass(frozen=True)
class Item:
    """One workload as the model sees it."""

    name: str
    shapes: tuple[Shape, ...]
    demand: Array  # requests/s per [month, period]
    availability: Availability
    max_types: int
    quotas: Mapping[str, int]  # chips per hardware, this workload alone


@dataclass(frozen=True)
class Solved:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN | MODEL_INVALID
    committed: list[np.ndarray]  # per item, replicas [shape, month]
    on_demand: list[np.ndarray]  # per item, replicas [shape, month, period]
    spot: list[np.ndarray]
    cost: list[np.ndarray]  # per item, USD per month
    elapsed_s: float
    # CP-SAT's proven lower bound on the objective, USD over the horizon (the cost itself when OPTIMAL;
    # nan: no solution, or a schedule not from a solve)
    bound: float = math.nan


def _prices(prices: ChipPrices, s: Shape, committed_as: str) -> dict[Mode, float | None]:
    return {mode: replica_price(prices, s.hardware, s.chips, mode, committed_as=committed_as) for mode in Mode}


Expr = cp_model.LinearExprT
Vars = dict[str, dict[tuple[int, ...], cp_model.IntVar]]  # "c" committed [j, m], "o" / "s" on-demand / spot [j, m, q]


class _Schedule:
    """The model of ``solve_schedule``, built workload by workload."""

    def __init__(self, *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
                 modes: frozenset[Mode], committed_as: str, months: int, periods: int) -> None:
        self.model = cp_model.CpModel()
        self.prices, self.fleet_quotas, self.modes, self.committed_as = prices, fleet_quotas, modes, committed_as
        self.months, self.periods = months, periods
        self.hours_milli = [scaled(h, 1000, "traffic.profile") for h in hours]  # milli-hours per month
        self.vars: list[Vars] = []
        self.month_cost: list[list[list[tuple[int, cp_model.IntVar]]]] = []  # per item, month: (USD scaled, var)
        self.chips: dict[str, dict[tuple[int, int], list[Expr]]] = {}  # hardware -> (m, q) -> chips running

    def running(self, v: Vars, j: int, m: int, q: int, *, spot: bool = True) -> Expr:
        parts = [v["c"].get((j, m)), v["o"].get((j, m, q)), v["s"].get((j, m, q)) if spot else None]
        return sum(p for p in parts if p is not None)

    def add(self, w: int, it: Item) -> None:
        v, used = self._variables(w, it)
        self._shape_rules(w, it, v, used)
        rate = [scaled(s.slo_capacity, RATE_SCALE, f"{it.name}: {s.label} capacity", math.floor) for s in it.shapes]
        for m in range(self.months):
            for q in range(self.periods):
                self._period(it, v, used, rate, m, q)
        self.vars.append(v)

    def _variables(self, w: int, it: Item) -> tuple[Vars, list[cp_model.IntVar]]:
        """Replica counts per shape and mode (a mode without a price, or not allowed, has none)."""
        a = it.availability
        top = max(1, scaled(float(it.demand.max()) / a.max_utilization, RATE_SCALE, f"{it.name}: demand"))
        v: Vars = {"c": {}, "o": {}, "s": {}}
        cost: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(self.months)]
        for j, s in enumerate(it.shapes):
            price = _prices(self.prices, s, self.committed_as)
            rate = max(1, scaled(s.slo_capacity, RATE_SCALE, f"{it.name}: {s.label} capacity", math.floor))
            upper = max(-(-top // rate) + a.spare, a.replicas_at_least)
            for quotas in (it.quotas, self.fleet_quotas):
                upper = min(upper, quotas.get(s.hardware, upper * s.chips) // s.chips)
            unit = {mode: scaled(p, COST_SCALE, f"{s.hardware} {mode} price")
                    for mode, p in price.items() if p is not None and mode in self.modes}
            for m in range(self.months):
                if Mode.COMMITTED in unit:
                    v["c"][j, m] = self.model.new_int_var(0, upper, f"committed_{w}_{j}_{m}")
                    cost[m].append((unit[Mode.COMMITTED] * int(HOURS_PER_MONTH), v["c"][j, m]))
                for q in range(self.periods):
                    for key, mode in (("o", Mode.ON_DEMAND), ("s", Mode.SPOT)):
                        if mode in unit:
                            v[key][j, m, q] = self.model.new_int_var(0, upper, f"{key}_{w}_{j}_{m}_{q}")
                            cost[m].append((unit[mode] * self.hours_milli[q] // 1000, v[key][j, m, q]))
        self.month_cost.append(cost)
        return v, [self.model.new_bool_var(f"used_{w}_{j}") for j in range(len(it.shapes))]

    def _shape_rules(self, w: int, it: Item, v: Vars, used: list[cp_model.IntVar]) -> None:
        # a shape counts as used when any of its counts is positive
        for (j, *_), var in [*v["c"].items(), *v["o"].items(), *v["s"].items()]:
            self.model.add(var == 0).only_enforce_if(used[j].Not())
        # at most max_types hardware types per workload
        type_used = {h: self.model.new_bool_var(f"type_{w}_{h}") for h in sorted({s.hardware for s in it.shapes})}
        for j, s in enumerate(it.shapes):
            self.model.add_implication(used[j], type_used[s.hardware])
        self.model.add(sum(type_used.values()) <= it.max_types)
        # commitments are never given back within the horizon
        for (j, m), var in v["c"].items():
            if m > 0:
                self.model.add(var >= v["c"][j, m - 1])

    def _period(self, it: Item, v: Vars, used: list[cp_model.IntVar], rate: list[int], m: int, q: int) -> None:
        a = it.availability
        need = scaled(it.demand[m, q] / a.max_utilization, RATE_SCALE, f"{it.name}: demand")
        shapes = range(len(it.shapes))
        total = cp_model.LinearExpr.sum([rate[j] * self.running(v, j, m, q) for j in shapes])
        # capacity: the demand over max_utilization
        self.model.add(total >= need)
        # N+k: k replicas of any used shape removed
        if a.spare:
            for j in shapes:
                self.model.add(total - rate[j] * a.spare * used[j] >= need)
        # spot may all be pre-empted at once: the rest carries the raw demand
        if v["s"]:
            floor = scaled(it.demand[m, q], RATE_SCALE, f"{it.name}: demand")
            self.model.add(sum(rate[j] * self.running(v, j, m, q, spot=False) for j in shapes) >= floor)
        # redundancy: at least min_replicas running, one per zone
        if a.replicas_at_least > 1:
            self.model.add(sum(self.running(v, j, m, q) for j in shapes) >= a.replicas_at_least)
        # chips per hardware: the workload's own quotas here, the fleet's in fleet_quotas()
        mine: dict[str, list[Expr]] = {}
        for j, s in enumerate(it.shapes):
            mine.setdefault(s.hardware, []).append(s.chips * self.running(v, j, m, q))
        for h, terms in mine.items():
            self.chips.setdefault(h, {}).setdefault((m, q), []).extend(terms)
            if h in it.quotas:
                self.model.add(sum(terms) <= it.quotas[h])

    def fleet_quotas_(self, quota_left: Mapping[str, Array] | None) -> None:
        """Chips per hardware summed over every workload, in every period."""
        for h, by_period in self.chips.items():
            for (m, q), terms in by_period.items():
                limits = [x for x in (self.fleet_quotas.get(h),
                                      None if quota_left is None or h not in quota_left else int(quota_left[h][m, q]))
                          if x is not None]
                if limits:
                    self.model.add(sum(terms) <= min(limits))

    def hint(self, hints: Sequence[Solved | None]) -> None:
        for v, h in zip(self.vars, hints, strict=False):
            if h is not None and h.cost:
                for key, arr in (("c", h.committed[0]), ("o", h.on_demand[0]), ("s", h.spot[0])):
                    for index, var in v[key].items():
                        self.model.add_hint(var, int(arr[index]))

    def read(self, solver: cp_model.CpSolver, items: Sequence[Item], status: str, elapsed_s: float) -> Solved:
        out = Solved(status, [], [], [], [], elapsed_s, bound=solver.best_objective_bound / COST_SCALE)
        for it, v, month_cost in zip(items, self.vars, self.month_cost, strict=True):
            n = len(it.shapes)
            arrays = {"c": np.zeros((n, self.months), int), "o": np.zeros((n, self.months, self.periods), int),
                      "s": np.zeros((n, self.months, self.periods), int)}
            for key, arr in arrays.items():
                for index, var in v[key].items():
                    arr[index] = solver.value(var)
            out.committed.append(arrays["c"])
            out.on_demand.append(arrays["o"])
            out.spot.append(arrays["s"])
            out.cost.append(np.array([sum(c * solver.value(var) for c, var in row) / COST_SCALE
                                      for row in month_cost]))
        return out


def solve_schedule(items: Sequence[Item], *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
                   quota_left: Mapping[str, Array] | None = None, modes: frozenset[Mode] = frozenset(Mode),
                   committed_as: str = "reserved_1y", time_limit_s: float = 20.0, workers: int = 1,
                   seed: int = 0, hint: Sequence[Solved | None] = ()) -> Solved:
    """The least-cost schedule (module docstring). ``quota_left``: per hardware, chips still free
    per [month, period] (fleet quotas already in part used by workloads planned before).
    ``hint``: one single-item solution per item (say, each planned alone), tried first."""
    start = time.perf_counter()
    months, periods = items[0].demand.shape
    # data and variables, constraints per workload
    sched = _Schedule(hours=hours, prices=prices, fleet_quotas=fleet_quotas, modes=modes, committed_as=committed_as,
                      months=months, periods=periods)
    for w, it in enumerate(items):
        sched.add(w, it)
    # constraints across the fleet
    sched.fleet_quotas_(quota_left)
    sched.hint(hint)
    # objective
    sched.model.minimize(sum(c * var for rows in sched.month_cost for row in rows for c, var in row))
    # solve
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(sched.model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solved(name, [], [], [], [], time.perf_counter() - start)
    # read-out
    return sched.read(solver, items, name, time.perf_counter() - start)
