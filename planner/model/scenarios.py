"""The three measurement scenarios of the canonical format, over a Grid.

static_batch    ``batch`` sequences start together: one prefill of batch x input tokens, then
                output - 1 decode steps at the batch's mean context.
max_throughput  continuous (in-flight) batching at the largest concurrency that fits (capped by
                the engine's scheduler and by ``batch`` when given): each iteration decodes B
                tokens and prefills the B / output new prompts that replace finished requests.
server          Poisson arrivals at ``request_rate``: see ``planner.model.load.queueing``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from planner.model.grid import Array, Grid
from planner.model.perf import Memory, MemoryModel, StepModel, StepTime, memory, step_time

__all__ = ["Models", "ScenarioResult", "bound_of", "max_throughput", "static_batch"]

Models = tuple[StepModel, MemoryModel]  # a grid's step and memory models, transformed by a serving feature


@dataclass(frozen=True)
class ScenarioResult:
    """Predicted figures per configuration (seconds, tokens/s, requests/s)."""

    batch: Array  # concurrent sequences used
    ttft_s: Array
    tpot_s: Array
    e2e_s: Array
    output_tokens_per_s: Array
    requests_per_s: Array
    memory: Memory
    decode: StepTime  # the decode (or mixed) step at the operating point
    fits: npt.NDArray[np.bool_]


def bound_of(step: StepTime) -> npt.NDArray[np.str_]:
    """Which component dominates a step: compute, memory or communication."""
    parts = np.stack([step.compute, step.memory, step.communication])
    bound: npt.NDArray[np.str_] = np.array(["compute", "memory", "communication"])[np.argmax(parts, axis=0)]
    return bound


def static_batch(grid: Grid, *, batch: npt.ArrayLike, input_tokens: npt.ArrayLike,
                 output_tokens: npt.ArrayLike, models: Models | None = None) -> ScenarioResult:
    """``models``: the grid's step and memory models as a serving feature transforms them
    (``planner.model.serving.Served.apply``; its tokens are then the ones the engine computes and
    ``output_tokens`` its decode iterations), else the grid's own."""
    step, mem_model = (None, None) if models is None else models
    b = np.asarray(batch, dtype=np.float64)
    i = np.asarray(input_tokens, dtype=np.float64)
    o = np.asarray(output_tokens, dtype=np.float64)
    mem = memory(grid, batch=b, context_tokens=i + o, model=mem_model)
    prefill = step_time(grid, decode_tokens=0.0, decode_context=0.0, prefill_tokens=b * i,  # the batch's own pass
                        prefill_context=i, model=(StepModel.build(grid) if step is None else step).whole_prompts())
    decode = step_time(grid, decode_tokens=b, decode_context=i + o / 2.0, model=step)  # mean context
    # No prompt (a generation-only benchmark such as llama-bench tg): the first token is a decode step.
    ttft = np.where(i > 0, prefill.total, decode.total)
    e2e = ttft + (o - 1.0) * decode.total
    return ScenarioResult(
        batch=b * np.ones_like(ttft),
        ttft_s=ttft,
        tpot_s=decode.total,
        e2e_s=e2e,
        output_tokens_per_s=b * o / e2e,
        requests_per_s=b / e2e,
        memory=mem,
        decode=decode,
        fits=mem.max_batch >= b,
    )


def operating_batch(grid: Grid, *, cap: npt.ArrayLike, input_tokens: npt.ArrayLike,
                    output_tokens: npt.ArrayLike, model: MemoryModel | None = None) -> Array:
    """Largest concurrency: what fits in memory, the scheduler's cap and the caller's cap."""
    mem = MemoryModel.build(grid) if model is None else model
    return mem.operating_batch(cap=cap, input_tokens=input_tokens, output_tokens=output_tokens)


def _chunked_prefill_step(grid: Grid, *, batch: Array, input_tokens: Array, output_tokens: Array,
                          step: StepModel | None = None) -> StepTime:
    """The mean iteration of the steady state: ``batch`` decodes, and the prompts of the requests that
    replace finished ones.

    Each iteration decodes ``batch`` tokens and, on average, ``q = batch x input / output`` prompt
    tokens arrive. The engines fill an iteration's token budget (``max_batched_tokens``: vLLM
    ``max_num_batched_tokens``, TensorRT-LLM ``max_num_tokens``, SGLang ``chunked_prefill_size``) with
    the decodes first and a prefill chunk in the room left, so the prompts are not spread evenly over
    the iterations: a prefill pass takes what has arrived, at least a whole prompt, at most the room,
    ``chunk = min(room, max(input, q))``; while ``q`` is below it, a share ``f = q / chunk`` of the
    iterations carries a chunk and the rest decode only, and the mean iteration is
    ``(1 - f) t(decode) + f t(decode + chunk)``. From ``q`` at the chunk on, every iteration is a mixed
    pass (the even spread).

    This matters to first order for a mixture of experts: a pass reads the experts its tokens route
    to, ``E (1 - (1 - k/E)^tokens)`` (``planner.model.perf``), concave in the tokens, so the reads at
    the mean token count overstate the mean reads. A closed loop of 4 requests on gpt-oss-120b
    decodes 4 tokens a pass (at most 16 of 128 experts a layer); spread evenly, every pass would carry
    ~8 tokens (22% of the experts). On InferenceMAX's gpt-oss-120b runs (tests/data/inferencemax_gpt_oss.yaml,
    out of sample) it took H100/H200 vLLM from 0.80 / 0.90 of the measured tokens/s to 0.93 / 1.02
    (0.89 / 0.99 once the checkpoint's bf16 attention and embeddings were counted: docs/accuracy.md).
    A model without routed experts keeps the even spread: there the mix changes only how much prompt
    compute hides under a decode pass's weight reads, the overlap the calibration's efficiencies were
    fitted with. Measured with the mixture for every model and the calibration refitted: public
    records' cross-validated error unchanged (11.86% tokens/s), MLPerf by round Offline 10.6% -> 11.2%
    and Server/Interactive SLO capacity 15.0% -> 16.4% median APE, so dense models are not switched."""
    b, i, o = batch, input_tokens, output_tokens
    q = b * i / o
    spread = step_time(grid, decode_tokens=b, decode_context=i + o / 2.0, prefill_tokens=q, prefill_context=i,
                       model=step)
    room = np.maximum(grid.max_batched_tokens - b, 1.0)
    size = np.minimum(room, np.maximum(i, q))  # a prefill pass takes a whole prompt where it fits
    share = np.where(grid.expert_params > 0, q / size, 1.0)
    if not np.any(share < 1.0):
        return spread
    decode = step_time(grid, decode_tokens=b, decode_context=i + o / 2.0, model=step)
    chunk = step_time(grid, decode_tokens=b, decode_context=i + o / 2.0, prefill_tokens=size, prefill_context=i,
                      model=step)
    f = np.minimum(share, 1.0)
    return StepTime(*(np.where(share < 1.0, (1.0 - f) * getattr(decode, n) + f * getattr(chunk, n),
                               getattr(spread, n))
                      for n in ("compute", "memory", "communication", "overhead", "total")))


def _prefill_wait(grid: Grid, batch: Array, input_tokens: Array, output_tokens: Array, mean_iteration: Array,
                  step: StepModel | None) -> Array:
    """A prompt's TTFT in the steady state of ``_chunked_prefill_step``: half a mean iteration's wait, then
    ``passes`` iterations that each carry a chunk of it.

    An iteration's budget takes the decodes first: with ``q`` prompt tokens arriving per iteration it runs
    ``ceil((batch + q) / budget)`` passes (``step_time`` splits work past the budget), so the room for prompt
    tokens is that many budgets less the decodes (at least ``q``: the throughput side's own passes), and a
    prompt of ``i`` tokens needs ``ceil(i / room)`` iterations, ``i / passes`` tokens in each. An iteration
    carrying such a chunk takes at least the step with it, and at least the mean iteration. (Pricing each
    at the mean iteration alone, which carries only ``q`` prompt tokens, put TTFT below the prompt's own
    compute where ``q`` is small: llama-3.1-8b on one H100 at batch 1, 8,192 tokens: 22 ms against a 133 ms
    floor; and with more sequences than the budget, the room fell to one token an iteration: hours.)"""
    q = batch * input_tokens / output_tokens
    budget = grid.max_batched_tokens
    room = np.maximum(np.ceil((batch + q) / budget) * budget - batch, 1.0)
    passes = np.ceil(input_tokens / room)
    with_chunk = step_time(grid, decode_tokens=batch, decode_context=input_tokens + output_tokens / 2.0,
                           prefill_tokens=input_tokens / passes, prefill_context=input_tokens, model=step).total
    return np.asarray(0.5 * mean_iteration + passes * np.maximum(mean_iteration, with_chunk), dtype=np.float64)


def max_throughput(grid: Grid, *, input_tokens: npt.ArrayLike, output_tokens: npt.ArrayLike,
                   batch_cap: npt.ArrayLike = np.inf, models: Models | None = None) -> ScenarioResult:
    """``models``: as ``static_batch``'s."""
    step, mem_model = (None, None) if models is None else models
    i = np.asarray(input_tokens, dtype=np.float64)
    o = np.asarray(output_tokens, dtype=np.float64)
    b = operating_batch(grid, cap=batch_cap, input_tokens=i, output_tokens=o, model=mem_model)
    b_run = np.maximum(b, 1.0)
    mixed = _chunked_prefill_step(grid, batch=b_run, input_tokens=i, output_tokens=o, step=step)
    static = static_batch(grid, batch=b_run, input_tokens=i, output_tokens=o, models=models)
    continuous = grid.continuous_batching > 0
    tps = np.where(continuous, b_run / mixed.total, static.output_tokens_per_s)
    tpot = np.where(continuous, mixed.total, static.tpot_s)
    ttft = np.where(continuous, _prefill_wait(grid, b_run, i, o, mixed.total, step), static.ttft_s)
    e2e = np.where(continuous, ttft + (o - 1.0) * tpot, static.e2e_s)
    mem = memory(grid, batch=b_run, context_tokens=i + o, model=mem_model)
    return ScenarioResult(
        batch=b,
        ttft_s=ttft,
        tpot_s=tpot,
        e2e_s=e2e,
        output_tokens_per_s=tps,
        requests_per_s=tps / o,
        memory=mem,
        decode=StepTime(*(np.where(continuous, getattr(mixed, f), getattr(static.decode, f))
                          for f in ("compute", "memory", "communication", "overhead", "total"))),
        fits=b >= 1,
    )
