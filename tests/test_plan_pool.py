"""The planning pool (api.pool): a request whose client has gone stops waiting, and its work, if it has not
started, never runs and frees its slot at once. Basis: a worker held by a job that blocks until released, so
what runs, what waits and what the slots allow is fixed by the test, not by timing."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from api.pool import Busy, ClientGone, PlanPool


async def _scenario(client_leaves: bool) -> tuple[list[str], bool]:
    pool = PlanPool(workers=1, queue=1, retry_after_s=1)
    release, ran = threading.Event(), []

    def blocking() -> str:
        release.wait(5)
        ran.append("first")
        return "first"

    def queued() -> str:
        ran.append("queued")
        return "queued"

    first = asyncio.create_task(pool.run(blocking))
    await asyncio.sleep(0.05)  # the worker now runs the first job; the next one waits in the queue

    async def gone() -> bool:
        return client_leaves

    waiting = asyncio.create_task(pool.run(queued, gone))
    await asyncio.sleep(0.4)  # past one poll
    third_admitted = True
    try:
        third = asyncio.create_task(pool.run(lambda: "third"))
        await asyncio.sleep(0)
        if third.done() and isinstance(third.exception(), Busy):
            third_admitted = False
    finally:
        release.set()
    assert await first == "first"
    if client_leaves:
        with pytest.raises(ClientGone):
            await waiting
    else:
        assert await waiting == "queued"
    if third_admitted:
        assert await third == "third"
    pool.shutdown()
    return ran, third_admitted


def test_a_queued_request_whose_client_left_never_runs_and_frees_its_slot() -> None:
    ran, third_admitted = asyncio.run(_scenario(client_leaves=True))
    assert "queued" not in ran
    assert third_admitted  # its slot was free for the next request while the first still ran


def test_a_client_that_stays_gets_its_answer_and_holds_its_slot() -> None:
    ran, third_admitted = asyncio.run(_scenario(client_leaves=False))
    assert ran == ["first", "queued"]
    assert not third_admitted  # one running, one waiting: every slot taken, 503


def test_a_started_request_whose_client_left_is_asked_to_stop() -> None:
    """The job polls planner.search.stop.stopped() as a search checks its deadline; it ends when the pool sets
    the stop after the client's disconnect, long before its own 10 s wait (a running search once ran on to its
    deadline: a worker held for up to time_limit_s by an answer no one reads)."""
    from planner.search.stop import stopped

    async def scenario() -> list[bool]:
        pool = PlanPool(workers=1, queue=0, retry_after_s=1)
        started, ended, seen = threading.Event(), threading.Event(), []

        def search() -> str:
            started.set()
            for _ in range(1000):
                if stopped():
                    break
                threading.Event().wait(0.01)
            seen.append(stopped())
            ended.set()
            return "done"

        async def gone() -> bool:
            return started.is_set()  # the client leaves once its search runs

        with pytest.raises(ClientGone):
            await pool.run(search, gone)
        assert await asyncio.to_thread(ended.wait, 5)
        assert await pool.run(lambda: stopped()) is False  # the next request on that thread is not stopped
        pool.shutdown()
        return seen

    assert asyncio.run(scenario()) == [True]


def test_a_plan_request_stopped_during_its_search_computes_nothing_after_it(
        api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stop that comes while the search runs (the client gone, played here by setting the job's own stop when
    the search returns) ends the request's work there: no lever report, counted ``cancelled``. Basis: the lever
    report's calls counted, and the metric."""
    import yaml

    import api.routes.plans as plans_route
    from planner.search import stop as stop_module

    searched = plans_route.plan
    levers: list[int] = []

    def search_then_client_gone(*args: Any, **kwargs: Any) -> Any:
        result = searched(*args, **kwargs)
        signal = stop_module._STOP.get()
        assert signal is not None  # (the pool runs every job under its own stop)
        signal.set()
        return result

    monkeypatch.setattr(plans_route, "plan", search_then_client_gone)
    monkeypatch.setattr(plans_route, "lever_report", lambda *a, **k: levers.append(1))
    body = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "heterogeneous-mix.yaml").read_text())
    before = _cancelled(api)
    # (a time limit no other test asks: the module's service keeps its answers in its plan cache)
    r = api.post("/v1/plans", json=body, params={"levers": "true", "time_limit_s": 9.25})
    assert r.status_code == 200 and "levers" not in r.json()
    assert not levers and _cancelled(api) == before + 1


def _cancelled(api: Any) -> float:
    import re

    found = re.search(r'^hwplan_plans_total\{outcome="cancelled"\} (\S+)$', api.get("/metrics").text, re.M)
    return float(found.group(1)) if found else 0.0
