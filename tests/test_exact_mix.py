"""The exact replica-mix search (``planner.search.mix.exact_mix``) against CP-SAT and against brute force.

Basis: the same model solved by CP-SAT (``solve_mix`` with the exact search and the single-shape
shortcut switched off, CP-SAT proving optimality) on random small instances with quotas, budgets,
banned hardware sets, N+k spares, replica minimums and 1-3 hardware types: the same feasibility
and the same optimal objective, in the model's integers. Every mix the search returns is checked
against the model's constraints written out here, and on the tiniest instances its optimum
against every count vector within the bounds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest import mock

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from planner.search.mix import solver
from planner.search.mix.exact_mix import MOST_OPTIONS, MixModel, solve_exact
from planner.search.mix.solver import Option, Solution, solve_mix

TYPES = ("a", "b", "c")
# prices near one price per unit of rate (within 1.5x), so that mixes of several shapes win often
option_st = st.builds(lambda h, c, r, per: (h, c, r, r * per), st.sampled_from(TYPES), st.sampled_from([1, 2, 4]),
                      st.floats(0.3, 12.0), st.floats(0.2, 0.3))
options_st = st.lists(option_st, min_size=1, max_size=6)
banned_st = st.lists(st.frozensets(st.sampled_from((*TYPES, "d")), min_size=1, max_size=2), max_size=2)
quotas_st = st.dictionaries(st.sampled_from(TYPES), st.integers(0, 12), max_size=2)


def _solve(options: list[Option], *, exact: bool, **kwargs: Any) -> tuple[Solution, list[dict[int, int] | None]]:
    """``solve_mix`` without the single-shape shortcut, by the exact search (limit lifted, every
    answer recorded) or, ``exact`` False, by CP-SAT alone."""
    answers: list[dict[int, int] | None] = []
    search: Callable[..., dict[int, int] | None] = solver._exact_mix

    def recorded(*args: Any, **kw: Any) -> dict[int, int] | None:
        answers.append(search(*args, **kw) if exact else None)
        return answers[-1]

    with ExitStack() as stack:
        stack.enter_context(mock.patch.object(solver, "_proven_single", lambda *a, **k: None))
        stack.enter_context(mock.patch.object(solver, "_exact_mix", recorded))
        stack.enter_context(mock.patch.object(solver, "EXACT_NODES", 10**6))
        return solve_mix(options, **kwargs), answers


def _objective(options: list[Option], counts: dict[int, int]) -> int:
    """The model's objective: sum of round(cost x 1000) per replica."""
    return sum(round(o.cost_per_hour * 1000) * counts.get(o.index, 0) for o in options)


def _meets_the_model(options: list[Option], counts: dict[int, int], *, demand: float, max_types: int,
                     quotas: dict[str, int], max_cost_per_hour: float | None,
                     forbid_type_sets: tuple[frozenset[str], ...], spare: int, min_replicas: int) -> bool:
    """The model's constraints (solver module docstring and ``_mix_model``) written out anew."""
    unit = 1000  # milli-requests/s, finer where a rate is under 1 req/s: at most 1 part in 1,000 floored away
    while any(0 < o.rate * unit < 1000 for o in options):
        unit *= 10
    need = math.ceil(demand * unit)
    rate = {o.index: math.floor(o.rate * unit) for o in options}
    n = {o.index: counts.get(o.index, 0) for o in options}
    capacity = sum(rate[i] * n[i] for i in n)
    used = {o.hardware for o in options if n[o.index]}
    kinds = {o.hardware for o in options}
    ok = capacity >= need and all(capacity - min(n[i], spare) * rate[i] >= need for i in n)
    ok &= sum(n.values()) >= min_replicas and len(used) <= max_types
    ok &= all(sum(o.chips * n[o.index] for o in options if o.hardware == h) <= q for h, q in quotas.items())
    ok &= not any(b <= used for b in forbid_type_sets if b <= kinds)
    if max_cost_per_hour is not None:  # prices up, the budget down, in micro-dollars per hour (BUDGET_SCALE)
        ok &= sum(math.ceil(o.cost_per_hour * 1_000_000) * n[o.index] for o in options) <= math.floor(
            max_cost_per_hour * 1_000_000)
    return ok


@settings(max_examples=400, deadline=None)
@given(raw=options_st, demand=st.floats(0.5, 25.0), max_types=st.integers(1, 3), quotas=quotas_st,
       budget=st.one_of(st.none(), st.floats(0.2, 0.4)), banned=banned_st, spare=st.integers(0, 2),
       min_replicas=st.integers(1, 4))
def test_the_exact_search_matches_cp_sat(raw: list[tuple[str, int, float, float]], demand: float, max_types: int,
                                         quotas: dict[str, int], budget: float | None,
                                         banned: list[frozenset[str]], spare: int, min_replicas: int) -> None:
    options = [Option(index=10 + i, hardware=h, chips=c, rate=r, cost_per_hour=p)
               for i, (h, c, r, p) in enumerate(raw)]
    kwargs: dict[str, Any] = {"demand": demand, "max_types": max_types, "quotas": quotas,  # budget: $/h per req/s
                              "max_cost_per_hour": None if budget is None else budget * demand,
                              "forbid_type_sets": tuple(banned), "spare": spare,
                              "min_replicas": min_replicas}
    fast, answers = _solve(options, exact=True, **kwargs)
    assert answers and answers[0] is not None  # the exact search answered, CP-SAT did not
    reference, _ = _solve(options, exact=False, **kwargs)
    assert reference.status in ("OPTIMAL", "INFEASIBLE")
    assert fast.status == reference.status
    event(f"{reference.status}, {len(reference.counts)} options used")
    if reference.counts:
        assert _meets_the_model(options, fast.counts, **kwargs)
        assert _objective(options, fast.counts) == _objective(options, reference.counts)
        assert fast.cost_per_hour == sum(o.cost_per_hour * fast.counts.get(o.index, 0) for o in options)
    else:
        assert fast.counts == {} and fast.cost_per_hour == math.inf


@settings(max_examples=60, deadline=None)
@given(raw=st.lists(st.tuples(st.sampled_from(TYPES[:2]), st.sampled_from([1, 2]), st.floats(1.0, 6.0),
                              st.floats(0.5, 4.0)), min_size=1, max_size=3),
       demand=st.floats(0.5, 9.0), max_types=st.integers(1, 2), quotas=quotas_st,
       budget=st.one_of(st.none(), st.floats(1.0, 30.0)), spare=st.integers(0, 1), min_replicas=st.integers(1, 3))
def test_the_exact_search_matches_brute_force(raw: list[tuple[str, int, float, float]], demand: float,
                                              max_types: int, quotas: dict[str, int], budget: float | None,
                                              spare: int, min_replicas: int) -> None:
    """Every count vector with each count at most its bound (``_integers``: enough for the demand
    plus the spares, at least the replica minimum, within the quota)."""
    options = [Option(index=i, hardware=h, chips=c, rate=r, cost_per_hour=p) for i, (h, c, r, p) in enumerate(raw)]
    kwargs: dict[str, Any] = {"demand": demand, "max_types": max_types, "quotas": quotas,
                              "max_cost_per_hour": budget, "forbid_type_sets": (), "spare": spare,
                              "min_replicas": min_replicas}
    most = max(math.ceil(demand / min(o.rate for o in options)) + spare, min_replicas) + 1
    best = min((_objective(options, dict(enumerate(n))) for n in itertools.product(range(most + 1), repeat=len(options))
                if _meets_the_model(options, dict(enumerate(n)), **kwargs)), default=None)
    fast, answers = _solve(options, exact=True, **kwargs)
    assert answers and answers[0] is not None
    assert (fast.status == "OPTIMAL") == (best is not None)
    if best is not None:
        assert _objective(options, fast.counts) == best


def _model(options: list[Option], need: int, **overrides: Any) -> MixModel:
    rate, price, bounds = solver._integers(options, need, {}, unit=solver.RATE_SCALE)
    fields: dict[str, Any] = {"need": need, "rate": rate, "price": price, "bounds": bounds, "quotas": {},
                              "objective": {o.index: round(o.cost_per_hour * 1000) for o in options},
                              "max_types": 2, "budget": None, "forbid_type_sets": (), "spare": 0, "min_replicas": 1}
    return MixModel(**{**fields, **overrides})


# tp1: 10 req/s for $1/h; tp2: 20 req/s for $2/h on the same hardware; 20 req/s cost $2/h either way
TP1 = Option(index=0, hardware="a", chips=1, rate=10.0, cost_per_hour=1.0)
TP2 = Option(index=1, hardware="a", chips=2, rate=20.0, cost_per_hour=2.0)


def test_among_tied_optima_the_hint_is_kept() -> None:
    """CP-SAT starts from the hint and accepts only cheaper solutions after it: the search keeps
    the hint when it is an optimum, whichever tie its own order would reach first."""
    m = _model([TP1, TP2], 20_000)
    assert solve_exact([TP1, TP2], m, hint={0: 2}, max_nodes=100) == {0: 2}
    assert solve_exact([TP1, TP2], m, hint={1: 1}, max_nodes=100) == {1: 1}
    assert solve_exact([TP1, TP2], m, hint={0: 3}, max_nodes=100) in ({0: 2}, {1: 1})  # not an optimum
    assert solve_exact([TP1, TP2], _model([TP1, TP2], 20_000, quotas={"a": 1}), hint={0: 2}, max_nodes=100) == {}


def test_uncovered_or_too_large_models_go_to_cp_sat() -> None:
    other = Option(index=2, hardware="b", chips=1, rate=25.0, cost_per_hour=2.0)
    # 35 req/s: 10 + 25 for $3/h (4 x tp1 or 2 x other: $4/h)
    m = _model([TP1, other], 35_000)
    assert solve_exact([TP1, other], m, hint={}, max_nodes=100) == {0: 1, 2: 1}
    assert solve_exact([TP1, other], m, hint={}, max_nodes=1) is None  # past the node limit
    assert solve_exact([TP1, other], _model([TP1, other], 0), hint={}, max_nodes=100) is None  # no demand
    assert solve_exact([TP1, other], _model([TP1, other], 35_000, forbid_type_sets=(frozenset(),)), hint={},
                       max_nodes=100) is None  # an empty banned set
    free = Option(index=3, hardware="b", chips=1, rate=5.0, cost_per_hour=0.0001)  # rounds to 0 milli-dollars
    assert solve_exact([TP1, free], _model([TP1, free], 35_000), hint={}, max_nodes=100) is None
    many = [Option(index=i, hardware="a", chips=1, rate=1.0 + i, cost_per_hour=1.0) for i in range(MOST_OPTIONS + 1)]
    assert solve_exact(many, _model(many, 35_000), hint={}, max_nodes=10**6) is None  # deeper than recursion allows
    # ... and solve_mix then answers by CP-SAT, with the same optimum
    with mock.patch.object(solver, "EXACT_NODES", 1):
        assert solve_mix([TP1, other], demand=35.0, max_types=2, quotas={}).counts == {0: 1, 2: 1}


@pytest.mark.parametrize("rate", [0.00185, 0.0004, 0.37, 2.5])
def test_a_replica_under_a_milli_request_is_counted_at_its_rate(rate: float) -> None:
    """Basis: arithmetic, ceil(demand / rate) replicas of the only shape. Rates were floored to milli-requests/s:
    a 2M-token prompt's replica at 0.00185 req/s counted 0.001, and 5 req/s took 5,000 replicas, not 2,703;
    one under 0.001 counted 0 and was dropped."""
    option = Option(index=0, hardware="x", chips=8, rate=rate, cost_per_hour=10.0)
    sol = solver.solve_mix([option], demand=5.0, max_types=1, quotas={})
    assert sol.status == "OPTIMAL" and sol.counts == {0: math.ceil(5.0 / rate)}
    two = [option, Option(index=1, hardware="y", chips=1, rate=rate * 0.6, cost_per_hour=5.0)]
    mixed = solver.solve_mix(two, demand=5.0, max_types=2, quotas={"x": 8 * 10})
    assert sum(n * o.rate for o in two for i, n in mixed.counts.items() if i == o.index) >= 5.0 * (1 - 1e-12)
