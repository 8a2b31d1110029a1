"""The measured-speed re-plan (planner.search.measured_replan): a chip and runtime whose measured runs were
slower than predicted, planned at that speed.

Independent bases: a pair run at f of its speed takes exactly 1 / f as long per pass (a static batch has
no serving iteration cost, so its TTFT and TPOT scale so exactly); slowing some pairs can only remove
capacity, so the best plan costs at least the fastest catalog's, and at most the best plan that avoids
the slowed pairs (which the slowing leaves untouched). tests/data/tpu_jetstream_task.yaml's plan 1 (domain-task
with narrower lengths, vLLM left out) runs on TPU v5e with JetStream, whose runs of four models reached 0.41x the
predicted throughput (measured_bias.yaml).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import document, plan_result_out
from planner.domain import Catalog
from planner.measured_speed import slowing_entries
from planner.model.estimate import estimate, resolve
from planner.model.grid import CatalogTables
from planner.search.measured_replan import measured_replan
from planner.search.planning import plan
from planner.workload import Objective

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
TPU_TASK = Path(__file__).resolve().parent / "data" / "tpu_jetstream_task.yaml"


def _tables(catalog: Catalog) -> CatalogTables:
    """The catalog's tables, once per catalog (as the CLI and the service keep them)."""
    from planner.memo import cached

    return cached(catalog, "test tables", lambda: CatalogTables.from_catalog(catalog))


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def domain(catalog: Catalog):  # noqa: ANN201 - (workload, result)
    w = load_workload(TPU_TASK)
    return w, plan(w, catalog, top=5, explain=False)


def test_the_catalog_has_the_entries(catalog: Catalog) -> None:
    entries = {(b.model, b.hardware, b.runtime): b.median for b in slowing_entries(catalog)}
    assert 0.3 < entries[(None, ("tpu-v5e",), "jetstream")] < 0.5  # a chip's entry
    assert 0.4 < next(m for (model, _, rt), m in entries.items() if (model, rt) == ("deepseek-r1", "sglang")) < 0.7
    assert all(m < 1 for m in entries.values())  # (a pessimistic entry is not a risk the re-plan shows)


def _static(c: Catalog, model: str, hardware: str, runtime: str, tp: int, batch: int, precision: str):  # noqa: ANN202
    config = resolve(c, model=model, hardware=hardware, runtime=runtime, chips=tp, tp=tp, precision=precision)
    return estimate(c, config, batch=batch, input_tokens=900, output_tokens=120, check_order=False)


@pytest.mark.parametrize(("model", "tp", "batch", "precision"), [
    ("llama-3.1-8b", 1, 1, "int8"), ("llama-3.1-8b", 4, 32, "bf16"), ("qwen2.5-7b", 1, 8, "int8")])
def test_a_slowed_row_takes_one_over_its_factor_per_pass(catalog: Catalog, model: str, tp: int, batch: int,
                                                         precision: str) -> None:
    """A static batch pays no serving iteration cost: its TTFT and TPOT are passes, each 1 / factor as long."""
    factor = 0.4
    slow = replace(catalog, calibration=catalog.calibration.slowed_to({(None, "tpu-v5e", "jetstream"): factor}),
                   version=catalog.version + "+slow")
    base_e, slow_e = (_static(c, model, "tpu-v5e", "jetstream", tp, batch, precision) for c in (catalog, slow))
    assert base_e.fits and slow_e.fits
    assert slow_e.tpot_s * factor == pytest.approx(base_e.tpot_s, rel=1e-9)
    assert slow_e.ttft_s * factor == pytest.approx(base_e.ttft_s, rel=1e-9)


def test_a_slowing_reaches_its_scope_and_nothing_else(catalog: Catalog) -> None:
    """The slowed catalog the re-plan runs on: DeepSeek-R1's SGLang entry reaches DeepSeek-V3 (the same
    architecture) on SGLang on any chip, not DeepSeek-R1 on another runtime nor another model on SGLang; TPU
    v5e's JetStream entry reaches every model there, not a chip that takes TPU v5e's figures. Checked on the
    static-batch TPOT, bit for bit where nothing is slowed."""
    from planner.search.measured_replan import slowed_catalog

    variant, _ = slowed_catalog(catalog, _tables(catalog))
    r1 = next(b.median for b in slowing_entries(catalog) if (b.model, b.runtime) == ("deepseek-r1", "sglang"))
    tpu = next(b.median for b in slowing_entries(catalog) if b.model is None and b.hardware == ("tpu-v5e",))

    def ratio(model: str, hardware: str, runtime: str, tp: int, precision: str) -> float:
        base, slow = (_static(c, model, hardware, runtime, tp, 4, precision) for c in (catalog, variant))
        return base.tpot_s / slow.tpot_s

    assert ratio("deepseek-v3", "b200", "sglang", 8, "fp8") == pytest.approx(r1, rel=1e-9)
    assert ratio("deepseek-r1", "h200", "sglang", 8, "fp8") == pytest.approx(r1, rel=1e-9)
    assert ratio("deepseek-r1", "b200", "vllm", 8, "fp8") == 1.0
    assert ratio("llama-3.1-70b", "b200", "sglang", 2, "fp8") == 1.0
    assert ratio("gemma-2-9b" if "gemma-2-9b" in catalog.models else "qwen2.5-7b", "tpu-v5e", "jetstream", 1,
                 "int8") == pytest.approx(tpu, rel=1e-9)
    derived = [h for h in catalog.hardware.values() if "jetstream" in h.runtimes and h.id != "tpu-v5e"]
    for h in derived:  # (other TPUs: their own figures, whatever they were taken from)
        assert ratio("qwen2.5-7b", h.id, "jetstream", 1, "int8") == 1.0


def test_two_entries_on_one_row_take_the_slowest(catalog: Catalog) -> None:
    slow = replace(catalog, calibration=catalog.calibration.slowed_to(
        {(None, "tpu-v5e", "jetstream"): 0.5, ("qwen2.5-7b", None, "jetstream"): 0.4}))
    base_e, slow_e = (_static(c, "qwen2.5-7b", "tpu-v5e", "jetstream", 1, 1, "int8") for c in (catalog, slow))
    assert slow_e.tpot_s * 0.4 == pytest.approx(base_e.tpot_s, rel=1e-9)
    with pytest.raises(ValueError, match="positive"):
        catalog.calibration.slowed_to({(None, "tpu-v5e", "jetstream"): 0.0})


def test_a_tpu_plan_replanned_at_the_tpu_speed(catalog: Catalog, domain) -> None:  # noqa: ANN001
    w, result = domain
    top = result.plans[0]
    assert top.hardware_types == {"tpu-v5e"} and top.runtime == "jetstream"  # the premise
    r = measured_replan(catalog, w, result.plans, tables=_tables(catalog), time_limit_s=30)
    assert r is not None and r.complete and r.plan is not None
    assert [(b.hardware, b.runtime) for b in r.slowed] == [(("tpu-v5e",), "jetstream")]
    avoiding = plan(replace(w, constraints=replace(w.constraints, exclude_hardware=("tpu-v5e",))), catalog, top=1,
                    explain=False).plans[0]
    # slowing removes capacity only: at least the fast catalog's best, at most the best the slowing leaves alone
    assert top.cost.per_month <= r.plan.cost.per_month <= avoiding.cost.per_month + 1e-6
    # one TPU replica ran at 80% of its SLO capacity: at 0.41x of the speed it no longer carries the peak
    assert r.plan.cost.per_month > top.cost.per_month
    # it deploys the servers of a plan listed (2 x L4 on SGLang, untouched by the slowing): its cost, rank named
    assert r.listed == 2 and r.plan.cost.per_month == pytest.approx(result.plans[1].cost.per_month)
    doc = json.loads(document(plan_result_out(result, measured_replan=r)))
    slowed = doc["measured_replan"]["slowed"][0]
    assert (slowed["model"], slowed["hardware"], slowed["runtime"], slowed["records"], slowed["sample"]) == (
        None, ["tpu-v5e"], "jetstream", 8, "out") and slowed["slows"] and "likely overstated" in slowed["note"]
    assert doc["measured_replan"]["cost_per_month"] == pytest.approx(r.plan.cost.per_month, rel=1e-3)
    assert doc["complete"] is True


def test_no_replan_where_plan_1_runs_on_no_slow_pair(catalog: Catalog, domain) -> None:  # noqa: ANN001
    """Slowing a pair takes capacity only from the plans on it: where plan 1 is on none, it stays the best."""
    w, result = domain
    last = [*result.plans[1:], result.plans[0]]  # (the TPU plan ranked last)
    assert measured_replan(catalog, w, last, tables=_tables(catalog)) is None
    assert measured_replan(catalog, w, [], tables=_tables(catalog)) is None
    w = load_workload(EXAMPLES / "support-chatbot.yaml")
    result = plan(w, catalog, top=5, explain=False)
    assert result.plans and "tpu-v5e" not in result.plans[0].hardware_types
    assert measured_replan(catalog, w, result.plans, tables=_tables(catalog)) is None
    assert "measured_replan" not in json.loads(document(plan_result_out(result)))


def test_the_plan_text_says_what_the_measured_line_costs(hwplan, cache_in: Path) -> None:  # noqa: ANN001
    """Beside the measured line: the best plan at the measured speed, against plan 1 and naming the listed plan it
    is (2 x L4 on SGLang, ranked second, +26%); the JSON carries the same figures."""
    code, out, _ = hwplan("plan", str(TPU_TASK), "--wide")
    text = " ".join(out.split())
    assert code == 0 and "At the measured speed (tpu-v5e on jetstream at 0.41x), the best plan: $1,104/month" in text
    assert "(+26% vs plan 1), plan 2's deployment: qwen2.5-7b fp8 sglang, 2 x 1 l4 (tp1, uncalibrated); p99" in text
    # the re-plan's capacity answers are kept with the plan's; the slowed catalog's Universe constants are not
    # cached (an entry of them is hundreds of MB)
    assert len(list(cache_in.glob("*.answers.npz"))) == 1 and len(list(cache_in.glob("*.step.npy"))) == 1
    code, out, _ = hwplan("plan", str(TPU_TASK), "--json")
    doc = json.loads(out)
    assert code == 0 and doc["measured_replan"]["cost_per_month"] == pytest.approx(
        doc["plans"][1]["cost"]["per_month"])


REASONING = """\
name: reasoning-api
traffic:
  requests_per_s: 4
  peak_requests_per_s: 8
  input_tokens: {mean: 1500, p95: 4000}
  output_tokens: {mean: 800, p95: 2500}
slo:
  ttft_ms: {p99: 3000}
  tpot_ms: {p99: 60}
constraints:
  models: [deepseek-r1]
  max_chips_per_replica: 8
  pricing: on_demand
"""


def test_a_models_entry_replans_its_runtime(catalog: Catalog, tmp_path: Path) -> None:
    """DeepSeek-R1 served at 4 req/s: plan 1 is SGLang, whose 132 DeepSeek-R1 runs (InferenceMAX, out of sample)
    reached 0.55x the predicted throughput. At that speed the best plan is one the slowing leaves alone or an
    SGLang one that needs more: between plan 1's cost and the best plan without SGLang's."""
    (tmp_path / "w.yaml").write_text(REASONING)
    w = load_workload(tmp_path / "w.yaml")
    result = plan(w, catalog, top=5, explain=False)
    top = result.plans[0]
    assert (top.model, top.runtime) == ("deepseek-r1", "sglang")  # the premise
    r = measured_replan(catalog, w, result.plans, tables=_tables(catalog), time_limit_s=60)
    assert r is not None and r.complete and r.plan is not None
    assert [(b.model, b.runtime, b.metric) for b in r.slowed] == [("deepseek-r1", "sglang", "throughput")]
    others = tuple(rt for rt in catalog.runtimes if rt != "sglang")
    avoiding = plan(replace(w, constraints=replace(w.constraints, runtimes=others)), catalog, top=1,
                    explain=False).plans[0]
    assert not any(b in slowing_entries(catalog) for b in avoiding.measured)  # (the slowing leaves it alone)
    assert top.cost.per_month < r.plan.cost.per_month <= avoiding.cost.per_month + 1e-6


def test_the_replan_asks_only_what_the_slowing_changed(queued: list[int]) -> None:
    """Sharing the plan's capacity answers (a key holds every constant of its row) spares the re-plan the
    rows the slowing leaves alone, and changes nothing: the same best plan as a re-plan with a store of its
    own (on another catalog object, so that nothing is shared)."""
    from planner.model.grid import CatalogTables

    w = load_workload(TPU_TASK)
    catalog, other = load_catalog(), load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    result = plan(w, catalog, top=5, tables=tables, explain=False)
    queued.clear()
    shared = measured_replan(catalog, w, result.plans, tables=tables)
    asked_shared = sum(queued)
    queued.clear()
    alone = measured_replan(other, w, result.plans, tables=CatalogTables.from_catalog(other))
    asked_alone = sum(queued)
    assert shared is not None and alone is not None and shared.plan is not None and alone.plan is not None
    assert asked_shared < asked_alone
    a, b = shared.plan, alone.plan
    assert (a.key, a.deployments, a.cost.per_month) == (b.key, b.deployments, b.cost.per_month)
    assert a.predicted == b.predicted


def test_on_the_slowed_chip_alone_more_of_it_or_none(catalog: Catalog, tmp_path: Path) -> None:
    """The TPU task on TPU v5e with JetStream only: at 0.41x its plan needs more chips; with a quota of one chip,
    none fits. The re-plan's plan is at the measured speed already, so it no longer carries the entry's line."""
    w = load_workload(TPU_TASK)
    tpu = replace(w, constraints=replace(w.constraints, hardware=("tpu-v5e",), runtimes=("jetstream",)))
    result = plan(tpu, catalog, top=2, explain=False)
    r = measured_replan(catalog, tpu, result.plans, tables=_tables(catalog), time_limit_s=30)
    assert r is not None and r.complete and r.plan is not None and r.plan.hardware_types == {"tpu-v5e"}
    entry = next(b for b in r.slowed if b.model is None)
    assert entry in result.plans[0].measured and entry not in r.plan.measured
    assert r.plan.chips("tpu-v5e") > result.plans[0].chips("tpu-v5e")
    assert r.listed is None or result.plans[r.listed - 1].shape == r.plan.shape
    one = replace(tpu, constraints=replace(tpu.constraints, quotas={"tpu-v5e": 1}))
    result = plan(one, catalog, top=2, explain=False)
    none = measured_replan(catalog, one, result.plans, tables=_tables(catalog), time_limit_s=30)
    assert none is not None and none.complete and none.plan is None
    doc = json.loads(document(plan_result_out(result, measured_replan=none)))
    assert doc["measured_replan"]["plan"] is None and doc["measured_replan"]["cost_per_month"] is None


def test_the_line_names_what_slows_the_other_plans(catalog: Catalog, domain) -> None:  # noqa: ANN001
    """With a second entry (qwen2.5-7b on LMDeploy measured at 0.5x, as an overlay's file could add) the re-plan
    slows plan 2 too, and says so: the entries that slow a plan shown, plan 1's first."""
    from planner.domain import MeasuredBias

    extra = MeasuredBias(model="qwen2.5-7b", runtime="lmdeploy", metric="throughput", records=5, median=0.5, low=0.4,
                         high=0.6, hardware=("l4",), sample="out", file="a test", holds="a test")
    overlay = replace(catalog, measured_bias=(*catalog.measured_bias, extra), version=catalog.version + "+test")
    w, result = domain
    r = measured_replan(overlay, w, result.plans, tables=_tables(overlay), time_limit_s=30)
    assert r is not None and [(b.model, b.runtime) for b in r.slowed][:2] == [(None, "jetstream"),
                                                                           ("qwen2.5-7b", "lmdeploy")]


def test_a_re_plan_cut_at_its_deadline_leaves_the_result_unproven(catalog: Catalog, domain) -> None:  # noqa: ANN001
    """A re-plan given no time (its floor: REPLAN_FLOOR_S) on a fresh catalog object (nothing cached) stops at the
    deadline: its plan is unproven, and so is the result, which the service then does not cache as final."""
    w, result = domain
    fresh = load_catalog()
    r = measured_replan(fresh, replace(w, constraints=replace(w.constraints, max_hardware_types=2)), result.plans,
                        tables=CatalogTables.from_catalog(fresh), objective=Objective.BALANCED, time_limit_s=0.0)
    assert r is not None and not r.complete
    assert json.loads(document(plan_result_out(result, measured_replan=r)))["complete"] is False
