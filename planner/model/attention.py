"""What a model's attention costs per token, by attention kind, and its parameters counted from its shape.

KV cache, per token of context and per layer (elements; bytes = elements x bytes per KV element):

    gqa / mha        2 * kv_heads * head_dim                K and V of every KV head
    mla              kv_lora_rank + qk_rope_head_dim        one compressed latent and one shared RoPE
                                                            key (DeepSeek-V2 paper, arXiv 2405.04434,
                                                            section 2.1: "(d_c + d_h^R) l elements";
                                                            DeepSeek-V3, arXiv 2412.19437: 512 + 64)
    sliding_window   as gqa, but a layer holds at most ``window`` tokens
    hybrid           ``sliding_layers`` windowed layers, the others hold the whole context

Tensor parallelism splits GQA's KV heads over chips (replicated when kv_heads < tp); MLA's latent
is one shard that every tensor-parallel rank holds and reads in full (the reason engines pair MLA
with data-parallel attention).

Attention FLOPs per query token per attended key, summed over layers (2 FLOPs per multiply-add):

    gqa / mha   4 * layers * heads * head_dim               QK^T and AV
    mla decode  2 * layers * heads * (2 kv_lora_rank + qk_rope_head_dim)
                                                            the absorbed form engines run for decode:
                                                            scores over latent + RoPE key, values from
                                                            the latent (DeepSeek-V2 section 2.1.4)
    mla prefill 2 * layers * heads * (qk_nope + qk_rope + v_head_dim)
                                                            prompts run the decompressed form (per-head
                                                            K of 192, V of 128 for DeepSeek-V3)

A windowed layer attends to min(context, window) keys; a causal prompt of L tokens attends on
average to L / 2 keys per token in a full layer and to m - m^2 / (2 L), m = min(L, window), in a
windowed one (the mean of min(i, window) over positions i < L).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.domain import Model

__all__ = [
    "ATTENTION_KINDS",
    "ParamCount",
    "attended_context",
    "attention_columns",
    "attention_flops_per_key",
    "attention_flops_per_token",
    "full_attention_fraction",
    "head_split_problem",
    "kv_bytes_per_token",
    "kv_cache_bytes",
    "kv_elements_per_token_layer",
    "kv_shards",
    "parameter_counts",
    "prefill_attended_context",
    "window_tokens",
]

ATTENTION_KINDS = ("gqa", "mha", "mla", "sliding_window", "hybrid")
Array = npt.NDArray[np.float64]


def kv_elements_per_token_layer(model: Model) -> int:
    """KV-cache elements one token occupies in one layer (whole model, before any split)."""
    a = model.attention
    if a.kind == "mla":
        return a.kv_lora_rank + a.qk_rope_head_dim
    return 2 * model.kv_heads * model.head_dim  # 2 = K and V


def kv_shards(model: Model) -> int:
    """Pieces tensor parallelism can split a layer's KV into: KV heads, or 1 (MLA's latent)."""
    return 1 if model.attention.kind == "mla" else model.kv_heads


def head_split_problem(model: Model, tp: int) -> str | None:
    """Why ``tp``-way tensor-parallel attention cannot split this model's heads (None: it can).

    Engines give each rank heads / tp query heads and split the KV heads the same way, or replicate
    them where tp exceeds them: vLLM refuses to start otherwise ("Total number of attention heads
    (28) must be divisible by tensor parallel size (8)", ``ModelConfig.verify_with_parallel_config``;
    its QKV layer asserts kv_heads % tp == 0, or tp % kv_heads == 0 when replicating), as SGLang's
    and LMDeploy's model configs do. Runtimes that pad the heads instead say so in runtimes.yaml
    (``uneven_heads``). MLA shares one latent, so only its query heads are split.
    """
    heads, kv = model.heads, kv_shards(model)
    if tp <= 1:
        return None
    if heads % tp:
        return f"tp {tp} does not divide the model's {heads} attention heads"
    if kv > 1 and (kv % tp if tp < kv else tp % kv):
        return f"tp {tp} neither divides nor is a multiple of the model's {kv} KV heads"
    return None


def window_tokens(model: Model) -> float:
    """Tokens a windowed layer attends to; inf when no layer is windowed."""
    a = model.attention
    return float(a.window) if a.kind in ("sliding_window", "hybrid") else math.inf


def full_attention_fraction(model: Model) -> float:
    """Share of layers that attend to the whole context."""
    a = model.attention
    if a.kind == "sliding_window":
        return 0.0
    if a.kind == "hybrid":
        return 1.0 - a.sliding_layers / model.layers
    return 1.0


def attended_context(context: npt.ArrayLike, window: npt.ArrayLike, full_fraction: npt.ArrayLike) -> Array:
    """Keys a token at ``context`` attends to, averaged over layers (= its KV tokens per layer)."""
    ctx = np.asarray(context, dtype=np.float64)
    f = np.asarray(full_fraction, dtype=np.float64)
    return np.asarray(f * ctx + (1.0 - f) * np.minimum(ctx, window), dtype=np.float64)


def prefill_attended_context(prompt: npt.ArrayLike, window: npt.ArrayLike, full_fraction: npt.ArrayLike) -> Array:
    """Mean keys per token of a causal prompt of ``prompt`` tokens, averaged over layers."""
    length = np.asarray(prompt, dtype=np.float64)
    f = np.asarray(full_fraction, dtype=np.float64)
    m = np.minimum(length, window)
    windowed = m - m * m / (2.0 * np.maximum(length, 1.0))
    return np.asarray(f * (length / 2.0) + (1.0 - f) * windowed, dtype=np.float64)


def kv_cache_bytes(model: Model, context: npt.ArrayLike, bytes_per_element: float, *, tp: int = 1,
                   pp: int = 1, ranks_per_chip: int = 1) -> Array:
    """Bytes of one sequence's KV cache at ``context`` tokens on one chip of a tp x pp replica (``ranks_per_chip``
    tensor-parallel ranks a chip: as ``planner.model.perf.kv_shards_per_chip``)."""
    shards = kv_shards(model)
    per_chip = ranks_per_chip * math.ceil(shards / (tp * ranks_per_chip))
    per_token_layer = kv_elements_per_token_layer(model) / shards * per_chip * bytes_per_element
    tokens = attended_context(context, window_tokens(model), full_attention_fraction(model))
    return np.asarray(math.ceil(model.layers / pp) * per_token_layer * tokens, dtype=np.float64)


def kv_bytes_per_token(model: Model, context: npt.ArrayLike, bytes_per_element: float, *, tp: int = 1,
                       pp: int = 1) -> Array:
    """KV bytes per token of context, averaged over a sequence of ``context`` tokens (falls with
    context once sliding-window layers are full)."""
    ctx = np.asarray(context, dtype=np.float64)
    return np.asarray(kv_cache_bytes(model, ctx, bytes_per_element, tp=tp, pp=pp) / ctx, dtype=np.float64)


def attention_flops_per_key(model: Model, *, phase: str = "decode") -> float:
    """Attention FLOPs per query token per attended key, over all layers (see module doc)."""
    a, layers, heads = model.attention, model.layers, model.heads
    if a.kind == "mla":
        if phase == "decode":
            return 2.0 * layers * heads * (2 * a.kv_lora_rank + a.qk_rope_head_dim)
        nope = a.qk_nope_head_dim or model.head_dim
        v = a.v_head_dim or model.head_dim
        return 2.0 * layers * heads * (nope + a.qk_rope_head_dim + v)
    return 4.0 * layers * heads * model.head_dim


def attention_flops_per_token(model: Model, context: npt.ArrayLike, *, phase: str = "decode") -> Array:
    """Attention FLOPs of one token: a decode token at ``context``, or the mean token of a prompt
    of ``context`` tokens (phase="prefill")."""
    window, f = window_tokens(model), full_attention_fraction(model)
    keys = (attended_context(context, window, f) if phase == "decode"
            else prefill_attended_context(context, window, f))
    return np.asarray(attention_flops_per_key(model, phase=phase) * keys, dtype=np.float64)


def attention_columns(models: Sequence[Model]) -> dict[str, list[float]]:
    """Per-model columns the performance model's grid carries (planner.model.grid)."""
    return {
        "kv_per_layer": [float(kv_elements_per_token_layer(m)) for m in models],
        "kv_shards": [float(kv_shards(m)) for m in models],
        "attention_flops": [attention_flops_per_key(m, phase="decode") for m in models],
        "prefill_attention_ratio": [attention_flops_per_key(m, phase="prefill")
                                    / attention_flops_per_key(m, phase="decode") for m in models],
        "window": [window_tokens(m) for m in models],
        "full_fraction": [full_attention_fraction(m) for m in models],
    }


@dataclass(frozen=True)
class ParamCount:
    """Parameters by part, counted from the architecture fields (weight matrices; norms and biases
    are under 0.1% and left out)."""

    embedding: float  # input token embedding
    unembedding: float  # output head (0 when tied to the embedding)
    attention: float
    dense_mlp: float  # dense layers' MLPs
    routed_experts: float  # all routed experts
    shared_experts: float
    router: float
    experts: int = 1
    experts_per_token: int = 1

    @property
    def total(self) -> float:
        return (self.embedding + self.unembedding + self.attention + self.dense_mlp + self.routed_experts
                + self.shared_experts + self.router)

    @property
    def active(self) -> float:
        """Weights a token multiplies by: everything but the input embedding (a table lookup) and
        the routed experts it is not sent to. DeepSeek and OpenAI count active parameters this way;
        Qwen and Meta add the input embedding (``active + embedding``)."""
        routed = self.routed_experts * self.experts_per_token / self.experts
        unembedding = self.unembedding if self.unembedding else self.embedding  # tied: the same matrix
        return self.attention + self.dense_mlp + routed + self.shared_experts + self.router + unembedding


def _attention_params(model: Model) -> float:
    a, h, heads = model.attention, model.hidden_size, model.heads
    if a.kind == "mla":
        nope = a.qk_nope_head_dim or model.head_dim
        v = a.v_head_dim or model.head_dim
        q_head = nope + a.qk_rope_head_dim
        q = h * a.q_lora_rank + a.q_lora_rank * heads * q_head if a.q_lora_rank else h * heads * q_head
        kv = h * (a.kv_lora_rank + a.qk_rope_head_dim) + a.kv_lora_rank * heads * (nope + v)
        return float(q + kv + heads * v * h)
    return float(2 * h * heads * model.head_dim + 2 * h * model.kv_heads * model.head_dim)  # q, o; k, v


def parameter_counts(model: Model) -> ParamCount:
    """Parameters from layers, widths, experts and vocabulary (SwiGLU/GeGLU MLPs: 3 matrices).

    An independent check on the published totals: nothing here reads params or active_params.
    """
    h, moe = model.hidden_size, model.moe
    embedding = float(model.vocab_size * h)
    moe_layers = model.moe_layers
    dense_layers = model.layers - moe_layers
    dense_ffn = moe.dense_ffn_size or model.ffn_size
    shared_ffn = moe.shared_ffn_size or model.ffn_size
    return ParamCount(
        embedding=embedding,
        unembedding=0.0 if model.tied_embeddings else embedding,
        attention=model.layers * _attention_params(model),
        dense_mlp=float(dense_layers * 3 * h * dense_ffn),
        routed_experts=float(moe_layers * model.experts * 3 * h * model.ffn_size),
        shared_experts=float(moe_layers * moe.shared_experts * 3 * h * shared_ffn),
        router=float(moe_layers * model.experts * h),
        experts=model.experts,
        experts_per_token=model.experts_per_token,
    )
