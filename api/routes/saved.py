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
from api.schemas import problems
from hardware_catalog.compare import compare
from hardware_catalog.outputs import (
    CompareOut,
    ExportOut,
    SavedPlanListOut,
    SavedPlanOut,
    saved_plan_out,
    saved_plan_summary_out,
)
from hardware_catalog.saved import PlanStore, SavedPlan

__all__ = ["record", "router", "store_of"]

router = APIRouter(tags=["saved plans"])


def store_of(request: Request) -> PlanStore:
    store: PlanStore = request.app.state.plans
    return store


def _get(request: Request, plan_id: str, field: str = "path.plan_id") -> SavedPlan:
    saved = store_of(request).get(plan_id)
    if saved is None:
        # a long id is not echoed whole (a 70 KB one came back three times in the 404)
        shown = plan_id if len(plan_id) <= 64 else f"{plan_id[:64]}... ({len(plan_id):,} characters)"
        raise NotFound(f"no saved plan {shown}", field=field)
    return saved


def record(s: SavedPlan) -> dict[str, Any]:
    """What ``hardware_catalog.compare`` compares: a saved plan's workload, result and provenance."""
    return {"id": s.id, "workload": s.workload, "result": s.result, "catalog_version": s.catalog_version,
            "prices": s.prices}


@router.get("/v1/plans", response_model=SavedPlanListOut)
def list_plans(request: Request,
               workload: Annotated[str | None, Query(max_length=100)] = None,
               since: datetime.datetime | None = None,
               limit: Annotated[int, Query(ge=1, le=200)] = 50,
               offset: Annotated[int, Query(ge=0, le=2**53)] = 0) -> SavedPlanListOut:
    rows = store_of(request).list(workload=workload, since=since, limit=limit, offset=offset)
    return SavedPlanListOut(plans=[saved_plan_summary_out(r) for r in rows], limit=limit, offset=offset,
                            next_offset=offset + limit if len(rows) == limit else None)


@router.get("/v1/plans/compare", response_model=CompareOut, responses=problems((404, "no saved plan with that id")))
def compare_plans(request: Request, a: str, b: str) -> CompareOut:
    return compare(record(_get(request, a, "query.a")), record(_get(request, b, "query.b")))


@router.get("/v1/plans/{plan_id}", response_model=SavedPlanOut, response_model_exclude_unset=True,
            responses=problems((404, "no saved plan with that id")))
def get_plan(request: Request, plan_id: str) -> SavedPlanOut:
    return saved_plan_out(_get(request, plan_id))


@router.delete("/v1/plans/{plan_id}", status_code=204)
def delete_plan(request: Request, plan_id: str, writer: WriterDep) -> Response:
    if not store_of(request).delete(plan_id):
        raise NotFound(f"no saved plan {plan_id}", field="path.plan_id")
    return Response(status_code=204)


def _wants_json(request: Request) -> bool:
    return "application/json" in request.headers.get("accept", "")


@router.get("/v1/plans/{plan_id}/export", response_model=ExportOut, responses={
    200: {"description": "The files (``Accept: application/json``), or else their text as a download "
                         "(Kubernetes documents joined by ``---``).",
          "content": {"text/x-shellscript": {"schema": {"type": "string"}},  # engine launch scripts
                      "text/x-python": {"schema": {"type": "string"}},  # a quantisation job (llm-compressor)
                      "application/yaml": {"schema": {"type": "string"}}}},  # Kubernetes manifests
    **problems((404, "no saved plan with that id"))})
def export_plan(request: Request, plan_id: str, snapshot: SnapshotDep,
                format: Annotated[str, Query(description="vllm, sglang, trtllm, jetstream, neuron, llama.cpp, "
                                                         "k8s, kserve, lws, or quantise (the one-time job writing "
                                                         "the quantised checkpoint a plan's launch files load)")],
                rank: Annotated[int, Query(ge=1, le=50)] = 1,
                deployment: Annotated[int | None, Query(ge=1, le=1000, description=(
                    "Engine formats: the deployment whose launch script to return (1-based). A plan of several "
                    "deployments (e.g. 1 x L4 + 1 x L40S) has one script each, run on their own machines: the "
                    "download needs one of them, the JSON answer holds them all."))] = None,
                ) -> ExportOut | PlainTextResponse:
    """A saved plan's engine launch commands or Kubernetes manifests (``hwplan export``)."""
    from hardware_catalog.export import CLUSTER_FORMATS, export, one_deployment
    from hardware_catalog.inputs.workload import WorkloadIn, to_workload
    from hardware_catalog.outputs import PlanResultOut, export_out

    saved = _get(request, plan_id)
    artifacts = export(PlanResultOut.model_validate(saved.result), snapshot.catalog, format, rank=rank,
                       workload=to_workload(WorkloadIn.model_validate(saved.workload)))
    if deployment is not None or (not _wants_json(request) and format not in CLUSTER_FORMATS):
        artifacts = one_deployment(artifacts, format, deployment, all_hint="ask with Accept: application/json "
                                   "for them all")
    if _wants_json(request):
        return export_out(format, rank, artifacts)
    body = "\n---\n".join(a.content for a in artifacts)
    return PlainTextResponse(body, media_type=artifacts[0].media_type, headers={
        "Content-Disposition": f'attachment; filename="{artifacts[0].name}"'})
