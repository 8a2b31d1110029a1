"""The workload file (YAML or JSON body): pydantic schema and conversion to planner.workload."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hardware_catalog.loader import read_yaml, validate_file
from planner.domain import PRICING_MODES
from planner.model.queueing import LengthDist
from planner.workload import (
    Budget,
    Constraints,
    Quality,
    Slo,
    Tokens,
    Traffic,
    Workload,
)

__all__ = ["WorkloadIn", "load_workload", "to_workload"]

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


TokenCount = Annotated[float, Field(ge=1, le=10_000_000, allow_inf_nan=False, strict=True)]


class HistogramBinIn(_Strict):
    up_to: TokenCount = Field(description="upper edge of the bin in tokens (the first bin starts at 0)")
    share: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


class TokensIn(_Strict):
    """A token-length distribution: lognormal by ``mean`` and ``p95``, or an empirical ``histogram``."""

    mean: TokenCount | None = None
    p95: TokenCount | None = None
    histogram: Annotated[list[HistogramBinIn], Field(min_length=1, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _one_distribution(self) -> TokensIn:
        if self.histogram is not None:
            if self.mean is not None or self.p95 is not None:
                raise ValueError("give either mean (and p95) or a histogram, not both")
            edges = [b.up_to for b in self.histogram]
            if edges != sorted(set(edges)):
                raise ValueError("histogram bins must have strictly ascending up_to")
            if abs(sum(b.share for b in self.histogram) - 1.0) > 0.01:
                raise ValueError("histogram shares must sum to 1 (within 0.01)")
            return self
        if self.mean is None:
            raise ValueError("needs a mean (optionally with p95) or a histogram")
        if self.p95 is not None and self.p95 < self.mean:
            raise ValueError("p95 must be at least the mean")
        return self

    def to_tokens(self) -> Tokens:
        if self.histogram is not None:
            dist = LengthDist.histogram(tuple((b.up_to, b.share) for b in self.histogram))
            return Tokens(dist.mean, None, dist.knots)
        assert self.mean is not None  # the validator guarantees it
        return Tokens(self.mean, self.p95)


class TrafficIn(_Strict):
    requests_per_s: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)]
    peak_requests_per_s: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)] | None = None
    input_tokens: TokensIn
    output_tokens: TokensIn

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
            input_tokens=t.input_tokens.to_tokens(),
            output_tokens=t.output_tokens.to_tokens(),
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
    )


def load_workload(path: Path | str) -> Workload:
    """Read and validate a workload file; errors name the file and field."""
    data: Any = read_yaml(Path(path))
    return to_workload(validate_file(WorkloadIn, data, file=str(path)))
