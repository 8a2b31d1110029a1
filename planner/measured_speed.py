"""The catalog at the speed measured runs reached where they were slower than predicted.

An entry of measured_bias.yaml (``planner.calibration.measured_bias``) with a throughput median below 1
says the performance model is optimistic there: a model's entry for that model (and the catalog's models
of the same architecture) on a runtime, on any chip; a chip's entry (runs of several models that miss
alike) for every model on that chip and runtime. ``at_measured_speed`` is the catalog with the rows of
every such entry at its median speed (``Calibration.slowed``, read by ``planner.model.grid.CatalogTables``:
each row's fractions of peak times the median and its fixed costs over it, so each pass of the roofline
takes 1 / median as long; the runtime's serving iteration cost, a per-runtime figure, is left as it is; a
row several entries reach runs at the slowest, since they may share runs). A plan is re-planned on it
(``planner.search.measured_replan``) and an estimate evaluated again on it (``planner.model.estimate``).

Only throughput entries: a TPOT or SLO-capacity ratio is not a speed (it moves with the load its run was
at). Only those below 1: what a figure risks, not a saving it may have missed.
"""

from __future__ import annotations

import weakref
from collections.abc import Collection
from dataclasses import replace

from planner.domain import Catalog, MeasuredBias
from planner.memo import cached

__all__ = ["Scope", "at_measured_speed", "origin", "origin_serving", "scopes", "slowing_entries", "slowing_for",
           "slows"]

Scope = tuple[str | None, str | None, str]  # (model, hardware, runtime) as ``Calibration.slowed`` keys them


def slows(entry: MeasuredBias) -> bool:
    """Whether ``entry``'s runs reached less throughput than predicted (the entries the what-if slows)."""
    return entry.metric == "throughput" and 0.0 < entry.median < 1.0


def slowing_entries(catalog: Catalog) -> tuple[MeasuredBias, ...]:
    """The catalog's entries that ``slows``."""
    return tuple(b for b in catalog.measured_bias if slows(b))


def slowing_for(catalog: Catalog, model_id: str, runtime_id: str, hardware: Collection[str]
                ) -> tuple[MeasuredBias, ...]:
    """The ``slowing_entries`` that apply to ``model_id`` on ``runtime_id`` on ``hardware``
    (``Catalog.measured_for``)."""
    return tuple(b for b in catalog.measured_for(model_id, runtime_id, hardware) if slows(b))


def scopes(catalog: Catalog, entry: MeasuredBias) -> list[Scope]:
    """The rows ``entry`` slows, as ``Catalog.measured_for`` applies it: a chip's entry every model on its chips
    and runtime, a model's entry each catalog model it applies to (the same architecture) on its runtime."""
    if entry.model is None:
        return [(None, hardware, entry.runtime) for hardware in entry.hardware]
    return [(m, None, entry.runtime) for m in catalog.models if entry in catalog.measured_for(m, entry.runtime)]


def at_measured_speed(catalog: Catalog) -> Catalog:
    """The catalog with the rows of every ``slowing_entries`` entry at its median speed (kept with the catalog,
    ``planner.memo``: one object, so that what is kept with it, its tables, is built once)."""

    def build() -> Catalog:
        slowed: dict[Scope, float] = {}
        for b in slowing_entries(catalog):
            for scope in scopes(catalog, b):
                slowed[scope] = min(slowed.get(scope, 1.0), b.median)
        variant = replace(catalog, calibration=catalog.calibration.slowed_to(slowed),
                          version=f"{catalog.version}+measured-speed")
        # weakly: the variant is kept with the catalog (planner.memo), so a strong reference back would keep both
        cached(variant, _ORIGIN, lambda: weakref.ref(catalog))
        return variant

    return cached(catalog, "at-measured-speed", build)


_ORIGIN = "measured-speed-origin"


def origin(catalog: Catalog) -> Catalog | None:
    """The catalog ``catalog`` is ``at_measured_speed`` of (None: it is no such what-if, or that one is gone).
    The two differ in their calibration's ``slowed`` speeds alone: what reads no serving speed (a training
    option's cost without a teacher, ``planner.levers.adaptation``) is the same on both."""
    ref = cached(catalog, _ORIGIN, lambda: None)
    return None if ref is None else ref()


def origin_serving(catalog: Catalog, model: str, hardware: str | None = None) -> Catalog | None:
    """``origin(catalog)`` where no scope of its slowing reaches ``model`` served on ``hardware`` (None: on any
    chip): no model entry names it and no chip entry names the chip (any chip entry, for any chip). There its
    rows run at speed 1, so an estimate of it is the origin's; elsewhere None (estimate on ``catalog``)."""
    base = origin(catalog)
    if base is None:
        return None
    for m, h, _runtime in catalog.calibration.slowed:
        if m == model or (m is None and (hardware is None or h == hardware)):
            return None
    return base
