"""validate: arithmetic on a small hand-made file, bad records, and row independence."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, predict, prepare
from planner.calibration.validate import ape, summarise
from planner.model.grid import CatalogTables

RECORD = """
- id: {id}
  model: llama-3.1-8b
  hardware: h100-sxm
  chips: 1
  tp: 1
  pp: 1
  weight_precision: fp8
  kv_precision: fp8
  runtime: tensorrt-llm
  scenario: {scenario}
  input_tokens: {i}
  output_tokens: 128
  batch: {batch}
  request_rate: null
  observed: {{output_tokens_per_s: {tps}, ttft_ms: {ttft}}}
"""


def _write(tmp_path: Path, rows: list[dict[str, object]]) -> Path:
    path = tmp_path / "m.yaml"
    path.write_text("measurements:" + "".join(RECORD.format(**r) for r in rows), encoding="utf-8")
    return path


def test_ape_and_summary_by_hand() -> None:
    errors = ape(np.array([110.0, 80.0, 100.0, 150.0, np.nan]), np.array([100.0, 100.0, 100.0, 100.0, 50.0]))
    assert np.allclose(errors[:4], [0.10, 0.20, 0.0, 0.50])
    assert math.isinf(errors[4])  # observed but not predicted: counts as an infinite error
    s = summarise(errors[:4])
    assert s.n == 4
    assert s.median_ape == pytest.approx(0.15)  # median of 0, .1, .2, .5
    assert s.p90_ape == pytest.approx(0.2 + 0.7 * 0.3)  # numpy linear interpolation
    assert s.within_25pct == pytest.approx(0.75)


def test_validate_json_arithmetic(tmp_path: Path) -> None:
    rows = [
        {"id": "a", "scenario": "static_batch", "i": 128, "batch": 1, "tps": 100.0, "ttft": 10.0},
        {"id": "b", "scenario": "max_throughput", "i": 512, "batch": "null", "tps": 5000.0, "ttft": "null"},
        {"id": "bad-scenario", "scenario": "offline", "i": 128, "batch": 1, "tps": 1.0, "ttft": "null"},
        {"id": "no-batch", "scenario": "static_batch", "i": 128, "batch": "null", "tps": 1.0, "ttft": "null"},
        {"id": "negative", "scenario": "static_batch", "i": -5, "batch": 1, "tps": 1.0, "ttft": "null"},
    ]
    result = CliRunner().invoke(app, ["validate", str(_write(tmp_path, rows)), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert [r["id"] for r in data["records"]] == ["a", "b"]
    bad = {s["id"]: s for s in data["skipped"]}
    assert bad["bad-scenario"]["field"] == "scenario"
    assert bad["no-batch"]["reason"].startswith("invalid")
    assert bad["negative"]["field"] == "input_tokens"
    a = data["records"][0]
    assert set(a["observed"]) == {"output_tokens_per_s", "ttft_ms"}
    for metric in a["observed"]:
        want = abs(a["predicted"][metric] - a["observed"][metric]) / a["observed"][metric]
        assert a["ape"][metric] == pytest.approx(want, rel=2e-3)  # inputs printed to 4 digits
    tps = sorted(r["ape"]["output_tokens_per_s"] for r in data["records"])
    assert data["summary"]["output_tokens_per_s"]["n"] == 2
    # APEs are printed to 4 significant digits; the median is computed before rounding.
    assert data["summary"]["output_tokens_per_s"]["median_ape"] == pytest.approx(sum(tps) / 2, rel=2e-3)
    assert data["summary"]["ttft_ms"]["n"] == 1


def test_prediction_same_alone_and_in_a_file() -> None:
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    shipped = Path(__file__).parents[1] / "hardware_catalog/data/measurements/public_benchmarks.yaml"
    records = read_measurements(shipped).records
    rs, _skipped = prepare(catalog, tables, records)
    together = predict(tables, rs)
    for j in range(0, len(rs), 7):
        alone = predict(tables, rs.take([j]))
        assert np.array_equal(alone[0], together[j], equal_nan=True), rs.records[j].id
    assert together.shape == (len(rs), len(METRICS))


@pytest.mark.parametrize("columns", ["60", "80"])
def test_validate_table_names_every_record_whole_on_a_narrow_terminal(tmp_path: Path, columns: str) -> None:
    """A long id folds over lines rather than being cut ("mlperf-v4.1-amd-1xm…" names no record), once per record,
    on a row of its own above its metrics; metric names and figures are never cut (at 80 columns an MLPerf
    throughput of 785,520 tokens/s had read "785520…")."""
    long_id = "mlperf-v5.1-some-submitter-8xh100-sxm-2xepyc-9374f-llama3.1-8b-server-long"
    rows = [{"id": long_id, "scenario": "static_batch", "i": 128, "batch": 1, "tps": 785520.0, "ttft": 10.0},
            {"id": "short", "scenario": "static_batch", "i": 256, "batch": 1, "tps": 100.0, "ttft": 12.0}]
    result = CliRunner().invoke(app, ["validate", str(_write(tmp_path, rows))], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    lines = result.output.split("predicted / observed")[1].split("summary by metric")[0].splitlines()
    cells = [line.split("│") for line in lines if line.startswith("│")]
    first = "".join(c[1].strip() for c in cells)
    assert first == long_id + "output_tokens_per_s" + "ttft_ms" + "short" + "output_tokens_per_s" + "ttft_ms"
    assert "785,520" in {c[4].strip() for c in cells}  # observed, whole
    assert not any("…" in cell for row in cells for cell in row)


def test_validate_says_which_tp_each_record_ran_at(tmp_path: Path) -> None:
    """A record without a tp is predicted at a tuned one, and the output says so: llama-3.1-70b in bf16
    (141 GB of weights) on 8 H100s (80 GB each) needs tp >= 2 whatever the rule; the stated one is kept."""
    path = tmp_path / "m.yaml"
    path.write_text("measurements:" + RECORD.format(id="stated", scenario="static_batch", i=128, batch=1, tps=100.0,
                                                    ttft=10.0) + """
- id: unstated
  model: llama-3.1-70b
  hardware: h100-sxm
  chips: 8
  tp: null
  pp: null
  weight_precision: bf16
  kv_precision: null
  runtime: vllm
  scenario: max_throughput
  input_tokens: 1024
  output_tokens: 1024
  batch: null
  request_rate: null
  observed: {output_tokens_per_s: 5000}
""", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["id"]: r for r in json.loads(result.output)["records"]}
    assert (rows["stated"]["tp"], rows["stated"]["tp_source"]) == (1, "stated")
    assert rows["unstated"]["tp_source"] == "tuned"
    assert rows["unstated"]["tp"] in (2, 4, 8)
    table = CliRunner().invoke(app, ["validate", str(path)], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    cells = {c[1].strip(): c[2].strip() for c in (line.split("│") for line in table.output.splitlines())
             if len(c) > 4 and c[1].strip() in ("stated", "unstated")}
    assert cells == {"stated": "1", "unstated": f"{rows['unstated']['tp']} tuned"}
    assert "tp tuned: the record states none" in table.output


def test_a_server_records_throughput_is_no_prediction_and_in_no_summary(tmp_path: Path) -> None:
    """At a stated rate the model's throughput is that rate times the output length wherever it keeps up: a
    Server record's tokens/s came out within ~0% whatever the model, and pooled with Offline ones it put the
    5-fold tokens/s error at 3.7%. Here the Server record's observed tokens/s is 10x its rate x output (no
    model gets near it): the summary's tokens/s must be the max-throughput record's alone."""
    rows = [{"id": "mt", "scenario": "max_throughput", "i": 512, "batch": "null", "tps": 5000.0, "ttft": "null"}]
    path = _write(tmp_path, rows)
    path.write_text(path.read_text() + """
- id: srv
  model: llama-3.1-8b
  hardware: h100-sxm
  chips: 1
  tp: 1
  weight_precision: fp8
  kv_precision: fp8
  runtime: tensorrt-llm
  scenario: server
  input_tokens: 512
  output_tokens: 128
  request_rate: 2.0
  observed: {output_tokens_per_s: 2560.0, tpot_ms: 10.0}
""", encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    records = {r["id"]: r for r in data["records"]}
    assert records["srv"]["ape"]["output_tokens_per_s"] == pytest.approx(0.9, abs=0.01)  # its own figures stay
    summary = data["summary"]["output_tokens_per_s"]
    assert summary["n"] == 1 and summary["median_ape"] == pytest.approx(records["mt"]["ape"]["output_tokens_per_s"])
    assert data["summary"]["tpot_ms"]["n"] == 1  # the Server record's other metrics are summarised as before
