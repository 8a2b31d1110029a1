"""The domain-task example: a small adapted or distilled model beats the large general one on cost."""

from __future__ import annotations

from pathlib import Path

from hardware_catalog.workload_file import load_workload
from planner.domain import Catalog
from planner.search.lever_report import lever_report
from planner.search.planning import plan

EXAMPLE = Path(__file__).parents[1] / "examples" / "domain-task.yaml"


def test_adapted_small_model_beats_large_general_one(catalog: Catalog) -> None:
    w = load_workload(EXAMPLE)
    result = plan(w, catalog, top=3, time_limit_s=10)
    top = result.plans[0]
    assert top.adaptation != "none"
    assert catalog.get_model(top.model).params < 10e9
    assert top.quality.low is not None and top.quality.high is not None and top.quality.score is not None
    assert top.quality.low <= top.quality.score <= top.quality.high and top.quality.score >= 85
    assert 0 < top.cost.one_time <= 5000
    assert top.cost.per_month >= top.cost.per_hour * 730 + top.cost.one_time / 12 - 1e-6
    rows = {r.lever: r for r in lever_report(catalog, w, top, time_limit_s=5)}
    size = rows["model size"]
    assert size.plan is not None and catalog.get_model(size.plan.model).params > 30e9
    assert size.plan.adaptation == "none" and size.saving_per_month is not None and size.saving_per_month > 0
    assert rows["adaptation"].plan is None  # unadapted, the small model cannot meet the floor
