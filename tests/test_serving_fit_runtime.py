"""Per-runtime serving overlaps (planner.calibration.serving_fit, planner.model.load.scheduler).

Independent basis: records generated with known overlaps. The MLPerf Server / Interactive
records' own configurations (TensorRT-LLM and vLLM systems of ../shared/calibration/mlperf.yaml)
get, as their observed SLO capacity, the model's capacity at an overlap chosen per runtime
(TensorRT-LLM 0.6, vLLM the roofline): the fit must recover each runtime's, which a single pooled
overlap cannot. The per-row serving step is checked against the same rows run one overlap at a
time (brute force), and the planner's estimate against the roofline's direction (an overlap
below 1 only lengthens iterations).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.loader import default_catalog_dir
from planner.calibration.predict import METRICS, predict_calibrated, prepare, record_grid
from planner.calibration.serving_fit import MIN_RECORDS, fit_runtime_overlaps, fit_serving_overlap
from planner.domain import Calibration, Catalog
from planner.errors import CatalogError
from planner.model.estimate import Scenario, estimate, resolve
from planner.model.grid import CatalogTables
from planner.model.load.scheduler import SERVING_OVERLAP, ServingStep, overlap_of
from planner.model.perf import StepModel

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
CAPACITY = METRICS.index("slo_capacity_requests_per_s")
KNOWN = {"tensorrt-llm": 0.6, "vllm": SERVING_OVERLAP}


def _under_load(per_runtime: int):  # type: ignore[no-untyped-def]
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    records = [m for m in read_measurements(MLPERF).records if m.tags.get("scenario") in ("Server", "Interactive")]
    rs, _ = prepare(catalog, tables, records)
    rows: list[int] = []
    for rid in KNOWN:
        mine = [k for k, c in enumerate(rs.configs) if c.runtime.id == rid and rs.records[k].slo]
        rows += mine[:per_runtime]
    return tables, rs.take(rows)


def test_fit_recovers_known_overlaps_per_runtime() -> None:
    tables, rs = _under_load(MIN_RECORDS + 4)
    truth = predict_calibrated(tables, rs, Calibration(serving_overlap_runtime=KNOWN))[:, CAPACITY]
    assert np.all(truth > 0)
    observed = rs.observed.copy()
    observed[:, CAPACITY] = truth
    synthetic = replace(rs, observed=observed)
    pooled, used = fit_serving_overlap(tables, synthetic)
    assert used == 2 * (MIN_RECORDS + 4)
    pooled_value = SERVING_OVERLAP if pooled is None else pooled
    per_runtime = fit_runtime_overlaps(tables, synthetic, pooled_value)
    calibration = Calibration(serving_overlap=pooled, serving_overlap_runtime=per_runtime)
    assert {rid: overlap_of(calibration, rid) for rid in KNOWN} == KNOWN, (pooled, per_runtime)
    # a runtime with too few records keeps the pooled one
    few = synthetic.take([k for k, c in enumerate(synthetic.configs) if c.runtime.id == "vllm"][:MIN_RECORDS - 1]
                         + [k for k, c in enumerate(synthetic.configs) if c.runtime.id == "tensorrt-llm"])
    assert "vllm" not in fit_runtime_overlaps(tables, few, pooled_value)


def test_per_row_overlap_matches_rows_run_one_at_a_time() -> None:
    tables, rs = _under_load(3)
    step = StepModel.build(record_grid(tables, rs))
    overlaps = np.linspace(0.3, 1.0, len(rs))
    mixed = ServingStep(step.coefficients, overlaps)
    decode, context = np.full(len(rs), 64.0), np.full(len(rs), 1500.0)
    together = mixed.total(decode_tokens=decode, decode_context=context)
    for k, v in enumerate(overlaps):
        alone = ServingStep(step.coefficients, float(v)).total(decode_tokens=decode, decode_context=context)[k]
        assert together[k] == pytest.approx(alone, rel=1e-12)
    taken = mixed.take(np.array([len(rs) - 1, 0]))
    assert list(np.asarray(taken.overlap)) == [overlaps[-1], overlaps[0]]
    # rows whose compute and weight reads are comparable differ between the extremes of the overlaps
    assert not np.allclose(together, ServingStep(step.coefficients, 1.0).total(decode_tokens=decode,
                                                                               decode_context=context))


def _roofline(catalog: Catalog) -> Catalog:
    """The shipped catalog with its serving overlaps taken out (every runtime at the roofline)."""
    return replace(catalog, calibration=replace(catalog.calibration, serving_overlap=None, serving_overlap_runtime={}))


def test_estimate_runs_at_its_runtimes_overlap() -> None:
    """llama-3.1-70b fp8 on 4 H100 at 5 req/s: TensorRT-LLM at 0.5 serves slower iterations than
    at the roofline (max + (1 - overlap) min); vLLM, with no overlap of its own, keeps the pooled one."""
    catalog = _roofline(load_catalog())
    fitted = replace(catalog, calibration=replace(catalog.calibration, serving_overlap_runtime={"tensorrt-llm": 0.5}))
    tpot = {}
    for runtime in ("tensorrt-llm", "vllm"):
        for name, cat in (("roofline", catalog), ("fitted", fitted)):
            config = resolve(cat, model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8", runtime=runtime)
            tpot[runtime, name] = estimate(cat, config, scenario=Scenario.SERVER, input_tokens=1000,
                                           output_tokens=200, request_rate=5.0).tpot_s
    assert tpot["tensorrt-llm", "fitted"] > tpot["tensorrt-llm", "roofline"] * 1.02, tpot
    assert tpot["vllm", "fitted"] == tpot["vllm", "roofline"], tpot


def test_calibration_yaml_per_runtime_overlap(tmp_path: Path) -> None:
    folder = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), folder)
    # the shipped fit's: none (the serving iteration cost, fitted first, leaves vLLM at the roofline)
    assert load_catalog(folder).calibration.serving_overlap_runtime == {}
    text = (folder / "calibration.yaml").read_text(encoding="utf-8")
    assert "serving_overlap_runtime:" not in text
    (folder / "calibration.yaml").write_text(text + "serving_overlap_runtime: {tensorrt-llm: 0.6}\n", encoding="utf-8")
    assert load_catalog(folder).calibration.serving_overlap_runtime == {"tensorrt-llm": 0.6}
    (folder / "calibration.yaml").write_text(text + "serving_overlap_runtime: {no-such-engine: 0.6}\n",
                                             encoding="utf-8")
    with pytest.raises(CatalogError, match="serving_overlap_runtime"):
        load_catalog(folder)
    (folder / "calibration.yaml").write_text(text + "serving_overlap_runtime: {tensorrt-llm: 1.5}\n", encoding="utf-8")
    with pytest.raises(CatalogError, match="serving_overlap_runtime"):
        load_catalog(folder)


def test_plans_run_each_candidate_at_its_runtimes_overlap() -> None:
    """examples/heterogeneous-mix.yaml's plans run on vLLM: vLLM's own overlap of 0.5 must give the
    capacities the pooled 0.5 gives (lower than the roofline's), every other runtime's 0.5 the
    roofline's: candidates of several runtimes are searched together, each at its runtime's."""
    from hardware_catalog.inputs.workload import load_workload
    from planner.search.planning import plan

    catalog = _roofline(load_catalog())
    workload = load_workload(Path(__file__).resolve().parents[1] / "examples" / "heterogeneous-mix.yaml")

    def capacities(calibration: Calibration) -> list[list[float]]:
        result = plan(workload, replace(catalog, calibration=calibration), top=3)
        assert result.plans and all(p.runtime == "vllm" for p in result.plans)
        return [[d.slo_capacity_per_replica for d in p.deployments] for p in result.plans]

    base = catalog.calibration
    others = {rid: 0.5 for rid in catalog.runtimes if rid != "vllm"}
    pooled = capacities(replace(base, serving_overlap=0.5))
    assert capacities(replace(base, serving_overlap_runtime={"vllm": 0.5})) == pooled
    assert capacities(replace(base, serving_overlap_runtime=others)) == capacities(base) != pooled
