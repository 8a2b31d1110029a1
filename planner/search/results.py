"""Typed results of ``planner.search.planning``: plans, the Pareto front, infeasibility and search figures."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from planner.domain import Calibration, MeasuredBias
from planner.economics.breakdown import CostParts, Energy, PriceSource, TokenPrices
from planner.economics.pricing import Unpriced
from planner.model.chip_order import OrderFlag

__all__ = ["Accuracy", "Cost", "Deployment", "Infeasible", "Plan", "PlanResult", "QualityScore", "Relaxation",
           "SearchStats", "accuracy_of"]


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
    per_million_tokens: float  # per million output tokens at the average request rate
    one_time: float
    pricing: str
    parts: CostParts | None = None  # per month, summing to per_month
    tokens: TokenPrices | None = None
    energy: Energy | None = None
    sources: tuple[PriceSource, ...] = ()  # the offer(s) behind each chip's price


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
    value: float  # the relaxed value that was verified by re-solving


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


@dataclass(frozen=True)
class Accuracy:
    """How far the performance model's predictions fell from measurements held out of its fit: the
    cross-validation ``hwplan calibrate`` ran and wrote into calibration.yaml (``fitted_on``)."""

    basis: str  # what was held out, of which fit, when
    median_ape: Mapping[str, float]  # metric (calibration.yaml's names) -> median |predicted / measured - 1|


# the metrics of the cross-validation a plan's figures rest on: the SLO capacity sets its replica counts, the
# p99s are what it predicts at peak load. Not its output throughput: the file's figure pools Server records,
# whose throughput is their rate times their output length (no error to speak of)
UNDER_LOAD = ("slo_capacity_requests_per_s", "tpot_p99_ms", "ttft_p99_ms")


def accuracy_of(calibration: Calibration) -> Accuracy | None:
    """``calibration``'s cross-validated median errors of UNDER_LOAD's metrics (None where its file records none
    of them: a calibration written without cross-validation, or without records under load). calibration.yaml's
    ``fitted_on`` is free-form (a maintainer's file may say anything there): a figure that is not a finite
    non-negative number is left out, and the basis reads only what is there."""
    on = calibration.fitted_on
    errors = on.get("cv_median_ape")
    if not isinstance(errors, Mapping):
        return None
    kept = {k: float(v) for k in UNDER_LOAD
            if isinstance(v := errors.get(k), int | float) and not isinstance(v, bool) and 0.0 <= v < math.inf}
    if not kept:
        return None
    files = on.get("files")
    names = [str(f["name"]) for f in files if isinstance(f, Mapping) and "name" in f] if isinstance(files, list) else []
    folds, repeats, by = on.get("cv_folds"), on.get("cv_repeats"), on.get("cv_by")
    if by:
        how = f"cross-validation by {by} (each {by} held out in turn)"
    else:
        how = f"{folds}-fold cross-validation" if folds else "cross-validation"
        if repeats and repeats != 1:
            how += f" repeated {repeats} times"
    basis = (f"{how} of the catalog calibration's fit on {on.get('n_records', '?')} measurements"
             + (f" ({', '.join(names)})" if names else "") + (f", {on['date']}" if on.get("date") else ""))
    return Accuracy(basis=basis, median_ape=kept) if kept else None
