"""CP-SAT over periods: how many replicas of each shape to commit, and to buy on demand or spot,
in every (month, period) for every workload of a fleet, at least total cost over the horizon.

Data -> variables -> constraints -> objective -> solve -> read-out, as ``planner.search.mix.solver``.
Per workload w, shape s, month m and period q (``planner.fleet.demand``):

- bought[w,s,m]: replicas whose committed term (``TERM_MONTHS`` of ``committed_as``: 12 or 36 months)
  starts in month m, paid at the committed price for every hour of every month of the term, past the
  horizon too (``Solved.beyond``); committed[w,s,m], the replicas held in month m, is the sum of the
  terms running then. A term is bought only where it costs less in full than what it replaces, and
  one that ends within the horizon is renewed only by buying another (auditors' cases: charged to the
  horizon's end only, a 1-year term bought for a 3-month horizon read $16.8k where it costs $67.2k
  against $23.1k on demand; kept past its end for free, a 13-month horizon read one term for 13
  months). A committed mode without a known term keeps a level that is never given back;
- on_demand[w,s,m,q] and spot[w,s,m,q]: replicas added in the hours of period q only.

Every period: the SLO capacity of all replicas carries the demand over ``max_utilization``; with
``spare`` k it does so with k replicas of any used shape removed (conservative: k whole replicas
even where the shape has fewer); the non-spot replicas alone carry the raw demand (all spot
capacity may be pre-empted at once: it can serve as headroom, never as the floor); at least
``min_replicas`` (and one per zone) run. Per workload at most ``max_hardware_types`` types; chips
per hardware within the workload's quotas; summed over the fleet, within the fleet's quotas.
Cost = sum of committed x price x 730 h + on-demand / spot x price x the period's hours + the
committed terms' months past the horizon x price x 730 h (= every term bought x its months x price x 730 h).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from ortools.sat.python import cp_model

from planner.economics.rates import TERM_MONTHS
from planner.fleet.options import Shape
from planner.fleet.prices import ChipPrices, Mode, replica_price
from planner.model.grid import Array
from planner.search.mix.solver import COST_SCALE, rate_scale, scaled
from planner.search.stop import interrupting
from planner.workload import HOURS_PER_MONTH, Availability

__all__ = ["Item", "Solved", "purchases", "solve_schedule"]


@dataclass(frozen=True)
class Item:
    """One workload as the model sees it."""

    name: str
    shapes: tuple[Shape, ...]
    demand: Array  # requests/s per [month, period]
    availability: Availability
    max_types: int
    quotas: Mapping[str, int]  # chips per hardware, this workload alone


@dataclass(frozen=True)
class Solved:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN | MODEL_INVALID
    committed: list[np.ndarray]  # per item, replicas held on committed terms [shape, month]
    on_demand: list[np.ndarray]  # per item, replicas [shape, month, period]
    spot: list[np.ndarray]
    cost: list[np.ndarray]  # per item, USD per month
    elapsed_s: float
    # CP-SAT's proven lower bound on the objective, USD over the horizon (the cost itself when OPTIMAL;
    # nan: no solution, or a schedule not from a solve)
    bound: float = math.nan
    # per item, USD of its committed terms' months past the horizon (paid: a term is signed for in full)
    beyond: list[float] = field(default_factory=list)
    # per item, replicas whose committed term starts in each month [shape, month] (renewals included)
    bought: list[np.ndarray] = field(default_factory=list)

    @property
    def total(self) -> float:
        """USD over the horizon and of the committed terms past it, every item (0 without a schedule)."""
        return sum(float(c.sum()) for c in self.cost) + sum(self.beyond)


def _prices(prices: ChipPrices, s: Shape, committed_as: str) -> dict[Mode, float | None]:
    return {mode: replica_price(prices, s.hardware, s.chips, mode, committed_as=committed_as) for mode in Mode}


Expr = cp_model.LinearExprT
# "c" committed [j, m], "b" terms bought [j, m], "o" / "s" on-demand / spot [j, m, q]
Vars = dict[str, dict[tuple[int, ...], cp_model.IntVar]]


class _Schedule:
    """The model of ``solve_schedule``, built workload by workload."""

    def __init__(self, *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
                 modes: frozenset[Mode], committed_as: str, months: int, periods: int) -> None:
        self.model = cp_model.CpModel()
        self.prices, self.fleet_quotas, self.modes, self.committed_as = prices, fleet_quotas, modes, committed_as
        self.months, self.periods = months, periods
        self.hours_milli = [scaled(h, 1000, "traffic.profile") for h in hours]  # milli-hours per month
        self.hours = [float(h) for h in hours]
        self.vars: list[Vars] = []
        # per item, month: (USD scaled up to the solver's integers, var, the exact USD a replica costs there): the
        # solver minimises the first, the schedule reports the last (the rounded-up cents once showed in it)
        self.month_cost: list[list[list[tuple[int, cp_model.IntVar, float]]]] = []
        # per item, the same for the committed terms' months past the horizon (``_terms``)
        self.beyond_cost: list[list[tuple[int, cp_model.IntVar, float]]] = []
        self.chips: dict[str, dict[tuple[int, int], list[Expr]]] = {}  # hardware -> (m, q) -> chips running

    def running(self, v: Vars, j: int, m: int, q: int, *, spot: bool = True) -> Expr:
        parts = [v["c"].get((j, m)), v["o"].get((j, m, q)), v["s"].get((j, m, q)) if spot else None]
        return sum(p for p in parts if p is not None)

    def add(self, w: int, it: Item) -> None:
        per_rps = rate_scale(s.slo_capacity for s in it.shapes)  # integer units per request/s of its rates
        v, used = self._variables(w, it, per_rps)
        self._shape_rules(w, it, v, used)
        rate = [scaled(s.slo_capacity, per_rps, f"{it.name}: {s.label} capacity", math.floor) for s in it.shapes]
        for m in range(self.months):
            for q in range(self.periods):
                self._period(it, v, used, rate, m, q, per_rps)
        self.vars.append(v)

    def _variables(self, w: int, it: Item, per_rps: int) -> tuple[Vars, list[cp_model.IntVar]]:
        """Replica counts per shape and mode (a mode without a price, or not allowed, has none)."""
        a = it.availability
        top = max(1, scaled(float(it.demand.max()) / a.max_utilization, per_rps, f"{it.name}: demand"))
        v: Vars = {"c": {}, "b": {}, "o": {}, "s": {}}
        cost: list[list[tuple[int, cp_model.IntVar, float]]] = [[] for _ in range(self.months)]
        for j, s in enumerate(it.shapes):
            price = _prices(self.prices, s, self.committed_as)
            rate = max(1, scaled(s.slo_capacity, per_rps, f"{it.name}: {s.label} capacity", math.floor))
            upper = max(-(-top // rate) + a.spare, a.replicas_at_least)
            for quotas in (it.quotas, self.fleet_quotas):
                upper = min(upper, quotas.get(s.hardware, upper * s.chips) // s.chips)
            exact = {mode: p for mode, p in price.items() if p is not None and mode in self.modes}
            unit = {mode: scaled(p, COST_SCALE, f"{s.hardware} {mode} price") for mode, p in exact.items()}
            for m in range(self.months):
                if Mode.COMMITTED in unit:
                    v["c"][j, m] = self.model.new_int_var(0, upper, f"committed_{w}_{j}_{m}")
                    cost[m].append((unit[Mode.COMMITTED] * int(HOURS_PER_MONTH), v["c"][j, m],
                                    exact[Mode.COMMITTED] * HOURS_PER_MONTH))
                for q in range(self.periods):
                    for key, mode in (("o", Mode.ON_DEMAND), ("s", Mode.SPOT)):
                        if mode in unit:
                            v[key][j, m, q] = self.model.new_int_var(0, upper, f"{key}_{w}_{j}_{m}_{q}")
                            cost[m].append((unit[mode] * self.hours_milli[q] // 1000, v[key][j, m, q],
                                            exact[mode] * self.hours[q]))
        self.month_cost.append(cost)
        self.beyond_cost.append(self._terms(w, it, v))
        return v, [self.model.new_bool_var(f"used_{w}_{j}") for j in range(len(it.shapes))]

    def _terms(self, w: int, it: Item, v: Vars) -> list[tuple[int, cp_model.IntVar, float]]:
        """The committed terms: per shape and month, the replicas whose term starts then (``bought``), the level
        held in each month their sum over the terms running then, and, as objective terms, each term's months past
        the horizon (max(0, m + term - months) for one bought in month m). Without a known term (a committed mode
        ``TERM_MONTHS`` does not know) no terms: the level is never given back (``_shape_rules``)."""
        term = TERM_MONTHS.get(self.committed_as)
        if term is None:
            return []
        out = []
        for j, s in enumerate(it.shapes):
            if (j, 0) not in v["c"]:
                continue
            price = _prices(self.prices, s, self.committed_as)[Mode.COMMITTED]
            assert price is not None  # (a committed level exists only where the mode has a price)
            unit = scaled(price, COST_SCALE, f"{s.hardware} {Mode.COMMITTED} price") * int(HOURS_PER_MONTH)
            upper = int(list(v["c"][j, 0].proto.domain)[-1])  # (the binding takes no negative index)
            for m in range(self.months):
                v["b"][j, m] = self.model.new_int_var(0, upper, f"bought_{w}_{j}_{m}")
            for m in range(self.months):
                self.model.add(v["c"][j, m] == sum(v["b"][j, t] for t in range(max(0, m - term + 1), m + 1)))
                past = max(0, m + term - self.months)
                if past:
                    out.append((unit * past, v["b"][j, m], price * HOURS_PER_MONTH * past))
        return out

    def _shape_rules(self, w: int, it: Item, v: Vars, used: list[cp_model.IntVar]) -> None:
        # a shape counts as used when any of its counts is positive
        for (j, *_), var in [*v["c"].items(), *v["o"].items(), *v["s"].items()]:
            self.model.add(var == 0).only_enforce_if(used[j].Not())
        # at most max_types hardware types per workload
        type_used = {h: self.model.new_bool_var(f"type_{w}_{h}") for h in sorted({s.hardware for s in it.shapes})}
        for j, s in enumerate(it.shapes):
            self.model.add_implication(used[j], type_used[s.hardware])
        self.model.add(sum(type_used.values()) <= it.max_types)
        # without terms (``_terms``), a committed level is never given back within the horizon
        if not v["b"]:
            for (j, m), var in v["c"].items():
                if m > 0:
                    self.model.add(var >= v["c"][j, m - 1])

    def _period(self, it: Item, v: Vars, used: list[cp_model.IntVar], rate: list[int], m: int, q: int,
                per_rps: int) -> None:
        a = it.availability
        need = scaled(it.demand[m, q] / a.max_utilization, per_rps, f"{it.name}: demand")
        shapes = range(len(it.shapes))
        total = cp_model.LinearExpr.sum([rate[j] * self.running(v, j, m, q) for j in shapes])
        # capacity: the demand over max_utilization
        self.model.add(total >= need)
        # N+k: k replicas of any used shape removed
        if a.spare:
            for j in shapes:
                self.model.add(total - rate[j] * a.spare * used[j] >= need)
        # spot may all be pre-empted at once: the rest carries the raw demand
        if v["s"]:
            floor = scaled(it.demand[m, q], per_rps, f"{it.name}: demand")
            self.model.add(sum(rate[j] * self.running(v, j, m, q, spot=False) for j in shapes) >= floor)
        # redundancy: at least min_replicas running, one per zone
        if a.replicas_at_least > 1:
            self.model.add(sum(self.running(v, j, m, q) for j in shapes) >= a.replicas_at_least)
        # chips per hardware: the workload's own quotas here, the fleet's in fleet_quotas()
        mine: dict[str, list[Expr]] = {}
        for j, s in enumerate(it.shapes):
            mine.setdefault(s.hardware, []).append(s.chips * self.running(v, j, m, q))
        for h, terms in mine.items():
            self.chips.setdefault(h, {}).setdefault((m, q), []).extend(terms)
            if h in it.quotas:
                self.model.add(sum(terms) <= it.quotas[h])

    def fleet_quotas_(self, quota_left: Mapping[str, Array] | None) -> None:
        """Chips per hardware summed over every workload, in every period."""
        for h, by_period in self.chips.items():
            for (m, q), terms in by_period.items():
                limits = [x for x in (self.fleet_quotas.get(h),
                                      None if quota_left is None or h not in quota_left else int(quota_left[h][m, q]))
                          if x is not None]
                if limits:
                    self.model.add(sum(terms) <= min(limits))

    def hint(self, hints: Sequence[Solved | None]) -> None:
        for v, h in zip(self.vars, hints, strict=False):
            if h is not None and h.cost:
                for key, arr in (("c", h.committed[0]), ("b", h.bought[0]), ("o", h.on_demand[0]), ("s", h.spot[0])):
                    for index, var in v[key].items():
                        self.model.add_hint(var, int(arr[index]))

    def read(self, solver: cp_model.CpSolver, items: Sequence[Item], status: str, elapsed_s: float) -> Solved:
        out = Solved(status, [], [], [], [], elapsed_s, bound=solver.best_objective_bound / COST_SCALE)
        for it, v, month_cost in zip(items, self.vars, self.month_cost, strict=True):
            n = len(it.shapes)
            arrays = {"c": np.zeros((n, self.months), int), "b": np.zeros((n, self.months), int),
                      "o": np.zeros((n, self.months, self.periods), int),
                      "s": np.zeros((n, self.months, self.periods), int)}
            for key, arr in arrays.items():
                for index, var in v[key].items():
                    arr[index] = solver.value(var)
            out.committed.append(arrays["c"])
            out.bought.append(arrays["b"] if v["b"] else purchases(arrays["c"], self.months))  # (no term: increments)
            out.on_demand.append(arrays["o"])
            out.spot.append(arrays["s"])
            out.cost.append(np.array([sum(usd * solver.value(var) for _c, var, usd in row) for row in month_cost]))
        for terms in self.beyond_cost:
            out.beyond.append(float(sum(usd * solver.value(var) for _c, var, usd in terms)))
        return out


def purchases(levels: np.ndarray, term: int) -> np.ndarray:
    """Terms bought [shape, month] that hold ``levels`` [shape, month] of committed replicas, each term ``term`` months
    long: each month, what the level needs beyond the terms still running (a term's end is renewed by a new one).
    With a term as long as the horizon, the level's increments (a committed mode without a term)."""
    bought = np.zeros_like(levels)
    for m in range(levels.shape[1]):
        running = bought[:, max(0, m - term + 1):m].sum(axis=1)
        bought[:, m] = np.maximum(levels[:, m] - running, 0)
    return bought


MAX_SPLIT = 16  # most hardware-type choices solved one by one (``solve_schedule``); more: one model
# A choice's first solve gets at least this long, so that every choice has a bound (CP-SAT's presolve and
# root LP) even when the others took the time; the second pass starts no solve with less than
# MIN_RESOLVE_S left (a solver restarts from scratch: a shorter solve rarely raises the bound it had).
# Solver controls, chosen, not measured or fitted; they decide only how the time limit is spent.
MIN_FIRST_S, MIN_RESOLVE_S = 0.05, 0.5


def _type_choices(it: Item) -> list[tuple[int, ...]]:
    """The shape indices of each set of ``max_types`` hardware types (every type when it has no more)."""
    types = sorted({s.hardware for s in it.shapes})
    if len(types) <= it.max_types:
        return [tuple(range(len(it.shapes)))]
    return [tuple(j for j, s in enumerate(it.shapes) if s.hardware in chosen)
            for chosen in itertools.combinations(types, it.max_types)]


def _restricted(hint: Solved | None, keep: tuple[int, ...]) -> Solved | None:
    """A single-item hint on the shapes ``keep`` (None where it uses another shape)."""
    if hint is None or not hint.cost:
        return None
    used = {j for arr in (hint.committed[0], hint.on_demand[0], hint.spot[0])
            for j in np.flatnonzero(arr.reshape(len(arr), -1).any(axis=1))}
    if not used <= set(keep):
        return None
    at = list(keep)
    return Solved(hint.status, [hint.committed[0][at]], [hint.on_demand[0][at]], [hint.spot[0][at]], hint.cost,
                  hint.elapsed_s, beyond=hint.beyond, bought=[hint.bought[0][at]])


def _widened(part: Solved, it: Item, keep: tuple[int, ...]) -> Solved:
    """``part``, one workload solved on its shapes ``keep``, on every shape of ``it`` (zeros elsewhere)."""
    def full(arrays: list[np.ndarray]) -> list[np.ndarray]:
        out = np.zeros((len(it.shapes), *arrays[0].shape[1:]), dtype=arrays[0].dtype)
        out[list(keep)] = arrays[0]
        return [out]

    return replace(part, committed=full(part.committed), on_demand=full(part.on_demand), spot=full(part.spot),
                   bought=full(part.bought))


def solve_schedule(items: Sequence[Item], *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
                   quota_left: Mapping[str, Array] | None = None, modes: frozenset[Mode] = frozenset(Mode),
                   committed_as: str = "reserved_1y", time_limit_s: float = 20.0, workers: int = 1,
                   seed: int = 0, hint: Sequence[Solved | None] = ()) -> Solved:
    """The least-cost schedule (module docstring). ``quota_left``: per hardware, chips still free
    per [month, period] (fleet quotas already in part used by workloads planned before).
    ``hint``: one single-item solution per item (say, each planned alone), tried first.

    A single workload that may use fewer hardware types than its shapes span is solved one choice of
    ``max_types`` types at a time (at most MAX_SPLIT choices), each model with that choice's shapes
    only and the best schedule found so far as a cutoff. Every schedule uses at most ``max_types``
    types, so it is a schedule of one choice: the best of the choices is the optimum, and the least
    of their bounds a bound (a choice the cutoff makes infeasible costs at least the best found).
    CP-SAT's LP relaxation is weak on the type choice: on the example fleet's summarizer, within what
    the quotas left it, one model took 9.5 s to prove its optimum and the three two-type models 0.5 s
    in all. Several workloads stay one model: split, the example's joint schedule (27 choices)
    proved a weaker bound in the same time (5.6% from its schedule against 1.7%). ``time_limit_s`` is
    shared by the choices: each gets an even share of what is left, then the time still left goes to
    those not closed, the lowest bound first."""
    def run(part: Sequence[Item], limit: float, hints: Sequence[Solved | None], cutoff: int | None = None) -> Solved:
        return _solve(part, hours=hours, prices=prices, fleet_quotas=fleet_quotas, quota_left=quota_left, modes=modes,
                      committed_as=committed_as, time_limit_s=limit, workers=workers, seed=seed, hint=hints,
                      cutoff=cutoff)

    choices = _type_choices(items[0]) if len(items) == 1 else []
    if len(choices) <= 1 or len(choices) > MAX_SPLIT:
        return run(items, time_limit_s, hint)
    return _TypeSplit(items[0], choices, run, hint[0] if hint else None).solve(time_limit_s)


Run = Callable[[Sequence[Item], float, Sequence["Solved | None"], "int | None"], Solved]


class _TypeSplit:
    """``solve_schedule`` of one workload, one choice of hardware types at a time (its docstring)."""

    def __init__(self, it: Item, choices: list[tuple[int, ...]], run: Run, hint: Solved | None) -> None:
        # the choice the hint fits first: its schedule is the first cutoff
        self.choices = sorted(choices, key=lambda keep: _restricted(hint, keep) is None)
        self.it, self.run, self.hint = it, run, hint
        self.best: Solved | None = None  # on every shape of the workload
        self.bounds = [-math.inf] * len(choices)  # per choice, a bound on its optimum
        self.statuses = [""] * len(choices)

    def solve(self, time_limit_s: float) -> Solved:
        start = time.perf_counter()

        def left() -> float:
            return time_limit_s - (time.perf_counter() - start)

        n = len(self.choices)
        # every choice once, each with an even share of the time left (what a quick one leaves goes to
        # the rest) and at least enough for CP-SAT to prove its LP bound
        for i in range(n):
            self.attempt(i, max(left() / (n - i), MIN_FIRST_S))
        # then the time left to the choices still open, the lowest bound first
        still = sorted((i for i in range(n) if self.statuses[i] not in ("OPTIMAL", "INFEASIBLE")),
                       key=lambda i: self.bounds[i])
        for k, i in enumerate(still):
            if not self.closed(i) and left() >= MIN_RESOLVE_S:
                self.attempt(i, left() / (len(still) - k))
        return self.result(time.perf_counter() - start)

    def attempt(self, i: int, limit: float) -> None:
        keep = self.choices[i]
        sub = replace(self.it, shapes=tuple(self.it.shapes[j] for j in keep))
        cutoff = None if self.best is None else round(self.best.total * COST_SCALE) - 1  # strictly cheaper
        part = self.run([sub], limit, [_restricted(self.hint, keep)], cutoff)
        if part.cost:
            self.best = _widened(part, self.it, keep)
        if part.status == "INFEASIBLE":  # none at all, or none cheaper than the best found
            found = math.inf if cutoff is None else (cutoff + 1) / COST_SCALE
        else:  # OPTIMAL: its cost; cut short: what CP-SAT proved so far
            found = part.bound if math.isfinite(part.bound) else -math.inf
        self.bounds[i] = max(self.bounds[i], found)
        self.statuses[i] = part.status

    def closed(self, i: int) -> bool:
        """Whether choice i cannot beat the best schedule found (the objective is in milli-dollars)."""
        return self.best is not None and self.bounds[i] >= self.best.total - 0.5 / COST_SCALE

    def result(self, elapsed: float) -> Solved:
        if self.best is None:
            status = "INFEASIBLE" if all(st == "INFEASIBLE" for st in self.statuses) else "UNKNOWN"
            return Solved(status, [], [], [], [], elapsed, min(self.bounds, default=math.nan))
        cost, bound = self.best.total, min(self.bounds)
        return replace(self.best, status="OPTIMAL" if all(self.closed(i) for i in range(len(self.choices)))
                       else "FEASIBLE", elapsed_s=elapsed, bound=min(bound, cost))


def _solve(items: Sequence[Item], *, hours: Array, prices: ChipPrices, fleet_quotas: Mapping[str, int],
           quota_left: Mapping[str, Array] | None, modes: frozenset[Mode], committed_as: str, time_limit_s: float,
           workers: int, seed: int, hint: Sequence[Solved | None], cutoff: int | None = None) -> Solved:
    """One CP-SAT model of ``items`` (``cutoff``: an objective, in the model's units, it must not exceed)."""
    start = time.perf_counter()
    months, periods = items[0].demand.shape
    # data and variables, constraints per workload
    sched = _Schedule(hours=hours, prices=prices, fleet_quotas=fleet_quotas, modes=modes, committed_as=committed_as,
                      months=months, periods=periods)
    for w, it in enumerate(items):
        sched.add(w, it)
    # constraints across the fleet
    sched.fleet_quotas_(quota_left)
    sched.hint(hint)
    # objective
    objective = sum(c * var for rows in sched.month_cost for row in rows for c, var, _usd in row) + \
        sum(c * var for terms in sched.beyond_cost for c, var, _usd in terms)
    if cutoff is not None:
        sched.model.add(objective <= cutoff)
    sched.model.minimize(objective)
    # solve
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = time_limit_s
    solver.parameters.num_workers = workers
    solver.parameters.random_seed = seed
    with interrupting(solver.stop_search) as stopped_already:  # (the service's client has gone: planner.search.stop)
        if stopped_already:
            solver.parameters.max_time_in_seconds = 0.0
        status = solver.solve(sched.model)
    name = solver.status_name(status)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        bound = solver.best_objective_bound / COST_SCALE if status == cp_model.UNKNOWN else math.nan
        return Solved(name, [], [], [], [], time.perf_counter() - start, bound)
    # read-out
    return sched.read(solver, items, name, time.perf_counter() - start)

