"""One search: prepare the candidates, branch and bound, build, rank and mark the Pareto front."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.model.serving import Served
from planner.search.branch_bound import key_limit, solve_prepared
from planner.search.build import build_plans
from planner.search.rank import mark_pareto, rank_plans
from planner.search.results import Plan, PlanResult, SearchStats
from planner.search.shapes.prepare import Memo, Prepared, prepare
from planner.workload import Objective, Workload, demand_warnings

__all__ = ["Searched", "run_search"]

# One CP-SAT call's time limit: a quarter of the search's, within [MIN_SOLVE_S, MAX_SOLVE_S]. A guard,
# not a tuning: the examples' mix models solve in ~1.5 ms each (51 solves in 73 ms, code-assistant,
# bench/plan_bench.py); the bounds keep one pathological model from eating a whole deadline (0.2 s
# is still ~100x a typical solve) or, for a long --time-limit, from running unchecked for minutes.
MIN_SOLVE_S, MAX_SOLVE_S = 0.2, 2.0


@dataclass(frozen=True)
class Searched:
    """A search's result and the prepared candidates it ran on (what an explanation reads)."""

    result: PlanResult
    prepared: Prepared
    started: float  # time.perf_counter() at its start


def _within_carbon(plans: list[Plan], w: Workload, prep: Prepared) -> list[Plan]:
    """Plans within ``budget.max_kgco2e_per_month`` (a plan whose carbon is unknown does not pass it).

    Applied to the plans the search found, not inside the solver: emissions depend on the plan's
    utilisation, which the solver's per-replica costs do not carry.
    """
    limit = w.budget.max_kgco2e_per_month
    if limit is None:
        return plans
    def kg(p: Plan) -> float | None:
        return p.cost.energy.kgco2e_per_month if p.cost.energy is not None else None
    kept = [p for p in plans if (k := kg(p)) is not None and k <= limit]
    if len(kept) < len(plans):
        prep.cand.dropped["plan over budget.max_kgco2e_per_month (or its carbon unknown)"] += len(plans) - len(kept)
    return kept


def _meeting_slos(plans: list[Plan], w: Workload, prep: Prepared) -> list[Plan]:
    """Plans whose latencies at their own load meet every SLO target.

    A replica's capacity is the highest rung of a ladder of loads at which the targets hold, the
    rungs below taken to hold too (latency rising with load). Where the queueing model's latency is
    not monotone in load (an iteration time that jumps with the batch, as a token budget's prompt
    count does, spikes the feedback gain at one load: deepseek-v3 on B300 with TGI, TTFT p99 145 ms at
    6.3 req/s, 2,848 ms at 6.5, 187 ms at 6.7), a plan could carry a load below its capacity rung
    at which it misses a target and print it: such a plan is dropped and counted, never returned.
    """
    def meets(p: Plan) -> bool:
        return all(p.predicted.get(f"{metric}_p{pct}", math.inf) <= limit * (1 + 1e-9)
                   for metric, pct, limit in w.slo.items())
    kept = [p for p in plans if meets(p)]
    if len(kept) < len(plans):
        prep.cand.dropped["plan misses an SLO at its own load below its capacity rung (latency not monotone in load "
                          "there)"] += len(plans) - len(kept)
    return kept


def sheet_skipped(workload: Workload, catalog: Catalog) -> tuple[str, ...]:
    """Chips the workload's price sheet (inline or ``--prices``) prices and the catalog lacks: their offers
    price nothing (a sheet may cover more chips than one catalog has; a typo shows here too)."""
    sheet = workload.constraints.pricing.sheet
    return tuple(sorted({o.hardware for o in sheet.offers} - set(catalog.hardware))) if sheet is not None else ()


def run_search(workload: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
               tables: CatalogTables | None = None, any_plan: bool = False, served: Served | None = None,
               memo: Memo | None = None) -> Searched:
    """Ranked plans for a workload, without explaining an empty answer (``planner.search.planning``);
    ``memo``: where capacity answers are kept and taken (``prepare``; by default the tables' store)."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    tables = tables or CatalogTables.from_catalog(catalog)
    # the cost objective's key order is by bound: keys past its limit need no screening (prepare's prefix)
    prefix = key_limit(objective) if objective is Objective.COST else None
    prep = prepare(catalog, tables, workload, served, prefix=prefix, memo=memo)
    solve_s = max(MIN_SOLVE_S, min(MAX_SOLVE_S, time_limit_s / 4))  # one CP-SAT call's limit
    outcome = solve_prepared(prep, workload, objective=objective, top=top, any_plan=any_plan,
                             time_limit_s=solve_s, deadline=deadline)
    if outcome.status == "INFEASIBLE" and not any_plan and prep.outside is not None and len(prep.outside):
        # no plan (the same answer; unscreened keys lie past the key limit): an explanation reads
        # why every candidate was dropped, so screen them all
        prep = prepare(catalog, tables, workload, served, memo=prep.memo)
        outcome = solve_prepared(prep, workload, objective=objective, top=top, any_plan=any_plan,
                                 time_limit_s=solve_s, deadline=deadline)
    pool = _within_carbon(_meeting_slos(build_plans(catalog, prep, workload, outcome.found), workload, prep),
                          workload, prep)
    ranked = rank_plans(pool, workload, objective)
    plans, pareto = mark_pareto(ranked, top)
    dropped = dict(prep.cand.dropped)
    unevaluated = int(np.isnan(prep.rate).sum())
    stats = SearchStats(candidates=prep.enumerated, evaluated=prep.evaluated,
                        pruned=sum(dropped.values()) + unevaluated, solver_status=outcome.status,
                        solves=outcome.solves, elapsed_ms=(time.perf_counter() - start) * 1e3, dropped=dropped,
                        unpriced=prep.cand.unpriced, sheet_skipped=sheet_skipped(workload, catalog),
                        gap=outcome.gap, stop=str(outcome.stop))
    result = PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans),
                        pareto=tuple(pareto), infeasible=None, search=stats, warnings=demand_warnings(workload),
                        slo=tuple(workload.slo.items()))
    return Searched(result, prep, start)
