"""The engine's cap on concurrent sequences, raised where records under load show it ran more
(planner.calibration.concurrency).

Independent bases: Little's law on the records' own published figures (rate, mean TPOT, output
length), the MLPerf AMD vLLM Server runs' published p99s and rates (predicted at vLLM's documented
256 sequences per engine their TPOT p99 came out at a third of what they measured), and the schema's
limits.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.loader import default_catalog_dir
from planner.calibration.concurrency import concurrency_evidence, fitted_concurrency, running_concurrency
from planner.calibration.fit import fit
from planner.calibration.predict import METRICS, RecordSet, predict_calibrated, prepare
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.estimate import Scenario, estimate, resolve
from planner.model.grid import CatalogTables

MLPERF = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"
AMD_SERVER = "amd-8xmi325x-2xepyc-9575f-1-llama2-70b-99-server"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def records(catalog: Catalog) -> RecordSet:
    rs, _ = prepare(catalog, CatalogTables.from_catalog(catalog), read_measurements(MLPERF).records)
    return rs


def _raw(record_id: str) -> dict:
    doc = yaml.safe_load(MLPERF.read_text())
    return next(r for r in doc["measurements"] if r["id"].endswith(record_id))


def test_running_concurrency_is_littles_law_on_the_published_figures(records: RecordSet) -> None:
    """AMD's 8 x MI325X vLLM Server run: 106.3 requests/s, mean TPOT 148.7 ms, 8 engines of tp 1, outputs of
    the run's own mean: ~590 sequences decoding per engine, from the file's fields by hand."""
    raw = _raw(AMD_SERVER)
    out = raw["mlperf"]["output_tokens_per_sample_observed"] or raw["lengths"]["output_mean"]
    engines = raw["chips"] / raw["tp"]
    by_hand = raw["observed"]["requests_per_s"] * (out - 1) * raw["observed"]["tpot_ms"] / 1e3 / engines
    k = next(j for j, m in enumerate(records.records) if m.id == raw["id"])
    assert by_hand > 500  # far above vLLM's documented max_num_seqs of 256
    assert running_concurrency(records)[k] == pytest.approx(by_hand, rel=0.02)  # (the run's mean, binned)
    offline = [j for j, m in enumerate(records.records) if m.scenario is Scenario.MAX_THROUGHPUT]
    assert np.isnan(running_concurrency(records)[offline]).all()  # no rate, no TPOT: no figure


def test_a_cap_is_raised_only_where_the_runs_exceed_it(records: RecordSet) -> None:
    """vLLM's GPU runs exceed its documented 256 (the cap becomes the largest, every run within it);
    TensorRT-LLM's stay within its 2,048 and LLMBoost's within its 1,024 (nothing shows they were
    raised); SGLang documents no cap (memory sets it): none of them gets an entry, and neither does vLLM
    on a family none of its runs used."""
    caps = fitted_concurrency(records)
    running = running_concurrency(records)
    most: dict[tuple[str, str], float] = {}
    for k, c in enumerate(records.configs):
        if not np.isnan(running[k]):
            key = (c.runtime.id, c.hardware.family)
            most[key] = max(most.get(key, 0.0), float(running[k]))
    assert set(caps) == {("vllm", "gpu")}
    assert caps[("vllm", "gpu")] == math.ceil(most[("vllm", "gpu")]) > 256
    assert most[("tensorrt-llm", "gpu")] <= 2048 and most[("llmboost", "gpu")] <= 1024 and ("sglang", "gpu") in most


def test_a_fit_takes_the_caps_of_its_own_records(catalog: Catalog, records: RecordSet) -> None:
    """A fit on v4.1's records alone raises vLLM's cap only as far as they ran (AMD's MI300X engines,
    ~390 sequences), whatever cap the catalog's calibration holds: a held-out round's cap never leaks
    into the fit that predicts it."""
    v41 = records.take([k for k, m in enumerate(records.records) if m.tags.get("round") == "v4.1"
                        and m.runtime == "vllm"])
    planted = replace(catalog, calibration=replace(catalog.calibration, serving_concurrency={("vllm", "gpu"): 5000}))
    result = fit(planted, v41)
    assert 350 < result.calibration.serving_concurrency[("vllm", "gpu")] < 450


def _amd_vllm_server(records: RecordSet) -> RecordSet:
    return records.take([k for k, m in enumerate(records.records) if m.runtime == "vllm" and m.model == "llama-2-70b"
                         and m.tags.get("scenario") == "Server" and m.tags.get("round") == "v5.1"
                         and m.hardware in ("mi300x", "mi325x")])


def test_the_amd_vllm_server_runs_are_predicted_at_the_batch_they_ran(catalog: Catalog, records: RecordSet) -> None:
    """MLPerf v5.1's seven MI300X / MI325X vLLM llama2-70b Server runs (published p99s at their rate):
    with the cap their records show, the predicted TPOT p99 is within a median 25% of the published one
    and the SLO capacity within 10%; held to vLLM's documented 256 sequences the same efficiencies put
    the TPOT p99 at under 0.6x (an engine that could not hold the batch the run held)."""
    sub = _amd_vllm_server(records)
    assert len(sub) >= 6
    tpot, capacity = METRICS.index("tpot_p99_s"), METRICS.index("slo_capacity_requests_per_s")

    def ratios(cat: Catalog) -> tuple[float, float]:
        pred = predict_calibrated(CatalogTables.from_catalog(cat), sub, cat.calibration)
        return (float(np.median(pred[:, tpot] / sub.observed[:, tpot])),
                float(np.median(np.abs(pred[:, capacity] / sub.observed[:, capacity] - 1.0))))

    assert catalog.calibration.serving_concurrency.get(("vllm", "gpu"), 0) > 256
    tpot_ratio, capacity_error = ratios(catalog)
    assert 0.75 <= tpot_ratio <= 1.33 and capacity_error <= 0.10, (tpot_ratio, capacity_error)
    documented = replace(catalog, calibration=replace(catalog.calibration, serving_concurrency={}))
    assert ratios(documented)[0] < 0.6


def test_estimate_says_which_cap_it_ran_with(catalog: Catalog) -> None:
    """``hwplan estimate`` reports the cap on sequences and where it comes from: vLLM's raised one, TensorRT-LLM's
    documented default, SGLang's none, vLLM on Inferentia2 its documented one (no record shows its Neuron
    backend ran more); the batch a max-throughput estimate runs never passes it."""
    kw = {"scenario": Scenario.MAX_THROUGHPUT, "input_tokens": 222, "output_tokens": 294}
    vllm = estimate(catalog, resolve(catalog, model="llama-2-70b", hardware="mi325x", runtime="vllm",
                                     precision="fp8"), **kw)
    assert vllm.concurrency_cap == catalog.calibration.serving_concurrency[("vllm", "gpu")]
    assert "Little's law" in vllm.concurrency_cap_source and "256" in vllm.concurrency_cap_source
    assert 256 < vllm.batch <= vllm.concurrency_cap
    neuron = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="inferentia2", runtime="vllm",
                                       tp=2, chips=2), **kw)
    assert neuron.concurrency_cap == 256 and "documented" in neuron.concurrency_cap_source
    assert neuron.batch <= 256
    trt = estimate(catalog, resolve(catalog, model="llama-2-70b", hardware="h100-sxm", runtime="tensorrt-llm",
                                    precision="fp8", tp=2), **kw)
    assert trt.concurrency_cap == 2048 and "documented" in trt.concurrency_cap_source
    sglang = estimate(catalog, resolve(catalog, model="llama-2-70b", hardware="h100-sxm", runtime="sglang",
                                       precision="fp8", tp=2), **kw)
    assert sglang.concurrency_cap is None and "memory" in sglang.concurrency_cap_source
    # a cap runtimes.yaml cites no default for is said to be a prior (JetStream's 256; MaxText's is 12 a chip)
    jet = estimate(catalog, resolve(catalog, model="llama-3.1-8b", hardware="tpu-v5e", runtime="jetstream", tp=4,
                                    chips=4), **kw)
    assert jet.concurrency_cap == 256 and "a prior" in jet.concurrency_cap_source
    assert "documented" in trt.concurrency_cap_source and "max_batch_size default 2048" in trt.concurrency_cap_source
    static = estimate(catalog, resolve(catalog, model="llama-2-70b", hardware="mi325x", runtime="vllm",
                                       precision="fp8"), scenario=Scenario.STATIC_BATCH, batch=512)
    assert static.concurrency_cap is None and static.concurrency_cap_source == ""  # the caller's batch


@pytest.mark.parametrize("change", [{"nosuch-engine": {"gpu": 512}}, {"vllm": {"warp-drive": 512}},
                                    {"vllm": {"gpu": 0}}, {"vllm": {"gpu": -5}}, {"vllm": {"gpu": 2.5}}, {"vllm": 512}])
def test_a_bad_cap_in_calibration_yaml_names_the_field(tmp_path: Path, change: dict[str, object]) -> None:
    """For a runtime the catalog lacks, a family that is none, zero, negative or fractional, or a bare number
    without its family: an error naming the field."""
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), root)
    path = root / "calibration.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["serving_concurrency_runtime"] = change
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CatalogError) as err:
        load_catalog(root)
    assert "serving_concurrency_runtime" in str(err.value)


def test_the_operating_batch_fits_in_memory_beside_its_own_activations(catalog: Catalog) -> None:
    """Over every catalog row that runs (all models x chips x runtimes at 16-bit or fp8, tp 1-8) and three
    context lengths: memory at the operating batch, with that batch's activations (the pass's tokens up to
    the engine's budget, the decode batch's logits), stays within capacity, and one sequence more would
    not fit wherever memory rather than a cap sets it. (Read beside one sequence's activations, the
    batch overfilled memory by the logits of the rest: Mixtral on MI300X, 886 where 877 fit, once vLLM's
    cap was raised above what memory holds.)"""
    from planner.model.perf import MemoryModel

    tables = CatalogTables.from_catalog(catalog)
    rows = []
    for h, hw in enumerate(tables.hardware_ids):
        for r in range(len(tables.runtime_ids)):
            for p in ("bf16", "fp8"):
                j = tables.precision_ids.index(p)
                if tables.runnable_weights[h, r, j] and tables.runnable_kv[h, r, j]:
                    rows += [(m, h, r, j, tp) for m in range(len(tables.model_ids)) for tp in (1, 2, 4, 8)
                             if tp <= catalog.hardware[hw].chips_per_node]
    m, h, r, j, tp = (np.array(col) for col in zip(*rows, strict=True))
    grid = tables.gather(model=m, hardware=h, weight_precision=j, kv_precision=j, runtime=r, tp=tp, pp=1)
    mem = MemoryModel.build(grid)
    for context in (600.0, 4000.0, 32000.0):
        b = mem.operating_batch(cap=np.inf, input_tokens=context * 0.75, output_tokens=context * 0.25)
        held = b >= 1
        at = mem.parts(batch=b, context_tokens=context)
        assert np.all(at.total[held] <= at.capacity[held] * (1 + 1e-12)), context
        capped = b >= grid.max_concurrency - 0.5
        more = mem.parts(batch=b + 1, context_tokens=context)
        assert np.all((more.total > more.capacity)[held & ~capped]), context


def _little(r: dict) -> float:
    """Sequences decoding per engine by Little's law from a record's published fields: rate x (the run's own mean
    output - 1) x mean TPOT / engines (chips / tp)."""
    out = r["mlperf"].get("output_tokens_per_sample_observed") or r["lengths"]["output_mean"]
    return r["observed"]["requests_per_s"] * (out - 1) * r["observed"]["tpot_ms"] / 1e3 / (r["chips"] / r["tp"])


def test_the_record_that_sets_a_cap_is_the_one_that_ran_the_most(records: RecordSet) -> None:
    """Basis: Little's law by hand on every vLLM GPU Server record's published fields (rate, mean TPOT, the run's
    own mean output, engines = chips / tp); the record named as setting vLLM's cap is the one with the largest
    figure, and the cap is that figure rounded up."""
    doc = yaml.safe_load(MLPERF.read_text())
    by_hand = {r["id"]: _little(r) for r in doc["measurements"]
               if r["runtime"] == "vllm" and r["scenario"] == "server" and r.get("tp")
               and not r["mlperf"].get("same_log_as") and not r["hardware"].startswith(("xeon", "arc"))}
    cap, k = concurrency_evidence(records)[("vllm", "gpu")]
    top = max(by_hand, key=by_hand.__getitem__)
    assert records.records[k].id == top
    assert cap == math.ceil(running_concurrency(records)[k]) and by_hand[top] == pytest.approx(cap, rel=0.02)


def test_calibrate_names_the_record_that_set_each_cap(tmp_path: Path) -> None:
    """`hwplan calibrate --json` on v4.1's AMD vLLM Server records: serving_concurrency_set_by names, for vllm on gpu,
    the record whose published figures give the most sequences per engine (Little's law by hand)."""
    from typer.testing import CliRunner

    from cli.main import app

    doc = yaml.safe_load(MLPERF.read_text())
    keep = [r for r in doc["measurements"] if r["runtime"] == "vllm" and r["mlperf"]["round"] == "v4.1"
            and r["hardware"] == "mi300x" and not r["mlperf"].get("same_log_as")]
    assert len(keep) >= 2
    (tmp_path / "few.yaml").write_text(yaml.safe_dump({"measurements": keep}, sort_keys=False))

    served = [r for r in keep if r["scenario"] == "server" and r.get("tp")]
    assert len(served) >= 2  # (a choice to make)
    result = CliRunner().invoke(app, ["calibrate", str(tmp_path / "few.yaml"), "--cv-by", "none", "--out",
                                      str(tmp_path / "out"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["serving_concurrency_set_by"]["vllm on gpu"] == max(served, key=_little)["id"]
    assert report["serving_concurrency"]["vllm on gpu"] == pytest.approx(max(map(_little, served)), rel=0.02)
