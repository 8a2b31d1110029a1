"""The fleet file (YAML or a JSON body): pydantic schema and conversion to ``planner.fleet.Fleet``.

    name: my-fleet
    months: 12
    quotas: {h100-sxm: 64}              # chips per hardware, summed over every workload
    modes: [committed, on_demand, spot]  # how replica-hours may be bought
    committed_as: reserved_1y            # the pricing mode a commitment is priced at
    prices: catalog | price_book         # per-mode prices: as plan costs (hyperscaler market), or any market
    workloads:
      - file: chatbot.yaml               # a workload file, relative to the fleet file
      - {name: ..., traffic: ...}        # or a workload written inline
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from hardware_catalog.files import TAG, read_yaml, validate_file
from hardware_catalog.inputs.workload import Title, WorkloadIn, to_workload
from planner.domain import Catalog
from planner.economics.rates import Pricing
from planner.errors import InputError
from planner.fleet import ChipPrices, Fleet, Mode, book_prices, catalog_prices
from planner.workload import Workload

__all__ = ["FleetIn", "SharedIn", "WorkloadRef", "book_prices", "fleet_prices", "load_fleet", "to_fleet"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WorkloadRef(_Strict):
    file: Annotated[str, Field(min_length=1, max_length=500)]


def _form(value: Any) -> str:
    """A workload entry with a ``file`` key is a reference, anything else a workload written inline."""
    has_file = "file" in value if isinstance(value, dict) else isinstance(value, WorkloadRef)
    return f"{TAG}file" if has_file else f"{TAG}inline"  # (tags leave error locations: ``field_path``)


class SharedIn(_Strict):
    """Workloads served by one pool of replicas of one base model (multi-LoRA; planner.fleet.shared)."""

    name: Title
    workloads: Annotated[list[Annotated[str, Field(max_length=100)]], Field(min_length=2, max_length=50)]


class FleetIn(_Strict):
    name: Title = "fleet"
    months: Annotated[int, Field(ge=1, le=60, strict=True)] = 12
    quotas: Annotated[dict[str, Annotated[int, Field(ge=0, le=10**7, strict=True)]], Field(max_length=1000)] = {}
    modes: Annotated[list[Literal["committed", "on_demand", "spot"]], Field(min_length=1, max_length=3)] = \
        ["committed", "on_demand", "spot"]
    committed_as: Literal["reserved_1y", "reserved_3y"] = "reserved_1y"
    prices: Literal["catalog", "price_book"] = "catalog"
    periods: Annotated[int, Field(ge=1, le=24, strict=True)] = 6
    shared: Annotated[list[SharedIn], Field(max_length=50)] = []
    workloads: Annotated[list[Annotated[Annotated[WorkloadRef, Tag(f"{TAG}file")]
                                        | Annotated[WorkloadIn, Tag(f"{TAG}inline")],
                                        Discriminator(_form)]], Field(min_length=1, max_length=50)]

    @field_validator("modes")
    @classmethod
    def _carried_without_spot(cls, v: list[str]) -> list[str]:
        """Spot capacity can be taken back at any time, so the schedule carries the demand on committed or
        on-demand replicas and uses spot only above that (planner.fleet.model): spot alone has no schedule."""
        if len(set(v)) < len(v):
            raise ValueError(f"a mode is listed twice: {v}")
        if set(v) == {"spot"}:
            raise ValueError("spot alone cannot carry the demand (pre-emptible): add committed or on_demand")
        return v


def to_fleet(f: FleetIn, *, base: Path | None = None, file: str = "<body>") -> Fleet:
    """The planner's Fleet; ``file:`` references are read relative to ``base`` (None: not allowed,
    as in an API body)."""
    where = "" if file == "<body>" else f"{file}: "  # an API body's errors name the field alone
    workloads = []
    for i, ref in enumerate(f.workloads):
        if isinstance(ref, WorkloadRef):
            if base is None:
                raise InputError("workload files cannot be referenced here; write the workload inline",
                                 field=f"workloads.{i}.file")
            path = base / ref.file
            if not path.is_file():
                raise InputError(f"{where}workload file {ref.file!r} not found", field=f"workloads.{i}.file")
            data: Any = read_yaml(path)
            workloads.append(to_workload(validate_file(WorkloadIn, data, file=str(path))))
        else:
            try:
                workloads.append(to_workload(ref))
            except InputError as exc:  # (an error about a workload's field names the workload)
                raise exc.within(f"workloads.{i}") from exc
    _priced_alike(workloads, f, where)
    names = [w.name for w in workloads]
    if len(set(names)) < len(names):
        raise InputError(f"{where}workload names must differ (got {names})", field="workloads")
    seen: set[str] = set()
    for i, g in enumerate(f.shared):
        if g.name in names:  # (the schedule's rows name the pool and the workloads alike)
            raise InputError(f"{where}shared deployment {g.name!r} has a workload's name", field=f"shared.{i}.name")
        if len(set(g.workloads)) < len(g.workloads):
            raise InputError(f"{where}a workload is listed twice: {g.workloads}", field=f"shared.{i}.workloads")
        for m in g.workloads:
            if m not in names or m in seen:
                what = "is not a workload of this fleet" if m not in names else "is in two shared deployments"
                raise InputError(f"{where}{m!r} {what}", field=f"shared.{i}.workloads")
            seen.add(m)
    return Fleet(name=f.name, workloads=tuple(workloads), months=f.months, quotas=dict(f.quotas),
                 modes=frozenset(Mode(m) for m in f.modes), committed_as=f.committed_as, periods=f.periods,
                 shared=tuple((g.name, tuple(g.workloads)) for g in f.shared))


def _priced_alike(workloads: list[Workload], f: FleetIn, where: str) -> None:
    """The schedule prices every workload alike (the fleet's ``prices`` and ``modes``): a workload's own
    market, regions, sheet or owned chips would choose its plan at one price and schedule it at another."""
    for i, w in enumerate(workloads):
        if replace(w.constraints.pricing, horizon_months=None) != Pricing():  # (the horizon is the workload's own)
            raise InputError(f"{where}a fleet prices every workload alike (the fleet's prices: {f.prices} and modes: "
                             f"{', '.join(f.modes)}), so the pricing of workload {w.name!r} "
                             f"({w.constraints.pricing.label}) would be ignored; remove it from the workload, or plan "
                             "the workload alone (hwplan plan) to price it so",
                             field=f"workloads.{i}.constraints.pricing")


def load_fleet(path: Path | str) -> tuple[Fleet, FleetIn]:
    """Read and validate a fleet file; errors name the file and field."""
    path = Path(path)
    f = validate_file(FleetIn, read_yaml(path), file=str(path))
    return to_fleet(f, base=path.parent, file=str(path)), f


def fleet_prices(f: FleetIn, catalog: Catalog) -> ChipPrices:
    """``prices: catalog`` prices as plan costs do (one market, like for like); ``price_book``
    takes each chip's first market with an offer in the mode."""
    return book_prices(catalog) if f.prices == "price_book" else catalog_prices(catalog)
