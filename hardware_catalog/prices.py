"""The price layer: schema and loader for prices/*.yaml, price sheets and owned.yaml.

    prices/<hardware id>.yaml   public offers for one chip          (PriceFile)
    a price sheet (--prices)    the same format, any chips         (PriceFile)
    owned.yaml                  capex, TDP, facility, grid, energy  (OwnedFile)

Files are validated here (pydantic, ``extra="forbid"``, finite prices in (0, 1000] USD per
chip-hour) and turned into ``planner.economics.pricing`` / ``planner.economics.owned`` dataclasses. Offers for a
chip the catalog does not have are skipped with a reason, not an error, so prices can ship
ahead of the chip's hardware file. Every error names the file and the field.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from hardware_catalog.files import Text, default_catalog_dir, read_yaml, validate_file
from planner.economics.owned import EnergyFigure, Figure, OwnedData
from planner.economics.pricing import Offer, PriceBook, SkippedOffer
from planner.errors import CatalogError, InputError

__all__ = [
    "MAX_USD_PER_CHIP_HOUR",
    "MIN_USD_PER_CHIP_HOUR",
    "OfferIn",
    "OwnedFile",
    "PriceFile",
    "default_prices_dir",
    "load_owned",
    "load_price_sheet",
    "load_prices",
    "offers_book",
    "raw_sheet",
    "refuse_repeats",
]

# The dearest public offer is about $18/chip-h (B300); 1000 leaves room for any real chip or
# internal rate and still rejects a typo or an overflow-sized number (1e308). The cheapest is $0.13 (a spot
# T4-class chip); a cent per chip-hour is below any real rate, so a price per second or in cents, or 1e-300
# (which priced a replica at nothing and won every ranking: a maintainer's audit), is refused.
MAX_USD_PER_CHIP_HOUR = 1000.0
MIN_USD_PER_CHIP_HOUR = 0.01

Id = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]*$", max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=80)]
Usd = Annotated[float, Field(ge=MIN_USD_PER_CHIP_HOUR, le=MAX_USD_PER_CHIP_HOUR, allow_inf_nan=False, strict=True)]
NonNeg = Annotated[float, Field(ge=0, le=1e7, allow_inf_nan=False)]
def _undated(value: object) -> object:
    if value is None:
        raise ValueError("give a date, or 'undated' where the source states none")
    return _figure_date(value)


_WRITTEN = "a date is written YYYY-MM-DD (the first day of the month or year where the source gives only that), " \
    "or 'undated'"


def _figure_date(value: object) -> object:
    """'undated' is None; a date is a date or its YYYY-MM-DD text; anything else is refused: pydantic reads a
    number, or its text, as seconds since 1970, so `as_of: 0`, `86400` or "86400" loaded as 1970-01-01 /
    1970-01-02, and `as_of: 2026` (the year alone) was refused as a datetime 'with a time'."""
    if value == "undated" or value is None:
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, (bool, int, float)):
        raise ValueError(f"{_WRITTEN}; got {'the value' if isinstance(value, bool) else 'the number'} {value!r}")
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError as exc:
            raise ValueError(f"{value!r} is no calendar date ({exc})") from None
    raise ValueError(f"{_WRITTEN}; got {value!r}")


def _not_future(value: date | None) -> date | None:
    """A quote is dated when it was made: a date past tomorrow (any clock's today) is a typo."""
    if value is not None and value > date.today() + timedelta(days=1):
        raise ValueError(f"{value.isoformat()} is in the future (today is {date.today().isoformat()}): give the date "
                         "the price was quoted")
    return value


AsOf = Annotated[date | None, BeforeValidator(_undated), AfterValidator(_not_future)]  # None: the source states no date
Flag = Literal["uncertain", "estimate", "derived", "stale", "gpu_only", "lower_bound", "inferred"]
# A citation names a publisher or page, never the compiled notes it was copied from.
_NOT_CITATIONS = ("prices_2026", "hardware_facts", "from memory", ".md)")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _DatesAsText(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML without implicit dates, so pydantic parses them and a bad one names its field (libyaml's
    parser where present: the Python one took ~0.8 s for the shipped price files)."""


_DatesAsText.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _citation(value: str) -> str:
    lowered = value.lower()
    for bad in _NOT_CITATIONS:
        if bad in lowered and "docs/sources.md" not in lowered:
            raise ValueError(f"source must cite a publisher or page, not {bad!r}")
    return value


class OfferIn(_Strict):
    hardware: Id
    provider: Name
    market: Literal["hyperscaler", "neocloud", "marketplace"]
    mode: Literal["on_demand", "reserved_1y", "reserved_3y", "spot", "capacity_block"]
    usd_per_chip_hour: Usd
    chips_per_instance: Annotated[int, Field(gt=0, le=1024, strict=True)] | None = None
    instance: Name | None = None
    region: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=40)]
    as_of: AsOf
    source: Annotated[Text, Field(min_length=8)]
    flags: Annotated[list[Flag], Field(max_length=16)] = []
    note: Text = ""

    _source = field_validator("source")(classmethod(lambda cls, v: _citation(v)))


class PriceFile(_Strict):
    """prices/<id>.yaml or a user's price sheet."""

    offers: list[OfferIn] = Field(min_length=1, max_length=10_000)  # (43 in the shipped sheets)


class FigureIn(_Strict):
    value: NonNeg
    low: NonNeg | None = None
    high: NonNeg | None = None
    as_of: Annotated[date | None, BeforeValidator(_figure_date)] = None
    source: Annotated[Text, Field(min_length=8)]
    flags: Annotated[list[Flag], Field(max_length=16)] = []
    note: Text = ""

    _source = field_validator("source")(classmethod(lambda cls, v: _citation(v)))


class ChipOwnedIn(_Strict):
    capex_usd: FigureIn | None = None
    tdp_w: FigureIn | None = None

    @field_validator("capex_usd", "tdp_w")
    @classmethod
    def _positive(cls, v: FigureIn | None) -> FigureIn | None:
        """A chip costs something and draws power: 0 would price its hardware or energy at nothing."""
        if v is not None and not v.value > 0:
            raise ValueError(f"must be above 0, got {v.value:g}")
        return v


class FacilityIn(_Strict):
    amortisation_years: FigureIn
    pue_hyperscaler: FigureIn
    pue_colocation: FigureIn
    usd_per_kwh: FigureIn
    colocation_usd_per_kw_month: FigureIn
    host_capex_usd_per_chip: FigureIn
    host_power_fraction: FigureIn
    ops_overhead_fraction: FigureIn
    idle_draw_fraction: FigureIn
    max_draw_fraction: FigureIn


class GridIn(_Strict):
    source: str
    as_of: Annotated[date, BeforeValidator(_figure_date)]
    g_co2e_per_kwh: dict[str, NonNeg] = Field(min_length=1)
    same_zone_as: dict[str, str] = {}


class EnergyFigureIn(_Strict):
    id: Id
    joules_per_token: Annotated[float, Field(gt=0, allow_inf_nan=False)]
    joules_per_token_high: Annotated[float, Field(gt=0, allow_inf_nan=False)] | None = None
    scope: Literal["gpu", "node", "full_stack"]
    model: Id | None = None
    hardware: Id | None = None
    batch: Annotated[int, Field(gt=0)] | None = None
    conditions: str = ""
    as_of: AsOf
    source: str
    flags: list[Flag] = []


class OwnedFile(_Strict):
    """owned.yaml."""

    chips: dict[Id, ChipOwnedIn]
    gaps: dict[Literal["capex_usd", "tdp_w"], list[Id]] = {}
    facility: FacilityIn
    grid: GridIn
    energy_per_token: list[EnergyFigureIn] = []


def default_prices_dir() -> Path:
    return default_catalog_dir() / "prices"


def _offer(entry: OfferIn, file: str, index: int) -> Offer:
    return Offer(hardware=entry.hardware, provider=entry.provider, market=entry.market,
                 mode=entry.mode, usd_per_chip_hour=entry.usd_per_chip_hour, region=entry.region,
                 as_of=entry.as_of, source=entry.source,
                 chips_per_instance=entry.chips_per_instance, instance=entry.instance,
                 flags=frozenset(entry.flags), note=entry.note, file=file, index=index)


def _read_offers(path: Path) -> list[Offer]:
    parsed = validate_file(PriceFile, read_yaml(path, loader=_DatesAsText), file=str(path))
    return [_offer(entry, str(path), i) for i, entry in enumerate(parsed.offers)]


def raw_sheet(path: Path | str) -> object:
    """A price sheet file as parsed YAML with dates left as text (to send as a JSON body)."""
    return read_yaml(Path(path), loader=_DatesAsText)


def offers_book(sheet: PriceFile, *, file: str, field: str) -> PriceBook:
    """A price sheet already validated (inline in a workload or a request body, at ``field`` there); a repeated
    offer is refused as in a file (``refuse_repeats``: `plan --prices S --server` sends the sheet so, and took what
    the local `plan --prices S` refused), as an InputError naming its place in that input (``field.offers.<i>``),
    as the input's schema names its other errors (the service answered body.offers.1, a field no request has)."""
    offers = tuple(_offer(entry, file, i) for i, entry in enumerate(sheet.offers))
    try:
        refuse_repeats(offers)
    except CatalogError as exc:
        raise InputError(exc.detail, field=f"{field}.{exc.field}") from exc
    return PriceBook(offers=offers)


def load_prices(source: Path | str | Iterable[Path | str] | None = None, *,
                known_hardware: Collection[str] | None = None) -> PriceBook:
    """Read a prices directory (default: the shipped one) or a list of files into a PriceBook.

    A directory's ``<id>.yaml`` holds offers for chip ``<id>`` only. With ``known_hardware``,
    offers for other chips are skipped and listed in ``PriceBook.skipped`` with the reason.
    """
    if source is None or isinstance(source, (str, Path)):
        folder = Path(source) if source is not None else default_prices_dir()
        if not folder.is_dir():
            raise CatalogError("prices directory does not exist", file=str(folder))
        paths = sorted(folder.glob("*.yaml"))
        by_dir = True
    else:
        paths, by_dir = [Path(p) for p in source], False
    offers: list[Offer] = []
    for path in paths:
        for index, offer in enumerate(_read_offers(path)):
            if by_dir and offer.hardware != path.stem:
                raise CatalogError(f"offer for {offer.hardware!r} in the file of {path.stem!r}",
                                   file=str(path), field=f"offers.{index}.hardware")
            offers.append(offer)
    refuse_repeats(offers)
    return _keep_known(offers, known_hardware)


def load_price_sheet(path: Path | str, *, known_hardware: Collection[str] | None = None) -> PriceBook:
    """A user's price sheet (``--prices FILE``): offers for any chips, layered over the catalog."""
    offers = _read_offers(Path(path))
    refuse_repeats(offers)
    return _keep_known(offers, known_hardware)


def refuse_repeats(offers: Iterable[Offer]) -> None:
    """A CatalogError naming the file and ``offers.<i>`` of an offer that repeats one read before it: the
    same quote (chip, provider, market, mode, price, instance and its size, region, as_of, source), in
    the same file or an earlier one. Each quote counts once in a spot median (and an on-demand price
    takes one per provider), so a repeated one moved the price: an --add directory holding a copy of
    the shipped prices/tpu-v6e.yaml's us-east5 spot offer took TPU v6e spot from $1.08 to $1.49.
    A file read twice (the same directory given twice) is named so."""
    seen: dict[tuple[object, ...], tuple[str, int | None]] = {}
    for offer in offers:
        index = offer.index
        quote = (offer.hardware, offer.provider, offer.market, offer.mode, offer.usd_per_chip_hour,
                 offer.instance, offer.chips_per_instance, offer.region, offer.as_of, offer.source)
        if quote in seen:
            file, first = seen[quote]
            if file == offer.file and first == index and index is not None:  # (hand-built offers have none)
                raise CatalogError("this file is read twice (its directory given twice?): each of its offers would "
                                   "count twice", file=offer.file, field=f"offers.{index}")
            earlier = "an earlier offer" if first is None else f"offers.{first}"  # (hand-built offers: no index)
            raise CatalogError(f"repeats {earlier}{'' if file == offer.file else ' of ' + file} (the same "
                               "chip, provider, market, mode, price, instance, region, as_of and source): a quote "
                               "listed twice counts twice" + ("" if file == offer.file else "; an --add directory's "
                               "offers add to the catalog's, so list only the offers it lacks"),
                               file=offer.file, field="offers" if index is None else f"offers.{index}")
        seen[quote] = (offer.file, index)


def _keep_known(offers: list[Offer], known: Collection[str] | None) -> PriceBook:
    if known is None:
        return PriceBook(offers=tuple(offers))
    kept = tuple(o for o in offers if o.hardware in known)
    skipped = tuple(SkippedOffer(file=o.file, hardware=o.hardware,
                                 reason=f"hardware {o.hardware!r} is not in the catalog")
                    for o in offers if o.hardware not in known)
    return PriceBook(offers=kept, skipped=skipped)


def _figure(entry: FigureIn) -> Figure:
    return Figure(value=entry.value, source=entry.source, low=entry.low, high=entry.high,
                  as_of=entry.as_of, flags=frozenset(entry.flags), note=entry.note)


def load_owned(path: Path | str | None = None) -> OwnedData:
    """Read owned.yaml (default: the shipped one) into OwnedData."""
    file = Path(path) if path is not None else default_catalog_dir() / "owned.yaml"
    parsed = validate_file(OwnedFile, read_yaml(file, loader=_DatesAsText), file=str(file))
    energy = tuple(EnergyFigure(
        id=e.id, joules_per_token=e.joules_per_token, scope=e.scope, source=e.source, model=e.model,
        hardware=e.hardware, batch=e.batch, joules_per_token_high=e.joules_per_token_high,
        conditions=e.conditions, as_of=e.as_of, flags=frozenset(e.flags))
        for e in parsed.energy_per_token)
    facility = {name: _figure(getattr(parsed.facility, name)) for name in FacilityIn.model_fields}
    return OwnedData(
        capex_usd={k: _figure(c.capex_usd) for k, c in parsed.chips.items() if c.capex_usd},
        tdp_w={k: _figure(c.tdp_w) for k, c in parsed.chips.items() if c.tdp_w},
        facility=facility, grid_g_co2e_per_kwh=dict(parsed.grid.g_co2e_per_kwh),
        same_zone_as=dict(parsed.grid.same_zone_as), energy_per_token=energy,
        grid_source=parsed.grid.source)
