"""A search asked to stop (planner.search.stop: the service's client has gone, api.pool) ends at its next
deadline check as if its deadline had passed. Basis: the branch and bound's own rounds, counted, and the
same search left alone; the stop is set from inside the search (after its first round), not by a timer."""

from __future__ import annotations

import importlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search import branch_bound
from planner.search.explain import explain_infeasible
from planner.search.planning import plan
from planner.search.results import PlanResult
from planner.search.run import run_search
from planner.search.stop import StopSignal, interrupting, stop_on, stopped
from planner.workload import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _counted_rounds(monkeypatch: pytest.MonkeyPatch, stop_after: int | None) -> tuple[list[int], StopSignal]:
    """Count the branch and bound's rounds; set the stop once ``stop_after`` of them have run."""
    event, rounds = StopSignal(), []
    original = branch_bound.BranchAndBound._round

    def counted(self: branch_bound.BranchAndBound, keys: list[int]) -> None:
        original(self, keys)
        rounds.append(len(keys))
        if stop_after is not None and len(rounds) >= stop_after:
            event.set()

    monkeypatch.setattr(branch_bound.BranchAndBound, "_round", counted)
    return rounds, event


def test_a_search_asked_to_stop_ends_after_the_round_it_is_in(monkeypatch: pytest.MonkeyPatch, catalog: Catalog,
                                                             tables: CatalogTables) -> None:
    w = load_workload(EXAMPLES / "code-assistant.yaml")
    rounds, event = _counted_rounds(monkeypatch, stop_after=None)
    with stop_on(event):
        whole = plan(w, catalog, top=3, time_limit_s=600, tables=tables, explain=False)
    assert len(rounds) > 1 and whole.search.stop != "deadline" and whole.plans  # (the unstopped baseline)

    rounds, event = _counted_rounds(monkeypatch, stop_after=1)
    with stop_on(event):
        cut = plan(w, catalog, top=3, time_limit_s=600, tables=tables, explain=False)
    assert len(rounds) == 1  # a 600 s deadline, and no second round
    assert cut.search.stop == "deadline" and cut.search.solver_status == "TIME_LIMIT"
    assert cut.search.evaluated < whole.search.evaluated


def test_an_explanation_asked_to_stop_tries_no_relaxation(catalog: Catalog, tables: CatalogTables) -> None:
    w = load_workload(EXAMPLES / "infeasible.yaml")
    searched = run_search(w, catalog, top=3, objective=Objective.COST, time_limit_s=60, tables=tables)
    assert not searched.result.plans
    explained = explain_infeasible(catalog, tables, w, searched.prepared, objective=Objective.COST)
    assert explained.relaxations and explained.complete  # the baseline: relaxations exist
    event, replans = StopSignal(), []

    def counted(*args: Any, **kwargs: Any) -> PlanResult:
        replans.append(1)
        return run_search(*args, **kwargs).result

    event.set()
    with stop_on(event):
        stopped_early = explain_infeasible(catalog, tables, w, searched.prepared, objective=Objective.COST,
                                           search=counted)
    assert not replans  # not one relaxed workload planned
    assert not stopped_early.relaxations and not stopped_early.complete
    assert set(explained.reasons) <= set(stopped_early.reasons)  # the reasons need no re-plan: still given


def test_nothing_is_stopped_outside_stop_on() -> None:
    event = StopSignal()
    event.set()
    assert not stopped()
    seen: list[bool] = []
    with stop_on(event):
        assert stopped()
        other = threading.Thread(target=lambda: seen.append(stopped()))  # another request's pool thread
        other.start()
        other.join()
    assert seen == [False] and not stopped()


def test_a_fleet_asked_to_stop_interrupts_its_schedule_solve(monkeypatch: pytest.MonkeyPatch, catalog: Catalog,
                                                             tables: CatalogTables) -> None:
    """The example fleet's joint schedule solve runs to its limit (30 s of a 68 s run at --time-limit 30; its
    other solves end within 3 s). The stop is set by the first solve still running after 3 s; CP-SAT's
    stop_search ends it and the phases after it are skipped. Basis: wall clock against those 30 s and 68 s
    (a loaded machine's margin)."""
    from ortools.sat.python import cp_model

    from hardware_catalog.inputs.fleet import load_fleet
    from planner.fleet.planning import plan_fleet

    fleet, _ = load_fleet(EXAMPLES / "fleet" / "fleet.yaml")
    stop, stopped_in = StopSignal(), []
    original = cp_model.CpSolver.solve

    def solve(self: cp_model.CpSolver, model: cp_model.CpModel, *args: Any, **kwargs: Any) -> Any:
        started, running = time.perf_counter(), [True]

        def long_solve() -> None:
            if running[0] and not stop.is_set():
                stopped_in.append(started)
                stop.set()

        watchdog = threading.Timer(3.0, long_solve)
        watchdog.start()
        try:
            return original(self, model, *args, **kwargs)
        finally:
            running[0] = False
            watchdog.cancel()
            if stopped_in and stopped_in[-1] == started:
                stopped_in[-1] = time.perf_counter() - started  # how long the stopped solve ran

    monkeypatch.setattr(cp_model.CpSolver, "solve", solve)
    start = time.perf_counter()
    with stop_on(stop):
        plan_fleet(fleet, catalog, tables=tables, time_limit_s=30)
    assert len(stopped_in) == 1 and stopped_in[0] < 15, stopped_in  # stopped 3 s in, not at 30
    assert time.perf_counter() - start < 40


def test_a_stop_that_comes_before_the_solver_listens_is_repeated_until_the_solve_ends() -> None:
    """``CpSolver.stop_search`` before its ``solve`` has made its wrapper does nothing: a stop set between
    ``interrupting``'s check and that moment was lost, and the solve ran to its limit. The stop is repeated
    (every ``RETRY_S``) until the block ends. Basis: a solver that listens only 0.2 s after it starts and
    otherwise waits 5 s."""
    stop, listening, ended, calls = StopSignal(), threading.Event(), threading.Event(), []

    def stop_search() -> None:
        calls.append(time.perf_counter())
        if listening.is_set():
            ended.set()

    def solve() -> bool:
        time.sleep(0.2)  # making its wrapper
        listening.set()
        return ended.wait(5)

    with stop_on(stop), interrupting(stop_search) as already:
        assert not already
        stop.set()  # before the solver listens
        assert solve()  # ended by a repeated call, not by its 5 s
    n = len(calls)
    assert n >= 2
    time.sleep(0.3)
    assert len(calls) == n  # nothing is called once the solve has returned


def test_a_lever_report_asked_to_stop_replans_no_lever(monkeypatch: pytest.MonkeyPatch, catalog: Catalog,
                                                       tables: CatalogTables) -> None:
    """Each lever is a re-plan (enumeration, screen, search); once the stop is set none is started, and every row
    says it is incomplete. Basis: the re-plans counted, and the same report unstopped."""
    lever_module = importlib.import_module("planner.search.lever_report")  # (the package exports the function)

    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    top = plan(w, catalog, top=1, time_limit_s=60, tables=tables, explain=False).plans[0]
    replans: list[int] = []
    original = lever_module.plan

    def counted(*args: Any, **kwargs: Any) -> PlanResult:
        replans.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(lever_module, "plan", counted)
    whole = lever_module.lever_report(catalog, w, top, tables=tables)
    assert replans and all(row.complete for row in whole)  # (the baseline: every lever re-planned)
    replans.clear()
    stop = StopSignal()
    stop.set()
    with stop_on(stop):
        cut = lever_module.lever_report(catalog, w, top, tables=tables)
    assert not replans and len(cut) == len(whole) and not any(row.complete for row in cut)
