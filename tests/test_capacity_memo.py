"""Capacity answers shared between searches (``prepare``'s ``memo``, by default the tables' store:
``planner.search.shapes.answers``).

The basis is the search without sharing: a search handed another search's answers must return what
it returns alone, a plan after a history of other requests must be the plan of a fresh store, and
the explanation of an infeasible workload must be the one its re-plans give from scratch, with fewer
shapes run through the queueing model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import planner.search.shapes.prepare as prepare_module
from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.run import run_search
from planner.search.shapes.answers import Answers
from planner.workload import Objective, Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _search(w: Workload, catalog: Catalog, tables: CatalogTables, memo: dict[bytes, Any] | None) -> Any:
    return run_search(w, catalog, top=5, objective=Objective.COST, time_limit_s=30.0, tables=tables, memo=memo).result


@pytest.mark.parametrize("change", ["slo", "traffic"])
def test_a_memo_from_another_question_changes_nothing(catalog: Catalog, tables: CatalogTables, change: str) -> None:
    """Answers kept under one SLO or traffic are not taken for another: the second search, handed the
    first one's memo, plans exactly as it does alone. The changes leave every shape's ceiling (part of
    a row's signature) as it was: a TTFT target (the ceiling reads the TPOT and e2e ones) and the
    prompts' spread (it reads the means); so the test fails when the memo's context leaves the SLO or
    the traffic out, and the capacities come from the other workload."""
    first = load_workload(EXAMPLES / "support-chatbot.yaml")
    if change == "slo":
        second = replace(first, slo=first.slo.with_target("ttft_ms", 99, first.slo.targets["ttft_ms"][99] * 0.3))
    else:
        t = first.traffic
        second = replace(first, traffic=replace(t, input_tokens=replace(t.input_tokens, p95=t.input_tokens.mean * 6)))
    memo: dict[bytes, Any] = {}
    _search(first, catalog, tables, memo)
    shared = _search(second, catalog, tables, memo)
    alone = _search(second, catalog, tables, {})
    assert alone.plans and shared.plans == alone.plans


def _alone(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every search from now on keeps its answers to itself (a fresh dict in place of the tables' store)."""
    monkeypatch.setattr(prepare_module, "shared", lambda _tables: Answers())


def test_the_explanation_reuses_answers_and_says_the_same(catalog: Catalog, tables: CatalogTables,
                                                           monkeypatch: pytest.MonkeyPatch, queued: list[int]) -> None:
    """The infeasible example's relaxations (budget, quality floor) re-plan the same traffic and SLO: with
    the memo they are found with fewer queueing-model rows and are the same as without it."""
    w = load_workload(EXAMPLES / "infeasible.yaml")
    counts = queued
    shared = plan(w, catalog, tables=tables)
    with_memo = sum(counts)
    counts.clear()
    _alone(monkeypatch)
    alone = plan(w, catalog, tables=tables)
    without = sum(counts)
    assert shared.infeasible is not None and alone.infeasible is not None
    assert shared.infeasible.relaxations == alone.infeasible.relaxations
    assert {r.constraint for r in shared.infeasible.relaxations} >= {"budget.max_cost_per_month", "quality.min_score"}
    assert with_memo < without


def test_the_pools_pinned_searches_reuse_answers_and_plan_the_same(catalog: Catalog, tables: CatalogTables,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   queued: list[int]) -> None:
    """A disaggregated plan searches each pool, then again pinned to the other pool's formats: the same
    traffic, SLO and served pool, so the pinned searches take the pool's answers (fewer queueing-model
    rows) and the plans are the ones each search gives from scratch."""
    w = load_workload(EXAMPLES / "disagg-long-prompts.yaml")
    counts = queued
    shared = plan(w, catalog, tables=tables)
    with_memo = sum(counts)
    counts.clear()
    _alone(monkeypatch)
    alone = plan(w, catalog, tables=tables)
    assert any("disaggregated" in p.why or len(p.deployments) == 2 for p in alone.plans)
    assert shared.plans == alone.plans
    assert with_memo < sum(counts)


def _edited(w: Workload) -> Workload:
    """The workload with what leaves every shape's capacity as it was changed: 1.6x the traffic (and its
    peak) and the budget raised by half."""
    t, b = w.traffic, w.budget
    peak = None if t.peak_requests_per_s is None else t.peak_requests_per_s * 1.6
    budget = None if b.max_cost_per_month is None else b.max_cost_per_month * 1.5
    return replace(w, traffic=replace(t, requests_per_s=t.requests_per_s * 1.6, peak_requests_per_s=peak),
                   budget=replace(b, max_cost_per_month=budget))


@pytest.mark.parametrize("name", ["support-chatbot", "rag-prefix-cache", "disagg-loses", "infeasible"])
def test_a_plan_after_other_requests_is_the_plan_of_a_fresh_process(catalog: Catalog, name: str,
                                                                    queued: list[int]) -> None:
    """A service keeps the answers of every request of a catalog version: the plan of an edited workload
    (more traffic, a larger budget) after the original and another example were planned must be the
    plan a fresh store gives (the basis: the same search with no history), for plain, prefix-cached,
    disaggregated and infeasible (explained) workloads; and it must run fewer shapes through the
    queueing model than the fresh one."""
    w = load_workload(EXAMPLES / f"{name}.yaml")
    edited = _edited(w)
    served_tables = CatalogTables.from_catalog(catalog)  # a service's: its own store
    for earlier in (w, load_workload(EXAMPLES / "code-assistant.yaml")):
        plan(earlier, catalog, tables=served_tables)
    counts = queued
    counts.clear()  # (the history's rows)
    after = plan(edited, catalog, tables=served_tables)
    with_history = sum(counts)
    counts.clear()
    fresh = plan(edited, catalog, tables=CatalogTables.from_catalog(catalog))
    assert after.plans == fresh.plans
    assert after.infeasible == fresh.infeasible
    assert with_history < sum(counts)


def test_the_store_keeps_the_newest_answers_within_its_size() -> None:


    store = Answers(size=3)
    for i in range(5):
        store[bytes([i])] = (float(i),)
    assert len(store) == 3
    assert store.get(bytes([0])) is None and store.get(bytes([1])) is None
    assert [store.get(bytes([i])) for i in (2, 3, 4)] == [(2.0,), (3.0,), (4.0,)]
    with pytest.raises(ValueError, match="at least 1"):
        Answers(size=0)


def test_a_bounded_store_smaller_than_one_search_still_plans_right(catalog: Catalog,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A store that drops answers while a search is still reading them (one slot) gives the plans of an
    unbounded one: an answer is read once, when filed, never looked up again after it may be gone."""


    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    tiny = Answers(size=1)
    monkeypatch.setattr(prepare_module, "shared", lambda _tables: tiny)
    small = plan(w, catalog, tables=CatalogTables.from_catalog(catalog))
    monkeypatch.setattr(prepare_module, "shared", lambda _tables: Answers())
    assert small.plans == plan(w, catalog, tables=CatalogTables.from_catalog(catalog)).plans
