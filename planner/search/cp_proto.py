"""A CP-SAT model written straight into its protocol buffer, solved by OR-Tools' C++ solver.

``ortools.sat.python.cp_model`` imports pandas at module level (~1 s of a fresh process's first
search, more than the search itself); its C++ binding ``cp_model_helper`` does not. The replica-mix
model (``planner.search.solver``) needs integer variables, linear constraints (optionally enforced
by a literal), one min-equality, a linear objective and a hint: this writes them in the canonical
form ``cp_model`` would (terms merged by variable, sorted by index, zero coefficients dropped;
open bounds at the int64 limits; a min as the max of negations), so the solver sees the same model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["ProtoModel", "Solved"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


@functools.cache
def _helper() -> Any:
    """``ortools.sat.python.cp_model_helper``, imported on the first model (~0.3 s)."""
    from ortools.sat.python import cp_model_helper

    return cp_model_helper


@dataclass(frozen=True)
class Solved:
    status: str  # OPTIMAL | FEASIBLE | INFEASIBLE | UNKNOWN | MODEL_INVALID
    values: tuple[int, ...]  # per variable, in creation order (empty without a solution)


class ProtoModel:
    """Variables are their indices; a negated literal is ``-index - 1`` (as in the proto)."""

    def __init__(self) -> None:
        self.proto = _helper().CpModelProto()

    def new_int_var(self, lower: int, upper: int, name: str) -> int:
        var = self.proto.variables.add()
        var.name = name
        var.domain.extend([lower, upper])
        return len(self.proto.variables) - 1

    def linear(self, terms: Iterable[tuple[int, int]], *, lower: int = _INT64_MIN, upper: int = _INT64_MAX,
               enforced_by: int | None = None) -> None:
        """lower <= sum coefficient x variable <= upper (only where ``enforced_by`` holds, when given)."""
        ct = self.proto.constraints.add()
        if enforced_by is not None:
            ct.enforcement_literal.append(enforced_by)
        variables, coefficients = _canonical(terms)
        ct.linear.vars.extend(variables)
        ct.linear.coeffs.extend(coefficients)
        ct.linear.domain.extend([lower, upper])

    def min_equality(self, target: int, variable: int, constant: int) -> None:
        """target == min(variable, constant), written as -target == max(-variable, -constant)."""
        lin_max = self.proto.constraints.add().lin_max
        lin_max.target.vars.append(target)
        lin_max.target.coeffs.append(-1)
        first = lin_max.exprs.add()
        first.vars.append(variable)
        first.coeffs.append(-1)
        lin_max.exprs.add().offset = -constant

    def minimize(self, terms: Iterable[tuple[int, int]]) -> None:
        variables, coefficients = _canonical(terms)
        self.proto.objective.vars.extend(variables)
        self.proto.objective.coeffs.extend(coefficients)
        self.proto.objective.scaling_factor = 1.0

    def hint(self, variable: int, value: int) -> None:
        self.proto.solution_hint.vars.append(variable)
        self.proto.solution_hint.values.append(value)

    def solve(self, *, time_limit_s: float, workers: int, seed: int, presolve: bool = True) -> Solved:
        """Solve with the given limits (``presolve`` False: no presolve, probing or symmetry detection)."""
        cmh = _helper()
        parameters = cmh.SatParameters()
        parameters.max_time_in_seconds = time_limit_s
        parameters.num_workers = workers
        parameters.random_seed = seed
        if not presolve:
            parameters.cp_model_presolve = False
            parameters.cp_model_probing_level = 0
            parameters.symmetry_level = 0
        wrapper = cmh.SolveWrapper()
        wrapper.set_parameters(parameters)
        response = wrapper.solve(self.proto)
        status = response.status.name
        found = status in ("OPTIMAL", "FEASIBLE")
        return Solved(status=status, values=tuple(int(v) for v in response.solution) if found else ())


def _canonical(terms: Iterable[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Terms merged by variable, sorted by index, zero coefficients dropped (``cp_model``'s form)."""
    merged: dict[int, int] = {}
    for variable, coefficient in terms:
        merged[variable] = merged.get(variable, 0) + int(coefficient)
    variables = sorted(v for v, c in merged.items() if c)
    return variables, [merged[v] for v in variables]
