"""Expert parallelism (EP) with data-parallel (DP) attention: the wide-EP replica of large MoE models.

A replica of N chips with ``ep = N`` runs the layout SGLang, vLLM and TensorRT-LLM use for
DeepSeek-class models (LMSYS blog 2025-05-05, "Deploying DeepSeek with PD Disaggregation and
Large-scale Expert Parallelism on 96 H100 GPUs", parallelism design): attention, dense MLPs and
the LM head are data parallel (each of the N ranks holds them whole and runs its own sequences),
the routed experts are split E / N per rank, and each MoE layer moves its tokens to the ranks of
their experts and back (all-to-all dispatch and combine; DeepEP).

Per chip, against the tensor-parallel replica of the same N chips (``planner.model.perf``):

    weights    dense part whole + routed experts / ep          (TP: everything / tp)
    KV cache   each rank holds only its own sequences' KV, whole: replica KV per sequence / N;
               MLA's latent is no longer copied to every rank  (TP with MLA: a full copy per rank)
    step       each rank reads the whole dense weights once per pass (in parallel with the others);
               attention reads each sequence's KV on one rank only; no tensor-parallel all-reduce;
               every MoE layer: dispatch + combine of tokens x hidden x 2 B x top-k (x 2 for the
               pair) bytes, of which (N - 1) / N leave the chip, over the scale-up link within a
               node; across nodes one copy per distinct remote node over the scale-out
               network plus the scale-up fan-out (``a2a_seconds_per_token``), plus one
               latency each; the expert compute and the all-to-all wait for the busiest rank
               (``IMBALANCE``).

Assumptions: ep = dp_attention = the replica's chips, pp = 1 (the layout the cited deployments
run); communication is not overlapped with compute (SGLang's two-batch overlap hides part of it:
the model is conservative there); dispatch payloads are taken at 16 bits (DeepEP dispatches FP8
in decode: the model overstates that half).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.model.grid import ACTIVATION_BYTES, Array, Grid

__all__ = ["IMBALANCE", "MIN_EXPERTS", "EpMemory", "EpStep", "a2a_seconds_per_token", "ep_memory",
           "ep_step", "expert_parallel_ok", "linear_flop_params", "routed_active_params"]

# Load imbalance gamma = (busiest EP rank's expert load) / (mean rank load), with an expert-placement
# balancer (DeepSeek EPLB, redundant hot experts). LMSYS 2025-05-05: with EPLB, SGLang's EP32 prefill
# came within 5.6% of DeepSeek's profile, which assumes perfect balance (a residual of >= ~1.06);
# LMSYS 2026-06-26 ("Improving DeepEP MoE Load Balance in SGLang with Waterfill and LPLB"): after EPLB,
# balancing the residual per batch still gains +0.84% to +7.34% throughput. Without a balancer the
# imbalance is larger (the upper end). Central 1.15 [derived from those two figures, not measured here].
IMBALANCE = 1.15
MIN_EXPERTS = 8  # EP is opt-in by model: MoE with at least this many routed experts
# the expert-parallel degrees searched (candidates.PARALLEL) and estimated: a search-space choice, not a model
# number (one 8-chip node and its multiples, the wide-EP deployments runtimes.yaml cites: SGLang's 96 H100,
# TensorRT-LLM's GB200 NVL72)
EP_RANKS = (8, 16, 32, 64)


def routed_active_params(grid: Grid) -> Array:
    """Routed-expert parameters one token runs through: k / E of them (0 without experts)."""
    moe = grid.experts > 1
    return np.asarray(np.where(moe, grid.expert_params * grid.experts_per_token / np.maximum(grid.experts, 1.0),
                               0.0), dtype=np.float64)


def linear_flop_params(grid: Grid) -> Array:
    """Active parameters as the linear layers' compute time sees them at the configured precision's
    linear peak (2 FLOPs each per token, M42): the routed experts' share divided by the runtime's
    MoE expert efficiency, the FLOP/s their grouped GEMMs reach as a share of the dense layers'
    (fitted per runtime by ``hwplan calibrate``: ``Calibration.moe_expert``; 1 where no MoE
    measurement was fitted); the other active parameters scaled by peak / their own peak, which
    is 1 unless an experts-only checkpoint leaves their matmuls at 16 bits
    (``planner.domain.Checkpoint``: bf16 weights run bf16 GEMMs)."""
    routed = routed_active_params(grid)
    slower = grid.peak_linear_flops_per_s / grid.peak_dense_flops_per_s - 1.0  # 0 without such a checkpoint
    return np.asarray(grid.active_params + routed * (1.0 / grid.moe_expert_efficiency - 1.0)
                      + (grid.active_params - routed) * slower, dtype=np.float64)


def expert_parallel_ok(*, experts: float, ep: int) -> bool:
    """Whether a model can run ``ep``-way expert parallelism: MoE with >= 8 experts, ep divides them."""
    return experts >= MIN_EXPERTS and ep > 1 and experts % ep == 0


@dataclass(frozen=True)
class EpStep:
    """StepModel coefficients of EP rows (seconds per unit; see ``planner.model.perf.StepModel``)."""

    linear_per_token: Array  # linear compute per token, the routed-expert share slowed by IMBALANCE
    dense_read_per_pass: Array  # each rank reads the dense weights whole
    kv_per_token_context: Array  # each sequence's KV read on one rank: / N, MLA no longer x N
    comm_per_token: Array  # all-to-all dispatch + combine
    comm_per_pass: Array  # their latencies
    pass_tokens: Array  # max_batched_tokens of the replica: each DP rank schedules its own
    imbalance: float = IMBALANCE  # the busiest rank's share over the mean (its expert reads too: planner.model.perf)


@dataclass(frozen=True)
class EpMemory:
    weights: Array  # bytes per chip
    kv_per_token: Array  # bytes per chip per token of a replica sequence (rank-local KV / N)


def a2a_seconds_per_token(grid: Grid) -> Array:
    """Seconds of all-to-all per token of the replica (dispatch + combine, every MoE layer), at one rank.

    A token's hidden state goes to the ranks of its top-k experts and comes back (bytes per copy:
    hidden x (dispatch bytes + 2 B combine); dispatch is FP8 where the expert weights are FP8 or
    narrower, as DeepEP's kernels do, else 16-bit). Within a node each of the k copies that leaves
    the chip crosses the scale-up link (one direction: half the vendor's bidirectional figure).
    Across M nodes the dispatch is
    hierarchical (DeepEP normal and low-latency kernels): one copy per distinct remote node over the
    scale-out network, whose catalog figure is per chip and per direction (a NIC's line rate), then a
    fan-out over the scale-up link; with uniform routing a token meets (M - 1)(1 - (1 - 1/M)^k)
    remote nodes on average. A rank sends T / N of the replica's T tokens.
    """
    n, k = grid.tp, grid.experts_per_token
    # dispatch at the GEMM's input precision (DeepEP dispatches FP8 to FP8 expert GEMMs), combine at 16 bits
    dispatch = np.minimum(grid.expert_weight_bytes, ACTIVATION_BYTES)
    copy = grid.moe_layers * grid.hidden * (dispatch + ACTIVATION_BYTES)  # every MoE layer
    scale_up = 0.5 * grid.link_bytes_per_s * grid.eff_communication
    in_node = copy * k * (n - 1.0) / n / scale_up
    nodes = np.ceil(n / np.maximum(grid.chips_per_node, 1.0))
    remote_nodes = (nodes - 1.0) * (1.0 - (1.0 - 1.0 / nodes) ** k)
    with np.errstate(divide="ignore", invalid="ignore"):
        rdma = copy * remote_nodes / (grid.scale_out_bytes_per_s * grid.eff_communication)
        across = rdma + copy * k / scale_up  # then the fan-out to the experts' chips in each node
    return np.asarray(np.where(nodes > 1, across, in_node) / n, dtype=np.float64)


def a2a_latency_s(grid: Grid) -> Array:
    """Latency of one dispatch or combine: the in-node collective latency, twice across nodes
    [assumption as ``planner.model.perf._allreduce_latency``: a network hop is no faster than the
    in-node fabric]."""
    return np.asarray(grid.collective_latency_s * np.where(grid.tp <= grid.chips_per_node, 1.0, 2.0),
                      dtype=np.float64)


def ep_step(grid: Grid, *, imbalance: float = IMBALANCE) -> EpStep:
    """Coefficients of the EP + DP-attention replica (module docstring); rows with ep = 1 are
    computed too and ignored by the caller."""
    n = grid.tp  # ranks: ep = dp_attention = chips of the replica
    moe = grid.experts > 1
    routed = routed_active_params(grid) / grid.moe_expert_efficiency  # at the dense layers' FLOP/s
    flops = 2.0 * (linear_flop_params(grid) + (imbalance - 1.0) * routed)  # M42: 2N, busiest rank's experts
    per_byte = 1.0 / (grid.memory_bandwidth_bytes_per_s * grid.eff_memory)  # one chip's HBM
    return EpStep(
        linear_per_token=flops / (n * grid.peak_linear_flops_per_s * grid.eff_compute),
        dense_read_per_pass=(grid.params - np.where(moe, grid.expert_params, 0.0)) * grid.dense_weight_bytes
        * per_byte,
        kv_per_token_context=grid.layers * grid.kv_per_layer * grid.kv_bytes * per_byte / n,
        comm_per_token=imbalance * a2a_seconds_per_token(grid),  # the busiest rank's share
        comm_per_pass=2.0 * grid.moe_layers * a2a_latency_s(grid),
        pass_tokens=grid.max_batched_tokens * n,
        imbalance=imbalance,
    )


def ep_memory(grid: Grid) -> EpMemory:
    """Weights and KV bytes per chip of the EP + DP-attention replica (module docstring)."""
    moe = grid.experts > 1
    expert = np.where(moe, grid.expert_params, 0.0)
    whole_kv = grid.layers * grid.kv_per_layer * grid.kv_bytes  # per token, no tensor-parallel split
    whole = (grid.params - expert) + expert / grid.ep  # parameters per chip
    # = whole x dense bytes exactly when the two figures agree (planner.model.perf.weights_bytes)
    return EpMemory(weights=whole * grid.dense_weight_bytes
                    + expert / grid.ep * (grid.expert_weight_bytes - grid.dense_weight_bytes),
                    kv_per_token=whole_kv / grid.tp)
