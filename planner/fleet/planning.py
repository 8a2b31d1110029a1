"""Plan a fleet: several workloads over months, in one CP-SAT model sharing quotas (``plan_fleet``).

1. Demand per workload, month and shared period (``planner.fleet.demand``).
2. Per workload, the plan key and its replica shapes from the single-workload search at the
   workload's peak over the horizon (``planner.fleet.options``).
3. One CP-SAT model over every workload, month and period (``planner.fleet.model``).
4. For comparison: each workload alone, in the fleet's order, taking what the quota still has
   (how planning one service at a time goes), and each alone with the whole quota (a bound).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from types import MappingProxyType

import numpy as np

from planner.domain import Catalog
from planner.economics.breakdown import price_warnings
from planner.economics.pricing import PriceQuote, stale_offers
from planner.economics.rates import TERM_MONTHS
from planner.errors import InputError
from planner.fleet.demand import DEFAULT_PERIODS, Demand, fleet_demand
from planner.fleet.model import Item, Solved, solve_schedule
from planner.fleet.options import WorkloadOptions, shapes_for
from planner.fleet.prices import ChipPrices, Mode, catalog_prices, replica_price
from planner.fleet.results import Commit, FleetPlan, MonthRow, PriceUsed, ScaleBounds, WorkloadSchedule
from planner.fleet.shared import merged
from planner.model.grid import Array, CatalogTables
from planner.workload import Workload

__all__ = ["Fleet", "plan_fleet"]


@dataclass(frozen=True)
class Fleet:
    name: str
    workloads: tuple[Workload, ...]
    months: int = 12
    quotas: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))  # chips, all workloads
    modes: frozenset[Mode] = frozenset(Mode)
    committed_as: str = "reserved_1y"  # the catalog pricing mode a commitment is bought at
    periods: int = DEFAULT_PERIODS
    # shared deployments (planner.fleet.shared): (group name, member workload names)
    shared: tuple[tuple[str, tuple[str, ...]], ...] = ()


PROVEN_USD = 0.01  # a schedule within a cent of a proven lower bound is optimal (the objective is in milli-dollars)
MIN_PHASE_S = 0.5  # a phase once the deadline is spent: a CP-SAT solve still returns its hint, a search its first round


class _Budget:
    """The time limit of the next phase (a single-workload search or a CP-SAT solve): ``per_phase``, and
    with a ``deadline_s`` for the whole fleet no more than what is left of it (at least MIN_PHASE_S)."""

    def __init__(self, per_phase: float, deadline_s: float | None, start: float) -> None:
        self.per_phase, self.deadline_s, self.start = per_phase, deadline_s, start

    def __call__(self) -> float:
        if self.deadline_s is None:
            return self.per_phase
        return min(self.per_phase, max(self.deadline_s - (time.perf_counter() - self.start), MIN_PHASE_S))

    @property
    def spent(self) -> bool:
        return self.deadline_s is not None and time.perf_counter() - self.start >= self.deadline_s


def plan_fleet(fleet: Fleet, catalog: Catalog, *, prices: ChipPrices | None = None,
               tables: CatalogTables | None = None, time_limit_s: float = 30.0, compare: bool = True,
               deadline_s: float | None = None) -> FleetPlan:
    """The fleet's joint schedule and, with ``compare``, what planning each workload alone costs.
    ``time_limit_s`` bounds each single-workload search and each CP-SAT schedule solve; ``deadline_s``,
    the whole run (a service's request): each phase then gets at most what is left, and the comparison
    with each workload alone is skipped once it is spent (a note says so)."""
    start = time.perf_counter()
    budget = _Budget(time_limit_s, deadline_s, start)
    demand = fleet_demand(fleet.workloads, months=fleet.months, periods=fleet.periods)
    _check(fleet, catalog, demand)
    tables = tables or CatalogTables.from_catalog(catalog)
    prices = prices or catalog_prices(catalog)
    options = [_shapes(catalog, tables, _priced_as(w, prices), i, float(demand.requests_per_s[i].max()), budget)
               for i, w in enumerate(fleet.workloads)]
    items = [Item(name=w.name, shapes=o.shapes, demand=demand.requests_per_s[i], availability=w.availability,
                  max_types=w.constraints.max_hardware_types, quotas=dict(w.constraints.quotas))
             for i, (w, o) in enumerate(zip(fleet.workloads, options, strict=True))]
    if any(not o.shapes for o in options):
        return replace(_plan(fleet, demand, options, items, None, None, None, start),
                       one_time_cost=_one_time(options, [(w.name,) for w in fleet.workloads])[1])
    solve = dict(hours=demand.hours_per_month, prices=prices, modes=fleet.modes, committed_as=fleet.committed_as)
    sequential, notes = _one_at_a_time(items, fleet, demand, solve, budget)
    notes = _unpriced(fleet, options, prices) + notes
    alone = _total(sequential) if len(sequential) == len(items) else None
    serves: list[tuple[str, ...]] = [(w.name,) for w in fleet.workloads]
    hint: list[Solved | None] = list(sequential)
    joint_items, joint_options = items, options
    if fleet.shared:
        joint_items, joint_options, serves, hint = _pooled(fleet, catalog, tables, demand, items, options, sequential,
                                                           prices=prices,
                                                           solve_limit=budget)
    joint = solve_schedule(joint_items, fleet_quotas=fleet.quotas, hint=hint, time_limit_s=budget(),
                           **solve)  # type: ignore[arg-type]
    if alone is not None and (not joint.cost or alone < (_total([joint]) or 0.0)):
        # the one-at-a-time schedule is a joint schedule too: keep the better (only when the solve was cut short,
        # or when a shared deployment made the joint problem dearer or impossible: then say so)
        notes += _unpooled(fleet, joint_items, joint_options, joint, alone)
        joint = Solved("FEASIBLE", [s.committed[0] for s in sequential], [s.on_demand[0] for s in sequential],
                       [s.spot[0] for s in sequential], [s.cost[0] for s in sequential], joint.elapsed_s,
                       bound=joint.bound,  # the joint solve's bound still bounds every joint schedule
                       beyond=[s.beyond[0] for s in sequential], bought=[s.bought[0] for s in sequential])
        joint_items, joint_options, serves = items, options, [(w.name,) for w in fleet.workloads]
    used: tuple[PriceUsed, ...] = ()
    if not joint.cost:  # no schedule: say what the quotas cannot hold, where that alone rules one out
        notes += _short_of_quota(items, fleet.quotas)
    else:
        notes += _term_tails(joint, fleet.committed_as, fleet.months)
        quotes = _quotes_used(joint_items, joint, prices, fleet.committed_as)
        notes += _price_warnings(quotes)
        used = _prices_used(quotes)
    # each served workload trains its own adapter once, on the model of the deployment that serves it
    one_time_note, one_time = _one_time(joint_options, serves)
    notes += one_time_note
    independent = independent_bound = None
    # (a bound above the schedule found is the objective's milli-dollar rounding: no schedule is cheaper)
    lower = min(joint.bound, _total([joint]) or 0.0) if joint.cost and math.isfinite(joint.bound) else None
    if compare and budget.spent:
        notes.append(f"not compared with each workload alone with the whole quota: the run's {deadline_s:g} s were "
                     "spent")
        compare = False
    if compare:
        # each alone with the whole fleet quota to itself (together they may break it)
        singles = [solve_schedule([it], fleet_quotas=fleet.quotas, time_limit_s=budget(),
                                  **solve) for it in items]  # type: ignore[arg-type]
        independent = _total(singles)
        if independent is not None:
            independent_bound = min(float(sum(s.bound for s in singles)), independent)
            if lower is not None and not fleet.shared:
                # each workload's part of a joint schedule is a schedule of it alone within the whole fleet
                # quota, so the singles' bounds add up to a bound on the joint cost too (not with shared
                # deployments: pooling may cost less than the members apart)
                lower = max(lower, independent_bound)
    out = replace(_plan(fleet, demand, joint_options, joint_items, joint, alone, independent, start, serves),
                  lower_bound=lower, independent_bound=independent_bound, notes=tuple(notes),
                  one_time_cost=one_time, prices=used)
    if out.status == "FEASIBLE" and lower is not None and out.cost - lower <= PROVEN_USD:
        # a bound that meets the schedule proves it, whichever solve set the bound (the each-alone bounds can
        # close a gap the joint solve, cut short, left open): it read FEASIBLE at a gap of 0.0
        out = replace(out, status="OPTIMAL")
    return out


def _check(fleet: Fleet, catalog: Catalog, demand: Demand) -> None:
    """Quotas of known chips; every workload with traffic in some month of the horizon."""
    for hardware in fleet.quotas:
        if hardware not in catalog.hardware:
            raise InputError(f"unknown hardware id {hardware[:64]!r}", field=f"quotas.{hardware[:64]}")
    for i, w in enumerate(fleet.workloads):
        if not demand.requests_per_s[i].max() > 0:  # (a profile or multipliers of all zeros are refused as read)
            raise InputError(f"{w.name!r} has no traffic in any of the fleet's {fleet.months} months (its growth "
                             "multipliers are 0 there): nothing to plan", field=f"workloads.{i}.traffic.growth")


def _priced_as(w: Workload, prices: ChipPrices) -> Workload:
    """``w`` searched with the markets the schedule buys in: where its prices take a chip's next market when the
    first has no offer (``prices: price_book``), so does the single-workload search that picks its shapes (an
    auditor's case: an H100 PCIe fleet, which only neoclouds rent, read 'no single-workload plan fits' where the
    book prices it)."""
    pricing = getattr(prices, "pricing", None)
    if pricing is None or not pricing.fallback_markets or w.constraints.pricing.fallback_markets:
        return w
    return replace(w, constraints=replace(w.constraints, pricing=replace(w.constraints.pricing, fallback_markets=True)))


def _shapes(catalog: Catalog, tables: CatalogTables, w: Workload, i: int, horizon_peak: float,
            budget: _Budget) -> WorkloadOptions:
    """``shapes_for`` workload i; an error about one of its fields names the workload (``workloads.i``)."""
    try:
        return shapes_for(catalog, tables, w, horizon_peak=horizon_peak, time_limit_s=budget())
    except InputError as exc:
        raise exc.within(f"workloads.{i}") from exc


def _short_of_quota(items: Sequence[Item], fleet_quotas: Mapping[str, int]) -> list[str]:
    """Per workload whose replica floor cannot fit its hardware's quotas, why: at least max(min_replicas, zones,
    spare + 1) replicas of at least its smallest shape's chips, against the chips the workload's and the fleet's
    quotas allow on every chip its shapes use (a chip without a quota: no limit, no note). Before, such a fleet
    came back INFEASIBLE with no reason."""
    out = []
    for it in items:
        if not it.shapes:
            continue
        a = it.availability
        least = max(a.replicas_at_least, a.spare + 1)
        allowed = 0.0
        for hw in sorted({sh.hardware for sh in it.shapes}):
            caps = [q[hw] for q in (it.quotas, fleet_quotas) if hw in q]
            allowed += min(caps) if caps else math.inf
        chips = min(sh.chips for sh in it.shapes)
        if least * chips > allowed:
            asked = [f"min_replicas {a.min_replicas}"] * (a.min_replicas > 1) + [f"zones {a.zones}"] * (a.zones > 1) \
                + [f"spare {a.spare}"] * (a.spare > 0)
            why = f" ({', '.join(asked)})" if asked else ""
            out.append(f"{it.name}: needs at least {least} replica(s){why} of at least {chips} chip(s) each, "
                       f"but the quotas on its hardware allow {allowed:.0f} chips")
    return out


def _unpriced(fleet: Fleet, options: Sequence[WorkloadOptions], prices: ChipPrices) -> list[str]:
    """A note per chip a workload's shapes run on that has no price in a mode the fleet buys in: no replica of
    it is bought that way, and where every mode lacks one the schedule is infeasible with no other reason
    (mi355x committed at reserved_1y, which no offer prices)."""
    missing: dict[str, list[str]] = {}
    for o in options:
        for sh in o.shapes:
            for mode in sorted(fleet.modes):
                if replica_price(prices, sh.hardware, sh.chips, mode, committed_as=fleet.committed_as) is None:
                    label = f"{mode} ({fleet.committed_as})" if mode is Mode.COMMITTED else str(mode)
                    if label not in missing.setdefault(sh.hardware, []):
                        missing[sh.hardware].append(label)
    return [f"{hw}: no {' or '.join(modes)} price for its replicas, so none is bought that way"
            for hw, modes in sorted(missing.items())]


def _unpooled(fleet: Fleet, items: list[Item], options: list[WorkloadOptions], joint: Solved,
              alone: float) -> list[str]:
    """Why the schedule serves a shared deployment's members apart (empty: the fleet has none, so the
    one-at-a-time schedule only replaced a joint solve cut short)."""
    out = []
    for group, members in fleet.shared:
        at = next((i for i, it in enumerate(items) if it.name == group), None)
        if at is not None and not options[at].shapes:
            why = "; ".join(options[at].reasons) or "no replica shape serves every member"
            out.append(f"shared deployment {group} ({', '.join(members)}) is not used: {why}; its members are "
                       "served apart")
        elif at is not None:
            pooled = _total([joint])
            cost = (f"the schedule with it costs ${pooled:,.0f}" if pooled is not None
                    else f"no schedule with it was found ({joint.status})")
            out.append(f"shared deployment {group} ({', '.join(members)}) is not used: {cost}, the members apart "
                       f"${alone:,.0f} over the horizon (its merged terms: the strictest SLO and the largest p95 of "
                       "any member, planner.fleet.shared)")
    return out


def _pooled(fleet: Fleet, catalog: Catalog, tables: CatalogTables, demand: Demand, items: list[Item],
            options: list[WorkloadOptions], sequential: list[Solved], *, prices: ChipPrices,
            solve_limit: Callable[[], float],
            ) -> tuple[list[Item], list[WorkloadOptions], list[tuple[str, ...]], list[Solved | None]]:
    """Items with each shared group's members replaced by one item for the group (at the first
    member's place), its options, whom each item serves, and the hints still valid."""
    names = [w.name for w in fleet.workloads]
    group_of = {m: g for g, members in fleet.shared for m in members}
    out_items: list[Item] = []
    out_options: list[WorkloadOptions] = []
    serves: list[tuple[str, ...]] = []
    hint: list[Solved | None] = []
    for i, name in enumerate(names):
        if name not in group_of:
            out_items.append(items[i])
            out_options.append(options[i])
            serves.append((name,))
            hint.append(sequential[i] if i < len(sequential) else None)
            continue
        group = group_of[name]
        members = dict(fleet.shared)[group]
        if name != members[0]:
            continue
        idx = [names.index(m) for m in members]
        w = _priced_as(merged(catalog, group, [fleet.workloads[j] for j in idx]), prices)
        load = demand.pooled(idx)
        o = shapes_for(catalog, tables, w, horizon_peak=float(load.max()), time_limit_s=solve_limit())
        out_items.append(Item(name=group, shapes=o.shapes, demand=load, availability=w.availability,
                              max_types=w.constraints.max_hardware_types, quotas=dict(w.constraints.quotas)))
        out_options.append(o)
        serves.append(tuple(members))
        hint.append(None)
    return out_items, out_options, serves, hint


def _term_tails(solved: Solved, committed_as: str, months: int) -> list[str]:
    """A note where terms run past the horizon: a term is paid in full, so the schedule's cost holds their months past
    it (``Solved.beyond``, the dollars the solve charged; docs/fleet.md); the note says when they were bought and how
    many replica-months that is."""
    term = TERM_MONTHS.get(committed_as)
    if term is None or not sum(solved.beyond):
        return []
    replica_months, bought = 0, set()
    for terms in solved.bought:
        for m in np.flatnonzero(terms.sum(axis=0)):  # terms starting in month m, over the item's shapes
            if (tail := int(m) + term - months) > 0:
                replica_months += int(terms[:, m].sum()) * tail
                bought.add(int(m) + 1)
    return [f"terms bought in month{'s' if len(bought) > 1 else ''} {', '.join(map(str, sorted(bought)))} run "
            f"{replica_months} replica-month(s) past the {months}-month horizon ({term}-month {committed_as}): "
            f"${sum(solved.beyond):,.0f}, counted in the cost (beyond_horizon_cost: a term is paid in full; a longer "
            "horizon (months) plans the capacity those months would use)"]


def _quotes_used(items: Sequence[Item], solved: Solved, prices: ChipPrices, committed_as: str
                 ) -> dict[tuple[str, str, int], PriceQuote]:
    """The quote of each (chip, mode, chips per replica) the schedule buys at (empty for a price function without
    quotes: a test's)."""
    quote = getattr(prices, "quote", None)
    out: dict[tuple[str, str, int], PriceQuote] = {}
    if quote is None:
        return out
    for it, c, od, sp in zip(items, solved.committed, solved.on_demand, solved.spot, strict=True):
        for j, shape in enumerate(it.shapes):
            used = [(committed_as, c[j].any()), ("on_demand", od[j].any()), ("spot", sp[j].any())]
            for mode in (m for m, any_use in used if any_use):
                q = quote(shape.hardware, mode, shape.chips)
                if q is not None:
                    out[(shape.hardware, mode, shape.chips)] = q
    return out


def _price_warnings(quotes: Mapping[tuple[str, str, int], PriceQuote]) -> list[str]:
    """A note per price the schedule buys at that rests on an offer older than 12 months, or only on offers
    flagged weak, as a plan's cost says (an auditor found the example fleet's L40S spot price partly dated
    2025-08-12, which `hwplan plan` flags and the fleet did not)."""
    today = date.today()
    out: dict[str, None] = {}
    for (hardware, mode, _chips), q in quotes.items():
        out |= dict.fromkeys(price_warnings(f"{hardware} {mode}", q.offers, stale_offers(q, today=today),
                                            from_sheet=q.from_sheet, public=q.public))
    return list(out)


def _prices_used(quotes: Mapping[tuple[str, str, int], PriceQuote]) -> tuple[PriceUsed, ...]:
    """Each (chip, mode) price the schedule buys at, with the rule behind it (the output listed none: a reader
    could not check a schedule's months against a price)."""
    seen: dict[tuple[str, str, float], PriceUsed] = {}
    for (hardware, mode, _chips), q in sorted(quotes.items()):
        seen.setdefault((hardware, mode, q.usd_per_chip_hour), PriceUsed(hardware, mode, q.usd_per_chip_hour, q.rule))
    return tuple(seen.values())


def _total(solved: Sequence[Solved]) -> float | None:
    """Total cost of solutions (None when any has none)."""
    if not solved or any(not s.cost for s in solved):
        return None
    return float(sum(s.total for s in solved))


def _usage(items: Sequence[Item], solved: Solved, hardware: str) -> Array:
    """Chips of ``hardware`` running per [month, period]."""
    total: Array | None = None
    for it, c, o, s in zip(items, solved.committed, solved.on_demand, solved.spot, strict=True):
        chips = np.array([sh.chips if sh.hardware == hardware else 0 for sh in it.shapes])
        running = c[:, :, None] + o + s
        part = np.einsum("j,jml->ml", chips, running)
        total = part if total is None else total + part
    assert total is not None
    return total


def _one_at_a_time(items: Sequence[Item], fleet: Fleet, demand: Demand, solve: dict[str, object],
                   limit: Callable[[], float]) -> tuple[list[Solved], list[str]]:
    """Each workload alone, in order, within what the fleet quotas still have (stops at the first
    that does not fit: the list is then shorter than ``items``), and a note where that one's solve ran
    out of time before it found a schedule (it is not one that does not fit)."""
    left = {h: np.full((demand.months, demand.periods), float(q)) for h, q in fleet.quotas.items()}
    out: list[Solved] = []
    for it in items:
        s = solve_schedule([it], fleet_quotas={}, quota_left=left, time_limit_s=limit(), **solve)  # type: ignore[arg-type]
        if not s.cost:  # (UNKNOWN: the solve ran out of time, which says nothing about fitting)
            return out, [f"not planned one at a time: {it.name}'s schedule solve ran out of its time before it "
                         "found one (a longer time limit or deadline may)"] if s.status == "UNKNOWN" else []
        out.append(s)
        for h in left:
            left[h] = left[h] - _usage([it], s, h)
    return out, []


def _plan(fleet: Fleet, demand: Demand, options: list[WorkloadOptions], items: list[Item], joint: Solved | None,
          alone: float | None, independent: float | None, start: float,
          serves: Sequence[tuple[str, ...]] = ()) -> FleetPlan:
    schedules = []
    for i, (it, o) in enumerate(zip(items, options, strict=True)):
        solved = joint if joint is not None and joint.cost else None
        reasons = o.reasons or (() if solved else (f"no joint schedule ({joint.status if joint else 'not solved'})",))
        schedules.append(replace(_schedule(it, o, demand, solved, i, reasons),
                                 serves=serves[i] if i < len(serves) else (it.name,)))
    ok = joint is not None and bool(joint.cost)
    # no schedule, no cost: NaN months (null in the JSON), not zeros a client would sum to $0
    by_month = np.sum(joint.cost, axis=0) if ok and joint else np.full(fleet.months, np.nan)
    beyond = float(sum(joint.beyond)) if ok and joint else float("nan")
    quota_peak = {h: (int(_usage(items, joint, h).max()), q) for h, q in fleet.quotas.items()} if ok and joint else {}
    # without a joint solve: TIME_LIMIT where a workload's search ran out of time before any plan (nothing is
    # proven), NO_OPTIONS where one has no plan that fits
    status = joint.status if joint else "TIME_LIMIT" if any(o.cut for o in options if not o.shapes) else "NO_OPTIONS"
    return FleetPlan(name=fleet.name, status=status, months=fleet.months,
                     periods_hours=tuple(float(h) for h in demand.hours_per_month), workloads=tuple(schedules),
                     cost_by_month=tuple(float(x) for x in by_month),
                     cost=float(by_month.sum()) + beyond if ok else float("nan"), beyond_horizon_cost=beyond,
                     alone_cost=alone, independent_cost=independent, quota_peak=quota_peak,
                     elapsed_s=time.perf_counter() - start)


def _one_time(options: Sequence[WorkloadOptions], serves: Sequence[tuple[str, ...]]) -> tuple[list[str], float]:
    """What the schedule's cost leaves out, as a note and in USD: the training each served workload's
    adaptation pays once, at the plan of the deployment that serves it (a shared pool's plan for each of
    its members: each trains its own adapter on the pool's model)."""
    paid = [(name, o.plan.adaptation, o.plan.model, o.plan.cost.one_time)
            for o, names in zip(options, serves, strict=True)
            if o.plan is not None and o.plan.cost.one_time > 0 for name in names]
    total = float(sum(usd for *_, usd in paid))
    if not paid:
        return [], total
    each = ", ".join(f"{name} ({method} on {model}) ${usd:,.2f}" for name, method, model, usd in paid)
    return [f"one-time adaptation costs, paid once and not in the schedule's monthly cost (one_time_cost): {each}"
            + (f" (${total:,.2f} in all)" if len(paid) > 1 else "")], total


def _schedule(it: Item, o: WorkloadOptions, demand: Demand, solved: Solved | None, i: int,
              reasons: tuple[str, ...]) -> WorkloadSchedule:
    p = o.plan
    head = dict(name=it.name, model=p.model if p else None, precision=p.precision if p else None,
                runtime=p.runtime if p else None, adaptation=p.adaptation if p else None)
    if solved is None:
        return WorkloadSchedule(**head, months=(), commits=(), autoscaling=(), cost=float("nan"), reasons=reasons)  # type: ignore[arg-type]
    c, od, sp, cost = solved.committed[i], solved.on_demand[i], solved.spot[i], solved.cost[i]
    beyond, terms = solved.beyond[i], solved.bought[i]
    labels = [s.label for s in it.shapes]
    running = c[:, :, None] + od + sp  # [shape, month, period]
    rows = tuple(MonthRow(
        month=m + 1, peak_requests_per_s=float(it.demand[m].max()),
        committed={lab: int(c[j, m]) for j, lab in enumerate(labels) if c[j, m]},
        on_demand_max={lab: int(od[j, m].max()) for j, lab in enumerate(labels) if od[j, m].max()},
        spot_max={lab: int(sp[j, m].max()) for j, lab in enumerate(labels) if sp[j, m].max()},
        replicas_min=int(running[:, m].sum(axis=0).min()), replicas_max=int(running[:, m].sum(axis=0).max()),
        cost=float(cost[m])) for m in range(demand.months))
    commits = tuple(Commit(month=m + 1, shape=labels[j], added=int(terms[j, m]))
                    for m in range(demand.months) for j in range(len(labels)) if terms[j, m] > 0)
    bounds = tuple(ScaleBounds(shape=lab, min_replicas=int(running[j].min()), max_replicas=int(running[j].max()))
                   for j, lab in enumerate(labels) if running[j].max())
    return WorkloadSchedule(**head, months=rows, commits=commits, autoscaling=bounds,  # type: ignore[arg-type]
                            cost=float(cost.sum()) + beyond, beyond_horizon_cost=beyond, reasons=reasons)
