"""What the plans cost if a chip runs as slowly as its measured runs: the workload re-planned at that speed.

A chip's entry of measured_bias.yaml (``planner.calibration.measured_bias``: runs of several models on one
chip and runtime that miss alike) with a throughput median below 1 says the performance model is
optimistic for that pair whatever the model: its replicas carry less than the plans say. The plans keep
the prediction, which is what the calibration gives, and say so (``Plan.measured``); ``measured_replan``
gives the consequence in money. Where plan 1 runs on such a pair, the workload is planned again with
every such pair of the catalog slowed to its entry's median (``Calibration.slowed``,
``Efficiency.slowed``: each pass of the roofline 1 / median as long; the runtime's serving iteration
cost, a per-runtime figure, is left as it is), and the best plan found is reported beside the plans: the
same chip with more replicas, another chip, or nothing. Where plan 1 runs on no such pair there is
nothing to re-plan: slowing other pairs only takes capacity from other plans, so plan 1 stays the best.

Only chip entries of throughput: a model's own entry would slow one model on a runtime, which the
efficiencies (per chip and runtime) cannot express, and a TPOT or SLO-capacity ratio is not a speed (it
moves with the load its run was at). Only those below 1: the re-plan shows the risk a plan carries,
not a saving it may have missed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from planner.domain import Catalog, MeasuredBias
from planner.memo import cached
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.results import Plan
from planner.workload import Objective, Workload

__all__ = ["MeasuredReplan", "measured_replan", "slowed_catalog", "slowing_entries"]

TablesFor = Callable[[Catalog], CatalogTables]  # a catalog's tables, as the caller builds them (with its caches)


@dataclass(frozen=True)
class MeasuredReplan:
    """The best plan with every measured-slow chip and runtime at its measured speed."""

    slowed: tuple[MeasuredBias, ...]  # the entries plan 1 runs on (the re-plan slows every such entry)
    plan: Plan | None  # None: no plan fits at those speeds (or none was found in time: complete False)
    complete: bool  # false: the re-plan stopped at the deadline (its plan is unproven)


def slowing_entries(catalog: Catalog) -> tuple[MeasuredBias, ...]:
    """The catalog's chip entries whose runs reached less throughput than predicted."""
    return tuple(b for b in catalog.measured_bias
                 if b.model is None and b.metric == "throughput" and 0.0 < b.median < 1.0)


def measured_replan(catalog: Catalog, w: Workload, plans: Sequence[Plan], *, objective: Objective = Objective.COST,
                    time_limit_s: float = 10.0, tables_for: TablesFor = CatalogTables.from_catalog
                    ) -> MeasuredReplan | None:
    """The workload re-planned with every ``slowing_entries`` pair at its measured speed, within
    ``time_limit_s`` (the caller's time left); None where ``plans`` is empty or its first runs on no such pair.
    ``tables_for``: how ``slowed_catalog`` builds the slowed catalog's tables."""
    if not plans:
        return None
    entries = slowing_entries(catalog)
    used = {(hardware, plans[0].runtime) for hardware in plans[0].hardware_types}
    applied = tuple(b for b in entries if any((hardware, b.runtime) in used for hardware in b.hardware))
    if not applied:
        return None
    variant, tables = slowed_catalog(catalog, tables_for)
    result = plan(w, variant, top=1, objective=objective, time_limit_s=max(time_limit_s, 0.05), tables=tables,
                  explain=False)
    best = result.plans[0] if result.plans else None
    if best is not None:  # (its capacity is at the measured speed already: the entries' lines would say otherwise)
        best = replace(best, measured=tuple(m for m in best.measured if m not in entries))
    return MeasuredReplan(slowed=applied, plan=best, complete=result.search.solver_status != "TIME_LIMIT")


def slowed_catalog(catalog: Catalog, tables_for: TablesFor = CatalogTables.from_catalog
                   ) -> tuple[Catalog, CatalogTables]:
    """The catalog with every ``slowing_entries`` pair at its measured speed, and its tables (``tables_for``
    of the first call builds them): kept with the catalog (``planner.memo``), so that a service's later
    requests reuse them and the Universe blocks their plans filled."""

    def build() -> tuple[Catalog, CatalogTables]:
        pairs = {(hardware, b.runtime): (b.median, f"{b.records} runs of {', '.join(b.models)} on {b.file}")
                 for b in slowing_entries(catalog) for hardware in b.hardware}
        variant = replace(catalog, calibration=catalog.calibration.slowed_to(pairs),
                          version=f"{catalog.version}+measured-speed")
        return variant, tables_for(variant)

    return cached(catalog, "measured-speed", build)
