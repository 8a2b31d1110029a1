"""A price's or an owned figure's `as_of` is a date (YYYY-MM-DD) or 'undated', never a number.

docs/catalog.md (Prices): "the date the source states (first day of the month or year when it gives only
that), or `undated`". Before: pydantic read a number as seconds since 1970, so `as_of: 0` and
`as_of: 86400` loaded as 1970-01-01 and 1970-01-02 (a quote dated 56 years ago, planned with a stale-price
warning), and `as_of: 2026`, the year alone, was refused with "Datetimes provided to dates should have
zero time", which does not say what to write.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml

from hardware_catalog import default_catalog_dir
from hardware_catalog.prices import load_owned, load_prices
from planner.errors import CatalogError, InputError

OFFER = {"hardware": "a10", "provider": "oci", "market": "hyperscaler", "mode": "on_demand",
         "usd_per_chip_hour": 2.0, "region": "unspecified", "source": "OCI price list page, for this test"}


def _prices(tmp_path: Path, as_of: object) -> Path:
    (tmp_path / "prices").mkdir()
    (tmp_path / "prices" / "a10.yaml").write_text(yaml.safe_dump({"offers": [{**OFFER, "as_of": as_of}]}),
                                                  encoding="utf-8")
    return tmp_path / "prices"


@pytest.mark.parametrize(("as_of", "expected"), [("2026-01-01", date(2026, 1, 1)), ("undated", None)])
def test_a_date_or_undated_loads(tmp_path: Path, as_of: str, expected: date | None) -> None:
    (offer,) = load_prices(_prices(tmp_path, as_of)).offers
    assert offer.as_of == expected


@pytest.mark.parametrize("as_of", [0, 86400, 2026, 20260601, 1.5])
def test_a_number_is_refused_saying_how_a_date_is_written(tmp_path: Path, as_of: object) -> None:
    with pytest.raises(CatalogError, match=f"offers.0.as_of: a date is written YYYY-MM-DD.*the number {as_of}"):
        load_prices(_prices(tmp_path, as_of))


@pytest.mark.parametrize("as_of", ["86400", "0", "2026", "June 2026", True])
def test_a_numbers_text_or_other_text_is_refused_too(tmp_path: Path, as_of: object) -> None:
    """A review: "86400" (a JSON body's string) still loaded as 1970-01-02, and `true` read as 'the number True'."""
    with pytest.raises(CatalogError, match="offers.0.as_of: a date is written YYYY-MM-DD"):
        load_prices(_prices(tmp_path, as_of))


def test_an_inline_sheet_refuses_a_repeated_offer_as_a_file_does() -> None:
    """A review: `plan --prices S --server` sends the sheet inline, which took the repeated offer the file refused."""
    from hardware_catalog.prices import PriceFile, offers_book

    sheet = PriceFile.model_validate({"offers": [{**OFFER, "as_of": "2026-01-01"}] * 2})
    with pytest.raises(InputError, match=r"constraints\.pricing\.sheet\.offers\.1: repeats offers\.0"):
        offers_book(sheet, file="workload constraints.pricing.sheet", field="constraints.pricing.sheet")


@pytest.mark.parametrize(("old", "new", "field"), [("as_of: 2025-12-31\n", "as_of: 86400\n", "grid.as_of"),
                                                   ("as_of: undated,", "as_of: 0,", "chips.t4.capex_usd.as_of")])
def test_owned_dates_are_held_alike(tmp_path: Path, old: str, new: str, field: str) -> None:
    text = (default_catalog_dir() / "owned.yaml").read_text(encoding="utf-8")
    assert old in text
    path = tmp_path / "owned.yaml"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(CatalogError, match=f"{field}: a date is written YYYY-MM-DD"):
        load_owned(path)
