"""GET /v1/prices and /v1/prices/{hardware}: the offers a plan's price rests on, and the price each
(chip, market, mode) selects (what ``hwplan prices list|show --json`` prints)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response

from api.deps import SnapshotDep
from api.errors import NotFound
from api.schemas import ID_PATTERN
from hardware_catalog.price_outputs import PriceListOut, price_list
from planner.errors import InputError

__all__ = ["router"]

router = APIRouter(prefix="/v1/prices", tags=["catalog"])

Market = Literal["hyperscaler", "neocloud", "marketplace"]
Mode = Literal["on_demand", "reserved_1y", "reserved_3y", "spot", "capacity_block"]
HardwareId = Annotated[str, Path(pattern=ID_PATTERN, max_length=64, description="Hardware id.")]


@router.get("", response_model=PriceListOut, response_model_exclude_unset=True)
def list_prices(snapshot: SnapshotDep, response: Response,
                hardware: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
                market: Market | None = None, mode: Mode | None = None) -> PriceListOut:
    """Offers matching the filters, and the selected price per (chip, market, mode); 422 for a chip the
    catalog lacks (a typo in the filter read as 'no offers')."""
    if hardware is not None and hardware not in snapshot.catalog.hardware:
        raise InputError(f"no hardware {hardware!r} in the catalog", field="query.hardware")
    response.headers["X-Catalog-Version"] = snapshot.catalog.version
    return price_list(snapshot.catalog.prices, hardware=hardware, market=market, mode=mode)


@router.get("/{hardware}", response_model=PriceListOut, response_model_exclude_unset=True)
def show_prices(hardware: HardwareId, snapshot: SnapshotDep, response: Response) -> PriceListOut:
    """One chip's offers and selected prices; 404 for a chip the catalog lacks."""
    if hardware not in snapshot.catalog.hardware:
        raise NotFound(f"no hardware {hardware!r}", field="path.hardware")
    response.headers["X-Catalog-Version"] = snapshot.catalog.version
    return price_list(snapshot.catalog.prices, hardware=hardware)
