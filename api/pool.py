"""The bounded pool planning runs in: ``plan_workers`` threads and at most ``plan_queue`` requests
waiting for one. A request beyond that is refused at once with 503 and Retry-After (``Busy``),
so load cannot pile up unbounded work. The pool is separate from the event loop and from the
thread pool of sync routes, so /healthz and /readyz never wait behind planning. Work is bounded
by each request's deadline (time_limit_s). A request whose client disconnects (``run``'s ``gone``, polled
every ``POLL_S``) stops waiting: its work is cancelled if it has not started, so it frees its slot at once
(clients that time out and retry left queued work that took every slot: 503s until it ran), and a started
one is asked to stop (``planner.search.stop``): its search ends at its next deadline check, as if its
deadline had passed, and a CP-SAT solve under way is interrupted.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from api.errors import ApiError
from planner.search.stop import StopSignal, stop_on

__all__ = ["POLL_S", "Busy", "ClientGone", "PlanPool"]

T = TypeVar("T")
POLL_S = 0.25  # how often a waiting request checks that its client is still there


class Busy(ApiError):
    status, title = 503, "busy"


class ClientGone(ApiError):
    """The client closed the connection before its answer (nginx's 499: no one reads this response)."""

    status, title = 499, "client closed request"


class PlanPool:
    def __init__(self, workers: int, queue: int, retry_after_s: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hwplan-plan")
        self._slots = threading.BoundedSemaphore(workers + queue)  # running + waiting
        self.capacity, self.retry_after_s = workers + queue, retry_after_s

    async def run(self, fn: Callable[[], T], gone: Callable[[], Awaitable[bool]] | None = None) -> T:
        """``fn()`` on a pool thread; Busy (503) when every slot is taken; ClientGone once ``gone()`` (the
        request's ``is_disconnected``) says the client left, ``fn`` cancelled if it has not started and asked
        to stop (``planner.search.stop.stopped()`` true inside it) if it has."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"all {self.capacity} planning slots are taken; retry later",
                       headers={"Retry-After": str(self.retry_after_s)})
        stop = StopSignal()

        def stoppable() -> T:
            with stop_on(stop):
                return fn()

        try:
            future: Future[T] = self._executor.submit(stoppable)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())  # freed when the work ends (or is cancelled)
        answer = asyncio.wrap_future(future)
        if gone is None:
            return await answer
        while True:
            done, _ = await asyncio.wait({answer}, timeout=POLL_S)
            if done:
                return answer.result()
            if await gone():
                future.cancel()  # not started: it never runs
                stop.set()  # started: its search stops at its next deadline check; its slot is freed then
                answer.cancel()
                raise ClientGone("the client closed the connection before the answer")

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
