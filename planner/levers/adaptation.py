"""Adaptation as a search dimension: per (model, weight precision), the adaptation a plan uses.

A candidate serves the merged (or multi-LoRA) adapted weights, so its serving performance is the
base model's; what adaptation changes is quality (``planner.levers.quality``) and a one-time cost
(``planner.levers.finetune``, the cheapest hardware that can train it). For each (model, precision)
the planner takes, among the allowed methods whose one-time cost is within
``budget.max_one_time_cost``, the cheapest one whose score at the workload's confidence (central
value or low end, ``confidence``) meets ``quality.min_score``
("none" costs nothing); without a floor, "none". If none meets the floor, the best-scoring one is
kept, and the floor filter then removes the candidate, counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from planner.domain import Catalog, Model
from planner.economics.rates import Pricing
from planner.levers.finetune import cheapest_option
from planner.levers.quality import ADAPTATIONS, GENERAL, QualityEstimate, best_teacher, domain_task, quality
from planner.measured_speed import origin, origin_serving
from planner.memo import cached
from planner.workload import Workload

__all__ = ["DEFAULT_ADAPTATION_TOKENS", "Choice", "allowed_adaptations", "choose", "confidence", "floor_score"]

# Default domain training set: the Guanaco 65B run's upper bound, 1875 steps x 16 sequences x
# 528 tokens (artidoro/qlora finetune_guanaco_65b.sh), when the workload gives no size.
DEFAULT_ADAPTATION_TOKENS = 1875 * 16 * 528
_Method = tuple[str, QualityEstimate, Model | None]  # (method, its quality, the teacher a distillation learns from)


@dataclass(frozen=True)
class Choice:
    adaptation: str
    quality: QualityEstimate
    one_time: float  # USD
    teacher: str | None = None
    trained_on: str | None = None  # hardware of the cheapest training option


def allowed_adaptations(w: Workload) -> tuple[str, ...]:
    """The workload's list, else every method on a domain task and none on the general one."""
    if w.constraints.adaptations is not None:
        return w.constraints.adaptations
    return ADAPTATIONS if w.quality.task != GENERAL else ("none",)


def _one_time(catalog: Catalog, model: Model, method: str, teacher: Model | None, tokens: float,
              pricing: Pricing) -> tuple[float, str | None]:
    """Cheapest training option's cost and hardware (per catalog, once). It reads no serving speed but a
    teacher's (``finetune._served_generation_s``), so a catalog at measured speed that slows no teacher takes
    its origin's (``planner.measured_speed.origin``)."""
    # the teacher's speed (on whichever chip) is all a catalog at measured speed may change here
    base = origin(catalog) if teacher is None else origin_serving(catalog, teacher.id)
    if base is not None:
        return _one_time(base, model, method, teacher, tokens, pricing)
    key = ("one_time", model.id, method, teacher.id if teacher else "", tokens, pricing)
    return cached(catalog, key, lambda: _cheapest(catalog, model, method, teacher, tokens, pricing))


def _quality(catalog: Catalog, model: Model, precision: str, w: Workload, adaptation: str,
             teacher: Model | None) -> QualityEstimate:
    """``planner.levers.quality.quality`` (per catalog, once: every workload on the task asks again; a catalog at
    measured speed takes its origin's: quality reads no serving speed)."""
    if (base := origin(catalog)) is not None:
        return _quality(base, model, precision, w, adaptation, teacher)
    q = w.quality
    tokens = q.adaptation_tokens or DEFAULT_ADAPTATION_TOKENS
    key = ("quality", model.id, precision, q.task, adaptation, teacher.id if teacher else "", tokens, q.task_type)
    return cached(catalog, key, lambda: quality(catalog, model=model, precision=precision, task=q.task,
                                                adaptation=adaptation, teacher=teacher, tokens=tokens,
                                                task_type=q.task_type))


def confidence(w: Workload, adaptation: str) -> str:
    """Which end of the range meets the floor: the workload's choice, else "low" for an adapted or
    distilled model (its range spans the evidence's whole spread) and "central" for an unadapted one
    (its only range is the precision's, a few percent)."""
    if w.quality.confidence is not None:
        return w.quality.confidence
    return "central" if adaptation == "none" else "low"


def floor_score(choice: Choice, w: Workload) -> float:
    """The score a floor is compared with: the central value or the low end (``confidence``)."""
    return _floor_score(choice.adaptation, choice.quality, w)


def _floor_score(adaptation: str, q: QualityEstimate, w: Workload) -> float:
    return q.low if confidence(w, adaptation) == "low" else q.score


def _teacher(catalog: Catalog, task: str, student: Model) -> Model | None:
    """``best_teacher`` (per catalog, once: every precision of a student asks again; a catalog at measured
    speed takes its origin's: quality reads no serving speed)."""
    if (base := origin(catalog)) is not None:
        return _teacher(base, task, student)
    return cached(catalog, ("teacher", task, student.id), lambda: best_teacher(catalog, task, student))


def _cheapest(catalog: Catalog, model: Model, method: str, teacher: Model | None, tokens: float,
              pricing: Pricing) -> tuple[float, str | None]:
    best = cheapest_option(catalog, model=model, method=method, dataset_tokens=tokens, teacher=teacher,
                           pricing=pricing)
    return (float("inf"), None) if best is None else (best.cost or 0.0, best.hardware)


def _methods(catalog: Catalog, model: Model, precision: str, w: Workload) -> list[_Method]:
    """The allowed methods whose quality is known, in the workload's order: (method, quality, teacher)."""
    task = w.quality.task
    out = []
    for method in allowed_adaptations(w):
        if method != "none" and not domain_task(catalog, task) and w.constraints.adaptations is None:
            continue  # adaptation moves a domain score only: unasked, it would cost and add nothing
        # (asked for on the general task or a benchmark, e.g. adapters served on a multi-LoRA runtime: costed, no
        # gain claimed)
        teacher = _teacher(catalog, task, model) if method == "distill" else None
        if method == "distill" and teacher is None:
            continue
        q = _quality(catalog, model, precision, w, method, teacher)
        if q.known:
            out.append((method, q, teacher))
    return out


def _costed(catalog: Catalog, model: Model, w: Workload, method: str, q: QualityEstimate, teacher: Model | None
            ) -> Choice | None:
    """The method as a choice with its one-time cost (None: no option trains it, or it costs more than
    ``budget.max_one_time_cost``)."""
    if method == "none":
        return Choice("none", q, 0.0)
    tokens = w.quality.adaptation_tokens or DEFAULT_ADAPTATION_TOKENS
    # a training job is one-off: its chips at the mode's quoted rate, no reserved term spread over the horizon
    cost, hw = _one_time(catalog, model, method, teacher, tokens, replace(w.constraints.pricing, horizon_months=None))
    limit = w.budget.max_one_time_cost
    if cost == float("inf") or (limit is not None and cost > limit):
        return None
    return Choice(method, q, cost, teacher.id if teacher else None, hw)


def choose(catalog: Catalog, model: Model, precision: str, w: Workload) -> Choice | None:
    """The adaptation a candidate of (model, precision) uses (module docstring); None: none allowed.
    Computed once per catalog and the workload fields it reads."""
    key = ("choose", model.id, precision, w.quality.task, w.quality.adaptation_tokens, w.quality.min_score,
           w.quality.confidence, w.quality.task_type, allowed_adaptations(w), w.constraints.pricing,
           w.budget.max_one_time_cost)
    return cached(catalog, key, lambda: _choose(catalog, model, precision, w))


def _choose(catalog: Catalog, model: Model, precision: str, w: Workload) -> Choice | None:
    """``choose``, costing a method's training (``_one_time``: the cheapest hardware that trains it,
    ~1 ms each) only where the choice depends on it: the methods that meet the floor, then, where
    none of those is within budget, the others from the best floor score down until one is."""
    methods = _methods(catalog, model, precision, w)
    floor = w.quality.min_score
    if floor is None:
        unadapted = next((q for method, q, _t in methods if method == "none"), None)
        if unadapted is not None:
            return Choice("none", unadapted, 0.0)
        options = [c for c in (_costed(catalog, model, w, *m) for m in methods) if c is not None]
        return min(options, key=lambda c: c.one_time) if options else None
    scores = [_floor_score(method, q, w) for method, q, _t in methods]
    meeting = [c for m, score in zip(methods, scores, strict=True) if score >= floor
               and (c := _costed(catalog, model, w, *m)) is not None]
    if meeting:
        return min(meeting, key=lambda c: (c.one_time, -c.quality.score))
    # the best floor score among the methods within budget (the first such in the workload's order)
    for k in sorted(range(len(methods)), key=lambda k: -scores[k]):
        if (c := _costed(catalog, model, w, *methods[k])) is not None:
            return c
    return None
