"""Predict published measurements: map records of the canonical format onto the performance model.

A ``Measurement`` is one record of a measurements file (see ``../shared/calibration/SCHEMA.md``),
in SI units. ``prepare`` resolves ids into index arrays (a ``RecordSet``), skipping records it
cannot map, with the reason; ``predict`` evaluates every record of a set in a few vectorised
calls, optionally with one efficiency row per record (the calibration's free parameters).

Every operation is row-wise, so a record's prediction does not depend on the other records.

Mapping decisions
* ``chips`` = tp x pp x replicas; ``batch`` (static batch, concurrency cap) and ``request_rate``
  / replicas are per replica, as in ``planner.model.estimate``; output_tokens_per_s is for all replicas.
* ``kv_precision`` null = the runtime default, as ``hwplan estimate`` takes it
  (``planner.model.estimate.default_kv_precision``): FP8 for TensorRT-LLM serving FP8/FP4 (ModelOpt)
  checkpoints, which enable an FP8 KV cache by default; otherwise 16-bit (bf16 where the chip and
  runtime have it, else fp16), as vLLM, llama.cpp, Neuron and the others default to.
* ``tp`` null = the tp a submitter tunes to (``_tuned_tp``): of those within a node whose weights fit,
  the one predicted to reach the most of the record's figure (SLO capacity for a Server / Interactive
  record with an ``slo``: MLPerf accepts a latency-bound result only if it met its SLO; else tokens/s).
* p99 figures of static-batch and max-throughput records equal their means (no queueing).
* ``weight_precision`` is the stored format the source states; where the chip maps it for the
  record's runtime (hardware ``runtime_kernels``), the record is predicted at that kernel's
  precision: Intel Arc + vLLM int4 -> w4a8 (int8 matmuls; Intel's MLPerf v5.1 measurements JSON:
  weights UINT4, inputs UINT8). Plans keep the catalog's int4 (W4A16): see docs/catalog.md.
* MLPerf systems named ``<sut>-reference-<device>-<framework>...`` ran the MLCommons reference
  implementation through the Collective Mind automation (``cm run ... --implementation=reference``)
  against an engine's API server, with a fixed number of client workers (NeuralMagic v4.1:
  ``--api_server=http://localhost:8000 --num_workers=12``, the published run command in each
  result's README); the requests in flight are set by that harness, not by the engine, and the
  record does not state them: skipped (``REFERENCE_HARNESS``).
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace

import numpy as np
import numpy.typing as npt

from planner.calibration.speculation import (
    StatedDisaggregation,
    StatedSpeculation,
    disaggregation_reason,
    drafted_columns,
    drafter_of,
    per_iteration,
    pool_view,
    served_view,
)
from planner.domain import Calibration, Catalog
from planner.errors import InputError, PlannerError
from planner.model.estimate import Config, Scenario, resolve
from planner.model.grid import Array, CatalogTables, Efficiencies, Grid
from planner.model.load.queueing import (
    LengthDist,
    ServerResult,
    engine_capacity,
    overload_tpot,
    serve,
    tpot_tuned_cap,
)
from planner.model.load.scheduler import SERVING_OVERLAP, overlap_of
from planner.model.perf import MemoryModel, StepModel
from planner.model.scenarios import Models, max_throughput, static_batch
from planner.model.serving import DecodePool, Drafter, PrefillPool, kv_senders, prompt_kv_bytes, uses_mtp

__all__ = [
    "EFFICIENCY_FIELDS",
    "METRICS",
    "Measurement",
    "RecordSet",
    "Skipped",
    "predict",
    "predict_calibrated",
    "prepare",
    "slo_capacity",
]

# Metric keys in SI units, in the order of ``predict``'s columns. Under load (server records):
# the percentiles at the record's rate, and the highest rate whose predicted p99s meet its slo.
METRICS = ("output_tokens_per_s", "ttft_s", "tpot_s", "e2e_s", "ttft_p99_s", "tpot_p99_s",
           "ttft_p50_s", "ttft_p90_s", "tpot_p50_s", "tpot_p90_s", "slo_capacity_requests_per_s")
_THROUGHPUT, _CAPACITY = METRICS.index("output_tokens_per_s"), METRICS.index("slo_capacity_requests_per_s")
EFFICIENCY_FIELDS = tuple(f.name for f in fields(Efficiencies))  # a fit's parameter columns, in order


@dataclass(frozen=True)
class Measurement:
    """One published measurement (SI units; ``observed`` keyed by ``METRICS``)."""

    id: str
    model: str
    hardware: str
    chips: int
    tp: int | None  # None: not stated; the tp a submitter tunes to (``_tuned_tp``)
    pp: int | None
    weight_precision: str
    kv_precision: str | None
    runtime: str
    scenario: Scenario
    input_tokens: int | None  # None: not published (the record cannot be predicted)
    output_tokens: int | None
    batch: int | None
    request_rate: float | None
    observed: Mapping[str, float]
    source: str = ""
    confidence: str = "medium"
    input_dist: LengthDist | None = None  # the benchmark's length distributions, where published
    output_dist: LengthDist | None = None
    slo: Mapping[str, float] = field(default_factory=dict)  # ttft_p99_s, tpot_p99_s, e2e_p99_s
    tags: Mapping[str, str] = field(default_factory=dict)  # round, scenario, submitter, system, ...
    same_log_as: str | None = None  # a record with a byte-identical log: counted once
    memory_gb: float | None = None  # the accelerator memory the source states
    accelerator: str | None = None  # the accelerator name the source states (MLPerf accelerator_model_name)
    ep: int | None = None
    modified_model: str | None = None
    speculative: StatedSpeculation | None = None  # as the source states it (planner.calibration.speculation)
    disaggregated: StatedDisaggregation | None = None  # prefill and decode on separate pools

    def drafter(self) -> Drafter | None:
        """The planner's drafter for the stated speculation (an InputError where none is sourced)."""
        return None if self.speculative is None else drafter_of(self.speculative)

    def lengths(self) -> tuple[LengthDist, LengthDist]:
        """Input and output length distributions: the published ones, else the means."""
        assert self.input_tokens is not None and self.output_tokens is not None
        return (self.input_dist or LengthDist(float(self.input_tokens)),
                self.output_dist or LengthDist(float(self.output_tokens)))


@dataclass(frozen=True)
class Skipped:
    """A record that could not be predicted, and why."""

    id: str
    reason: str


@dataclass(frozen=True)
class RecordSet:
    """Resolved records as index arrays into ``CatalogTables`` (one row per record)."""

    records: tuple[Measurement, ...]
    configs: tuple[Config, ...]
    model: npt.NDArray[np.int64]
    hardware: npt.NDArray[np.int64]
    weight_precision: npt.NDArray[np.int64]
    kv_precision: npt.NDArray[np.int64]
    runtime: npt.NDArray[np.int64]
    tp: Array
    pp: Array
    replicas: Array
    observed: Array  # [record, metric], nan = not measured
    # a disaggregated record's prefill pool (its ``configs`` entry is the decode pool); () where none is
    prefill: tuple[Config | None, ...] = ()

    def __len__(self) -> int:
        return len(self.records)

    def pooled(self, k: int) -> bool:
        """Whether record ``k`` runs prefill and decode on separate pools (``_disaggregated``)."""
        return bool(self.prefill) and self.prefill[k] is not None

    def take(self, index: Sequence[int]) -> RecordSet:
        idx = np.asarray(index, dtype=np.int64)
        return RecordSet(
            records=tuple(self.records[i] for i in idx),
            configs=tuple(self.configs[i] for i in idx),
            prefill=tuple(self.prefill[i] for i in idx) if self.prefill else (),
            **{name: getattr(self, name)[idx] for name in (
                "model", "hardware", "weight_precision", "kv_precision", "runtime", "tp", "pp",
                "replicas", "observed")},
        )


def _hardware_id(catalog: Catalog, m: Measurement) -> str:
    """The catalog entry for the record's chip: where the source names a "Server Edition" and the
    catalog has ``<id>-server``, that entry (the RTX PRO 4500 Server Edition is a 165 W, 800 GB/s
    card beside the 200 W, 896 GB/s workstation one; RTX PRO 6000 has no such sibling: its editions
    share their figures); where the source states a memory size that differs from the catalog's
    entry by more than 10%, its sibling ``<id>-<N>gb`` (MLPerf names the 144 GB GH200 ``gh200``,
    the catalog's ``gh200`` is the 96 GB part)."""
    hw = catalog.get_hardware(m.hardware)
    edition = f"{hw.id}-server"
    if "server edition" in (m.accelerator or "").lower() and edition in catalog.hardware:
        hw = catalog.get_hardware(edition)
    if m.memory_gb is None or abs(hw.memory_bytes / 1e9 - m.memory_gb) <= 0.1 * m.memory_gb:
        return hw.id
    sibling = f"{hw.id}-{m.memory_gb:.0f}gb"
    if sibling in catalog.hardware:
        return sibling
    raise InputError(f"the source states {m.memory_gb:.0f} GB per chip; catalog {hw.id} has "
                     f"{hw.memory_bytes / 1e9:.0f} GB and there is no {sibling}", field="hardware")


# share of a chip's memory the weights may take when the source does not state tp
_WEIGHT_SHARE = 0.8


def _inferred_tp(catalog: Catalog, m: Measurement, hardware: str, pp: int) -> int:
    """The smallest power-of-two tp within a node, dividing the chips, whose weights take at most
    _WEIGHT_SHARE of each chip's memory: a record that does not state tp resolves at it first, then
    ``_tuned_tp`` maps it to the tp its submitter would have tuned to [mapping decision]."""
    hw, model = catalog.get_hardware(hardware), catalog.get_model(m.model)
    prec = catalog.get_precision(m.weight_precision)
    # an experts-only checkpoint: the rest 16-bit; as the record's runtime stores them
    weights = model.weight_bytes(prec, catalog.precisions, catalog.runtimes.get(m.runtime))
    tp = 1
    while tp < hw.chips_per_node and m.chips % (2 * tp * pp) == 0:
        if weights / (tp * pp) <= _WEIGHT_SHARE * hw.memory_bytes:
            break
        tp *= 2
    return tp


# CM's system naming: <sut>-<implementation>-<device>-<framework>-<version>-<config>
REFERENCE_HARNESS = re.compile(r"-reference-[a-z]+-")


def _resolve(catalog: Catalog, m: Measurement) -> Config:
    if REFERENCE_HARNESS.search(m.tags.get("system", "")):
        raise InputError("MLCommons reference implementation against an API server: its client workers, not "
                         "stated in the record, set the requests in flight", field="mlperf.system")
    if m.same_log_as is not None:
        raise InputError(f"same log as {m.same_log_as}: counted once", field="mlperf.same_log_as")
    if m.modified_model is not None:
        raise InputError(f"open-division modified model ({m.modified_model}): not the catalog's "
                         f"{m.model}", field="mlperf.modified_model")
    if m.input_tokens is None or m.output_tokens is None:
        raise InputError("the benchmark's token lengths are not published in the record",
                         field="input_tokens" if m.input_tokens is None else "output_tokens")
    if m.disaggregated is not None:  # resolved as its decode pool; the prefill pool's config is ``_prefill_config``
        return _pool_config(catalog, m, prefill=False)
    drafter = m.drafter()  # a stated speculation the planner has no sourced figure for: not predicted
    if drafter is not None and drafter.method == "mtp" and not uses_mtp(catalog.get_model(m.model)):
        raise InputError(f"MTP drafts with the model's own multi-token-prediction modules; {m.model} ships none",
                         field="mlperf.speculative_decoding")
    hardware = _hardware_id(catalog, m)
    pp = m.pp or 1
    tp = m.tp or _inferred_tp(catalog, m, hardware, pp)
    config = resolve(catalog, model=m.model, hardware=hardware, chips=m.chips, tp=tp, pp=pp,
                     precision=m.weight_precision, kv_precision=m.kv_precision, runtime=m.runtime)
    kernel = config.hardware.kernel_precision(config.runtime.id, config.precision.id)
    if kernel != config.precision.id:  # the chip's runtime_kernels: the same weights, another compute precision
        config = replace(config, precision=catalog.get_precision(kernel))
    hw_ = config.hardware
    if config.tp * config.pp > hw_.chips_per_node and hw_.scale_out_bytes_per_s is None:
        raise InputError(f"tp x pp = {config.tp * config.pp} spans more than the {hw_.chips_per_node} "
                         f"chip(s) of one {hw_.id} node and the catalog gives no scale-out network",
                         field="tp")
    if m.scenario is Scenario.STATIC_BATCH and m.batch is None:
        raise InputError("static_batch needs a batch", field="batch")
    if m.scenario is Scenario.SERVER and m.request_rate is None:
        raise InputError("the server scenario needs a request rate", field="request_rate")
    if not m.observed:
        raise InputError("no observed metric", field="observed")
    return config


def _pool(m: Measurement, *, prefill: bool) -> Measurement:
    """A disaggregated record as one of its pools: the pool's chips, each worker a replica of tp = its chips (pp 1);
    an InputError naming the first condition of a predicted pair the record misses."""
    d = m.disaggregated
    assert d is not None
    field = "mlperf.disaggregated"
    if m.scenario is not Scenario.SERVER:
        raise InputError(f"a disaggregated record is predicted as its pair under load (scenario server: MLPerf Server "
                         f"or Interactive); this one is {m.scenario}, and is not predicted as aggregated",
                         field="scenario")
    missing = [name for name in ("prefill_chips", "decode_chips", "prefill_workers", "decode_workers")
               if getattr(d, name) is None]
    if missing:
        raise InputError(f"{disaggregation_reason(d)}; missing: {', '.join(missing)}", field=f"{field}.{missing[0]}")
    pools = d.pools
    assert d.prefill_chips and d.decode_chips and d.prefill_workers and d.decode_workers
    for pool, chips, workers in (("prefill", d.prefill_chips, d.prefill_workers),
                                 ("decode", d.decode_chips, d.decode_workers)):
        if chips % workers:
            raise InputError(f"{chips} {pool} chips do not divide evenly over {workers} {pool} workers (each worker "
                             "is a replica of the same tp)", field=f"{field}.{pool}_workers")
    assert pools is not None
    pc, pw, dc, dw = pools
    if pc + dc != m.chips:
        raise InputError(f"the pools' {pc} prefill + {dc} decode chips are not the record's {m.chips}", field=field)
    if m.tp is not None or m.pp is not None:
        raise InputError("a disaggregated pair's tp is each pool's chips per worker (pp 1): the record's own tp / pp "
                         "would not be used; leave them null", field="tp" if m.tp is not None else "pp")
    if set(m.slo) != {"ttft_p99_s", "tpot_p99_s"}:
        raise InputError(f"a disaggregated pair is predicted under TTFT and TPOT p99 limits (the prefill pool holds "
                         f"one, the decode pool the other); the record states {sorted(m.slo) or 'none'}", field="slo")
    chips, workers = (pc, pw) if prefill else (dc, dw)
    return replace(m, chips=chips, tp=chips // workers, pp=1, disaggregated=None)


def _pool_config(catalog: Catalog, m: Measurement, *, prefill: bool) -> Config:
    """``_resolve`` of one pool, its errors naming the pool and its workers field."""
    pool = "prefill" if prefill else "decode"
    one = _pool(m, prefill=prefill)
    try:
        return _resolve(catalog, one)
    except InputError as exc:
        raise InputError(f"the {pool} pool ({one.chips} chips, tp {one.tp} a worker): {exc.message}",
                         field=f"mlperf.disaggregated.{pool}_workers") from exc


def _prefill_config(catalog: Catalog, m: Measurement) -> Config | None:
    """The prefill pool's config of a disaggregated record (None: aggregated); an InputError where the pools
    cannot exchange the prompt's KV cache (more chips than one node and no scale-out network)."""
    if m.disaggregated is None:
        return None
    config = _pool_config(catalog, m, prefill=True)
    hw = config.hardware
    if m.chips > hw.chips_per_node and hw.scale_out_bytes_per_s is None:
        raise InputError(f"the pools span {m.chips} chips, more than one {hw.id} node, and the catalog gives no "
                         "scale-out network to move the prompts' KV cache over", field="mlperf.disaggregated")
    return config


def prepare(catalog: Catalog, tables: CatalogTables,
            records: Sequence[Measurement]) -> tuple[RecordSet, tuple[Skipped, ...]]:
    """Resolve every record; those that cannot be mapped are skipped with the reason."""
    kept: list[tuple[Measurement, Config]] = []
    prefill: list[Config | None] = []
    skipped: list[Skipped] = []
    for m in records:
        try:
            config = _resolve(catalog, m)
            prefill.append(_prefill_config(catalog, m))
            kept.append((m, config))
        except PlannerError as exc:
            skipped.append(Skipped(m.id, exc.message))
    _tuned_tp(catalog, tables, kept)
    return _record_set(tables, kept, tuple(prefill)), tuple(skipped)


def _record_set(tables: CatalogTables, kept: Sequence[tuple[Measurement, Config]],
                prefill: tuple[Config | None, ...] = ()) -> RecordSet:
    observed = np.array([[m.observed.get(k, math.nan) for k in METRICS] for m, _ in kept],
                        dtype=np.float64).reshape(len(kept), len(METRICS))
    cs = [c for _, c in kept]
    return RecordSet(
        records=tuple(m for m, _ in kept),
        configs=tuple(cs),
        model=np.array([tables.model_ids.index(c.model.id) for c in cs], dtype=np.int64),
        hardware=np.array([tables.hardware_ids.index(c.hardware.id) for c in cs], dtype=np.int64),
        weight_precision=np.array([tables.precision_ids.index(c.precision.id) for c in cs], dtype=np.int64),
        kv_precision=np.array([tables.precision_ids.index(c.kv_precision.id) for c in cs], dtype=np.int64),
        runtime=np.array([tables.runtime_ids.index(c.runtime.id) for c in cs], dtype=np.int64),
        tp=np.array([c.tp for c in cs], dtype=np.float64),
        pp=np.array([c.pp for c in cs], dtype=np.float64),
        replicas=np.array([c.replicas for c in cs], dtype=np.float64),
        observed=observed,
        prefill=prefill if any(c is not None for c in prefill) else (),
    )


def _tuned_tp(catalog: Catalog, tables: CatalogTables, kept: list[tuple[Measurement, Config]]) -> None:
    """Map every record that does not state tp to the tp its submitter would have tuned to (in place): of
    the powers of two within a node that divide its chips and whose weights fit, the one the model predicts
    the most for the record's own figure: SLO capacity for a Server / Interactive record with an ``slo``
    (the rate a submitter raises until the SLO fails), output tokens/s for any other. Ties (a record no tp
    lets meet its SLO: capacity 0 at each) keep the smallest tp, the most replicas.

    A published result is the submitter's best configuration, not the first one whose weights fit: the
    smallest fitting tp leaves too little memory for the KV cache of a long-context benchmark, or runs
    decode steps too long for an interactive SLO, where a larger tp doubles the rate per chip. Predicted
    with ``catalog``'s calibration; the record's observed figure plays no part [mapping decision for
    records that do not state tp; ``bench/tp_rule.py`` compares it with the smallest fitting tp]."""
    variants: list[tuple[int, Measurement, Config]] = []
    for k, (m, c) in enumerate(kept):
        if m.tp is not None or m.disaggregated is not None:  # (each pool's workers state their tp)
            continue
        options: list[Config] = []
        tp = 1
        while tp <= c.hardware.chips_per_node and m.chips % (tp * c.pp) == 0:
            with contextlib.suppress(PlannerError):  # its weights do not fit
                options.append(c if tp == c.tp else _resolve(catalog, replace(m, tp=tp, pp=c.pp)))
            tp *= 2
        if len(options) > 1:  # (one option, the tp it resolved at: nothing to choose, nothing to predict)
            variants += [(k, m, option) for option in options]
    if not variants:
        return
    rs = _record_set(tables, [(m, c) for _, m, c in variants])
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    best: dict[int, tuple[float, Config]] = {}
    for (k, m, c), row in zip(variants, predicted, strict=True):  # ascending tp per record: ties keep the smaller
        figure = row[_CAPACITY if m.scenario is Scenario.SERVER and m.slo else _THROUGHPUT]
        score = float(figure) if np.isfinite(figure) else -math.inf
        if k not in best or score > best[k][0]:
            best[k] = (score, c)
    for k, (_, c) in best.items():
        kept[k] = (kept[k][0], c)


def record_grid(tables: CatalogTables, rs: RecordSet, efficiency: Efficiencies | None = None,
                moe_expert: Array | None = None) -> Grid:
    """One grid row per record; ``efficiency`` and ``moe_expert`` (one row per record) replace the
    catalog's efficiencies and MoE expert efficiency."""
    grid = tables.gather(model=rs.model, hardware=rs.hardware, weight_precision=rs.weight_precision,
                         kv_precision=rs.kv_precision, runtime=rs.runtime, tp=rs.tp, pp=rs.pp)
    if moe_expert is not None:
        grid = replace(grid, moe_expert_efficiency=moe_expert)
    if efficiency is None:
        return grid
    return replace(grid, **{name: getattr(efficiency, name) for name in EFFICIENCY_FIELDS})


def _numbers(rs: RecordSet, attr: str, missing: float) -> Array:
    return np.array([missing if (v := getattr(m, attr)) is None else float(v) for m in rs.records],
                    dtype=np.float64)


def _means(rs: RecordSet) -> tuple[Array, Array]:
    """Mean input and output tokens per record (of the published distribution, where there is one)."""
    lengths = [m.lengths() for m in rs.records]
    return (np.array([i.mean for i, _ in lengths], dtype=np.float64).reshape(-1),
            np.array([o.mean for _, o in lengths], dtype=np.float64).reshape(-1))


def predict(tables: CatalogTables, rs: RecordSet, efficiency: Efficiencies | None = None, *,
            capacity: bool = True, overlap: float | Array = SERVING_OVERLAP, moe_expert: Array | None = None) -> Array:
    """Predicted metrics [record, metric] in SI units (columns as ``METRICS``).

    ``capacity``: also search each server record's SLO capacity (a dozen queueing evaluations per
    record; the fit leaves it out of its inner loop). ``overlap``: the serving iterations' (server
    records only, ``planner.model.load.scheduler``): one for all, or one per record (``predict_calibrated``)."""
    grid = record_grid(tables, rs, efficiency, moe_expert)
    out = np.full((len(rs), len(METRICS)), np.nan)
    i, o = _means(rs)
    b = _numbers(rs, "batch", np.inf)
    scen = np.array([str(m.scenario) for m in rs.records])
    for name, fn in ((Scenario.STATIC_BATCH, static_batch), (Scenario.MAX_THROUGHPUT, max_throughput)):
        idx = np.flatnonzero(scen == str(name))
        if idx.size == 0:
            continue
        g = grid.take(idx)
        if fn is static_batch:
            res = static_batch(g, batch=b[idx], input_tokens=i[idx], output_tokens=o[idx])
        else:
            res = max_throughput(g, input_tokens=i[idx], output_tokens=o[idx], batch_cap=b[idx])
        # Predicted even where the memory model says it does not fit: the record shows it did.
        out[idx, :6] = np.stack([
            res.output_tokens_per_s * rs.replicas[idx], res.ttft_s, res.tpot_s, res.e2e_s,
            res.ttft_s, res.tpot_s], axis=1)
        for k in (k for k in idx if rs.records[k].speculative is not None):
            m = rs.records[k]
            out[k, :6] = drafted_columns(grid.take(np.array([k], dtype=np.int64)), m.drafter(), m.scenario,
                                         batch=b[k], input_mean=i[k], output_mean=o[k], replicas=rs.replicas[k])
    server_rows = np.flatnonzero(scen == str(Scenario.SERVER))
    pairs = np.array([k for k in server_rows if rs.pooled(int(k))], dtype=np.int64)
    server_rows = np.setdiff1d(server_rows, pairs)
    if server_rows.size:
        predict_server(grid, rs, server_rows, b, out, capacity=capacity, overlap=overlap)
    for k in pairs:
        _disaggregated(tables, rs, int(k), grid, efficiency, moe_expert, b, out, capacity=capacity, overlap=overlap)
    return out


def _disaggregated(tables: CatalogTables, rs: RecordSet, k: int, grid: Grid, efficiency: Efficiencies | None,
                   moe_expert: Array | None, cap: Array, out: Array, *, capacity: bool,
                   overlap: float | Array) -> None:
    """Fill ``out``'s row of record ``k``, served by separate prefill and decode pools (DistServe, Zhong et al.,
    OSDI 2024; the planner's pools, ``planner.search.disagg``), each its stated workers behind a load balancer
    that splits the Poisson arrivals evenly.

    The prefill pool serves one-token requests (the queueing model, the record's prompt lengths, the engine's
    default cap); a prompt's KV cache then moves to a decode worker (``_transfer_s``); the decode pool serves the
    outputs with the prompt's KV arriving whole (``DecodePool``), its cap tuned to the TPOT limit (as a record's
    engine, ``queueing.tpot_tuned_cap``), a request waiting there for a slot before its first decode step. TTFT =
    the prefill pool's + the transfer + the decode pool's wait and first step (each quantile the sum of the pools':
    an upper bound where the two are not comonotone); TPOT the decode pool's; e2e the TTFT and the decode pool's
    time past its first token. Where either pool is past its capacity at the record's rate there is no steady
    state: TTFT, e2e and tokens/s are nan, TPOT the decode pool's (its full batch's where it is the one past).
    SLO capacity: the highest rate at which both pools are stable and the pair's TTFT p99 and TPOT p99 meet the
    record's limits (``highest_rate``, as ``slo_capacity``; ``_pool`` admits only records with both)."""
    m = rs.records[k]
    ov = np.broadcast_to(np.asarray(overlap, dtype=np.float64), (len(rs),))[[k]]
    prefill, decode = rs.prefill[k], rs.configs[k]
    assert prefill is not None and m.disaggregated is not None and m.disaggregated.pools is not None
    _, pw, _, dw = m.disaggregated.pools
    row = np.array([k], dtype=np.int64)
    g_p = record_grid(tables, _record_set(tables, [(m, prefill)]),
                      None if efficiency is None else efficiency.take(row),
                      None if moe_expert is None else moe_expert[row])
    i_dist, o_dist = m.lengths()
    drafter = m.drafter()
    pre = pool_view(g_p, PrefillPool(), i_dist, LengthDist(1.0))
    dec = pool_view(grid.take(row), DecodePool(prefix_tokens=i_dist.mean - 1.0, drafter=drafter), i_dist, o_dist)
    e = dec.emitted
    moved = _transfer_s(m, prefill, decode, g_p)
    ttft_limit, tpot_limit = m.slo["ttft_p99_s"], m.slo["tpot_p99_s"]
    p_cap = cap[row]
    d_cap = tpot_tuned_cap(dec.step, dec.mem, input_tokens=dec.input_tokens, output_tokens=dec.output_tokens,
                           batch_cap=cap[row], overlap=ov, tpot_limits={99: np.array([tpot_limit * e])})

    def run(rate: float, percentiles: tuple[int, ...]) -> tuple[ServerResult, ServerResult]:
        rp = serve(pre.step, pre.mem, request_rate=np.array([rate / pw]), input_tokens=pre.input_tokens,
                   output_tokens=pre.output_tokens, batch_cap=p_cap, percentiles=percentiles, overlap=ov)
        rd = serve(dec.step, dec.mem, request_rate=np.array([rate / dw]), input_tokens=dec.input_tokens,
                   output_tokens=dec.output_tokens, batch_cap=d_cap, percentiles=percentiles, overlap=ov)
        return rp, rd

    def meets(rate: Array) -> npt.NDArray[np.bool_]:
        rp, rd = run(float(rate[0]), (99,))
        ttft = float(rp.ttft_s[99][0]) + moved + float(rd.ttft_s[99][0])
        return np.array([rp.stable[0] and rd.stable[0] and ttft <= ttft_limit
                         and float(rd.tpot_s[99][0]) <= tpot_limit * e])

    rp, rd = run(float(m.request_rate or math.nan), (50, 90, 99))
    stable = bool(rp.stable[0] and rd.stable[0])
    ttft = {"ttft_s": (rp.ttft_mean_s, rd.ttft_mean_s), "ttft_p50_s": (rp.ttft_s[50], rd.ttft_s[50]),
            "ttft_p90_s": (rp.ttft_s[90], rd.ttft_s[90]), "ttft_p99_s": (rp.ttft_s[99], rd.ttft_s[99])}
    for column, (first, wait) in ttft.items():
        out[k, METRICS.index(column)] = float(first[0]) + moved + float(wait[0]) if stable else math.nan
    out[k, METRICS.index("e2e_s")] = (out[k, METRICS.index("ttft_s")] + float(rd.e2e_mean_s[0] - rd.ttft_mean_s[0])
                                      if stable else math.nan)
    out[k, METRICS.index("output_tokens_per_s")] = (float(rd.output_tokens_per_s[0]) * dec.tokens_per_iteration * dw
                                                    if stable else math.nan)
    tpot = {"tpot_s": rd.tpot_mean_s, "tpot_p50_s": rd.tpot_s[50], "tpot_p90_s": rd.tpot_s[90],
            "tpot_p99_s": rd.tpot_s[99]}
    if not rd.stable[0] and rd.max_batch[0] >= 1:  # the decode pool past its capacity: its full batch's TPOT
        full = overload_tpot(dec.step, dec.mem, input_tokens=dec.input_tokens, output_tokens=dec.output_tokens,
                             batch_cap=d_cap, percentiles=(50, 90, 99), overlap=ov)
        tpot = {"tpot_s": full.mean_s, "tpot_p50_s": full.quantile_s[50], "tpot_p90_s": full.quantile_s[90],
                "tpot_p99_s": full.quantile_s[99]}
    for column, values in tpot.items():
        out[k, METRICS.index(column)] = float(values[0]) / e
    if not capacity:
        return
    top = min(pw * float(engine_capacity(pre.step, pre.mem, input_tokens=pre.input_tokens,
                                         output_tokens=pre.output_tokens, batch_cap=p_cap, overlap=ov)[0]),
              dw * float(engine_capacity(dec.step, dec.mem, input_tokens=dec.input_tokens,
                                         output_tokens=dec.output_tokens, batch_cap=d_cap, overlap=ov)[0]))
    out[k, METRICS.index("slo_capacity_requests_per_s")] = float(highest_rate(np.array([top]), meets)[0]) \
        if top > 0 else 0.0


def _transfer_s(m: Measurement, prefill: Config, decode: Config, g_p: Grid) -> float:
    """Seconds to move one mean prompt's KV cache from a prefill to a decode worker: its bytes as the runtime
    caches them (``kv_bytes_per_token``: sliding windows included) over one direction of the chip-to-chip link
    (half the vendor's bidirectional aggregate) where both pools sit in one node (an NVL72 rack is one), else the
    scale-out network, every chip holding a shard of it sending at once (MLA's one latent, or attention data
    parallel where the record states expert parallelism: one chip)."""
    kv = prompt_kv_bytes(decode.model, decode.runtime, decode.kv_precision, float(m.lengths()[0].mean))
    if kv is None:
        raise InputError(f"KV precision {decode.kv_precision.id} has no byte size", field="kv_precision")
    one_node = m.chips <= float(g_p.chips_per_node[0])
    link = float(g_p.link_bytes_per_s[0]) / 2.0 if one_node else float(g_p.scale_out_bytes_per_s[0])
    senders = min(kv_senders(prefill.model, prefill.tp * prefill.pp, attention_dp=bool(m.ep)),
                  kv_senders(decode.model, decode.tp * decode.pp, attention_dp=bool(m.ep)))
    return kv / (link * senders) if link > 0 else math.inf


def predict_calibrated(tables: CatalogTables, rs: RecordSet, calibration: Calibration) -> Array:
    """``predict`` at ``calibration``'s serving overlaps (the pooled one and any per runtime): what
    ``hwplan validate``, ``POST /v1/validate`` and the cross-validation's held-out predictions run."""
    return predict(tables, rs, overlap=np.array([overlap_of(calibration, c.runtime.id) for c in rs.configs]))


def predict_server(grid: Grid, rs: RecordSet, rows: npt.NDArray[np.int64], cap: Array, out: Array, *,
                   capacity: bool, overlap: float | Array = SERVING_OVERLAP) -> None:
    """Fill ``out``'s server columns: records sharing length distributions run as one queueing call
    (``overlap``: one per record, or one for all).

    A record's rate is split evenly over its replicas (the harness's load balancer); throughput and
    SLO capacity are for all replicas. A record the model puts past its capacity has no steady-state
    TTFT or e2e (nan: they grow with the run); its TPOT is that of the requests admitted to the full
    batch (``queueing.overload_tpot``). A record with a TPOT limit runs with the engine's cap on sequences
    tuned to it (``queueing.tpot_tuned_cap``) or with the default where that carries more (``_engine_cap``);
    without ``capacity`` (the efficiency fit's inner loop, whose residuals leave records under load out) there is
    no capacity to compare and it runs at the tuned cap."""
    per_record = np.broadcast_to(np.asarray(overlap, dtype=np.float64), (len(rs),))
    groups: dict[tuple[LengthDist, LengthDist, Drafter | None], list[int]] = {}
    for k in rows:
        groups.setdefault((*rs.records[k].lengths(), rs.records[k].drafter()), []).append(int(k))
    for (i_stated, o_stated, drafter), members in groups.items():
        idx = np.asarray(members, dtype=np.int64)
        ov = per_record[idx]
        g = grid.take(idx)
        reps = rs.replicas[idx]
        rate = np.array([rs.records[k].request_rate or np.nan for k in idx]) / reps
        # with a stated drafter the queue runs decode iterations (speculation.served_view): E tokens each
        view = served_view(g, drafter, i_stated, o_stated)
        step, mem, i_dist, o_dist, e = view.step, view.mem, view.input_tokens, view.output_tokens, view.emitted
        slo = [per_iteration(rs.records[k].slo, e) for k in idx]
        # the engine's cap on sequences as its submitter tuned it (``_engine_cap``); the SLO capacity at it
        tuned = tpot_tuned_cap(step, mem, input_tokens=i_dist, output_tokens=o_dist, batch_cap=cap[idx], overlap=ov,
                               tpot_limits={99: np.array([s.get("tpot_p99_s", np.inf) for s in slo])})
        if capacity:
            tuned, rates = _engine_cap(slo, step, mem, i_dist, o_dist, cap[idx], tuned, ov)
            out[idx, 10] = rates * reps
        res = serve(step, mem, request_rate=rate, input_tokens=i_dist, output_tokens=o_dist, batch_cap=tuned,
                    percentiles=(50, 90, 99), overlap=ov)
        out[idx, :6] = np.stack([res.output_tokens_per_s * view.tokens_per_iteration * reps, res.ttft_mean_s,
                                 res.tpot_mean_s / e, res.e2e_mean_s, res.ttft_s[99], res.tpot_s[99] / e], axis=1)
        out[idx, 6:10] = np.stack([res.ttft_s[50], res.ttft_s[90], res.tpot_s[50] / e, res.tpot_s[90] / e], axis=1)
        # past its capacity at a stated rate: the TPOT of the requests admitted to the full batch
        over = np.flatnonzero(~res.stable & (res.max_batch >= 1) & np.isfinite(rate))
        if over.size:
            tpot = overload_tpot(step.take(over), mem.take(over), input_tokens=i_dist, output_tokens=o_dist,
                                 batch_cap=tuned[over], percentiles=(50, 90, 99), overlap=ov[over])
            for column, values in ((2, tpot.mean_s), (5, tpot.quantile_s[99]), (8, tpot.quantile_s[50]),
                                   (9, tpot.quantile_s[90])):
                out[idx[over], column] = values / e


# a default cap is taken over the TPOT-tuned one only where its SLO capacity is higher by more than the
# capacity search's resolution (``_CAPACITY_STEPS`` halvings of log(1 / _LOWEST_RATE): 5.6e-4)
_TIE = 1e-3


def _engine_cap(slo: Sequence[Mapping[str, float]], step: StepModel, mem: MemoryModel, i: LengthDist, o: LengthDist,
                default: Array, tuned: Array, overlap: Array) -> tuple[Array, Array]:
    """Per row, the cap on sequences an engine tuned for the SLO runs with, and its SLO capacity there.

    A submitter tunes the cap for the highest rate that passes: the cap tuned to the TPOT limit
    (``queueing.tpot_tuned_cap``, which holds TPOT whatever the load) unless the runtime's default
    (or the record's batch) carries more within the SLO, where a tighter cap makes arrivals wait for a
    slot longer than the TTFT limit allows. A plan credits less: its capacity search runs the default
    engine, and a deployment takes the tuned cap only where that engine meets the SLO at its share
    (``planner.search.build``: crediting the tuned engine's capacity in the search costs plan time)."""
    top = engine_capacity(step, mem, input_tokens=i, output_tokens=o, batch_cap=tuned, overlap=overlap)
    rates = slo_capacity(None, slo, i, o, tuned, top, overlap=overlap, models=(step, mem))
    rows = np.flatnonzero(tuned < default)  # the tuned cap binds: the default is a different engine
    if rows.size:
        s, m, ov = step.take(rows), mem.take(rows), overlap[rows]
        top = engine_capacity(s, m, input_tokens=i, output_tokens=o, batch_cap=default[rows], overlap=ov)
        other = slo_capacity(None, [slo[int(k)] for k in rows], i, o, default[rows], top, overlap=ov, models=(s, m))
        better = other > rates[rows] * (1.0 + _TIE)
        tuned, rates = tuned.copy(), rates.copy()
        tuned[rows[better]], rates[rows[better]] = default[rows[better]], other[better]
    return tuned, rates


_SLO_KEYS = (("ttft_p99_s", "ttft"), ("tpot_p99_s", "tpot"), ("e2e_p99_s", "e2e"))
_CAPACITY_STEPS = 14  # bisection steps in log rate: the bracket [1e-4, 1] x saturation narrows to < 0.1%
_LOWEST_RATE = 1e-4  # the bracket's lower end, as a share of the saturated rate


def _slo_limits(slo: Sequence[Mapping[str, float]]) -> Array:
    """[row, _SLO_KEYS] p99 limits in seconds, inf where a row has none."""
    return np.array([[s.get(key, np.inf) for key, _ in _SLO_KEYS] for s in slo]).reshape(-1, len(_SLO_KEYS))


def _meets_slo(step: StepModel, mem: MemoryModel, limits: Array, rate: Array, input_tokens: LengthDist,
               output_tokens: LengthDist, cap: Array, overlap: float | Array) -> npt.NDArray[np.bool_]:
    """Per row, whether the queue is stable at ``rate`` and every predicted p99 is within ``limits``."""
    res = serve(step, mem, request_rate=rate, input_tokens=input_tokens, output_tokens=output_tokens,
                batch_cap=cap, percentiles=(99,), overlap=overlap)
    lat = np.stack([res.ttft_s[99], res.tpot_s[99], res.e2e_s[99]], axis=1)
    return np.asarray(res.stable & np.all(np.nan_to_num(lat, nan=np.inf) <= limits, axis=1))


def slo_capacity(grid: Grid | None, slo: Sequence[Mapping[str, float]], input_tokens: LengthDist,
                 output_tokens: LengthDist, cap: Array, saturation: Array, *,
                 overlap: float | Array = SERVING_OVERLAP, models: Models | None = None) -> Array:
    """Per row, the highest request rate (per replica) at which every predicted p99 of ``slo`` holds.

    Bisection in log rate between 1e-4 and 1 times the saturated rate (the queue is unstable
    above it): p99 latencies rise with the rate, so the set of rates that meet the SLO is an
    interval from 0. 0 where even the lowest rate misses it; nan where a row has no SLO. ``models``:
    the grid's step and memory models as a serving feature transforms them, else built here."""
    limits = _slo_limits(slo)
    has_slo = np.isfinite(limits).any(axis=1)
    # once: each bisection step reuses them
    if models is None:
        assert grid is not None, "slo_capacity needs the grid or its models"
        models = StepModel.build(grid), MemoryModel.build(grid)
    step, mem = models

    def meets(rate: Array) -> npt.NDArray[np.bool_]:
        return _meets_slo(step, mem, limits, rate, input_tokens, output_tokens, cap, overlap)

    return np.where(has_slo, highest_rate(np.where(saturation > 0, saturation, 1e-9), meets), np.nan)


def highest_rate(top: Array, meets: Callable[[Array], npt.NDArray[np.bool_]]) -> Array:
    """Per row, the highest rate in [1e-4, 1] x ``top`` at which ``meets`` holds (bisection in log rate, _CAPACITY_STEPS
    steps; the set of such rates is an interval from 0, latencies rising with the rate); 0 where even the lowest
    misses."""
    lo, hi = np.full(len(top), math.log(_LOWEST_RATE)), np.zeros(len(top))
    ok_lo = meets(top * np.exp(lo))
    for _ in range(_CAPACITY_STEPS):
        mid = (lo + hi) / 2.0
        ok = meets(top * np.exp(mid))
        lo, hi = np.where(ok, mid, lo), np.where(ok, hi, mid)
    return np.asarray(np.where(ok_lo, top * np.exp(lo), 0.0), dtype=np.float64)
