"""Under load: length distributions, MLPerf records (dedup, SLO capacity) and the rate/latency link.

Independent bases: a histogram's mean and quantiles by hand; the SLO capacity against a brute-force
scan of the same queueing model over rates; duplicates counted once by construction of the file.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.inputs.workload import TokensIn
from planner.calibration.predict import METRICS, Measurement, predict, prepare, record_grid, slo_capacity
from planner.model.estimate import Scenario
from planner.model.grid import CatalogTables, Grid
from planner.model.load.queueing import LengthDist, server

SHARED = Path(__file__).resolve().parents[2] / "shared" / "calibration" / "mlperf.yaml"


def test_histogram_by_hand() -> None:
    d = LengthDist.histogram(((100.0, 0.5), (300.0, 0.5)))
    assert d.mean == pytest.approx(0.5 * 50.5 + 0.5 * 200)  # bin midpoints; the first bin starts at 1 token
    assert d.quantile(0.5) == pytest.approx(100.0)
    assert d.quantile(0.75) == pytest.approx(200.0)  # halfway through the second bin
    assert d.quantile(1.0) == pytest.approx(300.0)


def test_knots_must_rise() -> None:
    with pytest.raises(ValueError):
        LengthDist(100.0, knots=((0.99, 500.0), (0.5, 200.0)))


def test_workload_tokens_histogram_or_mean() -> None:
    t = TokensIn.model_validate({"histogram": [{"up_to": 100.0, "share": 0.5},
                                               {"up_to": 300.0, "share": 0.5}]}).to_tokens()
    assert t.mean == pytest.approx(125.25) and t.knots[-1] == (1.0, 300.0)
    one = TokensIn.model_validate({"histogram": [{"up_to": 1.0, "share": 1.0}]}).to_tokens()
    assert one.mean == 1.0  # a request has at least one token: a first bin up to 1 is exactly one
    with pytest.raises(ValueError):
        TokensIn.model_validate({"mean": 100.0, "histogram": [{"up_to": 100.0, "share": 1.0}]})
    with pytest.raises(ValueError):
        TokensIn.model_validate({"histogram": [{"up_to": 100.0, "share": 0.3}]})  # shares sum to 0.3


def test_longer_prompt_tail_raises_ttft_p99(one_row: Callable[..., Grid]) -> None:
    """Same mean, a longer p99 prompt: the predicted TTFT p99 rises, the median does not fall."""
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=1, precision="fp8", kv_precision="fp8",
                   runtime="tensorrt-llm")
    out = LengthDist(128.0)
    flat = server(grid, request_rate=5.0, input_tokens=LengthDist(870.0), output_tokens=out)
    tail = server(grid, request_rate=5.0, input_tokens=LengthDist(870.0, knots=((0.5, 784.0), (0.99, 2118.0))),
                  output_tokens=out)
    assert tail.ttft_s[99][0] > flat.ttft_s[99][0]


@pytest.mark.skipif(not SHARED.exists(), reason="needs ../shared/calibration/mlperf.yaml")
def test_mlperf_dedup_and_slo_capacity_by_brute_force() -> None:
    read = read_measurements(SHARED)
    cat = load_catalog()
    tables = CatalogTables.from_catalog(cat)
    rs, skipped = prepare(cat, tables, read.records)
    dup = {m.id for m in read.records if m.same_log_as is not None}
    assert dup and dup <= {s.id for s in skipped}  # every duplicate log skipped: counted once
    assert not dup & {m.id for m in rs.records}
    # one Server record of llama-2-70b on H200: its predicted SLO capacity is where a scan of rates
    # finds the predicted p99s crossing the slo
    k = next(j for j, m in enumerate(rs.records) if m.tags.get("scenario") == "Server"
             and m.model == "llama-2-70b" and m.hardware == "h200")
    one = rs.take([k])
    pred = predict(tables, one)[0]
    m = one.records[0]
    i_dist, o_dist = m.lengths()
    grid = record_grid(tables, one)
    rates = np.linspace(0.05, 1.0, 200) * server(grid, request_rate=1e-3, input_tokens=i_dist,
                                                  output_tokens=o_dist).capacity_requests_per_s[0]
    ok = []
    for r in rates:
        res = server(grid, request_rate=r, input_tokens=i_dist, output_tokens=o_dist, percentiles=(99,))
        ok.append(bool(res.stable[0]) and res.ttft_s[99][0] <= m.slo["ttft_p99_s"]
                  and res.tpot_s[99][0] <= m.slo["tpot_p99_s"])
    best = max((r for r, good in zip(rates, ok, strict=True) if good), default=0.0)
    step = rates[1] - rates[0]
    per_replica = pred[METRICS.index("slo_capacity_requests_per_s")] / one.replicas[0]
    assert best - step * 1.01 <= per_replica <= best + step * 1.01
    assert not math.isnan(pred[METRICS.index("tpot_p99_s")])


def test_slo_capacity_zero_when_unreachable(one_row: Callable[..., Grid]) -> None:
    grid = one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=1, precision="fp8", kv_precision="fp8",
                   runtime="tensorrt-llm")
    sat = server(grid, request_rate=1e-3, input_tokens=LengthDist(500.0),
                 output_tokens=LengthDist(100.0)).capacity_requests_per_s
    # a TPOT limit of 1 us no configuration meets; no limit at all is nan
    got = slo_capacity(grid, [{"tpot_p99_s": 1e-6}], LengthDist(500.0), LengthDist(100.0), np.array([np.inf]), sat)
    assert got[0] == 0.0
    none = slo_capacity(grid, [{}], LengthDist(500.0), LengthDist(100.0), np.array([np.inf]), sat)
    assert math.isnan(none[0])


def _record(**changes: object) -> Measurement:
    base: dict[str, object] = dict(
        id="r", model="llama-2-70b", hardware="h100-sxm", chips=8, tp=None, pp=None, weight_precision="fp8",
        kv_precision=None, runtime="tensorrt-llm", scenario=Scenario.MAX_THROUGHPUT, input_tokens=222,
        output_tokens=294, batch=None, request_rate=None, observed={"output_tokens_per_s": 1000.0})
    base.update(changes)
    return Measurement(**base)  # type: ignore[arg-type]


def test_unstated_tp_is_the_smallest_that_fits_and_memory_picks_the_sibling() -> None:
    cat = load_catalog()
    tables = CatalogTables.from_catalog(cat)
    # 70e9 fp8 weights: ~70 GB > 0.8 x 80 GB on an H100, so tp 2 (4 replicas of 8 chips); 141 GB H200: tp 1
    rs, skipped = prepare(cat, tables, [_record(), _record(id="h", hardware="h200"),
                                        _record(id="g", hardware="gh200", chips=1, memory_gb=144.0),
                                        _record(id="x", hardware="gh200", chips=1, memory_gb=300.0)])
    assert [(c.tp, c.replicas) for c in rs.configs[:2]] == [(2, 4), (1, 8)]
    assert rs.configs[2].hardware.id == "gh200-144gb"  # MLPerf's gh200 is the 144 GB part
    assert [s.id for s in skipped] == ["x"] and "300 GB" in skipped[0].reason


def test_a_workloads_empirical_lengths_reach_the_queueing_model_as_knots() -> None:
    """capacity.length_dists hands a histogram workload's knots to LengthDist as knots (a mixture's
    parts are another field: passing them there made every empirical workload a broken mixture)."""
    from planner.search.shapes.capacity import length_dists
    from planner.workload import Tokens, Traffic

    knots = ((0.5, 784.0), (0.99, 2118.0), (1.0, 3000.0))
    inp, out = length_dists(Traffic(requests_per_s=1.0, input_tokens=Tokens(870.0, None, knots),
                                    output_tokens=Tokens(128.0)))
    assert inp.knots == knots and inp.parts == () and out.knots == ()
    assert inp.quantile(0.99) == 2118.0  # read through the knots, as the published p99 says


def test_memory_is_stated_per_board_and_a_dual_board_holds_two_chips(tmp_path: Path) -> None:
    """Intel's MLPerf "Arc Pro B60 Dual 48G" (two 24 GB GPUs per board, datasheet: arc-pro-b60.yaml):
    4 boards of 48 GB are the record's 8 chips of 24 GB, so the record maps onto the catalog's
    24 GB arc-pro-b60; a board that is one chip keeps the stated figure, and a chip count the boards
    do not divide, or a CPU-only system's 0 accelerators, is taken per chip (then a 48 GB B60 is
    still refused)."""
    def record(rid: str, chips: int, boards: int) -> dict[str, object]:
        return {"id": rid, "model": "llama-2-70b", "hardware": "arc-pro-b60", "chips": chips, "tp": None,
                "pp": None, "weight_precision": "int4", "runtime": "vllm", "scenario": "max_throughput",
                "input_tokens": 222, "output_tokens": 294, "observed": {"output_tokens_per_s": 1000.0},
                "mlperf": {"round": "v5.1", "division": "closed", "submitter": "Intel", "system": rid,
                           "benchmark": "llama2-70b-99", "scenario_name": "Offline",
                           "accelerator_memory_capacity": "48 GB", "accelerators_per_node": boards,
                           "number_of_nodes": 1}}

    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"measurements": [record("dual", 8, 4), record("one", 4, 4),
                                                     record("odd", 6, 4), record("cpu", 8, 0)]}))
    read = read_measurements(path)
    assert not read.bad and [m.memory_gb for m in read.records] == [24.0, 48.0, 48.0, 48.0]
    cat = load_catalog()
    rs, skipped = prepare(cat, CatalogTables.from_catalog(cat), read.records)
    assert [c.hardware.id for c in rs.configs] == ["arc-pro-b60"]
    assert sorted(s.id for s in skipped) == ["cpu", "odd", "one"] and all("48 GB" in s.reason for s in skipped)


def _run_record(rid: str, run_mean: float | None, **lengths: float) -> dict[str, object]:
    mlperf: dict[str, object] = {"round": "v5.1", "division": "closed", "submitter": "NVIDIA", "system": rid,
                                 "benchmark": "llama2-70b-99", "scenario_name": "Server"}
    if run_mean is not None:
        mlperf["output_tokens_per_sample_observed"] = run_mean
    return {"id": rid, "model": "llama-2-70b", "hardware": "h200", "chips": 1, "tp": 1, "pp": 1,
            "weight_precision": "fp8", "kv_precision": "fp8", "runtime": "tensorrt-llm", "scenario": "server",
            "input_tokens": 222, "output_tokens": 294, "request_rate": 10.0,
            "lengths": {"input_mean": 222.33, "input_p50": 152, "input_p99": 791, "input_max": 1021,
                        "output_mean": 294.45, **lengths},
            "slo": {"ttft_p99_ms": 2000.0, "tpot_p99_ms": 200.0},
            "observed": {"requests_per_s": 10.0}, "mlperf": mlperf}


def test_the_run_s_own_output_length_replaces_the_benchmark_s_mean(tmp_path: Path) -> None:
    """MLPerf logs the tokens each sample generated (B200 FP4 llama2-70b: 274.4 per sample against
    OpenOrca's reference 294.45): the record is predicted at that mean, the published quantiles scaled
    by the same ratio under the cap (max_new_tokens 1024), which stays; without it, the benchmark's.
    The ratio is taken to the nearest 1%: 274.4 / 294.45 = 0.9319 -> 0.93, and a run at 273.1 (0.9275)
    shares that distribution."""
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"measurements": [
        _run_record("shorter", 274.4, output_p50=200, output_p99=900, output_max=1024),
        _run_record("near", 273.1, output_p50=200, output_p99=900, output_max=1024),
        _run_record("longer", 353.34, output_p50=200, output_p99=900, output_max=1024),
        _run_record("cap-only", 274.4, output_max=1024),
        _run_record("unstated", None, output_p50=200, output_p99=900, output_max=1024)]}))
    read = read_measurements(path)
    assert not read.bad
    dist = {m.id: m.lengths()[1] for m in read.records}
    assert dist["shorter"].mean == pytest.approx(0.93 * 294.45)
    assert [t for _, t in dist["shorter"].knots] == pytest.approx([186.0, 837.0, 1024])
    assert dist["near"] == dist["shorter"]  # one queueing call serves both
    assert [t for _, t in dist["longer"].knots] == pytest.approx([240.0, 1024, 1024])  # 900 x 1.2 capped
    assert dist["cap-only"].mean == pytest.approx(0.93 * 294.45) and dist["cap-only"].fixed
    assert dist["unstated"].mean == pytest.approx(294.45)
    assert dist["unstated"].knots == ((0.5, 200.0), (0.99, 900.0), (1.0, 1024.0))
    # fewer tokens per request, more requests per second at the same SLOs
    cat = load_catalog()
    tables = CatalogTables.from_catalog(cat)
    rs, skipped = prepare(cat, tables, read.records)
    assert not skipped
    capacity = dict(zip((m.id for m in rs.records),
                        predict(tables, rs)[:, METRICS.index("slo_capacity_requests_per_s")], strict=True))
    assert capacity["shorter"] > capacity["unstated"] > capacity["longer"] > 0


def test_a_run_s_output_length_must_be_positive(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump({"measurements": [_run_record("bad", -3.0)]}))
    read = read_measurements(path)
    assert not read.records and len(read.bad) == 1
    assert read.bad[0].field == "mlperf.output_tokens_per_sample_observed"
