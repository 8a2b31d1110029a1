"""Engine launch commands for one plan (the core of ``hwplan export``; see hardware_catalog.export).

``export(plan_doc, catalog, fmt, rank=1, workload=None)`` turns one ranked plan of a
``PlanResultOut`` into files: a launch script per deployment for an engine format (vllm, sglang,
trtllm, jetstream, neuron, llama.cpp), or a multi-document YAML for a cluster format (k8s: a
Deployment, or a LeaderWorkerSet when a replica spans nodes; lws: always LeaderWorkerSets;
kserve: InferenceServices), each with a Service and a HorizontalPodAutoscaler.

The flags come from the plan: model (its Hugging Face repository, ``data/deploy/deploy.yaml``),
tensor and pipeline parallel sizes, weight quantisation, KV-cache dtype, the most concurrent
sequences (the deployment's ``max_batch``), the chunked-prefill budget (the runtime's
``max_batched_tokens``) and, with the workload, a maximum model length; the serving features
(prefix caching, expert parallelism, DP attention, speculative decoding, prefill/decode roles)
through ``hardware_catalog.export.serving``, which refuses those an engine lacks. A
combination an engine or chip cannot express (a precision the engine only loads from a
pre-quantised checkpoint the catalog does not name, a chip without a Kubernetes device plugin,
a model without a published repository) raises ``ExportError`` naming why, instead of guessing.

Pure generation: the only file read is the deploy data; the caller writes the artifacts.
"""

from __future__ import annotations

import math
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from hardware_catalog.outputs import DeploymentOut
    from planner.workload import Tokens

from hardware_catalog.export.base import (
    _REFERENCE,
    Artifact,
    ExportError,
    _Ctx,
    _sixteen_bit_shard,
    deploy_data,
    shell_join,
)
from hardware_catalog.export.quantise import CHECKPOINT, fp8_at_load, prequantised
from hardware_catalog.export.serving import sglang_flags, trtllm_flags, vllm_flags
from planner.model.attention import kv_cache_bytes
from planner.model.load.queueing import SLOT_STEP, LengthDist, slot_tokens

__all__ = ["CLUSTER_FORMATS", "ENGINE_FORMATS", "FORMATS", "PLACEHOLDERS", "QUANTISE_FORMAT", "Artifact", "ExportError",
           "deploy_data", "engine_argv", "k8s_name", "placeholders", "shell_join"]

ENGINE_FORMATS = ("vllm", "sglang", "trtllm", "jetstream", "neuron", "llama.cpp")
CLUSTER_FORMATS = ("k8s", "kserve", "lws")
QUANTISE_FORMAT = "quantise"  # the one-time job writing ${QUANTISED_CHECKPOINT} (hardware_catalog.export.quantise)
FORMATS = (*ENGINE_FORMATS, *CLUSTER_FORMATS, QUANTISE_FORMAT)
PORT = 8000
LORA_RANK = 64  # planner.levers.finetune.DEFAULT_RANK (not imported: the export stays free of the planner)
KUBERNETES_VERSION = "1.33"  # the OpenAPI schemas the manifests are validated against (tests/test_export.py)


def _slug(text: str) -> str:
    """Lower-case ASCII letters, digits and single dashes ("Ünïcode Wörkload" -> "unicode-workload": a
    Kubernetes name or a file name the shell takes as it is)."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    out = "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out[:50].strip("-")


K8S_NAME = 47  # characters: what the controllers derive from a name stays within 63 (KServe's
# "<name>-predictor" Service, LWS's "<name>-<i>" StatefulSets and their "<sts>-<hash>" revision label)


def k8s_name(workload: str, suffix: str) -> str:
    """A Kubernetes object name (an RFC 1035 label, a lower-case letter first) of at most K8S_NAME
    characters ending in ``suffix`` whole: the workload's part is cut to fit, so the names of one
    plan's deployments stay distinct however long the workload's name ("...-1-prefill-h100-sxm" and
    "...-2-decode-h100-sxm" once both became the same 50 characters)."""
    tail = _slug(suffix)
    head = _slug(workload) or "w"
    if not head[:1].isalpha():
        head = f"w-{head}"
    return f"{head[:K8S_NAME - 1 - len(tail)].strip('-') or 'w'}-{tail}"


# Values the operator supplies at launch: a fine-tuned checkpoint, a LoRA adapter, a MaxText checkpoint.
# Written as ${NAME} in scripts (expanded by the shell) and $(NAME) in manifests (expanded from the
# container's env, which the manifest declares for the operator to fill in).
PLACEHOLDERS = {"MODEL_PATH": "the fine-tuned checkpoint (a directory or Hugging Face repository; llama.cpp: its "
                              "GGUF conversion) the plan's adaptation produced",
                "LORA_ADAPTER": "the LoRA adapter the plan's adaptation trained (a PEFT directory; llama.cpp: "
                                "its GGUF conversion)",
                "MAXTEXT_CHECKPOINT": "the MaxText (Orbax) checkpoint converted from the weights the plan serves (a "
                                      "full or distilled plan: its fine-tuned ones, not the base model's)",
                "QUANTISED_CHECKPOINT": (
                    "the plan's weights quantised once before the first replica starts (a directory every replica "
                    "reads): `hwplan export --format quantise` writes the job that makes it"),
                "MAXTEXT_QUANTISED_CHECKPOINT": (
                    "that MaxText checkpoint quantised to int8 and saved (quantization=int8 on a host that holds its "
                    "bf16 weights): a chip of this replica cannot hold the bf16 shard MaxText would restore to "
                    "quantise at load")}


def placeholders(argv: list[str]) -> list[str]:
    """The PLACEHOLDERS an argv refers to, in order."""
    return list(dict.fromkeys(m for a in argv for m in _REFERENCE.findall(a) if m in PLACEHOLDERS))


def _weights(ctx: _Ctx) -> str:
    """What the engine loads: the model's repository, or the fine-tuned checkpoint a full or distilled
    adaptation produced (``${MODEL_PATH}``: the base repository would serve the unadapted model,
    whose quality the plan did not rank)."""
    repo = _hf_repo(ctx.plan.model)
    return "${MODEL_PATH}" if ctx.plan.adaptation in ("full", "distill") else repo


def _lora(ctx: _Ctx, fmt: str) -> list[str]:
    """The flags that load the plan's LoRA adapter (QLoRA's too: its adapter serves on the 16-bit base),
    or none for an unadapted / fully adapted plan; engines this export cannot give an adapter refuse."""
    if ctx.plan.adaptation not in ("lora", "qlora"):
        return []
    name = _slug(ctx.plan.model + "-adapter")
    if fmt == "vllm":
        # the rank hwplan finetune costs (planner.levers.finetune.DEFAULT_RANK, the Guanaco recipe's 64);
        # vLLM's default cap is 16 and it refuses a larger adapter
        return ["--enable-lora", "--lora-modules", f"{name}=${{LORA_ADAPTER}}", "--max-lora-rank", str(LORA_RANK)]
    if fmt == "sglang":
        return ["--lora-paths", f"{name}=${{LORA_ADAPTER}}"]
    if fmt == "llama.cpp":
        return ["--lora", "${LORA_ADAPTER}"]
    raise ExportError(f"plan {ctx.plan.rank} serves a {ctx.plan.adaptation} adapter, which this export does not "
                      f"load with {fmt} (vllm, sglang and llama.cpp do); without it the engine would serve the "
                      "unadapted base model, not the quality the plan was ranked on", field="format")


def _hf_repo(model: str) -> str:
    repo = deploy_data()["hf_repos"].get(model)
    if repo is None:
        raise ExportError(f"model {model} has no published Hugging Face repository in data/deploy/deploy.yaml, "
                          "so no engine can be told what to load", field="model")
    return str(repo)


def _max_model_len(ctx: _Ctx) -> int | None:
    """Twice the workload's p95 prompt + output, in steps of 1024, at most the model's context; None
    without a workload (the engine then takes the model's own context length)."""
    return _p95_context(ctx, factor=2.0, step=1024)


def _p95_context(ctx: _Ctx, *, factor: float, step: int) -> int | None:
    """``factor`` x the workload's p95 prompt + output, rounded up to ``step`` tokens, at most the model's context;
    None without a workload."""
    if ctx.workload is None:
        return None
    t = ctx.workload.traffic
    length = step * math.ceil(factor * (_p95(t.input_tokens) + _p95(t.output_tokens)) / step)
    return min(length, ctx.catalog.get_model(ctx.plan.model).context_length)


def _check_runtime(ctx: _Ctx, fmt: str, d: DeploymentOut) -> None:
    runtime_id = deploy_data()["engines"][fmt]["runtime"]
    runtime = ctx.catalog.runtimes.get(runtime_id)
    hw = ctx.catalog.get_hardware(d.hardware)
    if runtime is None:
        raise ExportError(f"runtime {runtime_id} is not in this catalog", field="format")
    if hw.family not in runtime.families or runtime.id not in hw.runtimes:
        raise ExportError(f"{fmt} ({runtime.name}) does not run on {hw.id} (its runtimes: {', '.join(hw.runtimes)})",
                          field="format")
    if ctx.plan.precision not in runtime.weight_precisions:
        raise ExportError(f"{fmt} does not load {ctx.plan.precision} weights", field="format")
    if ctx.plan.kv_precision not in runtime.kv_precisions:
        raise ExportError(f"{fmt} has no {ctx.plan.kv_precision} KV cache", field="format")


def _dtype(ctx: _Ctx, d: DeploymentOut) -> str:
    """The engine's --dtype for a 16-bit plan: float16 on a chip without BF16 (Turing: vLLM's
    _check_if_gpu_supports_dtype refuses bfloat16 below compute capability 8.0), whatever the plan's 16-bit
    format (the catalog times bf16 there as fp16; a bf16 checkpoint is cast at load)."""
    hw = ctx.catalog.get_hardware(d.hardware)
    if ctx.plan.precision == "fp16" or "bf16" not in hw.peak_flops_per_s:
        return "float16"
    return "bfloat16"


def _loaded(ctx: _Ctx, fmt: str) -> tuple[str, list[str]]:
    """(what ``fmt``'s engine loads, the flags that say how, beside --dtype for 16-bit weights): the checkpoint a
    quantisation job writes where the plan's weights are quantised beforehand (``quantise.prequantised``: no
    --quantization flag, the engine reads the method from its config.json and vLLM refuses a flag that
    contradicts it; served under the repository's name, as a 16-bit plan), else the published checkpoint, with
    ``--quantization fp8`` where the engine quantises it at load (``quantise.fp8_at_load``; a model's own format
    is read from its config.json)."""
    weights = _weights(ctx)
    if prequantised(ctx, fmt) is not None:
        named = fmt in ("vllm", "sglang") and weights != "${MODEL_PATH}"  # (SGLang: server_args.py @ 001067ff)
        return CHECKPOINT, ["--served-model-name", weights] if named else []
    return weights, ["--quantization", "fp8"] if fp8_at_load(ctx, fmt) else []


def _neuron_quantised_error(precision: str, model: str) -> ExportError:
    return ExportError(f"neuron serves {precision} weights only from a pre-quantised checkpoint, and the catalog "
                       f"names none for {model} (NxD Inference quantises through its NeuronConfig, which this export "
                       "does not write); export a 16-bit plan", field="format")


def _vllm(ctx: _Ctx, d: DeploymentOut, *, neuron: bool = False) -> list[str]:
    p = ctx.plan
    runtime = ctx.catalog.runtimes["neuronx" if neuron else "vllm"]
    tp = d.tp
    family = ctx.catalog.get_hardware(d.hardware).family
    if not neuron and family in ("inferentia", "trainium"):
        raise ExportError(f"{d.hardware} is an AWS Neuron chip: vLLM runs there through its Neuron backend "
                          "(NeuronCores, the Neuron image), which --format neuron writes", field="format")
    if neuron and p.precision not in ("bf16", "fp16"):
        raise _neuron_quantised_error(p.precision, p.model)
    weights, how = (_weights(ctx), []) if neuron else _loaded(ctx, "vllm")
    argv = ["vllm", "serve", weights]
    if neuron:
        tp = d.tp * ctx.catalog.get_hardware(d.hardware).tp_ranks_per_chip  # vLLM on Neuron counts NeuronCores
        argv += ["--device", "neuron"]
    tp, max_seqs, features = vllm_flags(ctx, d, tp)  # DP attention splits the replica's ranks (serving.py)
    argv += ["--tensor-parallel-size", str(tp), "--pipeline-parallel-size", str(d.pp)]
    argv += how + (["--dtype", _dtype(ctx, d)] if p.precision in ("bf16", "fp16") else [])
    if p.kv_precision == "fp8":
        argv += ["--kv-cache-dtype", "fp8"]
    argv += ["--max-num-seqs", str(max_seqs), "--enable-chunked-prefill",
             "--max-num-batched-tokens", str(runtime.max_batched_tokens)]
    adapters = _lora(ctx, "neuron" if neuron else "vllm")
    # on Neuron a sequence's cache is one block of max_model_len (runtimes.yaml neuronx features.paged_kv): the
    # slot the plan's batch was sized at, not twice the p95, and refused where the slots do not fit
    if (n := _slot_context(ctx) if neuron else _max_model_len(ctx)) is not None:
        if neuron:
            _slots_fit(ctx, d, "vLLM on Neuron", max_seqs, n, "max_model_len: the workload's p95 prompt + p95 "
                       "output", "fewer sequences (--max-num-seqs) or a shorter --max-model-len")
        argv += ["--max-model-len", str(n)]
    return argv + features + adapters + ["--port", str(PORT)]


def _sglang(ctx: _Ctx, d: DeploymentOut) -> list[str]:
    p = ctx.plan
    runtime = ctx.catalog.runtimes["sglang"]
    weights, how = _loaded(ctx, "sglang")  # (a quantised checkpoint: docs/advanced_features/quantization.md)
    argv = ["python3", "-m", "sglang.launch_server", "--model-path", weights, "--tp-size", str(d.tp),
            "--pp-size", str(d.pp), *how, *(["--dtype", _dtype(ctx, d)] if p.precision in ("bf16", "fp16") else [])]
    if p.kv_precision == "fp8":
        argv += ["--kv-cache-dtype", "fp8_e4m3"]  # SGLang names the FP8 format; it has no plain "fp8"
    argv += ["--max-running-requests", str(d.max_batch), "--chunked-prefill-size", str(runtime.max_batched_tokens)]
    if (n := _max_model_len(ctx)) is not None:
        argv += ["--context-length", str(n)]
    return argv + sglang_flags(ctx, d) + _lora(ctx, "sglang") + ["--host", "0.0.0.0", "--port", str(PORT)]


def _trtllm(ctx: _Ctx, d: DeploymentOut) -> list[str]:
    p = ctx.plan
    runtime = ctx.catalog.runtimes["tensorrt-llm"]
    if p.kv_precision not in ("bf16", "fp16"):
        raise ExportError("trtllm-serve has no KV-cache dtype option (it is set in the --config YAML's "
                          "kv_cache_config, which this export does not write)", field="format")
    _lora(ctx, "trtllm")
    weights, how = _loaded(ctx, "trtllm")  # a quantised one: Model Optimizer's checkpoint (hf_quant_config.json)
    argv = ["trtllm-serve", weights, *how, "--backend", "pytorch", "--tp_size", str(d.tp), "--pp_size", str(d.pp),
            "--max_batch_size", str(d.max_batch), "--max_num_tokens", str(runtime.max_batched_tokens),
            "--enable_chunked_prefill"]
    if (n := _max_model_len(ctx)) is not None:
        argv += ["--max_seq_len", str(n)]
    return argv + trtllm_flags(d) + ["--host", "0.0.0.0", "--port", str(PORT)]


def _jetstream(ctx: _Ctx, d: DeploymentOut) -> list[str]:
    p = ctx.plan
    name = deploy_data()["maxtext_models"].get(p.model)
    if name is None:
        raise ExportError(f"model {p.model} has no MaxText model_name in data/deploy/deploy.yaml", field="format")
    if (problem := ctx.catalog.runtimes["jetstream"].split_problem(d.tp, d.pp)) is not None:  # (plans have none)
        raise ExportError(f"{problem} (pp {d.pp})", field="format")
    if (n := _slot_context(ctx)) is None:
        raise ExportError("jetstream needs max_target_length: export with the workload (a saved plan, or --workload)",
                          field="workload")
    if n <= (prefill := runtime_prefill(ctx)):
        raise ExportError(f"MaxText needs max_target_length above max_prefill_predict_length, and the model's "
                          f"context ({n:,} tokens) leaves no room past the workload's p95 prompt ({prefill:,})",
                          field="workload")
    quant = {"bf16": None, "int8": "int8"}
    if p.precision not in quant:
        raise ExportError(f"this export maps only bf16 and int8 weights to MaxText, not {p.precision}", field="format")
    _lora(ctx, "jetstream")
    tokenizer = deploy_data()["maxtext_tokenizers"].get(p.model)
    if tokenizer is None:
        raise ExportError(f"model {p.model} has no MaxText tokenizer in data/deploy/deploy.yaml (base.yml's "
                          "default is Llama 2's)", field="format")
    # per_device_batch_size x chips holds the replica's batch (rounded up: 255 over 4 chips is 64 each, not 63)
    per_device = max(1, -(-d.max_batch // d.chips_per_replica))
    _slots_fit(ctx, d, "MaxText", per_device * d.chips_per_replica, n, "max_target_length: the workload's p95 "
               "prompt + p95 output", "fewer slots (per_device_batch_size) or a shorter max_target_length")
    argv = ["python3", "-m", "MaxText.maxengine_server", "MaxText/configs/base.yml", f"model_name={name}",
            f"tokenizer_path={tokenizer}", *(["tokenizer_type=tiktoken"] if tokenizer.endswith(".tiktoken") else []),
            "load_parameters_path=${MAXTEXT_CHECKPOINT}", "weight_dtype=bfloat16",
            f"ici_tensor_parallelism={d.tp}", f"per_device_batch_size={per_device}",
            f"max_prefill_predict_length={prefill}", f"max_target_length={n}"]
    if quant[p.precision]:
        # MaxText restores a bf16 checkpoint, then quantises it (checkpoint_is_quantized=False): where a chip cannot
        # hold its 16-bit shard, the replica loads a checkpoint quantised to int8 beforehand instead
        shard, usable = _sixteen_bit_shard(ctx, d)
        if shard > usable:
            argv = [a.replace("${MAXTEXT_CHECKPOINT}", "${MAXTEXT_QUANTISED_CHECKPOINT}") for a in argv]
        argv += [f"quantization={quant[p.precision]}", f"checkpoint_is_quantized={shard > usable}"]
    if p.kv_precision == "int8":
        argv += ["quantize_kvcache=True", "kv_quant_dtype=int8"]
    elif p.kv_precision != "bf16":
        raise ExportError(f"this export maps only bf16 and int8 KV caches to MaxText, not {p.kv_precision}",
                          field="format")
    return argv


def runtime_prefill(ctx: _Ctx) -> int:
    """The longest prompt prefilled at once: the workload's p95 prompt in steps of SLOT_STEP (MaxText's
    max_prefill_predict_length; the first part of ``_slot_context``'s slot), within the model's context."""
    assert ctx.workload is not None
    return min(SLOT_STEP * math.ceil(_p95(ctx.workload.traffic.input_tokens) / SLOT_STEP),
               ctx.catalog.get_model(ctx.plan.model).context_length)


_GGUF = {"fp16": "F16", "bf16": "BF16", "int8": "Q8_0", "int4": "Q4_K_M"}
_GGUF_KV = {"fp32": "f32", "fp16": "f16", "bf16": "bf16", "int8": "q8_0"}  # (llama-server --cache-type-k values)


def _llama_cpp(ctx: _Ctx, d: DeploymentOut) -> list[str]:
    p = ctx.plan
    if p.precision not in _GGUF:
        raise ExportError(f"llama.cpp has no GGUF type for {p.precision} weights", field="format")
    if p.kv_precision not in _GGUF_KV:
        raise ExportError(f"llama.cpp has no {p.kv_precision} KV cache type", field="format")
    if (problem := ctx.catalog.runtimes["llama.cpp"].split_problem(d.tp, 1)) is not None:  # (plans have none)
        raise ExportError(f"{problem} (tp {d.tp})", field="format")
    hw = ctx.catalog.get_hardware(d.hardware)
    # converted with convert_hf_to_gguf.py from _hf_repo() (mounted at /models), or the fine-tuned checkpoint's
    # conversion the operator gives (${MODEL_PATH})
    gguf = "${MODEL_PATH}" if p.adaptation in ("full", "distill") else f"/models/{p.model}-{_GGUF[p.precision]}.gguf"
    _hf_repo(p.model)
    argv = ["llama-server", "--model", gguf, "--parallel", str(d.max_batch),
            "--cache-type-k", _GGUF_KV[p.kv_precision], "--cache-type-v", _GGUF_KV[p.kv_precision],
            "--batch-size", str(ctx.catalog.runtimes["llama.cpp"].max_batched_tokens)]
    if (n := _slot_context(ctx)) is not None:
        _slots_fit(ctx, d, "llama.cpp", d.max_batch, n, "the workload's p95 prompt + output each",
                   "fewer parallel slots or a shorter context per slot")
        argv += ["--ctx-size", str(n * d.max_batch)]  # one context split evenly over the parallel slots
    if hw.family != "cpu":
        argv += ["--n-gpu-layers", "all"]
        if d.chips_per_replica > 1:  # pipeline stages: each GPU its layers' weights and cache
            argv += ["--split-mode", "layer"]
    return argv + _lora(ctx, "llama.cpp") + ["--host", "0.0.0.0", "--port", str(PORT)]


def _slot_context(ctx: _Ctx) -> int | None:
    """The context per slot of an engine that allocates each slot's cache whole at start (llama.cpp's --ctx-size
    split evenly over the slots, MaxText's max_target_length): the slot the planner sized the plan's batch by
    (``planner.model.load.queueing.slot_tokens``: the p95 prompt and the p95 output, each in steps of 256), at
    most the model's context; None without a workload. (The vLLM-style twice-the-p95 limit would reserve twice
    the memory; a request past the slot is cut at its end.)"""
    if ctx.workload is None:
        return None
    t = ctx.workload.traffic
    slot = slot_tokens(LengthDist.of(t.input_tokens), LengthDist.of(t.output_tokens))
    return min(int(slot), ctx.catalog.get_model(ctx.plan.model).context_length)


def _slots_fit(ctx: _Ctx, d: DeploymentOut, engine: str, slots: int, per_slot: int, length: str, instead: str
               ) -> None:
    """Engines without a paged KV cache allocate every slot's whole context at start: llama.cpp its
    --ctx-size with -c and -ngl set as written here (its --fit adjusts only unset arguments:
    tools/server/README.md), MaxText per_device_batch_size x chips slots of max_target_length tokens
    (runtimes.yaml, jetstream's features.paged_kv), vLLM on Neuron --max-num-seqs blocks of --max-model-len.
    Per chip: its share of the weights, and its ranks' KV shards of every slot (replicated where the model has
    fewer KV heads than the replica's tensor-parallel ranks: NeuronCores on Neuron chips). Refused where that
    exceeds the chip, rather than a server that cannot start."""
    hw = ctx.catalog.get_hardware(d.hardware)
    model = ctx.catalog.get_model(ctx.plan.model)
    precisions = ctx.catalog.precisions
    # as the engine stores them (llama.cpp: the GGUF and cache types the export names), an experts-only
    # checkpoint's rest 16-bit
    runtime = ctx.catalog.runtimes.get(ctx.plan.runtime)
    weights = model.weight_bytes(precisions[ctx.plan.precision], precisions, runtime) / (d.tp * d.pp)
    kv_precision = precisions[ctx.plan.kv_precision]
    kv_bytes = (runtime.stored_kv_bytes(kv_precision) if runtime else kv_precision.bytes_per_kv) or 2.0
    kv = slots * float(kv_cache_bytes(model, per_slot, kv_bytes, tp=d.tp, pp=d.pp,
                                      ranks_per_chip=hw.tp_ranks_per_chip))  # each slot's whole context
    have = hw.memory_bytes * hw.memory_usable_fraction
    if weights + kv > have:
        raise ExportError(f"{engine} would allocate {kv / 1e9:.1f} GB of KV cache per chip ({slots} slots x "
                          f"{per_slot:,} tokens, {length}) beside {weights / 1e9:.1f} GB of weights, over "
                          f"{hw.id}'s {have / 1e9:.1f} GB: {instead} than the plan's would have to be chosen by hand",
                          field="format")


_ENGINES = {"vllm": _vllm, "sglang": _sglang, "trtllm": _trtllm, "jetstream": _jetstream,
            "neuron": lambda ctx, d: _vllm(ctx, d, neuron=True), "llama.cpp": _llama_cpp}


def engine_argv(ctx: _Ctx, fmt: str, d: DeploymentOut) -> list[str]:
    _check_runtime(ctx, fmt, d)
    return _ENGINES[fmt](ctx, d)


def _p95(tokens: Tokens) -> float:
    """The 95th percentile of a workload's token lengths (lognormal, fixed or a histogram)."""
    return LengthDist.of(tokens).quantile(0.95)
