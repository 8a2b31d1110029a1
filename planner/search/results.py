"""Typed results of ``planner.search.planning``: plans, the Pareto front, infeasibility and search figures."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.domain import Accuracy, MeasuredBias
from planner.economics.breakdown import CostParts, Energy, PriceSource, TokenPrices
from planner.economics.pricing import Unpriced
from planner.economics.rates import ChipRate
from planner.model.chip_order import OrderFlag
from planner.workload import HOURS_PER_MONTH

__all__ = ["Cost", "Deployment", "Infeasible", "Plan", "PlanResult", "QualityScore", "Relaxation", "SearchStats",
           "per_million"]


@dataclass(frozen=True)
class Deployment:
    hardware: str
    chips_per_replica: int
    tp: int
    pp: int
    replicas: int
    max_batch: int
    requests_per_s_per_replica: float  # its share of the peak load
    slo_capacity_per_replica: float  # most it may carry within every SLO target
    calibrated: bool
    role: str = "both"  # prefill | decode | both (aggregated)
    ep: int = 1  # expert-parallel ranks (1: experts split like the rest, by tp)
    dp_attention: int = 1  # data-parallel attention ranks


@dataclass(frozen=True)
class QualityScore:
    score: float | None
    low: float | None
    high: float | None
    task: str
    sources: tuple[str, ...] = ()
    confidence: str = "central"  # which end of [low, high] the quality floor was checked at: central | low


@dataclass(frozen=True)
class Cost:
    per_hour: float
    per_month: float  # serving at 730 h/month plus one-time cost amortised over the horizon
    per_million_tokens: float  # per_month over the month's output tokens at the average request rate (x 1e6)
    one_time: float
    pricing: str
    parts: CostParts | None = None  # per month, summing to per_month
    tokens: TokenPrices | None = None
    energy: Energy | None = None
    sources: tuple[PriceSource, ...] = ()  # the offer(s) behind each chip's price
    rates: tuple[tuple[ChipRate, int], ...] = ()  # each deployment's rate and chips (whole_instance_notes)
    notes: tuple[str, ...] = ()  # warnings about the price's terms (mode_notes)


def per_million(per_month: float, output_tokens_per_hour: float) -> float:
    """The whole monthly cost (one-time amortised, as ``Cost.per_month``) per million output tokens."""
    return per_month / (output_tokens_per_hour * HOURS_PER_MONTH) * 1e6


@dataclass(frozen=True)
class Plan:
    rank: int
    model: str
    precision: str
    kv_precision: str
    adaptation: str
    runtime: str
    deployments: tuple[Deployment, ...]
    predicted: dict[str, float]
    quality: QualityScore
    cost: Cost
    binding: tuple[str, ...]
    pareto: bool = False
    features: tuple[str, ...] = ()  # serving features used (planner.model.serving.FEATURES)
    why: str = ""  # why this serving shape (planner.search.serving), when the planner compared shapes
    measured: tuple[MeasuredBias, ...] = ()  # where runs of this model and runtime missed the prediction
    order: tuple[OrderFlag, ...] = ()  # where a chip reads slower than one it beats on paper (planner.model.chip_order)

    @property
    def hardware_types(self) -> frozenset[str]:
        return frozenset(d.hardware for d in self.deployments)

    def chips(self, hardware: str) -> int:
        """Chips of ``hardware`` over every deployment (a mix, or two pools, may share one)."""
        return sum(d.chips_per_replica * d.replicas for d in self.deployments if d.hardware == hardware)

    @property
    def key(self) -> tuple[str, str, str, str, str]:
        return (self.model, self.precision, self.kv_precision, self.runtime, self.adaptation)

    @property
    def shape(self) -> tuple[object, ...]:
        """What is deployed, its predicted figures aside: the key, the serving features and each deployment's
        chips, parallelism and replicas (two catalogs' plans of one shape run the same servers)."""
        return (self.key, self.features, tuple((d.hardware, d.replicas, d.chips_per_replica, d.tp, d.pp, d.ep,
                                                d.dp_attention, d.role) for d in self.deployments))


@dataclass(frozen=True)
class Relaxation:
    constraint: str  # e.g. "budget.max_cost_per_month"
    needed: str  # human form, e.g. ">= $41,200/month"
    value: float | str  # the relaxed value that was verified by re-solving ("allowed": a serving feature's rule)


@dataclass(frozen=True)
class Infeasible:
    reasons: tuple[str, ...]
    relaxations: tuple[Relaxation, ...]
    complete: bool = True  # False: the relaxation search stopped at the deadline


@dataclass(frozen=True)
class SearchStats:
    candidates: int  # configurations enumerated
    evaluated: int  # configurations run through the load model
    pruned: int  # removed by filters and dominance before the solver
    solver_status: str
    solves: int
    elapsed_ms: float
    dropped: dict[str, int] = field(default_factory=dict)
    gap: float | None = None  # (best plan's cost - least lower bound not explored) / its cost; 0: proven
    stop: str = "exhausted"  # the stopping rule that ended the search (branch_bound.Stop)
    unpriced: tuple[Unpriced, ...] = ()  # allowed chips dropped for want of a price, with what would price them
    sheet_skipped: tuple[str, ...] = ()  # chips the workload's price sheet has offers for and the catalog lacks


@dataclass(frozen=True)
class PlanResult:
    workload: str
    objective: str
    plans: tuple[Plan, ...]
    pareto: tuple[Plan, ...]
    infeasible: Infeasible | None
    search: SearchStats
    accuracy: Accuracy | None = None  # the catalog calibration's held-out error (None: its file records none)
    warnings: tuple[str, ...] = ()  # about the workload as planned (planner.workload.demand_warnings)
    slo: tuple[tuple[str, int, float], ...] = ()  # the workload's targets (metric, percentile, limit in ms)
