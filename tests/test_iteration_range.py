"""The serving iteration cost's interval (planner.calibration.serving_fit) and the plans at its ends
(planner.search.iteration_range, ``hwplan plan --iteration-range``, POST /v1/plans?iteration_range=true).

Independent bases: the rule worked by hand on errors whose bootstrap spread is zero; monotonicity (a
longer iteration only lowers every replica's capacity, so the cheapest plan at the high end costs at
least the fitted plan, and at the low end at most); an interval of one point re-plans to the same plan;
the schema's limits.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from hardware_catalog import load_catalog
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import default_catalog_dir
from planner.calibration.serving_fit import _choose, _interval, within
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.grid import CatalogTables
from planner.search.iteration_range import iteration_range
from planner.search.planning import plan
from planner.workload import Objective, Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_interval_is_the_span_of_the_values_the_records_do_not_tell_apart() -> None:
    """Constant errors have no bootstrap spread: the values tied at the best median are the interval,
    and the rule's pick (nearest 0 for the pooled cost) is its low end."""
    n = 30
    errors = {0.0: np.full(n, 0.20), 0.002: np.full(n, 0.10), 0.004: np.full(n, 0.10), 0.006: np.full(n, 0.15)}
    assert within(errors) == [0.002, 0.004] and _interval(errors) == (0.002, 0.004)
    assert _choose(errors, 0.0) == 0.002
    assert _choose(errors, 0.006) == 0.004
    # a spread: half the records at 0.05, half at 0.25 around the best median 0.15 admits 0.006's 0.16
    spread = np.r_[np.full(n // 2, 0.05), np.full(n // 2, 0.25)]
    wide = {0.0: np.full(n, 0.40), 0.004: spread, 0.006: np.full(n, 0.16)}
    assert _interval(wide) == (0.004, 0.006)


def _with_interval(catalog: Catalog, pooled: tuple[float, float] | None,
                   vllm: tuple[float, float] | None) -> Catalog:
    cal = replace(catalog.calibration, serving_iteration_interval=pooled,
                  serving_iteration_interval_runtime={} if vllm is None else {"vllm": vllm})
    return replace(catalog, calibration=cal)


@pytest.fixture(scope="module")
def chatbot() -> tuple[Catalog, Workload]:
    """support-chatbot on vLLM alone (its best plan at vLLM's fitted 8 ms runs SGLang, at the pooled 6 ms)."""
    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    return load_catalog(), replace(w, constraints=replace(w.constraints, runtimes=("vllm",)))


def test_the_ends_bracket_the_fitted_plan_and_move_with_the_cost(chatbot: tuple[Catalog, Workload]) -> None:
    """support-chatbot's best plan is a 1.5B model on vLLM, whose iterations are a few ms: at the low end
    of a 0-12 ms interval it costs less than the fitted plan, at the high end more; each end's cost is
    what a plan on a catalog pinned to that cost finds (the same search, not the same function)."""
    base, w = chatbot
    fitted = base.calibration.iteration_s("vllm")
    cat = _with_interval(base, (0.0, 0.012), (0.0, 0.012))
    result = plan(w, cat, top=1, tables=CatalogTables.from_catalog(cat))
    top = result.plans[0]
    assert top.runtime == "vllm"
    span = iteration_range(cat, w, top)
    assert span is not None
    low, high = span.ends
    assert (span.runtime, span.fitted_s, span.interval_s) == ("vllm", fitted, (0.0, 0.012))
    assert (low.runtime_s, high.runtime_s) == (0.0, 0.012)
    assert low.plan is not None and high.plan is not None
    assert low.plan.cost.per_month < top.cost.per_month < high.plan.cost.per_month
    # the low end's plan is the plan of a catalog whose every serving iteration costs nothing
    pinned = replace(base, calibration=replace(base.calibration, serving_iteration_s=None,
                                               serving_iteration_runtime={}))
    again = plan(w, pinned, top=1, tables=CatalogTables.from_catalog(pinned)).plans[0]
    assert again.cost.per_month == pytest.approx(low.plan.cost.per_month, rel=1e-9)


def test_an_interval_of_one_point_replans_to_the_same_plan(chatbot: tuple[Catalog, Workload]) -> None:
    base, w = chatbot
    fitted = base.calibration.iteration_s("vllm")
    cat = _with_interval(base, (fitted, fitted), None)
    top = plan(w, cat, top=1, tables=CatalogTables.from_catalog(cat)).plans[0]
    span = iteration_range(cat, w, top)
    assert span is not None and span.interval_s == (fitted, fitted)
    for end in span.ends:
        assert end.plan is not None and end.plan.cost.per_month == pytest.approx(top.cost.per_month, rel=1e-12)


def test_no_interval_no_range(chatbot: tuple[Catalog, Workload]) -> None:
    base, w = chatbot
    cat = _with_interval(base, None, None)
    top = plan(w, cat, top=1, tables=CatalogTables.from_catalog(cat)).plans[0]
    assert iteration_range(cat, w, top) is None


def _catalog_with(tmp_path: Path, change: dict[str, object]) -> Path:
    root = tmp_path / "catalog"
    tmp_path.mkdir(parents=True, exist_ok=True)
    shutil.copytree(default_catalog_dir(), root)
    path = root / "calibration.yaml"
    doc = yaml.safe_load(path.read_text())
    for key in ("serving_iteration_s", "serving_iteration_runtime", "serving_iteration_interval",
                "serving_iteration_interval_runtime"):  # the test states the iteration figures it reads
        doc.pop(key, None)
    doc.update(change)
    path.write_text(yaml.safe_dump(doc))
    return root


@pytest.mark.parametrize(("change", "field"), [
    ({"serving_iteration_s": 0.006, "serving_iteration_interval": [0.008, 0.010]}, "serving_iteration_interval"),
    ({"serving_iteration_s": 0.006, "serving_iteration_interval": [0.006, 0.004]}, "serving_iteration_interval"),
    ({"serving_iteration_interval_runtime": {"vllm": [0.0, 0.03]}}, "serving_iteration_interval_runtime"),
    ({"serving_iteration_interval_runtime": {"no-such-engine": [0.0, 0.004]}}, "serving_iteration_interval_runtime"),
])
def test_a_bad_interval_in_calibration_yaml_names_the_field(tmp_path: Path, change: dict[str, object],
                                                            field: str) -> None:
    """An interval that does not hold the figure it belongs to (or runs backwards), over the schema's
    20 ms, or for a runtime the catalog lacks: an error naming the field, and the catalog is not loaded."""
    with pytest.raises(CatalogError) as err:
        load_catalog(_catalog_with(tmp_path, change))
    assert field in str(err.value)


def test_cli_prints_both_ends(tmp_path: Path, hwplan: Callable[..., tuple[int, str, str]]) -> None:
    root = _catalog_with(tmp_path, {"serving_iteration_s": 0.006, "serving_iteration_interval": [0.002, 0.006],
                                    "serving_iteration_interval_runtime": {"vllm": [0.002, 0.006]}})
    code, out, _ = hwplan("plan", str(EXAMPLES / "support-chatbot.yaml"), "--catalog", str(root),
                          "--iteration-range", "--top", "1")
    assert code == 0, out
    text = " ".join(out.split())
    assert "the records under load admit 2-6 ms" in text
    assert "at 2 ms (low end): $" in text and "at 6 ms (high end): $" in text


def test_api_adds_the_range_only_when_asked(tmp_path: Path) -> None:
    from api.app import create_app
    from api.settings import Settings

    root = _catalog_with(tmp_path, {"serving_iteration_s": 0.006, "serving_iteration_interval": [0.002, 0.006],
                                    "serving_iteration_interval_runtime": {"vllm": [0.002, 0.006]}})
    body = yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text())
    with TestClient(create_app(Settings(catalog_dir=root))) as client:
        plain = client.post("/v1/plans", json=body, params={"top": 1})
        asked = client.post("/v1/plans", json=body, params={"top": 1, "iteration_range": True})
    assert plain.status_code == asked.status_code == 200
    assert plain.json().get("iteration_range") is None
    span = asked.json()["iteration_range"]
    # plan 1's runtime (SGLang on L4 + L40S since vLLM on Neuron chips runs at neuronx's fit), at the pooled interval
    assert span["runtime"] == asked.json()["plans"][0]["runtime"] and span["interval_ms"] == [2.0, 6.0]
    assert span["low"]["cost_per_month"] <= asked.json()["plans"][0]["cost"]["per_month"] \
        <= span["high"]["cost_per_month"]


def test_cli_flags_the_interval_without_the_option(tmp_path: Path, hwplan: Callable[..., tuple[int, str, str]]
                                                   ) -> None:
    """Without --iteration-range the plans say what the figure rests on, in one line, where the records
    admit more than one value for plan 1's runtime, and nothing where they admit one."""
    pooled = {"serving_iteration_s": 0.006, "serving_iteration_interval": [0.006, 0.006]}
    wide = _catalog_with(tmp_path / "wide", {**pooled, "serving_iteration_interval_runtime": {"vllm": [0.002, 0.006]}})
    point = _catalog_with(tmp_path / "one", {**pooled, "serving_iteration_interval_runtime": {"vllm": [0.006, 0.006]}})
    code, out, _ = hwplan("plan", str(EXAMPLES / "support-chatbot.yaml"), "--catalog", str(wide), "--top", "1")
    assert code == 0, out
    assert "admit 2-6 ms (--iteration-range re-plans at both ends)" in " ".join(out.split())
    code, out, _ = hwplan("plan", str(EXAMPLES / "support-chatbot.yaml"), "--catalog", str(point), "--top", "1")
    assert code == 0 and "--iteration-range" not in out


def test_cli_says_when_the_calibration_has_no_interval(tmp_path: Path,
                                                       hwplan: Callable[..., tuple[int, str, str]]) -> None:
    root = _catalog_with(tmp_path, {})
    doc = yaml.safe_load((root / "calibration.yaml").read_text())
    doc.pop("serving_iteration_interval", None)
    doc.pop("serving_iteration_interval_runtime", None)
    (root / "calibration.yaml").write_text(yaml.safe_dump(doc))
    code, out, err = hwplan("plan", str(EXAMPLES / "support-chatbot.yaml"), "--catalog", str(root),
                            "--iteration-range", "--top", "1")
    assert code == 0, out
    assert "no interval for the serving iteration cost" in err and "Serving iteration cost" not in out


def test_estimate_states_the_interval_beside_the_cost(tmp_path: Path, hwplan: Callable[..., tuple[int, str, str]]
                                                      ) -> None:
    import json

    root = _catalog_with(tmp_path, {"serving_iteration_s": 0.006, "serving_iteration_interval": [0.006, 0.006],
                                    "serving_iteration_interval_runtime": {"vllm": [0.002, 0.006]}})
    args = ("estimate", "--model", "qwen2.5-1.5b", "--hardware", "l4", "--runtime", "vllm", "--catalog", str(root))
    code, out, _ = hwplan(*args, "--scenario", "server", "--request-rate", "5", "--json")
    assert code == 0, out
    doc = json.loads(out)
    assert doc["serving_iteration_ms"] == 6.0 and doc["serving_iteration_interval_ms"] == [2.0, 6.0]
    assert "do not set it apart" in doc["serving_iteration_source"]
    code, out, _ = hwplan(*args, "--json")  # static: no queueing model, no iteration cost
    assert code == 0 and "serving_iteration_interval_ms" not in json.loads(out)


def test_a_runtime_without_records_of_its_own_spans_every_interval(chatbot: tuple[Catalog, Workload]) -> None:
    """A runtime with no records under load runs at the pooled figure by extrapolation; which engine it
    resembles is unknown, so its interval is the span of the pooled one and every runtime's own, and the
    ends move the pooled figure there while a runtime with an interval of its own keeps its own."""
    cal = replace(chatbot[0].calibration, serving_iteration_s=0.006, serving_iteration_runtime={"tensorrt-llm": 0.008},
                  serving_iteration_interval=(0.006, 0.006),
                  serving_iteration_interval_runtime={"vllm": (0.002, 0.006), "tensorrt-llm": (0.008, 0.010)})
    assert cal.iteration_interval("vllm") == (0.002, 0.006)
    assert cal.iteration_interval("sglang") == (0.002, 0.010)
    low, high = cal.at_iteration_end(0), cal.at_iteration_end(1)
    assert [low.iteration_s(r) for r in ("vllm", "tensorrt-llm", "sglang")] == [0.002, 0.008, 0.002]
    assert [high.iteration_s(r) for r in ("vllm", "tensorrt-llm", "sglang")] == [0.006, 0.010, 0.010]
    none = replace(cal, serving_iteration_interval=None, serving_iteration_interval_runtime={})
    assert none.iteration_interval("sglang") is None and none.at_iteration_end(1) == none


def test_the_re_plans_share_the_deadline_and_say_when_it_cut_them(chatbot: tuple[Catalog, Workload]) -> None:
    """Each end gets half the time left; with almost none (10 ms each, under one round of the search),
    a re-plan stops at its deadline and says so (an unproven plan, or none found in time) rather than
    running past the caller's deadline, and the document is not complete."""
    from hardware_catalog.outputs import plan_result_out

    base, _ = chatbot
    w = load_workload(EXAMPLES / "support-chatbot.yaml")  # every runtime: a search longer than 10 ms
    cat = _with_interval(base, (0.002, 0.006), (0.002, 0.006))
    result = plan(w, cat, top=1, tables=CatalogTables.from_catalog(cat))
    # balanced: no bound prunes its keys, so a deadline cuts it (a cost search of this workload can prove
    # its answer within 50 ms, and a proven answer is complete however early it stopped)
    span = iteration_range(cat, w, result.plans[0], time_limit_s=0.02, objective=Objective.BALANCED)
    assert span is not None and not all(e.complete for e in span.ends)
    assert plan_result_out(result).complete and not plan_result_out(result, None, span).complete
