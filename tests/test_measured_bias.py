"""measured_bias.yaml: where measured runs of a model on a runtime miss the prediction, printed beside plans.

The shipped file is recomputed here from the measurement files against the shipped calibration (its
independent basis: the measured runs), so a refit or a model change that moves a group in or out of the
0.8-1.25x band fails until bench/measured_bias.py is re-run. Plans and estimates of a listed model, or
of one with the same architecture, carry the entry; others do not. A bad file is an error naming the
field, never a catalog without it.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import estimate_out, plan_result_out
from planner.calibration.measured_bias import fitted_on
from planner.errors import CatalogError
from planner.model.estimate import Scenario, estimate, resolve
from planner.search.planning import plan

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "hardware_catalog/data/measured_bias.yaml"


def _bench():
    spec = importlib.util.spec_from_file_location("measured_bias_bench", ROOT / "bench/measured_bias.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_file_is_what_the_measurements_give_today():
    shipped = yaml.safe_load(SHIPPED.read_text())["entries"]
    fresh = _bench().document()["entries"]
    def key(e: dict) -> tuple:
        return (e.get("model"), e.get("models"), e["runtime"], e["metric"], e["records"], e["hardware"], e["sample"])

    assert [key(e) for e in fresh] == [key(e) for e in shipped]
    for a, b in zip(fresh, shipped, strict=True):
        for name in ("median", "low", "high"):
            assert a[name] == pytest.approx(b[name], abs=2e-3), (key(a), name)


def test_deepseek_r1_on_sglang_is_listed_as_optimistic():
    """The out-of-sample InferenceMAX runs: the model is well above the measured throughput (docs/accuracy.md,
    weak spots); the listing must say so, not hide it behind the band."""
    entry = next(b for b in load_catalog().measured_bias if (b.model, b.runtime) == ("deepseek-r1", "sglang"))
    assert entry.sample == "out" and entry.metric == "throughput" and entry.records >= 100
    assert entry.high < 1.0  # even the 90th percentile run reached less than predicted
    assert "overstated" in entry.note()


def _workload(models: list[str], runtimes: list[str], hardware: list[str]):
    return to_workload(WorkloadIn.model_validate({
        "name": "measured", "traffic": {"requests_per_s": 2, "input_tokens": {"mean": 1000},
                                        "output_tokens": {"mean": 500}},
        "slo": {"tpot_ms": {"p99": 200}},
        "constraints": {"models": models, "runtimes": runtimes, "hardware": hardware}}))


def test_plans_carry_the_entries_of_their_model_and_runtime():
    catalog = load_catalog()
    # deepseek-v3 was never measured on SGLang: it takes deepseek-r1's entry, the same architecture
    out = plan_result_out(plan(_workload(["deepseek-v3"], ["sglang"], ["h200"]), catalog, top=1))
    assert out.plans
    measured = out.plans[0].measured
    assert [(m.model, m.runtime, m.metric) for m in measured] == [("deepseek-r1", "sglang", "throughput"),
                                                                  ("deepseek-r1", "sglang", "tpot")]
    assert all(m.note.startswith("deepseek-v3 on sglang (measured on deepseek-r1, the same architecture)")
               for m in measured)
    assert "its TPOT here is likely understated" in measured[1].note  # 132 runs at 1.3-3.4x the predicted TPOT
    plain = plan_result_out(plan(_workload(["llama-3.1-8b"], ["vllm"], ["h100-sxm"]), catalog, top=1))
    assert plain.plans and plain.plans[0].measured == []
    assert "measured" not in plain.plans[0].model_dump(exclude_unset=True)


def test_a_chips_entry_reaches_every_model_planned_on_that_chip_and_runtime():
    """TPU v5e on JetStream (tests/data/jetstream_pytorch_tpu_v5e.yaml, out of sample: four models' runs at
    0.35-0.59x of the predicted throughput). A model measured there or not carries it on that chip; the same
    model on another runtime or chip does not. domain-task's plan 1 (qwen2.5-7b on one TPU v5e) is one."""
    catalog = load_catalog()
    (entry,) = [b for b in catalog.measured_bias if b.model is None and b.hardware == ("tpu-v5e",)]
    assert entry.runtime == "jetstream" and entry.sample == "out" and len(entry.models) >= 3 and entry.high < 0.8
    out = plan_result_out(plan(_workload(["qwen2.5-7b"], ["jetstream"], ["tpu-v5e"]), catalog, top=1))
    assert out.plans
    (measured,) = out.plans[0].measured
    assert measured.model is None and measured.models == list(entry.models) and measured.hardware == ["tpu-v5e"]
    assert measured.note.startswith("qwen2.5-7b on jetstream on tpu-v5e: 8 runs of 4 models there")
    assert "capacity here is likely overstated" in measured.note
    assert catalog.measured_for("qwen2.5-7b", "jetstream", ["tpu-v5e"]) == (entry,)
    assert catalog.measured_for("qwen2.5-7b", "jetstream", ["tpu-v6e"]) == ()
    assert catalog.measured_for("qwen2.5-7b", "vllm", ["tpu-v5e"]) == ()
    config = resolve(catalog, model="gemma-7b", hardware="tpu-v5e", tp=4, precision="bf16", runtime="jetstream")
    out_e = estimate_out(estimate(catalog, config, scenario=Scenario.MAX_THROUGHPUT, input_tokens=500,
                                  output_tokens=500))
    assert [(m.model, m.hardware) for m in out_e.measured] == [(None, ["tpu-v5e"])]


def test_an_estimate_carries_them_too():
    catalog = load_catalog()
    config = resolve(catalog, model="deepseek-r1", hardware="b200", tp=8, precision="fp8", runtime="sglang")
    out = estimate_out(estimate(catalog, config, scenario=Scenario.MAX_THROUGHPUT, input_tokens=1000,
                                output_tokens=1000))
    assert [(m.runtime, m.metric) for m in out.measured] == [("sglang", "throughput"), ("sglang", "tpot")]
    other = resolve(catalog, model="deepseek-r1", hardware="b200", tp=8, precision="fp8", runtime="vllm")
    assert estimate_out(estimate(catalog, other, scenario=Scenario.MAX_THROUGHPUT, input_tokens=1000,
                                 output_tokens=1000)).measured == []


def _overlay(tmp_path: Path, entry: dict) -> Path:
    folder = tmp_path / "overlay"
    folder.mkdir()
    doc = {"generated": "by hand", "rule": "test", "entries": [entry]}
    (folder / "measured_bias.yaml").write_text(yaml.safe_dump(doc))
    return folder


GOOD = {"model": "llama-3.1-8b", "runtime": "vllm", "metric": "throughput", "records": 5, "median": 0.5, "low": 0.4,
        "high": 0.6, "hardware": ["h100-sxm"], "sample": "out", "file": "runs.yaml", "holds": "runs"}


def test_an_overlay_replaces_the_shipped_list(tmp_path):
    catalog = load_catalog(overlays=[_overlay(tmp_path, GOOD)])
    assert [(b.model, b.runtime) for b in catalog.measured_bias] == [("llama-3.1-8b", "vllm")]
    assert catalog.measured_for("llama-3.1-8b", "vllm") and not catalog.measured_for("deepseek-r1", "sglang")


@pytest.mark.parametrize(("change", "field"), [
    ({"low": 0.7}, "entries.0"),  # low above the median
    ({"models": ["llama-3-8b", "gemma-7b"]}, "entries.0"),  # both one model's and a chip's
    ({"model": None}, "entries.0"),  # neither
    ({"median": -1.0}, "entries.0.median"),
    ({"metric": "latency"}, "entries.0.metric"),
    ({"records": 0}, "entries.0.records"),
])
def test_a_bad_entry_names_its_field(tmp_path, change, field):
    with pytest.raises(CatalogError) as err:
        load_catalog(overlays=[_overlay(tmp_path, GOOD | change)])
    assert field in str(err.value)
    assert "measured_bias.yaml" in str(err.value)


def test_an_entry_for_a_model_the_catalog_lacks_applies_to_nothing(tmp_path):
    """A trimmed copy of the shipped catalog (models deleted) still loads; `catalog validate` names what
    its measured_bias.yaml describes that the catalog lacks."""
    base = tmp_path / "catalog"
    shutil.copytree(ROOT / "hardware_catalog/data", base)
    for model in ("deepseek-r1.yaml", "deepseek-v3.yaml"):
        (base / "models" / model).unlink()
    (base / "hardware" / "tpu-v5e.yaml").unlink()  # (a chip's entry: TPU v5e on JetStream)
    catalog = load_catalog(base)
    assert catalog.measured_for("deepseek-v3", "sglang") == () and catalog.measured_for("llama-3-8b", "ipex")
    result = CliRunner().invoke(app, ["catalog", "validate", str(base)])
    assert result.exit_code == 0, result.output
    entries = yaml.safe_load((base / "measured_bias.yaml").read_text())["entries"]
    lacking = [e for e in entries
               if e.get("model") in ("deepseek-r1", "deepseek-v3") or e.get("hardware") == ["tpu-v5e"]]
    assert len(lacking) >= 5  # 5 in sample and InferenceMAX, 3 more from MLPerf v6.0 (2026-12-08)
    assert f"{len(lacking)} entries name a model, hardware or runtime this catalog lacks" in result.output
    assert "deepseek-r1 on tensorrt-llm" in result.output and "deepseek-r1 on sglang" in result.output
    assert "tpu-v5e on jetstream" in result.output


def test_in_or_out_of_sample_is_read_off_the_calibration():
    """A file is "in" sample when its content is one the calibration names in fitted_on (by SHA-256): the
    shipped MLPerf copy is, the InferenceMAX files are not, and a file with one byte changed is not."""
    calibration = load_catalog().calibration
    mlperf = (ROOT / "hardware_catalog/data/measurements/mlperf.yaml").read_bytes()
    assert fitted_on(calibration, mlperf)
    assert not fitted_on(calibration, mlperf + b"\n")
    assert not fitted_on(calibration, (ROOT / "tests/data/inferencemax_deepseek_r1.yaml").read_bytes())


def test_without_the_file_nothing_is_listed(tmp_path):
    base = tmp_path / "catalog"
    shutil.copytree(ROOT / "hardware_catalog/data", base)
    (base / "measured_bias.yaml").unlink()
    catalog = load_catalog(base)
    assert catalog.measured_bias == () and catalog.measured_for("deepseek-r1", "sglang") == ()
