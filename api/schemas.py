"""Request and response bodies (the API boundary). Inputs forbid unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hardware_catalog.inputs.measurements import MeasurementIn
from hardware_catalog.inputs.workload import Mode, PricingField, PricingIn, allows_some
from hardware_catalog.prices import PriceFile
from planner.model.estimate import Scenario

__all__ = [
    "ID_PATTERN",
    "EstimateRequest",
    "FieldError",
    "FinetuneRequest",
    "Health",
    "HistoryEntry",
    "HistoryOut",
    "Problem",
    "Ready",
    "RollbackRequest",
    "ValidateRequest",
    "problems",
]

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"  # as hardware_catalog.schema.Id: no path separators
# records one /v1/validate body may hold at most (the service's max_measurements lowers it): checked on the
# list's length before any record is validated, so a body of a million empty records fails at once
MAX_MEASUREMENTS = 20_000
Ident = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]
Pricing = Mode  # fine-tuning takes the mode alone


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EstimateRequest(_In):
    """The options of ``hwplan estimate``, as fields."""

    model: Ident
    hardware: Ident
    chips: Annotated[int, Field(ge=1, le=4096, strict=True)] | None = None
    tp: Annotated[int, Field(ge=1, le=1024, strict=True)] | None = None
    pp: Annotated[int, Field(ge=1, le=256, strict=True)] = 1
    ep: Annotated[int, Field(ge=1, le=1024, strict=True)] = Field(
        default=1, description="expert-parallel ranks: 1 (none) or tp (experts over the tp chips, attention data "
                               "parallel), as plans' 'tp8 ep8 dp-attn8' shapes")
    precision: Ident | None = None
    kv_precision: Ident | None = None
    runtime: Ident | None = None
    scenario: Scenario = Scenario.STATIC_BATCH
    input_tokens: Annotated[int, Field(ge=1, le=10_000_000, strict=True)] = 512
    output_tokens: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] = 128
    input_p95: Annotated[float, Field(ge=1, le=1e8, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="server: the prompts' 95th percentile (lognormal lengths); default: all at the mean")
    output_p95: Annotated[float, Field(ge=1, le=1e7, allow_inf_nan=False, strict=True)] | None = Field(
        default=None, description="server: the outputs' 95th percentile (lognormal lengths)")
    batch: Annotated[int, Field(ge=1, le=1_000_000, strict=True)] | None = None
    request_rate: Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False, strict=True)] | None = None
    pricing: PricingField = PricingIn()
    prices: PriceFile | None = Field(default=None, description="a price sheet: wins where it has a price")


class FinetuneRequest(_In):
    """The options of ``hwplan finetune``, as fields."""

    model: Ident
    method: Literal["lora", "qlora", "full", "distill"]
    dataset_tokens: Annotated[float, Field(ge=1, le=1e13, allow_inf_nan=False, strict=True)]
    teacher: Ident | None = None
    hardware: list[Ident] | None = Field(default=None, max_length=64,
                                         description="the chips to price it on; null or absent: every chip")
    epochs: Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False, strict=True)] = 1.0
    pricing: Pricing = "on_demand"

    @field_validator("hardware")
    @classmethod
    def _allows_some(cls, v: list[str] | None) -> list[str] | None:
        return allows_some(v)  # as a workload's allow-lists ([] read as no filter: every chip)


class ValidateRequest(_In):
    """A measurements file's content: records in the canonical format (latencies in ms)."""

    measurements: list[MeasurementIn] = Field(min_length=1, max_length=MAX_MEASUREMENTS)


class RollbackRequest(_In):
    seq: Annotated[int, Field(ge=1, le=10**9, strict=True, description="The change (history seq) to undo.")]


class HistoryEntry(BaseModel):
    seq: int
    when: str
    action: Literal["put", "delete", "rollback"]
    kind: str
    id: str
    key_name: str = Field(description="name of the API key that made the change (HWPLAN_API_KEY: 'default')")
    etag_before: str | None
    etag_after: str | None
    rolls_back: int | None
    previous: str | None = Field(description="file content before the change (null: did not exist)")


class HistoryOut(BaseModel):
    entries: list[HistoryEntry]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    catalog_version: str
    hardware: int
    models: int
    shipped_catalog_newer: bool = Field(
        default=False, description="the shipped catalog changed since this directory was copied and the "
                                   "copy has edits, so it was not refreshed (prices and entries may be old)")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    errors: list[FieldError] | None = None
    errors_total: int | None = None  # a 422 lists at most 50 errors; this counts them all where there were more
    reasons: list[str] | None = None
    relaxations: list[dict[str, Any]] | None = None


def problems(*codes: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for problem+json answers: ((status, why), ...)."""
    ref = {"schema": {"$ref": "#/components/schemas/Problem"}}
    return {code: {"model": Problem, "description": why, "content": {"application/problem+json": ref}}
            for code, why in codes}
