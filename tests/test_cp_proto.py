"""The replica-mix model written straight into the proto (planner.search.mix.cp_proto) is the very model
ortools' own cp_model API builds from the same constraints (its canonical form is the reference), and
solves to the same optimum."""

from __future__ import annotations

import itertools
import math

import pytest

from planner.search.mix.solver import BUDGET_SCALE, COST_SCALE, Option, _integers, _mix_model, scaled, solve_mix

cp_model = pytest.importorskip("ortools.sat.python.cp_model")


def _reference(options: list[Option], *, need: int, quotas: dict[str, int], max_types: int,
               max_cost_per_hour: float | None, forbid: tuple[frozenset[str], ...], spare: int,
               min_replicas: int) -> str:
    """The model as written with cp_model (the solver's construction before cp_proto), as text."""
    types = sorted({o.hardware for o in options})
    rate, price, bounds = _integers(options, need, quotas, unit=1000, spare=spare, min_replicas=min_replicas)
    model = cp_model.CpModel()
    n = {o.index: model.new_int_var(0, bounds[o.index], f"n_{o.index}") for o in options}
    used = {h: model.new_bool_var(f"used_{h}") for h in types}
    capacity = sum(rate[o.index] * n[o.index] for o in options)
    model.add(capacity >= need)
    if spare > 0:
        for index, count in n.items():
            removed = model.new_int_var(0, spare, f"removed_{index}")
            model.add_min_equality(removed, [count, spare])
            model.add(capacity - rate[index] * removed >= need)
    if min_replicas > 1:
        model.add(sum(n.values()) >= min_replicas)
    for o in options:
        model.add(n[o.index] == 0).only_enforce_if(used[o.hardware].negated())
    model.add(sum(used.values()) <= max_types)
    for h, quota in quotas.items():
        if h in used:
            model.add(sum(o.chips * n[o.index] for o in options if o.hardware == h) <= quota)
    cost = sum(round(o.cost_per_hour * COST_SCALE) * n[o.index] for o in options)
    if max_cost_per_hour is not None:
        most = sum(o.cost_per_hour * bounds[o.index] for o in options)
        model.add(sum(price[o.index] * n[o.index] for o in options)
                  <= scaled(min(max_cost_per_hour, most + 1.0), BUDGET_SCALE, "budget", math.floor))
    for banned in forbid:
        if banned <= set(types):
            model.add(sum(used[h] for h in banned) <= len(banned) - 1)
    model.minimize(cost)
    return str(model.proto)


OPTIONS = [Option(10, "h100", 2, 3.7, 8.0), Option(11, "h100", 4, 8.1, 15.5), Option(12, "a100", 1, 1.2, 2.1),
           Option(13, "a100", 8, 0.0004, 30.0), Option(14, "l40s", 1, 0.9, 1.3)]


@pytest.mark.parametrize("spare, min_replicas, budget, forbid, quotas", [
    (0, 1, None, (), {}),
    (1, 1, 60.0, (frozenset({"h100"}),), {"a100": 6}),
    (2, 3, 1e6, (frozenset({"h100", "a100"}), frozenset({"l40s"})), {"h100": 8, "tpu": 4}),
])
def test_same_model_as_cp_model(spare: int, min_replicas: int, budget: float | None,
                                forbid: tuple[frozenset[str], ...], quotas: dict[str, int]) -> None:
    need = scaled(7.3, 1000, "demand")
    rate, price, bounds = _integers(OPTIONS, need, quotas, unit=1000, spare=spare, min_replicas=min_replicas)
    ours = _mix_model(OPTIONS, need=need, types=sorted({o.hardware for o in OPTIONS}), rate=rate, price=price,
                      bounds=bounds, quotas=quotas, max_types=2, max_cost_per_hour=budget, forbid_type_sets=forbid,
                      spare=spare, min_replicas=min_replicas)
    assert str(ours.to_proto()) == _reference(OPTIONS, need=need, quotas=quotas, max_types=2, max_cost_per_hour=budget,
                                         forbid=forbid, spare=spare, min_replicas=min_replicas)


def test_solves_to_the_brute_force_optimum() -> None:
    """Every mix of up to 11 replicas per option (enough: 10 of the cheapest carry it), two types at
    most: the cheapest carrying 7.3 req/s with N+1."""
    best = math.inf
    for counts in itertools.product(range(12), repeat=len(OPTIONS)):
        kinds = {o.hardware for o, c in zip(OPTIONS, counts, strict=True) if c}
        capacity = sum(math.floor(o.rate * 1000) * c for o, c in zip(OPTIONS, counts, strict=True))
        spares = [math.floor(o.rate * 1000) * min(c, 1) for o, c in zip(OPTIONS, counts, strict=True)]
        if len(kinds) <= 2 and capacity >= 7300 and all(capacity - s >= 7300 for s in spares):
            best = min(best, sum(o.cost_per_hour * c for o, c in zip(OPTIONS, counts, strict=True)))
    got = solve_mix(OPTIONS, demand=7.3, max_types=2, quotas={}, spare=1)
    assert got.status == "OPTIMAL"
    assert got.cost_per_hour == pytest.approx(best)
