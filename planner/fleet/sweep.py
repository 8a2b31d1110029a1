"""What-if sweeps: a base workload or fleet x axes; each scenario planned on its own (pure).

An axis changes one thing about the base; a scenario is one value per axis (the cartesian
product, numbered in product order, so a scenario's id names the same values on every run and a
sweep can resume from the ids already written):

- ``traffic_scale``: requests/s (mean and peak) x the value
- ``price_scale``: every offer in the catalog's price book, and in the workload's own price sheet, x the value (a
  catalog variant); refused for a workload priced as owned, whose cost no offer sets
- ``slo_scale``: every latency target x the value (0.5: twice as strict)
- ``exclude_hardware``: a list of hardware ids the scenario may not use (a chip lost or withheld)
- ``models``: the models the scenario may use (None: any)

``run_scenario`` never raises: a scenario that fails comes back as a row with its error, so one
bad scenario does not stop a sweep. Rows are flat dicts of str / float / int, ready for a CSV.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from planner.domain import Catalog
from planner.economics.pricing import PriceBook
from planner.errors import PlannerError
from planner.fleet.planning import Fleet, plan_fleet
from planner.fleet.prices import ChipPrices, catalog_prices
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.workload import Slo, Workload

__all__ = ["AXES", "ROW_FIELDS", "Scenario", "Sweep", "apply", "check_ids", "priced", "run_scenario", "scaled_prices",
           "scenarios", "summarise", "variant_key"]

AXES = ("traffic_scale", "price_scale", "slo_scale", "exclude_hardware", "models")
ROW_FIELDS = ("scenario", *AXES, "status", "cost_per_month", "model", "precision", "runtime", "hardware",
              "replicas", "chips", "elapsed_s", "error")


@dataclass(frozen=True)
class Sweep:
    name: str
    base: Workload | Fleet
    axes: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: MappingProxyType({}))
    time_limit_s: float = 10.0


@dataclass(frozen=True)
class Scenario:
    id: int
    values: Mapping[str, Any]  # axis -> value; axes the sweep does not vary are absent


def check_ids(s: Sweep, catalog: Catalog) -> None:
    """Every chip and model id the axes name is in the catalog (an unknown one was found per scenario, after the
    workers started, and a sweep with one good value beside it exited 0 with half its rows errors)."""
    for axis, get in (("exclude_hardware", catalog.get_hardware), ("models", catalog.get_model)):
        for i, value in enumerate(s.axes.get(axis, ())):
            for j, ident in enumerate(value or ()):
                get(ident, field_name=f"axes.{axis}.{i}.{j}")


def scenarios(s: Sweep) -> list[Scenario]:
    names = [a for a in AXES if a in s.axes]
    return [Scenario(i, dict(zip(names, combo, strict=True)))
            for i, combo in enumerate(itertools.product(*(s.axes[a] for a in names)))]


def variant_key(sc: Scenario) -> float:
    """What a scenario changes in the catalog (its price scale): a runner keeps one catalog and its
    tables per key."""
    return float(sc.values.get("price_scale", 1.0))


def scaled_prices(prices: ChipPrices, scale: float) -> ChipPrices:
    """``prices`` x ``scale`` (the price axis applied to a fleet's per-mode prices)."""
    if scale == 1.0:
        return prices

    def price(hardware: str, mode: str, chips: int) -> float | None:
        p = prices(hardware, mode, chips)
        return None if p is None else p * scale

    return price


def priced(catalog: Catalog, scale: float) -> Catalog:
    """The catalog with every offer in its price book x ``scale`` (every chip, mode and market; a workload's own
    price sheet is scaled with the workload: ``_workload``; a sweep of owned pricing is refused as read)."""
    return catalog if scale == 1.0 else replace(catalog, prices=_scaled(catalog.prices, scale))


def _scaled(book: PriceBook, scale: float) -> PriceBook:
    """Every offer of ``book`` x ``scale`` (the catalog's price book, a workload's own sheet)."""
    return PriceBook(offers=tuple(replace(o, usd_per_chip_hour=o.usd_per_chip_hour * scale) for o in book.offers),
                     skipped=book.skipped)


def _workload(w: Workload, v: Mapping[str, Any]) -> Workload:
    t = w.traffic
    k = float(v.get("traffic_scale", 1.0))
    traffic = replace(t, requests_per_s=t.requests_per_s * k,
                      peak_requests_per_s=None if t.peak_requests_per_s is None else t.peak_requests_per_s * k)
    f = float(v.get("slo_scale", 1.0))
    slo = Slo(targets={m: {p: limit * f for p, limit in by_p.items()} for m, by_p in w.slo.targets.items()})
    c = w.constraints
    pricing, scale = c.pricing, float(v.get("price_scale", 1.0))
    if scale != 1.0 and pricing.sheet is not None:  # the user's own prices are prices too (an auditor's case: a
        # sheet's chips kept their price while the book's were scaled, skewing the comparison between them)
        pricing = replace(pricing, sheet=_scaled(pricing.sheet, scale))
    constraints = replace(c, exclude_hardware=tuple(sorted({*c.exclude_hardware, *v.get("exclude_hardware", ())})),
                          models=tuple(v["models"]) if v.get("models") is not None else c.models, pricing=pricing)
    return replace(w, traffic=traffic, slo=slo, constraints=constraints)


def apply(base: Workload | Fleet, sc: Scenario) -> Workload | Fleet:
    """The base with the scenario's values applied (the catalog part: ``priced``)."""
    if isinstance(base, Fleet):
        return replace(base, workloads=tuple(_workload(w, sc.values) for w in base.workloads))
    return _workload(base, sc.values)


def _row(sc: Scenario) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(ROW_FIELDS, "")
    row["scenario"] = sc.id
    for a, value in sc.values.items():
        row[a] = " ".join(value) if isinstance(value, (list, tuple)) else value
    return row


def resume_mismatch(s: Sweep, rows: Sequence[Mapping[str, Any]]) -> str | None:
    """Why rows already written (a CSV being resumed) are not this sweep's: the first whose axis values
    differ from its scenario id's here (ids number the axes' product, so another sweep's ids mean other
    values); None when every row is one of this sweep's scenarios."""
    mine = {sc.id: _row(sc) for sc in scenarios(s)}
    for r in rows:
        ours = mine.get(int(r["scenario"])) if str(r.get("scenario", "")).isdigit() else None
        if ours is None:
            return f"scenario {r.get('scenario')!r} is not one of this sweep's {len(mine)}"
        for axis in AXES:
            if not _same(r.get(axis, ""), ours[axis]):
                return (f"scenario {r['scenario']} has {axis} = {r.get(axis, '')!r} there and "
                        f"{ours[axis]!r} in this sweep")
    return None


def _same(written: Any, value: Any) -> bool:
    """A CSV cell against a row value (numbers compared as numbers: 1.0 and 1 are one value; an axis's
    null, which the CSV writes as an empty cell, as that empty cell)."""
    if str(written) == str(value) or (value is None and written in ("", None)):
        return True
    try:
        return float(written) == float(value)
    except (TypeError, ValueError):
        return False


def run_scenario(s: Sweep, sc: Scenario, catalog: Catalog, tables: CatalogTables | None = None,
                 prices: ChipPrices | None = None) -> dict[str, Any]:
    """One scenario's row: its values, what it costs per month and on what; or its error. A fleet's
    schedule is priced by ``prices`` (None: the catalog's), already at the scenario's price scale."""
    start = time.perf_counter()
    row = _row(sc)
    try:
        target = apply(s.base, sc)
        if isinstance(target, Fleet):
            fp = plan_fleet(target, catalog, prices=prices or catalog_prices(catalog), tables=tables,
                            time_limit_s=s.time_limit_s, compare=False)
            ok = fp.cost == fp.cost  # not NaN
            # no schedule: out of time (the joint solve's UNKNOWN, a workload's search's TIME_LIMIT) is not infeasible
            timed_out = fp.status in ("UNKNOWN", "TIME_LIMIT")
            row.update(status="ok" if ok else "timeout" if timed_out else "infeasible",
                       cost_per_month=round(fp.cost / fp.months, 4) if ok else "")
            if not ok:
                row["error"] = "; ".join(dict.fromkeys(r for w in fp.workloads for r in w.reasons)) or fp.status
        else:
            # (the explanation runs only where there is no plan: an infeasible row said nothing of why)
            result = plan(target, catalog, top=1, time_limit_s=s.time_limit_s, tables=tables, explain=True)
            _plan_fields(row, result.plans[0] if result.plans else None, result.search.solver_status)
            if (why := result.infeasible) is not None:
                fixes = "; ".join(f"{x.constraint} {x.needed}" for x in why.relaxations[:2])
                row["error"] = "; ".join(why.reasons[:4]) + (f" (would plan: {fixes})" if fixes else "")
    except PlannerError as exc:
        row.update(status="error", error=f"{type(exc).__name__}: {exc.message}")
    except Exception as exc:  # noqa: BLE001  (a sweep reports a scenario's bug as that scenario's row)
        row.update(status="error", error=f"{type(exc).__name__}: {exc}")
    row["elapsed_s"] = round(time.perf_counter() - start, 4)
    return row


def _plan_fields(row: dict[str, Any], p: Any, solver_status: str) -> None:
    if p is None:
        row["status"] = "timeout" if solver_status == "TIME_LIMIT" else "infeasible"
        return
    row.update(status="ok", cost_per_month=round(p.cost.per_month, 4), model=p.model, precision=p.precision,
               runtime=p.runtime, hardware=" ".join(sorted(p.hardware_types)),
               replicas=sum(d.replicas for d in p.deployments),
               chips=sum(d.replicas * d.chips_per_replica for d in p.deployments))


def summarise(rows: Sequence[Mapping[str, Any]], axis: str) -> list[tuple[Any, int, int, float | None, float | None]]:
    """Per value of ``axis``: (value, scenarios, ok, least and most monthly cost among the ok)."""
    out = []
    for value in sorted({r[axis] for r in rows}, key=_order):
        these = [r for r in rows if r[axis] == value]
        costs = [float(r["cost_per_month"]) for r in these if r["status"] == "ok" and r["cost_per_month"] != ""]
        out.append((value, len(these), len(costs), min(costs) if costs else None, max(costs) if costs else None))
    return out


def _order(value: Any) -> tuple[int, float, str]:
    """Numbers by value (1.0, 2.0, 10.0, not 1.0, 10.0, 2.0 as text), then text."""
    try:
        return 0, float(value), ""
    except (TypeError, ValueError):
        return 1, 0.0, str(value)
