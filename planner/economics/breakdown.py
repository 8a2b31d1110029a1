"""A plan's cost explained: parts per month, the offer behind each price, energy and carbon.

Pure functions over the rates of ``planner.economics.rates``; ``planner.search.build`` calls
``explain_cost`` once per plan. Units: USD, hours, kWh, kgCO2e.

- Parts: compute (a rented price, or an owned chip's capital, host share and operations),
  energy (owned only: a rented price includes power), hosting (owned colocation), adaptation
  (one-time cost / horizon). They sum to the plan's cost per month.
- Energy: each chip draws ``owned.power_draw_w`` at the plan's average utilisation (average
  load / raw capacity: traffic is split so every replica runs at the same fraction), times the
  host share and the PUE (hyperscaler for rented chips, the owned inputs' for owned ones).
  A chip with no published board power leaves energy unknown (None), never guessed.
- Carbon: location-based, energy x the grid intensity of the region the caller names (the first of the
  pricing's regions holding an offer behind the plan's prices, ``planner.search.build``), else of
  ``DEFAULT_REGION`` (the price survey's reference region).
- $/M tokens: blended = cost / (input + output tokens); split between input and output in
  proportion to the time each phase holds a request (p50 TTFT against output tokens x p50
  TPOT), an attribution rather than a measurement.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from planner.economics.owned import (
    HOURS_PER_MONTH,
    OwnedData,
    energy_kwh_per_chip_hour,
    grid_intensity,
    kg_co2e,
    power_draw_w,
)
from planner.economics.pricing import WEAK_FLAGS, Offer, quoted_median, stale_offers
from planner.economics.rates import TERM_MONTHS, ChipRate, PricedCatalog
from planner.errors import InputError

__all__ = ["DEFAULT_REGION", "CostParts", "Energy", "PriceSource", "TokenPrices", "explain_cost",
           "mode_notes", "owned_warnings", "price_source", "price_warnings", "whole_instance_notes"]

DEFAULT_REGION = "us-east-1"
STALE_AFTER_DAYS = 365  # a policy, not a fit: offers older than a year are flagged stale in the output


@dataclass(frozen=True)
class PriceSource:
    """Where one chip's price comes from."""

    hardware: str
    usd_per_chip_hour: float
    mode: str
    market: str | None  # None: owned
    rule: str  # "median of 3 hyperscaler provider(s)", "owned TCO at utilisation 1.0", ...
    offers: tuple[Offer, ...]
    from_sheet: bool = False
    stale: tuple[Offer, ...] = ()  # offers older than 12 months (or undated)
    public: tuple[float, float] | None = None  # a sheet's price: the public offers' range (PriceQuote.public)
    instance_chips: int = 1  # the price is of instances holding at least this many chips (PriceQuote.instance_chips)
    sheet_unused: str | None = None  # why the user's price sheet did not price it (PriceQuote.sheet_unused)


@dataclass(frozen=True)
class CostParts:
    """USD per month; ``total`` is the plan's cost per month."""

    compute: float
    energy: float  # owned power; 0 where the rented price includes it
    hosting: float
    adaptation: float  # one-time cost / horizon

    @property
    def total(self) -> float:
        return self.compute + self.energy + self.hosting + self.adaptation


@dataclass(frozen=True)
class Energy:
    utilisation: float
    kwh_per_month: float | None  # None: a chip without a published board power
    kwh_per_million_output_tokens: float | None
    kgco2e_per_month: float | None
    region: str
    g_co2e_per_kwh: float | None
    note: str = ""


@dataclass(frozen=True)
class TokenPrices:
    per_million_input: float
    per_million_output: float
    per_million_blended: float  # per million tokens, input and output together


def price_source(rate: ChipRate, *, today: date) -> PriceSource:
    q = rate.quote
    if q is None:
        u = rate.owned_inputs
        load = "" if rate.owned_utilisation is None else f", power priced at {rate.owned_utilisation:.0%} load"
        rule = "owned TCO" + (f" ({u.amortisation_years:g} y, PUE {u.pue:g}, ${u.usd_per_kwh:g}/kWh{load})"
                              if u else "")
        return PriceSource(hardware=rate.hardware, usd_per_chip_hour=rate.usd_per_chip_hour, mode=rate.mode,
                           market=None, rule=rule, offers=())
    rule = q.rule if rate.term_spread == 1.0 else (
        f"{q.rule} (${q.usd_per_chip_hour:.4g}), x{rate.term_spread:.3g}: the term's months over the horizon's")
    return PriceSource(hardware=rate.hardware, usd_per_chip_hour=rate.usd_per_chip_hour, mode=q.mode,
                       market=q.market, rule=rule, offers=q.offers, from_sheet=q.from_sheet, public=q.public,
                       stale=stale_offers(q, today=today, max_age_days=STALE_AFTER_DAYS),
                       instance_chips=q.instance_chips, sheet_unused=q.sheet_unused)


def _parts(rates: Sequence[tuple[ChipRate, int]], one_time_per_month: float) -> CostParts:
    compute = energy = hosting = 0.0
    for rate, chips in rates:
        hours = chips * HOURS_PER_MONTH
        if rate.owned is None:
            compute += rate.usd_per_chip_hour * hours
        else:
            o = rate.owned
            compute += (o.capital + o.host_capital + o.ops) * hours
            energy += o.power * hours
            hosting += o.hosting * hours
    return CostParts(compute=compute, energy=energy, hosting=hosting, adaptation=one_time_per_month)


def _energy(catalog: PricedCatalog, rates: Sequence[tuple[ChipRate, int]], *, utilisation: float,
            region: str, output_tokens_per_hour: float) -> Energy:
    owned = catalog.owned
    if owned is None:
        return Energy(utilisation, None, None, None, region, None, note="the catalog has no owned.yaml")
    f = owned.facility
    kwh_hour = 0.0
    owned_usd_hour, owned_priced_at = 0.0, None  # owned chips' power at this utilisation; the load their price took
    for rate, chips in rates:
        i = rate.owned_inputs
        tdp = i.tdp_w if i is not None else (owned.tdp_w[rate.hardware].value if rate.hardware in owned.tdp_w
                                             else catalog.hardware[rate.hardware].tdp_w)
        if tdp is None:
            return Energy(utilisation, None, None, None, region, None,
                          note=f"no published board power for {rate.hardware}")
        draw = power_draw_w(tdp_w=tdp, utilisation=utilisation,
                            idle_fraction=i.idle_draw_fraction if i else f["idle_draw_fraction"].value,
                            max_fraction=i.max_draw_fraction if i else f["max_draw_fraction"].value)
        kwh = chips * energy_kwh_per_chip_hour(
            draw_w=draw, pue=i.pue if i else f["pue_hyperscaler"].value,
            host_power_fraction=i.host_power_fraction if i else f["host_power_fraction"].value)
        kwh_hour += kwh
        if rate.owned is not None and i is not None and rate.owned_utilisation is not None:
            owned_usd_hour += kwh * i.usd_per_kwh
            owned_priced_at = rate.owned_utilisation
    try:
        grid = grid_intensity(owned, region)
    except InputError:
        grid = None
    per_month = kwh_hour * HOURS_PER_MONTH
    notes = [] if grid is None or not grid.note else [grid.note]
    if owned_priced_at is not None and abs(owned_priced_at - utilisation) > 1e-9:
        notes.append(f"the cost's energy part prices owned power at {owned_priced_at:.0%} load (owned TCO: a replica "
                     f"is provisioned for its peak); at {utilisation:.0%} the owned chips' power here costs "
                     f"${owned_usd_hour * HOURS_PER_MONTH:,.2f}/month")
    return Energy(utilisation=utilisation, kwh_per_month=per_month,
                  kwh_per_million_output_tokens=kwh_hour / output_tokens_per_hour * 1e6,
                  kgco2e_per_month=None if grid is None else kg_co2e(kwh=per_month, g_co2e_per_kwh=grid.value),
                  region=region, g_co2e_per_kwh=None if grid is None else grid.value, note="; ".join(notes))


def _token_prices(per_hour: float, *, input_tokens_per_hour: float, output_tokens_per_hour: float,
                  prefill_s: float, decode_s: float) -> TokenPrices:
    share_in = prefill_s / (prefill_s + decode_s) if prefill_s + decode_s > 0 else 0.0
    return TokenPrices(per_million_input=per_hour * share_in / input_tokens_per_hour * 1e6,
                       per_million_output=per_hour * (1 - share_in) / output_tokens_per_hour * 1e6,
                       per_million_blended=per_hour / (input_tokens_per_hour + output_tokens_per_hour) * 1e6)


def explain_cost(catalog: PricedCatalog, rates: Sequence[tuple[ChipRate, int]], *, one_time_per_month: float,
                 utilisation: float, region: str | None, input_tokens_per_hour: float,
                 output_tokens_per_hour: float, prefill_s: float, decode_s: float,
                 today: date) -> tuple[CostParts, Energy, TokenPrices, tuple[PriceSource, ...]]:
    """Parts, energy and carbon, token prices and price sources of one plan.

    ``rates``: each deployment's rate and chip count (chips per replica x replicas).
    """
    parts = _parts(rates, one_time_per_month)
    energy = _energy(catalog, rates, utilisation=min(max(utilisation, 0.0), 1.0), region=region or DEFAULT_REGION,
                     output_tokens_per_hour=output_tokens_per_hour)
    per_hour = sum(r.usd_per_chip_hour * chips for r, chips in rates)
    tokens = _token_prices(per_hour, input_tokens_per_hour=input_tokens_per_hour,
                           output_tokens_per_hour=output_tokens_per_hour, prefill_s=prefill_s, decode_s=decode_s)
    # one source per chip and price: deployments of one chip at different replica sizes may be priced from
    # different instances (planner.economics.pricing.instance_chips)
    seen: dict[tuple[str, float], PriceSource] = {}
    for rate, _chips in rates:
        seen.setdefault((rate.hardware, rate.usd_per_chip_hour), price_source(rate, today=today))
    return parts, energy, tokens, tuple(seen.values())


def whole_instance_notes(rates: Sequence[tuple[ChipRate, int]]) -> tuple[str, ...]:
    """A line per rented chip whose plan leaves part of an instance idle: its price is per chip (the plan is
    charged for the chips it uses, ``planner.economics.pricing``), but where every offer behind the price rents
    a fixed instance size, a buyer renting those chips alone pays for whole instances. The line gives the
    smallest such instance and what whole instances of it would cost a month at the same per-chip price."""
    chips: dict[tuple[str, float], int] = {}
    offers_of: dict[tuple[str, float], tuple[Offer, ...]] = {}
    for rate, n in rates:
        if rate.quote is None or rate.quote.from_sheet:  # owned, or the user's own sheet: the user's terms
            continue
        key = (rate.hardware, rate.usd_per_chip_hour)
        chips[key] = chips.get(key, 0) + n
        offers_of[key] = rate.quote.offers
    out = []
    for key, used in chips.items():
        offers = offers_of[key]
        sizes = [o.chips_per_instance for o in offers]
        if not sizes or any(n is None or n <= 1 for n in sizes):
            continue  # a per-chip rate or a one-chip instance behind the price: a buyer can rent what the plan uses
        size = min(n for n in sizes if n is not None)
        if used % size == 0:
            continue
        whole = math.ceil(used / size) * size
        names = ", ".join(sorted({o.instance or o.provider for o in offers if o.chips_per_instance == size}))
        out.append(f"{key[0]}: priced per chip for the {used} chip(s) the plan uses; every offer behind the price "
                   f"rents instances of {size} or more chips ({names}): {whole // size} whole instance(s) of "
                   f"{size} cost ${whole * key[1] * HOURS_PER_MONTH:,.0f}/month at the same per-chip price "
                   f"(+${(whole - used) * key[1] * HOURS_PER_MONTH:,.0f}), unless the chips are shared or rented "
                   "elsewhere by the chip")
    return tuple(out)


def mode_notes(mode: str, per_hour: float, horizon_months: float) -> tuple[str, ...]:
    """What a plan's pricing mode commits a buyer to beside its price.

    Spot: every replica is pre-emptible, and a provider reclaims spot capacity when it needs it, often many
    instances at once, so the SLO figures hold only while it runs (``hwplan plan-fleet`` keeps a non-spot floor that
    carries the demand alone; an auditor found a plan 100% spot at a 57% saving without a word).
    Reserved: a line where the term is longer than the workload's horizon: the term is paid whether or not the
    deployment outlives the horizon, so the plan's cost (``per_hour``, priced so by ``Pricing.term_spread``)
    spreads the whole commitment over the horizon's months."""
    if mode == "spot":
        return ("spot: every replica of this plan is pre-emptible and may be reclaimed, several at once, with "
                "minutes' notice; its latency and capacity figures hold only while the capacity runs. Keep an "
                "on-demand or reserved floor for the traffic that must be served (plan-fleet's modes mix them)",)
    term = TERM_MONTHS.get(mode)
    if term is None or horizon_months >= term:
        return ()
    month = per_hour * HOURS_PER_MONTH  # the commitment over the horizon's months
    return (f"{mode} commits to {term} months: ${month * horizon_months:,.0f} over the term, counted over the "
            f"{horizon_months:g}-month horizon (${month:,.0f}/month, {term / horizon_months:.3g}x the reserved rate "
            f"of ${month * horizon_months / term:,.0f}/month); a longer horizon (budget.horizon_months) or a "
            "shorter term spreads less",)


def price_warnings(label: str, offers: Sequence[Offer], stale: Sequence[Offer], *, from_sheet: bool,
                   public: tuple[float, float] | None = None, sheet_unused: str | None = None) -> list[str]:
    """What a price's offers should make a buyer check: the offers older than 12 months (or undated); a price
    resting only on offers flagged weak (``WEAK_FLAGS``: a secondary, third-party, lower-bound or inferred figure
    decides it), or moved by such offers past SHIFT_NOTED; a price sheet's own offers are the user's, never flagged
    weak, but one SHEET_OUTSIDE past every public offer (``public``) is named (a unit slip). One mechanism for a
    plan's cost and a fleet's schedule; ``label`` names the chip (and the mode, where a schedule buys several).
    ``sheet_unused``: why a price sheet with offers for the chip did not price it (the public offers did)."""
    out = [f"{label}: {sheet_unused}: priced from the public offers instead"] if sheet_unused else []
    if stale:
        when = ", ".join(f"{o.provider} {o.as_of.isoformat() if o.as_of else 'undated'}" for o in stale)
        out.append(f"{label}: price older than 12 months ({when})")
    if from_sheet and public is not None and offers:  # the user's figure, far outside every public one: a unit slip?
        price, (low, high) = statistics.median(o.usd_per_chip_hour for o in offers), public
        if not low / SHEET_OUTSIDE <= price <= high * SHEET_OUTSIDE:
            out.append(f"{label}: the price sheet's ${price:.4g} a chip-hour is outside {SHEET_OUTSIDE:g}x the public "
                       f"offers' ${low:.4g}-${high:.4g} in that mode; check its units (per chip, per hour)")
    weak = [o for o in offers if o.flags & WEAK_FLAGS]
    if not from_sheet and offers and len(weak) == len(offers):
        flags = "/".join(sorted({f for o in offers for f in o.flags & WEAK_FLAGS}))
        out.append(f"{label}: price rests on {len(offers)} offer(s) flagged {flags} "
                   f"({', '.join(o.provider for o in offers)}); confirm it before relying on it")
    elif not from_sheet and weak:  # some are weak: say so where they move the price
        price, firm = quoted_median(offers), quoted_median([o for o in offers if not o.flags & WEAK_FLAGS])
        if abs(price - firm) > SHIFT_NOTED * firm:
            flags = "/".join(sorted({f for o in weak for f in o.flags & WEAK_FLAGS}))
            out.append(f"{label}: the price ${price:.4g} takes in offer(s) flagged {flags} "
                       f"({', '.join(sorted({o.provider for o in weak}))}); without them ${firm:.4g} "
                       f"({price / firm - 1.0:+.0%})")
    return out


SHIFT_NOTED = 0.05  # a policy: weak offers moving a price by more than this are named (price_warnings)
SHEET_OUTSIDE = 3.0  # a policy: a sheet price this far below the lowest or above the highest public offer is named


# owned-cost inputs whose default a buyer should check when flagged (the facility ones a plan's TCO reads)
_OWNED_FACILITY = {"amortisation_years": "amortisation over {:g} years", "colocation_usd_per_kw_month":
                   "colocation ${:g}/kW-month", "host_capex_usd_per_chip": "host server ${:,.0f} a chip",
                   "ops_overhead_fraction": "operations {:.0%} of capital"}


def owned_warnings(owned: OwnedData | None, rates: Sequence[tuple[ChipRate, int]], *, today: date) -> tuple[str, ...]:
    """What an owned plan's cost rests on that a buyer should check, as a rented price's weak or stale offers are
    (``price_warnings``): per chip whose catalog capex is an estimate, a lower bound or older than 12 months, that
    figure, and where it has a published range, the plan's cost over it; then the facility defaults the TCO took
    that are flagged (a convention, a lower bound, a single secondary source). An input the workload set is the
    user's: not flagged. (edge-assistant's owned plan said nothing of an RTX 4090 price from 2022 or of hosting
    costs from a rate flagged uncertain.)"""
    if owned is None:
        return ()
    out: list[str] = []
    facility: dict[str, str] = {}
    for hw, chips in _owned_chips(rates):
        rate = next(r for r, _ in rates if r.hardware == hw and r.owned_inputs is not None)
        inputs = rate.owned_inputs
        assert inputs is not None and rate.owned is not None
        figure = owned.capex_usd.get(hw)
        if figure is not None and inputs.capex_usd_per_chip == figure.value:
            old = figure.as_of is None or (today - figure.as_of).days > STALE_AFTER_DAYS
            weak = sorted(figure.flags & WEAK_FLAGS)
            if old or weak:
                why = ", ".join([*weak, *(["undated" if figure.as_of is None else f"from {figure.as_of}"] if old
                                          else [])])
                line = f"{hw}: owned capex ${figure.value:,.0f} a chip is {why}"
                if figure.low is not None and figure.high is not None:
                    per = rate.owned.capital / inputs.capex_usd_per_chip * chips * HOURS_PER_MONTH  # $/month per $
                    line += (f"; over its published range ${figure.low:,.0f}-${figure.high:,.0f} the plan's capital "
                             f"part is ${figure.low * per:,.0f}-${figure.high * per:,.0f}/month "
                             f"(${figure.value * per:,.0f} here)")
                out.append(line + "; set capex_usd_per_chip under constraints.pricing.owned to your own")
        for name, label in _OWNED_FACILITY.items():
            f = owned.facility.get(name)
            if f is not None and getattr(inputs, name) == f.value and f.flags & (WEAK_FLAGS | {"derived"}) \
                    and (f.value or name == "amortisation_years"):
                facility[name] = f"{label.format(f.value)} ({'/'.join(sorted(f.flags))})"
    if facility:
        out.append("owned cost defaults flagged in owned.yaml: " + "; ".join(facility.values())
                   + "; set your own under constraints.pricing.owned")
    return tuple(out)


def _owned_chips(rates: Sequence[tuple[ChipRate, int]]) -> list[tuple[str, int]]:
    chips: dict[str, int] = {}
    for rate, n in rates:
        if rate.owned is not None:
            chips[rate.hardware] = chips.get(rate.hardware, 0) + n
    return sorted(chips.items())
