"""The performance model: memory per chip and the time of one forward pass, over a Grid.

Every function is pure and keyword-only; arguments broadcast against the grid's rows, so one
call evaluates a whole grid. SI units inside: bytes, seconds, FLOP, FLOP/s.

A forward pass ("step") of a serving engine processes ``decode_tokens`` sequences that each add
one token at mean context ``decode_context``, plus ``prefill_tokens`` new prompt tokens of
prompts of length ``prefill_context`` (chunked prefill mixes both, as vLLM, SGLang and
TensorRT-LLM do). Its time is a calibrated roofline, per operator class:

    linear    max(2 * N_active * tokens / (peak * e_c),  weight_bytes_read / (bw * e_m))
    attention max(attention FLOPs / (peak16 * e_c),      KV bytes read+written / (bw * e_m))
    comm      tensor-parallel all-reduce (ring) and pipeline send over the interconnect
    overhead  fixed cost per pass (kernel launch, scheduling, sampling)

FLOP counts follow Kaplan et al. 2020 (2N per token, M42) plus attention's context term
(4 * layers * heads * head_dim * context per token: QK^T and AV). Pipeline stages run one after
another for a given token, so pp divides memory per chip, not a step's latency; with a decode
batch of B >= pp sequences, pp microbatches keep all stages busy, so an iteration costs one
full-model step of B / pp tokens (GPipe microbatching, Huang et al. 2019).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.grid import ACTIVATION_BYTES, Array, Grid

__all__ = ["Memory", "StepTime", "kv_bytes_per_token", "memory", "step_time"]


@dataclass(frozen=True)
class Memory:
    """Bytes per chip of a replica at a given batch; ``max_batch`` = sequences that fit."""

    weights: Array
    kv_cache: Array
    activations: Array
    overhead: Array
    total: Array
    capacity: Array
    max_batch: Array  # largest number of concurrent sequences whose KV fits (0 = none)


@dataclass(frozen=True)
class StepTime:
    """Seconds of one or more forward passes, by component."""

    compute: Array  # compute-bound part of linear + attention (where compute is the max)
    memory: Array  # memory-bound part
    communication: Array
    overhead: Array
    total: Array


def kv_bytes_per_token(grid: Grid) -> Array:
    """KV-cache bytes per token per chip: K and V, layers split by pp, KV heads split by tp.

    With fewer KV heads than tp (GQA/MQA), heads are replicated: ceil(kv_heads / tp) per chip.
    """
    kv_heads_per_chip = np.ceil(grid.kv_heads / grid.tp)  # replicated when kv_heads < tp
    layers_per_chip = np.ceil(grid.layers / grid.pp)
    return 2.0 * layers_per_chip * kv_heads_per_chip * grid.head_dim * grid.kv_bytes  # 2 = K and V


def memory(grid: Grid, *, batch: npt.ArrayLike, context_tokens: npt.ArrayLike) -> Memory:
    """Memory per chip at ``batch`` sequences of ``context_tokens`` (input + output) each.

    weights      params * bytes/param / (tp * pp)  (embeddings split like the rest)
    KV cache     batch * context * kv_bytes_per_token * (1 + waste)  (paged engines waste <4%, M48)
    activations  peak transient of one pass over min(batch * context, max_batched_tokens)
                 tokens [D: counted from one decoder layer's tensor shapes; inference frees each
                 layer's activations before the next, so one layer is live]: the residual stream,
                 the attention input and output and the fused QKV (together at most 4 * hidden
                 per token), and the MLP's gate and up projections (2 * ffn, split by tp), all
                 16-bit; plus the fp32 logits of the decode batch (vocab / tp each). This is the
                 quantity vLLM's start-up profiling pass measures before it sizes the KV cache.
    overhead     engine context and graphs, plus the share of memory the engine leaves unused
    """
    batch = np.asarray(batch, dtype=np.float64)
    context = np.asarray(context_tokens, dtype=np.float64)
    capacity = grid.memory_capacity_bytes
    weights = grid.params * grid.weight_bytes / (grid.tp * grid.pp)
    kv_per_seq = context * kv_bytes_per_token(grid) * (1.0 + grid.kv_waste_fraction)
    chunk = np.minimum(np.maximum(batch, 1.0) * context, grid.max_batched_tokens)
    activations = (
        chunk * ACTIVATION_BYTES * (4.0 * grid.hidden + 2.0 * grid.ffn / grid.tp)  # one layer live
        + np.minimum(batch, grid.max_batched_tokens) * 4.0 * grid.vocab / grid.tp  # 4 B: fp32 logits
    )
    overhead = grid.memory_overhead_bytes + grid.memory_reserve_fraction * capacity
    free_for_kv = capacity - weights - activations - overhead
    max_batch = np.where(free_for_kv > 0, np.floor(free_for_kv / kv_per_seq), 0.0)
    kv = batch * kv_per_seq
    return Memory(
        weights=weights,
        kv_cache=kv,
        activations=activations,
        overhead=overhead,
        total=weights + kv + activations + overhead,
        capacity=capacity,
        max_batch=max_batch,
    )


def _weight_bytes_read(grid: Grid, tokens: Array) -> Array:
    """Weight bytes one pass over ``tokens`` tokens reads (whole replica).

    MoE: each token routes to experts_per_token of the experts, so a pass touches
    E * (1 - (1 - k/E)^tokens) experts per layer in expectation (uniform routing).
    """
    dense = grid.params - grid.expert_params
    share = np.where(
        grid.experts > 1,
        1.0 - (1.0 - grid.experts_per_token / grid.experts) ** np.maximum(tokens, 1.0),
        0.0,
    )
    return (dense + grid.expert_params * share) * grid.weight_bytes


def _allreduce_time(grid: Grid, payload_bytes: Array) -> Array:
    """Ring all-reduce of ``payload_bytes`` over tp chips, per call.

    Each chip sends and receives 2 (tp - 1) / tp * payload (ring algorithm); the vendor link
    figure is a bidirectional aggregate, so one direction gets half of it.
    """
    in_node = grid.tp <= grid.chips_per_node
    # A full mesh splits the chip's figure over its direct links; tp - 1 of them carry the collective.
    mesh_share = np.where(grid.mesh_links > 0, np.minimum((grid.tp - 1.0) / np.maximum(grid.mesh_links, 1.0), 1.0),
                          1.0)
    link = np.where(in_node, grid.link_bytes_per_s * mesh_share, grid.scale_out_bytes_per_s)
    one_way = 0.5 * link * grid.eff_communication
    moved = 2.0 * (grid.tp - 1.0) / grid.tp * payload_bytes
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(grid.tp > 1, moved / one_way + grid.collective_latency_s, 0.0)


def step_time(
    grid: Grid,
    *,
    decode_tokens: npt.ArrayLike,
    decode_context: npt.ArrayLike,
    prefill_tokens: npt.ArrayLike = 0.0,
    prefill_context: npt.ArrayLike = 0.0,
) -> StepTime:
    """Time to run ``decode_tokens`` decode tokens and ``prefill_tokens`` prompt tokens.

    Work beyond ``max_batched_tokens`` is split into several passes, each of which reads the
    weights again and pays the per-pass overhead.
    """
    d_all = np.asarray(decode_tokens, dtype=np.float64)
    d_ctx = np.asarray(decode_context, dtype=np.float64)
    p_all = np.asarray(prefill_tokens, dtype=np.float64)
    p_ctx = np.asarray(prefill_context, dtype=np.float64)
    # Pipeline parallelism: the decode batch is split into up to pp microbatches that occupy the
    # pp stages at once (GPipe-style). Every sequence still passes all stages, so one iteration
    # lasts one full-model step of a microbatch: work per step is divided by the microbatches.
    microbatches = np.minimum(np.maximum(d_all, 1.0), grid.pp)
    d = d_all / microbatches
    p = p_all / microbatches
    tokens = d + p
    passes = np.maximum(np.ceil(tokens / grid.max_batched_tokens), 1.0)
    tokens_per_pass = tokens / passes

    per_head_layer = grid.layers * grid.heads * grid.head_dim
    linear_flops = 2.0 * grid.active_params * tokens  # M42: 2N FLOPs per token
    attention_flops = 4.0 * per_head_layer * (d * d_ctx + p * p_ctx / 2.0)  # causal prefill: half
    weight_bytes = passes * _weight_bytes_read(grid, tokens_per_pass)
    kv_token = 2.0 * grid.layers * grid.kv_heads * grid.head_dim * grid.kv_bytes  # whole replica
    kv_bytes = kv_token * (d * d_ctx + tokens)  # read the cache of decode tokens, write new K/V

    tp = grid.tp
    linear_c = linear_flops / (tp * grid.peak_linear_flops_per_s * grid.eff_compute)
    linear_m = weight_bytes / (tp * grid.memory_bandwidth_bytes_per_s * grid.eff_memory)
    attn_c = attention_flops / (tp * grid.peak_attention_flops_per_s * grid.eff_compute)
    attn_m = kv_bytes / (tp * grid.memory_bandwidth_bytes_per_s * grid.eff_memory)
    linear = np.maximum(linear_c, linear_m)
    attention = np.maximum(attn_c, attn_m)
    compute = np.where(linear_c >= linear_m, linear, 0.0) + np.where(attn_c >= attn_m, attention, 0.0)
    mem = linear + attention - compute

    payload = tokens_per_pass * grid.hidden * ACTIVATION_BYTES
    allreduce = 2.0 * grid.layers * _allreduce_time(grid, payload)  # after attention and MLP
    send_link = np.where(grid.tp * grid.pp <= grid.chips_per_node,
                         grid.link_bytes_per_s, grid.scale_out_bytes_per_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        pp_send = np.where(grid.pp > 1, (grid.pp - 1.0) * (
            payload / (0.5 * send_link * grid.eff_communication) + grid.collective_latency_s), 0.0)
    communication = passes * (allreduce + pp_send)
    overhead = passes * grid.step_overhead_s
    return StepTime(
        compute=compute,
        memory=mem,
        communication=communication,
        overhead=overhead,
        total=linear + attention + communication + overhead,
    )
