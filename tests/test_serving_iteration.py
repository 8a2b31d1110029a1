"""The serving iteration cost (planner.model.load.scheduler.ServingStep, planner.calibration.serving_fit).

Independent bases: arithmetic on the step (the cost is charged once per iteration however many
passes it runs, and never outside the queueing model), a planted value recovered by the fit
(records whose observed SLO capacity is the model's at a known cost), and the schema's limits.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.loader import default_catalog_dir
from planner.calibration.predict import METRICS, predict_calibrated, prepare
from planner.calibration.serving_fit import ITERATION_GRID, MIN_RECORDS, fitted_iteration
from planner.domain import Calibration
from planner.errors import CatalogError
from planner.model.grid import CatalogTables, Grid
from planner.model.load.queueing import LengthDist, server
from planner.model.load.scheduler import ServingStep
from planner.model.perf import MemoryModel, StepModel
from planner.model.scenarios import max_throughput

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
CAPACITY = METRICS.index("slo_capacity_requests_per_s")
COST = 0.005


def _with_cost(grid: Grid, cost: float) -> Grid:
    return replace(grid, serving_iteration_s=np.full(len(grid), cost))


def test_charged_once_per_iteration_and_only_under_load(one_row: Callable[..., Grid]) -> None:
    """An iteration of three passes (tokens over the pass budget) costs exactly COST more, not
    3 COST: the queueing model's iteration emits one token per sequence, and the cost is that of a
    scheduling step; the plain step (static and max-throughput scenarios) does not charge it."""
    grid = _with_cost(one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=1, precision="fp8"), 0.0)
    plain, costly = StepModel.build(grid), StepModel.build(_with_cost(grid, COST))
    budget = float(plain.coefficients.max_batched_tokens[0])
    kw: dict[str, Any] = {"decode_tokens": np.array([[1.0, 64.0]]), "decode_context": 1000.0,
                          "prefill_tokens": np.array([[0.0, 2.5 * budget]]), "prefill_context": 1000.0}
    assert np.array_equal(costly.total(**kw), plain.total(**kw))  # a StepModel never charges it
    for overlap in (1.0, 0.7):
        base, loaded = ServingStep.of(plain, overlap), ServingStep.of(costly, overlap)
        assert np.allclose(loaded.total(**kw) - base.total(**kw), COST, rtol=1e-12, atol=0)
        parts = loaded.parts(**kw)
        assert np.allclose(parts.overhead - base.parts(**kw).overhead, COST, rtol=1e-12, atol=0)
        assert np.allclose(parts.total, loaded.total(**kw), rtol=1e-12)
        # a row subset keeps its own cost
        assert np.allclose(loaded.take(np.array([0])).total(**kw) - base.total(**kw), COST, rtol=1e-12,
                           atol=0)
    offline = [max_throughput(g, input_tokens=1000.0, output_tokens=200.0).output_tokens_per_s
               for g in (grid, _with_cost(grid, COST))]
    assert offline[0] == offline[1]


def test_a_costlier_iteration_serves_less_and_slower(one_row: Callable[..., Grid]) -> None:
    """At the same rate every iteration lasts at least COST longer and, by Little's law, holds more
    sequences: mean TPOT rises by at least COST, and the rate the engine saturates at falls."""
    grid = _with_cost(one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=1, precision="fp8"), 0.0)
    base, loaded = (server(g, request_rate=5.0, input_tokens=LengthDist(1000.0), output_tokens=LengthDist(200.0))
                    for g in (grid, _with_cost(grid, COST)))
    assert base.stable[0] and loaded.stable[0]
    assert loaded.tpot_mean_s[0] >= base.tpot_mean_s[0] + COST
    assert loaded.capacity_requests_per_s[0] < base.capacity_requests_per_s[0]


def test_the_catalog_takes_a_runtimes_own_cost_else_the_pooled_one() -> None:
    catalog = load_catalog()
    cal = replace(catalog.calibration, serving_iteration_s=0.004, serving_iteration_runtime={"vllm": 0.007})
    tables = CatalogTables.from_catalog(replace(catalog, calibration=cal))
    by_runtime = dict(zip(tables.runtime_ids, tables.runtime["serving_iteration_s"], strict=True))
    assert by_runtime["vllm"] == 0.007
    assert all(v == 0.004 for rid, v in by_runtime.items() if rid != "vllm")
    assert Calibration().iteration_s("vllm") == 0.0  # the prior


@pytest.mark.parametrize("planted", [0.006, 0.0])
def test_fit_recovers_a_planted_iteration_cost(planted: float) -> None:
    """MLPerf Server / Interactive configurations whose observed SLO capacity is the model's at a
    planted cost: the fit returns that cost (the prior, None, for 0)."""
    catalog = load_catalog()
    catalog = replace(catalog, calibration=catalog.calibration.at_iteration_prior())
    tables = CatalogTables.from_catalog(catalog)
    records = [m for m in read_measurements(MLPERF).records if m.tags.get("scenario") in ("Server", "Interactive")]
    rs, _ = prepare(catalog, tables, records)
    rows = [k for k, m in enumerate(rs.records) if m.slo][: MIN_RECORDS + 10]
    rs = rs.take(rows)
    truth_cal = replace(catalog.calibration, serving_iteration_s=planted)
    truth = predict_calibrated(CatalogTables.from_catalog(replace(catalog, calibration=truth_cal)), rs,
                               truth_cal)[:, CAPACITY]
    assert np.all(truth > 0)
    observed = rs.observed.copy()
    observed[:, CAPACITY] = truth
    fitted = fitted_iteration(catalog, catalog.calibration, replace(rs, observed=observed))
    assert planted in ITERATION_GRID
    assert fitted.serving_iteration_s == (None if planted == 0.0 else planted)
    assert not fitted.serving_iteration_runtime  # one cost for all runtimes: none set apart
    interval = fitted.serving_iteration_interval  # what the records admit holds the planted truth
    assert interval is not None and interval[0] <= planted <= interval[1]
    for own in fitted.serving_iteration_interval_runtime.values():
        assert own[0] <= planted <= own[1]


@pytest.mark.parametrize(("change", "field"), [({"serving_iteration_s": 0.5}, "serving_iteration_s"),
                                               ({"serving_iteration_s": -0.001}, "serving_iteration_s"),
                                               ({"serving_iteration_runtime": {"no-such-engine": 0.004}},
                                                "serving_iteration_runtime")])
def test_a_bad_iteration_cost_in_calibration_yaml_names_the_field(tmp_path: Path, change: dict[str, object],
                                                                  field: str) -> None:
    """Over the schema's 20 ms, negative, or for a runtime the catalog lacks: an error naming the field."""
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), root)
    path = root / "calibration.yaml"
    doc = yaml.safe_load(path.read_text())
    for key in ("serving_iteration_runtime", "serving_iteration_interval", "serving_iteration_interval_runtime"):
        doc.pop(key, None)  # the test states the iteration figures it reads
    doc.update(change)
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    assert field in str(err.value)


def test_the_serving_floors_bound_the_serving_step(one_row: Callable[..., Grid]) -> None:
    """Each of ``ServingStep.floors``' four affine bounds (the screen's SLO ceiling and no-load checks
    rest on them) stays at or below the step it bounds over a grid of decode and prefill counts, with
    the iteration cost in it; without the cost they would still hold but lose exactly COST of slack."""
    rng = np.random.default_rng(5)
    for config in ({"model": "llama-3.1-8b", "hardware": "h100-sxm", "tp": 1, "precision": "fp8"},
                   {"model": "mixtral-8x7b", "hardware": "mi300x", "tp": 2, "precision": "fp8"},
                   {"model": "llama-3.1-70b", "hardware": "a100-80gb", "tp": 4, "pp": 2, "precision": "bf16"}):
        grid = _with_cost(one_row(**config), COST)
        step = ServingStep.of(StepModel.build(grid))
        d = np.concatenate([[0.0, 1.0], rng.uniform(0.0, 2048.0, 40)])
        p = np.concatenate([[0.0, 0.0], rng.uniform(0.0, 20_000.0, 40)])
        total = step.total(decode_tokens=d[None, :], decode_context=1500.0, prefill_tokens=p[None, :],
                           prefill_context=1000.0)[0]
        a, b_d, b_p = step.floors(decode_context=1500.0, prefill_context=1000.0)
        floors = a[:, 0, None] + b_d[:, 0, None] * d + b_p[:, 0, None] * p
        assert np.all(floors <= total * (1 + 1e-12)), config
        plain = StepModel.build(grid).floors(decode_context=1500.0, prefill_context=1000.0)[0]
        assert np.allclose(a - plain, COST, rtol=0, atol=1e-15)


def test_estimate_says_which_iteration_cost_it_ran_with() -> None:
    """``hwplan estimate --scenario server`` reports the cost and whether it is the runtime's own or the
    pooled one (what the queueing model charged: the TPOT moves with it); other scenarios do not."""
    from planner.model.estimate import Scenario, estimate, resolve

    catalog = load_catalog()
    cal = replace(catalog.calibration, serving_iteration_s=0.006, serving_iteration_runtime={"vllm": 0.004})
    catalog = replace(catalog, calibration=cal)
    kw = {"scenario": Scenario.SERVER, "input_tokens": 1000, "output_tokens": 200, "request_rate": 2.0}
    own = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm", runtime="vllm"), **kw)
    pooled = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm", runtime="sglang"), **kw)
    assert (own.serving_iteration_s, pooled.serving_iteration_s) == (0.004, 0.006)
    assert "vllm's own" in str(own.serving_iteration_source) and "pooled" in str(pooled.serving_iteration_source)
    offline = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="h100-sxm", runtime="vllm"),
                       scenario=Scenario.MAX_THROUGHPUT, input_tokens=1000, output_tokens=200)
    assert offline.serving_iteration_s is None


def test_a_serving_features_step_pays_it_only_under_load(one_row: Callable[..., Grid]) -> None:
    """A drafter's transformed step (``Served.apply``) is what a drafted static or max-throughput record
    runs too: it must not charge the cost there (an undrafted one does not), and the queueing model's
    ``ServingStep.of`` of it must (as of the plain step), once per iteration, not per draft pass."""
    from planner.model.serving import Served, drafter_for
    from planner.workload import Tokens, Traffic

    grid = _with_cost(one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=1, precision="fp8"), 0.0)
    traffic = Traffic(1.0, Tokens(1000.0), Tokens(200.0))
    kw: dict[str, Any] = {"decode_tokens": np.array([[1.0, 64.0]]), "decode_context": 1100.0}
    steps = []
    for cost in (0.0, COST):
        g = _with_cost(grid, cost)
        drafted, _ = Served(drafter=drafter_for("eagle")).apply(StepModel.build(g), MemoryModel.build(g), traffic)
        steps.append(drafted)
    assert np.array_equal(steps[1].total(**kw), steps[0].total(**kw))
    loaded = [ServingStep.of(s) for s in steps]
    assert all(s.under_load for s in loaded) and not any(s.under_load for s in steps)
    assert np.allclose(loaded[1].total(**kw) - loaded[0].total(**kw), COST, rtol=1e-12, atol=0)
    assert np.allclose(loaded[1].take(np.array([0])).total(**kw) - loaded[0].total(**kw), COST, rtol=1e-12, atol=0)
