"""Output documents of fleet planning (``hwplan plan-fleet --json``, ``POST /v1/fleets``).

Built from ``planner.fleet.results`` here and nowhere else, as ``hardware_catalog.outputs`` does
for single plans (kept in a module of its own: that one is at its size limit). Money in USD,
rounded for display; null where a figure is absent (no schedule, an infeasible comparison).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from hardware_catalog.numbers import rounded

if TYPE_CHECKING:
    from planner.fleet.results import FleetPlan, WorkloadSchedule

__all__ = ["CommitOut", "FleetPlanOut", "MonthOut", "ScaleBoundsOut", "WorkloadScheduleOut", "fleet_plan_out"]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _usd(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, 2) + 0.0  # (+ 0.0: -0.0, a saving of -$0.001, is 0)


class MonthOut(_Out):
    month: int
    peak_requests_per_s: float | None
    committed: dict[str, int]
    on_demand_max: dict[str, int]
    spot_max: dict[str, int]
    replicas_min: int
    replicas_max: int
    cost: float | None


class CommitOut(_Out):
    month: int
    shape: str
    added: int


class ScaleBoundsOut(_Out):
    shape: str
    min_replicas: int
    max_replicas: int


class WorkloadScheduleOut(_Out):
    name: str
    model: str | None
    precision: str | None
    runtime: str | None
    adaptation: str | None
    cost: float | None  # USD over the horizon, with beyond_horizon_cost
    beyond_horizon_cost: float | None  # USD of its committed terms' months past the horizon (paid: a term is whole)
    months: list[MonthOut]
    commits: list[CommitOut]
    autoscaling: list[ScaleBoundsOut]
    reasons: list[str]
    serves: list[str]  # the workloads it carries: itself, or a shared deployment's members



class PriceUsedOut(_Out):
    """A price a fleet's schedule buys at."""

    hardware: str
    mode: str
    usd_per_chip_hour: float
    rule: str

class FleetPlanOut(_Out):
    name: str
    status: str
    months: int
    periods_hours: list[float | None]
    cost: float | None  # USD over the horizon, with beyond_horizon_cost
    cost_by_month: list[float | None]  # the horizon's months only
    beyond_horizon_cost: float | None  # USD of the committed terms' months past the horizon (a term is paid whole)
    alone_cost: float | None
    independent_cost: float | None  # best found; a bound only where independent_bound equals it
    independent_bound: float | None  # proven: no schedule of each alone with the whole quota costs less in sum
    lower_bound: float | None  # proven: no joint schedule costs less (CP-SAT's bound; = cost when OPTIMAL)
    gap: float | None  # (cost - lower_bound) / cost: the most an optimal schedule can save, as a share of cost
    saving_vs_alone: float | None
    one_time_cost: float  # USD paid once, outside the schedule: each workload's adaptation training
    total_cost: float | None  # cost + one_time_cost: the horizon in all
    quota_peak: dict[str, list[int]]  # hardware -> [most chips used in any period, quota]
    elapsed_s: float
    workloads: list[WorkloadScheduleOut]
    notes: list[str] = []  # what the schedule does not do that the fleet file asked for (a shared pool), and why
    prices: list[PriceUsedOut] = []  # each (chip, mode) price the schedule buys at, and its rule


def _schedule_out(s: WorkloadSchedule) -> WorkloadScheduleOut:
    return WorkloadScheduleOut(
        name=s.name, model=s.model, precision=s.precision, runtime=s.runtime, adaptation=s.adaptation,
        cost=_usd(s.cost), beyond_horizon_cost=_usd(s.beyond_horizon_cost), reasons=list(s.reasons),
        serves=list(s.serves),
        months=[MonthOut(month=r.month, peak_requests_per_s=rounded(r.peak_requests_per_s), committed=dict(r.committed),
                         on_demand_max=dict(r.on_demand_max), spot_max=dict(r.spot_max), replicas_min=r.replicas_min,
                         replicas_max=r.replicas_max, cost=_usd(r.cost)) for r in s.months],
        commits=[CommitOut(month=c.month, shape=c.shape, added=c.added) for c in s.commits],
        autoscaling=[ScaleBoundsOut(shape=b.shape, min_replicas=b.min_replicas, max_replicas=b.max_replicas)
                     for b in s.autoscaling])


def _gap(p: FleetPlan) -> float | None:
    if p.lower_bound is None or not p.cost > 0:
        return None
    return round(max(p.cost - p.lower_bound, 0.0) / p.cost, 4)


def fleet_plan_out(p: FleetPlan) -> FleetPlanOut:
    return FleetPlanOut(
        name=p.name, status=p.status, months=p.months, periods_hours=[rounded(h) for h in p.periods_hours],
        cost=_usd(p.cost), cost_by_month=[_usd(c) for c in p.cost_by_month],
        beyond_horizon_cost=_usd(p.beyond_horizon_cost), alone_cost=_usd(p.alone_cost),
        independent_cost=_usd(p.independent_cost), independent_bound=_usd(p.independent_bound),
        lower_bound=_usd(p.lower_bound), gap=_gap(p), saving_vs_alone=_usd(p.saving_vs_alone),
        one_time_cost=round(p.one_time_cost, 2), total_cost=_usd(p.total_cost),
        quota_peak={h: [used, quota] for h, (used, quota) in p.quota_peak.items()},
        elapsed_s=round(p.elapsed_s, 2), workloads=[_schedule_out(s) for s in p.workloads], notes=list(p.notes),
        prices=[PriceUsedOut(hardware=u.hardware, mode=u.mode, usd_per_chip_hour=round(u.usd_per_chip_hour, 6),
                             rule=u.rule) for u in p.prices])
