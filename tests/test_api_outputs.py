"""The typed output boundary in the REST service: every 2xx JSON body has a named component schema
in /openapi.json, the output schemas reject keys they do not declare (at every level), and real
responses of the planning routes validate against them."""

from __future__ import annotations

from typing import Any

import jsonschema_rs  # the validator schemathesis uses
import pytest
from fastapi.testclient import TestClient

from api import Settings, create_app
from hardware_catalog import outputs

BODIES = {
    "/v1/estimate": {"model": "llama-3.1-8b", "hardware": "l40s", "scenario": "server", "request_rate": 1},
    "/v1/finetune": {"model": "llama-3.1-8b", "method": "lora", "dataset_tokens": 1e7, "hardware": ["l40s"]},
    "/v1/validate": {"measurements": [{
        "id": "t1", "hardware": "h100-sxm", "model": "llama-3.1-8b", "runtime": "vllm", "weight_precision": "bf16",
        "scenario": "static_batch", "batch": 1, "input_tokens": 128, "output_tokens": 128, "chips": 1,
        "observed": {"tpot_ms": 8.0}}]},
}


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    directory = tmp_path_factory.mktemp("catalog")  # never the user's ~/.hwplan
    return TestClient(create_app(Settings(catalog_dir=directory, plan_cache_size=0)))


@pytest.fixture(scope="module")
def spec(client: TestClient) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/openapi.json").json()
    return data


def _validator(spec: dict[str, Any], name: str) -> Any:
    """A validator for one component, its references resolved against the whole document."""
    return jsonschema_rs.validator_for({"$ref": f"#/components/schemas/{name}", "components": spec["components"]})


def test_every_2xx_json_body_has_a_named_schema(spec: dict[str, Any]) -> None:
    bodies = 0
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            for code, response in op["responses"].items():
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if not code.startswith("2") or schema is None:
                    continue
                bodies += 1
                named = schema.get("$ref") or schema.get("items", {}).get("$ref")  # lists: of named entries
                assert named and named.startswith("#/components/schemas/"), (method, path, code, schema)
    assert bodies >= 20


@pytest.mark.parametrize("name", ["PlanResultOut", "EstimateOut", "FinetuneOut", "ValidationOut"])
def test_output_schemas_forbid_undeclared_keys(spec: dict[str, Any], name: str) -> None:
    """Every object schema reachable from an output component closes its properties."""
    components = spec["components"]["schemas"]
    seen: set[str] = set()
    todo = [name]
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        schema = components[current]
        if schema.get("type") == "object" and "properties" in schema:
            assert schema.get("additionalProperties") is False, current
        text = repr(schema)
        todo += [ref.split("'")[0] for ref in text.split("#/components/schemas/")[1:]]
    assert len(seen) > 1 or name == "EstimateOut"


@pytest.mark.parametrize("path", list(BODIES))
def test_responses_match_their_schema_and_an_extra_key_does_not(client: TestClient, spec: dict[str, Any],
                                                                 path: str) -> None:
    r = client.post(path, json=BODIES[path])
    assert r.status_code == 200, r.text
    ref = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    validator = _validator(spec, ref.rsplit("/", 1)[1])
    doc = r.json()
    validator.validate(doc)
    assert not validator.is_valid({**doc, "unexpected": 1})
    nested = next(k for k, v in doc.items() if isinstance(v, dict) and v)  # one level down too
    assert not validator.is_valid({**doc, nested: {**doc[nested], "unexpected": 1}})


def test_plan_response_and_its_lever_report_match_the_schema(client: TestClient, spec: dict[str, Any]) -> None:
    workload = client.get("/v1/examples/support-chatbot").json()
    r = client.post("/v1/plans", json=workload, params={"top": 2, "levers": "true", "time_limit_s": 20})
    assert r.status_code == 200, r.text
    doc = r.json()
    validator = _validator(spec, "PlanResultOut")
    validator.validate(doc)
    assert doc["plans"] and doc["levers"]
    plan = {**doc["plans"][0], "predicted": {**doc["plans"][0]["predicted"], "ttft_ms_p42": 1.0}}
    assert not validator.is_valid({**doc, "plans": [plan]})


def test_an_output_model_cannot_carry_an_undeclared_key() -> None:
    with pytest.raises(ValueError, match="extra"):
        outputs.SummaryOut.model_validate({"n": 1, "median_ape": 0.1, "p90_ape": 0.2, "within_25pct": 1.0,
                                           "mean_ape": 0.1})
