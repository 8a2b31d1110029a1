"""The fit's robust loss and its treatment of server records, against data generated from known
coefficients (the basis: the generating truth, and the soft L1 loss's closed form)."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import pytest

from hardware_catalog import load_catalog
from planner.calibration.fit import FitOptions, fit, soft_l1
from planner.calibration.predict import Measurement, RecordSet, predict, prepare, record_grid
from planner.domain import Catalog
from planner.model.estimate import Scenario
from planner.model.grid import CatalogTables, Efficiencies
from planner.model.load.queueing import server as serve_at

# compute, memory, comm, overhead s, latency s (12 us: inside the physical 1-20 us of an NVLink node)
TRUE = np.array([0.42, 0.71, 0.55, 3.0e-3, 12e-6])


def _records(catalog: Catalog, hardware: str, *, slowdown: float = 1.0, server: bool = False,
             runtime: str = "tensorrt-llm") -> RecordSet:
    """Static-batch records of ``hardware`` x ``runtime`` observed at TRUE, ``slowdown`` times slower."""
    records = [
        Measurement(id=f"{hardware}-{k}", model="llama-3.1-8b", hardware=hardware, chips=1, tp=1, pp=1,
                    weight_precision="fp8", kv_precision="fp8", runtime=runtime,
                    scenario=Scenario.SERVER if server else Scenario.STATIC_BATCH, input_tokens=i,
                    output_tokens=256, batch=None if server else b, request_rate=1.0 if server else None,
                    observed={"output_tokens_per_s": 1.0}, confidence="high")
        for k, (b, i) in enumerate(itertools.product((1, 8, 64), (128, 2048)))
    ]
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, records)
    assert not skipped
    truth = predict(tables, rs, Efficiencies.from_columns(np.tile(TRUE, (len(rs), 1))), capacity=False)
    observed = np.full_like(truth, np.nan)
    observed[:, 0] = truth[:, 0] / slowdown  # throughput
    if not server:
        observed[:, 1:4] = truth[:, 1:4] * np.array([slowdown, slowdown, slowdown])  # ttft, tpot, e2e
    return replace(rs, observed=observed)


def _join(*sets: RecordSet) -> RecordSet:
    fields = ("model", "hardware", "weight_precision", "kv_precision", "runtime", "tp", "pp", "replicas", "observed")
    return RecordSet(records=sum((s.records for s in sets), ()), configs=sum((s.configs for s in sets), ()),
                     **{f: np.concatenate([getattr(s, f) for s in sets]) for f in fields})


def test_soft_l1_is_the_closed_form_loss() -> None:
    r = np.array([-3.0, -0.5, -1e-4, 0.0, 1e-4, 0.2, 5.0])
    scale = 0.2
    out = soft_l1(r, scale)
    # its square is scale^2 * rho(r / scale) with rho(z) = 2 (sqrt(1 + z^2) - 1) (scipy's 'soft_l1')
    assert out**2 == pytest.approx(scale**2 * 2.0 * (np.sqrt(1.0 + (r / scale) ** 2) - 1.0), rel=1e-12)
    assert np.all(np.sign(out) == np.sign(r))
    assert out[2] == pytest.approx(r[2], rel=1e-6)  # first order near 0: least squares
    # beyond the scale the squared loss grows linearly: a 25x larger error costs ~25x, not 625x
    assert out[-1] ** 2 / (soft_l1(np.array([0.2]), scale)[0] ** 2) < 60.0
    assert math.isfinite(float(np.sum(soft_l1(np.array([1e6]), scale))))


def test_an_outlier_pair_moves_its_family_less_with_the_robust_loss() -> None:
    """Two chips measured at TRUE and one chip whose submitter ran 4x slower: the vendor's value (what
    a chip of that vendor without data of its own gets) stays nearer TRUE with the robust loss."""
    catalog = load_catalog()
    rs = _join(_records(catalog, "h100-sxm"), _records(catalog, "h200"),
               _records(catalog, "l40s", slowdown=4.0))  # (FP8: TensorRT-LLM needs Ada or later)
    plain = fit(catalog, rs, options=FitOptions(robust_scale=None))
    robust = fit(catalog, rs, options=FitOptions(robust_scale=0.2))
    key = ("gpu", "NVIDIA", "tensorrt-llm")

    def miss(result: object) -> float:  # log distance of the vendor's compute and memory from TRUE
        e = result.calibration.vendor_runtime[key]  # type: ignore[attr-defined]
        return float(abs(math.log(e.compute / TRUE[0])) + abs(math.log(e.memory / TRUE[1])))

    assert miss(robust) < 0.75 * miss(plain)
    # the outlier pair itself still follows its own data
    assert robust.calibration.pairs[("l40s", "tensorrt-llm")].memory < 0.5 * TRUE[1]


def test_server_records_do_not_move_the_step_coefficients_by_default() -> None:
    """Server throughput at a record's rate is the queueing model's stability, not a step-time
    measurement: by default (``server_throughput=False``) adding server records changes no coefficient,
    even records offered 1.5x the rate the model at TRUE can sustain (which, fitted, pull it faster)."""
    catalog = load_catalog()
    static = _records(catalog, "h100-sxm")
    server = _records(catalog, "h100-sxm", server=True)
    tables = CatalogTables.from_catalog(catalog)
    grid = record_grid(tables, server, Efficiencies.from_columns(np.tile(TRUE, (len(server), 1))))
    i, o = server.records[0].lengths()
    capacity = serve_at(grid, request_rate=np.full(len(server), 1e-3), input_tokens=i, output_tokens=o,
                        percentiles=(50,)).capacity_requests_per_s
    rate = 1.5 * capacity
    server = replace(server, records=tuple(replace(m, request_rate=float(r)) for m, r in zip(server.records, rate,
                                                                                             strict=True)),
                     observed=np.where(np.isnan(server.observed), np.nan,
                                       (rate * np.array([m.output_tokens or 0 for m in server.records]))[:, None]))
    alone = fit(catalog, static).calibration.pairs[("h100-sxm", "tensorrt-llm")]
    both = fit(catalog, _join(static, server)).calibration.pairs[("h100-sxm", "tensorrt-llm")]
    assert both == replace(alone, source=both.source)
    # fitted (plain least squares), the rate beyond capacity pulls the coefficients toward a faster model
    options = FitOptions(server_throughput=True, robust_scale=None)
    moved = fit(catalog, _join(static, server), options=options).calibration.pairs[("h100-sxm", "tensorrt-llm")]
    still = fit(catalog, static, options=options).calibration.pairs[("h100-sxm", "tensorrt-llm")]
    assert moved != replace(still, source=moved.source)


def test_a_chip_without_data_takes_its_vendors_value_then_its_familys() -> None:
    """AMD and NVIDIA GPUs measured at different efficiencies: an AMD chip with no record of its own
    and no measured part of its die (mi355x; mi325x would take mi300x's fit, the capped part that names
    it) is predicted with the AMD value, an NVIDIA one (b200) with NVIDIA's, not one GPU mean."""
    catalog = load_catalog()
    rs = _join(*(_records(catalog, h, runtime="vllm") for h in ("h100-sxm", "h200")),
               _records(catalog, "mi300x", slowdown=2.0, runtime="vllm"))
    result = fit(catalog, rs)
    fitted = replace(catalog, calibration=result.calibration)
    rt = catalog.runtimes["vllm"]
    on_amd = fitted.efficiency(catalog.hardware["mi355x"], rt)
    on_nvidia = fitted.efficiency(catalog.hardware["b200"], rt)
    assert on_amd == result.calibration.vendor_runtime[("gpu", "AMD", "vllm")]
    assert on_nvidia == result.calibration.vendor_runtime[("gpu", "NVIDIA", "vllm")]
    assert on_amd.memory < 0.8 * on_nvidia.memory  # the AMD records ran 2x slower
    assert not on_amd.calibrated
    # a vendor with no fitted chips falls back to the family
    intel = next(h for h in catalog.hardware.values() if h.family == "gpu" and h.vendor not in ("AMD", "NVIDIA"))
    assert fitted.efficiency(intel, rt) == result.calibration.family_runtime[("gpu", "vllm")]


def test_calibration_file_vendor_entries_need_a_family() -> None:
    from pydantic import ValidationError

    from hardware_catalog.schema import CalibratedPair

    eff = {"compute": 0.5, "memory": 0.7, "communication": 0.4, "step_overhead_ms": 3.0,
           "collective_latency_us": 10.0}
    assert CalibratedPair.model_validate({"family": "gpu", "vendor": "AMD", "runtime": "vllm", "efficiency": eff})
    with pytest.raises(ValidationError, match="vendor needs family"):
        CalibratedPair.model_validate({"hardware": "mi300x", "vendor": "AMD", "runtime": "vllm", "efficiency": eff})


def test_shipped_at_bound_report_is_the_shipped_coefficients_own() -> None:
    """Every shipped coefficient (pair, vendor or family) that sits at a bound of the fit is listed
    in calibration.yaml's at_bound with a reason, and nothing else is: recomputed from the
    coefficients themselves, not trusted from the file."""
    from planner.calibration.fit import FitResult, at_bound

    catalog = load_catalog()
    result = FitResult(calibration=catalog.calibration, n_records={}, cost=0.0, evaluations=0)
    recomputed = at_bound(catalog, result)
    stated = catalog.calibration.fitted_on.get("at_bound", {})
    assert isinstance(stated, dict)
    assert {k: sorted(v) for k, v in recomputed.items()} == {k: sorted(v) for k, v in stated.items()}
    # vendor and family values are priors for chips without data of their own: never "calibrated"
    assert catalog.calibration.vendor_runtime
    assert not any(e.calibrated for e in catalog.calibration.vendor_runtime.values())
    assert not any(e.calibrated for e in catalog.calibration.family_runtime.values())
    assert all(e.calibrated for e in catalog.calibration.pairs.values())


def test_shipped_calibration_was_fitted_on_the_shipped_measurements() -> None:
    """calibration.yaml names the files it was fitted on with their sha256: each must be a shipped
    measurements file with exactly those bytes (an edited or added record without a refit fails
    here: `hwplan calibrate hardware_catalog/data/measurements/public_benchmarks.yaml
    hardware_catalog/data/measurements/mlperf.yaml`), and both the public and the MLPerf records
    are among them."""
    import hashlib

    from hardware_catalog.loader import default_catalog_dir

    files = load_catalog().calibration.fitted_on.get("files", [])
    assert isinstance(files, list)
    folder = default_catalog_dir() / "measurements"
    for f in files:
        data = (folder / f["name"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"], f["name"]
    assert {f["name"] for f in files} == {"public_benchmarks.yaml", "mlperf.yaml"}
