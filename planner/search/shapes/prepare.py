"""Steps 1-3 of the search: enumerate, screen and prune candidates; evaluate SLO capacity lazily.

``Prepared`` holds the screened candidates of one workload with their cost, capacity ceiling and
(once evaluated) SLO capacity, and gives the lower bounds on cost that branch and bound prunes with.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from planner.domain import Catalog
from planner.model.grid import Array, CatalogTables
from planner.model.load.scheduler import SERVING_OVERLAP, runtime_overlaps
from planner.model.perf import MemoryModel, StepModel
from planner.model.serving import Served
from planner.search.mix.solver import COST_SCALE, scaled
from planner.search.shapes.answers import Answer, Answers, question, shared
from planner.search.shapes.candidates import Candidates, enumerate_candidates, universe
from planner.search.shapes.candidates import enumerated as kept_enumeration
from planner.search.shapes.capacity import UTILIZATION, default_prior, screen, search_capacity
from planner.search.shapes.roofline import capacity_bound
from planner.search.shapes.row_memo import RowMemo, memoised, shared_rows
from planner.unique import distinct
from planner.workload import HOURS_PER_MONTH, Workload

__all__ = ["ALTERNATIVES", "Outside", "Prepared", "best_per_hardware", "evaluate_rest", "key_budget", "key_budgets",
           "key_bounds", "key_floors", "max_cost_per_hour", "prepare"]

# Search constants: one line each on what they trade; the experiments behind the values are in
# docs/design.md, "Tuning constants and the experiments behind them".
KEEP_PER_HARDWARE = 3  # replica shapes kept per plan key and hardware after pruning: fewer is faster, may lose plans
SCREEN_CHUNK = 16384  # rows screened at a time (_screen): cache-sized arrays against per-chunk call overhead
EVAL_MARGIN = 0.3  # cost margin of Prepared.evaluate_keys: room for rounding winners against queueing time
ALTERNATIVES = 6  # hardware types per key evaluated up front for alternative-hardware plans: recall vs time


Memo = Answers | dict[bytes, Answer]  # Prepared.memo: the tables' shared store, or a search's own


@dataclass
class Outside:
    """Plan keys ``prepare`` left unscreened (``prefix`` given): each lies past the first ``prefix``
    keys of ``BranchAndBound``'s key order, which its roofline floor proves, so the search never
    solves it; it only asks whether such a key may still hold a top-K plan (for the status and the
    gap), by ``floor`` first and then by ``bounds``, the bound it would have in ``Prepared``
    (``lower_bounds``; never evaluated, so fixed), screened on demand."""

    model: np.ndarray  # per key: model, precision, KV precision and runtime indices
    precision: np.ndarray
    kv_precision: np.ndarray
    runtime: np.ndarray
    floor: Array  # roofline lower bound on the hourly cost of the key's plans (never above ``bounds``)
    rows: Callable[[int], np.ndarray]  # key -> its Universe rows (enumeration order), gathered on demand
    screen: Callable[[np.ndarray, np.ndarray, int], Array]  # (Universe rows, their key, keys) -> bounds
    _bounds: Array = field(default_factory=lambda: np.zeros(0))

    def __len__(self) -> int:
        return len(self.floor)

    def bounds(self, keys: np.ndarray) -> Array:
        """``Prepared.lower_bounds`` of ``keys`` had they been screened (inf: no shape survives)."""
        if len(self._bounds) != len(self):
            self._bounds = np.full(len(self), np.nan)
        missing = keys[np.isnan(self._bounds[keys])]
        if len(missing):
            parts = [self.rows(int(k)) for k in missing]
            rows = np.concatenate(parts)
            group = np.repeat(np.arange(len(missing)), [len(part) for part in parts])
            order = np.argsort(rows, kind="stable")  # enumeration order (``_dominance`` reads runs)
            self._bounds[missing] = self.screen(rows[order], group[order], len(missing))
        return np.asarray(self._bounds[keys])


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
    served: Served = field(default_factory=Served)  # serving features of this search (planner.model.serving)
    outside: Outside | None = None  # plan keys left unscreened (``prepare`` with ``prefix``)
    # the catalog's calibrated one, or one per candidate (its runtime's: planner.model.load.scheduler.runtime_overlaps)
    serving_overlap: float | Array = SERVING_OVERLAP
    evaluated: int = 0
    answers: Array = field(default_factory=default_prior)  # capacity rungs found so far, as search_capacity's prior
    _bounds: Array | None = None  # lower_bounds, recomputed for the keys evaluated since
    _stale: set[int] = field(default_factory=set)
    _tight: dict[int, float] = field(default_factory=dict)  # lower_bound per key, until its shapes are evaluated
    # ``evaluate``'s answers by row signature, behind ``context``: the catalog's tables' store, shared by
    # every search that asks the queueing model the same question (``planner.search.shapes.answers``)
    memo: Memo = field(default_factory=dict)
    context: bytes = b""  # what the answers depend on besides a row's constants: ``answers.question``
    # per Universe row, what the screen and the tuned engine gave for ``context`` (``row_memo``), where ``memo``
    # is the tables' store (None for a search on its own, as ``memo`` then is)
    rows_memo: RowMemo | None = None

    def evaluate(self, rows: np.ndarray, w: Workload) -> None:
        """Run the queueing model on ``rows`` at every utilisation rung; fill curves and rate.

        Rows with the same performance-model constants and ceiling (a model's fine-tunes, one chip
        under several ids) get the same answer, so each distinct one is run once per question and
        its answer kept in ``memo`` for every search that asks it again."""
        rows = rows[np.isnan(self.rate[rows])]
        if not len(rows):
            return
        plain = universe(self.cand.tables).models(self.cand.universe_row[rows])
        signature = np.ascontiguousarray(np.vstack([plain[0].coefficients.stacked(), plain[1].coefficients.stacked(),
                                                    self.ceiling[rows][None, :],
                                                    np.broadcast_to(self.overlap_of(rows), rows.shape)[None, :]]).T)
        _, first, inverse = np.unique(signature, axis=0, return_index=True, return_inverse=True)
        keys = [self.context + signature[i].tobytes() for i in first]
        known = [self.memo.get(key) for key in keys]  # read once: a bounded store may drop an answer later
        new = [j for j, answer in enumerate(known) if answer is None]
        if new:
            at = first[new]
            for j, answer in zip(new, self._run(rows[at], plain[0].take(at), plain[1].take(at), w=w), strict=True):
                known[j] = self.memo[keys[j]] = answer
        answers = [a for a in known if a is not None]
        rate, rung, max_batch, *above = (np.array(column)[inverse.ravel()] for column in zip(*answers, strict=True))
        for latency, values in zip(self.above_ms.values(), above, strict=True):
            latency[rows] = values
        self.max_batch[rows] = max_batch
        self.rate[rows], self.rung[rows] = rate, rung
        changed = [int(key) for key in distinct(self.key[rows])]
        self._stale.update(changed)
        for key in changed:
            self._tight.pop(key, None)
        self.evaluated += len(rows)

    def overlap_of(self, rows: np.ndarray) -> float | Array:
        """The serving overlap of these candidate rows: one for all, or one per row."""
        overlap = self.serving_overlap
        return overlap if isinstance(overlap, float) else overlap[rows]

    def _run(self, rows: np.ndarray, step: StepModel, mem: MemoryModel, *, w: Workload) -> list[Answer]:
        """``search_capacity`` of ``rows`` (plain constants ``step``, ``mem``), per row its answer:
        (rate, rung, max batch, latency one rung above it per SLO target)."""
        step, mem = self.served.apply(step, mem, w.traffic)
        seen = self.served.workload(w)  # what the queueing model runs: computed tokens, TPOT per iteration
        found = search_capacity(step, mem, seen.traffic, self.ceiling[rows], seen.slo, self.answers,
                                overlap=self.overlap_of(rows))
        self.answers += np.bincount(found.rung + 1, minlength=len(self.answers))
        has_above = found.rung + 1 < len(UTILIZATION)
        above = np.minimum(found.rung + 1, len(UTILIZATION) - 1)
        latencies = []
        for target in self.above_ms:
            per_token = self.served.emitted if target[0] == "tpot_ms" else 1.0  # TPOT per iteration -> per token
            latencies.append(np.where(has_above, found.latency_ms[target][np.arange(len(rows)), above] / per_token,
                                      np.nan))
        return [(float(found.rate[j]), int(found.rung[j]), float(found.max_batch[j]), *(float(x[j]) for x in latencies))
                for j in range(len(rows))]

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
        extra = np.concatenate([best_per_hardware(self, k, most=ALTERNATIVES) for k in keys]) \
            if alternatives else np.zeros(0, int)
        while True:
            todo = rows[np.isnan(self.rate[rows]) & (ceiling_unit <= threshold[group])]
            todo, extra = distinct(np.concatenate([todo, extra[np.isnan(self.rate[extra])]])), np.zeros(0, int)
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
        max(D u(S), ceil(D / r(S)) c(S)): u the least cost per unit of capacity (capacity capped at
        D), r the largest
        capacity of one replica, c the cheapest replica, over the key's shapes on S.

        Capacity is the SLO capacity where evaluated, else the ceiling's top rung (never below it:
        ``search_capacity`` credits at most that rung), so both
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
        cap = np.where(np.isnan(rate), ceiling * UTILIZATION[-1], rate)  # the top rung of the ceiling at most
        return key_bounds(group, hardware, cap, cost, len(keys), len(self.cand.tables.hardware_ids),
                          demand=self.demand, max_types=self.max_types, pairs=pairs)


def key_bounds(group: np.ndarray, hardware: np.ndarray, cap: Array, cost: Array, n_keys: int, n_hw: int, *,
               demand: float, max_types: int, pairs: bool) -> Array:
    """``Prepared._compute_bounds`` of rows in ``n_keys`` groups, given each row's capacity (at most
    what a replica is credited) and cost: per group, the set bound of its (hardware) cells."""
    usable = cap > 0
    cell = group * n_hw + hardware
    shape = (n_keys, n_hw)
    u, r, c = np.full(shape, np.inf), np.zeros(shape), np.full(shape, np.inf)
    # per unit of capacity capped at the demand: a replica carries at most all of it, so a plan
    # still has sum min(capacity, D) x replicas >= D (the knapsack-cover strengthening)
    useful = np.minimum(cap, demand)
    np.minimum.at(u.ravel(), cell, np.where(usable, cost / np.where(usable, useful, 1.0), np.inf))
    np.maximum.at(r.ravel(), cell, cap)
    np.minimum.at(c.ravel(), cell, np.where(usable, cost, np.inf))
    if max_types == 1:
        bound = np.min(_set_bound(demand, u, r, c), axis=1)
    elif max_types == 2 and pairs:
        pair = _set_bound(demand, np.minimum(u[:, :, None], u[:, None, :]),
                          np.maximum(r[:, :, None], r[:, None, :]), np.minimum(c[:, :, None], c[:, None, :]))
        bound = np.min(pair.reshape(n_keys, -1), axis=1)
    else:
        bound = _set_bound(demand, u.min(axis=1), r.max(axis=1), c.min(axis=1))
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


def prepare(catalog: Catalog, tables: CatalogTables, w: Workload, served: Served | None = None, *,
            prefix: int | None = None, memo: Memo | None = None) -> Prepared:
    """Enumerate, screen (memory, no-load SLO) and prune; no queueing model yet. ``served``: the
    serving features every candidate runs with (only runtimes supporting them on the chip).

    ``memo``: where capacity answers are kept and taken (``Prepared.memo``): by default the tables'
    store (``planner.search.shapes.answers.shared``: every earlier search of this catalog version); an empty
    dict for a search on its own. An answer is taken where it answers the same question: the same row
    constants and ceiling, under the same served features, token lengths and SLO
    (``answers.question``).

    With ``prefix``, plan keys are screened lazily, in order of a roofline floor on their cost,
    until the first ``prefix`` keys of the bound order are known (``_screen_lazily``); the rest are
    ``Prepared.outside``."""
    served = served or Served()
    asked = question(served, w)
    if memo is None:
        memo = shared(tables)
        memo.open(asked)
    # the screen's values per Universe row are kept with the tables' answers, and not for a search on its own
    rows_memo = shared_rows(tables) if memo is shared(tables) else None
    # so is the enumeration, for a workload that differs only in its request rate (``candidates.enumerated``)
    cand = (kept_enumeration if rows_memo is not None else enumerate_candidates)(catalog, tables, w, served.support)
    enumerated = len(cand) + sum(cand.dropped.values())
    outside = None
    if prefix is None:
        ok, capacity, max_batch, ceiling = _screen(tables, cand.universe_row, w, served, (rows_memo, asked))
    else:
        (ok, capacity, max_batch, ceiling), outside = _screen_lazily(cand, w, served, prefix, (rows_memo, asked))
    fits = max_batch >= 1
    cand.keep(fits, "does not fit in memory (weights + KV of one sequence)")
    ok = ok[fits] & (ceiling[fits] > 0)
    capacity, ceiling = capacity[fits][ok], ceiling[fits][ok]
    cand.keep(ok, "misses a latency SLO even with no load")
    cost = cand.price_per_chip_hour * cand.chips
    _, key = plan_keys(cand)
    keep = _dominance(key, cand.hardware, cost / np.maximum(ceiling, 1e-300))
    cand.keep(keep, "dominated: a cheaper shape per unit of capacity on the same hardware")
    n, key = len(cand), key[keep]
    order = _stable_order(key)
    bounds = np.searchsorted(key[order], np.arange(int(key.max()) + 2 if n else 1))
    return Prepared(cand=cand, raw_capacity=capacity[keep], ceiling=ceiling[keep], cost_per_hour=cost[keep], key=key,
                    enumerated=enumerated, rate=np.full(n, np.nan), rung=np.full(n, -1), max_batch=np.zeros(n),
                    above_ms={(m, pct): np.full(n, np.nan) for m, pct, _limit in w.slo.items()},
                    rows_of=[order[a:b] for a, b in itertools.pairwise(bounds)], first=order[bounds[:-1]],
                    demand=w.design_load,
                    max_types=w.constraints.max_hardware_types, served=served, outside=outside,
                    serving_overlap=runtime_overlaps(catalog.calibration, cand.tables.runtime_ids,
                                                     cand.runtime),
                    memo=memo, context=asked, rows_memo=rows_memo)


Kept = tuple[RowMemo | None, bytes]  # where the screen's values are kept, and under which question


def _screen(tables: CatalogTables, rows: np.ndarray, w: Workload, served: Served, kept: Kept = (None, b"")
            ) -> tuple[np.ndarray, Array, Array, Array]:
    """``capacity.screen`` of Universe ``rows``, SCREEN_CHUNK rows at a time, so that a chunk's
    constants and temporaries stay in cache (over ~10^5 rows at once each array operation streams
    from memory); the rows ``kept`` holds for this question are not screened again (``row_memo``: a
    row's screen reads its own constants alone, so kept values are the values)."""
    u, seen = universe(tables), served.workload(w)

    def compute(index: np.ndarray) -> Array:
        part = rows[index]
        parts = [screen(*served.apply(*u.models(part[s:s + SCREEN_CHUNK]), w.traffic), seen.traffic, seen.slo)
                 for s in range(0, len(part), SCREEN_CHUNK)] or [screen(*u.models(part), w.traffic, w.slo)]
        return np.vstack([np.concatenate(x).astype(np.float64) for x in zip(*parts, strict=True)])

    memo, asked = kept
    values = memoised(memo, asked, "screen", np.asarray(rows, dtype=np.int64), 4, compute)
    return values[0] > 0.0, values[1], values[2], values[3]


def plan_keys(cand: Candidates) -> tuple[np.ndarray, np.ndarray]:
    """(codes, key): the distinct (model, precision, KV precision, runtime) codes present, in code
    order, and each row's key, its index among them (np.unique's inverse, without a sort)."""
    t = cand.tables
    n_p, n_r = len(t.precision_ids), len(t.runtime_ids)
    code = ((cand.model * n_p + cand.precision) * n_p + cand.kv_precision) * n_r + cand.runtime
    present = np.zeros(len(t.model_ids) * n_p * n_p * n_r, dtype=bool)
    present[code] = True
    return np.flatnonzero(present), (np.cumsum(present) - 1)[code]


def _stable_order(key: np.ndarray) -> np.ndarray:
    """argsort of non-negative keys, stable; as 16-bit integers (a radix sort) when they fit."""
    return np.argsort(key.astype(np.uint16) if len(key) and key.max() < 2**16 else key, kind="stable")


def _screen_lazily(cand: Candidates, w: Workload, served: Served, prefix: int, kept: Kept = (None, b"")
                   ) -> tuple[tuple[np.ndarray, Array, Array, Array], Outside]:
    """``_screen`` of the plan keys (model, precision, KV precision, runtime) that may be among the
    first ``prefix`` keys of the bound order, keeping only their rows in ``cand``.

    Keys are screened in order of their roofline floor (``planner.search.shapes.roofline``: capacity at
    most the linear layers' compute roofline, a lower bound on the key's ``lower_bounds``), in
    doubling batches, until ``prefix`` screened keys have bounds below the floor of every key
    left: those keys, which sort before every key left, are then the prefix of the order (a tie
    on the bound is broken among keys of one model, all screened). The rest become ``Outside``.
    Blocks of the Universe are built only for the keys screened.
    """
    t = cand.tables
    codes, group = plan_keys(cand)
    n = len(codes)
    by_group = _stable_order(group)
    starts = np.searchsorted(group[by_group], np.arange(n + 1))
    demand, max_types = w.design_load, w.constraints.max_hardware_types
    floor = key_floors(starts, capacity_bound(cand, served.workload(w).traffic)[by_group],
                       (cand.price_per_chip_hour * cand.chips)[by_group], demand)
    order = np.argsort(floor, kind="stable")
    out = (np.zeros(len(cand), dtype=bool), np.zeros(len(cand)), np.zeros(len(cand)), np.zeros(len(cand)))
    screened = np.zeros(len(cand), dtype=bool)
    exact = np.full(n, np.inf)  # bound of each screened key (inf: none of its shapes survives)

    def screen_rows(rows: np.ndarray, keys: np.ndarray, n_keys: int) -> Array:
        parts = _screen(t, cand.universe_row[rows], w, served, kept)
        for whole, part in zip(out, parts, strict=True):
            whole[rows] = part
        return _bounds_of(cand, rows, keys, n_keys, parts, demand=demand, max_types=max_types)

    done, step = 0, max(prefix, 1)
    while done < n:
        take = order[done:done + step]
        done, step = done + len(take), 2 * step
        rows = np.sort(np.concatenate([by_group[starts[g]:starts[g + 1]] for g in take]))
        screened[rows] = True
        exact[take] = screen_rows(rows, np.searchsorted(take[np.argsort(take)], group[rows]), len(take))[
            np.argsort(np.argsort(take))]
        known = np.sort(exact[np.isfinite(exact)])
        if done < n and len(known) >= prefix and known[prefix - 1] < floor[order[done]]:
            break
    left = order[done:]
    n_p, n_r = len(t.precision_ids), len(t.runtime_ids)  # plan_keys' code layout
    factors = np.stack(np.unravel_index(codes[left], (len(t.model_ids), n_p, n_p, n_r)))
    universe_rows = cand.universe_row
    prices = cand.prices

    def screen_outside(rows: np.ndarray, keys: np.ndarray, n_keys: int) -> Array:
        sub = Candidates(tables=t, universe_row=rows, score=cand.score, prices=prices)
        return _bounds_of(sub, np.arange(len(rows)), keys, n_keys, _screen(t, rows, w, served, kept),
                          demand=demand, max_types=max_types)

    def outside_rows(k: int) -> np.ndarray:  # (most are never asked for: a list of them all took ~4 ms)
        g = left[k]
        return np.asarray(universe_rows[by_group[starts[g]:starts[g + 1]]])

    outside = Outside(model=factors[0], precision=factors[1], kv_precision=factors[2], runtime=factors[3],
                      floor=floor[left], rows=outside_rows, screen=screen_outside)
    cand.keep(screened, "not screened: a roofline floor on its plan key's cost puts it past the keys searched")
    found = tuple(x[screened] for x in out)
    return (found[0], found[1], found[2], found[3]), outside


def key_floors(starts: np.ndarray, capacity: Array, cost: Array, demand: float) -> Array:
    """Per key, ``key_bounds`` over the set of all hardware types (which no set a plan may use
    beats) of candidates sorted by key (key j's from ``starts[j]`` to ``starts[j + 1]``, none
    empty) with capacity upper bounds: with capacities only larger than those ``Prepared`` credits
    and the candidates a superset of those screening keeps, never above the key's
    ``Prepared.lower_bounds``."""
    usable = capacity > 0
    at = starts[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        unit = np.where(usable, cost / np.where(usable, np.minimum(capacity, demand), 1.0), np.inf)
    u = np.minimum.reduceat(unit, at) if len(at) else np.zeros(0)
    r = np.maximum.reduceat(np.where(usable, capacity, 0.0), at) if len(at) else np.zeros(0)
    c = np.minimum.reduceat(np.where(usable, cost, np.inf), at) if len(at) else np.zeros(0)
    return _set_bound(demand, u, r, c)


def _bounds_of(cand: Candidates, rows: np.ndarray, keys: np.ndarray, n_keys: int,
               parts: tuple[np.ndarray, Array, Array, Array], *, demand: float, max_types: int) -> Array:
    """Per key, ``Prepared.lower_bounds`` (before any evaluation) of the screened ``rows`` of
    ``cand`` (enumeration order) with their key, given ``_screen``'s ``parts`` for them: the same
    memory, no-load SLO and dominance pruning as ``prepare``; inf where none survives."""
    ok, _capacity, max_batch, ceiling = parts
    keep = ok & (max_batch >= 1) & (ceiling > 0)
    rows, keys, ceiling = rows[keep], keys[keep], ceiling[keep]
    hardware = cand.hardware[rows]
    cost = (cand.price_per_chip_hour * cand.chips)[rows]
    dominant = _dominance(keys, hardware, cost / np.maximum(ceiling, 1e-300))
    return key_bounds(keys[dominant], hardware[dominant], ceiling[dominant] * UTILIZATION[-1], cost[dominant],
                      n_keys, len(cand.tables.hardware_ids), demand=demand, max_types=max_types, pairs=False)


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
        scaled(limits[-1], COST_SCALE, "budget.max_cost_per_month", math.floor)  # within the solver's integers
    if b.max_cost_per_million_tokens is not None:  # the whole cost per million output tokens, as Cost's
        tokens_per_hour = w.traffic.requests_per_s * w.traffic.output_tokens.mean * 3600.0
        limits.append(b.max_cost_per_million_tokens * tokens_per_hour / 1e6
                      - one_time / b.horizon_months / HOURS_PER_MONTH)
        scaled(limits[-1], COST_SCALE, "budget.max_cost_per_million_tokens", math.floor)
    return min(limits) if limits else None


def best_per_hardware(p: Prepared, k: int, *, most: int | None = None) -> np.ndarray:
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


def evaluate_rest(p: Prepared, w: Workload, k: int) -> bool:
    """Evaluate the shapes of key k not yet evaluated; True if there were any."""
    rest = p.rows_of[k][np.isnan(p.rate[p.rows_of[k]])]
    if len(rest):
        p.evaluate(rest, w)
    return bool(len(rest))


def key_budget(p: Prepared, w: Workload, k: int) -> float | None:
    """The hourly serving cost key k's plans may reach (None: no budget); its one-time adaptation
    cost is amortised into the monthly budget."""
    pick = p.cand.choice(int(p.rows_of[k][0]))
    return max_cost_per_hour(w, pick.one_time if pick is not None else 0.0)


def key_budgets(p: Prepared, w: Workload) -> Array:
    """Per key, ``key_budget`` as a bound a lower bound is compared with (inf: none; the next float
    up, since a plan may cost exactly the budget). Computed once per model and precision."""
    pairs = p.cand.model[p.first] * len(p.cand.tables.precision_ids) + p.cand.precision[p.first]
    _, first_key, inverse = np.unique(pairs, return_index=True, return_inverse=True)
    limits = np.array([key_budget(p, w, int(k)) for k in first_key], dtype=np.float64)  # None -> NaN
    return np.nextafter(np.where(np.isnan(limits), np.inf, limits), np.inf)[inverse.ravel()]
