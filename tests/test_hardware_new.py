"""Chips added for the MLPerf records (issue #16): they load, agree with published ratios, and a
batch-1 decode estimate never beats the memory-bandwidth floor.

Expected values come from outside the YAML files: vendor ratios and figures quoted in each test
(the pages are the ones cited in the files' ``sources``), arithmetic on published channel counts
and transfer rates, and the physics bound that decoding one token reads every weight once.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog.loader import default_catalog_dir, load_catalog, read_yaml, validate_file
from hardware_catalog.schema import HardwareFile
from planner.domain import Catalog, Hardware

NEW_IDS = (
    "h100-nvl", "h200-nvl", "gh200-96gb", "gh200-144gb", "b300", "gb300", "mi350x", "mi355x",
    "arc-pro-b60", "jetson-agx-orin", "xeon-8592", "xeon-6980p", "xeon-6787p",
)
MLPERF_FILE = Path(__file__).resolve().parents[1] / ".." / "shared" / "calibration" / "mlperf.yaml"
TB = 1e12  # bytes/s per TB/s


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _hw(catalog: Catalog, hardware_id: str) -> Hardware:
    return catalog.get_hardware(hardware_id)


@pytest.mark.parametrize("hardware_id", NEW_IDS)
def test_file_validates_and_loads(catalog: Catalog, hardware_id: str) -> None:
    path = default_catalog_dir() / "hardware" / f"{hardware_id}.yaml"
    parsed = validate_file(HardwareFile, read_yaml(path), file=str(path))
    assert parsed.id == hardware_id
    assert hardware_id in catalog.hardware
    # every number carries a source: each top-level numeric field is named in sources
    for name in ("memory_gb", "memory_bandwidth_gb_s", "chips_per_node", "interconnect_gb_s", "tdp_w"):
        assert name in parsed.sources, f"{hardware_id}: {name} has no source"
    for precision in parsed.peak_tflops:
        assert "peak_tflops" in parsed.sources or f"peak_tflops.{precision}" in parsed.sources


def test_mi355x_bandwidth_ratio_to_mi300x(catalog: Catalog) -> None:
    # AMD: MI355X 8 TB/s (theregister.com 2025-06-12) vs MI300X 5.3 TB/s (hardware_facts S30)
    ratio = _hw(catalog, "mi355x").memory_bandwidth_bytes_per_s / _hw(catalog, "mi300x").memory_bandwidth_bytes_per_s
    assert ratio == pytest.approx(8.0 / 5.3, rel=1e-3)
    # and 288 GB vs 192 GB of HBM (1.5x)
    assert _hw(catalog, "mi355x").memory_bytes / _hw(catalog, "mi300x").memory_bytes == pytest.approx(1.5, rel=1e-3)


def test_mi350x_trades_about_8_percent_of_peak(catalog: Catalog) -> None:
    # theregister.com 2025-06-12: the MI350X "trades about 8 percent of peak performance" for 1 kW
    for precision in ("fp16", "fp8", "fp4"):
        ratio = _hw(catalog, "mi350x").peak_flops_per_s[precision] / _hw(catalog, "mi355x").peak_flops_per_s[precision]
        assert 0.90 <= ratio <= 0.94


def test_mi355x_fp8_is_about_twice_mi300x(catalog: Catalog) -> None:
    # ISSCC 2026 report: per-CU FP8 doubled, "1.9x improvement in FP8 compute performance, delivering five petaflops"
    ratio = _hw(catalog, "mi355x").peak_flops_per_s["fp8"] / _hw(catalog, "mi300x").peak_flops_per_s["fp8"]
    assert ratio == pytest.approx(1.9, abs=0.05)
    assert _hw(catalog, "mi355x").peak_flops_per_s["fp8"] == pytest.approx(5.0e15, rel=0.02)


def test_blackwell_ultra_fp4_is_1_5x_blackwell(catalog: Catalog) -> None:
    # NVIDIA's Blackwell Ultra announcement: ~1.5x dense FP4 over Blackwell (yobitel.com B300
    # "FP4 throughput by roughly 1.5x"; glennklockwood.com: GB300 NVL72 "1.5x GB200 NVL72")
    b = _hw(catalog, "b300").peak_flops_per_s["fp4"] / _hw(catalog, "b200").peak_flops_per_s["fp4"]
    gb = _hw(catalog, "gb300").peak_flops_per_s["fp4"] / _hw(catalog, "gb200").peak_flops_per_s["fp4"]
    assert 1.40 <= b <= 1.60
    assert gb == pytest.approx(1.5, rel=0.02)
    # glennklockwood.com: GB300 NVL72 = 1.1 EF dense FP4 over 72 GPUs
    assert _hw(catalog, "gb300").peak_flops_per_s["fp4"] * 72 == pytest.approx(1.1e18, rel=0.03)


def test_blackwell_ultra_memory_and_int8_cut(catalog: Catalog) -> None:
    # 288 GB physical HBM3e per GPU (glennklockwood.com B300), marketed as 270-279 GB; nvidia-smi reports
    # 275,040 MiB (B300) and 284,208 MiB (GB300), B200 183,359 MiB: Blackwell Ultra carries "50 percent
    # more" HBM (aiwiki.ai Blackwell Ultra)
    for hardware_id in ("b300", "gb300"):
        hw = _hw(catalog, hardware_id)
        assert 275_040 * 2**20 - 1e7 <= hw.memory_bytes <= 284_208 * 2**20 + 1e7
        # verda.com 7.7-8 TB/s; glennklockwood.com B300 "8 TB/s (max)"
        assert 7.7 * TB <= hw.memory_bandwidth_bytes_per_s <= 8.0 * TB
        assert 1.45 <= hw.memory_bytes / _hw(catalog, "b200").memory_bytes <= 1.6
        # verda.com: INT8 is 0.15-0.165 POPS on Blackwell Ultra, under 4% of its FP8 rate
        assert hw.peak_flops_per_s["int8"] < 0.04 * hw.peak_flops_per_s["fp8"]


def test_nvl_cards_against_their_sxm_parts(catalog: Catalog) -> None:
    # NVIDIA H100 NVL datasheet: 3.9 TB/s vs H100 SXM 3.35 TB/s; FP8 3,341 vs 3,958 (sparse)
    nvl, sxm = _hw(catalog, "h100-nvl"), _hw(catalog, "h100-sxm")
    assert nvl.memory_bandwidth_bytes_per_s / sxm.memory_bandwidth_bytes_per_s == pytest.approx(3.9 / 3.35, rel=1e-3)
    assert nvl.peak_flops_per_s["fp8"] / sxm.peak_flops_per_s["fp8"] == pytest.approx(3341 / 3958, rel=0.01)
    # aiwiki.ai H200: 141 GB at 4.8 TB/s "on its SXM and NVL boards"
    assert _hw(catalog, "h200-nvl").memory_bandwidth_bytes_per_s == _hw(catalog, "h200").memory_bandwidth_bytes_per_s
    assert _hw(catalog, "h200-nvl").memory_bytes == _hw(catalog, "h200").memory_bytes


def test_gh200_variants(catalog: Catalog) -> None:
    # hardware_facts S28: HBM3 96 GB at 4 TB/s; HBM3e 141-144 GB at ~4.9-5 TB/s; same H100 compute. nvidia-smi
    # reports them as 97,871 MiB and 146,831 MiB (tests/test_catalog_memory.py)
    small, large = _hw(catalog, "gh200-96gb"), _hw(catalog, "gh200-144gb")
    assert small.memory_bytes == 102.63e9 and small.memory_bandwidth_bytes_per_s == 4.0 * TB
    assert large.memory_bytes == 153.96e9 and 4.9 * TB <= large.memory_bandwidth_bytes_per_s <= 5.0 * TB
    assert small.peak_flops_per_s == large.peak_flops_per_s == _hw(catalog, "h100-sxm").peak_flops_per_s


@pytest.mark.parametrize(("hardware_id", "channels", "mt_per_s"), [
    ("xeon-8592", 8, 5600),    # Emerald Rapids: 8 x DDR5-5600
    ("xeon-6980p", 12, 6400),  # Xeon 6900P: 12 x DDR5-6400 (techwarrant.com)
    ("xeon-6787p", 8, 6400),   # Xeon 6700P: 8 x DDR5-6400 (techwarrant.com)
])
def test_cpu_bandwidth_is_channels_times_rate(catalog: Catalog, hardware_id: str, channels: int, mt_per_s: int) -> None:
    assert _hw(catalog, hardware_id).memory_bandwidth_bytes_per_s == pytest.approx(channels * mt_per_s * 1e6 * 8)


def test_cpu_amx_peaks_follow_cores_and_clock(catalog: Catalog) -> None:
    # S56: AMX does 1024 BF16 ops per cycle per core; cores and clocks as published per SKU
    for hardware_id, cores, ghz in (("xeon-8592", 64, 1.9), ("xeon-6980p", 128, 2.0), ("xeon-6787p", 86, 2.0)):
        assert _hw(catalog, hardware_id).peak_flops_per_s["bf16"] == pytest.approx(cores * 1024 * ghz * 1e9, rel=0.01)


def test_arc_pro_b60_bandwidth_from_bus(catalog: Catalog) -> None:
    # 19 Gbps GDDR6 on a 192-bit bus (ibytenews.com): 19e9 * 192 / 8 bytes/s
    assert _hw(catalog, "arc-pro-b60").memory_bandwidth_bytes_per_s == pytest.approx(19e9 * 192 / 8)


@pytest.mark.parametrize("hardware_id", NEW_IDS)
def test_batch1_decode_respects_bandwidth_floor(hardware_id: str, catalog: Catalog) -> None:
    """Each decode step reads every weight once: TPOT >= weight bytes / memory bandwidth."""
    result = CliRunner().invoke(app, ["estimate", "--model", "llama-3.1-8b", "--hardware", hardware_id, "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["fits"] is True and out["precision"] == "bf16" and out["batch"] == 1.0
    floor_ms = out["memory"]["weights_gb"] * 1e9 / _hw(catalog, hardware_id).memory_bandwidth_bytes_per_s * 1e3
    assert out["tpot_ms"] >= floor_ms
    assert out["tpot_ms"] < 20 * floor_ms  # and not absurdly slow for a memory-bound step


@pytest.mark.skipif(not MLPERF_FILE.is_file(), reason="shared MLPerf file not present")
def test_every_mlperf_hardware_id_resolves(catalog: Catalog) -> None:
    records = yaml.safe_load(MLPERF_FILE.read_text())["measurements"]
    missing = sorted({r["hardware"] for r in records} - set(catalog.hardware))
    assert missing == []
