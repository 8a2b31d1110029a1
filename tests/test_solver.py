"""Golden tests for planner.search.mix.solver.solve_mix on tiny problems whose optimum is worked out by hand,
plus solver hygiene (time limit, seed and workers set; a status always reported; never a hang)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from planner.search.mix import solver as mix_solver
from planner.search.mix.solver import Option, solve_mix

# Two hardware types. A: 10 req/s per replica at $1.00/h ($0.100 per req/s);
# B: 3 req/s at $0.40/h ($0.133 per req/s). A is cheaper per unit, B is finer-grained.
A = Option(index=0, hardware="a", chips=1, rate=10.0, cost_per_hour=1.0)
B = Option(index=1, hardware="b", chips=1, rate=3.0, cost_per_hour=0.4)


def _solve(options: list[Option], demand: float, **kwargs: object) -> tuple[str, dict[int, int], float]:
    args: dict[str, object] = {"max_types": 2, "quotas": {}, **kwargs}
    sol = solve_mix(options, demand=demand, **args)  # type: ignore[arg-type]
    return sol.status, sol.counts, sol.cost_per_hour


def test_the_optimum_mixes_two_types() -> None:
    # demand 23: all-A 3 x $1 = $3.00; all-B 8 x $0.4 = $3.20; 2A + 1B = 23 req/s for $2.40, and no
    # cheaper mix reaches 23 (1A + 4B = 22; the lower bound is 23 x $0.1 = $2.30).
    status, counts, cost = _solve([A, B], 23.0)
    assert status == "OPTIMAL"
    assert counts == {0: 2, 1: 1}
    assert cost == pytest.approx(2.4)


def test_max_types_one_takes_the_best_single_type() -> None:
    status, counts, cost = _solve([A, B], 23.0, max_types=1)
    assert status == "OPTIMAL"
    assert counts == {0: 3}
    assert cost == pytest.approx(3.0)


def test_a_quota_forces_a_second_type() -> None:
    # A': 10 req/s on 2 chips at $1/h; B': 4 req/s on 1 chip at $0.6/h; demand 35.
    # Without a quota all-A' wins: 4 x $1 = $4.00 (all-B' 9 x $0.6 = $5.40; 3A' + 2B' = $4.20).
    # A quota of 4 chips on "a" allows 2 A' replicas (20 req/s); the other 15 req/s need 4 B':
    # 2 x $1 + 4 x $0.6 = $4.40 (1A' + 7B' = $5.20, 9B' = $5.40).
    a2 = Option(index=0, hardware="a", chips=2, rate=10.0, cost_per_hour=1.0)
    b2 = Option(index=1, hardware="b", chips=1, rate=4.0, cost_per_hour=0.6)
    assert _solve([a2, b2], 35.0)[1:] == ({0: 4}, pytest.approx(4.0))
    status, counts, cost = _solve([a2, b2], 35.0, quotas={"a": 4})
    assert status == "OPTIMAL"
    assert counts == {0: 2, 1: 4}
    assert cost == pytest.approx(4.4)
    # ... and with one type allowed, the quota leaves all-B'.
    assert _solve([a2, b2], 35.0, quotas={"a": 4}, max_types=1)[1:] == ({1: 9}, pytest.approx(5.4))


def test_two_shapes_on_one_hardware_count_as_one_type() -> None:
    # tp1: 10 req/s for $1; tp2: 25 req/s for $2 (cheaper per unit); demand 60 -> 2 x tp2 + 1 x tp1 = $5
    # (3 x tp2 = $6; 6 x tp1 = $6), with max_types = 1 since both shapes are on "a".
    tp1 = Option(index=0, hardware="a", chips=1, rate=10.0, cost_per_hour=1.0)
    tp2 = Option(index=1, hardware="a", chips=2, rate=25.0, cost_per_hour=2.0)
    status, counts, cost = _solve([tp1, tp2], 60.0, max_types=1)
    assert status == "OPTIMAL"
    assert counts == {0: 1, 1: 2}
    assert cost == pytest.approx(5.0)


def test_a_budget_below_the_optimum_is_infeasible() -> None:
    assert _solve([A, B], 23.0, max_cost_per_hour=2.4)[1:] == ({0: 2, 1: 1}, pytest.approx(2.4))
    status, counts, cost = _solve([A, B], 23.0, max_cost_per_hour=2.39)
    assert status == "INFEASIBLE"
    assert counts == {}
    assert cost == float("inf")


def test_a_quota_too_small_for_the_demand_is_infeasible() -> None:
    status, counts, _ = _solve([A, B], 23.0, quotas={"a": 1, "b": 3})  # at most 10 + 9 = 19 req/s
    assert status == "INFEASIBLE"
    assert counts == {}


def test_forbidden_type_sets_give_the_next_best_hardware_set() -> None:
    # {a, b} banned: the best remaining set is {a} alone ($3.00); {a} banned too: {b} ($3.20).
    assert _solve([A, B], 23.0, forbid_type_sets=(frozenset({"a", "b"}),))[1:] == ({0: 3}, pytest.approx(3.0))
    banned = (frozenset({"a", "b"}), frozenset({"a"}))
    assert _solve([A, B], 23.0, forbid_type_sets=banned)[1:] == ({1: 8}, pytest.approx(3.2))


def test_rates_round_down_so_the_peak_is_never_under_provisioned() -> None:
    # 4 replicas of 0.2499996 req/s carry 0.9999984 < 1 req/s: the solver must take 5. Rounding the
    # rate to the nearest milli-request (250) would accept 4.
    o = Option(index=0, hardware="a", chips=1, rate=0.2499996, cost_per_hour=1.0)
    assert _solve([o], 1.0)[1] == {0: 5}
    # An exact rate is not penalised: 4 x 0.25 = 1.
    assert _solve([Option(index=0, hardware="a", chips=1, rate=0.25, cost_per_hour=1.0)], 1.0)[1] == {0: 4}


def test_solver_parameters_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    from ortools.sat.python import cp_model_helper

    made: list[Any] = []
    real = cp_model_helper.SolveWrapper

    class Recording:  # the C++ solve wrapper, recording the parameters it is given
        def __init__(self) -> None:
            self.inner, self.parameters = real(), None
            made.append(self)

        def set_parameters(self, parameters: Any) -> None:
            self.parameters = parameters
            self.inner.set_parameters(parameters)

        def solve(self, proto: Any) -> Any:
            return self.inner.solve(proto)

        def stop_search(self) -> None:  # (what planner.search.stop calls when the client has gone)
            self.inner.stop_search()

    monkeypatch.setattr(cp_model_helper, "SolveWrapper", Recording)
    monkeypatch.setattr(mix_solver, "_exact_mix", lambda *a, **k: None)  # the exact search would answer first
    sol = solve_mix([A, B], demand=23.0, max_types=2, quotas={}, time_limit_s=0.75, seed=7, workers=3)
    assert sol.status == "OPTIMAL"
    assert sol.elapsed_s >= 0.0
    (solver,) = made
    assert solver.parameters.max_time_in_seconds == 0.75
    assert solver.parameters.random_seed == 7
    assert solver.parameters.num_workers == 3
    assert not solver.parameters.cp_model_presolve


def test_a_tiny_time_limit_still_returns_with_a_status() -> None:
    # 300 shapes over 4 types with awkward rates: hard enough that 1 ms cannot prove optimality.
    options = [Option(index=i, hardware=f"h{i % 4}", chips=1 + i % 3, rate=1.0 + (i * 37 % 101) / 7.0,
                      cost_per_hour=1.0 + (i * 53 % 97) / 11.0) for i in range(300)]
    start = time.perf_counter()
    sol = solve_mix(options, demand=5000.0, max_types=2, quotas={"h0": 50}, time_limit_s=0.001)
    assert time.perf_counter() - start < 30.0  # a hang guard, not a timing assertion
    assert sol.status in ("OPTIMAL", "FEASIBLE", "UNKNOWN")
    if sol.counts:  # any answer returned is a valid one
        by_index = {o.index: o for o in options}
        assert sum(by_index[i].rate * n for i, n in sol.counts.items()) >= 5000.0
        assert len({by_index[i].hardware for i in sol.counts}) <= 2
