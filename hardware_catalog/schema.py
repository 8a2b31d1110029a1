"""Pydantic models of the catalog's YAML files (the boundary), in the files' human units.

Units in the files: GB = 1e9 bytes, GB/s = 1e9 bytes/s, TFLOPS = 1e12 FLOP/s, USD per chip-hour.
``sources`` maps a field name (dotted for nested keys, e.g. ``peak_tflops.fp8``) to the citation
that number comes from. See docs/catalog.md for the format and how to add your own chip.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from hardware_catalog.files import Label, Sources, Text

__all__ = [
    "AttentionIn",
    "CalibrationFile",
    "EfficiencyIn",
    "HardwareFile",
    "ModelFile",
    "MoeIn",
    "PrecisionFile",
    "PrecisionsFile",
    "QualityFile",
    "RuntimeFile",
    "RuntimesFile",
]

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
# Numbers are strict (no true for 1, no "12" for 12; an int is a float) and bounded: every maximum
# lies far beyond any chip or model that exists (each stated beside the field as the largest in
# the shipped catalog), so a typo or a hostile value fails here with the field's name instead of
# overflowing the planner's arrays and solver later.
Fraction = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]
# Floors well below the smallest entry (peak 0.8 TFLOPS: 160x; memory 8.6 GB: 860x; a link 0.78 GB/s: 16x;
# TDP 25 W: 25x; a model's 0.49B parameters: 4,900x): a value past one is a typo or an attack (a PUT of
# 1e-300 TFLOPS, or TDP, which scales a chip's peaks by its power_reference, was accepted and estimates read
# 1e304 ms)
Gb = Annotated[float, Field(ge=0.01, le=1e5, allow_inf_nan=False, strict=True)]  # GB per chip (512)
GbPerS = Annotated[float, Field(ge=0.05, le=1e6, allow_inf_nan=False, strict=True)]  # GB/s (8,000)
Tflops = Annotated[float, Field(ge=0.005, le=1e6, allow_inf_nan=False, strict=True)]  # TFLOPS (10,000 fp4)
Watts = Annotated[float, Field(ge=1, le=1e5, allow_inf_nan=False, strict=True)]  # W per chip (1,200)
ParamsB = Annotated[float, Field(ge=1e-4, le=1e5, allow_inf_nan=False, strict=True)]  # billions (405)
Ms = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False, strict=True)]  # ms or us per step (20)
Dim = Annotated[int, Field(gt=0, le=2**20, strict=True)]  # a tensor dimension (hidden 16,384; ffn 53,248)
Layers = Annotated[int, Field(gt=0, le=1_024, strict=True)]  # (126)
Heads = Annotated[int, Field(gt=0, le=65_536, strict=True)]  # heads, KV heads, experts (128)
Vocab = Annotated[int, Field(gt=0, le=2**24, strict=True)]  # (256,000)
Context = Annotated[int, Field(gt=0, le=2**30, strict=True)]  # tokens (1,048,576)
ChipsPerNode = Annotated[int, Field(gt=0, le=16_384, strict=True)]  # one scale-up domain (72; TPU pods 9,216)
Tokens = Annotated[int, Field(gt=0, le=10**9, strict=True)]  # per batch or concurrency (8,192)
PosFloat = Annotated[float, Field(gt=0, le=1e15, allow_inf_nan=False, strict=True)]  # any other positive quantity

FAMILIES = ("gpu", "tpu", "inferentia", "trainium", "mtia", "gaudi", "cpu", "edge", "npu", "other")
Family = Literal["gpu", "tpu", "inferentia", "trainium", "mtia", "gaudi", "cpu", "edge", "npu", "other"]
PrecisionId = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4", "w4a8"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# fields whose values cite themselves (a reason with its source) or map ids, not figures
_SELF_CITED = frozenset({"sources", "unsupported_precisions", "runtime_kernels"})


def _check_source_keys(model: BaseModel, sources: dict[str, str], *, every_figure: bool = False) -> None:
    """Every ``sources`` key names a field of the file (``field`` or ``field.key`` of a mapping it
    has) and every source says something; with ``every_figure`` (a chip's or a model's file: the
    figures a plan rests on), every figure the file states (a number, a mapping of them, a block
    such as ``attention``) has a source: its own key, or one per entry of a mapping."""
    for key, text in sources.items():
        top, _, sub = key.partition(".")
        if top not in type(model).model_fields or top == "sources":
            raise ValueError(f"sources key {key!r} names no field of this file")
        value = getattr(model, top)
        if sub and isinstance(value, dict) and sub not in value:
            raise ValueError(f"sources key {key!r}: {top} has no {sub!r}")
        if not text.strip():
            raise ValueError(f"sources key {key!r} is empty: say where the figure comes from")
    if not every_figure:
        return
    missing = []
    for name in sorted(model.model_fields_set - _SELF_CITED):
        value = getattr(model, name)
        if isinstance(value, bool) or not isinstance(value, int | float | dict | BaseModel) or value == {}:
            continue
        if name in sources:
            continue
        if isinstance(value, dict) and all(f"{name}.{k}" in sources for k in value):
            continue
        missing.append(name)
    if missing:
        raise ValueError(f"no source for {', '.join(missing)}: every figure needs one under sources "
                         "(a datasheet, a paper, a measurement; docs/catalog.md)")


# Bounds on a chip's memory sweep time (memory_gb / memory_bandwidth_gb_s, seconds) by family, and on its peak FLOP
# per byte: each at least 10x past the shipped catalog's range (HardwareFile's validators say what they catch)
_ACCELERATOR_SWEEP_S = (0.001, 5.0)
SWEEP_S: dict[str, tuple[float, float]] = {
    **{f: _ACCELERATOR_SWEEP_S for f in ("gpu", "tpu", "inferentia", "trainium", "mtia", "gaudi", "npu")},
    "cpu": (0.01, 100.0), "edge": (0.001, 100.0), "other": (0.001, 100.0)}
RIDGE_FLOP_PER_BYTE = (5.0, 20_000.0)


class HardwareFile(_Strict):
    """hardware/<id>.yaml: one chip."""

    id: Id
    name: Label
    vendor: Label
    family: Family
    memory_gb: Gb
    memory_bandwidth_gb_s: GbPerS
    memory_usable_fraction: Fraction = 1.0
    peak_tflops: dict[PrecisionId, Tflops] = Field(min_length=1)
    chips_per_node: ChipsPerNode
    interconnect_gb_s: GbPerS
    # switch: any chip reaches any other at the full per-chip figure (NVSwitch, ICI slices);
    # mesh: the figure is split over direct links to the chips_per_node - 1 peers (AMD Infinity
    # Fabric, Gaudi on-die RoCE), so a tp-way collective uses (tp - 1) / (chips_per_node - 1) of it
    interconnect_topology: Literal["switch", "mesh"] = "switch"
    # tensor-parallel ranks one chip runs (NeuronCores: Neuron's runtimes count tp in them): a model with fewer KV
    # heads than the replica's ranks replicates them per rank (planner.model.perf.kv_bytes_per_token)
    tp_ranks_per_chip: Annotated[int, Field(ge=1, le=64, strict=True)] = 1
    scale_out_gb_s: GbPerS | None = None
    tdp_w: Watts | None = None
    # id of the same die sold at its highest board power: tensor throughput is capped at this
    # chip's TDP times that part's peak FLOP per watt (planner.model.power)
    power_reference: Id | None = None
    runtimes: list[Id] = Field(min_length=1, max_length=64)  # (7)
    default_runtime: Id
    # serving precisions the chip's runtimes cannot run although a runtime lists them: id -> reason with source
    unsupported_precisions: dict[PrecisionId, Text] = {}
    # the FP4 format the chip's tensor cores compute the catalog's fp4 in, where not NVFP4 (the format quality.yaml's
    # fp4 evidence is of): AMD CDNA 4's OCP MXFP4. There an fp4 plan's quality has no evidence (planner.levers.quality)
    fp4_format: Literal["nvfp4", "mxfp4"] | None = None
    # runtime id -> {weight precision -> the precision its kernels compute it as on this chip}
    # (Intel Arc: vLLM runs int4 checkpoints as w4a8); applied to published records (hwplan validate)
    runtime_kernels: dict[Id, dict[PrecisionId, PrecisionId]] = {}
    sources: Sources = {}
    notes: Text = ""

    @field_validator("memory_bandwidth_gb_s")
    @classmethod
    def _plausible_bandwidth(cls, bandwidth: float, info: ValidationInfo) -> float:
        """The time to read the whole memory once, memory_gb / memory_bandwidth_gb_s, is a physical constant
        of a memory technology: 0.02-0.08 s for HBM and GDDR, 0.16-0.63 s for LPDDR, 1.25-1.67 s for a server
        socket's DDR5 (every shipped chip). A figure 1,000x off (TB/s or MB/s given as GB/s, MiB as GB)
        lands far outside the bounds below (``SWEEP_S``), at least 10x past the shipped range."""
        memory, family = info.data.get("memory_gb"), info.data.get("family")
        if memory is None or family is None:
            return bandwidth  # reported as its own error
        sweep = memory / bandwidth
        low, high = SWEEP_S[family]
        if not low <= sweep <= high:
            raise ValueError(
                f"memory_gb {memory:g} read at {bandwidth:g} GB/s takes {sweep:.3g} s, outside {low:g}-{high:g} s "
                f"for a {family} chip: check the units (memory_gb in GB, not MiB or TB; memory_bandwidth_gb_s in "
                "GB/s, not TB/s or MB/s)")
        return bandwidth

    @field_validator("peak_tflops")
    @classmethod
    def _plausible_intensity(cls, peak: dict[str, float], info: ValidationInfo) -> dict[str, float]:
        """Peak FLOP per byte of memory bandwidth (the roofline's ridge point) runs 26-3,791 over every shipped
        chip, at its fastest precision; TFLOPS given in PFLOPS or GFLOPS (or bandwidth in TB/s) move it 1,000x."""
        bandwidth = info.data.get("memory_bandwidth_gb_s")
        if bandwidth is None or not peak:
            return peak
        pid, top = max(peak.items(), key=lambda kv: kv[1])
        ridge = top * 1e3 / bandwidth
        if not RIDGE_FLOP_PER_BYTE[0] <= ridge <= RIDGE_FLOP_PER_BYTE[1]:
            low, high = RIDGE_FLOP_PER_BYTE
            raise ValueError(
                f"{pid} {top:g} TFLOPS over {bandwidth:g} GB/s is {ridge:.3g} FLOP per byte, outside {low:g}-{high:,g} "
                "for any chip: check the units (peak_tflops in TFLOPS, not PFLOPS or GFLOPS; "
                "memory_bandwidth_gb_s in GB/s)")
        return peak

    @model_validator(mode="after")
    def _consistent(self) -> HardwareFile:
        if len(set(self.runtimes)) < len(self.runtimes):
            raise ValueError(f"runtimes lists a runtime twice: {self.runtimes}")
        if self.default_runtime not in self.runtimes:
            raise ValueError(f"default_runtime {self.default_runtime!r} is not in runtimes")
        _check_source_keys(self, self.sources, every_figure=True)
        if self.fp4_format is not None and "fp4_format" not in self.sources:
            raise ValueError("fp4_format needs a source (sources.fp4_format): what shows the chip computes fp4 so")
        return self


NonNegInt = Annotated[int, Field(ge=0, le=10_000_000, strict=True)]


class AttentionIn(_Strict):
    """attention: how the model stores and reads its KV cache (see planner/attention.py).

    gqa / mha: K and V heads (``kv_heads`` x ``head_dim``; mha: kv_heads = heads). mla: DeepSeek's
    latent attention, KV per token and layer = kv_lora_rank + qk_rope_head_dim. sliding_window:
    every layer attends to the last ``window`` tokens. hybrid: ``sliding_layers`` of the layers
    do, the rest see the whole context (gpt-oss alternates; Gemma 3 has 5 local per global).
    """

    kind: Literal["gqa", "mha", "mla", "sliding_window", "hybrid"]
    kv_lora_rank: Dim | None = None
    qk_rope_head_dim: Dim | None = None
    qk_nope_head_dim: Dim | None = None
    v_head_dim: Dim | None = None
    q_lora_rank: Dim | None = None
    window: Dim | None = None
    sliding_layers: Dim | None = None

    @model_validator(mode="after")
    def _fields_fit_kind(self) -> AttentionIn:
        mla = ("kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim", "q_lora_rank")
        if self.kind == "mla":
            for name in ("kv_lora_rank", "qk_rope_head_dim"):
                if getattr(self, name) is None:
                    raise ValueError(f"kind mla needs {name}")
        else:
            for name in mla:
                if getattr(self, name) is not None:
                    raise ValueError(f"{name} is an mla field; kind is {self.kind}")
        windowed = self.kind in ("sliding_window", "hybrid")
        if windowed and self.window is None:
            raise ValueError(f"kind {self.kind} needs window")
        if not windowed and self.window is not None:
            raise ValueError(f"window is for sliding_window or hybrid; kind is {self.kind}")
        if (self.kind == "hybrid") != (self.sliding_layers is not None):
            raise ValueError("sliding_layers is required for hybrid and only for hybrid")
        return self


class MoeIn(_Strict):
    """moe: structure beyond the routed experts (``experts``, ``experts_per_token``, ``ffn_size``)."""

    shared_experts: NonNegInt = 0  # always-on experts every token passes through
    shared_ffn_size: Dim | None = None  # per shared expert; default ffn_size
    dense_layers: NonNegInt = 0  # the first layers have a dense MLP instead of experts
    dense_ffn_size: Dim | None = None

    @model_validator(mode="after")
    def _dense_width(self) -> MoeIn:
        if self.dense_layers and self.dense_ffn_size is None:
            raise ValueError("dense_layers needs dense_ffn_size")
        return self


class CheckpointIn(_Strict):
    """checkpoint: the published weights quantised only the routed experts (planner.domain.Checkpoint).

    precision: the catalog precision they run as; quantised: experts (the only split so far);
    rest: every other weight's precision (attention, router, embeddings, LM head); bits_per_weight:
    the checkpoint's own format per quantised weight with its scales, where it differs from the
    precision's (gpt-oss: MXFP4, 4.25 bits, against the catalog fp4's NVFP4 4.5).
    """

    precision: PrecisionId
    quantised: Literal["experts"]
    rest: PrecisionId = "bf16"
    bits_per_weight: Annotated[float, Field(gt=0, le=64, allow_inf_nan=False, strict=True)] | None = None

    @model_validator(mode="after")
    def _narrower(self) -> CheckpointIn:
        if self.rest == self.precision:
            raise ValueError("checkpoint.rest must differ from checkpoint.precision (else omit checkpoint)")
        return self


HfRepo = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=120)]


class EagleHeadIn(_Strict):
    """eagle_head: a published EAGLE draft head (planner.domain.EagleHead); without one the planner does not draft
    the model with EAGLE (speculative decoding needs a drafter someone trained)."""

    repo: HfRepo  # the head's Hugging Face repository
    method: Literal["eagle", "eagle3"]  # EAGLE-1/2 heads or EAGLE-3 heads, as vLLM and SGLang name them
    target: HfRepo  # the checkpoint it was trained against (its published acceptance is for that one)


class ModelFile(_Strict):
    """models/<id>.yaml: one model's architecture and quality."""

    id: Id
    name: Label
    family: Label
    params_b: ParamsB
    active_params_b: ParamsB | None = None
    layers: Layers
    hidden_size: Dim
    heads: Heads
    kv_heads: Heads
    head_dim: Dim
    ffn_size: Dim
    vocab_size: Vocab
    context_length: Context
    experts: Heads = 1
    experts_per_token: Heads = 1
    expert_params_b: ParamsB | None = None  # MoE: parameters in routed experts, when not
    #                                          layers * experts * 3 * hidden * ffn (e.g. some
    #                                          layers dense, as in Llama 4 Maverick)
    tied_embeddings: bool = False
    attention: AttentionIn | None = None  # absent: gqa (mha when kv_heads = heads)
    moe: MoeIn | None = None
    mtp_layers: Annotated[int, Field(ge=0, le=16)] = 0  # multi-token-prediction modules beside the model
    checkpoint: CheckpointIn | None = None  # absent: a configured precision applies to every weight
    # the precision the published weights are in, whole, where not 16-bit (DeepSeek-V3 / R1: fp8): the quality scores
    # are that checkpoint's, so it and wider formats (exact up-conversions) lose nothing (planner.levers.quality)
    released_precision: PrecisionId | None = None
    eagle_head: EagleHeadIn | None = None  # a published EAGLE draft head (needs sources.eagle_head)
    # 0-100 benchmark scores, one key per benchmark VARIANT: "mmlu" = MMLU 5-shot of the BASE
    # (pretrained) model, the only score a general floor compares; "mmlu_instruct" = the instruct
    # model's 5-shot MMLU; "mmlu_instruct_cot" = the instruct model's 0-shot chain-of-thought MMLU.
    # A model without a base 5-shot MMLU (a code model, an instruct-only release) omits "mmlu"
    # and cannot meet a general quality floor.
    quality: dict[str, Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]] = {}
    aliases: Annotated[list[Id], Field(max_length=64)] = []  # (4)
    sources: Sources = {}
    notes: Text = ""

    @model_validator(mode="after")
    def _consistent(self) -> ModelFile:
        if self.kv_heads > self.heads:
            raise ValueError("kv_heads must not exceed heads")
        if self.experts_per_token > self.experts:
            raise ValueError("experts_per_token must not exceed experts")
        if self.active_params_b is not None and self.active_params_b > self.params_b:
            raise ValueError("active_params_b must not exceed params_b")
        if self.expert_params_b is not None and (self.experts == 1 or self.expert_params_b >= self.params_b):
            raise ValueError("expert_params_b is for MoE models and must be below params_b")
        if self.moe is not None:
            if self.experts == 1:
                raise ValueError("moe is for models with experts > 1")
            if self.moe.dense_layers >= self.layers:
                raise ValueError("moe.dense_layers must be below layers")
            if self.moe.dense_layers and self.expert_params_b is not None:
                raise ValueError("give expert_params_b or moe.dense_layers, not both")
        a = self.attention
        if a is not None:
            if a.kind == "mha" and self.kv_heads != self.heads:
                raise ValueError("attention.kind mha needs kv_heads = heads")
            if a.sliding_layers is not None and a.sliding_layers >= self.layers:
                raise ValueError("attention.sliding_layers must be below layers (all windowed: sliding_window)")
        return self

    @model_validator(mode="after")
    def _query_groups(self) -> ModelFile:
        """Grouped-query attention shares each K/V head among heads / kv_heads query heads: a whole number
        (32 heads over 7 KV heads passed validation and failed only at a tensor-parallel estimate)."""
        if self.heads % self.kv_heads:
            raise ValueError(f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads})")
        return self

    @model_validator(mode="after")
    def _checkpoint_has_experts(self) -> ModelFile:
        if self.checkpoint is not None and self.experts == 1:
            raise ValueError("checkpoint.quantised experts is for models with experts > 1")
        return self

    @model_validator(mode="after")
    def _sourced(self) -> ModelFile:  # (last: whether the figures make sense comes before where they come from)
        _check_source_keys(self, self.sources, every_figure=True)
        if self.released_precision is not None and "released_precision" not in self.sources:
            raise ValueError("released_precision needs a source (sources.released_precision): the model card or "
                             "checkpoint config that shows the released weights' format")
        return self


class PrecisionFile(_Strict):
    id: PrecisionId
    bits_per_weight: Annotated[float, Field(gt=0, le=64, allow_inf_nan=False, strict=True)]
    bits_per_kv: Annotated[float, Field(gt=0, le=64, allow_inf_nan=False, strict=True)] | None = None
    compute_as: list[PrecisionId] = Field(min_length=1)
    description: str = ""
    sources: dict[str, str] = {}

    @model_validator(mode="after")
    def _consistent(self) -> PrecisionFile:
        _check_source_keys(self, self.sources)
        return self


def _unique(entries: list[Any], key: Callable[[Any], object], what: str) -> list[Any]:
    """``entries`` unchanged, or a ValueError naming the first key two of them share (YAML would
    otherwise let the later one silently replace the earlier)."""
    first: dict[object, int] = {}
    for i, entry in enumerate(entries):
        k = key(entry)
        if k in first:
            raise ValueError(f"duplicate {what} {k!r} (entries {first[k]} and {i})")
        first[k] = i
    return entries


class PrecisionsFile(_Strict):
    """precisions.yaml."""

    precisions: list[PrecisionFile] = Field(min_length=1)

    @field_validator("precisions")
    @classmethod
    def _distinct(cls, v: list[PrecisionFile]) -> list[PrecisionFile]:
        return _unique(v, lambda p: p.id, "id")


class EfficiencyIn(_Strict):
    compute: Fraction
    memory: Fraction
    communication: Fraction
    step_overhead_ms: Ms
    collective_latency_us: Ms


class ServingSupportIn(_Strict):
    """A row of the runtime support matrix: a feature, the chip families, the first version, a source."""

    feature: Literal["prefix_caching", "speculative", "expert_parallel", "dp_attention", "disaggregation"]
    families: list[Family] = Field(min_length=1)
    since: Annotated[str, Field(min_length=1, max_length=40)]
    source: Annotated[str, Field(min_length=10, max_length=400)]
    export_checked: Annotated[str, Field(min_length=10, max_length=200)] | None = Field(
        default=None, description="the engine release/commit whose argument parser `hwplan export`'s flags for "
                                  "this feature were checked against (data/deploy/deploy.yaml has the flags)")
    # speculative decoding: the drafter methods its source lists (the planner models eagle and mtp); required there,
    # so that a runtime is planned only with a drafter it has
    methods: list[Literal["eagle", "mtp", "medusa", "ngram", "draft_model"]] = []

    @model_validator(mode="after")
    def _methods(self) -> ServingSupportIn:
        if self.feature == "speculative" and not self.methods:
            raise ValueError("a speculative row lists its drafter methods (methods: eagle, mtp, medusa, ngram, "
                             "draft_model), as its source names them")
        if self.methods and self.feature != "speculative":
            raise ValueError("methods: only a speculative row lists drafter methods")
        return self


class RuntimeFile(_Strict):
    id: Id
    name: str
    families: list[Family] = Field(min_length=1)
    features: dict[str, bool] = {}
    weight_precisions: list[PrecisionId] = Field(min_length=1)
    kv_precisions: list[PrecisionId] = Field(min_length=1)
    efficiency: EfficiencyIn
    memory_reserve_fraction: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False, strict=True)]
    memory_overhead_gb: Annotated[float, Field(ge=0, le=1e5, allow_inf_nan=False, strict=True)]
    kv_waste_fraction: Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False, strict=True)]
    max_concurrency: Tokens | None = None
    max_batched_tokens: Tokens
    sources: dict[str, str] = {}
    notes: str = ""
    serving: list[ServingSupportIn] = []
    # why default plan searches leave this runtime out (e.g. a commercial licence with no public
    # price, which the plan's cost would omit); a workload naming it in constraints.runtimes still gets it
    explicit_only: Annotated[str, Field(min_length=1)] | None = None
    # the runtime this one is built on (a vendor's vLLM build): where this one has no fit of its own,
    # it takes the base's fitted efficiencies rather than its priors (planner.domain.Catalog.efficiency)
    based_on: Id | None = None
    # chip families on which the runtime runs tensor-parallel attention with a tp that does not divide
    # the heads (it pads them); elsewhere tp must divide them (planner.model.attention.head_split_problem)
    uneven_heads: list[Family] = []
    # chip family -> the runtime this one runs through on it (vLLM on Inferentia / Trainium is NxD Inference):
    # there only the weight and KV formats both list are planned
    backends: dict[Family, Id] = {}
    # weight formats the runtime's kernels compute natively only: on a chip whose peak_tflops lacks one, the
    # runtime does not serve it (TensorRT-LLM's FP8 needs Ada or later) where another might dequantise it
    native_only: list[PrecisionId] = []
    # weight formats with which the runtime stores an FP8 KV cache when none is asked (TensorRT-LLM's ModelOpt
    # FP8 / NVFP4 checkpoints): `hwplan estimate` and a measurement stating no KV format take it
    fp8_kv_with: list[PrecisionId] = []
    # ways the runtime does not split one replica over several chips (tensor, pipeline) -> why, cited: the
    # planner plans no such shape and `hwplan estimate` refuses one (MaxText serves no pipeline stages)
    no_split: dict[Literal["tensor", "pipeline"], Annotated[str, Field(min_length=1)]] = {}
    # weight format -> bits per weight the runtime's own file format stores it at, scales included, where that
    # differs from precisions.yaml's figure (llama.cpp loads GGUF: int8 as Q8_0, int4 as Q4_K_M); the planner
    # sizes the weights' memory and reads at it on this runtime
    weight_bits: dict[PrecisionId, Annotated[float, Field(gt=0, le=64, allow_inf_nan=False, strict=True)]] = {}
    # KV format -> bits per cached value in the runtime's own cache type, where that differs (llama.cpp's q8_0)
    kv_bits: dict[PrecisionId, Annotated[float, Field(gt=0, le=64, allow_inf_nan=False, strict=True)]] = {}

    @model_validator(mode="after")
    def _consistent(self) -> RuntimeFile:
        _check_source_keys(self, self.sources)
        for name, of, needs in (
                ("weight_bits", "weight_precisions",
                 "where the runtime's stored format's bits per weight are published"),
                ("kv_bits", "kv_precisions", "where the runtime's cache type's bits per value are published"),
                ("native_only", "weight_precisions", "what shows the runtime's kernels need the chip to compute the "
                                                     "format"),
                ("fp8_kv_with", "weight_precisions", "what shows the runtime stores an FP8 KV cache by default with "
                                                     "these weights")):
            self._cited_formats(name, of, needs)
        if self.fp8_kv_with and "fp8" not in self.kv_precisions:
            raise ValueError("fp8_kv_with: the runtime's kv_precisions lack fp8")
        if not set(self.backends) <= set(self.families):
            raise ValueError(f"backends: families {sorted(self.backends)} outside the runtime's {self.families}")
        if self.backends and "backends" not in self.sources:
            raise ValueError("backends needs a source (sources.backends): what shows the runtime runs through it")
        if self.id in self.backends.values():
            raise ValueError(f"backends: {self.id} cannot be its own backend")
        if not set(self.uneven_heads) <= set(self.families):
            raise ValueError(f"uneven_heads: families {self.uneven_heads} outside the runtime's {self.families}")
        if self.uneven_heads and "uneven_heads" not in self.sources:
            raise ValueError("uneven_heads needs a source (sources.uneven_heads): what shows that the runtime "
                             "pads the heads")
        for i, row in enumerate(self.serving):
            if not set(row.families) <= set(self.families):
                raise ValueError(f"serving.{i}: families {row.families} outside the runtime's {self.families}")
        return self


    def _cited_formats(self, name: str, of: str, needs: str) -> None:
        """A field naming formats (``name``: a list or a map keyed by them) names only the runtime's own (``of``), and
        cites a source where it names any."""
        formats, allowed = set(getattr(self, name)), set(getattr(self, of))
        if not formats <= allowed:
            raise ValueError(f"{name}: {sorted(formats - allowed)} not among the runtime's {of}")
        if formats and name not in self.sources:
            raise ValueError(f"{name} needs a source (sources.{name}): {needs}")


class RuntimesFile(_Strict):
    """runtimes.yaml."""

    runtimes: list[RuntimeFile] = Field(min_length=1)

    @field_validator("runtimes")
    @classmethod
    def _distinct(cls, v: list[RuntimeFile]) -> list[RuntimeFile]:
        return _unique(v, lambda r: r.id, "id")


class CalibratedPair(_Strict):
    hardware: Id | None = None
    family: Family | None = None
    vendor: Annotated[str, Field(min_length=1, max_length=100)] | None = None  # with family: that vendor's chips
    runtime: Id
    efficiency: EfficiencyIn
    n_records: Annotated[int, Field(ge=0, le=10**9, strict=True)] = 0

    @model_validator(mode="after")
    def _one_key(self) -> CalibratedPair:
        if (self.hardware is None) == (self.family is None):
            raise ValueError("give exactly one of hardware or family")
        if self.vendor is not None and self.family is None:
            raise ValueError("vendor needs family (a vendor's chips within a family)")
        return self


# a serving iteration cost, seconds: at most 20 ms, above serving_fit.ITERATION_GRID's 12 ms and under the
# 16-25 ms TPOT p50 the MLPerf Interactive records publish (a cost above a whole iteration is no overhead)
IterationSeconds = Annotated[float, Field(ge=0, le=0.02, allow_inf_nan=False)]
IterationInterval = tuple[IterationSeconds, IterationSeconds]


class CalibrationFile(_Strict):
    """calibration.yaml: efficiencies fitted by ``hwplan calibrate``."""

    fitted_on: dict[str, object] = {}
    entries: list[CalibratedPair] = []

    @field_validator("entries")
    @classmethod
    def _distinct(cls, v: list[CalibratedPair]) -> list[CalibratedPair]:
        return _unique(v, lambda e: (e.hardware, e.family, e.vendor, e.runtime), "(hardware, family, vendor, runtime)")
    # runtime id -> routed experts' FLOP/s as a share of the dense layers' (planner.model.moe)
    moe_expert: dict[Id, Fraction] = {}
    # serving iterations' overlap (planner.calibration.serving_fit); absent: the roofline prior
    serving_overlap: Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)] | None = None
    # runtime id -> its own serving overlap where its records under load set it apart; absent: serving_overlap
    serving_overlap_runtime: dict[Id, Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]] = {}
    # seconds a serving iteration costs beyond its passes (planner.calibration.serving_fit: within its grid,
    # at most 20 ms); absent: 0, the prior
    serving_iteration_s: IterationSeconds | None = None
    # runtime id -> its own, where its records under load set it apart; absent: serving_iteration_s
    serving_iteration_runtime: dict[Id, IterationSeconds] = {}
    # [low, high] seconds: the costs the records under load do not tell apart from the best (serving_fit),
    # pooled and per runtime with records of its own; absent: not fitted
    serving_iteration_interval: IterationInterval | None = None
    serving_iteration_interval_runtime: dict[Id, IterationInterval] = {}
    # runtime id -> hardware family -> the least cap on concurrent sequences its records under load on that
    # family ran with, where above its documented max_concurrency (planner.calibration.concurrency); absent:
    # the documented one
    serving_concurrency_runtime: dict[Id, dict[Family, Tokens]] = {}

    @model_validator(mode="after")
    def _intervals_hold_their_figures(self) -> CalibrationFile:
        pooled = 0.0 if self.serving_iteration_s is None else self.serving_iteration_s
        checks = [("serving_iteration_interval", self.serving_iteration_interval, pooled)]
        checks += [(f"serving_iteration_interval_runtime.{rid}", interval,
                    self.serving_iteration_runtime.get(rid, pooled))
                   for rid, interval in self.serving_iteration_interval_runtime.items()]
        for name, interval, figure in checks:
            if interval is not None and not interval[0] <= figure <= interval[1]:
                raise ValueError(f"{name}: [{interval[0]}, {interval[1]}] does not hold the figure it runs with, "
                                 f"{figure}")
        return self

    @field_validator("fitted_on")
    @classmethod
    def _finite(cls, value: dict[str, object]) -> dict[str, object]:
        for key, item in value.items():
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{key} must be finite")
        return value


class QualityBandIn(_Strict):
    min_active_params_b: Annotated[float, Field(ge=0, allow_inf_nan=False)]  # MoE: active parameters
    low: Fraction  # fraction of the 16-bit score kept
    high: Fraction

    @model_validator(mode="after")
    def _ordered(self) -> QualityBandIn:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


class PrecisionQualityIn(_Strict):
    precision: PrecisionId
    method: str
    bands: list[QualityBandIn] = Field(min_length=1)
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _ascending(self) -> PrecisionQualityIn:
        sizes = [b.min_active_params_b for b in self.bands]
        if sizes != sorted(set(sizes)) or sizes[0] != 0:
            raise ValueError("bands must start at min_active_params_b 0 and ascend")
        return self


AdaptationMethod = Literal["lora", "qlora", "full", "distill"]
Points = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False, strict=True)]


class AdaptationGainIn(_Strict):
    """A fine-tuning result: points gained over the prompted base, for students in a size range."""

    method: Literal["lora", "qlora", "full"]
    gain_low: Points
    gain_high: Points
    min_params_b: Annotated[float, Field(ge=0, allow_inf_nan=False)] = 0.0
    max_params_b: PosFloat = 1e4
    sources: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _ordered(self) -> AdaptationGainIn:
        if self.gain_low > self.gain_high:
            raise ValueError("gain_low must not exceed gain_high")
        if self.min_params_b >= self.max_params_b:
            raise ValueError("min_params_b must be below max_params_b")
        return self


class DistillEvidenceIn(_Strict):
    """A distillation setting: task types, teacher prompting and student sizes a result covers."""

    name: str
    task_types: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = []
    teacher_prompting: Literal["few_shot", "any"]
    min_student_params_b: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    max_student_params_b: PosFloat | None = None  # None: no upper bound (a larger student does at least as well)
    above_teacher_points: Points = 0.0
    sources: list[str] = Field(min_length=1)


class ToolchainIn(_Strict):
    method: AdaptationMethod
    families: list[Family] = Field(min_length=1)
    name: str
    source: str


class QualityFile(_Strict):
    """quality.yaml: precision recoveries by active size, fine-tuning and distillation evidence,
    and the training toolchains per chip family."""

    # the benchmarks a model's ``quality`` may be scored on (key: what it is and its setting); a model key not
    # here is refused, so a typo (``mmmlu``) cannot leave a model silently without its score
    benchmarks: dict[Annotated[str, Field(pattern=r"^[a-z0-9_]+$", max_length=40)], Text] = {}
    precisions: list[PrecisionQualityIn] = []
    finetune: list[AdaptationGainIn] = []
    full_data_tokens: PosFloat = 1e6
    distillation: list[DistillEvidenceIn] = []
    toolchains: list[ToolchainIn] = []
    references: dict[str, str] = {}

    @field_validator("precisions")
    @classmethod
    def _distinct(cls, v: list[PrecisionQualityIn]) -> list[PrecisionQualityIn]:
        # a precision listed twice: the later entry silently took the earlier's place, and the format it was
        # meant for was left without one (scored as lossless)
        return _unique(v, lambda p: p.precision, "precision")


class MeasuredBiasIn(_Strict):
    """One (model, runtime, metric) group of measured runs against the catalog's predictions, or a chip's:
    (hardware, runtime, metric) over several models (``model`` absent, ``models`` naming them)."""

    model: Id | None = None
    models: list[Id] = Field(default=[], description="a chip's entry: the models its runs are of (2 or more)")
    runtime: Id
    metric: Literal["throughput", "slo_capacity", "tpot"]
    records: Annotated[int, Field(ge=1, le=1_000_000, strict=True)]
    median: PosFloat = Field(description="observed / predicted, median over the records")
    low: PosFloat = Field(description="10th percentile of observed / predicted")
    high: PosFloat = Field(description="90th percentile of observed / predicted")
    hardware: list[Id] = Field(min_length=1)
    sample: Literal["in", "out"] = Field(description="in: the calibration was fitted on the file; out: not")
    file: str = Field(min_length=1, description="the measurement file the runs are in")
    holds: str = Field(min_length=1, description="what those runs are")

    @model_validator(mode="after")
    def _ordered(self) -> MeasuredBiasIn:
        if not self.low <= self.median <= self.high:
            raise ValueError(f"low <= median <= high must hold, got {self.low}, {self.median}, {self.high}")
        if (self.model is None) == (len(self.models) < 2):
            raise ValueError("give either model (one model's runs) or models (a chip's runs of 2 or more), "
                             f"got model {self.model!r} and models {self.models}")
        return self


class MeasuredBiasFile(_Strict):
    """measured_bias.yaml: where the predictions measurably miss (bench/measured_bias.py writes it)."""

    generated: str = Field(min_length=1, description="date and command that wrote the file")
    rule: str = Field(min_length=1, description="which groups are listed")
    entries: list[MeasuredBiasIn] = []
