"""hwplan export of plans that use serving features: real plans from example-style workloads (the
planner chooses the feature), exported to vLLM, SGLang and Kubernetes, parsed with the engines'
published argument names (tests/fixtures/engine_args/: vllm-serving.txt @ vllm 99d7eb5d, sglang.txt
@ sglang 001067ff), their JSON option values checked against the engines' config fields, and the
manifests' pools, replicas and chips checked against the plan. Features an engine lacks (the runtime
support matrix) or that this export cannot write are refused with the feature and engine named."""

from __future__ import annotations

import argparse
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_args import parser_from

from hardware_catalog.export import KUBERNETES_VERSION, ExportError, export
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import PlanOut, PlanResultOut, plan_result_out
from planner.model.serving import ACCEPTANCE
from planner.search.planning import plan

ROOT = Path(__file__).resolve().parent.parent

LAUNCHERS = {"vllm": 2, "sglang": 3}  # argv words before the options ("vllm serve", "python3 -m sglang...")
REFERENCE = {"vllm": "vllm-serving.txt", "sglang": "sglang.txt"}

# vLLM's JSON-valued options, from its config classes:
# vllm-project/vllm vllm/config/speculative.py @ 002e77c1f0ef9b19cff8b9e21cfbd6feb3d6b443 (SpeculativeConfig
# fields; SpeculativeMethod includes "draft_model", "eagle", "eagle3" and MTPModelTypes' "deepseek_mtp")
VLLM_SPECULATIVE_FIELDS = {"method", "model", "num_speculative_tokens", "draft_tensor_parallel_size", "quantization"}
VLLM_SPECULATIVE_METHODS = {"ngram", "medusa", "mlp_speculator", "draft_model", "eagle", "eagle3", "deepseek_mtp"}
# vllm/config/kv_transfer.py @ 007c643b4abb7a79e69ef2b343b3dc80eb643c0d: KVTransferConfig fields and KVRole
VLLM_KV_TRANSFER_FIELDS = {"kv_connector", "engine_id", "kv_buffer_device", "kv_buffer_size", "kv_role", "kv_rank",
                           "kv_parallel_size", "kv_ip", "kv_port", "kv_connector_extra_config",
                           "kv_connector_module_path"}
VLLM_KV_ROLES = {"kv_producer", "kv_consumer", "kv_both"}
# sgl-project/sglang python/sglang/srt/server_args.py @ 001067fffe33427bee0ed2f007fb7551a1d76b44:
# speculative_algorithm's help ("Builtins: EAGLE, EAGLE3, NEXTN, STANDALONE, NGRAM, DFLASH, DSPARK"),
# disaggregation_mode Literal["null", "prefill", "decode"], DISAGG_TRANSFER_BACKEND_CHOICES
SGLANG_SPECULATIVE_ALGORITHMS = {"EAGLE", "EAGLE3", "NEXTN", "STANDALONE", "NGRAM", "DFLASH", "DSPARK"}
SGLANG_DISAGG_MODES = {"null", "prefill", "decode"}
SGLANG_TRANSFER_BACKENDS = {"mooncake", "nixl", "ascend", "fake", "mori", "mooncake_tcp"}


def workload(base: dict[str, Any], **constraints: Any) -> WorkloadIn:
    return WorkloadIn.model_validate({**base, "constraints": {**base.get("constraints", {}), **constraints}})


def example(name: str, **constraints: Any) -> WorkloadIn:
    return workload(yaml.safe_load((ROOT / "examples" / f"{name}.yaml").read_text()), **constraints)


CHAT = {"traffic": {"requests_per_s": 2, "input_tokens": {"mean": 1000, "p95": 2000},
                    "output_tokens": {"mean": 300, "p95": 800}}}
WORKLOADS = {
    # the DistServe-type example; fp8 weights (vLLM/SGLang quantise 16-bit checkpoints to FP8 at load; the
    # example's own fp4 plan needs a pre-quantised checkpoint the catalog does not name)
    "disaggregation": example("disagg-long-prompts", precisions=["fp8"], serving={"disaggregation": "required"}),
    "disaggregation_vllm": example("disagg-long-prompts", precisions=["fp8"], runtimes=["vllm"],
                                   serving={"disaggregation": "required"}),
    "prefix_caching": example("rag-prefix-cache", models=["qwen3-30b-a3b"], runtimes=["vllm", "sglang"],
                              precisions=["fp8", "bf16"], serving={"prefix_caching": "required"}),
    "expert_parallel": workload({"name": "moe-ep", **CHAT, "traffic": {**CHAT["traffic"], "requests_per_s": 20},
                                 "slo": {"ttft_ms": {"p99": 3000}, "tpot_ms": {"p99": 60}}},
                                models=["qwen3-30b-a3b"], hardware=["h100-sxm"], runtimes=["sglang", "vllm"],
                                precisions=["fp8", "bf16"], serving={"expert_parallel": "required"}),
    "eagle": workload({"name": "spec-eagle", **CHAT, "slo": {"ttft_ms": {"p99": 2000}, "tpot_ms": {"p99": 15}}},
                      models=["llama-3.1-8b"], hardware=["h100-sxm"], runtimes=["vllm", "sglang"],
                      precisions=["fp8", "bf16"], serving={"speculative": "required"}),
    "mtp": workload({"name": "spec-mtp", **CHAT, "slo": {"ttft_ms": {"p99": 5000}, "tpot_ms": {"p99": 60}}},
                    models=["deepseek-v3"], hardware=["h200"], runtimes=["vllm", "sglang"], precisions=["fp8"],
                    serving={"speculative": "required"}),
}


@pytest.fixture(scope="module")
def planned(catalog: Any, tables: Any) -> dict[str, PlanResultOut]:
    """Each workload planned once (the planner chooses the shape; the tests read what it chose)."""
    out = {}
    for key, w in WORKLOADS.items():
        result = plan(to_workload(w), catalog, top=1, time_limit_s=30, tables=tables)
        out[key] = plan_result_out(result)
        assert out[key].plans, f"{key}: no plan ({out[key].infeasible})"
    return out


def parser_for(engine: str) -> argparse.ArgumentParser:
    return parser_from(REFERENCE[engine], engine)


def options(engine: str, script: str) -> dict[str, Any]:
    """The exec line's options, parsed with the engine's published names only (unknown names fail)."""
    line = next(x for x in script.splitlines() if x.startswith("exec "))
    ns, rest = parser_for(engine).parse_known_args(shlex.split(line)[1 + LAUNCHERS[engine]:])
    assert not rest, f"{engine}: arguments not in the reference: {rest}"
    return dict(vars(ns))


def top(doc: PlanResultOut) -> PlanOut:
    return doc.plans[0]


def scripts(catalog: Any, doc: PlanResultOut, fmt: str, w: WorkloadIn) -> list[dict[str, Any]]:
    artifacts = export(doc, catalog, fmt, workload=to_workload(w))
    assert len(artifacts) == len(top(doc).deployments)
    return [options(fmt, a.content) for a in artifacts]


def test_disaggregated_plan_exports_a_prefill_and_a_decode_pool(planned: dict[str, PlanResultOut],
                                                                catalog: Any) -> None:
    doc, w = planned["disaggregation"], WORKLOADS["disaggregation"]
    p = top(doc)
    assert {d.role for d in p.deployments} == {"prefill", "decode"}
    for opts, d in zip(scripts(catalog, doc, "vllm", w), p.deployments, strict=True):
        kv = json.loads(opts["kv_transfer_config"])
        assert set(kv) <= VLLM_KV_TRANSFER_FIELDS and kv["kv_role"] in VLLM_KV_ROLES
        assert kv["kv_connector"] == "NixlConnector"
        assert kv["kv_role"] == {"prefill": "kv_producer", "decode": "kv_consumer"}[d.role]
        assert int(opts["tensor_parallel_size"]) * int(opts["pipeline_parallel_size"]) == d.chips_per_replica
    for opts, d in zip(scripts(catalog, doc, "sglang", w), p.deployments, strict=True):
        assert opts["disaggregation_mode"] in SGLANG_DISAGG_MODES and opts["disaggregation_mode"] == d.role
        assert opts["disaggregation_transfer_backend"] in SGLANG_TRANSFER_BACKENDS
        assert int(opts["tp_size"]) * int(opts["pp_size"]) == d.chips_per_replica


@pytest.mark.parametrize("key", ["disaggregation", "disaggregation_vllm"])
def test_disaggregated_manifests_hold_each_pool_with_its_replicas_and_chips(planned: dict[str, PlanResultOut],
                                                                          catalog: Any, key: str) -> None:
    import kubernetes_validate

    doc, w = planned[key], WORKLOADS[key]
    p = top(doc)
    assert p.runtime == {"disaggregation": "sglang", "disaggregation_vllm": "vllm"}[key]
    (artifact,) = export(doc, catalog, "k8s", workload=to_workload(w))
    docs = list(yaml.safe_load_all(artifact.content))
    for d in docs:
        kubernetes_validate.validate(d, KUBERNETES_VERSION, strict=True)
    assert len({(d["kind"], d["metadata"]["name"]) for d in docs}) == len(docs)  # k8s: a name once per kind
    pools = [d for d in docs if d["kind"] == "Deployment"]
    # one Deployment per replica shape; a pool may mix shapes, but both pools are there
    assert len(pools) == len(p.deployments) and {d.role for d in p.deployments} == {"prefill", "decode"}
    for manifest, d in zip(pools, p.deployments, strict=True):
        pod = manifest["spec"]["template"]
        assert pod["metadata"]["labels"]["hwplan.io/role"] == d.role and d.role in manifest["metadata"]["name"]
        assert manifest["spec"]["replicas"] == d.replicas
        container = pod["spec"]["containers"][0]
        assert container["resources"]["limits"] == {"nvidia.com/gpu": str(d.chips_per_replica)}
        args, ports = " ".join(container["args"]), {x["name"]: x["containerPort"] for x in container["ports"]}
        if p.runtime == "sglang":
            assert f"--disaggregation-mode {d.role}" in args
            assert ("bootstrap" in ports) == (d.role == "prefill")  # the decode side fetches KV from the prefill pod
        else:
            kv_role = {"prefill": "kv_producer", "decode": "kv_consumer"}[d.role]
            assert f'"kv_role":"{kv_role}"' in args and ports["nixl"] == 5600
            env = {e["name"]: e for e in container["env"]}
            # NIXL's handshake host defaults to localhost: each pod advertises its own address
            assert env["VLLM_NIXL_SIDE_CHANNEL_HOST"]["valueFrom"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    chips = sum(int(m["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"])
                * m["spec"]["replicas"] for m in pools)
    assert chips == sum(d.replicas * d.chips_per_replica for d in p.deployments)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
            for h in docs if h["kind"] == "HorizontalPodAutoscaler"}
    assert hpas == {m["metadata"]["name"]: m["spec"]["replicas"] for m in pools}  # each pool scales on its own


def test_expert_parallel_and_dp_attention_flags(planned: dict[str, PlanResultOut], catalog: Any) -> None:
    doc, w = planned["expert_parallel"], WORKLOADS["expert_parallel"]
    p = top(doc)
    (d,) = p.deployments
    assert d.ep > 1 and {"expert_parallel", "dp_attention"} <= set(p.features)
    (sg,) = scripts(catalog, doc, "sglang", w)
    assert (sg["tp_size"], sg["ep_size"]) == (str(d.tp), str(d.ep)) and sg["enable_dp_attention"]
    assert sg["dp_size"] == str(d.dp_attention) and sg["max_running_requests"] == str(d.max_batch)
    (vl,) = scripts(catalog, doc, "vllm", w)
    dp, tp = int(vl["data_parallel_size"]), int(vl["tensor_parallel_size"])
    assert vl["enable_expert_parallel"] and dp == d.dp_attention
    assert dp * tp == d.chips_per_replica == d.ep  # vLLM's EP group: every DP x TP rank of the replica
    assert int(vl["max_num_seqs"]) == -(-d.max_batch // dp)  # max-num-seqs is per DP engine: the batch split
    (artifact,) = export(doc, catalog, "k8s", workload=to_workload(w))
    (deployment,) = [x for x in yaml.safe_load_all(artifact.content) if x["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == d.replicas
    limits = deployment["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"nvidia.com/gpu": str(d.chips_per_replica)}


@pytest.mark.parametrize("key", ["eagle", "mtp"])
def test_speculative_decoding_flags(planned: dict[str, PlanResultOut], catalog: Any, key: str) -> None:
    doc, w = planned[key], WORKLOADS[key]
    assert "speculative" in top(doc).features
    k = ACCEPTANCE[key][0]  # the drafted tokens the planner modelled (MTP 1, EAGLE 4)
    (vl,) = scripts(catalog, doc, "vllm", w)
    config = json.loads(vl["speculative_config"])
    assert set(config) <= VLLM_SPECULATIVE_FIELDS and config["method"] in VLLM_SPECULATIVE_METHODS
    assert config["num_speculative_tokens"] == k
    assert config["method"] == ("deepseek_mtp" if key == "mtp" else "eagle3")
    assert ("model" in config) == (key == "eagle")  # MTP drafts with the checkpoint's own modules
    (sg,) = scripts(catalog, doc, "sglang", w)
    assert sg["speculative_algorithm"] in SGLANG_SPECULATIVE_ALGORITHMS
    assert sg["speculative_algorithm"] == ("NEXTN" if key == "mtp" else "EAGLE3")
    # a chain of k drafted tokens: k steps, top-1 each, k + 1 positions verified
    assert (sg["speculative_num_steps"], sg["speculative_eagle_topk"], sg["speculative_num_draft_tokens"]) == (
        str(k), "1", str(k + 1))
    assert (sg["speculative_draft_model_path"] is not None) == (key == "eagle")


def test_prefix_caching_is_switched_on(planned: dict[str, PlanResultOut], catalog: Any) -> None:
    doc, w = planned["prefix_caching"], WORKLOADS["prefix_caching"]
    assert "prefix_caching" in top(doc).features
    for opts in scripts(catalog, doc, "vllm", w):
        assert opts["enable_prefix_caching"]
    for opts in scripts(catalog, doc, "sglang", w):
        assert not opts["disable_radix_cache"]  # SGLang's radix cache is on unless disabled


def _synthetic(model: str, hw: str, *, features: list[str], precision: str = "bf16",
               **deployment: Any) -> PlanResultOut:
    """A one-deployment result document (``hwplan plan --json`` shape) with the given features."""
    na = dict.fromkeys(("ttft_ms_p50", "ttft_ms_p90", "ttft_ms_p95", "ttft_ms_p99", "tpot_ms_p50", "tpot_ms_p90",
                        "tpot_ms_p95", "tpot_ms_p99", "e2e_ms_p50", "e2e_ms_p90", "e2e_ms_p95", "e2e_ms_p99",
                        "capacity_requests_per_s", "utilization", "output_tokens_per_s_at_peak"))
    d = {"hardware": hw, "chips_per_replica": 8, "tp": 8, "pp": 1, "replicas": 2, "max_batch": 64,
         "requests_per_s_per_replica": 1, "slo_capacity_per_replica": 1, "calibrated": False, **deployment}
    p = {"rank": 1, "model": model, "precision": precision, "kv_precision": "bf16", "adaptation": "none",
         "runtime": "vllm", "predicted": na, "binding": [], "pareto": True, "features": features,
         "quality": {"score": 70, "low": 70, "high": 70, "task": "general", "confidence": "central", "sources": []},
         "cost": {"per_hour": 1, "per_month": 730, "per_million_tokens": 1, "one_time": 0, "pricing": "on_demand"},
         "deployments": [d]}
    return PlanResultOut.model_validate({
        "workload": "w", "objective": "cost", "plans": [p], "pareto": [p], "infeasible": None,
        "search": {"candidates": 1, "evaluated": 1, "pruned": 0, "solver_status": "OPTIMAL", "gap": 0, "stop": "proven",
                   "solves": 1, "elapsed_ms": 1, "dropped": {}}, "complete": True, "notes": []})


@pytest.mark.parametrize(("fmt", "doc", "why"), [
    ("trtllm", _synthetic("llama-3.1-8b", "h100-sxm", features=["speculative"]), "speculative.*trtllm.*--config"),
    ("trtllm", _synthetic("qwen3-30b-a3b", "h100-sxm", features=["expert_parallel", "dp_attention"], ep=8,
                          dp_attention=8), "dp_attention.*trtllm"),
    ("llama.cpp", _synthetic("llama-3.1-8b", "h100-sxm", features=["prefix_caching"], tp=1, chips_per_replica=1,
                             precision="int4"), "prefix_caching.*llama.cpp.*runtime support matrix"),
    ("neuron", _synthetic("llama-3.1-8b", "inferentia2", features=["speculative"], tp=1, chips_per_replica=1),
     "speculative.*neuron.*does not support on inferentia"),
    ("vllm", _synthetic("qwen2.5-7b", "h100-sxm", features=["speculative"]), "no EAGLE draft head for qwen2.5-7b"),
    ("sglang", _synthetic("llama-3.1-8b", "h100-sxm", features=["expert_parallel"], ep=8), "llama-3.1-8b.*no experts"),
    ("vllm", _synthetic("qwen3-30b-a3b", "h100-sxm", features=["expert_parallel"], ep=4), "ep = tp"),
    ("sglang", _synthetic("qwen3-30b-a3b", "h100-sxm", features=["dp_attention"], dp_attention=3), "dp divides tp"),
    ("vllm", _synthetic("llama-3.1-8b", "h100-sxm", features=["disaggregation"], role="prefill"),
     "disaggregation needs a prefill pool and a decode pool"),
])
def test_features_an_engine_cannot_run_are_refused_by_name(catalog: Any, fmt: str, doc: PlanResultOut,
                                                           why: str) -> None:
    with pytest.raises(ExportError, match=why):
        export(doc, catalog, fmt)


def test_the_refused_plans_export_without_the_feature(catalog: Any) -> None:
    """The refusals above come from the feature, not the plan's other fields."""
    assert export(_synthetic("llama-3.1-8b", "h100-sxm", features=[]), catalog, "trtllm")
    assert export(_synthetic("qwen3-30b-a3b", "h100-sxm", features=[]), catalog, "vllm")


@pytest.mark.parametrize("fmt", ["sglang", "k8s"])
def test_api_and_cli_export_the_same_pools(planned: dict[str, PlanResultOut], tmp_path: Path, fmt: str,
                                           hwplan: Callable[..., tuple[int, str, str]]) -> None:
    """A saved disaggregated plan: GET /v1/plans/{id}/export and `hwplan export --json` print one ExportOut."""
    from fastapi.testclient import TestClient

    from api import Settings, create_app
    from hardware_catalog.outputs import ExportOut
    from hardware_catalog.saved import PlanStore

    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = PlanStore(url)
    w = WORKLOADS["disaggregation"]
    saved = store.save(workload=w.model_dump(mode="json", exclude_unset=True),
                       result=planned["disaggregation"].model_dump(mode="json"), catalog_version="test",
                       prices={}, saved_by="test")
    store.close()
    with TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog", database_url=url))) as c:
        r = c.get(f"/v1/plans/{saved.id}/export", params={"format": fmt}, headers={"Accept": "application/json"})
    assert r.status_code == 200, r.text
    doc = ExportOut.model_validate(r.json())
    code, out, err = hwplan("export", saved.id, "--format", fmt, "--json", "--db", url)
    assert code == 0, err
    assert json.loads(out) == r.json()
    if fmt == "k8s":
        (file,) = doc.files
        commands = [" ".join(d["spec"]["template"]["spec"]["containers"][0]["args"])
                    for d in yaml.safe_load_all(file.content) if d["kind"] == "Deployment"]
    else:
        commands = [line for f in doc.files for line in f.content.splitlines() if line.startswith("exec ")]
    roles = sorted(d.role for d in top(planned["disaggregation"]).deployments)  # one command per pool
    assert set(roles) == {"decode", "prefill"}
    assert sorted(c.split("--disaggregation-mode ")[1].split()[0] for c in commands) == roles


def test_every_written_feature_names_the_engine_commit_in_the_support_matrix(catalog: Any) -> None:
    """deploy.yaml's flag sets and the runtime support matrix's export_checked cite the same engine commit."""
    import re

    from hardware_catalog.export import deploy_data

    written = 0
    for engine in deploy_data()["engines"].values():
        runtime = catalog.runtimes[engine["runtime"]]
        for feature, flags in engine.get("serving", {}).items():
            (row,) = [s for s in runtime.serving if s.feature == feature]
            short = re.search(r"@ ([0-9a-f]{8})", row.export_checked)
            assert short, f"{runtime.id} {feature}: no commit in export_checked"
            assert short.group(1) in flags, f"{runtime.id} {feature}: {row.export_checked} vs {flags}"
            written += 1
    assert written == 11  # vLLM 5, SGLang 5, TensorRT-LLM EP


def test_a_feature_without_a_checked_engine_version_is_refused(planned: dict[str, PlanResultOut],
                                                              catalog: Any) -> None:
    from dataclasses import replace

    vllm = catalog.runtimes["vllm"]
    unchecked = replace(vllm, serving=tuple(replace(s, export_checked="") if s.feature == "speculative" else s
                                            for s in vllm.serving))
    edited = replace(catalog, runtimes={**catalog.runtimes, "vllm": unchecked})
    assert export(planned["eagle"], catalog, "vllm")
    with pytest.raises(ExportError, match="speculative: the runtime support matrix names no vLLM release"):
        export(planned["eagle"], edited, "vllm")
