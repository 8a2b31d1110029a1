"""Serving features that change a replica's step time and memory: prefix caching, speculative decoding.

Both are applied to the performance model as a ``Served`` transform of one search: the workload's
token counts become what the engine computes, and ``ServedStep`` (a StepModel) adds back what it
still reads.

Prefix caching (RadixAttention, Zheng et al. 2023, arXiv 2312.07104; vLLM automatic prefix
caching): of a prompt of I tokens, the first S are found cached with probability h, so a request
prefills I - S tokens on a hit and all I on a miss (the queueing model gets that mixture's law,
``_with_prefix``: its tail is the misses'), I - h S on average, whose queries still attend to the
whole prompt: prefill and decode contexts keep their h S cached tokens (``context_offset``). The
cache holds one copy of the shared prefix per replica (S tokens of KV, taken off the memory for
sequences) and each sequence holds only its own I - h S + O tokens.

Speculative decoding (Leviathan et al. 2023, arXiv 2211.17192): a drafter proposes k tokens and
the target verifies k + 1 positions per sequence in one pass; with per-token acceptance a, a
pass emits E = (1 - a^(k+1)) / (1 - a) tokens per sequence (their eq. 1). The pass runs (k + 1) x
the linear and attention FLOPs of a decode step but reads the weights and each sequence's KV
cache once, and k draft passes cost one decoder layer and the LM head of a one-token step each
(``planner.model.drafting``) plus their launch overhead. So a decode iteration emits E tokens: the
queueing model sees 1 + (O - 1) / E output tokens per request and a TPOT target of E x the target
(tokens come E per iteration). Memory-bound (small batch) the verify pass costs about one step and
TPOT falls ~E x; compute-bound (large batch) it costs ~(k + 1) x and capacity falls: the drafter
helps at low load and hurts at high.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from planner.domain import Model, Precision, Runtime
from planner.model.attention import kv_bytes_per_token, kv_shards
from planner.model.grid import Array
from planner.model.load.queueing import LengthDist
from planner.model.load.scheduler import SERVING_OVERLAP, ServingStep
from planner.model.perf import MemoryModel, StepCoefficients, StepModel
from planner.workload import LOGNORMAL_MAX_P95_RATIO, Slo, Tokens, Traffic, Workload

__all__ = ["ACCEPTANCE", "FEATURES", "DecodePool", "Drafter", "PrefillPool", "Served",
           "ServedStep", "accepted_tokens", "drafter_for", "kv_senders", "prompt_kv_bytes", "uses_mtp"]

FEATURES = ("prefix_caching", "speculative", "expert_parallel", "dp_attention", "disaggregation")


@dataclass(frozen=True)
class Drafter:
    """A speculative-decoding method with its published per-token acceptance rate."""

    method: str  # "mtp" | "eagle" | "draft_model"
    draft_tokens: int  # k
    acceptance: float  # a: probability one drafted token is accepted (central)
    acceptance_range: tuple[float, float]
    source: str


# Per-token acceptance by method (task: general chat/instruction; no task-resolved figure is cited here).
ACCEPTANCE: dict[str, tuple[int, float, tuple[float, float], str]] = {
    # DeepSeek-V3 technical report (arXiv 2412.19437) s5.4.3: "the acceptance rate of the second token
    # prediction ranges between 85% and 90% across various generation topics", one MTP module (k = 1)
    "mtp": (1, 0.875, (0.85, 0.90), "DeepSeek-V3 report s5.4.3: MTP 2nd-token acceptance 85-90%, 1.8x TPS"),
    # EAGLE (Li et al., ICML 2024, arXiv 2401.15077): feature-level drafting reaches ~0.8 acceptance per
    # token on MT-bench (their n-alpha figure); 2.7-3.5x latency speedup on LLaMA2-Chat 70B at batch 1
    "eagle": (4, 0.80, (0.75, 0.85), "EAGLE, Li et al. 2024 (arXiv 2401.15077): ~0.8 per-token acceptance, MT-bench"),
}


def accepted_tokens(acceptance: npt.ArrayLike, draft_tokens: int) -> Array:
    """E = (1 - a^(k+1)) / (1 - a): mean tokens one verify pass emits (Leviathan et al. 2023, eq. 1)."""
    a = np.asarray(acceptance, dtype=np.float64)
    k = float(draft_tokens)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(np.where(a < 1.0, (1.0 - a ** (k + 1.0)) / (1.0 - a), k + 1.0), dtype=np.float64)


def uses_mtp(model: Model) -> bool:
    return model.mtp_layers > 0


def drafter_for(method: str) -> Drafter:
    """The drafter of a method: MTP for models shipping MTP modules, EAGLE for models with a published EAGLE head
    (``planner.domain.Model.eagle_head``; the search drops the others, ``planner.search.shapes.candidates``).
    One acceptance per method: EAGLE's is EAGLE-1's on MT-bench for every head, EAGLE-3's and the community's
    included (``EagleHead.method`` names the engines' kind of head, not its acceptance)."""
    k, a, band, source = ACCEPTANCE[method]
    return Drafter(method=method, draft_tokens=k, acceptance=a, acceptance_range=band, source=source)


@dataclass(frozen=True)
class Served:
    """The serving features one search runs with, and the workload as the engine sees it."""

    prefix_tokens: float = 0.0  # cached prompt tokens per request (h S)
    shared_tokens: float = 0.0  # S: held once per replica
    drafter: Drafter | None = None

    @property
    def features(self) -> tuple[str, ...]:
        return (("prefix_caching",) if self.shared_tokens > 0 else ()) + (("speculative",) if self.drafter else ())

    @property
    def support(self) -> tuple[str, ...]:
        """What a runtime's support matrix must list for these features: each feature, speculative decoding with its
        drafter's method ("speculative:eagle"; ``planner.domain.Runtime.supports``)."""
        return tuple(f"{f}:{self.drafter.method}" if f == "speculative" and self.drafter else f for f in self.features)

    @property
    def emitted(self) -> float:
        """Tokens per sequence per decode iteration (1 without speculation)."""
        d = self.drafter
        return 1.0 if d is None else float(accepted_tokens(d.acceptance, d.draft_tokens))

    def traffic(self, t: Traffic) -> Traffic:
        """Prompt tokens the engine computes, decode iterations per request."""
        e = self.emitted

        def iterations(x: float) -> float:  # decode iterations of x output tokens
            return 1.0 + (x - 1.0) / e if e > 1 else x

        def computed(x: float) -> float:  # prompt tokens of x the engine computes (at least the last)
            return max(x - h, 1.0)

        h, shared = self.prefix_tokens, self.shared_tokens
        if 0.0 < h < shared:  # a hit rate below 1: a miss prefills the whole prompt (``_with_prefix``)
            prompts = _with_prefix(t.input_tokens, shared, h / shared)
        else:
            prompts = _mapped(t.input_tokens, computed, mean=t.input_tokens.mean - h)
        return replace(t, input_tokens=prompts, output_tokens=_mapped(t.output_tokens, iterations), prefix=None)

    def workload(self, w: Workload) -> Workload:
        """``w`` as the queueing model runs it: ``traffic`` and TPOT targets per iteration."""
        e = self.emitted
        targets = {m: {p: v * (e if m == "tpot_ms" else 1.0) for p, v in by.items()} for m, by in w.slo.targets.items()}
        return replace(w, traffic=self.traffic(w.traffic), slo=Slo(targets=targets))

    def apply(self, step: StepModel, mem: MemoryModel, original: Traffic) -> tuple[StepModel, MemoryModel]:
        """The step and memory models of these rows under the features (unchanged without any)."""
        if not self.features:
            return step, mem
        seen = self.traffic(original)
        # decode context the engine reads beyond the one the queueing model passes (i' + o'/2)
        decode_offset = self.prefix_tokens + (original.output_tokens.mean - seen.output_tokens.mean) / 2.0
        d = self.drafter
        served = ServedStep(step.coefficients, prefill_offset=self.prefix_tokens, decode_offset=decode_offset,
                            draft_tokens=0 if d is None else d.draft_tokens,
                            under_load=False)  # the queueing model's ServingStep.of puts it under load
        m = mem.coefficients
        # KV per sequence is its own I - hS + O tokens; the memory model is given I - hS + O'
        held = seen.input_tokens.mean + original.output_tokens.mean
        return served, MemoryModel(replace(
            m,
            capacity_bytes=m.capacity_bytes - self.shared_tokens * m.kv_bytes_per_token,  # one cached prefix copy
            kv_bytes_per_token=m.kv_bytes_per_token * held / (seen.input_tokens.mean + seen.output_tokens.mean)))


DISAGGREGATION = ("disaggregation",)  # the feature both pools of a disaggregated plan need


@dataclass(frozen=True)
class PrefillPool(Served):
    """The prefill side: the runtime must support disaggregation; nothing else changes."""

    @property
    def features(self) -> tuple[str, ...]:
        return DISAGGREGATION


@dataclass(frozen=True)
class DecodePool(Served):
    """The decode side: all but one prompt token arrive as KV (``prefix_tokens`` = I - 1, computed
    nowhere here, attended to by every decode step) and each sequence holds its whole I + O tokens."""

    @property
    def features(self) -> tuple[str, ...]:
        return DISAGGREGATION

    def traffic(self, t: Traffic) -> Traffic:
        """Every prompt, whatever its length, arrives as KV but its last token: one computed token each (a prefix
        of the mean, ``Served``'s cached-prefix map, had the prompts above the mean prefill their excess here)."""
        return replace(super().traffic(t), input_tokens=Tokens(1.0))

    def apply(self, step: StepModel, mem: MemoryModel, original: Traffic) -> tuple[StepModel, MemoryModel]:
        step, mem = super().apply(step, mem, original)
        seen = self.traffic(original)
        c = mem.coefficients
        held = (original.input_tokens.mean + original.output_tokens.mean) / (
            seen.input_tokens.mean + seen.output_tokens.mean)  # the memory model is given 1 + O tokens
        return step, MemoryModel(replace(c, kv_bytes_per_token=c.kv_bytes_per_token * held))


def prompt_kv_bytes(model: Model, runtime: Runtime, kv_precision: Precision, tokens: float) -> float | None:
    """Bytes of one prompt's KV cache of ``tokens`` tokens as ``runtime`` caches it at ``kv_precision`` (sliding
    windows included, ``kv_bytes_per_token``): what a disaggregated pair moves from its prefill to its decode pool
    (None: the precision has no byte size there)."""
    per_value = runtime.stored_kv_bytes(kv_precision)
    return None if per_value is None else float(kv_bytes_per_token(model, tokens, per_value)) * tokens


def kv_senders(model: Model, chips: int, *, attention_dp: bool = False) -> int:
    """Chips of a replica of ``chips`` tensor-parallel chips that each send a distinct shard of a prompt's KV cache to
    the decode pool at once: a KV head's worth per chip up to the model's KV heads (``attention.kv_shards``; MLA's
    one latent lives whole on every rank, so one chip sends it), one where attention runs data parallel (a request
    lives on one rank)."""
    return 1 if attention_dp else max(1, min(chips, kv_shards(model)))


# quantiles at which a mapped lognormal no lognormal fits is kept (``_mapped``): the body, and the tail
# to 1 in 1000 requests (a knot quantile function is flat past its last knot)
_KNOT_SHARES = (0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.975, 0.99, 0.995, 0.999)


def _mapped(t: Tokens, f: Callable[[float], float], *, mean: float | None = None) -> Tokens:
    """``t`` through the monotone map ``f``: its mean (or ``mean``), p95 and every empirical knot, so a
    histogram or published quantiles stay a distribution (they were once dropped for the mean).

    A lognormal's image is a lognormal of the new mean and p95 only where one exists: past
    ``LOGNORMAL_MAX_P95_RATIO`` (a cached prefix taking most of a prompt: mean 5,000 / p95 15,000 less
    4,000 cached tokens is 1,000 / 11,000) the lognormal fit capped the tail at 3.87x the mean and
    dropped the long prompts; there the image is kept as the mapped quantiles of ``t`` (knots)."""
    new_mean = f(t.mean) if mean is None else mean
    if t.p95 is not None and not t.knots and f(t.p95) > LOGNORMAL_MAX_P95_RATIO * new_mean:
        source = LengthDist(t.mean, t.p95)
        return Tokens(new_mean, None, tuple((q, f(source.quantile(q))) for q in _KNOT_SHARES))
    return Tokens(new_mean, None if t.p95 is None else f(t.p95), tuple((q, f(v)) for q, v in t.knots))


@functools.lru_cache(maxsize=256)  # (~3 ms each; a search asks the same few laws dozens of times)
def _with_prefix(t: Tokens, shared: float, hit: float) -> Tokens:
    """The prompt tokens an engine computes where the first ``shared`` tokens of a prompt are found cached with
    probability ``hit``: a mixture, max(I - S, 1) on a hit and the whole I on a miss, as empirical knots of its
    quantile function (at ``_KNOT_SHARES`` and on either side of ``hit``, where a fixed-length prompt's law
    steps), found by bisection on its CDF h F(y + S) + (1 - h) F(y). Its mean is h E[max(I - S, 1)] + (1 - h) E[I]
    (above the prompt's less h S where the law puts prompts below S: a hit recomputes at least the last token).

    Every quantile less h S (as for a hit rate of 1) put a RAG workload's p95 prompt at 7,200 computed tokens where
    one request in ten misses the cache and prefills ~26,000 (an auditor's case: a plan passing a 250 ms TTFT p95
    that its misses alone break)."""
    source = LengthDist.of(t)

    def cdf(y: float) -> float:
        return hit * (source.cdf(y + shared) if y >= 1.0 else 0.0) + (1.0 - hit) * source.cdf(y)

    top = source.quantile(0.9999) + 1.0
    shares = sorted({*_KNOT_SHARES, hit, min(hit + 1e-6, 1.0)} - {0.0, 1.0})
    knots = []
    for q in shares:
        lo, hi = 0.0, top
        for _ in range(60):  # (top / 2^60: far below a token)
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if cdf(mid) < q else (lo, mid)
        knots.append((q, max(hi, 1.0)))
    grid = (np.arange(_MEAN_POINTS) + 0.5) / _MEAN_POINTS  # midpoints of equal shares of the prompt's law
    hit_mean = float(np.mean([max(source.quantile(float(u)) - shared, 1.0) for u in grid]))
    return Tokens(hit * hit_mean + (1.0 - hit) * t.mean, None, tuple(knots))


_MEAN_POINTS = 512  # quantiles averaged for a mixture's hit mean (``_with_prefix``)


class ServedStep(ServingStep):
    """A step model with a cached prefix in every context and speculative verify passes (module
    docstring), its linear layers overlapping as ``ServingStep``'s (``overlap``; 1, the roofline, by
    default). The queueing model times its iterations with ``ServingStep.of(step, overlap)``, which
    keeps a ServedStep a ServedStep (``with_overlap``): it once rebuilt a plain step from the
    coefficients, so under load prefix contexts and draft passes were not charged.

    Its ``total`` is never below the plain model's at the same arguments (more tokens, more
    context, added draft time), so the plain model's affine ``floors`` stay valid lower bounds.
    """

    def __init__(self, coefficients: StepCoefficients, *, prefill_offset: float, decode_offset: float,
                 draft_tokens: int, overlap: float | Array = SERVING_OVERLAP,
                 under_load: bool = True) -> None:
        super().__init__(coefficients, overlap, under_load=under_load)
        self.prefill_offset, self.decode_offset = prefill_offset, decode_offset
        self.draft_tokens = draft_tokens
        # (``windowed`` stays the rows' own flag: the shifted contexts arrive in _terms' arguments, and its
        # general path gives a row without windows or MLA the plain path's figures to the bit, f x + 0 x', at
        # ~10 more array operations per call; it was once forced on here)

    def with_overlap(self, overlap: float | Array) -> ServedStep:
        return ServedStep(self.coefficients, prefill_offset=self.prefill_offset, decode_offset=self.decode_offset,
                          draft_tokens=self.draft_tokens, overlap=overlap)

    def _carry(self, step: ServingStep) -> None:
        if not isinstance(step, ServedStep):  # take builds the same class: never
            raise TypeError(f"expected a ServedStep, got {type(step).__name__}")
        step.prefill_offset, step.decode_offset = self.prefill_offset, self.decode_offset
        step.draft_tokens = self.draft_tokens

    def _terms(self, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike, prefill_tokens: npt.ArrayLike,
               prefill_context: npt.ArrayLike) -> tuple[Array, Array, Array, Array, Array, Array]:
        d = np.asarray(decode_tokens, dtype=np.float64)
        d_ctx = np.asarray(decode_context, dtype=np.float64) + self.decode_offset
        p_ctx = np.asarray(prefill_context, dtype=np.float64) + self.prefill_offset
        k = self.draft_tokens
        if k == 0:
            return super()._terms(d, d_ctx, prefill_tokens, p_ctx)
        lin_c, lin_m, att_c, att_m, comm, over = super()._terms(d * (k + 1.0), d_ctx, prefill_tokens, p_ctx)
        reread = super()._terms(d * (k + 1.0), d_ctx, 0.0, 0.0)[3]  # KV traffic if each position re-read
        one = super()._terms(d, d_ctx, 0.0, 0.0)  # a one-token step: the cache read once; the draft's unit
        c = self._with_axes(max(d.ndim, 1) - 1)  # the draft's coefficients, shaped as ``one``'s terms
        # its weights: one layer's dense body, the projection and the LM head, and one MoE layer's touched experts
        weights = c.draft_dense_s_per_pass + (c.draft_expert_share * self.expert_read(c, d) if self.moe else 0.0)
        draft = k * (np.maximum(c.draft_compute_share * one[0], weights)  # one layer + LM head
                     + c.layer_share * (np.maximum(one[2], one[3]) + one[4])  # one layer's attention, collectives
                     + one[5])  # k draft passes, each launched like a step
        draft = np.where(d > 0, draft, 0.0)  # no decodes, no drafting
        return lin_c, lin_m, att_c, att_m - reread + one[3], comm, over + draft
