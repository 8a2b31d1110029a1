"""Request and response bodies (the API boundary). Inputs forbid unknown fields."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from hardware_catalog.inputs.measurements import MeasurementIn
from hardware_catalog.inputs.options import ID_PATTERN, EstimateOptions, FinetuneOptions
from hardware_catalog.inputs.workload import Mode, PricingField, PricingIn
from hardware_catalog.prices import PriceFile

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

# records one /v1/validate body may hold at most (the service's max_measurements lowers it): checked on the
# list's length before any record is validated, so a body of a million empty records fails at once (0.7 s for
# 330,000); a body at the bound is validated on the event loop, 2.7 s for 20,000 empty records, ~0.7 s at this
MAX_MEASUREMENTS = 5_000


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EstimateRequest(EstimateOptions):
    """The options of ``hwplan estimate`` (their bounds are the command line's), and its prices."""

    pricing: PricingField = PricingIn()
    prices: PriceFile | None = Field(default=None, description="a price sheet: wins where it has a price")


class FinetuneRequest(FinetuneOptions):
    """The options of ``hwplan finetune`` (their bounds are the command line's), and its pricing."""

    pricing: Mode = "on_demand"


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
