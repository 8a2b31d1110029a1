"""hwplan's core: domain objects, the performance model, the search and the levers.

Pure functions and frozen dataclasses; no I/O. It takes a ``Catalog`` object, it never loads one.

Subpackages, in the order data flows through them (docs/design.md draws it):

- ``planner.model``        memory, step time, the three measurement scenarios, queueing, simulation
- ``planner.levers``       quality estimates, adaptation choices, fine-tuning cost
- ``planner.search``       candidates -> screen -> SLO capacity -> branch and bound -> rank -> explain
- ``planner.calibration``  predict measurements, fit efficiencies, validation errors
- ``planner.fleet``        many workloads over months: availability, schedules, shared pools, sweeps

The root holds what all of them share: ``domain`` (catalog entries), ``workload`` (what a plan is
for), ``errors`` (the exception tree), ``memo`` (per-object caches) and ``measured_speed`` (the
catalog at the speed measured runs reached where slower than predicted: estimates and plans read it).
Importing ``planner`` loads only the first four (no numpy, no solver), so a command that needs the
catalog alone starts fast.
"""

from planner.domain import Catalog, Efficiency, Hardware, Model, Precision, Runtime
from planner.errors import CatalogError, InfeasibleError, InputError, PlannerError, SolverTimeoutError
from planner.workload import Objective, Workload

__all__ = [
    "Catalog",
    "CatalogError",
    "Efficiency",
    "Hardware",
    "InfeasibleError",
    "InputError",
    "Model",
    "Objective",
    "PlannerError",
    "Precision",
    "Runtime",
    "SolverTimeoutError",
    "Workload",
]
