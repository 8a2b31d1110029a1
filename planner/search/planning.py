"""The planner: candidates -> SLO capacity -> pruning -> CP-SAT replica mixes -> ranked plans.

1. Enumerate runnable replica configurations within the constraints (``planner.search.shapes.candidates``;
   static filters on factor tables, survivors as rows of the catalog's ``Universe``).
2. Drop those that do not fit in memory or miss an SLO even with no load, and bound each one's
   SLO capacity from above without the queueing model (``capacity.slo_ceiling``). For the cost
   objective only the plan keys that can be among the first ``KEY_LIMIT_COST`` of step 4's order
   are screened, found in order of a roofline floor on their cost (``planner.search.shapes.roofline``);
   memory and time follow the keys screened, not the catalog's product.
3. Prune dominated shapes: per plan key (model, precision, KV precision, runtime) and hardware,
   keep the few cheapest per unit of that ceiling.
4. Branch and bound over plan keys (``branch_bound.BranchAndBound``) in order of a valid lower
   bound on their cost (fractional replicas at capacity, at least ceil(demand / largest replica)
   of the cheapest replica, per set of at most ``max_hardware_types`` hardware types): a round of keys goes through the
   queueing model together, which replaces their ceilings with SLO capacities (the highest
   rung of a load ladder meeting every percentile, ``capacity.search_capacity``); CP-SAT then
   picks each key's integer replica counts, possibly a mix, that carry the peak load within
   quotas and budget at least cost (``planner.search.mix.solver``), and once more with that hardware set
   banned. Keys whose bound cannot enter the top-K are skipped. The search is exhaustive, and
   the status OPTIMAL, when every key is solved or pruned; it stops at the key limit
   (``KEY_LIMIT_COST`` / ``KEY_LIMIT_OTHER``: status FEASIBLE, with the proven ``gap``) or at the
   deadline (TIME_LIMIT). Aggregated and disaggregated shapes and serving features are searched as
   variants and pooled (``planner.search.serving``).
5. Rank by the objective, mark the Pareto front, and explain binding constraints; when nothing
   fits, ``planner.search.explain`` finds verified relaxations.
"""

from __future__ import annotations

import time
from dataclasses import replace

from planner.domain import Catalog, accuracy_of
from planner.model.grid import CatalogTables
from planner.search.disagg import compare, disaggregated_plans
from planner.search.explain import explain_infeasible
from planner.search.rank import mark_pareto, rank_plans
from planner.search.results import Plan, PlanResult
from planner.search.run import Searched, run_search
from planner.search.serving import plan_served
from planner.workload import Objective, Workload

__all__ = ["REPLAN_FLOOR_S", "best_plan", "plan"]

# a re-plan whose caller's deadline has passed still searches this long, so that it can return the first plan
# it finds; the answer is then marked unproven (a search cut at its deadline proves nothing)
REPLAN_FLOOR_S = 0.05


def plan(workload: Workload, catalog: Catalog, *, top: int = 5, objective: Objective = Objective.COST,
         time_limit_s: float = 10.0, tables: CatalogTables | None = None,
         explain: bool = True, any_plan: bool = False) -> PlanResult:
    """Ranked deployment plans for a workload (see the module docstring); when none fits and
    ``explain``, the reasons and verified relaxations."""
    tables = tables or CatalogTables.from_catalog(catalog)
    named = _alias_notes(workload, catalog)
    workload = _canonical_models(workload, catalog)
    searched = plan_served(workload, catalog, top=top, objective=objective, time_limit_s=time_limit_s,
                           tables=tables, any_plan=any_plan) or \
        run_search(workload, catalog, top=top, objective=objective, time_limit_s=time_limit_s,
                   tables=tables, any_plan=any_plan)
    rule = workload.constraints.serving.get("disaggregation")  # unstated: not searched (opt-in)
    if rule in ("allowed", "required"):  # planner.search.disagg: compare with two-pool plans
        searched = _with_disaggregated(searched, workload, catalog, rule, top=top, objective=objective,
                                       time_limit_s=time_limit_s, tables=tables)
    result = replace(searched.result, accuracy=accuracy_of(catalog.calibration),
                     warnings=searched.result.warnings + named)
    if result.plans or not explain or result.search.solver_status == "TIME_LIMIT":
        return result  # a search cut short by its deadline proves no infeasibility
    infeasible = explain_infeasible(catalog, tables, workload, searched.prepared, objective=objective,
                                    deadline=searched.started + time_limit_s, search=_unexplained)
    stats = replace(result.search, elapsed_ms=(time.perf_counter() - searched.started) * 1e3)
    return replace(result, infeasible=infeasible, search=stats)


def best_plan(workload: Workload, catalog: Catalog, *, tables: CatalogTables, objective: Objective,
              time_limit_s: float) -> tuple[Plan | None, bool]:
    """A what-if re-plan (``planner.search.iteration_range``, ``planner.search.measured_replan``): the best plan of
    ``workload`` on a variant ``catalog``, in ``time_limit_s`` (at least REPLAN_FLOOR_S), and whether its search
    finished (False: it stopped at the deadline, and the plan, or its absence, is unproven)."""
    result = plan(workload, catalog, top=1, objective=objective, time_limit_s=max(time_limit_s, REPLAN_FLOOR_S),
                  tables=tables, explain=False)
    return (result.plans[0] if result.plans else None), result.search.solver_status != "TIME_LIMIT"


def _unexplained(w: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
                 tables: CatalogTables, any_plan: bool) -> PlanResult:
    """``plan`` without an explanation: how ``explain_infeasible`` plans a relaxed workload."""
    return plan(w, catalog, top=top, objective=objective, time_limit_s=time_limit_s, tables=tables, explain=False,
                any_plan=any_plan)


def _canonical_models(workload: Workload, catalog: Catalog) -> Workload:
    """The workload with model aliases in ``constraints.models`` replaced by the catalog's ids (as
    ``hwplan estimate --model`` takes them: llama-3.2-1b-instruct is llama-3.2-1b); an unknown name
    stays, for the search to name it."""
    names = workload.constraints.models
    if names is None:
        return workload
    ids = tuple(dict.fromkeys(_model_id(catalog, name) for name in names))
    return workload if ids == names else replace(workload, constraints=replace(workload.constraints, models=ids))


def _alias_notes(workload: Workload, catalog: Catalog) -> tuple[str, ...]:
    """A line per model named by an instruct alias whose catalog entry holds the instruct checkpoint's own score: the
    plan is of the catalog's id (the same shape and speed), and its 'general' quality is the base model's 5-shot MMLU
    (a quality audit: llama-3.2-1b-instruct printed 32.2, the base's, where the instruct model's MMLU is 49.3)."""
    if workload.quality.task != "general":
        return ()
    out = []
    for name in workload.constraints.models or ():
        mid = _model_id(catalog, name)
        m = catalog.models.get(mid)
        if mid != name and m is not None and "mmlu_instruct" in m.quality and "mmlu" in m.quality:
            out.append(f"{name} is planned as {mid} (the same weights' shape and speed): its 'general' quality is "
                       f"{mid}'s base 5-shot MMLU, {m.quality['mmlu']:g}; the instruct checkpoint's published MMLU is "
                       f"{m.quality['mmlu_instruct']:g} (quality.task: mmlu_instruct ranks by it); `hwplan export` "
                       f"serves {mid}'s own repository, the base weights: point it at the instruct checkpoint")
    return tuple(out)


def _model_id(catalog: Catalog, name: str) -> str:
    if name in catalog.models:
        return name
    return model.id if (model := catalog.aliased(name)) is not None else name


def _with_disaggregated(searched: Searched, workload: Workload, catalog: Catalog, rule: str, *, top: int,
                        objective: Objective, time_limit_s: float, tables: CatalogTables) -> Searched:
    """The search's plans pooled with disaggregated ones, ranked together, each saying why. The two-pool search gets
    the time left of ``time_limit_s``; the search's figures cover it too: its time (it had stopped at the aggregated
    search's end: the disaggregated examples' `search ... ms` read 67-74 ms where the whole took 130-160), the
    configurations, evaluations and solves of every pool search, and TIME_LIMIT where one stopped at its limit (a
    cut search proves nothing). Otherwise the status stays the aggregated search's: the pools' own searches rank
    the pairs the comparison draws from, and their proofs are of those lists."""
    left = time_limit_s - (time.perf_counter() - searched.started)
    two = disaggregated_plans(workload, catalog, top=top, objective=objective, time_limit_s=max(left, REPLAN_FLOOR_S),
                              tables=tables)
    pool = compare(list(searched.result.plans), two.plans, rule)
    plans, pareto = mark_pareto(rank_plans(pool, workload, objective), top)
    first = searched.result.search
    every = (first, *two.searches)
    cut = any(s.solver_status == "TIME_LIMIT" for s in two.searches)
    stats = replace(first, elapsed_ms=(time.perf_counter() - searched.started) * 1e3,
                    candidates=sum(s.candidates for s in every), evaluated=sum(s.evaluated for s in every),
                    solves=sum(s.solves for s in every), solver_status="TIME_LIMIT" if cut else first.solver_status)
    result = replace(searched.result, plans=tuple(plans), pareto=tuple(pareto), search=stats)
    return Searched(result, searched.prepared, searched.started)
