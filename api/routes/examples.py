"""GET /v1/examples: the example workloads shipped with hwplan (copies of the repo's examples/,
kept identical by tests/test_web.py), for the web page's "example" picker."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, Path
from pydantic import BaseModel

from api.errors import NotFound
from api.schemas import ID_PATTERN
from hardware_catalog.inputs.workload import WorkloadIn

__all__ = ["EXAMPLES", "router"]

router = APIRouter(prefix="/v1/examples", tags=["examples"])
EXAMPLES = resources.files("api") / "static" / "examples"

ExampleName = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="File name without .yaml.")]


class ExampleSummary(BaseModel):
    name: str  # the file name without .yaml: the id to GET
    workload: str  # the workload's own name
    description: str  # the file's leading comment


def _description(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return " ".join(lines)


@cache
def _examples() -> dict[str, tuple[ExampleSummary, WorkloadIn]]:
    """Read and validate every shipped example once (package data never changes in a process)."""
    out: dict[str, tuple[ExampleSummary, WorkloadIn]] = {}
    for item in sorted(EXAMPLES.iterdir(), key=lambda i: i.name):
        if not item.name.endswith(".yaml"):
            continue
        text = item.read_text(encoding="utf-8")
        workload = WorkloadIn.model_validate(yaml.safe_load(text))
        name = item.name.removesuffix(".yaml")
        out[name] = (ExampleSummary(name=name, workload=workload.name, description=_description(text)),
                     workload)
    return out


@router.get("", summary="List the example workloads")
def list_examples() -> list[ExampleSummary]:
    return [summary for summary, _ in _examples().values()]


@router.get("/{name}", summary="One example workload, as a POST /v1/plans body",
            response_model=WorkloadIn, response_model_exclude_unset=True)
def get_example(name: ExampleName) -> Any:
    found = _examples().get(name)
    if found is None:
        raise NotFound(f"no example {name!r}", field="name")
    return found[1]
