"""Prometheus metrics (one registry per app, no globals) and the request middleware."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import PayloadTooLarge, RequestTimeout, UnsupportedMediaType, problem_response

__all__ = ["BodyLimit", "Telemetry", "TelemetryMiddleware"]

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
# the methods counted by name; any other (a client may send any token as a method) counts as "other", so that
# no client can add series to /metrics without bound (3,000 invented methods made it 7.6 MB)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class Telemetry:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("hwplan_http_requests", "HTTP requests by route and status",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("hwplan_http_request_duration_seconds", "HTTP latency by route",
                                 ("method", "route"), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.plans = Counter("hwplan_plans", "Plan requests answered, by outcome (feasible, infeasible, "
                             "time_limit, cancelled: the client left)",
                             ("outcome",), registry=self.registry)
        self.solver = Histogram("hwplan_plan_search_seconds", "Planner search time (solver included)",
                                buckets=LATENCY_BUCKETS, registry=self.registry)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class TelemetryMiddleware:
    """Counts every request and its latency under the matched route template."""

    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        self.app, self.telemetry = app, telemetry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"] if scope["method"] in METHODS else "other"
            self.telemetry.latency.labels(method, route).observe(time.perf_counter() - start)
            self.telemetry.requests.labels(method, route, str(status)).inc()


JSON_TYPES = ("application/json", "application/problem+json")  # what a request body may be (every route reads JSON)


class _Repeated(Exception):
    def __init__(self, key: str) -> None:
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise _Repeated(key)
        seen[key] = value
    return seen


def repeated_key(body: bytes) -> str | None:
    """The first key a JSON object of ``body`` repeats (None: none, or not JSON, which the route's own parser
    answers). JSON leaves a repeated key's meaning open and Python's parser keeps the last: a workload with
    requests_per_s 4000 then 40 planned for 40, and a catalog write of memory_gb 24.15 then 0.5 stored 0.5, where
    the same document as a file (YAML) is refused naming the key."""
    try:
        json.loads(body, object_pairs_hook=_unique)
    except _Repeated as exc:
        return exc.key
    except (ValueError, RecursionError):
        return None
    return None


class BodyLimit:
    """Reads a request's body before any route does and answers, as problem+json: 413 for a body over
    ``max_bytes`` (declared or streamed), 408 when the whole body has not arrived ``timeout_s`` after the
    read began (a slow client would otherwise hold its connection and a worker's read for as long as it
    likes: one that sent a byte every few seconds reset a per-chunk timer for ever), 415 for a body that
    is not declared JSON (it was parsed anyway and refused as "not a valid dictionary"), and 422 for a JSON body
    that repeats a key within an object (``repeated_key``)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout_s: float = 30.0) -> None:
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        too_big = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
        chunks: list[Message] = []
        received = 0
        exc: Exception | None = None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout_s  # for the whole body, however it is split
        while not too_big:
            try:
                message = await asyncio.wait_for(receive(), max(deadline - loop.time(), 0.0))
            except TimeoutError:
                exc = RequestTimeout(f"the request body did not arrive within {self.timeout_s:g} s")
                break
            chunks.append(message)
            received += len(message.get("body", b""))
            too_big = received > self.max_bytes
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        if too_big:
            exc = PayloadTooLarge(f"request body over the limit of {self.max_bytes} bytes")
        media = headers.get(b"content-type", b"").split(b";")[0].strip().decode("latin-1").lower()
        if exc is None and received and media not in JSON_TYPES:
            exc = UnsupportedMediaType(f"the body is {media or 'of no declared type'}: send it as application/json")
        if isinstance(exc, RequestTimeout | PayloadTooLarge | UnsupportedMediaType):
            await problem_response(exc.status, exc.title, exc.detail, instance=scope["path"])(
                scope, receive, send)
            return
        if received and (repeated := repeated_key(b"".join(m.get("body", b"") for m in chunks))) is not None:
            why = f"the key {repeated!r} appears twice in one object (which one counts is not defined)"
            await problem_response(422, "invalid request", f"body: {why}", instance=scope["path"],
                                   errors=[{"field": "body", "message": why}])(scope, receive, send)
            return

        async def replay() -> Message:
            return chunks.pop(0) if chunks else await receive()

        await self.app(scope, replay, send)
