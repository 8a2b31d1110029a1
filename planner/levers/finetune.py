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

Activations (Korthikanti et al. 2022, 'Reducing Activation Recomputation', [U not re-read]):
34*s*h bytes per layer at 16 bit with FlashAttention (no s^2 score matrix); with gradient
checkpointing only each layer's 2*s*h input is kept, plus one layer being recomputed. Logits: s *
vocab * 4 bytes.

FLOPs per training token (Kaplan et al., M42: forward 2N, backward 4N = 2N activation gradients +
2N weight gradients):

    full     6N
    lora     4N: frozen weights need no weight gradients (LoRA paper: ~25% faster than full, M35)
    qlora    6N: 4N plus a 2N forward recompute for gradient checkpointing (the Guanaco recipe)
    adapters 6 * adapter params, on top

Time = FLOPs / (chips * 16-bit peak * MFU); MFU 0.405 (Llama 3 405B pre-training on H100 reached
38-43%, M54; midpoint), range 0.25 (FlashAttention-1's low end on A100, M45) to 0.72
(FlashAttention-2 end-to-end GPT training, M45). Distillation adds the teacher generating the
dataset: 2 * N_teacher FLOPs per token (M42) at the same MFU, on as many chips as its 16-bit
weights need (KV cache not counted, so a lower bound).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.domain import Catalog, Hardware, Model
from planner.errors import InputError

__all__ = ["ADAM_BYTES_PER_PARAM", "MFU", "METHODS", "NF4_BITS", "Basis", "Memory", "TrainingOption",
           "adapter_params", "adaptation_options", "multi_lora_bytes", "training_flops", "training_memory"]

METHODS = ("lora", "qlora", "full", "distill")
ADAM_BYTES_PER_PARAM = 16.0  # 2 + 2 + 12 (M37 'K=12', M38)
PAGED_ADAPTER_BYTES = 4.0  # QLoRA adapters on chip: 2 B bf16 weights + 2 B gradients (M33)
NF4_BITS = 4 + 8 / 64 + 32 / (64 * 256)  # NF4 + double-quantised block constants (QLoRA section 3)
ACT_BYTES_PER_LAYER = 34.0  # x s*h bytes, 16-bit, FlashAttention (Korthikanti et al. 2022)
CHECKPOINT_BYTES_PER_LAYER = 2.0  # x s*h bytes: a 16-bit layer input kept under checkpointing
LOGIT_BYTES = 4.0  # FP32 logits per vocab entry per token
MFU = (0.25, 0.405, 0.72)  # low, central, high (M45, M54, M45)
DEFAULT_RANK = 64  # Guanaco recipe: lora_r 64 on all linear modules (artidoro/qlora finetune_guanaco_65b.sh)
DEFAULT_SEQ_TOKENS = 2048
CHECKPOINTING = {"full": False, "lora": False, "qlora": True, "distill": False}
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
    reason: str = ""


@dataclass(frozen=True)
class Basis:
    """What the numbers rest on, for reports."""

    flops: float
    flops_formula: str
    memory_formula: str
    mfu: tuple[float, float, float]
    sources: tuple[str, ...]


def _embedding_params(m: Model) -> float:
    return float(m.vocab_size * m.hidden_size * (1 if m.tied_embeddings else 2))


def adapter_params(m: Model, rank: int = DEFAULT_RANK) -> float:
    """LoRA parameters on every linear module: rank * (d_in + d_out) each (LoRA paper, M35)."""
    h, q, kv = m.hidden_size, m.heads * m.head_dim, m.kv_heads * m.head_dim
    attention = (h + q) + 2 * (h + kv) + (q + h)  # q, k, v, o projections
    mlp = 3 * (h + m.ffn_size) * m.experts  # gate, up, down (per expert for MoE)
    return float(rank * m.layers * (attention + mlp))


def training_memory(m: Model, method: str, *, rank: int = DEFAULT_RANK,
                    seq_tokens: int = DEFAULT_SEQ_TOKENS) -> Memory:
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
    if CHECKPOINTING[method]:
        acts = m.layers * CHECKPOINT_BYTES_PER_LAYER * sh + ACT_BYTES_PER_LAYER * sh
    else:
        acts = m.layers * ACT_BYTES_PER_LAYER * sh
    acts += seq_tokens * m.vocab_size * LOGIT_BYTES
    return Memory(sharded_bytes=state, activation_bytes=acts, host_bytes=host)


def training_flops(m: Model, method: str, tokens: float, *, rank: int = DEFAULT_RANK) -> float:
    """FLOPs to train on ``tokens`` (module docstring); distill: the student's full fine-tune only."""
    n = m.active_params
    per_token = {"full": 6.0, "distill": 6.0, "lora": 4.0, "qlora": 6.0}.get(method)
    if per_token is None:
        raise InputError(f"unknown method {method!r} (one of {', '.join(METHODS)})", field="method")
    extra = 0.0 if method in ("full", "distill") else 6.0 * adapter_params(m, rank)
    return (per_token * n + extra) * tokens


def multi_lora_bytes(m: Model, *, weight_bytes_per_param: float, adapters: int,
                     rank: int = DEFAULT_RANK) -> float:
    """Serving memory of one base with ``adapters`` 16-bit LoRA adapters (LoRAX / multi-LoRA)."""
    return m.params * weight_bytes_per_param + adapters * adapter_params(m, rank) * 2.0


def _chip_counts(hw: Hardware) -> list[int]:
    limit = hw.chips_per_node * (8 if hw.scale_out_bytes_per_s else 1)  # up to 8 nodes
    return [c for c in (1, 2, 4, 8, 16, 32, 64) if c <= limit] or [1]


def _smallest_fit(hw: Hardware, mem: Memory) -> int | None:
    usable = hw.memory_bytes * hw.memory_usable_fraction
    return next((c for c in _chip_counts(hw) if mem.per_chip(c) <= usable), None)


def _peak(hw: Hardware) -> float | None:
    return next((hw.peak_flops_per_s[p] for p in ("bf16", "fp16") if p in hw.peak_flops_per_s), None)


def _option(hw: Hardware, m: Model, method: str, tokens: float, teacher: Model | None, rank: int,
            seq_tokens: int, pricing: str) -> TrainingOption:
    mem = training_memory(m, method, rank=rank, seq_tokens=seq_tokens)
    chips, peak = _smallest_fit(hw, mem), _peak(hw)
    if hw.family not in TRAINING_FAMILIES:
        return TrainingOption(hw.id, 1, mem.per_chip(1), False, None, None, None, None,
                              reason=f"{hw.family} chips are not used for training in this model")
    if chips is None or peak is None:
        why = "no 16-bit FLOPS in the catalog" if peak is None else \
            f"needs {mem.per_chip(_chip_counts(hw)[-1]) / GB:.0f} GB per chip at {_chip_counts(hw)[-1]} chips"
        return TrainingOption(hw.id, _chip_counts(hw)[-1], mem.per_chip(_chip_counts(hw)[-1]), False,
                              None, None, None, None, reason=why)
    chip_seconds = [training_flops(m, method, tokens, rank=rank) / (peak * u) for u in MFU]  # x chips = total
    t_chips = 0
    if method == "distill":
        assert teacher is not None
        t_chips = next((c for c in _chip_counts(hw) if teacher.params * 2.0 / c  # 16-bit teacher weights
                        <= hw.memory_bytes * hw.memory_usable_fraction), 0)
        if not t_chips:
            return TrainingOption(hw.id, chips, mem.per_chip(chips), False, None, None, None, None,
                                  reason=f"teacher {teacher.id} does not fit for generation")
        gen = [2.0 * teacher.active_params * tokens / (peak * u) for u in MFU]  # chip-seconds
        chip_seconds = [s + g for s, g in zip(chip_seconds, gen, strict=True)]
    # wall time: student on `chips`, teacher on `t_chips`, one after the other
    hours = [_wall_hours(m, method, tokens, teacher, rank, peak, u, chips, t_chips) for u in MFU]
    price = hw.price(pricing)
    cost = None if price is None else chip_seconds[1] / 3600.0 * price  # central chip-hours x price
    return TrainingOption(hw.id, chips, mem.per_chip(chips), True, hours[1], hours[2], hours[0], cost,
                          teacher_chips=t_chips, reason="" if price is not None else f"no {pricing} price")


def _wall_hours(m: Model, method: str, tokens: float, teacher: Model | None, rank: int, peak: float,
                mfu: float, chips: int, t_chips: int) -> float:
    seconds = training_flops(m, method, tokens, rank=rank) / (chips * peak * mfu)
    if teacher is not None and t_chips:
        seconds += 2.0 * teacher.active_params * tokens / (t_chips * peak * mfu)
    return seconds / 3600.0


def adaptation_options(catalog: Catalog, *, model: Model, method: str, dataset_tokens: float,
                       epochs: float = 1.0, teacher: Model | None = None, hardware: tuple[str, ...] = (),
                       pricing: str = "on_demand", rank: int = DEFAULT_RANK,
                       seq_tokens: int = DEFAULT_SEQ_TOKENS) -> tuple[list[TrainingOption], Basis]:
    """Every hardware (or those given) that can run the adaptation, cheapest first; misfits last."""
    if method not in METHODS:
        raise InputError(f"unknown method {method!r} (one of {', '.join(METHODS)})", field="method")
    if not (dataset_tokens > 0 and math.isfinite(dataset_tokens)) or not epochs > 0:
        raise InputError("dataset tokens and epochs must be positive", field="dataset_tokens")
    if method == "distill" and (teacher is None or teacher.params <= model.params):
        raise InputError("distillation needs a teacher larger than the student", field="teacher")
    tokens = dataset_tokens * epochs
    chips = [catalog.get_hardware(h) for h in hardware] or \
        [hw for hw in catalog.hardware.values() if hw.family in TRAINING_FAMILIES]
    options = [_option(hw, model, method, tokens, teacher if method == "distill" else None, rank,
                       seq_tokens, pricing) for hw in chips]
    options.sort(key=lambda o: (not o.fits, o.cost is None, o.cost or 0.0, o.hours or 0.0, o.hardware))
    return options, _basis(model, method, tokens, teacher)


def _basis(m: Model, method: str, tokens: float, teacher: Model | None) -> Basis:
    flops = training_flops(m, method, tokens)
    formula = {"full": "6*N*D", "distill": "6*N_student*D + 2*N_teacher*D (teacher generates D tokens)",
               "lora": "4*N*D + 6*N_adapter*D",
               "qlora": "6*N*D (4ND + 2ND checkpoint recompute) + 6*N_adapter*D"}
    if method == "distill" and teacher is not None:
        flops += 2.0 * teacher.active_params * tokens
    memory = {"full": "16 B/param (ZeRO-3 sharded) + activations 34*s*h*layers + logits",
              "distill": "student: 16 B/param + activations; teacher: 2 B/param for generation",
              "lora": "2 B/param frozen base + 16 B/adapter param + activations 34*s*h*layers",
              "qlora": f"{NF4_BITS:.3f} bits/param NF4 base + 16-bit embeddings + 4 B/adapter param "
                       "(12 B paged to host) + checkpointed activations 2*s*h*layers + 34*s*h"}
    return Basis(flops=flops, flops_formula=formula[method], memory_formula=memory[method], mfu=MFU,
                 sources=("M37/M38 16 bytes per parameter with Adam", "M42 C = 6ND; inference 2N per token",
                          "M33/M34 QLoRA: NF4, double quantisation, paged optimisers",
                          "M35 LoRA: ~25% faster, 2/3 less memory", "M54 38-43% MFU (Llama 3, H100)",
                          "M45 FlashAttention-2: 72% MFU; FA1 25-40%",
                          "Korthikanti et al. 2022 activation memory 34*s*b*h per layer [U]",
                          "M40 distilling step-by-step (teacher-generated rationales)"))
