"""A search's stop signal beside its deadline: a caller that no longer wants the answer (the service, once the
client that asked has disconnected: ``api.pool``) sets an event, and every check of a deadline in the search
reads it as passed. The search then ends as at its deadline, at the next check (a branch-and-bound round, an
explanation's or lever report's next re-plan), with an unproven answer that nobody reads.

The event is per thread of work (a ``ContextVar``): ``stop_on(event)`` around the work, ``stopped()`` where a
deadline is checked. Without ``stop_on`` nothing is ever stopped, as in the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["passed", "stop_on", "stopped"]

_STOP: ContextVar[threading.Event | None] = ContextVar("hwplan_stop", default=None)


def stopped() -> bool:
    """Whether the work this runs in has been asked to stop."""
    event = _STOP.get()
    return event is not None and event.is_set()


def passed(deadline: float) -> bool:
    """Whether ``deadline`` (time.perf_counter) has passed, or the work has been asked to stop."""
    return time.perf_counter() > deadline or stopped()


@contextmanager
def stop_on(event: threading.Event) -> Iterator[None]:
    """Every search run inside stops at its next deadline check once ``event`` is set."""
    token = _STOP.set(event)
    try:
        yield
    finally:
        _STOP.reset(token)
