"""Experts-only checkpoints (planner.domain.Checkpoint): gpt-oss ships MXFP4 routed experts and
keeps attention, router, embeddings and LM head in bf16 (HF openai/gpt-oss-120b config.json
``quantization_config.modules_to_not_convert``). At the checkpoint's precision the weights held,
the bytes a step streams and the non-expert matmuls follow that split, in the estimate path, the
search's Universe and the validator's tp inference alike; at any other precision, and for every
other model, a precision still applies to every weight.

Published figures (gpt-oss model card, arXiv 2508.10925, table of parameter counts and checkpoint
sizes): gpt-oss-120b checkpoint 60.8 GiB, MLP 114.71B, attention 0.96B, embedding + unembedding
1.16B parameters; gpt-oss-20b checkpoint 12.8 GiB, MLP 19.12B, attention 0.64B, embedding +
unembedding 1.16B.
"""

from __future__ import annotations

import numpy as np
import pytest

from hardware_catalog import default_catalog_dir
from hardware_catalog.loader import read_yaml, validate_file
from hardware_catalog.schema import ModelFile
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.estimate import Config, config_grid, estimate, resolve
from planner.model.grid import CatalogTables
from planner.model.moe import routed_active_params
from planner.model.perf import MemoryModel, StepModel
from planner.search.shapes.candidates import PARALLEL, universe

GIB = 2.0**30
BF16_BYTES = 2.0  # attention, router, embeddings, LM head stay bf16 in the published checkpoint
# (checkpoint GiB, non-expert parameters = attention + embedding + unembedding) per model card
PUBLISHED = {"gpt-oss-120b": (60.8, 0.96e9 + 1.16e9), "gpt-oss-20b": (12.8, 0.64e9 + 1.16e9)}


def _config(catalog: Catalog, model: str, precision: str = "fp4", tp: int = 1, hardware: str = "b200",
            runtime: str = "tensorrt-llm") -> Config:
    return resolve(catalog, model=model, hardware=hardware, tp=tp, chips=tp, precision=precision, runtime=runtime)


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_weights_match_the_published_checkpoint(catalog: Catalog, model: str) -> None:
    """Within 2% of the published checkpoint. (Every weight at the catalog's fp4, 4.5 bits, gives
    gpt-oss-20b 11.76 GB against 13.74 GB; for gpt-oss-120b its 65.70 GB lands near the 65.28 GB
    by chance, the 4.5-bit experts making up for the 4.5-bit attention: the next test splits it.)"""
    gib, _ = PUBLISHED[model]
    est = estimate(catalog, _config(catalog, model), input_tokens=1000, output_tokens=1000)
    assert est.weights_bytes == pytest.approx(gib * GIB, rel=0.02)
    assert catalog.models[model].weight_bytes(catalog.precisions["fp4"], catalog.precisions) == \
        pytest.approx(est.weights_bytes, rel=1e-12)  # the validator's tp inference sees the same bytes


@pytest.mark.parametrize("model", sorted(PUBLISHED))
def test_a_step_streams_the_bf16_rest_and_the_mxfp4_experts(catalog: Catalog, tables: CatalogTables,
                                                         model: str) -> None:
    """One step reads the non-expert weights whole at 2 B each (attention + embeddings of the
    model card, within 3%) and, when every expert is hit, the rest of the published checkpoint."""
    gib, rest_params = PUBLISHED[model]
    grid = config_grid(catalog, _config(catalog, model), tables)
    c = StepModel.build(grid).coefficients
    bytes_per_s = grid.memory_bandwidth_bytes_per_s * grid.eff_memory  # tp = 1
    rest = float((c.dense_weights_s_per_pass * bytes_per_s)[0])
    experts = float((c.expert_weights_s_per_pass * bytes_per_s)[0])
    assert rest == pytest.approx(rest_params * BF16_BYTES, rel=0.03)
    assert experts == pytest.approx(gib * GIB - rest_params * BF16_BYTES, rel=0.02)


def test_the_rest_multiplies_at_the_bf16_peak(catalog: Catalog, tables: CatalogTables) -> None:
    """The bf16 layers' matmuls run at the chip's bf16 rate, the experts at the fp4 path's."""
    grid = config_grid(catalog, _config(catalog, "gpt-oss-120b"), tables)
    h = tables.hardware_ids.index("b200")
    bf16, fp4 = (tables.peak_linear[h, tables.precision_ids.index(p)] for p in ("bf16", "fp4"))
    assert bf16 < fp4
    routed = routed_active_params(grid)
    expected = 2.0 * ((grid.active_params - routed) / bf16 + routed / grid.moe_expert_efficiency / fp4) \
        / grid.eff_compute
    assert StepModel.build(grid).coefficients.linear_compute_s_per_token == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("model", "precision"), [("gpt-oss-120b", "fp8"), ("gpt-oss-120b", "bf16"),
                                                  ("gpt-oss-20b", "int4"), ("llama-3.1-8b", "fp4"),
                                                  ("llama-3.1-8b", "bf16"), ("mixtral-8x7b", "fp4"),
                                                  ("mixtral-8x7b", "fp8")])
def test_elsewhere_a_precision_applies_to_every_weight(catalog: Catalog, tables: CatalogTables, model: str,
                                                       precision: str) -> None:
    """Another precision is another checkpoint, quantised whole; a model without the field is
    untouched: weights = params x bytes exactly, one peak for every matmul."""
    runtime = "vllm" if precision == "int4" else "tensorrt-llm"
    config = _config(catalog, model, precision, runtime=runtime)
    grid = config_grid(catalog, config, tables)
    per_weight = catalog.precisions[precision].bytes_per_weight
    assert np.all(grid.expert_weight_bytes == per_weight) and np.all(grid.dense_weight_bytes == per_weight)
    assert np.all(grid.peak_dense_flops_per_s == grid.peak_linear_flops_per_s)
    assert MemoryModel.build(grid).coefficients.weight_bytes[0] == catalog.models[model].params * per_weight


@pytest.mark.parametrize("model", sorted(PUBLISHED))
@pytest.mark.parametrize("shape", [(1, 1, 1), (2, 1, 1), (8, 1, 1), (4, 2, 1), (8, 1, 8)])
def test_the_search_and_the_estimate_agree(catalog: Catalog, tables: CatalogTables, model: str,
                                           shape: tuple[int, int, int]) -> None:
    """The search's Universe row of a configuration holds the estimate path's constants; an EP row
    holds the bf16 rest whole and 1 / ep of the experts per chip."""
    tp, pp, ep = shape
    config = resolve(catalog, model=model, hardware="b200", tp=tp, pp=pp, chips=tp * pp, precision="fp4",
                     runtime="sglang")
    ids = (tables.hardware_ids.index("b200"), tables.runtime_ids.index("sglang"),
           tables.precision_ids.index("fp4"), tables.precision_ids.index(config.kv_precision.id))
    u = universe(tables)
    row = u.row(np.array([ids]), np.array([tables.model_ids.index(model)]), np.array([PARALLEL.index(shape)]))
    step, memory = u.models(row)
    if ep > 1:
        gib, rest_params = PUBLISHED[model]
        per_chip = rest_params * BF16_BYTES + (gib * GIB - rest_params * BF16_BYTES) / ep
        assert memory.coefficients.weight_bytes[0] == pytest.approx(per_chip, rel=0.03)
        return
    grid = config_grid(catalog, config, tables)
    for name, searched, estimated in (("memory", memory.coefficients, MemoryModel.build(grid).coefficients),
                                      ("step", step.coefficients, StepModel.build(grid).coefficients)):
        for field in type(searched).__dataclass_fields__:
            assert getattr(searched, field)[0] == pytest.approx(getattr(estimated, field)[0], rel=1e-12,
                                                                nan_ok=True), (name, field)


SHIPPED = default_catalog_dir() / "models" / "gpt-oss-120b.yaml"
BAD = {
    "quantised": ({"precision": "fp4", "quantised": "attention"}, "checkpoint.quantised", "'experts'"),
    "precision": ({"precision": "fp6", "quantised": "experts"}, "checkpoint.precision", "fp4"),
    "rest": ({"precision": "fp4", "quantised": "experts", "rest": "fp4"}, "checkpoint",
             "checkpoint.rest must differ"),
    "bits": ({"precision": "fp4", "quantised": "experts", "bits_per_weight": -4.25},
             "checkpoint.bits_per_weight", "greater than 0"),
    "unknown_key": ({"precision": "fp4", "quantised": "experts", "bits": 4.25}, "checkpoint.bits", "unknown field"),
}


@pytest.mark.parametrize("name", list(BAD))
def test_a_bad_checkpoint_fails_naming_the_field(name: str) -> None:
    checkpoint, field, problem = BAD[name]
    data = {**read_yaml(SHIPPED), "checkpoint": checkpoint}
    with pytest.raises(CatalogError) as info:
        validate_file(ModelFile, data, file=str(SHIPPED))
    message = str(info.value)
    assert field in message and problem in message, message


def test_a_dense_model_cannot_have_one() -> None:
    data = {**read_yaml(default_catalog_dir() / "models" / "llama-3.1-8b.yaml"),
            "checkpoint": {"precision": "fp4", "quantised": "experts"}}
    with pytest.raises(CatalogError, match="checkpoint.quantised experts is for models with experts > 1"):
        validate_file(ModelFile, data, file="llama-3.1-8b.yaml")
