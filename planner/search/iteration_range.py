"""What a plan rests on in the calibration's least identified figure: the serving iteration cost.

The queueing model charges every serving iteration a fixed cost fitted on MLPerf Server and
Interactive records (``planner.calibration.serving_fit``). The records pin it only to an interval:
the grid values whose median SLO-capacity error is within one bootstrap standard error of the best
(calibration.yaml: ``serving_iteration_interval``, pooled, and ``serving_iteration_interval_runtime``,
per runtime with records of its own). Small models, whose iterations last a few milliseconds, feel
it most: their replicas' capacity, and so the plan's replica count and cost, move with it.

``iteration_range`` re-plans the workload with every runtime's cost at the low end of its interval,
then at the high end (``Calibration.at_iteration_end``), and returns the best plan of each: the span
of monthly cost (and the plan itself, where it changes) that the records under load cannot rule out.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.domain import Catalog
from planner.memo import cached
from planner.model.grid import CatalogTables
from planner.search.planning import best_plan
from planner.search.results import Plan
from planner.workload import Objective, Workload

__all__ = ["IterationEnd", "IterationRange", "iteration_range"]


@dataclass(frozen=True)
class IterationEnd:
    """The best plan with every serving iteration cost at one end of its interval."""

    end: str  # "low" | "high"
    runtime_s: float  # the top plan's runtime's cost at this end
    plan: Plan | None  # None: no plan fits at this end (or none was found in time: complete False)
    complete: bool  # false: the re-plan stopped at its share of the deadline (the plan is unproven)


@dataclass(frozen=True)
class IterationRange:
    runtime: str  # the top plan's runtime (the figures below are its)
    fitted_s: float  # what the plans above ran with
    interval_s: tuple[float, float]  # what its records (or the pooled records) admit
    basis: str  # where the figure comes from, in words (Calibration.iteration_source)
    ends: tuple[IterationEnd, IterationEnd]  # low, high


def iteration_range(catalog: Catalog, w: Workload, top: Plan, *, objective: Objective = Objective.COST,
                    time_limit_s: float = 10.0) -> IterationRange | None:
    """The workload re-planned at each end of the serving iteration cost's interval, each in half of
    ``time_limit_s`` (the caller's time left; None: the calibration has no interval, e.g. one fitted
    before intervals were recorded or on no records under load)."""
    cal = catalog.calibration
    interval = cal.iteration_interval(top.runtime)
    if interval is None:
        return None
    ends = []
    for end, name in ((0, "low"), (1, "high")):
        variant, tables = _at_end(catalog, end, name)
        best, complete = best_plan(w, variant, tables=tables, objective=objective, time_limit_s=time_limit_s / 2.0)
        ends.append(IterationEnd(end=name, runtime_s=variant.calibration.iteration_s(top.runtime), plan=best,
                                 complete=complete))
    return IterationRange(runtime=top.runtime, fitted_s=cal.iteration_s(top.runtime), interval_s=interval,
                          basis=cal.iteration_source(top.runtime), ends=(ends[0], ends[1]))


def _at_end(catalog: Catalog, end: int, name: str) -> tuple[Catalog, CatalogTables]:
    """The catalog with every serving iteration cost at one end, and its tables: kept with the catalog
    (``planner.memo``), so that a service's later requests reuse the tables and the Universe blocks
    their plans filled rather than rebuilding them."""

    def build() -> tuple[Catalog, CatalogTables]:
        variant = replace(catalog, calibration=catalog.calibration.at_iteration_end(end),
                          version=f"{catalog.version}+iteration-{name}")
        return variant, CatalogTables.from_catalog(variant)

    return cached(catalog, ("iteration-end", end), build)
