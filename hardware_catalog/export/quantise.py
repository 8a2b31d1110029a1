"""Weights an engine loads only pre-quantised: the one-time job that writes them (``--format quantise``).

vLLM and SGLang quantise a 16-bit checkpoint to FP8 at load time and to nothing else; TensorRT-LLM's
``trtllm-serve`` quantises nothing at load. A plan whose weights are INT8, INT4 or FP4 (or FP8 where the
16-bit shard the load-time path holds first does not fit a chip) serves a checkpoint quantised beforehand:
the launch scripts load ``${QUANTISED_CHECKPOINT}`` and ``--format quantise`` writes the job that makes it,
with the method the plan's quality band assumes (quality.yaml: INT8 W8A8 SmoothQuant + GPTQ, INT4 W4A16
GPTQ group 128, NVFP4 post-training quantisation, FP8 W8A8 with dynamic activation scales).

* vLLM and SGLang (NVIDIA GPUs): llm-compressor's ``oneshot`` writes a compressed-tensors checkpoint, which
  both engines read from its config.json without a ``--quantization`` flag (vLLM's ``_verify_quantization``
  refuses a flag that contradicts it; SGLang docs/advanced_features/quantization.md). The recipes are
  llm-compressor's own examples (``RECIPES``), the calibration set theirs (512 ultrachat_200k samples of
  at most 2,048 tokens; FP8 dynamic needs none).
* TensorRT-LLM (NVIDIA GPUs): NVIDIA Model Optimizer's ``examples/llm_ptq/hf_ptq.py`` exports a Hugging Face
  checkpoint (``hf_quant_config.json``) that ``trtllm-serve`` loads; FP8 and NVFP4 only: its ``int8_sq``
  still writes a legacy TensorRT-LLM checkpoint, and its INT4 AWQ export was not checked against the
  PyTorch backend here.

Refused, naming why: other vendors' chips (ROCm, TPU, Neuron, Gaudi, Intel XPU builds of these engines:
not checked here), and INT4 / FP4 on a GPU below compute capability 8.0 (vLLM's Marlin kernels, which run
W4A16 and, off Blackwell, NVFP4 weight-only, need Ampere; the catalog tells a Turing GPU by its lack of
BF16). The job's GPU hours are not in the plan's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

from hardware_catalog.export.base import ExportError, _Ctx, _sixteen_bit_shard, deploy_data, shell_join

__all__ = ["CHECKPOINT", "ENGINES", "RECIPES", "Recipe", "fp8_at_load", "prequantised", "quantise_script"]

CHECKPOINT = "${QUANTISED_CHECKPOINT}"
LLM_COMPRESSOR = "vllm-project/llm-compressor @ ab1ba3eff"
MODELOPT = "NVIDIA/TensorRT-Model-Optimizer examples/llm_ptq/hf_ptq.py @ 5a4242fa"


@dataclass(frozen=True)
class Recipe:
    precision: str
    tool: str  # "llm-compressor" | "modelopt"
    scheme: str  # llm-compressor's preset scheme, or Model Optimizer's --qformat
    modifier: str  # llm-compressor: the modifier that applies the scheme (GPTQModifier, QuantizationModifier)
    smooth: bool  # llm-compressor: SmoothQuant first (the INT8 W8A8 example)
    calibration: bool  # needs calibration samples
    reference: str  # the example it follows
    config: tuple[str, ...] = ()  # llm-compressor: a config group defined in the job (named ``scheme``), no preset

    @property
    def name(self) -> str:
        return f"{self.tool} {self.scheme}" + (" (GPTQ)" if self.config and self.modifier == "GPTQModifier" else "")

    def imports(self) -> list[str]:
        module = {"GPTQModifier": "gptq", "QuantizationModifier": "quantization"}[self.modifier]
        return [f"from llmcompressor.modifiers.{module} import {self.modifier}",
                *(["from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier"] if self.smooth
                  else [])]

    def modifiers(self) -> list[str]:
        if self.config:
            return [f'{self.modifier}(config_groups={{"group_0": {self.scheme}}}, ignore=IGNORE)']
        return [*(["SmoothQuantModifier(smoothing_strength=0.8)"] if self.smooth else []),
                f'{self.modifier}(targets="Linear", scheme="{self.scheme}", ignore=IGNORE)']


# NVFP4 with GPTQ rounding, as llm-compressor's examples/quantization_w4a4_fp4/llama3_gptq_example.py writes it:
# quality.yaml's fp4 band rests on GPTQ-style rounding (Castro et al.: NVFP4 with it near INT4 GPTQ), not on the
# round-to-nearest of the plain NVFP4 preset
_NVFP4_IMPORT = ("from compressed_tensors.quantization import FP8_E4M3_DATA, DynamicType, QuantizationArgs, "
                 "QuantizationStrategy, QuantizationType")
_NVFP4_GPTQ = (
    "NVFP4 = dict(",
    "    weights=QuantizationArgs(num_bits=4, actorder=\"static\", type=QuantizationType.FLOAT,",
    "                             strategy=QuantizationStrategy.TENSOR_GROUP, symmetric=True, dynamic=False,",
    "                             group_size=16, scale_dtype=FP8_E4M3_DATA.dtype, zp_dtype=FP8_E4M3_DATA.dtype,",
    "                             observer=\"memoryless_minmax\"),",
    "    input_activations=QuantizationArgs(num_bits=4, type=QuantizationType.FLOAT,",
    "                                       strategy=QuantizationStrategy.TENSOR_GROUP, symmetric=True,",
    "                                       dynamic=DynamicType.LOCAL, group_size=16, observer=\"static_minmax\",",
    "                                       scale_dtype=FP8_E4M3_DATA.dtype, zp_dtype=FP8_E4M3_DATA.dtype),",
    "    targets=[\"Linear\"],",
    ")")


_EXAMPLES = f"{LLM_COMPRESSOR} examples"
RECIPES: dict[tuple[str, str], Recipe] = {
    ("llm-compressor", "int8"): Recipe("int8", "llm-compressor", "W8A8", "GPTQModifier", True, True,
                                       f"{_EXAMPLES}/quantization_w8a8_int8/llama3_example.py"),
    ("llm-compressor", "int4"): Recipe("int4", "llm-compressor", "W4A16", "GPTQModifier", False, True,
                                       f"{_EXAMPLES}/quantization_w4a16/llama3_example.py"),
    ("llm-compressor", "fp4"): Recipe("fp4", "llm-compressor", "NVFP4", "GPTQModifier", False, True,
                                      f"{_EXAMPLES}/quantization_w4a4_fp4/llama3_gptq_example.py", _NVFP4_GPTQ),
    ("llm-compressor", "fp8"): Recipe("fp8", "llm-compressor", "FP8_DYNAMIC", "QuantizationModifier", False, False,
                                      f"{_EXAMPLES}/quantization_w8a8_fp8/llama3_example.py"),
    ("modelopt", "fp8"): Recipe("fp8", "modelopt", "fp8", "", False, True, MODELOPT),
    ("modelopt", "fp4"): Recipe("fp4", "modelopt", "nvfp4", "", False, True, MODELOPT),
}
_TOOL = {"vllm": "llm-compressor", "sglang": "llm-compressor", "trtllm": "modelopt"}
ENGINES = tuple(_TOOL)  # the engine formats whose plans may load a checkpoint this job writes
CALIBRATION_SAMPLES, CALIBRATION_TOKENS = 512, 2048  # llm-compressor's examples (NVFP4's uses 20: 512 is its default)
# the MoE routers stay 16-bit, as in llm-compressor's MoE examples: "re:.*mlp.gate$" (Qwen3, DeepSeek),
# "re:.*block_sparse_moe.gate" (Mixtral), "re:.*router" (Llama 4); no dense model's linear layer ends so
IGNORE = ["lm_head", "re:.*gate$", "re:.*router$"]


def fp8_at_load(ctx: _Ctx, fmt: str) -> bool:
    """Whether ``fmt``'s engine quantises the plan's 16-bit checkpoint to FP8 at load time: vLLM and SGLang do,
    holding the 16-bit weights first (vLLM docs/features/quantization/fp8.md: 'we load the model at original
    precision before quantizing down to 8-bits, so you need enough memory to load the whole model'; SGLang fp8.py
    allocates a non-FP8 checkpoint at params_dtype), so only where every deployment's chips hold the 16-bit shard;
    not for a model published in a format of its own (``Model.published_precision``: loaded as it is)."""
    p = ctx.plan
    return (fmt in ("vllm", "sglang") and p.precision == "fp8"
            and ctx.catalog.get_model(p.model).published_precision is None
            and all(shard <= usable for shard, usable in (_sixteen_bit_shard(ctx, d) for d in p.deployments)))


def prequantised(ctx: _Ctx, fmt: str) -> Recipe | None:
    """The recipe of the checkpoint every deployment of the plan loads in engine format ``fmt`` (vllm, sglang,
    trtllm), quantised beforehand; None where the engine loads the published checkpoint (16-bit, the model's own
    format, or FP8 quantised at load where every deployment holds the 16-bit shard). Decided for the plan, not per
    deployment: its pools and replicas serve one set of weights under one name (a prefill pool on one H100 and a
    decode pool on two once loaded different FP8 weights). ExportError where no checked recipe writes it."""
    p = ctx.plan
    model = ctx.catalog.get_model(p.model)
    published = model.published_precision
    if published is not None and published != p.precision:
        raise ExportError(f"{p.model} is published in {published}, and the engine loads those weights, not the "
                          f"plan's {p.precision} ones (re-quantising a quantised checkpoint is no recipe checked "
                          f"here): export a {published} plan of it", field="format")
    if p.precision in ("bf16", "fp16") or p.precision == published or fp8_at_load(ctx, fmt):
        return None
    found = RECIPES.get((_TOOL[fmt], p.precision))
    if found is None:
        why = ("Model Optimizer's INT8 SmoothQuant export (int8_sq) writes a legacy TensorRT-LLM checkpoint, not one "
               "trtllm-serve loads" if (fmt, p.precision) == ("trtllm", "int8")
               else f"no {p.precision} quantisation recipe for {fmt} is checked here")
        raise ExportError(f"{fmt} serves {p.precision} weights only from a checkpoint quantised beforehand, and {why}: "
                          "export a 16-bit plan" + (" or an FP8 one" if fmt != "trtllm" else ""), field="format")
    if p.model in deploy_data().get("multimodal_checkpoints", {}):
        raise ExportError(f"{p.model}'s repository is an image-text model (deploy.yaml multimodal_checkpoints), which "
                          f"the {found.name} job here does not load (llm-compressor's vision examples load its own "
                          "class and keep the vision tower 16-bit): export a 16-bit plan of it", field="format")
    runtime = ctx.catalog.runtimes.get(deploy_data()["engines"][fmt]["runtime"])  # the format's engine loads it
    for d in p.deployments:
        hw = ctx.catalog.get_hardware(d.hardware)
        if hw.vendor != "NVIDIA":
            raise ExportError(f"the plan's {p.precision} weights load from a checkpoint quantised beforehand, and this "
                              f"export checks {found.name} checkpoints on NVIDIA GPUs only, not on {hw.vendor}'s "
                              f"build of {fmt} ({hw.id})", field="format")
        if runtime is not None and runtime.lacks_native(p.precision, hw, model):
            raise ExportError(f"{runtime.id} computes {p.precision} weights natively only, and {hw.id} does not "
                              "(runtimes.yaml native_only)", field="format")
        if p.precision in ("int4", "fp4") and "bf16" not in hw.peak_flops_per_s:
            raise ExportError(f"{fmt} runs {found.name} weights with Marlin kernels that need compute capability 8.0 "
                              f"(Ampere); {hw.id} is older (no BF16)", field="format")
    return found


def quantise_script(ctx: _Ctx, r: Recipe, source: str, header: list[str]) -> tuple[str, str, str]:
    """(file suffix, text, media type) of the job that writes ${QUANTISED_CHECKPOINT} with ``r`` from ``source``
    (the repository, or ${MODEL_PATH} for a fine-tuned checkpoint), for every deployment of the plan."""
    model = ctx.catalog.get_model(ctx.plan.model)
    needs = (f"needs: the model's 16-bit weights ({model.params * 2 / 1e9:,.0f} GB) in host memory and on disk, and a "
             "GPU; its GPU hours are not in the plan's cost")
    if r.tool == "modelopt":
        # --kv_cache_qformat defaults to fp8, which TensorRT-LLM applies at load (runtimes.yaml fp8_kv_with): the
        # plan's cache is 16-bit (the trtllm export refuses any other)
        argv = ["python3", "examples/llm_ptq/hf_ptq.py", "--pyt_ckpt_path", source, "--qformat", r.scheme,
                "--kv_cache_qformat", "none", "--calib_size", str(CALIBRATION_SAMPLES),
                "--export_path", CHECKPOINT]
        lines = ["#!/bin/sh", *header, f"# {MODELOPT}, {CALIBRATION_SAMPLES} calibration samples; run from a clone "
                 "of NVIDIA/TensorRT-Model-Optimizer with nvidia-modelopt installed", f"# {needs}", "set -eu",
                 ': "${QUANTISED_CHECKPOINT:?set it to the directory to write}"', "exec " + shell_join(argv), ""]
        return "sh", "\n".join(lines), "text/x-shellscript"
    model_line = (f"MODEL = {source!r}" if source != "${MODEL_PATH}" else
                  'MODEL = os.environ.get("MODEL_PATH") or sys.exit("set MODEL_PATH: the fine-tuned checkpoint")')
    lines = ["#!/usr/bin/env python3", *header, f"# follows {r.reference}; pip install llmcompressor", f"# {needs}",
             "import os", "import sys", "", *(["from datasets import load_dataset"] if r.calibration else []),
             *([_NVFP4_IMPORT] if r.config else []),
             "from transformers import AutoModelForCausalLM, AutoTokenizer", "", "from llmcompressor import oneshot",
             *r.imports(), "", model_line,
             'OUT = os.environ.get("QUANTISED_CHECKPOINT") or sys.exit("set QUANTISED_CHECKPOINT: the directory '
             'to write")',
             f"IGNORE = {IGNORE!r}  # the output layer and MoE routers stay 16-bit",
             "", 'model = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype="auto")',
             "tokenizer = AutoTokenizer.from_pretrained(MODEL)", *r.config, f"recipe = [{', '.join(r.modifiers())}]"]
    if r.calibration:
        lines += [f"SAMPLES, MAX_TOKENS = {CALIBRATION_SAMPLES}, {CALIBRATION_TOKENS}",
                  'ds = load_dataset("HuggingFaceH4/ultrachat_200k", split=f"train_sft[:{SAMPLES}]").shuffle(seed=42)',
                  "", "", "def as_text(example):",
                  "    if tokenizer.chat_template:  # a base checkpoint may have none: its turns joined as plain text",
                  '        return {"text": tokenizer.apply_chat_template(example["messages"], tokenize=False)}',
                  '    return {"text": "\\n\\n".join(m["content"] for m in example["messages"])}', "", "",
                  "ds = ds.map(as_text)",
                  'ds = ds.map(lambda s: tokenizer(s["text"], padding=False, max_length=MAX_TOKENS, truncation=True,',
                  "                                add_special_tokens=False), remove_columns=ds.column_names)",
                  "oneshot(model=model, dataset=ds, recipe=recipe, max_seq_length=MAX_TOKENS, "
                  "num_calibration_samples=SAMPLES)"]
    else:
        lines += ["oneshot(model=model, recipe=recipe)  # FP8 dynamic: no calibration data"]
    lines += ["model.save_pretrained(OUT, save_compressed=True)", "tokenizer.save_pretrained(OUT)", ""]
    return "py", "\n".join(lines), "text/x-python"
