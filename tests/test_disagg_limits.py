"""A disaggregated plan keeps the workload's budget, carbon limit and quotas as a pair (planner.search.disagg).

Basis: the limits are the user's numbers, and a plan's use of them is what it prints (its cost per
month and per million tokens, its kgCO2e, the chips of each hardware over every deployment). Each
pool was searched within the limits alone, so a pair could exceed what each pool kept: before this
check, examples/disagg-long-prompts.yaml with a $300,000/month budget returned a $322,870 plan, with a
quota of 40 H100s a 42-H100 plan, and a budget of $50 per million output tokens no plan at all (the
prefill pool's outputs are one token, so the limit became $2.16/h there) though the $34/M plan keeps it.
The explanation of a workload the pair misses names the relaxation the pair needs (a quota summed over
the pools), verified by re-planning with disaggregation, not the aggregated plan's twice dearer one.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.search.planning import plan
from planner.workload import Workload

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-long-prompts.yaml"


@pytest.fixture(scope="module")
def setting():  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = load_workload(EXAMPLE)
    free = plan(w, catalog, tables=tables, top=3, explain=False)
    best = free.plans[0]
    assert any(d.role == "decode" for d in best.deployments), "the example's best plan is no longer two pools"
    return catalog, tables, w, best


def _chips(p, hw: str) -> int:  # type: ignore[no-untyped-def]
    return sum(d.chips_per_replica * d.replicas for d in p.deployments if d.hardware == hw)


def _budget(w: Workload, **limits: float) -> Workload:
    return dataclasses.replace(w, budget=dataclasses.replace(w.budget, **limits))


def test_a_monthly_budget_below_the_pair_leaves_it_out_and_names_its_cost(setting) -> None:  # type: ignore[no-untyped-def]
    catalog, tables, w, best = setting
    limit = best.cost.per_month * 0.95
    result = plan(_budget(w, max_cost_per_month=limit), catalog, tables=tables, top=5, time_limit_s=30.0)
    assert all(p.cost.per_month <= limit for p in result.plans)
    if not result.plans:
        assert result.infeasible is not None
        needed = [r.value for r in result.infeasible.relaxations if r.constraint == "budget.max_cost_per_month"]
        assert needed and best.cost.per_month <= needed[0] <= best.cost.per_month * 1.01
    kept = plan(_budget(w, max_cost_per_month=best.cost.per_month * 1.01), catalog, tables=tables, top=1)
    assert kept.plans and kept.plans[0].cost.per_month == pytest.approx(best.cost.per_month)
    assert "budget.max_cost_per_month" in kept.plans[0].binding


def test_a_budget_per_million_tokens_the_pair_keeps_admits_it(setting) -> None:  # type: ignore[no-untyped-def]
    catalog, tables, w, best = setting
    limit = best.cost.per_million_tokens * 1.2
    result = plan(_budget(w, max_cost_per_million_tokens=limit), catalog, tables=tables, top=3)
    assert result.plans and result.plans[0].cost.per_month == pytest.approx(best.cost.per_month)
    assert all(p.cost.per_million_tokens <= limit for p in result.plans)
    tight = best.cost.per_million_tokens * 0.9
    result = plan(_budget(w, max_cost_per_million_tokens=tight), catalog, tables=tables, top=3, explain=False)
    assert all(p.cost.per_million_tokens <= tight for p in result.plans)


def test_a_quota_counts_the_chips_of_both_pools(setting) -> None:  # type: ignore[no-untyped-def]
    catalog, tables, w, best = setting
    hw = best.deployments[0].hardware
    used = _chips(best, hw)
    quota = max(d.chips_per_replica * d.replicas for d in best.deployments if d.hardware == hw)
    assert quota < used, "every pool alone must fit the quota for this test to bite"
    limited = dataclasses.replace(w, constraints=dataclasses.replace(w.constraints, quotas={hw: quota}))
    result = plan(limited, catalog, tables=tables, top=5, time_limit_s=30.0)
    assert all(_chips(p, hw) <= quota for p in result.plans)
    if not result.plans:
        assert result.infeasible is not None
        named = {r.constraint: r.value for r in result.infeasible.relaxations}
        assert named.get(f"constraints.quotas.{hw}") == used


def test_a_carbon_limit_below_the_pair_leaves_it_out(setting) -> None:  # type: ignore[no-untyped-def]
    catalog, tables, w, best = setting
    kg = best.cost.energy.kgco2e_per_month
    assert kg is not None
    result = plan(_budget(w, max_kgco2e_per_month=kg * 0.95), catalog, tables=tables, top=5, explain=False)
    assert all(p.cost.energy is not None and p.cost.energy.kgco2e_per_month is not None
               and p.cost.energy.kgco2e_per_month <= kg * 0.95 for p in result.plans)


def test_required_disaggregation_says_so_and_what_the_aggregated_plan_costs() -> None:
    """examples/disagg-loses.yaml: aggregated serving is cheaper there. With disaggregation required
    the two-pool plans alone are returned; their note said 'no aggregated plan meets the SLOs', false:
    it must name the rule and the saving the rule forgoes against the best aggregated plan."""
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = load_workload(EXAMPLE.with_name("disagg-loses.yaml"))
    allowed = plan(w, catalog, tables=tables, top=10, explain=False)
    aggregated = min((p for p in allowed.plans if not any(d.role == "decode" for d in p.deployments)),
                     key=lambda p: p.cost.per_month)
    serving = {**w.constraints.serving, "disaggregation": "required"}
    required = plan(dataclasses.replace(w, constraints=dataclasses.replace(w.constraints, serving=serving)),
                    catalog, tables=tables, top=3, explain=False)
    assert required.plans
    for p in required.plans:
        assert all(d.role in ("prefill", "decode") for d in p.deployments)
        assert "required by constraints.serving.disaggregation" in p.why and "no aggregated plan" not in p.why
        extra = p.cost.per_month - aggregated.cost.per_month
        if round(extra) == 0:  # (a tie reads as one, not as 'saves $0/month': a new user's case)
            assert "costs the same as the best aggregated plan" in p.why, p.why
        else:
            assert (f"costs ${extra:,.0f}/month more than" if extra > 0 else f"saves ${-extra:,.0f}/month") in p.why, \
                p.why
