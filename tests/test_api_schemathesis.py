"""Property-based run of schemathesis over the service's OpenAPI schema: every operation, bounded
examples, derandomized; no 5xx and every documented response matches its schema.

The app serves a small catalog (two chips, two models) so random plan requests stay fast, and
writes run with a valid key against that temporary catalog.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import Settings, create_app
from hardware_catalog import default_catalog_dir

KEY = "schemathesis-key"
SMALL = {"hardware": ("h100-sxm", "l40s"), "models": ("llama-3.1-8b", "qwen2.5-0.5b")}


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> schemathesis.BaseSchema:
    directory = tmp_path_factory.mktemp("schemathesis") / "catalog"
    src = default_catalog_dir()
    for sub, ids in SMALL.items():
        (directory / sub).mkdir(parents=True)
        for i in ids:
            shutil.copy(src / sub / f"{i}.yaml", directory / sub)
    for name in ("precisions.yaml", "runtimes.yaml", "owned.yaml"):
        shutil.copy(src / name, Path(directory) / name)
    (directory / "prices").mkdir()
    for i in SMALL["hardware"]:
        shutil.copy(src / "prices" / f"{i}.yaml", directory / "prices")
    app = create_app(Settings(catalog_dir=directory, api_key=KEY, solver_time_limit_s=1.0,
                              max_solver_time_limit_s=2.0, max_top=3, max_chips_per_replica=8,
                              max_hardware_types=2, plan_cache_size=0))
    return schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


def test_openapi_conformance(api_schema: schemathesis.BaseSchema) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 31  # 24 paths: saved plans also DELETE, the catalog's hardware/models PUT and DELETE
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, derandomize=True, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case: schemathesis.Case) -> None:
            case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, checks=CHECKS)

        run()


ESTIMATE = {"model": "llama-3.1-8b", "hardware": "h100-sxm", "scenario": "server", "request_rate": 1.0}


def _estimate_case(api_schema: schemathesis.BaseSchema) -> schemathesis.Case:
    operation = api_schema["/v1/estimate"]["POST"]
    return operation.Case(body=ESTIMATE, media_type="application/json")


def test_a_valid_estimate_conforms(api_schema: schemathesis.BaseSchema) -> None:
    """A known-good request, so the success body is checked whatever the random cases hit."""
    response = _estimate_case(api_schema).call_and_validate(checks=CHECKS)
    assert response.status_code == 200


def test_a_key_the_schema_lacks_fails_the_check(api_schema: schemathesis.BaseSchema,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The conformance check can fail: the route answering one undeclared key, sent as a raw
    response that skips FastAPI's own response validation, is caught by the schema check."""
    from fastapi.responses import JSONResponse

    import api.routes.estimate as route

    real = route.estimate_out
    monkeypatch.setattr(route, "estimate_out",
                        lambda e: JSONResponse({**real(e).model_dump(exclude_unset=True), "surprise": 1}))
    with pytest.raises(FailureGroup) as failure:
        _estimate_case(api_schema).call_and_validate(checks=[response_schema_conformance])
    messages = [str(e) for e in failure.value.exceptions]
    assert any("'surprise' was unexpected" in m for m in messages), messages


def test_the_model_refuses_an_undeclared_key_before_it_is_sent(api_schema: schemathesis.BaseSchema,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Returned as data, the undeclared key never leaves the app: FastAPI validates the response
    against the output model, which forbids unknown fields."""
    from fastapi.exceptions import ResponseValidationError

    import api.routes.estimate as route

    real = route.estimate_out
    monkeypatch.setattr(route, "estimate_out", lambda e: {**real(e).model_dump(exclude_unset=True), "surprise": 1})
    with pytest.raises(ResponseValidationError, match="surprise"):
        _estimate_case(api_schema).call_and_validate(checks=CHECKS)
