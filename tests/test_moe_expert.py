"""MoE expert efficiency (planner.model.moe.linear_flop_params, fitted per runtime by
planner.calibration.fit): the FLOP count it changes, from Mixtral's published shapes; its recovery
from data generated with a known value; its round trip through calibration.yaml."""

from __future__ import annotations

import itertools
import math
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import default_catalog_dir, load_catalog
from planner.calibration.fit import FitResult, at_bound, fit
from planner.calibration.predict import Measurement, RecordSet, predict, prepare
from planner.domain import Calibration, Catalog
from planner.errors import CatalogError
from planner.model.estimate import Scenario
from planner.model.grid import CatalogTables, Efficiencies, Grid
from planner.model.moe import linear_flop_params
from planner.model.perf import StepModel

TRUE = np.array([0.5, 0.8, 0.5, 4.0e-3, 10e-6])  # compute, memory, comm, overhead s, latency s


def _grid(catalog: Catalog, model: str, eta: float) -> Grid:
    t = CatalogTables.from_catalog(catalog)
    grid = t.gather(model=np.array([t.model_ids.index(model)]), hardware=np.array([t.hardware_ids.index("h100-sxm")]),
                    weight_precision=np.array([t.precision_ids.index("fp8")]),
                    kv_precision=np.array([t.precision_ids.index("fp8")]),
                    runtime=np.array([t.runtime_ids.index("tensorrt-llm")]), tp=1.0, pp=1.0)
    return replace(grid, moe_expert_efficiency=np.array([eta]))


def test_expert_flops_scale_with_the_efficiency_from_mixtrals_shapes(catalog: Catalog) -> None:
    # Mixtral 8x7B (Mistral AI, arXiv 2401.04088): 32 layers, hidden 4096, expert FFN 14336 (SwiGLU,
    # 3 matrices), 8 experts, top-2; 12.9B active parameters
    routed = 32 * 3 * 4096 * 14336 * 2  # parameters of the 2 experts a token runs through
    for eta in (1.0, 0.5, 0.25):
        assert linear_flop_params(_grid(catalog, "mixtral-8x7b", eta))[0] == pytest.approx(
            12.9e9 + routed * (1 / eta - 1), rel=1e-6)
    # the step's linear compute follows; a dense model does not see the coefficient
    slow, fast = (StepModel.build(_grid(catalog, "mixtral-8x7b", e)).coefficients.linear_compute_s_per_token[0]
                  for e in (0.5, 1.0))
    assert slow / fast == pytest.approx((12.9e9 + routed) / 12.9e9, rel=1e-6)
    dense = [StepModel.build(_grid(catalog, "llama-2-70b", e)).coefficients.linear_compute_s_per_token[0]
             for e in (0.5, 1.0)]
    assert dense[0] == dense[1]


def _records(catalog: Catalog, model: str) -> RecordSet:
    records = [
        Measurement(id=f"{model}-{k}", model=model, hardware="h100-sxm", chips=1, tp=1, pp=1,
                    weight_precision="fp8", kv_precision="fp8", runtime="tensorrt-llm",
                    scenario=Scenario.STATIC_BATCH, input_tokens=i, output_tokens=256, batch=b,
                    request_rate=None, observed={"output_tokens_per_s": 1.0}, confidence="high")
        for k, (b, i) in enumerate(itertools.product((1, 16, 128), (128, 2048)))
    ]
    rs, skipped = prepare(catalog, CatalogTables.from_catalog(catalog), records)
    assert not skipped
    return rs


def test_fit_recovers_the_expert_efficiency_that_generated_the_data() -> None:
    catalog = replace(load_catalog(), calibration=Calibration())
    tables = CatalogTables.from_catalog(catalog)
    dense, moe = _records(catalog, "llama-3.1-8b"), _records(catalog, "mixtral-8x7b")
    fields = ("model", "hardware", "weight_precision", "kv_precision", "runtime", "tp", "pp", "replicas")
    rs = RecordSet(records=dense.records + moe.records, configs=dense.configs + moe.configs, observed=np.zeros(0),
                   **{f: np.concatenate([getattr(dense, f), getattr(moe, f)]) for f in fields})
    truth_eta = np.where([c.model.experts > 1 for c in rs.configs], 0.6, 1.0)
    truth = predict(tables, rs, Efficiencies.from_columns(np.tile(TRUE, (len(rs), 1))), capacity=False,
                    moe_expert=truth_eta)
    observed = np.full_like(truth, np.nan)
    observed[:, :4] = truth[:, :4]
    result = fit(catalog, replace(rs, observed=observed))
    assert result.calibration.moe_expert["tensorrt-llm"] == pytest.approx(0.6, rel=0.05)
    assert result.calibration.pairs[("h100-sxm", "tensorrt-llm")].compute == pytest.approx(TRUE[0], rel=0.05)
    # without MoE records there is nothing to fit: no coefficient, the model keeps 1
    assert fit(catalog, replace(dense, observed=observed[:len(dense)])).calibration.moe_expert == {}


def test_an_expert_efficiency_at_one_is_reported_with_its_reason(catalog: Catalog) -> None:
    cal = replace(catalog.calibration, moe_expert={"vllm": 1.0, "tensorrt-llm": 0.74})
    report = at_bound(catalog, FitResult(calibration=cal, n_records={}, cost=0.0, evaluations=0))
    assert "upper bound" in report["MoE experts x vllm"]["moe_expert"]
    assert "MoE experts x tensorrt-llm" not in report


def test_calibration_file_carries_it_to_the_tables(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), root)
    path = root / "calibration.yaml"
    text = path.read_text(encoding="utf-8")
    assert "\nmoe_expert:\n" in text
    head = text[:text.index("\nmoe_expert:\n")]
    path.write_text(head + "\nmoe_expert:\n  vllm: 0.5\n", encoding="utf-8")
    catalog = load_catalog(root)
    assert catalog.calibration.moe_expert == {"vllm": 0.5}
    t = CatalogTables.from_catalog(catalog)
    column = t.runtime["moe_expert_efficiency"]
    assert column[t.runtime_ids.index("vllm")] == 0.5 and column[t.runtime_ids.index("tensorrt-llm")] == 1.0
    path.write_text(head + "\nmoe_expert:\n  warp-drive: 0.5\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r"calibration\.yaml: moe_expert\.warp-drive: unknown runtime id"):
        load_catalog(root)


def test_shipped_value_is_below_one_and_came_from_moe_records(catalog: Catalog) -> None:
    """The public Mixtral records on TensorRT-LLM ran below the dense layers' FLOP/s (the fit gave
    0.738): the shipped calibration carries a value for it strictly below the prior of 1."""
    eta = catalog.calibration.moe_expert
    assert set(eta) <= set(catalog.runtimes)
    assert all(0.0 < v <= 1.0 and math.isfinite(v) for v in eta.values())
    assert 0.5 < eta["tensorrt-llm"] < 0.95
