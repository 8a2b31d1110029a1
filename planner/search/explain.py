"""Why a workload has no plan, and the nearest relaxations that would give it one.

Each relaxation changes one constraint, finds the value a plan needs by solving without that
constraint, then re-solves with the constraint set to exactly that value; only relaxations that
this second solve confirms are reported.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Protocol

from planner.domain import Catalog
from planner.economics.rates import TERM_MONTHS
from planner.levers.adaptation import choose, confidence, floor_score
from planner.model.grid import CatalogTables
from planner.search.results import Infeasible, PlanResult, Relaxation
from planner.search.run import run_search
from planner.search.shapes.prepare import Prepared
from planner.search.stop import passed
from planner.text import plain
from planner.workload import Objective, Slo, Workload

__all__ = ["explain_infeasible"]

STAGE_HINTS = {
    "quality below min_score": "the quality floor excludes them",
    "misses a latency SLO even with no load": "too slow for an SLO even when idle",
}


# the explanation's deadline (time.perf_counter), set by explain_infeasible: each re-plan gets the
# time left, so the whole explanation ends by it
_DEADLINE: ContextVar[float | None] = ContextVar("explain_deadline", default=None)


def _time_left() -> float:
    deadline = _DEADLINE.get()
    return 10.0 if deadline is None else max(0.05, deadline - time.perf_counter())


def _before_deadline() -> bool:
    return not passed(_DEADLINE.get())


class Search(Protocol):
    """How a relaxed workload is planned: as the planner plans it (``planner.search.planning.plan``
    without the explanation: with its serving features and disaggregated shapes, so that a
    relaxation is minimal over the plans the user could get and never admits only a shape the
    workload rules out), or the aggregated search alone."""

    def __call__(self, w: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
                 tables: CatalogTables, any_plan: bool) -> PlanResult: ...


def _aggregated(w: Workload, catalog: Catalog, *, top: int, objective: Objective, time_limit_s: float,
                tables: CatalogTables, any_plan: bool) -> PlanResult:
    return run_search(w, catalog, top=top, objective=objective, time_limit_s=time_limit_s, tables=tables,
                      any_plan=any_plan).result


_SEARCH: ContextVar[Search] = ContextVar("explain_search", default=_aggregated)


def _solve(catalog: Catalog, tables: CatalogTables, w: Workload, objective: Objective, *, top: int = 3
           ) -> PlanResult:
    """The best ``top`` plans of ``w`` (top 1 where a finder reads only the best: a search for one plan
    prunes by that plan's cost, not the third's)."""
    return _SEARCH.get()(w, catalog, top=top, objective=objective, time_limit_s=_time_left(), tables=tables,
                         any_plan=False)


def _reasons(catalog: Catalog, w: Workload, prep: Prepared) -> list[str]:
    reasons = [f"{count:,} configurations dropped: {why}"
               for why, count in sorted(prep.cand.dropped.items(), key=lambda kv: -kv[1])]
    if len(prep.cand) == 0:
        reasons.append("no configuration survives the constraints above")
    elif w.constraints.serving.get("disaggregation") == "required" and not _disaggregates(catalog, prep):
        reasons.append(f"{len(prep.cand):,} configurations pass the memory and no-load latency checks, but "
                       "constraints.serving.disaggregation requires two pools and none of their runtimes lists "
                       "disaggregation on the chip's family (runtimes.yaml serving)")
    else:
        reasons.append(f"{len(prep.cand):,} configurations pass the memory and no-load latency checks, but "
                       "none carries the peak load within the SLOs, budget, quotas and hardware-type limit")
    if w.quality.min_score is not None:
        best = _best_quality(catalog, w)
        if best is None:
            reasons.append(f"no model in the catalog has a '{w.quality.task}' quality score the planner can use")
        elif best[0] < w.quality.min_score:
            score, model, precision, adaptation = best
            how = "" if adaptation == "none" else f" with {adaptation}"
            end = "the low end of its range" if confidence(w, adaptation) == "low" else "its central score"
            reasons.append(f"no model in the catalog reaches {w.quality.min_score:g} on '{w.quality.task}' "
                           f"(the best, by {end}: {model} {precision}{how} at {score:.1f})")
    return reasons


def _disaggregates(catalog: Catalog, prep: Prepared) -> bool:
    """Whether any configuration that passed runs on a runtime whose support matrix lists disaggregation on its
    chip's family (an auditor's case: a disaggregated lmdeploy workload read 'none carries the peak load')."""
    t = prep.cand.tables
    pairs = {(int(h), int(r)) for h, r in zip(prep.cand.hardware, prep.cand.runtime, strict=True)}
    return any(catalog.runtimes[t.runtime_ids[r]].supports("disaggregation", catalog.hardware[t.hardware_ids[h]].family)
               for h, r in pairs)


def _best_quality(catalog: Catalog, w: Workload) -> tuple[float, str, str, str] | None:
    """The highest score a quality floor is compared with (``floor_score``: the workload's confidence end), over
    every model and weight format with the adaptation the search would give it (``choose``: a domain task's proxy
    and fine-tuning included), and where: (score, model, precision, adaptation); None where no model has one. It had
    read the raw task key, so a domain task's reason said 'best: -1' where a budget alone stood in the way."""
    best = None
    for model in catalog.models.values():
        for precision in catalog.precisions:
            pick = choose(catalog, model, precision, w)
            if pick is not None and (best is None or floor_score(pick, w) > best[0]):
                best = (floor_score(pick, w), model.id, precision, pick.adaptation)
    return best


def _ceil_to(value: float, step: float) -> float:
    """The least multiple of ``step`` at or above ``value``: the least budget, at the precision it is printed
    with, that a plan costing ``value`` fits."""
    return math.ceil(value / step) * step


def _ceil_digits(value: float, digits: int) -> float:
    """``value`` rounded up to ``digits`` significant digits (3: 41,234 -> 41,300)."""
    return value if value <= 0 else _ceil_to(value, 10.0 ** (math.floor(math.log10(value)) - digits + 1))


def _nice_up(value: float) -> float:
    """Rounded up to 3 significant digits: the grid an SLO relaxation is bisected on."""
    return _ceil_digits(value, 3)


def _verified(catalog: Catalog, tables: CatalogTables, w: Workload, objective: Objective) -> bool:
    """Does a plan exist under w? (stops at the first feasible replica mix)"""
    return bool(_SEARCH.get()(w, catalog, top=1, objective=objective, time_limit_s=_time_left(), tables=tables,
                              any_plan=True).plans)


def _budget(catalog: Catalog, tables: CatalogTables, w: Workload, o: Objective) -> list[Relaxation]:
    b = w.budget
    if b.max_cost_per_month is None and b.max_cost_per_million_tokens is None:
        return []
    # the least budget that admits a plan is the cheapest plan's cost, whatever the objective (the
    # relaxed workload is then verified under it)
    free = _solve(catalog, tables, replace(w, budget=replace(b, max_cost_per_month=None,
                                                             max_cost_per_million_tokens=None)), Objective.COST,
                  top=1)
    if not free.plans:
        return []
    cheapest = free.plans[0]
    out = []
    if b.max_cost_per_month is not None and cheapest.cost.per_month > b.max_cost_per_month:
        need = _ceil_to(cheapest.cost.per_month, 1.0)  # printed in whole dollars
        if _verified(catalog, tables, replace(w, budget=replace(b, max_cost_per_month=need)), o):
            out.append(Relaxation("budget.max_cost_per_month", f">= ${need:,.0f}/month", need))
    if b.max_cost_per_million_tokens is not None and cheapest.cost.per_million_tokens > b.max_cost_per_million_tokens:
        need = _ceil_digits(cheapest.cost.per_million_tokens, 4)  # printed to 4 significant digits
        if _verified(catalog, tables, replace(w, budget=replace(b, max_cost_per_million_tokens=need)), o):
            out.append(Relaxation("budget.max_cost_per_million_tokens",
                                  f">= ${plain(need, '.4g')} per million tokens", need))
    # a reserved term longer than the horizon is charged over the horizon (Pricing.term_spread): planned for the
    # whole term, the same budget may hold (reserved_3y at 12 months costs 3x its rate a month)
    term = TERM_MONTHS.get(w.constraints.pricing.mode)
    if term is not None and b.horizon_months < term and \
            _verified(catalog, tables, replace(w, budget=replace(b, horizon_months=float(term))), o):
        out.append(Relaxation("budget.horizon_months", f">= {term} months (the {w.constraints.pricing.mode} term)",
                              float(term)))
    return out


def _slos(catalog: Catalog, tables: CatalogTables, w: Workload, o: Objective) -> list[Relaxation]:
    out = []
    for metric, pct, limit in w.slo.items():
        targets = {m: {p: v for p, v in by.items() if (m, p) != (metric, pct)} for m, by in w.slo.targets.items()}
        without = replace(w, slo=Slo(targets={m: v for m, v in targets.items() if v}))
        free = _solve(catalog, tables, without, o)
        if not free.plans:
            continue
        seen = [v for p in free.plans if math.isfinite(v := p.predicted[f"{metric}_p{pct}"])]
        if not seen:  # (every plan has a steady state, so a latency; none here: no target to suggest)
            continue
        best = min(seen)

        def admits(value: float, metric: str = metric, pct: int = pct) -> bool:
            return _verified(catalog, tables, replace(w, slo=w.slo.with_target(metric, pct, value)), o)

        for factor in (1.0, 1.05, 1.25):  # the rung ladder is coarse: allow a little headroom
            need = _nice_up(max(best * factor, limit))
            if admits(need):
                # the top plans' least latency is an upper bound: a dearer plan within the budget may
                # meet a tighter target, so narrow it to the least value on the _nice_up grid
                need = _least(admits, limit, need)
                out.append(Relaxation(f"slo.{metric}.p{pct}",
                                      f"p{pct} {metric[:-3].upper()} >= {plain(need, '.4g')} ms", need))
                break
    return out


def _least(admits: Callable[[float], bool], lo: float, hi: float) -> float:
    """The least value on the _nice_up grid in (lo, hi] that ``admits`` (true at hi, false at lo and
    monotone: a looser target admits every plan a tighter one does), by bisection in log scale; stops
    at the explanation's deadline with the least value found."""
    while lo > 0 and hi > lo and _before_deadline():
        mid = _nice_up(math.sqrt(lo * hi))
        if mid >= hi or mid <= lo:
            break
        if admits(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _quality(catalog: Catalog, tables: CatalogTables, w: Workload, o: Objective) -> list[Relaxation]:
    if w.quality.min_score is None:
        return []
    free = _solve(catalog, tables, replace(w, quality=replace(w.quality, min_score=None)), Objective.QUALITY, top=1)
    scores = [p.quality.score for p in free.plans if p.quality.score is not None]
    if not scores:
        return []
    need = math.floor(max(scores) * 10) / 10
    if not _verified(catalog, tables, replace(w, quality=replace(w.quality, min_score=need)), o):
        return []
    # the floor-free search picks each model's cheapest adaptation (none), so its best score can lie below what an
    # adapted model reaches (domain-task at 99: 87.1 unadapted, where a LoRA qwen2.5-32b plan meets 91.6): the least
    # relaxation is bisected on the 0.1 grid between that feasible floor and the infeasible one, capped by the best
    # score any model reaches (``_best_quality``)
    best = _best_quality(catalog, w)
    hi = min(w.quality.min_score, math.floor(best[0] * 10) / 10 + 0.1) if best is not None else w.quality.min_score
    lo = need
    while hi - lo > 0.1 + 1e-9 and _before_deadline():
        mid = math.floor((lo + hi) / 2 * 10) / 10
        if mid <= lo:
            break
        if _verified(catalog, tables, replace(w, quality=replace(w.quality, min_score=mid)), o):
            lo = mid
        else:
            hi = mid
    return [Relaxation("quality.min_score", f"min_score <= {lo:g}", lo)]


def _quotas(catalog: Catalog, tables: CatalogTables, w: Workload, o: Objective) -> list[Relaxation]:
    c = w.constraints
    if not c.quotas:
        return []
    free = _solve(catalog, tables, replace(w, constraints=replace(c, quotas={})), Objective.COST, top=1)
    if not free.plans:
        return []
    best = free.plans[0]  # the cheapest plan without quotas: the quotas it needs
    out = []
    quotas = dict(c.quotas)
    for hw in sorted(best.hardware_types):
        chips = best.chips(hw)  # (over every deployment: a mix or two pools may share one)
        if hw in quotas and chips > quotas[hw]:
            quotas[hw] = chips
            out.append(Relaxation(f"constraints.quotas.{hw}", f"quota >= {chips} chips", chips))
    if out and _verified(catalog, tables, replace(w, constraints=replace(c, quotas=quotas)), o):
        return out
    return []


def _serving(catalog: Catalog, tables: CatalogTables, w: Workload, o: Objective) -> list[Relaxation]:
    """A serving feature the workload requires or forbids (constraints.serving), allowed instead: the search may
    then serve with or without it (a required drafter the models lack, a forbidden feature every plan needs)."""
    c = w.constraints
    out = []
    for feature, rule in sorted(c.serving.items()):
        if rule == "allowed" or not _before_deadline():
            continue
        relaxed = replace(w, constraints=replace(c, serving={**c.serving, feature: "allowed"}))
        if _verified(catalog, tables, relaxed, o):
            out.append(Relaxation(f"constraints.serving.{feature}", f"allowed (not {rule})", "allowed"))
    return out


def explain_infeasible(catalog: Catalog, tables: CatalogTables, w: Workload, prep: Prepared, *,
                       objective: Objective, deadline: float | None = None, search: Search | None = None
                       ) -> Infeasible:
    """Reasons and verified relaxations; with a ``deadline`` (time.perf_counter) the search for
    relaxations stops there and ``complete`` is False (a relaxation not found may exist). ``search``
    plans each relaxed workload (default: the aggregated search alone)."""
    relaxations: list[Relaxation] = []
    token = _DEADLINE.set(deadline)
    searching = _SEARCH.set(search or _aggregated)
    skipped = []
    try:
        for name, finder in (("budget", _budget), ("slo", _slos), ("quality", _quality), ("quotas", _quotas),
                             ("serving", _serving)):
            if not _before_deadline():
                skipped.append(name)
                continue
            relaxations.extend(finder(catalog, tables, w, objective))
    finally:
        _DEADLINE.reset(token)
        _SEARCH.reset(searching)
    complete = not passed(deadline)
    reasons = _reasons(catalog, w, prep)
    if complete and not relaxations:
        reasons.append("no one constraint relaxed alone gives a plan (each budget, SLO target, quality floor, "
                       "quota and required or forbidden serving feature the workload sets was tried; its lists of "
                       "chips, models, runtimes and formats were not): at least two of those must change together, "
                       "or a list widened")
    if not complete:
        reasons.append("the search for relaxations stopped at the time limit"
                       + (f" before: {', '.join(skipped)}" if skipped else ""))
    return Infeasible(reasons=tuple(reasons), relaxations=tuple(relaxations), complete=complete)
