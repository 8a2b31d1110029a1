"""Step 4 of the search: branch and bound over plan keys, CP-SAT replica mixes per key."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from planner.search.prepare import ALTERNATIVES, Prepared, best_per_hardware, evaluate_rest, key_budget, key_budgets
from planner.search.solver import Option, Solution, solve_mix
from planner.workload import Objective, Workload

__all__ = ["max_keys", "solve_prepared"]

# experiments behind the values: docs/design.md, "Tuning constants and the experiments behind them"
KEYS_PER_ROUND = 6  # plan keys whose shapes go through the queueing model together: fewer calls vs wasted keys
SPARE = 2  # plans kept beyond top-K before bounding (near-duplicates drop later): safety vs time


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
    budgets = key_budgets(p, w)  # per key, the hourly cost its plans may reach
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
            others = np.concatenate([best_per_hardware(p, k, most=ALTERNATIVES) for k, _ in second])
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
    budget = key_budget(p, w, k)
    solves = 0
    while True:
        options = _options(p, p.rows_of[k])
        sol = solve_mix(options, demand=w.traffic.peak, max_types=c.max_hardware_types,
                        quotas=dict(c.quotas), max_cost_per_hour=budget,
                        forbid_type_sets=banned, time_limit_s=time_limit_s) if options else None
        solves += options != []
        unsettled = sol is None or not sol.counts or _quota_bound(options, sol, c.quotas)
        if unsettled and evaluate_rest(p, w, k):  # more shapes may make it feasible or cheaper
            continue
        return (sol if sol is not None and sol.counts else None), solves
