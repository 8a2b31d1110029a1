"""The workload file (YAML or JSON body): pydantic schema and conversion to planner.workload."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_catalog.loader import read_yaml, validate_file
from planner.domain import PRICING_MODES
from planner.workload import (
    Availability,
    Budget,
    Constraints,
    Quality,
    Slo,
    Tokens,
    Traffic,
    Workload,
)

__all__ = ["AvailabilityIn", "GrowthIn", "WorkloadIn", "load_workload", "to_workload"]

# Numbers are strict (no true for 1, no "12" for 12) and bounded, so no body reaches the solver's
# integer scaling with a value it cannot hold (money in USD; see planner.search.solver.COST_SCALE).
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
LatencyMs = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
Money = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True)]
Names = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)]
Pct = Literal["p50", "p90", "p95", "p99"]
Adaptation = Literal["none", "lora", "qlora", "full", "distill"]
Pricing = Literal["on_demand", "spot", "reserved_1y", "reserved_3y", "owned"]
assert set(PRICING_MODES) == set(get_args(Pricing))  # one list of pricing modes


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokensIn(_Strict):
    mean: Annotated[float, Field(ge=1, le=10_000_000, allow_inf_nan=False, strict=True)]
    p95: Annotated[float, Field(ge=1, le=10_000_000, allow_inf_nan=False, strict=True)] | None = None

    @model_validator(mode="after")
    def _p95_not_below_mean(self) -> TokensIn:
        if self.p95 is not None and self.p95 < self.mean:
            raise ValueError("p95 must be at least the mean")
        return self


Multiplier = Annotated[float, Field(ge=0, le=1000, allow_inf_nan=False, strict=True)]


class GrowthIn(_Strict):
    """Demand growth over the horizon: a compound rate per month, or one multiplier per month."""

    monthly_rate: Annotated[float, Field(ge=-0.5, le=10, allow_inf_nan=False, strict=True)] | None = None
    months: Annotated[int, Field(ge=1, le=120, strict=True)] = 12
    multipliers: Annotated[list[Multiplier], Field(min_length=1, max_length=120)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> GrowthIn:
        if (self.monthly_rate is None) == (self.multipliers is None):
            raise ValueError("give exactly one of monthly_rate and multipliers")
        return self

    def per_month(self) -> tuple[float, ...]:
        if self.multipliers is not None:
            return tuple(self.multipliers)
        rate = self.monthly_rate or 0.0
        return tuple((1 + rate) ** m for m in range(self.months))  # month 1 at today's demand


class AvailabilityIn(_Strict):
    min_replicas: Annotated[int, Field(ge=1, le=10_000, strict=True)] = 1
    spare: Annotated[int, Field(ge=0, le=100, strict=True)] = 0
    zones: Annotated[int, Field(ge=1, le=16, strict=True)] = 1
    max_utilization: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)] = 1.0


class TrafficIn(_Strict):
    requests_per_s: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)]
    peak_requests_per_s: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)] | None = None
    input_tokens: TokensIn
    output_tokens: TokensIn
    # hourly shape over a day (24 values) or a week (168), multipliers of requests_per_s
    profile: Annotated[list[Multiplier], Field(min_length=24, max_length=168)] | None = None
    growth: GrowthIn | None = None

    @model_validator(mode="after")
    def _profile_day_or_week(self) -> TrafficIn:
        if self.profile is not None and len(self.profile) not in (24, 168):
            raise ValueError("profile must have 24 (a day) or 168 (a week) hourly values")
        return self

    @model_validator(mode="after")
    def _peak_not_below_average(self) -> TrafficIn:
        if self.peak_requests_per_s is not None and self.peak_requests_per_s < self.requests_per_s:
            raise ValueError("peak_requests_per_s must be at least requests_per_s")
        return self


class SloIn(_Strict):
    ttft_ms: dict[Pct, LatencyMs] | None = None
    tpot_ms: dict[Pct, LatencyMs] | None = None
    e2e_ms: dict[Pct, LatencyMs] | None = None


class BudgetIn(_Strict):
    max_cost_per_month: Money | None = None
    max_cost_per_million_tokens: Money | None = None
    max_one_time_cost: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)] | None = None
    horizon_months: Annotated[float, Field(gt=0, le=120, allow_inf_nan=False, strict=True)] = 12


class QualityIn(_Strict):
    min_score: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)] | None = None
    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)] = "general"
    adaptation_tokens: Annotated[float, Field(gt=0, le=1e13, allow_inf_nan=False, strict=True)] | None = None
    # which end of the quality range meets min_score; omitted: "low" for adapted or distilled
    # models (wide ranges), "central" for unadapted ones
    confidence: Literal["central", "low"] | None = None
    task_type: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)] | None = None


class ConstraintsIn(_Strict):
    hardware: Names | None = None
    exclude_hardware: Names = []
    models: Names | None = None
    precisions: Names | None = None
    kv_precisions: Names | None = None
    runtimes: Names | None = None
    adaptations: list[Adaptation] | None = None
    max_chips_per_replica: Annotated[int, Field(ge=1, le=256, strict=True)] = 8
    max_hardware_types: Annotated[int, Field(ge=1, le=4, strict=True)] = 2
    quotas: Annotated[dict[str, Annotated[int, Field(ge=0, le=10**7, strict=True)]], Field(max_length=1000)] = {}
    pricing: Pricing = "on_demand"


class WorkloadIn(_Strict):
    """A workload as written in a file or a request body."""

    name: Annotated[str, Field(min_length=1, max_length=100)] = "workload"
    traffic: TrafficIn
    slo: SloIn = SloIn()
    budget: BudgetIn = BudgetIn()
    quality: QualityIn = QualityIn()
    constraints: ConstraintsIn = ConstraintsIn()
    availability: AvailabilityIn = AvailabilityIn()


def _tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def to_workload(w: WorkloadIn) -> Workload:
    t, c = w.traffic, w.constraints
    targets = {metric: {int(p[1:]): v for p, v in limits.items()}
               for metric, limits in w.slo.model_dump().items() if limits}
    return Workload(
        name=w.name,
        traffic=Traffic(
            requests_per_s=t.requests_per_s,
            peak_requests_per_s=t.peak_requests_per_s,
            input_tokens=Tokens(t.input_tokens.mean, t.input_tokens.p95),
            output_tokens=Tokens(t.output_tokens.mean, t.output_tokens.p95),
            profile=tuple(t.profile or ()), growth=t.growth.per_month() if t.growth else (),
        ),
        slo=Slo(targets=targets),
        budget=Budget(**w.budget.model_dump()),
        quality=Quality(**w.quality.model_dump()),
        constraints=Constraints(
            hardware=_tuple(c.hardware), exclude_hardware=tuple(c.exclude_hardware),
            models=_tuple(c.models), precisions=_tuple(c.precisions),
            kv_precisions=_tuple(c.kv_precisions), runtimes=_tuple(c.runtimes),
            adaptations=_tuple(c.adaptations), max_chips_per_replica=c.max_chips_per_replica,
            max_hardware_types=c.max_hardware_types, quotas=dict(c.quotas), pricing=c.pricing,
        ),
        availability=Availability(**w.availability.model_dump()),
    )


def load_workload(path: Path | str) -> Workload:
    """Read and validate a workload file; errors name the file and field."""
    data: Any = read_yaml(Path(path))
    return to_workload(validate_file(WorkloadIn, data, file=str(path)))
