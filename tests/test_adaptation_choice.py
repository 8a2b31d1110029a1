"""``choose`` costs a method's training only where the choice depends on it; what it picks must be what
the rule picks with every allowed method costed (planner/levers/adaptation.py's module docstring), written
here directly: cost every method, drop those over budget or untrainable, then the cheapest meeting the
floor, else the best floor score (the first in the workload's order on a tie); with no floor "none",
else the cheapest."""

from __future__ import annotations

import itertools

import pytest

from hardware_catalog import load_catalog
from planner.domain import Catalog
from planner.levers import adaptation as ad
from planner.levers.quality import best_teacher, quality
from planner.workload import Budget, Constraints, Quality, Tokens, Traffic, Workload


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(None)


def _eager(catalog: Catalog, model_id: str, precision: str, w: Workload) -> tuple[object, ...] | None:
    model = catalog.models[model_id]
    q = w.quality
    tokens = q.adaptation_tokens or ad.DEFAULT_ADAPTATION_TOKENS
    options = []
    for method in ad.allowed_adaptations(w):
        if method != "none" and q.task == "general" and w.constraints.adaptations is None:
            continue
        teacher = best_teacher(catalog, q.task, model) if method == "distill" else None
        if method == "distill" and teacher is None:
            continue
        est = quality(catalog, model=model, precision=precision, task=q.task, adaptation=method, teacher=teacher,
                      tokens=tokens, task_type=q.task_type)
        if not est.known:
            continue
        cost, hw = (0.0, None) if method == "none" else ad._one_time(catalog, model, method, teacher, tokens,
                                                                     w.constraints.pricing)
        if cost == float("inf") or (w.budget.max_one_time_cost is not None and cost > w.budget.max_one_time_cost):
            continue
        options.append(ad.Choice(method, est, cost, teacher.id if teacher else None, hw))
    if not options:
        return None
    if q.min_score is None:
        pick = next((c for c in options if c.adaptation == "none"), None) or min(options, key=lambda c: c.one_time)
    else:
        meeting = [c for c in options if ad.floor_score(c, w) >= q.min_score]
        pick = (min(meeting, key=lambda c: (c.one_time, -c.quality.score)) if meeting
                else max(options, key=lambda c: ad.floor_score(c, w)))
    return pick.adaptation, pick.one_time, pick.teacher, pick.trained_on, pick.quality


def _workload(task: str, floor: float | None, confidence: str | None, limit: float | None,
              adaptations: tuple[str, ...] | None) -> Workload:
    return Workload(name="choice", traffic=Traffic(requests_per_s=1.0, input_tokens=Tokens(500.0),
                                                   output_tokens=Tokens(200.0)),
                    budget=Budget(max_one_time_cost=limit),
                    quality=Quality(min_score=floor, task=task, adaptation_tokens=2e7, confidence=confidence),
                    constraints=Constraints(adaptations=adaptations))


def test_choice_is_the_rule_applied_to_every_method_costed(catalog: Catalog) -> None:
    tie = quality(catalog, model=catalog.models["llama-3.1-8b"], precision="bf16", task="claims_triage",
                  adaptation="lora", teacher=None, tokens=2e7, task_type=None).score  # a floor met exactly
    grid = itertools.product(("claims_triage", "general"), (None, 40.0, 70.0, tie, 85.0, 99.0),
                             (None, "central", "low"), (None, 20.0, 5000.0),
                             (None, ("none", "lora", "full", "distill"), ("qlora", "full")))
    compared = differ = 0
    kinds: set[str | None] = set()
    for task, floor, confidence, limit, adaptations in grid:
        w = _workload(task, floor, confidence, limit, adaptations)
        for model_id in catalog.models:
            for precision in ("bf16", "int4"):
                want = _eager(catalog, model_id, precision, w)
                c = ad.choose(catalog, catalog.models[model_id], precision, w)
                got = None if c is None else (c.adaptation, c.one_time, c.teacher, c.trained_on, c.quality)
                compared += 1
                differ += got != want
                assert got == want, (task, floor, confidence, limit, adaptations, model_id, precision, got, want)
                kinds.add(None if c is None else c.adaptation)
    assert compared > 5000 and differ == 0
    assert {None, "none", "lora", "qlora", "full"} <= kinds  # the grid reaches every branch of the rule
