"""The serving overlap fitted on records under load (planner.calibration.serving_fit).

Independent basis: MLPerf v5.1 llama2-70b on 8 x H200 (TensorRT-LLM), published in
../shared/calibration/mlperf.yaml: Interactive (TPOT p99 <= 40 ms) ran 67.06 req/s against 109.35
Offline (Cisco, 0.61); the roofline serving step lets the scheduler run batches at that TPOT
nearly as efficiently as Offline (0.85). The overlap fitted on the Interactive records (where the
TPOT limit binds below saturation: Server capacities sit at the memory-capped saturation, where the
overlap barely matters) must move that ratio toward the published one and lower the Interactive SLO
capacity error. (Over Server and Interactive records together, at the shipped efficiencies, the rule
keeps the roofline: 0.6 there gives 19.3% against 18.6%.)
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.schema import CalibrationFile
from planner.calibration.predict import METRICS, predict, prepare
from planner.calibration.serving_fit import GRID, MIN_RECORDS, fit_serving_overlap
from planner.domain import Calibration
from planner.model.grid import CatalogTables
from planner.model.load.scheduler import SERVING_OVERLAP, overlap_of

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
CAPACITY = METRICS.index("slo_capacity_requests_per_s")
PUBLISHED_RATIO = 67.06 / 109.35  # Cisco v5.1 llama2-70b 8 x H200: Interactive / Offline req/s


def test_fitted_overlap_moves_interactive_capacity_toward_mlperf() -> None:
    """The overlap alone, at the serving prior (no iteration cost: the shipped one, fitted first,
    explains what the overlap did here)."""
    catalog = load_catalog()
    catalog = replace(catalog, calibration=catalog.calibration.at_iteration_prior())
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, read_measurements(MLPERF).records)
    rs = rs.take([k for k, m in enumerate(rs.records) if m.tags.get("scenario") in ("Server", "Interactive")])
    interactive_rows = [k for k, m in enumerate(rs.records) if m.tags.get("scenario") == "Interactive"]
    overlap, used = fit_serving_overlap(tables, rs.take(interactive_rows))  # seen: 0.6 on the 49 records
    assert used >= MIN_RECORDS
    assert overlap is not None and overlap in GRID and overlap < SERVING_OVERLAP
    fitted, roofline = (predict(tables, rs, overlap=v)[:, CAPACITY] for v in (overlap, SERVING_OVERLAP))
    obs = rs.observed[interactive_rows, CAPACITY]
    err = {name: np.median(np.abs(p[interactive_rows] / obs - 1.0)) for name, p in (("fit", fitted),
                                                                                  ("roof", roofline))}
    assert err["fit"] < err["roof"]  # seen: 34.1% -> 19.4%
    h200 = [k for k, m in enumerate(rs.records) if m.model == "llama-2-70b" and m.hardware == "h200"
            and m.chips == 8 and m.tags.get("submitter") == "Cisco"]
    interactive = next(k for k in h200 if rs.records[k].tags.get("scenario") == "Interactive")
    server = next(k for k in h200 if rs.records[k].tags.get("scenario") == "Server")
    # the Server capacity at the roofline is the Offline rate (the memory-capped saturation); seen: 0.85 -> 0.66
    ratio = {name: p[interactive] / roofline[server] for name, p in (("fit", fitted), ("roof", roofline))}
    assert abs(ratio["fit"] - PUBLISHED_RATIO) < abs(ratio["roof"] - PUBLISHED_RATIO), ratio


def test_prior_without_server_records() -> None:
    """Fewer than MIN_RECORDS records under load: the roofline prior stands (nothing identifies it)."""
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, read_measurements(MLPERF).records)
    offline = rs.take([k for k, m in enumerate(rs.records) if m.tags.get("scenario") == "Offline"])
    assert fit_serving_overlap(tables, offline) == (None, 0)
    assert overlap_of(Calibration()) == SERVING_OVERLAP
    assert overlap_of(Calibration(serving_overlap=0.5)) == 0.5


def test_calibration_file_bounds_the_overlap() -> None:
    assert CalibrationFile.model_validate({"serving_overlap": 0.5}).serving_overlap == 0.5
    with pytest.raises(ValueError, match="serving_overlap"):
        CalibrationFile.model_validate({"serving_overlap": 1.5})


def test_planner_runs_at_the_calibrated_overlap() -> None:
    """A catalog whose calibration carries a fitted overlap is what ``estimate`` serves at: an overlap
    below the roofline only lengthens iterations (planner.model.load.scheduler: max + (1 - overlap) min),
    so at the same rate the mean TPOT is longer, strictly where compute and weight reads are
    comparable (llama-3.1-70b fp8 on 4 H100 at 5 req/s; seen 19.2 -> 20.4 ms)."""

    from planner.model.estimate import Scenario, estimate, resolve

    shipped = load_catalog()  # its overlaps taken out: the roofline against a pooled 0.5 on every runtime
    catalog = replace(shipped, calibration=replace(shipped.calibration, serving_overlap=None,
                                                   serving_overlap_runtime={}))
    fitted = replace(catalog, calibration=replace(catalog.calibration, serving_overlap=0.5))
    tpot = {}
    for name, cat in (("roofline", catalog), ("fitted", fitted)):
        config = resolve(cat, model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8")
        tpot[name] = estimate(cat, config, scenario=Scenario.SERVER, input_tokens=1000, output_tokens=200,
                              request_rate=5.0).tpot_s
    assert tpot["fitted"] > tpot["roofline"] * 1.02, tpot


def test_calibration_yaml_carries_the_overlap(tmp_path: Path) -> None:
    """calibration.yaml's serving_overlap reaches Catalog.calibration (and its absence is the prior)."""
    import shutil

    from hardware_catalog.loader import default_catalog_dir

    folder = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), folder)
    assert load_catalog(folder).calibration.serving_overlap is None
    with (folder / "calibration.yaml").open("a", encoding="utf-8") as f:
        f.write("serving_overlap: 0.6\n")
    assert load_catalog(folder).calibration.serving_overlap == 0.6
