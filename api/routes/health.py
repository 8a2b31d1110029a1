"""GET (or HEAD) /healthz (the process answers) and /readyz (the catalog loads): async routes, so
they never wait for the thread pools that planning and sync routes use (see api.pool)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from api.deps import StoreDep
from api.errors import NotReady
from api.schemas import Health, Ready, problems
from planner.errors import CatalogError

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", responses=problems((503, "the catalog does not load")))
async def readyz(store: StoreDep) -> Ready:
    try:
        snap = await anyio.to_thread.run_sync(store.snapshot)  # a reload reads files
    except CatalogError as exc:
        raise NotReady(f"catalog does not load: {exc.message}") from exc
    return Ready(status="ready", catalog_version=snap.catalog.version,
                 hardware=len(snap.catalog.hardware), models=len(snap.catalog.models),
                 shipped_catalog_newer=store.outdated_base)


# HEAD for probes that read the status code alone (it was 405); left out of the schema, whose operations
# are the GETs (one route with both methods gives the operation two ids)
for _path, _endpoint in (("/healthz", healthz), ("/readyz", readyz)):
    router.add_api_route(_path, _endpoint, methods=["HEAD"], include_in_schema=False)
