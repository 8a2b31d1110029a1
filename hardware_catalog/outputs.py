"""The typed output boundary: the documents ``hwplan ... --json`` prints and the REST service returns.

Each ``...Out`` model is built from the core's dataclasses here and nowhere else, in display units
(ms, GB, $) with numbers rounded to a few significant digits. The CLI prints
``document(model)`` and the API routes declare the same models as ``response_model``, so both give
the same JSON, and /openapi.json describes every field. The models forbid unknown fields, so a key
added without a schema field fails when built, and a response with a key its schema lacks fails
the schema-conformance test.

Keys that only some results carry (the server scenario's p99s, a missing price's note, the lever
report) are left unset otherwise and dumped with ``exclude_unset``: absent, not null.

This module imports only pydantic at load time (the core's types are named for the type checker
only, and the builders import what they compute with), so ``hwplan schema`` and the CLI's
start-up do not pay for numpy, SciPy or the solver.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, RootModel

from hardware_catalog.numbers import money, rounded
from hardware_catalog.price_outputs import (
    CostPartsOut,
    EnergyOut,
    PriceSourceOut,
    UnpricedOut,
    energy_out,
    parts_out,
    source_out,
    stale_warnings,
    unpriced_out,
)

if TYPE_CHECKING:
    from hardware_catalog.inputs.measurements import BadRecord
    from hardware_catalog.saved import SavedPlan
    from planner.calibration.predict import RecordSet, Skipped
    from planner.calibration.validate import Summary
    from planner.domain import Accuracy, Calibration, Catalog, Efficiency, MeasuredBias
    from planner.levers.finetune import Basis, TrainingOption
    from planner.model.chip_order import OrderFlag
    from planner.model.estimate import Estimate
    from planner.model.grid import Array
    from planner.search.iteration_range import IterationRange
    from planner.search.lever_report import LeverRow
    from planner.search.measured_replan import MeasuredReplan
    from planner.search.results import Cost, Plan, PlanResult

__all__ = [
    "AtSpeedOut", "CalibrationOut", "CompareOut", "CostOut", "CrossValidationOut", "DeploymentOut", "EstimateOut",
    "ExportOut", "FinetuneOut", "IterationEndOut", "IterationRangeOut", "LeverOut", "LeverReportOut", "MeasuredOut",
    "MeasuredReplanOut", "PlanOut", "PlanResultOut", "PredictedOut", "SavedPlanListOut", "SavedPlanOut",
    "SavedPlanSummaryOut", "SkippedOut", "SummaryOut", "ValidationOut", "calibration_out", "cv_out",
    "document", "estimate_out", "export_out", "finetune_out", "iteration_range_out", "levers_out", "measured_out",
    "measured_replan_out", "plan_result_out", "rounded", "saved_plan_out", "saved_plan_summary_out", "skipped_out",
    "validation_out", "ignored_out",
]

GB = 1e9
_T = TypeVar("_T")
Num = float | None  # rounded for display; null where the value is absent or not finite (JSON has no NaN)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else rounded(seconds * 1e3)


def document(out: BaseModel) -> str:
    """The JSON text of an output model, as the CLI prints it and the API answers."""
    return out.model_dump_json(indent=2, exclude_unset=True)


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


# --- estimate -----------------------------------------------------------------------------------


class MemoryOut(_Out):
    """Memory per chip, GB (decimal)."""

    weights_gb: Num
    kv_cache_gb: Num
    activations_gb: Num
    overhead_gb: Num
    total_gb: Num
    capacity_gb: Num
    per: Literal["chip"]


class EfficiencyOut(_Out):
    """Achieved fractions of peak and the fixed step cost this estimate used."""

    compute: Num
    memory: Num
    communication: Num
    step_overhead_ms: Num
    source: str = Field(description="'prior' or where the calibration came from")


ORDER = ("where a chip is predicted slower at batch-1 decode than a calibrated chip it matches or beats on paper "
         "(planner.model.chip_order)")
MEASURED = ("where measured runs of this model (or one of its architecture) on this runtime, or of several models on "
            "this runtime on its chips, missed the prediction (measured_bias.yaml's rule)")


class MeasuredOut(_Out):
    """Runs of this model on this runtime against the catalog's prediction (measured_bias.yaml)."""

    model: str | None = Field(description="the model measured (another id: the same architecture); null: a chip's "
                                          "entry, runs of several models (models) on this runtime and hardware")
    models: list[str] | None = Field(None, description="a chip's entry: the models its runs are of")
    runtime: str
    metric: str = Field(description="throughput (max-throughput runs) or slo_capacity (runs under an SLO)")
    records: int
    median: Num = Field(description="observed / predicted, median: below 1 the prediction is optimistic")
    low: Num = Field(description="10th percentile of observed / predicted")
    high: Num = Field(description="90th percentile of observed / predicted")
    hardware: list[str]
    sample: str = Field(description="out: no fit reads these runs; in: the calibration was fitted on them")
    file: str = Field(description="the measurement file the runs are in")
    holds: str = Field(description="what those runs are")
    note: str
    slows: bool = Field(default=False, description="its runs reached less throughput than predicted: the what-ifs "
                                                   "at the measured speed slow what it covers (planner.measured_speed)")


class EstimateOut(_Out):
    """One configuration's memory, latency, throughput and cost (``hwplan estimate --json``)."""

    model: str
    hardware: str
    chips: int
    tp: int = Field(description="tensor-parallel degree")
    pp: int = Field(description="pipeline-parallel degree")
    ep: int = Field(default=1, description="expert-parallel ranks: 1 (none) or tp, with data-parallel attention")
    replicas: int
    precision: str
    kv_precision: str
    compute_precision: str | None
    runtime: str
    scenario: str
    fits: bool
    reason: str | None = Field(description="why it does not fit (null when it fits)")
    memory: MemoryOut
    max_batch: int
    batch: Num
    ttft_ms: Num
    tpot_ms: Num
    e2e_ms: Num
    output_tokens_per_s: Num
    requests_per_s: Num
    bound: str = Field(description="compute, memory or communication")
    pricing: str
    cost_per_hour: Num
    cost_per_million_output_tokens: Num
    calibrated: bool
    efficiency: EfficiencyOut
    cost_note: str | None = Field(default=None, description="present when the catalog has no price")
    ttft_p99_ms: Num = Field(default=None, description="server scenario only")
    tpot_p99_ms: Num = Field(default=None, description="server scenario only")
    utilization: Num = Field(default=None, description="server scenario only: request rate / capacity_requests_per_s")
    capacity_requests_per_s: Num = Field(default=None, description="server scenario only: requests/s the engine "
                                         "finishes with every slot busy, past which its queue grows without bound")
    serving_iteration_ms: Num = Field(default=None, description="server scenario only: the fixed cost per serving "
                                      "iteration the queueing model charged (calibration.yaml)")
    serving_iteration_source: str | None = Field(default=None, description="server scenario only: where that "
                                                 "cost comes from")
    serving_iteration_interval_ms: tuple[Num, Num] | None = Field(
        default=None, description="server scenario only: [low, high], the costs the records under load admit "
                                  "(null: the calibration records none)")
    concurrency_cap: int | None = Field(default=None, description="max_throughput and server: the engine's cap on "
                                        "concurrent sequences per replica the batch is held to (null: none, memory "
                                        "sets it)")
    concurrency_cap_source: str = Field(default="", description="where that cap comes from (empty for a static "
                                        "batch, which the caller sets)")
    measured: list[MeasuredOut] = Field(default=[], description=MEASURED)
    order: list[OrderOut] = Field(default=[], description=ORDER)
    at_measured_speed: AtSpeedOut | None = Field(
        default=None, description="present where a measured entry slows it: the same configuration at the speed "
                                  "those runs reached")
    accuracy: AccuracyOut | None = Field(
        default=None, description="server scenario: the catalog calibration's cross-validated error under load "
                                  "(null: another scenario, or the file records none)")


class AtSpeedOut(_Out):
    """A configuration's figures again at the speed measured runs reached (``EstimateOut.at_measured_speed``):
    its latencies, throughput, cost per token and, under load, its capacity (its memory, batch limits and
    price do not move with the speed)."""

    fits: bool
    reason: str | None
    ttft_ms: Num
    tpot_ms: Num
    e2e_ms: Num
    output_tokens_per_s: Num
    cost_per_million_output_tokens: Num
    efficiency: EfficiencyOut = Field(description="the pair's efficiency as the configuration ran it there")
    ttft_p99_ms: Num = Field(default=None, description="server scenario only")
    tpot_p99_ms: Num = Field(default=None, description="server scenario only")
    utilization: Num = Field(default=None, description="server scenario only: request rate / capacity_requests_per_s")
    capacity_requests_per_s: Num = Field(default=None, description="server scenario only: requests/s the engine "
                                         "finishes with every slot busy, past which its queue grows without bound")


def _server_figures(e: Estimate) -> dict[str, Any]:
    """The load figures of a server-scenario estimate (none for the other scenarios)."""
    if str(e.scenario) != "server":
        return {}
    return {"ttft_p99_ms": _ms(e.ttft_p99_s), "tpot_p99_ms": _ms(e.tpot_p99_s),
            "utilization": rounded(e.utilization, 3), "capacity_requests_per_s": rounded(e.capacity_requests_per_s)}


def _at_speed_out(a: Estimate) -> AtSpeedOut:
    return AtSpeedOut(fits=a.fits, reason=a.reason, ttft_ms=_ms(a.ttft_s), tpot_ms=_ms(a.tpot_s), e2e_ms=_ms(a.e2e_s),
                      output_tokens_per_s=rounded(a.output_tokens_per_s),
                      cost_per_million_output_tokens=rounded(a.cost_per_million_output_tokens),
                      efficiency=_efficiency_out(a.efficiency), **_server_figures(a))


def _efficiency_out(eff: Efficiency) -> EfficiencyOut:
    return EfficiencyOut(compute=rounded(eff.compute, 3), memory=rounded(eff.memory, 3),
                         communication=rounded(eff.communication, 3), step_overhead_ms=_ms(eff.step_overhead_s),
                         source=eff.source)


def estimate_out(e: Estimate) -> EstimateOut:
    c, eff = e.config, e.efficiency
    extra: dict[str, Any] = _server_figures(e)  # the optional fields, set only when they apply
    if str(e.scenario) == "server":
        extra |= {"serving_iteration_ms": _ms(e.serving_iteration_s),
                  "serving_iteration_source": e.serving_iteration_source,
                  "serving_iteration_interval_ms": None if e.serving_iteration_interval_s is None
                  else (_ms(e.serving_iteration_interval_s[0]), _ms(e.serving_iteration_interval_s[1]))}
    extra |= {"concurrency_cap": e.concurrency_cap, "concurrency_cap_source": e.concurrency_cap_source}
    if e.accuracy is not None:
        extra["accuracy"] = accuracy_out(e.accuracy)
    if e.cost_per_hour is None:
        from planner.economics.pricing import Unpriced
        from planner.economics.rates import unpriced_hint

        why = e.rate.reason if isinstance(e.rate, Unpriced) else f"no {e.pricing} price"
        would = f"; would price it: {unpriced_hint(e.rate)}" if isinstance(e.rate, Unpriced) else ""
        extra["cost_note"] = f"{c.hardware.id}: {why}{would}"
    return EstimateOut(
        model=c.model.id, hardware=c.hardware.id, chips=c.chips, tp=c.tp, pp=c.pp, ep=c.ep, replicas=c.replicas,
        precision=c.precision.id, kv_precision=c.kv_precision.id,
        compute_precision=c.precision.compute_precision(c.hardware), runtime=c.runtime.id,
        scenario=str(e.scenario), fits=e.fits, reason=e.reason,
        memory=MemoryOut(weights_gb=rounded(e.weights_bytes / GB), kv_cache_gb=rounded(e.kv_cache_bytes / GB),
                         activations_gb=rounded(e.activations_bytes / GB),
                         overhead_gb=rounded(e.overhead_bytes / GB), total_gb=rounded(e.total_bytes / GB),
                         capacity_gb=rounded(e.capacity_bytes / GB), per="chip"),
        max_batch=e.max_batch, batch=rounded(e.batch), ttft_ms=_ms(e.ttft_s), tpot_ms=_ms(e.tpot_s),
        e2e_ms=_ms(e.e2e_s), output_tokens_per_s=rounded(e.output_tokens_per_s),
        requests_per_s=rounded(e.requests_per_s), bound=e.bound, pricing=e.pricing,
        cost_per_hour=money(e.cost_per_hour),
        cost_per_million_output_tokens=rounded(e.cost_per_million_output_tokens), calibrated=eff.calibrated,
        efficiency=_efficiency_out(eff),
        **({"measured": [measured_out(b, c.model.id) for b in e.measured]} if e.measured else {}),
        **({"order": [order_out(f) for f in e.order]} if e.order else {}),
        **({"at_measured_speed": _at_speed_out(e.at_measured_speed)} if e.at_measured_speed is not None else {}),
        **extra)


# --- plans --------------------------------------------------------------------------------------


class DeploymentOut(_Out):
    """``replicas`` copies of one replica shape: ``chips_per_replica`` = tp x pp chips of one hardware."""

    hardware: str
    chips_per_replica: int
    tp: int = Field(description="tensor-parallel degree")
    pp: int = Field(description="pipeline-parallel degree")
    replicas: int
    max_batch: int = Field(description="the engine's cap on concurrent sequences (--max-num-seqs): the one tuned "
                           "to the TPOT targets where it carries as much, else the most that fit")
    requests_per_s_per_replica: Num = Field(description="its share of the peak load")
    slo_capacity_per_replica: Num = Field(description="most it may carry within every SLO target")
    calibrated: bool
    role: Literal["prefill", "decode", "both"] = Field(
        default="both", description="the pool it serves: prefill, decode or both (aggregated)")
    ep: int = Field(default=1, description="expert-parallel degree (1: experts split by tp like the rest)")
    dp_attention: int = Field(default=1, description="data-parallel attention degree")


class PredictedOut(_Out):
    """The worst deployment's latency percentiles (ms) at peak load, and the plan's capacity."""

    ttft_ms_p50: Num
    ttft_ms_p90: Num
    ttft_ms_p95: Num
    ttft_ms_p99: Num
    tpot_ms_p50: Num
    tpot_ms_p90: Num
    tpot_ms_p95: Num
    tpot_ms_p99: Num
    e2e_ms_p50: Num
    e2e_ms_p90: Num
    e2e_ms_p95: Num
    e2e_ms_p99: Num
    capacity_requests_per_s: Num = Field(description="requests/s the plan carries within every SLO")
    utilization: Num = Field(description="peak load / raw capacity")
    output_tokens_per_s_at_peak: Num


class QualityOut(_Out):
    score: Num
    low: Num
    high: Num
    task: str
    confidence: str = Field(description="which end of [low, high] met the quality floor: central | low")
    sources: list[str]


class CostOut(_Out):
    per_hour: Num
    per_month: Num = Field(description="per_hour x 730 h + one-time cost / horizon_months")
    per_million_tokens: Num = Field(description="per_month (one-time cost amortised included) per million output "
                                                "tokens at the average request rate")
    one_time: Num
    pricing: str
    per_million_input_tokens: Num = Field(default=None, description="the input phase's share (prefill time)")
    per_million_output_tokens: Num = Field(default=None, description="the output phase's share (decode time)")
    per_million_tokens_blended: Num = Field(default=None, description="per million input and output tokens")
    parts: CostPartsOut | None = Field(default=None, description="per month; sums to per_month")
    energy: EnergyOut | None = None
    sources: list[PriceSourceOut] = Field(default=[], description="the offer(s) behind each chip's price")
    warnings: list[str] = Field(default=[], description="prices older than 12 months, or resting only on "
                                                          "offers flagged uncertain or estimate; chips a plan "
                                                          "uses of instances it does not fill (priced per chip); a "
                                                          "reserved term longer than the horizon")


class DeployOut(_Out):
    """Whether ``hwplan export`` writes the plan's launch files (GET /v1/plans/{id}/export)."""

    format: str = Field(description="the format export writes: the engine format of the plan's runtime (vllm, "
                                    "sglang, trtllm, jetstream, neuron, llama.cpp), k8s where its launch commands "
                                    "would span nodes; refused: the engine format ('any' where no format runs it)")
    status: str = Field(description="ready: written as they are; quantise_first: they load weights quantised once "
                                    "beforehand by the job --format quantise writes (its GPU hours not in the plan's "
                                    "cost); refused: neither the format nor k8s is written (detail: why)")
    detail: str = Field(default="", description="the quantisation recipe, or the refusal")


class PlanOut(_Out):
    """One deployment plan: what runs (model, precision, runtime) and on what (deployments)."""

    rank: int
    model: str
    precision: str
    kv_precision: str
    adaptation: str
    runtime: str
    deployments: list[DeploymentOut]
    predicted: PredictedOut
    quality: QualityOut
    cost: CostOut
    binding: list[str] = Field(description="constraints within a few percent of their limit")
    pareto: bool = Field(description="on the Pareto front (cost, p99 latency, quality)")
    features: list[str] = Field(default=[], description="serving features used: prefix_caching, speculative, "
                                "expert_parallel, dp_attention, disaggregation")
    why: str = Field(default="", description="what the serving features buy against the best plan without them")
    measured: list[MeasuredOut] = Field(default=[], description=MEASURED)
    order: list[OrderOut] = Field(default=[], description=ORDER)
    deploy: DeployOut | None = Field(default=None, description="whether hwplan export writes its launch files "
                                                               "(absent in plans saved before it was reported)")


class RelaxationOut(_Out):
    constraint: str
    needed: str
    value: Num | str = Field(description="the value that was verified by re-solving: a number, or a serving "
                                         "feature's rule (\"allowed\")")


class InfeasibleOut(_Out):
    reasons: list[str]
    relaxations: list[RelaxationOut] = Field(description="each verified by re-solving")
    complete: bool = Field(description="false: the relaxation search stopped at the deadline (reasons say what)")


class SearchOut(_Out):
    candidates: int = Field(description="configurations enumerated")
    evaluated: int = Field(description="configurations run through the load model")
    pruned: int = Field(description="removed by filters and dominance before the solver")
    solver_status: str = Field(description="OPTIMAL: proven best; FEASIBLE: stopped early (see gap); "
                                           "TIME_LIMIT: the deadline; INFEASIBLE; NO_CANDIDATES")
    gap: Num = Field(description="(best plan's cost - least lower bound left unexplored) / its cost; 0: proven")
    stop: str = Field(description="the stopping rule that ended the search")
    solves: int
    elapsed_ms: Num
    dropped: dict[str, int]
    unpriced: list[UnpricedOut] = Field(default=[], description="allowed chips with no price under the "
                                                                   "workload's pricing, and the pricings that have one")
    sheet_skipped: list[str] = Field(default=[], description="chips the price sheet has offers for and the "
                                                             "catalog lacks: those offers price nothing")


class LeverOut(_Out):
    """One lever of the lever report: the plan re-solved with that lever at its baseline."""

    lever: str
    baseline: str
    top_plan_value: str
    baseline_plan: PlanOut | None
    baseline_cost_per_month: float | None
    baseline_quality: float | None
    saving_per_month: float | None = Field(description="baseline cost - the plan's cost ($/month)")
    note: str
    complete: bool = Field(default=True, description="false: the re-plan stopped at the request's deadline "
                                                     "(its plan unproven) or did not run (no plan)")


class _RootOut(RootModel[_T], Generic[_T]):
    model_config = ConfigDict(defer_build=True)


class LeverReportOut(_RootOut[list[LeverOut]]):
    """What each economising lever of one plan is worth (``hwplan plan --levers``)."""


NOTES = [
    "predicted latencies are the worst deployment's, with traffic split across replicas in "
    "proportion to their SLO capacity (queueing model: planner/model/load/queueing.py)",
    "the queueing model charges each serving iteration a fixed cost fitted on MLPerf Server/Interactive "
    "records (calibration.yaml: serving_iteration_s, pooled; serving_iteration_runtime, a runtime's own); "
    "a runtime without records under load takes the pooled figure",
    "cost.per_month = per_hour x 730 h + one-time cost / horizon_months; per_million_tokens = per_month over "
    "the month's output tokens at the average request rate (one-time cost included)",
]


class IterationEndOut(_Out):
    """The best plan with every serving iteration cost at one end of its interval."""

    iteration_ms: Num = Field(description="the top plan's runtime's serving iteration cost at this end")
    cost_per_month: Num = Field(description="the best plan's; null: no plan fits at this end")
    plan: PlanOut | None
    complete: bool = Field(description="false: the re-plan stopped at its share of the deadline (unproven)")


class IterationRangeOut(_Out):
    """The workload re-planned at both ends of the serving iteration cost the records under load admit
    (``hwplan plan --iteration-range``; planner.search.iteration_range)."""

    runtime: str = Field(description="the top plan's runtime: the figures are its")
    fitted_ms: Num = Field(description="the cost the plans ran with")
    interval_ms: tuple[Num, Num] = Field(description="[low, high]: the grid values within one bootstrap standard "
                                                     "error of the best fit (planner.calibration.serving_fit)")
    basis: str = Field(description="where the fitted figure comes from")
    low: IterationEndOut
    high: IterationEndOut


def iteration_range_out(r: IterationRange) -> IterationRangeOut:
    low, high = (IterationEndOut(iteration_ms=_ms(e.runtime_s), plan=None if e.plan is None else plan_out(e.plan),
                                 cost_per_month=None if e.plan is None else money(e.plan.cost.per_month),
                                 complete=e.complete)
                 for e in r.ends)
    return IterationRangeOut(runtime=r.runtime, fitted_ms=_ms(r.fitted_s),
                             interval_ms=(_ms(r.interval_s[0]), _ms(r.interval_s[1])), basis=r.basis,
                             low=low, high=high)


class MeasuredReplanOut(_Out):
    """The workload re-planned with every measured_bias.yaml entry whose runs reached less throughput than
    predicted at its measured speed (planner.search.measured_replan): present where plan 1 carries one."""

    slowed: list[MeasuredOut] = Field(description="the entries plan 1 carries, then those the other plans listed "
                                                  "and the best plan carry (the re-plan slows every such entry of the "
                                                  "catalog)")
    cost_per_month: Num = Field(description="the best plan's at those speeds; null: no plan fits")
    plan: PlanOut | None
    listed_rank: int | None = Field(default=None, description="the rank of the plan above that deploys the same "
                                                              "servers (its figures at the predicted speed); null: "
                                                              "none does")
    complete: bool = Field(description="false: the re-plan stopped at the deadline (unproven)")


def measured_replan_out(r: MeasuredReplan, model_id: str) -> MeasuredReplanOut:
    """``r`` for a result whose plan 1 runs ``model_id`` (the entries' notes name it)."""
    return MeasuredReplanOut(
        slowed=[measured_out(b, model_id) for b in r.slowed],
        cost_per_month=None if r.plan is None else money(r.plan.cost.per_month),
        plan=None if r.plan is None else plan_out(r.plan), listed_rank=r.listed, complete=r.complete)


# calibration.yaml's metric -> what the accuracy note calls it (planner.domain.ACCURACY_METRICS, in its order)
ACCURACY_LABELS = {"slo_capacity_requests_per_s": "SLO capacity", "tpot_p99_ms": "TPOT p99", "ttft_p99_ms": "TTFT p99"}
ACCURACY_CAVEAT = ("a plan's replica counts rest on the SLO capacity; a predicted p99 is as uncertain as its error "
                   "here says (near the capacity a small error in it is a large one in the p99s); reproduce: hwplan "
                   "calibrate <measurement files> [--cv-by round]")


class AccuracyOut(_Out):
    """How far the performance model fell from measurements held out of its fit (calibration.yaml's
    cross-validation, written by ``hwplan calibrate``): the error to expect of the plans' figures."""

    basis: str = Field(description="what was held out, of which fit, when")
    median_ape: dict[str, Num] = Field(description="metric -> median |predicted / measured - 1| over the held-out "
                                                   "records under load (slo_capacity_requests_per_s: the highest "
                                                   "rate meeting the p99 limits, which sets the replica counts; "
                                                   "ttft_p99_ms, tpot_p99_ms: at the measured rate)")
    median_ape_by_round: dict[str, Num] = Field(
        default={}, description="the same metrics with each MLPerf round held out in turn and predicted by a fit on "
                                "the others: the error to expect on a later round; empty where not measured")
    note: str = Field(description="the figures and what they mean, as the CLI and the page print them")


def accuracy_out(a: Accuracy) -> AccuracyOut:
    def figure(k: str, v: float) -> str:
        later = f" ({a.by_round[k]:.1%} on an MLPerf round held out)" if k in a.by_round else ""
        return f"{ACCURACY_LABELS[k]} {v:.1%}{later}"

    named = ", ".join(figure(k, v) for k, v in a.median_ape.items())
    which = "measurements under load" if a.under_load else "measurements"
    return AccuracyOut(basis=a.basis, median_ape={k: rounded(v) for k, v in a.median_ape.items()},
                       median_ape_by_round={k: rounded(v) for k, v in a.by_round.items()},
                       note=f"median error on {which} held out of the fit ({a.basis}): {named}; {ACCURACY_CAVEAT}")


class PlanResultOut(_Out):
    """Ranked plans for a workload (``hwplan plan --json``, POST /v1/plans)."""

    workload: str
    objective: str
    plans: list[PlanOut]
    pareto: list[PlanOut]
    infeasible: InfeasibleOut | None
    search: SearchOut
    complete: bool = Field(description="false: the search, its explanation, an iteration-range re-plan, the "
                                       "measured-speed re-plan or a lever's re-plan stopped at the deadline")
    notes: list[str]
    slo: dict[str, dict[str, float]] = Field(default_factory=dict, description="the workload's latency targets "
                                                                            "(metric -> percentile -> ms)")
    warnings: list[str] = Field(default_factory=list, description="about the workload as planned: demand over time "
                                                                  "(traffic.profile, growth) a single plan does not "
                                                                  "size for")
    levers: LeverReportOut | None = Field(default=None, description="present when the lever report was asked for")
    iteration_range: IterationRangeOut | None = Field(
        default=None, description="present when asked for (--iteration-range) and the calibration has an interval")
    measured_replan: MeasuredReplanOut | None = Field(
        default=None, description="present where plan 1's model or chip measured less throughput than predicted on "
                                  "its runtime (measured_bias.yaml): the best plan at the measured speed")
    accuracy: AccuracyOut | None = Field(
        default=None, description="the catalog calibration's cross-validated error; null: its file records none")


def plan_out(p: Plan) -> PlanOut:
    q, c = p.quality, p.cost
    return PlanOut(
        rank=p.rank, model=p.model, precision=p.precision, kv_precision=p.kv_precision, adaptation=p.adaptation,
        runtime=p.runtime,
        deployments=[DeploymentOut(
            hardware=d.hardware, chips_per_replica=d.chips_per_replica, tp=d.tp, pp=d.pp, replicas=d.replicas,
            max_batch=d.max_batch, requests_per_s_per_replica=rounded(d.requests_per_s_per_replica),
            slo_capacity_per_replica=rounded(d.slo_capacity_per_replica), calibrated=d.calibrated,
            role=d.role, ep=d.ep, dp_attention=d.dp_attention)
            for d in p.deployments],
        predicted=PredictedOut(**{k: rounded(v) for k, v in p.predicted.items()}),
        quality=QualityOut(score=rounded(q.score), low=rounded(q.low), high=rounded(q.high), task=q.task,
                           confidence=q.confidence, sources=list(q.sources)),
        cost=_cost_out(c),
        binding=list(p.binding), pareto=p.pareto, features=list(p.features), why=p.why,
        **({"measured": [measured_out(b, p.model) for b in p.measured]} if p.measured else {}),
        **({"order": [order_out(f) for f in p.order]} if p.order else {}))


class OrderOut(_Out):
    """A chip of the plan predicted slower at batch-1 decode than one it matches or beats on paper."""

    hardware: str
    runtime: str
    slower_than: str = Field(description="a calibrated chip with at most this one's bandwidth and every peak")
    ratio: Num = Field(description="batch-1 TPOT here / there (at the plan's tp)")
    overhead_ms: Num = Field(description="this pair's fitted fixed cost per step")
    other_overhead_ms: Num = Field(description="the other pair's")
    note: str


def order_out(f: OrderFlag) -> OrderOut:
    return OrderOut(hardware=f.hardware, runtime=f.runtime, slower_than=f.slower_than, ratio=rounded(f.ratio, 3),
                    overhead_ms=rounded(f.overhead_s * 1e3, 3), other_overhead_ms=rounded(f.other_overhead_s * 1e3, 3),
                    note=f.note)


def measured_out(b: MeasuredBias, model_id: str) -> MeasuredOut:
    from planner.measured_speed import slows  # (domain and memo only)

    chips = {"models": list(b.models)} if b.model is None else {}
    return MeasuredOut(model=b.model, runtime=b.runtime, metric=b.metric, records=b.records, median=rounded(b.median),
                       low=rounded(b.low), high=rounded(b.high), hardware=list(b.hardware), sample=b.sample,
                       file=b.file, holds=b.holds, note=b.note(model_id), slows=slows(b), **chips)


def _cost_out(c: Cost) -> CostOut:
    from planner.economics.breakdown import whole_instance_notes

    extra: dict[str, Any] = {}
    if c.tokens is not None:
        extra |= {"per_million_input_tokens": rounded(c.tokens.per_million_input),
                  "per_million_output_tokens": rounded(c.tokens.per_million_output),
                  "per_million_tokens_blended": rounded(c.tokens.per_million_blended)}
    if c.parts is not None:
        extra["parts"] = parts_out(c.parts)
    if c.energy is not None:
        extra["energy"] = energy_out(c.energy)
    if c.sources:
        extra |= {"sources": [source_out(s) for s in c.sources],
                  "warnings": [*stale_warnings(c.sources), *whole_instance_notes(c.rates), *c.notes]}
    return CostOut(per_hour=money(c.per_hour), per_month=money(c.per_month),
                   per_million_tokens=rounded(c.per_million_tokens), one_time=money(c.one_time),
                   pricing=c.pricing, **extra)


def levers_out(rows: Sequence[LeverRow], top: Plan) -> LeverReportOut:
    from planner.search.lever_report import value_of  # the solver's module: only when a report exists

    return LeverReportOut([LeverOut(
        lever=r.lever, baseline=r.baseline, top_plan_value=value_of(top, r.lever),
        baseline_plan=None if r.plan is None else plan_out(r.plan),
        baseline_cost_per_month=None if r.plan is None else money(r.plan.cost.per_month),
        baseline_quality=None if r.plan is None else r.plan.quality.score,
        saving_per_month=money(r.saving_per_month), complete=r.complete,
        note=_lever_note(r)) for r in rows])


def _lever_note(r: LeverRow) -> str:
    if r.complete:
        return "no feasible plan at the baseline" if r.plan is None else ""
    return ("not re-planned: the deadline had passed" if r.plan is None
            else "the re-plan stopped at the deadline: its plan is unproven")


def plan_result_out(r: PlanResult, levers: LeverReportOut | None = None,
                    iteration_range: IterationRange | None = None,
                    measured_replan: MeasuredReplan | None = None) -> PlanResultOut:
    s, inf = r.search, r.infeasible
    extra: dict[str, Any] = {} if levers is None else {"levers": levers}
    if iteration_range is not None:
        extra["iteration_range"] = iteration_range_out(iteration_range)
    if measured_replan is not None and r.plans:
        extra["measured_replan"] = measured_replan_out(measured_replan, r.plans[0].model)
    if r.accuracy is not None:
        extra["accuracy"] = accuracy_out(r.accuracy)
    return PlanResultOut(
        workload=r.workload, objective=r.objective, plans=[plan_out(p) for p in r.plans],
        pareto=[plan_out(p) for p in r.pareto],
        infeasible=None if inf is None else InfeasibleOut(
            reasons=list(inf.reasons),
            relaxations=[RelaxationOut(constraint=x.constraint, needed=x.needed,
                                       value=x.value if isinstance(x.value, str) else rounded(x.value))
                         for x in inf.relaxations], complete=inf.complete),
        search=SearchOut(candidates=s.candidates, evaluated=s.evaluated, pruned=s.pruned,
                         solver_status=s.solver_status, gap=rounded(s.gap), stop=s.stop, solves=s.solves,
                         elapsed_ms=rounded(s.elapsed_ms, 4), dropped=dict(s.dropped),
                         **({"unpriced": [unpriced_out(u) for u in s.unpriced]} if s.unpriced else {}),
                         **({"sheet_skipped": list(s.sheet_skipped)} if s.sheet_skipped else {})),
        complete=s.solver_status != "TIME_LIMIT" and (inf is None or inf.complete)
        and (iteration_range is None or all(e.complete for e in iteration_range.ends))
        and (measured_replan is None or measured_replan.complete)
        and (levers is None or all(row.complete for row in levers.root)),
        notes=NOTES, warnings=list(r.warnings), slo=_slo_out(r.slo), **extra)


def _slo_out(targets: Sequence[tuple[str, int, float]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for metric, pct, limit in targets:
        out.setdefault(metric, {})[f"p{pct}"] = limit
    return out


# --- fine-tuning --------------------------------------------------------------------------------


class MfuOut(_Out):
    """Model FLOPs utilisation assumed for training."""

    low: float
    central: float
    high: float


class TrainingOptionOut(_Out):
    hardware: str
    chips: int
    memory_per_chip_gb: Num
    fits: bool
    hours: Num = Field(description="central estimate; null when it does not fit")
    hours_range: tuple[Num, Num] = Field(description="[low, high] from the MFU range")
    cost: Num = Field(description="USD at the central hours; null without a fit or a price")
    teacher_chips: int = Field(description="distillation: chips generating the teacher's data")
    reason: str
    mfu: MfuOut | None = Field(default=None, description="the MFU range of this option's chip family that its hours "
                                                         "rest on; null when it does not fit")


class BasisOut(_Out):
    flops: Num
    flops_formula: str
    memory_formula: str
    mfu: MfuOut = Field(description="GPUs' MFU range; each option gives its own chip family's (options[].mfu)")
    time: str
    cost: str
    sources: list[str]


class FinetuneOut(_Out):
    """Where, and at what one-time cost, a model can be adapted (``hwplan finetune --json``)."""

    model: str
    method: str
    teacher: str | None
    dataset_tokens: float
    epochs: float
    pricing: str
    options: list[TrainingOptionOut] = Field(description="cheapest first")
    basis: BasisOut


def finetune_out(options: Sequence[TrainingOption], basis: Basis, *, model: str, method: str,
                 teacher: str | None, dataset_tokens: float, epochs: float, pricing: str) -> FinetuneOut:
    return FinetuneOut(
        model=model, method=method, teacher=teacher, dataset_tokens=dataset_tokens, epochs=epochs,
        pricing=pricing,
        options=[TrainingOptionOut(
            hardware=o.hardware, chips=o.chips, memory_per_chip_gb=rounded(o.memory_per_chip_bytes / GB, 4),
            fits=o.fits, hours=rounded(o.hours, 4), hours_range=(rounded(o.hours_low, 4), rounded(o.hours_high, 4)),
            cost=money(o.cost), teacher_chips=o.teacher_chips, reason=o.reason,
            mfu=None if o.mfu is None else MfuOut(low=o.mfu[0], central=o.mfu[1], high=o.mfu[2])) for o in options],
        basis=BasisOut(
            flops=rounded(basis.flops, 4), flops_formula=basis.flops_formula, memory_formula=basis.memory_formula,
            mfu=MfuOut(low=basis.mfu[0], central=basis.mfu[1], high=basis.mfu[2]),
            time=("hours = the teacher generating the dataset on teacher_chips (its served decode time, at least "
                  "its FLOPs / (teacher_chips x 16-bit peak x MFU)), then the student's FLOPs / (chips x 16-bit peak "
                  "x MFU); range from the MFU range" if method == "distill" else
                  "hours = FLOPs / (chips x 16-bit peak x MFU); range from the MFU range"),
            cost=("the student's chip-hours plus the teacher's (teacher_chips x its generation hours), at the "
                  "central MFU, x price per chip-hour" if method == "distill" else
                  "chip-hours at the central MFU x price per chip-hour"), sources=list(basis.sources)))


# --- validation and calibration -----------------------------------------------------------------

MetricValues = dict[str, Num]  # keyed by the measurements file's metric names (ms, tokens/s)


# what a record's tp_source "tuned" means (planner.calibration.predict._tuned_tp), in the JSON schema and the table
TUNED_TP = ("the record states none; predicted at the tp the model predicts the most for (SLO capacity under an SLO, "
            "else tokens/s) of those within a node that divide its chips and whose weights fit, as a submitter tunes")


class RecordErrorOut(_Out):
    id: str
    predicted: MetricValues
    observed: MetricValues
    ape: MetricValues = Field(description="absolute percentage error, as a fraction")
    tp: int = Field(description="the tensor-parallel degree the record was predicted at")
    tp_source: Literal["stated", "tuned", "pools"] = Field(
        description=f"stated: the record's own; tuned: {TUNED_TP}; pools: a disaggregated record's decode pool, "
                    "each worker's chips (mlperf.disaggregated: decode_chips / decode_workers)")


class SummaryOut(_Out):
    n: int
    median_ape: Num = Field(description="median absolute percentage error, as a fraction; null where more than half "
                                        "the records have no finite prediction (past the model's capacity)")
    p90_ape: Num = Field(description="its 90th percentile; null where more than a tenth of the records have no "
                                     "finite prediction (an infinite error: JSON has no infinity)")
    within_25pct: Num = Field(description="share of records within 25% of the observed value")


class SkippedOut(_Out):
    id: str
    field: str | None = Field(default=None, description="the invalid field (invalid records only)")
    reason: str


_IGNORED = ("keys a record of a measurements file states that the format does not read: left out, the record "
            "predicted without them")


def ignored_out(ignored: Sequence[BadRecord]) -> list[SkippedOut]:
    return [SkippedOut(id=b.id, field=b.field, reason=f"{b.field}: {b.reason}") for b in ignored]


class ValidationOut(_Out):
    """Predicted vs observed per record, and errors per metric (``hwplan validate --json``)."""

    records: list[RecordErrorOut]
    summary: dict[str, SummaryOut] = Field(description="by metric")
    skipped: list[SkippedOut]
    ignored: list[SkippedOut] = Field(default=[], description=_IGNORED)
    by_scenario: dict[str, dict[str, SummaryOut]] = Field(
        default={}, description="per scenario (MLPerf's Offline / Server / Interactive where stated), by metric")
    by_family: dict[str, dict[str, SummaryOut]] = Field(default={}, description="per hardware family, by metric")
    by_model: dict[str, dict[str, SummaryOut]] = Field(default={}, description="per model, by metric")


class CrossValidationOut(_Out):
    by_metric: dict[str, SummaryOut]
    by_family: dict[str, SummaryOut] = Field(description="hardware family, all metrics")
    by_runtime: dict[str, SummaryOut] = Field(description="all metrics")
    by_scenario: dict[str, dict[str, SummaryOut]] = Field(default={}, description="per scenario, by metric")
    by_model: dict[str, dict[str, SummaryOut]] = Field(default={}, description="per model, by metric")
    under_load: dict[str, SummaryOut] = Field(
        default={}, description="by metric, over the records under load alone (Server and Interactive pooled): what "
                                "a plan's SLO capacity and p99s rest on; empty where there are none")
    by_round: dict[str, SummaryOut] | None = Field(
        default=None, description="under_load again with each MLPerf round held out in turn and predicted by a fit on "
                                  "the others (``hwplan calibrate`` without --cv-by, where the records carry two or "
                                  "more rounds): the error on a later round; null where not run")


class CalibrationOut(_Out):
    """What ``hwplan calibrate --json`` prints: the written file and its cross-validated error."""

    written: str
    n_records: int
    pairs: int = Field(description="hardware x runtime pairs fitted")
    serving_iteration_ms: dict[str, Num] = Field(
        default_factory=dict, description="the fitted serving iteration cost: 'pooled' (absent: the prior, 0) and "
        "each runtime whose records under load set its own")
    serving_overlap: dict[str, Num] = Field(
        default_factory=dict, description="the fitted serving overlap: 'pooled' (absent: the prior, 1) and per runtime")
    serving_concurrency: dict[str, int] = Field(
        default_factory=dict, description="per 'runtime on family' whose records under load ran more sequences per "
        "engine than the runtime's documented cap: the least cap they are consistent with (Little's law)")
    serving_concurrency_set_by: dict[str, str] = Field(
        default_factory=dict, description="per key of serving_concurrency, the id of the record whose figure sets it "
        "(the largest): one record sets the cap every engine of that runtime runs at")
    cross_validation: CrossValidationOut | None = Field(description="null with --cv-by none (fitted, not "
                                                                    "cross-validated)")
    skipped: list[SkippedOut]
    ignored: list[SkippedOut] = Field(default=[], description=_IGNORED)


def _file_metric() -> dict[str, tuple[str, float]]:
    from hardware_catalog.inputs.measurements import METRIC_NAMES

    return {si: (name, factor) for name, (si, factor) in METRIC_NAMES.items()}  # SI -> file units


def _summaries(s: Mapping[str, Summary], *, si_keys: bool = True) -> dict[str, SummaryOut]:
    file_metric = _file_metric()
    return {(file_metric[k][0] if si_keys else k): SummaryOut(
        n=v.n, median_ape=rounded(v.median_ape), p90_ape=rounded(v.p90_ape),
        within_25pct=rounded(v.within_25pct)) for k, v in s.items()}


def skipped_out(bad: Sequence[BadRecord], skipped: Sequence[Skipped]) -> list[SkippedOut]:
    rows = [SkippedOut(id=b.id, field=b.field, reason=f"invalid {b.field or 'record'}: {b.reason}") for b in bad]
    return rows + [SkippedOut(id=s.id, reason=s.reason) for s in skipped]


def validation_out(rs: RecordSet, predicted: Array, bad: Sequence[BadRecord],
                   skipped: Sequence[Skipped], ignored: Sequence[BadRecord] = ()) -> ValidationOut:
    from planner.calibration.validate import by_metric, record_errors

    file_metric = _file_metric()

    def file_units(values: Mapping[str, float]) -> MetricValues:
        return {file_metric[k][0]: rounded(v / file_metric[k][1]) for k, v in values.items()}

    return ValidationOut(
        records=[RecordErrorOut(id=e.id, predicted=file_units(e.predicted), observed=file_units(e.observed),
                                ape={file_metric[k][0]: rounded(v) for k, v in e.ape.items()},
                                tp=c.tp, tp_source="pools" if m.disaggregated is not None
                                else "stated" if m.tp is not None else "tuned")
                 for e, m, c in zip(record_errors(rs, predicted), rs.records, rs.configs, strict=True)],
        summary=_summaries(by_metric(rs, predicted)), skipped=skipped_out(bad, skipped),
        ignored=ignored_out(ignored), **grouped_summaries(rs, predicted))


def grouped_summaries(rs: RecordSet, predicted: Array) -> dict[str, dict[str, dict[str, SummaryOut]]]:
    """Errors by metric within each scenario, hardware family and model."""
    from planner.calibration.validate import by_metric

    keys: dict[str, Callable[[int], str]] = {
        "by_scenario": lambda j: rs.records[j].tags.get("scenario", str(rs.records[j].scenario)),
        "by_family": lambda j: rs.configs[j].hardware.family,
        "by_model": lambda j: rs.records[j].model,
    }
    out: dict[str, dict[str, dict[str, SummaryOut]]] = {}
    for name, key in keys.items():
        groups: dict[str, list[int]] = {}
        for j in range(len(rs)):
            groups.setdefault(key(j), []).append(j)
        out[name] = {g: _summaries(by_metric(rs.take(idx), predicted[idx])) for g, idx in sorted(groups.items())}
    return out


def under_load_out(rs: RecordSet, predicted: Array) -> dict[str, SummaryOut]:
    """By metric over ``rs``'s records under load (Server and Interactive) alone."""
    from planner.calibration.validate import by_metric
    from planner.model.estimate import Scenario

    rows = [j for j, m in enumerate(rs.records) if m.scenario is Scenario.SERVER]
    return _summaries(by_metric(rs.take(rows), predicted[rows])) if rows else {}


def cv_out(catalog: Catalog, rs: RecordSet, predicted: Array, *,
           by_round: dict[str, SummaryOut] | None = None) -> CrossValidationOut:
    """Cross-validated error by metric, hardware family (all metrics) and runtime (all metrics); ``by_round``:
    ``under_load_out`` of a by-round cross-validation, where one was run."""
    from planner.calibration.validate import by_group, by_metric

    return CrossValidationOut(
        under_load=under_load_out(rs, predicted), by_round=by_round,
        by_metric=_summaries(by_metric(rs, predicted)),
        by_family=_summaries(by_group(rs, predicted, lambda m: catalog.hardware[m.hardware].family), si_keys=False),
        by_runtime=_summaries(by_group(rs, predicted, lambda m: m.runtime), si_keys=False),
        **{k: v for k, v in grouped_summaries(rs, predicted).items() if k != "by_family"})


def calibration_out(*, written: str, n_records: int, pairs: int, cv: CrossValidationOut | None,
                    skipped: list[SkippedOut], calibration: Calibration | None = None,
                    ignored: Sequence[BadRecord] = (), concurrency_set_by: Mapping[tuple[str, str], str] | None = None
                    ) -> CalibrationOut:
    iteration: dict[str, Num] = {}
    overlap: dict[str, Num] = {}
    if calibration is not None:
        if calibration.serving_iteration_s is not None:
            iteration["pooled"] = _ms(calibration.serving_iteration_s)
        iteration |= {rid: _ms(v) for rid, v in sorted(calibration.serving_iteration_runtime.items())}
        if calibration.serving_overlap is not None:
            overlap["pooled"] = calibration.serving_overlap
        overlap |= dict(sorted(calibration.serving_overlap_runtime.items()))
    concurrency = {} if calibration is None else {
        f"{rid} on {family}": cap for (rid, family), cap in sorted(calibration.serving_concurrency.items())}
    set_by = {f"{rid} on {family}": record for (rid, family), record in sorted((concurrency_set_by or {}).items())}
    return CalibrationOut(written=written, n_records=n_records, pairs=pairs, serving_iteration_ms=iteration,
                          serving_overlap=overlap, serving_concurrency=concurrency, serving_concurrency_set_by=set_by,
                          cross_validation=cv, skipped=skipped, ignored=ignored_out(ignored))


# --- saved plans, comparisons and exports ---------------------------------------------------------


class TopPlanBriefOut(_Out):
    model: str
    runtime: str
    per_month: Num


class SavedPlanSummaryOut(_Out):
    """One saved plan in a listing: who saved it, when, on which catalog, and its top plan."""

    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    saved_by: str = Field(description="the API key's name, 'anonymous' or 'cli' (never a key)")
    workload: str = Field(description="the workload's name")
    catalog_version: str
    top_plan: TopPlanBriefOut | None = Field(description="null when the result has no plan")


class SavedPlanListOut(_Out):
    """A page of saved plans, newest first (GET /v1/plans)."""

    plans: list[SavedPlanSummaryOut]
    limit: int
    offset: int
    next_offset: int | None = Field(description="offset of the next page; null on the last one")


PricesUsed = dict[str, dict[str, float | None]]  # pricing mode -> hardware -> $ per chip-hour


class SavedPlanOut(_Out):
    """A saved plan: the workload as given, the full result, and its provenance (GET /v1/plans/{id})."""

    id: str
    created_at: str = Field(description="ISO 8601, UTC")
    saved_by: str = Field(description="the API key's name, 'anonymous' or 'cli' (never a key)")
    catalog_version: str = Field(description="content hash of the catalog that produced the result")
    workload: dict[str, Any] = Field(description="the workload as planned (a workload file's fields)")
    result: PlanResultOut
    prices: PricesUsed = Field(description="price per chip-hour of every chip its plans use, by pricing mode")


def saved_plan_summary_out(s: SavedPlan) -> SavedPlanSummaryOut:
    top = (s.result.get("plans") or [None])[0]
    return SavedPlanSummaryOut(
        id=s.id, created_at=s.created_at.isoformat(), saved_by=s.saved_by, workload=s.workload_name,
        catalog_version=s.catalog_version,
        top_plan=None if top is None else TopPlanBriefOut(model=top["model"], runtime=top["runtime"],
                                                          per_month=top["cost"]["per_month"]))


def saved_plan_out(s: SavedPlan) -> SavedPlanOut:
    return SavedPlanOut(id=s.id, created_at=s.created_at.isoformat(), saved_by=s.saved_by,
                        catalog_version=s.catalog_version, workload=s.workload,
                        result=PlanResultOut.model_validate(s.result), prices=s.prices)


class TopPlanOut(_Out):
    """A compared result's top plan: what it runs, on what, at what cost, latency and quality."""

    model: str
    precision: str
    kv_precision: str
    runtime: str
    hardware: list[str] = Field(description="'replicas x chips_per_replica hardware' per deployment")
    per_month: Num
    per_million_tokens: Num
    ttft_ms_p99: Num
    tpot_ms_p99: Num
    e2e_ms_p99: Num
    quality: Num


class ComparedOut(_Out):
    id: str | None = Field(description="the saved plan's id (null: a plan file, or a replan not saved)")
    top_plan: TopPlanOut | None = Field(description="null when that result has no plan")


class FieldChangeOut(_Out):
    field: str = Field(description="dotted path of the field")
    a: Any = Field(description="its value in a (null: absent)")
    b: Any = Field(description="its value in b (null: absent)")


class VersionChangeOut(_Out):
    a: str
    b: str


class ChangesOut(_Out):
    workload: list[FieldChangeOut] = Field(description="fields of the workloads that differ (a `plan --json` file "
                                                       "holds only the workload's name)")
    objective: FieldChangeOut | None = Field(default=None, description="null: both ranked by the same objective")
    catalog_version: VersionChangeOut | None = Field(description="null: both used the same catalog")
    prices: list[FieldChangeOut] = Field(description="price per chip-hour, by pricing mode and hardware, of the "
                                                     "chips both results' plans use")
    prices_compared: int = Field(description="(pricing mode, chip) prices both results' plans use, which `prices` "
                                             "compares: 0 means no price could be compared (other chips, another "
                                             "pricing mode, or a plan file, which keeps none)")
    top_plan: list[FieldChangeOut]


class CompareOut(_Out):
    """Two results' top plans side by side and what changed from a to b (``hwplan compare``, ``replan``)."""

    a: ComparedOut
    b: ComparedOut
    cost_per_month_change: Num = Field(description="b's top plan's $/month - a's (null without both)")
    changed: ChangesOut


class ExportFileOut(_Out):
    name: str
    media_type: str
    content: str


class ExportOut(_Out):
    """The files that deploy one plan in one format (``hwplan export --json``)."""

    format: str
    rank: int
    files: list[ExportFileOut]


class _File(Protocol):  # hardware_catalog.export's Artifact (which imports this module)
    @property
    def name(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def media_type(self) -> str: ...


def export_out(fmt: str, rank: int, artifacts: Sequence[_File]) -> ExportOut:
    return ExportOut(format=fmt, rank=rank, files=[ExportFileOut(name=a.name, media_type=a.media_type,
                                                                 content=a.content) for a in artifacts])
