"""Plain-dict form of a PlanResult: what ``hwplan plan --json`` prints and POST /v1/plans returns."""

from __future__ import annotations

import math
from typing import Any

from planner.levers.finetune import Basis, TrainingOption
from planner.model.estimate import Estimate
from planner.search.lever_report import LeverRow, value_of
from planner.search.results import Plan, PlanResult

__all__ = ["estimate_dict", "finetune_dict", "plan_result_dict", "levers_dict", "rounded"]

GB = 1e9


def rounded(value: float | None, digits: int = 5) -> float | None:
    """``value`` to ``digits`` significant digits for display; None when absent or not finite
    (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else rounded(seconds * 1e3)


def estimate_dict(e: Estimate) -> dict[str, Any]:
    """What ``hwplan estimate --json`` prints and POST /v1/estimate returns (ms, GB)."""
    c = e.config
    data: dict[str, Any] = {
        "model": c.model.id,
        "hardware": c.hardware.id,
        "chips": c.chips,
        "tp": c.tp,
        "pp": c.pp,
        "replicas": c.replicas,
        "precision": c.precision.id,
        "kv_precision": c.kv_precision.id,
        "compute_precision": c.precision.compute_precision(c.hardware),
        "runtime": c.runtime.id,
        "scenario": str(e.scenario),
        "fits": e.fits,
        "reason": e.reason,
        "memory": {
            "weights_gb": rounded(e.weights_bytes / GB),
            "kv_cache_gb": rounded(e.kv_cache_bytes / GB),
            "activations_gb": rounded(e.activations_bytes / GB),
            "overhead_gb": rounded(e.overhead_bytes / GB),
            "total_gb": rounded(e.total_bytes / GB),
            "capacity_gb": rounded(e.capacity_bytes / GB),
            "per": "chip",
        },
        "max_batch": e.max_batch,
        "batch": rounded(e.batch),
        "ttft_ms": _ms(e.ttft_s),
        "tpot_ms": _ms(e.tpot_s),
        "e2e_ms": _ms(e.e2e_s),
        "output_tokens_per_s": rounded(e.output_tokens_per_s),
        "requests_per_s": rounded(e.requests_per_s),
        "bound": e.bound,
        "pricing": e.pricing,
        "cost_per_hour": rounded(e.cost_per_hour),
        "cost_per_million_output_tokens": rounded(e.cost_per_million_output_tokens),
        "calibrated": e.efficiency.calibrated,
        "efficiency": {
            "compute": rounded(e.efficiency.compute, 3),
            "memory": rounded(e.efficiency.memory, 3),
            "communication": rounded(e.efficiency.communication, 3),
            "step_overhead_ms": _ms(e.efficiency.step_overhead_s),
            "source": e.efficiency.source,
        },
    }
    if e.cost_per_hour is None:
        data["cost_note"] = f"no {e.pricing} price for {c.hardware.id} in the catalog"
    if str(e.scenario) == "server":
        data.update(ttft_p99_ms=_ms(e.ttft_p99_s), tpot_p99_ms=_ms(e.tpot_p99_s),
                    utilization=rounded(e.utilization, 3),
                    capacity_requests_per_s=rounded(e.capacity_requests_per_s))
    return data


def plan_dict(p: Plan) -> dict[str, Any]:
    return {
        "rank": p.rank,
        "model": p.model,
        "precision": p.precision,
        "kv_precision": p.kv_precision,
        "adaptation": p.adaptation,
        "runtime": p.runtime,
        "deployments": [{
            "hardware": d.hardware, "chips_per_replica": d.chips_per_replica, "tp": d.tp, "pp": d.pp,
            "replicas": d.replicas, "max_batch": d.max_batch,
            "requests_per_s_per_replica": rounded(d.requests_per_s_per_replica),
            "slo_capacity_per_replica": rounded(d.slo_capacity_per_replica),
            "calibrated": d.calibrated,
        } for d in p.deployments],
        "predicted": {k: rounded(v) for k, v in p.predicted.items()},
        "quality": {"score": rounded(p.quality.score), "low": rounded(p.quality.low), "high": rounded(p.quality.high),
                    "task": p.quality.task, "confidence": p.quality.confidence, "sources": list(p.quality.sources)},
        "cost": {"per_hour": rounded(p.cost.per_hour), "per_month": rounded(p.cost.per_month),
                 "per_million_tokens": rounded(p.cost.per_million_tokens), "one_time": rounded(p.cost.one_time),
                 "pricing": p.cost.pricing},
        "binding": list(p.binding),
        "pareto": p.pareto,
    }


def plan_result_dict(r: PlanResult) -> dict[str, Any]:
    return {
        "workload": r.workload,
        "objective": r.objective,
        "plans": [plan_dict(p) for p in r.plans],
        "pareto": [plan_dict(p) for p in r.pareto],
        "infeasible": None if r.infeasible is None else {
            "reasons": list(r.infeasible.reasons),
            "relaxations": [{"constraint": x.constraint, "needed": x.needed, "value": rounded(x.value)}
                            for x in r.infeasible.relaxations],
        },
        "search": {
            "candidates": r.search.candidates, "evaluated": r.search.evaluated, "pruned": r.search.pruned,
            "solver_status": r.search.solver_status, "gap": r.search.gap, "stop": r.search.stop,
            "solves": r.search.solves,
            "elapsed_ms": rounded(r.search.elapsed_ms, 4), "dropped": dict(r.search.dropped),
        },
        "notes": [
            "predicted latencies are the worst deployment's, with traffic split across replicas in "
            "proportion to their SLO capacity (queueing model: planner/queueing.py)",
            "cost.per_month = per_hour x 730 h + one-time cost / horizon_months; per_million_tokens "
            "counts output tokens at the average request rate",
        ],
    }


def _option_dict(o: TrainingOption) -> dict[str, Any]:
    return {"hardware": o.hardware, "chips": o.chips,
            "memory_per_chip_gb": rounded(o.memory_per_chip_bytes / GB, 4),
            "fits": o.fits, "hours": rounded(o.hours, 4),
            "hours_range": [rounded(o.hours_low, 4), rounded(o.hours_high, 4)],
            "cost": rounded(o.cost, 4), "teacher_chips": o.teacher_chips, "reason": o.reason}


def _basis_dict(b: Basis) -> dict[str, Any]:
    return {"flops": rounded(b.flops, 4), "flops_formula": b.flops_formula, "memory_formula": b.memory_formula,
            "mfu": {"low": b.mfu[0], "central": b.mfu[1], "high": b.mfu[2]},
            "time": "hours = FLOPs / (chips x 16-bit peak x MFU); range from the MFU range",
            "cost": "chip-hours at the central MFU x price per chip-hour",
            "sources": list(b.sources)}


def finetune_dict(options: list[TrainingOption], basis: Basis, *, model: str, method: str, teacher: str | None,
                  dataset_tokens: float, epochs: float, pricing: str) -> dict[str, Any]:
    """What ``hwplan finetune --json`` prints and POST /v1/finetune returns."""
    return {"model": model, "method": method, "teacher": teacher, "dataset_tokens": dataset_tokens,
            "epochs": epochs, "pricing": pricing, "options": [_option_dict(o) for o in options],
            "basis": _basis_dict(basis)}


def levers_dict(rows: list[LeverRow], top: Plan) -> list[dict[str, Any]]:
    return [{"lever": r.lever, "baseline": r.baseline, "top_plan_value": value_of(top, r.lever),
             "baseline_plan": None if r.plan is None else plan_dict(r.plan),
             "baseline_cost_per_month": None if r.plan is None else r.plan.cost.per_month,
             "baseline_quality": None if r.plan is None else r.plan.quality.score,
             "saving_per_month": r.saving_per_month,
             "note": "no feasible plan at the baseline" if r.plan is None else ""} for r in rows]
