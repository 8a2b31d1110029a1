"""GET /metrics: Prometheus text exposition of this process's counters."""

from __future__ import annotations

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST

from api.deps import TelemetryDep

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text format"}})
def metrics(telemetry: TelemetryDep) -> Response:
    return Response(telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)
