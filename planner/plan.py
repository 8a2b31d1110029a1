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
from planner.capacity import UTILIZATION, LoadCurves, screen, search_capacity
from planner.domain import Catalog
from planner.grid import Array, CatalogTables
from planner.plan_build import build_plans
from planner.queueing import PERCENTILES
from planner.rank import mark_pareto, rank_plans
from planner.results import Infeasible, PlanResult, SearchStats
from planner.solver import Option, Solution, solve_mix
from planner.workload import HOURS_PER_MONTH, METRICS, Objective, Workload

__all__ = ["Prepared", "plan", "prepare", "solve_prepared"]

KEEP_PER_HARDWARE = 3  # replica shapes kept per plan key and hardware after pruning
KEYS_PER_ROUND = 6  # plan keys whose load curves are evaluated together
SPARE = 2  # plans kept beyond top-K before bounding, since near-duplicates are dropped later


@dataclass
class Prepared:
    """Screened candidates; load curves and SLO capacity are filled in lazily per plan key."""

    cand: Candidates
    raw_capacity: Array  # requests/s per replica at the largest concurrency that fits
    cost_per_hour: Array  # per replica
    key: Array  # plan-key id per candidate
    enumerated: int
    curves: LoadCurves  # rows not yet evaluated hold NaN latencies
    rate: Array  # SLO capacity per replica (NaN = not evaluated, 0 = meets no SLO level)
    rung: Array
    evaluated: int = 0

    def evaluate(self, rows: np.ndarray, w: Workload) -> None:
        """Run the queueing model on ``rows`` at every utilisation rung; fill curves and rate."""
        rows = rows[np.isnan(self.rate[rows])]
        if not len(rows):
            return
        sub, rate, rung = search_capacity(self.cand.grid(rows), w.traffic, self.raw_capacity[rows], w.slo)
        for k, v in sub.latency_ms.items():
            self.curves.latency_ms[k][rows] = v
        self.curves.rates[rows] = sub.rates
        self.curves.max_batch[rows] = sub.max_batch
        self.rate[rows], self.rung[rows] = rate, rung
        self.evaluated += len(rows)

    def lower_bound(self, k: int, demand: float) -> float:
        """Optimistic cost of key k: fractional replicas at SLO capacity (raw capacity if unknown)."""
        rows = self.key == k
        cap = np.where(np.isnan(self.rate[rows]), self.raw_capacity[rows], self.rate[rows])
        with np.errstate(divide="ignore"):
            return float(demand * np.min(self.cost_per_hour[rows] / cap))


def prepare(catalog: Catalog, tables: CatalogTables, w: Workload) -> Prepared:
    """Enumerate, screen (memory, no-load SLO) and prune; no queueing model yet."""
    cand = enumerate_candidates(catalog, tables, w)
    enumerated = len(cand) + sum(cand.dropped.values())
    ok, capacity, max_batch = screen(cand.grid(), w.traffic, w.slo) if len(cand) else (
        np.zeros(0, bool), np.zeros(0), np.zeros(0))
    fits = max_batch >= 1
    cand.keep(fits, "does not fit in memory (weights + KV of one sequence)")
    ok, capacity = ok[fits], capacity[fits]
    cand.keep(ok, "misses a latency SLO even with no load")
    capacity = capacity[ok]
    cost = cand.price_per_chip_hour * cand.chips
    key_cols = np.column_stack([cand.model, cand.precision, cand.kv_precision, cand.runtime])
    key = np.unique(key_cols, axis=0, return_inverse=True)[1].ravel() if len(cand) else np.zeros(0, int)
    keep = _dominance(key, cand.hardware, cost / np.maximum(capacity, 1e-300))
    cand.keep(keep, "dominated: a cheaper shape per unit of capacity on the same hardware")
    n = len(cand)
    rungs = len(UTILIZATION)
    curves = LoadCurves(capacity=capacity[keep], rates=np.full((n, rungs), np.nan),
                        latency_ms={(m, p): np.full((n, rungs), np.nan) for m in METRICS for p in PERCENTILES},
                        max_batch=np.zeros(n))
    return Prepared(cand=cand, raw_capacity=capacity[keep], cost_per_hour=cost[keep], key=key[keep],
                    enumerated=enumerated, curves=curves, rate=np.full(n, np.nan), rung=np.full(n, -1))


def _dominance(key: np.ndarray, hardware: np.ndarray, per_unit: np.ndarray) -> np.ndarray:
    """Per (plan key, hardware), True for the KEEP_PER_HARDWARE cheapest shapes per unit capacity."""
    if not len(key):
        return np.zeros(0, dtype=bool)
    order = np.lexsort((per_unit, hardware, key))
    group = np.column_stack([key[order], hardware[order]])
    new_group = np.r_[True, np.any(group[1:] != group[:-1], axis=1)]
    idx = np.arange(len(order))
    position = idx - np.maximum.accumulate(np.where(new_group, idx, 0))
    keep = np.zeros(len(order), dtype=bool)
    keep[order[position < KEEP_PER_HARDWARE]] = True
    return keep


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
                   rate=float(p.rate[i]), cost_per_hour=float(p.cost_per_hour[i]))
            for i in rows if p.rate[i] > 0]


def _key_order(p: Prepared, w: Workload, objective: Objective) -> list[int]:
    """Plan keys, most promising first for the objective (cost: by optimistic lower bound)."""
    keys = np.unique(p.key)
    bound = np.array([p.lower_bound(int(k), w.traffic.peak) for k in keys])
    by_cost = [int(k) for k in keys[np.argsort(bound, kind="stable")]]
    if objective is Objective.COST:
        return by_cost
    quality = np.array([np.nan_to_num(p.cand.quality[p.key == k][0], nan=-1.0) for k in keys])
    speed = np.array([np.max(p.raw_capacity[p.key == k]) for k in keys])  # proxy for low latency
    other = keys[np.lexsort((bound, -quality))] if objective is Objective.QUALITY else \
        keys[np.lexsort((bound, -speed))]
    merged = [int(k) for pair in zip(other, by_cost, strict=True) for k in pair]
    return list(dict.fromkeys(merged))


def solve_prepared(p: Prepared, w: Workload, *, objective: Objective, top: int,
                   time_limit_s: float, deadline: float) -> tuple[list[tuple[int, Solution]], int, str]:
    """Branch and bound over plan keys: evaluate a round of promising keys, solve each, and stop
    when the next key's optimistic bound cannot enter the top-K (cost) or enough keys were tried."""
    found: list[tuple[int, Solution]] = []
    solves, status = 0, "NO_CANDIDATES" if not len(p.cand) else "INFEASIBLE"
    order = _key_order(p, w, objective)
    max_keys = 4 * top + 8
    for start in range(0, min(len(order), max_keys), KEYS_PER_ROUND):
        round_keys = order[start:start + KEYS_PER_ROUND]
        if objective is Objective.COST and _pruned_by_bound(p, w, round_keys[0], found, top):
            break
        if time.perf_counter() > deadline:
            status = "TIME_LIMIT"
            break
        p.evaluate(np.flatnonzero(np.isin(p.key, round_keys)), w)
        for k in round_keys:
            if objective is Objective.COST and _pruned_by_bound(p, w, k, found, top):
                continue
            diverse = objective is not Objective.COST or len(found) < top  # an alternative hardware set
            new, n_solves, st = _solve_key(p, w, k, time_limit_s, attempts=2 if diverse else 1)
            solves += n_solves
            found.extend((k, sol) for sol in new)
            if new:
                status = st if status in ("INFEASIBLE", "NO_CANDIDATES", "OPTIMAL") else status
    return found, solves, status


def _pruned_by_bound(p: Prepared, w: Workload, k: int, found: list[tuple[int, Solution]], top: int) -> bool:
    """True when key k's optimistic cost exceeds the (top + SPARE)-th cheapest plan found."""
    costs = sorted(s.cost_per_hour for _, s in found)
    need = top + SPARE
    return len(costs) >= need and p.lower_bound(k, w.traffic.peak) > costs[need - 1]


def _solve_key(p: Prepared, w: Workload, k: int, time_limit_s: float, *,
               attempts: int) -> tuple[list[Solution], int, str]:
    """The cheapest mix for key k, then (attempts=2) one with a different hardware set."""
    options = _options(p, np.flatnonzero(p.key == k))
    if not options:
        return [], 0, "INFEASIBLE"
    c = w.constraints
    pick = p.cand.choice(int(np.flatnonzero(p.key == k)[0]))
    one_time = pick.one_time if pick is not None else 0.0  # amortised into the monthly budget
    out: list[Solution] = []
    banned: tuple[frozenset[str], ...] = ()
    status = "INFEASIBLE"
    solves = 0
    for _attempt in range(attempts):
        solves += 1
        sol = solve_mix(options, demand=w.traffic.peak, max_types=c.max_hardware_types,
                        quotas=dict(c.quotas), max_cost_per_hour=max_cost_per_hour(w, one_time),
                        forbid_type_sets=banned, time_limit_s=time_limit_s)
        if not sol.counts:
            break
        status = sol.status
        out.append(sol)
        banned = (*banned, frozenset(o.hardware for o in options if o.index in sol.counts))
    return out, solves, status


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
    unevaluated = int(np.isnan(prep.rate).sum())
    stats = SearchStats(candidates=prep.enumerated, evaluated=prep.evaluated,
                        pruned=sum(dropped.values()) + unevaluated, solver_status=status, solves=solves,
        elapsed_ms=(time.perf_counter() - start) * 1e3, dropped=dropped)
    return PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans),
                      pareto=tuple(pareto), infeasible=infeasible, search=stats)

