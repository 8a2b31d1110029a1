"""What the plans cost if they run as slowly as measured runs did: the workload re-planned at that speed.

An entry of measured_bias.yaml (``planner.calibration.measured_bias``) with a throughput median below 1
says the performance model is optimistic there: a model's entry for that model (and the catalog's
models of the same architecture) on a runtime, a chip's entry (runs of several models that miss alike)
for every model on that chip and runtime. Replicas there carry less than the plans say. The plans keep the
prediction, which is what the calibration gives, and say so (``Plan.measured``); ``measured_replan``
gives the consequence in money. Where plan 1 carries such an entry, the workload is planned again with
the rows of every such entry of the catalog at its median speed (``Calibration.slowed``, read by
``planner.model.grid.CatalogTables``: each row's fractions of peak times the median and its fixed costs
over it, so each pass of the roofline takes 1 / median as long; the runtime's serving iteration cost,
a per-runtime figure, is left as it is), and the best plan found is reported beside the plans: the same
configuration with more replicas, another one, or nothing. Where plan 1 carries none there is nothing
to re-plan: slowing other rows only takes capacity from other plans, so plan 1 stays the best.

Only throughput entries: a TPOT or SLO-capacity ratio is not a speed (it moves with the load its run
was at). Only those below 1: the re-plan shows the risk a plan carries, not a saving it may have missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from planner.domain import Catalog, MeasuredBias
from planner.memo import cached
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.results import Plan
from planner.search.shapes.answers import share, shared
from planner.workload import Objective, Workload

__all__ = ["MeasuredReplan", "measured_replan", "slowed_catalog", "slowing_entries"]

Scope = tuple[str | None, str | None, str]  # (model, hardware, runtime) as ``Calibration.slowed`` keys them


@dataclass(frozen=True)
class MeasuredReplan:
    """The best plan with every measured-slow model, chip and runtime at its measured speed."""

    slowed: tuple[MeasuredBias, ...]  # the entries plan 1 carries (the re-plan slows every such entry)
    plan: Plan | None  # None: no plan fits at those speeds (or none was found in time: complete False)
    complete: bool  # false: the re-plan stopped at the deadline (its plan is unproven)


def slowing_entries(catalog: Catalog) -> tuple[MeasuredBias, ...]:
    """The catalog's entries whose runs reached less throughput than predicted."""
    return tuple(b for b in catalog.measured_bias if b.metric == "throughput" and 0.0 < b.median < 1.0)


def scopes(catalog: Catalog, entry: MeasuredBias) -> list[Scope]:
    """The rows ``entry`` slows, as ``Catalog.measured_for`` applies it: a chip's entry every model on its chips
    and runtime, a model's entry each catalog model it applies to (the same architecture) on its runtime."""
    if entry.model is None:
        return [(None, hardware, entry.runtime) for hardware in entry.hardware]
    return [(m, None, entry.runtime) for m in catalog.models if entry in catalog.measured_for(m, entry.runtime)]


def measured_replan(catalog: Catalog, w: Workload, plans: Sequence[Plan], *, objective: Objective = Objective.COST,
                    time_limit_s: float = 10.0, tables: CatalogTables | None = None) -> MeasuredReplan | None:
    """The workload re-planned with the rows of every ``slowing_entries`` entry at its measured speed, within
    ``time_limit_s`` (the caller's time left); None where ``plans`` is empty or its first carries no such
    entry. ``tables``: the catalog's, whose capacity answers the re-plan shares (``slowed_catalog``)."""
    if not plans:
        return None
    entries = slowing_entries(catalog)
    top = plans[0]
    applied = tuple(b for b in catalog.measured_for(top.model, top.runtime, top.hardware_types) if b in entries)
    if not applied:
        return None
    variant, slow_tables = slowed_catalog(catalog, tables)
    result = plan(w, variant, top=1, objective=objective, time_limit_s=max(time_limit_s, 0.05), tables=slow_tables,
                  explain=False)
    best = result.plans[0] if result.plans else None
    if best is not None:  # (its capacity is at the measured speed already: the entries' lines would say otherwise)
        best = replace(best, measured=tuple(m for m in best.measured if m not in entries))
    return MeasuredReplan(slowed=applied, plan=best, complete=result.search.solver_status != "TIME_LIMIT")


def slowed_catalog(catalog: Catalog, tables: CatalogTables | None = None) -> tuple[Catalog, CatalogTables]:
    """The catalog with the rows of every ``slowing_entries`` entry at its measured speed, and its tables: kept
    with the catalog (``planner.memo``), so that a service's later requests reuse them and the Universe
    blocks their plans filled.

    The slowed tables keep their capacity answers in ``tables``' store (given at the first call): an
    answer's key holds every constant of its row (``planner.search.shapes.answers``), so a row the
    slowing leaves alone is the same question with the same answer, and one the slowing reaches is another
    question. The re-plan then runs the queueing model only for slowed rows and rows the plan did not
    reach, and its answers are kept (and saved) with the catalog's."""

    def build() -> tuple[Catalog, CatalogTables]:
        slowed: dict[Scope, float] = {}
        for b in slowing_entries(catalog):  # (a row several entries reach runs at the slowest: they may share runs)
            for scope in scopes(catalog, b):
                slowed[scope] = min(slowed.get(scope, 1.0), b.median)
        variant = replace(catalog, calibration=catalog.calibration.slowed_to(slowed),
                          version=f"{catalog.version}+measured-speed")
        slow_tables = CatalogTables.from_catalog(variant)
        if tables is not None:
            share(slow_tables, shared(tables))
        return variant, slow_tables

    return cached(catalog, "measured-speed", build)
