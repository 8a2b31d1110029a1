"""Owned hardware: cost per chip-hour (TCO), power, energy and carbon, and their catalog defaults.

Pure frozen dataclasses and functions; ``hardware_catalog.prices.load_owned`` builds ``OwnedData``
from ``data/owned.yaml``. Units: USD, hours, W, kWh, gCO2e.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from planner.errors import InputError

__all__ = [
    "EnergyFigure",
    "Figure",
    "OwnedCost",
    "OwnedData",
    "OwnedInputs",
    "energy_kwh_per_chip_hour",
    "grid_intensity",
    "joules_per_token",
    "kg_co2e",
    "owned_cost_per_chip_hour",
    "owned_inputs",
    "power_draw_w",
]

HOURS_PER_YEAR = 8760.0  # 365 x 24
HOURS_PER_MONTH = HOURS_PER_YEAR / 12.0


@dataclass(frozen=True)
class Figure:
    """One sourced number (with its published range, when there is one)."""

    value: float
    source: str
    low: float | None = None
    high: float | None = None
    as_of: date | None = None
    flags: frozenset[str] = frozenset()
    note: str = ""


@dataclass(frozen=True)
class EnergyFigure:
    """A published energy-per-token measurement or estimate."""

    id: str
    joules_per_token: float
    scope: str  # gpu (accelerator board), node, full_stack
    source: str
    model: str | None = None
    hardware: str | None = None
    batch: int | None = None
    joules_per_token_high: float | None = None
    conditions: str = ""
    as_of: date | None = None
    flags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class OwnedData:
    """Catalog defaults for owned hardware (data/owned.yaml)."""

    capex_usd: Mapping[str, Figure]  # hardware id -> capex per chip
    tdp_w: Mapping[str, Figure]
    facility: Mapping[str, Figure]  # amortisation_years, pue_hyperscaler, usd_per_kwh, ...
    grid_g_co2e_per_kwh: Mapping[str, float]
    same_zone_as: Mapping[str, str] = field(default_factory=dict)  # inferred region -> zone
    energy_per_token: tuple[EnergyFigure, ...] = ()
    grid_source: str = ""

@dataclass(frozen=True)
class OwnedInputs:
    """Everything an owned chip-hour costs; each has a catalog default in data/owned.yaml."""

    capex_usd_per_chip: float
    tdp_w: float
    amortisation_years: float
    pue: float
    usd_per_kwh: float
    host_capex_usd_per_chip: float = 0.0
    host_power_fraction: float = 0.0  # host CPU/RAM watts per accelerator watt
    colocation_usd_per_kw_month: float = 0.0
    ops_overhead_fraction: float = 0.0  # of the capital cost per hour
    idle_draw_fraction: float = 0.0
    max_draw_fraction: float = 1.0


@dataclass(frozen=True)
class OwnedCost:
    """USD per chip-hour, by part; ``total`` is their sum."""

    capital: float
    host_capital: float
    power: float
    hosting: float
    ops: float

    @property
    def total(self) -> float:
        return self.capital + self.host_capital + self.power + self.hosting + self.ops


def power_draw_w(*, tdp_w: float, utilisation: float, idle_fraction: float,
                 max_fraction: float) -> float:
    """Board power at a utilisation in [0, 1]: linear from idle to the busy maximum.

    P(u) = TDP x (f_idle + (f_max - f_idle) x u): the linear server power model of Fan, Weber and
    Barroso, 'Power provisioning for a warehouse-sized computer' (ISCA 2007). Defaults: f_idle =
    80 W / 700 W (H200 idle) and f_max = 680 W / 700 W (H100 SXM under vLLM, batch 128), both
    measured by the SerialAlice benchmark (June 2026).
    """
    if not 0.0 <= utilisation <= 1.0:
        raise ValueError(f"utilisation must be in [0, 1], got {utilisation}")
    return tdp_w * (idle_fraction + (max_fraction - idle_fraction) * utilisation)


def energy_kwh_per_chip_hour(*, draw_w: float, pue: float, host_power_fraction: float = 0.0) -> float:
    """Facility energy per chip-hour: chip draw x (1 + host share) x PUE, in kWh.

    PUE = facility energy / IT energy (The Green Grid); the host share is Google's measured
    host CPU/RAM energy per accelerator energy for Gemini serving (25% / 58%, August 2025).
    """
    return draw_w * (1.0 + host_power_fraction) * pue / 1000.0  # W x 1 h = Wh; / 1000 = kWh


def kg_co2e(*, kwh: float, g_co2e_per_kwh: float) -> float:
    """Location-based emissions: energy x grid intensity (GHG Protocol Scope 2, location-based)."""
    return kwh * g_co2e_per_kwh / 1000.0


def joules_per_token(*, draw_w: float, tokens_per_s: float) -> float:
    """Energy per generated token: W / (tokens / s) = J / token (ML.ENERGY's metric)."""
    return draw_w / tokens_per_s


def owned_cost_per_chip_hour(inputs: OwnedInputs, *, utilisation: float) -> OwnedCost:
    """Owned TCO per chip-hour: straight-line capital + power + hosting + operations.

    capital = capex / (years x 8760 h), the same for the host share; power = P(u) x (1 + host
    share) x PUE x $/kWh (``power_draw_w``, ``energy_kwh_per_chip_hour``); hosting = colocation
    $/kW-month x TDP kW / 730 h (CBRE's per-kW colocation rate, charged on provisioned power);
    ops = overhead fraction x capital. Every term is >= 0, so the total is never below power.
    """
    hours = inputs.amortisation_years * HOURS_PER_YEAR
    capital = inputs.capex_usd_per_chip / hours
    host_capital = inputs.host_capex_usd_per_chip / hours
    draw = power_draw_w(tdp_w=inputs.tdp_w, utilisation=utilisation,
                        idle_fraction=inputs.idle_draw_fraction, max_fraction=inputs.max_draw_fraction)
    kwh = energy_kwh_per_chip_hour(draw_w=draw, pue=inputs.pue,
                                   host_power_fraction=inputs.host_power_fraction)
    hosting = inputs.colocation_usd_per_kw_month * inputs.tdp_w / 1000.0 / HOURS_PER_MONTH
    return OwnedCost(capital=capital, host_capital=host_capital, power=kwh * inputs.usd_per_kwh,
                     hosting=hosting, ops=inputs.ops_overhead_fraction * (capital + host_capital))


_FACILITY_FIELDS = ("amortisation_years", "usd_per_kwh", "host_capex_usd_per_chip",
                    "host_power_fraction", "colocation_usd_per_kw_month", "ops_overhead_fraction",
                    "idle_draw_fraction", "max_draw_fraction")


def owned_inputs(data: OwnedData, hardware: str, *, pue: str = "pue_colocation",
                 tdp_w: float | None = None, overrides: Mapping[str, Any] | None = None) -> OwnedInputs:
    """The catalog's owned-cost defaults for a chip, with a workload's overrides on top.

    ``pue`` names the facility default to use (pue_colocation for on-premises, pue_hyperscaler);
    ``tdp_w`` is the hardware entry's figure when data/owned.yaml has none. A missing capex or
    TDP with no override is an InputError naming the field: no figure is invented.
    """
    extra = dict(overrides or {})
    capex = extra.pop("capex_usd_per_chip", None)
    if capex is None and hardware in data.capex_usd:
        capex = data.capex_usd[hardware].value
    power = extra.pop("tdp_w", None) or (data.tdp_w[hardware].value if hardware in data.tdp_w else tdp_w)
    if capex is None:
        raise InputError(f"no public purchase price for {hardware}; give capex_usd_per_chip",
                         field="pricing.owned.capex_usd_per_chip")
    if power is None:
        raise InputError(f"no published board power for {hardware}; give tdp_w",
                         field="pricing.owned.tdp_w")
    base = OwnedInputs(capex_usd_per_chip=float(capex), tdp_w=float(power),
                       pue=data.facility[pue].value, amortisation_years=data.facility["amortisation_years"].value,
                       usd_per_kwh=data.facility["usd_per_kwh"].value,
                       **{k: data.facility[k].value for k in _FACILITY_FIELDS[2:]})
    unknown = set(extra) - set(OwnedInputs.__dataclass_fields__)
    if unknown:
        raise InputError(f"unknown owned-cost input(s): {', '.join(sorted(unknown))}", field="pricing.owned")
    return replace(base, **extra)


def grid_intensity(data: OwnedData, region: str) -> Figure:
    """gCO2e/kWh for a region: published for GCP regions; AWS / Azure ones via the same grid zone."""
    zone = data.same_zone_as.get(region, region)
    if zone not in data.grid_g_co2e_per_kwh:
        raise InputError(f"no grid carbon intensity for region {region!r}", field="region")
    flags = frozenset({"inferred"}) if zone != region else frozenset()
    return Figure(value=data.grid_g_co2e_per_kwh[zone], source=data.grid_source, flags=flags,
                  note=f"{region} mapped to {zone}" if flags else "")
