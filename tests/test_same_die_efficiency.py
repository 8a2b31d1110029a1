"""A chip without measurements of its own takes its same die's fitted efficiency (``power_reference``,
``planner.domain.Catalog.efficiency``) before its vendor's: the part it names, else a power-capped part
that names it.

Bases: the lookup order (own fit, same die, vendor, family, base runtime, prior) on the shipped
calibration; and a measured ratio: GB300 / GB200 MLPerf v5.1 Offline per GPU on llama3.1-405b (1.06x)
and DeepSeek-R1 (1.47x), the B300 GPU being the GB300's die in HGX form. B300 has no record, so its
ratio to B200 (GB200's die in HGX form) on the same records should follow the measured Blackwell
Ultra gain, which the vendor-wide fit (1.43x and 1.07x) does not. The other way, the published MLPerf
v5.1 Offline records of GB200 and H200 predicted with their own fits taken out of the shipped
calibration: from B200's and H200 NVL's fits (the capped parts that name them) 1.13x and 1.00x of
observed (median), from the vendor-wide fit, which even has their records in it, 1.24x and 0.86x.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, predict_calibrated, prepare
from planner.domain import Calibration, Catalog
from planner.model.grid import CatalogTables

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_lookup_order(catalog: Catalog) -> None:
    b300, gb300, trt = catalog.hardware["b300"], catalog.hardware["gb300"], catalog.runtimes["tensorrt-llm"]
    assert b300.power_reference == "gb300"
    own = catalog.calibration.pairs[("gb300", "tensorrt-llm")]  # fitted on GB300's MLPerf records
    assert catalog.efficiency(gb300, trt) is own
    got = catalog.efficiency(b300, trt)
    assert (got.compute, got.memory, got.step_overhead_s, got.collective_latency_s) == (
        own.compute, own.memory, own.step_overhead_s, own.collective_latency_s)
    assert not got.calibrated and "gb300's fit, the same die" in got.source
    vendor = catalog.calibration.vendor_runtime[("gpu", "NVIDIA", "tensorrt-llm")]
    no_die = replace(catalog, hardware={**catalog.hardware, "b300": replace(b300, power_reference=None)})
    assert no_die.efficiency(no_die.hardware["b300"], trt) is vendor  # without the sibling: the vendor fit
    unfitted = replace(catalog, calibration=replace(catalog.calibration, pairs={
        k: v for k, v in catalog.calibration.pairs.items() if k != ("gb300", "tensorrt-llm")}))
    assert unfitted.efficiency(b300, trt) is vendor  # a sibling without a fit of its own: the vendor fit
    mine = replace(catalog, calibration=replace(catalog.calibration, pairs={
        **catalog.calibration.pairs, ("b300", "tensorrt-llm"): replace(own, compute=0.5)}))
    assert mine.efficiency(b300, trt).compute == 0.5  # a fit of its own wins
    assert replace(catalog, calibration=Calibration()).efficiency(b300, trt) is trt.prior


@pytest.mark.parametrize(("model", "measured"), [("llama-3.1-405b", 224 / 212), ("deepseek-r1", 5924 / 4024)])
def test_b300_follows_the_measured_blackwell_ultra_gain(catalog: Catalog, model: str, measured: float) -> None:
    """B300 / B200 predicted on B200's own v5.1 Offline records within 15% of GB300 / GB200 measured."""
    records = [m for m in read_measurements(MLPERF).records
               if m.model == model and m.hardware == "b200" and m.tags.get("scenario") == "Offline"
               and m.tags.get("round") == "v5.1" and not m.same_log_as]
    assert records
    as_b300 = [replace(m, id=m.id + "-b300", hardware="b300", memory_gb=None, accelerator=None) for m in records]
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, [*records, *as_b300])
    assert not skipped
    tokens = predict_calibrated(tables, rs, catalog.calibration)[:, METRICS.index("output_tokens_per_s")]
    ratio = float(np.median(tokens[len(records):] / tokens[:len(records)]))
    assert ratio == pytest.approx(measured, rel=0.15), ratio


def _without(catalog: Catalog, *chips: str) -> Catalog:
    """The catalog with these chips' fitted pairs taken out of its calibration."""
    pairs = {k: v for k, v in catalog.calibration.pairs.items() if k[0] not in chips}
    return replace(catalog, calibration=replace(catalog.calibration, pairs=pairs))


def test_capped_part_lookup(catalog: Catalog) -> None:
    trt = catalog.runtimes["tensorrt-llm"]
    assert catalog.hardware["b200"].power_reference == "gb200"
    b200 = catalog.calibration.pairs[("b200", "tensorrt-llm")]
    got = _without(catalog, "gb200").efficiency(catalog.hardware["gb200"], trt)
    assert (got.compute, got.memory, got.step_overhead_s, got.collective_latency_s) == (
        b200.compute, b200.memory, b200.step_overhead_s, b200.collective_latency_s)
    assert not got.calibrated and "b200's fit, the same die at a lower board power" in got.source
    vendor = catalog.calibration.vendor_runtime[("gpu", "NVIDIA", "tensorrt-llm")]
    assert _without(catalog, "gb200", "b200").efficiency(catalog.hardware["gb200"], trt) is vendor
    # two capped parts name H100 SXM: the one at the higher board power (NVL 400 W, PCIe 350 W) first
    sxm = catalog.hardware["h100-sxm"]
    assert "h100-nvl's fit" in _without(catalog, "h100-sxm").efficiency(sxm, trt).source
    assert "h100-pcie's fit" in _without(catalog, "h100-sxm", "h100-nvl").efficiency(sxm, trt).source
    # the part a chip names comes first: B300 names GB300 and is named by none
    assert "gb300's fit, the same die (" in catalog.efficiency(catalog.hardware["b300"], trt).source


@pytest.mark.parametrize(("chip", "capped"), [("gb200", "b200"), ("h200", "h200-nvl")])
def test_capped_part_predicts_the_full_power_part(catalog: Catalog, chip: str, capped: str) -> None:
    """With its own fit taken out, a chip's published Offline records are predicted within 15% (median)
    from the capped part's fit, and closer than from the vendor-wide fit."""
    records = [m for m in read_measurements(MLPERF).records
               if m.hardware == chip and m.tags.get("scenario") == "Offline" and not m.same_log_as]
    column = METRICS.index("output_tokens_per_s")

    def median_ratio(c: Catalog) -> float:
        tables = CatalogTables.from_catalog(c)
        rs, _skipped = prepare(c, tables, records)  # (records without published lengths are skipped)
        assert len(rs) >= 5
        return float(np.median(predict_calibrated(tables, rs, c.calibration)[:, column] / rs.observed[:, column]))

    held_out = _without(catalog, chip)
    from_part = median_ratio(held_out)
    no_part = replace(held_out, hardware={**held_out.hardware,
                                          capped: replace(held_out.hardware[capped], power_reference=None)})
    from_vendor = median_ratio(no_part)
    assert from_part == pytest.approx(1.0, rel=0.15), from_part
    assert abs(from_part - 1.0) < abs(from_vendor - 1.0), (from_part, from_vendor)
