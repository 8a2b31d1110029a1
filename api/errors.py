"""The one place errors become RFC 9457 ``application/problem+json`` responses.

    PlannerError (planner.errors)           ApiError (here: the service's own)
     +-- CatalogError        -> 422          +-- Unauthorized         401
     +-- InputError          -> 422          +-- Forbidden            403
     +-- InfeasibleError     -> 422          +-- NotFound             404
     +-- SolverTimeoutError  -> 503          +-- Conflict             409
     +-- StoreError          -> 503          +-- PreconditionFailed   412
    RequestValidationError   -> 422          +-- RequestTimeout       408
                                             +-- PayloadTooLarge      413
                                             +-- UnsupportedMediaType 415
    HTTPException (routing)  -> its status   +-- LimitExceeded        422
    anything else            -> 500          +-- PreconditionRequired 428

Every body has ``type``, ``title``, ``status``, ``detail``, ``instance``; problems about a field
add ``errors: [{field, message}]``. ``field`` has one format everywhere: the part of the request
(``body``, ``query``, ``path``, ``header``) then the dotted path into it, e.g.
``body.constraints.models.0``, ``query.top``, ``path.entry_id``; a body that is not JSON is
``body``. Errors raised with a bare field (the planner's, relative to the body) are qualified
here: a name among the request's path or query parameters gets that prefix, anything else
``body.``.
"""

from __future__ import annotations

import itertools
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from hardware_catalog.files import field_path, key_message
from planner.errors import CatalogError, InfeasibleError, InputError, PlannerError, SolverTimeoutError, StoreError

__all__ = [
    "PROBLEM_TYPE",
    "ApiError",
    "Conflict",
    "Forbidden",
    "LimitExceeded",
    "NotFound",
    "NotReady",
    "PayloadTooLarge",
    "PreconditionFailed",
    "PreconditionRequired",
    "Unauthorized",
    "install",
    "problem_response",
]

PROBLEM_TYPE = "application/problem+json"
log = logging.getLogger("hwplan.api")


class ApiError(Exception):
    """An error of the service itself (auth, HTTP preconditions, limits)."""

    status = 400
    title = "bad request"

    def __init__(self, detail: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.headers = headers or {}


class Unauthorized(ApiError):
    status, title = 401, "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    status, title = 403, "forbidden"


class NotFound(ApiError):
    status, title = 404, "not found"


class Conflict(ApiError):
    status, title = 409, "conflict"


class PreconditionFailed(ApiError):
    status, title = 412, "precondition failed"


class RequestTimeout(ApiError):
    status, title = 408, "request timeout"


class PayloadTooLarge(ApiError):
    status, title = 413, "payload too large"


class UnsupportedMediaType(ApiError):
    status, title = 415, "unsupported media type"


class LimitExceeded(ApiError):
    status, title = 422, "search-space limit exceeded"


class PreconditionRequired(ApiError):
    status, title = 428, "precondition required"


class NotReady(ApiError):
    status, title = 503, "not ready"


_PLANNER_STATUS: tuple[tuple[type[PlannerError], int], ...] = (
    (SolverTimeoutError, 503), (StoreError, 503), (InfeasibleError, 422), (InputError, 422), (CatalogError, 422))


def problem_response(status: int, title: str, detail: str, *, instance: str | None = None,
                     headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    if instance is not None:  # the request's path, cut where a client sent a long one (it is echoed, not needed whole)
        body["instance"] = instance if len(instance) <= 256 else f"{instance[:256]}..."
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_TYPE)


LOCATIONS = ("body", "query", "path", "header")


def qualify(request: Request, field: str) -> str:
    """``field`` in the one format: prefixed by the part of the request it names."""
    head = field.split(".")[0]
    if head in LOCATIONS:
        return field
    if head in request.path_params:
        return f"path.{field}"
    if head in request.query_params or request.method in ("GET", "HEAD", "DELETE"):  # (these carry no body)
        return f"query.{field}"
    return f"body.{field}"


def _field_errors(request: Request, field: str | None, message: str) -> list[dict[str, str]] | None:
    return None if field is None else [{"field": qualify(request, field), "message": message}]


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return problem_response(exc.status, exc.title, exc.detail, instance=request.url.path,
                            headers=exc.headers, errors=_field_errors(request, exc.field, exc.detail))


async def _planner_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, PlannerError)
    status = next((code for kind, code in _PLANNER_STATUS if isinstance(exc, kind)), 422)
    if isinstance(exc, StoreError):  # the service's own database: its URL and the driver's words go to the log
        log.error("%s", exc.message)
        return problem_response(status, exc.title, "the saved plans' database cannot be used now (the service's "
                                "log says why); retry later", instance=request.url.path)
    extra: dict[str, Any] = {"errors": _field_errors(request, exc.field, exc.detail)}
    if isinstance(exc, InfeasibleError):
        extra.update(reasons=exc.reasons, relaxations=exc.relaxations)
    # a field named as the schema's own errors name it (body. / query. / path.), where the message named it bare (a
    # new user: 'constraints.hardware.0: unknown id' beside the schema's 'body.traffic.requests_per_s: ...')
    field = exc.field if isinstance(exc, InputError) else None
    detail = f"{qualify(request, field)}: {exc.detail}" if field else exc.message
    return problem_response(status, exc.title, detail, instance=request.url.path, **extra)


def _loc(loc: tuple[Any, ...] | list[Any]) -> str:
    return field_path(loc)


ERRORS_LISTED = 50  # field errors a 422 lists (errors_total counts them all): a body of 10^5 bad records
# listed every one of its ~10^6 errors, a 240 MB answer


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    found = exc.errors()
    errors = [{"field": _loc(e["loc"]) if e["type"] != "json_invalid" else "body",
               "message": "unknown field" if e["type"] == "extra_forbidden"
               else key_message(e["loc"], str(e["msg"]).removeprefix("Value error, "))}
              for e in itertools.islice(found, ERRORS_LISTED)]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
    if len(found) > 5:
        detail += f" (and {len(found) - 5} more)"
    return problem_response(422, "invalid request", detail, instance=request.url.path, errors=errors,
                            errors_total=len(found) if len(found) > len(errors) else None)


BODY_PARSE_ERROR = "There was an error parsing the body"  # FastAPI's 400 where its JSON decoder raised


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400 and exc.detail == BODY_PARSE_ERROR:
        # a body the decoder gave up on (bytes that are not UTF-8, an integer past Python's 4,300 digits,
        # nesting past its recursion limit): not JSON the service can read, answered as every other such body is
        message = "the body is not JSON this service can read (not UTF-8, a number too long or nesting too deep)"
        return problem_response(422, "invalid request", f"body: {message}", instance=request.url.path,
                                errors=[{"field": "body", "message": message}])
    headers = dict(exc.headers or {})
    if exc.status_code == 405:  # every method of the path (Starlette names the first route that matched it alone)
        headers["Allow"] = ", ".join(_methods_of(request))
    return problem_response(exc.status_code, str(exc.detail).lower(), str(exc.detail),
                            instance=request.url.path, headers=headers)


def _methods_of(request: Request) -> list[str]:
    """The methods some route of the app takes at the request's path (``app.state.route_methods``)."""
    routes = getattr(request.app.state, "route_methods", ())
    return sorted({m for pattern, methods in routes if pattern.match(request.url.path) for m in methods})


async def _bug(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(500, "internal error", "an unexpected error occurred; it has been logged",
                            instance=request.url.path)


def install(app: FastAPI) -> None:
    """Register the handlers: the only place any error becomes a response."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(PlannerError, _planner_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
