"""The request bodies of ``POST /v1/estimate`` and ``POST /v1/finetune``: the commands' options
(``hardware_catalog.inputs.options``, with the same bounds the command line holds them to) and their pricing."""

from __future__ import annotations

from pydantic import Field

from hardware_catalog.inputs.options import ID_PATTERN, EstimateOptions, FinetuneOptions
from hardware_catalog.inputs.workload import Mode, PricingField, PricingIn
from hardware_catalog.prices import PriceFile

__all__ = ["ID_PATTERN", "EstimateRequest", "FinetuneRequest"]


class EstimateRequest(EstimateOptions):
    """The options of ``hwplan estimate``, as fields."""

    pricing: PricingField = PricingIn()
    prices: PriceFile | None = Field(default=None, description="a price sheet: wins where it has a price")


class FinetuneRequest(FinetuneOptions):
    """The options of ``hwplan finetune``, as fields."""

    pricing: Mode = "on_demand"
