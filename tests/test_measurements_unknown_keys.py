"""A measurements file that states more than the format reads (hardware_catalog.inputs.measurements).

A later round's extraction may add a percentile, a source note or a top-level tag. Such a key is left
out with a note and the record is predicted as if it were absent (basis: the same record without the
key, predicted alongside); a key that resembles a field the record does not state is a misspelling and
an error naming both; the blocks a prediction depends on (slo) stay strict; the service still rejects
unknown fields.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from fastapi.testclient import TestClient

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import predict_calibrated, prepare
from planner.model.grid import CatalogTables

SHIPPED = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
SERVER_ID = "mlperf-v5.1-nvidia-b200-sxm-180gbx8-trt-llama2-70b-99-server"


def _server_record() -> dict[str, Any]:
    data = yaml.safe_load(SHIPPED.read_text())
    return copy.deepcopy(next(r for r in data["measurements"] if r["id"] == SERVER_ID))


def _write(tmp_path: Path, records: list[dict[str, Any]]) -> Path:
    path = tmp_path / "later.yaml"
    path.write_text(yaml.safe_dump({"measurements": records}, sort_keys=False))
    return path


def _with(record: dict[str, Any], rid: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``record`` under id ``rid`` with dotted keys set (block.key) or, for None values, removed."""
    out = copy.deepcopy(record)
    out["id"] = rid
    for dotted, value in changes.items():
        *path, key = dotted.split(".")
        part = out
        for p in path:
            part = part[p]
        if value is None:
            part.pop(key, None)
        else:
            part[key] = value
    return out


EXTRA = {"notes": "a tag the format does not have", "observed.ttft_p95_ms": 400.0,
         "observed.e2e_p50_ms": 30000.0, "lengths.output_source": "a later extraction", "lengths.input_p90": 1200}


def test_unknown_keys_are_left_out_and_change_no_prediction(tmp_path: Path) -> None:
    plain = _server_record()
    extended = _with(plain, "extended", **EXTRA)
    read = read_measurements(_write(tmp_path, [_with(plain, "plain"), extended]))
    assert read.bad == ()
    assert sorted(b.field for b in read.ignored if b.id == "extended") == sorted(EXTRA)
    assert all(b.id == "extended" for b in read.ignored)
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, list(read.records))
    assert not skipped and [m.id for m in rs.records] == ["plain", "extended"]
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    np.testing.assert_array_equal(predicted[0], predicted[1])  # the same prediction as without the keys
    np.testing.assert_array_equal(rs.observed[0], rs.observed[1])


@pytest.mark.parametrize(("change", "field", "meant"), [
    ({"kv_precison": "fp8", "kv_precision": None}, "kv_precison", "kv_precision"),
    ({"lengths.input_mena": 222.33, "lengths.input_mean": None}, "lengths.input_mena", "lengths.input_mean"),
    ({"request_rte": 363.8, "request_rate": None}, "request_rte", "request_rate"),
])
def test_a_misspelt_field_is_an_error_naming_both(tmp_path: Path, change: dict[str, Any], field: str,
                                                  meant: str) -> None:
    good = _server_record()
    read = read_measurements(_write(tmp_path, [_with(good, "misspelt", **change), _with(good, "good")]))
    assert [m.id for m in read.records] == ["good"]  # the other record still loads
    (bad,) = read.bad
    assert (bad.id, bad.field) == ("misspelt", field)
    assert f"did you mean {meant}?" in bad.reason
    assert read.ignored == ()


def test_the_slo_block_stays_strict(tmp_path: Path) -> None:
    """A limit the reader left out would raise the capacity predicted against the record's SLO."""
    read = read_measurements(_write(tmp_path, [_with(_server_record(), "extra-limit", **{"slo.ttft_p90_ms": 900.0})]))
    assert read.records == ()
    (bad,) = read.bad
    assert bad.field == "slo.ttft_p90_ms" and bad.reason == "unknown field"


def test_validate_json_lists_what_it_left_out(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from cli.main import app

    path = _write(tmp_path, [_with(_server_record(), "extended", **{"observed.ttft_p95_ms": 400.0})])
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load(result.output)
    assert [r["id"] for r in doc["records"]] == ["extended"]
    assert doc["ignored"] == [{"id": "extended", "field": "observed.ttft_p95_ms",
                               "reason": "observed.ttft_p95_ms: not a field of the measurements format: left out"}]
    table = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "200"})
    assert "ignored extended: observed.ttft_p95_ms" in table.output
    # this record is past the model's capacity at its rate: its TTFT is the JSON's null, a dash explained once
    assert doc["records"][0]["predicted"]["ttft_p99_ms"] is None
    assert "None" not in table.output and table.output.count("no steady state at the record's rate") == 1


def test_the_service_still_rejects_unknown_fields() -> None:
    from api import create_app

    record = _with(_server_record(), "extended", **{"observed.ttft_p95_ms": 400.0})
    with TestClient(create_app()) as client:
        response = client.post("/v1/validate", json={"measurements": [record]})
    assert response.status_code == 422
    assert "ttft_p95_ms" in response.text
