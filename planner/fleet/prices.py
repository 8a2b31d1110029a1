"""Per-mode replica prices for schedules: the one place the fleet planner reads a price.

A ``ChipPrices`` function gives USD per chip-hour for (hardware id, pricing mode), or None when
there is no such price. ``catalog_prices`` reads the catalog's ``Hardware.price_per_chip_hour``
(what plan costs use today); the boundary may pass another one (``hardware_catalog.fleet_file``
builds one from the price layer's book), so switching the source changes no planning code.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum

from planner.domain import Catalog

__all__ = ["ChipPrices", "Mode", "catalog_prices", "replica_price"]

ChipPrices = Callable[[str, str], float | None]  # (hardware id, catalog pricing mode) -> USD per chip-hour


class Mode(StrEnum):
    """How a replica-hour is bought in a schedule."""

    COMMITTED = "committed"  # reserved / committed use: paid every hour of every month once bought
    ON_DEMAND = "on_demand"  # paid per hour used
    SPOT = "spot"  # paid per hour used, may be pre-empted


def catalog_prices(catalog: Catalog) -> ChipPrices:
    """Prices as the catalog's hardware files state them."""

    def price(hardware: str, mode: str) -> float | None:
        hw = catalog.hardware.get(hardware)
        return None if hw is None else hw.price(mode)

    return price


def replica_price(prices: ChipPrices, hardware: str, chips: int, mode: Mode, *,
                  committed_as: str = "reserved_1y") -> float | None:
    """USD per replica-hour in ``mode`` (None: no price for it)."""
    per_chip = prices(hardware, committed_as if mode is Mode.COMMITTED else str(mode))
    return None if per_chip is None else per_chip * chips
