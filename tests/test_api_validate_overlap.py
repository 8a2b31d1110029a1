"""POST /v1/validate predicts with the catalog's calibrated serving overlaps, as `hwplan validate` does.

Basis: the CLI's own prediction of the same record on the same catalog (the two front doors must
agree), and the roofline prediction, which a calibrated overlap below 1 must change (a server
record's iterations get longer, so its SLO capacity falls). The route once called ``predict``
without the calibration's overlaps and answered at the roofline whatever the catalog said.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from api import Settings, create_app
from cli.main import main
from hardware_catalog import default_catalog_dir

RECORD_ID = "mlperf-v4.1-amd-1xmi300x-2xepyc-9374f-llama2-70b-99-server"


def _record() -> dict[str, Any]:
    path = default_catalog_dir() / "measurements" / "mlperf.yaml"
    records = yaml.safe_load(path.read_text())["measurements"]
    return next(r for r in records if r["id"] == RECORD_ID)


def _catalog(tmp_path: Path, overlap: float | None) -> Path:
    directory = tmp_path / f"catalog-{overlap}"
    shutil.copytree(default_catalog_dir(), directory)
    if overlap is not None:
        calibration = directory / "calibration.yaml"
        data = yaml.safe_load(calibration.read_text())
        data["serving_overlap_runtime"] = {"vllm": overlap}
        calibration.write_text(yaml.safe_dump(data, sort_keys=False))
    return directory


def _api(directory: Path, record: dict[str, Any]) -> dict[str, Any]:
    client = TestClient(create_app(Settings(catalog_dir=directory)), raise_server_exceptions=False)
    r = client.post("/v1/validate", json={"measurements": [record]})
    assert r.status_code == 200, r.text
    (out,) = r.json()["records"]
    return dict(out["predicted"])


def _cli(directory: Path, record: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    file = tmp_path / "one.yaml"
    file.write_text(yaml.safe_dump({"measurements": [record]}, sort_keys=False))
    capsys.readouterr()
    main(["validate", str(file), "--catalog", str(directory), "--json"])
    (out,) = json.loads(capsys.readouterr().out)["records"]
    return dict(out["predicted"])


def test_api_validate_uses_the_runtime_overlap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record = _record()
    assert record["runtime"] == "vllm" and record["scenario"] == "server"
    calibrated = _catalog(tmp_path, 0.3)
    api = _api(calibrated, record)
    assert api == _cli(calibrated, record, tmp_path, capsys)
    roofline = _api(_catalog(tmp_path, None), record)
    key = "slo_capacity_requests_per_s"
    assert api[key] < roofline[key], (api[key], roofline[key])
