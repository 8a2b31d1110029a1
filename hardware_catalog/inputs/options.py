"""The options of the commands that take no file (``hwplan estimate``, ``hwplan finetune``) with their bounds:
ids and numbers, which the command line checks through ``check_options`` and the service's request bodies
(``api.schemas``) extend with prices. Light on purpose (pydantic and the planner's
scenario names only): ``hwplan estimate`` imports it at start-up, where the workload and price-sheet models
would cost it ~50 ms."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from planner.errors import InputError
from planner.model.estimate import Scenario

__all__ = ["ID_PATTERN", "EstimateOptions", "FinetuneOptions", "allows_some", "check_options"]

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"  # as hardware_catalog.schema.Id: no path separators
Ident = Annotated[str, Field(pattern=ID_PATTERN, max_length=64)]


def allows_some(v: list[str] | None) -> list[str] | None:
    """An allow-list (None: every one) that allows at least one: [] leaves nothing to plan or price, and is
    said here, by its field, rather than as an infeasible answer whose explanation cannot name it."""
    if v is not None and not v:
        raise ValueError("an empty list allows none; leave the key out (or write null) to allow every one")
    return v


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EstimateOptions(_In):
    """The options of ``hwplan estimate`` but its prices, as fields."""

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
    # at least a workload's least rate (inputs.workload.MIN_RATE): 5e-324 req/s priced a million tokens at 1e301 $
    request_rate: Annotated[float, Field(ge=1e-6, le=1e6, allow_inf_nan=False, strict=True)] | None = None


class FinetuneOptions(_In):
    """The options of ``hwplan finetune`` but its pricing, as fields."""

    model: Ident
    method: Literal["lora", "qlora", "full", "distill"]
    dataset_tokens: Annotated[float, Field(ge=1, le=1e13, allow_inf_nan=False, strict=True)]
    teacher: Ident | None = None
    hardware: list[Ident] | None = Field(default=None, max_length=64,
                                         description="the chips to price it on; null or absent: every chip")
    epochs: Annotated[float, Field(ge=0.01, le=100, allow_inf_nan=False, strict=True)] = 1.0

    @field_validator("hardware")
    @classmethod
    def _allows_some(cls, v: list[str] | None) -> list[str] | None:
        return allows_some(v)  # as a workload's allow-lists ([] read as no filter: every chip)


def check_options(model: type[BaseModel], options: dict[str, Any]) -> None:
    """A command's options through its request model: the first value out of bounds as an InputError naming the
    field (``chips``: the option --chips), as the service's 422 names it (``body.chips``). A --chips of 10^9
    listed its tp values for 49 s; a --request-rate of 1e305 printed numpy's overflow warnings."""
    try:
        model.model_validate({k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"]) or None  # (flat models: no tags or mapping keys)
        raise InputError(str(first["msg"]).removeprefix("Value error, "), field=field) from exc
