"""Per-mode replica prices for schedules: the one place the fleet planner reads a price.

A ``ChipPrices`` function gives USD per chip-hour for (hardware id, pricing mode, chips per replica),
or None when there is no such price (the chips choose the offers: an instance must hold a replica,
``planner.economics.pricing.instance_chips``). ``catalog_prices`` prices as plan costs do
(``planner.economics.rates.chip_rate``: the median of one market's offers in the catalog's price
book, a price sheet first, in each mode);
``book_prices`` takes the first market, in ``MARKETS`` order, that has an offer in the mode (so a
chip the hyperscalers do not rent is still priced). The boundary picks one, so switching the
source changes no planning code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from enum import StrEnum

from planner.domain import Catalog
from planner.economics.pricing import PriceQuote
from planner.economics.rates import ChipRate, Pricing, chip_rate

__all__ = ["ChipPrices", "Mode", "QuotedPrices", "book_prices", "catalog_prices", "replica_price"]

ChipPrices = Callable[[str, str, int], float | None]  # (hardware id, pricing mode, chips per replica) -> USD/chip-h
Quotes = Callable[[str, str, int], PriceQuote | None]  # the same arguments -> the quote behind that price


class QuotedPrices:
    """A ``ChipPrices`` that can also give the quote behind each price (its offers, their dates and flags), so a
    schedule can say when a price it bought at is old or rests only on weak offers, as a plan's cost does."""

    def __init__(self, quote: Quotes, pricing: Pricing | None = None) -> None:
        self.quote = quote
        self.pricing = pricing  # the plan pricing it quotes as (None: another rule), for the single-workload searches

    def __call__(self, hardware: str, mode: str, chips: int) -> float | None:
        q = self.quote(hardware, mode, chips)
        return None if q is None else q.usd_per_chip_hour


class Mode(StrEnum):
    """How a replica-hour is bought in a schedule."""

    COMMITTED = "committed"  # reserved / committed use: paid every hour of every month once bought
    ON_DEMAND = "on_demand"  # paid per hour used
    SPOT = "spot"  # paid per hour used, may be pre-empted


def catalog_prices(catalog: Catalog, pricing: Pricing | None = None) -> ChipPrices:
    """Prices as a plan's cost reads them: ``pricing`` (default: the hyperscaler market, like for
    like) with its mode replaced by the schedule's."""
    base = pricing or Pricing()

    def quote(hardware: str, mode: str, chips: int) -> PriceQuote | None:
        if hardware not in catalog.hardware:
            return None
        rate = chip_rate(catalog, hardware, replace(base, mode=mode), chips_per_replica=chips)
        if not isinstance(rate, ChipRate):
            return None
        if rate.quote is not None:
            return rate.quote
        # owned: a TCO rate, no offers behind it
        return PriceQuote(hardware=hardware, mode=mode, market="owned", usd_per_chip_hour=rate.usd_per_chip_hour,
                          offers=(), rule="owned TCO")

    return QuotedPrices(quote, base)


def book_prices(catalog: Catalog) -> ChipPrices:
    """Prices from every market of the catalog's price book: the median of the first market (in
    ``MARKETS`` order, hyperscalers first) that has offers in the mode (``Pricing.fallback_markets``)."""
    return catalog_prices(catalog, Pricing(fallback_markets=True))


def replica_price(prices: ChipPrices, hardware: str, chips: int, mode: Mode, *,
                  committed_as: str = "reserved_1y") -> float | None:
    """USD per replica-hour in ``mode`` (None: no price for it)."""
    per_chip = prices(hardware, committed_as if mode is Mode.COMMITTED else str(mode), chips)
    return None if per_chip is None else per_chip * chips
