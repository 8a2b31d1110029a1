"""hwplan's core: domain objects, the vectorised performance model, queueing and the planner.

Pure functions and frozen dataclasses; no I/O. It takes a ``Catalog`` object, it never loads one.
"""

from planner.domain import Catalog, Efficiency, Hardware, Model, Precision, Runtime
from planner.errors import CatalogError, InfeasibleError, InputError, PlannerError, SolverTimeoutError
from planner.estimate import Config, Estimate, Scenario, estimate, resolve

__all__ = [
    "Catalog",
    "CatalogError",
    "Config",
    "Efficiency",
    "Estimate",
    "Hardware",
    "InfeasibleError",
    "InputError",
    "Model",
    "PlannerError",
    "Precision",
    "Runtime",
    "Scenario",
    "SolverTimeoutError",
    "estimate",
    "resolve",
]
