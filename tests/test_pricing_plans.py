"""Plans priced from the price layer (issue #14): the offer behind a plan's cost, price sheets,
owned TCO for an in-house chip, energy and carbon, bad price input, and the prices listing.

Expected values come from the offers in hardware_catalog/data/prices/*.yaml (read here, by hand)
and from the owned.yaml facility figures, not from the planner's own arithmetic.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api import Settings, create_app
from hardware_catalog.inputs.workload import WorkloadIn, load_workload, to_workload, with_sheet
from planner.domain import Catalog
from planner.economics.pricing import PriceBook
from planner.search.lever_report import lever_report, other_families
from planner.search.planning import plan
from planner.workload import HOURS_PER_MONTH, Budget, Workload

Cli = Callable[..., tuple[int, str, str]]

# hardware_catalog/data/prices/l40s.yaml, hyperscaler on_demand: AWS g6e.xlarge $1.861 (us-east-1,
# vantage 2026-09-17) and OCI VM.GPU.L40S $3.50 (2026-04-14): one offer per provider, median of two.
L40S_MEDIAN = (1.861 + 3.5) / 2

BASE: dict[str, Any] = {
    "name": "l40s-only",
    "traffic": {"requests_per_s": 5, "input_tokens": {"mean": 500}, "output_tokens": {"mean": 150}},
    "slo": {"tpot_ms": {"p99": 100}},
    "constraints": {"hardware": ["l40s"], "models": ["llama-3.1-8b"], "precisions": ["bf16"], "runtimes": ["vllm"]},
}


def _workload(**pricing: Any) -> Workload:
    body = json.loads(json.dumps(BASE))
    if pricing:
        body["constraints"]["pricing"] = pricing
    return to_workload(WorkloadIn.model_validate(body))


def _chips(p: Any) -> int:
    return sum(d.chips_per_replica * d.replicas for d in p.deployments)


def test_plan_cost_is_the_selected_offer_times_chips_times_hours(catalog: Catalog) -> None:
    top = plan(_workload(), catalog, top=1).plans[0]
    assert top.cost.per_month == pytest.approx(L40S_MEDIAN * _chips(top) * HOURS_PER_MONTH)
    (source,) = top.cost.sources
    assert {(o.provider, o.usd_per_chip_hour) for o in source.offers} == {("aws", 1.861), ("oci", 3.5)}
    assert all(o.as_of is not None and o.source for o in source.offers)
    parts = top.cost.parts
    assert parts is not None and parts.energy == 0 and parts.total == pytest.approx(top.cost.per_month)
    tokens = top.cost.tokens
    assert tokens is not None
    t = BASE["traffic"]
    per_hour = L40S_MEDIAN * _chips(top)
    # blended: cost over every token; input and output shares add back to the hour's cost
    assert tokens.per_million_blended == pytest.approx(
        per_hour / (t["requests_per_s"] * (500 + 150) * 3600) * 1e6)
    assert (tokens.per_million_input * 500 + tokens.per_million_output * 150) * t["requests_per_s"] * 3600 / 1e6 \
        == pytest.approx(per_hour)


def test_a_price_sheet_wins_and_changes_the_plan(catalog: Catalog) -> None:
    sheet = {"offers": [{"hardware": "l40s", "provider": "acme chargeback", "market": "hyperscaler",
                         "mode": "on_demand", "usd_per_chip_hour": 0.5, "region": "unspecified",
                         "as_of": "2026-06-01", "source": "ACME internal rate card FY26"}]}
    top = plan(_workload(mode="on_demand", sheet=sheet), catalog, top=1).plans[0]
    assert top.cost.per_month == pytest.approx(0.5 * _chips(top) * HOURS_PER_MONTH)
    assert top.cost.sources[0].from_sheet
    # a sheet can move the choice: with the H100 allowed and at $0.10 in the sheet, it wins
    w = _workload()
    both = replace(w, constraints=replace(w.constraints, hardware=("l40s", "h100-sxm")))
    cheap_h100 = with_sheet(both, PriceBook.flat({"h100-sxm": 0.10}, source="test: an internal rate"))
    assert plan(both, catalog, top=1).plans[0].hardware_types == {"l40s"}
    assert plan(cheap_h100, catalog, top=1).plans[0].hardware_types == {"h100-sxm"}


def test_owned_in_house_chip_plans_and_costs_at_least_its_power(catalog: Catalog) -> None:
    """MTIA v2 has no public price or capex: with capex in the workload it plans under owned TCO."""
    body = {"name": "mtia", "traffic": {"requests_per_s": 2, "input_tokens": {"mean": 300},
                                        "output_tokens": {"mean": 100}},
            "slo": {"tpot_ms": {"p99": 200}},
            "constraints": {"hardware": ["mtia-v2"],
                            "pricing": {"mode": "owned",
                                        "owned": {"chips": {"mtia-v2": {"capex_usd_per_chip": 4000}}}}}}
    no_capex = to_workload(WorkloadIn.model_validate({**body, "constraints": {"hardware": ["mtia-v2"]}}))
    unpriced = plan(no_capex, catalog, top=1)
    assert not unpriced.plans and unpriced.search.unpriced[0].hardware == "mtia-v2"
    top = plan(to_workload(WorkloadIn.model_validate(body)), catalog, top=1).plans[0]
    chips = _chips(top)
    # owned.yaml: TDP 90 W (S51), busy draw 0.971 x TDP, host share 0.431, colocation PUE 1.54, $0.08/kWh
    power_per_chip_hour = 90 * 0.971 * 1.431 * 1.54 / 1000 * 0.08
    capital = 4000 / (3 * 8760)
    assert top.cost.per_hour >= chips * power_per_chip_hour
    assert top.cost.per_hour >= chips * (capital + power_per_chip_hour)
    parts = top.cost.parts
    assert parts is not None and parts.energy == pytest.approx(chips * power_per_chip_hour * HOURS_PER_MONTH)
    assert parts.total == pytest.approx(top.cost.per_month)
    assert top.cost.energy is not None and top.cost.energy.kwh_per_month is not None
    # the power part is priced at full load (busy draw 0.971 x TDP above), the kWh line at the plan's own load:
    # the price's rule says which (edge-assistant's "energy $56" beside "119 kWh" read as $0.47/kWh)
    (source,) = top.cost.sources
    assert "power priced at 100% load" in source.rule, source.rule


def test_energy_and_carbon_follow_the_power_model_and_grid(catalog: Catalog) -> None:
    top = plan(_workload(), catalog, top=1).plans[0]
    e = top.cost.energy
    assert e is not None and e.kwh_per_month is not None and e.kgco2e_per_month is not None
    # L40S 350 W (S8) at the plan's utilisation: idle 0.114, busy 0.971 of TDP; host 0.431; PUE 1.15
    draw = 350 * (0.114 + (0.971 - 0.114) * e.utilisation)
    assert e.kwh_per_month == pytest.approx(_chips(top) * draw * 1.431 * 1.15 / 1000 * HOURS_PER_MONTH)
    # us-east-1 maps to GCP us-east4: 343.48 gCO2e/kWh (region-carbon-info 2025)
    assert e.region == "us-east-1" and e.kgco2e_per_month == pytest.approx(e.kwh_per_month * 0.34348)
    # a bound: never more than every chip at TDP x host x PUE all month
    assert e.kwh_per_month <= _chips(top) * 350 * 1.431 * 1.15 / 1000 * HOURS_PER_MONTH


def test_a_carbon_budget_excludes_plans_over_it(catalog: Catalog) -> None:
    w = _workload()
    gpus = ("l4", "l40s", "a10g", "h100-sxm", "h200", "a100-80gb")  # published board power: carbon is known
    w = replace(w, constraints=replace(w.constraints, hardware=gpus, models=None, precisions=None, runtimes=None))
    free = plan(w, catalog, top=5)
    kg = [p.cost.energy.kgco2e_per_month for p in free.plans if p.cost.energy is not None]
    assert free.plans and all(k is not None for k in kg)
    limit = min(k for k in kg if k is not None) * 0.999  # below every plan the search found
    capped = plan(replace(w, budget=Budget(max_kgco2e_per_month=limit)), catalog, top=5)
    for p in capped.plans:
        assert p.cost.energy is not None and p.cost.energy.kgco2e_per_month is not None
        assert p.cost.energy.kgco2e_per_month <= limit
    assert free.plans[0].key not in {p.key for p in capped.plans if p.deployments == free.plans[0].deployments}
    tiny = plan(replace(w, budget=Budget(max_kgco2e_per_month=1e-6)), catalog, top=3)
    assert not tiny.plans and tiny.infeasible is not None
    assert any("max_kgco2e_per_month" in r for r in tiny.infeasible.reasons)


def test_unpriced_chips_are_listed_with_the_pricing_that_would_include_them(catalog: Catalog, hwplan: Cli,
                                                                             tmp_path: Path) -> None:
    body = json.loads(json.dumps(BASE))
    body["constraints"]["hardware"] = ["l40s", "gh200", "gaudi3"]
    path = tmp_path / "w.json"
    path.write_text(json.dumps(body))
    code, out, err = hwplan("plan", str(path), "--top", "1")
    assert code == 0, err
    assert max(len(line) for line in out.splitlines()) <= 80
    flat = " ".join(out.split())  # the line wraps at 80 columns
    assert "gh200 (neocloud on_demand)" in flat and "gaudi3 (owned)" in flat
    result = plan(load_workload(path), catalog, top=1)
    would = {u.hardware: u.available for u in result.search.unpriced}
    assert ("neocloud", "on_demand") in would["gh200"] and ("owned", "owned") in would["gaudi3"]


@pytest.mark.parametrize(("offer", "field"), [
    ({"usd_per_chip_hour": ".inf"}, "offers.0.usd_per_chip_hour"),
    ({"usd_per_chip_hour": ".nan"}, "offers.0.usd_per_chip_hour"),
    ({"discount": 0.3}, "offers.0.discount"),
    ({"as_of": "2999-01-01"}, "offers.0.as_of"),  # a quote dated in the future: a typo
])
def test_a_bad_price_sheet_is_exit_2_naming_file_and_field(hwplan: Cli, tmp_path: Path, offer: dict[str, Any],
                                                           field: str) -> None:
    row = {"hardware": "l40s", "provider": "acme", "market": "hyperscaler", "mode": "on_demand",
           "usd_per_chip_hour": 1.0, "region": "unspecified", "as_of": "2026-01-01", "source": "ACME rate card FY26"}
    text = "offers:\n  - {" + ", ".join(f"{k}: {v if isinstance(v, str) and v.startswith('.') else json.dumps(v)}"
                                        for k, v in {**row, **offer}.items()) + "}\n"
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(text)
    workload = tmp_path / "w.json"
    workload.write_text(json.dumps(BASE))
    code, _out, err = hwplan("plan", str(workload), "--prices", str(sheet))
    assert code == 2 and str(sheet) in err and field in err, err


def _with_sheet(tmp_path: Path, hardware: str) -> tuple[Path, Path]:
    """BASE as a workload file and a price sheet of one offer for ``hardware`` at $0.50/chip-hour."""
    sheet = tmp_path / "sheet.yaml"
    sheet.write_text(f"offers:\n  - {{hardware: {hardware}, provider: acme, market: hyperscaler, mode: on_demand, "
                     "usd_per_chip_hour: 0.5, region: unspecified, as_of: 2026-01-01, source: ACME rate card FY26}\n")
    workload = tmp_path / "w.json"
    workload.write_text(json.dumps(BASE))
    return workload, sheet


def test_a_sheet_offer_for_a_chip_the_catalog_lacks_is_skipped_and_named(hwplan: Cli, tmp_path: Path) -> None:
    """A sheet may cover more chips than the catalog has (docs/catalog.md: skipped with the reason), but a
    typo in a negotiated sheet's chip id priced nothing and planned on the public prices without a word."""
    workload, sheet = _with_sheet(tmp_path, "l40ss")
    code, out, err = hwplan("plan", str(workload), "--prices", str(sheet))
    assert code == 0 and "price sheet offers skipped, no such chip in the catalog: l40ss" in " ".join(out.split()), err
    code, out, _err = hwplan("plan", str(workload), "--prices", str(sheet), "--json")
    assert code == 0 and json.loads(out)["search"]["sheet_skipped"] == ["l40ss"]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    return TestClient(create_app(Settings(plan_cache_size=0, catalog_dir=tmp_path_factory.mktemp("catalog"))))


def test_api_rejects_non_finite_and_unknown_price_fields_naming_them(client: TestClient) -> None:
    body = json.loads(json.dumps(BASE))
    body["constraints"]["pricing"] = {"mode": "on_demand", "sheet": {"offers": [
        {"hardware": "l40s", "provider": "acme", "market": "hyperscaler", "mode": "on_demand",
         "usd_per_chip_hour": 1e999, "region": "unspecified", "as_of": "2026-01-01", "source": "ACME rate card"}]}}
    raw = json.dumps(body).replace("Infinity", "1e999")
    r = client.post("/v1/plans", content=raw, headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert any(e["field"].endswith("sheet.offers.0.usd_per_chip_hour") for e in r.json()["errors"]), r.json()
    body["constraints"]["pricing"] = {"mode": "on_demand", "marekt": "neocloud"}
    r = client.post("/v1/plans", json=body)
    assert r.status_code == 422 and any(e["field"].endswith("pricing.marekt") for e in r.json()["errors"])


def test_api_sheet_and_prices_routes(client: TestClient) -> None:
    body = json.loads(json.dumps(BASE))
    body["constraints"]["pricing"] = {"mode": "on_demand", "sheet": {"offers": [
        {"hardware": "l40s", "provider": "acme", "market": "hyperscaler", "mode": "on_demand",
         "usd_per_chip_hour": 0.25, "region": "unspecified", "as_of": "2026-01-01", "source": "ACME rate card"}]}}
    doc = client.post("/v1/plans", json=body, params={"top": 1}).json()
    top = doc["plans"][0]
    chips = sum(d["chips_per_replica"] * d["replicas"] for d in top["deployments"])
    assert top["cost"]["per_hour"] == pytest.approx(0.25 * chips, rel=1e-4)
    assert top["cost"]["sources"][0]["from_sheet"] is True
    est = client.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "l40s", "prices": {
        "offers": body["constraints"]["pricing"]["sheet"]["offers"]}}).json()
    assert est["cost_per_hour"] == pytest.approx(0.25)
    listing = client.get("/v1/prices/l40s").json()
    sel = {(s["market"], s["mode"]): s["usd_per_chip_hour"] for s in listing["selected"]}
    assert sel[("hyperscaler", "on_demand")] == pytest.approx(L40S_MEDIAN, rel=1e-4)
    assert all(o["hardware"] == "l40s" and o["source"] for o in listing["offers"])
    spot = client.get("/v1/prices", params={"mode": "spot", "market": "neocloud"}).json()
    assert spot["offers"] and all(o["mode"] == "spot" and o["market"] == "neocloud" for o in spot["offers"])
    assert client.get("/v1/prices/no-such-chip").status_code == 404
    assert client.get("/v1/prices", params={"mode": "free"}).status_code == 422


def test_prices_cli_lists_offers_and_selected_prices(hwplan: Cli) -> None:
    code, out, err = hwplan("prices", "show", "l40s", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert {o["provider"] for o in doc["offers"] if o["mode"] == "on_demand" and o["market"] == "hyperscaler"} \
        >= {"aws", "oci"}
    code, out, err = hwplan("prices", "list", "--market", "bazaar")
    assert code == 2 and "market" in err
    code, out, _ = hwplan("prices", "list", "--hardware", "h100-sxm", "--mode", "on_demand")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 80


def test_lever_hardware_baseline_is_another_family_in_the_same_market(catalog: Catalog) -> None:
    w = _workload()
    w = replace(w, constraints=replace(w.constraints, hardware=("l40s", "h100-sxm", "mi300x", "tpu-v5e"),
                                       runtimes=None))
    top = plan(w, catalog, top=1).plans[0]
    others = other_families(catalog, w, top)
    families = {catalog.hardware[h].family for h in top.hardware_types}
    assert others and all(catalog.hardware[h].family not in families for h in others)
    rows = {r.lever: r for r in lever_report(catalog, w, top, time_limit_s=5)}
    row = rows["hardware family"]
    assert row.plan is not None and not {catalog.hardware[h].family for h in row.plan.hardware_types} & families
    tried = [h for h in ("l40s", "h100-sxm", "mi300x", "tpu-v5e") if catalog.hardware[h].family not in families]
    assert tried and set(tried) <= set(others)  # each has a hyperscaler on-demand price
    # the baseline is the cheapest of the other families: no other chip tried alone plans cheaper
    for hw in tried:
        alone = plan(replace(w, constraints=replace(w.constraints, hardware=(hw,))), catalog, top=1)
        if alone.plans:
            assert alone.plans[0].cost.per_month >= row.plan.cost.per_month - 1e-6


def test_a_sheet_priced_line_says_price_sheet_once(hwplan: Cli, tmp_path: Path) -> None:
    """The price line read "(hyperscaler on_demand, price sheet, price sheet (1 offer(s), median))"."""
    workload, sheet = _with_sheet(tmp_path, "l40s")
    code, out, err = hwplan("plan", str(workload), "--prices", str(sheet))
    import re

    line = re.split(r" price [\w.-]+: |warning: ", " ".join(out.split()).split("price l40s: ")[1])[0]
    assert code == 0 and line.count("price sheet") == 1, line


def test_prices_list_names_a_skipped_file_once(hwplan: Cli) -> None:
    """Each offer of a file for a chip the catalog lacks was listed as its own, identical line (a10.yaml's
    three offers: three lines); now one line per file and reason, with the count. Basis: the shipped file."""
    import yaml

    from hardware_catalog.loader import default_catalog_dir

    offers = yaml.safe_load((default_catalog_dir() / "prices" / "a10.yaml").read_text())["offers"]
    assert len(offers) > 1
    code, out, _err = hwplan("prices", "list", "--json")
    path = str(default_catalog_dir() / "prices" / "a10.yaml")
    skipped = [s for s in json.loads(out)["skipped"] if s.startswith(path)]
    assert code == 0 and len(skipped) == 1 and skipped[0].endswith(f"({len(offers)} offers)"), skipped
