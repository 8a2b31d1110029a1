"""POST /v1/estimate: one configuration's memory, latency, throughput and cost."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import SnapshotDep
from api.schemas import EstimateRequest
from hardware_catalog.inputs.workload import to_pricing
from hardware_catalog.outputs import EstimateOut, estimate_out
from hardware_catalog.prices import offers_book
from planner.model.estimate import Scenario, estimate, resolve

__all__ = ["router"]

router = APIRouter(tags=["planning"])


@router.post("/v1/estimate", response_model=EstimateOut, response_model_exclude_unset=True)
def post_estimate(body: EstimateRequest, snapshot: SnapshotDep, response: Response) -> EstimateOut:
    """The same JSON as ``hwplan estimate --json``."""
    cat = snapshot.catalog
    config = resolve(cat, model=body.model, hardware=body.hardware, chips=body.chips, tp=body.tp,
                     pp=body.pp, precision=body.precision, kv_precision=body.kv_precision,
                     runtime=body.runtime, ep=body.ep)
    batch = 1 if body.scenario is Scenario.STATIC_BATCH and body.batch is None else body.batch
    result = estimate(cat, config, scenario=body.scenario, input_tokens=body.input_tokens,
                      output_tokens=body.output_tokens, batch=batch, request_rate=body.request_rate,
                      input_p95=body.input_p95, output_p95=body.output_p95,
                      pricing=to_pricing(body.pricing, file="body.pricing",
                                         sheet=offers_book(body.prices, file="body.prices", field="prices")
                                         if body.prices else None),
                      measured_speed=True)
    response.headers["X-Catalog-Version"] = cat.version
    return estimate_out(result)
