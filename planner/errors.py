"""The domain error tree. Every error the planner raises on purpose is one of these.

    PlannerError
     +-- CatalogError        a catalog file or reference is wrong (names file, field, problem)
     +-- InputError          a request is impossible (names the field: tp > chips, batch 0, ...)
     +-- InfeasibleError     no plan meets the constraints (carries reasons and relaxations)
     +-- SolverTimeoutError  the solver ran out of time before finding any plan
     +-- StoreError          the saved-plans database cannot be used (URL, file, server)

Foreign errors (yaml, pydantic, ortools) are translated into these at one boundary with
``raise ... from exc``; the CLI maps them to exit code 2 and one line, the API to problem+json.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "CatalogError",
    "InfeasibleError",
    "InputError",
    "PlannerError",
    "SolverTimeoutError",
    "StoreError",
]


class PlannerError(Exception):
    """Base of every deliberate hwplan error."""

    title = "planner error"

    def __init__(self, message: str, *, field: str | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.detail = message if detail is None else detail  # the problem alone, without where (file, field)


class CatalogError(PlannerError):
    """A catalog file or a reference between catalog entries is invalid."""

    title = "invalid catalog"

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None) -> None:
        where = ": ".join(part for part in (file, field) if part)
        super().__init__(f"{where}: {message}" if where else message, field=field, detail=message)
        self.file = file


class InputError(PlannerError):
    """A request names an unknown id or asks for something impossible."""

    title = "invalid input"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message, field=field, detail=message)

    def within(self, prefix: str) -> InputError:
        """The same error about the part of a larger input at ``prefix`` (a fleet's ``workloads.1``)."""
        return InputError(self.detail, field=f"{prefix}.{self.field}" if self.field else prefix)


class StoreError(PlannerError):
    """The saved-plans database cannot be used (its URL, its file or its server): not the request's fault."""

    title = "plans database unavailable"


class InfeasibleError(PlannerError):
    """No deployment meets every constraint."""

    title = "infeasible"

    def __init__(self, message: str, *, reasons: list[str], relaxations: list[dict[str, Any]]):
        super().__init__(message)
        self.reasons = reasons
        self.relaxations = relaxations


class SolverTimeoutError(PlannerError):
    """The solver hit its time limit before it found any feasible plan."""

    title = "solver timeout"
