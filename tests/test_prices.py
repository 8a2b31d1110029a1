"""The price layer: shipped offers, the selection rule, price sheets, owned TCO, energy, carbon.

Expected values come from the 2026 price survey the offers were compiled from (its section 16
"Recommended defaults", computed by hand from the same offers; its conventions' spread of H100
prices by market), from the published energy-per-token figures in data/owned.yaml (ML.ENERGY),
and from hand arithmetic.
"""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.prices import default_prices_dir, load_owned, load_price_sheet, load_prices
from planner.economics.owned import (
    energy_kwh_per_chip_hour,
    grid_intensity,
    joules_per_token,
    kg_co2e,
    owned_cost_per_chip_hour,
    owned_inputs,
    power_draw_w,
)
from planner.economics.pricing import PriceQuote, PricingSpec, Unpriced, available_pricings, select_price, stale_offers
from planner.errors import CatalogError, InputError
from planner.model.estimate import Scenario, estimate, resolve

CATALOG = load_catalog()
BOOK = load_prices(known_hardware=set(CATALOG.hardware))
OWNED = load_owned()

# Chips whose market has on-demand only, with the reason (the survey's "Gaps" section).
ON_DEMAND_ONLY = {
    "gb200": "CoreWeave's NVL72 slice is the only public price; no GB200 spot or reserved rate found",
    "gh200": "Lambda and CoreWeave on-demand only; the reserved / spot figures name no provider",
    "tpu-v4": "a single undated on-demand figure; no 2026 TPU v4 price of any mode",
    "xeon-8480": "priced from one CPU instance (m7i.48xlarge) on-demand only",
    "b300": "AWS P6-B300 on-demand and capacity blocks only; no reserved or spot rate published",
    "mi355x": "one hyperscaler on-demand rate; no reserved or spot rate found",
}
# Catalog chips nobody rents publicly (the survey's sections 9 and 10 and "Gaps").
NO_PUBLIC_OFFER = {
    "gaudi2": "no public $/h at Intel Tiber, IBM Cloud or elsewhere",
    "gaudi3": "no public $/h at Intel Tiber, IBM Cloud or elsewhere",
    "mtia-v1": "internal to Meta; not sold or rented", "mtia-v2": "internal to Meta; not sold or rented",
    "apple-m1": "not rentable", "apple-m1-max": "not rentable", "apple-m2-ultra": "not rentable",
    "apple-m3-max": "not rentable", "jetson-thor": "edge module; no rental",
    "ryzen-7940hs": "laptop CPU; no rental", "rtx-3090": "no offer in the survey",
    "gb300": "no per-GPU offer in the survey (rack-scale contracts only)",
    "h200-nvl": "no offer in the survey", "mi350x": "no offer in the survey",
    "gh200-96gb": "the catalog's gh200 entry carries the 96 GB part's offers",
    "gh200-144gb": "no offer in the survey names the 144 GB part",
    "arc-pro-b60": "workstation card; purchase only", "jetson-agx-orin": "edge module; no rental",
    "arc-pro-b50": "workstation card; purchase only", "arc-pro-b70": "workstation card; purchase only",
    "rtx-pro-4500": "no offer in the survey", "rtx-pro-4500-server": "no offer in the survey",
    "xeon-6787p": "CPU; cloud CPU instances are priced per vCPU, not in the survey",
    "xeon-6980p": "CPU; cloud CPU instances are priced per vCPU, not in the survey",
    "xeon-8592": "CPU; cloud CPU instances are priced per vCPU, not in the survey",
}


def _primary_market(hw: str) -> str:
    return "hyperscaler" if ("hyperscaler", "on_demand") in available_pricings(BOOK, hw) else "neocloud"


def test_every_shipped_offer_has_a_date_and_a_citation() -> None:
    for path in sorted(default_prices_dir().glob("*.yaml")):
        for index, raw in enumerate(yaml.safe_load(path.read_text())["offers"]):
            assert "as_of" in raw and "source" in raw, f"{path.name} offer {index}"
            assert isinstance(raw["as_of"], date) or raw["as_of"] == "undated", f"{path.name} {index}"
    for offer in BOOK.offers:
        assert len(offer.source) > 20 and ".md" not in offer.source.replace("docs/sources.md", "")


def test_every_catalog_chip_is_priced_or_listed_as_unrentable() -> None:
    priced = set(BOOK.hardware_ids())
    assert priced.isdisjoint(NO_PUBLIC_OFFER)
    assert priced | set(NO_PUBLIC_OFFER) == set(CATALOG.hardware)


@pytest.mark.parametrize("hw", sorted(BOOK.hardware_ids()))
def test_each_chip_has_on_demand_and_a_discounted_mode_in_its_market(hw: str) -> None:
    market = _primary_market(hw)
    modes = {mode for m, mode in available_pricings(BOOK, hw) if m == market}
    assert "on_demand" in modes
    discounted = modes & {"reserved_1y", "reserved_3y", "spot"}
    assert bool(discounted) != (hw in ON_DEMAND_ONLY), (hw, market, modes)


def test_offers_for_chips_outside_the_catalog_are_skipped_with_a_reason() -> None:
    skipped = {s.hardware for s in BOOK.skipped}
    assert {"tpu7x"} <= skipped
    assert not skipped & set(CATALOG.hardware)
    assert all("not in the catalog" in s.reason for s in BOOK.skipped)


# Section 16 of the survey: OD default = median of hyperscaler on-demand offers (neocloud
# median, marked (n), where no hyperscaler rents the chip), worked out by hand.
SURVEY_OD_DEFAULTS = {
    # a100-80gb: the survey's 3.84 takes Azure's NC A100 v4, an A100 80GB PCIe (1,935 GB/s, 300 W), into the SXM4
    # chip's median; the catalog keeps them apart (like for like): AWS 3.431, GCP 5.069, OCI 4.00 -> 4.00
    "t4": 0.53, "a10g": 1.01, "l4": 0.76, "l40s": 2.68, "a100-40gb": 3.22, "a100-80gb": 4.00,
    "h100-sxm": 10.53, "h200": 11.34, "b200": 15.12, "rtx-pro-6000": 3.93, "mi300x": 6.00,
    "tpu-v5e": 1.20, "tpu-v5p": 4.20, "tpu-v6e": 2.70, "inferentia2": 0.76, "trainium1": 1.34,
}
SURVEY_NEOCLOUD_DEFAULTS = {"h100-pcie": 2.89, "gh200": 4.40, "gb200": 10.50, "mi325x": 2.25,
                            "t4": 0.70, "l4": 0.62, "l40s": 1.67, "h100-sxm": 3.99, "mi300x": 1.99}


@pytest.mark.parametrize(("market", "table"), [("hyperscaler", SURVEY_OD_DEFAULTS),
                                               ("neocloud", SURVEY_NEOCLOUD_DEFAULTS)])
def test_default_rule_reproduces_the_surveys_hand_computed_medians(market: str, table: dict[str, float]) -> None:
    for hw, expected in table.items():
        quote = select_price(BOOK, hw, PricingSpec(market=market))
        assert isinstance(quote, PriceQuote), hw
        assert quote.usd_per_chip_hour == pytest.approx(expected, abs=0.01), hw


def test_same_hopper_silicon_is_priced_like_for_like_within_each_markets_spread() -> None:
    # The survey's conventions: H100 about $6.9-12.3 at hyperscalers, $2.7-4.0 at neoclouds.
    hyper = select_price(BOOK, "h100-sxm", PricingSpec(market="hyperscaler"))
    neo = select_price(BOOK, "h100-sxm", PricingSpec(market="neocloud"))
    assert isinstance(hyper, PriceQuote) and isinstance(neo, PriceQuote)
    assert 6.88 <= hyper.usd_per_chip_hour <= 12.29
    assert 2.7 <= neo.usd_per_chip_hour <= 4.0
    assert {o.market for o in hyper.offers} == {"hyperscaler"} and {o.market for o in neo.offers} == {"neocloud"}
    assert len({o.provider for o in hyper.offers}) >= 4  # one price per provider (AWS: one H100 or eight at $6.88)
    assert all(len({o.usd_per_chip_hour for o in hyper.offers if o.provider == p}) == 1 for p in {"aws", "gcp"})
    assert "stale" not in hyper.flags  # the 2023 $12.29 AWS list is history only
    h200 = select_price(BOOK, "h200", PricingSpec(market="hyperscaler"))
    assert isinstance(h200, PriceQuote) and h200.market == hyper.market


def test_unpriced_chip_says_which_pricing_would_include_it() -> None:
    result = select_price(BOOK, "gb200", PricingSpec(market="hyperscaler"))
    assert isinstance(result, Unpriced) and ("neocloud", "on_demand") in result.available
    fallback = select_price(BOOK, "gb200", PricingSpec(market="hyperscaler", fallback_markets=True))
    assert isinstance(fallback, PriceQuote) and fallback.fell_back_from == "hyperscaler"
    assert fallback.market == "neocloud" and fallback.usd_per_chip_hour == 10.50
    # spot never borrows another mode's price
    assert isinstance(select_price(BOOK, "gb200", PricingSpec(mode="spot", market="neocloud")), Unpriced)


def test_a_multi_chip_replica_is_priced_from_instances_that_hold_it() -> None:
    # The survey's section 1 rows: T4 at AWS g4dn.xlarge $0.526 (1 chip) and g4dn.12xlarge $3.912 / 4 =
    # $0.978; Azure NC4as_T4_v3 $0.526 and NC64as_T4_v3 $4.352 / 4 = $1.088. A tensor-parallel replica of 2
    # or 4 T4s runs in one instance, so only the 4-chip instances price it: median (0.978 + 1.088) / 2.
    one = select_price(BOOK, "t4", PricingSpec())
    four = select_price(BOOK, "t4", PricingSpec(), chips=4)
    two = select_price(BOOK, "t4", PricingSpec(), chips=2)
    assert isinstance(one, PriceQuote) and one.usd_per_chip_hour == pytest.approx(0.526)
    assert isinstance(four, PriceQuote) and four.usd_per_chip_hour == pytest.approx((0.978 + 1.088) / 2)
    assert isinstance(two, PriceQuote) and two.usd_per_chip_hour == four.usd_per_chip_hour
    assert {o.instance for o in four.offers} == {"g4dn.12xlarge", "NC64as_T4_v3"}
    # L40S: AWS g6e.48xlarge $30.13118 / 8 = $3.766 is the only hyperscaler instance of 8
    eight = select_price(BOOK, "l40s", PricingSpec(), chips=8)
    assert isinstance(eight, PriceQuote) and eight.usd_per_chip_hour == pytest.approx(3.766)
    # no instance that large: unpriced, saying so, and listing no pricing that has none either
    none = select_price(BOOK, "t4", PricingSpec(), chips=8)
    assert isinstance(none, Unpriced) and "instance with >= 8 chips" in none.reason
    assert ("hyperscaler", "on_demand") not in none.available


def test_plans_and_estimates_price_replicas_by_the_instances_that_hold_them() -> None:
    from planner.economics.rates import ChipRate, chip_rate
    rate = chip_rate(CATALOG, "t4", "on_demand", chips_per_replica=4)
    assert isinstance(rate, ChipRate) and rate.usd_per_chip_hour == pytest.approx(1.033)
    # a replica larger than a node takes whole nodes, one instance each: 16 L4s on 8-chip nodes are priced
    # as 8, from AWS g6.48xlarge's $1.669 alone (GCP's largest L4 instance in the survey, g2-standard-48,
    # holds 4)
    wide = chip_rate(CATALOG, "l4", "on_demand", chips_per_replica=16)
    eight = chip_rate(CATALOG, "l4", "on_demand", chips_per_replica=8)
    assert isinstance(wide, ChipRate) and isinstance(eight, ChipRate)
    assert wide.usd_per_chip_hour == eight.usd_per_chip_hour == pytest.approx(1.669)
    config = resolve(CATALOG, model="llama-3.1-70b", hardware="t4", precision="int4", tp=4)
    est = estimate(CATALOG, config, scenario=Scenario.STATIC_BATCH, input_tokens=512, output_tokens=128, batch=1)
    assert est.cost_per_hour == pytest.approx(4 * (0.978 + 1.088) / 2)
    single = estimate(CATALOG, resolve(CATALOG, model="llama-3.1-8b", hardware="t4", precision="int4"),
                      scenario=Scenario.STATIC_BATCH, input_tokens=512, output_tokens=128, batch=1)
    assert single.cost_per_hour == pytest.approx(0.526)


def test_region_and_provider_filters() -> None:
    eu = select_price(BOOK, "h100-sxm", PricingSpec(regions=("europe-west4",)))
    assert isinstance(eu, PriceQuote) and eu.usd_per_chip_hour == 14.07
    aws = select_price(BOOK, "h100-sxm", PricingSpec(providers=("aws",)))
    assert isinstance(aws, PriceQuote) and aws.usd_per_chip_hour == 6.88


def test_undated_and_old_offers_are_reported_stale() -> None:
    quote = select_price(BOOK, "tpu-v5e", PricingSpec())
    assert isinstance(quote, PriceQuote)
    assert stale_offers(quote, today=date(2026, 11, 30)) == quote.offers  # undated snapshot
    fresh = select_price(BOOK, "h100-sxm", PricingSpec(providers=("aws",)))
    assert isinstance(fresh, PriceQuote) and not stale_offers(fresh, today=date(2026, 11, 30))


SHEET = """\
offers:
  - hardware: h100-sxm
    provider: internal
    market: hyperscaler
    mode: on_demand
    usd_per_chip_hour: 1.23
    region: unspecified
    as_of: 2026-10-01
    source: "ACME finance chargeback rate card, FY2027"
  - hardware: tpu7x
    provider: internal
    market: neocloud
    mode: on_demand
    usd_per_chip_hour: 5.0
    region: unspecified
    as_of: 2026-10-01
    source: "ACME finance chargeback rate card, FY2027"
"""


def test_price_sheet_wins_where_it_has_a_price(tmp_path: Path) -> None:
    path = tmp_path / "sheet.yaml"
    path.write_text(SHEET)
    sheet = load_price_sheet(path, known_hardware=set(CATALOG.hardware))
    assert [s.hardware for s in sheet.skipped] == ["tpu7x"]
    own = select_price(BOOK, "h100-sxm", PricingSpec(), sheet=sheet)
    assert isinstance(own, PriceQuote) and own.from_sheet and own.usd_per_chip_hour == 1.23
    other = select_price(BOOK, "h200", PricingSpec(), sheet=sheet)
    assert isinstance(other, PriceQuote) and not other.from_sheet
    spot = select_price(BOOK, "h100-sxm", PricingSpec(mode="spot"), sheet=sheet)
    assert isinstance(spot, PriceQuote) and not spot.from_sheet
    # a sheet with offers for the chip that price none of its replicas says why (an auditor's case: it was left
    # unused without a word while the plan's pricing read 'on_demand + sheet'); one without any says nothing
    assert spot.sheet_unused == "the price sheet's offer(s) for it are on_demand, none spot"
    assert other.sheet_unused is None and own.sheet_unused is None
    sized = SHEET.replace("    source: \"ACME finance chargeback rate card, FY2027\"\n  - hardware: tpu7x",
                          "    source: \"ACME finance chargeback rate card, FY2027\"\n    chips_per_instance: 1\n"
                          "  - hardware: tpu7x")
    assert sized != SHEET
    path.write_text(sized)
    one_chip = load_price_sheet(path, known_hardware=set(CATALOG.hardware))
    four = select_price(BOOK, "h100-sxm", PricingSpec(), sheet=one_chip, chips=4)
    assert isinstance(four, PriceQuote) and not four.from_sheet
    assert four.sheet_unused == ("the price sheet's on_demand offer(s) for it are of instances with 1 chip(s), "
                                 "where a replica needs one with >= 4")
    assert select_price(BOOK, "h100-sxm", PricingSpec(), sheet=one_chip, chips=1).from_sheet  # type: ignore[union-attr]
    from planner.economics.breakdown import price_warnings

    assert price_warnings("h100-sxm", four.offers, (), from_sheet=False, sheet_unused=four.sheet_unused)[0] == \
        f"h100-sxm: {four.sheet_unused}: priced from the public offers instead"


@pytest.mark.parametrize(("edit", "field"), [
    (("colour", "red"), "offers.0.colour"),
    (("usd_per_chip_hour", ".nan"), "offers.0.usd_per_chip_hour"),
    (("usd_per_chip_hour", ".inf"), "offers.0.usd_per_chip_hour"),
    (("usd_per_chip_hour", "1e308"), "offers.0.usd_per_chip_hour"),
    (("usd_per_chip_hour", "0"), "offers.0.usd_per_chip_hour"),
    (("mode", "owned"), "offers.0.mode"),
    (("as_of", "2026-13-01"), "offers.0.as_of"),
    (("source", '"prices_2026.md"'), "offers.0.source"),
])
def test_bad_sheet_is_rejected_naming_file_and_field(tmp_path: Path, edit: tuple[str, str], field: str) -> None:
    key, value = edit
    lines = [ln for ln in SHEET.splitlines()[:9] if not ln.strip().startswith(f"{key}:")]
    path = tmp_path / "bad.yaml"
    path.write_text("\n".join([*lines, f"    {key}: {value}"]) + "\n")
    with pytest.raises(CatalogError) as err:
        load_price_sheet(path)
    assert err.value.file == str(path) and err.value.field == field
    assert str(path) in str(err.value) and field in str(err.value)


def test_offer_in_the_wrong_chips_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "h200.yaml").write_text(SHEET.split("  - hardware: tpu7x")[0])
    with pytest.raises(CatalogError, match=r"h200.yaml: offers.0.hardware"):
        load_prices(tmp_path)


# --- owned hardware, energy, carbon ----------------------------------------------------------


def test_owned_cost_by_hand_for_h100() -> None:
    inputs = owned_inputs(OWNED, "h100-sxm")
    cost = owned_cost_per_chip_hour(inputs, utilisation=1.0)
    years = 3 * 8760
    assert cost.capital == pytest.approx(30000 / years)
    assert cost.host_capital == pytest.approx(625 / years)
    watts = 700 * 0.971  # SerialAlice: 680 W of 700 W at full load
    assert cost.power == pytest.approx(watts * (1 + 0.431) * 1.54 / 1000 * 0.08)
    assert cost.hosting == pytest.approx(195.94 * 0.7 / 730)
    assert cost.total == pytest.approx(cost.capital + cost.host_capital + cost.power + cost.hosting)


@pytest.mark.parametrize("hw", sorted(set(OWNED.capex_usd) & set(OWNED.tdp_w)))
@pytest.mark.parametrize("utilisation", [0.0, 0.5, 1.0])
def test_owned_cost_is_never_below_its_power_cost(hw: str, utilisation: float) -> None:
    cost = owned_cost_per_chip_hour(owned_inputs(OWNED, hw), utilisation=utilisation)
    assert cost.total >= cost.power > 0


def test_rtx_4090_owned_costs_more_than_its_electricity() -> None:
    # The example: capex / 3 years alone gave $0.061/h, below the card's own power bill.
    cost = owned_cost_per_chip_hour(owned_inputs(OWNED, "rtx-4090"), utilisation=1.0)
    assert cost.capital == pytest.approx(1599 / (3 * 8760))
    assert cost.total > cost.capital + cost.power


def test_owned_inputs_without_a_public_capex_ask_for_one() -> None:
    with pytest.raises(InputError, match="capex_usd_per_chip"):
        owned_inputs(OWNED, "mtia-v2")
    mine = owned_inputs(OWNED, "mtia-v2", overrides={"capex_usd_per_chip": 5000.0, "pue": 1.1})
    assert mine.tdp_w == 90 and mine.pue == 1.1
    with pytest.raises(InputError, match="tdp_w"):
        owned_inputs(OWNED, "tpu-v6e", overrides={"capex_usd_per_chip": 1.0})


def test_power_model_spans_the_measured_h100_range() -> None:
    # SerialAlice (June 2026): H100 SXM drew 267-680 W across batch 1-128 under vLLM.
    facility = OWNED.facility
    def draw(u: float) -> float:
        return power_draw_w(tdp_w=700, utilisation=u, idle_fraction=facility["idle_draw_fraction"].value,
                            max_fraction=facility["max_draw_fraction"].value)
    assert draw(1.0) == pytest.approx(680, abs=1)
    assert draw(0.0) < 267 < draw(1.0)
    with pytest.raises(ValueError):
        draw(1.5)


def test_energy_per_token_matches_ml_energy_for_llama_8b_on_h100() -> None:
    """Llama-3.1-8B on H100 SXM at batch 64 (the ML.ENERGY setting), a saturated GPU (u = 1).

    Published: 0.12 J/token (vLLM 0.11.1, leaderboard v3) and 0.20 (vLLM 0.5.4, v2); the
    planner's throughput and the power model must land between them.
    """
    figures = [f for f in OWNED.energy_per_token
               if (f.model, f.hardware, f.batch) == ("llama-3.1-8b", "h100-sxm", 64)]
    low, high = min(f.joules_per_token for f in figures), max(f.joules_per_token for f in figures)
    assert (low, high) == (0.12, 0.20)
    est = estimate(CATALOG, resolve(CATALOG, model="llama-3.1-8b", hardware="h100-sxm"),
                   scenario=Scenario.STATIC_BATCH, batch=64, input_tokens=512, output_tokens=256)
    facility = OWNED.facility
    watts = power_draw_w(tdp_w=700, utilisation=1.0, idle_fraction=facility["idle_draw_fraction"].value,
                         max_fraction=facility["max_draw_fraction"].value)
    assert low <= joules_per_token(draw_w=watts, tokens_per_s=est.output_tokens_per_s) <= high


def test_energy_and_carbon_by_hand() -> None:
    kwh = energy_kwh_per_chip_hour(draw_w=700, pue=1.15, host_power_fraction=0.0)
    assert kwh == pytest.approx(0.805)
    assert kg_co2e(kwh=kwh, g_co2e_per_kwh=431.95) == pytest.approx(0.805 * 0.43195)
    east = grid_intensity(OWNED, "us-east-1")
    assert east.value == 343.48 and "inferred" in east.flags
    assert grid_intensity(OWNED, "us-central1").flags == frozenset()
    with pytest.raises(InputError):
        grid_intensity(OWNED, "mars-1")


def test_facility_defaults_are_finite_and_sourced() -> None:
    for name, figure in OWNED.facility.items():
        assert math.isfinite(figure.value) and len(figure.source) > 20, name
    assert OWNED.facility["pue_hyperscaler"].value < OWNED.facility["pue_colocation"].value
