"""`hwplan estimate --input-p95 --output-p95` (and POST /v1/estimate's input_p95 / output_p95).

Basis: the plan itself. A plan's latencies are its replicas' under the workload's length distributions
(mean and p95); the estimate took the means alone, so it could not reproduce a plan's p99s (4-91% lower
on the examples). With the p95s, one deployment of a plan without serving features is the same
configuration at the same per-replica load, and must print the plan's TTFT and TPOT p99.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from planner.errors import InputError
from planner.search.planning import plan
from planner.search.results import Plan
from planner.workload import Workload

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "code-assistant.yaml"


def _estimate_replica(p: Plan, w: Workload, **change: object) -> Result:
    """`hwplan estimate --json` of plan ``p``'s one deployment at its per-replica load and the workload's lengths
    (``change``: options to set otherwise, by their names)."""
    d, t = p.deployments[0], w.traffic
    options = {"model": p.model, "hardware": d.hardware, "tp": d.tp, "pp": d.pp, "ep": d.ep, "precision": p.precision,
               "kv-precision": p.kv_precision, "runtime": p.runtime, "scenario": "server",
               "request-rate": d.requests_per_s_per_replica, "input-tokens": round(t.input_tokens.mean),
               "output-tokens": round(t.output_tokens.mean), "input-p95": t.input_tokens.p95,
               "output-p95": t.output_tokens.p95} | change
    return CliRunner().invoke(app, ["estimate", *(a for k, v in options.items() for a in (f"--{k}", str(v))), "--json"])


def test_the_estimate_with_the_workloads_p95s_prints_the_plans_p99s() -> None:
    import json

    catalog = load_catalog()
    w = load_workload(EXAMPLE)
    plans = plan(w, catalog, tables=catalog_tables(catalog), top=8, explain=False).plans
    p = next(x for x in plans if len(x.deployments) == 1 and not x.features)
    t = w.traffic
    assert t.input_tokens.p95 is not None and t.output_tokens.p95 is not None
    out = _estimate_replica(p, w)
    assert out.exit_code == 0, out.output
    est = json.loads(out.output)
    assert est["ttft_p99_ms"] == pytest.approx(p.predicted["ttft_ms_p99"], rel=0.01)
    assert est["tpot_p99_ms"] == pytest.approx(p.predicted["tpot_ms_p99"], rel=0.01)
    bad = _estimate_replica(p, w, **{"input-p95": 4 * t.input_tokens.mean})
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


def test_an_expert_parallel_deployment_is_estimated_as_the_plan_runs_it() -> None:
    """Basis: the plan itself. A 60k-token workload plans llama-4-scout on 8 chips as 'tp8 ep8 dp-attn8'; the
    estimate had no way to say ep, so the same chips at the same load read 'overloaded' (tensor parallel
    attention and experts) while the plan met its SLOs. With --ep the estimate is the plan's replica."""
    import json

    import yaml

    from hardware_catalog.inputs.workload import WorkloadIn, to_workload

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml").read_text())
    data["traffic"]["input_tokens"] = {"mean": 60000, "p95": 120000}
    data["budget"]["max_cost_per_month"] = 1_210_000
    # the Llama 4 MoEs at fp4 on MI355X, whose plans are EP; no quality floor: fp4 there is MXFP4, which carries no
    # quality claim (planner.levers.quality.unclaimed_on), and a floor would leave every such plan out
    data["quality"] = {}
    data["constraints"]["models"] = ["llama-4-scout", "llama-4-maverick"]
    w = to_workload(WorkloadIn.model_validate(data))
    catalog = load_catalog()
    plans = plan(w, catalog, tables=catalog_tables(catalog), top=3, explain=False).plans
    p = next(x for x in plans if len(x.deployments) == 1 and x.deployments[0].ep > 1)
    out = _estimate_replica(p, w)
    assert out.exit_code == 0, out.output
    est = json.loads(out.output)
    assert est["ep"] == p.deployments[0].ep and est["fits"]
    assert est["ttft_p99_ms"] == pytest.approx(p.predicted["ttft_ms_p99"], rel=0.01)
    assert est["tpot_p99_ms"] == pytest.approx(p.predicted["tpot_ms_p99"], rel=0.01)
    without = json.loads(_estimate_replica(p, w, ep=1).output)  # as the estimate read it
    assert without["ep"] == 1 and without.get("ttft_p99_ms") != pytest.approx(est["ttft_p99_ms"], rel=0.01)


@pytest.mark.parametrize(("change", "field"), [
    ({"ep": 4}, "ep"),  # ep must equal tp
    ({"tp": 2, "ep": 2, "chips": 2}, "ep"),  # a degree the planner never searches (8, 16, 32, 64)
    ({"pp": 2, "tp": 4, "ep": 4, "chips": 8}, "pp"),  # one pipeline stage
    ({"model": "llama-3.1-8b"}, "ep"),  # a dense model has no experts to spread
    ({"runtime": "lmdeploy", "precision": "bf16", "kv_precision": "bf16"}, "ep"),  # lists no EP / DP attention
    ({"ep": 0}, "ep"),
])
def test_an_expert_parallel_estimate_the_planner_would_not_enumerate_is_refused(change: dict[str, object],
                                                                               field: str) -> None:
    from planner.model.estimate import resolve

    request: dict[str, object] = {"model": "llama-4-scout", "hardware": "h100-sxm", "tp": 8, "ep": 8,
                                  "precision": "fp8", "runtime": "sglang", **change}
    with pytest.raises(InputError) as err:
        resolve(load_catalog(), **request)  # type: ignore[arg-type]
    assert err.value.field == field, err.value


@pytest.mark.parametrize("shape", [{"tp": 2, "ep": 2, "chips": 2}, {"tp": 8, "ep": 8, "chips": 8},
                                   {"tp": 4, "ep": 4, "pp": 2, "chips": 8}])
def test_expert_parallelism_on_a_dense_model_says_the_model_is_dense(shape: dict[str, object]) -> None:
    """`--ep 2` on a dense model was refused for its degree ("not a degree the planner searches"), pp = 2 for its
    stages: whatever the shape, the reason is that the model has no experts."""
    from planner.model.estimate import resolve

    with pytest.raises(InputError) as err:
        resolve(load_catalog(), model="llama-3.1-8b", hardware="h100-sxm", **shape)  # type: ignore[arg-type]
    assert err.value.field == "ep" and "dense model" in err.value.detail, err.value


def test_the_api_takes_ep_and_names_a_bad_one(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from api import Settings, create_app

    client = TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog")))
    body = {"model": "llama-4-scout", "hardware": "h100-sxm", "tp": 8, "precision": "fp8", "runtime": "sglang",
            "scenario": "max_throughput", "input_tokens": 2000, "output_tokens": 200}
    ep = client.post("/v1/estimate", json={**body, "ep": 8}).json()
    plain = client.post("/v1/estimate", json=body).json()
    assert ep["ep"] == 8 and plain["ep"] == 1 and ep["output_tokens_per_s"] != plain["output_tokens_per_s"]
    bad = client.post("/v1/estimate", json={**body, "ep": 4})
    assert bad.status_code in (400, 422) and "ep" in bad.text, bad.text


@pytest.mark.parametrize("scenario", ["static_batch", "max_throughput"])
def test_a_request_rate_outside_the_server_scenario_is_refused(scenario: str, tmp_path: Path) -> None:
    """A request rate was ignored outside the server scenario (its length p95s were refused): `estimate
    --request-rate 5` printed the no-load figures as if at 5 requests/s. Now both are refused, named."""
    from fastapi.testclient import TestClient

    from api import Settings, create_app

    result = CliRunner().invoke(app, ["estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm",
                                      "--scenario", scenario, "--request-rate", "5"])
    assert result.exit_code != 0 and "request_rate" in str(result.exception or result.output)
    client = TestClient(create_app(Settings(catalog_dir=tmp_path / "catalog")))
    body = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "scenario": scenario, "request_rate": 5.0}
    r = client.post("/v1/estimate", json=body)
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == ["body.request_rate"]
    assert client.post("/v1/estimate", json={**body, "request_rate": None}).status_code == 200
