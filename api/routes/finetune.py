"""POST /v1/finetune: the one-time cost of adapting a model, per hardware, cheapest first."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import SnapshotDep
from api.schemas import FinetuneRequest
from hardware_catalog.outputs import FinetuneOut, finetune_out
from planner.levers.finetune import adaptation_options

__all__ = ["router"]

router = APIRouter(tags=["planning"])


@router.post("/v1/finetune", response_model=FinetuneOut, response_model_exclude_unset=True)
def post_finetune(body: FinetuneRequest, snapshot: SnapshotDep, response: Response) -> FinetuneOut:
    """The same JSON as ``hwplan finetune --json``."""
    cat = snapshot.catalog
    student = cat.get_model(body.model)
    teacher = cat.get_model(body.teacher, field_name="teacher") if body.teacher else None
    options, basis = adaptation_options(cat, model=student, method=body.method, dataset_tokens=body.dataset_tokens,
                                        epochs=body.epochs, teacher=teacher, hardware=tuple(body.hardware or ()),
                                        pricing=body.pricing)
    response.headers["X-Catalog-Version"] = cat.version
    return finetune_out(options, basis, model=student.id, method=body.method,
                        teacher=teacher.id if teacher else None, dataset_tokens=body.dataset_tokens,
                        epochs=body.epochs, pricing=body.pricing)
