"""What the plans cost if they run as slowly as measured runs did: the workload re-planned at that speed.

The plans keep the calibration's prediction and say where measured runs missed it (``Plan.measured``).
Where plan 1 carries an entry of throughput below 1 (``planner.measured_speed``: a model's on its runtime,
or a chip's on its chip and runtime), ``measured_replan`` gives the consequence in money: the workload
planned again on ``at_measured_speed(catalog)``, the rows of every such entry at its median speed, and the
best plan found: the same configuration with more replicas, another one, or nothing. Where plan 1
carries none nothing is re-planned: slowing other rows only takes capacity from other plans, so plan 1
stays the best where its search proved it so (a search stopped at its key limit might find another
there; it is not run).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from planner.domain import Catalog, MeasuredBias
from planner.measured_speed import at_measured_speed, slowing_for, slows
from planner.memo import cached
from planner.model.grid import CatalogTables
from planner.search.planning import best_plan
from planner.search.results import Plan
from planner.search.shapes.answers import share, shared
from planner.search.shapes.candidates import derived_universe
from planner.workload import Objective, Workload

__all__ = ["MeasuredReplan", "measured_replan", "slowed_catalog"]


@dataclass(frozen=True)
class MeasuredReplan:
    """The best plan with every measured-slow model, chip and runtime at its measured speed."""

    # the entries plan 1 carries, then those the other plans listed and the best plan carry (the re-plan slows
    # every such entry of the catalog: these are the ones that slow a plan shown)
    slowed: tuple[MeasuredBias, ...]
    plan: Plan | None  # None: no plan fits at those speeds (or none was found in time: complete False)
    complete: bool  # false: the re-plan stopped at the deadline (its plan is unproven)
    listed: int | None = None  # the rank of the plan listed with its shape (``Plan.shape``), if one is


def measured_replan(catalog: Catalog, w: Workload, plans: Sequence[Plan], *, tables: CatalogTables,
                    objective: Objective = Objective.COST, time_limit_s: float = 10.0) -> MeasuredReplan | None:
    """The workload re-planned at the measured speed, within ``time_limit_s`` (the caller's time left, the slowed
    catalog's first build included); None where ``plans`` is empty or its first carries no slowing entry.
    ``tables``: the catalog's, whose capacity answers the re-plan shares (``slowed_catalog``)."""
    if not plans or not slowing_for(catalog, plans[0].model, plans[0].runtime, plans[0].hardware_types):
        return None
    started = time.perf_counter()
    variant, slow_tables = slowed_catalog(catalog, tables)
    best, complete = best_plan(w, variant, tables=slow_tables, objective=objective,
                               time_limit_s=time_limit_s - (time.perf_counter() - started))
    slowed: tuple[MeasuredBias, ...] = ()
    for shown in [*plans, *([best] if best is not None else [])]:
        slowed += tuple(b for b in slowing_for(catalog, shown.model, shown.runtime, shown.hardware_types)
                        if b not in slowed)
    if best is not None:  # (its capacity is at their speed already: their lines would say otherwise)
        best = replace(best, measured=tuple(m for m in best.measured if not slows(m)))
    listed = next((p.rank for p in plans if best is not None and p.shape == best.shape), None)
    return MeasuredReplan(slowed=slowed, plan=best, complete=complete, listed=listed)


def slowed_catalog(catalog: Catalog, tables: CatalogTables) -> tuple[Catalog, CatalogTables]:
    """``at_measured_speed(catalog)`` and its tables, kept with ``tables`` (the catalog's: ``planner.memo``), so
    that a service's later requests reuse them and the Universe blocks their plans filled.

    The slowed tables keep their capacity answers in ``tables``' store: an answer's key holds every constant
    of its row (``planner.search.shapes.answers``), so a row the slowing leaves alone is the same question
    with the same answer, and one the slowing reaches is another question. The re-plan then runs the
    queueing model only for slowed rows and rows the plan did not reach, and its answers are kept (and
    saved) with the catalog's. Their Universe takes the catalog's rows wherever the slowing leaves a row's speed
    as it is (``candidates.derived_universe``): only the blocks it slows are built for the re-plan."""

    def build() -> tuple[Catalog, CatalogTables]:
        variant = at_measured_speed(catalog)
        slow_tables = CatalogTables.from_catalog(variant)
        derived_universe(slow_tables, tables)  # the rows the slowing leaves alone: the catalog's own constants
        share(slow_tables, shared(tables))
        return variant, slow_tables

    return cached(tables, "measured-speed", build)
