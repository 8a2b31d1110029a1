"""Replica shapes a schedule may buy for one workload: the top plan's key, cheapest shape per chip.

The single-workload search (``planner.search.run``) is run at the workload's peak over the whole
horizon with its availability; its best plan fixes the model, precisions, runtime and adaptation
(the quality and SLO choices), and every evaluated shape of that plan key that meets the SLOs
becomes an option, the cheapest per unit of SLO capacity on each hardware type.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.results import Plan
from planner.search.run import run_search
from planner.search.shapes.prepare import evaluate_rest
from planner.unique import distinct
from planner.workload import Objective, Workload

__all__ = ["Shape", "WorkloadOptions", "shapes_for"]


@dataclass(frozen=True)
class Shape:
    """One replica configuration of the chosen plan key."""

    hardware: str
    tp: int
    pp: int
    slo_capacity: float  # requests/s one replica carries within every SLO target

    @property
    def chips(self) -> int:
        return self.tp * self.pp

    @property
    def label(self) -> str:
        return f"{self.hardware} tp{self.tp}" + (f" pp{self.pp}" if self.pp > 1 else "")


@dataclass(frozen=True)
class WorkloadOptions:
    plan: Plan | None  # the single-workload plan at the horizon peak (None: nothing fits)
    shapes: tuple[Shape, ...]
    reasons: tuple[str, ...] = ()
    cut: bool = False  # no plan because the search ran out of time (not proven infeasible)


def shapes_for(catalog: Catalog, tables: CatalogTables, w: Workload, *, horizon_peak: float,
               time_limit_s: float = 10.0) -> WorkloadOptions:
    """The chosen plan key's shapes for ``w`` planned at ``horizon_peak`` requests/s."""
    at_peak = replace(w, traffic=replace(w.traffic, requests_per_s=min(w.traffic.requests_per_s, horizon_peak),
                                         peak_requests_per_s=horizon_peak, profile=(), growth=()))
    searched = run_search(at_peak, catalog, top=1, objective=Objective.COST, time_limit_s=time_limit_s,
                          tables=tables)
    if not searched.result.plans:
        cut = searched.result.search.solver_status == "TIME_LIMIT"  # ran out of time: nothing is proven
        why = (f"the single-workload search at the horizon peak ran out of its {time_limit_s:g} s before finding a "
               "plan (a longer time limit may find one)" if cut else "no single-workload plan fits at the horizon peak")
        return WorkloadOptions(plan=None, shapes=(), reasons=(why,), cut=cut)
    top = searched.result.plans[0]
    p, t = searched.prepared, searched.prepared.cand.tables
    c = p.cand
    key_rows = np.flatnonzero(
        (np.asarray(t.model_ids)[c.model] == top.model) & (np.asarray(t.precision_ids)[c.precision] == top.precision)
        & (np.asarray(t.precision_ids)[c.kv_precision] == top.kv_precision)
        & (np.asarray(t.runtime_ids)[c.runtime] == top.runtime))
    for k in distinct(p.key[key_rows]):
        evaluate_rest(p, at_peak, int(k))  # every shape of the key through the queueing model
    allowed = set(top.hardware_types) if w.constraints.max_hardware_types == 1 else None
    best: dict[str, tuple[float, Shape]] = {}
    for i in key_rows:
        rate = float(p.rate[i])
        hw = t.hardware_ids[c.hardware[i]]
        if not rate > 0 or (allowed is not None and hw not in allowed):
            continue
        unit = float(p.cost_per_hour[i]) / rate
        if hw not in best or unit < best[hw][0]:
            best[hw] = (unit, Shape(hardware=hw, tp=int(c.tp[i]), pp=int(c.pp[i]), slo_capacity=rate))
    shapes = [s for _, s in sorted(best.values(), key=lambda x: x[0])]
    # The single-workload plan's own shapes too: the cheapest shape per unit of capacity can cost more
    # in whole replicas (domain-task: one 1-chip TPU v5e carries 10.03 req/s of 10 at $1.20/h, the
    # 2-chip one is cheaper per unit and was the only one kept: $2.40/h), so a fleet of one workload
    # cost twice its plan. With them, the plan is always a schedule the fleet can choose.
    for d in top.deployments:
        own = Shape(hardware=d.hardware, tp=d.tp, pp=d.pp, slo_capacity=d.slo_capacity_per_replica)
        if own.slo_capacity > 0 and all((s.hardware, s.tp, s.pp) != (own.hardware, own.tp, own.pp) for s in shapes):
            shapes.append(own)
    return WorkloadOptions(plan=top, shapes=tuple(shapes))
