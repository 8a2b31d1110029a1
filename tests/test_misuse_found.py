"""Misuse found by auditing the CLI and the service as a hostile user would (2026-12-05), each case a
clear error naming the file or field (CLI exit 2, HTTP 422), never a traceback, a 500 or a silent
"last one wins". Basis: what the input says (a key written twice, an id listed twice, a pipeline
longer than the model, a percentile target above a higher one's) against what the tool did with it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from hardware_catalog.caching.compiled import SUFFIX
from hardware_catalog.loader import default_catalog_dir, load_catalog
from planner.errors import CatalogError, InputError
from planner.model.estimate import resolve

Cli = Callable[..., tuple[int, str, str]]
ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


def _copy(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), root)
    return root


def _one_line(code: int, err: str) -> str:
    assert code == 2, err
    assert "Traceback" not in err and err.strip().count("\n") == 0, err
    return err


@pytest.mark.parametrize("missing", [("calibration.yaml",), ("quality.yaml",), ("calibration.yaml", "quality.yaml")])
def test_a_catalog_without_its_optional_files_loads_caches_and_plans(tmp_path: Path, missing: tuple[str, ...]) -> None:
    # through the compiled catalog cache, as a user's command runs (a subprocess: the in-process fixture
    # bypasses the cache), which pickles the catalog: defaults of absent files once made that a TypeError
    root = _copy(tmp_path)
    for name in missing:
        (root / name).unlink()
    env = {k: v for k, v in os.environ.items() if k != "HWPLAN_NO_CACHE"}
    env |= {"HWPLAN_CACHE_DIR": str(tmp_path / "cache"), "PYTHONPATH": str(ROOT)}
    for args in (["catalog", "validate", str(root)],
                 ["estimate", "--model", "llama-3.1-8b", "--hardware", "l40s", "--catalog", str(root), "--json"]):
        done = subprocess.run([sys.executable, "-m", "cli.main", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
    assert list((tmp_path / "cache").rglob(f"*{SUFFIX}")), "the catalog was not cached"


def test_a_key_written_twice_is_an_error_naming_the_line(tmp_path: Path, hwplan: Cli) -> None:
    root = _copy(tmp_path)
    chip = root / "hardware" / "l4.yaml"
    chip.write_text(chip.read_text(encoding="utf-8") + "memory_gb: 48\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="duplicate key 'memory_gb'"):
        load_catalog(root)
    err = _one_line(*hwplan("catalog", "validate", str(root))[::2])
    assert "l4.yaml" in err and "duplicate key 'memory_gb'" in err and re.search(r"line \d+", err)


def test_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    from hardware_catalog.files import read_yaml

    path = tmp_path / "m.yaml"
    path.write_text("base: &b {p: 1, q: 2}\nover:\n  <<: *b\n  p: 3\n", encoding="utf-8")
    assert read_yaml(path)["over"] == {"p": 3, "q": 2}


def _listed_twice(tmp_path: Path, hwplan: Cli, file: str, key: str) -> tuple[dict, str]:
    """A catalog copy whose ``file`` lists its first ``key`` entry twice: the entry, and what validate says."""
    root = _copy(tmp_path)
    path = root / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data[key].append({**data[key][0]})
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return data[key][0], _one_line(*hwplan("catalog", "validate", str(root))[::2])


@pytest.mark.parametrize(("file", "key"), [("precisions.yaml", "precisions"), ("runtimes.yaml", "runtimes")])
def test_an_id_listed_twice_is_an_error(tmp_path: Path, file: str, key: str, hwplan: Cli) -> None:
    entry, err = _listed_twice(tmp_path, hwplan, file, key)
    assert file in err and f"duplicate id {entry['id']!r}" in err


def test_a_calibration_pair_listed_twice_is_an_error(tmp_path: Path, hwplan: Cli) -> None:
    _entry, err = _listed_twice(tmp_path, hwplan, "calibration.yaml", "entries")
    assert "calibration.yaml" in err and "duplicate" in err


def test_a_quality_precision_listed_twice_is_an_error(tmp_path: Path, hwplan: Cli) -> None:
    # the later entry took the earlier's place and the format it was meant for scored as lossless
    entry, err = _listed_twice(tmp_path, hwplan, "quality.yaml", "precisions")
    assert "quality.yaml" in err and f"duplicate precision {entry['precision']!r}" in err


@pytest.mark.parametrize(("backends", "words"), [({"gpu": "no-such-runtime"}, "names no runtime"),
                                                  ({"gpu": "tensorrt-llm"}, "has backends of its own")])
def test_a_backend_that_cannot_run_the_formats_is_named(tmp_path: Path, hwplan: Cli, backends: dict[str, str],
                                                        words: str) -> None:
    root = _copy(tmp_path)
    path = root / "runtimes.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    rows = {r["id"]: r for r in data["runtimes"]}
    rows["tensorrt-llm"]["backends"] = {"gpu": "lmdeploy"}  # (a chain for the second case)
    rows["tensorrt-llm"]["sources"]["backends"] = "test"
    rows["sglang"]["backends"] = backends
    rows["sglang"]["sources"]["backends"] = "test"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    err = _one_line(*hwplan("catalog", "validate", str(root))[::2])
    assert "runtimes.yaml" in err and "runtimes.sglang.backends.gpu" in err and words in err


def test_a_file_that_is_not_utf8_is_an_error_naming_it(tmp_path: Path, hwplan: Cli) -> None:
    workload = tmp_path / "w.yaml"
    workload.write_bytes(b"\xff\xfename: x\n")
    err = _one_line(*hwplan("plan", str(workload))[::2])
    assert "w.yaml" in err and "UTF-8" in err


@pytest.mark.parametrize(("content", "words"), [("{", "not JSON"), ("[1, 2]", "not a `hwplan plan --json`"),
                                                ("{}", "workload")])
def test_export_and_compare_of_a_file_that_is_not_a_plan(tmp_path: Path, content: str, words: str,
                                                         hwplan: Cli) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(content, encoding="utf-8")
    err = _one_line(*hwplan("export", str(bad), "--format", "vllm")[::2])
    assert "PLAN" in err and words in err
    err = _one_line(*hwplan("compare", str(bad), str(bad))[::2])
    assert err.startswith("error: A: ") and words in err  # (which of the two arguments)


def test_a_percentile_target_above_a_higher_ones_is_refused(tmp_path: Path, hwplan: Cli) -> None:
    w = yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text(encoding="utf-8"))
    w["slo"] = {"ttft_ms": {"p50": 2000, "p99": 1500}}
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(w), encoding="utf-8")
    err = _one_line(*hwplan("plan", str(path))[::2])
    assert "slo.ttft_ms" in err and "p50 = 2000 is above p99 = 1500" in err


def test_more_pipeline_stages_than_layers_is_refused() -> None:
    catalog = load_catalog()
    with pytest.raises(InputError) as info:
        resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm", pp=256)
    assert info.value.field == "pp" and "32 layers" in info.value.message
    resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm", pp=32, tp=1)  # one layer a stage is fine


# -- the service ---------------------------------------------------------------------------------------
def _field(r: Any, status: int = 422) -> list[str]:
    assert r.status_code == status, r.text
    return [e["field"] for e in r.json()["errors"]]


def test_an_offset_past_sqlites_integers_is_422_not_500(api: TestClient) -> None:
    assert _field(api.get("/v1/plans", params={"offset": 2**63})) == ["query.offset"]
    assert api.get("/v1/plans", params={"offset": 2**53}).status_code == 200


OFFER = {"hardware": "h100-sxm", "provider": "internal", "market": "hyperscaler", "mode": "on_demand",
         "usd_per_chip_hour": 1.5, "region": "unspecified", "as_of": "2026-11-01", "source": "our rate card 2026"}


@pytest.mark.parametrize(("body", "field"), [
    ({"prices": {"offers": [{**OFFER, "usd_per_chip_hour": True}]}}, "body.prices.offers.0.usd_per_chip_hour"),
    ({"prices": {"offers": [{**OFFER, "usd_per_chip_hour": "1.5"}]}}, "body.prices.offers.0.usd_per_chip_hour"),
    ({"prices": {"offers": [{**OFFER, "chips_per_instance": "8"}]}}, "body.prices.offers.0.chips_per_instance"),
    ({"pricing": {"mode": "owned", "owned": {"capex_usd_per_chip": "12"}}}, "body.pricing.owned.capex_usd_per_chip"),
    ({"pricing": {"mode": "owned", "owned": {"utilisation": True}}}, "body.pricing.owned.utilisation"),
])
def test_request_numbers_are_strict_everywhere(api: TestClient, body: dict[str, Any], field: str) -> None:
    r = api.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm", **body})
    assert field in _field(r)


def test_a_fleet_quota_on_an_unknown_chip_is_422(api: TestClient) -> None:
    w = yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text(encoding="utf-8"))
    r = api.post("/v1/fleets", json={"name": "f", "months": 1, "quotas": {"nope": 3}, "workloads": [w]})
    assert _field(r) == ["body.quotas.nope"]


@pytest.mark.parametrize("content", [b'{"model": "llama-3.1-8b", "hardware": "h100-sxm", "chips": 1' + b"9" * 5000
                                     + b"}", b'{"model": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"])
def test_a_body_the_json_decoder_gives_up_on_is_422_naming_the_body(api: TestClient, content: bytes) -> None:
    r = api.post("/v1/estimate", content=content, headers={"Content-Type": "application/json"})
    assert _field(r) == ["body"]


def test_an_estimate_without_a_price_says_why(api: TestClient) -> None:
    # the catalog has H100 prices; the region filter removed them (it once said "no price ... in the catalog")
    r = api.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm",
                                       "pricing": {"regions": ["mars-1"]}})
    assert r.status_code == 200, r.text
    note = r.json()["cost_note"]
    assert "in mars-1" in note and "in the catalog" not in note


def test_a_prompt_past_the_context_window_says_so_first() -> None:
    # (it said "no room for the KV cache", true but a consequence: no chip runs a 10M-token llama-3.1-8b prompt)
    from planner.model.estimate import estimate

    catalog = load_catalog()
    e = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm"), input_tokens=10_000_000)
    assert not e.fits and e.reason is not None and e.reason.startswith("context:")


def test_a_measurement_whose_lengths_are_out_of_order_is_refused_naming_them(api: TestClient) -> None:
    record = {"id": "r1", "model": "llama-3.1-8b", "hardware": "h100-sxm", "chips": 1, "weight_precision": "bf16",
              "runtime": "vllm", "scenario": "max_throughput", "input_tokens": 512, "output_tokens": 128,
              "observed": {"output_tokens_per_s": 1000.0},
              "lengths": {"input_mean": 1e6, "input_p99": 10.0, "input_max": 1.0}}
    r = api.post("/v1/validate", json={"measurements": [record]})
    assert _field(r) == ["body.measurements.0.lengths"]
    assert "input_p99 = 10 is above input_max = 1" in r.json()["errors"][0]["message"]


def test_an_unknown_id_in_a_workload_file_names_the_file_and_field(tmp_path: Path, hwplan: Cli) -> None:
    w = yaml.safe_load((EXAMPLES / "support-chatbot.yaml").read_text(encoding="utf-8"))
    w.setdefault("constraints", {})["hardware"] = ["nochip"]
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(w), encoding="utf-8")
    err = _one_line(*hwplan("plan", str(path))[::2])
    assert f"{path}: constraints.hardware.0: unknown id 'nochip'" in err


def test_kv_heads_must_divide_heads(tmp_path: Path) -> None:
    from hardware_catalog.files import read_yaml, validate_file
    from hardware_catalog.schema import ModelFile

    data = read_yaml(default_catalog_dir() / "models" / "llama-3.1-8b.yaml")
    data["kv_heads"] = 7
    with pytest.raises(CatalogError, match=r"heads \(32\) must be a multiple of kv_heads \(7\)"):
        validate_file(ModelFile, data, file="llama-3.1-8b.yaml")


def test_an_owned_chip_at_zero_watts_or_dollars_is_refused(tmp_path: Path, hwplan: Cli) -> None:
    root = _copy(tmp_path)
    owned = root / "owned.yaml"
    data = yaml.safe_load(owned.read_text(encoding="utf-8"))
    data["chips"]["t4"]["tdp_w"]["value"] = 0  # its power would cost nothing
    owned.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    err = _one_line(*hwplan("catalog", "validate", str(root))[::2])
    assert "owned.yaml" in err and "chips.t4.tdp_w" in err and "must be above 0" in err


def test_a_body_that_is_not_json_is_415(api: TestClient) -> None:
    r = api.post("/v1/estimate", content=b'{"model": "llama-3.1-8b", "hardware": "h100-sxm"}',
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 415 and "application/json" in r.json()["detail"]
    # (the same body as JSON is answered; so is a request with no body at all)
    assert api.post("/v1/estimate", json={"model": "llama-3.1-8b", "hardware": "h100-sxm"}).status_code == 200
    assert api.get("/healthz").status_code == 200


def test_a_client_that_stops_sending_its_body_is_answered_408() -> None:
    # a slow client (Content-Length 1000, 10 bytes sent, then nothing) held its connection and the read for
    # as long as it liked; the middleware gives up after its timeout (30 s by default; 0.2 s here)
    import asyncio

    from api.telemetry import BodyLimit

    reached = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # the routes: never reached
        reached.append(scope["path"])

    async def receive() -> dict[str, Any]:
        if not sent_first:
            sent_first.append(True)
            return {"type": "http.request", "body": b'{"model": ', "more_body": True}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    sent_first: list[bool] = []
    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/plans", "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"1000")]}
    asyncio.run(asyncio.wait_for(BodyLimit(app, max_bytes=10_000, timeout_s=0.2)(scope, receive, send), 5))
    assert not reached and messages[0]["status"] == 408


def test_a_client_that_drips_its_body_is_answered_408_at_the_whole_bodys_deadline() -> None:
    # one byte every 0.15 s (an audit: a byte every 8 s got 200 after 72 s; every 29 s would hold the read for
    # days): each chunk came within the per-chunk timeout, so it never fired; the deadline is for the whole body
    import asyncio
    import time

    from api.telemetry import BodyLimit

    reached = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0.15)
        return {"type": "http.request", "body": b" ", "more_body": True}

    messages: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/plans", "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"1000")]}
    start = time.perf_counter()
    asyncio.run(asyncio.wait_for(BodyLimit(app, max_bytes=10_000, timeout_s=1.0)(scope, receive, send), 30))
    assert not reached and messages[0]["status"] == 408
    assert time.perf_counter() - start < 20  # the drip would take 150 s to send its 1,000 bytes


def test_a_nan_time_limit_is_named_as_not_a_number(api: TestClient) -> None:
    w = yaml.safe_load((EXAMPLES / "heterogeneous-mix.yaml").read_text(encoding="utf-8"))
    r = api.post("/v1/plans", json=w, params={"time_limit_s": "nan"})
    assert _field(r) == ["query.time_limit_s"] and "finite" in r.json()["errors"][0]["message"]


@pytest.mark.parametrize("where", ["hardwares/zeta.yaml", "zeta.yaml", "hardware/zeta.yml"])
def test_a_catalog_file_the_loader_would_skip_is_named(tmp_path: Path, hwplan: Cli, where: str) -> None:
    # an overlay's chip at hardwares/, at the top level or as .yml was skipped without a word ('ok: 53 hardware')
    overlay = tmp_path / "overlay"
    path = overlay / where
    path.parent.mkdir(parents=True)
    chip = (default_catalog_dir() / "hardware" / "l4.yaml").read_text(encoding="utf-8")
    path.write_text(chip.replace("id: l4", "id: zeta"), encoding="utf-8")
    err = _one_line(*hwplan("catalog", "validate", "--add", str(overlay))[::2])
    assert str(path) in err and "not read" in err


# ---------- found by the 2026-12-05 audit of the service (each names the field and the problem) ----------

def test_a_body_that_is_not_utf8_is_named_as_such(api: TestClient) -> None:
    r = api.post("/v1/estimate", content=b'{"model":"\xff\xfe"}', headers={"content-type": "application/json"})
    assert r.status_code == 422 and "not UTF-8" in r.json()["detail"]  # it said "a number too long or nesting ..."


def test_a_price_filter_on_a_chip_the_catalog_lacks_is_named(api: TestClient) -> None:
    # /v1/prices/nope was a 404 while /v1/prices?hardware=nope was a 200 with no offers: a typo read as "none"
    r = api.get("/v1/prices", params={"hardware": "nope"})
    assert _field(r) == ["query.hardware"] and r.status_code == 422
    assert api.get("/v1/prices", params={"hardware": "h100-sxm"}).json()["offers"]


@pytest.mark.parametrize(("edit", "field"), [
    ({"method": "lora", "teacher": "llama-3.1-70b"}, "body.teacher"),  # was ignored: a LoRA cost, no teacher
    ({"method": "lora", "hardware": ["h100-sxm", "l40s", "h100-sxm"]}, "body.hardware.2"),  # was the same row twice
])
def test_finetune_refuses_what_it_would_ignore_or_repeat(api: TestClient, edit: dict[str, Any], field: str) -> None:
    body = {"model": "llama-3.1-8b", "dataset_tokens": 1e8, **edit}
    assert _field(api.post("/v1/finetune", json=body)) == [field]
    ok = {k: v for k, v in body.items() if k != "teacher"} | {"hardware": ["h100-sxm", "l40s"]}
    assert api.post("/v1/finetune", json=ok).status_code == 200


def test_finetune_names_an_unknown_chip_before_a_repeat_as_the_service_does() -> None:
    from planner.levers.finetune import adaptation_options

    catalog = load_catalog()
    with pytest.raises(InputError) as err:
        adaptation_options(catalog, model=catalog.get_model("llama-3.1-8b"), method="lora", dataset_tokens=1e8,
                           hardware=("nope", "nope"))
    assert err.value.field == "hardware.0" and "nope" in str(err.value)  # (it said hardware.1 is listed twice)


def test_an_export_names_what_a_saved_plan_lacks() -> None:
    """A saved plan outlives catalog edits: its chip deleted since, the export said field 'query.hardware',
    not a parameter; a result cut short by its time limit said 'no plan met every constraint'."""
    from dataclasses import replace

    from hardware_catalog.export import ExportError, export
    from hardware_catalog.inputs.workload import load_workload
    from hardware_catalog.outputs import plan_result_out
    from planner.search.planning import plan as plan_workload

    catalog = load_catalog()
    w = load_workload(EXAMPLES / "heterogeneous-mix.yaml")
    doc = plan_result_out(plan_workload(w, catalog, top=1, explain=False))
    gone = doc.plans[0].deployments[0].hardware
    edited = replace(catalog, hardware={k: v for k, v in catalog.hardware.items() if k != gone})
    with pytest.raises(ExportError, match=f"'{gone}' is not in this catalog") as err:
        export(doc, edited, "vllm")
    assert err.value.field == "rank"
    empty = doc.model_copy(update={"plans": [], "pareto": [],
                                   "search": doc.search.model_copy(update={"solver_status": "TIME_LIMIT"})})
    with pytest.raises(ExportError, match="ran out of its time limit"):
        export(empty, catalog, "vllm")
