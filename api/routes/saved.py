"""Saved plans (``hardware_catalog.saved``): list, read, delete, compare and export.

POST /v1/plans?save=true (api/routes/plans.py) saves a result and answers its id in ``X-Plan-Id``
and ``Location``. GET /v1/plans lists them (``workload``, ``since``, ``limit``, ``offset``),
GET /v1/plans/{id} returns one, DELETE /v1/plans/{id} removes it (a writer key),
GET /v1/plans/compare?a=&b= compares two, GET /v1/plans/{id}/export?format= renders one.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import PlainTextResponse

from api.deps import SnapshotDep, WriterDep
from api.errors import NotFound
from hardware_catalog.compare import compare
from hardware_catalog.saved import PlanStore, SavedPlan

__all__ = ["router", "store_of"]

router = APIRouter(tags=["saved plans"])


def store_of(request: Request) -> PlanStore:
    store: PlanStore = request.app.state.plans
    return store


def _get(request: Request, plan_id: str) -> SavedPlan:
    saved = store_of(request).get(plan_id)
    if saved is None:
        raise NotFound(f"no saved plan {plan_id}", field="plan_id")
    return saved


def record(s: SavedPlan) -> dict[str, Any]:
    return {"id": s.id, "created_at": s.created_at.isoformat(), "saved_by": s.saved_by,
            "catalog_version": s.catalog_version, "workload": s.workload, "result": s.result, "prices": s.prices}


@router.get("/v1/plans")
def list_plans(request: Request,
               workload: Annotated[str | None, Query(max_length=100)] = None,
               since: datetime.datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0)] = 0) -> dict[str, Any]:
    rows = store_of(request).list(workload=workload, since=since, limit=limit, offset=offset)
    return {"plans": [r.summary() for r in rows], "limit": limit, "offset": offset,
            "next_offset": offset + limit if len(rows) == limit else None}


@router.get("/v1/plans/compare")
def compare_plans(request: Request, a: str, b: str) -> dict[str, Any]:
    return compare(record(_get(request, a)), record(_get(request, b)))


@router.get("/v1/plans/{plan_id}")
def get_plan(request: Request, plan_id: str) -> dict[str, Any]:
    return record(_get(request, plan_id))


@router.delete("/v1/plans/{plan_id}", status_code=204)
def delete_plan(request: Request, plan_id: str, writer: WriterDep) -> Response:
    if not store_of(request).delete(plan_id):
        raise NotFound(f"no saved plan {plan_id}", field="plan_id")
    return Response(status_code=204)


@router.get("/v1/plans/{plan_id}/export", response_class=PlainTextResponse)
def export_plan(request: Request, plan_id: str, snapshot: SnapshotDep,
                format: Annotated[str, Query(description="vllm, sglang, trtllm, jetstream, neuron, llama.cpp, "
                                                         "k8s, kserve or lws")],
                rank: Annotated[int, Query(ge=1, le=50)] = 1) -> PlainTextResponse:
    from hardware_catalog.export import export
    from hardware_catalog.outputs import PlanResultOut
    from hardware_catalog.workload_file import WorkloadIn

    saved = _get(request, plan_id)
    artifacts = export(PlanResultOut.model_validate(saved.result), snapshot.catalog, format, rank=rank,
                       workload=WorkloadIn.model_validate(saved.workload))
    body = "\n---\n".join(a.content for a in artifacts) if len(artifacts) > 1 and format in ("k8s", "kserve", "lws") \
        else "\n".join(a.content for a in artifacts)
    return PlainTextResponse(body, media_type=artifacts[0].media_type, headers={
        "Content-Disposition": f'attachment; filename="{artifacts[0].name}"'})
