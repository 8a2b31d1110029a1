"""Misuse left open by the 2026-12-05 audit (tests/test_misuse_found.py), each now a clear answer.

* An allow-list written empty (``constraints.hardware: []``) allows nothing: every search had no
  configuration and said only "no configuration survives the constraints", naming no field. Basis:
  what the list says (it names no chip) against a null or absent one (every chip).
* ``plan-fleet`` whose workload search runs out of time before any plan exited 1, the code for "no
  schedule fits", although nothing was proven; ``plan`` exits 3 then (README "Exit codes"). Basis:
  a search given no time at all, which can only stop at its deadline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from hardware_catalog.fleet_outputs import FleetPlanOut

Cli = Callable[..., tuple[int, str, str]]
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
ALLOW_LISTS = ("hardware", "models", "precisions", "kv_precisions", "runtimes", "adaptations")


def _chatbot() -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", ALLOW_LISTS)
def test_an_empty_allow_list_is_refused_naming_it(tmp_path: Path, hwplan: Cli, name: str) -> None:
    w = _chatbot()
    w["constraints"][name] = []
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(w), encoding="utf-8")
    code, _out, err = hwplan("plan", str(path))
    assert code == 2, err
    assert f"{path}: constraints.{name}: an empty list allows none" in err and err.strip().count("\n") == 0, err


def test_a_null_allow_list_still_allows_every_one(tmp_path: Path, hwplan: Cli) -> None:
    w = _chatbot()
    assert w["constraints"]["hardware"] is None  # the example writes it null: every chip
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(w), encoding="utf-8")
    code, _out, err = hwplan("plan", str(path), "--json")
    assert code == 0, err


def test_the_service_refuses_an_empty_allow_list_and_stores_nothing(api: TestClient) -> None:
    before = api.get("/v1/plans").json()
    w = _chatbot()
    w["constraints"]["runtimes"] = []
    r = api.post("/v1/plans", json=w)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.constraints.runtimes"]
    fleet = {"name": "f", "months": 1, "workloads": [w]}
    r = api.post("/v1/fleets", json=fleet)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.workloads.0.constraints.runtimes"]
    assert api.get("/v1/plans").json() == before


def test_plan_fleet_exits_3_when_a_search_runs_out_of_time(tmp_path: Path, hwplan: Cli,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import planner.fleet.options as options

    real = options.run_search

    def no_time(*args: Any, **kw: Any) -> Any:
        return real(*args, **{**kw, "time_limit_s": 1e-9})  # past its deadline before the first round

    monkeypatch.setattr(options, "run_search", no_time)
    path = EXAMPLES / "fleet" / "lora-pool.yaml"
    code, out, err = hwplan("plan-fleet", str(path), "--json")
    assert code == 3, err
    doc = FleetPlanOut.model_validate_json(out)
    assert doc.status == "TIME_LIMIT" and doc.cost is None
    assert any("ran out of its" in r for s in doc.workloads for r in s.reasons), doc.workloads


def test_plan_fleet_still_exits_1_when_no_plan_fits(tmp_path: Path, hwplan: Cli) -> None:
    fleet = yaml.safe_load((EXAMPLES / "fleet" / "lora-pool.yaml").read_text(encoding="utf-8"))
    fleet["workloads"][0].setdefault("quality", {})["min_score"] = 99.9  # no model in the catalog scores that
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet), encoding="utf-8")
    code, out, err = hwplan("plan-fleet", str(path), "--json", "--time-limit", "10")
    assert code == 1, err
    assert FleetPlanOut.model_validate_json(out).status == "NO_OPTIONS"


@pytest.mark.parametrize("args", [["catalog", "list"], ["catalog", "list", "--json"],
                                  ["estimate", "--model", "llama-3.1-8b", "--hardware", "l40s"]])
def test_a_closed_stdout_ends_quietly_with_141(tmp_path: Path, args: list[str]) -> None:
    """Piped to a reader that has already left (``| head`` once it has its lines): the text tables
    exited 1 through rich ("no plan fits" in this CLI) and a plain print would have said "error:
    Broken pipe" with exit 2. Basis: the shell's code for a command killed by SIGPIPE, 128 + 13."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "HWPLAN_CACHE_DIR": str(tmp_path / "cache"),
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    with subprocess.Popen([sys.executable, "-m", "cli.main", *args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as child:
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()  # before the command has written anything: its first write meets a closed pipe
        err = child.stderr.read().decode()
        assert child.wait(timeout=120) == 141, err
    assert err == ""


def test_a_bad_key_is_named_as_the_key(tmp_path: Path, hwplan: Cli, api: TestClient) -> None:
    """A percentile key that is not one (``slo.ttft_ms: {p42: ...}``) was named ``slo.ttft_ms.p42.[key]``:
    pydantic's marker for "the key is wrong" leaked into the field path. Basis: the path a user wrote."""
    w = _chatbot()
    w["slo"]["ttft_ms"] = {"p42": 1500}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(w), encoding="utf-8")
    code, _out, err = hwplan("plan", str(path))
    assert code == 2 and f"{path}: slo.ttft_ms.p42: not an allowed key: Input should be 'p50'" in err, err
    r = api.post("/v1/plans", json=w)
    assert r.status_code == 422, r.text
    (error,) = r.json()["errors"]
    assert error["field"] == "body.slo.ttft_ms.p42" and error["message"].startswith("not an allowed key: "), error


def test_an_infinite_p90_error_is_said_so(hwplan: Cli) -> None:
    """`validate`'s summary printed "—" (as for "no records") where a metric's p90 error is infinite, and its
    JSON gives null without saying why. Basis: the records whose metric has no finite prediction (the
    model puts their rate past its capacity), more than a tenth of those with the metric."""
    import json

    mlperf = Path(__file__).resolve().parents[1] / "hardware_catalog/data/measurements/mlperf.yaml"
    code, out, err = hwplan("validate", str(mlperf), "--json")
    assert code == 0, err
    doc = json.loads(out)
    observed = [r for r in doc["records"] if r["observed"].get("ttft_ms") is not None]
    unpredicted = [r for r in observed if r["predicted"].get("ttft_ms") is None]
    assert len(unpredicted) > 0.1 * len(observed)  # the premise: an infinite 90th percentile
    summary = doc["summary"]["ttft_ms"]
    assert summary["p90_ape"] is None and summary["median_ape"] is not None
    code, text, err = hwplan("validate", str(mlperf))
    summary_text = text.split("summary by metric")[1]  # (the records' table above has a ttft_ms row per record)
    rows = [[cell.strip() for cell in line.split("│")] for line in summary_text.splitlines()]
    row = next(r for r in rows if len(r) == 7 and r[1] == "ttft_ms")  # summary by metric: metric, n, median, p90
    assert row[2] == str(summary["n"]) and row[4] == "inf", row


def test_finetune_refuses_an_empty_hardware_list(api: TestClient) -> None:
    """[] read as no filter priced every chip; as in a workload, it allows none and is refused by its field.
    null still means every chip."""
    body = {"model": "llama-3.1-8b", "method": "lora", "dataset_tokens": 1e7}
    r = api.post("/v1/finetune", json={**body, "hardware": []})
    assert r.status_code == 422, r.text
    errors = r.json()["errors"]
    assert [e["field"] for e in errors] == ["body.hardware"], errors
    assert "an empty list allows none" in str(errors[0]), errors
    every = api.post("/v1/finetune", json={**body, "hardware": None})
    assert every.status_code == 200, every.text
    one = api.post("/v1/finetune", json={**body, "hardware": ["h100-sxm"]})
    assert one.status_code == 200, one.text
    assert len(every.json()["options"]) > len(one.json()["options"]) >= 1


@pytest.mark.parametrize("rate", [5e-324, 1e-310, 1e-9])
def test_a_vanishing_rate_is_refused_by_its_field(api: TestClient, rate: float) -> None:
    """A subnormal rate passed > 0 and overflowed the search's cost per unit of demand to inf: "no plan", with
    reasons that had nothing to do with it. The least rate a workload may state is 1e-6 requests/s."""
    w = _chatbot()
    w["traffic"]["requests_per_s"] = rate
    w["traffic"].pop("peak_requests_per_s", None)
    r = api.post("/v1/plans", json=w)
    assert r.status_code == 422, r.text
    assert [e["field"] for e in r.json()["errors"]] == ["body.traffic.requests_per_s"]


def test_the_least_rate_still_plans(api: TestClient) -> None:
    w = _chatbot()
    w["traffic"]["requests_per_s"] = 1e-6
    w["traffic"].pop("peak_requests_per_s", None)
    r = api.post("/v1/plans", json=w)
    assert r.status_code == 200, r.text
    assert r.json()["plans"], r.json()["infeasible"]
