"""Estimate one deployment configuration: resolve and check the request, run the model, price it.

``resolve`` turns ids and numbers into a checked ``Config`` (raising ``InputError`` naming the
field for impossible requests); ``estimate`` evaluates it in a scenario and returns an
``Estimate``. A configuration that is possible but does not fit in memory is not an error: it
comes back with ``fits=False`` and the reason.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np

from planner.domain import Accuracy, Catalog, Efficiency, Hardware, MeasuredBias, Model, Precision, Runtime, accuracy_of
from planner.economics.pricing import Unpriced
from planner.economics.rates import ChipRate, Pricing, chip_rate
from planner.errors import InputError
from planner.measured_speed import at_measured_speed, slows
from planner.memo import cached
from planner.model.attention import head_split_problem
from planner.model.chip_order import OrderFlag, order_flags
from planner.model.grid import CatalogTables, Grid
from planner.model.load.queueing import LengthDist, overload_tpot, serve, slot_tokens
from planner.model.load.scheduler import overlap_of
from planner.model.moe import EP_RANKS, MIN_EXPERTS, expert_parallel_ok
from planner.model.perf import Memory, MemoryModel, StepModel
from planner.model.scenarios import bound_of, max_throughput, static_batch
from planner.workload import lognormal_p95_problem

__all__ = ["ESTIMATE_TABLES", "Config", "Estimate", "Scenario", "batch1_tpot", "config_grid", "default_kv_precision",
           "default_precision", "estimate", "resolve"]

GB = 1e9
# the key of a catalog's tables that estimates gather rows of (``planner.memo.cached``): built once per catalog,
# or the tables a command built for it already (``hardware_catalog.caching.cache.catalog_tables``)
ESTIMATE_TABLES = "estimate_tables"


class Scenario(StrEnum):
    STATIC_BATCH = "static_batch"
    MAX_THROUGHPUT = "max_throughput"
    SERVER = "server"


@dataclass(frozen=True)
class Config:
    """A checked replica configuration (``replicas`` copies of tp x pp chips)."""

    model: Model
    hardware: Hardware
    precision: Precision
    kv_precision: Precision
    runtime: Runtime
    tp: int
    pp: int
    replicas: int
    # expert-parallel ranks: 1 (none) or tp, expert parallelism with data-parallel attention over the tp
    # chips (planner.model.moe), as the planner's "tp8 ep8 dp-attn8" shapes run
    ep: int = 1

    @property
    def chips(self) -> int:
        return self.tp * self.pp * self.replicas


@dataclass(frozen=True)
class Estimate:
    """What ``hwplan estimate`` reports (SI units; the CLI converts to ms and GB)."""

    config: Config
    scenario: Scenario
    fits: bool
    reason: str | None
    weights_bytes: float
    kv_cache_bytes: float
    activations_bytes: float
    overhead_bytes: float
    total_bytes: float
    capacity_bytes: float
    max_batch: int
    batch: float
    ttft_s: float
    tpot_s: float
    e2e_s: float
    output_tokens_per_s: float
    requests_per_s: float
    bound: str
    pricing: str
    cost_per_hour: float | None
    cost_per_million_output_tokens: float | None
    efficiency: Efficiency
    ttft_p99_s: float | None = None
    tpot_p99_s: float | None = None
    utilization: float | None = None
    capacity_requests_per_s: float | None = None
    serving_iteration_s: float | None = None  # server scenario: the iteration cost it ran with, and its source
    serving_iteration_source: str | None = None
    serving_iteration_interval_s: tuple[float, float] | None = None  # what the records under load admit
    concurrency_cap: int | None = None  # max_throughput / server: the engine's cap on sequences (None: none)
    concurrency_cap_source: str = ""  # ... and where it comes from ("": a static batch, the caller's)
    rate: ChipRate | Unpriced | None = None  # the price per chip-hour and its offer, or why none
    measured: tuple[MeasuredBias, ...] = ()  # where runs of this model and runtime missed the prediction
    order: tuple[OrderFlag, ...] = ()  # where this chip reads slower than one it beats on paper (chip_order)
    # asked for (``measured_speed``) where ``measured`` holds entries that slow it (planner.measured_speed):
    # the same configuration evaluated again at the speed they measured
    at_measured_speed: Estimate | None = None
    # server scenario: the catalog calibration's cross-validated error under load (planner.domain.accuracy_of)
    accuracy: Accuracy | None = None


def default_precision(catalog: Catalog, hardware: Hardware) -> Precision:
    """bf16, or fp16 where the chip has no native bf16 (T4, MTIA v1 ...)."""
    for pid in ("bf16", "fp16", "fp32"):
        if pid in hardware.peak_flops_per_s and pid in catalog.precisions:
            return catalog.precisions[pid]
    raise InputError(f"hardware {hardware.id!r} computes no 16- or 32-bit float", field="precision")


def _published_precision(catalog: Catalog, m: Model, hw: Hardware, rt: Runtime) -> Precision:
    """The format a model's weights are published in where that is not 16-bit (``Model.published_precision``) and
    the runtime serves it on the chip (``_weights_problem``); else ``default_precision`` (a new user's case:
    gpt-oss-120b was estimated at bf16, 234 GB that fit no chip)."""
    published = catalog.precisions.get(m.published_precision or "")
    if published is not None and _weights_problem(catalog, hw, rt, published, m) is None:
        return published
    return default_precision(catalog, hw)


def resolve(catalog: Catalog, *, model: str, hardware: str, chips: int | None = None,
            tp: int | None = None, pp: int = 1, precision: str | None = None,
            kv_precision: str | None = None, runtime: str | None = None, ep: int = 1) -> Config:
    """Look up ids and check the request is possible; raise InputError naming the field."""
    m = catalog.get_model(model)
    hw = catalog.get_hardware(hardware)
    rt = catalog.get_runtime(runtime or hw.default_runtime)
    if rt.id not in hw.runtimes:
        raise InputError(f"runtime {rt.id!r} does not run on {hw.id} (it supports "
                         f"{', '.join(hw.runtimes)})", field="runtime")
    prec = catalog.get_precision(precision) if precision else _published_precision(catalog, m, hw, rt)
    _check_weights(catalog, hw, rt, prec, m)
    kv = _kv_precision(catalog, hw, rt, kv_precision, prec.id)
    for name, value in (("pp", pp), ("tp", tp), ("chips", chips), ("ep", ep)):
        if value is not None and value < 1:
            raise InputError(f"must be at least 1, got {value}", field=name)
    if pp > m.layers:
        raise InputError(f"pp = {pp} exceeds the {m.layers} layers of {m.id} (a pipeline stage holds at least one "
                         "layer)", field="pp")
    tp = tp if tp is not None else (chips // pp if chips else 1)
    chips = chips if chips is not None else tp * pp
    if tp * pp > chips:
        raise InputError(f"tp x pp = {tp * pp} exceeds chips = {chips}", field="tp")
    if chips % (tp * pp):
        raise InputError(f"chips = {chips} is not a multiple of tp x pp = {tp * pp}", field="chips")
    _check_split(rt, tp, pp)
    if ep > 1:
        _check_expert_parallel(m, hw, rt, tp=tp, pp=pp, ep=ep)
    elif hw.family not in rt.uneven_heads and (problem := head_split_problem(m, tp)) is not None:
        even = [t for t in range(1, chips + 1) if chips % t == 0 and head_split_problem(m, t) is None]
        raise InputError(f"{problem}, and {rt.id} on {hw.family} chips refuses to start such a split "
                         f"(tp that splits them over {chips} chip(s): {', '.join(map(str, even))})", field="tp")
    return Config(model=m, hardware=hw, precision=prec, kv_precision=kv, runtime=rt,
                  tp=tp, pp=pp, replicas=chips // (tp * pp), ep=ep)


def _check_split(rt: Runtime, tp: int, pp: int) -> None:
    """An InputError where the runtime runs no such split of a replica (``Runtime.no_split``), as plans leave out."""
    if (problem := rt.split_problem(tp, pp)) is not None:
        raise InputError(problem, field="pp" if pp > 1 and "pipeline" in rt.no_split else "tp")


def _check_expert_parallel(m: Model, hw: Hardware, rt: Runtime, *, tp: int, pp: int, ep: int) -> None:
    """The shapes the planner enumerates with ep > 1 (``planner.search.shapes.candidates``): ep = tp ranks,
    each holding experts / ep of the routed experts and running attention data parallel, one stage."""
    if m.experts <= 1:  # (first: no degree or shape makes it apply)
        raise InputError(f"{m.id} is a dense model (no routed experts): expert parallelism applies to a mixture "
                         "of experts", field="ep")
    if pp != 1:
        raise InputError(f"expert parallelism runs in one pipeline stage, got pp = {pp}", field="pp")
    if ep != tp:
        raise InputError(f"ep = {ep} must equal tp = {tp}: expert parallelism runs its experts over the tp chips "
                         "with data-parallel attention (or ep = 1: none)", field="ep")
    if ep not in EP_RANKS:
        raise InputError(f"ep = {ep} is not a degree the planner searches ({', '.join(map(str, EP_RANKS))}), so no "
                         "plan runs it and the model's expert-parallel terms are not checked there", field="ep")
    if not expert_parallel_ok(experts=m.experts, ep=ep):
        raise InputError(f"{m.id} has {m.experts} routed expert(s): expert parallelism needs a mixture of experts "
                         f"with at least {MIN_EXPERTS} that ep = {ep} divides", field="ep")
    missing = [f for f in ("expert_parallel", "dp_attention") if not rt.supports(f, hw.family)]
    if missing:
        raise InputError(f"{rt.id} lists no {' or '.join(missing)} on {hw.family} chips (runtimes.yaml)", field="ep")


def _check_weights(catalog: Catalog, hw: Hardware, rt: Runtime, prec: Precision, model: Model) -> None:
    """An InputError on ``precision`` where ``rt`` does not serve ``prec`` weights of ``model`` on ``hw``, saying
    why (``_weights_problem``)."""
    problem = _weights_problem(catalog, hw, rt, prec, model)
    if problem is not None:
        raise InputError(problem, field="precision")


def _weights_problem(catalog: Catalog, hw: Hardware, rt: Runtime, prec: Precision, model: Model) -> str | None:
    """Why ``rt`` does not serve ``prec`` weights of ``model`` on ``hw`` (as the planner drops them:
    ``Runtime.lacks_native``, ``Catalog.weight_precisions``, a chip's cited ``unsupported_precisions``); None: it
    does."""
    if rt.lacks_native(prec.id, hw, model):
        return (f"{rt.id} runs {prec.id} weights only on chips that compute {prec.id}, which {hw.id} does not: "
                f"{rt.sources['native_only']}")
    weights = catalog.weight_precisions(rt, hw)
    if prec.id not in weights:
        return f"{rt.id} does not serve {prec.id} weights{rt.through(hw.family)} (it serves {', '.join(weights)})"
    if prec.compute_precision(hw) is None:
        return f"{hw.id} has no compute path for {prec.id}"
    if prec.id in hw.unsupported_precisions:  # as the planner drops it (a chip's cited reason): estimate ran it
        return f"{hw.id} cannot run {prec.id} weights: {hw.unsupported_precisions[prec.id]}"
    return None


def default_kv_precision(hw: Hardware, rt: Runtime, weight_precision: str, kvs: Sequence[str]) -> str:
    """The KV cache a runtime stores when none is asked (``kvs``: the formats it has on this chip): FP8 where the
    runtime does so with these weights (``Runtime.fp8_kv_with``, runtimes.yaml, cited), else 16-bit (bf16 where the
    chip computes it), as vLLM, SGLang, llama.cpp (f16) and Neuron default to; else the runtime's first. ``hwplan
    estimate`` and ``hwplan validate`` (a record that states none) both take it, so the same flags give the same
    figure."""
    if weight_precision in rt.fp8_kv_with and "fp8" in kvs:
        return "fp8"
    sixteen = "bf16" if "bf16" in hw.peak_flops_per_s else "fp16"
    # (llama.cpp lists fp32, fp16, int8 and defaults to f16: its first, fp32, doubled the cache on a bf16 chip)
    return next((p for p in (sixteen, "fp16", "bf16") if p in kvs), kvs[0])


def _kv_precision(catalog: Catalog, hw: Hardware, rt: Runtime, requested: str | None,
                  weight_precision: str) -> Precision:
    kvs = catalog.kv_precisions(rt, hw)  # (its backend's on this chip's family too)
    if requested is None:
        requested = default_kv_precision(hw, rt, weight_precision, kvs)
    kv = catalog.get_precision(requested, field_name="kv_precision")
    if kv.bytes_per_kv is None or kv.id not in kvs:
        raise InputError(f"{rt.id} does not store the KV cache in {kv.id}{rt.through(hw.family)} (it supports "
                         f"{', '.join(kvs)})",
                         field="kv_precision")
    return kv


def config_grid(catalog: Catalog, config: Config, tables: CatalogTables | None = None) -> Grid:
    """A one-row Grid for a config."""
    # (the catalog's tables, built once per catalog: an estimate gathers one row of them, and
    # fine-tuning's teacher estimates ask for many)
    t = tables or cached(catalog, ESTIMATE_TABLES, lambda: CatalogTables.from_catalog(catalog))
    return t.gather(
        model=np.array([t.model_ids.index(config.model.id)]),
        hardware=np.array([t.hardware_ids.index(config.hardware.id)]),
        weight_precision=np.array([t.precision_ids.index(config.precision.id)]),
        kv_precision=np.array([t.precision_ids.index(config.kv_precision.id)]),
        runtime=np.array([t.runtime_ids.index(config.runtime.id)]),
        tp=config.tp, pp=config.pp, ep=config.ep)


def _check_numbers(scenario: Scenario, batch: int | None, input_tokens: int, output_tokens: int,
                   request_rate: float | None) -> None:
    if input_tokens < 1:
        raise InputError(f"must be at least 1, got {input_tokens}", field="input_tokens")
    if output_tokens < 1:
        raise InputError(f"must be at least 1, got {output_tokens}", field="output_tokens")
    if batch is not None and batch < 1:
        raise InputError(f"must be at least 1, got {batch}", field="batch")
    if scenario is Scenario.SERVER:
        if request_rate is None:
            raise InputError("the server scenario needs a request rate", field="request_rate")
        if not (request_rate > 0 and math.isfinite(request_rate)):
            raise InputError(f"must be a positive number, got {request_rate}", field="request_rate")
    elif request_rate is not None:  # (it was ignored: a figure at no load printed as if at that rate)
        raise InputError(f"only the server scenario reads a request rate ({scenario.value} takes none)",
                         field="request_rate")


def _check_p95s(scenario: Scenario, p95s: tuple[tuple[float | None, int, str], ...]) -> None:
    """A length's p95 (the server scenario's lognormal lengths, as a workload gives them): at least its mean
    and at most a lognormal's largest p95 (``LOGNORMAL_MAX_P95_RATIO`` x the mean), read only under load."""
    for p95, mean, what in p95s:
        if p95 is None:
            continue
        field = f"{what}_p95"
        if scenario is not Scenario.SERVER:
            raise InputError("only the server scenario reads a length distribution", field=field)
        problem = lognormal_p95_problem(mean, p95)
        if problem is not None:
            raise InputError(f"{problem} ({what}_tokens)", field=field)


def estimate(catalog: Catalog, config: Config, *, scenario: Scenario = Scenario.STATIC_BATCH,
             input_tokens: int = 512, output_tokens: int = 128, batch: int | None = None,
             request_rate: float | None = None, pricing: Pricing | str = "on_demand",
             input_p95: float | None = None, output_p95: float | None = None, check_order: bool = True,
             measured_speed: bool = False) -> Estimate:
    """Evaluate one configuration. ``request_rate`` is for the whole deployment (all replicas);
    ``check_order``: compare the chip's batch-1 decode with the chips it beats on paper
    (planner.model.chip_order, which calls this without it); ``measured_speed``: where measured runs of
    its model or chip on its runtime were slower than predicted, evaluate it again at their speed
    (``Estimate.at_measured_speed``)."""
    _check_numbers(scenario, batch, input_tokens, output_tokens, request_rate)
    _check_p95s(scenario, ((input_p95, input_tokens, "input"), (output_p95, output_tokens, "output")))
    how = Pricing.of(pricing)
    grid = config_grid(catalog, config)
    reps = config.replicas
    p99: dict[str, float | None] = {"ttft": None, "tpot": None, "util": None, "cap": None}
    overloaded = False  # server past its capacity (set below)
    if scenario is Scenario.STATIC_BATCH:
        res = static_batch(grid, batch=batch or 1, input_tokens=input_tokens, output_tokens=output_tokens)
        mem, fits, b, max_b = res.memory, bool(res.fits[0]), float(res.batch[0]), res.memory.max_batch
        ttft, tpot, e2e = res.ttft_s[0], res.tpot_s[0], res.e2e_s[0]
        tps, rps, step = res.output_tokens_per_s[0] * reps, res.requests_per_s[0] * reps, res.decode
    elif scenario is Scenario.MAX_THROUGHPUT:
        res = max_throughput(grid, input_tokens=input_tokens, output_tokens=output_tokens,
                             batch_cap=batch or np.inf)
        mem, fits, b, max_b = res.memory, bool(res.fits[0]), float(res.batch[0]), res.memory.max_batch
        ttft, tpot, e2e = res.ttft_s[0], res.tpot_s[0], res.e2e_s[0]
        tps, rps, step = res.output_tokens_per_s[0] * reps, res.requests_per_s[0] * reps, res.decode
    else:
        assert request_rate is not None
        i_dist, o_dist = LengthDist(input_tokens, input_p95), LengthDist(output_tokens, output_p95)
        cap, overlap = batch or np.inf, overlap_of(catalog.calibration, config.runtime.id)
        models = StepModel.build(grid), MemoryModel.build(grid)
        srv = serve(*models, request_rate=request_rate / reps, input_tokens=i_dist, output_tokens=o_dist,
                    batch_cap=cap, overlap=overlap)
        mem, fits, b, max_b = srv.memory, bool(srv.max_batch[0] >= 1), float(srv.batch_mean[0]), srv.max_batch
        ttft, tpot, e2e = srv.ttft_mean_s[0], srv.tpot_mean_s[0], srv.e2e_mean_s[0]
        tps, rps, step = srv.output_tokens_per_s[0] * reps, request_rate, srv.decode
        # the capacity reported: ``serve``'s, what the engine finishes with every slot busy (``full_batch_rate``),
        # not the rate at the mean prompt count (6-22% more with few prompts per iteration: 2.75 against 2.25
        # requests/s for llama-3.1-8b on L4 at 512 / 128 tokens)
        full_rate = float(srv.capacity_requests_per_s[0])
        p99 = {"ttft": float(srv.ttft_s[99][0]), "tpot": float(srv.tpot_s[99][0]),
               "util": request_rate / reps / full_rate if full_rate > 0 else math.inf, "cap": full_rate * reps}
        overloaded = fits and not bool(srv.stable[0])
        if overloaded:  # past capacity: the admitted requests decode at the full batch
            full = overload_tpot(*models, input_tokens=i_dist, output_tokens=o_dist, batch_cap=cap,
                                 percentiles=(99,), overlap=overlap)
            tpot, p99["tpot"], b = full.mean_s[0], float(full.quantile_s[99][0]), float(max_b[0])
            mem = models[1].parts(batch=max_b, context_tokens=i_dist.mean + o_dist.mean,
                                  slot_tokens=slot_tokens(i_dist, o_dist))  # at the full batch
    # past the context window nothing else matters (a memory shortfall there is its consequence)
    reason = _context_reason(config, input_tokens, output_tokens) or _reason(config, mem, b, max_b[0], scenario)
    if overloaded:
        batch_rate = p99["cap"]  # (overloaded only in the server scenario, which sets a rate and this capacity)
        assert request_rate is not None and batch_rate is not None
        past = (f"{request_rate:g} requests/s exceeds the capacity of {batch_rate:.3g} requests/s"
                if request_rate >= batch_rate else
                f"at {request_rate:g} requests/s the queue does not settle, below the full-batch rate of "
                f"{batch_rate:.3g} requests/s (the concurrency reaches the most sequences that fit, or prompts "
                "arrive faster than iterations prefill them)")
        reason = (f"overloaded: {past}: requests queue for a slot without bound (no steady-state TTFT); the "
                  f"admitted ones decode at the full batch, TPOT {1e3 * float(tpot):.3g} ms")
    served = scenario is Scenario.SERVER  # the queueing model ran: it charged the serving iteration cost
    static = scenario is Scenario.STATIC_BATCH
    rate = chip_rate(catalog, config.hardware.id, how, chips_per_replica=config.tp * config.pp)
    cost_hour = rate.usd_per_chip_hour * config.chips if isinstance(rate, ChipRate) else None
    per_million = (cost_hour / (tps * 3600.0) * 1e6
                   if cost_hour is not None and fits and math.isfinite(tps) and tps > 0 else None)
    out = Estimate(
        config=config, scenario=scenario, fits=fits and reason is None, reason=reason,
        weights_bytes=float(mem.weights[0]), kv_cache_bytes=float(mem.kv_cache[0]),
        activations_bytes=float(mem.activations[0]), overhead_bytes=float(mem.overhead[0]),
        total_bytes=float(mem.total[0]), capacity_bytes=float(mem.capacity[0]),
        max_batch=int(max_b[0]), batch=b, ttft_s=float(ttft), tpot_s=float(tpot), e2e_s=float(e2e),
        output_tokens_per_s=float(tps), requests_per_s=float(rps), bound=str(bound_of(step)[0]),
        pricing=how.label, rate=rate, cost_per_hour=cost_hour, cost_per_million_output_tokens=per_million,
        efficiency=_efficiency(catalog, config, grid),
        ttft_p99_s=p99["ttft"], tpot_p99_s=p99["tpot"], utilization=p99["util"],
        capacity_requests_per_s=p99["cap"],
        serving_iteration_s=catalog.calibration.iteration_s(config.runtime.id) if served else None,
        serving_iteration_source=catalog.calibration.iteration_source(config.runtime.id) if served else None,
        serving_iteration_interval_s=catalog.calibration.iteration_interval(config.runtime.id) if served else None,
        # the engine's cap holds the batch of an open-loop scenario; a static batch is the caller's
        concurrency_cap=None if static else catalog.calibration.max_concurrency(config.runtime, config.hardware),
        concurrency_cap_source="" if static else catalog.calibration.concurrency_source(config.runtime,
                                                                                         config.hardware),
        accuracy=accuracy_of(catalog.calibration) if served else None,
        measured=catalog.measured_for(config.model.id, config.runtime.id, [config.hardware.id]),
        order=order_flags(catalog, runtime=config.runtime.id, hardware=config.hardware.id, tpot=lambda h: batch1_tpot(
            catalog, config.model.id, h, config.runtime.id, config.precision.id, config.kv_precision.id, config.tp))
        if check_order else (),
    )
    if not measured_speed or not any(slows(b) for b in out.measured):
        return out
    again = estimate(at_measured_speed(catalog), config, scenario=scenario, input_tokens=input_tokens,
                     output_tokens=output_tokens, batch=batch, request_rate=request_rate, pricing=pricing,
                     input_p95=input_p95, output_p95=output_p95, check_order=False)
    return replace(out, at_measured_speed=again)


def _efficiency(catalog: Catalog, config: Config, grid: Grid) -> Efficiency:
    """The pair's efficiency as the configuration's row ran it: at its speed where a what-if slows it
    (``Calibration.slowed``; the grid's figures are the pair's own elsewhere, x 1 and / 1 exactly)."""
    return replace(catalog.efficiency(config.hardware, config.runtime), compute=float(grid.eff_compute[0]),
                   memory=float(grid.eff_memory[0]), communication=float(grid.eff_communication[0]),
                   step_overhead_s=float(grid.step_overhead_s[0]),
                   collective_latency_s=float(grid.collective_latency_s[0]))


def batch1_tpot(catalog: Catalog, model: str, hardware: str, runtime: str, precision: str, kv_precision: str | None,
                tp: int | None) -> tuple[int, float] | None:
    """(tp, TPOT in s) of one replica decoding one sequence (a static batch of 1), at ``tp`` (None: the
    catalog's default); None where the configuration is not possible or does not fit. Cached per catalog
    (planner.model.chip_order compares chips with it)."""
    def compute() -> tuple[int, float] | None:
        try:
            config = resolve(catalog, model=model, hardware=hardware, runtime=runtime, precision=precision,
                             kv_precision=kv_precision, tp=tp)
            e = estimate(catalog, config, batch=1, check_order=False)
        except InputError:  # a precision or tp this chip or runtime does not take: nothing to compare
            return None
        return (config.tp, e.tpot_s) if e.fits else None

    return cached(catalog, ("batch-1 tpot", model, hardware, runtime, precision, kv_precision, tp), compute)


def _context_reason(config: Config, input_tokens: int, output_tokens: int) -> str | None:
    """Why the sequence cannot run: prompt plus output beyond the model's context window."""
    limit = config.model.context_length
    if input_tokens + output_tokens > limit:
        return (f"context: input_tokens + output_tokens = {input_tokens + output_tokens:,} exceeds "
                f"{config.model.id}'s context length of {limit:,} tokens")
    return None


def _reason(config: Config, mem: Memory, batch: float, max_batch: float, scenario: Scenario) -> str | None:
    """Why the configuration does not fit in memory (None: it fits). Every part is checked, and the
    total at the operating batch too: activations and logits grow with the batch, so the largest
    batch whose KV fits next to one sequence's activations may still overflow."""
    hw = config.hardware
    total, capacity, weights = float(mem.total[0]), float(mem.capacity[0]), float(mem.weights[0])
    chips = config.tp * config.pp
    if chips > hw.chips_per_node and hw.scale_out_bytes_per_s is None:  # (as the search's parallel_ok rule)
        spans = f"tp = {config.tp}" if config.pp == 1 else f"tp x pp = {config.tp} x {config.pp} = {chips} chips"
        return (f"{spans} spans more than the {hw.chips_per_node} chips of one {hw.id} node "
                f"and the catalog gives no scale-out network")
    if weights >= capacity:
        return (f"weights alone need {weights / GB:.1f} GB per chip but {hw.id} has "
                f"{capacity / GB:.1f} GB (use more chips, tp/pp, or fewer bits)")
    if max_batch < 1:
        return (f"weights fit ({weights / GB:.1f} GB per chip) but engine overhead and activations "
                f"leave no room for the KV cache of one sequence in {capacity / GB:.1f} GB")
    if scenario is Scenario.STATIC_BATCH and max_batch < batch:
        return (f"batch {batch:g} needs {total / GB:.1f} GB per chip but {hw.id} has "
                f"{capacity / GB:.1f} GB; at most {max_batch:g} sequences fit")
    parts = {"weights": weights, "kv_cache": float(mem.kv_cache[0]), "activations": float(mem.activations[0]),
             "overhead": float(mem.overhead[0])}
    over = [name for name, value in parts.items() if value > capacity]
    if over or total > capacity:
        listed = ", ".join(f"{name} {value / GB:.2f}" for name, value in parts.items())
        what = f"{over[0]} alone exceeds" if over else "the parts together exceed"
        return (f"memory: {what} capacity at batch {batch:g}: {listed} = {total / GB:.2f} GB per chip, "
                f"{hw.id} has {capacity / GB:.2f} GB")
    return None
