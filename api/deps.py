"""Dependencies, injected as ``Annotated[..., Depends(...)]`` aliases (override them in tests)."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, NotReady, Unauthorized
from api.pool import PlanPool
from api.settings import Settings
from api.store import CatalogStore, Snapshot
from api.telemetry import Telemetry
from planner.errors import CatalogError, InputError

__all__ = ["PoolDep", "SettingsDep", "SnapshotDep", "StoreDep", "TelemetryDep", "WriterDep", "WriterNameDep"]

_bearer = HTTPBearer(auto_error=False, description="HWPLAN_API_KEY; needed for catalog writes")


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_store(request: Request) -> CatalogStore:
    store: CatalogStore = request.app.state.store
    return store


async def get_telemetry(request: Request) -> Telemetry:
    telemetry: Telemetry = request.app.state.telemetry
    return telemetry


async def get_pool(request: Request) -> PlanPool:
    pool: PlanPool = request.app.state.pool
    return pool


SettingsDep = Annotated[Settings, Depends(get_settings)]
PoolDep = Annotated[PlanPool, Depends(get_pool)]
StoreDep = Annotated[CatalogStore, Depends(get_store)]
TelemetryDep = Annotated[Telemetry, Depends(get_telemetry)]


def get_snapshot(store: StoreDep) -> Snapshot:
    """The catalog version this request uses from start to end. A catalog the service cannot load
    is the service's problem, not the request's: 503 naming the catalog file (as /readyz does),
    never a 422 that blames a field of the request body."""
    try:
        return store.snapshot()
    except CatalogError as exc:
        raise NotReady(f"the service's catalog ({store.dir}) does not load: {exc.message}; "
                       "no request can be planned until it is fixed (GET /readyz)") from exc


SnapshotDep = Annotated[Snapshot, Depends(get_snapshot)]


def require_writer(settings: SettingsDep,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """Check the bearer key against every configured key in constant time (each comparison runs,
    whichever matches); returns the matching key's name for the history."""
    keys = settings.writer_keys()
    if not keys:
        raise Forbidden("this server has no HWPLAN_API_KEY set, so it refuses writes (catalog edits, deleting "
                        "saved plans): it is read-only")
    if credentials is None:
        raise Unauthorized("writes (catalog edits, deleting saved plans) need Authorization: Bearer <key>")
    given = credentials.credentials.encode()
    matched = [name for name, key in keys.items() if hmac.compare_digest(given, key)]
    if not matched:
        raise Unauthorized("the bearer key is not valid")
    return matched[0]


WriterDep = Annotated[str, Depends(require_writer)]


def writer_name(settings: SettingsDep,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
    """The name of a valid key given with the request, else "anonymous" (saving a plan needs no key,
    and a request that does not save must not fail on its key)."""
    keys = settings.writer_keys()
    if credentials is None or not keys:
        return "anonymous"
    given = credentials.credentials.encode()
    matched = [name for name, key in keys.items() if hmac.compare_digest(given, key)]
    return matched[0] if matched else "anonymous"


WriterNameDep = Annotated[str, Depends(writer_name)]


def _query_names(d: Dependant) -> set[str]:
    """The query parameters a route (its own and its dependencies') reads."""
    names = {p.alias for p in d.query_params}
    for sub in d.dependencies:
        names |= _query_names(sub)
    return names


async def known_query(request: Request) -> None:
    """Refuse a query parameter the route does not take (422 naming it), as a body refuses an unknown field: a
    misspelt ``?objectve=latency`` planned by cost and ``/v1/prices?hardwre=zz`` listed every offer, unnoticed."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    declared = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - declared)
    if unknown:
        takes = ", ".join(sorted(declared)) or "none"
        raise InputError(f"unknown parameter (this route takes: {takes})", field=f"query.{unknown[0]}")
