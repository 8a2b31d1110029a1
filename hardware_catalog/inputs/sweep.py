"""The sweep file: a base workload or fleet (a file next to it) and the axes to vary.

    name: chatbot-what-if
    workload: ../support-chatbot.yaml    # or  fleet: fleet.yaml
    axes:
      traffic_scale: [0.5, 1, 2, 4]
      price_scale: [0.7, 1.0]
      slo_scale: [1.0, 0.5]
      exclude_hardware: [[], [h100-sxm]]
      models: [null, [llama-3.1-8b]]
    time_limit_s: 10
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_catalog.files import read_yaml, validate_file
from hardware_catalog.inputs.fleet import load_fleet
from hardware_catalog.inputs.workload import Title, load_workload
from planner.errors import InputError
from planner.fleet import Fleet
from planner.fleet.sweep import Sweep
from planner.workload import Workload

__all__ = ["AxesIn", "SweepIn", "load_sweep", "load_sweep_with_prices"]

Scale = Annotated[float, Field(gt=0, le=1000, allow_inf_nan=False)]
Ids = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=200)]
Values = Annotated[list[Any], Field(min_length=1, max_length=10_000)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AxesIn(_Strict):
    traffic_scale: Annotated[list[Scale], Field(min_length=1, max_length=10_000)] | None = None
    price_scale: Annotated[list[Scale], Field(min_length=1, max_length=10_000)] | None = None
    slo_scale: Annotated[list[Scale], Field(min_length=1, max_length=10_000)] | None = None
    exclude_hardware: Annotated[list[Ids], Field(min_length=1, max_length=1000)] | None = None
    # a models value lists at least one (an empty list read as any model, where a workload refuses it)
    models: Annotated[list[Annotated[Ids, Field(min_length=1)] | None], Field(min_length=1, max_length=1000)] | None \
        = None


class SweepIn(_Strict):
    name: Title = "sweep"
    workload: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    fleet: Annotated[str, Field(min_length=1, max_length=500)] | None = None
    axes: AxesIn
    time_limit_s: Annotated[float, Field(gt=0, le=600, allow_inf_nan=False)] = 10.0

    @model_validator(mode="after")
    def _one_base(self) -> SweepIn:
        if (self.workload is None) == (self.fleet is None):
            raise ValueError("give exactly one of workload and fleet")
        return self


def load_sweep(path: Path | str) -> Sweep:
    """Read a sweep file and its base; errors name the file and field."""
    return load_sweep_with_prices(path)[0]


def load_sweep_with_prices(path: Path | str) -> tuple[Sweep, str]:
    """``load_sweep`` and where a fleet base takes its per-mode prices ("catalog" or "price_book")."""
    path = Path(path)
    s = validate_file(SweepIn, read_yaml(path), file=str(path))
    ref = s.workload or s.fleet or ""
    base_path = path.parent / ref
    if not base_path.is_file():
        raise InputError(f"{path}: {ref!r} not found", field="workload" if s.workload else "fleet")
    source = "catalog"
    if s.workload:
        base: Workload | Fleet = load_workload(base_path)
    else:
        base, raw = load_fleet(base_path)
        source = raw.prices
    axes: dict[str, tuple[Any, ...]] = {}
    for name, values in s.axes.model_dump().items():
        if values is not None:
            axes[name] = tuple(tuple(v) if isinstance(v, list) else v for v in values)
    if isinstance(base, Workload) and base.constraints.pricing.mode == "owned" and \
            any(k != 1.0 for k in axes.get("price_scale", ())):
        raise InputError(f"{path}: price_scale scales rented prices (the price book and a price sheet), and "
                         f"{ref!r} prices its chips as owned (constraints.pricing), whose cost no offer sets: every "
                         "row would read the same; vary the owned inputs in the workload instead",
                         field="axes.price_scale")
    return Sweep(name=s.name, base=base, axes=axes, time_limit_s=s.time_limit_s), source
