"""Step 4 of the search: branch and bound over plan keys, CP-SAT replica mixes per key.

What a key offers is defined without reference to the search: its cheapest replica mix (within
quotas, budget and ``max_hardware_types``) and its cheapest mix avoiding the first one's hardware
set. The answer ranks those plans over the first ``key_limit`` keys of a fixed order (``_key_order``,
which depends on the workload and catalog only), so the top K is the prefix of the top K + n.
Every pruning step is a valid bound: a key is skipped only when its lower bound on cost
(``Prepared.lower_bounds``) exceeds the K-th distinct plan found or the budget, and a key's mix is
exact although shapes are evaluated lazily (``BranchAndBound._solve``). The status is OPTIMAL when
that is proven for every key, including those past the limit; otherwise FEASIBLE (or TIME_LIMIT)
with ``gap``: how far the best plan's cost may lie above the least bound of what was not explored.
Keys past the limit that ``prepare`` left unscreened (``Prepared.outside``, cost objective) are
checked by their roofline floor first and screened only when that floor cannot rule them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from planner.search.mix.solver import Option, Solution, solve_mix
from planner.search.shapes.prepare import (
    ALTERNATIVES,
    Prepared,
    best_per_hardware,
    key_budget,
    key_budgets,
    max_cost_per_hour,
)
from planner.search.stop import passed
from planner.workload import HOURS_PER_MONTH, Objective, Workload

__all__ = ["BranchAndBound", "Outcome", "Stop", "key_limit", "solve_prepared"]

# experiments behind the values: docs/design.md, "Tuning constants and the experiments behind them"
KEYS_PER_ROUND = 6  # plan keys whose shapes go through the queueing model together: fewer calls vs wasted keys
# positions of the key order a search may consider (independent of top, so that the answer is)
KEY_LIMIT_COST = 24  # cost objective: its bound prunes long before; a guard on time vs plans past it
KEY_LIMIT_OTHER = 42  # other objectives have no bound to prune by: a guard on time vs plans past it


class Stop(StrEnum):
    """Why a search ended."""

    EXHAUSTED = "exhausted"  # every key within the limit solved or pruned by a valid bound
    KEY_LIMIT = "key_limit"  # keys past the limit were left (they may still be out by their bound)
    DEADLINE = "deadline"  # the time limit came first
    ANY_PLAN = "any_plan"  # a feasibility check needed one plan


@dataclass(frozen=True)
class Outcome:
    found: list[tuple[int, Solution]]  # (plan key, its mix)
    solves: int
    status: str  # OPTIMAL | FEASIBLE | TIME_LIMIT | INFEASIBLE | NO_CANDIDATES
    gap: float | None  # (best plan's cost - least bound left) / best plan's cost; 0 when proven
    stop: Stop


def key_limit(objective: Objective) -> int:
    """Positions of the key order a search considers at most (a guard on time, with the deadline)."""
    return KEY_LIMIT_COST if objective is Objective.COST else KEY_LIMIT_OTHER


class BranchAndBound:
    """One search over the plan keys of ``p``: ``run()`` gives the plans found and how it ended.

    Rounds of up to KEYS_PER_ROUND keys, taken in ``_key_order`` among those whose bound could
    still enter the top K (cost objective) and within budget, go through the queueing model
    together and are then solved one by one, each once more without its hardware set. Between
    rounds the stopping rules are checked in order: any_plan, deadline, exhausted, key_limit.
    Costs are compared as the ranking compares them: monthly cost (hourly serving x
    HOURS_PER_MONTH plus the key's one-time cost over the horizon), ties broken by the key's
    content (``rank.content``), so a key whose bound equals the top-th plan's cost is pruned when
    its content ranks after that plan's.
    """

    def __init__(self, p: Prepared, w: Workload, *, objective: Objective, top: int, time_limit_s: float,
                 deadline: float, any_plan: bool = False) -> None:
        self.p, self.w, self.objective, self.top = p, w, objective, top
        self.time_limit_s, self.deadline, self.any_plan = time_limit_s, deadline, any_plan
        self.content, outside_content = _content_rank(p, w)  # per key, its place in the ranking's tie-break order
        # per key, the quality the ranking reads (no score: 0): exact, so the quality objective prunes by it
        self.quality = np.nan_to_num(p.cand.quality[p.first], nan=0.0) if len(p.rows_of) else np.zeros(0)
        self.budgets = key_budgets(p, w)  # per key, the hourly serving cost its plans may reach
        order = np.asarray(_key_order(p, w, objective, self.content), dtype=np.int64)
        # keys whose bound is past their budget never hold a plan: the limit counts the others (ordered by
        # quality, the best models' keys are often all past a budget, and filled the limit with nothing)
        order = order[p.lower_bounds()[order] < self.budgets[order]]
        self.order, self.beyond = order[:key_limit(objective)], order[key_limit(objective):]
        self.amortised = _amortised(p, w)  # per key, its one-time cost per month of the horizon
        # keys prepare left unscreened (all past the key limit): their budget, amortised cost and content rank
        self.outside = p.outside if p.outside is not None and len(p.outside) else None
        if self.outside is not None:
            self.outside_keys = (*_outside_costs(p, w), outside_content)
        self.contents = len(self.content) + len(outside_content)  # content ranks in all
        self.position = 0  # keys of self.order before it are solved or pruned
        self.found: list[tuple[int, Solution]] = []
        self.solves = 0
        self.exact = True  # every CP-SAT answer proven optimal
        # (len(found), _threshold()) as last computed
        self._threshold_at: tuple[int, tuple[float, float, int]] = (-1, (-np.inf, np.inf, 0))
        self._solved: dict[object, tuple[Solution, dict[int, int]]] = {}  # _attempt's solves by their model

    def run(self) -> Outcome:
        while True:
            stop = self._stopping_rule()
            if stop is not None:
                return self._outcome(stop)
            self._round(self._next_round())

    # -- stopping rules ------------------------------------------------------------------------

    def _stopping_rule(self) -> Stop | None:
        if self.any_plan and self.found:
            return Stop.ANY_PLAN
        if passed(self.deadline):  # (or the caller asked the search to stop: planner.search.stop)
            return Stop.DEADLINE
        self._skip_pruned()
        if self.position >= len(self.order):
            beyond = self._alive(self.beyond).any() or len(self._outside_alive())
            return Stop.KEY_LIMIT if beyond else Stop.EXHAUSTED
        return None

    # -- bounds --------------------------------------------------------------------------------

    def monthly(self, keys: np.ndarray | int, per_hour: np.ndarray | float) -> np.ndarray:
        """Monthly cost of plans of ``keys`` at ``per_hour`` (as ``build._cost`` computes it)."""
        return np.asarray(np.asarray(per_hour) * HOURS_PER_MONTH + self.amortised[keys])

    def _threshold(self) -> tuple[float, float, int]:
        """(-quality, monthly cost, content rank) of the top-th distinct plan found in the ranking's
        order ((-inf, inf, n) while fewer, and for the latency and balanced objectives, which no key
        bounds): a key whose (-quality, bound) lies above it, or on it with content that ranks after
        it, cannot enter the top K. The cost objective ranks by cost alone (the quality part is
        -inf: every key ties on it); the quality objective by the score, which a key fixes exactly,
        then cost. Distinct plans differ in (model, hardware set); the ranking never drops one of
        those as a near-duplicate of another, so top of them fill the top K."""
        if self.objective not in (Objective.COST, Objective.QUALITY):
            return -np.inf, np.inf, self.contents
        if self._threshold_at[0] == len(self.found):  # found only grows: unchanged since computed
            return self._threshold_at[1]
        by_quality = self.objective is Objective.QUALITY
        best: dict[tuple[int, frozenset[int]], tuple[float, float, int]] = {}
        for k, sol in self.found:
            rows = list(sol.counts)
            sig = (int(self.p.cand.model[rows[0]]), frozenset(int(h) for h in self.p.cand.hardware[rows]))
            entry = (-float(self.quality[k]) if by_quality else -np.inf, float(self.monthly(k, sol.cost_per_hour)),
                     int(self.content[k]))
            best[sig] = min(best.get(sig, entry), entry)
        ranked = sorted(best.values())
        threshold = ranked[self.top - 1] if len(ranked) >= self.top else (-np.inf, np.inf, self.contents)
        self._threshold_at = (len(self.found), threshold)
        return threshold

    def _alive(self, keys: np.ndarray, *, tight: bool = False, bound: np.ndarray | None = None) -> np.ndarray:
        """Which of ``keys`` may still hold a plan of the top K: bound within budget, and below the
        threshold or on it with content ranking first."""
        if not len(keys):
            return np.zeros(0, dtype=bool)
        if bound is None:
            bound = self.p.tight_bounds(keys) if tight else self.p.lower_bounds()[keys]
        return self._passes(bound, self.budgets[keys], self.amortised[keys], self.content[keys], self.quality[keys])

    def _passes(self, bound: np.ndarray, budget: np.ndarray, amortised: np.ndarray, content: np.ndarray,
                quality: np.ndarray | None = None) -> np.ndarray:
        """``_alive`` of keys given their hourly bound, budget, amortised one-time cost, content rank and
        quality (None: unknown, never pruned by it; monotone: a smaller bound never passes less)."""
        worst, cost, top_content = self._threshold()
        month = np.asarray(np.asarray(bound) * HOURS_PER_MONTH + amortised)
        within = (month < cost) | ((month <= cost) & (content < top_content))
        if np.isfinite(worst) and quality is not None:  # the quality objective: the score first, then cost
            within = (-quality < worst) | ((-quality == worst) & within)
        return np.asarray((bound < budget) & within)

    def _outside_alive(self) -> np.ndarray:
        """The unscreened keys (``Prepared.outside``) that may still hold a plan of the top K: their
        roofline floor passes (a floor below the bound never drops a key that could), then the
        bound they would have had if screened (screened now)."""
        if self.outside is None:
            return np.zeros(0, dtype=np.int64)
        maybe = np.flatnonzero(self._passes(self.outside.floor, *self.outside_keys))
        if not len(maybe):
            return maybe
        budget, amortised, content = (x[maybe] for x in self.outside_keys)
        return np.asarray(maybe[self._passes(self.outside.bounds(maybe), budget, amortised, content)])

    def _skip_pruned(self) -> None:
        rest = self.order[self.position:]
        alive = np.flatnonzero(self._alive(rest))
        self.order = np.concatenate([self.order[:self.position], rest[alive]])  # pruned keys stay out

    def _next_round(self) -> list[int]:
        """The next KEYS_PER_ROUND keys that pass the cheap bound and then the tight one."""
        keys: list[int] = []
        while self.position < len(self.order) and len(keys) < KEYS_PER_ROUND:
            chunk = self.order[self.position:self.position + 2 * KEYS_PER_ROUND]
            alive = self._alive(chunk, tight=True)
            taken = np.flatnonzero(alive)[:KEYS_PER_ROUND - len(keys)]
            last = int(taken[-1]) + 1 if len(taken) == KEYS_PER_ROUND - len(keys) else len(chunk)
            keys += [int(k) for k in chunk[taken]]
            self.position += last
        return keys

    # -- one round -------------------------------------------------------------------------------

    def _round(self, keys: list[int]) -> None:
        """Evaluate the round's keys, solve each (``_solve_all``: all keys' relaxations at once, so
        the shapes they need go through the queueing model in one call per pass), then each once
        more without its hardware set. Solves run ahead of the pruning checks; a key's result is
        taken only where the check, made in key order with the bound it had before its own
        solves (as one key after another would), lets it through, so the plans, solve count and
        status are those of solving the keys one by one."""
        p, w = self.p, self.w
        if not keys:
            return
        p.evaluate_keys(keys, w, alternatives=self.objective is not Objective.COST
                        or not np.isfinite(self._threshold()[1]))
        bound = dict(zip(keys, p.tight_bounds(np.array(keys)).tolist(), strict=True))  # before their solves

        def alive(k: int, at: float) -> bool:  # the threshold only falls: a key out now stays out
            return bool(self._alive(np.array([k]), bound=np.array([at]))[0])

        firsts = [k for k in keys if alive(k, bound[k])]
        seconds: list[tuple[int, Solution]] = []
        for k, (sol, solves, exact) in zip(firsts, self._solve_all([(k, ()) for k in firsts]), strict=True):
            if not alive(k, bound[k]):
                continue
            self.solves, self.exact = self.solves + solves, self.exact and exact
            if sol is None:
                continue
            self.found.append((k, sol))
            if self.any_plan:
                return
            seconds.append((k, sol))
        if seconds:  # shapes on other hardware may not have been evaluated yet: one batch for all
            others = np.concatenate([best_per_hardware(p, k, most=ALTERNATIVES) for k, _ in seconds])
            p.evaluate(others[np.isnan(p.rate[others])], w)
        seconds = [(k, first) for k, first in seconds if alive(k, first.cost_per_hour)]  # its second costs more
        jobs = [(k, (_hardware_set(p, first),)) for k, first in seconds]
        for (k, first), (sol, solves, exact) in zip(seconds, self._solve_all(jobs), strict=True):
            if not alive(k, first.cost_per_hour):
                continue
            self.solves, self.exact = self.solves + solves, self.exact and exact
            if sol is not None:
                self.found.append((k, sol))

    def _solve_all(self, jobs: Sequence[tuple[int, tuple[frozenset[str], ...]]]
                   ) -> list[tuple[Solution | None, int, bool]]:
        """Per (key, banned hardware sets): the key's cheapest mix avoiding them (None: none), the
        solves it took and whether each was proven, exact although shapes are evaluated lazily:
        shapes not yet evaluated take part at their capacity ceiling, which their SLO capacity never
        exceeds, so a solve is a relaxation; when its optimum uses only evaluated shapes it is the
        true optimum, otherwise the shapes it used are evaluated (with the rest of their hardware
        types') and the key is solved again. Every pass evaluates what all open keys need at once;
        a key's own sequence of solves and evaluations is the same as alone."""
        out: list[tuple[Solution | None, int, bool]] = [(None, 0, True)] * len(jobs)
        open_ = list(range(len(jobs)))
        while open_:
            needed, still = [], []
            for j in open_:
                k, banned = jobs[j]
                sol, solved, exact, evaluate = self._attempt(k, banned)
                before = out[j]
                out[j] = (sol, before[1] + solved, before[2] and exact)
                if evaluate is not None:
                    needed.append(evaluate)
                    still.append(j)
            if needed:
                self.p.evaluate(np.concatenate(needed), self.w)
            open_ = still
        return out

    def _attempt(self, k: int, banned: tuple[frozenset[str], ...]
                 ) -> tuple[Solution | None, int, bool, np.ndarray | None]:
        """One relaxation solve of key k (``_solve_all``): (its optimum if final, solves made (0 or
        1), whether proven, the shapes to evaluate before the next attempt (None: final))."""
        p, c = self.p, self.w.constraints
        rows = p.rows_of[k]
        pending = np.isnan(p.rate[rows])
        options = _options(p, rows, np.where(pending, p.ceiling[rows], p.rate[rows]))
        if not options:
            return None, 0, True, None
        budget = key_budget(p, self.w, k)
        # keys whose options are alike (a model's fine-tunes on the same shapes) pose the same
        # model: CP-SAT (one worker, fixed seed) answers it alike, so it is solved once
        same = (tuple((o.hardware, o.chips, o.rate, o.cost_per_hour) for o in options), budget, banned)
        known = self._solved.get(same)
        if known is None:
            a = self.w.availability
            sol = solve_mix(options, demand=self.w.design_load, max_types=c.max_hardware_types,
                            quotas=dict(c.quotas), max_cost_per_hour=budget, forbid_type_sets=banned,
                            time_limit_s=self.time_limit_s, spare=a.spare, min_replicas=a.replicas_at_least)
            position = {o.index: j for j, o in enumerate(options)}
            self._solved[same] = (sol, {position[i]: n for i, n in sol.counts.items()})
        else:
            first, by_position = known
            sol = Solution(status=first.status, counts={options[j].index: n for j, n in by_position.items()},
                           cost_per_hour=first.cost_per_hour, elapsed_s=0.0)
        if not sol.counts:
            return None, 1, sol.status == "INFEASIBLE", None
        used = np.array(list(sol.counts), dtype=np.int64)
        guessed = used[np.isnan(p.rate[used])]
        if not len(guessed):
            return sol, 1, sol.status == "OPTIMAL", None
        hardware = np.isin(p.cand.hardware[rows], p.cand.hardware[guessed])
        return None, 1, True, rows[pending & hardware]

    # -- the answer ------------------------------------------------------------------------------

    def _outcome(self, stop: Stop) -> Outcome:
        p = self.p
        left = np.concatenate([self.order[self.position:], self.beyond])
        alive = left[self._alive(left)] if stop is not Stop.ANY_PLAN else left
        every = np.arange(len(self.outside) if self.outside is not None else 0)
        outside = self._outside_alive() if stop is not Stop.ANY_PLAN else every
        proven = self.exact and not len(alive) and not len(outside)
        if not self.found:
            status = "NO_CANDIDATES" if not len(p.cand) else "TIME_LIMIT" if stop is Stop.DEADLINE else "INFEASIBLE"
            return Outcome(self.found, self.solves, status, None, stop)
        status = "OPTIMAL" if proven else "TIME_LIMIT" if stop is Stop.DEADLINE else "FEASIBLE"
        best = min(float(self.monthly(k, sol.cost_per_hour)) for k, sol in self.found)
        least = float(np.min(self.monthly(alive, p.lower_bounds()[alive]))) if len(alive) else np.inf
        least = min(least, self._outside_least(outside, best))
        gap = 0.0 if proven or least >= best else (best - max(least, 0.0)) / best
        return Outcome(self.found, self.solves, status, gap, stop)

    def _outside_least(self, keys: np.ndarray, best: float) -> float:
        """The least monthly bound of the unscreened ``keys`` where it lies below ``best`` (else
        inf: the gap only needs it there); keys whose floor is not below ``best`` stay unscreened."""
        if self.outside is None or not len(keys):
            return np.inf
        _budget, amortised, _content = self.outside_keys
        keys = keys[self.outside.floor[keys] * HOURS_PER_MONTH + amortised[keys] < best]
        if not len(keys):
            return np.inf
        return float(np.min(self.outside.bounds(keys) * HOURS_PER_MONTH + amortised[keys]))


def solve_prepared(p: Prepared, w: Workload, *, objective: Objective, top: int, time_limit_s: float,
                   deadline: float, any_plan: bool = False) -> Outcome:
    """``BranchAndBound(...).run()``."""
    return BranchAndBound(p, w, objective=objective, top=top, time_limit_s=time_limit_s, deadline=deadline,
                          any_plan=any_plan).run()


def _amortised(p: Prepared, w: Workload) -> np.ndarray:
    """Per key, its one-time adaptation cost per month of the budget horizon (0 without one)."""
    one_time = np.array([getattr(p.cand.choice(int(p.rows_of[k][0])), "one_time", 0.0)
                         for k in range(len(p.rows_of))], dtype=np.float64)
    return one_time / w.budget.horizon_months


def _outside_costs(p: Prepared, w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """Per unscreened key (``Prepared.outside``): its budget as ``key_budgets`` gives it and its
    one-time cost per month of the horizon as ``_amortised`` does."""
    assert p.outside is not None
    picks = [p.cand.choices.get((int(m), int(q))) for m, q in zip(p.outside.model, p.outside.precision, strict=True)]
    one_time = np.array([pick.one_time if pick is not None else 0.0 for pick in picks], dtype=np.float64)
    values, inverse = np.unique(one_time, return_inverse=True)  # a few distinct one-time costs
    limits = np.array([max_cost_per_hour(w, float(x)) for x in values], dtype=np.float64)[inverse.ravel()]  # None: NaN
    return np.nextafter(np.where(np.isnan(limits), np.inf, limits), np.inf), one_time / w.budget.horizon_months


def _content_rank(p: Prepared, w: Workload) -> tuple[np.ndarray, np.ndarray]:
    """Per key, its place in the order of ``rank.content`` restricted to what a key fixes (quality,
    model, precision, KV precision, runtime, adaptation): the ranking's tie-break between plans of
    different keys; ranked together with the unscreened keys (``Prepared.outside``), whose ranks
    come second."""
    t, c = p.cand.tables, p.cand
    model, precision, kv, runtime = (np.asarray(x[p.first], dtype=np.int64)
                                     for x in (c.model, c.precision, c.kv_precision, c.runtime))
    o = p.outside
    if o is not None:
        model, precision, kv, runtime = (np.concatenate([x, np.asarray(y, dtype=np.int64)]) for x, y in (
            (model, o.model), (precision, o.precision), (kv, o.kv_precision), (runtime, o.runtime)))
    score = c.score[model, precision]
    pairs, pair = np.unique(model * len(t.precision_ids) + precision, return_inverse=True)
    adaptation = [getattr(c.choices.get(divmod(int(x), len(t.precision_ids))), "adaptation", "none") for x in pairs]
    # rank.content's fields in its order, each string field as its rank among the values (same order)
    order = np.lexsort((_by_value(adaptation)[pair.ravel()], _by_value(t.runtime_ids)[runtime],
                        _by_value(t.precision_ids)[kv], _by_value(t.precision_ids)[precision],
                        _by_value(t.model_ids)[model], np.where(np.isfinite(score), -score, np.inf)))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[:len(p.rows_of)], rank[len(p.rows_of):]


def _by_value(values: Sequence[str]) -> np.ndarray:
    """Per value, its rank in sorted order (equal values share one)."""
    rank = {v: j for j, v in enumerate(sorted(set(values)))}
    return np.array([rank[v] for v in values], dtype=np.int64)


def _options(p: Prepared, rows: np.ndarray, rate: np.ndarray) -> list[Option]:
    """Replica options of ``rows`` at the given per-replica rates (rows with none left out)."""
    keep = rate > 0
    rows, rate = rows[keep], rate[keep]
    ids = p.cand.tables.hardware_ids
    return [Option(index=i, hardware=ids[h], chips=chips, rate=r, cost_per_hour=cost)
            for i, h, chips, r, cost in zip(rows.tolist(), p.cand.hardware[rows].tolist(),
                                            (p.cand.tp[rows] * p.cand.pp[rows]).tolist(), rate.tolist(),
                                            p.cost_per_hour[rows].tolist(), strict=True)]


def _key_order(p: Prepared, w: Workload, objective: Objective, content: np.ndarray) -> list[int]:
    """Plan keys, most promising first: by optimistic lower bound (cost); by quality, then that bound
    (quality: the ranking's own order, a key's score being exact); or the fastest interleaved with
    the cost order (latency, balanced, which no key bounds). Equal bounds go in
    the ranking's tie-break order (``content``, ``_content_rank``), so that where the key limit
    stops a search, the keys it reached are those whose plans rank first at that cost (one model's
    fp32 KV cache before its bf16 one, by catalog order, gave an edge plan the dearer format)."""
    keys = np.arange(len(p.rows_of))
    bound = p.lower_bounds()
    # among equal bounds (common: one replica of the same chip), each model's first key before any
    # model's second, so distinct plans are found, and the threshold set, early
    model = p.cand.model[p.first]
    order = np.lexsort((content, bound, model))
    nth = np.empty(len(keys), dtype=int)
    starts = np.r_[0, np.flatnonzero(np.diff(model[order])) + 1]
    nth[order] = np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))
    by_cost = [int(k) for k in keys[np.lexsort((content, nth, bound))]]
    if objective is Objective.COST:
        return by_cost
    if objective is Objective.QUALITY:  # (no score ranks as 0, as ``rank._quality``)
        return [int(k) for k in keys[np.lexsort((content, bound, -np.nan_to_num(p.cand.quality[p.first], nan=0.0)))]]
    speed = np.full(len(keys), -np.inf)  # proxy for low latency
    np.maximum.at(speed, p.key, p.raw_capacity)
    other = keys[np.lexsort((bound, -speed))]
    merged = [int(k) for pair in zip(other, by_cost, strict=True) for k in pair]
    return list(dict.fromkeys(merged))


def _hardware_set(p: Prepared, sol: Solution) -> frozenset[str]:
    return frozenset(p.cand.tables.hardware_ids[h] for h in p.cand.hardware[list(sol.counts)])
