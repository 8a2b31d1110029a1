"""Plain-dict form of a PlanResult: what ``hwplan plan --json`` prints and POST /v1/plans returns."""

from __future__ import annotations

import math
from typing import Any

from planner.results import Plan, PlanResult

__all__ = ["plan_result_dict"]


def _num(value: float | None, digits: int = 5) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")


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
            "requests_per_s_per_replica": _num(d.requests_per_s_per_replica),
            "slo_capacity_per_replica": _num(d.slo_capacity_per_replica),
            "calibrated": d.calibrated,
        } for d in p.deployments],
        "predicted": {k: _num(v) for k, v in p.predicted.items()},
        "quality": {"score": _num(p.quality.score), "low": _num(p.quality.low), "high": _num(p.quality.high),
                    "task": p.quality.task, "sources": list(p.quality.sources)},
        "cost": {"per_hour": _num(p.cost.per_hour), "per_month": _num(p.cost.per_month),
                 "per_million_tokens": _num(p.cost.per_million_tokens), "one_time": _num(p.cost.one_time),
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
            "relaxations": [{"constraint": x.constraint, "needed": x.needed, "value": _num(x.value)}
                            for x in r.infeasible.relaxations],
        },
        "search": {
            "candidates": r.search.candidates, "evaluated": r.search.evaluated, "pruned": r.search.pruned,
            "solver_status": r.search.solver_status, "solves": r.search.solves,
            "elapsed_ms": _num(r.search.elapsed_ms, 4), "dropped": dict(r.search.dropped),
        },
        "notes": [
            "predicted latencies are the worst deployment's, with traffic split across replicas in "
            "proportion to their SLO capacity (queueing model: planner/queueing.py)",
            "cost.per_month = per_hour x 730 h + one-time cost / horizon_months; per_million_tokens "
            "counts output tokens at the average request rate",
        ],
    }
