"""Rented prices: offers by market and mode, and the rule that turns them into one price per chip.

Pure frozen dataclasses and functions; the loader (``hardware_catalog.prices``) builds them from
``data/prices/*.yaml`` and price sheets. Units: USD per chip-hour. Owned hardware: ``planner.economics.owned``.

Selection (``select_price``), in order:

1. A user price sheet wins: if it has offers for the chip in the requested mode, their median is
   the price (the sheet is the user's own number; market, region and provider filters do not
   apply to it).
2. Otherwise the catalog's offers in the requested mode and market, less those flagged ``stale``
   (superseded, history only) or ``gpu_only`` (VM billed extra, so not comparable), less
   any outside ``regions`` / ``providers`` when those are given, and less instances too small for
   the replica: a replica whose ``chips`` run in one instance (tensor or pipeline parallelism over
   NVLink / PCIe, ``instance_chips``) needs an offer of at least that many chips, so a 4-chip T4
   replica is priced from g4dn.12xlarge's $0.978 per chip, not g4dn.xlarge's $0.526 (a multi-chip
   instance carries more vCPUs and memory per chip). An offer that does not state its size
   (``chips_per_instance`` unset: a per-chip rate such as a TPU slice's) prices any replica. The
   price sheet's offers are filtered the same way.
3. On-demand and reserved: one price per provider, from its best-ranked offers: its reference region
   first (us-east-1, us-central1, eastus: the regions the price survey's conventions fix), then a
   region the source does not state, then other regions; among those, certain before WEAK_FLAGS
   (``uncertain``, ``estimate``, ``lower_bound``, ``inferred``); newest; smallest shape (that still
   holds the replica). Offers that tie on all of these (the two ends of a published range) give
   their median. The price is the median over providers.
4. Spot (the survey's rule: "median of hyperscaler spot observations ..., US regions only"): every
   observation counts, not one per provider, since a spot price moves by region and by day and each
   dated quote is a sample of it; those in US regions or a region the source does not state (all of
   them where there are none such, or where ``regions`` is given), and among those the certain ones
   where there are any (a "from" price is a bound, not an observation). The price is their median.
5. No offer in that market: with ``fallback_markets`` the next market in MARKETS order is tried
   and the quote records the market it came from; without it (the default) the chip is
   ``Unpriced``, and the result lists the (market, mode) pairs that do have offers. A mode never
   borrows another mode's price: spot is not derived from on-demand.

Per-chip prices assume a plan's replicas share instances: a 1-chip replica on an 8-chip instance
is charged one eighth of it. The chips a plan leaves idle in a partly filled instance are not
charged (which instances a buyer rents depends on the provider).
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

__all__ = [
    "MARKETS",
    "NEVER_SELECTED",
    "OFFER_MODES",
    "REFERENCE_REGIONS",
    "WEAK_FLAGS",
    "Offer",
    "PriceBook",
    "PriceQuote",
    "PricingSpec",
    "SkippedOffer",
    "Unpriced",
    "available_pricings",
    "instance_chips",
    "quoted_median",
    "select_price",
    "stale_offers",
]

MARKETS = ("hyperscaler", "neocloud", "marketplace")
OFFER_MODES = ("on_demand", "reserved_1y", "reserved_3y", "spot", "capacity_block")
NEVER_SELECTED = frozenset({"stale", "gpu_only"})
# flags that make an offer's price itself a weak basis: a secondary or third-party figure, a "from" price the
# real one may exceed, a figure inferred rather than published (a plan priced by such offers alone says so)
WEAK_FLAGS = frozenset({"uncertain", "estimate", "lower_bound", "inferred"})
REFERENCE_REGIONS = frozenset({"us-east-1", "us-central1", "eastus"})
# Azure names its US regions without a "us-" prefix (AWS, GCP and OCI use one: us-east-1, us-east4, us-ashburn-1)
AZURE_US_REGIONS = frozenset({"eastus", "eastus2", "westus", "westus2", "westus3", "centralus", "northcentralus",
                              "southcentralus", "westcentralus"})
UNSPECIFIED_REGION = "unspecified"


@dataclass(frozen=True)
class Offer:
    """One public (or price-sheet) offer, per chip-hour."""

    hardware: str
    provider: str
    market: str
    mode: str
    usd_per_chip_hour: float
    region: str
    as_of: date | None  # None: the source gives no date
    source: str
    chips_per_instance: int | None = None
    instance: str | None = None
    flags: frozenset[str] = frozenset()
    note: str = ""
    file: str = ""
    index: int | None = None  # its place in its file's offers (a message names ``offers.<index>``)


@dataclass(frozen=True)
class SkippedOffer:
    """An offer the loader did not take, and why (say, a chip this catalog does not have)."""

    file: str
    hardware: str
    reason: str


@dataclass(frozen=True)
class PriceBook:
    """Every offer, indexed by chip."""

    offers: tuple[Offer, ...]
    skipped: tuple[SkippedOffer, ...] = ()
    _by_hardware: Mapping[str, tuple[Offer, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, list[Offer]] = {}
        for offer in self.offers:
            index.setdefault(offer.hardware, []).append(offer)
        object.__setattr__(self, "_by_hardware", {k: tuple(v) for k, v in index.items()})

    @classmethod
    def flat(cls, prices: Mapping[str, float], *, source: str, mode: str = "on_demand",
             market: str = "hyperscaler", provider: str = "price sheet") -> PriceBook:
        """One undated offer per chip: a rate table (internal chargeback, a test catalog) as a book."""
        return cls(offers=tuple(Offer(hardware=hw, provider=provider, market=market, mode=mode,
                                      usd_per_chip_hour=price, region=UNSPECIFIED_REGION, as_of=None,
                                      source=source) for hw, price in prices.items()))

    def for_hardware(self, hardware: str) -> tuple[Offer, ...]:
        return self._by_hardware.get(hardware, ())

    def hardware_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._by_hardware))


@dataclass(frozen=True)
class PricingSpec:
    """How to price: a mode, one market, optional region and provider filters."""

    mode: str = "on_demand"
    market: str = "hyperscaler"
    regions: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    fallback_markets: bool = False


@dataclass(frozen=True)
class PriceQuote:
    """The price per chip-hour and the offers it rests on (``select_price``: per provider, or each spot quote)."""

    hardware: str
    mode: str
    market: str
    usd_per_chip_hour: float
    offers: tuple[Offer, ...]
    rule: str  # e.g. "median of 4 hyperscaler providers"
    from_sheet: bool = False
    fell_back_from: str | None = None  # the requested market, when another one priced the chip
    # a sheet's price: the lowest and highest public offer for the chip in its mode, any market (None: none)
    public: tuple[float, float] | None = None
    instance_chips: int = 1  # only offers of instances holding at least this many chips were eligible (``holds``)
    # why a price sheet that has offers for the chip priced it from the public offers instead (``_sheet_unused``)
    sheet_unused: str | None = None

    @property
    def flags(self) -> frozenset[str]:
        return frozenset().union(*(o.flags for o in self.offers))


@dataclass(frozen=True)
class Unpriced:
    """No price under the spec; ``available`` lists the (market, mode) pairs that have one."""

    hardware: str
    reason: str
    available: tuple[tuple[str, str], ...]


def instance_chips(chips_per_replica: int, chips_per_node: int) -> int:
    """Chips of one replica that one instance must hold: all of them within a node, a whole node's
    when the replica spans several (each of its nodes is then one instance)."""
    return max(1, min(int(chips_per_replica), int(chips_per_node)))


def holds(offer: Offer, chips: int) -> bool:
    """Whether the offer's instance holds ``chips`` chips of one replica (an unstated size: yes)."""
    return offer.chips_per_instance is None or offer.chips_per_instance >= chips


def available_pricings(book: PriceBook, hardware: str, chips: int = 1) -> tuple[tuple[str, str], ...]:
    """The (market, mode) pairs with at least one selectable offer of an instance holding ``chips``
    chips, in MARKETS x OFFER_MODES order."""
    have = {(o.market, o.mode) for o in book.for_hardware(hardware)
            if not o.flags & NEVER_SELECTED and holds(o, chips)}
    return tuple((m, mode) for m in MARKETS for mode in OFFER_MODES if (m, mode) in have)


def select_price(book: PriceBook, hardware: str, spec: PricingSpec = PricingSpec(), *,
                 sheet: PriceBook | None = None, chips: int = 1) -> PriceQuote | Unpriced:
    """One price per chip-hour under ``spec`` (the rules are in the module docstring).

    The median, not the cheapest, is the default because the cheapest offer is one provider's
    promotion or short-lived listing and changes the ranking whenever that provider moves, while
    the median of one market's providers is what a buyer in that market typically pays and is
    robust to one outlier list (Azure's H100 at the old AWS $12.29). One market per comparison
    keeps chips like for like: hyperscaler and neocloud prices differ 2-4x for the same chip
    (H100 about $6.9-12.3 against $2.7-4.0, the price survey's conventions), so a chip priced
    at a neocloud would otherwise beat the same silicon priced at a hyperscaler.

    ``chips``: the chips of one replica that one instance holds (``instance_chips``); only offers of
    instances at least that large price it.
    """
    unused = None
    if sheet is not None:
        mine = sheet.for_hardware(hardware)
        own = [o for o in mine if o.mode == spec.mode and holds(o, chips)]
        unused = _sheet_unused(mine, spec.mode, chips) if mine and not own else None
        if own:
            public = [o.usd_per_chip_hour for o in book.for_hardware(hardware)
                      if o.mode == spec.mode and not o.flags & NEVER_SELECTED]
            return PriceQuote(hardware=hardware, mode=spec.mode, market=own[0].market,
                              usd_per_chip_hour=statistics.median(o.usd_per_chip_hour for o in own),
                              offers=tuple(own), rule=f"price sheet ({len(own)} offer(s), median)",
                              from_sheet=True, public=(min(public), max(public)) if public else None,
                              instance_chips=chips)
    markets = MARKETS[MARKETS.index(spec.market):] if spec.fallback_markets else (spec.market,)
    for market in markets:
        eligible = _eligible(book.for_hardware(hardware), spec, market, chips)
        if not eligible:
            continue
        if spec.mode == "spot":
            used = _spot_observations(eligible, spec)
            providers = len({o.provider for o in used})
            rule = f"median of {len(used)} {market} spot observation(s), {providers} provider(s)"
        else:
            groups = _per_provider(eligible, spec)
            used = tuple(o for group in groups for o in group)
            rule = f"median of {len(groups)} {market} provider(s)"
        price = quoted_median(used)
        return PriceQuote(hardware=hardware, mode=spec.mode, market=market, usd_per_chip_hour=price, offers=used,
                          rule=rule, fell_back_from=spec.market if market != spec.market else None,
                          instance_chips=chips, sheet_unused=unused)
    where = " in " + ", ".join(spec.regions) if spec.regions else ""
    who = " from " + ", ".join(spec.providers) if spec.providers else ""
    size = f" of an instance with >= {chips} chips" if chips > 1 else ""
    return Unpriced(hardware=hardware,
                    reason=f"no {spec.market} {spec.mode} offer{size}{where}{who}" + (f" ({unused})" if unused else ""),
                    available=available_pricings(book, hardware, chips))


def _sheet_unused(offers: Sequence[Offer], mode: str, chips: int) -> str:
    """Why a price sheet's offers for a chip price none of its replicas (an auditor's case: a sheet of on-demand
    offers under a reserved_1y plan, or of 1-chip instances under a 4-chip replica, left the public price in place
    with the plan's pricing still labelled '+ sheet'): their modes, or their instances' sizes (``holds``)."""
    modes = sorted({o.mode for o in offers})
    if mode not in modes:
        return f"the price sheet's offer(s) for it are {', '.join(modes)}, none {mode}"
    sizes = sorted({o.chips_per_instance for o in offers if o.mode == mode and o.chips_per_instance is not None})
    return (f"the price sheet's {mode} offer(s) for it are of instances with {'/'.join(map(str, sizes))} chip(s), "
            f"where a replica needs one with >= {chips}")


def quoted_median(offers: Sequence[Offer]) -> float:
    """The price the selection rule gives the offers it keeps (rules 3 and 4 of the module docstring): the median of
    spot observations, else the median over providers of each one's offers (tied ones: the ends of a range)."""
    if all(o.mode == "spot" for o in offers):
        return statistics.median(o.usd_per_chip_hour for o in offers)
    by: dict[str, list[float]] = {}
    for o in offers:
        by.setdefault(o.provider, []).append(o.usd_per_chip_hour)
    return statistics.median(statistics.median(v) for v in by.values())


def _eligible(offers: Iterable[Offer], spec: PricingSpec, market: str, chips: int) -> list[Offer]:
    return [o for o in offers
            if o.mode == spec.mode and o.market == market and not o.flags & NEVER_SELECTED and holds(o, chips)
            and (not spec.regions or o.region in spec.regions)
            and (not spec.providers or o.provider in spec.providers)]


def _per_provider(offers: list[Offer], spec: PricingSpec) -> tuple[tuple[Offer, ...], ...]:
    """Each provider's best-ranked offers (rule 3 of the module docstring: several only where they tie, as
    the two ends of a published range do), by provider name."""
    def rank(o: Offer) -> tuple[int, int, int, int]:
        home = o.region in spec.regions or o.region in REFERENCE_REGIONS
        region = 0 if home else 1 if o.region == UNSPECIFIED_REGION else 2
        doubtful = 1 if o.flags & WEAK_FLAGS else 0
        newest = -(o.as_of.toordinal() if o.as_of is not None else 0)
        return region, doubtful, newest, o.chips_per_instance or 1_000_000
    best: dict[str, list[Offer]] = {}
    for o in offers:
        held = best.get(o.provider)
        if held is None or rank(o) < rank(held[0]):
            best[o.provider] = [o]
        elif rank(o) == rank(held[0]):
            held.append(o)
    # an older listing of another instance at the very same per-chip price is the same offer in another size
    # (AWS p5.4xlarge, 1 H100, beside the p5.48xlarge quoted later at $6.88 a GPU): it joins the provider's offers,
    # which leaves the price alone and tells ``breakdown.whole_instance_notes`` that one chip can be rented
    for o in offers:
        held = best[o.provider]
        if o not in held and rank(o)[:2] == rank(held[0])[:2] and \
                any(o.usd_per_chip_hour == h.usd_per_chip_hour and o.instance != h.instance for h in held):
            held.append(o)
    return tuple(tuple(best[p]) for p in sorted(best))


def in_us(region: str) -> bool:
    """Whether a region is in the US (the spot rule's regions)."""
    return region.startswith("us-") or region in AZURE_US_REGIONS


def _spot_observations(offers: list[Offer], spec: PricingSpec) -> tuple[Offer, ...]:
    """The spot observations a price is the median of (rule 4 of the module docstring), by provider and date."""
    local = offers if spec.regions else [o for o in offers if o.region == UNSPECIFIED_REGION or in_us(o.region)]
    local = local or offers
    firm = [o for o in local if not o.flags & WEAK_FLAGS]
    return tuple(sorted(firm or local, key=lambda o: (o.provider, o.as_of or date.min, o.usd_per_chip_hour)))


def stale_offers(quote: PriceQuote, *, today: date, max_age_days: int = 365) -> tuple[Offer, ...]:
    """The offers behind a quote older than ``max_age_days`` (or undated): the issue's 12-month warning."""
    return tuple(o for o in quote.offers
                 if o.as_of is None or (today - o.as_of).days > max_age_days)
