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
from typing import TYPE_CHECKING

from hardware_catalog.export.base import ExportError, _Ctx

if TYPE_CHECKING:
    from hardware_catalog.outputs import DeploymentOut

__all__ = ["CHECKPOINT", "RECIPES", "Recipe", "quantise_script", "recipe"]

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

    @property
    def name(self) -> str:
        return f"{self.tool} {self.scheme}"

    def imports(self) -> list[str]:
        module = {"GPTQModifier": "gptq", "QuantizationModifier": "quantization"}[self.modifier]
        return [f"from llmcompressor.modifiers.{module} import {self.modifier}",
                *(["from llmcompressor.modifiers.transform.smoothquant import SmoothQuantModifier"] if self.smooth
                  else [])]

    def modifiers(self) -> list[str]:
        return [*(["SmoothQuantModifier(smoothing_strength=0.8)"] if self.smooth else []),
                f'{self.modifier}(targets="Linear", scheme="{self.scheme}", ignore=IGNORE)']


_EXAMPLES = f"{LLM_COMPRESSOR} examples"
RECIPES: dict[tuple[str, str], Recipe] = {
    ("llm-compressor", "int8"): Recipe("int8", "llm-compressor", "W8A8", "GPTQModifier", True, True,
                                       f"{_EXAMPLES}/quantization_w8a8_int8/llama3_example.py"),
    ("llm-compressor", "int4"): Recipe("int4", "llm-compressor", "W4A16", "GPTQModifier", False, True,
                                       f"{_EXAMPLES}/quantization_w4a16/llama3_example.py"),
    ("llm-compressor", "fp4"): Recipe("fp4", "llm-compressor", "NVFP4", "QuantizationModifier", False, True,
                                      f"{_EXAMPLES}/quantization_w4a4_fp4/llama3_example.py"),
    ("llm-compressor", "fp8"): Recipe("fp8", "llm-compressor", "FP8_DYNAMIC", "QuantizationModifier", False, False,
                                      f"{_EXAMPLES}/quantization_w8a8_fp8/llama3_example.py"),
    ("modelopt", "fp8"): Recipe("fp8", "modelopt", "fp8", "", False, True, MODELOPT),
    ("modelopt", "fp4"): Recipe("fp4", "modelopt", "nvfp4", "", False, True, MODELOPT),
}
_TOOL = {"vllm": "llm-compressor", "sglang": "llm-compressor", "trtllm": "modelopt"}
CALIBRATION_SAMPLES, CALIBRATION_TOKENS = 512, 2048  # llm-compressor's examples (NVFP4's uses 20: 512 is its default)


def recipe(ctx: _Ctx, fmt: str, d: DeploymentOut) -> Recipe:
    """How the plan's weights are quantised beforehand for ``fmt`` on deployment ``d``'s chip (ExportError where
    this export has no checked way)."""
    precision = ctx.plan.precision
    tool = _TOOL.get(fmt)
    found = RECIPES.get((tool, precision)) if tool is not None else None
    if found is None:
        why = ("its INT8 SmoothQuant export (int8_sq) writes a legacy TensorRT-LLM checkpoint, not one trtllm-serve "
               "loads" if (fmt, precision) == ("trtllm", "int8") else "no quantisation recipe checked here")
        raise ExportError(f"{fmt} serves {precision} weights only from a pre-quantised checkpoint, and the catalog "
                          f"names none for {ctx.plan.model} ({why}); export a plan whose weights the engine quantises "
                          "at load (16-bit, or FP8 where the engine's FP8 path runs on the chip)", field="format")
    hw = ctx.catalog.get_hardware(d.hardware)
    if hw.vendor != "NVIDIA":
        raise ExportError(f"{fmt} serves {precision} weights on {hw.id} only from a pre-quantised checkpoint, and the "
                          f"catalog names none for {ctx.plan.model}: this export checks {found.name} checkpoints on "
                          f"NVIDIA GPUs only, not on {hw.vendor}'s build of {fmt}", field="format")
    if precision in ("int4", "fp4") and "bf16" not in hw.peak_flops_per_s:
        raise ExportError(f"{fmt} runs {found.name} weights with Marlin kernels that need compute capability 8.0 "
                          f"(Ampere); {hw.id} is older (no BF16)", field="format")
    return found


def quantise_script(ctx: _Ctx, fmt: str, source: str, header: list[str]) -> tuple[str, str, str]:
    """(file suffix, text, media type) of the job that writes ${QUANTISED_CHECKPOINT} from ``source`` (the
    repository, or ${MODEL_PATH} for a fine-tuned checkpoint) for every deployment of the plan."""
    found = {recipe(ctx, fmt, d) for d in ctx.plan.deployments}
    assert len(found) == 1  # (one engine, one precision: the chips' checks refuse, they do not vary the recipe)
    (r,) = found
    model = ctx.catalog.get_model(ctx.plan.model)
    gpu = (f"needs: a GPU and {model.params * 2 / 1e9:,.0f} GB of 16-bit weights on disk; the job's GPU hours are "
           "not in the plan's cost")
    if r.tool == "modelopt":
        lines = ["#!/bin/sh", *header,
                 f"# {MODELOPT}: --qformat {r.scheme}, {CALIBRATION_SAMPLES} calibration samples;",
                 "# run from a clone of NVIDIA/TensorRT-Model-Optimizer with nvidia-modelopt installed; "
                 f"{gpu}", "set -eu", ": \"${QUANTISED_CHECKPOINT:?set it to the directory to write}\"",
                 f"exec python3 examples/llm_ptq/hf_ptq.py --pyt_ckpt_path {_shell(source)} --qformat {r.scheme} "
                 f"--calib_size {CALIBRATION_SAMPLES} --export_path \"${{QUANTISED_CHECKPOINT}}\"", ""]
        return "sh", "\n".join(lines), "text/x-shellscript"
    moe = model.is_moe
    ignore = ["lm_head", "re:.*gate$"] if moe else ["lm_head"]
    model_line = (f"MODEL = {source!r}" if source != "${MODEL_PATH}"
                  else 'MODEL = os.environ["MODEL_PATH"]  # the fine-tuned checkpoint the plan serves')
    lines = ["#!/usr/bin/env python3", *header,
             f"# follows {r.reference}; pip install llmcompressor; {gpu}",
             "import os", "", *(["from datasets import load_dataset"] if r.calibration else []),
             "from transformers import AutoModelForCausalLM, AutoTokenizer", "", "from llmcompressor import oneshot",
             *r.imports(), "", model_line, 'OUT = os.environ["QUANTISED_CHECKPOINT"]  # the directory to write',
             f"IGNORE = {ignore!r}" + ("  # MoE routers stay 16-bit (llm-compressor's MoE examples)" if moe else ""),
             "", 'model = AutoModelForCausalLM.from_pretrained(MODEL, torch_dtype="auto")',
             "tokenizer = AutoTokenizer.from_pretrained(MODEL)", f"recipe = [{', '.join(r.modifiers())}]"]
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


def _shell(word: str) -> str:
    import shlex

    return '"${MODEL_PATH}"' if word == "${MODEL_PATH}" else shlex.quote(word)

