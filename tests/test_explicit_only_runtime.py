"""A commercial runtime with no public price (``explicit_only`` in runtimes.yaml: MangoBoost LLMBoost)
stays out of default plan searches, is planned when a workload names it, is refused by ``hwplan
export``, and its MLPerf records are predicted; a runtime ``based_on`` another takes the base's fits
where it has none of its own.

Independent basis: the same search with the flag cleared picks LLMBoost (so its absence from the
default plan is the flag's doing, not infeasibility or cost), and the records are those of
../shared/calibration/mlperf.yaml (trimmed copy) whose framework string names LLMBoost."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.export import FORMATS, ExportError, export
from hardware_catalog.inputs.measurements import read_measurements
from hardware_catalog.outputs import plan_result_out
from planner.calibration.predict import METRICS, predict_calibrated, prepare
from planner.domain import Calibration, Catalog
from planner.errors import CatalogError
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.shapes.candidates import enumerate_candidates
from planner.workload import Constraints, Tokens, Traffic, Workload

ROOT = Path(__file__).resolve().parents[1]
MLPERF = ROOT / "hardware_catalog" / "data" / "measurements" / "mlperf.yaml"


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog(None)


def _workload(runtimes: tuple[str, ...] | None = None) -> Workload:
    """Llama 2 70B fp8 on MI300X, one chip per replica: the shape of the MangoBoost MLPerf systems."""
    return Workload(name="mi300x-chat", traffic=Traffic(requests_per_s=20.0, input_tokens=Tokens(222.0),
                                                        output_tokens=Tokens(294.0)),
                    constraints=Constraints(hardware=("mi300x",), models=("llama-2-70b",), precisions=("fp8",),
                                            runtimes=runtimes, max_chips_per_replica=1))


def test_llmboost_is_explicit_only_with_a_reason(catalog: Catalog) -> None:
    rt = catalog.runtimes["llmboost"]
    assert rt.explicit_only is not None and "price" in rt.explicit_only
    assert rt.based_on == "vllm"
    assert all("llmboost" in catalog.hardware[h].runtimes for h in ("mi300x", "mi325x", "mi355x"))
    assert [r.id for r in catalog.runtimes.values() if r.explicit_only is not None] == ["llmboost"]


def _searched(catalog: Catalog, w: Workload) -> set[str]:
    """The runtimes of every candidate the search enumerates."""
    tables = CatalogTables.from_catalog(catalog)
    cand = enumerate_candidates(catalog, tables, w)
    return {tables.runtime_ids[i] for i in np.unique(cand.runtime)}


def test_default_plan_leaves_it_out_and_the_flag_is_what_does(catalog: Catalog) -> None:
    default = plan(_workload(), catalog, top=3)
    assert default.plans and all(p.runtime != "llmboost" for p in default.plans)
    assert "llmboost" not in _searched(catalog, _workload()) and "vllm" in _searched(catalog, _workload())
    unflagged = replace(catalog, runtimes={**catalog.runtimes,
                                           "llmboost": replace(catalog.runtimes["llmboost"], explicit_only=None)})
    assert "llmboost" in _searched(unflagged, _workload())  # runnable there: only the flag keeps it out
    # and it would win against vLLM, the engine it is built on (its MLPerf settings: 1024 sequences)
    assert plan(_workload(("vllm", "llmboost")), catalog, top=1).plans[0].runtime == "llmboost"


def test_a_workload_naming_it_plans_with_it(catalog: Catalog) -> None:
    named = plan(_workload(("llmboost",)), catalog, top=1)
    assert named.plans and named.plans[0].runtime == "llmboost"


def test_export_refuses_an_llmboost_plan_in_every_format(catalog: Catalog) -> None:
    doc = plan_result_out(plan(_workload(("llmboost",)), catalog, top=1))
    for fmt in FORMATS:
        with pytest.raises(ExportError, match=r"LLMBoost.*does not export: commercial product"):
            export(doc, catalog, fmt)


def test_validation_predicts_every_llmboost_record(catalog: Catalog) -> None:
    tables = CatalogTables.from_catalog(catalog)
    records = [m for m in read_measurements(MLPERF).records if m.runtime == "llmboost"]
    assert len(records) == 14  # 28 in the shared file, 14 of them byte-identical logs (trimmed out)
    rs, skipped = prepare(catalog, tables, records)
    assert not skipped and len(rs) == 14
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    offline = [j for j, m in enumerate(rs.records) if m.tags.get("scenario") == "Offline"]
    assert len(offline) == 8 and np.all(np.isfinite(predicted[offline, METRICS.index("output_tokens_per_s")]))
    server = [j for j, m in enumerate(rs.records) if m.tags.get("scenario") == "Server"]
    cap = predicted[server, METRICS.index("slo_capacity_requests_per_s")]
    assert len(server) == 6 and np.all(np.isfinite(cap) & (cap > 0))


def test_based_on_takes_the_base_fit_flagged_uncalibrated(catalog: Catalog) -> None:
    """A runtime with no fit of its own takes its base runtime's (the shipped calibration fits MI300X x
    LLMBoost on the MLPerf records, so its fits are taken out here to see the fallback)."""
    mi300x, llmboost, vllm = catalog.hardware["mi300x"], catalog.runtimes["llmboost"], catalog.runtimes["vllm"]
    assert catalog.efficiency(mi300x, llmboost).calibrated  # its own fit, on its MLPerf records
    cal = catalog.calibration
    catalog = replace(catalog, calibration=replace(
        cal, pairs={k: v for k, v in cal.pairs.items() if k[-1] != "llmboost"},
        family_runtime={k: v for k, v in cal.family_runtime.items() if k[-1] != "llmboost"},
        vendor_runtime={k: v for k, v in cal.vendor_runtime.items() if k[-1] != "llmboost"}))
    base = catalog.efficiency(mi300x, vllm)
    assert base.calibrated  # the shipped calibration fits MI300X x vLLM
    got = catalog.efficiency(mi300x, llmboost)
    assert (got.compute, got.memory, got.step_overhead_s) == (base.compute, base.memory, base.step_overhead_s)
    assert not got.calibrated and "built on vllm" in got.source
    bare = replace(catalog, calibration=Calibration())  # no fit anywhere: the runtime's own prior
    assert bare.efficiency(mi300x, llmboost) is llmboost.prior
    own = replace(catalog, calibration=replace(catalog.calibration, pairs={
        **catalog.calibration.pairs, ("mi300x", "llmboost"): replace(base, compute=0.6)}))
    assert math.isclose(own.efficiency(mi300x, llmboost).compute, 0.6)  # a fit of its own wins


def test_based_on_must_name_a_base_runtime(tmp_path: Path) -> None:
    import shutil

    import yaml

    data = tmp_path / "data"
    shutil.copytree(ROOT / "hardware_catalog" / "data", data)
    path = data / "runtimes.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    next(r for r in doc["runtimes"] if r["id"] == "llmboost")["based_on"] = "no-such-engine"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    with pytest.raises(CatalogError, match=r"runtimes\.yaml: runtimes\.llmboost\.based_on"):
        load_catalog(data)
