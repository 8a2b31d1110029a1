"""Pydantic models of a measurements file (the canonical format of SCHEMA.md), read record by record.

A file is a mapping ``measurements: [record, ...]``. Each record is validated on its own: a bad
record (unknown scenario, static_batch without batch, negative tokens ...) becomes a ``BadRecord``
naming its id and field, and the others still load. Observed latencies in the file are in ms;
they are converted to seconds here, once.

A file may state more than this format reads (a later round's extraction adding a percentile or a
source note): a key the record's top level, its ``observed`` or its ``lengths`` block does not know
is left out with a note naming it (``MeasurementsRead.ignored``) and the record is read without it,
since no prediction reads it. A key close to a field the record does not state is taken for a
misspelling of that field and is an error ("did you mean ...?"): ``kv_precison`` would otherwise
predict at the runtime's default. Everything else stays strict: ``slo`` (a limit left out would
change the capacity predicted against it), the mlperf block's typed fields, speculative decoding and
disaggregation. A record given to the service (``api.schemas``) is validated as it is: unknown
fields are errors there.
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from hardware_catalog.files import Label, Text, read_yaml
from hardware_catalog.input_bytes import read_bytes
from planner.calibration.predict import Measurement, Skipped
from planner.calibration.speculation import METHODS, StatedDisaggregation, StatedSpeculation, method_of
from planner.errors import CatalogError, InputError
from planner.model.estimate import Scenario
from planner.model.load.queueing import LengthDist

__all__ = [
    "to_measurement","BadRecord", "MeasurementIn", "MeasurementsRead", "ObservedIn", "read_measurements",
           "observed_to_si", "METRIC_NAMES", "require_predictable"]

# strict and bounded (a record can come as a request body): counts far beyond any measurement
NonNeg = Annotated[float, Field(ge=0, le=1e12, allow_inf_nan=False, strict=True)]
Pos = Annotated[float, Field(gt=0, le=1e12, allow_inf_nan=False, strict=True)]
# an observed figure (tokens/s, requests/s, ms): below 0.001 it is a slip, not a measurement (1e-300 tokens/s read a
# 300-digit median error in `validate` and moved a fitted efficiency 14% in `calibrate`; the shipped files' least
# is 0.31 requests/s)
Measured = Annotated[float, Field(ge=1e-3, le=1e12, allow_inf_nan=False, strict=True)]
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
    "ttft_p50_ms": ("ttft_p50_s", 1e-3),
    "ttft_p90_ms": ("ttft_p90_s", 1e-3),
    "tpot_p50_ms": ("tpot_p50_s", 1e-3),
    "tpot_p90_ms": ("tpot_p90_s", 1e-3),
    "slo_capacity_requests_per_s": ("slo_capacity_requests_per_s", 1.0),
}


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObservedIn(_Record):
    output_tokens_per_s: Measured | None = None
    requests_per_s: Measured | None = None  # completed requests/s (MLPerf); server: the SLO capacity's lower bound
    ttft_ms: Measured | None = None
    ttft_p50_ms: Measured | None = None
    ttft_p90_ms: Measured | None = None
    ttft_p99_ms: Measured | None = None
    tpot_ms: Measured | None = None
    tpot_p50_ms: Measured | None = None
    tpot_p90_ms: Measured | None = None
    tpot_p99_ms: Measured | None = None
    e2e_ms: Measured | None = None
    e2e_p99_ms: Measured | None = None


RUN_MEAN_STEP = 0.01  # a run's own output mean, as a share of the benchmark's, is taken to this step


class LengthsIn(_Record):
    """A benchmark's token-length distribution (SCHEMA.md, additions for measurements under load)."""

    dataset: Label | None = None
    input_mean: Pos | None = None
    input_p50: Pos | None = None
    input_p99: Pos | None = None
    input_max: Pos | None = None
    output_mean: Pos | None = None
    output_p50: Pos | None = None
    output_p99: Pos | None = None
    output_max: Pos | None = None
    source: Text | None = None
    input_source: Text | None = None
    notes: Text | None = None

    @model_validator(mode="after")
    def _ordered(self) -> LengthsIn:
        """A side's p50 <= p99 <= max and mean <= max (a p99 below the median, or a cap below the mean,
        is a typo: the distribution built from them would be nonsense)."""
        for side in ("input", "output"):
            values = {k: getattr(self, f"{side}_{k}") for k in ("p50", "p99", "max", "mean")}
            for low, high in (("p50", "p99"), ("p99", "max"), ("p50", "max"), ("mean", "max")):
                a, b = values[low], values[high]
                if a is not None and b is not None and a > b:
                    raise ValueError(f"{side}_{low} = {a:g} is above {side}_{high} = {b:g}")
        return self

    def dist(self, side: Literal["input", "output"], run_mean: float | None = None) -> LengthDist | None:
        """Mean and the published quantiles as an empirical distribution (None: no mean published).

        ``run_mean``: the mean the run itself produced (``MlperfIn.output_tokens_per_sample_observed``)
        instead of the benchmark's: the quantiles below the cap are scaled by run_mean / mean (the
        same shape, shorter or longer), the cap (max) is kept. The ratio is taken to the nearest
        ``RUN_MEAN_STEP`` (a mean off by at most half of it) so that runs of one benchmark share a
        handful of distributions, and the queueing model one call per distribution
        (``predict.predict_server``), instead of one call per run."""
        mean = getattr(self, f"{side}_mean")
        if mean is None:
            return None
        cap = getattr(self, f"{side}_max")
        scale = 1.0 if run_mean is None else round(run_mean / mean / RUN_MEAN_STEP) * RUN_MEAN_STEP
        published = ((0.5, getattr(self, f"{side}_p50")), (0.99, getattr(self, f"{side}_p99")))
        knots = [(q, v * scale if cap is None else min(v * scale, cap)) for q, v in published if v is not None]
        if not knots:  # only a cap: deterministic at the mean
            return LengthDist(mean=float(mean * scale))
        if cap is not None:
            knots.append((1.0, cap))
        return LengthDist(mean=float(mean * scale), knots=tuple((q, float(v)) for q, v in knots))


class SloIn(_Record):
    ttft_p99_ms: Pos | None = None
    tpot_p99_ms: Pos | None = None
    e2e_p99_ms: Pos | None = None


_NOT_USED = ("", "none", "no", "false", "off", "disabled", "n/a")


class SpeculativeIn(_Record):
    """``mlperf.speculative_decoding`` as a mapping; a bare method name or null/false/"none" also
    reads (``MlperfIn._speculative``)."""

    method: Label
    draft_tokens: PosInt | None = Field(default=None, validation_alias=AliasChoices(
        "draft_tokens", "k", "num_speculative_tokens", "num_draft_tokens", "speculative_num_steps"))
    acceptance_rate: Annotated[float, Field(gt=0, lt=1, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, validation_alias=AliasChoices("acceptance_rate", "acceptance"))
    mean_accepted_length: Annotated[float, Field(ge=1, le=100, allow_inf_nan=False)] | None = Field(
        default=None, validation_alias=AliasChoices("mean_accepted_length", "accepted_length",
                                                    "acceptance_length", "mean_acceptance_length"))
    draft_model: Label | None = None
    source: Text | None = None

    @field_validator("method")
    @classmethod
    def _known(cls, v: str) -> str:
        method = method_of(v)
        if method is None:
            raise ValueError(f"unknown speculative decoding method {v!r} (known: {', '.join(sorted(METHODS))})")
        return method

    @model_validator(mode="after")
    def _length_within_k(self) -> SpeculativeIn:
        k, length = self.draft_tokens, self.mean_accepted_length
        if k is not None and length is not None and length > k + 1:
            raise ValueError(f"mean accepted length {length:g} exceeds k + 1 = {k + 1}")
        return self

    def stated(self) -> StatedSpeculation:
        return StatedSpeculation(method=self.method, draft_tokens=self.draft_tokens, acceptance=self.acceptance_rate,
                                 accepted_length=self.mean_accepted_length, draft_model=self.draft_model)


class DisaggregatedIn(_Record):
    """``mlperf.disaggregated`` as a mapping of the pools' chips; true / false / null also read."""

    prefill_chips: PosInt | None = Field(default=None, validation_alias=AliasChoices(
        "prefill_chips", "prefill", "prefill_gpus", "prefill_accelerators"))
    decode_chips: PosInt | None = Field(default=None, validation_alias=AliasChoices(
        "decode_chips", "decode", "decode_gpus", "decode_accelerators"))
    prefill_workers: PosInt | None = Field(default=None, validation_alias=AliasChoices(
        "prefill_workers", "prefill_replicas", "num_prefill_workers", "ctx_workers"))
    decode_workers: PosInt | None = Field(default=None, validation_alias=AliasChoices(
        "decode_workers", "decode_replicas", "num_decode_workers", "gen_workers"))


class MlperfIn(BaseModel):
    """Provenance of an MLPerf record; the fields read here are typed, the rest kept as given."""

    model_config = ConfigDict(extra="allow", frozen=True)
    round: Label
    division: Literal["closed", "open"]
    submitter: Label
    system: Label
    benchmark: Label
    scenario_name: Literal["Offline", "Server", "Interactive"]
    accelerator_memory_capacity: Label | None = None
    accelerators_per_node: NonNegInt | None = None  # 0: a CPU-only system
    number_of_nodes: PosInt | None = None
    accelerator_model_name: Label | None = None
    ep: PosInt | None = None
    replicas: PosInt | None = None
    modified_model: Label | None = None
    same_log_as: Label | None = None
    output_tokens_per_sample_observed: Pos | None = None  # the run's mean generated tokens per sample (its log)
    speculative_decoding: SpeculativeIn | None = None
    disaggregated: DisaggregatedIn | None = None
    runtime_ran: Label | None = None  # the engine the run used where ``runtime`` stands in for it (SCHEMA.md)

    @field_validator("speculative_decoding", mode="before")
    @classmethod
    def _speculative(cls, v: Any) -> Any:
        """null / false / "none": not used; a method name; a mapping (SpeculativeIn)."""
        if v is None or v is False or (isinstance(v, str) and v.strip().lower() in _NOT_USED):
            return None
        if v is True:
            raise ValueError("true does not say which method: state its name (mtp, eagle3, ...) or a mapping")
        if isinstance(v, str):
            return {"method": v}
        if isinstance(v, dict):
            return v
        raise ValueError(f"expected null, false, a method name or a mapping, got {type(v).__name__}")

    @field_validator("disaggregated", mode="before")
    @classmethod
    def _disaggregated(cls, v: Any) -> Any:
        """null / false: aggregated; true: separate pools; a mapping of the pools' chips."""
        if v is None or v is False or (isinstance(v, str) and v.strip().lower() in _NOT_USED):
            return None
        if v is True or (isinstance(v, str) and v.strip().lower() in ("yes", "true")):
            return {}
        if isinstance(v, dict):
            return v
        raise ValueError(f"expected true, false, null or a mapping of prefill/decode chips, got {v!r}")


class MeasurementIn(_Record):
    """One record of a measurements file."""

    id: Annotated[str, Field(min_length=1, max_length=256)]
    source: Text = ""
    model: Label
    hardware: Label
    chips: PosInt
    tp: PosInt | None = 1  # null: not stated (MLPerf); inferred from memory (planner.calibration.predict)
    pp: PosInt | None = 1
    weight_precision: PrecisionId
    kv_precision: PrecisionId | None = None
    quant_method: Label | None = None
    runtime: Label
    runtime_version: Label | None = None
    scenario: Scenario
    input_tokens: NonNegInt | None  # 0 = generation only (llama-bench tg); null = not published
    output_tokens: PosInt | None
    batch: PosInt | None = None
    request_rate: Pos | None = None
    observed: ObservedIn
    confidence: Literal["high", "medium", "low"] = "medium"
    orig_id: Label | None = None
    lengths: LengthsIn | None = None
    slo: SloIn | None = None
    mlperf: MlperfIn | None = None

    @model_validator(mode="after")
    def _scenario_needs(self) -> MeasurementIn:
        if self.scenario is Scenario.STATIC_BATCH and self.batch is None:
            raise ValueError("static_batch needs a batch")
        if self.scenario is Scenario.SERVER and self.request_rate is None:
            raise ValueError("the server scenario needs a request_rate")
        if self.input_tokens == 0 and self.scenario is not Scenario.STATIC_BATCH:
            raise ValueError(f"input_tokens 0 (generation only) is a static_batch run's; a {self.scenario} run "
                             "prefills a prompt of at least 1 token")
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
    ignored: tuple[BadRecord, ...] = ()  # keys the format does not read, left out of records that loaded


# Blocks whose unknown keys are left out with a note (module docstring), and the least similarity
# (difflib's ratio) at which an unknown key of the top level or of ``lengths`` is read as a
# misspelling of a field the record does not state: kv_precison / kv_precision 0.96, input_mena /
# input_mean 0.90; input_p90 / input_p99 (0.89) and output_source / input_source (0.80) are new keys.
# ``observed`` names metrics, where a near name is another percentile (ttft_p95_ms / ttft_p90_ms 0.91)
# and leaving one out changes no prediction: its unknown keys are never read as misspellings.
_OPEN_BLOCKS: tuple[tuple[str | None, type[BaseModel], bool], ...] = (
    (None, MeasurementIn, True), ("lengths", LengthsIn, True), ("observed", ObservedIn, False))
_MISSPELLING = 0.9


def _set_aside(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str], list[tuple[str, str]]]:
    """``raw`` without the unknown keys of ``_OPEN_BLOCKS``, those keys (dotted paths), and each key
    read as a misspelling with the field it resembles."""
    clean = dict(raw)
    ignored: list[str] = []
    misspelt: list[tuple[str, str]] = []
    for block, model, spelling in _OPEN_BLOCKS:
        part = clean if block is None else clean.get(block)
        if not isinstance(part, dict):
            continue
        known = set(model.model_fields)
        unknown = [k for k in part if isinstance(k, str) and k not in known]
        if not unknown:
            continue
        part = {k: v for k, v in part.items() if k not in unknown}
        unstated = sorted(known - set(part))
        for key in unknown:
            path = key if block is None else f"{block}.{key}"
            near = difflib.get_close_matches(key, unstated, n=1, cutoff=_MISSPELLING) if spelling else []
            if near:
                misspelt.append((path, near[0] if block is None else f"{block}.{near[0]}"))
            else:
                ignored.append(path)
        if block is None:
            clean = part
        else:
            clean[block] = part
    return clean, ignored, misspelt


def observed_to_si(observed: ObservedIn) -> dict[str, float]:
    data = observed.model_dump()
    return {si: data[name] * factor for name, (si, factor) in METRIC_NAMES.items()
            if name in data and data[name] is not None}


def _memory_gb(text: str | None) -> float | None:
    """'192 GB' -> 192.0; None where the record does not state it in that form."""
    parts = (text or "").split()
    try:
        return float(parts[0]) if len(parts) == 2 and parts[1].upper() == "GB" else None
    except ValueError:
        return None


def _memory_per_chip(mp: MlperfIn, chips: int) -> float | None:
    """The memory of one of the record's chips: MLPerf states it per accelerator, and an
    accelerator may be a board of several chips (Intel's "Arc Pro B60 Dual 48G": two 24 GB GPUs,
    4 boards = the record's 8 chips). Where the boards (accelerators per node x nodes) divide the
    chips k ways, each chip has 1/k of the stated memory; otherwise the stated figure is per chip."""
    stated = _memory_gb(mp.accelerator_memory_capacity)
    if stated is None or mp.accelerators_per_node is None or mp.number_of_nodes is None:
        return stated
    boards = mp.accelerators_per_node * mp.number_of_nodes
    return stated * boards / chips if 0 < boards < chips and chips % boards == 0 else stated


def to_measurement(r: MeasurementIn) -> Measurement:
    """A validated record as the planner's Measurement (SI units).

    Under load (a record with ``slo``): the observed ``requests_per_s`` of a Server/Interactive
    run is also the observed ``slo_capacity_requests_per_s`` (the highest rate the submitter found
    to meet the SLO: a measured lower bound of the capacity)."""
    observed = observed_to_si(r.observed)
    slo: dict[str, float] = {}
    if r.slo is not None:
        slo = {k.replace("_ms", "_s"): v * 1e-3 for k, v in r.slo.model_dump().items() if v is not None}
    if r.scenario is Scenario.SERVER and slo and r.observed.requests_per_s is not None:
        observed["slo_capacity_requests_per_s"] = r.observed.requests_per_s
    mp = r.mlperf
    tags = {} if mp is None else {"round": mp.round, "scenario": mp.scenario_name, "submitter": mp.submitter,
                                  "system": mp.system, "benchmark": mp.benchmark, "division": mp.division,
                                  **({"runtime_ran": mp.runtime_ran} if mp.runtime_ran else {})}
    return Measurement(
        id=r.id, model=r.model, hardware=r.hardware, chips=r.chips, tp=r.tp, pp=r.pp,
        weight_precision=r.weight_precision, kv_precision=r.kv_precision, runtime=r.runtime,
        scenario=r.scenario, input_tokens=r.input_tokens, output_tokens=r.output_tokens,
        batch=r.batch, request_rate=r.request_rate, observed=observed,
        source=r.source, confidence=r.confidence,
        input_dist=None if r.lengths is None else r.lengths.dist("input"),
        output_dist=_output_dist(r),
        slo=slo, tags=tags, same_log_as=None if mp is None else mp.same_log_as,
        memory_gb=None if mp is None else _memory_per_chip(mp, r.chips),
        accelerator=None if mp is None else mp.accelerator_model_name,
        ep=None if mp is None else mp.ep,
        modified_model=None if mp is None else mp.modified_model,
        speculative=None if mp is None or mp.speculative_decoding is None else mp.speculative_decoding.stated(),
        disaggregated=None if mp is None or mp.disaggregated is None else StatedDisaggregation(
            mp.disaggregated.prefill_chips, mp.disaggregated.decode_chips, mp.disaggregated.prefill_workers,
            mp.disaggregated.decode_workers),
    )


def _output_dist(r: MeasurementIn) -> LengthDist | None:
    """The output lengths the run served: the benchmark's distribution (``lengths``) at the run's own
    mean where its log states one (``mlperf.output_tokens_per_sample_observed``: the tokens each sample
    generated, which the benchmark's reference mean does not fix: B200 FP4 llama2-70b runs stop at 273-274
    tokens per sample where OpenOrca's reference is 294.45), else the benchmark's (None: neither)."""
    run_mean = None if r.mlperf is None else r.mlperf.output_tokens_per_sample_observed
    dist = None if r.lengths is None else r.lengths.dist("output", run_mean)
    return LengthDist(run_mean) if dist is None and run_mean is not None else dist


def _record_id(raw: Any, position: int) -> str:
    """The record's id, else its position in the file."""
    return str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") else f"#{position}"


def _bad(raw: Any, position: int, exc: ValidationError) -> BadRecord:
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    rid = _record_id(raw, position)
    message = str(first["msg"]).removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown field"
    return BadRecord(rid, field, message)


def duplicate_id(record_id: str, position: int, kept: int) -> BadRecord:
    """A record whose id an earlier one has (0-based positions): left out, saying which one was kept (it said only
    "duplicate id")."""
    return BadRecord(record_id, "id", f"duplicate id: record {position + 1} left out, record {kept + 1} (the first "
                                      "with it) kept")


def read_measurements(path: Path | str) -> MeasurementsRead:
    """Read and validate a measurements file record by record; duplicate ids are bad records."""
    file = Path(path)
    data = read_yaml(file)
    if not isinstance(data, dict) or not isinstance(data.get("measurements"), list):
        raise CatalogError("expected a mapping with a 'measurements' list", file=str(file))
    records: list[Measurement] = []
    bad: list[BadRecord] = []
    ignored: list[BadRecord] = []
    seen: dict[str, int] = {}  # id -> the position of the record kept with it
    for position, raw in enumerate(data["measurements"]):
        left_out: list[str] = []
        if isinstance(raw, dict):
            raw, left_out, misspelt = _set_aside(raw)
            if misspelt:
                path, field = misspelt[0]
                bad.append(BadRecord(_record_id(raw, position), path, f"unknown field (did you mean {field}?)"))
                continue
        try:
            record = MeasurementIn.model_validate(raw)
        except ValidationError as exc:
            bad.append(_bad(raw, position, exc))
            continue
        if record.id in seen:
            bad.append(duplicate_id(record.id, position, seen[record.id]))
            continue
        seen[record.id] = position
        records.append(to_measurement(record))
        ignored += [BadRecord(record.id, path, "not a field of the measurements format: left out") for path in left_out]
    digest = hashlib.sha256(read_bytes(file)).hexdigest()
    return MeasurementsRead(tuple(records), tuple(bad), str(file), digest, tuple(ignored))


def require_predictable(predictable: int, read: int, skipped: Sequence[Skipped], bad: Sequence[BadRecord], *,
                        at_least: int = 1, why: str = "") -> None:
    """An InputError on ``measurements`` unless ``at_least`` records can be predicted, naming the first record left
    out and why (``hwplan validate`` and ``POST /v1/validate`` with none answered empty tables as if every record
    had been checked; ``hwplan calibrate`` needs 2: ``why``)."""
    if predictable >= at_least:
        return
    first = (f"; the first: {skipped[0].id}: {skipped[0].reason}" if skipped else
             f"; the first: {bad[0].id}: {bad[0].field or 'record'}: {bad[0].reason}" if bad else "")
    raise InputError(f"{predictable} record(s) could be predicted ({read} read, {len(skipped)} skipped, {len(bad)} "
                     f"unreadable){why}{first}", field="measurements")
