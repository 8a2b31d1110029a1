"""The solver's CP-SAT shortcut (``_proven_single``) gives CP-SAT's optimum cost, or defers to it.

Basis: the same solve with the shortcut disabled (CP-SAT proving optimality) on random option
sets, budgets, quotas and banned hardware sets; and a case built so the shortcut must apply.
"""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from planner.search.mix import solver
from planner.search.mix.solver import Option, solve_mix

options_st = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from([1, 2, 4]),
                                st.floats(0.3, 12.0), st.floats(0.5, 9.0)), min_size=1, max_size=6)


def _objective(options: list[Option], counts: dict[int, int]) -> int:
    return sum(round(o.cost_per_hour * solver.COST_SCALE) * counts.get(o.index, 0) for o in options)


@settings(max_examples=80, deadline=None)
@given(raw=options_st, demand=st.floats(0.5, 20.0), max_types=st.integers(1, 2),
       quota=st.one_of(st.none(), st.integers(0, 8)), budget=st.one_of(st.none(), st.floats(1.0, 60.0)),
       banned=st.booleans())
@example(raw=[("a", 1, 1.0, 2.00001), ("a", 1, 1.0, 2.0)], demand=1.0, max_types=1, quota=None, budget=None,
         banned=False)  # optima tied in the model's milli-dollars: the shortcut takes the first, CP-SAT its hint
def test_shortcut_matches_cp_sat(raw: list[tuple[str, int, float, float]], demand: float, max_types: int,
                                 quota: int | None, budget: float | None, banned: bool) -> None:
    options = [Option(index=i, hardware=h, chips=c, rate=r, cost_per_hour=p) for i, (h, c, r, p) in enumerate(raw)]
    kwargs = {"demand": demand, "max_types": max_types, "quotas": {} if quota is None else {"a": quota},
              "max_cost_per_hour": budget, "forbid_type_sets": (frozenset({"b"}),) if banned else ()}
    fast = solve_mix(options, **kwargs)  # type: ignore[arg-type]
    original = solver._proven_single, solver._exact_mix
    try:  # CP-SAT alone
        solver._proven_single = solver._exact_mix = lambda *a, **k: None  # type: ignore[assignment]
        exact = solve_mix(options, **kwargs)  # type: ignore[arg-type]
    finally:
        solver._proven_single, solver._exact_mix = original
    assert fast.status in ("OPTIMAL", "INFEASIBLE") and exact.status in ("OPTIMAL", "INFEASIBLE")
    assert bool(fast.counts) == bool(exact.counts)
    if exact.counts:  # the same optimum of the model's objective (costs rounded to COST_SCALE: tied
        # optima may differ in cost below it, e.g. one replica at $2.00001/h or at $2.00000/h)
        assert _objective(options, fast.counts) == _objective(options, exact.counts)
        replicas = sum(fast.counts.values()) + sum(exact.counts.values())  # each within half a unit of its rounding
        assert fast.cost_per_hour == pytest.approx(exact.cost_per_hour, abs=replicas * 0.5 / solver.COST_SCALE)
        assert sum(o.rate * fast.counts.get(o.index, 0) for o in options) >= demand * (1 - 1e-9)


def test_one_replica_of_the_cheapest_shape_is_proven() -> None:
    options = [Option(0, "a", 1, 10.0, 1.0), Option(1, "b", 1, 3.0, 1.5), Option(2, "c", 2, 50.0, 4.0)]
    assert solver._proven_single(options, demand=5.0, quotas={}, max_cost_per_hour=None,
                                 forbid_type_sets=()) == (options[0], 1)
    # two replicas of "a" (2.0) while "c" carries more per dollar: not proven by either bound
    assert solver._proven_single(options, demand=15.0, quotas={}, max_cost_per_hour=None,
                                 forbid_type_sets=()) is None
