"""The serving examples show what their comments claim (issue #17's must-show examples).

Basis: each claim is a comparison of two plans of the same workload that differ in one serving
feature, so the claim fails if the feature's model stops mattering (e.g. prefix caching that no
longer removes the cached prompt's prefill, or two pools priced like one).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.search.planning import plan
from planner.search.results import PlanResult
from planner.workload import Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def solve() -> object:
    catalog = load_catalog()
    tables = catalog_tables(catalog)

    def run(w: Workload) -> PlanResult:
        return plan(w, catalog, top=1, time_limit_s=30, tables=tables)
    return run


def chips(result: PlanResult) -> int:
    return sum(d.replicas * d.chips_per_replica for d in result.plans[0].deployments)


def test_prefix_caching_changes_the_rag_deployment(solve) -> None:  # type: ignore[no-untyped-def]
    w = load_workload(EXAMPLES / "rag-prefix-cache.yaml")
    serving = {**w.constraints.serving, "prefix_caching": "forbidden"}
    cached, plain = solve(w), solve(replace(w, constraints=replace(w.constraints, serving=serving)))
    assert cached.plans and plain.plans
    assert "prefix_caching" in cached.plans[0].features and "prefix_caching" not in plain.plans[0].features
    # 95% of 26k-token prompts skip 24k tokens of prefill: far fewer chips carry the same peak
    assert chips(cached) * 2 <= chips(plain), (chips(cached), chips(plain))
    assert cached.plans[0].cost.per_month * 2 <= plain.plans[0].cost.per_month


@pytest.mark.parametrize(("example", "wins"), [("disagg-long-prompts", True), ("disagg-loses", False)])
def test_disaggregation_wins_and_loses_where_the_examples_say(solve, example: str, wins: bool) -> None:  # type: ignore[no-untyped-def]
    top = solve(load_workload(EXAMPLES / f"{example}.yaml")).plans[0]
    roles = {d.role for d in top.deployments}
    assert roles == ({"prefill", "decode"} if wins else {"both"}), roles
    assert ("disaggregation" in top.features) == wins
