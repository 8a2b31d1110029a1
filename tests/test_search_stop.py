"""A search asked to stop (planner.search.stop: the service's client has gone, api.pool) ends at its next
deadline check as if its deadline had passed. Basis: the branch and bound's own rounds, counted, and the
same search left alone; the stop is set from inside the search (after its first round), not by a timer."""

from __future__ import annotations

import threading
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
from planner.search.stop import stop_on, stopped
from planner.workload import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _counted_rounds(monkeypatch: pytest.MonkeyPatch, stop_after: int | None) -> tuple[list[int], threading.Event]:
    """Count the branch and bound's rounds; set the stop once ``stop_after`` of them have run."""
    event, rounds = threading.Event(), []
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
    event, replans = threading.Event(), []

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
    event = threading.Event()
    event.set()
    assert not stopped()
    seen: list[bool] = []
    with stop_on(event):
        assert stopped()
        other = threading.Thread(target=lambda: seen.append(stopped()))  # another request's pool thread
        other.start()
        other.join()
    assert seen == [False] and not stopped()
