"""A planning request: traffic, latency targets, budget, quality floor and constraints.

Frozen dataclasses in the units the user thinks in (requests/s, tokens, ms, USD); the pydantic
schema of the workload file lives in ``hardware_catalog.inputs.workload``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from statistics import NormalDist
from types import MappingProxyType

from planner.economics.rates import Pricing

__all__ = [
    "HOURS_PER_MONTH",
    "LOGNORMAL_MAX_P95_RATIO",
    "METRICS",
    "Availability",
    "Budget",
    "Constraints",
    "Objective",
    "Prefix",
    "Quality",
    "Slo",
    "Tokens",
    "Traffic",
    "Workload",
    "lognormal_p95_problem",
]

HOURS_PER_MONTH = 730.0  # 8760 h / 12: the convention of cloud price sheets
METRICS = ("ttft_ms", "tpot_ms", "e2e_ms")


class Objective(StrEnum):
    COST = "cost"
    LATENCY = "latency"
    QUALITY = "quality"
    BALANCED = "balanced"


# The largest p95 / mean of a lognormal: p95 / mean = exp(z95 s - s^2 / 2) peaks at s = z95
# (planner.model.load.queueing.LengthDist.sigma); a heavier tail needs a histogram.
LOGNORMAL_MAX_P95_RATIO = math.exp(NormalDist().inv_cdf(0.95) ** 2 / 2.0)


def lognormal_p95_problem(mean: float, p95: float) -> str | None:
    """Why lengths of this mean cannot have this p95 as a lognormal (None: they can): below the mean, or
    past ``LOGNORMAL_MAX_P95_RATIO`` x it."""
    if not (math.isfinite(p95) and p95 >= mean):
        return f"p95 must be at least the mean ({mean:g}), got {p95:g}"
    if p95 > LOGNORMAL_MAX_P95_RATIO * mean:
        return (f"p95 {p95:g} is {p95 / mean:.3g}x the mean {mean:g}, but lengths given by mean and p95 are modelled "
                f"as a lognormal, whose p95 is at most {LOGNORMAL_MAX_P95_RATIO:.3f}x its mean (p95 <= "
                f"{LOGNORMAL_MAX_P95_RATIO * mean:.0f} here)")
    return None


@dataclass(frozen=True)
class Tokens:
    mean: float
    p95: float | None = None
    # empirical quantile function: (cumulative share, tokens) knots (planner.model.load.queueing.LengthDist)
    knots: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Prefix:
    """Shared prompt prefix: the first ``shared_tokens`` of a prompt are found in the prefix cache
    with probability ``hit_rate`` (system prompts, RAG corpora, multi-turn history)."""

    shared_tokens: float
    hit_rate: float

    @property
    def cached_tokens(self) -> float:
        """Mean prompt tokens per request served from the cache."""
        return self.shared_tokens * self.hit_rate


@dataclass(frozen=True)
class Traffic:
    requests_per_s: float
    input_tokens: Tokens
    output_tokens: Tokens
    peak_requests_per_s: float | None = None
    # demand over time (planner.fleet): multipliers of requests_per_s per hour of a day (24) or
    # week (168), and per month of the horizon (month 1 first); empty = flat
    profile: tuple[float, ...] = ()
    growth: tuple[float, ...] = ()
    prefix: Prefix | None = None

    @property
    def peak(self) -> float:
        return self.peak_requests_per_s if self.peak_requests_per_s is not None else self.requests_per_s


@dataclass(frozen=True)
class Slo:
    """Latency targets in ms: metric -> {percentile: limit}, e.g. {"ttft_ms": {99: 1500}}."""

    targets: Mapping[str, Mapping[int, float]] = field(default_factory=lambda: MappingProxyType({}))

    def items(self) -> list[tuple[str, int, float]]:
        return [(m, p, v) for m, by_p in self.targets.items() for p, v in sorted(by_p.items())]

    def with_target(self, metric: str, percentile: int, limit_ms: float) -> Slo:
        targets = {m: dict(v) for m, v in self.targets.items()}
        targets.setdefault(metric, {})[percentile] = limit_ms
        return Slo(targets=targets)


@dataclass(frozen=True)
class Budget:
    max_cost_per_month: float | None = None
    max_cost_per_million_tokens: float | None = None
    max_one_time_cost: float | None = None
    horizon_months: float = 12.0
    max_kgco2e_per_month: float | None = None  # location-based emissions of the plan's energy


@dataclass(frozen=True)
class Quality:
    min_score: float | None = None
    task: str = "general"
    adaptation_tokens: float | None = None  # domain training set size; None: planner default
    # which end of the quality range must meet min_score: "central" (the midpoint), "low" (the low
    # end), or None: "low" for an adapted or distilled model, "central" for an unadapted one
    confidence: str | None = None
    task_type: str | None = None  # e.g. "nli", "qa", "classification": matches distillation evidence


@dataclass(frozen=True)
class Constraints:
    hardware: tuple[str, ...] | None = None
    exclude_hardware: tuple[str, ...] = ()
    models: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    kv_precisions: tuple[str, ...] | None = None
    runtimes: tuple[str, ...] | None = None
    adaptations: tuple[str, ...] | None = None
    max_chips_per_replica: int = 8
    max_hardware_types: int = 2
    quotas: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    pricing: Pricing = field(default_factory=Pricing)
    # serving feature -> "allowed" | "required" | "forbidden" (planner.model.serving.FEATURES); absent: allowed
    serving: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    def serving_rule(self, feature: str) -> str:
        return self.serving.get(feature, "allowed")


@dataclass(frozen=True)
class Availability:
    """Redundancy and headroom: what a plan keeps in reserve for failures and bursts.

    ``spare`` k (N+k): every SLO still holds at the peak with k replicas of any one deployment
    removed (all of it when it has k or fewer), so also with k of the largest removed.
    ``max_utilization`` caps the load per replica at that fraction of its SLO capacity.
    ``zones``: the replicas are spread over this many zones, so a plan has at least one replica
    per zone (``min_replicas`` is raised to it); the loss of a whole zone is not modelled.
    """

    min_replicas: int = 1
    spare: int = 0
    zones: int = 1
    max_utilization: float = 1.0

    @property
    def replicas_at_least(self) -> int:
        return max(self.min_replicas, self.zones)

    @property
    def is_default(self) -> bool:
        return self == Availability()


@dataclass(frozen=True)
class Workload:
    name: str
    traffic: Traffic
    slo: Slo = field(default_factory=Slo)
    budget: Budget = field(default_factory=Budget)
    quality: Quality = field(default_factory=Quality)
    constraints: Constraints = field(default_factory=Constraints)
    availability: Availability = field(default_factory=Availability)

    def __post_init__(self) -> None:
        # the pricing charges a reserved term over the months the deployment is planned for (Pricing.term_spread)
        if self.constraints.pricing.horizon_months != self.budget.horizon_months:
            pricing = replace(self.constraints.pricing, horizon_months=self.budget.horizon_months)
            object.__setattr__(self, "constraints", replace(self.constraints, pricing=pricing))

    @property
    def design_load(self) -> float:
        """Requests/s the replicas' SLO capacity must carry: the peak over ``max_utilization``."""
        return self.traffic.peak / self.availability.max_utilization


def demand_warnings(w: Workload) -> tuple[str, ...]:
    """What a single plan leaves of the traffic's demand over time: ``profile`` and ``growth`` are read by the fleet
    planner only (``planner.fleet.demand``), so a plan sized for the peak it is given can fall short of their
    busiest hour (a profile of 3x every hour planned for 1x: the service said nothing)."""
    t = w.traffic
    if not t.profile and not t.growth:
        return ()
    busiest = t.requests_per_s * max(t.profile or (1.0,)) * max(t.growth or (1.0,))
    line = (f"traffic.profile and traffic.growth are read by plan-fleet only: this plan is sized for {t.peak:,.4g} "
            "requests/s (peak_requests_per_s, else requests_per_s)")
    if busiest > t.peak * (1 + 1e-9):
        when = " in the growth's largest month" if t.growth else ""
        line += (f", below their busiest hour ({busiest:,.4g} requests/s{when}); set peak_requests_per_s to plan "
                 "for it, or plan the demand over time with hwplan plan-fleet")
    return (line,)
