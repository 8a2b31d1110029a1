"""Shared deployments: several workloads served by one pool of replicas of one base model.

Where the runtime serves several LoRA adapters on one base model (its ``multi_lora`` feature),
workloads that need the same base can share replicas: their peaks need not coincide, one spare
covers them all, and integer rounding is paid once. The group is planned as one workload
(``merged``) whose demand in each period is the sum of its members', on the strictest terms of
any member:

- requests/s summed; mean token counts weighted by each member's mean requests/s; p95 the largest;
- every latency target the tightest any member sets; the quality floor the highest, compared with the strictest
  end of the range any member asks (``confidence``), and the least adaptation data any member has;
- hardware, models, precisions: what every member allows; runtimes: those with multi_lora that
  every member allows;
- availability: the most replicas, spare and zones, the lowest max_utilization of any member;
- serving features: forbidden when any member forbids one, else required when any requires it;
  members' prefix caches are not carried (no cache hits counted) nor their empirical length
  distributions (the mix keeps the mean and the largest stated p95).

The SLO capacity of a replica is then computed for the merged request mix (the queueing model
takes one length distribution: the mean of the mix and the largest p95), an approximation of
serving the members' different mixes together, on the conservative side for the tails.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from planner.domain import Catalog
from planner.errors import InputError
from planner.workload import Availability, Constraints, Quality, Slo, Tokens, Traffic, Workload

__all__ = ["merged"]


def _common(values: Sequence[tuple[str, ...] | None]) -> tuple[str, ...] | None:
    """The ids every member allows (None: any)."""
    given = [set(v) for v in values if v is not None]
    if not given:
        return None
    return tuple(sorted(set.intersection(*given)))


def _tokens(ws: Sequence[Workload], which: str) -> Tokens:
    total = sum(w.traffic.requests_per_s for w in ws)
    parts = [getattr(w.traffic, which) for w in ws]
    mean = sum(t.mean * w.traffic.requests_per_s for t, w in zip(parts, ws, strict=True)) / total
    p95s = [t.p95 for t in parts if t.p95 is not None]
    return Tokens(mean=mean, p95=max([*p95s, mean]) if p95s else None)


def _slo(ws: Sequence[Workload]) -> Slo:
    targets: dict[str, dict[int, float]] = {}
    for w in ws:
        for metric, pct, limit in w.slo.items():
            by_p = targets.setdefault(metric, {})
            by_p[pct] = min(by_p.get(pct, limit), limit)
    return Slo(targets=targets)


def _serving(c: Sequence[Constraints]) -> dict[str, str]:
    """One rule per serving feature: forbidden by any member wins, then required by any."""
    rules: dict[str, str] = {}
    for x in c:
        for feature, rule in x.serving.items():
            held = rules.get(feature, "allowed")
            rules[feature] = "forbidden" if "forbidden" in (held, rule) else "required" if "required" in (held, rule) \
                else "allowed"
    return rules


def _strictest_confidence(levels: Sequence[str | None]) -> str | None:
    """The strictest end of the quality range any member's floor is compared with: "low" over the default (None: low
    for an adapted model, central otherwise) over "central". The first member's had been kept, whatever the others
    asked (an auditor's case: a member asking the low end was served by a plan whose low end sat 13 points below)."""
    for level in ("low", None, "central"):
        if level in levels:
            return level
    return None


def merged(catalog: Catalog, name: str, ws: Sequence[Workload]) -> Workload:
    """The group as one workload (module docstring); InputError when the members cannot share."""
    tasks = {w.quality.task for w in ws}
    if len(tasks) > 1:
        raise InputError(f"shared deployment {name!r}: members have different quality tasks {sorted(tasks)}",
                         field=f"shared.{name}")
    multi = tuple(r.id for r in catalog.runtimes.values() if r.features.get("multi_lora", False))
    runtimes = _common([*(w.constraints.runtimes for w in ws), multi])
    if not runtimes:
        raise InputError(f"shared deployment {name!r}: no runtime serves multi-LoRA within every member's runtimes",
                         field=f"shared.{name}")
    c = [w.constraints for w in ws]
    floors = [w.quality.min_score for w in ws if w.quality.min_score is not None]
    a = [w.availability for w in ws]
    peak = sum(w.traffic.peak for w in ws)
    traffic = Traffic(requests_per_s=sum(w.traffic.requests_per_s for w in ws), peak_requests_per_s=peak,
                      input_tokens=_tokens(ws, "input_tokens"), output_tokens=_tokens(ws, "output_tokens"))
    constraints = Constraints(
        hardware=_common([x.hardware for x in c]),
        exclude_hardware=tuple(sorted({h for x in c for h in x.exclude_hardware})),
        models=_common([x.models for x in c]), precisions=_common([x.precisions for x in c]),
        kv_precisions=_common([x.kv_precisions for x in c]), runtimes=runtimes,
        adaptations=_common([x.adaptations for x in c]), max_chips_per_replica=min(x.max_chips_per_replica for x in c),
        max_hardware_types=min(x.max_hardware_types for x in c),
        quotas={h: min(x.quotas[h] for x in c if h in x.quotas) for h in {h for x in c for h in x.quotas}},
        pricing=c[0].pricing, serving=_serving(c))
    availability = Availability(min_replicas=max(x.min_replicas for x in a), spare=max(x.spare for x in a),
                                zones=max(x.zones for x in a), max_utilization=min(x.max_utilization for x in a))
    tokens = [w.quality.adaptation_tokens for w in ws if w.quality.adaptation_tokens is not None]
    quality = replace(ws[0].quality, min_score=max(floors) if floors else None,
                      task_type=ws[0].quality.task_type if len({w.quality.task_type for w in ws}) == 1 else None,
                      confidence=_strictest_confidence([w.quality.confidence for w in ws]),
                      adaptation_tokens=min(tokens) if tokens else None)
    return Workload(name=name, traffic=traffic, slo=_slo(ws), budget=ws[0].budget,
                    quality=Quality(**{**quality.__dict__}), constraints=constraints, availability=availability)
