"""One search: prepare the candidates, branch and bound, build, rank and mark the Pareto front."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.branch_bound import solve_prepared
from planner.search.build import build_plans
from planner.search.prepare import Prepared, prepare
from planner.search.rank import mark_pareto, rank_plans
from planner.search.results import PlanResult, SearchStats
from planner.workload import Objective, Workload

__all__ = ["Searched", "run_search"]


@dataclass(frozen=True)
class Searched:
    """A search's result and the prepared candidates it ran on (what an explanation reads)."""

    result: PlanResult
    prepared: Prepared
    started: float  # time.perf_counter() at its start


def run_search(workload: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
               tables: CatalogTables | None = None, any_plan: bool = False) -> Searched:
    """Ranked plans for a workload, without explaining an empty answer (``planner.search.planning``)."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    tables = tables or CatalogTables.from_catalog(catalog)
    prep = prepare(catalog, tables, workload)
    outcome = solve_prepared(prep, workload, objective=objective, top=top, any_plan=any_plan,
                             time_limit_s=max(0.2, min(2.0, time_limit_s / 4)), deadline=deadline)
    pool = build_plans(catalog, prep, workload, outcome.found)
    ranked = rank_plans(pool, workload, objective)
    plans, pareto = mark_pareto(ranked, top)
    dropped = dict(prep.cand.dropped)
    unevaluated = int(np.isnan(prep.rate).sum())
    stats = SearchStats(candidates=prep.enumerated, evaluated=prep.evaluated,
                        pruned=sum(dropped.values()) + unevaluated, solver_status=outcome.status,
                        solves=outcome.solves, elapsed_ms=(time.perf_counter() - start) * 1e3, dropped=dropped,
                        unpriced=prep.cand.unpriced,
                        gap=outcome.gap, stop=str(outcome.stop))
    result = PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans),
                        pareto=tuple(pareto), infeasible=None, search=stats)
    return Searched(result, prep, start)
