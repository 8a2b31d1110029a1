"""Spot prices: the price survey's own rule, and the two ends of a published range.

Basis: ../shared/reference/prices_2026.md section 16, rule 4 ("Spot = median of hyperscaler spot
observations dated 2025-08 or later, VM-inclusive, US regions only") and its "Spot $/chip-h" column,
worked out by hand from the same quotes the catalog holds; hand arithmetic for the synthetic books.
Before, spot was priced like on-demand, one quote per provider from its reference region: TPU v5e
$0.213 (us-central1 alone) where the survey's median of its US regions is $0.41, TPU v6e $0.648
against $1.08, RTX PRO 6000 $1.13 (AWS's "from" price averaged with GCP) against $1.74.
"""

from __future__ import annotations

from datetime import date

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.prices import load_prices
from planner.economics.pricing import Offer, PriceBook, PriceQuote, PricingSpec, in_us, select_price

BOOK = load_prices(known_hardware=set(load_catalog().hardware))

# Section 16's spot column, for the chips whose hyperscaler spot quotes the catalog holds.
SURVEY_SPOT_DEFAULTS = {
    # a100-80gb: the survey's 2.76 counts Azure's A100 80GB PCIe spot ($0.679), which the catalog keeps out of the
    # SXM4 chip (like for like): GCP's 2.76 and 3.041 -> 2.90
    "t4": 0.17, "l40s": 1.40, "a100-40gb": 2.04, "a100-80gb": 2.90, "h100-sxm": 4.54, "h100-nvl": 1.29,
    "h200": 5.64, "b200": 5.82, "tpu-v5e": 0.41, "tpu-v5p": 1.62, "tpu-v6e": 1.08, "trainium2": 0.91,
}
# Where the survey's median counts a figure the catalog does not price from, and what the rest gives.
SURVEY_SPOT_EXCEPTIONS = {
    # AWS's "observed" spot price ($0.529 A10G, $0.188 L4) beside its listed one: not a quote anyone can rent at
    "a10g": (0.58, 0.636), "l4": (0.41, 0.424),
    # AWS g7e's "from" price ($0.5245): a bound, not an observation, where GCP quotes $1.743 and $1.800
    "rtx-pro-6000": (1.74, 1.7715),
}


@pytest.mark.parametrize("hw", sorted(SURVEY_SPOT_DEFAULTS))
def test_spot_reproduces_the_surveys_hand_computed_medians(hw: str) -> None:
    quote = select_price(BOOK, hw, PricingSpec(mode="spot"))
    assert isinstance(quote, PriceQuote), hw
    assert quote.usd_per_chip_hour == pytest.approx(SURVEY_SPOT_DEFAULTS[hw], abs=0.01), (hw, quote.offers)


@pytest.mark.parametrize("hw", sorted(SURVEY_SPOT_EXCEPTIONS))
def test_spot_departs_from_the_survey_only_by_the_figures_it_does_not_count(hw: str) -> None:
    survey, expected = SURVEY_SPOT_EXCEPTIONS[hw]
    quote = select_price(BOOK, hw, PricingSpec(mode="spot"))
    assert isinstance(quote, PriceQuote)
    assert quote.usd_per_chip_hour == pytest.approx(expected, abs=1e-3)
    assert abs(quote.usd_per_chip_hour / survey - 1.0) < 0.10


def spot(provider: str, usd: float, region: str = "us-east-1", *flags: str, market: str = "hyperscaler") -> Offer:
    return Offer(hardware="h100-sxm", provider=provider, market=market, mode="spot", usd_per_chip_hour=usd,
                 region=region, as_of=date(2026, 9, 1), source="test", flags=frozenset(flags))


def price(*offers: Offer, **spec: object) -> PriceQuote:
    quote = select_price(PriceBook(offers=offers), "h100-sxm", PricingSpec(mode="spot", **spec))  # type: ignore[arg-type]
    assert isinstance(quote, PriceQuote)
    return quote


def test_every_spot_observation_counts_not_one_per_provider() -> None:
    # one provider quoting three US regions and another quoting one: the median of four, not of two
    quote = price(spot("gcp", 1.0, "us-central1"), spot("gcp", 2.0, "us-east5"), spot("gcp", 3.0, "us-south1"),
                  spot("aws", 10.0))
    assert quote.usd_per_chip_hour == pytest.approx(2.5)
    assert len(quote.offers) == 4 and "4 hyperscaler spot observation(s), 2 provider(s)" in quote.rule


def test_spot_outside_the_us_is_left_out_where_us_quotes_exist() -> None:
    quote = price(spot("gcp", 1.0, "africa-south1"), spot("gcp", 4.0, "us-east4"), spot("azure", 6.0, "eastus"),
                  spot("aws", 5.0, "unspecified"))
    assert quote.usd_per_chip_hour == pytest.approx(5.0)  # median of 4, 5, 6
    assert {o.region for o in quote.offers} == {"us-east4", "eastus", "unspecified"}
    # none in the US: every region counts; a region the user names: that one
    assert price(spot("gcp", 1.0, "europe-west4"), spot("gcp", 3.0, "asia-east1")).usd_per_chip_hour == 2.0
    assert price(spot("gcp", 1.0, "africa-south1"), spot("gcp", 4.0, "us-east4"),
                 regions=("africa-south1",)).usd_per_chip_hour == 1.0


def test_a_from_price_is_not_an_observation_where_firm_ones_exist() -> None:
    quote = price(spot("aws", 0.5, "us-east-2", "lower_bound"), spot("gcp", 1.7, "us-central1"),
                  spot("gcp", 1.8, "us-central1"))
    assert quote.usd_per_chip_hour == pytest.approx(1.75) and "lower_bound" not in quote.flags
    alone = price(spot("aws", 0.5, "us-east-2", "lower_bound"))
    assert alone.usd_per_chip_hour == 0.5 and "lower_bound" in alone.flags  # (the plan then warns: weak price)


@pytest.mark.parametrize(("region", "us"), [("us-east-1", True), ("us-central1", True), ("us-ashburn-1", True),
                                            ("eastus", True), ("southcentralus", True), ("europe-west4", False),
                                            ("eu-north-1", False), ("australiaeast", False), ("unspecified", False)])
def test_us_regions_by_provider_naming(region: str, us: bool) -> None:
    assert in_us(region) is us


def test_the_two_ends_of_a_range_price_a_provider_at_their_midpoint() -> None:
    # on-demand keeps one price per provider: a range's two ends tie on every rank, and give their median
    ends = (Offer(hardware="rtx-4090", provider="vast.ai", market="marketplace", mode="on_demand",
                  usd_per_chip_hour=usd, region="unspecified", as_of=date(2026, 9, 1), source="test")
            for usd in (0.20, 0.35))
    quote = select_price(PriceBook(offers=tuple(ends)), "rtx-4090", PricingSpec(market="marketplace"))
    assert isinstance(quote, PriceQuote) and quote.usd_per_chip_hour == pytest.approx(0.275)
    assert quote.rule == "median of 1 marketplace provider(s)" and len(quote.offers) == 2
    # shipped: Vast.ai's "$0.20-0.35" beside RunPod community's $0.34
    shipped = select_price(BOOK, "rtx-4090", PricingSpec(market="marketplace"))
    assert isinstance(shipped, PriceQuote)
    assert sorted(o.usd_per_chip_hour for o in shipped.offers if o.provider == "vast.ai") == [0.20, 0.35]
    assert shipped.usd_per_chip_hour == pytest.approx((0.34 + 0.275) / 2)
