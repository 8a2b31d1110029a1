"""The planner: candidates -> SLO capacity -> pruning -> CP-SAT replica mixes -> ranked plans.

1. Enumerate runnable replica configurations within the constraints (``planner.candidates``;
   static filters on factor tables, survivors as rows of the catalog's ``Universe``).
2. Drop those that do not fit in memory or miss an SLO even with no load, and bound each one's
   SLO capacity from above without the queueing model (``capacity.slo_ceiling``).
3. Prune dominated shapes: per plan key (model, precision, KV precision, runtime) and hardware,
   keep the few cheapest per unit of that ceiling.
4. Branch and bound over plan keys in order of a valid lower bound on their cost (fractional
   replicas at capacity, at least ceil(demand / largest replica) of the cheapest replica, per
   set of at most ``max_hardware_types`` hardware types): a round of keys goes through the
   queueing model together, which replaces their ceilings with SLO capacities (the highest
   rung of a load ladder meeting every percentile, ``capacity.search_capacity``); CP-SAT then
   picks each key's integer replica counts, possibly a mix, that carry the peak load within
   quotas and budget at least cost (``planner.solver``), and once more with that hardware set
   banned. Keys whose bound cannot enter the top-K are skipped. The search is exhaustive, and
   the status OPTIMAL, when every key is solved or pruned; it stops at ``max_keys`` keys (status
   FEASIBLE: the ranking is not proven) or at the deadline (TIME_LIMIT).
5. Rank by the objective, mark the Pareto front, and explain binding constraints; when nothing
   fits, ``planner.explain`` finds verified relaxations.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from planner.candidates import Candidates, enumerate_candidates, universe
from planner.capacity import UTILIZATION, default_prior, screen, search_capacity
from planner.domain import Catalog
from planner.grid import Array, CatalogTables
from planner.plan_build import build_plans
from planner.rank import mark_pareto, rank_plans
from planner.results import Infeasible, PlanResult, SearchStats
from planner.solver import Option, Solution, solve_mix
from planner.workload import HOURS_PER_MONTH, Objective, Workload

__all__ = ["Prepared", "plan", "prepare", "solve_prepared"]

# Search constants. Checked on the eight examples by changing one at a time (plans = each top 5's
# costs, models and hardware sets; times = median plan in one run):
# replica shapes kept per plan key and hardware after pruning: 2 loses a plan from offline-batch's top
# 5; 4 changes no example's plans
KEEP_PER_HARDWARE = 3
# plan keys whose shapes go through the queueing model together: 4 finds a costlier domain-task top 5,
# 8 a different one in ~1.3x the time
KEYS_PER_ROUND = 6
# rows screened at a time (see _screen): with 16,384 the examples' preparation took 25% less time than
# unchunked, and less than with 4,096, 8,192 or 32,768 (interleaved runs on this project's 2-core machine)
SCREEN_CHUNK = 16384
# see Prepared.evaluate_keys: 0.15 and 0.5 give the same plans on every example, 0.5 in ~1.4x the
# time; the margin is room for shapes that win through integer rounding, which these examples lack
EVAL_MARGIN = 0.3
# plans kept beyond top-K before bounding, since near-duplicates are dropped later: 0 and 4 give the
# same plans on the examples, 4 in ~1.4x the time
SPARE = 2
# hardware types per key evaluated up front for alternative-hardware plans: 6 gave the same plans as
# every type on all examples (3, 4 and 5 lose plans from long-document-summarizer's top 5)
ALTERNATIVES = 6


@dataclass
class Prepared:
    """Screened candidates; load curves and SLO capacity are filled in lazily per plan key."""

    cand: Candidates
    raw_capacity: Array  # requests/s per replica at the largest concurrency that fits
    ceiling: Array  # requests/s per replica above which the SLOs cannot hold (capacity.slo_ceiling)
    cost_per_hour: Array  # per replica
    key: np.ndarray  # plan-key id per candidate
    enumerated: int
    rate: Array  # SLO capacity per replica (NaN = not evaluated, 0 = meets no SLO level)
    rung: Array  # utilisation rung of that capacity (-1: none)
    max_batch: Array
    above_ms: dict[tuple[str, int], Array]  # per SLO target, latency one rung above the capacity (NaN: none)
    rows_of: list[np.ndarray]  # per plan key, its candidates' rows (ascending)
    first: np.ndarray  # per plan key, its first row (model, precision, quality and adaptation are per key)
    demand: float  # peak requests/s the plan carries
    max_types: int  # hardware types a plan may mix
    evaluated: int = 0
    answers: Array = field(default_factory=default_prior)  # capacity rungs found so far, as search_capacity's prior
    _bounds: Array | None = None  # lower_bounds, recomputed for the keys evaluated since
    _stale: set[int] = field(default_factory=set)
    _tight: dict[int, float] = field(default_factory=dict)  # lower_bound per key, until its shapes are evaluated

    def evaluate(self, rows: np.ndarray, w: Workload) -> None:
        """Run the queueing model on ``rows`` at every utilisation rung; fill curves and rate."""
        rows = rows[np.isnan(self.rate[rows])]
        if not len(rows):
            return
        step, mem = universe(self.cand.tables).models(self.cand.universe_row[rows])
        found = search_capacity(step, mem, w.traffic, self.ceiling[rows], w.slo, self.answers)
        self.answers += np.bincount(found.rung + 1, minlength=len(self.answers))
        has_above = found.rung + 1 < len(UTILIZATION)
        above = np.minimum(found.rung + 1, len(UTILIZATION) - 1)
        for target, latency in self.above_ms.items():
            latency[rows] = np.where(has_above, found.latency_ms[target][np.arange(len(rows)), above], np.nan)
        self.max_batch[rows] = found.max_batch
        self.rate[rows], self.rung[rows] = found.rate, found.rung
        changed = [int(key) for key in np.unique(self.key[rows])]
        self._stale.update(changed)
        for key in changed:
            self._tight.pop(key, None)
        self.evaluated += len(rows)

    def evaluate_keys(self, keys: list[int], w: Workload, *, alternatives: bool = False) -> None:
        """Evaluate the shapes of ``keys`` lazily, cheapest per unit of capacity ceiling first.

        SLO capacity never exceeds the ceiling, so a shape whose cost per unit of ceiling is
        above (1 + EVAL_MARGIN) x the best cost per unit of SLO capacity already found for its
        key cannot be the better buy; it is evaluated only if that bound says it might be. The
        margin leaves room for shapes that win through integer rounding in a mix. With
        ``alternatives``, the best shape on each of the ALTERNATIVES hardware types with the
        smallest single-type bound joins the first batch (the alternative-hardware solves need
        them), saving queueing-model calls later.
        """
        rows = np.concatenate([self.rows_of[k] for k in keys])
        group = np.repeat(np.arange(len(keys)), [len(self.rows_of[k]) for k in keys])  # position in keys
        ceiling_unit = self.cost_per_hour[rows] / np.maximum(self.ceiling[rows], 1e-300)
        # SLO capacity is at most the top rung of the ceiling, so the best cost per unit of SLO
        # capacity is at least the best per unit of ceiling over that rung
        threshold = (1 + EVAL_MARGIN) * _group_min(ceiling_unit, group, len(keys)) / UTILIZATION[-1]
        extra = np.concatenate([_best_per_hardware(self, k, most=ALTERNATIVES) for k in keys]) \
            if alternatives else np.zeros(0, int)
        while True:
            todo = rows[np.isnan(self.rate[rows]) & (ceiling_unit <= threshold[group])]
            todo, extra = np.union1d(todo, extra[np.isnan(self.rate[extra])]).astype(int), np.zeros(0, int)
            if not len(todo):
                return
            self.evaluate(todo, w)
            rate = self.rate[rows]
            met = rate > 0
            best = _group_min(np.where(met, self.cost_per_hour[rows] / np.where(met, rate, 1.0), np.inf),
                              group, len(keys))
            grown = np.where(np.isfinite(best), (1 + EVAL_MARGIN) * best, 2.0 * threshold)
            pending = np.zeros(len(keys), dtype=bool)
            pending[group[np.isnan(rate)]] = True
            threshold = np.where(np.isfinite(threshold) & pending, np.maximum(threshold, grown), -np.inf)

    def lower_bounds(self) -> Array:
        """Per key, a lower bound on the hourly cost of any of its plans (cached): ``_compute_bounds`` with
        the pairs of hardware types replaced by the set of all types (a weaker bound, cheap for
        every key; ``lower_bound`` gives a key's tighter one)."""
        if self._bounds is None:
            self._bounds = self._compute_bounds(list(range(len(self.rows_of))), pairs=False)
        elif self._stale:
            stale = sorted(self._stale)
            self._bounds[stale] = self._compute_bounds(stale, pairs=False)
        self._stale.clear()
        return self._bounds

    def lower_bound(self, k: int) -> float:
        """Key k's tight bound (``_compute_bounds`` over pairs of hardware types), cached."""
        return float(self.tight_bounds(np.array([k]))[0])

    def tight_bounds(self, keys: np.ndarray) -> Array:
        """``lower_bound`` of several keys, the missing ones computed together."""
        missing = [int(k) for k in keys if int(k) not in self._tight]
        if missing:
            self._tight.update(zip(missing, (float(b) for b in self._compute_bounds(missing, pairs=True)),
                                   strict=True))
        return np.array([self._tight[int(k)] for k in keys])

    def _compute_bounds(self, keys: list[int], *, pairs: bool) -> Array:
        """Per key, min over the hardware sets S a plan may use (at most max_types types) of
        max(D u(S), ceil(D / r(S)) c(S)): u the least cost per unit of capacity, r the largest
        capacity of one replica, c the cheapest replica, over the key's shapes on S.

        Capacity is the SLO capacity where evaluated, else the ceiling (never below it), so both
        terms are valid: D u is the fractional optimum; a plan needs at least ceil(D / r)
        replicas, each costing at least c. Both terms only fall as S grows, so the set of all
        types stands in for larger sets (and for pairs unless ``pairs``). Quotas and budgets only
        add cost.
        """
        if not keys:
            return np.zeros(0)
        if len(keys) == len(self.rows_of) and keys == list(range(len(keys))):  # every key: the rows as they are
            rate, ceiling, cost, hardware, group = (self.rate, self.ceiling, self.cost_per_hour, self.cand.hardware,
                                                    self.key)
        else:
            rows = np.concatenate([self.rows_of[k] for k in keys])
            group = np.repeat(np.arange(len(keys)), [len(self.rows_of[k]) for k in keys])
            rate, ceiling, cost, hardware = (self.rate[rows], self.ceiling[rows], self.cost_per_hour[rows],
                                             self.cand.hardware[rows])
        cap = np.where(np.isnan(rate), ceiling, rate)
        usable = cap > 0
        n_hw = len(self.cand.tables.hardware_ids)
        cell = group * n_hw + hardware
        shape = (len(keys), n_hw)
        u, r, c = np.full(shape, np.inf), np.zeros(shape), np.full(shape, np.inf)
        np.minimum.at(u.ravel(), cell, np.where(usable, cost / np.where(usable, cap, 1.0), np.inf))
        np.maximum.at(r.ravel(), cell, cap)
        np.minimum.at(c.ravel(), cell, np.where(usable, cost, np.inf))
        if self.max_types == 1:
            bound = np.min(_set_bound(self.demand, u, r, c), axis=1)
        elif self.max_types == 2 and pairs:
            pair = _set_bound(self.demand, np.minimum(u[:, :, None], u[:, None, :]),
                              np.maximum(r[:, :, None], r[:, None, :]), np.minimum(c[:, :, None], c[:, None, :]))
            bound = np.min(pair.reshape(len(keys), -1), axis=1)
        else:
            bound = _set_bound(self.demand, u.min(axis=1), r.max(axis=1), c.min(axis=1))
        return np.asarray(bound, dtype=np.float64)


def _set_bound(demand: float, unit: Array, largest: Array, cheapest: Array) -> Array:
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = demand / np.where(largest > 0, largest, 1.0) * (1 - 1e-12)  # an exact multiple is not rounded up
        replicas = np.where(largest > 0, np.ceil(ratio), np.inf)
        bound = np.where(largest > 0, np.maximum(demand * unit, np.maximum(replicas, 1.0) * cheapest), np.inf)
    return np.asarray(bound, dtype=np.float64)


def _group_min(values: Array, groups: np.ndarray, n: int) -> Array:
    out = np.full(n, np.inf)
    np.minimum.at(out, groups, values)
    return out


def prepare(catalog: Catalog, tables: CatalogTables, w: Workload) -> Prepared:
    """Enumerate, screen (memory, no-load SLO) and prune; no queueing model yet."""
    cand = enumerate_candidates(catalog, tables, w)
    enumerated = len(cand) + sum(cand.dropped.values())
    ok, capacity, max_batch, ceiling = _screen(tables, cand.universe_row, w)
    fits = max_batch >= 1
    cand.keep(fits, "does not fit in memory (weights + KV of one sequence)")
    ok = ok[fits] & (ceiling[fits] > 0)
    capacity, ceiling = capacity[fits][ok], ceiling[fits][ok]
    cand.keep(ok, "misses a latency SLO even with no load")
    cost = cand.price_per_chip_hour * cand.chips
    n_p, n_r = len(tables.precision_ids), len(tables.runtime_ids)
    code = ((cand.model * n_p + cand.precision) * n_p + cand.kv_precision) * n_r + cand.runtime
    present = np.zeros(len(tables.model_ids) * n_p * n_p * n_r, dtype=bool)
    present[code] = True
    key = (np.cumsum(present) - 1)[code]  # keys numbered in code order (np.unique's inverse, without a sort)
    keep = _dominance(key, cand.hardware, cost / np.maximum(ceiling, 1e-300))
    cand.keep(keep, "dominated: a cheaper shape per unit of capacity on the same hardware")
    n, key = len(cand), key[keep]
    order = np.argsort(key.astype(np.uint16) if n and key.max() < 2**16 else key, kind="stable")  # 16 bits: radix sort
    bounds = np.searchsorted(key[order], np.arange(int(key.max()) + 2 if n else 1))
    return Prepared(cand=cand, raw_capacity=capacity[keep], ceiling=ceiling[keep], cost_per_hour=cost[keep], key=key,
                    enumerated=enumerated, rate=np.full(n, np.nan), rung=np.full(n, -1), max_batch=np.zeros(n),
                    above_ms={(m, pct): np.full(n, np.nan) for m, pct, _limit in w.slo.items()},
                    rows_of=[order[a:b] for a, b in itertools.pairwise(bounds)], first=order[bounds[:-1]],
                    demand=w.traffic.peak,
                    max_types=w.constraints.max_hardware_types)


def _screen(tables: CatalogTables, rows: np.ndarray, w: Workload) -> tuple[np.ndarray, Array, Array, Array]:
    """``capacity.screen`` of Universe ``rows``, SCREEN_CHUNK rows at a time, so that a chunk's
    constants and temporaries stay in cache (over ~10^5 rows at once each array operation streams
    from memory)."""
    u = universe(tables)
    parts = [screen(*u.models(rows[s:s + SCREEN_CHUNK]), w.traffic, w.slo)
             for s in range(0, len(rows), SCREEN_CHUNK)] or [screen(*u.models(rows), w.traffic, w.slo)]
    ok, capacity, max_batch, ceiling = (np.concatenate(x) for x in zip(*parts, strict=True))
    return ok, capacity, max_batch, ceiling


def _dominance(key: np.ndarray, hardware: np.ndarray, per_unit: np.ndarray) -> np.ndarray:
    """Per (plan key, hardware), True for the KEEP_PER_HARDWARE cheapest shapes per unit capacity.

    Candidates come enumerated by (hardware, runtime, precision, KV) combo, then model, then
    shape, so each (key, hardware) group is one run of at most len(PARALLEL) rows: the runs are
    ranked as a small matrix (ties: enumeration order) instead of sorting every row.
    """
    n = len(key)
    if not n:
        return np.zeros(0, dtype=bool)
    group = key * (int(hardware.max()) + 1) + hardware
    starts = np.r_[0, np.flatnonzero(group[1:] != group[:-1]) + 1]
    if np.bincount(group[starts]).max() > 1:  # not one run per group: rank by sorting
        order = np.lexsort((per_unit, group))
        first = np.r_[True, group[order][1:] != group[order][:-1]]
        idx = np.arange(n)
        position = idx - np.maximum.accumulate(np.where(first, idx, 0))
        keep = np.zeros(n, dtype=bool)
        keep[order[position < KEEP_PER_HARDWARE]] = True
        return keep
    lengths = np.diff(np.r_[starts, n])
    run = np.repeat(np.arange(len(starts)), lengths)
    position = np.arange(n) - starts[run]
    table = np.full((len(starts), int(lengths.max())), np.inf)
    table[run, position] = per_unit
    rank = np.argsort(np.argsort(table, axis=1, kind="stable"), axis=1, kind="stable")
    return np.asarray(rank[run, position] < KEEP_PER_HARDWARE)


def max_cost_per_hour(w: Workload, one_time: float = 0.0) -> float | None:
    """The tightest hourly serving cost the budget allows (None = unlimited)."""
    limits = []
    b = w.budget
    if b.max_cost_per_month is not None:
        limits.append((b.max_cost_per_month - one_time / b.horizon_months) / HOURS_PER_MONTH)
    if b.max_cost_per_million_tokens is not None:
        tokens_per_hour = w.traffic.requests_per_s * w.traffic.output_tokens.mean * 3600.0
        limits.append(b.max_cost_per_million_tokens * tokens_per_hour / 1e6)
    return min(limits) if limits else None


def _options(p: Prepared, rows: np.ndarray) -> list[Option]:
    rows = rows[p.rate[rows] > 0]
    ids = p.cand.tables.hardware_ids
    return [Option(index=i, hardware=ids[h], chips=chips, rate=rate, cost_per_hour=cost)
            for i, h, chips, rate, cost in zip(rows.tolist(), p.cand.hardware[rows].tolist(),
                                               (p.cand.tp[rows] * p.cand.pp[rows]).tolist(), p.rate[rows].tolist(),
                                               p.cost_per_hour[rows].tolist(), strict=True)]


def _key_order(p: Prepared, w: Workload, objective: Objective) -> list[int]:
    """Plan keys, most promising first: by optimistic lower bound (cost), or the most promising
    for the objective interleaved with that order (latency, quality, balanced)."""
    keys = np.arange(len(p.rows_of))
    bound = p.lower_bounds()
    # among equal bounds (common: one replica of the same chip), each model's first key before any
    # model's second, so distinct plans are found, and the threshold set, early
    model = p.cand.model[p.first]
    order = np.lexsort((bound, model))
    nth = np.empty(len(keys), dtype=int)
    starts = np.r_[0, np.flatnonzero(np.diff(model[order])) + 1]
    nth[order] = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    by_cost = [int(k) for k in keys[np.lexsort((nth, bound))]]
    if objective is Objective.COST:
        return by_cost
    quality = np.nan_to_num(p.cand.quality[p.first], nan=-1.0)
    speed = np.full(len(keys), -np.inf)  # proxy for low latency
    np.maximum.at(speed, p.key, p.raw_capacity)
    other = keys[np.lexsort((bound, -quality))] if objective is Objective.QUALITY else \
        keys[np.lexsort((bound, -speed))]
    merged = [int(k) for pair in zip(other, by_cost, strict=True) for k in pair]
    return list(dict.fromkeys(merged))


def solve_prepared(p: Prepared, w: Workload, *, objective: Objective, top: int,
                   time_limit_s: float, deadline: float,
                   any_plan: bool = False) -> tuple[list[tuple[int, Solution]], int, str]:
    """Branch and bound over plan keys, a round at a time.

    Keys come in ``_key_order``. A round takes the next KEYS_PER_ROUND keys that are within budget
    and, for the cost objective, whose optimistic bound could still enter the top-K (``_threshold``;
    a key pruned by its bound is never evaluated, and stays pruned since the threshold only
    falls); their shapes go through the queueing model together, then each is solved; while
    fewer than top plans are found (always, for other objectives), each solved key is solved once
    more without the hardware set it used, after one queueing-model batch of its best shapes on
    other hardware. The search ends when every key is solved or pruned, when ``max_keys`` keys
    have been evaluated, or at the deadline. Only the first proves the ranking (cost objective:
    the solver's status, OPTIMAL); otherwise the status says FEASIBLE or TIME_LIMIT.
    """
    found: list[tuple[int, Solution]] = []
    solves, status = 0, "NO_CANDIDATES" if not len(p.cand) else "INFEASIBLE"
    order = np.asarray(_key_order(p, w, objective), dtype=np.int64)
    position, taken, filling = 0, 0, False
    budgets = _budgets(p, w)  # per key, the hourly cost its plans may reach
    while position < len(order):
        if not filling and taken >= max_keys(top, objective) and len(_distinct(p, found)) < top:
            # past the limit with too few distinct plans: the models without a plan go first
            filling = True
            planned = [int(p.cand.model[next(iter(sol.counts))]) for _, sol in found]
            rest = order[position:]
            is_fresh = ~np.isin(p.cand.model[p.first[rest]], planned)
            order = np.concatenate([order[:position], rest[is_fresh], rest[~is_fresh]])
        threshold = _threshold(p, found, top) if objective is Objective.COST else np.inf
        rest = order[position:]
        limit = np.minimum(threshold, budgets[rest])
        round_keys: list[int] = []
        position = len(order)
        passing = np.flatnonzero(p.lower_bounds()[rest] < limit)  # the cheap (weaker) bound first
        for start in range(0, len(passing), 2 * KEYS_PER_ROUND):  # then the tight one, a batch of keys at once
            chunk = passing[start:start + 2 * KEYS_PER_ROUND]
            for j in chunk[p.tight_bounds(rest[chunk]) < limit[chunk]]:
                round_keys.append(int(rest[j]))
                if len(round_keys) == KEYS_PER_ROUND:
                    position = len(order) - len(rest) + int(j) + 1
                    break
            if len(round_keys) == KEYS_PER_ROUND:
                break
        if not round_keys:
            break
        # a feasibility check (explain) is exhaustive; fewer than top distinct plans: one round more
        short = filling and len(_distinct(p, found)) < top and taken < max_keys(top, objective) + KEYS_PER_ROUND
        if taken >= max_keys(top, objective) and not any_plan and not short:
            status = "FEASIBLE" if found else status
            break
        if time.perf_counter() > deadline:
            status = "TIME_LIMIT"
            break
        p.evaluate_keys(round_keys, w, alternatives=objective is not Objective.COST or len(found) < top)
        p.tight_bounds(np.array(round_keys))  # their bounds with the SLO capacities, in one computation
        taken += len(round_keys)
        second: list[tuple[int, frozenset[str]]] = []  # keys to solve again without their hardware set
        for k in round_keys:
            threshold = _threshold(p, found, top) if objective is Objective.COST else np.inf
            if p.lower_bound(k) >= min(threshold, budgets[k]):  # cannot enter the top-K, or over budget
                continue
            sol, n = _solve_once(p, w, k, (), time_limit_s)
            solves += n
            if sol is None:
                continue
            found.append((k, sol))
            if any_plan:  # a feasibility check needs one plan, not the best ones
                return found, solves, sol.status
            status = sol.status if status in ("INFEASIBLE", "NO_CANDIDATES", "OPTIMAL") else status
            if objective is not Objective.COST or len(found) < top:  # an alternative hardware set
                second.append((k, _hardware_set(p, sol)))
        if second:  # shapes on other hardware may not have been evaluated yet: one batch for all
            others = np.concatenate([_best_per_hardware(p, k, most=ALTERNATIVES) for k, _ in second])
            p.evaluate(others[np.isnan(p.rate[others])], w)
        for k, used in second:
            sol, n = _solve_once(p, w, k, (used,), time_limit_s)
            solves += n
            if sol is not None:
                found.append((k, sol))
    return found, solves, status


def _hardware_set(p: Prepared, sol: Solution) -> frozenset[str]:
    return frozenset(p.cand.tables.hardware_ids[h] for h in p.cand.hardware[list(sol.counts)])


def max_keys(top: int, objective: Objective = Objective.COST) -> int:
    """Plan keys evaluated at most per search (a guard on time, with the deadline). Cost: two
    rounds' worth for the default top 5; in lower-bound order this finds the examples' cheapest
    plans (raising it to 42 keys changed no example's best plan). With fewer than top distinct
    plans by then, one round more, taking first the keys of models without a plan. Other
    objectives have no bound to order and prune by, so they look further."""
    return 2 * top + 2 if objective is Objective.COST else 6 * top + 12


def _distinct(p: Prepared, found: list[tuple[int, Solution]]) -> list[float]:
    """The cheapest cost of each distinct plan found, ascending. Plans count as distinct by
    (model, hardware set): the ranking drops near-duplicates that differ only in precision or
    runtime, so they must not fill the top-K here either."""
    best: dict[tuple[int, frozenset[int]], float] = {}
    for _key, sol in found:
        rows = list(sol.counts)
        sig = (int(p.cand.model[rows[0]]), frozenset(int(h) for h in p.cand.hardware[rows]))
        best[sig] = min(best.get(sig, np.inf), sol.cost_per_hour)
    return sorted(best.values())


def _threshold(p: Prepared, found: list[tuple[int, Solution]], top: int) -> float:
    """The cost of the (top + SPARE)-th distinct plan found (inf while fewer): a key whose
    optimistic bound is at or above it cannot enter the top-K (a tie cannot displace a plan)."""
    costs = _distinct(p, found)
    return costs[top + SPARE - 1] if len(costs) >= top + SPARE else np.inf


def _best_per_hardware(p: Prepared, k: int, *, most: int | None = None) -> np.ndarray:
    """Key k's cheapest shape (per unit of capacity) on each hardware type, or on the ``most``
    types with the smallest single-type lower bound (``_set_bound`` on that type alone)."""
    rows = p.rows_of[k]
    if not len(rows):
        return rows
    cap = np.where(np.isnan(p.rate[rows]), p.ceiling[rows], p.rate[rows])
    unit = p.cost_per_hour[rows] / np.maximum(cap, 1e-300)
    order = np.lexsort((unit, p.cand.hardware[rows]))
    hw = p.cand.hardware[rows][order]
    first = np.r_[True, hw[1:] != hw[:-1]]
    if most is not None and first.sum() > most:
        group = np.cumsum(first) - 1
        n = int(group[-1]) + 1
        u, r, c = np.full(n, np.inf), np.zeros(n), np.full(n, np.inf)
        np.minimum.at(u, group, unit[order])
        np.maximum.at(r, group, cap[order])
        np.minimum.at(c, group, np.where(cap[order] > 0, p.cost_per_hour[rows][order], np.inf))
        keep = np.zeros(n, dtype=bool)
        keep[np.argsort(_set_bound(p.demand, u, r, c), kind="stable")[:most]] = True
        first[first] = keep
    return rows[order[first]]


def _evaluate_rest(p: Prepared, w: Workload, k: int) -> bool:
    """Evaluate the shapes of key k not yet evaluated; True if there were any."""
    rest = p.rows_of[k][np.isnan(p.rate[p.rows_of[k]])]
    if len(rest):
        p.evaluate(rest, w)
    return bool(len(rest))


def _key_budget(p: Prepared, w: Workload, k: int) -> float | None:
    """The hourly serving cost key k's plans may reach (None: no budget); its one-time adaptation
    cost is amortised into the monthly budget."""
    pick = p.cand.choice(int(p.rows_of[k][0]))
    return max_cost_per_hour(w, pick.one_time if pick is not None else 0.0)


def _budgets(p: Prepared, w: Workload) -> Array:
    """Per key, ``_key_budget`` as a bound a lower bound is compared with (inf: none; the next float
    up, since a plan may cost exactly the budget). Computed once per model and precision."""
    pairs = p.cand.model[p.first] * len(p.cand.tables.precision_ids) + p.cand.precision[p.first]
    _, first_key, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    limits = np.array([_key_budget(p, w, int(k)) for k in first_key], dtype=np.float64)  # None -> NaN
    return np.nextafter(np.where(np.isnan(limits), np.inf, limits), np.inf)[inverse.ravel()]


def _quota_bound(options: list[Option], sol: Solution, quotas: Mapping[str, int]) -> bool:
    """True when the solution uses a hardware type up to its quota (one more replica would not fit)."""
    used: dict[str, int] = {}
    smallest: dict[str, int] = {}
    for o in options:
        used[o.hardware] = used.get(o.hardware, 0) + o.chips * sol.counts.get(o.index, 0)
        smallest[o.hardware] = min(smallest.get(o.hardware, o.chips), o.chips)
    return any(h in quotas and used[h] > 0 and used[h] + smallest[h] > quotas[h] for h in used)


def _solve_once(p: Prepared, w: Workload, k: int, banned: tuple[frozenset[str], ...],
                time_limit_s: float) -> tuple[Solution | None, int]:
    """The cheapest mix for key k avoiding the banned hardware sets (None: none), and the solves.

    Quotas and budgets break the per-unit bound behind lazy evaluation (the cheapest shape per
    unit may be capped), so with quotas, or when the evaluated shapes give no plan, every shape
    of the key is evaluated before the answer is taken as final.
    """
    c = w.constraints
    budget = _key_budget(p, w, k)
    solves = 0
    while True:
        options = _options(p, p.rows_of[k])
        sol = solve_mix(options, demand=w.traffic.peak, max_types=c.max_hardware_types,
                        quotas=dict(c.quotas), max_cost_per_hour=budget,
                        forbid_type_sets=banned, time_limit_s=time_limit_s) if options else None
        solves += options != []
        unsettled = sol is None or not sol.counts or _quota_bound(options, sol, c.quotas)
        if unsettled and _evaluate_rest(p, w, k):  # more shapes may make it feasible or cheaper
            continue
        return (sol if sol is not None and sol.counts else None), solves


def plan(workload: Workload, catalog: Catalog, *, top: int = 5, objective: Objective = Objective.COST,
         time_limit_s: float = 10.0, tables: CatalogTables | None = None,
         explain: bool = True, any_plan: bool = False) -> PlanResult:
    """Ranked deployment plans for a workload (see the module docstring)."""
    start = time.perf_counter()
    deadline = start + time_limit_s
    tables = tables or CatalogTables.from_catalog(catalog)
    prep = prepare(catalog, tables, workload)
    found, solves, status = solve_prepared(prep, workload, objective=objective, top=top, any_plan=any_plan,
                                           time_limit_s=max(0.2, min(2.0, time_limit_s / 4)),
                                           deadline=deadline)
    pool = build_plans(catalog, prep, workload, found)
    ranked = rank_plans(pool, workload, objective)
    plans, pareto = mark_pareto(ranked, top)
    infeasible: Infeasible | None = None
    if not plans and explain and status != "TIME_LIMIT":  # a search cut short proves no infeasibility
        from planner.explain import explain_infeasible

        infeasible = explain_infeasible(catalog, tables, workload, prep, objective=objective, deadline=deadline)
    dropped = dict(prep.cand.dropped)
    unevaluated = int(np.isnan(prep.rate).sum())
    stats = SearchStats(candidates=prep.enumerated, evaluated=prep.evaluated,
                        pruned=sum(dropped.values()) + unevaluated, solver_status=status, solves=solves,
        elapsed_ms=(time.perf_counter() - start) * 1e3, dropped=dropped)
    return PlanResult(workload=workload.name, objective=str(objective), plans=tuple(plans),
                      pareto=tuple(pareto), infeasible=infeasible, search=stats)

