"""A sweep row says why a scenario has no plan, and a models value lists at least one model.

Basis: hwplan plan's own explanation of the same workload (an infeasible row said nothing, exit 0), and the
workload file's rule (an empty models list allows none).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from planner.domain import Catalog
from planner.fleet.sweep import Scenario, Sweep, run_scenario
from planner.search.planning import plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

BASE = Workload(name="sw", traffic=Traffic(requests_per_s=3.0, input_tokens=Tokens(500, 1500),
                                           output_tokens=Tokens(150, 400)),
                slo=Slo(targets={"ttft_ms": {99: 2000.0}, "tpot_ms": {99: 100.0}}),
                constraints=Constraints(hardware=("l40s", "h100-sxm"), max_hardware_types=1))


def test_an_infeasible_row_says_why_as_plan_does(catalog: Catalog) -> None:
    sweep = Sweep(name="t", base=BASE, axes={"slo_scale": (0.01, 1.0)}, time_limit_s=10.0)
    tight, loose = (run_scenario(sweep, Scenario(id=j, values={"slo_scale": v}), catalog)
                    for j, v in enumerate((0.01, 1.0)))
    assert loose["status"] == "ok" and not loose.get("error")
    assert tight["status"] == "infeasible"
    from dataclasses import replace

    targets = {m: {p: v * 0.01 for p, v in d.items()} for m, d in BASE.slo.targets.items()}
    scaled = replace(BASE, slo=Slo(targets=targets))
    why = plan(scaled, catalog, top=1, time_limit_s=10.0).infeasible
    assert why is not None and why.reasons
    assert why.reasons[0] in tight["error"]


def test_a_models_value_of_no_model_is_refused(tmp_path: Path, hwplan: object) -> None:
    """`models: [[]]` ran as 'any model' (a blank cell), where a workload's `constraints.models: []` is refused."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "workload": str(Path(__file__).resolve().parents[1] / "examples"
                                                                  / "support-chatbot.yaml"),
                                     "axes": {"models": [[]]}}), encoding="utf-8")
    code, _out, err = hwplan("sweep", str(sweep), "--out", str(tmp_path / "o.csv"))  # type: ignore[operator]
    assert code == 2 and "axes.models.0" in err, err



def test_an_out_file_that_is_not_csv_is_refused(tmp_path: Path, hwplan: object) -> None:
    """`--out x.json` received CSV rows, silently."""
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "workload": str(Path(__file__).resolve().parents[1] / "examples"
                                                                  / "support-chatbot.yaml"),
                                     "axes": {"traffic_scale": [1.0]}}), encoding="utf-8")
    code, _out, err = hwplan("sweep", str(sweep), "--out", str(tmp_path / "o.json"))  # type: ignore[operator]
    assert code == 2 and "--out" in err and ".csv" in err, err
    assert not (tmp_path / "o.json").exists()


def test_price_scale_scales_a_workloads_own_price_sheet(catalog: Catalog) -> None:
    """An auditor (2026-12-07): price_scale scaled the catalog's price book only, so a workload whose chips its own
    price sheet prices read the same at 0.5 and 1.0. Basis: a plan's cost is linear in its prices: every price
    halved, the same plan costs half."""
    from dataclasses import replace
    from datetime import date

    from planner.economics.pricing import Offer, PriceBook
    from planner.economics.rates import Pricing
    from planner.fleet.sweep import priced

    sheet = PriceBook(offers=tuple(Offer(hardware=h, provider="internal", market="hyperscaler", mode="on_demand",
                                         usd_per_chip_hour=usd, region="unspecified", as_of=date(2026, 10, 1),
                                         source="rate card") for h, usd in (("l40s", 1.1), ("h100-sxm", 2.3))))
    base = replace(BASE, constraints=replace(BASE.constraints, pricing=Pricing(sheet=sheet)))
    sweep = Sweep(name="t", base=base, axes={"price_scale": (0.5, 1.0)}, time_limit_s=10.0)
    half, full = (run_scenario(sweep, Scenario(id=j, values={"price_scale": k}), priced(catalog, k))
                  for j, k in enumerate((0.5, 1.0)))
    assert half["status"] == full["status"] == "ok"
    assert (half["hardware"], half["model"]) == (full["hardware"], full["model"])
    assert half["cost_per_month"] == pytest.approx(full["cost_per_month"] / 2, rel=1e-4)


def test_price_scale_over_owned_chips_is_refused(tmp_path: Path, hwplan: object) -> None:
    """Owned chips' cost (capex, power, hosting) is set by no offer: every price_scale row read the same."""
    workload = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml").read_text())
    workload.setdefault("constraints", {})["pricing"] = "owned"
    (tmp_path / "w.yaml").write_text(yaml.safe_dump(workload), encoding="utf-8")
    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump({"name": "s", "workload": "w.yaml", "axes": {"price_scale": [0.5, 1.0]}}),
                     encoding="utf-8")
    code, _out, err = hwplan("sweep", str(sweep), "--out", str(tmp_path / "o.csv"))  # type: ignore[operator]
    assert code == 2 and "axes.price_scale" in err and "owned" in err, err
    assert not (tmp_path / "o.csv").exists()
