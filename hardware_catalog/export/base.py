"""What every export module shares: the error, the artifact, the plan being exported and the deploy data."""

from __future__ import annotations

import functools
import re
import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from planner.errors import InputError

if TYPE_CHECKING:
    from hardware_catalog.outputs import DeploymentOut, PlanOut
    from planner.domain import Catalog
    from planner.workload import Workload

__all__ = ["Artifact", "ExportError", "deploy_data", "shell_join"]


class ExportError(InputError):
    """The plan cannot be expressed in this format (the message says why)."""


@dataclass(frozen=True)
class Artifact:
    name: str  # file name
    content: str
    media_type: str


@functools.cache
def deploy_data() -> dict[str, Any]:
    """The shipped ``data/deploy/deploy.yaml``, from a compiled entry keyed by its bytes where one exists
    (``hardware_catalog.caching.compiled``'s format and checks), so that the plan command, which reports each
    plan's ``deploy``, reads it without the YAML parser on a warm cache, as it reads the catalog (issue #21)."""
    import hashlib
    from importlib import resources
    from pathlib import Path

    from hardware_catalog.caching import compiled
    from hardware_catalog.caching.cache_store import cache_dir, enabled

    path = Path(str(resources.files("hardware_catalog") / "data")) / "deploy" / "deploy.yaml"
    if not enabled():
        return _read_deploy(path)
    try:
        key = hashlib.sha256(b"deploy 1\n" + path.read_bytes()).hexdigest()
    except OSError:  # the loader names the file
        return _read_deploy(path)
    entry = cache_dir() / f"{key}{compiled.DEPLOY_SUFFIX}"
    data = compiled.read_entry(entry, dict)
    if data is None:
        data = _read_deploy(path)
        compiled.write_entry(cache_dir(), entry, data, suffix=compiled.DEPLOY_SUFFIX, keep=4)
    return data


def _read_deploy(path: Any) -> dict[str, Any]:
    from hardware_catalog.files import read_yaml

    data: dict[str, Any] = read_yaml(path)
    return data


@dataclass(frozen=True)
class _Ctx:
    plan: PlanOut
    catalog: Catalog
    workload: Workload | None  # the planner's (hardware_catalog.inputs.workload.to_workload): its traffic


_REFERENCE = re.compile(r"\$\{([A-Z_]+)\}")  # a ${NAME} placeholder the operator supplies (engines.PLACEHOLDERS)


def shell_join(argv: list[str]) -> str:
    """``shlex.join``, except that a ${NAME} placeholder is left for the shell to expand (in double
    quotes); shlex would single-quote it and hand the engine the literal text."""
    out = []
    for a in argv:
        parts = _REFERENCE.split(a)  # text, name, text, name, ...
        if len(parts) == 1:
            out.append(shlex.quote(a))
            continue
        out.append("".join(shlex.quote(x) if i % 2 == 0 and x else f'"${{{x}}}"' if i % 2 else ""
                           for i, x in enumerate(parts)))
    return " ".join(out)


def _sixteen_bit_shard(ctx: _Ctx, d: DeploymentOut) -> tuple[float, float]:
    """(the model's 16-bit weights per chip of the replica, a chip's usable memory), bytes."""
    hw = ctx.catalog.get_hardware(d.hardware)
    return (ctx.catalog.get_model(ctx.plan.model).params * 2.0 / max(d.tp * d.pp, 1),
            hw.memory_bytes * hw.memory_usable_fraction)
