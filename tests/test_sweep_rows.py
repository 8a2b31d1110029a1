"""A sweep row says why a scenario has no plan, and a models value lists at least one model.

Basis: hwplan plan's own explanation of the same workload (an infeasible row said nothing, exit 0), and the
workload file's rule (an empty models list allows none).
"""

from __future__ import annotations

from pathlib import Path

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
