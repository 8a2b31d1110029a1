"""What every export module shares: the error, the artifact, the plan being exported and the deploy data."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.errors import InputError

if TYPE_CHECKING:
    from hardware_catalog.outputs import PlanOut
    from planner.domain import Catalog
    from planner.workload import Workload

__all__ = ["Artifact", "ExportError", "deploy_data"]


class ExportError(InputError):
    """The plan cannot be expressed in this format (the message says why)."""


@dataclass(frozen=True)
class Artifact:
    name: str  # file name
    content: str
    media_type: str


@functools.cache
def deploy_data() -> dict[str, Any]:
    from hardware_catalog.files import default_catalog_dir, read_yaml

    data: dict[str, Any] = read_yaml(default_catalog_dir() / "deploy" / "deploy.yaml")
    return data


@dataclass(frozen=True)
class _Ctx:
    plan: PlanOut
    catalog: Catalog
    workload: Workload | None  # the planner's (hardware_catalog.inputs.workload.to_workload): its traffic


