"""POST /v1/fleets: a fleet's joint schedule (what ``hwplan plan-fleet --json`` prints).

The body is a fleet file with every workload written inline (no ``file:`` references). Planning
runs in the bounded planning pool (503 with Retry-After when full); ``time_limit_s`` bounds each
single-workload search and each CP-SAT schedule solve, and the server's ``fleet_deadline_s``
(HWPLAN_FLEET_DEADLINE_S, 120 s) the whole request: each phase gets at most what is left.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import PoolDep, SettingsDep, SnapshotDep
from api.errors import LimitExceeded
from api.routes.plans import check_search_space
from api.schemas import problems
from hardware_catalog.fleet_outputs import FleetPlanOut, fleet_plan_out
from hardware_catalog.inputs.fleet import FleetIn, fleet_prices, to_fleet
from hardware_catalog.inputs.workload import WorkloadIn
from planner.fleet import plan_fleet

__all__ = ["router"]

router = APIRouter(tags=["planning"])

MAX_FLEET_WORKLOADS = 10  # each adds a single-workload search and a share of one CP-SAT model
# workloads x months x periods: the schedule model's size (variables ~ 3 x shapes x this); 3 x 12 x 6 = 216
MAX_FLEET_CELLS = 2400


@router.post("/v1/fleets", response_model=FleetPlanOut,
             responses=problems((503, "every planning slot is taken: retry after Retry-After")))
async def create_fleet_plan(
    fleet: FleetIn,
    snapshot: SnapshotDep,
    settings: SettingsDep,
    pool: PoolDep,
    response: Response,
    request: Request,
    time_limit_s: Annotated[float | None, Query(gt=0, le=600, allow_inf_nan=False, description=(
        "Seconds per workload search and per schedule solve (default: the server's solver_time_limit_s); the "
        "request takes at most the server's fleet_deadline_s in all."))] = None,
) -> FleetPlanOut:
    limit_s = settings.solver_time_limit_s if time_limit_s is None else time_limit_s
    if limit_s > settings.max_solver_time_limit_s:
        raise LimitExceeded(f"time_limit_s = {limit_s:g} is over this server's limit of "
                            f"{settings.max_solver_time_limit_s:g}", field="time_limit_s")
    if len(fleet.workloads) > MAX_FLEET_WORKLOADS:
        raise LimitExceeded(f"{len(fleet.workloads)} workloads is over this server's limit of {MAX_FLEET_WORKLOADS}",
                            field="workloads")
    cells = len(fleet.workloads) * fleet.months * fleet.periods
    if cells > MAX_FLEET_CELLS:
        raise LimitExceeded(f"workloads x months x periods = {cells} is over this server's limit of {MAX_FLEET_CELLS}",
                            field="months")
    for i, w in enumerate(fleet.workloads):
        if isinstance(w, WorkloadIn):  # (a file reference is refused by to_fleet)
            check_search_space(w, settings, where=f"workloads.{i}.")
    f = to_fleet(fleet, base=None)
    response.headers["X-Catalog-Version"] = snapshot.catalog.version

    def compute() -> FleetPlanOut:
        prices = fleet_prices(fleet, snapshot.catalog)
        return fleet_plan_out(plan_fleet(f, snapshot.catalog, prices=prices, tables=snapshot.tables,
                                         time_limit_s=limit_s, deadline_s=settings.fleet_deadline_s))

    return await pool.run(compute, request.is_disconnected)
