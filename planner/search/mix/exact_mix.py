"""The replica-mix model of ``planner.search.mix.solver`` solved exactly in pure Python, without CP-SAT.

The model (``solver._mix_model``), in its own integers: replica counts ``n_j`` in ``[0, bound_j]``
with ``sum rate_j n_j >= need``; with ``spare`` > 0 also ``sum rate n - min(n_j, spare) rate_j >=
need`` for every option j; ``sum n >= min_replicas``; at most ``max_types`` hardware types with
replicas, none of ``forbid_type_sets`` all among them; per hardware type ``sum chips_j n_j <=
quota``; ``sum price_j n_j <= budget``; minimise ``sum objective_j n_j``.

Depth-first branch and bound over the options in increasing objective per unit of rate, each
option's count tried from the most it may usefully have down to none. A node is cut when its cost
plus a lower bound on what the rest must still cost (the capacity still short times the least
objective per unit of rate left, rounded up; at least one more replica, and every replica still
short of ``min_replicas``, at the least objective left) cannot beat the best mix found, or when
the budget cannot pay for the same at the least prices left. Both bounds hold for any completion
(N+k only raises the capacity still short), so the search is exact; among tied optima it keeps the
hint or else the first it meets. A search that would visit more than ``max_nodes`` nodes gives
up (None) and the caller asks CP-SAT.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["MOST_OPTIONS", "MixModel", "feasible", "solve_exact"]


class _Option(Protocol):
    @property
    def index(self) -> int: ...
    @property
    def hardware(self) -> str: ...
    @property
    def chips(self) -> int: ...


@dataclass(frozen=True)
class MixModel:
    """The replica-mix model's integers, per option index (``solver._integers``' rate, price and
    bounds; objective: the objective's coefficient, ``round(cost x COST_SCALE)``)."""

    need: int
    rate: dict[int, int]
    price: dict[int, int]
    objective: dict[int, int]
    bounds: dict[int, int]
    quotas: dict[str, int]
    max_types: int
    budget: int | None  # the model's budget row's upper bound (None: no budget row)
    forbid_type_sets: tuple[frozenset[str], ...]
    spare: int
    min_replicas: int


# options with replicas to place at most: the search recurses twice per option it sets (Python's
# default limit is 1,000 frames); a plan key has ~100 shapes at most
MOST_OPTIONS = 200


class _TooLarge(Exception):
    """The search passed its node limit."""


def solve_exact(options: Sequence[_Option], m: MixModel, *, hint: dict[int, int], max_nodes: int
                ) -> dict[int, int] | None:
    """An optimal mix (option index -> replicas, none with 0; empty: the model is infeasible), or
    None where the model lies outside what this search covers or needs more than ``max_nodes``
    nodes. Among tied optima: ``hint`` when it is one (as CP-SAT mostly answers: given the hint it
    returned it in 199 of the examples' 204 solves where the hint was optimal), else the first in
    the search's order."""
    types = {o.hardware for o in options}
    live = [o for o in options if m.bounds[o.index] > 0]
    if (m.need <= 0 or m.max_types < 1 or len(live) > MOST_OPTIONS or any(not banned for banned in m.forbid_type_sets)
            or any(m.quotas[h] < 0 for h in types if h in m.quotas)
            or any(m.objective[o.index] <= 0 or m.price[o.index] <= 0 for o in live)):
        return None  # mixes of no replica, free replicas or too many options: left to CP-SAT
    if m.budget is not None and m.budget < 0:
        return {}
    search = _Search(live, m, types, max_nodes)
    if feasible(options, m, hint):
        search.best = sum(m.objective[i] * n for i, n in hint.items())
        search.best_counts = {i: n for i, n in hint.items() if n}
    try:
        search.run()
    except _TooLarge:
        return None
    return {o.index: search.best_counts[o.index] for o in options if o.index in search.best_counts}  # options' order


def feasible(options: Sequence[_Option], m: MixModel, counts: dict[int, int]) -> bool:
    """Whether ``counts`` (option index -> replicas) satisfies every constraint of the model."""
    by_index = {o.index: o for o in options}
    if not counts or any(i not in by_index or not 0 <= n <= m.bounds[i] for i, n in counts.items()):
        return False
    capacity = sum(m.rate[i] * n for i, n in counts.items())
    removed = max(min(n, m.spare) * m.rate[i] for i, n in counts.items())
    used = {by_index[i].hardware for i, n in counts.items() if n}
    chips: dict[str, int] = {}
    for i, n in counts.items():
        chips[by_index[i].hardware] = chips.get(by_index[i].hardware, 0) + n * by_index[i].chips
    types = {o.hardware for o in options}
    return (capacity - removed >= m.need and sum(counts.values()) >= m.min_replicas and len(used) <= m.max_types
            and all(chips.get(h, 0) <= q for h, q in m.quotas.items() if h in types)
            and (m.budget is None or sum(m.price[i] * n for i, n in counts.items()) <= m.budget)
            and not any(b <= used for b in m.forbid_type_sets if b <= types))


class _Search:
    """One depth-first branch and bound (``solve_exact``); the state of a node is its arguments."""

    def __init__(self, live: list[_Option], m: MixModel, types: set[str], max_nodes: int) -> None:
        # the order in which counts are set (and ties met): cheapest per unit of rate first; the
        # bounds below take exact minima, so a float key that misorders near-equal ratios is harmless
        order = sorted(live, key=lambda o: m.objective[o.index] / m.rate[o.index])
        self.m, self.max_nodes, self.nodes = m, max_nodes, 0
        self.index = [o.index for o in order]
        self.hardware = [o.hardware for o in order]
        self.chips = [o.chips for o in order]
        self.rate = [m.rate[i] for i in self.index]
        self.price = [m.price[i] for i in self.index]
        self.cost = [m.objective[i] for i in self.index]
        self.bound = [m.bounds[i] for i in self.index]
        # banned sets the model constrains: those within the options' hardware types
        self.banned = [b for b in m.forbid_type_sets if b <= types]
        # per depth, over the options from it on: the least objective and price per unit of rate
        # (as fractions (numerator, rate)) and the least objective and price of one replica
        self.cost_ratio, self.price_ratio = _least_ratios(self.cost, self.rate), _least_ratios(self.price, self.rate)
        self.least_cost, self.least_price = _least(self.cost), _least(self.price)
        self.best = -1  # objective of the best mix found (-1: none)
        self.best_counts: dict[int, int] = {}
        self.counts = [0] * len(order)

    def run(self) -> None:
        quota_left = {h: q for h, q in self.m.quotas.items()}
        self._node(0, 0, 0, 0, 0, 0, frozenset(), quota_left)

    def _allowed(self, used: frozenset[str], hardware: str) -> bool:
        """Whether a mix may take ``hardware`` on top of the types ``used``."""
        if hardware in used:
            return True
        if len(used) >= self.m.max_types:
            return False
        more = used | {hardware}
        return not any(b <= more for b in self.banned)

    def _node(self, d: int, capacity: int, cost: int, spent: int, replicas: int, removed: int,
              used: frozenset[str], quota_left: dict[str, int]) -> None:
        self.nodes += 1
        if self.nodes > self.max_nodes:
            raise _TooLarge
        m = self.m
        short = m.need + removed - capacity  # capacity still missing (N+k: with the largest removal so far)
        few = m.min_replicas - replicas  # replicas still missing
        if short <= 0 and few <= 0:  # a mix: every later option adds cost only
            if self.best < 0 or cost < self.best:
                self.best = cost
                self.best_counts = {self.index[j]: c for j, c in enumerate(self.counts) if c}
            return
        n = len(self.index)
        while d < n and not self._allowed(used, self.hardware[d]):
            d += 1
        if d == n:
            return
        # lower bound on the cost of any completion: the linear relaxation's, rounded up
        c, r = self.cost_ratio[d]
        rest = -(-max(short, 0) * c // r)
        if few > 0:
            rest = max(rest, few * self.least_cost[d])
        rest = max(rest, self.least_cost[d])
        if self.best >= 0 and cost + rest >= self.best:
            return
        if m.budget is not None:  # the budget must pay for what is still short at the least price
            p, r = self.price_ratio[d]
            least = max(-(-max(short, 0) * p // r), max(few, 1) * self.least_price[d])
            if spent + least > m.budget:
                return
        self._branch(d, capacity, cost, spent, replicas, removed, used, quota_left, short, few)

    def _branch(self, d: int, capacity: int, cost: int, spent: int, replicas: int, removed: int,
                used: frozenset[str], quota_left: dict[str, int], short: int, few: int) -> None:
        """Option d's count, from the most it may usefully have down to none."""
        m = self.m
        h, rate, chips = self.hardware[d], self.rate[d], self.chips[d]
        most = self.bound[d]
        if h in quota_left:
            most = min(most, quota_left[h] // chips)
        if m.budget is not None:
            most = min(most, (m.budget - spent) // self.price[d])
        if m.spare == 0:  # a replica beyond the demand and the replica minimum only adds cost
            most = min(most, max(-(-max(short, 0) // rate), few))
        with_h = used | {h}
        for count in range(most, 0, -1):
            self.counts[d] = count
            left = quota_left
            if h in quota_left:
                left = dict(quota_left)
                left[h] -= count * chips
            self._node(d + 1, capacity + count * rate, cost + count * self.cost[d], spent + count * self.price[d],
                       replicas + count, max(removed, min(count, m.spare) * rate), with_h, left)
        self.counts[d] = 0
        self._node(d + 1, capacity, cost, spent, replicas, removed, used, quota_left)


def _least_ratios(values: list[int], rate: list[int]) -> list[tuple[int, int]]:
    """Per position, the least values[k] / rate[k] over k from it on, as (values[k], rate[k])."""
    out = list(zip(values, rate, strict=True))
    for d in range(len(out) - 2, -1, -1):
        (v, r), (lv, lr) = out[d], out[d + 1]
        if lv * r < v * lr:
            out[d] = (lv, lr)
    return out


def _least(values: list[int]) -> list[int]:
    """Per position, the least of values from it on."""
    out = list(values)
    for d in range(len(out) - 2, -1, -1):
        out[d] = min(out[d], out[d + 1])
    return out
