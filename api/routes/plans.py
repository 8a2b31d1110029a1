"""POST /v1/plans: ranked deployment plans for a workload (what ``hwplan plan --json`` prints).

Search-space limits from the settings (top, time limit, chips per replica, hardware types) answer
422 naming the field. Results are cached per catalog version and request, since the planner is
deterministic for a given catalog when the search finishes (results cut by the time limit are not
cached); the ``X-Plan-Cache`` header says hit or miss. With ``levers=true`` the response adds
``levers``: the lever report (``planner.search.lever_report``, as ``hwplan plan --levers``) for the plan ranked
``levers_rank`` (default the top plan); it re-plans once per lever, so it costs a few solves more.
With ``iteration_range=true`` it adds ``iteration_range``: the workload re-planned at both ends of the
serving iteration cost the records under load admit (``planner.search.iteration_range``; two searches more).
Where plan 1's model or chip measured less throughput than predicted on its runtime (measured_bias.yaml), it
adds ``measured_replan``: the best plan at that measured speed (``planner.search.measured_replan``; one search
more).

Each request has one deadline, ``time_limit_s`` (default the server's), for the search, the
explanation of an infeasible workload and the re-plans. The answer says whether it finished:
``complete`` is false when the search stopped at the deadline (``search.solver_status`` =
``TIME_LIMIT``; the plans found so far are returned, best first, unproven; ``infeasible`` is null,
since a search cut short proves nothing), when the relaxation search did (``infeasible.complete``
false), or when a re-plan did (``iteration_range``'s ends, ``measured_replan``, a lever's row: ``complete``
false; a lever re-plan that would start past the deadline does not run).
Both answer 200. Planning runs in a bounded pool (``api.pool``): when it is full, 503 with
Retry-After.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import PoolDep, SettingsDep, SnapshotDep, TelemetryDep, WriterNameDep
from api.errors import LimitExceeded
from api.schemas import problems
from api.settings import Settings
from hardware_catalog.caching import answers_cache
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import LeverReportOut, PlanResultOut, levers_out, plan_result_out
from planner.errors import InputError
from planner.search.lever_report import lever_report
from planner.search.measured_replan import measured_replan
from planner.search.planning import plan
from planner.search.stop import stopped
from planner.workload import Objective

__all__ = ["check_search_space", "router"]

router = APIRouter(tags=["planning"])


class PlanCache:
    """A small thread-safe LRU of plan results, one per catalog snapshot."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._data: OrderedDict[str, PlanResultOut] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> PlanResultOut | None:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: str, value: PlanResultOut) -> None:
        with self._lock:
            self._data[key] = value
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def _check_limits(w: WorkloadIn, top: int, time_limit_s: float, s: Settings) -> None:
    for field, value, limit in (("top", top, s.max_top),
                                ("time_limit_s", time_limit_s, s.max_solver_time_limit_s)):
        if value > limit:
            raise LimitExceeded(f"{field} = {value:g} is over this server's limit of {limit:g}", field=field)
    check_search_space(w, s)


def check_search_space(w: WorkloadIn, s: Settings, where: str = "") -> None:
    """The workload's search space within the server's limits (``where``: the workload's path in a larger
    body, ``workloads.0.``)."""
    c = w.constraints
    for field, value, limit in (("constraints.max_chips_per_replica", c.max_chips_per_replica,
                                 s.max_chips_per_replica),
                                ("constraints.max_hardware_types", c.max_hardware_types,
                                 s.max_hardware_types)):
        if value > limit:
            raise LimitExceeded(f"{where}{field} = {value:g} is over this server's limit of {limit:g}",
                                field=f"{where}{field}")


@router.post("/v1/plans", response_model=PlanResultOut, response_model_exclude_unset=True,
             responses=problems((503, "every planning slot is taken: retry after Retry-After")))
async def create_plans(
    workload: WorkloadIn,
    snapshot: SnapshotDep,
    settings: SettingsDep,
    telemetry: TelemetryDep,
    pool: PoolDep,
    response: Response,
    request: Request,
    saver: WriterNameDep,
    top: Annotated[int, Query(ge=1, le=50, description="How many plans to return.")] = 5,
    objective: Annotated[Objective, Query(description="What to optimise.")] = Objective.COST,
    time_limit_s: Annotated[float | None, Query(gt=0, le=600, allow_inf_nan=False, description=(
        "Seconds for the search (default: the server's solver_time_limit_s)."))] = None,
    levers: Annotated[bool, Query(description="Add the lever report (`levers`) for one plan.")] = False,
    levers_rank: Annotated[int, Query(ge=1, le=50, description="Rank of the plan the lever report is for.")] = 1,
    iteration_range: Annotated[bool, Query(description=(
        "Add `iteration_range`: the workload re-planned at both ends of the serving iteration cost the "
        "records under load admit (two more searches)."))] = False,
    save: Annotated[bool, Query(description="Save the result; its id is in X-Plan-Id and Location.")] = False,
) -> PlanResultOut:
    data = await _create_plans(workload, snapshot, settings, telemetry, pool, response, top, objective, time_limit_s,
                               levers, levers_rank, iteration_range, gone=request.is_disconnected)
    if save:
        from api.routes.saved import store_of
        from hardware_catalog.saved import not_saved, prices_used

        result = data.model_dump(mode="json", exclude_unset=True)
        if (why := not_saved(result)) is not None:  # the answer as without save=true: 200, no Location
            response.headers["X-Plan-Saved"] = f"no: {why}"
            return data
        saved = store_of(request).save(workload=workload.model_dump(mode="json"), result=result,
                                       catalog_version=snapshot.catalog.version,
                                       prices=prices_used(result), saved_by=saver)
        response.status_code = 201
        response.headers["Location"] = f"/v1/plans/{saved.id}"
        response.headers["X-Plan-Id"] = saved.id
    return data


async def _create_plans(workload: WorkloadIn, snapshot: Any, settings: Settings, telemetry: Any, pool: Any,
                        response: Response, top: int, objective: Objective, time_limit_s: float | None,
                        levers: bool, levers_rank: int, iteration_range: bool = False,
                        gone: Callable[[], Awaitable[bool]] | None = None) -> PlanResultOut:
    limit_s = settings.solver_time_limit_s if time_limit_s is None else time_limit_s
    _check_limits(workload, top, limit_s, settings)
    response.headers["X-Catalog-Version"] = snapshot.catalog.version
    cache: PlanCache | None = None
    if levers and levers_rank > top:
        raise InputError(f"must be at most top ({top})", field="levers_rank")
    key = json.dumps([workload.model_dump(mode="json"), top, str(objective), limit_s,
                      levers_rank if levers else None, iteration_range], sort_keys=True)
    if settings.plan_cache_size:
        cache = snapshot.memo.setdefault("plans", PlanCache(settings.plan_cache_size))
        hit = cache.get(key)
        response.headers["X-Plan-Cache"] = "miss" if hit is None else "hit"
        if hit is not None:
            telemetry.plans.labels("cached").inc()
            return hit
    w = to_workload(workload)

    def compute() -> PlanResultOut:
        started = time.perf_counter()  # the request's one deadline
        result = plan(w, snapshot.catalog, top=top, objective=objective, time_limit_s=limit_s,
                      tables=snapshot.tables)
        telemetry.solver.observe(result.search.elapsed_ms / 1e3)
        timed_out = result.search.solver_status == "TIME_LIMIT"
        telemetry.plans.labels("cancelled" if stopped() else "time_limit" if timed_out
                               else "infeasible" if not result.plans else "feasible").inc()
        if stopped():  # the client has gone (api.pool): no one reads the rest
            return plan_result_out(result, None, None, None)
        report = None
        if levers:  # an empty report when there is no plan of that rank (infeasible, or fewer plans)
            chosen = next((p for p in result.plans if p.rank == levers_rank), None)
            report = LeverReportOut([]) if chosen is None else levers_out(
                lever_report(snapshot.catalog, w, chosen, tables=snapshot.tables,
                             deadline_s=limit_s - (time.perf_counter() - started)), chosen)
        span = None
        if iteration_range and result.plans:
            from planner.search.iteration_range import iteration_range as replan_at_ends

            span = replan_at_ends(snapshot.catalog, w, result.plans[0], objective=objective,
                                  time_limit_s=limit_s - (time.perf_counter() - started))
        slowed = measured_replan(snapshot.catalog, w, result.plans, objective=objective,
                                 time_limit_s=limit_s - (time.perf_counter() - started), tables=snapshot.tables)
        from hardware_catalog.export import with_deploy

        return with_deploy(plan_result_out(result, report, span, slowed), snapshot.catalog, w)

    data: PlanResultOut = await pool.run(compute, gone)
    if cache is not None and data.complete:
        cache.put(key, data)
    answers_cache.save_later(snapshot.tables)  # the capacity answers found, on disk within SAVE_DELAY_S
    return data
