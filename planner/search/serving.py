"""Serving shapes: which features (prefix caching, speculative decoding) a plan runs with, and why.

Each feature the workload opts into (``constraints.serving``: allowed = compare with and without,
required = only with, forbidden or unstated = without; prefix caching is compared whenever
``traffic.prefix`` is given and it is not forbidden) adds variants; each variant is one search
(``planner.search.run``) with its ``Served`` transform and only the runtimes whose support matrix
lists the features on the chip's family. Speculative decoding splits by drafter: MTP for models
shipping MTP modules, EAGLE for the others that have a published EAGLE head (``Model.eagle_head``).
The variants' plans are pooled and ranked together; each plan says which features it uses and,
when shapes were compared, why it won.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import replace

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.model.serving import Served, drafter_for, uses_mtp
from planner.search.rank import mark_pareto, rank_plans
from planner.search.results import Plan, PlanResult
from planner.search.run import Searched, run_search
from planner.text import compared_with
from planner.workload import Objective, Workload, demand_warnings

__all__ = ["plan_served", "variants"]


def variants(catalog: Catalog, w: Workload) -> list[tuple[Served, Workload]]:
    """(features, the workload restricted to the models they apply to) of every shape to compare."""
    rule = w.constraints.serving_rule
    prefix = w.traffic.prefix
    prefix_options: list[Served] = [Served()]
    if prefix is not None and prefix.cached_tokens > 0 and rule("prefix_caching") != "forbidden":
        on = Served(prefix_tokens=prefix.cached_tokens, shared_tokens=prefix.shared_tokens)
        prefix_options = [on] if rule("prefix_caching") == "required" else [on, Served()]
    spec = w.constraints.serving.get("speculative")  # unstated: not searched (opt-in)
    methods: list[str | None] = [None] if spec in (None, "forbidden") else \
        (["mtp", "eagle"] if spec == "required" else [None, "mtp", "eagle"])
    out = []
    allowed = w.constraints.models or tuple(catalog.models)
    for base, method in itertools.product(prefix_options, methods):
        models = allowed if method is None else tuple(
            m for m in allowed if uses_mtp(catalog.models[m]) == (method == "mtp"))
        if not models:
            continue
        served = replace(base, drafter=None if method is None else drafter_for(method))
        out.append((served, replace(w, constraints=replace(w.constraints, models=models))))
    return out


def plan_served(workload: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
                tables: CatalogTables, any_plan: bool) -> Searched | None:
    """Search every serving shape and pool their plans (None: one plain shape, nothing to compare)."""
    shapes = variants(catalog, workload)
    if len(shapes) == 1 and not shapes[0][0].features:
        return None
    start = time.perf_counter()
    searched = [run_search(w, catalog, top=top, objective=objective, tables=tables, any_plan=any_plan,
                           time_limit_s=max(0.5, time_limit_s / len(shapes)), served=served)
                for served, w in shapes]
    found = [p for s in searched for p in s.result.plans]
    pool = [replace(p, why=_why(p, found)) for p in found]
    plans, pareto = mark_pareto(rank_plans(pool, workload, objective), top)
    first = searched[0].result
    stats = replace(first.search, elapsed_ms=(time.perf_counter() - start) * 1e3,
                    candidates=sum(s.result.search.candidates for s in searched),
                    evaluated=sum(s.result.search.evaluated for s in searched),
                    solves=sum(s.result.search.solves for s in searched),
                    solver_status=_weakest([s.result.search.solver_status for s in searched], found=bool(found)))
    result = PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans), pareto=tuple(pareto),
                        infeasible=None, search=stats, warnings=demand_warnings(workload),
                        slo=tuple(workload.slo.items()))
    best = min(searched, key=lambda s: s.result.plans[0].cost.per_month if s.result.plans else float("inf"))
    return Searched(result, best.prepared, start)


def _weakest(statuses: list[str], *, found: bool) -> str:
    """The pooled status of the serving shapes' searches: TIME_LIMIT where any stopped at its limit; with plans,
    FEASIBLE where any shape's search did not prove its own best (a shape with no candidates or proven infeasible
    proves it has none, which weakens nothing: it said NO_CANDIDATES over plans found, having ranked lowest);
    without, INFEASIBLE where any shape had candidates, else NO_CANDIDATES."""
    if "TIME_LIMIT" in statuses:
        return "TIME_LIMIT"
    if found:
        return "FEASIBLE" if "FEASIBLE" in statuses else "OPTIMAL"
    return "NO_CANDIDATES" if all(s == "NO_CANDIDATES" for s in statuses) else "INFEASIBLE"


def _why(p: Plan, pool: list[Plan]) -> str:
    """What the plan's features buy against the best plan of the same model without them."""
    others = [q for q in pool if q.model == p.model and q.features != p.features]
    if not others:
        return ""
    q = min(others, key=lambda x: x.cost.per_month)
    used = ", ".join(p.features) or "no serving features"
    alt = ", ".join(q.features) or "no serving features"
    saving = q.cost.per_month - p.cost.per_month
    tpot = (p.predicted.get("tpot_ms_p50", 0.0), q.predicted.get("tpot_ms_p50", 0.0))
    ttft = (p.predicted.get("ttft_ms_p50", 0.0), q.predicted.get("ttft_ms_p50", 0.0))
    return (f"{used} {compared_with(saving, f'the best plan of {p.model} with {alt} (${q.cost.per_month:,.0f})')}; "
            f"p50 TTFT {ttft[0]:.0f} vs {ttft[1]:.0f} ms, p50 TPOT {tpot[0]:.1f} vs {tpot[1]:.1f} ms")
