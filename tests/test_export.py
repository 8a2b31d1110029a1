"""hwplan export: every generated engine command parses with the engine's published argument names
(tests/fixtures/engine_args/, each cited with repository, path and commit), every core manifest
validates against the Kubernetes OpenAPI schemas of KUBERNETES_VERSION (kubernetes-validate's
offline schemas), and plans an engine or chip cannot express are refused with a reason."""

from __future__ import annotations

import argparse
import shlex
from typing import Any

import pytest
import yaml
from engine_args import FIXTURES, parser_from

from hardware_catalog import load_catalog
from hardware_catalog.export import KUBERNETES_VERSION, ExportError, export
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import PlanResultOut

LAUNCHERS = {"vllm": 2, "neuron": 2, "sglang": 3, "trtllm": 1, "llama.cpp": 1, "jetstream": 4}  # argv before options
WORKLOAD = to_workload(WorkloadIn.model_validate({
    "name": "chat", "traffic": {
        "requests_per_s": 10, "peak_requests_per_s": 40,
        "input_tokens": {"mean": 1000, "p95": 3000}, "output_tokens": {"mean": 200, "p95": 500}}}))


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog(None)


def result(model: str, runtime: str, deployments: list[tuple[str, int, int, int]], *, precision: str = "bf16",
           kv: str = "bf16") -> PlanResultOut:
    """A one-plan result document, shaped as ``hwplan plan --json`` prints it."""
    na = {k: None for k in ("ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p95", "ttft_ms_p99", "tpot_ms_p50", "tpot_ms_p90",
                            "tpot_ms_p95", "tpot_ms_p99", "e2e_ms_p50", "e2e_ms_p90", "e2e_ms_p95", "e2e_ms_p99",
                            "capacity_requests_per_s", "utilization", "output_tokens_per_s_at_peak")}
    plan = {"rank": 1, "model": model, "precision": precision, "kv_precision": kv, "adaptation": "none",
            "runtime": runtime, "predicted": na, "binding": [], "pareto": True,
            "quality": {"score": 70, "low": 70, "high": 70, "task": "general", "confidence": "central", "sources": []},
            "cost": {"per_hour": 1, "per_month": 730, "per_million_tokens": 1, "one_time": 0, "pricing": "on_demand"},
            "deployments": [{"hardware": hw, "chips_per_replica": tp * pp, "tp": tp, "pp": pp, "replicas": n,
                             "max_batch": 64, "requests_per_s_per_replica": 40 / n, "slo_capacity_per_replica": 12.5,
                             "calibrated": False} for hw, tp, pp, n in deployments]}
    return PlanResultOut.model_validate({
        "workload": "chat", "objective": "cost", "plans": [plan], "pareto": [plan], "infeasible": None,
        "search": {"candidates": 1, "evaluated": 1, "pruned": 0, "solver_status": "OPTIMAL", "gap": 0, "stop": "proven",
                   "solves": 1, "elapsed_ms": 1, "dropped": {}}, "complete": True, "notes": []})


def parser_for(engine: str) -> argparse.ArgumentParser:
    """An argparse parser that knows exactly the engine's published names (unknown ones fail)."""
    return parser_from(f"{'vllm' if engine == 'neuron' else engine}.txt", engine)


def engine_options(engine: str, script: str) -> dict[str, Any]:
    """Parse the exec line of a generated launch script with the engine's reference names."""
    line = next(x for x in script.splitlines() if x.startswith("exec "))
    argv = shlex.split(line)[1 + LAUNCHERS[engine]:]
    if engine == "jetstream":  # MaxText takes key=value settings
        known = {x for x in (FIXTURES / "jetstream.txt").read_text().splitlines() if x and not x.startswith("#")}
        pairs = dict(a.split("=", 1) for a in argv)
        assert set(pairs) <= known, set(pairs) - known
        return pairs
    ns, rest = parser_for(engine).parse_known_args(argv)
    assert not rest, f"{engine}: arguments not in the reference: {rest}"
    options = dict(vars(ns))
    if (positional := options.pop("positional")) is not None:  # vllm serve MODEL, trtllm-serve MODEL
        options["model"] = positional
    return options


def test_parser_rejects_names_outside_the_reference() -> None:
    typo = ["--tensor-parallel-sise", "2"]
    assert parser_for("vllm").parse_known_args(["m", *typo])[1] == typo
    with pytest.raises(AssertionError):
        engine_options("sglang", "exec python3 -m sglang.launch_server --model-path x --tensor-parallel 2")


@pytest.mark.parametrize(("fmt", "model", "runtime", "hw", "tp", "pp", "precision", "kv", "expect"), [
    ("vllm", "llama-3.1-70b", "vllm", "h100-sxm", 4, 2, "fp8", "fp8",
     {"tensor_parallel_size": "4", "pipeline_parallel_size": "2", "quantization": "fp8", "kv_cache_dtype": "fp8",
      "max_num_seqs": "64", "max_num_batched_tokens": "8192", "max_model_len": "7168",
      "model": "meta-llama/Llama-3.1-70B"}),
    ("sglang", "qwen2.5-7b", "sglang", "mi300x", 2, 1, "bf16", "fp8",
     {"tp_size": "2", "pp_size": "1", "dtype": "bfloat16", "kv_cache_dtype": "fp8_e4m3", "max_running_requests": "64",
      "chunked_prefill_size": "8192", "context_length": "7168", "model_path": "Qwen/Qwen2.5-7B"}),
    ("trtllm", "llama-3.1-8b", "tensorrt-llm", "h200", 2, 1, "bf16", "bf16",
     {"tensor_parallel_size": "2", "max_batch_size": "64", "max_seq_len": "7168", "enable_chunked_prefill": True,
      "model": "meta-llama/Llama-3.1-8B"}),
    ("neuron", "llama-3.1-8b", "neuronx", "inferentia2", 2, 1, "bf16", "bf16",
     {"tensor_parallel_size": "4", "device": "neuron"}),  # 2 chips x 2 NeuronCores each
    ("llama.cpp", "llama-3.1-8b", "llama.cpp", "rtx-4090", 1, 2, "int4", "int8",
     {"model": "/models/llama-3.1-8b-Q4_K_M.gguf", "cache_type_k": "q8_0", "parallel": "64", "split_mode": "layer",
      "ctx_size": str(3584 * 64)}),  # each slot the p95 prompt + output (in steps of 256), not twice it
    ("jetstream", "llama-2-70b", "jetstream", "tpu-v5e", 8, 1, "int8", "int8",
     {"model_name": "llama2-70b", "ici_tensor_parallelism": "8", "per_device_batch_size": "8", "quantization": "int8",
      "quantize_kvcache": "True", "max_target_length": "3584",  # a slot: p95 prompt 3,072 + p95 output 512
      "max_prefill_predict_length": "3072"}),  # (MaxText allocates every slot whole: not twice the p95, as vLLM's)
])
def test_engine_command_parses_with_published_names(catalog: Any, fmt: str, model: str, runtime: str, hw: str,
                                                    tp: int, pp: int, precision: str, kv: str,
                                                    expect: dict[str, Any]) -> None:
    doc = result(model, runtime, [(hw, tp, pp, 3)], precision=precision, kv=kv)
    (artifact,) = export(doc, catalog, fmt, workload=WORKLOAD)
    options = engine_options(fmt, artifact.content)
    # max model length: 2 x (3000 + 500) p95 tokens in steps of 1024 = 7168
    assert {k: options[k] for k in expect} == expect


@pytest.mark.parametrize(("fmt", "model", "runtime", "hw", "precision", "kv", "why"), [
    ("vllm", "llama-3.1-8b", "vllm", "mi300x", "int4", "bf16", "quantised beforehand.*NVIDIA GPUs only"),
    ("trtllm", "llama-3.1-8b", "tensorrt-llm", "h100-sxm", "bf16", "fp8", "KV-cache dtype"),
    ("sglang", "llama-3.1-8b", "sglang", "tpu-v5e", "bf16", "bf16", "does not run on tpu-v5e"),
    ("vllm", "llama-7b", "vllm", "h100-sxm", "bf16", "bf16", "no published Hugging Face repository"),
    ("k8s", "llama-3.1-8b", "llama.cpp", "apple-m3-max", "int4", "fp16", "no Kubernetes device-plugin resource"),
    ("jetstream", "qwen2.5-7b", "jetstream", "tpu-v5e", "bf16", "bf16", "no MaxText model_name"),
    ("k8s", "llama-3.1-8b", "lmdeploy", "h100-sxm", "bf16", "bf16", "runtime lmdeploy has no launch command"),
])
def test_inexpressible_plans_say_why(catalog: Any, fmt: str, model: str, runtime: str, hw: str, precision: str,
                                     kv: str, why: str) -> None:
    doc = result(model, runtime, [(hw, 1, 1, 1)], precision=precision, kv=kv)
    with pytest.raises(ExportError, match=why):
        export(doc, catalog, fmt, workload=WORKLOAD)


def validate_core(docs: list[dict[str, Any]]) -> list[str]:
    """Validate every core kind; the pod templates of the CRDs (LWS, KServe) as Pods. Returns kinds seen."""
    import kubernetes_validate

    kinds = []
    for d in docs:
        kinds.append(d["kind"])
        if d["kind"] == "LeaderWorkerSet":
            t = d["spec"]["leaderWorkerTemplate"]
            assert set(d["spec"]) <= {"replicas", "leaderWorkerTemplate"}
            assert set(t) <= {"size", "leaderTemplate", "workerTemplate"}
            for template in (t.get("leaderTemplate"), t["workerTemplate"]):
                if template is not None:
                    kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", **template}, KUBERNETES_VERSION,
                                                 strict=True)
        elif d["kind"] == "InferenceService":
            predictor = dict(d["spec"]["predictor"])
            scaling = {k: predictor.pop(k) for k in ("minReplicas", "maxReplicas", "scaleMetric", "scaleTarget")}
            assert scaling["scaleMetric"] == "rps"
            kubernetes_validate.validate({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                                          "spec": predictor}, KUBERNETES_VERSION, strict=True)
        else:
            kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)
    return kinds


@pytest.mark.parametrize(("fmt", "deployments", "kinds"), [
    ("k8s", [("h100-sxm", 4, 1, 6), ("mi300x", 2, 1, 2)], ["Deployment", "Service", "HorizontalPodAutoscaler"] * 2),
    ("k8s", [("h100-sxm", 8, 2, 2)], ["LeaderWorkerSet", "Service", "HorizontalPodAutoscaler"]),  # 16 chips: 2 nodes
    ("lws", [("h100-sxm", 4, 1, 3)], ["LeaderWorkerSet", "Service", "HorizontalPodAutoscaler"]),
    ("kserve", [("h100-sxm", 4, 1, 3)], ["InferenceService"]),
])
def test_manifests_validate_against_kubernetes_schemas(catalog: Any, fmt: str, deployments: list[Any],
                                                       kinds: list[str]) -> None:
    (artifact,) = export(result("llama-3.1-70b", "vllm", deployments), catalog, fmt, workload=WORKLOAD)
    docs = list(yaml.safe_load_all(artifact.content))
    assert validate_core(docs) == kinds
    for d, (hw, tp, pp, n) in zip([x for x in docs if x["kind"] in ("Deployment", "LeaderWorkerSet")], deployments,
                                  strict=False):
        assert d["spec"]["replicas"] == n
        lws = d["spec"].get("leaderWorkerTemplate", {})
        template = d["spec"]["template"] if d["kind"] == "Deployment" else (
            lws.get("leaderTemplate") or lws["workerTemplate"])
        limits = template["spec"]["containers"][0]["resources"]["limits"]
        per_pod = min(tp * pp, catalog.hardware[hw].chips_per_node)
        assert limits == {("amd.com/gpu" if hw == "mi300x" else "nvidia.com/gpu"): str(per_pod)}
        assert d["spec"].get("leaderWorkerTemplate", {}).get("size", 1) * per_pod == tp * pp
    for hpa in (x for x in docs if x["kind"] == "HorizontalPodAutoscaler"):
        # the target is the per-replica SLO capacity (12.5 req/s); min = replicas for the average (10 of 40 peak)
        assert hpa["spec"]["metrics"][0]["pods"]["target"]["averageValue"] == "12500m"
        assert hpa["spec"]["minReplicas"] == max(1, -(-hpa["spec"]["maxReplicas"] * 10 // 40))


def test_schema_validation_can_fail(catalog: Any) -> None:
    import kubernetes_validate

    (artifact,) = export(result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)]), catalog, "k8s")
    deployment = next(yaml.safe_load_all(artifact.content))
    deployment["spec"]["template"]["spec"]["containers"][0]["resource"] = {}  # misspelt field
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_tpu_manifest_asks_for_google_tpu(catalog: Any) -> None:
    doc = result("llama-2-70b", "jetstream", [("tpu-v5e", 8, 1, 2)], precision="int8", kv="int8")
    (artifact,) = export(doc, catalog, "k8s", workload=WORKLOAD)
    docs = list(yaml.safe_load_all(artifact.content))
    validate_core(docs)
    spec = docs[0]["spec"]["template"]["spec"]
    # GKE's accelerator and single-host slice topology labels (8 v5e chips: 2x4, Cloud TPU's v5e configurations)
    assert spec["nodeSelector"] == {"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                    "cloud.google.com/gke-tpu-topology": "2x4"}
    assert spec["containers"][0]["resources"]["limits"] == {"google.com/tpu": "8"}


def test_a_pareto_front_plan_past_the_ranked_ones_exports(catalog: Any) -> None:
    # the page lists the front's plans after the top K (rank 9 here) and offers them for download
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 2)])
    front = doc.pareto[0].model_copy(update={"rank": 9, "model": "llama-3.1-70b",
                                             "deployments": [doc.plans[0].deployments[0].model_copy(
                                                 update={"tp": 4, "chips_per_replica": 4})]})
    doc = doc.model_copy(update={"pareto": [*doc.pareto, front]})
    script = export(doc, catalog, "vllm", rank=9)[0].content
    assert "llama-3.1-70b" in script.lower() or "Llama-3.1-70B" in script
    assert str(engine_options("vllm", script)["tensor_parallel_size"]) == "4"
    with pytest.raises(ExportError,
                       match=r"no plan of rank 7: its ranked plans are rank 1 only; the Pareto front adds rank 9$"):
        export(doc, catalog, "vllm", rank=7)


@pytest.mark.parametrize("fmt", ["k8s", "vllm"])
def test_a_name_without_ascii_letters_still_names_the_files(catalog: Any, fmt: str) -> None:
    """A workload named in another script only: the files start with "w" (as the manifests' object names do),
    not with "." (a hidden file) or "-" (a shell reads a script named "-1-l4..." as an option)."""
    doc = result("llama-3.1-8b", "vllm", [("l4", 1, 1, 2)]).model_copy(update={"workload": "日本語🚀"})
    for artifact in export(doc, catalog, fmt, workload=WORKLOAD):
        assert artifact.name.startswith("w"), artifact.name
