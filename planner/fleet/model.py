"""CP-SAT over periods: how many replicas of each shape to commit, and to buy on demand or spot,
in every (month, period) for every workload of a fleet, at least total cost over the horizon.

Data -> variables -> constraints -> objective -> solve -> read-out, as ``planner.search.solver``.
Per workload w, shape s, month m and period l (``planner.fleet.demand``):

- committed[w,s,m]: replicas bought at the committed price for every hour of month m; a
  commitment is never given back within the horizon (committed[w,s,m] >= committed[w,s,m-1]),
  which is what a 1-year reservation over a 12-month horizon means;
- on_demand[w,s,m,l] and spot[w,s,m,l]: replicas added in the hours of period l only.

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
from planner.search.solver import COST_SCALE, RATE_SCALE, scaled
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


def _prices(prices: ChipPrices, s: Shape, committed_as: str) -> dict[Mode, float | None]:
    return {mode: replica_price(prices, s.hardware, s.chips, mode, committed_as=committed_as) for mode in Mode}


def solve_schedule(items: Sequence[Item], *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
                   quota_left: Mapping[str, Array] | None = None, modes: frozenset[Mode] = frozenset(Mode),
                   committed_as: str = "reserved_1y", time_limit_s: float = 20.0, workers: int = 1,
                   seed: int = 0, hint: Sequence[Solved] = ()) -> Solved:
    """The least-cost schedule (module docstring). ``quota_left``: per hardware, chips still free
    per [month, period] (fleet quotas already in part used by workloads planned before).
    ``hint``: one single-item solution per item (say, each planned alone), tried first."""
    start = time.perf_counter()
    model = cp_model.CpModel()
    months, periods = items[0].demand.shape
    hours_i = [scaled(h, 1000, "traffic.profile") for h in hours]  # milli-hours per month
    n_vars: list[dict[str, dict[tuple[int, ...], cp_model.IntVar]]] = []
    cost_terms = []
    month_cost: list[list[list[tuple[int, cp_model.IntVar]]]] = []
    chips_by_hw: dict[str, dict[tuple[int, int], list[tuple[int, cp_model.IntVar]]]] = {}
    for w, it in enumerate(items):
        a = it.availability
        need = [[scaled(it.demand[m, l] / a.max_utilization, RATE_SCALE, f"{it.name}: demand") for l in range(periods)]
                for m in range(months)]
        floor = [[scaled(it.demand[m, l], RATE_SCALE, f"{it.name}: demand") for l in range(periods)]
                 for m in range(months)]
        rate = [scaled(s.slo_capacity, RATE_SCALE, f"{it.name}: {s.label} capacity", math.floor) for s in it.shapes]
        price = [_prices(prices, s, committed_as) for s in it.shapes]
        top_need = max(max(row) for row in need)
        v: dict[str, dict[tuple[int, ...], cp_model.IntVar]] = {"c": {}, "o": {}, "s": {}}
        used = [model.new_bool_var(f"used_{w}_{j}") for j in range(len(it.shapes))]
        mc: list[list[tuple[int, cp_model.IntVar]]] = [[] for _ in range(months)]
        # variables: a mode without a price (or not allowed) has no variable
        for j, s in enumerate(it.shapes):
            upper = max(-(-top_need // max(rate[j], 1)) + a.spare, a.replicas_at_least)
            if s.hardware in it.quotas:
                upper = min(upper, it.quotas[s.hardware] // s.chips)
            if s.hardware in fleet_quotas:
                upper = min(upper, fleet_quotas[s.hardware] // s.chips)
            for m in range(months):
                if Mode.COMMITTED in modes and price[j][Mode.COMMITTED] is not None:
                    v["c"][j, m] = model.new_int_var(0, upper, f"committed_{w}_{j}_{m}")
                    unit = scaled(price[j][Mode.COMMITTED] or 0.0, COST_SCALE, f"{s.hardware} committed price")
                    mc[m].append((unit * int(HOURS_PER_MONTH), v["c"][j, m]))
                for l in range(periods):
                    for key, mode in (("o", Mode.ON_DEMAND), ("s", Mode.SPOT)):
                        if mode in modes and price[j][mode] is not None:
                            v[key][j, m, l] = model.new_int_var(0, upper, f"{key}_{w}_{j}_{m}_{l}")
                            unit = scaled(price[j][mode] or 0.0, COST_SCALE, f"{s.hardware} {mode} price")
                            mc[m].append((unit * hours_i[l] // 1000, v[key][j, m, l]))
        # a shape counts as used when any of its variables is positive
        for (j, *_), var in [*v["c"].items(), *v["o"].items(), *v["s"].items()]:
            model.add(var == 0).only_enforce_if(used[j].Not())
        # at most max_types hardware types per workload
        types = sorted({s.hardware for s in it.shapes})
        type_used = {h: model.new_bool_var(f"type_{w}_{h}") for h in types}
        for j, s in enumerate(it.shapes):
            model.add_implication(used[j], type_used[s.hardware])
        model.add(sum(type_used.values()) <= it.max_types)
        # commitments are never given back within the horizon
        for (j, m), var in v["c"].items():
            if m > 0:
                model.add(var >= v["c"][j, m - 1])
        for m in range(months):
            for l in range(periods):
                def running(j: int, spot: bool = True) -> cp_model.LinearExprT:
                    parts = [v["c"].get((j, m)), v["o"].get((j, m, l))] + ([v["s"].get((j, m, l))] if spot else [])
                    return sum(p for p in parts if p is not None)
                total = sum(rate[j] * running(j) for j in range(len(it.shapes)))
                # capacity: the demand over max_utilization
                model.add(total >= need[m][l])
                # N+k: k replicas of any used shape removed
                for j in range(len(it.shapes)):
                    if a.spare:
                        model.add(total - rate[j] * a.spare * used[j] >= need[m][l])
                # spot may all be pre-empted: the rest carries the raw demand
                if v["s"]:
                    model.add(sum(rate[j] * running(j, spot=False) for j in range(len(it.shapes))) >= floor[m][l])
                # redundancy: at least min_replicas running, one per zone
                if a.replicas_at_least > 1:
                    model.add(sum(running(j) for j in range(len(it.shapes))) >= a.replicas_at_least)
                # chips per hardware: the workload's own quotas now, the fleet's below
                for j, s in enumerate(it.shapes):
                    chips_by_hw.setdefault(s.hardware, {}).setdefault((m, l), []).append((s.chips, running(j)))
                for h, q in it.quotas.items():
                    here = [s.chips * running(j) for j, s in enumerate(it.shapes) if s.hardware == h]
                    if here:
                        model.add(sum(here) <= q)
        n_vars.append(v)
        month_cost.append(mc)
        cost_terms.extend(c * var for row in mc for c, var in row)
    # fleet quotas: chips per hardware summed over every workload, in every period
    for h, by_period in chips_by_hw.items():
        for (m, l), terms in by_period.items():
            limit = fleet_quotas.get(h)
            if quota_left is not None and h in quota_left:
                limit = int(quota_left[h][m, l]) if limit is None else min(limit, int(quota_left[h][m, l]))
            if limit is not None:
                model.add(sum(c * x for c, x in terms) <= limit)
    # a known schedule as the starting point
    for v, h in zip(n_vars, hint, strict=False):
        if h.cost:
            for key, arr in (("c", h.committed[0]), ("o", h.on_demand[0]), ("s", h.spot[0])):
                for index, var in v[key].items():
                    model.add_hint(var, int(arr[index]))
    # objective
    model.minimize(sum(cost_terms))
    # solve
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    status = solver.solve(model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return Solved(name, [], [], [], [], time.perf_counter() - start)
    # read-out
    committed, on_demand, spot, cost = [], [], [], []
    for it, v, mc in zip(items, n_vars, month_cost, strict=True):
        n = len(it.shapes)
        c_arr, o_arr, s_arr = np.zeros((n, months), int), np.zeros((n, months, periods), int), \
            np.zeros((n, months, periods), int)
        for (j, m), var in v["c"].items():
            c_arr[j, m] = solver.value(var)
        for (j, m, l), var in v["o"].items():
            o_arr[j, m, l] = solver.value(var)
        for (j, m, l), var in v["s"].items():
            s_arr[j, m, l] = solver.value(var)
        committed.append(c_arr)
        on_demand.append(o_arr)
        spot.append(s_arr)
        cost.append(np.array([sum(c * solver.value(var) for c, var in row) / COST_SCALE for row in mc]))
    return Solved(name, committed, on_demand, spot, cost, time.perf_counter() - start)
