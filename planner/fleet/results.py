"""Typed results of ``planner.fleet.planning``: per-workload schedules and the fleet's totals."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Commit", "FleetPlan", "MonthRow", "ScaleBounds", "WorkloadSchedule"]


@dataclass(frozen=True)
class MonthRow:
    month: int  # 1-based
    peak_requests_per_s: float
    committed: Mapping[str, int]  # shape label -> replicas paid every hour
    on_demand_max: Mapping[str, int]  # shape label -> most on-demand replicas in any period
    spot_max: Mapping[str, int]
    replicas_min: int  # fewest replicas running in any period (autoscaling floor)
    replicas_max: int  # most replicas running in any period (autoscaling ceiling)
    cost: float  # USD for the month


@dataclass(frozen=True)
class Commit:
    month: int  # 1-based month the committed terms start
    shape: str
    added: int  # replicas whose term starts that month (a renewal of one that ended included)


@dataclass(frozen=True)
class ScaleBounds:
    """Autoscaling bounds of one deployment (shape) over the horizon: replicas running."""

    shape: str
    min_replicas: int
    max_replicas: int


@dataclass(frozen=True)
class WorkloadSchedule:
    name: str
    model: str | None
    precision: str | None
    runtime: str | None
    adaptation: str | None
    months: tuple[MonthRow, ...]
    commits: tuple[Commit, ...]
    autoscaling: tuple[ScaleBounds, ...]
    cost: float  # USD over the horizon, with its committed terms' months past it (beyond_horizon_cost)
    reasons: tuple[str, ...] = ()  # why it has no schedule
    serves: tuple[str, ...] = ()  # the workloads it carries: itself, or a shared deployment's members
    beyond_horizon_cost: float = 0.0  # USD of its committed terms' months past the horizon (a term is paid in full)


@dataclass(frozen=True)
class PriceUsed:
    """A price a schedule buys at: USD per chip-hour of ``hardware`` in ``mode``, and the rule behind it."""

    hardware: str
    mode: str
    usd_per_chip_hour: float
    rule: str


@dataclass(frozen=True)
class FleetPlan:
    name: str
    # the joint solve's: OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN (out of time before any schedule); without
    # one: NO_OPTIONS (a workload has no plan that fits) | TIME_LIMIT (a workload's search ran out of time first)
    status: str
    months: int
    periods_hours: tuple[float, ...]  # hours per month of each period
    workloads: tuple[WorkloadSchedule, ...]
    cost_by_month: tuple[float, ...]
    cost: float  # USD over the horizon, all workloads, with the committed terms' months past it (beyond_horizon_cost)
    alone_cost: float | None  # each planned alone in order, each taking what the quota still has (None: infeasible)
    independent_cost: float | None  # each alone with the whole quota to itself (may break the quota), best found
    quota_peak: Mapping[str, tuple[int, int]]  # hardware -> (most chips used in any period, fleet quota)
    elapsed_s: float
    # proven lower bounds (CP-SAT's best objective bounds, USD over the horizon; None: no solve found a
    # schedule): on any joint schedule's cost, and on the sum of each alone with the whole quota (which
    # bounds the joint cost from below too: every joint schedule gives each workload a schedule within it)
    lower_bound: float | None = None
    independent_bound: float | None = None
    notes: tuple[str, ...] = ()  # what the schedule does not do that the fleet file asked for, and why
    # USD paid once, outside the monthly schedule: each served workload's adaptation training (the
    # ``cost.one_time`` of the plan that serves it: a pool's members each train an adapter on its model);
    # the comparisons (alone_cost, independent_cost, the bounds) are of monthly costs only
    one_time_cost: float = 0.0
    prices: tuple[PriceUsed, ...] = ()  # each (chip, mode) price the schedule buys at
    # USD of the committed terms' months past the horizon, in ``cost`` (a term is signed for in full): the sum of the
    # workloads', where cost_by_month holds the horizon's months only
    beyond_horizon_cost: float = 0.0

    @property
    def total_cost(self) -> float:
        """What the horizon costs in all: the schedule plus the one-time costs (NaN with no schedule)."""
        return self.cost + self.one_time_cost

    @property
    def saving_vs_alone(self) -> float | None:
        return None if self.alone_cost is None else self.alone_cost - self.cost
