"""POST /v1/estimate: one configuration's memory, latency, throughput and cost."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.deps import SnapshotDep
from api.schemas import EstimateRequest
from planner.model.estimate import Scenario, estimate, resolve
from planner.report import estimate_dict

__all__ = ["router"]

router = APIRouter(tags=["planning"])


@router.post("/v1/estimate")
def post_estimate(body: EstimateRequest, snapshot: SnapshotDep, response: Response) -> dict[str, Any]:
    """The same JSON as ``hwplan estimate --json``."""
    cat = snapshot.catalog
    config = resolve(cat, model=body.model, hardware=body.hardware, chips=body.chips, tp=body.tp,
                     pp=body.pp, precision=body.precision, kv_precision=body.kv_precision,
                     runtime=body.runtime)
    batch = 1 if body.scenario is Scenario.STATIC_BATCH and body.batch is None else body.batch
    result = estimate(cat, config, scenario=body.scenario, input_tokens=body.input_tokens,
                      output_tokens=body.output_tokens, batch=batch, request_rate=body.request_rate,
                      pricing=body.pricing)
    response.headers["X-Catalog-Version"] = cat.version
    return estimate_dict(result)
