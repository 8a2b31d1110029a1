"""CP-SAT: integer replica counts over replica options so the deployment carries the peak load.

One solve covers one plan key (model, precision, KV precision, runtime): its options are the
(hardware, tp, pp) replica shapes that meet the SLOs, each with its SLO-capacity (requests/s a
replica carries within every latency target) and its price. The model follows the OR-Tools
samples' order: data -> variables -> constraints -> objective -> solve -> read-out. Before CP-SAT,
``_proven_single`` settles mixes that one shape provably answers and ``exact_mix`` solves the same
integer model by a bounded branch and bound (CP-SAT only past its node limit or outside its cover).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from planner.errors import InputError
from planner.search.mix.cp_proto import ProtoModel
from planner.search.mix.exact_mix import MixModel, solve_exact

__all__ = ["BUDGET_SCALE", "COST_SCALE", "INT_LIMIT", "RATE_SCALE", "Option", "Solution", "rate_scale", "scaled",
           "solve_mix"]

COST_SCALE = 1000  # $/hour -> integer milli-dollars per hour
# $/hour -> integer micro-dollars per hour, for the budget row: prices round up and the budget down there
# (a plan never overspends by a rounding unit), so at milli-dollars a plan $0.36/month under a budget was
# refused (each replica's rounding is $0.73/month); at micro-dollars the margin is $0.0007/month per replica
BUDGET_SCALE = 1_000_000
RATE_SCALE = 1000  # requests/s -> integer milli-requests per second
# largest scaled value the model takes: integers below 2**53 are exact as floats, and a linear
# expression of them (coefficient x variable bound, summed) must stay below CP-SAT's int64 range
INT_LIMIT = 2**53
_EXPRESSION_LIMIT = 2**62
# nodes the exact search (planner.search.mix.exact_mix) may visit before a mix goes to CP-SAT: the
# examples' 440 solves take at most ~210 (~1-5 us each), so a limit of 3,000 costs at most a few ms
# where CP-SAT then takes over
EXACT_NODES = 3_000


DEMAND = "the demand in requests/s (the peak, over availability.max_utilization)"


def rate_scale(rates: Iterable[float]) -> int:
    """Integer units per request/s for these replica rates: RATE_SCALE (milli-requests), or finer where
    a replica carries under 1 request/s, so that flooring any rate to the unit loses at most 1 part
    in 1,000 of it (a 2M-token prompt's replica carries 0.00185 req/s: at milli-requests it floored to
    0.001, and 5 req/s took 5,000 replicas where 2,703 carry it)."""
    least = min((r for r in rates if r > 0), default=1.0)
    if least * RATE_SCALE >= 1000:
        return RATE_SCALE
    return max(RATE_SCALE, int(10 ** math.ceil(math.log10(1000.0 / float(least)))))


def scaled(value: float, scale: int, field: str, rounding: Callable[[float], int] = math.ceil, *,
           what: str | None = None) -> int:
    """``value`` x ``scale`` as a solver integer; InputError naming ``field`` when it is not finite
    or would overflow the solver's 64-bit arithmetic (never an OverflowError); ``what`` says what the
    value is where it is not the field's own (a demand derived from it)."""
    try:
        x = float(value) * scale
    except OverflowError:  # an int beyond any float
        x = math.inf
    if not math.isfinite(x) or abs(x) >= INT_LIMIT:
        shown = f"{value:.3g}" if isinstance(value, float) else f"a {len(str(abs(value)))}-digit number"
        shown = shown if what is None else f"{what}, {shown},"
        raise InputError(f"{shown} is out of the planner's range (at most {INT_LIMIT / scale:.3g})", field=field)
    return int(rounding(x))


def _check_span(coefficients: dict[int, int], upper: dict[int, int], what: str, field: str) -> None:
    """Raise InputError when sum |coefficient| x upper bound could overflow int64 inside CP-SAT."""
    span = sum(abs(c) * upper[i] for i, c in coefficients.items())
    if span >= _EXPRESSION_LIMIT:
        raise InputError(f"{what} would overflow the solver's 64-bit integers", field=field)


@dataclass(frozen=True)
class Option:
    """One replica shape: ``rate`` requests/s within the SLOs at ``cost_per_hour``."""

    index: int  # caller's row id
    hardware: str
    chips: int
    rate: float
    cost_per_hour: float


@dataclass(frozen=True)
class Solution:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN
    counts: dict[int, int]  # option index -> replicas
    cost_per_hour: float
    elapsed_s: float


def _greedy(options: list[Option], demand: float, quotas: dict[str, int], spare: int = 0,
            min_replicas: int = 1) -> dict[int, int]:
    """Cheapest single-shape deployment that carries the demand within quota (the hint)."""
    best: tuple[float, int, int] | None = None
    for o in options:
        n = max(math.ceil(demand / o.rate) + spare, min_replicas)
        if n * o.chips <= quotas.get(o.hardware, n * o.chips) and (best is None or n * o.cost_per_hour < best[0]):
            best = (n * o.cost_per_hour, o.index, n)
    return {} if best is None else {best[1]: best[2]}


def _proven_single(options: list[Option], *, demand: float, quotas: dict[str, int],
                   max_cost_per_hour: float | None, forbid_type_sets: tuple[frozenset[str], ...]
                   ) -> tuple[Option, int] | None:
    """The cheapest single-shape deployment when it is provably an optimum of the model below, in
    the model's own integers (rates floor-scaled, objective round-scaled, the budget floor-scaled):
    a plan needs at least one replica, so it costs at least the cheapest option's price, and at
    least need x the least price per unit of rate (the fractional optimum). When the single-shape
    cost reaches either bound no mix is cheaper: the CP-SAT solve is skipped. None: not proven
    (or out of range: the model's own checks then name the field)."""
    unit = rate_scale(o.rate for o in options)
    try:
        need = scaled(demand, unit, "traffic.peak_requests_per_s", what=DEMAND)
        rate = [scaled(o.rate, unit, "rate", math.floor) for o in options]
        price = [scaled(o.cost_per_hour, BUDGET_SCALE, "price") for o in options]
        budget = None if max_cost_per_hour is None else scaled(max_cost_per_hour, BUDGET_SCALE, "budget", math.floor)
    except InputError:
        return None
    usable = [i for i, r in enumerate(rate) if r > 0]
    if need <= 0 or not usable or any(p <= 0 for p in price):
        return None
    objective = [round(o.cost_per_hour * COST_SCALE) for o in options]
    best: tuple[int, int, int] | None = None  # (objective, position, count)
    for i in usable:
        o, count = options[i], -(-need // rate[i])
        if count * o.chips > quotas.get(o.hardware, count * o.chips) or frozenset((o.hardware,)) in forbid_type_sets:
            continue
        if budget is not None and count * price[i] > budget:
            continue
        if best is None or count * objective[i] < best[0]:
            best = (count * objective[i], i, count)
    if best is None:
        return None
    cheapest = min(objective[i] for i in usable)
    ratio = usable[0]  # the least objective per unit of rate, compared exactly: the bound must not round up
    for i in usable[1:]:
        if objective[i] * rate[ratio] < objective[ratio] * rate[i]:
            ratio = i
    if best[0] <= cheapest or best[0] * rate[ratio] <= need * objective[ratio]:
        return options[best[1]], best[2]
    return None


def _integers(options: list[Option], need: int, quotas: dict[str, int], *, unit: int, spare: int = 0,
              min_replicas: int = 1) -> tuple[dict[int, int], dict[int, int], dict[int, int]]:
    """Per option its scaled rate (``unit`` per request/s) and price, and the most replicas it can usefully
    have (enough for the demand alone plus ``spare``, at least ``min_replicas``, within its hardware's quota)."""
    rate = {o.index: scaled(o.rate, unit, f"{o.hardware}: requests/s per replica", math.floor)
            for o in options}
    price = {o.index: scaled(o.cost_per_hour, BUDGET_SCALE, f"hardware.{o.hardware}.price") for o in options}
    for h, quota in quotas.items():
        scaled(quota, 1, f"constraints.quotas.{h}")
    bounds: dict[int, int] = {}
    for o in options:
        upper = max(-(-need // rate[o.index]) + spare, min_replicas) if rate[o.index] > 0 else 0
        if o.hardware in quotas:
            upper = min(upper, quotas[o.hardware] // o.chips)
        bounds[o.index] = max(upper, 0)
    return rate, price, bounds


def _budget(options: list[Option], bounds: dict[int, int], max_cost_per_hour: float | None) -> int | None:
    """The budget row's bound: the hourly budget floor-scaled, capped just above what the options
    cost at their most replicas (a budget above it binds nothing); None without a budget."""
    if max_cost_per_hour is None:
        return None
    most = sum(o.cost_per_hour * bounds[o.index] for o in options)
    return scaled(min(max_cost_per_hour, most + 1.0), BUDGET_SCALE, "budget", math.floor)


def _mix_model(options: list[Option], *, need: int, types: list[str], rate: dict[int, int], price: dict[int, int],
               bounds: dict[int, int], quotas: dict[str, int], max_types: int, max_cost_per_hour: float | None,
               forbid_type_sets: tuple[frozenset[str], ...], spare: int, min_replicas: int) -> ProtoModel:
    """The replica-mix model, variables first: option j's replica count is variable j."""
    model = ProtoModel()
    # variables
    n = [model.new_int_var(0, bounds[o.index], f"n_{o.index}") for o in options]
    used = {h: model.new_int_var(0, 1, f"used_{h}") for h in types}
    # capacity: replicas carry the peak demand
    capacity = [(n[j], rate[o.index]) for j, o in enumerate(options)]
    model.linear(capacity, lower=need)
    # N+k: with min(spare, n_o) replicas of any one option o removed the rest still carry the demand
    if spare > 0:
        for j, o in enumerate(options):
            removed = model.new_int_var(0, spare, f"removed_{o.index}")
            model.min_equality(removed, n[j], spare)
            model.linear([*capacity, (removed, -rate[o.index])], lower=need)
    if min_replicas > 1:  # at least min_replicas replicas in all
        model.linear([(v, 1) for v in n], lower=min_replicas)
    # a hardware type counts as used when any of its options has replicas
    for j, o in enumerate(options):
        model.linear([(n[j], 1)], lower=0, upper=0, enforced_by=-used[o.hardware] - 1)
    # at most max_types distinct hardware types
    model.linear([(v, 1) for v in used.values()], upper=max_types)
    # quotas: chips per hardware id
    for h, quota in quotas.items():
        if h in used:
            model.linear([(n[j], o.chips) for j, o in enumerate(options) if o.hardware == h], upper=quota)
    # budget
    budget = _budget(options, bounds, max_cost_per_hour)
    if budget is not None:
        model.linear([(n[j], price[o.index]) for j, o in enumerate(options)], upper=budget)
    # exclusions: type sets already returned as other plans
    for banned in forbid_type_sets:
        if banned <= set(types):
            model.linear([(used[h], 1) for h in banned], upper=len(banned) - 1)
    # objective
    model.minimize((n[j], round(o.cost_per_hour * COST_SCALE)) for j, o in enumerate(options))
    return model


def _exact_mix(options: list[Option], m: MixModel, *, hint: dict[int, int]) -> dict[int, int] | None:
    """``exact_mix.solve_exact`` within EXACT_NODES: the optimal counts (empty: infeasible), or
    None where CP-SAT is to solve the model (tests switch the exact search off here)."""
    return solve_exact(options, m, hint=hint, max_nodes=EXACT_NODES)


def solve_mix(options: list[Option], *, demand: float, max_types: int, quotas: dict[str, int],
              max_cost_per_hour: float | None = None, forbid_type_sets: tuple[frozenset[str], ...] = (),
              time_limit_s: float = 2.0, seed: int = 0, workers: int = 1, spare: int = 0,
              min_replicas: int = 1) -> Solution:
    """Minimise hourly cost subject to capacity >= demand, <= max_types hardware types, quotas,
    at least ``min_replicas`` replicas, and (N+``spare``) capacity >= demand with ``spare``
    replicas of any one option removed."""
    start = time.perf_counter()
    # data
    unit = rate_scale(o.rate for o in options)
    need = scaled(demand, unit, "traffic.peak_requests_per_s", what=DEMAND)
    types = sorted({o.hardware for o in options})
    # rates round down and costs (for the budget) round up, so a plan never under-provisions the
    # peak or overspends the budget by a rounding unit
    rate, price, bounds = _integers(options, need, quotas, unit=unit, spare=spare, min_replicas=min_replicas)
    _check_span(price, bounds, f"the cost of {demand:g} requests/s", "traffic.peak_requests_per_s")
    # the shortcut's bounds know nothing of N+k or a replica minimum: those mixes go to CP-SAT
    proven = None if max_types < 1 or spare > 0 or min_replicas > 1 else _proven_single(
        options, demand=demand, quotas=quotas, max_cost_per_hour=max_cost_per_hour, forbid_type_sets=forbid_type_sets)
    if proven is not None:
        o, count = proven
        return Solution(status="OPTIMAL", counts={o.index: count}, cost_per_hour=o.cost_per_hour * count,
                        elapsed_s=time.perf_counter() - start)
    hint = _greedy(options, demand, quotas, spare, min_replicas)
    # the same model solved exactly without CP-SAT where its search stays small (all the examples' mixes)
    exact = _exact_mix(options, MixModel(
        need=need, rate=rate, price=price, objective={o.index: round(o.cost_per_hour * COST_SCALE) for o in options},
        bounds=bounds, quotas=quotas, max_types=max_types, budget=_budget(options, bounds, max_cost_per_hour),
        forbid_type_sets=forbid_type_sets, spare=spare, min_replicas=min_replicas), hint=hint)
    if exact is not None:
        return _solution("OPTIMAL" if exact else "INFEASIBLE", options, exact, start)
    model = _mix_model(options, need=need, types=types, rate=rate, price=price, bounds=bounds, quotas=quotas,
                       max_types=max_types, max_cost_per_hour=max_cost_per_hour, forbid_type_sets=forbid_type_sets,
                       spare=spare, min_replicas=min_replicas)
    position = {o.index: j for j, o in enumerate(options)}  # option j's replica count is variable j
    for index, count in hint.items():
        model.hint(position[index], count)
    # solve. One variable per replica shape of a plan key (at most ~100): presolve, probing and symmetry
    # detection cost more than they save (72 solves from five examples: 2.3 -> 1.2 ms each, the same optima).
    solved = model.solve(time_limit_s=time_limit_s, workers=workers, seed=seed, presolve=False)
    # read-out (values: every variable's, the replica counts first; none without a solution)
    counts = {o.index: v for o, v in zip(options, solved.values, strict=False) if v > 0}
    return _solution(solved.status, options, counts, start)


def _solution(status: str, options: list[Option], counts: dict[int, int], start: float) -> Solution:
    """The answer: ``counts`` (option index -> replicas, in the options' order) and their hourly
    cost (inf where no solution was found)."""
    found = status in ("OPTIMAL", "FEASIBLE")
    total = sum(o.cost_per_hour * counts.get(o.index, 0) for o in options) if found else math.inf
    return Solution(status=status, counts=counts, cost_per_hour=total, elapsed_s=time.perf_counter() - start)
