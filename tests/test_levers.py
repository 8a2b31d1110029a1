"""The domain-task example: at central confidence a smaller adapted model beats the large general
one on cost; at low confidence (a fine-tune's low end is its base score) it cannot."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.search.lever_report import lever_report
from planner.search.planning import plan

EXAMPLES = Path(__file__).parents[1] / "examples"
EXAMPLE = EXAMPLES / "domain-task.yaml"


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


def test_the_model_size_row_does_not_count_the_precision_lever_again(catalog: Catalog) -> None:
    """support-chatbot's top plan already runs the smallest model meeting the floor, unadapted, at fp8: the
    model-size baseline is then the top plan's own choices (hardware and runtime free), so it is worth
    nothing; the row once re-planned it at bf16 and credited model size with the precision lever's
    saving ($230 of it)."""
    w = load_workload(Path(__file__).parents[1] / "examples" / "support-chatbot.yaml")
    top = plan(w, catalog, top=1).plans[0]
    rows = {r.lever: r for r in lever_report(catalog, w, top, time_limit_s=5)}
    size = rows["model size"]
    assert size.plan is not None and size.plan.model == top.model and top.adaptation == "none"
    assert size.plan.precision == top.precision
    assert size.saving_per_month is not None and abs(size.saving_per_month) < 1e-6
    assert rows["precision"].saving_per_month is not None and rows["precision"].saving_per_month > 0


@pytest.mark.parametrize("name", ["rag-prefix-cache"])
def test_a_baseline_cheaper_than_plan_1_is_one_the_search_did_not_search(catalog: Catalog, name: str) -> None:
    # plan 1 is the cheapest plan the search proves; a lever row re-planned cheaper contradicts that unless
    # it searched something the plan's search did not (speculative decoding is opt-in): then it says so.
    # (support-chatbot showed the case too while its Qwen2.5-1.5B was drafted with an EAGLE head nobody publishes)
    w = load_workload(EXAMPLES / f"{name}.yaml")
    result = plan(w, catalog, top=1)
    rows = lever_report(catalog, w, result.plans[0])
    cheaper = [r for r in rows if r.saving_per_month is not None
               and r.saving_per_month < -0.01 * result.plans[0].cost.per_month]
    assert cheaper, "no row to check (the example no longer shows the case)"
    for r in cheaper:
        assert "not searched" in r.baseline, (r.lever, r.baseline, r.saving_per_month)


def test_the_lever_report_keeps_to_its_deadline(catalog: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    """A request's levers ran 5 s re-plans whatever its time_limit_s was left (0.81 s for a 0.3 s request). Each
    re-plan now gets at most what is left of ``deadline_s``; once nothing is, the rows left are not re-planned
    and say so (``complete`` false, no plan, the note), and the plan answer is not complete."""
    import importlib

    from hardware_catalog.outputs import levers_out, plan_result_out

    lr = importlib.import_module("planner.search.lever_report")  # (the package's attribute is the function)

    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    result = plan(w, catalog, top=1, time_limit_s=10)
    top = result.plans[0]
    limits: list[float] = []
    real = lr.plan

    def timed(*args: object, **kwargs: object) -> object:
        limits.append(float(kwargs["time_limit_s"]))  # type: ignore[arg-type]
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(lr, "plan", timed)
    rows = lever_report(catalog, w, top, time_limit_s=5, deadline_s=0.0)
    assert rows and limits == [] and all(not r.complete and r.plan is None for r in rows)
    report = levers_out(rows, top)
    assert all(r.note == "not re-planned: the deadline had passed" for r in report.root)
    assert not plan_result_out(result, report).complete and plan_result_out(result).complete
    rows = lever_report(catalog, w, top, time_limit_s=5, deadline_s=2.0)
    assert limits and all(0 < t <= 2.0 for t in limits)  # each at most what was left
    assert len(limits) + sum(r.plan is None and not r.complete for r in rows) == len(rows)
    assert all(r.complete for r in lever_report(catalog, w, top, time_limit_s=5))  # no deadline: as before
