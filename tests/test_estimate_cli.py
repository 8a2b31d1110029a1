"""`hwplan estimate`: the JSON the issue specifies, fits=false as a result, and impossible requests
as one-line errors with exit code 2."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Cli = Callable[..., tuple[int, str, str]]
HWPLAN = Path(sys.executable).with_name("hwplan")
BASE = ("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--json")
KEYS = {"fits", "reason", "memory", "max_batch", "batch", "ttft_ms", "tpot_ms", "e2e_ms",
        "output_tokens_per_s", "requests_per_s", "bound", "cost_per_hour",
        "cost_per_million_output_tokens"}
MEMORY_KEYS = {"weights_gb", "kv_cache_gb", "activations_gb", "overhead_gb", "total_gb", "capacity_gb"}


def test_console_script_prints_the_issue_keys() -> None:
    """The installed console script, as the README runs it."""
    proc = subprocess.run([str(HWPLAN), *BASE], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert set(data) >= KEYS and set(data["memory"]) >= MEMORY_KEYS
    assert data["fits"] is True and data["reason"] is None
    assert data["batch"] == 1 and data["max_batch"] >= 1
    assert data["bound"] in {"compute", "memory", "communication"}
    assert data["e2e_ms"] == pytest.approx(data["ttft_ms"] + 127 * data["tpot_ms"], rel=1e-3)
    assert data["cost_per_hour"] > 0 and data["cost_per_million_output_tokens"] > 0
    mem = data["memory"]
    parts = mem["weights_gb"] + mem["kv_cache_gb"] + mem["activations_gb"] + mem["overhead_gb"]
    assert mem["total_gb"] == pytest.approx(parts, rel=1e-3)
    assert mem["total_gb"] <= mem["capacity_gb"]


@pytest.mark.parametrize("scenario", ["max_throughput", "server"])
def test_other_scenarios(hwplan: Cli, scenario: str) -> None:
    extra = ("--request-rate", "10") if scenario == "server" else ()
    code, out, err = hwplan(*BASE, "--scenario", scenario, *extra)
    assert code == 0, err
    data = json.loads(out)
    assert set(data) >= KEYS
    if scenario == "server":
        assert data["ttft_p99_ms"] >= data["ttft_ms"] and data["tpot_p99_ms"] >= data["tpot_ms"]
        assert data["requests_per_s"] == 10
    else:
        assert data["batch"] == data["max_batch"] or data["batch"] == 256  # vLLM max_num_seqs


def test_table_output(hwplan: Cli) -> None:
    code, out, _ = hwplan(*BASE[:-1])
    assert code == 0 and "TPOT ms" in out
    # counts as counts (a new user read 'batch 1.0 (662)'), the figures as the JSON gives them, to 5 digits
    _, doc, _ = hwplan(*BASE)
    data = json.loads(doc)
    assert f"batch (max that fits)  │ {data['batch']:g} ({data['max_batch']})" in out, out


def test_non_fitting_config_is_a_result_not_an_error(hwplan: Cli) -> None:
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["fits"] is False and "weights alone" in data["reason"]
    # the table marks the latencies of a configuration that cannot run as what it would do if it did
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-70b", "--hardware", "h100-sxm")
    assert code == 0 and "(if it fit)" in out
    code, out, _ = hwplan(*BASE[:-1])
    assert "(if it fit)" not in out
    # and a configuration without a price says why in the table too (the JSON's cost_note)
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-8b", "--hardware", "l40s", "--tp", "2", "--pricing", "spot")
    assert code == 0 and "no cost" in out and "spot offer of an instance" in out


def test_overloaded_server_is_a_result(hwplan: Cli) -> None:
    code, out, _ = hwplan(*BASE, "--scenario", "server", "--request-rate", "1000")
    assert code == 0
    data = json.loads(out)
    assert data["fits"] is False and data["reason"].startswith("overloaded")
    # no steady-state TTFT past capacity; the admitted requests decode at the full batch, which is
    # at least the mean iteration at any stable load (tests/test_overload_tpot.py checks the values)
    assert data["ttft_ms"] is None and data["ttft_p99_ms"] is None
    assert data["batch"] == data["max_batch"]
    # and its memory is the full batch's: the KV of max_batch sequences, not of one
    one = json.loads(hwplan(*BASE, "--scenario", "server", "--request-rate", "1e-6")[1])
    assert data["memory"]["kv_cache_gb"] > 0.9 * data["max_batch"] * one["memory"]["kv_cache_gb"]
    code, out, _ = hwplan(*BASE, "--scenario", "server", "--request-rate", f"{0.9 * data['capacity_requests_per_s']}")
    stable = json.loads(out)
    assert code == 0 and stable["fits"] is True
    assert stable["tpot_ms"] <= data["tpot_ms"] <= data["tpot_p99_ms"]


BAD = {
    "unknown_model": (("--model", "llama-9"), "model"),
    "unknown_hardware": (("--hardware", "h900"), "hardware"),
    "unknown_runtime": (("--runtime", "warp"), "runtime"),
    "unknown_precision": (("--precision", "fp3"), "precision"),
    "tp_over_chips": (("--tp", "4", "--chips", "2"), "tp"),
    "batch_zero": (("--batch", "0"), "batch"),
    "negative_input": (("--input-tokens", "-5"), "input_tokens"),
    "negative_output": (("--output-tokens", "-1"), "output_tokens"),
    "server_without_rate": (("--scenario", "server"), "request_rate"),
    "negative_rate": (("--scenario", "server", "--request-rate", "-2"), "request_rate"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_impossible_request_exits_2_naming_the_field(hwplan: Cli, name: str) -> None:
    args, field = BAD[name]
    code, out, err = hwplan(*BASE, *args)
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {field}:"), err


def test_console_script_error_has_no_traceback() -> None:
    proc = subprocess.run([str(HWPLAN), *BASE, "--tp", "3", "--chips", "2"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "error: tp: tp x pp = 3 exceeds chips = 2"


def test_the_server_table_shows_the_capacity_its_utilization_is_against(hwplan: Cli) -> None:
    """The text showed utilization without the capacity it divides by (the JSON had it), and a span of one
    admitted iteration cost as '8.0-8.0 ms'."""
    args = ("estimate", "--model", "llama-3.1-8b", "--hardware", "l4", "--scenario", "server", "--request-rate", "2")
    code, out, _ = hwplan(*args, "--json")
    assert code == 0
    doc = json.loads(out)
    code, text, _ = hwplan(*args)
    assert code == 0
    flat = " ".join(text.replace("│", " ").split())  # (the table's cells, their wrapped lines joined)
    assert f"capacity requests/s {doc['capacity_requests_per_s']}" in flat
    assert doc["utilization"] == pytest.approx(2.0 / doc["capacity_requests_per_s"], rel=1e-3)
    low, high = doc["serving_iteration_interval_ms"]
    assert (f"admit only {low} ms" in flat) if low == high else (f"admit {low}-{high} ms" in flat)


@pytest.mark.parametrize(("hardware", "precision"), [("inferentia1", "fp8"), ("t4", "fp8"), ("mtia-v2", "fp8"),
                                                   ("mtia-v1", "int4"), ("tpu-v5e", "fp8"), ("tpu-v6e", "fp4")])
def test_estimate_refuses_a_precision_the_chip_cannot_run(hwplan: Cli, hardware: str, precision: str) -> None:
    """Basis: the chip's own cited `unsupported_precisions` (the Neuron 'Data types' page; FP8's minimum compute
    capability 8.0 in vLLM and SGLang; Meta's MTIA spec table: INT8, FP16, BF16 only, where an MTIA v2 estimate
    printed FP8 figures through HF Transformers; vLLM's TPU backend: FP8 and FP4 weights on v7 only), which plans
    already honoured: estimate printed full figures."""
    runtime = ["--runtime", "vllm"] if hardware.startswith("tpu") else []  # (JetStream serves bf16 and int8 alone)
    code, _out, err = hwplan("estimate", "--model", "llama-3.2-1b", "--hardware", hardware, "--precision", precision,
                             "--batch", "1", *runtime)
    assert code == 2 and f"cannot run {precision} weights" in err and "precision" in err, err


@pytest.mark.parametrize(("hardware", "precision", "runtime"), [("a100-80gb", "fp8", "tensorrt-llm"),
                                                                ("rtx-3090", "fp8", "tensorrt-llm"),
                                                                ("jetson-agx-orin", "fp8", "edge-llm")])
def test_a_runtime_that_computes_a_format_natively_refuses_chips_without_it(hwplan: Cli, hardware: str,
                                                                            precision: str, runtime: str) -> None:
    """TensorRT-LLM's support matrix gives FP8 to Ada and Hopper (not Ampere); TensorRT Edge-LLM's FP8 needs SM89+
    (FP4 is left open: the catalog's fp4 also stands for gpt-oss's MXFP4 experts, which run weight-only on Hopper).
    An A100 estimate printed TensorRT-LLM FP8 figures (and plans chose fp8 on 1 x 2 A100s) where vLLM, which
    dequantises FP8 weights on Ampere, may run them. Basis: the chips' peak_tflops (no fp8 on Ampere) and the
    runtimes' cited native_only."""
    code, _out, err = hwplan("estimate", "--model", "llama-3.2-1b", "--hardware", hardware, "--precision", precision,
                             "--runtime", runtime, "--batch", "1")
    assert code == 2 and f"{runtime} runs {precision} weights only on chips that compute {precision}" in err, err
    ok, _out, err = hwplan("estimate", "--model", "llama-3.2-1b", "--hardware", "b200", "--precision", precision,
                           "--runtime", "tensorrt-llm", "--batch", "1")
    assert ok == 0, err  # a chip that computes it runs it
    if hardware == "a100-80gb":  # vLLM still serves FP8 weights there (Marlin weight-only kernels)
        ok, _out, err = hwplan("estimate", "--model", "llama-3.2-1b", "--hardware", hardware, "--precision", "fp8",
                               "--runtime", "vllm", "--batch", "1")
        assert ok == 0, err


def test_estimate_takes_the_kv_cache_a_runtime_defaults_to(hwplan: Cli) -> None:
    """TensorRT-LLM's FP8 (ModelOpt) checkpoints store an FP8 KV cache by default; estimate had taken a 16-bit one
    where validate (a record stating none) took FP8, so the published flags gave 15,310 tokens/s from estimate
    and 24,857 from validate (an out-of-sample audit, 2026-12-07). Basis: TensorRT-LLM's perf overview (v1.0,
    commit 00f37686): Llama 3.1 8B FP8 on one H200 at 128 / 2048 tokens, 26,221 output tokens/s."""
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-8b", "--hardware", "h200", "--precision", "fp8",
                          "--runtime", "tensorrt-llm", "--scenario", "max_throughput", "--input-tokens", "128",
                          "--output-tokens", "2048", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["kv_precision"] == "fp8" and data["output_tokens_per_s"] == pytest.approx(26_221, rel=0.15)
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-8b", "--hardware", "h200", "--precision", "fp8",
                          "--runtime", "vllm", "--json")
    assert code == 0 and json.loads(out)["kv_precision"] == "bf16"  # vLLM: the model's dtype


@pytest.mark.parametrize(("model", "expected"), [("gpt-oss-120b", "fp4"), ("deepseek-r1", "fp8"),
                                                 ("llama-3.1-8b", "bf16")])
def test_estimate_takes_the_format_a_model_is_published_in(hwplan: Cli, model: str, expected: str) -> None:
    """A new user's case: gpt-oss-120b without --precision was estimated at bf16 (234 GB of weights that fit no
    chip) where its published checkpoint is MXFP4 experts; DeepSeek-R1's is FP8. Basis: the model cards (the
    catalog's checkpoint and released_precision, each sourced)."""
    code, out, err = hwplan("estimate", "--model", model, "--hardware", "h100-sxm", "--runtime", "sglang", "--json")
    assert code == 0, err
    assert json.loads(out)["precision"] == expected
