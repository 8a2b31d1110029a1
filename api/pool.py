"""The bounded pool planning runs in: ``plan_workers`` threads and at most ``plan_queue`` requests
waiting for one. A request beyond that is refused at once with 503 and Retry-After (``Busy``),
so load cannot pile up unbounded work. The pool is separate from the event loop and from the
thread pool of sync routes, so /healthz and /readyz never wait behind planning. Work is bounded
by each request's deadline (time_limit_s); a client that disconnects stops waiting, and its
work ends at that deadline (a running search cannot be interrupted from outside).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from api.errors import ApiError

__all__ = ["Busy", "PlanPool"]

T = TypeVar("T")


class Busy(ApiError):
    status, title = 503, "busy"


class PlanPool:
    def __init__(self, workers: int, queue: int, retry_after_s: int) -> None:
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hwplan-plan")
        self._slots = threading.BoundedSemaphore(workers + queue)  # running + waiting
        self.capacity, self.retry_after_s = workers + queue, retry_after_s

    async def run(self, fn: Callable[[], T]) -> T:
        """``fn()`` on a pool thread; Busy (503) when every slot is taken."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"all {self.capacity} planning slots are taken; retry later",
                       headers={"Retry-After": str(self.retry_after_s)})
        try:
            future: Future[T] = self._executor.submit(fn)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _: self._slots.release())  # freed when the work ends
        return await asyncio.wrap_future(future)

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
