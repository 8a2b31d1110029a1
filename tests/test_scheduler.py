"""The serving iterations' partial overlap (planner.model.load.scheduler) and what it buys on MLPerf."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, predict, prepare
from planner.calibration.validate import ape
from planner.model.grid import CatalogTables, Grid
from planner.model.load.queueing import LengthDist, server
from planner.model.load.scheduler import FITTED_OVERLAP, ServingStep
from planner.model.perf import StepModel
from planner.model.scenarios import max_throughput

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
TOKENS = np.array([1.0, 16.0, 128.0, 1024.0, 8192.0])


def test_overlap_lies_between_the_roofline_and_the_sum(one_row: Callable[..., Grid]) -> None:
    """overlap 1 is the roofline max(compute, weights) exactly, 0 their sum; in between the step
    is monotone in the overlap and never outside [max, sum] (the physical bounds: perfect overlap,
    none)."""
    grid = one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8")
    step = StepModel.build(replace(grid, serving_iteration_s=np.zeros(len(grid))))  # the linear layers alone
    kw = {"decode_tokens": TOKENS[None, :], "decode_context": 1000.0, "prefill_tokens": 0.0, "prefill_context": 0.0}
    roofline = step.total(**kw)
    lc, lm, *_ = step._terms(TOKENS[None, :], 1000.0, 0.0, 0.0)
    summed = roofline + np.minimum(lc, lm)
    assert np.array_equal(ServingStep.of(step, 1.0).total(**kw), roofline)
    assert np.allclose(ServingStep.of(step, 0.0).total(**kw), summed, rtol=1e-12)
    previous = summed
    for overlap in (0.2, 0.5, 0.8, 0.9):
        t = ServingStep.of(step, overlap).total(**kw)
        assert np.all((t >= roofline) & (t <= summed) & (t <= previous))
        assert np.allclose(ServingStep.of(step, overlap).parts(**kw).total, t, rtol=1e-12)
        previous = t
    with pytest.raises(ValueError, match="overlap"):
        ServingStep(step.coefficients, 1.5)


def test_poisson_capacity_stays_below_offline_throughput(one_row: Callable[..., Grid]) -> None:
    """An engine fed by Poisson arrivals cannot outrun the same engine with every request queued
    (Offline, max_throughput): its capacity in output tokens/s is at most the offline throughput,
    with the roofline and with the fitted partial overlap."""
    for config in ({"model": "llama-3.1-8b", "hardware": "h100-sxm"},
                   {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4, "precision": "fp8"}):
        grid = one_row(**config)
        offline = float(max_throughput(grid, input_tokens=1000.0, output_tokens=300.0).output_tokens_per_s[0])
        for overlap in (1.0, FITTED_OVERLAP):
            res = server(grid, request_rate=1e-3, input_tokens=LengthDist(1000.0), output_tokens=LengthDist(300.0),
                         overlap=overlap)
            tokens = float(res.capacity_requests_per_s[0]) * 300.0
            assert tokens <= offline * (1.0 + 1e-9), (config, overlap, tokens, offline)


def test_fitted_overlap_is_near_the_best_on_mlperf_slo_capacity() -> None:
    """On the MLPerf Server and Interactive records the catalog ships (the submitted rate is the
    observed SLO capacity), with the shipped efficiencies, the fitted overlap's SLO capacity median
    APE is within 1.5 points of the best of 0.5, 0.8 and the roofline (seen: 14.2% at 0.8 against
    13.6% at 0.5 and 16.3% at the roofline; bench/fit_serving_overlap.py keeps the largest within a
    bootstrap standard error), and it puts at most 3 points more records over capacity at their own
    rate than the roofline (seen: 31% against 29%: a lower capacity puts more submitted rates, which
    are lower bounds of the true capacity, just above it)."""
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    rs, _ = prepare(catalog, tables, read_measurements(MLPERF).records)
    rs = rs.take([k for k, m in enumerate(rs.records) if m.tags.get("scenario") in ("Server", "Interactive")])
    assert len(rs) >= 200
    cap, tpot = METRICS.index("slo_capacity_requests_per_s"), METRICS.index("tpot_p99_s")
    errors = {v: ape(predict(tables, rs, overlap=v), rs.observed) for v in (0.5, 0.8, 1.0, FITTED_OVERLAP)}
    best = min(float(np.median(e[:, cap])) for e in errors.values())
    assert float(np.median(errors[FITTED_OVERLAP][:, cap])) <= best + 0.015
    assert np.mean(np.isinf(errors[FITTED_OVERLAP][:, tpot])) <= np.mean(np.isinf(errors[1.0][:, tpot])) + 0.03
