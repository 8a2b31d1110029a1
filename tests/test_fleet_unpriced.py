"""A fleet whose chips have no price in a mode it buys in says so. Before, a workload on mi355x bought only
committed (reserved_1y, which no offer prices) came back INFEASIBLE with no reason at all, and h200 with
every mode allowed was silently never committed. Found by a hostile test of plan-fleet."""

from __future__ import annotations

import math
from pathlib import Path

import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.fleet import fleet_prices, load_fleet
from planner.fleet.planning import plan_fleet

WORKLOAD = {"name": "a", "traffic": {"requests_per_s": 2, "input_tokens": {"mean": 800, "p95": 2000},
                                     "output_tokens": {"mean": 150, "p95": 400}},
            "slo": {"ttft_ms": {"p99": 3000}, "tpot_ms": {"p99": 100}}}


def _fleet(tmp_path: Path, hardware: str, modes: list[str]) -> Path:
    w = {**WORKLOAD, "constraints": {"hardware": [hardware]}}
    path = tmp_path / f"{hardware}.yaml"
    path.write_text(yaml.safe_dump({"name": "f", "months": 2, "modes": modes, "prices": "catalog", "workloads": [w]}))
    return path


def test_a_chip_without_a_price_in_the_only_mode_is_the_reason(tmp_path: Path) -> None:
    fleet, _ = load_fleet(_fleet(tmp_path, "mi355x", ["committed"]))
    out = plan_fleet(fleet, load_catalog(), time_limit_s=3.0, compare=False)
    assert out.cost != out.cost  # no schedule
    assert any("mi355x: no committed (reserved_1y) price" in n for n in out.notes), out.notes


def test_a_mode_a_chip_cannot_be_bought_in_is_named_beside_a_schedule(tmp_path: Path) -> None:
    fleet, _ = load_fleet(_fleet(tmp_path, "h200", ["committed", "on_demand"]))
    out = plan_fleet(fleet, load_catalog(), time_limit_s=3.0, compare=False)
    assert out.cost == out.cost  # on demand schedules it
    assert any("h200: no committed (reserved_1y) price" in n for n in out.notes), out.notes
    assert not any("no on_demand" in n or "on_demand) price" in n for n in out.notes), out.notes  # it is priced


def test_a_replica_floor_the_quotas_cannot_hold_is_the_reason(tmp_path: Path) -> None:
    """min_replicas 5 of a one-chip replica on l40s with a quota of 2: INFEASIBLE with no reason before."""
    w = {**WORKLOAD, "constraints": {"hardware": ["l40s"]}, "availability": {"min_replicas": 5}}
    path = tmp_path / "q.yaml"
    path.write_text(yaml.safe_dump({"name": "f", "months": 2, "quotas": {"l40s": 2}, "prices": "catalog",
                                    "modes": ["on_demand"], "workloads": [w]}))
    fleet, _ = load_fleet(path)
    out = plan_fleet(fleet, load_catalog(), time_limit_s=3.0, compare=False)
    assert out.cost != out.cost
    assert any("a: needs at least 5 replica(s) (min_replicas 5)" in n and "allow 2 chips" in n for n in out.notes), \
        out.notes


def test_a_schedule_lists_the_prices_it_buys_at(tmp_path: Path) -> None:
    """The output listed no price, so a reader could not check a month's cost (replicas x chips x the mode's price x
    hours); it lists each (chip, mode) price bought at: the catalog's own for that instance size, with its rule."""
    from planner.economics.rates import ChipRate, chip_rate

    catalog = load_catalog()
    fleet, _ = load_fleet(_fleet(tmp_path, "l4", ["on_demand"]))
    out = plan_fleet(fleet, catalog, time_limit_s=3.0, compare=False)
    assert out.cost == out.cost and out.prices
    (used,) = out.prices
    rate = chip_rate(catalog, "l4", "on_demand")
    assert isinstance(rate, ChipRate)
    assert (used.hardware, used.mode) == ("l4", "on_demand") and used.usd_per_chip_hour == rate.usd_per_chip_hour
    assert used.rule == rate.quote.rule  # type: ignore[union-attr]


def test_a_price_book_fleet_plans_a_chip_only_neoclouds_rent(tmp_path: Path) -> None:
    """`prices: price_book` takes each chip's first market with an offer; its single-workload search must too. An
    auditor (2026-12-07): an H100 PCIe fleet read 'no single-workload plan fits' (the search priced it at the
    hyperscalers, which do not rent it) where the book prices it. Basis: the catalog's price file for the chip, which
    has no hyperscaler offer and neocloud on-demand ones."""
    offers = yaml.safe_load((Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "prices" /
                             "h100-pcie.yaml").read_text(encoding="utf-8"))["offers"]
    assert not [o for o in offers if o["market"] == "hyperscaler"]
    assert [o for o in offers if o["market"] == "neocloud" and o["mode"] == "on_demand"]
    path = _fleet(tmp_path, "h100-pcie", ["on_demand"])
    catalog = load_catalog()
    fleet, _ = load_fleet(path)
    assert math.isnan(plan_fleet(fleet, catalog, time_limit_s=3.0, compare=False).cost)  # prices: catalog: none
    path.write_text(path.read_text().replace("prices: catalog", "prices: price_book"))
    fleet, spec = load_fleet(path)
    out = plan_fleet(fleet, catalog, prices=fleet_prices(spec, catalog), time_limit_s=3.0, compare=False)
    assert out.cost == out.cost and out.cost > 0, out.notes
    assert [(p.hardware, p.mode) for p in out.prices] == [("h100-pcie", "on_demand")]
    assert "neocloud" in out.prices[0].rule
