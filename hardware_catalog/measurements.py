"""Pydantic models of a measurements file (the canonical format of SCHEMA.md), read record by record.

A file is a mapping ``measurements: [record, ...]``. Each record is validated on its own: a bad
record (unknown scenario, static_batch without batch, negative tokens ...) becomes a ``BadRecord``
naming its id and field, and the others still load. Observed latencies in the file are in ms;
they are converted to seconds here, once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from hardware_catalog.loader import read_yaml
from planner.calibration.predict import Measurement
from planner.errors import CatalogError
from planner.model.estimate import Scenario

__all__ = [
    "to_measurement","BadRecord", "MeasurementIn", "MeasurementsRead", "ObservedIn", "read_measurements",
           "observed_to_si", "METRIC_NAMES"]

# strict and bounded (a record can come as a request body): counts far beyond any measurement
NonNeg = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)]
Pos = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True)]
PosInt = Annotated[int, Field(gt=0, le=10**7, strict=True)]
NonNegInt = Annotated[int, Field(ge=0, le=10**9, strict=True)]
PrecisionId = Literal["fp32", "tf32", "fp16", "bf16", "fp8", "int8", "int4", "fp4"]

# File metric name -> (SI metric name, factor to SI)
METRIC_NAMES: dict[str, tuple[str, float]] = {
    "output_tokens_per_s": ("output_tokens_per_s", 1.0),
    "ttft_ms": ("ttft_s", 1e-3),
    "tpot_ms": ("tpot_s", 1e-3),
    "e2e_ms": ("e2e_s", 1e-3),
    "ttft_p99_ms": ("ttft_p99_s", 1e-3),
    "tpot_p99_ms": ("tpot_p99_s", 1e-3),
}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObservedIn(_Record):
    output_tokens_per_s: Pos | None = None
    ttft_ms: Pos | None = None
    tpot_ms: Pos | None = None
    e2e_ms: Pos | None = None
    ttft_p99_ms: Pos | None = None
    tpot_p99_ms: Pos | None = None


class MeasurementIn(_Record):
    """One record of a measurements file."""

    id: str = Field(min_length=1)
    source: str = ""
    model: str
    hardware: str
    chips: PosInt
    tp: PosInt = 1
    pp: PosInt = 1
    weight_precision: PrecisionId
    kv_precision: PrecisionId | None = None
    quant_method: str | None = None
    runtime: str
    runtime_version: str | None = None
    scenario: Scenario
    input_tokens: NonNegInt  # 0 = generation only (llama-bench tg)
    output_tokens: PosInt
    batch: PosInt | None = None
    request_rate: Pos | None = None
    observed: ObservedIn
    confidence: Literal["high", "medium", "low"] = "medium"
    orig_id: str | None = None

    @model_validator(mode="after")
    def _scenario_needs(self) -> MeasurementIn:
        if self.scenario is Scenario.STATIC_BATCH and self.batch is None:
            raise ValueError("static_batch needs a batch")
        if self.scenario is Scenario.SERVER and self.request_rate is None:
            raise ValueError("the server scenario needs a request_rate")
        return self


@dataclass(frozen=True)
class BadRecord:
    """A record that failed validation: its id (or position), the field and the problem."""

    id: str
    field: str | None
    reason: str


@dataclass(frozen=True)
class MeasurementsRead:
    records: tuple[Measurement, ...]
    bad: tuple[BadRecord, ...]
    file: str
    sha256: str


def observed_to_si(observed: ObservedIn) -> dict[str, float]:
    data = observed.model_dump()
    return {si: data[name] * factor for name, (si, factor) in METRIC_NAMES.items() if data[name] is not None}


def to_measurement(r: MeasurementIn) -> Measurement:
    """A validated record as the planner's Measurement (SI units)."""
    return Measurement(
        id=r.id, model=r.model, hardware=r.hardware, chips=r.chips, tp=r.tp, pp=r.pp,
        weight_precision=r.weight_precision, kv_precision=r.kv_precision, runtime=r.runtime,
        scenario=r.scenario, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
        batch=r.batch, request_rate=r.request_rate, observed=observed_to_si(r.observed),
        source=r.source, confidence=r.confidence,
    )


def _bad(raw: Any, position: int, exc: ValidationError) -> BadRecord:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    rid = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{position}"
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    return BadRecord(rid, field, message)


def read_measurements(path: Path | str) -> MeasurementsRead:
    """Read and validate a measurements file record by record; duplicate ids are bad records."""
    file = Path(path)
    data = read_yaml(file)
    if not isinstance(data, dict) or not isinstance(data.get("measurements"), list):
        raise CatalogError("expected a mapping with a 'measurements' list", file=str(file))
    records: list[Measurement] = []
    bad: list[BadRecord] = []
    seen: set[str] = set()
    for position, raw in enumerate(data["measurements"]):
        try:
            record = MeasurementIn.model_validate(raw)
        except ValidationError as exc:
            bad.append(_bad(raw, position, exc))
            continue
        if record.id in seen:
            bad.append(BadRecord(record.id, "id", "duplicate id"))
            continue
        seen.add(record.id)
        records.append(to_measurement(record))
    digest = hashlib.sha256(file.read_bytes()).hexdigest()
    return MeasurementsRead(tuple(records), tuple(bad), str(file), digest)
