"""The solver's float -> integer scaling is guarded: values beyond its 64-bit arithmetic raise an
InputError naming the field (never OverflowError, never a CP-SAT model-validation failure)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.errors import InputError
from planner.search.mix.solver import Option, solve_mix
from planner.search.shapes.prepare import max_cost_per_hour
from planner.workload import Budget, Tokens, Traffic, Workload

A = Option(index=0, hardware="a", chips=1, rate=10.0, cost_per_hour=1.0)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"demand": 1e19}, "traffic.peak_requests_per_s"),
    ({"demand": float("inf")}, "traffic.peak_requests_per_s"),
    ({"quotas": {"a": 10**400}}, "constraints.quotas.a"),
])
def test_out_of_range_values_name_their_field(kwargs: dict[str, object], field: str) -> None:
    args: dict[str, object] = {"demand": 5.0, "max_types": 1, "quotas": {}, **kwargs}
    with pytest.raises(InputError) as info:
        solve_mix([A], **args)  # type: ignore[arg-type]
    assert info.value.field == field


def test_a_representable_demand_whose_cost_span_overflows_names_the_demand() -> None:
    dear = replace(A, cost_per_hour=1e5)  # 1e14 replicas x 1e8 milli-dollars: beyond 2**62
    with pytest.raises(InputError) as info:
        solve_mix([dear], demand=1e12, max_types=1, quotas={})
    assert info.value.field == "traffic.peak_requests_per_s"


def test_an_out_of_range_price_names_the_hardware() -> None:
    with pytest.raises(InputError) as info:
        solve_mix([replace(A, cost_per_hour=1e308)], demand=5.0, max_types=1, quotas={})
    assert info.value.field == "hardware.a.price"


@pytest.mark.parametrize("key", ["max_cost_per_month", "max_cost_per_million_tokens"])
def test_a_budget_beyond_the_solvers_range_names_the_budget_key(key: str) -> None:
    w = Workload(name="w", traffic=Traffic(requests_per_s=1.0, input_tokens=Tokens(100.0),
                                          output_tokens=Tokens(100.0)), budget=Budget(**{key: 1e19}))
    with pytest.raises(InputError) as info:
        max_cost_per_hour(w)
    assert info.value.field == f"budget.{key}"


def test_a_budget_above_every_option_at_its_most_replicas_binds_nothing() -> None:
    """A huge hourly budget is capped at what the options could cost at most, so it never reaches
    the integer model's range (a workload's budget is range-checked by max_cost_per_hour)."""
    sol = solve_mix([A], demand=5.0, max_types=1, quotas={}, max_cost_per_hour=1e19)
    assert sol.status == "OPTIMAL" and sol.counts == {0: 1}


def test_large_but_representable_values_still_solve() -> None:
    sol = solve_mix([A], demand=1e6, max_types=1, quotas={"a": 10**9}, max_cost_per_hour=1e9)
    assert sol.status == "OPTIMAL" and sol.counts == {0: 100_000}
