"""GET /healthz (the process answers) and GET /readyz (the catalog loads)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import StoreDep
from api.errors import NotReady
from api.schemas import Health, Ready, problems
from planner.errors import CatalogError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", responses=problems((503, "the catalog does not load")))
def readyz(store: StoreDep) -> Ready:
    try:
        snap = store.snapshot()
    except CatalogError as exc:
        raise NotReady(f"catalog does not load: {exc.message}") from exc
    return Ready(status="ready", catalog_version=snap.catalog.version,
                 hardware=len(snap.catalog.hardware), models=len(snap.catalog.models))
