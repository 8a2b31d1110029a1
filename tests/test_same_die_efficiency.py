"""A chip without measurements of its own takes its same die's fitted efficiency (``power_reference``,
``planner.domain.Catalog.efficiency``) before its vendor's.

Bases: the lookup order (own fit, same die, vendor, family, base runtime, prior) on the shipped
calibration; and a measured ratio: GB300 / GB200 MLPerf v5.1 Offline per GPU on llama3.1-405b (1.06x)
and DeepSeek-R1 (1.47x), the B300 GPU being the GB300's die in HGX form. B300 has no record, so its
ratio to B200 (GB200's die in HGX form) on the same records should follow the measured Blackwell
Ultra gain, which the vendor-wide fit (1.43x and 1.07x) does not.
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
