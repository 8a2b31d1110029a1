"""Every flag the price schema accepts as "this figure is weak" warns when it alone prices a chip.

Basis: docs/catalog.md's flag list. A "from" price (``lower_bound``: the seller's starting rate, the
real one may be higher) or a figure ``inferred`` rather than published is no firmer ground for a
ranking than an ``uncertain`` one; before, the schema accepted both and the plan printed the price
with no warning, and an offer so flagged was preferred to a certain one of the same provider.
"""

from __future__ import annotations

from datetime import date
from typing import get_args

import pytest

from hardware_catalog.price_outputs import stale_warnings
from hardware_catalog.prices import Flag
from planner.economics.breakdown import PriceSource
from planner.economics.pricing import Offer, PriceBook, PriceQuote, PricingSpec, select_price

TODAY = date(2026, 11, 1)


def offer(provider: str, usd: float, *flags: str) -> Offer:
    return Offer(hardware="h100-sxm", provider=provider, market="neocloud", mode="on_demand",
                 usd_per_chip_hour=usd, region="us-east-1", as_of=TODAY, source="test", flags=frozenset(flags))


@pytest.mark.parametrize("flag", ["uncertain", "estimate", "lower_bound", "inferred"])
def test_a_price_resting_on_weak_offers_alone_warns(flag: str) -> None:
    assert flag in get_args(Flag)
    source = PriceSource(hardware="h100-sxm", usd_per_chip_hour=2.0, mode="on_demand", market="neocloud",
                         rule="median of 1 neocloud provider(s)", offers=(offer("a", 2.0, flag),))
    (warning,) = stale_warnings([source])
    assert f"flagged {flag}" in warning and "confirm it" in warning


@pytest.mark.parametrize("flag", ["derived", "gpu_only", "stale"])
def test_other_flags_do_not_warn_as_weak(flag: str) -> None:
    source = PriceSource(hardware="h100-sxm", usd_per_chip_hour=2.0, mode="on_demand", market="neocloud",
                         rule="median of 1 neocloud provider(s)", offers=(offer("a", 2.0, flag),))
    assert not [w for w in stale_warnings([source]) if "flagged" in w]


@pytest.mark.parametrize("flag", ["lower_bound", "inferred"])
def test_a_provider_certain_offer_is_preferred_to_its_weak_one(flag: str) -> None:
    book = PriceBook(offers=(offer("a", 1.0, flag), offer("a", 3.0)))
    quote = select_price(book, "h100-sxm", PricingSpec(mode="on_demand", market="neocloud"))
    assert isinstance(quote, PriceQuote) and quote.usd_per_chip_hour == 3.0
