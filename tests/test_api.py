"""The REST service (api/): every route through TestClient, auth, ETags, atomic and validated
catalog writes, history/rollback, concurrency, problem+json bodies, and the CLI's --server."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api import Settings, create_app
from hardware_catalog import default_catalog_dir, load_catalog

KEY = "test-key-1234"
AUTH = {"Authorization": f"Bearer {KEY}"}
WORKLOAD: dict[str, Any] = {  # constrained so one plan takes well under a second
    "name": "chat", "traffic": {"requests_per_s": 5, "input_tokens": {"mean": 512},
                                "output_tokens": {"mean": 128}},
    "slo": {"ttft_ms": {"p99": 2000}},
    "constraints": {"models": ["llama-3.1-8b"], "hardware": ["h100-sxm", "l40s"], "precisions": ["bf16"],
                    "runtimes": ["vllm"]},
}
MEASUREMENT = {"id": "m1", "model": "llama-3.1-8b", "hardware": "h100-sxm", "chips": 1,
               "weight_precision": "bf16", "runtime": "vllm", "scenario": "static_batch",
               "input_tokens": 512, "output_tokens": 128, "batch": 1, "observed": {"tpot_ms": 8.0}}


@pytest.fixture(scope="session")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A catalog directory initialised once; tests copy it."""
    directory = tmp_path_factory.mktemp("pristine") / "catalog"
    shutil.copytree(default_catalog_dir(), directory)
    return directory


def _client(directory: Path, **settings: Any) -> TestClient:
    app = create_app(Settings(catalog_dir=directory, **settings))
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def ro(pristine: Path, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    """A shared client for tests that do not write."""
    directory = tmp_path_factory.mktemp("ro") / "catalog"
    shutil.copytree(pristine, directory)
    return _client(directory, api_key=KEY)


@pytest.fixture
def cat_dir(pristine: Path, tmp_path: Path) -> Path:
    directory = tmp_path / "catalog"
    shutil.copytree(pristine, directory)
    return directory


@pytest.fixture
def rw(cat_dir: Path) -> TestClient:
    return _client(cat_dir, api_key=KEY)


def files(directory: Path) -> dict[str, bytes]:
    """Every catalog file's bytes (the service's own dot-files excluded)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def is_problem(r: Any, status: int, field: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert field in [e["field"] for e in body["errors"]], body
    return body


def hw(client: TestClient, hid: str = "l40s") -> tuple[dict[str, Any], str]:
    r = client.get(f"/v1/catalog/hardware/{hid}")
    assert r.status_code == 200
    return r.json(), r.headers["etag"]


# -- health, metrics, reads ---------------------------------------------------------------------

def test_health_and_ready(ro: TestClient) -> None:
    assert ro.get("/healthz").json() == {"status": "ok"}
    ready = ro.get("/readyz").json()
    assert ready["status"] == "ready" and ready["hardware"] >= 30 and len(ready["catalog_version"]) == 16
    for path in ("/healthz", "/readyz"):  # a probe that sends HEAD reads the status alone (it was 405)
        head = ro.head(path)
        assert head.status_code == 200 and head.content == b"", (path, head.status_code)


def test_empty_dir_is_initialised_from_the_shipped_catalog(tmp_path: Path) -> None:
    client = _client(tmp_path / "new")
    assert files(tmp_path / "new") == files(default_catalog_dir())
    assert client.get("/readyz").status_code == 200


@pytest.mark.parametrize("kind", ["hardware", "models", "runtimes", "precisions"])
def test_catalog_lists_and_entries(ro: TestClient, kind: str) -> None:
    items = ro.get(f"/v1/catalog/{kind}").json()
    assert len(items) >= 4
    one = ro.get(f"/v1/catalog/{kind}/{items[0]['id']}")
    assert one.status_code == 200 and one.json() == items[0]
    assert one.headers["etag"].startswith('"') and one.headers["x-catalog-version"]
    is_problem(ro.get(f"/v1/catalog/{kind}/no-such-thing"), 404, "path.entry_id")


def test_entry_is_the_file_content(ro: TestClient) -> None:
    data, _ = hw(ro, "l40s")
    assert data == yaml.safe_load((default_catalog_dir() / "hardware" / "l40s.yaml").read_text())


def test_bad_path_id_and_unknown_route(ro: TestClient) -> None:
    is_problem(ro.get("/v1/catalog/hardware/UPPER"), 422, "path.entry_id")
    is_problem(ro.get("/v1/nothing"), 404)


def test_metrics_in_prometheus_format(ro: TestClient) -> None:
    ro.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm"})
    ro.post("/v1/plans", json=WORKLOAD)
    text = ro.get("/metrics").text
    assert 'hwplan_http_requests_total{method="POST",route="/v1/estimate",status="200"}' in text
    assert 'hwplan_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/estimate"}' in text
    assert "hwplan_plans_total" in text and "hwplan_plan_search_seconds_count" in text


# -- estimate, plans, validate ------------------------------------------------------------------

def test_estimate_matches_the_cli(ro: TestClient, hwplan: Callable[..., tuple[int, str, str]]) -> None:
    import json

    r = ro.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm", "batch": 8})
    assert r.status_code == 200
    code, out, _ = hwplan("estimate", "--model", "llama-3.1-8b", "--hardware", "h100-sxm", "--batch", "8",
                          "--json")
    local, remote = json.loads(out), r.json()
    local["efficiency"].pop("source"), remote["efficiency"].pop("source")  # names the catalog file
    assert code == 0 and local == remote


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "colour": "red"}, "body.colour"),
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "batch": -4}, "body.batch"),
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "tp": "two"}, "body.tp"),
    ({"hardware": "h100-sxm"}, "body.model"),
    ({"model": "no-such-model", "hardware": "h100-sxm"}, "body.model"),
    ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "tp": 3, "chips": 4}, "body.chips"),
])
def test_estimate_errors_name_the_field(ro: TestClient, body: dict[str, Any], field: str) -> None:
    is_problem(ro.post("/v1/estimate", json=body), 422, field)


def test_plans_and_cache(ro: TestClient) -> None:
    r = ro.post("/v1/plans", json=WORKLOAD, params={"top": 2, "time_limit_s": 5})
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["workload"] == "chat" and 1 <= len(data["plans"]) <= 2
    assert {d["hardware"] for p in data["plans"] for d in p["deployments"]} <= {"h100-sxm", "l40s"}
    again = ro.post("/v1/plans", json=WORKLOAD, params={"top": 2, "time_limit_s": 5})
    assert again.headers["x-plan-cache"] == "hit" and again.json() == data


@pytest.mark.parametrize(("change", "params", "field"), [
    ({}, {"top": 30}, "query.top"),  # over max_top (20)
    ({}, {"time_limit_s": 100}, "query.time_limit_s"),  # over max_solver_time_limit_s (30)
    ({"constraints": {"max_chips_per_replica": 128}}, {}, "body.constraints.max_chips_per_replica"),
    ({"constraints": {"models": ["nope"]}}, {}, "body.constraints.models.0"),
    ({"traffic": {"requests_per_s": -1, "input_tokens": {"mean": 1}, "output_tokens": {"mean": 1}}}, {},
     "body.traffic.requests_per_s"),
    ({"budget": {"max_cost_per_month": "lots"}}, {}, "body.budget.max_cost_per_month"),
    ({"extra": 1}, {}, "body.extra"),
])
def test_plan_limits_and_errors(ro: TestClient, change: dict[str, Any], params: dict[str, Any],
                                field: str) -> None:
    is_problem(ro.post("/v1/plans", json={**WORKLOAD, **change}, params=params), 422, field)


def test_an_inline_sheet_repeating_an_offer_names_its_place_in_the_body(ro: TestClient) -> None:
    """A new user's case: the 422 named body.offers.1, a field the request does not have."""
    offer = {"hardware": "l40s", "provider": "ours", "market": "neocloud", "mode": "on_demand",
             "usd_per_chip_hour": 1.5, "region": "us-east-1", "as_of": "2026-11-01", "source": "our own quote"}
    pricing = {"mode": "on_demand", "sheet": {"offers": [offer, dict(offer)]}}
    body = {**WORKLOAD, "constraints": {**WORKLOAD["constraints"], "pricing": pricing}}
    problem = is_problem(ro.post("/v1/plans", json=body), 422, "body.constraints.pricing.sheet.offers.1")
    assert "--add" not in problem["detail"]
    # the estimate's sheet alike (a review: it still answered body.offers.1)
    estimate = {"model": "llama-3.1-8b", "hardware": "l40s", "prices": {"offers": [offer, dict(offer)]}}
    is_problem(ro.post("/v1/estimate", json=estimate), 422, "body.prices.offers.1")


def test_a_model_alias_points_at_its_entry(ro: TestClient) -> None:
    """`hwplan catalog show llama-3.1-8b-instruct` resolves the alias; the service's entry read (the file, with its
    ETag) says which entry the alias names rather than a bare 404."""
    problem = is_problem(ro.get("/v1/catalog/models/llama-3.1-8b-instruct"), 404, "path.entry_id")
    assert "an alias of 'llama-3.1-8b'" in problem["detail"]


def test_validate(ro: TestClient) -> None:
    r = ro.post("/v1/validate", json={"measurements": [MEASUREMENT, MEASUREMENT]})
    assert r.status_code == 200, r.text
    data = r.json()
    assert [rec["id"] for rec in data["records"]] == ["m1"]
    assert data["summary"]["tpot_ms"]["n"] == 1
    # which one was kept (it said only "duplicate id")
    assert data["skipped"][0]["reason"].endswith("duplicate id: record 2 left out, record 1 (the first with it) kept")
    bad = {k: v for k, v in MEASUREMENT.items() if k != "batch"}
    is_problem(ro.post("/v1/validate", json={"measurements": [bad]}), 422, "body.measurements.0")


def test_body_size_limit(cat_dir: Path) -> None:
    client = _client(cat_dir, max_body_bytes=2048)
    r = client.post("/v1/validate", json={"measurements": [MEASUREMENT] * 50})
    is_problem(r, 413)


# -- auth ----------------------------------------------------------------------------------------

def test_no_key_configured_reads_work_writes_refused(cat_dir: Path) -> None:
    client = _client(cat_dir)
    data, etag = hw(client)
    before = files(cat_dir)
    is_problem(client.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag}), 403)
    is_problem(client.delete("/v1/catalog/hardware/l40s", headers={**AUTH, "If-Match": etag}), 403)
    is_problem(client.post("/v1/catalog/rollback", json={"seq": 1}, headers=AUTH), 403)
    assert files(cat_dir) == before


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic eA=="}])
def test_missing_or_wrong_key_is_401(rw: TestClient, cat_dir: Path, headers: dict[str, str]) -> None:
    data, etag = hw(rw)
    before = files(cat_dir)
    r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**headers, "If-Match": etag})
    is_problem(r, 401)
    assert r.headers["www-authenticate"] == "Bearer"
    assert files(cat_dir) == before


# -- conditional, validated, atomic writes ---------------------------------------------------------

def test_put_needs_if_match_and_rejects_stale(rw: TestClient, cat_dir: Path) -> None:
    data, etag = hw(rw)
    before = files(cat_dir)
    is_problem(rw.put("/v1/catalog/hardware/l40s", json=data, headers=AUTH), 428)
    is_problem(rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": '"stale"'}), 412)
    assert files(cat_dir) == before
    data["tdp_w"] = 2.5  # any field (prices live in prices/ since issue #14)
    r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag})
    assert r.status_code == 200 and r.json() == data and r.headers["etag"] != etag
    assert hw(rw) == (data, r.headers["etag"])  # the next request sees the new version
    assert yaml.safe_load((cat_dir / "hardware" / "l40s.yaml").read_text()) == data
    is_problem(rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag}), 412)


def test_put_of_the_entry_as_it_is_changes_nothing(rw: TestClient, cat_dir: Path) -> None:
    """A PUT of what GET gave (the shipped file, never written by the service) keeps the file's bytes, its
    ETag and the catalog version: before, the rewrite (with the service's header) made every other client's
    If-Match stale, started a new catalog version (its capacity answers and cache entry built again) and
    logged a change that changed nothing."""
    data, etag = hw(rw)
    before, version = files(cat_dir), rw.get("/readyz").json()["catalog_version"]
    r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] == etag and r.json() == data
    assert files(cat_dir) == before and rw.get("/readyz").json()["catalog_version"] == version
    assert rw.get("/v1/catalog/history").json()["entries"] == []
    assert hw(rw) == (data, etag)  # the tag other clients hold still matches
    data["tdp_w"] = 351.0  # a real change is written as before
    r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag})
    assert r.status_code == 200 and r.headers["etag"] != etag and files(cat_dir) != before


@pytest.mark.parametrize(("edit", "field"), [
    ({"colour": "red"}, "body.colour"),
    ({"memory_gb": -80}, "body.memory_gb"),
    ({"chips_per_node": "eight"}, "body.chips_per_node"),
    ({"id": "h100-pcie"}, "body.id"),
    ({"runtimes": ["no-such-runtime"], "default_runtime": "no-such-runtime"}, "body.runtimes.0"),
])
def test_rejected_put_changes_nothing(rw: TestClient, cat_dir: Path, edit: dict[str, Any],
                                      field: str) -> None:
    data, etag = hw(rw)
    before = files(cat_dir)
    is_problem(rw.put("/v1/catalog/hardware/l40s", json={**data, **edit}, headers={**AUTH, "If-Match": etag}),
               422, field)
    assert files(cat_dir) == before
    assert rw.get("/v1/catalog/history").json()["entries"] == []


def test_create_model_then_delete(rw: TestClient, cat_dir: Path) -> None:
    model = rw.get("/v1/catalog/models/llama-3.1-8b").json()
    new = {**model, "id": "my-llama", "name": "My Llama", "aliases": []}
    is_problem(rw.put("/v1/catalog/models/my-llama", json=new, headers=AUTH), 428)
    r = rw.put("/v1/catalog/models/my-llama", json=new, headers={**AUTH, "If-None-Match": "*"})
    assert r.status_code == 201
    is_problem(rw.put("/v1/catalog/models/my-llama", json=new, headers={**AUTH, "If-None-Match": "*"}), 412)
    est = rw.post("/v1/estimate", json={"model": "my-llama", "hardware": "h100-sxm"})
    assert est.status_code == 200
    is_problem(rw.delete("/v1/catalog/models/my-llama", headers=AUTH), 428)
    gone = rw.delete("/v1/catalog/models/my-llama", headers={**AUTH, "If-Match": r.headers["etag"]})
    assert gone.status_code == 204
    is_problem(rw.get("/v1/catalog/models/my-llama"), 404)
    assert not (cat_dir / "models" / "my-llama.yaml").exists()


def test_delete_that_breaks_the_catalog_is_refused(rw: TestClient, cat_dir: Path) -> None:
    calibrated = yaml.safe_load((cat_dir / "calibration.yaml").read_text())["entries"][0]["hardware"]
    _, etag = hw(rw, calibrated)
    before = files(cat_dir)
    r = rw.delete(f"/v1/catalog/hardware/{calibrated}", headers={**AUTH, "If-Match": etag})
    body = is_problem(r, 422)
    assert "calibration.yaml" in body["detail"] and "hwplan-candidate" not in body["detail"]
    assert files(cat_dir) == before


def test_new_version_on_next_request_and_inflight_keeps_its_own(rw: TestClient) -> None:
    store = rw.app.state.store  # type: ignore[attr-defined]
    inflight = store.snapshot()
    est = {"model": "llama-3.1-8b", "hardware": "l40s"}
    tpot = rw.post("/v1/estimate", json=est).json()["tpot_ms"]
    data, etag = hw(rw)
    bandwidth = data["memory_bandwidth_gb_s"]
    data["memory_bandwidth_gb_s"] = bandwidth / 2  # prices live in prices/ since issue #14: edit a speed
    r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag})
    assert r.status_code == 200
    assert rw.post("/v1/estimate", json=est).json()["tpot_ms"] > tpot
    # the old object is untouched
    assert inflight.catalog.hardware["l40s"].memory_bandwidth_bytes_per_s == bandwidth * 1e9
    assert store.snapshot() is not inflight


def test_history_and_rollback(rw: TestClient, cat_dir: Path) -> None:
    original = (cat_dir / "hardware" / "l40s.yaml").read_bytes()
    data, etag = hw(rw)
    for watts in (3.0, 4.0):
        data["tdp_w"] = watts
        r = rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag})
        etag = r.headers["etag"]
    entries = rw.get("/v1/catalog/history").json()["entries"]
    assert [e["seq"] for e in entries] == [2, 1]
    assert entries[1]["previous"] == original.decode() and entries[0]["action"] == "put"
    assert KEY not in str(entries) and entries[0]["key_name"] == "default"
    is_problem(rw.post("/v1/catalog/rollback", json={"seq": 1}), 401)
    is_problem(rw.post("/v1/catalog/rollback", json={"seq": 1}, headers=AUTH), 409, "body.seq")
    is_problem(rw.post("/v1/catalog/rollback", json={"seq": 99}, headers=AUTH), 404, "body.seq")
    is_problem(rw.post("/v1/catalog/rollback", json={"seq": 0}, headers=AUTH), 422, "body.seq")
    for seq in (2, 1):
        assert rw.post("/v1/catalog/rollback", json={"seq": seq}, headers=AUTH).status_code == 200
    assert (cat_dir / "hardware" / "l40s.yaml").read_bytes() == original  # byte for byte
    assert hw(rw)[1] == rw.get("/v1/catalog/history").json()["entries"][0]["etag_after"]


def test_32_concurrent_puts_with_one_etag(rw: TestClient, cat_dir: Path) -> None:
    data, etag = hw(rw)
    statuses: list[int] = []
    barrier = threading.Barrier(32)

    def put(i: int) -> None:
        body = {**data, "tdp_w": 1.0 + i}
        barrier.wait()
        r = rw.put("/v1/catalog/hardware/l40s", json=body, headers={**AUTH, "If-Match": etag})
        statuses.append(r.status_code)

    threads = [threading.Thread(target=put, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] + [412] * 31
    load_catalog(cat_dir)  # still valid
    assert len(rw.get("/v1/catalog/history").json()["entries"]) == 1


def test_write_killed_midway_leaves_the_old_file(rw: TestClient, cat_dir: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    data, etag = hw(rw)
    before = files(cat_dir)
    written: list[bytes] = []

    def dies_before_rename(src: str, dst: str) -> None:
        written.append(Path(src).read_bytes())  # the temp file was fully written and fsynced
        raise OSError("killed")

    monkeypatch.setattr("api.files.os.replace", dies_before_rename)
    data["tdp_w"] = 9.0
    is_problem(rw.put("/v1/catalog/hardware/l40s", json=data, headers={**AUTH, "If-Match": etag}), 500)
    assert written and b"9.0" in written[0]
    assert files(cat_dir) == before and not list(cat_dir.rglob("*.tmp"))
    assert rw.get("/v1/catalog/history").json()["entries"] == []
    monkeypatch.undo()
    assert hw(rw) == (yaml.safe_load(before["hardware/l40s.yaml"]), etag)


def test_temp_file_left_by_a_hard_kill_is_ignored(cat_dir: Path) -> None:
    (cat_dir / "hardware" / ".l40s.yaml.abc123.tmp").write_text("id: l40s\nname: [broken")
    assert load_catalog(cat_dir).version
    client = _client(cat_dir, api_key=KEY)
    assert len(client.get("/v1/catalog/hardware").json()) == len(list((cat_dir / "hardware").glob("*.yaml")))


# -- the CLI as a client --------------------------------------------------------------------------

@pytest.fixture
def via_server(ro: TestClient, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def post(url: str, **kwargs: Any) -> Any:
        kwargs.pop("timeout")
        return ro.post(url.removeprefix("http://svc"), **kwargs)

    monkeypatch.setattr("httpx.post", post)  # cli.commands.serve_cmd imports httpx when it calls
    yield


def test_cli_server_option(via_server: None, hwplan: Callable[..., tuple[int, str, str]],
                           tmp_path: Path) -> None:
    import json

    args = ("estimate", "--model", "llama-3.1-8b", "--hardware", "l40s", "--json")
    remote, local = json.loads(hwplan(*args, "--server", "http://svc")[1]), json.loads(hwplan(*args)[1])
    remote["efficiency"].pop("source"), local["efficiency"].pop("source")  # names the catalog file
    assert remote == local
    workload = tmp_path / "w.yaml"
    workload.write_text(yaml.safe_dump(WORKLOAD))
    code, out, _ = hwplan("plan", str(workload), "--server", "http://svc", "--json", "--top", "2")
    assert code == 0 and json.loads(out)["plans"]
    code, _, err = hwplan("estimate", "--model", "nope", "--hardware", "l40s", "--server", "http://svc")
    assert code == 2 and "422" in err and "unknown model id" in err


def test_finetune_matches_the_cli(ro: TestClient, hwplan: Callable[..., tuple[int, str, str]]) -> None:
    import json

    body = {"model": "llama-2-70b", "method": "qlora", "dataset_tokens": 15_840_000, "hardware": ["l40s"]}
    r = ro.post("/v1/finetune", json=body)
    assert r.status_code == 200, r.text
    code, out, _ = hwplan("finetune", "--model", "llama-2-70b", "--method", "qlora", "--dataset-tokens",
                          "15840000", "--hardware", "l40s", "--json")
    assert code == 0 and json.loads(out) == r.json()
    option = r.json()["options"][0]
    assert option["hardware"] == "l40s" and option["fits"] and option["memory_per_chip_gb"] < 48


@pytest.mark.parametrize(("body", "field"), [
    ({"model": "llama-2-70b", "method": "sft", "dataset_tokens": 1e6}, "body.method"),
    ({"model": "llama-2-70b", "method": "lora", "dataset_tokens": -5}, "body.dataset_tokens"),
    ({"model": "llama-2-70b", "method": "lora", "dataset_tokens": 1e6, "hardware": ["nope"]}, "body.hardware.0"),
    ({"model": "nope", "method": "lora", "dataset_tokens": 1e6}, "body.model"),
])
def test_finetune_errors_name_the_field(ro: TestClient, body: dict[str, Any], field: str) -> None:
    is_problem(ro.post("/v1/finetune", json=body), 422, field)
