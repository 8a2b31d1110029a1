"""Intel Arc int4 = W4A8 (issue #16): a chip's ``runtime_kernels`` maps the int4 of a record run by
vLLM on Arc Pro B50/B60/B70 to the precision its kernels compute in, w4a8 (int8 matmuls).

Sources: Intel's MLPerf v5.1 measurements JSON for 1-node-4x-BMG-Pro-B60-Dual llama3_1-8b states
weight_data_types UINT4 and input_data_types UINT8; vLLM's ipex_quant.py (CPU/XPU AWQ and GPTQ)
sets lowp_mode INT8, quantising the activations to int8 per token.

Independent bounds, from the raw catalog YAML (not the planner's derived tables):
* speed-up: only the matmul compute time shrinks, at most by the ratio of the chip's int8 to bf16
  peak (arc-pro-b60.yaml: 196.6 / 98.3 = 2); memory and overhead terms are unchanged.
* compute roofline: every prompt and generated token costs at least 2 FLOPs per matmul parameter
  (the untied input embedding is a lookup), so output tokens/s <= chips x int8 peak x output
  tokens / (2 x matmul params x (input + output tokens)).
"""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, Measurement, predict_calibrated, prepare
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.estimate import resolve
from planner.model.grid import CatalogTables

CATALOG_DATA = Path(__file__).parents[1] / "hardware_catalog" / "data"
RECORDS = CATALOG_DATA / "measurements" / "mlperf.yaml"
B60_8B_OFFLINE = "mlperf-v5.1-intel-1-node-4x-bmg-pro-b60-dual-llama3.1-8b-offline"
B60_8B_SERVER = "mlperf-v5.1-intel-1-node-4x-bmg-pro-b60-dual-llama3.1-8b-server"
TOKENS_PER_S, CAPACITY = METRICS.index("output_tokens_per_s"), METRICS.index("slo_capacity_requests_per_s")


@functools.cache
def _raw(kind: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((CATALOG_DATA / kind / f"{name}.yaml").read_text())
    return data


@functools.cache
def _records() -> dict[str, Measurement]:
    read = read_measurements(RECORDS)
    return {m.id: m for m in read.records}


def _without_kernels(catalog: Catalog, *hardware: str) -> Catalog:
    """The catalog with the named chips' runtime_kernels removed (int4 computed as compute_as says)."""
    stripped = {h: dataclasses.replace(catalog.hardware[h], runtime_kernels={}) for h in hardware}
    return dataclasses.replace(catalog, hardware={**catalog.hardware, **stripped})


def _precision_of(catalog: Catalog, m: Measurement) -> str:
    rs, skipped = prepare(catalog, CatalogTables.from_catalog(catalog), [m])
    assert skipped == (), skipped
    return rs.configs[0].precision.id


def _predicted(catalog: Catalog, m: Measurement, metric: int) -> float:
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, [m])
    assert skipped == (), skipped
    return float(predict_calibrated(tables, rs, catalog.calibration)[0, metric])


def test_b60_vllm_int4_records_are_predicted_as_w4a8(catalog: Catalog) -> None:
    b60 = [m for m in _records().values() if m.hardware == "arc-pro-b60" and m.weight_precision == "int4"
           and m.input_tokens is not None]
    assert len(b60) == 4  # llama3.1-8b and llama2-70b, Offline and Server (1-node-4x-BMG-Pro-B60-Dual)
    for m in b60:
        assert m.runtime == "vllm"
        assert _precision_of(catalog, m) == "w4a8", m.id
    assert catalog.get_precision("w4a8").compute_precision(catalog.hardware["arc-pro-b60"]) == "int8"


@pytest.mark.parametrize("hardware", ["h100-sxm", "l40s"])
def test_other_chips_keep_int4(catalog: Catalog, hardware: str) -> None:
    m = dataclasses.replace(_records()[B60_8B_OFFLINE], hardware=hardware, memory_gb=None, accelerator=None)
    assert _precision_of(catalog, m) == "int4"


def test_other_runtimes_on_b60_keep_int4(catalog: Catalog) -> None:
    m = dataclasses.replace(_records()[B60_8B_OFFLINE], runtime="llama.cpp")
    assert "int4" in catalog.runtimes["llama.cpp"].weight_precisions
    assert _precision_of(catalog, m) == "int4"


def test_every_arc_pro_chip_maps_vllm_int4_with_a_source(catalog: Catalog) -> None:
    for chip in ("arc-pro-b50", "arc-pro-b60", "arc-pro-b70"):
        raw = _raw("hardware", chip)
        assert raw["runtime_kernels"] == {"vllm": {"int4": "w4a8"}}
        assert "runtime_kernels" in raw["sources"]
        assert catalog.hardware[chip].kernel_precision("vllm", "int4") == "w4a8"
    others = [h.id for h in catalog.hardware.values() if h.runtime_kernels and not h.id.startswith("arc-pro-")]
    assert others == []


def test_plans_keep_the_catalogs_int4(catalog: Catalog, tables: CatalogTables) -> None:
    """The mapping is for published records; a plan's int4 is the catalog's W4A16 (docs/catalog.md)."""
    config = resolve(catalog, model="llama-3.1-8b", hardware="arc-pro-b60", precision="int4", runtime="vllm")
    assert config.precision.id == "int4"
    assert not tables.runnable_weights[:, :, tables.precision_ids.index("w4a8")].any()


def test_b60_8b_offline_rises_within_the_int8_bounds(catalog: Catalog) -> None:
    m = _records()[B60_8B_OFFLINE]
    after = _predicted(catalog, m, TOKENS_PER_S)
    before = _predicted(_without_kernels(catalog, "arc-pro-b60"), m, TOKENS_PER_S)
    peaks = _raw("hardware", "arc-pro-b60")["peak_tflops"]
    assert 1.0 < after / before <= peaks["int8"] / peaks["bf16"] + 1e-9, (before, after)
    model = _raw("models", "llama-3.1-8b")
    matmul_params = model["params_b"] * 1e9 - model["vocab_size"] * model["hidden_size"]
    assert m.input_tokens is not None and m.output_tokens is not None
    roofline = (m.chips * peaks["int8"] * 1e12 * m.output_tokens
                / (2.0 * matmul_params * (m.input_tokens + m.output_tokens)))
    assert after <= roofline, (after, roofline)


def test_b60_8b_server_capacity_rises(catalog: Catalog) -> None:
    m = _records()[B60_8B_SERVER]
    after = _predicted(catalog, m, CAPACITY)
    before = _predicted(_without_kernels(catalog, "arc-pro-b60"), m, CAPACITY)
    assert after > before > 0.0, (before, after)


BAD_KERNELS = {
    # name: (runtime_kernels line, field the message names, problem)
    "runtime_not_on_chip": ("  sglang: {int4: w4a8}", "runtime_kernels.sglang", "not one of this chip's runtimes"),
    "unknown_precision": ("  vllm: {int4: w4a9}", "runtime_kernels.vllm.int4", "w4a8"),
    "other_stored_bits": ("  vllm: {int4: int8}", "runtime_kernels.vllm.int4", "bits per weight"),
    "not_served": ("  vllm: {tf32: fp32}", "runtime_kernels.vllm.tf32", "does not serve tf32"),
    "no_compute_path": ("  vllm: {int4: w4a8}", "runtime_kernels.vllm.int4", "no peak_tflops"),
}


@pytest.mark.parametrize("name", list(BAD_KERNELS))
def test_a_bad_mapping_fails_naming_file_and_field(tmp_path: Path, name: str) -> None:
    line, field, problem = BAD_KERNELS[name]
    text = (CATALOG_DATA / "hardware" / "arc-pro-b60.yaml").read_text(encoding="utf-8")
    old = "  vllm: {int4: w4a8}"
    assert old in text
    text = text.replace(old, line, 1)
    if name == "no_compute_path":  # a chip without an int8 rate has no W4A8 kernel
        text = text.replace("  int8: 196.6\n", "", 1)
    bad = tmp_path / "hardware" / "arc-pro-b60.yaml"
    bad.parent.mkdir()
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError) as info:
        load_catalog(overlays=[tmp_path])
    message = str(info.value)
    assert str(bad) in message and field in message and problem in message, message
