"""Catalog entities as frozen dataclasses, in SI base units.

The catalog loader (``hardware_catalog``) converts the YAML's human units (GB, TB/s, TFLOPS)
into these exactly once; everything in ``planner`` works in bytes, seconds and FLOP/s.
"""

from __future__ import annotations

import copyreg
import difflib
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, TypeVar

from planner.economics.owned import OwnedData
from planner.economics.pricing import PriceBook
from planner.errors import InputError
from planner.memo import cached

__all__ = [
    "ACCURACY_METRICS",
    "Accuracy",
    "Attention",
    "Calibration",
    "AdaptationGain",
    "DistillEvidence",
    "Catalog",
    "Checkpoint",
    "Efficiency",
    "Hardware",
    "MeasuredBias",
    "Model",
    "MoeLayout",
    "Precision",
    "PrecisionQuality",
    "QualityBand",
    "QualityData",
    "Toolchain",
    "Runtime",
    "ServingSupport",
    "WeightFormat",
    "accuracy_of",
]

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")

def _frozen() -> Mapping[K, V]:
    """An empty read-only mapping: the default for the mapping fields below."""
    empty: dict[K, V] = {}
    return MappingProxyType(empty)


def _proxy(items: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(items)


def _reduce_proxy(proxy: MappingProxyType[Any, Any]) -> tuple[Any, tuple[dict[Any, Any]]]:
    return _proxy, (dict(proxy),)  # (the type itself cannot be pickled by name: builtins has no 'mappingproxy')


# a catalog is pickled into the compiled catalog cache; an entry left at its default (a catalog without
# calibration.yaml or quality.yaml) holds these proxies, which pickle does not take by itself
copyreg.pickle(MappingProxyType, _reduce_proxy)


@dataclass(frozen=True)
class Hardware:
    """One accelerator chip's profile."""

    id: str
    name: str
    vendor: str
    family: str
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    peak_flops_per_s: Mapping[str, float]  # precision id -> dense peak (no sparsity)
    chips_per_node: int
    interconnect_bytes_per_s: float  # per chip, vendor (bidirectional aggregate) figure
    interconnect_topology: str  # "switch" or "mesh" (see hardware_catalog.schema)
    scale_out_bytes_per_s: float | None  # per chip, between nodes; None = single node only
    tdp_w: float | None
    runtimes: tuple[str, ...]
    default_runtime: str
    memory_usable_fraction: float = 1.0
    tp_ranks_per_chip: int = 1  # tensor-parallel ranks a chip runs (NeuronCores; hardware_catalog.schema)
    unsupported_precisions: Mapping[str, str] = field(default_factory=_frozen)  # id -> reason (cited)
    fp4_format: str | None = None  # "mxfp4" where the chip computes fp4 as OCP MXFP4, not NVFP4 (cited)
    sources: Mapping[str, str] = field(default_factory=_frozen)
    notes: str = ""
    # the same die at its highest board power: this chip's peak is capped against it (planner.model.power),
    # and a runtime it has no fit of takes that die's (Catalog.efficiency)
    power_reference: str | None = None
    # runtime id -> {weight precision -> the precision its kernels compute it as on this chip}
    runtime_kernels: Mapping[str, Mapping[str, str]] = field(default_factory=_frozen)

    def kernel_precision(self, runtime: str, precision: str) -> str:
        """The precision ``runtime``'s kernels compute ``precision`` weights as on this chip:
        ``runtime_kernels``' entry (Intel Arc + vLLM: int4 -> w4a8), else ``precision`` itself."""
        return self.runtime_kernels.get(runtime, {}).get(precision, precision)


@dataclass(frozen=True)
class Attention:
    """How a model's attention stores and reads its KV cache (planner.model.attention computes with it).

    kind: gqa / mha (K and V heads of head_dim each), mla (DeepSeek's multi-head latent attention:
    one latent of kv_lora_rank plus a shared RoPE key of qk_rope_head_dim per token and layer),
    sliding_window (every layer sees at most ``window`` tokens) or hybrid (``sliding_layers`` of
    the layers are windowed, the rest see the whole context). 0 = not applicable.
    """

    kind: str = "gqa"
    kv_lora_rank: int = 0
    qk_rope_head_dim: int = 0
    qk_nope_head_dim: int = 0
    v_head_dim: int = 0
    q_lora_rank: int = 0  # 0 = queries projected directly from the hidden state
    window: int = 0  # tokens a windowed layer attends to
    sliding_layers: int = 0


@dataclass(frozen=True)
class MoeLayout:
    """MoE structure beyond routed experts: always-on shared experts and leading dense layers."""

    shared_experts: int = 0
    shared_ffn_size: int = 0  # per shared expert
    dense_layers: int = 0  # the first layers use a dense MLP instead of experts (DeepSeek-V3: 3)
    dense_ffn_size: int = 0


@dataclass(frozen=True)
class Checkpoint:
    """A published checkpoint that quantised only part of the model (gpt-oss: MXFP4 routed experts,
    attention, router, embeddings and LM head in bf16; HF config.json ``modules_to_not_convert``).

    A configuration at ``precision`` runs this checkpoint: the routed experts take
    ``bits_per_weight`` per weight (the checkpoint's own format; None: the precision's figure) and
    every other weight stays at ``rest``, in storage and in its matmuls. At any other precision the
    model is a different checkpoint quantised whole (an FP8 one, or a bf16 conversion): every
    weight at that precision.
    """

    precision: str  # the catalog precision the published weights run as
    quantised: str  # which weights are at it: "experts" (the routed experts) is the only split
    rest: str = "bf16"  # every other weight
    bits_per_weight: float | None = None  # of the quantised weights, including their scales


@dataclass(frozen=True)
class WeightFormat:
    """How a model's weights are stored at one configured precision (``Model.weight_format``)."""

    expert_bytes: float  # per routed-expert parameter, including quantisation scales
    rest: Precision  # every other parameter: storage and matmul precision
    rest_bytes: float  # per other parameter as stored (the runtime's own file format where it has one)


@dataclass(frozen=True)
class EagleHead:
    """A published EAGLE draft head for a model (speculative decoding): the Hugging Face repository, its kind as
    the engines name it ("eagle": EAGLE-1/2, "eagle3"), and the checkpoint it was trained against."""

    repo: str
    method: str
    target: str


@dataclass(frozen=True)
class Model:
    """One model's architecture and quality scores."""

    id: str
    name: str
    family: str
    params: float  # total parameters
    active_params: float  # parameters used per token (MoE: < params)
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_size: int  # per projection; per expert for MoE
    vocab_size: int
    context_length: int
    experts: int = 1
    experts_per_token: int = 1
    tied_embeddings: bool = False
    routed_expert_params: float | None = None  # when the catalog states it
    quality: Mapping[str, float] = field(default_factory=_frozen)
    aliases: tuple[str, ...] = ()
    sources: Mapping[str, str] = field(default_factory=_frozen)
    attention: Attention = field(default_factory=Attention)
    moe: MoeLayout = field(default_factory=MoeLayout)
    mtp_layers: int = 0  # multi-token-prediction modules shipped beside the model (not in params)
    checkpoint: Checkpoint | None = None  # None: a configured precision applies to every weight
    released_precision: str | None = None  # the published weights' format where not 16-bit: the scores are of it
    eagle_head: EagleHead | None = None  # a published EAGLE draft head: the planner drafts with EAGLE only where one is

    @property
    def is_moe(self) -> bool:
        return self.experts > 1

    @property
    def architecture(self) -> tuple[object, ...]:
        """What decides how fast the model runs (every shape field; not its name, scores or sources):
        two models equal here run the same kernels on the same bytes."""
        return (self.params, self.active_params, self.layers, self.hidden_size, self.heads, self.kv_heads,
                self.head_dim, self.ffn_size, self.vocab_size, self.experts, self.experts_per_token,
                self.tied_embeddings, self.routed_expert_params, self.attention, self.moe, self.mtp_layers,
                self.checkpoint)

    def runs_checkpoint(self, precision: str) -> bool:
        """Whether a configuration at ``precision`` runs the published experts-only checkpoint (``Checkpoint``)."""
        return self.checkpoint is not None and self.checkpoint.precision == precision

    @property
    def published_precision(self) -> str | None:
        """The format its weights are published in where not 16-bit: its whole release's (``released_precision``:
        DeepSeek-V3's FP8) or its experts-only checkpoint's (gpt-oss's MXFP4); None: 16-bit."""
        return self.released_precision or (self.checkpoint.precision if self.checkpoint is not None else None)

    def scored_at(self, precision: str) -> bool:
        """Whether the catalog's scores are of this model's published weights at ``precision``: its experts-only
        checkpoint's (gpt-oss's MXFP4) or its whole release's (``released_precision``: DeepSeek-V3's FP8), so no
        precision band applies again (planner.levers.quality)."""
        return self.runs_checkpoint(precision) or precision == self.released_precision

    def checkpoint_expert_bits(self, precision: Precision) -> float | None:
        """Bits per routed-expert weight of the published checkpoint a configuration at ``precision`` runs,
        where that checkpoint states a format of its own (``Checkpoint.bits_per_weight``); else None."""
        return self.checkpoint.bits_per_weight if self.checkpoint and self.runs_checkpoint(precision.id) else None

    def weight_format(self, precision: Precision, precisions: Mapping[str, Precision],
                      runtime: Runtime | None = None) -> WeightFormat:
        """The weights at a configured ``precision``: every one at it, except where the model's
        ``checkpoint`` quantised only the routed experts and the configuration runs that checkpoint
        (``Checkpoint``). ``precisions``: the catalog's, by id (to look up the checkpoint's ``rest``).
        ``runtime``: the engine that loads them, stored in its own file format where it has one
        (``Runtime.stored_bytes``: llama.cpp's GGUF); None: at the precisions' own figures."""
        def stored(p: Precision) -> float:
            return p.bytes_per_weight if runtime is None else runtime.stored_bytes(p)

        c = self.checkpoint
        if c is None or not self.runs_checkpoint(precision.id):
            return WeightFormat(expert_bytes=stored(precision), rest=precision, rest_bytes=stored(precision))
        bits = self.checkpoint_expert_bits(precision)
        rest = precisions[c.rest]
        return WeightFormat(expert_bytes=stored(precision) if bits is None else bits / 8.0, rest=rest,
                            rest_bytes=stored(rest))

    def weight_bytes(self, precision: Precision, precisions: Mapping[str, Precision],
                     runtime: Runtime | None = None) -> float:
        """Bytes of all the weights at a configured ``precision`` (``weight_format``; ``runtime``: as it stores
        them)."""
        f = self.weight_format(precision, precisions, runtime)
        rest = f.rest_bytes  # params x rest exactly when the two figures agree
        return self.params * rest + self.expert_params * (f.expert_bytes - rest)

    @property
    def moe_layers(self) -> int:
        """Layers with routed experts (the first ``moe.dense_layers`` have a dense MLP; 0 for a dense model)."""
        return self.layers - self.moe.dense_layers if self.is_moe else 0

    @property
    def expert_params(self) -> float:
        """Parameters in all routed experts (SwiGLU MLP: 3 matrices of hidden x ffn each)."""
        if not self.is_moe:
            return 0.0
        if self.routed_expert_params is not None:
            return self.routed_expert_params
        return float(self.moe_layers * self.experts * 3 * self.hidden_size * self.ffn_size)


@dataclass(frozen=True)
class Precision:
    """A number format for weights and/or the KV cache."""

    id: str
    bytes_per_weight: float  # including quantisation scales
    bytes_per_kv: float | None  # None = not used for the KV cache
    compute_as: tuple[str, ...]  # compute precisions in order of preference
    description: str = ""
    sources: Mapping[str, str] = field(default_factory=_frozen)

    def compute_precision(self, hardware: Hardware) -> str | None:
        """The first of ``compute_as`` the chip computes natively, or None."""
        for candidate in self.compute_as:
            if candidate in hardware.peak_flops_per_s:
                return candidate
        return None


@dataclass(frozen=True)
class Efficiency:
    """Achieved fractions of peak, and fixed costs, for one hardware x runtime pair."""

    compute: float  # achieved / peak FLOP/s in matmuls and attention
    memory: float  # achieved / peak memory bandwidth
    communication: float  # achieved / vendor interconnect bandwidth (unidirectional half)
    step_overhead_s: float  # fixed cost per forward step (launch, scheduling, sampling)
    collective_latency_s: float  # fixed cost per tensor-parallel all-reduce
    calibrated: bool = False
    source: str = "prior"


@dataclass(frozen=True)
class ServingSupport:
    """One row of the runtime support matrix: a serving feature on some chip families, since a
    version, with the page that documents it (hardware_catalog/data/runtimes.yaml ``serving``)."""

    feature: str  # planner.model.serving.FEATURES
    families: tuple[str, ...]
    since: str
    source: str
    export_checked: str = ""  # the engine commit `hwplan export`'s flags for it were checked against ("": none)
    # speculative decoding: the drafter methods the row's source lists ("eagle", "mtp", "medusa", ...); () = any
    methods: tuple[str, ...] = ()


@dataclass(frozen=True)
class Runtime:
    """A serving engine."""

    id: str
    name: str
    families: tuple[str, ...]
    features: Mapping[str, bool]
    weight_precisions: tuple[str, ...]
    kv_precisions: tuple[str, ...]
    prior: Efficiency
    memory_reserve_fraction: float  # capacity the engine leaves unused (e.g. vLLM 0.9 util)
    memory_overhead_bytes: float  # context, graphs, workspaces per chip
    kv_waste_fraction: float  # KV cache lost to fragmentation
    max_concurrency: int | None  # scheduler's default cap on running sequences
    max_batched_tokens: int  # tokens per prefill chunk / forward pass
    sources: Mapping[str, str] = field(default_factory=_frozen)
    serving: tuple[ServingSupport, ...] = ()  # the support matrix rows of this runtime
    # why default plan searches leave it out (None: they include it); naming it in constraints.runtimes plans with it
    explicit_only: str | None = None
    based_on: str | None = None  # the runtime it is built on: its fits stand in where this one has none
    # chip families where tp need not divide the attention heads (the runtime pads them; runtimes.yaml)
    uneven_heads: tuple[str, ...] = ()
    # chip family -> the runtime this one runs through there (vLLM on Neuron chips is NxD Inference): only
    # the formats both serve are planned there (``Catalog.weight_precisions`` / ``kv_precisions``)
    backends: Mapping[str, str] = field(default_factory=_frozen)
    # weight formats its kernels compute natively only (runtimes.yaml native_only): not served on a chip that
    # does not compute them (``lacks_native``), but for a model's own published checkpoint in that format, which
    # has weight-only kernels of its own (gpt-oss's MXFP4 experts on Hopper)
    native_only: tuple[str, ...] = ()
    # weight formats with which it stores an FP8 KV cache when none is asked (runtimes.yaml fp8_kv_with)
    fp8_kv_with: tuple[str, ...] = ()
    # "tensor" / "pipeline" -> why the runtime does not split a replica so (runtimes.yaml no_split, cited)
    no_split: Mapping[str, str] = field(default_factory=_frozen)
    # weight format -> bits per weight the runtime's own file format stores it at, scales included, where that
    # differs from the precision's figure (runtimes.yaml weight_bits, cited: llama.cpp's GGUF Q8_0 / Q4_K_M)
    weight_bits: Mapping[str, float] = field(default_factory=_frozen)
    # KV format -> bits per cached value in the runtime's own cache type, where that differs (runtimes.yaml kv_bits:
    # llama.cpp's q8_0 cache, blocks of 32 int8 values and an fp16 scale)
    kv_bits: Mapping[str, float] = field(default_factory=_frozen)

    def stored_bytes(self, precision: Precision) -> float:
        """Bytes per weight this runtime stores ``precision`` weights at: its own format's (``weight_bits``), else
        the precision's."""
        bits = self.weight_bits.get(precision.id)
        return precision.bytes_per_weight if bits is None else bits / 8.0

    def stored_kv_bytes(self, precision: Precision) -> float | None:
        """Bytes per KV value this runtime caches ``precision`` at: its own cache type's (``kv_bits``), else the
        precision's (None: not a KV format)."""
        bits = self.kv_bits.get(precision.id)
        return precision.bytes_per_kv if bits is None else bits / 8.0

    def lacks_native(self, precision: str, hardware: Hardware, model: Model | None = None) -> bool:
        """Whether this runtime computes ``precision`` weights natively only (``native_only``) and ``hardware``
        does not compute them: it does not serve them there, unless ``model`` runs its own published checkpoint
        in that format (``Model.runs_checkpoint``; None: no model's) on a chip that computes FP8, where that
        checkpoint's weight-only kernels run: gpt-oss's MXFP4 experts on one H100 or MI300X (OpenAI's gpt-oss
        release, 'runs within 80 GB'; vLLM's and SGLang's Hopper paths) [assumed for Ada, which computes FP8
        too; not on Ampere]."""
        own = model is not None and model.runs_checkpoint(precision) and "fp8" in hardware.peak_flops_per_s
        return precision in self.native_only and precision not in hardware.peak_flops_per_s and not own

    def split_problem(self, tp: int, pp: int) -> str | None:
        """Why this runtime does not run a replica of ``tp`` x ``pp`` chips (None: it does)."""
        for kind, degree in (("tensor", tp), ("pipeline", pp)):
            if degree > 1 and kind in self.no_split:
                return f"{self.id} has no {kind}-parallel split of a replica: {self.no_split[kind]}"
        return None

    def through(self, family: str) -> str:
        """The words every refusal of a format a backend lacks uses: ' (through <backend> on <family> chips)'
        where this runtime runs through a backend on that chip family (``backends``), else ''."""
        return f" (through {self.backends[family]} on {family} chips)" if family in self.backends else ""

    def supports(self, feature: str, family: str) -> bool:
        """True when the matrix lists ``feature`` on chip ``family`` for this runtime; "feature:method" (speculative
        decoding with a drafter: ``Served.support``) also needs the method among the row's ``methods``."""
        name, _, method = feature.partition(":")
        return any(s.feature == name and family in s.families and (not method or not s.methods or method in s.methods)
                   for s in self.serving)

    @property
    def continuous_batching(self) -> bool:
        return bool(self.features.get("continuous_batching", False))

    @property
    def paged_kv(self) -> bool:
        """The KV cache is paged (blocks taken as the context grows); without, each slot's cache is allocated
        whole at the engine's slot length (``planner.model.perf.MemoryModel``). Unstated: paged."""
        return bool(self.features.get("paged_kv", True))


@dataclass(frozen=True)
class Calibration:
    """Fitted efficiencies: per (hardware, runtime), per (family, vendor, runtime), per (family,
    runtime), per runtime: a chip without data of its own takes its vendor's value in its family
    (same software stack and kernels), else its family's."""

    pairs: Mapping[tuple[str, str], Efficiency] = field(default_factory=_frozen)
    family_runtime: Mapping[tuple[str, str], Efficiency] = field(default_factory=_frozen)
    vendor_runtime: Mapping[tuple[str, str, str], Efficiency] = field(default_factory=_frozen)
    fitted_on: Mapping[str, object] = field(default_factory=_frozen)
    # per runtime: routed experts' FLOP/s as a share of the dense layers' (planner.model.moe); 1 where absent
    moe_expert: Mapping[str, float] = field(default_factory=_frozen)
    # serving iterations' overlap fitted on records under load (planner.calibration.serving_fit);
    # None: the prior, planner.model.load.scheduler.SERVING_OVERLAP (the roofline)
    serving_overlap: float | None = None
    # per runtime id: its own overlap where its records under load set one apart from the pooled one
    serving_overlap_runtime: Mapping[str, float] = field(default_factory=_frozen)
    # seconds a serving iteration costs beyond its passes, fitted on records under load
    # (planner.calibration.serving_fit); None: the prior, 0
    serving_iteration_s: float | None = None
    # per runtime id: its own, where its records under load set one apart from the pooled one
    serving_iteration_runtime: Mapping[str, float] = field(default_factory=_frozen)
    # (low, high) seconds: the fit's grid values the records under load do not tell apart from its best
    # (planner.calibration.serving_fit); pooled over every runtime's records, and per runtime with enough
    # records of its own (whether or not they set its figure apart). None / absent: not fitted
    serving_iteration_interval: tuple[float, float] | None = None
    serving_iteration_interval_runtime: Mapping[str, tuple[float, float]] = field(default_factory=_frozen)
    # (runtime id, hardware family): the least cap on concurrent sequences the runtime's records under load on
    # that family ran with, where above its documented one (planner.calibration.concurrency); absent: the
    # runtime's documented cap
    serving_concurrency: Mapping[tuple[str, str], int] = field(default_factory=_frozen)
    # (model id or None, hardware id or None, runtime id) -> speed factor: the rows of that model (any where
    # None) on that chip (any where None) and runtime run at the factor of their predicted speed, the least of
    # those that reach a row (``planner.model.grid.CatalogTables.speed``). Never fitted: ``slowed_to`` sets it
    # for a what-if re-plan (``planner.search.measured_replan``)
    slowed: Mapping[tuple[str | None, str | None, str], float] = field(default_factory=_frozen)

    def slowed_to(self, scopes: Mapping[tuple[str | None, str | None, str], float]) -> Calibration:
        """This calibration with the rows of ``scopes`` at their factor of the speed it predicts (and no other
        slowing); a factor must be positive."""
        bad = {scope: f for scope, f in scopes.items() if not f > 0}
        if bad:
            raise ValueError(f"speed factors must be positive, got {bad}")
        return replace(self, slowed=MappingProxyType(dict(scopes)))

    def max_concurrency(self, runtime: Runtime, hardware: Hardware) -> int | None:
        """The cap on concurrent sequences ``runtime``'s replicas run with on ``hardware``: the one its
        records under load on the chip's family show, where fitted, else its documented default (None: no cap)."""
        return self.serving_concurrency.get((runtime.id, hardware.family), runtime.max_concurrency)

    def concurrency_source(self, runtime: Runtime, hardware: Hardware) -> str:
        """Where ``max_concurrency(runtime, hardware)`` comes from, in words."""
        if (runtime.id, hardware.family) in self.serving_concurrency:
            return (f"{runtime.id}'s records under load on {hardware.family} chips ran this many sequences per "
                    f"engine (Little's law), above its documented default of {runtime.max_concurrency}")
        if runtime.max_concurrency is None:
            return f"{runtime.id} documents no cap: memory sets it"
        source = runtime.sources.get("max_concurrency", "")
        if not source or source.startswith("prior"):  # (runtimes.yaml cites none: say so, not 'documented')
            return f"{runtime.id}'s cap in runtimes.yaml, a prior: no documented default is cited"
        return f"{runtime.id}'s documented default (runtimes.yaml: {source})"

    def iteration_s(self, runtime: str | None = None) -> float:
        """The serving iteration cost ``runtime`` runs with: its own where fitted, else the pooled
        one, else the prior 0 (``planner.model.load.scheduler.ServingStep`` charges it)."""
        if runtime is not None and runtime in self.serving_iteration_runtime:
            return self.serving_iteration_runtime[runtime]
        return 0.0 if self.serving_iteration_s is None else self.serving_iteration_s

    def iteration_interval(self, runtime: str) -> tuple[float, float] | None:
        """The serving iteration costs ``runtime``'s plans could run with as far as the records under
        load tell: its own records' interval; for a runtime without records of its own, which runs at the
        pooled figure by extrapolation, the span of every interval fitted (pooled and each runtime's:
        nothing says which engine it resembles). None: no interval was fitted."""
        return self.serving_iteration_interval_runtime.get(runtime, self._extrapolated_interval())

    def _extrapolated_interval(self) -> tuple[float, float] | None:
        spans = [*self.serving_iteration_interval_runtime.values()]
        if self.serving_iteration_interval is not None:
            spans.append(self.serving_iteration_interval)
        return (min(lo for lo, _ in spans), max(hi for _, hi in spans)) if spans else None

    def at_iteration_end(self, end: int) -> Calibration:
        """This calibration with every serving iteration cost at one end of its interval (``end`` 0:
        low, 1: high; ``iteration_interval``): each runtime with an interval of its own at its own, the
        pooled figure (every other runtime's) at the span of all; unchanged where none was fitted."""
        span = self._extrapolated_interval()
        pooled = self.serving_iteration_s if span is None else span[end]
        own = dict(self.serving_iteration_runtime) | {
            rid: interval[end] for rid, interval in self.serving_iteration_interval_runtime.items()}
        return replace(self, serving_iteration_s=pooled, serving_iteration_runtime=own)

    def at_iteration_prior(self) -> Calibration:
        """This calibration without a serving iteration cost (the prior, 0): what the efficiency fit runs
        at, and what a check of another serving mechanism compares on."""
        return replace(self, serving_iteration_s=None, serving_iteration_runtime={})

    def iteration_source(self, runtime: str) -> str:
        """Where ``iteration_s(runtime)`` comes from, in words."""
        if runtime in self.serving_iteration_runtime:
            return f"{runtime}'s own, fitted on its records under load"
        if runtime in self.serving_iteration_interval_runtime:
            return (f"pooled over the records under load of all runtimes ({runtime}'s own records do not set it "
                    "apart)")
        if self.serving_iteration_s is not None:
            return f"pooled over the records under load of all runtimes ({runtime} has no figure of its own)"
        return "the prior: no records under load fitted"


@dataclass(frozen=True)
class QualityBand:
    """Fraction of the 16-bit score kept, for models of at least ``min_params`` ACTIVE parameters."""

    min_params: float
    low: float
    high: float


@dataclass(frozen=True)
class PrecisionQuality:
    precision: str
    method: str
    bands: tuple[QualityBand, ...]  # ascending min_params
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class AdaptationGain:
    """Points a domain fine-tune adds over the prompted base: the evidence range, for students of
    ``min_params`` to ``max_params`` parameters."""

    method: str
    gain_low: float
    gain_high: float
    sources: tuple[str, ...] = ()
    min_params: float = 0.0
    max_params: float = float("inf")


@dataclass(frozen=True)
class DistillEvidence:
    """A setting (task types, teacher prompting, student sizes) in which a published result shows
    a student reaching its teacher, or (no task types) the general rule that it stays below."""

    name: str
    task_types: tuple[str, ...]
    teacher_prompting: str  # "few_shot" | "any"
    min_student_params: float
    max_student_params: float
    above_teacher_points: float
    sources: tuple[str, ...] = ()


@dataclass(frozen=True)
class Toolchain:
    """A published training toolchain for an adaptation method on a chip family."""

    method: str
    families: tuple[str, ...]
    name: str
    source: str


@dataclass(frozen=True)
class MeasuredBias:
    """How a model ran on a runtime against what this catalog predicts for the same runs
    (measured_bias.yaml, written by bench/measured_bias.py from measurement files): observed /
    predicted of ``metric`` over ``records`` runs on ``hardware``, median and the 10th-90th
    percentile range. A ratio below 1: the model is optimistic there (plans carry less than they
    say); above 1: pessimistic. ``sample``: "out" where no fit reads the file, "in" where the
    calibration was fitted on it (a bias left after fitting).

    ``model`` None: a chip's entry, runs of several ``models`` on ``runtime`` on ``hardware`` that miss
    alike, so the miss is the chip and runtime's, not one model's (``Catalog.measured_for`` applies it to
    every model run there)."""

    model: str | None
    runtime: str
    metric: str  # "throughput" (max-throughput / Offline), "slo_capacity" (Server / Interactive) or "tpot"
    records: int
    median: float
    low: float  # the 10th percentile of the runs' measured / predicted
    high: float  # the 90th
    hardware: tuple[str, ...]
    sample: str  # "in" | "out"
    file: str  # the measurement file (its path in the repository)
    holds: str  # what its runs are
    models: tuple[str, ...] = ()  # a chip's entry (model None): the models its runs are of

    def note(self, model_id: str | None = None) -> str:
        """One line for a plan or an estimate of ``model_id`` (default: the measured model)."""
        what = {"throughput": "throughput", "slo_capacity": "SLO capacity", "tpot": "TPOT"}[self.metric]
        side = "overstated" if self.median < 1.0 else "understated"
        subject = "its TPOT here is likely" if self.metric == "tpot" else "capacity here is likely"
        sample = "out of sample" if self.sample == "out" else "in sample, after fitting"
        if self.model is None:  # a chip's entry: the runs of several models there
            return (f"{model_id or 'a model'} on {self.runtime} on {', '.join(self.hardware)}: {self.records} runs "
                    f"of {len(self.models)} models there ({', '.join(self.models)}) reached "
                    f"{self.low:.2f}-{self.high:.2f}x the predicted {what} (10th-90th percentile, median "
                    f"{self.median:.2f}x; {sample}, {self.file}): {subject} {side}")
        twin = "" if model_id in (None, self.model) else f" (measured on {self.model}, the same architecture)"
        runs = f"{self.records} runs ({', '.join(self.hardware)})"
        return (f"{model_id or self.model} on {self.runtime}{twin}: {runs} reached "
                f"{self.low:.2f}-{self.high:.2f}x the predicted {what} (10th-90th percentile, median "
                f"{self.median:.2f}x; {sample}, {self.file}): {subject} {side}")


@dataclass(frozen=True)
class QualityData:
    """The quality model's tables (hardware_catalog/data/quality.yaml)."""

    precisions: Mapping[str, PrecisionQuality] = field(default_factory=_frozen)
    adaptations: Mapping[str, tuple[AdaptationGain, ...]] = field(default_factory=_frozen)  # per method
    full_data_tokens: float = 1e6
    distillation: tuple[DistillEvidence, ...] = ()
    toolchains: tuple[Toolchain, ...] = ()  # empty: every training family runs every method
    references: Mapping[str, str] = field(default_factory=_frozen)


@dataclass(frozen=True)
class Catalog:
    """Everything the planner knows about hardware, models, precisions and runtimes."""

    hardware: Mapping[str, Hardware]
    models: Mapping[str, Model]
    precisions: Mapping[str, Precision]
    runtimes: Mapping[str, Runtime]
    calibration: Calibration = field(default_factory=Calibration)
    version: str = ""
    quality: QualityData = field(default_factory=QualityData)  # empty: base scores only
    prices: PriceBook = field(default_factory=lambda: PriceBook(offers=()))  # rented offers (prices/)
    owned: OwnedData | None = None  # owned-hardware cost defaults (owned.yaml); None: owned is unpriced
    measured_bias: tuple[MeasuredBias, ...] = ()  # measured_bias.yaml (every entry, applicable or not)

    def weight_precisions(self, runtime: Runtime, hardware: Hardware) -> tuple[str, ...]:
        """The weight formats ``runtime`` serves on ``hardware`` for some model: its own, less what its backend on
        the chip's family (``Runtime.backends``) lacks, and less those it computes natively only
        (``Runtime.native_only``) where the chip does not compute them and no model's own checkpoint is in the
        format (which models then: ``Runtime.lacks_native`` with the model, a search's per-model check)."""
        return tuple(p for p in self._through_backend(runtime, hardware, "weight_precisions")
                     if not runtime.lacks_native(p, hardware)
                     or any(not runtime.lacks_native(p, hardware, m) for m in self.models.values()))

    def kv_precisions(self, runtime: Runtime, hardware: Hardware) -> tuple[str, ...]:
        """The KV cache formats ``runtime`` stores on ``hardware`` (as ``weight_precisions``)."""
        return self._through_backend(runtime, hardware, "kv_precisions")

    def paged_kv(self, runtime: Runtime, hardware: Hardware) -> bool:
        """Whether ``runtime`` pages its KV cache on ``hardware``: its own feature, and its backend's on the chip's
        family (vLLM on Neuron chips runs NxD Inference's cache: ``Runtime.backends``)."""
        backend = self.backend(runtime, hardware)
        return runtime.paged_kv and (backend is None or backend.paged_kv)

    def backend(self, runtime: Runtime, hardware: Hardware) -> Runtime | None:
        """The runtime ``runtime`` runs its models through on ``hardware``'s family (``Runtime.backends``), or None."""
        return self.runtimes.get(runtime.backends.get(hardware.family, ""))

    def _through_backend(self, runtime: Runtime, hardware: Hardware, formats: str) -> tuple[str, ...]:
        own: tuple[str, ...] = getattr(runtime, formats)
        backend = self.backend(runtime, hardware)
        return own if backend is None else tuple(p for p in own if p in getattr(backend, formats))

    def measured_for(self, model_id: str, runtime_id: str, hardware: Collection[str] = ()) -> tuple[MeasuredBias, ...]:
        """The measured biases that apply to ``model_id`` on ``runtime_id`` on ``hardware`` (the chips it runs
        on): those measured on it, those measured on another catalog model of the same architecture
        (``Model.architecture``: the same weights' shapes run the same kernels; DeepSeek-R1 is DeepSeek-V3
        post-trained), and a chip's entry (runs of several models on this runtime) for one of ``hardware``.
        An entry whose model this catalog lacks applies to nothing (``hwplan catalog validate`` names it)."""
        if not self.measured_bias or model_id not in self.models:
            return ()
        shape = self.models[model_id].architecture
        return tuple(b for b in self.measured_bias if b.runtime == runtime_id and (
            (b.model is None and not set(b.hardware).isdisjoint(hardware))
            or b.model == model_id
            or (b.model is not None and b.model in self.models and self.models[b.model].architecture == shape)))

    def get_hardware(self, hardware_id: str, *, field_name: str = "hardware") -> Hardware:
        return _lookup(self.hardware, hardware_id, field_name, "hardware")

    def aliased(self, alias: str) -> Model | None:
        """The model ``alias`` names (models/<id>.yaml ``aliases``: an instruct repository's id), else None."""
        return next((model for model in self.models.values() if alias in model.aliases), None)

    def get_model(self, model_id: str, *, field_name: str = "model") -> Model:
        if (model := self.aliased(model_id)) is not None:
            return model
        return _lookup(self.models, model_id, field_name, "model")

    def get_precision(self, precision_id: str, *, field_name: str = "precision") -> Precision:
        return _lookup(self.precisions, precision_id, field_name, "precision")

    def get_runtime(self, runtime_id: str, *, field_name: str = "runtime") -> Runtime:
        return _lookup(self.runtimes, runtime_id, field_name, "runtime")

    def efficiency(self, hardware: Hardware, runtime: Runtime) -> Efficiency:
        """Calibrated pair, else the same die's pair (``power_reference``: the die at its highest
        board power, whose fitted share of peak this chip's power-capped peak takes; flagged
        uncalibrated), else the pair of a power-capped part of this die (a chip whose
        ``power_reference`` is this one, the one at the highest board power: its fitted share of its
        own capped peak taken at this chip's peak; flagged uncalibrated), else the family x vendor x
        runtime fit, else the family x runtime fit (a runtime that runs through another on this chip family,
        ``Runtime.backends``, takes that backend's efficiency before all but its own pair's fit), else,
        for a runtime built on another (``based_on``), the base's fitted efficiency on this chip
        (flagged uncalibrated: measured on the base, not on this runtime), else the runtime's prior.

        The same die before the vendor: each MLPerf chip with such a sibling held out in turn and
        predicted from a fit on the rest (``bench/same_die_cv.py``), its tokens/s median error H200
        NVL 18.5% -> 2.0%, MI300X 13.2% -> 8.0%, H100 PCIe 23.0% -> 21.7%, H100 NVL 8.9% -> 10.4%,
        B200 0.6% -> 12.0% (its sibling, GB200, is an NVL72 rack part), the SLO capacity better on
        four of the five (docs/accuracy.md, known weak spots). The capped part before the vendor too:
        each chip that others name held out in turn and predicted from a fit on the rest
        (docs/accuracy.md, cross-validated by chip), GB200's tokens/s 1.26x -> 1.13x of observed (SLO
        capacity 1.10x -> 1.08x), H200's 0.88x -> 1.00x (0.80x -> 0.95x), MI325X's 0.99x -> 0.98x
        (1.04x -> 1.01x), H100 SXM's 1.01x -> 1.03x (0.98x -> 1.00x)."""
        pair = self.calibration.pairs.get((hardware.id, runtime.id))
        if pair is not None:
            return pair
        backend = self.backend(runtime, hardware)
        if backend is not None:  # the engine runs its models through another on this family: that one's speed
            # (vLLM on Inferentia / Trainium is NxD Inference, neuronx's row: it took vLLM's GPU prior, 1.5-1.9x
            # the measured neuronx throughput, and ranked Neuron chips first on support-chatbot)
            measured = self.efficiency(hardware, backend)
            return replace(measured, calibrated=False, source=f"{backend.id}'s fit ({measured.source}): {runtime.id} "
                                                              f"runs through {backend.id} on {hardware.family} chips")
        for sibling, relation in self._same_die(hardware):
            die = self.calibration.pairs.get((sibling, runtime.id))
            if die is not None:
                return replace(die, calibrated=False, source=f"{sibling}'s fit, the same die{relation} "
                                                              f"({die.source}): no fit of {hardware.id}'s own")
        vendor = self.calibration.vendor_runtime.get((hardware.family, hardware.vendor, runtime.id))
        if vendor is not None:
            return vendor
        family = self.calibration.family_runtime.get((hardware.family, runtime.id))
        if family is not None:
            return family
        base = self.runtimes.get(runtime.based_on) if runtime.based_on is not None else None
        if base is None:
            return runtime.prior
        measured = self.efficiency(hardware, base)
        if measured is base.prior:
            return runtime.prior
        return replace(measured, calibrated=False, source=f"{base.id}'s fit ({measured.source}): {runtime.id} is "
                                                          f"built on {base.id}, no fit of its own")

    def _same_die(self, hardware: Hardware) -> list[tuple[str, str]]:
        """The other chips of ``hardware``'s die whose fit it may take, in ``efficiency``'s order, each
        with how it relates: the part it names as ``power_reference`` (""), then the power-capped
        parts that name it, highest board power first, ties by id (" at a lower board power")."""
        def capped_parts() -> dict[str, list[str]]:  # per chip id, the chips naming it (once per catalog)
            parts: dict[str, list[Hardware]] = {}
            for h in self.hardware.values():
                if h.power_reference is not None:
                    parts.setdefault(h.power_reference, []).append(h)
            return {ref: [h.id for h in sorted(hs, key=lambda h: (-(h.tdp_w or 0.0), h.id))]
                    for ref, hs in parts.items()}
        named = [] if hardware.power_reference is None else [(hardware.power_reference, "")]
        capped = cached(self, "capped parts", capped_parts).get(hardware.id, [])
        return named + [(c, " at a lower board power") for c in capped]


def _lookup(table: Mapping[str, T], key: str, field_name: str, kind: str) -> T:
    try:
        return table[key]
    except KeyError:
        # the ids sharing its first part, else those closest in spelling (h100sxm: h100-sxm; llama3.1-8b: llama-3.1-8b)
        close = sorted(k for k in table if k.split("-")[0] == key.split("-")[0])[:5] or \
            difflib.get_close_matches(key, list(table), n=3, cutoff=0.75)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise InputError(f"unknown {kind} id {key!r}{hint}", field=field_name) from None


@dataclass(frozen=True)
class Accuracy:
    """How far the performance model's predictions fell from measurements held out of its fit: the
    cross-validation ``hwplan calibrate`` ran and wrote into calibration.yaml (``fitted_on``)."""

    basis: str  # what was held out, of which fit, when
    median_ape: Mapping[str, float]  # metric (calibration.yaml's names) -> median |predicted / measured - 1|
    # the same metrics with each MLPerf round held out in turn (a later round's error); empty where not measured
    by_round: Mapping[str, float] = field(default_factory=dict)
    under_load: bool = False  # whether the figures pool the records under load alone (older files: every record)


# the metrics of the cross-validation that a plan's and a server estimate's figures rest on: the SLO capacity sets a
# plan's replica counts, the p99s are what both predict under load. Not the output throughput: under load it is
# the request rate times the output length wherever the engine keeps up (the capacity says where), no prediction
ACCURACY_METRICS = ("slo_capacity_requests_per_s", "tpot_p99_ms", "ttft_p99_ms")


def accuracy_of(calibration: Calibration) -> Accuracy | None:
    """``calibration``'s cross-validated median errors of ACCURACY_METRICS' metrics (None where its file records none
    of them: a calibration written without cross-validation, or without records under load). calibration.yaml's
    ``fitted_on`` is free-form (a maintainer's file may say anything there): a figure that is not a finite
    non-negative number is left out, and the basis reads only what is there."""
    on = calibration.fitted_on

    def figures(key: str) -> dict[str, float]:
        errors = on.get(key)
        if not isinstance(errors, Mapping):
            return {}
        return {k: float(v) for k in ACCURACY_METRICS
                if isinstance(v := errors.get(k), int | float) and not isinstance(v, bool) and 0.0 <= v < math.inf}

    # the records under load alone where the file has them: the p99s of every record pool static-batch ones (their
    # p99 is their mean), which no plan's figure is
    under_load = figures("cv_under_load_median_ape")
    kept = under_load or figures("cv_median_ape")
    if not kept:
        return None
    files = on.get("files")
    names = [str(f["name"]) for f in files if isinstance(f, Mapping) and "name" in f] if isinstance(files, list) else []
    folds, repeats, by = on.get("cv_folds"), on.get("cv_repeats"), on.get("cv_by")
    if by:
        how = f"cross-validation by {by} (each {by} held out in turn)"
    else:
        how = f"{folds}-fold cross-validation" if folds else "cross-validation"
        if repeats and repeats != 1:
            how += f" repeated {repeats} times"
    basis = (f"{how} of the catalog calibration's fit on {on.get('n_records', '?')} measurements"
             + (f" ({', '.join(names)})" if names else "") + (f", {on['date']}" if on.get("date") else ""))
    by_round = figures("cv_by_round_under_load_median_ape") if under_load and not by else {}
    return Accuracy(basis=basis, median_ape=kept, by_round=by_round, under_load=bool(under_load))
