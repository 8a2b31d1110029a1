"""The performance model: memory per chip and the time of one forward pass, over a Grid.

Every function is pure and keyword-only; arguments broadcast against the grid's rows, so one
call evaluates a whole grid. SI units inside: bytes, seconds, FLOP, FLOP/s.

A forward pass ("step") of a serving engine processes ``decode_tokens`` sequences that each add
one token at mean context ``decode_context``, plus ``prefill_tokens`` new prompt tokens of
prompts of length ``prefill_context`` (chunked prefill mixes both, as vLLM, SGLang and
TensorRT-LLM do). Its time is a calibrated roofline, per operator class:

    linear    max(2 * N_active * tokens / (peak * e_c),  weight_bytes_read / (bw * e_m))
              (an experts-only checkpoint: the experts at the configured precision's peak and
              bytes, the other matmuls at 16 bits: ``planner.model.moe.linear_flop_params``)
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

import copy
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from planner.model.attention import attended_context, prefill_attended_context
from planner.model.grid import ACTIVATION_BYTES, Array, Grid, Rows
from planner.model.moe import ep_memory, ep_step, linear_flop_params

__all__ = ["FloorPair", "Memory", "MemoryCoefficients", "MemoryModel", "StepCoefficients", "StepModel", "StepTime",
           "kv_bytes_per_token", "memory", "step_time", "touched_share", "weights_bytes"]

_SURE_EXPONENT = -40.0  # e^x below 2^-54 for x at or below it: 1 - e^x rounds to 1.0 exactly


def touched_share(log_expert_miss: Array, tokens: npt.ArrayLike) -> Array:
    """The share of a layer's routed experts a pass of ``tokens`` tokens touches, each token routing to k of E:
    1 - (1 - k/E)^tokens, with ``log_expert_miss`` = log(1 - k/E) (-inf for a dense row: 1, over no experts). The
    exponent is held at -40, where 1 - e^x is 1.0 to the bit: a pass of thousands of tokens underflows e^x, and
    numpy's exp takes a scalar path ~15-100x slower for each result that is subnormal or 0."""
    return np.asarray(1.0 - np.exp(np.maximum(log_expert_miss * np.maximum(tokens, 1.0), _SURE_EXPONENT)),
                      dtype=np.float64)


@dataclass(frozen=True)
class Memory:
    """Bytes per chip of a replica at a given batch; ``max_batch`` = sequences that fit."""

    weights: Array
    kv_cache: Array
    activations: Array
    overhead: Array
    total: Array
    capacity: Array
    max_batch: Array  # largest number of concurrent sequences that fit beside their own activations (0 = none)


@dataclass(frozen=True)
class StepTime:
    """Seconds of one or more forward passes, by component."""

    compute: Array  # compute-bound part of linear + attention (where compute is the max)
    memory: Array  # memory-bound part
    communication: Array
    overhead: Array
    total: Array


def weights_bytes(grid: Grid) -> Array:
    """Bytes of a replica's weights: the routed experts at their bytes per parameter, the others at
    theirs (the same figure unless an experts-only checkpoint: ``planner.domain.Model.weight_format``)."""
    expert = np.where(grid.experts > 1, grid.expert_params, 0.0)
    # = params x dense bytes exactly when the two figures agree
    return np.asarray(grid.params * grid.dense_weight_bytes
                      + expert * (grid.expert_weight_bytes - grid.dense_weight_bytes), dtype=np.float64)


def kv_shards_per_chip(grid: Grid) -> Array:
    """KV shards (GQA's KV heads; MLA's one latent) a chip holds: the tp x r ranks of a replica (r ranks a chip:
    NeuronCores, which Neuron's runtimes count tp in) each hold ceil(kv_shards / (tp r)), replicated where there
    are fewer shards than ranks."""
    ranks = grid.tp_ranks_per_chip
    return np.asarray(ranks * np.ceil(grid.kv_shards / (grid.tp * ranks)), dtype=np.float64)


def kv_bytes_per_token(grid: Grid) -> Array:
    """KV-cache bytes per token per chip: layers split by pp, KV shards (GQA's KV heads) by the tensor-parallel
    ranks (``kv_shards_per_chip``: replicated when fewer; MLA's latent is one shard every rank holds). Sliding
    windows cap the tokens held (``attended_context``).
    """
    layers_per_chip = np.ceil(grid.layers / grid.pp)
    return layers_per_chip * kv_shards_per_chip(grid) * (grid.kv_per_layer / grid.kv_shards) * grid.kv_bytes


@dataclass(frozen=True)
class MemoryCoefficients(Rows):
    """``memory`` reduced to per-row constants (bytes per chip unless stated; see ``memory``)."""

    capacity_bytes: Array  # usable memory of the chip
    weight_bytes: Array  # this chip's share of the weights
    overhead_bytes: Array  # engine context and graphs, plus the share the engine leaves unused
    kv_bytes_per_token: Array  # including paging waste
    slot_kv_bytes_per_token: Array  # an engine without paged KV: a slot's cache per token of its length; else 0
    activation_bytes_per_token: Array  # of the tokens of one pass (one layer live)
    logits_bytes_per_sequence: Array  # fp32 logits of a decoding sequence
    max_batched_tokens: Array  # the pass's token budget (tokens)
    max_concurrency: Array  # the scheduler's cap on concurrent sequences (inf = none)
    window_tokens: Array  # sliding-window layers hold at most this many tokens (inf = none)
    full_attention_fraction: Array  # share of layers with full attention (planner.model.attention)


class MemoryModel:
    """``memory`` over per-row ``MemoryCoefficients``, built once for rows evaluated at many batches."""

    def __init__(self, coefficients: MemoryCoefficients) -> None:
        self.coefficients = coefficients

    def __len__(self) -> int:
        return len(self.coefficients)

    @classmethod
    def build(cls, grid: Grid) -> MemoryModel:
        capacity = grid.memory_capacity_bytes
        kv = kv_bytes_per_token(grid)
        coefficients = MemoryCoefficients(
            capacity_bytes=capacity,
            weight_bytes=weights_bytes(grid) / (grid.tp * grid.pp),
            overhead_bytes=grid.memory_overhead_bytes + grid.memory_reserve_fraction * capacity,
            kv_bytes_per_token=kv * (1.0 + grid.kv_waste_fraction),
            slot_kv_bytes_per_token=kv * grid.slot_reserved,
            activation_bytes_per_token=ACTIVATION_BYTES * (4.0 * grid.hidden + 2.0 * grid.ffn / grid.tp),
            logits_bytes_per_sequence=4.0 * grid.vocab / grid.tp,  # 4 B: fp32 logits
            max_batched_tokens=grid.max_batched_tokens,
            max_concurrency=grid.max_concurrency,
            window_tokens=grid.window,
            full_attention_fraction=grid.full_fraction,
        )
        if np.any(grid.ep > 1):  # expert parallelism + DP attention (planner.model.moe)
            ep, on = ep_memory(grid), grid.ep > 1
            coefficients = replace(
                coefficients, weight_bytes=np.where(on, ep.weights, coefficients.weight_bytes),
                kv_bytes_per_token=np.where(on, ep.kv_per_token * (1.0 + grid.kv_waste_fraction),
                                            coefficients.kv_bytes_per_token),
                slot_kv_bytes_per_token=np.where(on, ep.kv_per_token * grid.slot_reserved,
                                                 coefficients.slot_kv_bytes_per_token))
        return cls(coefficients)

    def take(self, rows: npt.NDArray[np.intp]) -> MemoryModel:
        return MemoryModel(self.coefficients.take(rows))

    def operating_batch(self, *, cap: npt.ArrayLike, input_tokens: npt.ArrayLike,
                        output_tokens: npt.ArrayLike, slot_tokens: float | None = None) -> Array:
        """Largest concurrency: what fits in memory, the scheduler's cap and the caller's cap (``slot_tokens``: as
        ``parts``)."""
        context = np.asarray(input_tokens, dtype=np.float64) + np.asarray(output_tokens, dtype=np.float64)
        fit = self.fitting_batch(context, slot_tokens)
        return np.asarray(np.minimum(np.minimum(fit, self.coefficients.max_concurrency),
                                     np.asarray(cap, dtype=np.float64)), dtype=np.float64)

    def fitting_batch(self, context_tokens: npt.ArrayLike, slot_tokens: float | None = None) -> Array:
        """The most sequences of ``context_tokens`` that fit beside their own activations (``parts``)."""
        context = np.asarray(context_tokens, dtype=np.float64)
        return self._fitting(context, self._kv_per_sequence(context, slot_tokens))

    def _kv_per_sequence(self, context: Array, slot_tokens: float | None = None) -> Array:
        """A sequence's KV cache: its context's (with the paging waste); where the engine has no paged KV cache,
        at least its slot's whole length (``slot_tokens``, the workload's: ``queueing.slot_tokens``)."""
        c = self.coefficients
        kv = attended_context(context, c.window_tokens, c.full_attention_fraction) * c.kv_bytes_per_token
        if slot_tokens is None:
            return kv
        slot = attended_context(np.asarray(slot_tokens, dtype=np.float64), c.window_tokens, c.full_attention_fraction)
        return np.asarray(np.maximum(kv, slot * c.slot_kv_bytes_per_token), dtype=np.float64)

    def _activations(self, batch: Array, context: Array) -> Array:
        """The peak transient of one pass (``memory``): its tokens up to the engine's budget, and the decode
        batch's logits."""
        c = self.coefficients
        budget = c.max_batched_tokens
        chunk = np.minimum(np.maximum(batch, 1.0) * context, budget)
        return chunk * c.activation_bytes_per_token + np.minimum(batch, budget) * c.logits_bytes_per_sequence

    def _fitting(self, context: Array, kv: Array) -> Array:
        """The largest b with b kv + act(b) <= capacity - weights - overhead. act(b) (``_activations``) is
        min(b context, budget) a + min(b, budget) l: increasing and piecewise linear in b, so the largest
        b is the inverse on the segment where the free memory runs out. Read beside one sequence's
        activations instead, the batch overfilled memory by the logits of the rest (Mixtral on MI300X:
        886 where 877 fit, once vLLM's cap was raised above what memory holds)."""
        c = self.coefficients
        budget, a, logits = c.max_batched_tokens, c.activation_bytes_per_token, c.logits_bytes_per_sequence
        free = c.capacity_bytes - c.weight_bytes - c.overhead_bytes
        whole = budget / np.maximum(context, 1e-300)  # from this batch on a pass holds the whole budget
        with np.errstate(divide="ignore", invalid="ignore"):
            small = free / (kv + context * a + logits)  # b <= whole: every sequence's tokens in one pass
            middle = (free - budget * a) / (kv + logits)  # whole <= b <= budget
            large = (free - budget * (a + logits)) / kv  # b >= budget: the logits of the budget's sequences
        b = np.where((whole >= 1.0) & (small <= whole), small, np.where(middle <= budget, middle, large))
        return np.asarray(np.where(b > 0, np.floor(b), 0.0), dtype=np.float64)

    def parts(self, *, batch: npt.ArrayLike, context_tokens: npt.ArrayLike, slot_tokens: float | None = None
              ) -> Memory:
        """Memory per chip at ``batch`` sequences of ``context_tokens`` each (see ``memory``); its
        ``max_batch`` is the most such sequences that fit beside their own activations, whatever ``batch``.
        ``slot_tokens``: the length an engine without paged KV allocates each slot's cache at (None: the
        context's own, as with fixed lengths)."""
        batch = np.asarray(batch, dtype=np.float64)
        context = np.asarray(context_tokens, dtype=np.float64)
        c = self.coefficients
        kv_per_seq = self._kv_per_sequence(context, slot_tokens)  # windows cap the tokens held
        activations = self._activations(batch, context)
        kv = batch * kv_per_seq
        max_batch = np.broadcast_arrays(self._fitting(context, kv_per_seq), kv)[0].copy()
        return Memory(weights=c.weight_bytes, kv_cache=kv, activations=activations, overhead=c.overhead_bytes,
                      total=c.weight_bytes + kv + activations + c.overhead_bytes, capacity=c.capacity_bytes,
                      max_batch=max_batch)


def memory(grid: Grid, *, batch: npt.ArrayLike, context_tokens: npt.ArrayLike,
           model: MemoryModel | None = None) -> Memory:
    """Memory per chip at ``batch`` sequences of ``context_tokens`` (input + output) each.

    weights      params * bytes/param / (tp * pp)  (embeddings split like the rest; an experts-only
                 checkpoint's experts and other weights each at their own bytes: ``weights_bytes``)
    KV cache     batch * context * kv_bytes_per_token * (1 + waste)  (paged engines waste <4%, M48); an
                 engine without paged KV (runtimes.yaml features.paged_kv: false) allocates each slot's
                 cache whole at its slot length, so at least batch * slot * kv_bytes_per_token where the
                 caller gives the workload's slot (``queueing.slot_tokens``)
    activations  peak transient of one pass over min(batch * context, max_batched_tokens)
                 tokens [D: counted from one decoder layer's tensor shapes; inference frees each
                 layer's activations before the next, so one layer is live]: the residual stream,
                 the attention input and output and the fused QKV (together at most 4 * hidden
                 per token), and the MLP's gate and up projections (2 * ffn, split by tp), all
                 16-bit; plus the fp32 logits of the decode batch (vocab / tp each). This is the
                 quantity vLLM's start-up profiling pass measures before it sizes the KV cache.
    overhead     engine context and graphs, plus the share of memory the engine leaves unused
    """
    return (MemoryModel.build(grid) if model is None else model).parts(batch=batch, context_tokens=context_tokens)


FloorPair = tuple[Array, Array]  # (compute side, weights side) of a floor's part (StepModel.floor_terms)


@dataclass(frozen=True)
class StepCoefficients(Rows):
    """``step_time`` reduced to per-row coefficients of the tokens of a pass (seconds per unit).

    Every term of the roofline is linear in the tokens of a pass (times their context, for
    attention) or in the number of passes, except MoE's expert coverage: a pass of t tokens
    misses a given expert with probability exp(t log(1 - k/E)) (an exponential being several
    times cheaper than a power over arrays).
    """

    pp: Array  # pipeline stages: a decode batch splits into at most pp microbatches
    max_batched_tokens: Array  # tokens one pass takes
    linear_compute_s_per_token: Array  # 2 N_active FLOPs per token at the linear peak
    dense_weights_s_per_pass: Array  # reading the weights outside routed experts
    expert_weights_s_per_pass: Array  # reading every routed expert (0 without experts)
    log_expert_miss: Array  # log(1 - k/E), the log chance a token skips a given expert; -inf without experts
    attention_s_per_token_context: Array  # QK^T and AV FLOPs per token per context token
    kv_s_per_token_context: Array  # KV-cache bytes read or written per token per context token
    communication_s_per_token: Array  # tensor-parallel all-reduce and pipeline send payloads
    communication_s_per_pass: Array  # collective latencies of one pass
    overhead_s_per_pass: Array  # fixed cost (kernel launch, scheduling, sampling)
    window_tokens: Array  # sliding-window layers attend to at most this many keys (inf = none)
    full_attention_fraction: Array  # share of layers with full attention (planner.model.attention)
    prefill_attention_ratio: Array  # prefill / decode attention FLOPs per key (MLA prefill runs unabsorbed)
    # seconds a serving iteration costs beyond its passes: charged by the queueing model's
    # ``planner.model.load.scheduler.ServingStep`` only (the runtime's calibrated figure; 0, the prior)
    serving_iteration_s: Array
    # expert parallelism (planner.model.moe): a pass lasts as long as its busiest rank, which reads at least the
    # one expert a token sends it and IMBALANCE over the mean share: its fraction of its own experts is
    # min(1, max(imbalance f, min(ep f, ep / E))) of the fraction f a pass touches (1, 0 and 0 off EP rows: f)
    expert_rank_imbalance: Array
    expert_rank_ep: Array
    expert_rank_floor: Array
    # a speculative draft pass (planner.model.drafting): its share of a one-token step's linear compute, the
    # seconds it reads its non-expert weights in, its share of the routed experts a step reads (one MoE layer's),
    # and one layer's share of a step's attention, KV traffic and collectives (1 / layers)
    draft_compute_share: Array
    draft_dense_s_per_pass: Array
    draft_expert_share: Array
    layer_share: Array


class StepModel:
    """``step_time`` over per-row ``StepCoefficients``.

    The queueing model and the screen evaluate the same rows at many token counts, so the
    coefficients are built once and each evaluation costs a dozen array operations, with no
    per-call Grid gathering. ``step_time`` itself goes through this class, so there is one formula.
    """

    def __init__(self, coefficients: StepCoefficients) -> None:
        self.coefficients = coefficients
        # (ndarray methods, not np.any / np.min: the queueing model builds these per row subset, many times)
        flags = np.asarray(self.row_flags().any(axis=1))
        self.windowed, self.moe, self.pipelined = bool(flags[0]), bool(flags[1]), bool(flags[2])
        self.expert_parallel = bool(flags[3])
        # tokens any row runs in a single pass
        self.one_pass = float(np.asarray(coefficients.max_batched_tokens).min(initial=np.inf))
        self._broadcast = {0: coefficients}  # coefficients with extra count axes, by their number

    def __len__(self) -> int:
        return len(self.coefficients)

    def row_flags(self) -> npt.NDArray[np.bool_]:
        """[4, row]: whether each row takes ``_terms``' windowed, MoE, pipelined and expert-parallel paths (the
        flags ``windowed``, ``moe``, ``pipelined`` and ``expert_parallel`` are their any over the rows)."""
        c = self.coefficients
        return np.stack([(c.full_attention_fraction < 1.0) | (c.prefill_attention_ratio != 1.0),  # attention
                         c.expert_weights_s_per_pass > 0, c.pp > 1, c.expert_rank_ep > 0])

    @classmethod
    def build(cls, grid: Grid) -> StepModel:
        tp, pp = grid.tp, grid.pp
        with np.errstate(divide="ignore", invalid="ignore"):
            per_byte = 1.0 / (tp * grid.memory_bandwidth_bytes_per_s * grid.eff_memory)
            attention = grid.attention_flops / (tp * grid.peak_attention_flops_per_s * grid.eff_compute)
            # each rank reads its own KV shards: kv_shards / tp of them, or ceil(kv_shards / tp) when fewer
            # shards than ranks are replicated (a GQA model with fewer KV heads than tp; MLA's one latent,
            # which every rank reads): the count ``kv_bytes_per_token`` holds in memory
            kv_token = (grid.layers * grid.kv_per_layer * grid.kv_bytes * per_byte
                        * tp * kv_shards_per_chip(grid) / grid.kv_shards)
            moe = grid.experts > 1
            payload = grid.hidden * ACTIVATION_BYTES  # per token of a pass
            # tensor parallel: ring all-reduce after attention and after the MLP, in every layer
            allreduce_per_token = 2.0 * grid.layers * 2.0 * (tp - 1.0) / tp * payload / _one_way(grid)
            send_link = np.where(tp * pp <= grid.chips_per_node, grid.link_bytes_per_s, grid.scale_out_bytes_per_s)
            send_per_token = (pp - 1.0) * payload / (0.5 * send_link * grid.eff_communication)
            coefficients = StepCoefficients(
                pp=pp,
                max_batched_tokens=grid.max_batched_tokens,
                linear_compute_s_per_token=2.0 * linear_flop_params(grid) / (  # M42: 2N; MoE experts slower
                    tp * grid.peak_linear_flops_per_s * grid.eff_compute),
                dense_weights_s_per_pass=(grid.params - np.where(moe, grid.expert_params, 0.0))
                * grid.dense_weight_bytes * per_byte,
                expert_weights_s_per_pass=np.where(moe, grid.expert_params * grid.expert_weight_bytes * per_byte,
                                                   0.0),
                log_expert_miss=np.where(moe, np.log(1.0 - grid.experts_per_token / np.where(moe, grid.experts, 1.0)),
                                         -np.inf),
                attention_s_per_token_context=attention,
                kv_s_per_token_context=kv_token,
                communication_s_per_token=np.where(tp > 1, allreduce_per_token, 0.0)
                + np.where(pp > 1, send_per_token, 0.0),
                communication_s_per_pass=np.where(tp > 1, 2.0 * grid.layers * _allreduce_latency(grid), 0.0)
                + np.where(pp > 1, (pp - 1.0) * grid.collective_latency_s, 0.0),
                overhead_s_per_pass=grid.step_overhead_s,
                window_tokens=grid.window,
                full_attention_fraction=grid.full_fraction,
                prefill_attention_ratio=grid.prefill_attention_ratio,
                serving_iteration_s=grid.serving_iteration_s,
                expert_rank_imbalance=np.ones(len(grid)),
                expert_rank_ep=np.zeros(len(grid)),
                expert_rank_floor=np.zeros(len(grid)),
                draft_compute_share=grid.draft_compute_share,
                draft_dense_s_per_pass=grid.draft_dense_params * grid.dense_weight_bytes * per_byte,
                draft_expert_share=grid.draft_expert_share,
                layer_share=1.0 / grid.layers,
            )
            if np.any(grid.ep > 1):  # expert parallelism + DP attention (planner.model.moe)
                ep, on = ep_step(grid), grid.ep > 1
                c = coefficients
                coefficients = replace(
                    c, max_batched_tokens=np.where(on, ep.pass_tokens, c.max_batched_tokens),
                    linear_compute_s_per_token=np.where(on, ep.linear_per_token, c.linear_compute_s_per_token),
                    dense_weights_s_per_pass=np.where(on, ep.dense_read_per_pass, c.dense_weights_s_per_pass),
                    # a draft pass reads its dense weights as the step reads its own: whole on every rank
                    draft_dense_s_per_pass=np.where(on, c.draft_dense_s_per_pass * ep.dense_read_per_pass
                                                    / np.maximum(c.dense_weights_s_per_pass, 1e-300),
                                                    c.draft_dense_s_per_pass),
                    kv_s_per_token_context=np.where(on, ep.kv_per_token_context, c.kv_s_per_token_context),
                    communication_s_per_token=np.where(on, ep.comm_per_token, c.communication_s_per_token),
                    communication_s_per_pass=np.where(on, ep.comm_per_pass, c.communication_s_per_pass),
                    expert_rank_imbalance=np.where(on & moe, ep.imbalance, 1.0),
                    expert_rank_ep=np.where(on & moe, grid.ep, 0.0),
                    expert_rank_floor=np.where(on & moe, grid.ep / np.maximum(grid.experts, 1.0), 0.0))
            return cls(coefficients)

    def take(self, rows: npt.NDArray[np.intp]) -> StepModel:
        return StepModel(self.coefficients.take(rows))

    split_prompts = True  # pipelined rows: prompt tokens spread over the pp microbatches (``whole_prompts``: not)

    def whole_prompts(self) -> StepModel:
        """This model with a pipelined replica's prompt tokens kept whole, in one microbatch that passes every
        stage: the latency of a prompt prefilled alone (or of one static batch), where ``total`` gives a cycle of
        a full pipeline, its throughput. The same for rows without a pipeline."""
        out = copy.copy(self)
        out.split_prompts = False
        return out

    def _with_axes(self, extra_axes: int) -> StepCoefficients:
        """The coefficients shaped to broadcast against counts with ``extra_axes`` axes after the rows."""
        if extra_axes not in self._broadcast:
            self._broadcast[extra_axes] = self.coefficients.reshaped(extra_axes)
        return self._broadcast[extra_axes]

    def expert_read(self, c: StepCoefficients, tokens: Array | float) -> Array:
        """Seconds a pass of ``tokens`` spends reading the routed experts it touches: each token routes to k of E
        experts, so a pass touches E (1 - (1 - k/E)^tokens) (``touched_share``); under expert parallelism the busiest
        rank's share of its experts (StepCoefficients ``expert_rank_*``). Shared by the step and a draft pass."""
        touched = touched_share(c.log_expert_miss, tokens)
        if self.expert_parallel:
            touched = np.minimum(1.0, np.maximum(c.expert_rank_imbalance * touched,
                                                 np.minimum(c.expert_rank_ep * touched, c.expert_rank_floor)))
        return np.asarray(c.expert_weights_s_per_pass * touched)

    def _terms(self, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike, prefill_tokens: npt.ArrayLike,
               prefill_context: npt.ArrayLike) -> tuple[Array, Array, Array, Array, Array, Array]:
        """linear compute, linear memory, attention compute, attention memory, communication, overhead."""
        d = np.asarray(decode_tokens, dtype=np.float64)
        p = np.asarray(prefill_tokens, dtype=np.float64)
        # a context given as a float stays one (the same double as a 0-d array, without numpy's scalar dispatch)
        d_ctx = decode_context if type(decode_context) is float else np.asarray(decode_context, dtype=np.float64)
        p_ctx = prefill_context if type(prefill_context) is float else np.asarray(prefill_context, dtype=np.float64)
        c = self._with_axes(max(d.ndim, p.ndim, 1) - 1)  # rows first, then counts
        if self.pipelined:
            # Pipeline parallelism: the decode batch is split into up to pp microbatches that
            # occupy the pp stages at once (GPipe-style). Every sequence still passes all stages,
            # so one iteration lasts one full-model step of a microbatch. The prompt tokens are
            # spread over all pp microbatches whatever the decode count: chunked prefill balances
            # them (MLPerf llama3.1-405b Offline at tp 4 x pp 2 on B200: 1,645 tokens/s predicted
            # so, 1,650 measured; with whole prompts kept in one microbatch, 873). Spread over
            # max(d, 1) microbatches like the decodes, one prompt beside two decodes took half the
            # time it took beside one, and TTFT fell as the load rose (long-document-summarizer on
            # pp = 2: p95 19.0 s at 0.2 of the SLO ceiling, 12.7 s at 0.3). That is a cycle of the
            # pipeline, what its throughput runs at; a prompt's own pass through every stage is
            # ``whole_prompts`` (the TTFT floor, a static batch's prefill).
            if not (d.ndim == 0 and d <= 1.0):  # (one sequence or none: d / 1, kept a scalar for the fast path below)
                d = d / np.minimum(np.maximum(d, 1.0), c.pp)
            if self.split_prompts and not (p.ndim == 0 and p == 0.0):
                p = p / c.pp
        tokens = d + p
        passes = (1.0 if tokens.ndim == 0 and tokens <= self.one_pass
                  else np.maximum(np.ceil(tokens / c.max_batched_tokens), 1.0))
        weights = c.dense_weights_s_per_pass
        if self.moe:
            weights = weights + self.expert_read(c, tokens / passes)
        # attention: QK^T and AV over the context (causal prefill: half of it); KV: read the cache
        # of the decode tokens, write the new K/V of every token
        p_keys = p_ctx / 2.0
        if self.windowed:  # sliding-window layers see at most the window; MLA prefill runs unabsorbed
            d_ctx = attended_context(d_ctx, c.window_tokens, c.full_attention_fraction)
            p_keys = prefill_attended_context(p_ctx, c.window_tokens, c.full_attention_fraction) * \
                c.prefill_attention_ratio
        return (tokens * c.linear_compute_s_per_token, passes * weights,
                (d * d_ctx + p * p_keys) * c.attention_s_per_token_context,
                (d * (d_ctx + 1.0) + p) * c.kv_s_per_token_context,
                tokens * c.communication_s_per_token + passes * c.communication_s_per_pass,
                passes * c.overhead_s_per_pass)

    def _linear(self, compute: Array, memory: Array) -> Array:
        """The linear layers' time: the roofline, compute and weight streaming fully overlapped
        (``planner.model.load.scheduler.ServingStep`` overlaps them only partly)."""
        return np.maximum(compute, memory)

    def total(self, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
              prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> Array:
        """Seconds of the step(s) running these tokens; rows along the first axis, counts broadcast."""
        linear_c, linear_m, attn_c, attn_m, comm, overhead = self._terms(
            decode_tokens, decode_context, prefill_tokens, prefill_context)
        return self._linear(linear_c, linear_m) + np.maximum(attn_c, attn_m) + comm + overhead

    def parts(self, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
              prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> StepTime:
        """``total`` split into compute- and memory-bound time, communication and overhead."""
        linear_c, linear_m, attn_c, attn_m, comm, overhead = self._terms(
            decode_tokens, decode_context, prefill_tokens, prefill_context)
        linear = self._linear(linear_c, linear_m)
        attention = np.maximum(attn_c, attn_m)
        compute = np.where(linear_c >= linear_m, linear, 0.0) + np.where(attn_c >= attn_m, attention, 0.0)
        return StepTime(compute=compute, memory=linear + attention - compute, communication=comm,
                        overhead=overhead, total=linear + attention + comm + overhead)

    def floors(self, *, decode_context: float, prefill_context: float) -> tuple[Array, Array, Array]:
        """Affine lower bounds on ``total``: (a, b_d, b_p), each [4, rows], such that for every
        d, p >= 0 and each k, total(d decode, p prefill tokens) >= a[k] + b_d[k] d + b_p[k] p.

        Each of the two rooflines is at least either of its sides; a pass reads at least the
        dense weights and one token's experts and pays the per-pass costs once; pipeline
        microbatches divide the tokens by at most pp. Being affine, each bound also holds for the
        mean of ``total`` over any mix of token counts, taken at the mean counts (Jensen's
        inequality needs no convexity for an affine minorant): the queueing model's mean
        iteration is at least a[k] + b_d[k] E[d] + b_p[k] E[p]. Floor 2 i + j combines side i of
        the linear roofline with side j of attention (``floor_terms``).
        """
        (a_lin, per_token), (att_d, att_p) = self.floor_terms(decode_context=decode_context,
                                                              prefill_context=prefill_context)
        a, b_d, b_p = (np.empty((4, len(self))) for _ in range(3))
        for i in range(2):
            for j in range(2):
                a[2 * i + j] = a_lin[i]
                b_d[2 * i + j] = per_token[i] + att_d[j]
                b_p[2 * i + j] = per_token[i] + att_p[j]
        return a, b_d, b_p

    def floor_terms(self, *, decode_context: float, prefill_context: float
                    ) -> tuple[tuple[FloorPair, FloorPair], tuple[FloorPair, FloorPair]]:
        """The parts of ``floors``: ((a of the linear roofline's compute side, a of its weights
        side, which reads the weights once per pass), (their costs per token)), ((attention's cost
        per decode token on its compute side, on its KV-traffic side), (the same per prefill
        token))."""
        c = self.coefficients
        per_token = 1.0 / c.pp  # tokens / microbatches >= tokens / pp
        fixed = c.communication_s_per_pass + c.overhead_s_per_pass
        comm = c.communication_s_per_token * per_token
        compute = (fixed, (c.linear_compute_s_per_token + c.communication_s_per_token) * per_token)
        weights = (fixed + c.dense_weights_s_per_pass
                   + c.expert_weights_s_per_pass * touched_share(c.log_expert_miss, 1.0), comm)
        d_keys = attended_context(decode_context, c.window_tokens, c.full_attention_fraction)  # = decode_context
        p_keys = prefill_attended_context(prefill_context, c.window_tokens,  # without windows
                                          c.full_attention_fraction) * c.prefill_attention_ratio
        attention = (c.attention_s_per_token_context * per_token * d_keys,
                     c.attention_s_per_token_context * per_token * p_keys)
        kv = (c.kv_s_per_token_context * per_token * (d_keys + 1.0), c.kv_s_per_token_context * per_token)
        return ((compute[0], weights[0]), (compute[1], weights[1])), ((attention[0], kv[0]), (attention[1], kv[1]))


def _one_way(grid: Grid) -> Array:
    """One direction of the link a tensor-parallel collective runs over (bytes/s).

    Ring all-reduce: each chip sends and receives 2 (tp - 1) / tp of the payload; the vendor link
    figure is a bidirectional aggregate, so one direction gets half of it. A full mesh splits the
    chip's figure over its direct links, tp - 1 of which carry the collective; beyond one node the
    scale-out network carries it.
    """
    in_node = grid.tp <= grid.chips_per_node
    mesh_share = np.where(grid.mesh_links > 0, np.minimum((grid.tp - 1.0) / np.maximum(grid.mesh_links, 1.0), 1.0),
                          1.0)
    in_node_link = grid.link_bytes_per_s * mesh_share
    # a ring that spans nodes runs at its slowest link: the scale-out network, or the in-node one
    link = np.where(in_node, in_node_link, np.minimum(grid.scale_out_bytes_per_s, in_node_link))
    return 0.5 * link * grid.eff_communication


def _allreduce_latency(grid: Grid) -> Array:
    """Fixed latency of one tensor-parallel all-reduce (seconds), growing with the nodes it spans.

    ``collective_latency_s`` is the calibrated latency of an all-reduce within one node. Across
    N = ceil(tp / chips_per_node) nodes the collective is hierarchical (NCCL): in-node
    reduce-scatter, a ring all-reduce among the N nodes (2 (N - 1) sequential steps over the
    scale-out network), in-node all-gather. The catalog has no scale-out latency figure, so each
    inter-node step is taken to cost one in-node collective latency [assumption: a network hop
    (NIC, switch) is not faster than the in-node fabric]; within one node this is the calibrated
    figure unchanged.
    """
    nodes = np.ceil(grid.tp / np.maximum(grid.chips_per_node, 1.0))
    return grid.collective_latency_s * (1.0 + 2.0 * (nodes - 1.0))


def step_time(
    grid: Grid,
    *,
    decode_tokens: npt.ArrayLike,
    decode_context: npt.ArrayLike,
    prefill_tokens: npt.ArrayLike = 0.0,
    prefill_context: npt.ArrayLike = 0.0,
    model: StepModel | None = None,
) -> StepTime:
    """Time to run ``decode_tokens`` decode tokens and ``prefill_tokens`` prompt tokens.

    Work beyond ``max_batched_tokens`` is split into several passes, each of which reads the
    weights again and pays the per-pass overhead. Arguments broadcast against the grid's rows.
    ``model``: the grid's step model transformed (``planner.model.serving.ServedStep``), else built.
    """
    args = (decode_tokens, decode_context, prefill_tokens, prefill_context)
    shape = np.broadcast_shapes(*(np.shape(x) for x in args), (len(grid),))

    def rows_first(x: npt.ArrayLike) -> Array:  # StepModel keeps rows on the first axis
        return np.moveaxis(np.broadcast_to(np.asarray(x, dtype=np.float64), shape), -1, 0)

    d, d_ctx, p, p_ctx = (rows_first(x) for x in args)
    step = StepModel.build(grid) if model is None else model
    st = step.parts(decode_tokens=d, decode_context=d_ctx, prefill_tokens=p, prefill_context=p_ctx)
    return StepTime(*(np.moveaxis(x, 0, -1) for x in (st.compute, st.memory, st.communication, st.overhead,
                                                       st.total)))
