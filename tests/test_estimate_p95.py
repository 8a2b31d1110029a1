"""`hwplan estimate --input-p95 --output-p95` (and POST /v1/estimate's input_p95 / output_p95).

Basis: the plan itself. A plan's latencies are its replicas' under the workload's length distributions
(mean and p95); the estimate took the means alone, so it could not reproduce a plan's p99s (4-91% lower
on the examples). With the p95s, one deployment of a plan without serving features is the same
configuration at the same per-replica load, and must print the plan's TTFT and TPOT p99.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from planner.errors import InputError
from planner.search.planning import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "code-assistant.yaml"


def test_the_estimate_with_the_workloads_p95s_prints_the_plans_p99s() -> None:
    import json

    catalog = load_catalog()
    w = load_workload(EXAMPLE)
    plans = plan(w, catalog, tables=catalog_tables(catalog), top=8, explain=False).plans
    p = next(x for x in plans if len(x.deployments) == 1 and not x.features)
    d = p.deployments[0]
    t = w.traffic
    assert t.input_tokens.p95 is not None and t.output_tokens.p95 is not None
    args = ["estimate", "--model", p.model, "--hardware", d.hardware, "--tp", str(d.tp), "--pp", str(d.pp),
            "--precision", p.precision, "--kv-precision", p.kv_precision, "--runtime", p.runtime,
            "--scenario", "server", "--request-rate", str(d.requests_per_s_per_replica),
            "--input-tokens", str(round(t.input_tokens.mean)), "--output-tokens", str(round(t.output_tokens.mean)),
            "--input-p95", str(t.input_tokens.p95), "--output-p95", str(t.output_tokens.p95), "--json"]
    out = CliRunner().invoke(app, args)
    assert out.exit_code == 0, out.output
    est = json.loads(out.output)
    assert est["ttft_p99_ms"] == pytest.approx(p.predicted["ttft_ms_p99"], rel=0.01)
    assert est["tpot_p99_ms"] == pytest.approx(p.predicted["tpot_ms_p99"], rel=0.01)
    bad = CliRunner().invoke(app, [*args[:-3], "--input-p95", str(4 * t.input_tokens.mean), "--json"])
    assert isinstance(bad.exception, InputError) and bad.exception.field == "input_p95"  # (exit 2 from `hwplan`)


def test_the_api_takes_the_p95s_and_names_a_bad_one(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api import Settings, create_app

    client = TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog")))
    body = {"model": "llama-3.1-8b", "hardware": "l4", "scenario": "server", "request_rate": 1.0,
            "input_tokens": 600, "output_tokens": 200}
    at_mean = client.post("/v1/estimate", json=body).json()
    spread = client.post("/v1/estimate", json={**body, "input_p95": 2000.0, "output_p95": 600.0}).json()
    assert spread["ttft_p99_ms"] > at_mean["ttft_p99_ms"] and spread["tpot_p99_ms"] > at_mean["tpot_p99_ms"]
    bad = client.post("/v1/estimate", json={**body, "output_p95": 100.0})
    assert bad.status_code == 422 and "output_p95" in bad.text
