"""Quotas bound the sum of chips over every shape of a hardware type, checked by brute force."""

from __future__ import annotations

import itertools

import pytest

from planner.search.mix.solver import Option, solve_mix

A1 = Option(index=0, hardware="a", chips=1, rate=10.0, cost_per_hour=1.0)
A2 = Option(index=1, hardware="a", chips=2, rate=20.0, cost_per_hour=1.9)
B = Option(index=2, hardware="b", chips=1, rate=10.0, cost_per_hour=5.0)


def _brute(options: list[Option], demand: float, quota: dict[str, int]) -> float:
    best = float("inf")
    for counts in itertools.product(range(5), repeat=len(options)):
        chips = {h: sum(n * o.chips for n, o in zip(counts, options, strict=True) if o.hardware == h) for h in "ab"}
        if sum(n * o.rate for n, o in zip(counts, options, strict=True)) >= demand and all(
                chips[h] <= q for h, q in quota.items()):
            best = min(best, sum(n * o.cost_per_hour for n, o in zip(counts, options, strict=True)))
    return best


@pytest.mark.parametrize("quota", [1, 2, 3, 4])
def test_quota_is_a_sum_over_shapes(quota: int) -> None:
    # demand 30 req/s: without the sum, 2 x A1 + 1 x A2 ($3.90) would use 4 chips of a
    sol = solve_mix([A1, A2, B], demand=30.0, max_types=2, quotas={"a": quota})
    used = sum(n * o.chips for o in (A1, A2) for i, n in sol.counts.items() if i == o.index)
    assert used <= quota
    assert sol.cost_per_hour == pytest.approx(_brute([A1, A2, B], 30.0, {"a": quota}))
