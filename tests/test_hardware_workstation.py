"""Workstation and server cards added for later MLPerf rounds (issue #16): RTX PRO 4500 Blackwell
(Workstation and Server Edition), Intel Arc Pro B50 and B70.

Expected values come from outside the YAML files: memory data rate x bus width from the cited
coverage, published core counts x per-clock rates x boost clocks, sparse = 2 x dense, the per-SM
equality of two parts of one architecture, the published board powers, and the physics bound that a
batch-1 decode step reads every weight once.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog.inputs.measurements import MeasurementIn, to_measurement
from hardware_catalog.loader import default_catalog_dir, load_catalog, read_yaml, validate_file
from hardware_catalog.schema import HardwareFile
from planner.calibration.predict import Measurement, prepare
from planner.domain import Catalog, Hardware
from planner.model.grid import CatalogTables
from planner.model.power import sustained_peak_flops

NEW_IDS = ("rtx-pro-4500", "rtx-pro-4500-server", "arc-pro-b50", "arc-pro-b70")
GBPS = 1e9  # bits per second per Gbps


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _hw(catalog: Catalog, hardware_id: str) -> Hardware:
    return catalog.get_hardware(hardware_id)


@pytest.mark.parametrize("hardware_id", NEW_IDS)
def test_file_validates_and_every_number_has_a_source(catalog: Catalog, hardware_id: str) -> None:
    path = default_catalog_dir() / "hardware" / f"{hardware_id}.yaml"
    parsed = validate_file(HardwareFile, read_yaml(path), file=str(path))
    assert parsed.id == hardware_id and hardware_id in catalog.hardware
    for name in ("memory_gb", "memory_bandwidth_gb_s", "chips_per_node", "interconnect_gb_s", "tdp_w"):
        assert name in parsed.sources, f"{hardware_id}: {name} has no source"
    for precision in parsed.peak_tflops:
        assert "peak_tflops" in parsed.sources or f"peak_tflops.{precision}" in parsed.sources
    if parsed.power_reference is not None:
        assert "power_reference" in parsed.sources


@pytest.mark.parametrize(("hardware_id", "gbps_per_pin", "bus_bits"), [
    ("rtx-pro-4500", 28, 256),  # technical.city: GDDR7 at 1,750 MHz (28 Gbps) on 256 bits
    ("arc-pro-b50", 14, 128),   # technical.city: GDDR6 at 1,750 MHz (14 Gbps) on 128 bits
    ("arc-pro-b70", 19, 256),   # zolotukhin.ai: 256-bit GDDR6 at the B-series' 19 Gbps
    ("rtx-pro-6000", 28, 512),  # all three editions: 28 Gbps on 512 bits (Tom's Hardware coverage)
])
def test_bandwidth_is_data_rate_times_bus_width(catalog: Catalog, hardware_id: str, gbps_per_pin: int,
                                                bus_bits: int) -> None:
    assert _hw(catalog, hardware_id).memory_bandwidth_bytes_per_s == pytest.approx(gbps_per_pin * GBPS * bus_bits / 8)


def test_rtx_pro_4500_server_edition_against_the_workstation_card(catalog: Catalog) -> None:
    # exxactcorp.com (2026-05-20): Server Edition 800 GB/s, 165 W; technical.city: workstation 896 GB/s, 200 W
    server, ws = _hw(catalog, "rtx-pro-4500-server"), _hw(catalog, "rtx-pro-4500")
    assert server.memory_bandwidth_bytes_per_s / ws.memory_bandwidth_bytes_per_s == pytest.approx(800 / 896)
    # both 32 GB GDDR7 boards, as nvidia-smi reports them: 32,623 MiB (tests/test_catalog_memory.py)
    assert server.memory_bytes == ws.memory_bytes == pytest.approx(32_623 * 2**20, abs=0.006e9)
    # the power cap: the same die at 165 W sustains 165/200 of what it sustains at 200 W
    sustained_server = sustained_peak_flops(server, catalog.hardware)
    sustained_ws = sustained_peak_flops(ws, catalog.hardware)
    for precision in ("bf16", "fp8", "fp4"):
        assert sustained_server[precision] / sustained_ws[precision] == pytest.approx(165 / 200, rel=1e-3)


def test_rtx_pro_4500_tensor_rates_are_consistent(catalog: Catalog) -> None:
    peaks = _hw(catalog, "rtx-pro-4500").peak_flops_per_s
    # hmc-tech.com: 1.76 PFLOPS FP4 with sparsity = 2 x dense
    assert 2 * peaks["fp4"] == pytest.approx(1.76e15, rel=0.005)
    # FP32 = 10,496 CUDA cores x 2 FLOP (FMA) x 2,617 MHz boost (technical.city)
    assert peaks["fp32"] == pytest.approx(10_496 * 2 * 2.617e9, rel=1e-3)
    # one Blackwell RTX PRO SM does the same per clock: 82 SMs vs rtx-pro-6000's 188, both at
    # 2,617 MHz boost (technical.city, RTX PRO 6000 Blackwell Server vs RTX PRO 4500)
    big = _hw(catalog, "rtx-pro-6000").peak_flops_per_s
    for precision in ("tf32", "bf16", "fp8", "int8"):
        assert peaks[precision] / big[precision] == pytest.approx(82 / 188, rel=0.01)
    # each halving of the width doubles the rate: fp4 = 2 fp8 = 4 bf16 = 8 tf32
    assert peaks["fp4"] == pytest.approx(2 * peaks["fp8"], rel=1e-3) == pytest.approx(8 * peaks["tf32"], rel=1e-3)


def test_arc_xmx_rates_follow_cores_and_clock(catalog: Catalog) -> None:
    # architosh.com (2025-09): an Xe2 core's XMX engines do 2,048 FP16 and 4,096 INT8 ops per clock
    b50 = _hw(catalog, "arc-pro-b50").peak_flops_per_s
    # 16 Xe cores (spdup.net) at 2.6 GHz boost (chipversus.com)
    assert b50["bf16"] == pytest.approx(16 * 2048 * 2.6e9, rel=0.002)
    assert b50["int8"] == pytest.approx(16 * 4096 * 2.6e9, rel=0.002)
    # B70: Intel's 367 INT8 TOPS (pugetsystems.com), FP16 at half the INT8 rate
    b70 = _hw(catalog, "arc-pro-b70").peak_flops_per_s
    assert b70["int8"] == pytest.approx(367e12)
    assert b70["bf16"] == pytest.approx(b70["int8"] / 2)
    # ... which puts its 32 Xe cores (pugetsystems.com) at a 2.8 GHz clock, inside the Xe2 range
    # of the cards above (B60 2.4 GHz, B50 2.6 GHz; B580 2.85 GHz, pcmasters.de)
    assert 2.4e9 <= b70["int8"] / (32 * 4096) <= 2.9e9


def test_b50_is_power_capped_by_its_die_at_70w(catalog: Catalog) -> None:
    # B50 and B60 share BMG-G21 (chipversus.com); at 70 W vs 200 W (spdup.net, arc-pro-b60.yaml)
    # the B50 cannot spend more watts per FLOP than its die does at 200 W
    b50, b60 = _hw(catalog, "arc-pro-b50"), _hw(catalog, "arc-pro-b60")
    sustained = sustained_peak_flops(b50, catalog.hardware)["bf16"]
    assert sustained < b50.peak_flops_per_s["bf16"]
    assert 70 / sustained == pytest.approx(200 / b60.peak_flops_per_s["bf16"], rel=1e-6)


def _estimate(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["estimate", "--model", "llama-3.1-8b", "--json", *args])
    assert result.exit_code == 0, result.output
    out: dict[str, Any] = json.loads(result.output)
    return out


@pytest.mark.parametrize(("hardware_id", "precision", "bytes_per_weight"), [
    ("rtx-pro-4500", "bf16", 2), ("rtx-pro-4500-server", "bf16", 2), ("arc-pro-b70", "bf16", 2),
    ("arc-pro-b50", "int8", 1),
])
def test_batch1_decode_sits_above_the_bandwidth_floor(catalog: Catalog, hardware_id: str, precision: str,
                                                      bytes_per_weight: int) -> None:
    """Each decode step reads every weight once: TPOT >= weight bytes / bandwidth, and a memory-bound
    step should not be more than a few times that floor."""
    out = _estimate("--hardware", hardware_id, "--precision", precision)
    assert out["fits"] is True and out["batch"] == 1.0
    params = catalog.get_model("llama-3.1-8b").params
    floor_ms = params * bytes_per_weight / _hw(catalog, hardware_id).memory_bandwidth_bytes_per_s * 1e3
    tpot = float(out["tpot_ms"])
    assert floor_ms <= tpot < 4 * floor_ms


def test_b50_cannot_hold_llama_8b_in_bf16() -> None:
    # 8.03 B parameters x 2 bytes = 16.06 GB > the B50's 16 GB (spdup.net): the estimate says so
    out = _estimate("--hardware", "arc-pro-b50")
    assert out["fits"] is False and "16.1 GB" in str(out["reason"])


def test_server_edition_decodes_no_faster_than_the_workstation_card() -> None:
    ws = _estimate("--hardware", "rtx-pro-4500")
    server = _estimate("--hardware", "rtx-pro-4500-server")
    assert server["tpot_ms"] >= ws["tpot_ms"]


def test_catalog_list_shows_the_new_chips() -> None:
    result = CliRunner().invoke(app, ["catalog", "list"])
    assert result.exit_code == 0, result.output
    for hardware_id in NEW_IDS:
        assert hardware_id in result.output


def _mlperf_record(hardware: str, accelerator: str, memory: str = "32 GB") -> Measurement:
    raw = {
        "id": f"{hardware}-{accelerator}", "model": "llama-3.1-8b", "hardware": hardware, "chips": 8, "tp": None,
        "pp": None, "weight_precision": "fp8", "runtime": "tensorrt-llm", "scenario": "max_throughput",
        "input_tokens": 870, "output_tokens": 128, "observed": {"output_tokens_per_s": 1000.0},
        "mlperf": {"round": "v6.0", "division": "closed", "submitter": "x", "system": "x",
                   "benchmark": "llama3.1-8b", "scenario_name": "Offline", "accelerator_model_name": accelerator,
                   "accelerator_memory_capacity": memory},
    }
    return to_measurement(MeasurementIn.model_validate(raw))


def test_a_server_edition_record_maps_to_the_server_entry(catalog: Catalog) -> None:
    """MLPerf names the card in accelerator_model_name; a Server Edition with its own figures
    (RTX PRO 4500: 165 W, 800 GB/s) gets its entry, editions sharing their figures (RTX PRO 6000,
    see rtx-pro-6000.yaml notes) keep theirs, as does a record naming no edition."""
    records = [_mlperf_record("rtx-pro-4500", "NVIDIA RTX PRO 4500 Blackwell Server Edition"),
               _mlperf_record("rtx-pro-4500", "NVIDIA RTX PRO 4500 Blackwell"),
               _mlperf_record("rtx-pro-6000", "NVIDIA RTX PRO 6000 Blackwell Server Edition", "96 GB")]
    rs, skipped = prepare(catalog, CatalogTables.from_catalog(catalog), records)
    assert skipped == ()
    assert [c.hardware.id for c in rs.configs] == ["rtx-pro-4500-server", "rtx-pro-4500", "rtx-pro-6000"]
