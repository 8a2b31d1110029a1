"""bench/data/mlperf_v50_oos.yaml: MLPerf Inference v5.0 LLM results, a round neither the fit nor the shared
file has (docs/accuracy.md, "Out of sample: MLPerf Inference v5.0"). Basis: the file itself against the
shipped measurements: every record is of v5.0, none is in the fit, and every one is predicted (none
skipped), so the section's figures are out of sample and cover the whole file.
"""

from __future__ import annotations

from pathlib import Path

from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import prepare
from planner.domain import Catalog
from planner.model.grid import CatalogTables

ROOT = Path(__file__).resolve().parents[1]
OOS = ROOT / "bench/data/mlperf_v50_oos.yaml"
FITTED = ROOT / "hardware_catalog/data/measurements/mlperf.yaml"


def test_the_v50_records_are_out_of_sample_and_all_predicted(catalog: Catalog) -> None:
    records = read_measurements(OOS).records
    fitted = read_measurements(FITTED).records
    assert len(records) == 35 and {m.tags.get("round") for m in records} == {"v5.0"}
    assert not {m.tags.get("round") for m in fitted} & {"v5.0"}
    assert not {m.id for m in records} & {m.id for m in fitted}
    assert all(m.source.startswith("https://github.com/mlcommons/inference_results_v5.0/") for m in records)
    rs, skipped = prepare(catalog, CatalogTables.from_catalog(catalog), records)
    assert skipped == () and len(rs) == 35
