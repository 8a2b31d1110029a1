"""bench/mlperf_round_records.py reads an MLPerf results repository the way the round publishes it.

Basis: an excerpt of a published loadgen summary (MLPerf Inference v6.0, closed/AMD/results/8xMI355X_2xEPYC_9575F/
llama2-70b-99/Server/performance/run_1/mlperf_log_summary.txt: 354.41 samples/s, TTFT p99 1,019,241,339 ns, TPOT
p99 161,051,159 ns, target 360 QPS, limits 2 s / 200 ms) and its system description, in a throwaway git
repository; each record field is checked against the figure it comes from.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from hardware_catalog.inputs.measurements import read_measurements
from planner.domain import Catalog

ROOT = Path(__file__).resolve().parents[1]
SUMMARY = """\
================================================
MLPerf Results Summary
================================================
SUT name : PySUT
Scenario : Server
Mode     : PerformanceOnly
Completed samples per second    : 354.41
Completed tokens per second: 100282.36
Result is : VALID
================================================
Additional Stats
================================================
Scheduled samples per second : 359.71
Mean latency (ns)               : 41319947501
99.00 percentile latency (ns)   : 136596635604
Mean First Token latency (ns)               : 616415078
50.00 percentile first token latency (ns)   : 637051878
90.00 percentile first token latency (ns)   : 850114882
99.00 percentile first token latency (ns)   : 1019241339
Mean Time per Output Token (ns)                : 144435776
50.00 percentile time to output token (ns)   : 153201297
90.00 percentile time to output token (ns)   : 157543008
99.00 percentile time to output token (ns)   : 161051159
================================================
Test Parameters Used
================================================
target_qps : 360
ttft_latency (ns): 2000000000
tpot_latency (ns): 200000000
"""
SYSTEM = {"accelerator_model_name": "AMD Instinct MI355X 288GB HBM3e", "accelerators_per_node": "8",
          "number_of_nodes": "1", "framework": "PyTorch 2.9.1+git8907517, ROCm 7.0.0",
          "other_software_stack": "hipblaslt-1.0.0.70000-38~22.04, vllm-11b6af52", "system_name": "smci355"}
RUN = "closed/AMD/results/8xMI355X_2xEPYC_9575F/llama2-70b-99/Server"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mlperf_round_records", ROOT / "bench" / "mlperf_round_records.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (its dataclass resolves its annotations through the module)
    spec.loader.exec_module(module)
    return module


def _repo(tmp_path: Path, summary: str = SUMMARY, system: dict[str, str] = SYSTEM) -> Path:
    return _git_repo(tmp_path, {f"{RUN}/performance/run_1/mlperf_log_summary.txt": summary,
                                "closed/AMD/systems/8xMI355X_2xEPYC_9575F.json": json.dumps(system),
                                f"{RUN}/measurements.json": json.dumps({"weight_data_types": "fp4"})})


def _git_repo(tmp_path: Path, files: dict[str, str]) -> Path:
    """A git repository at tmp_path holding ``files`` (path -> text) in one commit; its git directory."""
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git = ["git", "-C", str(tmp_path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "."], check=True)
    subprocess.run([*git, "commit", "-qm", "results"], check=True)
    return tmp_path / ".git"


def test_a_server_summary_becomes_the_record_its_figures_say(tmp_path: Path) -> None:
    script = _script()
    tmpl = script.templates(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml")
    records, skipped = script.records(_repo(tmp_path), "v6.0", "https://example.org", tmpl)
    assert not skipped
    (r,) = records
    assert (r["model"], r["hardware"], r["runtime"], r["chips"], r["weight_precision"]) == \
        ("llama-2-70b", "mi355x", "vllm", 8, "fp4")
    assert r["scenario"] == "server" and r["request_rate"] == 359.71  # the scheduled (Poisson) rate
    assert r["slo"] == {"ttft_p99_ms": 2000.0, "tpot_p99_ms": 200.0}
    o = r["observed"]
    assert (o["requests_per_s"], o["output_tokens_per_s"]) == (354.41, 100282.36)
    assert (o["ttft_ms"], o["ttft_p50_ms"], o["ttft_p90_ms"], o["ttft_p99_ms"]) == \
        (616.415, 637.052, 850.115, 1019.241)
    assert (o["tpot_ms"], o["tpot_p50_ms"], o["tpot_p90_ms"], o["tpot_p99_ms"]) == \
        (144.436, 153.201, 157.543, 161.051)
    assert (o["e2e_ms"], o["e2e_p99_ms"]) == (41319.948, 136596.636)
    assert r["mlperf"]["output_tokens_per_sample_observed"] == pytest.approx(100282.36 / 354.41, abs=0.05)
    assert r["input_tokens"] == 222 and r["lengths"]["output_max"] == 1024  # the benchmark's, from the template


def test_an_invalid_run_is_not_written(tmp_path: Path) -> None:
    script = _script()
    tmpl = script.templates(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml")
    records, skipped = script.records(_repo(tmp_path, SUMMARY.replace("VALID", "INVALID")), "v6.0", "u", tmpl)
    assert records == [] and any("invalid run" in reason for reason in skipped)


# Intel's published system description of 1-node-4x-BMG-Pro-B60-Dual (v6.0, closed/Intel/systems/): four boards
DUAL = {"accelerator_model_name": "MS-Intel Arc Pro B60 Dual 48G Turbo", "accelerators_per_node": "4",
        "number_of_nodes": "1", "accelerator_memory_capacity": "48 GB", "framework": "PyTorch vLLM",
        "system_name": "1-node-4x-BMG-Pro-B60-Dual"}


def test_a_dual_board_counts_both_of_its_chips(tmp_path: Path, catalog: Catalog) -> None:
    """Basis: the board's stated memory is two of the catalog chip's (48 GB against the B60's 24), and the shared
    file's v5.1 records of the same system (curated apart from this script) count 8 chips. The v6.0 file had
    written 4, and predicted its runs at 0.29x."""
    script = _script()
    tmpl = script.templates(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml")
    (r,), _ = script.records(_repo(tmp_path, system=DUAL), "v6.0", "u", tmpl)
    assert r["hardware"] == "arc-pro-b60" and r["chips"] == 8
    assert pytest.approx(2 * catalog.hardware["arc-pro-b60"].memory_bytes, rel=0.05) == 48e9  # (24.39e9 measured)
    shared = read_measurements(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml").records
    v51 = [m for m in shared if "-1-node-4x-bmg-pro-b60-dual-" in m.id]
    assert v51 and {m.chips for m in v51} == {8}
    v60 = read_measurements(ROOT / "tests" / "data" / "mlperf_v6_0_out_of_sample.yaml").records
    dual = [m for m in v60 if "1-node-4x-bmg-pro-b60-dual" in m.id]
    assert len(dual) == 4 and {m.chips for m in dual} == {8}


def test_the_submissions_own_files_override_a_template_measurements_json() -> None:
    """Basis: the shared file's v5.1 records of the same Intel systems (curated apart from this script) are int4, as
    Intel's calibration.md and run scripts say of the v6.0 runs, where each run's measurements JSON is a template
    copied into every result (INT8 for every XPU run, a ResNet-50 file for the Xeon ones). The v6.0 file had written
    int8 for all 26 (the worst group of the round, llama2-70b on 4 x B60, read 0.38x)."""
    shared = read_measurements(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml").records
    v60 = read_measurements(ROOT / "tests" / "data" / "mlperf_v6_0_out_of_sample.yaml").records
    for system in ("-1-node-4x-bmg-pro-b60-dual-", "-intel-1-node-2s-gnr"):
        before = {m.weight_precision for m in shared if system in m.id and m.model != "gpt-j-6b"}
        after = {m.weight_precision for m in v60 if system in m.id}
        assert before == after == {"int4"}, (system, before, after)
    assert len([m for m in v60 if "-intel-1-node-4x-bmg-" in m.id and m.weight_precision == "int4"]) == 14


def test_every_hand_read_entry_names_runs_of_the_file() -> None:
    """Each SOURCED entry applies to some record of the shipped v6.0 file (a misspelt system would apply to none:
    Cisco's 'MI350x' systems were missed so), and each STATED / ATOMIC key is one of its runs."""
    _script()
    hand = sys.modules["mlperf_hand_read"]  # (the script's sibling, imported by it)
    raw = yaml.safe_load((ROOT / "tests" / "data" / "mlperf_v6_0_out_of_sample.yaml").read_text())["measurements"]
    runs = {(r["mlperf"]["submitter"], r["mlperf"]["system"], r["mlperf"]["benchmark"], r["mlperf"]["scenario_name"])
            for r in raw}
    hand.check_tables(runs)  # raises naming an entry that applies to no run
    for entry in hand.SOURCED:
        assert any(entry.matches(*run) for run in runs), entry


def test_an_amd_harness_run_states_what_its_v5_1_record_of_the_same_system_does() -> None:
    """Basis: the shared file's v5.1 record of AMD's 8 x MI355X llama2-70b system (curated apart from this script) runs
    tp 1 with an fp8 KV cache; the v6.0 runs of it, and of the partners that publish the same harness YAML (Cisco,
    Dell, GigaComputing, HPE, MiTAC), read the same from their own src/ YAML (they had been left at null)."""
    shared = read_measurements(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml").records
    v51 = [m for m in shared if "-amd-8xmi355x-2xepyc-9575f-llama2-70b" in m.id and m.runtime == "vllm"]
    assert v51 and {(m.tp, m.kv_precision) for m in v51} == {(1, "fp8")}
    v60 = read_measurements(ROOT / "tests" / "data" / "mlperf_v6_0_out_of_sample.yaml").records
    harness = [m for m in v60 if m.runtime == "vllm" and m.hardware in ("mi350x", "mi355x")
               and m.tags.get("submitter") in ("AMD", "Cisco", "Dell", "GigaComputing", "HPE", "MiTAC")]
    assert len(harness) == 24 and {(m.tp, m.kv_precision) for m in harness} == {(1, "fp8")}


def test_a_commented_out_setting_in_a_harness_config_is_not_read(tmp_path: Path) -> None:
    """QCT's B300 llama3.1-405b Server config has '#llm_fields.tensor_parallelism: 4,' above the active 2: the run's tp
    is 2 (the script had read both, found them disagreeing and left tp null)."""
    script = _script()
    run = "closed/QCT/results/B300x8_TRT/llama2-70b-99/Server"
    system = {"accelerator_model_name": "NVIDIA B300-SXM-270GB", "accelerators_per_node": "8", "number_of_nodes": "1",
              "framework": "TensorRT 10.14, TensorRT-LLM 1.2"}
    config = "EXPORTS = {\n    #llm_fields.tensor_parallelism: 4,\n    llm_fields.tensor_parallelism: 2,\n}\n"
    files = {f"{run}/performance/run_1/mlperf_log_summary.txt": SUMMARY,
             "closed/QCT/systems/B300x8_TRT.json": json.dumps(system),
             f"{run}/measurements.json": json.dumps({"weight_data_types": "fp4"}),
             "closed/QCT/configs/B300x8_TRT/Server/llama2-70b.py": config}
    tmpl = script.templates(ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml")
    (r,), _ = script.records(_git_repo(tmp_path, files), "v6.0", "u", tmpl)
    assert (r["hardware"], r["runtime"], r["tp"]) == ("b300", "tensorrt-llm", 2)
