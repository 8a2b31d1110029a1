"""Typed output documents for prices: the offers behind a plan's cost, its parts, energy and carbon,
the chips a pricing leaves unpriced, and the price list (``hwplan prices``, GET /v1/prices).

Part of the output boundary of ``hardware_catalog.outputs`` (same rules: built here only, unknown
keys rejected, numbers rounded for display); kept in its own module so the price documents read
together. Imports only pydantic at load time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from hardware_catalog.numbers import money, rounded
from planner.economics.pricing import WEAK_FLAGS

if TYPE_CHECKING:
    from planner.economics.breakdown import CostParts, Energy, PriceSource
    from planner.economics.pricing import Offer, PriceBook, PriceQuote, Unpriced

__all__ = ["CostPartsOut", "EnergyOut", "OfferOut", "PriceListOut", "PriceOut", "PriceSourceOut", "UnpricedOut",
           "energy_out", "offer_out", "parts_out", "price_list", "price_list_out", "sized_chip", "source_out",
           "stale_warnings", "unpriced_out", "weak_flags"]

Num = float | None


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class OfferOut(_Out):
    """One public or price-sheet offer, per chip-hour."""

    hardware: str
    provider: str
    market: str
    mode: str
    usd_per_chip_hour: Num
    region: str
    as_of: str | None = Field(description="date of the price; null: the source states none")
    source: str
    instance: str | None = None
    chips_per_instance: int | None = None
    flags: list[str] = []


class PriceSourceOut(_Out):
    """The price one chip of a plan is charged at, and what it rests on."""

    hardware: str
    usd_per_chip_hour: Num
    mode: str
    market: str | None = Field(description="null for owned hardware (TCO)")
    rule: str = Field(description="how the offers became one price, e.g. 'median of 3 hyperscaler provider(s)'")
    from_sheet: bool = Field(description="the price comes from the user's price sheet")
    offers: list[OfferOut]
    stale: bool = Field(description="an offer behind it is older than 12 months or undated")
    instance_chips: int = Field(default=1, description="only offers of instances holding at least this many chips "
                                                       "priced it (a replica's chips on one node); 1: any instance "
                                                       "(and in a result saved before the field)")


class CostPartsOut(_Out):
    """USD per month; the parts sum to cost.per_month."""

    compute: Num = Field(description="rented chip-hours, or an owned chip's capital, host share and operations")
    energy: Num = Field(description="owned power; 0 where the rented price includes it")
    hosting: Num = Field(description="owned colocation space and power provisioning")
    adaptation: Num = Field(description="one-time adaptation cost / horizon_months")


class EnergyOut(_Out):
    """The power model at the plan's average utilisation; carbon is location-based."""

    utilisation: Num = Field(description="average load / raw capacity")
    kwh_per_month: Num
    kwh_per_million_output_tokens: Num
    kgco2e_per_month: Num
    region: str = Field(description="grid region the carbon figure uses")
    g_co2e_per_kwh: Num
    note: str = ""


class UnpricedOut(_Out):
    hardware: str
    reason: str
    would_price: list[str] = Field(description="pricings that have a price for it ('neocloud on_demand', 'owned')")


class PriceOut(_Out):
    """The price ``select_price`` picks for one chip under one (market, mode), with its offers."""

    hardware: str
    market: str
    mode: str
    usd_per_chip_hour: Num
    rule: str
    offers: list[OfferOut]


class PriceListOut(_Out):
    """``hwplan prices list`` / GET /v1/prices: offers, and the price each (chip, market, mode) selects."""

    offers: list[OfferOut]
    selected: list[PriceOut]
    skipped: list[str] = Field(description="offers for chips this catalog lacks, with the reason")


def offer_out(o: Offer) -> OfferOut:
    return OfferOut(hardware=o.hardware, provider=o.provider, market=o.market, mode=o.mode,
                    usd_per_chip_hour=rounded(o.usd_per_chip_hour), region=o.region,
                    as_of=None if o.as_of is None else o.as_of.isoformat(), source=o.source, instance=o.instance,
                    chips_per_instance=o.chips_per_instance, flags=sorted(o.flags))


def sized_chip(hardware: str, instance_chips: int) -> str:
    """A chip as its price names it: alone where any instance priced it, else with the instance size that did (one
    chip's 1-chip and 8-chip-instance prices differ without anything being repriced)."""
    return hardware if instance_chips <= 1 else f"{hardware} (instances of >= {instance_chips} chips)"


def source_out(s: PriceSource) -> PriceSourceOut:
    return PriceSourceOut(hardware=s.hardware, usd_per_chip_hour=rounded(s.usd_per_chip_hour), mode=s.mode,
                          market=s.market, rule=s.rule, from_sheet=s.from_sheet,
                          offers=[offer_out(o) for o in s.offers], stale=bool(s.stale),
                          instance_chips=s.instance_chips)


def stale_warnings(sources: Sequence[PriceSource]) -> list[str]:
    """One line per chip whose price rests on an offer older than 12 months (or undated), and one
    per chip whose price rests only on offers flagged weak (planner.economics.pricing.WEAK_FLAGS: one
    secondary, third-party, lower-bound or inferred figure decides the ranking there: check it before buying)."""
    from planner.economics.breakdown import price_warnings

    return [w for s in sources for w in price_warnings(s.hardware, s.offers, s.stale, from_sheet=s.from_sheet,
                                                        public=s.public, sheet_unused=s.sheet_unused)]


def weak_flags(source: PriceSource | PriceSourceOut) -> list[str]:
    """The weak flags (``WEAK_FLAGS``) a public price rests on where every offer behind it carries one (a
    price sheet's own offers are the user's: never flagged here); empty otherwise."""
    if source.from_sheet or not source.offers or not all(set(o.flags) & WEAK_FLAGS for o in source.offers):
        return []
    return sorted({f for o in source.offers for f in o.flags if f in WEAK_FLAGS})


def parts_out(p: CostParts) -> CostPartsOut:
    return CostPartsOut(compute=money(p.compute), energy=money(p.energy), hosting=money(p.hosting),
                        adaptation=money(p.adaptation))


def energy_out(e: Energy) -> EnergyOut:
    return EnergyOut(utilisation=rounded(e.utilisation, 3), kwh_per_month=rounded(e.kwh_per_month),
                     kwh_per_million_output_tokens=rounded(e.kwh_per_million_output_tokens),
                     kgco2e_per_month=rounded(e.kgco2e_per_month), region=e.region,
                     g_co2e_per_kwh=rounded(e.g_co2e_per_kwh), note=e.note)


def unpriced_out(u: Unpriced) -> UnpricedOut:
    would = [mode if market == mode else f"{market} {mode}" for market, mode in u.available]
    return UnpricedOut(hardware=u.hardware, reason=u.reason, would_price=would)


def price_list_out(offers: Sequence[Offer], quotes: Sequence[PriceQuote], skipped: Sequence[str]) -> PriceListOut:
    return PriceListOut(
        offers=[offer_out(o) for o in offers],
        selected=[PriceOut(hardware=q.hardware, market=q.market, mode=q.mode,
                           usd_per_chip_hour=rounded(q.usd_per_chip_hour), rule=q.rule,
                           offers=[offer_out(o) for o in q.offers]) for q in quotes],
        skipped=list(skipped))


def price_list(prices: PriceBook, *, hardware: str | None = None, market: str | None = None,
               mode: str | None = None) -> PriceListOut:
    """The offers matching the filters, and the price ``select_price`` picks for each (chip, market, mode)
    among them (the same rule a plan uses)."""
    from planner.economics.pricing import MARKETS, OFFER_MODES, PriceQuote, PricingSpec, select_price

    offers = [o for o in prices.offers if (hardware is None or o.hardware == hardware)
              and (market is None or o.market == market) and (mode is None or o.mode == mode)]
    keys = sorted({(o.hardware, o.market, o.mode) for o in offers},
                  key=lambda k: (k[0], MARKETS.index(k[1]), OFFER_MODES.index(k[2])))
    quotes = [q for h, m, md in keys if isinstance(q := select_price(prices, h, PricingSpec(mode=md, market=m)),
                                                        PriceQuote)]
    lines = [f"{s.file}: {s.reason}" for s in prices.skipped if hardware is None or s.hardware == hardware]
    counts = dict(Counter(lines))  # one line per file and reason (a file's every offer was listed alike)
    skipped = [line + (f" ({n} offers)" if n > 1 else "") for line, n in counts.items()]
    return price_list_out(offers, quotes, skipped)
