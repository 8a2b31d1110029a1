"""The domain-task example: at central confidence a smaller adapted model beats the large general
one on cost; at low confidence (a fine-tune's low end is its base score) it cannot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.search.lever_report import lever_report
from planner.search.planning import plan

EXAMPLE = Path(__file__).parents[1] / "examples" / "domain-task.yaml"


def test_adapted_small_model_beats_large_general_one(catalog: Catalog) -> None:
    w = load_workload(EXAMPLE)
    result = plan(w, catalog, top=3, time_limit_s=10)
    top = result.plans[0]
    assert top.adaptation != "none"
    assert catalog.get_model(top.model).params < 40e9
    assert top.quality.low is not None and top.quality.high is not None and top.quality.score is not None
    assert top.quality.low <= top.quality.score <= top.quality.high and top.quality.score >= 85
    assert 0 < top.cost.one_time <= 5000
    assert top.cost.per_month >= top.cost.per_hour * 730 + top.cost.one_time / 12 - 1e-6
    rows = {r.lever: r for r in lever_report(catalog, w, top, time_limit_s=5)}
    size = rows["model size"]
    assert size.plan is not None and catalog.get_model(size.plan.model).params > 30e9
    assert size.plan.adaptation == "none" and size.saving_per_month is not None and size.saving_per_month > 0
    assert rows["adaptation"].plan is None  # unadapted, the small model cannot meet the floor


def test_at_low_confidence_only_an_unadapted_model_meets_the_floor(catalog: Catalog) -> None:
    w = load_workload(EXAMPLE)
    low = replace(w, quality=replace(w.quality, confidence="low"))
    result = plan(low, catalog, top=3, time_limit_s=10)
    assert result.plans and all(p.adaptation == "none" for p in result.plans)
    top = result.plans[0]
    assert top.quality.low is not None and top.quality.low >= 85
    central = plan(w, catalog, top=1, time_limit_s=10).plans[0]
    assert central.cost.per_month < top.cost.per_month  # relying on the central estimate is cheaper
