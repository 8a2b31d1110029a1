"""The workload file (YAML or JSON body): pydantic schema and conversion to planner.workload."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
    model_validator,
)

from hardware_catalog.files import read_yaml, validate_file
from hardware_catalog.inputs.options import allows_some
from hardware_catalog.prices import PriceFile, load_price_sheet, offers_book
from planner.economics.pricing import MARKETS, PriceBook
from planner.economics.rates import PRICING_MODES, Pricing, owned_from_mapping
from planner.errors import InputError
from planner.model.load.queueing import LengthDist
from planner.workload import (
    Availability,
    Budget,
    Constraints,
    Prefix,
    Quality,
    Slo,
    Tokens,
    Traffic,
    Workload,
    lognormal_p95_problem,
)

__all__ = ["AvailabilityIn", "GrowthIn", "PricingField", "PricingIn", "Title", "WorkloadIn", "load_workload",
           "to_pricing", "to_workload", "with_sheet"]

# Numbers are strict (no true for 1, no "12" for 12) and bounded, so no body reaches the solver's
# integer scaling with a value it cannot hold (money in USD; see planner.search.mix.solver.COST_SCALE).
PosFloat = Annotated[float, Field(gt=0, allow_inf_nan=False, strict=True)]
LatencyMs = Annotated[float, Field(gt=0, le=1e9, allow_inf_nan=False, strict=True)]
Money = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True)]
Names = Annotated[list[Annotated[str, Field(max_length=100)]], Field(max_length=1000)]
Pct = Literal["p50", "p90", "p95", "p99"]
Adaptation = Literal["none", "lora", "qlora", "full", "distill"]
Mode = Literal["on_demand", "reserved_1y", "reserved_3y", "spot", "capacity_block", "owned"]
Market = Literal["hyperscaler", "neocloud", "marketplace"]
assert set(PRICING_MODES) == set(get_args(Mode)) and set(MARKETS) == set(get_args(Market))
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]
Amount = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False, strict=True)]
Region = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=40)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


TokenCount = Annotated[float, Field(ge=1, le=10_000_000, allow_inf_nan=False, strict=True)]


class HistogramBinIn(_Strict):
    up_to: TokenCount = Field(description="upper edge of the bin in tokens (the first bin starts at 1 token)")
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
        problem = None if self.p95 is None else lognormal_p95_problem(self.mean, self.p95)
        if problem is not None:
            raise ValueError(f"{problem}; describe a heavier tail as a histogram in place of mean and p95 "
                             "({histogram: [{up_to: tokens, share: fraction}, ...]})")
        return self

    def to_tokens(self) -> Tokens:
        if self.histogram is not None:
            dist = LengthDist.histogram(tuple((b.up_to, b.share) for b in self.histogram))
            return Tokens(dist.mean, None, dist.knots)
        assert self.mean is not None  # the validator guarantees it
        return Tokens(self.mean, self.p95)


class PrefixIn(_Strict):
    """Shared prompt prefix: tokens every prompt shares, and the share of requests finding them cached."""

    shared_tokens: Annotated[float, Field(ge=0, le=10_000_000, allow_inf_nan=False, strict=True)]
    hit_rate: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False, strict=True)]


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
        if self.multipliers is not None and max(self.multipliers) <= 0:
            raise ValueError("multipliers must have at least one month with traffic (every value is 0)")
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


# the least rate a workload may state: about 2.6 requests a month. A rate far below it (a subnormal 1e-310 passed
# gt=0) overflowed the search's cost per unit of demand to inf and read as "no plan"
MIN_RATE = 1e-6


class TrafficIn(_Strict):
    requests_per_s: Annotated[float, Field(ge=MIN_RATE, le=1e6, allow_inf_nan=False, strict=True)]
    peak_requests_per_s: Annotated[float, Field(ge=MIN_RATE, le=1e6, allow_inf_nan=False, strict=True)] | None = None
    input_tokens: TokensIn
    output_tokens: TokensIn
    prefix: PrefixIn | None = None
    # hourly shape over a day (24 values) or a week (168), multipliers of requests_per_s
    profile: Annotated[list[Multiplier], Field(min_length=24, max_length=168)] | None = None
    growth: GrowthIn | None = None

    @model_validator(mode="after")
    def _profile_day_or_week(self) -> TrafficIn:
        if self.profile is not None and len(self.profile) not in (24, 168):
            raise ValueError("profile must have 24 (a day) or 168 (a week) hourly values")
        if self.profile is not None and max(self.profile) <= 0:
            raise ValueError("profile must have at least one hour with traffic (every value is 0)")
        return self

    @model_validator(mode="after")
    def _peak_not_below_average(self) -> TrafficIn:
        if self.peak_requests_per_s is not None and self.peak_requests_per_s < self.requests_per_s:
            raise ValueError("peak_requests_per_s must be at least requests_per_s")
        if self.prefix is not None and self.prefix.shared_tokens >= self.input_tokens.to_tokens().mean:
            raise ValueError("prefix.shared_tokens must be below input_tokens.mean (a prompt adds new tokens)")
        return self


class SloIn(_Strict):
    ttft_ms: dict[Pct, LatencyMs] | None = None
    tpot_ms: dict[Pct, LatencyMs] | None = None
    e2e_ms: dict[Pct, LatencyMs] | None = None

    @field_validator("ttft_ms", "tpot_ms", "e2e_ms")
    @classmethod
    def _rising(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        """A lower percentile's limit above a higher one's can never bind (the percentile itself is
        lower): a swapped pair, refused rather than read as the tighter one."""
        pairs = sorted((v or {}).items(), key=lambda kv: int(kv[0][1:]))
        for (low, a), (high, b) in zip(pairs, pairs[1:], strict=False):
            if a > b:
                raise ValueError(f"{low} = {a:g} is above {high} = {b:g}: a {low} never exceeds the {high}, "
                                 "so that target can never bind (swapped?)")
        return v


class BudgetIn(_Strict):
    max_cost_per_month: Money | None = None
    max_cost_per_million_tokens: Money | None = None
    max_one_time_cost: Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)] | None = None
    horizon_months: Annotated[float, Field(gt=0, le=120, allow_inf_nan=False, strict=True)] = 12
    max_kgco2e_per_month: Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True)] | None = None


class QualityIn(_Strict):
    min_score: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)] | None = None
    # "general" (5-shot MMLU); a published benchmark some catalog model is scored on (humaneval, gsm8k, arc_c,
    # hellaswag, mbpp, mmlu_instruct, ...): only models with that score have one, and adapting claims no gain;
    # else the user's own domain task: MMLU as a stated proxy, adaptation gains from quality.yaml's evidence
    task: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)] = "general"
    adaptation_tokens: Annotated[float, Field(gt=0, le=1e13, allow_inf_nan=False, strict=True)] | None = None
    # which end of the quality range meets min_score; omitted: "low" for adapted or distilled
    # models (wide ranges), "central" for unadapted ones
    confidence: Literal["central", "low"] | None = None
    task_type: Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)] | None = None


Rule = Literal["allowed", "required", "forbidden"]


class ServingIn(_Strict):
    """Which serving features a plan may (allowed: compared with and without), must (required) or must
    not (forbidden) use; unstated: the planner's default (prefix caching compared when traffic.prefix
    is given, the others not searched)."""

    disaggregation: Rule | None = None
    speculative: Rule | None = None
    expert_parallel: Rule | None = None
    prefix_caching: Rule | None = None


class OwnedChipIn(_Strict):
    """Owned-cost inputs for one chip (planner.economics.owned.OwnedInputs); omitted: the catalog's."""

    capex_usd_per_chip: Annotated[float, Field(gt=0, le=1e7, allow_inf_nan=False, strict=True)] | None = None
    tdp_w: Annotated[float, Field(gt=0, le=1e5, allow_inf_nan=False, strict=True)] | None = None
    amortisation_years: Annotated[float, Field(gt=0, le=20, allow_inf_nan=False, strict=True)] | None = None
    pue: Annotated[float, Field(ge=1, le=3, allow_inf_nan=False, strict=True)] | None = None
    usd_per_kwh: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)] | None = None
    host_capex_usd_per_chip: Amount | None = None
    host_power_fraction: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)] | None = None
    colocation_usd_per_kw_month: Amount | None = None
    ops_overhead_fraction: Annotated[float, Field(ge=0, le=10, allow_inf_nan=False, strict=True)] | None = None
    idle_draw_fraction: Fraction | None = None
    max_draw_fraction: Fraction | None = None
    utilisation: Fraction | None = None  # at which the owned price is taken (default 1.0)


class OwnedIn(OwnedChipIn):
    """Owned-cost overrides for every chip, and per chip under ``chips``."""

    chips: Annotated[dict[Annotated[str, Field(max_length=64)], OwnedChipIn], Field(max_length=1000)] = {}


def _printable(name: str) -> str:
    """A name printed in headers, tables and file names: no control or format characters (an escape sequence
    or a right-to-left override in a workload's name reached the terminal as it was)."""
    bad = next((c for c in name if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp")), None)
    if bad is not None:
        raise ValueError(f"a name holds no control or format character (found U+{ord(bad):04X})")
    return name


# a workload's, fleet's or sweep's name: printed as it is
Title = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_printable)]


class PricingIn(_Strict):
    """``constraints.pricing`` as an object (the string form is the mode alone)."""

    mode: Mode = "on_demand"
    market: Market = "hyperscaler"
    regions: Annotated[list[Region], Field(max_length=100)] = []
    providers: Annotated[list[Annotated[str, Field(max_length=80)]], Field(max_length=100)] = []
    sheet: PriceFile | None = None  # a price sheet inline: it wins where it has a price
    owned: OwnedIn = OwnedIn()


def _mode_alone(p: PricingIn) -> str | PricingIn:
    """Written back as the shorthand string when only the mode was given (a file round-trips)."""
    return p.mode if not p.model_fields_set - {"mode"} else p


# The string form is the mode alone, read as {"mode": value} so that every error names a field of
# PricingIn (a plain union would prefix each error with the member it tried).
PricingField = Annotated[PricingIn, BeforeValidator(lambda v: {"mode": v} if isinstance(v, str) else v),
                         PlainSerializer(_mode_alone, return_type=Mode | PricingIn)]


class ConstraintsIn(_Strict):
    hardware: Names | None = None
    exclude_hardware: Names = []
    models: Names | None = None
    precisions: Names | None = None
    kv_precisions: Names | None = None
    runtimes: Names | None = None
    adaptations: Annotated[list[Adaptation], Field(max_length=16)] | None = None
    max_chips_per_replica: Annotated[int, Field(ge=1, le=256, strict=True)] = 8
    max_hardware_types: Annotated[int, Field(ge=1, le=4, strict=True)] = 2
    quotas: Annotated[dict[str, Annotated[int, Field(ge=0, le=10**7, strict=True)]], Field(max_length=1000)] = {}
    pricing: PricingField = PricingIn()
    serving: ServingIn = ServingIn()

    @field_validator("hardware", "models", "precisions", "kv_precisions", "runtimes", "adaptations")
    @classmethod
    def _allows_some(cls, v: list[str] | None) -> list[str] | None:
        return allows_some(v)


class WorkloadIn(_Strict):
    """A workload as written in a file or a request body."""

    name: Title = "workload"
    traffic: TrafficIn
    slo: SloIn = SloIn()
    budget: BudgetIn = BudgetIn()
    quality: QualityIn = QualityIn()
    constraints: ConstraintsIn = ConstraintsIn()
    availability: AvailabilityIn = AvailabilityIn()

    @model_validator(mode="after")
    def _a_required_cache_has_hits(self) -> WorkloadIn:
        """Prefix caching required of a workload without a prefix that hits (none, or hit_rate 0) had been dropped
        without a word (a serving-features audit): there is nothing for the cache to serve."""
        p = self.traffic.prefix
        if self.constraints.serving.prefix_caching == "required" and (p is None or p.hit_rate == 0):
            raise ValueError("constraints.serving.prefix_caching is required, but traffic.prefix "
                             + ("is not given" if p is None else "has hit_rate 0") + ": no request would hit the "
                             "cache (give traffic.prefix with shared_tokens and a hit_rate above 0, or allow it)")
        return self


def _tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def to_workload(w: WorkloadIn) -> Workload:
    t, c = w.traffic, w.constraints
    targets = {metric: {int(p[1:]): v for p, v in limits.items()}
               for metric, limits in w.slo.model_dump().items() if limits}
    output = t.output_tokens.to_tokens()
    if "tpot_ms" in targets and output.mean <= 1.0 and all(v <= 1.0 for _q, v in output.knots):
        raise InputError("every output is one token long (traffic.output_tokens), so no request has a time per "
                         "output token to hold to a target: a request's latency is its TTFT (slo.ttft_ms)",
                         field="slo.tpot_ms")
    return Workload(
        name=w.name,
        traffic=Traffic(
            requests_per_s=t.requests_per_s,
            peak_requests_per_s=t.peak_requests_per_s,
            input_tokens=t.input_tokens.to_tokens(),
            output_tokens=output,
            prefix=None if t.prefix is None else Prefix(t.prefix.shared_tokens, t.prefix.hit_rate),
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
            max_hardware_types=c.max_hardware_types, quotas=dict(c.quotas), pricing=to_pricing(c.pricing),
            serving=c.serving.model_dump(exclude_none=True),
        ),
        availability=Availability(**w.availability.model_dump()),
    )


def _set(values: OwnedChipIn) -> dict[str, float]:
    return {k: v for k, v in values.model_dump(exclude={"chips"}).items() if v is not None}


def to_pricing(p: str | PricingIn, *, sheet: PriceBook | None = None, file: str = "workload") -> Pricing:
    """The planner's Pricing; ``sheet`` (``--prices FILE``) is layered over an inline one and wins."""
    if isinstance(p, str):
        return Pricing(mode=p, sheet=sheet)
    inline = (offers_book(p.sheet, file=f"{file}: constraints.pricing.sheet", field="constraints.pricing.sheet")
              if p.sheet is not None else None)
    if inline is not None and sheet is not None:
        inline = PriceBook(offers=(*sheet.offers, *(o for o in inline.offers
                                                    if not sheet.for_hardware(o.hardware))))
    return Pricing(mode=p.mode, market=p.market, regions=tuple(p.regions), providers=tuple(p.providers),
                   sheet=inline if inline is not None else sheet, owned=owned_from_mapping(_set(p.owned)),
                   owned_chips=tuple(sorted((hw, owned_from_mapping(_set(v))) for hw, v in p.owned.chips.items())))


def load_workload(path: Path | str, *, prices: Path | str | None = None) -> Workload:
    """Read and validate a workload file; errors name the file and field. ``prices``: a price sheet
    file (``--prices``) layered over the workload's own sheet and the catalog."""
    data: Any = read_yaml(Path(path))
    parsed = validate_file(WorkloadIn, data, file=str(path))
    try:
        w = to_workload(parsed)
    except InputError as e:  # a rule across fields: named with the file, as the schema's errors are
        raise InputError(f"{path}: {e.detail}", field=e.field) from None
    return w if prices is None else with_sheet(w, load_price_sheet(prices))


def with_sheet(w: Workload, sheet: PriceBook) -> Workload:
    """The workload with ``sheet`` over its pricing's sheet (the new sheet wins per chip)."""
    p = w.constraints.pricing
    old = p.sheet.offers if p.sheet is not None else ()
    merged = PriceBook(offers=(*sheet.offers, *(o for o in old if not sheet.for_hardware(o.hardware))))
    return replace(w, constraints=replace(w.constraints, pricing=replace(p, sheet=merged)))
