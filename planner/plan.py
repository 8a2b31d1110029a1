"""The planner: candidates -> SLO capacity -> pruning -> CP-SAT replica mixes -> ranked plans.

1. Enumerate runnable replica configurations within the constraints (``planner.candidates``).
2. Drop those that do not fit in memory or miss an SLO even with no load; evaluate the rest
   at a ladder of loads with the queueing model and read off each one's SLO capacity: the
   requests/s one replica carries within every latency percentile (``planner.capacity``).
3. Prune dominated shapes: per plan key (model, precision, KV precision, runtime) and hardware,
   keep the few cheapest per unit of SLO capacity.
4. For plan keys in order of a lower bound on their cost, CP-SAT picks integer replica counts,
   possibly mixing up to ``max_hardware_types`` hardware types, that carry the peak load within
   quotas and budget at least cost (``planner.solver``); further solves ban the hardware sets
   already found, so the top-K plans differ.
5. Rank by the objective, mark the Pareto front, and explain binding constraints; when nothing
   fits, ``planner.explain`` finds verified relaxations.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.candidates import Candidates, enumerate_candidates
from planner.capacity import LoadCurves, load_curves, slo_capacity, zero_load_ok
from planner.domain import Catalog
from planner.grid import Array, CatalogTables
from planner.plan_build import build_plans
from planner.rank import mark_pareto, rank_plans
from planner.results import Infeasible, PlanResult, SearchStats
from planner.solver import Option, Solution, solve_mix
from planner.workload import HOURS_PER_MONTH, Objective, Workload

__all__ = ["Prepared", "plan", "prepare", "solve_prepared"]

KEEP_PER_HARDWARE = 3  # replica shapes kept per plan key and hardware after pruning


@dataclass
class Prepared:
    """Candidates that fit and can meet the SLOs, with their load curves and SLO capacity."""

    cand: Candidates
    curves: LoadCurves
    rate: Array  # SLO capacity per replica, requests/s
    rung: Array
    cost_per_hour: Array  # per replica
    key: Array  # plan-key id per candidate
    enumerated: int


def prepare(catalog: Catalog, tables: CatalogTables, w: Workload) -> Prepared:
    cand = enumerate_candidates(catalog, tables, w)
    enumerated = len(cand) + sum(cand.dropped.values())
    if len(cand):
        ok, capacity = zero_load_ok(cand.grid(), w.traffic, w.slo)
        fits = capacity > 0
        cand.keep(fits, "does not fit in memory (weights + KV of one sequence)")
        ok, capacity = ok[fits], capacity[fits]
        cand.keep(ok, "misses a latency SLO even with no load")
        capacity = capacity[ok]
    else:
        capacity = np.zeros(0)
    curves = load_curves(cand.grid(), w.traffic, capacity)
    rate, rung = slo_capacity(curves, w.slo)
    keep = rate > 0
    cand.keep(keep, "misses a latency SLO at every load level")
    curves = _take_curves(curves, keep)
    rate, rung = rate[keep], rung[keep]
    cost = cand.price_per_chip_hour * cand.chips
    key_cols = np.column_stack([cand.model, cand.precision, cand.kv_precision, cand.runtime])
    key = np.unique(key_cols, axis=0, return_inverse=True)[1].ravel() if len(cand) else np.zeros(0, int)
    prep = Prepared(cand=cand, curves=curves, rate=rate, rung=rung, cost_per_hour=cost, key=key,
                    enumerated=enumerated)
    return _prune(prep)


def _take_curves(c: LoadCurves, mask: np.ndarray) -> LoadCurves:
    return LoadCurves(capacity=c.capacity[mask], rates=c.rates[mask],
                      latency_ms={k: v[mask] for k, v in c.latency_ms.items()},
                      max_batch=c.max_batch[mask])


def _prune(p: Prepared) -> Prepared:
    """Keep, per (plan key, hardware), the KEEP_PER_HARDWARE cheapest shapes per SLO capacity."""
    if not len(p.cand):
        return p
    per_unit = p.cost_per_hour / p.rate
    order = np.lexsort((per_unit, p.cand.hardware, p.key))
    group = np.column_stack([p.key[order], p.cand.hardware[order]])
    new_group = np.r_[True, np.any(group[1:] != group[:-1], axis=1)]
    position = np.arange(len(order)) - np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    keep = np.zeros(len(order), dtype=bool)
    keep[order[position < KEEP_PER_HARDWARE]] = True
    p.cand.keep(keep, "dominated: a cheaper shape per unit of SLO capacity on the same hardware")
    return Prepared(cand=p.cand, curves=_take_curves(p.curves, keep), rate=p.rate[keep], rung=p.rung[keep],
                    cost_per_hour=p.cost_per_hour[keep], key=p.key[keep], enumerated=p.enumerated)


def max_cost_per_hour(w: Workload, one_time: float = 0.0) -> float | None:
    """The tightest hourly serving cost the budget allows (None = unlimited)."""
    limits = []
    b = w.budget
    if b.max_cost_per_month is not None:
        limits.append((b.max_cost_per_month - one_time / b.horizon_months) / HOURS_PER_MONTH)
    if b.max_cost_per_million_tokens is not None:
        tokens_per_hour = w.traffic.requests_per_s * w.traffic.output_tokens.mean * 3600.0
        limits.append(b.max_cost_per_million_tokens * tokens_per_hour / 1e6)
    return min(limits) if limits else None


def _options(p: Prepared, rows: np.ndarray) -> list[Option]:
    t = p.cand.tables
    return [Option(index=int(i), hardware=t.hardware_ids[p.cand.hardware[i]], chips=int(p.cand.chips[i]),
                   rate=float(p.rate[i]), cost_per_hour=float(p.cost_per_hour[i])) for i in rows]


def _key_order(p: Prepared, w: Workload, objective: Objective) -> list[int]:
    """Plan keys, most promising first for the objective."""
    keys = np.unique(p.key)
    demand = w.traffic.peak
    bound = np.array([demand * np.min(p.cost_per_hour[p.key == k] / p.rate[p.key == k]) for k in keys])
    quality = np.array([np.nan_to_num(p.cand.quality[p.key == k][0], nan=-1.0) for k in keys])
    e2e = p.curves.latency_ms[("e2e_ms", 99)][:, 0]
    latency = np.array([np.nanmin(e2e[p.key == k]) for k in keys])
    by_cost = list(keys[np.argsort(bound, kind="stable")])
    if objective is Objective.COST:
        return [int(k) for k in by_cost]
    by_other = list(keys[np.lexsort((bound, -quality))] if objective is Objective.QUALITY
                    else keys[np.lexsort((bound, latency))])
    merged = [k for pair in zip(by_other, by_cost, strict=True) for k in pair]
    return [int(k) for k in dict.fromkeys(merged)]


def solve_prepared(p: Prepared, w: Workload, *, objective: Objective, top: int,
                   time_limit_s: float, deadline: float) -> tuple[list[tuple[int, Solution]], int, str]:
    """Solve plan keys in promising order; stop when the next bound cannot enter the top-K."""
    found: list[tuple[int, Solution]] = []
    solves, status = 0, "NO_CANDIDATES" if not len(p.cand) else "INFEASIBLE"
    budget_hour = max_cost_per_hour(w)
    c = w.constraints
    max_keys = 4 * top + 8
    for k in _key_order(p, w, objective)[:max_keys]:
        rows = np.flatnonzero(p.key == k)
        lower = w.traffic.peak * float(np.min(p.cost_per_hour[rows] / p.rate[rows]))
        costs = sorted(s.cost_per_hour for _, s in found)
        if objective is Objective.COST and len(costs) >= 2 * top and lower > costs[2 * top - 1]:
            break
        if time.perf_counter() > deadline:
            status = "TIME_LIMIT"
            break
        banned: tuple[frozenset[str], ...] = ()
        for _attempt in range(2):  # the best mix, then one with a different hardware set
            sol = solve_mix(_options(p, rows), demand=w.traffic.peak, max_types=c.max_hardware_types,
                            quotas=dict(c.quotas), max_cost_per_hour=budget_hour,
                            forbid_type_sets=banned, time_limit_s=time_limit_s)
            solves += 1
            if not sol.counts:
                break
            status = "OPTIMAL" if sol.status == "OPTIMAL" and status != "FEASIBLE" else sol.status
            found.append((k, sol))
            banned = (*banned, frozenset(p.cand.tables.hardware_ids[p.cand.hardware[i]] for i in sol.counts))
    return found, solves, status


def plan(workload: Workload, catalog: Catalog, *, top: int = 5, objective: Objective = Objective.COST,
         time_limit_s: float = 10.0, tables: CatalogTables | None = None,
         explain: bool = True) -> PlanResult:
    """Ranked deployment plans for a workload (see the module docstring)."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    tables = tables or CatalogTables.from_catalog(catalog)
    prep = prepare(catalog, tables, workload)
    found, solves, status = solve_prepared(prep, workload, objective=objective, top=top,
                                           time_limit_s=max(0.2, min(2.0, time_limit_s / 4)),
                                           deadline=deadline)
    pool = build_plans(catalog, prep, workload, found)
    ranked = rank_plans(pool, workload, objective)
    plans, pareto = mark_pareto(ranked, top)
    infeasible: Infeasible | None = None
    if not plans and explain:
        from planner.explain import explain_infeasible

        infeasible = explain_infeasible(catalog, tables, workload, prep, objective=objective)
    dropped = dict(prep.cand.dropped)
    stats = SearchStats(candidates=prep.enumerated, evaluated=len(prep.cand) + sum(
        v for k, v in dropped.items() if k.startswith(("misses a latency SLO at every", "dominated"))),
        pruned=sum(dropped.values()), solver_status=status, solves=solves,
        elapsed_ms=(time.perf_counter() - start) * 1e3, dropped=dropped)
    return PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans),
                      pareto=tuple(pareto), infeasible=infeasible, search=stats)

