"""An offer that repeats one already read is an error naming both places, not a second quote.

docs/catalog.md: an --add directory's offers add to the catalog's, and a spot price is the median of every
quote. Before: an overlay holding a copy of the shipped prices/tpu-v6e.yaml's us-east5 spot offer loaded
without a word and moved TPU v6e spot from $1.08 (the median of Google's three US spot quotes,
tests/test_spot_prices.py) to $1.49, the same quote counted twice; a price file or sheet listing one offer
twice did the same.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware_catalog import default_catalog_dir
from hardware_catalog.loader import load_catalog as load_files
from hardware_catalog.prices import load_price_sheet
from planner.errors import CatalogError

SHIPPED = default_catalog_dir() / "prices" / "tpu-v6e.yaml"


def _us_east5_spot() -> dict[str, Any]:
    offers = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["offers"]
    (offer,) = [o for o in offers if o["mode"] == "spot" and o["region"] == "us-east5"]
    return {**offer, "as_of": str(offer["as_of"])}


def _overlay(tmp_path: Path, offers: list[dict[str, Any]]) -> Path:
    (tmp_path / "add" / "prices").mkdir(parents=True)
    (tmp_path / "add" / "prices" / "tpu-v6e.yaml").write_text(yaml.safe_dump({"offers": offers}), encoding="utf-8")
    return tmp_path / "add"


def test_an_overlay_repeating_a_shipped_offer_is_refused(tmp_path: Path) -> None:
    add = _overlay(tmp_path, [_us_east5_spot()])
    with pytest.raises(CatalogError, match=r"offers\.0: repeats offers\.\d+ of .*tpu-v6e\.yaml") as caught:
        load_files(overlays=[add])
    assert caught.value.file == str(add / "prices" / "tpu-v6e.yaml")
    assert str(SHIPPED) in str(caught.value)


def test_an_offer_listed_twice_in_one_file_is_refused(tmp_path: Path) -> None:
    new = {**_us_east5_spot(), "usd_per_chip_hour": 0.9, "source": "a quote of our own, for this test"}
    add = _overlay(tmp_path, [new, dict(new)])
    with pytest.raises(CatalogError, match=r"offers\.1: repeats offers\.0 \(the same chip"):
        load_files(overlays=[add])


def test_the_two_ends_of_a_published_range_are_two_offers(tmp_path: Path) -> None:
    """docs/catalog.md: a range a source publishes is kept as two offers, its two ends."""
    low = {**_us_east5_spot(), "usd_per_chip_hour": 0.9, "source": "a published range, for this test"}
    add = _overlay(tmp_path, [low, {**low, "usd_per_chip_hour": 1.2}])
    catalog = load_files(overlays=[add])
    spot = [o.usd_per_chip_hour for o in catalog.prices.offers if o.hardware == "tpu-v6e" and o.mode == "spot"]
    assert sorted(spot) == [0.648, 0.9, 1.08, 1.2, 1.89]


def test_a_price_sheet_listing_an_offer_twice_is_refused(tmp_path: Path) -> None:
    offer = {"hardware": "l4", "provider": "internal", "market": "hyperscaler", "mode": "on_demand",
             "usd_per_chip_hour": 0.5, "region": "unspecified", "as_of": "2026-06-01",
             "source": "internal chargeback rate card"}
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(yaml.safe_dump({"offers": [offer, offer]}), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"offers\.1: repeats offers\.0") as caught:
        load_price_sheet(sheet)
    assert caught.value.file == str(sheet)


@pytest.mark.parametrize("price", [1e-300, 0.001])
def test_a_price_below_a_cent_a_chip_hour_is_refused(tmp_path: Path, price: float) -> None:
    """A maintainer's audit: usd_per_chip_hour 1e-300 loaded (the range was (0, 1000]) and priced a replica at
    nothing. Basis: the cheapest shipped offer is $0.13 a chip-hour (a spot T4-class chip); below a cent is a unit
    slip."""
    new = {**_us_east5_spot(), "usd_per_chip_hour": price, "source": "a quote of our own, for this test"}
    with pytest.raises(CatalogError, match=r"offers\.0\.usd_per_chip_hour"):
        load_files(overlays=[_overlay(tmp_path, [new])])
    ok = {**new, "usd_per_chip_hour": 0.13}
    assert load_files(overlays=[_overlay(tmp_path / "ok", [ok])])
