"""calibrate: the fit recovers coefficients it generated data with; CV and the written file."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app
from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.schema import CalibrationFile
from planner.calibration.fit import (
    FitOptions,
    cross_validate,
    fit,
    fold_indices,
    group_cross_validate,
    repeated_cross_validate,
)
from planner.calibration.predict import METRICS, Measurement, RecordSet, predict, predict_calibrated, prepare
from planner.domain import Catalog
from planner.model.estimate import Scenario
from planner.model.grid import CatalogTables, Efficiencies

# compute, memory, comm, overhead s, latency s (12 us: inside the physical 1-20 us of an NVLink node)
TRUE = np.array([0.42, 0.71, 0.55, 3.0e-3, 12e-6])
SHIPPED = Path(__file__).parents[1] / "hardware_catalog/data/measurements/public_benchmarks.yaml"


def _synthetic(catalog: Catalog, true: np.ndarray = TRUE) -> RecordSet:
    """h100-sxm x tensorrt-llm records over batch, prompt and tp, observed = the model at TRUE."""
    records = [
        Measurement(id=f"r{k}", model="llama-3.1-70b" if tp > 1 else "llama-3.1-8b", hardware="h100-sxm",
                    chips=tp, tp=tp, pp=1, weight_precision="fp8", kv_precision="fp8",
                    runtime="tensorrt-llm", scenario=Scenario.STATIC_BATCH, input_tokens=i,
                    output_tokens=256, batch=b, request_rate=None, observed={"ttft_s": 1.0},
                    confidence="high")
        for k, (tp, b, i) in enumerate(itertools.product((1, 2, 4, 8), (1, 8, 64), (128, 2048)))
    ]
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, records)
    assert not skipped
    truth = predict(tables, rs, Efficiencies.from_columns(np.tile(true, (len(rs), 1))))
    observed = np.full_like(truth, np.nan)
    observed[:, :4] = truth[:, :4]  # throughput, ttft, tpot, e2e
    return replace(rs, observed=observed)


def test_fit_recovers_known_coefficients() -> None:
    catalog = load_catalog()
    rs = _synthetic(catalog)
    weak = FitOptions(lam_pair=(1e-4,) * 5, lam_family=(1e-4,) * 5, max_nfev=400)
    result = fit(catalog, rs, options=weak)
    eff = result.calibration.pairs[("h100-sxm", "tensorrt-llm")]
    got = np.array([eff.compute, eff.memory, eff.communication, eff.step_overhead_s,
                    eff.collective_latency_s])
    assert got == pytest.approx(TRUE, rel=0.03)
    assert eff.calibrated
    assert result.n_records[("h100-sxm", "tensorrt-llm")] == len(rs)


def test_fitted_latency_never_leaves_its_physical_bound() -> None:
    """Data generated with 60 us per all-reduce (beyond NVLink's published 4-17 us): the fit holds the
    latency at the 20 us bound and the catalog's at_bound report names it with its reason."""
    from planner.calibration.fit import at_bound

    catalog = load_catalog()
    rs = _synthetic(catalog, np.array([0.42, 0.71, 0.55, 3.0e-3, 60e-6]))
    weak = FitOptions(lam_pair=(1e-4,) * 5, lam_family=(1e-4,) * 5, max_nfev=400)
    result = fit(catalog, rs, options=weak)
    eff = result.calibration.pairs[("h100-sxm", "tensorrt-llm")]
    assert eff.collective_latency_s == pytest.approx(20e-6, rel=1e-3)
    assert "collective_latency" in at_bound(catalog, result)["h100-sxm x tensorrt-llm"]


def test_shrinkage_pulls_unidentified_coefficients_to_the_prior() -> None:
    catalog = load_catalog()
    rs = _synthetic(catalog)
    single_chip = rs.take([j for j, c in enumerate(rs.configs) if c.tp == 1])
    eff = fit(catalog, single_chip).calibration.pairs[("h100-sxm", "tensorrt-llm")]
    prior = catalog.runtimes["tensorrt-llm"].prior
    assert eff.communication == pytest.approx(prior.communication, rel=1e-3)  # no tp > 1: no data
    assert eff.memory <= 1.0 and eff.compute <= 1.0


def test_folds_partition_records() -> None:
    folds = fold_indices(23, 5)
    assert sorted(np.concatenate(folds).tolist()) == list(range(23))
    assert max(len(f) for f in folds) - min(len(f) for f in folds) <= 1


def test_cross_validation_never_sees_the_held_out_record() -> None:
    catalog = load_catalog()
    rs = _synthetic(catalog)
    cv = cross_validate(catalog, rs, folds=4)
    assert np.all(np.isfinite(cv[:, :4]))
    assert np.nanmedian(np.abs(cv[:, :4] / rs.observed[:, :4] - 1.0)) < 0.05


def test_repeated_cross_validation_pools_fold_assignments() -> None:
    catalog = load_catalog()
    rs = _synthetic(catalog)
    rs_all, cv_all = repeated_cross_validate(catalog, rs, folds=3, repeats=2)
    n = len(rs)
    assert len(rs_all) == 2 * n and cv_all.shape == (2 * n, rs.observed.shape[1])
    assert [m.id for m in rs_all.records[n:]] == [m.id for m in rs.records]
    np.testing.assert_array_equal(cv_all[:n], cross_validate(catalog, rs, folds=3, seed=0))
    np.testing.assert_array_equal(cv_all[n:], cross_validate(catalog, rs, folds=3, seed=1))


def test_calibrate_cli_writes_a_valid_calibration(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["calibrate", str(SHIPPED), "--out", str(tmp_path), "--folds", "2",
                                      "--json"])
    assert result.exit_code == 0, result.output
    data = yaml.safe_load((tmp_path / "calibration.yaml").read_text(encoding="utf-8"))
    cal = CalibrationFile.model_validate(data)
    files = data["fitted_on"]["files"]
    assert files[0]["name"] == "public_benchmarks.yaml" and len(files[0]["sha256"]) == 64
    assert any(e.family is not None for e in cal.entries)
    assert any(e.hardware == "h100-sxm" and e.runtime == "tensorrt-llm" for e in cal.entries)


def test_calibrate_without_cross_validation_writes_the_same_fit(tmp_path: Path) -> None:
    """--cv-by none skips the folds (the default's 25 fits took 22 minutes over both shipped files here) and
    writes the fit the cross-validated run writes: the final fit never reads a fold's. Basis: a 2-fold run of
    the same file, whose entries it must equal; its file and JSON say no error was estimated."""
    runs = {}
    for name, args in (("cv", ["--folds", "2", "--repeats", "1"]), ("none", ["--cv-by", "none"])):
        out = tmp_path / name
        result = CliRunner().invoke(app, ["calibrate", str(SHIPPED), "--out", str(out), "--json", *args])
        assert result.exit_code == 0, result.output
        runs[name] = (yaml.safe_load((out / "calibration.yaml").read_text(encoding="utf-8")), json.loads(result.output))
    (with_cv, cv_doc), (without, none_doc) = runs["cv"], runs["none"]
    CalibrationFile.model_validate(without)
    assert without["entries"] == with_cv["entries"] and without["moe_expert"] == with_cv["moe_expert"]
    assert without["fitted_on"]["cv_by"] == "none" and "cv_median_ape" not in without["fitted_on"]
    assert "cv_median_ape" in with_cv["fitted_on"]
    assert none_doc["cross_validation"] is None and cv_doc["cross_validation"]["by_metric"]
    text = CliRunner().invoke(app, ["calibrate", str(SHIPPED), "--out", str(tmp_path / "text"), "--cv-by", "none"])
    assert text.exit_code == 0 and "not cross-validated" in text.output, text.output


def test_calibrate_with_nothing_to_fit_says_so_and_writes_nothing(tmp_path: Path, hwplan: Any) -> None:
    """An empty measurements file was refused as 'folds: must be between 2 and the number of records (0)',
    naming an option the user never gave; with one record --cv-by ran on into an empty fit."""
    empty = tmp_path / "empty.yaml"
    empty.write_text("measurements: []\n", encoding="utf-8")
    out = tmp_path / "out"
    code, _out, err = hwplan("calibrate", str(empty), "--out", str(out))
    assert code == 2 and "measurements" in err and "at least 2" in err, err
    assert not (out / "calibration.yaml").exists()


def test_uncalibrated_hardware_is_flagged() -> None:
    catalog = load_catalog()
    assert catalog.efficiency(catalog.hardware["h100-sxm"], catalog.runtimes["tensorrt-llm"]).calibrated
    mtia = catalog.hardware["mtia-v2"]
    assert not catalog.efficiency(mtia, catalog.runtimes[mtia.default_runtime]).calibrated


def test_calibrate_cli_leaves_one_chip_out(tmp_path: Path) -> None:
    """--cv-by hardware runs (one fold per chip: ``group_cross_validate``, whose held-out group never
    reaches its fit, tests/test_calibrate.py above) and reports the cross-validated error; an unknown
    grouping is a usage error naming the option."""
    records = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["measurements"]
    chips = ("h100-sxm", "a100-80gb", "l40s")
    subset = [r for r in records if r["hardware"] in chips][:30]
    assert {r["hardware"] for r in subset} == set(chips)
    file = tmp_path / "three_chips.yaml"
    file.write_text(yaml.safe_dump({"measurements": subset}, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path), "--cv-by", "hardware", "--json"])
    assert result.exit_code == 0, result.output
    assert "output_tokens_per_s" in result.output  # the cross-validated error by metric
    fitted_on = yaml.safe_load((tmp_path / "calibration.yaml").read_text(encoding="utf-8"))["fitted_on"]
    assert fitted_on["cv_by"] == "hardware" and "cv_folds" not in fitted_on  # not a '0-fold' CV
    text = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path), "--cv-by", "hardware"])
    assert "each hardware held out" in " ".join(text.output.split()) and "0-fold" not in text.output
    bad = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path), "--cv-by", "chip"])
    assert bad.exit_code == 2 and "--cv-by" in bad.output


def test_records_outside_the_pool_are_in_every_fit_and_never_predicted() -> None:
    """``pool`` (how docs/accuracy.md measures the static records with the MLPerf ones always fitted):
    rows outside it stay nan, and they reach every fold's fit: three held-out records are predicted
    from the other 21 within 5% of the truth that generated them, while a cross-validation over the
    three alone (two records per fit: shrunk toward the runtime prior) misses by more."""
    catalog = load_catalog()
    rs = _synthetic(catalog)
    pool = [j for j, c in enumerate(rs.configs) if c.tp == 2][:3]
    cv = cross_validate(catalog, rs, folds=3, pool=pool)
    outside = np.setdiff1d(np.arange(len(rs)), pool)
    assert np.all(np.isnan(cv[outside]))
    with_rest = np.nanmedian(np.abs(cv[pool, :4] / rs.observed[pool, :4] - 1.0))
    alone = cross_validate(catalog, rs.take(pool), folds=3)
    without = np.nanmedian(np.abs(alone[:, :4] / rs.observed[pool, :4] - 1.0))
    assert with_rest < 0.05 and with_rest < without


def test_a_calibrate_that_fails_while_writing_leaves_the_old_file_whole(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """calibration.yaml is a catalog file: written through a temporary file renamed into place, so a run
    that fails at the last step (here the rename: a full disk, a kill) leaves the previous file byte for
    byte, and no temporary file behind."""
    import hardware_catalog.caching.cache_store as store

    records = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["measurements"]
    file = tmp_path / "subset.yaml"
    file.write_text(yaml.safe_dump({"measurements": [r for r in records if r["hardware"] == "h100-sxm"][:20]},
                                   sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    old = (SHIPPED.parents[1] / "calibration.yaml").read_bytes()
    (out / "calibration.yaml").write_bytes(old)

    def fail(*_args: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store.os, "replace", fail)
    result = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(out), "--folds", "2", "--repeats", "1"])
    assert result.exit_code != 0
    assert (out / "calibration.yaml").read_bytes() == old
    assert sorted(p.name for p in out.iterdir()) == ["calibration.yaml"]


def test_calibrate_reports_its_serving_fits(tmp_path: Path) -> None:
    """``calibrate --json`` says which serving iteration cost and overlap it wrote (the queueing model's
    fits, read back from the file it wrote): the same values as calibration.yaml's keys."""
    mlperf = SHIPPED.parent / "mlperf.yaml"
    records = yaml.safe_load(mlperf.read_text(encoding="utf-8"))["measurements"]
    under_load = [r for r in records if r.get("slo") and r["model"] == "llama-2-70b"][:40]
    file = tmp_path / "under_load.yaml"
    file.write_text(yaml.safe_dump({"measurements": under_load}, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path), "--folds", "2", "--repeats", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    written = yaml.safe_load((tmp_path / "calibration.yaml").read_text(encoding="utf-8"))
    pooled = written.get("serving_iteration_s")
    assert report["serving_iteration_ms"].get("pooled") == (None if pooled is None else pytest.approx(1e3 * pooled))
    for rid, cost in written.get("serving_iteration_runtime", {}).items():
        assert report["serving_iteration_ms"][rid] == pytest.approx(1e3 * cost)
    assert report["serving_overlap"].get("pooled") == written.get("serving_overlap")


def test_calibrate_writes_the_error_under_load_and_on_a_round_held_out(tmp_path: Path) -> None:
    """Without --cv-by, records of two or more MLPerf rounds also get a by-round cross-validation, and the file
    holds both it and the k-fold figures over the records under load alone (what a plan's accuracy line shows).
    Basis for the by-round figure: each round predicted here by ``fit`` on the other round's records alone (not
    through the cross-validation's code), the median of the pooled held-out SLO capacity errors; an Offline
    record in the file counts in neither under-load figure."""
    records = yaml.safe_load((SHIPPED.parent / "mlperf.yaml").read_text(encoding="utf-8"))["measurements"]
    picked: list[dict[str, Any]] = []
    for rnd in ("v4.1", "v5.1"):
        mine = [r for r in records if r["model"] == "llama-2-70b" and r["mlperf"].get("round") == rnd]
        picked += [r for r in mine if r.get("slo")][:12] + [r for r in mine if r["scenario"] == "max_throughput"][:3]
    file = tmp_path / "two_rounds.yaml"
    file.write_text(yaml.safe_dump({"measurements": picked}, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path), "--folds", "2", "--repeats", "1",
                                      "--json"])
    assert result.exit_code == 0, result.output
    on = yaml.safe_load((tmp_path / "calibration.yaml").read_text(encoding="utf-8"))["fitted_on"]
    cv = json.loads(result.stdout)["cross_validation"]
    assert set(on["cv_under_load_median_ape"]) <= set(on["cv_median_ape"])
    assert "slo_capacity_requests_per_s" in on["cv_by_round_under_load_median_ape"]
    assert cv["under_load"]["slo_capacity_requests_per_s"]["n"] == 24  # the 12 + 12 under load, not the Offline 6
    assert cv["by_round"]["slo_capacity_requests_per_s"]["n"] == 24

    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    rs, skipped = prepare(catalog, tables, read_measurements(file).records)
    assert not skipped
    capacity = METRICS.index("slo_capacity_requests_per_s")
    errors: list[float] = []
    for rnd in ("v4.1", "v5.1"):
        held = [j for j, m in enumerate(rs.records) if m.tags.get("round") == rnd]
        train = [j for j in range(len(rs)) if j not in held]
        fitted = replace(catalog, calibration=fit(catalog, rs.take(train)).calibration)
        pred = predict_calibrated(CatalogTables.from_catalog(fitted), rs.take(held), fitted.calibration)
        errors += [abs(pred[k, capacity] / rs.observed[j, capacity] - 1.0)
                   for k, j in enumerate(held) if np.isfinite(rs.observed[j, capacity])]
    assert len(errors) == 24
    assert on["cv_by_round_under_load_median_ape"]["slo_capacity_requests_per_s"] == pytest.approx(
        float(np.median(errors)), rel=1e-3)



def test_a_group_not_held_out_is_in_every_fit_and_never_predicted() -> None:
    """``group_cross_validate(held_out=...)`` (the default calibrate's by-round check keeps the public records,
    which carry no round, in every fit): the groups it holds out get the very predictions the all-groups run
    gives them (the same training records), the others stay nan. Basis: the unrestricted run."""
    catalog = load_catalog()
    rs = _synthetic(catalog)

    def by_tp(m: Measurement) -> str:
        return str(m.tp)

    every, groups = group_cross_validate(catalog, rs, by_tp)
    some, _ = group_cross_validate(catalog, rs, by_tp, held_out={"1", "2"})
    held = np.array([m.tp in (1, 2) for m in rs.records])
    assert set(groups) == {"1", "2", "4", "8"} and held.any() and (~held).any()
    np.testing.assert_array_equal(some[held], every[held])
    assert np.all(np.isnan(some[~held])) and not np.all(np.isnan(every[~held]))


def test_cv_by_round_predicts_only_the_rounds(tmp_path: Path, hwplan: Any) -> None:
    """Basis: the by-round check's definition (README: fit on the public records and one round, predict the other).
    The records without a round formed a group of their own, predicted from a fit on the MLPerf records alone and
    pooled into every summary (and into fitted_on.cv_median_ape). Now they are in every fit and never predicted;
    records of fewer than two rounds are a usage error naming the option; an --out that is a file is refused before
    any fit (it was found after the 25 fits, 20 minutes on the shipped files)."""
    mlperf = yaml.safe_load((SHIPPED.parent / "mlperf.yaml").read_text(encoding="utf-8"))
    offline = [r for r in mlperf["measurements"] if r["mlperf"]["scenario_name"] == "Offline"
               and r["model"] == "llama-2-70b" and r.get("tp") and not r["mlperf"]["same_log_as"]]
    rounds = {r["mlperf"]["round"] for r in offline}
    assert len(rounds) >= 2
    public = [r for r in yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))["measurements"]
              if r["hardware"] == "h100-sxm"][:8]
    file = tmp_path / "mixed.yaml"
    by_round = [[r for r in offline if r["mlperf"]["round"] == rnd][:5] for rnd in sorted(rounds)]
    file.write_text(yaml.safe_dump({"measurements": public + sum(by_round, [])}, sort_keys=False), encoding="utf-8")
    result = CliRunner().invoke(app, ["calibrate", str(file), "--out", str(tmp_path / "o"), "--cv-by", "round",
                                      "--json"])
    assert result.exit_code == 0, result.output
    cv = json.loads(result.output)["cross_validation"]
    assert set(cv["by_scenario"]) == {"Offline"}, cv["by_scenario"].keys()
    assert cv["by_scenario"]["Offline"]["output_tokens_per_s"]["n"] == sum(len(r) for r in by_round)
    only_public = tmp_path / "public.yaml"
    only_public.write_text(yaml.safe_dump({"measurements": public}, sort_keys=False), encoding="utf-8")
    code, _out, err = hwplan("calibrate", str(only_public), "--out", str(tmp_path / "p"), "--cv-by", "round")
    assert code == 2 and "--cv-by" in err and "two MLPerf rounds" in " ".join(err.split()), err
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("x", encoding="utf-8")
    code, _out, err = hwplan("calibrate", str(file), "--out", str(a_file))
    assert code == 2 and "--out" in err, err


@pytest.mark.parametrize("chip", ["inferentia2", "trainium1", "trainium2"])
def test_a_runtime_through_a_backend_takes_the_backends_efficiency(chip: str) -> None:
    """Basis: runtimes.yaml's own `backends` (vLLM docs: on Inferentia / Trainium vLLM runs models through NxD
    Inference, neuronx's row). vLLM there took its GPU prior (compute 0.5, memory 0.75) where neuronx has a fit
    (memory 0.48 on Inferentia2): 1.5-1.9x the throughput of the same command, and Neuron chips ranked first on
    support-chatbot. Now the backend's, flagged uncalibrated."""
    catalog = load_catalog()
    hw = catalog.hardware[chip]
    vllm = catalog.efficiency(hw, catalog.runtimes["vllm"])
    neuronx = catalog.efficiency(hw, catalog.runtimes["neuronx"])
    assert (vllm.compute, vllm.memory, vllm.step_overhead_s) == (neuronx.compute, neuronx.memory,
                                                                  neuronx.step_overhead_s)
    assert not vllm.calibrated and "runs through neuronx" in vllm.source
    gpu = catalog.efficiency(catalog.hardware["h100-sxm"], catalog.runtimes["vllm"])
    assert "runs through" not in gpu.source  # elsewhere vLLM's own
