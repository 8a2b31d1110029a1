"""Plans whose engine loads their weights only pre-quantised export with the one-time job that writes them.

Before, `hwplan export` refused every INT8 / INT4 / FP4 plan on vLLM, SGLang and TensorRT-LLM ("only from a
pre-quantised checkpoint"), three examples' plan 1 among them, and gpt-oss's own MXFP4 checkpoint too. Now the
launch files load ${QUANTISED_CHECKPOINT} and ``--format quantise`` writes the job. Independent bases:

* llm-compressor's examples (vllm-project/llm-compressor @ ab1ba3eff examples/quantization_w8a8_int8,
  quantization_w4a16, quantization_w4a4_fp4, quantization_w8a8_fp8): the preset scheme per format (W8A8,
  W4A16, NVFP4, FP8_DYNAMIC), calibration data for all but FP8_DYNAMIC ("we do not need any calibration data");
  the quality bands the plan ranked on (quality.yaml) name those methods.
* vLLM reads the quantisation method from the checkpoint's config.json and refuses a --quantization flag that
  contradicts it (vllm/config/model.py ``_verify_quantization``); SGLang needs none
  (docs/advanced_features/quantization.md): the launch line has no --quantization.
* Model Optimizer's hf_ptq.py argument names and --qformat choices (tests/fixtures/engine_args/modelopt-hf_ptq.txt,
  QUANT_CFG_CHOICES at 5a4242fa).
* Every launch line still parses with the engine's published argument names (tests/fixtures/engine_args/).
"""

from __future__ import annotations

import ast
import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from engine_args import parser_from
from test_export import WORKLOAD, engine_options, result
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.export import ExportError, export, one_deployment

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEPLOY = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "deploy" / "deploy.yaml"
SCHEMES = {"int8": "W8A8", "int4": "W4A16", "fp4": "NVFP4", "fp8": "FP8_DYNAMIC"}  # llm-compressor's examples
QFORMATS = {"int8", "int8_sq", "int8_wo", "fp8", "int4_awq", "w4a8_awq", "nvfp4", "nvfp4_awq", "fp8_pb_wo",
            "fp8_pc_pt", "w4a8_nvfp4_fp8", "w4a8_mxfp4_fp8", "nvfp4_mlp_only"}  # hf_ptq.py QUANT_CFG_CHOICES


@pytest.fixture(scope="module")
def catalog() -> Any:
    return load_catalog(None)


# what the jobs may import, as published at the commits the recipes follow: llm-compressor @ ab1ba3eff
# (src/llmcompressor/__init__.py: oneshot; modifiers/gptq: GPTQModifier; modifiers/quantization: QuantizationModifier;
# modifiers/transform/smoothquant: SmoothQuantModifier), Transformers and Datasets
PUBLISHED = {"llmcompressor": {"oneshot"}, "llmcompressor.modifiers.gptq": {"GPTQModifier"},
             "compressed_tensors.quantization": {"FP8_E4M3_DATA", "DynamicType", "QuantizationArgs",
                                                 "QuantizationStrategy", "QuantizationType"},  # llama3_gptq_example.py
             "llmcompressor.modifiers.quantization": {"QuantizationModifier"},
             "llmcompressor.modifiers.transform.smoothquant": {"SmoothQuantModifier"},
             "transformers": {"AutoModelForCausalLM", "AutoTokenizer"}, "datasets": {"load_dataset"}}


def _imports_exist(tree: ast.AST) -> None:
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module in PUBLISHED, node.module
            assert {a.name for a in node.names} <= PUBLISHED[node.module], (node.module, [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            assert {a.name for a in node.names} <= {"os", "sys"}


def _calls(tree: ast.AST) -> dict[str, list[ast.Call]]:
    out: dict[str, list[ast.Call]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            out.setdefault(node.func.id, []).append(node)
    return out


def _keywords(call: ast.Call) -> dict[str, Any]:
    return {k.arg: ast.literal_eval(k.value) for k in call.keywords
            if k.arg is not None and isinstance(k.value, ast.Constant)}


@pytest.mark.parametrize(("fmt", "runtime", "hw", "model", "precision"), [
    ("vllm", "vllm", "h100-sxm", "llama-3.1-8b", "int8"),
    ("vllm", "vllm", "h100-sxm", "llama-3.1-8b", "int4"),
    ("vllm", "vllm", "rtx-4090", "qwen2.5-32b", "fp4"),  # edge-assistant's plan 1: NVFP4 weight-only on Ada
    ("sglang", "sglang", "l4", "qwen2.5-1.5b", "int8"),
    ("sglang", "sglang", "b200", "qwen3-30b-a3b", "fp4"),
])
def test_llm_compressor_job_and_launch_line(catalog: Any, fmt: str, runtime: str, hw: str, model: str,
                                            precision: str) -> None:
    doc = result(model, runtime, [(hw, 1, 1, 2)], precision=precision)
    (launch,) = export(doc, catalog, fmt, workload=WORKLOAD)
    options = engine_options(fmt, launch.content)
    assert options.get("model", options.get("model_path")) == "${QUANTISED_CHECKPOINT}"
    assert options.get("quantization") is None  # read from the checkpoint: a flag could only contradict it
    assert "# set QUANTISED_CHECKPOINT:" in launch.content
    assert ': "${QUANTISED_CHECKPOINT:?' in launch.content  # unset, the script stops (it ran `vllm serve ""`)
    # clients name the model as for a 16-bit plan (it was the checkpoint's path)
    assert options["served_model_name"] == yaml.safe_load(DEPLOY.read_text())["hf_repos"][model]
    (job,) = export(doc, catalog, "quantise", workload=WORKLOAD)
    assert job.name == "chat.quantise.py"
    tree = ast.parse(job.content)  # valid Python
    _imports_exist(tree)
    calls = _calls(tree)
    modifiers = [c for name in ("GPTQModifier", "QuantizationModifier") for c in calls.get(name, [])]
    if precision == "fp4":  # NVFP4 with GPTQ rounding (the band's evidence), as llama3_gptq_example.py defines it
        (gptq,) = calls["GPTQModifier"]
        assert ast.unparse(gptq.keywords[0]) == "config_groups={'group_0': NVFP4}"
        (weights, activations) = (_keywords(c) for c in calls["QuantizationArgs"])
        assert weights["num_bits"] == activations["num_bits"] == 4 and weights["group_size"] == 16
        assert weights["actorder"] == "static" and "QuantizationModifier" not in calls
    else:
        assert {_keywords(c).get("scheme") for c in modifiers} == {SCHEMES[precision]}
    assert ("SmoothQuantModifier" in calls) == (precision == "int8")  # SmoothQuant + GPTQ: the int8 band's method
    (oneshot,) = calls["oneshot"]
    assert {k.arg for k in oneshot.keywords} >= {"model", "recipe", "dataset", "num_calibration_samples"}
    assert "save_compressed=True" in job.content and 'os.environ.get("QUANTISED_CHECKPOINT")' in job.content
    repo = yaml.safe_load((Path(__file__).parents[1] / "hardware_catalog/data/deploy/deploy.yaml").read_text())
    assert f"MODEL = {repo['hf_repos'][model]!r}" in job.content
    assert "IGNORE = ['lm_head', 're:.*gate$', 're:.*router$']" in job.content  # output layer, MoE routers


def test_fp8_that_does_not_fit_at_load_gets_a_data_free_fp8_job(catalog: Any) -> None:
    """Llama 3.1 70B fp8 on one H100: vLLM would hold its 141 GB of 16-bit weights first; the job writes FP8."""
    doc = result("llama-3.1-70b", "vllm", [("h100-sxm", 1, 1, 1)], precision="fp8")
    (launch,) = export(doc, catalog, "vllm", workload=WORKLOAD)
    assert engine_options("vllm", launch.content)["model"] == "${QUANTISED_CHECKPOINT}"
    (job,) = export(doc, catalog, "quantise", workload=WORKLOAD)
    calls = _calls(ast.parse(job.content))
    assert {_keywords(c)["scheme"] for c in calls["QuantizationModifier"]} == {"FP8_DYNAMIC"}
    assert "dataset" not in {k.arg for k in calls["oneshot"][0].keywords} and "load_dataset" not in job.content
    assert "# why: vllm quantises to FP8 at load only where each chip holds the 16-bit weights first: deployment 1's " \
           "h100-sxm has" in job.content
    # on two H100s the 16-bit shard fits: quantised at load, no job
    fits = result("llama-3.1-70b", "vllm", [("h100-sxm", 2, 1, 1)], precision="fp8")
    assert engine_options("vllm", export(fits, catalog, "vllm", workload=WORKLOAD)[0].content)["quantization"] == "fp8"
    with pytest.raises(ExportError, match="needs no quantisation job: vllm quantises its 16-bit checkpoint to FP8"):
        export(fits, catalog, "quantise", workload=WORKLOAD)


@pytest.mark.parametrize(("precision", "qformat"), [("fp8", "fp8"), ("fp4", "nvfp4")])
def test_tensorrt_llm_job_is_model_optimizer(catalog: Any, precision: str, qformat: str) -> None:
    doc = result("llama-3.1-8b", "tensorrt-llm", [("b200", 1, 1, 1)], precision=precision)
    (launch,) = export(doc, catalog, "trtllm", workload=WORKLOAD)
    assert engine_options("trtllm", launch.content)["model"] == "${QUANTISED_CHECKPOINT}"
    (job,) = export(doc, catalog, "quantise", workload=WORKLOAD)
    assert job.name == "chat.quantise.sh"
    line = next(x for x in job.content.splitlines() if x.startswith("exec "))
    argv = shlex.split(line)[3:]  # exec python3 examples/llm_ptq/hf_ptq.py
    assert shlex.split(line)[1:3] == ["python3", "examples/llm_ptq/hf_ptq.py"]
    ns, rest = parser_from("modelopt-hf_ptq.txt", "hf_ptq").parse_known_args(argv)
    assert not rest and ns.qformat == qformat and ns.qformat in QFORMATS
    assert ns.pyt_ckpt_path == "meta-llama/Llama-3.1-8B" and ns.export_path == "${QUANTISED_CHECKPOINT}"
    # its default is an FP8 KV cache, which TensorRT-LLM applies at load: the plan's is 16-bit
    assert ns.kv_cache_qformat == "none"


@pytest.mark.parametrize(("fmt", "runtime", "model", "hw", "precision", "why"), [
    ("vllm", "vllm", "llama-3.1-8b", "mi300x", "int8", "NVIDIA GPUs only, not on AMD's build of vllm"),
    ("vllm", "vllm", "llama-3.1-8b", "t4", "int4", "compute capability 8.0"),
    ("trtllm", "tensorrt-llm", "llama-3.1-8b", "h100-sxm", "int8", "int8_sq"),
    ("trtllm", "tensorrt-llm", "llama-3.1-8b", "h100-sxm", "int4", "no int4 quantisation recipe for trtllm"),
    ("sglang", "sglang", "llama-3.1-8b", "h100-sxm", "fp4", "natively only"),  # runtimes.yaml native_only
    ("vllm", "vllm", "gemma-3-27b", "h100-sxm", "int4", "image-text model"),
    ("vllm", "vllm", "gpt-oss-120b", "h100-sxm", "fp8", "published in fp4"),  # its MXFP4 is what vLLM loads
    ("neuron", "neuronx", "llama-3.1-8b", "inferentia2", "int8", "NxD Inference quantises through its NeuronConfig"),
])
def test_no_checked_job_is_refused_naming_why(catalog: Any, fmt: str, runtime: str, model: str, hw: str,
                                              precision: str, why: str) -> None:
    doc = result(model, runtime, [(hw, 1, 1, 1)], precision=precision)
    for f in (fmt, "quantise"):
        with pytest.raises(ExportError, match=why):
            export(doc, catalog, f, workload=WORKLOAD)


def test_the_plan_loads_one_checkpoint_whatever_each_deployment_could_do(catalog: Any) -> None:
    """Llama 3.1 70B fp8 on one H100 (its 141 GB 16-bit checkpoint does not fit: the job) and on two (it would, at
    load): every deployment loads the job's checkpoint, not one the job's and one the repository quantised at load
    (a prefill pool and a decode pool, or replicas behind one load balancer, serve one set of weights, one name)."""
    doc = result("llama-3.1-70b", "sglang", [("h100-sxm", 1, 1, 1), ("h100-sxm", 2, 1, 1)], precision="fp8")
    scripts = export(doc, catalog, "sglang", workload=WORKLOAD)
    assert [engine_options("sglang", a.content)["model_path"] for a in scripts] == ["${QUANTISED_CHECKPOINT}"] * 2
    assert all(engine_options("sglang", a.content).get("quantization") is None for a in scripts)


def test_a_mix_with_a_chip_the_job_is_not_checked_on_is_refused_whole(catalog: Any) -> None:
    """The same plan with its two-chip deployment on MI300X: the H100 one needs the job, which is not checked on
    AMD's build, so neither the launch files nor the job are written (the MI300X was told it needed none), and
    `hwplan plan`'s check of plan 1 does not fail on it."""
    from hardware_catalog.export import with_deploy

    doc = result("llama-3.1-70b", "vllm", [("h100-sxm", 1, 1, 1), ("mi300x", 2, 1, 1)], precision="fp8")
    for f in ("vllm", "quantise"):
        with pytest.raises(ExportError, match="NVIDIA GPUs only, not on AMD's build of vllm \\(mi300x\\)"):
            export(doc, catalog, f, workload=WORKLOAD)
    deploy = with_deploy(doc, catalog, WORKLOAD).plans[0].deploy
    assert deploy is not None and deploy.status == "refused" and "NVIDIA GPUs only" in deploy.detail


def test_a_replica_spanning_nodes_is_deployed_as_manifests(catalog: Any) -> None:
    """Llama 3.1 405B bf16 on one 16 x H100 replica: vLLM's launch script is refused (it spans 2 nodes), the k8s
    manifests are written, and the plan's `deploy` names the format export writes, not the refused one."""
    from hardware_catalog.export import with_deploy

    doc = result("llama-3.1-405b", "vllm", [("h100-sxm", 16, 1, 1)], precision="bf16")
    with pytest.raises(ExportError, match="spans 2 nodes"):
        export(doc, catalog, "vllm", workload=WORKLOAD)
    assert export(doc, catalog, "k8s", workload=WORKLOAD)
    deploy = with_deploy(doc, catalog, WORKLOAD).plans[0].deploy
    assert deploy is not None and (deploy.format, deploy.status) == ("k8s", "ready")


def test_a_saved_plan_keeps_no_deploy_answer(tmp_path: Path, catalog: Any) -> None:
    """`deploy` is the catalog's answer when the plan was made; a saved plan outlives catalog edits, and its
    export answers for the catalog of the request, so the store keeps no `deploy` that could disagree with it."""
    from hardware_catalog.export import with_deploy
    from hardware_catalog.saved import PlanStore

    doc = with_deploy(result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)], precision="int4"), catalog, WORKLOAD)
    dumped = doc.model_dump(mode="json", exclude_unset=True)
    assert all("deploy" in p for p in dumped["plans"])
    saved = PlanStore(f"sqlite:///{tmp_path / 'plans.db'}").save(workload={"name": "w"}, result=dumped,
                                                                   catalog_version="v", prices={}, saved_by="cli")
    kept = PlanStore(f"sqlite:///{tmp_path / 'plans.db'}").get(saved.id)
    assert kept is not None and kept.result["plans"] and all("deploy" not in p for p in kept.result["plans"])
    assert kept.result["plans"][0]["deployments"] == dumped["plans"][0]["deployments"]  # (the rest kept)


def test_a_fine_tuned_checkpoint_is_quantised_from_model_path(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)], precision="int4")
    plan = doc.plans[0].model_copy(update={"adaptation": "full"})
    doc = doc.model_copy(update={"plans": [plan], "pareto": [plan]})
    (job,) = export(doc, catalog, "quantise", workload=WORKLOAD)
    assert "# set MODEL_PATH:" in job.content and 'MODEL = os.environ.get("MODEL_PATH")' in job.content
    (launch,) = export(doc, catalog, "vllm", workload=WORKLOAD)
    assert engine_options("vllm", launch.content)["model"] == "${QUANTISED_CHECKPOINT}"


def test_engines_without_a_job_say_which_have_one(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "llama.cpp", [("rtx-4090", 1, 1, 1)], precision="int4", kv="int8")
    with pytest.raises(ExportError, match="writes jobs for vLLM, SGLang and TensorRT-LLM plans; plan 1 runs on "
                                          "llama.cpp"):
        export(doc, catalog, "quantise", workload=WORKLOAD)


def test_a_models_own_published_format_loads_as_published(catalog: Any) -> None:
    """gpt-oss is published in MXFP4 (its experts; openai/gpt-oss-120b config.json quantization_config mxfp4): an
    fp4 plan of it serves that repository, with no job; it was refused as if it needed a pre-quantised checkpoint."""
    doc = result("gpt-oss-120b", "vllm", [("h100-sxm", 1, 1, 1)], precision="fp4")
    options = engine_options("vllm", export(doc, catalog, "vllm", workload=WORKLOAD)[0].content)
    assert options["model"] == "openai/gpt-oss-120b" and options.get("quantization") is None
    with pytest.raises(ExportError, match="needs no quantisation job: vllm loads its published checkpoint"):
        export(doc, catalog, "quantise", workload=WORKLOAD)


def test_a_deployment_is_not_chosen_for_the_job(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1), ("l40s", 1, 1, 1)], precision="int8")
    jobs = export(doc, catalog, "quantise", workload=WORKLOAD)
    assert len(jobs) == 1 and one_deployment(jobs, "quantise", None, all_hint="") == jobs  # one checkpoint for both
    with pytest.raises(ExportError, match="one checkpoint every deployment loads"):
        one_deployment(jobs, "quantise", 1, all_hint="")


def test_manifests_mount_the_quantised_checkpoint(catalog: Any) -> None:
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 2)], precision="int4")
    (artifact,) = export(doc, catalog, "k8s", workload=WORKLOAD)
    (deployment, *_) = [d for d in yaml.safe_load_all(artifact.content) if d["kind"] == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "QUANTISED_CHECKPOINT" in {e["name"] for e in container.get("env", [])}
    assert any("$(QUANTISED_CHECKPOINT)" in a for a in container["args"] + container.get("command", []))
    assert "HF_TOKEN" not in {e["name"] for e in container.get("env", [])}  # not pulled from the Hub


def test_plan_text_says_plan_1_has_a_quantisation_step(tmp_path: Path) -> None:
    """edge-assistant's plan 1 (qwen2.5-32b fp4 on vLLM, one RTX 4090) was refused at export; now it exports, and
    the plan's text names the one-time job (not priced) where it named the refusal."""
    runner = CliRunner()
    path = EXAMPLES / "edge-assistant.yaml"
    text = runner.invoke(app, ["plan", str(path)], env={"COLUMNS": "400"}).stdout
    (line,) = [" ".join(x.split()) for x in text.splitlines() if x.startswith("export")]
    assert "plan 1 serves fp4 weights quantised once beforehand (llm-compressor NVFP4 (GPTQ)" in line
    assert "not in the plan's cost" in line
    (tmp_path / "plan.json").write_text(runner.invoke(app, ["plan", str(path), "--json"]).stdout)
    out = runner.invoke(app, ["export", str(tmp_path / "plan.json"), "--format", "quantise", "--workload", str(path)])
    assert out.exit_code == 0, out.output
    ast.parse(out.stdout)


def test_the_service_serves_the_job(tmp_path: Path, catalog: Any) -> None:
    """GET /v1/plans/{id}/export?format=quantise: the job as a download (text/x-python, declared in the OpenAPI
    document) and in the JSON answer; a plan that needs none is a 422 naming why."""
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from hardware_catalog.loader import default_catalog_dir
    from hardware_catalog.saved import PlanStore

    shutil.copytree(default_catalog_dir(), tmp_path / "catalog")
    url = f"sqlite:///{tmp_path / 'plans.db'}"
    store = PlanStore(url)
    workload = {"name": "chat", "traffic": {"requests_per_s": 10, "peak_requests_per_s": 40,
                                            "input_tokens": {"mean": 1000, "p95": 3000},
                                            "output_tokens": {"mean": 200, "p95": 500}}}
    ids = {p: store.save(workload=workload, result=result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)],
                                                          precision=p).model_dump(mode="json", exclude_unset=True),
                         catalog_version="v", prices={}, saved_by="cli").id for p in ("int4", "bf16")}
    with TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog", database_url=url)),
                    raise_server_exceptions=False) as c:
        r = c.get(f"/v1/plans/{ids['int4']}/export", params={"format": "quantise"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/x-python")
        assert 'scheme="W4A16"' in r.text and 'filename="chat.quantise.py"' in r.headers["content-disposition"]
        as_json = c.get(f"/v1/plans/{ids['int4']}/export", params={"format": "quantise"},
                        headers={"Accept": "application/json"}).json()
        assert [f["name"] for f in as_json["files"]] == ["chat.quantise.py"]
        refused = c.get(f"/v1/plans/{ids['bf16']}/export", params={"format": "quantise"})
        assert refused.status_code == 422 and "needs no quantisation job" in refused.text
        declared = c.get("/openapi.json").json()["paths"]["/v1/plans/{plan_id}/export"]["get"]["responses"]["200"]
        assert "text/x-python" in declared["content"]
        # the service's plan answer says which plans need the job, as the CLI's does
        answer = c.post("/v1/plans", json=yaml.safe_load((EXAMPLES / "edge-assistant.yaml").read_text()),
                        params={"top": 2}).json()
        assert answer["plans"][0]["deploy"] == {"format": "vllm", "status": "quantise_first",
                                                "detail": "llm-compressor NVFP4 (GPTQ)"}


def test_another_engines_format_checks_that_engine(catalog: Any) -> None:
    """edge-assistant's plan 1 is vLLM NVFP4 on an RTX 4090 (weight-only there); exported as SGLang or TensorRT-LLM
    commands it was written with the checkpoint neither loads off Blackwell (runtimes.yaml native_only: a new user):
    the format's own engine is checked, not the plan's."""
    doc = result("qwen2.5-32b", "vllm", [("rtx-4090", 1, 1, 1)], precision="fp4")
    export(doc, catalog, "vllm", workload=WORKLOAD)
    for fmt in ("sglang", "trtllm"):
        with pytest.raises(ExportError, match="natively only, and rtx-4090 does not"):
            export(doc, catalog, fmt, workload=WORKLOAD)


def test_every_plan_says_whether_its_files_are_written(tmp_path: Path) -> None:
    """`hwplan plan --json` (and the service's answer, built the same: api/routes/plans.py) carries each plan's
    `deploy`, as `hwplan export` then behaves (the API's readers could not tell that plan 1 needed a job)."""
    runner = CliRunner()
    path = EXAMPLES / "edge-assistant.yaml"
    doc = json.loads(runner.invoke(app, ["plan", str(path), "--json"]).stdout)
    (tmp_path / "plan.json").write_text(json.dumps(doc))
    for p in doc["plans"]:
        deploy = p["deploy"]
        fmt = deploy["format"] if deploy["format"] != "any" else "k8s"
        out = runner.invoke(app, ["export", str(tmp_path / "plan.json"), "--format", fmt, "--rank", str(p["rank"]),
                                  "--workload", str(path)])
        assert (out.exit_code == 0) == (deploy["status"] != "refused"), (p["rank"], deploy, out.output)
        job = runner.invoke(app, ["export", str(tmp_path / "plan.json"), "--format", "quantise", "--rank",
                                  str(p["rank"]), "--workload", str(path)])
        assert (job.exit_code == 0) == (deploy["status"] == "quantise_first"), (p["rank"], deploy, job.output)
    assert doc["plans"][0]["deploy"] == {"format": "vllm", "status": "quantise_first",
                                         "detail": "llm-compressor NVFP4 (GPTQ)"}


def test_deploy_data_comes_from_a_compiled_entry_and_cache_clear_removes_it(cache_in: Path) -> None:
    """`hwplan plan` reports each plan's deploy from deploy.yaml: a warm run reads it without the YAML parser
    (tests/test_compiled_workload.py checks the modules); the entry is listed and cleared with the others, and a
    corrupt one is rebuilt, not an error."""
    from hardware_catalog.caching import cache, compiled
    from hardware_catalog.export import base

    base.deploy_data.cache_clear()
    first = base.deploy_data()
    (entry,) = cache_in.glob(f"*{compiled.DEPLOY_SUFFIX}")
    assert [d["key"] for d in cache.info()["deploy"]] == [entry.name.removesuffix(compiled.DEPLOY_SUFFIX)]
    entry.write_bytes(entry.read_bytes()[:-10])  # truncated
    base.deploy_data.cache_clear()
    assert base.deploy_data() == first and entry.exists()  # rebuilt from the YAML
    assert cache.clear() > 0 and not entry.exists()
    base.deploy_data.cache_clear()


@pytest.mark.parametrize(("typed", "near"), [("quantize", "quantise"), ("VLLM", "vllm"), ("trt-llm", "trtllm")])
def test_a_misspelt_format_is_answered_with_the_nearest(catalog: Any, typed: str, near: str) -> None:
    doc = result("llama-3.1-8b", "vllm", [("h100-sxm", 1, 1, 1)], precision="int4")
    with pytest.raises(ExportError, match=f"unknown format '{typed}': did you mean '{near}'"):
        export(doc, catalog, typed, workload=WORKLOAD)
    with pytest.raises(ExportError) as unknown:
        export(doc, catalog, "docker", workload=WORKLOAD)
    assert "did you mean" not in str(unknown.value)
