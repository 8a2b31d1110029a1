"""Capacity answers shared between the searches of one request (``prepare``'s ``memo``).

The basis is the search without sharing: a search handed another search's answers must return what
it returns alone, and the explanation of an infeasible workload must be the one its re-plans give
from scratch, with fewer shapes run through the queueing model.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import planner.search.explain as explain_module
import planner.search.prepare as prepare_module
from hardware_catalog.workload_file import load_workload
from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.run import run_search
from planner.workload import Objective, Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _queued_rows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Rows each ``Prepared._run`` sends through the queueing model, appended as they go."""
    counts: list[int] = []
    run = prepare_module.Prepared._run

    def counted(self: prepare_module.Prepared, rows: Any, *args: Any, **kwargs: Any) -> None:
        counts.append(len(rows))
        run(self, rows, *args, **kwargs)

    monkeypatch.setattr(prepare_module.Prepared, "_run", counted)
    return counts


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
    alone = _search(second, catalog, tables, None)
    assert alone.plans and shared.plans == alone.plans


def test_the_explanation_reuses_answers_and_says_the_same(catalog: Catalog, tables: CatalogTables,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """The infeasible example's relaxations (budget, quality floor) re-plan the same traffic and SLO: with
    the memo they are found with fewer queueing-model rows and are the same as without it."""
    w = load_workload(EXAMPLES / "infeasible.yaml")
    counts = _queued_rows(monkeypatch)
    shared = plan(w, catalog, tables=tables)
    with_memo = sum(counts)
    counts.clear()
    monkeypatch.setattr(explain_module, "_MEMO", _NoMemo())
    alone = plan(w, catalog, tables=tables)
    without = sum(counts)
    assert shared.infeasible is not None and alone.infeasible is not None
    assert shared.infeasible.relaxations == alone.infeasible.relaxations
    assert {r.constraint for r in shared.infeasible.relaxations} >= {"budget.max_cost_per_month", "quality.min_score"}
    assert with_memo < without


class _NoMemo:
    """A stand-in for explain's memo variable that never hands a memo on (each re-plan from scratch)."""

    def set(self, _value: object) -> None:
        return None

    def reset(self, _token: object) -> None:
        return None

    def get(self) -> None:
        return None


def test_the_pools_pinned_searches_reuse_answers_and_plan_the_same(catalog: Catalog, tables: CatalogTables,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A disaggregated plan searches each pool, then again pinned to the other pool's formats: the same
    traffic, SLO and served pool, so the pinned searches take the pool's answers (fewer queueing-model
    rows) and the plans are the ones each search gives from scratch."""
    import planner.search.disagg as disagg_module

    w = load_workload(EXAMPLES / "disagg-long-prompts.yaml")
    counts = _queued_rows(monkeypatch)
    shared = plan(w, catalog, tables=tables)
    with_memo = sum(counts)
    counts.clear()

    def without_memo(*args: Any, memo: object = None, **kwargs: Any) -> Any:
        return run_search(*args, **kwargs)

    monkeypatch.setattr(disagg_module, "run_search", without_memo)
    alone = plan(w, catalog, tables=tables)
    assert any("disaggregated" in p.why or len(p.deployments) == 2 for p in alone.plans)
    assert shared.plans == alone.plans
    assert with_memo < sum(counts)
