"""A CP-SAT model written as its protocol buffer's text, solved by OR-Tools' C++ solver.

``ortools.sat.python.cp_model`` imports pandas at module level (~1 s of a fresh process's first
search, more than the search itself); its C++ binding ``cp_model_helper`` does not. The replica-mix
model (``planner.search.mix.solver``) needs integer variables, linear constraints (optionally enforced
by a literal), one min-equality, a linear objective and a hint: this writes them in the canonical
form ``cp_model`` would (terms merged by variable, sorted by index, zero coefficients dropped;
open bounds at the int64 limits; a min as the max of negations), so the solver sees the same model.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from planner.search.stop import interrupting

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
    """Variables are their indices; a negated literal is ``-index - 1`` (as in the proto).

    The model is written as protobuf text and parsed once, by ``to_proto``: one C++ parse instead of a
    Python-to-C++ call per field (a replica-mix model of ~50 options took ~2,000 of them, ~1 ms)."""

    def __init__(self) -> None:
        self._variables: list[str] = []
        self._constraints: list[str] = []
        self._objective = ""
        self._hint: tuple[list[int], list[int]] = ([], [])

    def new_int_var(self, lower: int, upper: int, name: str) -> int:
        self._variables.append(f"variables {{ name: {_quoted(name)} domain: [{lower}, {upper}] }}")
        return len(self._variables) - 1

    def linear(self, terms: Iterable[tuple[int, int]], *, lower: int = _INT64_MIN, upper: int = _INT64_MAX,
               enforced_by: int | None = None) -> None:
        """lower <= sum coefficient x variable <= upper (only where ``enforced_by`` holds, when given)."""
        variables, coefficients = _canonical(terms)
        enforcement = "" if enforced_by is None else f"enforcement_literal: {enforced_by} "
        self._constraints.append(f"constraints {{ {enforcement}linear {{ {_repeated('vars', variables)}"
                                 f"{_repeated('coeffs', coefficients)}domain: [{lower}, {upper}] }} }}")

    def min_equality(self, target: int, variable: int, constant: int) -> None:
        """target == min(variable, constant), written as -target == max(-variable, -constant)."""
        self._constraints.append(f"constraints {{ lin_max {{ target {{ vars: {target} coeffs: -1 }} "
                                 f"exprs {{ vars: {variable} coeffs: -1 }} exprs {{ offset: {-constant} }} }} }}")

    def minimize(self, terms: Iterable[tuple[int, int]]) -> None:
        variables, coefficients = _canonical(terms)
        self._objective = (f"objective {{ {_repeated('vars', variables)}{_repeated('coeffs', coefficients)}"
                           "scaling_factor: 1 }")

    def hint(self, variable: int, value: int) -> None:
        self._hint[0].append(variable)
        self._hint[1].append(value)

    def to_proto(self) -> Any:
        """The model as a ``CpModelProto`` (its text parsed anew: built once per solve)."""
        proto = _helper().CpModelProto()
        hint = (f"solution_hint {{ {_repeated('vars', self._hint[0])}{_repeated('values', self._hint[1])}}}"
                if self._hint[0] else "")
        if not proto.parse_text_format("\n".join([*self._variables, *self._constraints, self._objective, hint])):
            raise ValueError("the replica-mix model's text did not parse")  # a bug here, never bad input
        return proto

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
        with interrupting(wrapper.stop_search) as stopped_already:  # (the client has gone: planner.search.stop)
            if stopped_already:
                parameters.max_time_in_seconds = 0.0
            wrapper.set_parameters(parameters)
            response = wrapper.solve(self.to_proto())
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


def _repeated(field: str, values: list[int]) -> str:
    """A repeated integer field in protobuf text (nothing when empty)."""
    return f"{field}: [{', '.join(map(str, values))}] " if values else ""


def _quoted(name: str) -> str:
    """A protobuf text string literal."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
