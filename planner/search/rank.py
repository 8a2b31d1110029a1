"""Order plans by the objective, drop near-duplicates, and find the Pareto front.

Objectives (lower sort key is better):
  cost      monthly cost
  latency   the worst ratio of predicted percentile to its SLO target (p99 e2e when no SLO)
  quality   quality score, highest first
  balanced  mean of cost / cheapest, latency / lowest and quality gap / smallest quality gap
Cost breaks ties, then the plan's content (``content``: higher quality first, then what the plan
is), so the order never depends on the search's. The Pareto front is over (monthly cost, p99
end-to-end latency, quality).
"""

from __future__ import annotations

from dataclasses import replace

from planner.search.results import Plan
from planner.workload import Objective, Workload

__all__ = ["content", "latency_ratio", "mark_pareto", "rank_plans"]


def latency_ratio(plan: Plan, w: Workload) -> float:
    items = w.slo.items()
    if not items:
        return plan.predicted["e2e_ms_p99"]
    return max(plan.predicted[f"{m}_p{p}"] / limit for m, p, limit in items)


def _quality(plan: Plan) -> float:
    return plan.quality.score if plan.quality.score is not None else 0.0


NEAR_DUPLICATE = 0.05  # same model and hardware set within 5% of the cost: a near-duplicate


def _dedupe(plans: list[Plan]) -> list[Plan]:
    """Drop near-duplicates of a better-ranked plan: same model, adaptation and hardware set, and a
    monthly cost within NEAR_DUPLICATE (e.g. the same deployment with fp8 instead of int8)."""
    out: list[Plan] = []
    for plan in plans:
        if not any(q.model == plan.model and q.adaptation == plan.adaptation
                   and q.hardware_types == plan.hardware_types
                   and {d.role for d in q.deployments} == {d.role for d in plan.deployments}
                   and abs(q.cost.per_month - plan.cost.per_month) <= NEAR_DUPLICATE * q.cost.per_month
                   for q in out):
            out.append(plan)
    return out


def rank_plans(plans: list[Plan], w: Workload, objective: Objective) -> list[Plan]:
    if not plans:
        return []
    cheapest = min(p.cost.per_month for p in plans)
    fastest = min(latency_ratio(p, w) for p in plans)
    best_gap = min(100.0 - _quality(p) for p in plans) or 1.0

    def score(p: Plan) -> tuple[float, float]:
        if objective is Objective.COST:
            return (p.cost.per_month, 0.0)
        if objective is Objective.LATENCY:
            return (latency_ratio(p, w), p.cost.per_month)
        if objective is Objective.QUALITY:
            return (-_quality(p), p.cost.per_month)
        balanced = (p.cost.per_month / cheapest + latency_ratio(p, w) / fastest
                    + (100.0 - _quality(p)) / best_gap) / 3.0
        return (balanced, p.cost.per_month)

    return _dedupe(sorted(plans, key=lambda p: (*score(p), content(p))))


def content(plan: Plan) -> tuple[object, ...]:
    """A total order on what a plan is, the last tie-break of the ranking: at equal cost the better
    quality first (a plan that costs the same and scores higher dominates), then model, formats,
    runtime, adaptation and deployments, so equal plans rank the same whatever order the search
    found them in. ``branch_bound`` prunes by the part of it a plan key fixes."""
    deployments = tuple(sorted((d.hardware, d.tp, d.pp, d.ep, d.role, d.replicas) for d in plan.deployments))
    score = plan.quality.score
    return (-score if score is not None else float("inf"), *plan.key, deployments)


def _dominates(a: Plan, b: Plan) -> bool:
    ka = (a.cost.per_month, a.predicted["e2e_ms_p99"], -_quality(a))
    kb = (b.cost.per_month, b.predicted["e2e_ms_p99"], -_quality(b))
    return all(x <= y for x, y in zip(ka, kb, strict=True)) and ka != kb


def mark_pareto(ranked: list[Plan], top: int) -> tuple[list[Plan], list[Plan]]:
    """Top-K plans with ranks, and the Pareto front of all plans found (ranked when in the top-K)."""
    front_ids = {id(p) for p in ranked if not any(_dominates(q, p) for q in ranked)}
    numbered = [replace(p, rank=i + 1, pareto=id(p) in front_ids) for i, p in enumerate(ranked)]
    front = sorted((p for p in numbered if p.pareto), key=lambda p: p.cost.per_month)
    return numbered[:top], front
