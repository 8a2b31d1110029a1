"""Predict published measurements: map records of the canonical format onto the performance model.

A ``Measurement`` is one record of a measurements file (see ``../shared/calibration/SCHEMA.md``),
in SI units. ``prepare`` resolves ids into index arrays (a ``RecordSet``), skipping records it
cannot map, with the reason; ``predict`` evaluates every record of a set in a few vectorised
calls, optionally with one efficiency row per record (the calibration's free parameters).

Every operation is row-wise, so a record's prediction does not depend on the other records.

Mapping decisions
* ``chips`` = tp x pp x replicas; ``batch`` (static batch, concurrency cap) and ``request_rate``
  / replicas are per replica, as in ``planner.model.estimate``; output_tokens_per_s is for all replicas.
* ``kv_precision`` null = the runtime default: FP8 for TensorRT-LLM serving FP8/FP4 (ModelOpt)
  checkpoints, which enable an FP8 KV cache by default; otherwise 16-bit (bf16 where the chip and
  runtime have it, else fp16), as vLLM, llama.cpp, Neuron and the others default to.
* p99 figures of static-batch and max-throughput records equal their means (no queueing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt

from planner.domain import Catalog, Hardware, Runtime
from planner.errors import InputError, PlannerError
from planner.model.estimate import Config, Scenario, resolve
from planner.model.grid import Array, CatalogTables, Efficiencies, Grid
from planner.model.queueing import LengthDist, server
from planner.model.scenarios import max_throughput, static_batch

__all__ = [
    "EFFICIENCY_FIELDS",
    "METRICS",
    "Measurement",
    "RecordSet",
    "Skipped",
    "default_kv_precision",
    "predict",
    "prepare",
]

# Metric keys in SI units, in the order of ``predict``'s columns.
METRICS = ("output_tokens_per_s", "ttft_s", "tpot_s", "e2e_s", "ttft_p99_s", "tpot_p99_s")
EFFICIENCY_FIELDS = tuple(f.name for f in fields(Efficiencies))  # a fit's parameter columns, in order


@dataclass(frozen=True)
class Measurement:
    """One published measurement (SI units; ``observed`` keyed by ``METRICS``)."""

    id: str
    model: str
    hardware: str
    chips: int
    tp: int
    pp: int
    weight_precision: str
    kv_precision: str | None
    runtime: str
    scenario: Scenario
    input_tokens: int
    output_tokens: int
    batch: int | None
    request_rate: float | None
    observed: Mapping[str, float]
    source: str = ""
    confidence: str = "medium"


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

    def __len__(self) -> int:
        return len(self.records)

    def take(self, index: Sequence[int]) -> RecordSet:
        idx = np.asarray(index, dtype=np.int64)
        return RecordSet(
            records=tuple(self.records[i] for i in idx),
            configs=tuple(self.configs[i] for i in idx),
            **{name: getattr(self, name)[idx] for name in (
                "model", "hardware", "weight_precision", "kv_precision", "runtime", "tp", "pp",
                "replicas", "observed")},
        )


def default_kv_precision(hardware: Hardware, runtime: Runtime, weight_precision: str) -> str | None:
    """The KV-cache precision a runtime uses when the source does not state it (see module doc)."""
    fp8_kv_runtimes = ("tensorrt-llm", "gaudi-pytorch")
    fp8_weights = weight_precision in ("fp8", "fp4")
    if runtime.id in fp8_kv_runtimes and fp8_weights and "fp8" in runtime.kv_precisions:
        return "fp8"
    if "bf16" in runtime.kv_precisions and "bf16" in hardware.peak_flops_per_s:
        return "bf16"
    return "fp16" if "fp16" in runtime.kv_precisions else None


def _resolve(catalog: Catalog, m: Measurement) -> Config:
    hw = catalog.get_hardware(m.hardware)
    rt = catalog.get_runtime(m.runtime)
    kv = m.kv_precision or default_kv_precision(hw, rt, m.weight_precision)
    config = resolve(catalog, model=m.model, hardware=m.hardware, chips=m.chips, tp=m.tp, pp=m.pp,
                     precision=m.weight_precision, kv_precision=kv, runtime=m.runtime)
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


def prepare(catalog: Catalog, tables: CatalogTables,
            records: Sequence[Measurement]) -> tuple[RecordSet, tuple[Skipped, ...]]:
    """Resolve every record; those that cannot be mapped are skipped with the reason."""
    kept: list[tuple[Measurement, Config]] = []
    skipped: list[Skipped] = []
    for m in records:
        try:
            kept.append((m, _resolve(catalog, m)))
        except PlannerError as exc:
            skipped.append(Skipped(m.id, exc.message))
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
    ), tuple(skipped)


def record_grid(tables: CatalogTables, rs: RecordSet, efficiency: Efficiencies | None = None) -> Grid:
    """One grid row per record; ``efficiency`` (one row per record) replaces the catalog's efficiencies."""
    grid = tables.gather(model=rs.model, hardware=rs.hardware, weight_precision=rs.weight_precision,
                         kv_precision=rs.kv_precision, runtime=rs.runtime, tp=rs.tp, pp=rs.pp)
    if efficiency is None:
        return grid
    return replace(grid, **{name: getattr(efficiency, name) for name in EFFICIENCY_FIELDS})


def _numbers(rs: RecordSet, attr: str, missing: float) -> Array:
    return np.array([missing if (v := getattr(m, attr)) is None else float(v) for m in rs.records],
                    dtype=np.float64)


def predict(tables: CatalogTables, rs: RecordSet, efficiency: Efficiencies | None = None) -> Array:
    """Predicted metrics [record, metric] in SI units (columns as ``METRICS``)."""
    grid = record_grid(tables, rs, efficiency)
    out = np.full((len(rs), len(METRICS)), np.nan)
    i = _numbers(rs, "input_tokens", 0.0)
    o = _numbers(rs, "output_tokens", 1.0)
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
        out[idx] = np.stack([
            res.output_tokens_per_s * rs.replicas[idx], res.ttft_s, res.tpot_s, res.e2e_s,
            res.ttft_s, res.tpot_s], axis=1)
    for k in np.flatnonzero(scen == str(Scenario.SERVER)):
        out[k] = _server_row(grid.take([k]), rs.records[k], rs.replicas[k], b[k])
    return out


def _server_row(grid: Grid, m: Measurement, replicas: float, cap: float) -> Array:
    assert m.request_rate is not None
    res = server(grid, request_rate=m.request_rate / replicas, input_tokens=LengthDist(m.input_tokens),
                 output_tokens=LengthDist(m.output_tokens), batch_cap=cap)
    return np.array([res.output_tokens_per_s[0] * replicas, res.ttft_mean_s[0], res.tpot_mean_s[0],
                     res.e2e_mean_s[0], res.ttft_s[99][0], res.tpot_s[99][0]])
