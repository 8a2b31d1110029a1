"""Order plans by the objective, drop near-duplicates, and find the Pareto front.

Objectives (lower sort key is better):
  cost      monthly cost
  latency   the worst ratio of predicted percentile to its SLO target (p99 e2e when no SLO)
  quality   quality score, highest first
  balanced  mean of cost / cheapest, latency / lowest and quality gap / smallest quality gap
Cost breaks every tie. The Pareto front is over (monthly cost, p99 end-to-end latency, quality).
"""

from __future__ import annotations

from dataclasses import replace

from planner.results import Plan
from planner.workload import Objective, Workload

__all__ = ["latency_ratio", "mark_pareto", "rank_plans"]


def latency_ratio(plan: Plan, w: Workload) -> float:
    items = w.slo.items()
    if not items:
        return plan.predicted["e2e_ms_p99"]
    return max(plan.predicted[f"{m}_p{p}"] / limit for m, p, limit in items)


def _quality(plan: Plan) -> float:
    return plan.quality.score if plan.quality.score is not None else 0.0


def _dedupe(plans: list[Plan]) -> list[Plan]:
    """One plan per (model, precision, runtime, adaptation, hardware set): the first (best) one."""
    seen, out = set(), []
    for plan in plans:
        key = (plan.model, plan.precision, plan.runtime, plan.adaptation, plan.hardware_types)
        if key not in seen:
            seen.add(key)
            out.append(plan)
    return out


def rank_plans(plans: list[Plan], w: Workload, objective: Objective) -> list[Plan]:
    if not plans:
        return []
    cheapest = min(p.cost.per_month for p in plans)
    fastest = min(latency_ratio(p, w) for p in plans)
    best_gap = min(100.0 - _quality(p) for p in plans) or 1.0

    def key(p: Plan) -> tuple[float, float]:
        if objective is Objective.COST:
            return (p.cost.per_month, 0.0)
        if objective is Objective.LATENCY:
            return (latency_ratio(p, w), p.cost.per_month)
        if objective is Objective.QUALITY:
            return (-_quality(p), p.cost.per_month)
        score = (p.cost.per_month / cheapest + latency_ratio(p, w) / fastest
                 + (100.0 - _quality(p)) / best_gap) / 3.0
        return (score, p.cost.per_month)

    return _dedupe(sorted(plans, key=key))


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
