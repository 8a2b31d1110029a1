"""TPOT past the capacity: the requests an engine admits decode at its full batch.

Above its capacity a continuous-batching engine has no steady state for TTFT (requests queue for a
slot without bound), but the ones it admits decode in iterations of the full batch plus the prompts
that replace the finished sequences: their TPOT is finite and measurable (MLPerf's Server records the
model puts over capacity report it). ``queueing.overload_tpot`` predicts it; ``predict`` reports it for
such records instead of nan (it once reported nan, so every such record was an infinite TPOT error).

Basis: the discrete-event simulation (``planner.model.load.simulate``) run at 1.2x and 1.5x the capacity,
which schedules request by request (slots, chunked prefill, first come first served) and shares only
the step-time physics; and a physical bound: the full batch's mean iteration is the longest the
engine's mean iteration gets, so it is at least the mean TPOT at any stable load.
Seen (seed 1, 2,000 measured requests, 1.2x capacity): model / simulation 0.95-1.01 for the mean
and median, 0.90-1.06 p90, 0.84-1.10 p99 (the fixed-length runs finish in lockstep, so the simulation
has almost no spread; bimodal lengths make the widest p99).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from grid_helpers import at_cap, saturated_capacity

from hardware_catalog import default_catalog_dir
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, RecordSet, predict_calibrated, prepare, record_grid
from planner.domain import Catalog
from planner.model.grid import CatalogTables, Grid
from planner.model.load.queueing import LengthDist, overload_tpot, server
from planner.model.load.scheduler import overlap_of
from planner.model.load.simulate import simulate_requests
from planner.model.perf import MemoryModel, StepModel

BAND = 0.20  # allowed |model / simulation - 1| for each of mean, p50, p90, p99 (seen: at most 0.16)
CONFIGS = {
    "llama-3.1-8b/h100-sxm": {"model": "llama-3.1-8b", "hardware": "h100-sxm"},
    "llama-3.1-70b-fp8/h100-sxm/tp4": {"model": "llama-3.1-70b", "hardware": "h100-sxm", "tp": 4,
                                       "precision": "fp8"},
    "mixtral-8x7b/h100-sxm/tp2": {"model": "mixtral-8x7b", "hardware": "h100-sxm", "tp": 2},
}
DISTS = {
    "fixed": (LengthDist(800.0), LengthDist(200.0)),
    "lognormal": (LengthDist(800.0, 2000.0), LengthDist(200.0, 600.0)),
    "bimodal": (LengthDist.mixture([(0.8, LengthDist(300.0, 800.0)), (0.2, LengthDist(3000.0, 6000.0))]),
                LengthDist.mixture([(0.8, LengthDist(120.0, 300.0)), (0.2, LengthDist(500.0, 1000.0))])),
}


def _model(grid: Grid, i: LengthDist, o: LengthDist, overlap: float = 1.0) -> np.ndarray:
    t = overload_tpot(StepModel.build(grid), MemoryModel.build(grid), input_tokens=i, output_tokens=o,
                      percentiles=(50, 90, 99), overlap=overlap)
    return np.array([t.mean_s[0], t.quantile_s[50][0], t.quantile_s[90][0], t.quantile_s[99][0]])


def _simulated(grid: Grid, i: LengthDist, o: LengthDist, rate: float, overlap: float = 1.0) -> np.ndarray:
    trace = simulate_requests(grid, request_rate=rate, input_tokens=i, output_tokens=o, requests=2000,
                              warmup=300, seed=1, overlap=overlap)
    return np.array([trace.tpot_s.mean(), *np.percentile(trace.tpot_s, [50, 90, 99])])


@pytest.mark.parametrize("dist", list(DISTS))
@pytest.mark.parametrize("config", list(CONFIGS))
def test_overload_tpot_matches_the_simulation_past_capacity(one_row: Callable[..., Grid], config: str,
                                                            dist: str) -> None:
    """With the scheduler's cap setting the full batch (256 sequences)."""
    grid = at_cap(one_row(**CONFIGS[config]))
    i, o = DISTS[dist]
    capacity = saturated_capacity(grid, i, o, overlap=1.0)
    over = server(grid, request_rate=1.2 * capacity, input_tokens=i, output_tokens=o, overlap=1.0)
    assert not over.stable[0] and math.isnan(over.ttft_s[99][0])  # no steady-state TTFT past capacity
    ratio = _model(grid, i, o) / _simulated(grid, i, o, 1.2 * capacity)
    assert np.all(np.abs(ratio - 1.0) <= BAND), dict(zip(("mean", "p50", "p90", "p99"), ratio.round(3), strict=True))


@pytest.mark.parametrize("dist", ["lognormal", "bimodal"])
@pytest.mark.parametrize("config", list(CONFIGS))
def test_overload_tpot_where_memory_sets_the_full_batch(one_row: Callable[..., Grid], config: str, dist: str) -> None:
    """With the shipped calibration's raised vLLM cap memory sets the full batch (390-660 sequences here):
    mean, median and p90 stay within the band, the p99 falls to 0.54-0.78 of the simulation's (a known
    weak spot, docs/accuracy.md): the model holds the batch at memory's figure for the mean context, the
    simulation admits by each sequence's own, so its batch and with it the iteration swing with the lengths
    in flight. The band below is that figure's, so a change that widens the gap fails here."""
    grid = one_row(**CONFIGS[config])
    i, o = DISTS[dist]
    at_no_load = server(grid, request_rate=1e-3, input_tokens=i, output_tokens=o, overlap=1.0)
    assert at_no_load.max_batch[0] < grid.max_concurrency[0]  # memory, not the cap, sets it
    capacity = saturated_capacity(grid, i, o, overlap=1.0)
    ratio = _model(grid, i, o) / _simulated(grid, i, o, 1.2 * capacity)
    assert np.all(np.abs(ratio[:3] - 1.0) <= BAND) and 0.45 <= ratio[3] <= 1.1, ratio.round(3)


@pytest.mark.parametrize(("prompt", "output"), [(LengthDist(800.0, 2000.0), LengthDist(8.0, 16.0)),
                                                 (LengthDist(300.0), LengthDist(4.0))])
def test_overload_tpot_of_a_budget_bound_engine(one_row: Callable[..., Grid], prompt: LengthDist,
                                                output: LengthDist) -> None:
    """Short outputs after long prompts: the prompts replacing the finished sequences do not fit in a
    pass beside the decodes, so slots wait for their prefill chunks and every pass is a full token
    budget (the simulation keeps ~80 of 256 slots decoding). Seen: model / simulation 0.97-1.00; a
    Poisson law of 32-64 prompts cut at the bands' 32 gave 0.61-0.87."""
    grid = one_row(**CONFIGS["llama-3.1-8b/h100-sxm"])
    capacity = saturated_capacity(grid, prompt, output, overlap=1.0)
    ratio = _model(grid, prompt, output) / _simulated(grid, prompt, output, 1.2 * capacity)
    assert np.all(np.abs(ratio - 1.0) <= 0.1), ratio.round(3)


def test_overload_tpot_bounds_the_stable_mean_tpot(catalog: Catalog, tables: CatalogTables) -> None:
    """On every MLPerf Server record of the shipped file: the mean TPOT at 50% and 95% of the
    capacity is at most the full batch's (more load never shortens the mean iteration), where the
    stable queue's mean iteration, and an iteration that holds one prompt of the mean length, fit in
    one pass (llama3.1-405b's ~9,400-token prompts never do: 2-3 passes of 8,192). Past one pass the two
    models count tokens differently (the queueing model's iteration of several passes emits one token per sequence,
    the full batch's every pass one), so the bound is not theirs to share: with the calibrated
    serving iteration cost, llama3.1-8b on B200 at 95% load (~10,800 tokens per iteration, two
    passes of 8,192) runs 1.33x the full batch's one-pass TPOT (docs/accuracy.md, weak spots)."""
    read = read_measurements(default_catalog_dir() / "measurements" / "mlperf.yaml")
    rs, _ = prepare(catalog, tables, [m for m in read.records if m.tags.get("scenario") == "Server"])
    grid = record_grid(tables, rs)
    checked = 0
    for (i, o), rows in _by_lengths(rs).items():
        g = grid.take(np.asarray(rows))
        full = overload_tpot(StepModel.build(g), MemoryModel.build(g), input_tokens=i, output_tokens=o,
                             overlap=0.9).mean_s
        capacity = server(g, request_rate=1e-3, input_tokens=i, output_tokens=o, overlap=0.9).capacity_requests_per_s
        for load in (0.5, 0.95):
            res = server(g, request_rate=load * capacity, input_tokens=i, output_tokens=o, overlap=0.9)
            tokens = res.batch_mean + load * capacity * res.tpot_mean_s * i.mean  # decodes + prompt tokens
            one_prompt = res.batch_mean + i.mean  # an iteration that holds a prompt of the mean length
            ok = res.stable & np.isfinite(full) & (np.maximum(tokens, one_prompt) <= g.max_batched_tokens)
            assert np.all(res.tpot_mean_s[ok] <= full[ok] * (1 + 1e-9)), (load, res.tpot_mean_s[ok] / full[ok])
            checked += int(ok.sum())
    assert checked > 100


def _by_lengths(rs: RecordSet) -> dict[tuple[LengthDist, LengthDist], list[int]]:
    groups: dict[tuple[LengthDist, LengthDist], list[int]] = {}
    for k, m in enumerate(rs.records):
        groups.setdefault(m.lengths(), []).append(k)
    return groups


def test_validate_reports_the_admitted_tpot_of_an_overloaded_record(catalog: Catalog, tables: CatalogTables) -> None:
    """An MLPerf llama2-70b Server record replayed at 1.5x the model's capacity: TTFT has no steady
    state (nan: an infinite error, as before), TPOT is the simulated admitted requests' (it was nan)."""
    path = Path(default_catalog_dir() / "measurements" / "mlperf.yaml")
    record = next(m for m in read_measurements(path).records
                  if m.id == "mlperf-v4.1-dell-xe9680-h200-sxm-141gbx8-trt-llama2-70b-99-server")
    rs, skipped = prepare(catalog, tables, [record])
    assert not skipped and len(rs) == 1
    grid = record_grid(tables, rs)
    i, o = rs.records[0].lengths()
    overlap = overlap_of(catalog.calibration, rs.configs[0].runtime.id)
    capacity = float(server(grid, request_rate=1e-3, input_tokens=i, output_tokens=o,
                            overlap=overlap).capacity_requests_per_s[0])
    rate = 1.5 * capacity
    replayed = replace(rs, records=(replace(rs.records[0], request_rate=rate * float(rs.replicas[0])),))
    predicted = predict_calibrated(tables, replayed, catalog.calibration)[0]
    assert math.isnan(predicted[METRICS.index("ttft_p99_s")])
    simulated = _simulated(grid, i, o, rate, overlap)
    for name, sim in (("tpot_s", simulated[0]), ("tpot_p50_s", simulated[1]), ("tpot_p99_s", simulated[3])):
        assert abs(predicted[METRICS.index(name)] / sim - 1.0) <= BAND, (name, predicted[METRICS.index(name)], sim)


@pytest.mark.parametrize("prompt", [LengthDist(800.0, 2000.0), LengthDist(12000.0, 30000.0)])
def test_a_rows_full_batch_does_not_depend_on_the_rows_beside_it(one_row: Callable[..., Grid],
                                                                  prompt: LengthDist) -> None:
    """The full batch's figures of a row are the same bits alone and among others: the tuned cap compares the
    full batch's TPOT with a limit that may be that very figure (tests/test_tpot_tuned_cap.py), and a plan must not
    move with the rows a call happens to batch. Iterations of several passes (the second law; the first's
    largest prompt counts) take a fixed point per row, whose tail mass, 1 - a sum near 1, read a transposed
    array's sum across rows and moved by an ulp with the batch."""
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm")
    step, mem, out = StepModel.build(grid), MemoryModel.build(grid), LengthDist(200.0, 600.0)
    caps = np.arange(1.0, 301.0)
    rows = np.zeros(len(caps), dtype=np.intp)
    many = overload_tpot(step.take(rows), mem.take(rows), input_tokens=prompt, output_tokens=out, batch_cap=caps,
                         percentiles=(99,), overlap=1.0)
    for k in (0, 150, 299):
        alone = overload_tpot(step, mem, input_tokens=prompt, output_tokens=out, batch_cap=caps[k], percentiles=(99,),
                              overlap=1.0)
        assert alone.mean_s[0] == many.mean_s[k] and alone.quantile_s[99][0] == many.quantile_s[99][k], caps[k]
