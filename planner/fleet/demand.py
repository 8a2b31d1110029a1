"""Demand over time: each workload's requests/s per (month, period) from its profile and growth.

A profile gives one multiplier of ``requests_per_s`` per hour of a day (24) or a week (168; day
profiles are repeated to a week when the fleet mixes both); the growth one multiplier per month
of the horizon (past its end the last value holds). Workloads without a profile run at their
peak every hour. The hours are grouped into at most ``periods`` periods shared by the whole fleet
(so quotas are checked on the same hours for every workload): hours sorted by the fleet's total
demand (each workload scaled to its own peak; ties by each workload's own load in turn), cut into
groups of equal size. Each workload's demand in a period is its HIGHEST hour in
it, so a schedule that carries every period carries every hour of every month, the peak included; a pool
that serves several workloads carries their sum's highest hour (``Demand.pooled``), not the sum of theirs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.model.grid import Array
from planner.workload import HOURS_PER_MONTH, Workload

__all__ = ["DEFAULT_PERIODS", "Demand", "fleet_demand", "hourly_demand"]

DEFAULT_PERIODS = 6  # a day of 24 hours -> 6 periods of 4 hours


@dataclass(frozen=True)
class Demand:
    """requests_per_s[workload, month, period] and hours_per_month[period] (summing to 730)."""

    requests_per_s: Array
    hours_per_month: Array
    hourly: Array  # requests/s per [workload, month, hour of the cycle] the periods were cut from
    groups: tuple[npt.NDArray[np.intp], ...]  # the hours of each period

    @property
    def months(self) -> int:
        return int(self.requests_per_s.shape[1])

    @property
    def periods(self) -> int:
        return int(self.requests_per_s.shape[2])

    def monthly_peak(self, workload: int) -> Array:
        return np.asarray(self.requests_per_s[workload].max(axis=1))

    def pooled(self, members: Sequence[int]) -> Array:
        """[month, period] demand of workloads one pool serves: the busiest hour of their SUM in each period.
        Their own busiest hours need not coincide (a day adapter and a night one): summing each member's
        period peak sized a pool for a load no hour has (examples/fleet/lora-pool.yaml: 20.0 requests/s
        in month 1 where the hours reach 13.2)."""
        total = self.hourly[list(members)].sum(axis=0)  # [month, hour]
        return np.stack([total[:, g].max(axis=1) for g in self.groups], axis=1)


def _growth(w: Workload, months: int) -> Array:
    g = w.traffic.growth
    return np.ones(months) if not g else np.array([g[min(m, len(g) - 1)] for m in range(months)], dtype=np.float64)


def hourly_demand(workloads: Sequence[Workload], months: int) -> Array:
    """requests/s per [workload, month, hour of the fleet's cycle] (24 hours, or 168 if any profile is weekly)."""
    hours = 168 if any(len(w.traffic.profile) == 168 for w in workloads) else 24
    out = np.empty((len(workloads), months, hours))
    for i, w in enumerate(workloads):
        t = w.traffic
        if t.profile:
            shape = np.resize(np.asarray(t.profile, dtype=np.float64), hours) * t.requests_per_s
        else:
            shape = np.full(hours, t.peak)
        out[i] = _growth(w, months)[:, None] * shape[None, :]
    return out


def fleet_demand(workloads: Sequence[Workload], *, months: int, periods: int = DEFAULT_PERIODS) -> Demand:
    """Each workload's demand per (month, shared period); see the module docstring."""
    hourly = hourly_demand(workloads, months)
    scale = np.maximum(hourly.max(axis=(1, 2)), 1e-300)  # each workload weighs the same in the sort
    share = (hourly / scale[:, None, None]).sum(axis=1)  # [workload, hour]
    # busiest hour first; ties (say, one workload's day against another's night) by each workload's
    # own load in turn, so hours where different workloads peak fall in different periods
    order = np.lexsort((*(-share[::-1]), -share.sum(axis=0)))
    groups = np.array_split(order, min(periods, hourly.shape[2]))
    demand = np.stack([hourly[:, :, g].max(axis=2) for g in groups], axis=2)
    hours = np.array([len(g) for g in groups], dtype=np.float64) / hourly.shape[2] * HOURS_PER_MONTH
    return Demand(requests_per_s=demand, hours_per_month=hours, hourly=hourly, groups=tuple(groups))
