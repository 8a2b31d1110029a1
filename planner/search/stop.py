"""A search's stop signal beside its deadline: a caller that no longer wants the answer (the service, once the
client that asked has disconnected: ``api.pool``) sets a ``StopSignal``, and every check of a deadline in the search
reads it as passed. The search then ends as at its deadline, at the next check (a branch-and-bound round, an
explanation's or lever report's next re-plan, a fleet's next phase), with an unproven answer that nobody reads;
a CP-SAT solve under way is interrupted (``interrupting``: the solver's ``stop_search``).

The signal is per thread of work (a ``ContextVar``): ``stop_on(stop)`` around the work, ``stopped()`` where a
deadline is checked. Without ``stop_on`` nothing is ever stopped, as in the CLI."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["StopSignal", "interrupting", "passed", "stop_on", "stopped"]


class StopSignal:
    """Set once, from any thread; what is ``interrupting`` when it is set is called then."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._set = False
        self._calls: list[Callable[[], None]] = []

    def set(self) -> None:
        with self._lock:
            if self._set:
                return
            self._set, calls = True, list(self._calls)
        for call in calls:
            call()

    def is_set(self) -> bool:
        return self._set

    def _add(self, call: Callable[[], None]) -> bool:
        with self._lock:
            if not self._set:
                self._calls.append(call)
            return self._set

    def _remove(self, call: Callable[[], None]) -> None:
        with self._lock:
            if call in self._calls:
                self._calls.remove(call)


_STOP: ContextVar[StopSignal | None] = ContextVar("hwplan_stop", default=None)


def stopped() -> bool:
    """Whether the work this runs in has been asked to stop."""
    stop = _STOP.get()
    return stop is not None and stop.is_set()


def passed(deadline: float | None) -> bool:
    """Whether ``deadline`` (time.perf_counter; None: none) has passed, or the work has been asked to stop."""
    return (deadline is not None and time.perf_counter() > deadline) or stopped()


@contextmanager
def stop_on(stop: StopSignal) -> Iterator[None]:
    """Every search run inside stops at its next deadline check once ``stop`` is set."""
    token = _STOP.set(stop)
    try:
        yield
    finally:
        _STOP.reset(token)


RETRY_S = 0.05  # how often a stop repeats ``stop_search`` until the solve it is for has returned


@contextmanager
def interrupting(stop_search: Callable[[], None]) -> Iterator[bool]:
    """Around a solve: ``stop_search`` (CP-SAT's, which ends a solve under way from another thread) is called if
    the work is asked to stop meanwhile, and again every ``RETRY_S`` until the block ends: a call that comes
    before the solver has started its search is forgotten by it (``CpSolver.stop_search`` before ``solve`` makes
    its wrapper does nothing). Yields whether the work was asked to stop already: the caller then gives the
    solve no time."""
    stop = _STOP.get()
    if stop is None:
        yield False
        return
    ended = threading.Event()

    def repeat() -> None:
        while not ended.is_set():
            stop_search()
            ended.wait(RETRY_S)

    def on_stop() -> None:
        threading.Thread(target=repeat, name="hwplan-stop-search", daemon=True).start()

    already = stop._add(on_stop)
    try:
        yield already
    finally:
        ended.set()
        stop._remove(on_stop)
