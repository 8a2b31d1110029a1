"""``create_app(settings)``: the FastAPI application (also a uvicorn factory: ``api.app:create_app``)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute, APIRouter

from api import errors
from api.deps import known_query
from api.headers import SecurityHeaders
from api.pool import PlanPool
from api.routes import (
    catalog,
    docs,
    estimate,
    examples,
    finetune,
    fleets,
    health,
    metrics,
    plans,
    prices,
    saved,
    validate,
    web,
)
from api.schemas import problems
from api.settings import Settings
from api.store import CatalogStore
from api.telemetry import BodyLimit, Telemetry, TelemetryMiddleware
from hardware_catalog.caching import answers_cache
from hardware_catalog.saved import PlanStore

__all__ = ["create_app"]

PROBLEMS = problems((404, "no such resource"), (408, "the request body stopped arriving"),
                    (413, "request body too large"), (415, "a body that is not application/json"),
                    (422, "invalid request: errors[].field names each problem"),
                    (500, "a bug; the server logged it"))


_log = logging.getLogger("hwplan.api")


@contextlib.asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    _warn_unready(app.state.store)
    yield
    app.state.plans.close()  # the saved plans' connection pool
    answers_cache.flush()  # the capacity answers found since the last write


def _warn_unready(store: CatalogStore) -> None:
    """Say at start-up what /readyz would say: a catalog that does not load fails every plan."""
    from hardware_catalog.loader import load_catalog
    from planner.errors import CatalogError

    try:
        load_catalog(store.dir)
    except CatalogError as exc:
        _log.error("the catalog at %s does not load (every plan request answers 503 until it is fixed): %s",
                   store.dir, exc.message)
    if store.outdated_base:
        _log.warning("the catalog at %s predates the shipped catalog of this version and was not "
                     "refreshed (it was edited, or hwplan did not create it)", store.dir)


def _head_beside_get(router: APIRouter) -> None:
    """HEAD wherever GET is (RFC 9110 9.3.2; it was 405 but on the probes: a client reading a catalog entry's ETag
    before a conditional PUT could not), as a route of its own left out of the schema, whose operations are the
    GETs (one route with both methods gives the operation two ids). Once per router (apps share the modules')."""
    heads = {r.path for r in router.routes if isinstance(r, APIRoute) and "HEAD" in (r.methods or ())}
    for r in list(router.routes):
        if isinstance(r, APIRoute) and "GET" in (r.methods or ()) and r.path not in heads:
            router.add_api_route(r.path.removeprefix(router.prefix), r.endpoint, methods=["HEAD"],
                                 include_in_schema=False, dependencies=r.dependencies,
                                 response_model=r.response_model, response_class=r.response_class)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app; the catalog directory is initialised (copied from the shipped one) if empty."""
    settings = settings or Settings()
    store = CatalogStore(settings.catalog_dir)
    store.initialise()
    telemetry = Telemetry()
    app = FastAPI(title="hwplan", version="0.1.0", responses=PROBLEMS, docs_url=None, redoc_url=None,
                  lifespan=_lifespan,
                  description="Hardware-aware LLM deployment planner: plans, estimates, validation, "
                              "and a versioned catalog with authenticated, conditional updates.")
    app.state.settings, app.state.store, app.state.telemetry = settings, store, telemetry
    app.state.pool = PlanPool(settings.plan_workers, settings.plan_queue, settings.retry_after_s)
    errors.install(app)
    app.state.plans = PlanStore(settings.database_url)
    modules = (health, metrics, saved, plans, fleets, estimate, finetune, validate, catalog, prices, examples)
    for module in modules:
        _head_beside_get(module.router)
        app.include_router(module.router, dependencies=[Depends(known_query)])
    # per route, its path pattern and methods: a 405 lists every method of the path (api.errors)
    app.state.route_methods = [(r.path_regex, frozenset(r.methods or ())) for m in modules for r in m.router.routes
                               if isinstance(r, APIRoute)]
    web.install(app)  # the page at / and its assets at /static
    docs.install(app)  # Swagger UI at /docs, from the swagger-ui-bundle package
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes, timeout_s=settings.body_timeout_s)
    app.add_middleware(TelemetryMiddleware, telemetry=telemetry)
    app.add_middleware(SecurityHeaders)  # outermost: every response, 413s and 500s included
    return app
