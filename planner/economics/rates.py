"""The one price per chip-hour a plan uses: a rented offer (``pricing.select_price``) or owned TCO.

``Pricing`` is a workload's ``constraints.pricing``: a mode (the rented modes of
``pricing.OFFER_MODES`` or ``owned``), one market, optional region and provider filters, a user's
price sheet (which wins where it has a price) and owned-cost overrides. ``chip_rate`` turns it
into a ``ChipRate`` (the figure and what it rests on) or an ``Unpriced`` (why not, and which
pricings would price the chip). Every cost in the planner (plans, estimates, fine-tuning) comes
from here.

Owned chips are priced at ``OWNED_UTILISATION`` (1.0: a serving replica is provisioned for its
peak, and the power term only grows with utilisation, so the figure does not flatter owned
hardware); the plan's energy and carbon use the plan's own utilisation (``planner.economics.breakdown``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from planner.economics.owned import OwnedCost, OwnedData, OwnedInputs, owned_cost_per_chip_hour, owned_inputs
from planner.economics.pricing import (
    OFFER_MODES,
    PriceBook,
    PriceQuote,
    PricingSpec,
    Unpriced,
    available_pricings,
    instance_chips,
    select_price,
)
from planner.errors import InputError
from planner.memo import cached

__all__ = ["OWNED", "OWNED_FIELDS", "OWNED_UTILISATION", "PRICING_MODES", "ChipRate", "PricedCatalog", "Pricing",
           "chip_rate",
           "owned_from_mapping", "unpriced_hint"]

class _Chip(Protocol):
    @property
    def tdp_w(self) -> float | None: ...
    @property
    def chips_per_node(self) -> int: ...


class PricedCatalog(Protocol):
    """What pricing reads of a catalog (planner.domain.Catalog; named structurally so that
    planner.economics does not import planner.domain, which holds its PriceBook)."""

    @property
    def prices(self) -> PriceBook: ...
    @property
    def owned(self) -> OwnedData | None: ...
    @property
    def hardware(self) -> Mapping[str, _Chip]: ...


OWNED = "owned"
PRICING_MODES = (*OFFER_MODES, OWNED)
OWNED_UTILISATION = 1.0
# owned-cost inputs a workload may override (planner.economics.owned.OwnedInputs fields, plus pue)
OWNED_FIELDS = (*OwnedInputs.__dataclass_fields__, "utilisation")


TERM_MONTHS = {"reserved_1y": 12, "reserved_3y": 36}  # a reserved price's commitment


@dataclass(frozen=True)
class Pricing:
    """How a workload prices chips (``constraints.pricing``)."""

    mode: str = "on_demand"
    market: str = "hyperscaler"
    regions: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    sheet: PriceBook | None = None  # the user's price sheet: wins where it has a price
    owned: tuple[tuple[str, float], ...] = ()  # OwnedInputs overrides for every chip
    owned_chips: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] = ()  # per chip, on top
    # months the deployment is planned for (the workload's horizon, ``Workload`` sets it): a reserved term longer
    # than that is paid in full over them (``term_spread``); None: the reserved rate as quoted (a fleet's schedule
    # charges its terms itself, a training job is one-off)
    horizon_months: float | None = None
    # where the market has no offer for a chip, price it from the next market with one (MARKETS order): a fleet's
    # ``prices: price_book``, whose single-workload searches must keep the chips its schedule can buy
    fallback_markets: bool = False

    def __post_init__(self) -> None:
        if self.mode not in PRICING_MODES:
            raise InputError(f"unknown pricing mode {self.mode!r} (one of {', '.join(PRICING_MODES)})",
                             field="constraints.pricing.mode")

    @classmethod
    def of(cls, value: Pricing | str) -> Pricing:
        """A Pricing, or the shorthand string (the mode, in the default market)."""
        return value if isinstance(value, Pricing) else cls(mode=value)

    @property
    def label(self) -> str:
        """'on_demand' for the default market; 'neocloud spot'; 'owned'; '+ sheet' when one is given."""
        base = self.mode if self.mode == OWNED or self.market == "hyperscaler" else f"{self.market} {self.mode}"
        return base + (" + sheet" if self.sheet is not None and self.sheet.offers else "")

    @property
    def term_spread(self) -> float:
        """What an hour of the horizon costs over the quoted reserved rate: the term over the horizon where the
        term is longer (reserved_3y over 12 months: 3; the commitment is paid whether or not the deployment runs
        past the horizon), else 1."""
        term = TERM_MONTHS.get(self.mode)
        if term is None or self.horizon_months is None or self.horizon_months >= term:
            return 1.0
        return term / self.horizon_months

    @property
    def spec(self) -> PricingSpec:
        return PricingSpec(mode=self.mode, market=self.market, regions=self.regions, providers=self.providers,
                           fallback_markets=self.fallback_markets)

    def owned_overrides(self, hardware: str) -> dict[str, float]:
        return {**dict(self.owned), **dict(dict(self.owned_chips).get(hardware, ()))}


@dataclass(frozen=True)
class ChipRate:
    """USD per chip-hour and its provenance: the quote (rented) or the TCO parts (owned)."""

    hardware: str
    usd_per_chip_hour: float
    mode: str
    quote: PriceQuote | None = None
    owned: OwnedCost | None = None
    owned_inputs: OwnedInputs | None = None
    owned_utilisation: float | None = None  # the load the owned power cost is priced at (OWNED_UTILISATION)
    term_spread: float = 1.0  # usd_per_chip_hour over the quote's: a reserved term spread over a shorter horizon

    @property
    def energy_in_price(self) -> bool:
        """Rented prices include power; an owned rate lists it as its own part."""
        return self.owned is None


def chip_rate(catalog: PricedCatalog, hardware: str, pricing: Pricing | str, *,
              chips_per_replica: int = 1) -> ChipRate | Unpriced:
    """The price per chip-hour of ``hardware`` under ``pricing`` for replicas of ``chips_per_replica``
    chips (rented: from offers of instances that hold a replica's chips within one node,
    ``pricing.instance_chips``; memoised per catalog)."""
    p = Pricing.of(pricing)
    chip = catalog.hardware.get(hardware)
    size = instance_chips(chips_per_replica, chip.chips_per_node) if chip is not None else 1
    return cached(catalog, ("chip_rate", hardware, p, size), lambda: _rate(catalog, hardware, p, size))


def _rate(catalog: PricedCatalog, hardware: str, p: Pricing, size: int) -> ChipRate | Unpriced:
    if p.mode != OWNED:
        quote = select_price(catalog.prices, hardware, p.spec, sheet=p.sheet, chips=size)
        if isinstance(quote, Unpriced):
            return _with_owned(catalog, quote)
        return ChipRate(hardware=hardware, usd_per_chip_hour=quote.usd_per_chip_hour * p.term_spread, mode=p.mode,
                        quote=quote, term_spread=p.term_spread)
    if catalog.owned is None:
        return Unpriced(hardware=hardware, reason="the catalog has no owned-cost data (owned.yaml)",
                        available=available_pricings(catalog.prices, hardware))
    extra = p.owned_overrides(hardware)
    utilisation = extra.pop("utilisation", OWNED_UTILISATION)
    tdp = catalog.hardware[hardware].tdp_w if hardware in catalog.hardware else None
    try:
        inputs = owned_inputs(catalog.owned, hardware, tdp_w=tdp, overrides=extra)
    except InputError as exc:
        if "unknown owned-cost" in str(exc):
            raise
        return Unpriced(hardware=hardware, reason=f"{exc} ({exc.field})",
                        available=available_pricings(catalog.prices, hardware))
    cost = owned_cost_per_chip_hour(inputs, utilisation=utilisation)
    return ChipRate(hardware=hardware, usd_per_chip_hour=cost.total, mode=OWNED, owned=cost,
                    owned_inputs=inputs, owned_utilisation=utilisation)


def _with_owned(catalog: PricedCatalog, unpriced: Unpriced) -> Unpriced:
    """Add ``("owned", "owned")`` to what would price the chip when the catalog has its capex."""
    owned = catalog.owned
    if owned is None or unpriced.hardware not in owned.capex_usd:
        return unpriced
    return Unpriced(hardware=unpriced.hardware, reason=unpriced.reason,
                    available=(*unpriced.available, (OWNED, OWNED)))


def unpriced_hint(u: Unpriced) -> str:
    """'hyperscaler on_demand, neocloud spot' or 'none: give a price sheet (--prices)'."""
    if not u.available:
        return "none: give a price sheet (--prices) or owned capex"
    return ", ".join(mode if market == mode else f"{market} {mode}" for market, mode in u.available)


def owned_from_mapping(values: Mapping[str, object]) -> tuple[tuple[str, float], ...]:
    """Overrides as a sorted tuple (hashable, so a Pricing can key a cache)."""
    return tuple(sorted((k, float(v)) for k, v in values.items()))  # type: ignore[arg-type]
