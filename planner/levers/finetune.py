"""One-time cost of adapting a model: training memory, the chips it fits on, hours and dollars.

Memory (bytes), with weights, gradients and optimiser state sharded over the chips (ZeRO-3/FSDP,
M37) and activations per chip at micro-batch 1:

    full     16 B/param: 2 weights + 2 gradients + 12 FP32 master, momentum, variance (M37, M38)
    lora     frozen 16-bit base (2 B/param) + adapters at 16 B/param
    qlora    frozen NF4 base (4 + 8/64 + 32/(64*256) = 4.127 bits per block-quantised weight with
             double quantisation, QLoRA paper section 3; the facts file rounds the constants to
             ~0.2 bit, M34) + 16-bit embeddings + adapters at 4 B/param on the chip, their 12 B/param
             optimiser state in paged memory that spills to host RAM (paged optimisers, M33)
    distill  the student is fully fine-tuned on data the teacher generates (M40)

Activations (Korthikanti et al. 2022, 'Reducing Activation Recomputation in Large Transformer
Models', arXiv 2205.05198): 34*s*h bytes per layer at 16 bit with FlashAttention (no s^2 score
matrix); with activation checkpointing (Chen et al. 2016, 'Training Deep Nets with Sublinear
Memory Cost', arXiv 1604.06174) only each layer's 2*s*h input is kept, plus one layer being
recomputed, at the price of a second forward pass: +2N FLOPs per token (+33% on full fine-tuning's
6N). Every method is costed both ways and the cheaper option that fits is kept. Logits: s * vocab
* 4 bytes.

FLOPs per training token (Kaplan et al., M42: forward 2N, backward 4N = 2N activation gradients +
2N weight gradients):

    full     6N
    lora     4N: frozen weights need no weight gradients (LoRA paper: ~25% faster than full)
    qlora    4N, as LoRA (NF4 dequantisation shows up as a lower MFU, not as FLOPs)
    + 2N     with activation checkpointing (one forward recompute)
    adapters 6 * adapter params, on top

Time = FLOPs / (chips * 16-bit peak * MFU), MFU (low, central, high) per chip family and method
(``MFU_BY_FAMILY``, each cited); QLoRA's is LoRA's / 1.39 (Raschka 2023: QLoRA took 39% more
time than LoRA on the same run). Sharding (ZeRO-3 / FSDP) spans up to 8 nodes where the chip has
a scale-out network in the catalog, one node where it has none (the reason says so). A method is
costed only on chip families with a published toolchain for it (quality.yaml ``toolchains``).
Distillation adds the teacher generating the dataset on as many chips as its 16-bit weights need:
the time ``hwplan estimate --scenario max_throughput`` gives for it there (decode is memory-bound and
the KV cache bounds the batch), never below 2 * N_teacher FLOPs per token at the student's MFU (the
floor where the performance model cannot place the teacher; it alone was ~17x short for Qwen2.5-72B
on two H100s).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.domain import Catalog, Hardware, Model
from planner.economics.rates import ChipRate, Pricing, chip_rate
from planner.errors import InputError
from planner.measured_speed import origin_serving
from planner.memo import cached

__all__ = ["ADAM_BYTES_PER_PARAM", "MFU", "MFU_BY_FAMILY", "METHODS", "NF4_BITS", "Basis", "Memory", "TrainingOption",
           "adapter_params", "adaptation_options", "cheapest_option", "mfu", "multi_lora_bytes", "toolchain",
           "training_flops", "training_memory"]

METHODS = ("lora", "qlora", "full", "distill")
ADAM_BYTES_PER_PARAM = 16.0  # 2 + 2 + 12 (M37 'K=12', M38)
PAGED_ADAPTER_BYTES = 4.0  # QLoRA adapters on chip: 2 B bf16 weights + 2 B gradients (M33)
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # NF4 + double-quantised block constants (QLoRA section 3)
ACT_BYTES_PER_LAYER = 34.0  # x s*h bytes, 16-bit, FlashAttention (Korthikanti et al. 2022)
CHECKPOINT_BYTES_PER_LAYER = 2.0  # x s*h bytes: a 16-bit layer input kept under checkpointing
LOGIT_BYTES = 4.0  # FP32 logits per vocab entry per token
MFU = (0.25, 0.40, 0.72)  # GPU, 16-bit: low FA1 on A100, central Llama 3 405B on H100 (38-43%), high FA2 (72%)
# (low, central, high) MFU of 16-bit training per chip family, and where each comes from
MFU_BY_FAMILY: dict[str, tuple[tuple[float, float, float], str]] = {
    "gpu": (MFU, "Dubey et al. 2024, The Llama 3 Herd of Models, arXiv 2407.21783: 38-43% BF16 MFU on "
                 "H100; Dao 2023, FlashAttention-2, arXiv 2307.08691: 72% on A100; FlashAttention-1 25-40%"),
    "tpu": ((0.30, 0.46, 0.58), "Chowdhery et al. 2022, PaLM, arXiv 2204.02311: 46.2% MFU on TPU v4 (central); "
                                "range as the GPU spread (no second TPU figure)"),
    "trainium": ((0.25, 0.40, 0.72), "no published Trainium training MFU: the GPU range, flagged"),
    "gaudi": ((0.25, 0.40, 0.72), "no published Gaudi training MFU: the GPU range, flagged"),
}
QLORA_SLOWDOWN = 1.39  # Raschka 2023, 'Practical Tips for Finetuning LLMs Using LoRA': QLoRA +39% time vs LoRA
RECOMPUTE_FLOPS_PER_PARAM = 2.0  # activation checkpointing: one more forward pass (Chen et al. 2016)
DEFAULT_RANK = 64  # Guanaco recipe: lora_r 64 on all linear modules (artidoro/qlora finetune_guanaco_65b.sh)
DEFAULT_SEQ_TOKENS = 2048
GB = 1e9
TRAINING_FAMILIES = ("gpu", "tpu", "trainium", "gaudi")  # chips sold for training; the rest serve only


@dataclass(frozen=True)
class Memory:
    """Training memory in bytes: sharded state (splits over chips) and per-chip activations."""

    sharded_bytes: float  # weights + gradients + optimiser state on the chips
    activation_bytes: float  # per chip, micro-batch 1
    host_bytes: float = 0.0  # paged optimiser state allowed to spill to host RAM

    def per_chip(self, chips: int) -> float:
        return self.sharded_bytes / chips + self.activation_bytes


@dataclass(frozen=True)
class TrainingOption:
    hardware: str
    chips: int
    memory_per_chip_bytes: float  # at ``chips`` (at one chip when nothing fits)
    fits: bool
    hours: float | None  # central; None when it does not fit
    hours_low: float | None
    hours_high: float | None
    cost: float | None  # USD at the central hours; None without a fit or a price
    teacher_chips: int = 0  # distillation: chips generating the teacher's data
    reason: str = ""  # why it does not fit; when it fits, the toolchain (and checkpointing) used
    checkpointing: bool = False  # activation checkpointing: less memory, +2N FLOPs per token
    mfu: tuple[float, float, float] | None = None  # (low, central, high) of its chip family, where timed


@dataclass(frozen=True)
class Basis:
    """What the numbers rest on, for reports."""

    flops: float
    flops_formula: str
    memory_formula: str
    mfu: tuple[float, float, float]  # GPUs'; an option on another chip family carries its own (TrainingOption.mfu)
    sources: tuple[str, ...]


def _embedding_params(m: Model) -> float:
    return float(m.vocab_size * m.hidden_size * (1 if m.tied_embeddings else 2))


def adapter_params(m: Model, rank: int = DEFAULT_RANK) -> float:
    """LoRA parameters on every linear module: rank * (d_in + d_out) each (LoRA paper, M35)."""
    h, q, kv = m.hidden_size, m.heads * m.head_dim, m.kv_heads * m.head_dim
    attention = (h + q) + 2 * (h + kv) + (q + h)  # q, k, v, o projections
    mlp = 3 * (h + m.ffn_size) * m.experts  # gate, up, down (per expert for MoE)
    return float(rank * m.layers * (attention + mlp))


def training_memory(m: Model, method: str, *, rank: int = DEFAULT_RANK, seq_tokens: int = DEFAULT_SEQ_TOKENS,
                    checkpointing: bool = False) -> Memory:
    """Weights + gradients + optimiser state, and activations at micro-batch 1 (module docstring)."""
    n = m.params
    adapters = adapter_params(m, rank)
    host = 0.0
    if method in ("full", "distill"):
        state = n * ADAM_BYTES_PER_PARAM
    elif method == "lora":
        state = n * 2.0 + adapters * ADAM_BYTES_PER_PARAM  # frozen bf16 base + trained adapters
    elif method == "qlora":
        emb = _embedding_params(m)
        state = (n - emb) * NF4_BITS / 8 + emb * 2.0 + adapters * PAGED_ADAPTER_BYTES
        host = adapters * (ADAM_BYTES_PER_PARAM - PAGED_ADAPTER_BYTES)  # paged optimiser state
    else:
        raise InputError(f"unknown method {method!r} (one of {', '.join(METHODS)})", field="method")
    sh = float(seq_tokens * m.hidden_size)
    if checkpointing:
        acts = m.layers * CHECKPOINT_BYTES_PER_LAYER * sh + ACT_BYTES_PER_LAYER * sh  # inputs + one layer
    else:
        acts = m.layers * ACT_BYTES_PER_LAYER * sh
    acts += seq_tokens * m.vocab_size * LOGIT_BYTES
    return Memory(sharded_bytes=state, activation_bytes=acts, host_bytes=host)


def training_flops(m: Model, method: str, tokens: float, *, rank: int = DEFAULT_RANK,
                   checkpointing: bool = False) -> float:
    """FLOPs to train on ``tokens`` (module docstring); distill: the student's full fine-tune only."""
    n = m.active_params
    per_token = {"full": 6.0, "distill": 6.0, "lora": 4.0, "qlora": 4.0}.get(method)
    if per_token is None:
        raise InputError(f"unknown method {method!r} (one of {', '.join(METHODS)})", field="method")
    if checkpointing:
        per_token += RECOMPUTE_FLOPS_PER_PARAM  # a second forward pass (Chen et al. 2016)
    extra = 0.0 if method in ("full", "distill") else 6.0 * adapter_params(m, rank)
    return (per_token * n + extra) * tokens


def mfu(family: str, method: str) -> tuple[tuple[float, float, float], str]:
    """(low, central, high) MFU and its source for training with ``method`` on a chip family."""
    base, source = MFU_BY_FAMILY.get(family, (MFU, f"no published {family} training MFU: the GPU range, flagged"))
    if method != "qlora":
        return base, source
    slow = tuple(u / QLORA_SLOWDOWN for u in base)
    return (slow[0], slow[1], slow[2]), f"{source}; QLoRA / {QLORA_SLOWDOWN} (Raschka 2023: +39% time vs LoRA)"


def toolchain(catalog: Catalog, method: str, family: str) -> str | None:
    """The published toolchain that trains ``method`` on ``family`` chips; None: none is known.
    A catalog without toolchain data allows every training family."""
    chains = catalog.quality.toolchains
    if not chains:
        return "any" if family in TRAINING_FAMILIES else None
    return next((t.name for t in chains if t.method == method and family in t.families), None)


def multi_lora_bytes(m: Model, *, weight_bytes_per_param: float, adapters: int,
                     rank: int = DEFAULT_RANK) -> float:
    """Serving memory of one base with ``adapters`` 16-bit LoRA adapters (LoRAX / multi-LoRA)."""
    return m.params * weight_bytes_per_param + adapters * adapter_params(m, rank) * 2.0


def _chip_counts(hw: Hardware) -> list[int]:
    limit = hw.chips_per_node * (8 if hw.scale_out_bytes_per_s else 1)  # up to 8 nodes
    return [c for c in (1, 2, 4, 8, 16, 32, 64) if c <= limit] or [1]


def _usable(catalog: Catalog, hw: Hardware) -> float:
    """Bytes per chip a training process may fill: the chip's usable memory less the CUDA context and workspaces
    its default runtime's entry states (runtimes.yaml ``memory_overhead_gb``, 1.5-2 GB: the same driver context
    and library workspaces, which a trainer holds too). Without it llama-2-70b QLoRA "fit" one A100-80GB at
    85.58 of 85.90 GB, 0.3 GB left for the context, the allocator and the quantisation buffers."""
    runtime = catalog.runtimes.get(hw.default_runtime)
    context = runtime.memory_overhead_bytes if runtime is not None else 0.0
    return hw.memory_bytes * hw.memory_usable_fraction - context


def _smallest_fit(catalog: Catalog, hw: Hardware, mem: Memory) -> int | None:
    usable = _usable(catalog, hw)
    return next((c for c in _chip_counts(hw) if mem.per_chip(c) <= usable), None)


def _peak(hw: Hardware) -> float | None:
    return next((hw.peak_flops_per_s[p] for p in ("bf16", "fp16") if p in hw.peak_flops_per_s), None)


def _least_price(catalog: Catalog, hw: Hardware, pricing: Pricing | str) -> float | None:
    """The least price per chip-hour over the chip counts an option may take (a larger instance may be
    dearer or cheaper), memoised per catalog: ``cheapest_option`` bounds every chip with it, for every
    (model, precision) a search weighs (27,909 chip_rate lookups on domain-task before)."""
    def least() -> float | None:
        rates = [r.usd_per_chip_hour for n in _chip_counts(hw)
                 if isinstance(r := chip_rate(catalog, hw.id, pricing, chips_per_replica=n), ChipRate)]
        return min(rates) if rates else None

    return cached(catalog, ("least_price", hw.id, Pricing.of(pricing)), least)


def _generation_s(teacher: Model | None, tokens: float, peak: float, u: float) -> float:
    """Chip-seconds of a teacher generating ``tokens`` at MFU ``u`` (2 FLOPs per active parameter per
    token, forward only; 0 without a teacher): a floor, as if generation were compute-bound."""
    return 2.0 * teacher.active_params * tokens / (peak * u) if teacher is not None else 0.0


def _served_generation_s(catalog: Catalog, teacher: Model, hw: Hardware, chips: int, tokens: float,
                         seq_tokens: int) -> float | None:
    """Chip-seconds of ``chips`` chips serving the 16-bit teacher at its full batch
    (``planner.model.estimate``, max_throughput: decode reads the weights every step, and the KV cache
    bounds the batch) to generate ``tokens`` tokens, prompts and outputs each half a training sequence;
    None where the performance model cannot place the teacher there (its split or runtime); on a catalog at
    measured speed, the origin's figure where the slowing cannot reach the teacher on the chip
    (``measured_speed.origin_serving``)."""
    if (base := origin_serving(catalog, teacher.id, hw.id)) is not None:
        return _served_generation_s(base, teacher, hw, chips, tokens, seq_tokens)
    rate = cached(catalog, ("teacher_tokens_per_s", teacher.id, hw.id, chips, seq_tokens),
                  lambda: _teacher_tokens_per_s(catalog, teacher, hw, chips, seq_tokens))
    return None if rate is None else tokens / rate * chips


def _teacher_tokens_per_s(catalog: Catalog, teacher: Model, hw: Hardware, chips: int, seq_tokens: int) -> float | None:
    """``_served_generation_s``' throughput (tokens/s of the whole replica; None: not placed)."""
    from planner.model.estimate import Scenario, estimate, resolve

    tp = min(chips, hw.chips_per_node)
    try:
        config = resolve(catalog, model=teacher.id, hardware=hw.id, tp=tp, pp=chips // tp, chips=chips,
                         precision="bf16" if "bf16" in hw.peak_flops_per_s else "fp16")
        e = estimate(catalog, config, scenario=Scenario.MAX_THROUGHPUT, input_tokens=max(1, seq_tokens // 2),
                     output_tokens=max(1, seq_tokens // 2), check_order=False)  # (a throughput, not a chip choice)
    except InputError:
        return None
    return e.output_tokens_per_s if e.fits and e.output_tokens_per_s > 0 else None


def _option(catalog: Catalog, hw: Hardware, m: Model, method: str, tokens: float, teacher: Model | None,
            rank: int, seq_tokens: int, pricing: Pricing | str) -> TrainingOption:
    """The cheaper of with / without activation checkpointing that fits, on the fewest chips."""
    plain = _option_at(catalog, hw, m, method, tokens, teacher, rank, seq_tokens, pricing, checkpointing=False)
    ckpt = _option_at(catalog, hw, m, method, tokens, teacher, rank, seq_tokens, pricing, checkpointing=True)
    fits = [o for o in (plain, ckpt) if o.fits]
    if not fits:
        return ckpt  # the smaller-memory option's reason
    return min(fits, key=lambda o: (o.cost is None, o.cost or 0.0, o.hours or 0.0))


def _no_fit_reason(hw: Hardware, mem: Memory, peak: float | None) -> str:
    if peak is None:
        return "no 16-bit FLOPS in the catalog"
    most = _chip_counts(hw)[-1]
    why = f"needs {mem.per_chip(most) / GB:.0f} GB per chip at {most} chips"
    if not hw.scale_out_bytes_per_s:
        why += " (no scale-out network in the catalog, so ZeRO/FSDP sharding stops at one node)"
    return why


def _option_at(catalog: Catalog, hw: Hardware, m: Model, method: str, tokens: float, teacher: Model | None,
               rank: int, seq_tokens: int, pricing: Pricing | str, *, checkpointing: bool) -> TrainingOption:
    mem = training_memory(m, method, rank=rank, seq_tokens=seq_tokens, checkpointing=checkpointing)
    chips, peak = _smallest_fit(catalog, hw, mem), _peak(hw)
    chain = toolchain(catalog, method, hw.family)
    if chain is None:
        return TrainingOption(hw.id, 1, mem.per_chip(1), False, None, None, None, None,
                              reason=f"no published {method} toolchain for {hw.family} chips")
    if chips is None or peak is None:
        return TrainingOption(hw.id, _chip_counts(hw)[-1], mem.per_chip(_chip_counts(hw)[-1]), False,
                              None, None, None, None, reason=_no_fit_reason(hw, mem, peak))
    mfus, _ = mfu(hw.family, method)
    flops = training_flops(m, method, tokens, rank=rank, checkpointing=checkpointing)
    chip_seconds = [flops / (peak * u) for u in mfus]  # x chips = total
    t_chips = 0
    gen = [0.0, 0.0, 0.0]
    if method == "distill":
        assert teacher is not None
        fit = [c for c in _chip_counts(hw) if teacher.params * 2.0 / c  # 16-bit teacher weights
               <= _usable(catalog, hw)]
        if not fit:
            return TrainingOption(hw.id, chips, mem.per_chip(chips), False, None, None, None, None,
                                  reason=f"teacher {teacher.id} does not fit for generation")
        # the serving model's time where it places the teacher (decode is memory-bound: the compute floor
        # alone was ~17x short for a 72B teacher on two H100s), on the chip count that generates cheapest
        # (more chips than the weights need leave room for a larger batch), never below that floor
        served = {c: t for c in fit if (t := _served_generation_s(catalog, teacher, hw, c, tokens, seq_tokens))}

        def generation_cost(c: int) -> tuple[float, float, int]:  # (USD where priced, chip-seconds, chips)
            r = chip_rate(catalog, hw.id, pricing, chips_per_replica=c)
            usd = served[c] * r.usd_per_chip_hour if isinstance(r, ChipRate) else math.inf
            return usd, served[c], c

        t_chips = min(served, key=generation_cost) if served else fit[0]
        gen = [max(_generation_s(teacher, tokens, peak, u), served.get(t_chips, 0.0)) for u in mfus]
    # wall time: student on `chips`, teacher on `t_chips`, one after the other
    hours = [(flops / (peak * u) / chips + (g / t_chips if t_chips else 0.0)) / 3600.0
             for u, g in zip(mfus, gen, strict=True)]
    # each part at the price of the instances it runs on: the student's `chips`, the teacher's `t_chips`
    parts = [(chip_seconds[1], chip_rate(catalog, hw.id, pricing, chips_per_replica=chips), "")]
    if t_chips:
        parts.append((gen[1], chip_rate(catalog, hw.id, pricing, chips_per_replica=t_chips),
                      f" (the teacher's {t_chips} chips)"))
    missing = next((f"{r.reason}{whose}" for _s, r, whose in parts if not isinstance(r, ChipRate)), None)
    cost = None if missing else sum(s / 3600.0 * r.usd_per_chip_hour for s, r, _w in parts
                                    if isinstance(r, ChipRate))  # central chip-hours x price
    note = f"{chain}; activation checkpointing" if checkpointing else chain
    reason = note if missing is None else missing
    return TrainingOption(hw.id, chips, mem.per_chip(chips), True, hours[1], hours[2], hours[0], cost,
                          teacher_chips=t_chips, reason=reason,
                          checkpointing=checkpointing, mfu=(mfus[0], mfus[1], mfus[2]))


def _checked(catalog: Catalog, model: Model, method: str, dataset_tokens: float, epochs: float,
             teacher: Model | None, hardware: tuple[str, ...]) -> list[Hardware]:
    """The chips to cost (those given, else every training family's), once the inputs check out (a teacher
    only for distillation: the callers pass it on as it is)."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (one of {', '.join(METHODS)})", field="method")
    if not (dataset_tokens > 0 and math.isfinite(dataset_tokens)) or not epochs > 0:
        raise InputError("dataset tokens and epochs must be positive", field="dataset_tokens")
    if method == "distill" and (teacher is None or teacher.params <= model.params):
        raise InputError("distillation needs a teacher larger than the student", field="teacher")
    if method != "distill" and teacher is not None:  # (it was ignored: a cost without the teacher it named)
        raise InputError(f"a teacher is for distillation only; {method} adapts the model on the dataset as it is",
                         field="teacher")
    chips = [catalog.get_hardware(h, field_name=f"hardware.{i}") for i, h in enumerate(hardware)]  # unknown first
    for i, h in enumerate(hardware):  # then a repeat (it was costed twice)
        if h in hardware[:i]:
            raise InputError(f"{h!r} is listed twice", field=f"hardware.{i}")
    return chips or [hw for hw in catalog.hardware.values() if hw.family in TRAINING_FAMILIES]


def _rank_key(o: TrainingOption) -> tuple[bool, bool, float, float, str]:
    return (not o.fits, o.cost is None, o.cost or 0.0, o.hours or 0.0, o.hardware)


def adaptation_options(catalog: Catalog, *, model: Model, method: str, dataset_tokens: float,
                       epochs: float = 1.0, teacher: Model | None = None, hardware: tuple[str, ...] = (),
                       pricing: Pricing | str = "on_demand", rank: int = DEFAULT_RANK,
                       seq_tokens: int = DEFAULT_SEQ_TOKENS) -> tuple[list[TrainingOption], Basis]:
    """Every hardware (or those given) that can run the adaptation, cheapest first; misfits last."""
    chips = _checked(catalog, model, method, dataset_tokens, epochs, teacher, hardware)
    tokens = dataset_tokens * epochs
    options = [_option(catalog, hw, model, method, tokens, teacher, rank, seq_tokens, pricing) for hw in chips]
    options.sort(key=_rank_key)
    timed = sorted({catalog.hardware[o.hardware].family for o in options if o.mfu is not None} - {"gpu"})
    return options, _basis(model, method, tokens, teacher, other_families=tuple(timed))


def cheapest_option(catalog: Catalog, *, model: Model, method: str, dataset_tokens: float,
                    epochs: float = 1.0, teacher: Model | None = None, pricing: Pricing | str = "on_demand",
                    rank: int = DEFAULT_RANK, seq_tokens: int = DEFAULT_SEQ_TOKENS) -> TrainingOption | None:
    """``adaptation_options``' first option that fits and has a price (None: no such option), costing
    only the chips that can be it.

    An option's cost is its central chip-hours times the chip's price, and its chip-seconds
    (FLOPs / (peak x MFU), plus a teacher's generation) do not depend on how many chips share them.
    Without activation checkpointing the FLOPs are the fewest (checkpointing adds a forward pass),
    so that option's cost, computed as ``_option_at`` computes it, bounds the chip's cost from below
    whether or not it fits. Chips are costed in order of that bound until the bound exceeds the best
    cost found; ties in cost are still costed (hours, then the id, break them)."""
    chips = _checked(catalog, model, method, dataset_tokens, epochs, teacher, ())
    tokens = dataset_tokens * epochs
    flops = training_flops(model, method, tokens, rank=rank, checkpointing=False)
    bounds = []
    for hw in chips:
        peak = _peak(hw)
        least = _least_price(catalog, hw, pricing)
        if peak is None or least is None or toolchain(catalog, method, hw.family) is None:
            continue  # no option of this chip fits with a price
        u = mfu(hw.family, method)[0][1]  # the central MFU, as ``_option_at`` costs
        seconds = flops / (peak * u) + _generation_s(teacher, tokens, peak, u)
        bounds.append((seconds / 3600.0 * least, hw.id, hw))
    best: TrainingOption | None = None
    for bound, _id, hw in sorted(bounds, key=lambda b: (b[0], b[1])):
        if best is not None and best.cost is not None and bound > best.cost:
            break
        o = _option(catalog, hw, model, method, tokens, teacher, rank, seq_tokens, pricing)
        if o.fits and o.cost is not None and (best is None or _rank_key(o) < _rank_key(best)):
            best = o
    return best


def _basis(m: Model, method: str, tokens: float, teacher: Model | None, other_families: tuple[str, ...] = ()
           ) -> Basis:
    """The method's formulas, the GPU MFU range, and the sources (with the MFU source of every other chip
    family an option was timed on)."""
    flops = training_flops(m, method, tokens)
    formula = {"full": "6*N*D (+2*N*D with activation checkpointing)",
               "distill": "6*N_student*D (+2*N*D checkpointing) + 2*N_teacher*D (teacher generates D tokens)",
               "lora": "4*N*D + 6*N_adapter*D (+2*N*D with activation checkpointing)",
               "qlora": "4*N*D + 6*N_adapter*D (+2*N*D with activation checkpointing); MFU / 1.39"}
    if method == "distill" and teacher is not None:
        flops += 2.0 * teacher.active_params * tokens
    memory = {"full": "16 B/param (ZeRO-3 sharded) + activations 34*s*h*layers (2*s*h*layers + 34*s*h "
                      "checkpointed) + logits",
              "distill": "student: 16 B/param + activations; teacher: 2 B/param for generation",
              "lora": "2 B/param frozen base + 16 B/adapter param + activations 34*s*h*layers (or checkpointed)",
              "qlora": f"{NF4_BITS:.3f} bits/param NF4 base + 16-bit embeddings + 4 B/adapter param "
                       "(12 B paged to host) + activations 34*s*h*layers (or checkpointed 2*s*h*layers + 34*s*h)"}
    gpu_mfu, mfu_source = mfu("gpu", method)
    fits = "; fits where that leaves the chip's default runtime's context and workspaces free (runtimes.yaml)"
    return Basis(flops=flops, flops_formula=formula[method], memory_formula=memory[method] + fits, mfu=gpu_mfu,
                 sources=("Rajbhandari et al. 2020, ZeRO, arXiv 1910.02054: 16 B/param with mixed-precision Adam",
                          "Kaplan et al. 2020, arXiv 2001.08361: C = 6ND; inference 2N per token",
                          "Dettmers et al. 2023, QLoRA, arXiv 2305.14314: NF4, double quantisation, paged optimisers",
                          "Hu et al. 2022, LoRA, arXiv 2106.09685: ~25% faster training, 2/3 less memory",
                          mfu_source, *(f"{f}: {mfu(f, method)[1]}" for f in other_families),
                          "Korthikanti et al. 2022, arXiv 2205.05198: activation memory 34*s*b*h per layer",
                          "Chen et al. 2016, arXiv 1604.06174: activation checkpointing, one extra forward pass",
                          "Hsieh et al. 2023, distilling step-by-step, arXiv 2305.02301 (teacher rationales)"))
