"""llama.cpp loads GGUF files, and `hwplan export` names Q8_0 for int8 and Q4_K_M for int4: 8.5008 and 4.8944
bits per weight (runtimes.yaml ``weight_bits``), not precisions.yaml's 8.0 and 4.25 (AWQ / GPTQ's group-128
format). The planner sizes a llama.cpp replica's weights, and the bytes each pass reads, at the GGUF's figure.

Independent bases: the sizes llama.cpp's own README publishes for the files llama-quantize writes
(ggml-org/llama.cpp tools/quantize/README.md: Llama-3.1-8B Q4_K_M 4.58 GiB, Q8_0 7.95 GiB, F16 14.96 GiB; Llama
3.1 70B Q4_K_M 43.1 GB), and a 40 GB A100's reported memory (43.0 GB), which that 70B file does not fit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from hardware_catalog import default_catalog_dir, load_catalog
from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.estimate import config_grid, estimate, resolve
from planner.model.perf import MemoryModel, StepModel
from planner.search.planning import plan

GIB = 2**30


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize(("precision", "gib"), [("int4", 4.58), ("int8", 7.95), ("fp16", 14.96)])
def test_llama_cpp_weights_are_the_gguf_files_readme_sizes(catalog: Catalog, precision: str, gib: float) -> None:
    model, prec = catalog.get_model("llama-3.1-8b"), catalog.get_precision(precision)
    stored = model.weight_bytes(prec, catalog.precisions, catalog.get_runtime("llama.cpp"))
    assert stored / GIB == pytest.approx(gib, abs=0.006)  # the README's two decimals


def test_llama_3_1_70b_in_q4_k_m_is_the_readmes_43_gb(catalog: Catalog) -> None:
    model = catalog.get_model("llama-3.1-70b")
    stored = model.weight_bytes(catalog.get_precision("int4"), catalog.precisions, catalog.get_runtime("llama.cpp"))
    assert stored / 1e9 == pytest.approx(43.1, rel=0.01)


def test_other_engines_keep_the_precisions_own_format(catalog: Catalog) -> None:
    model, int4 = catalog.get_model("llama-3.1-70b"), catalog.get_precision("int4")
    for runtime in ("vllm", "sglang", "tensorrt-llm"):
        assert model.weight_bytes(int4, catalog.precisions, catalog.get_runtime(runtime)) == \
            pytest.approx(model.params * 4.25 / 8)


def _grid_weights(catalog: Catalog, runtime: str) -> tuple[float, float]:
    """(weight bytes a chip holds, seconds a pass reads them) of llama-3.1-70b int4 on one A100 80GB."""
    config = resolve(catalog, model="llama-3.1-70b", hardware="a100-80gb", chips=1, precision="int4",
                     runtime=runtime)
    grid = config_grid(catalog, config)
    return (float(MemoryModel.build(grid).coefficients.weight_bytes[0]),
            float(StepModel.build(grid).coefficients.dense_weights_s_per_pass[0] * grid.eff_memory[0]
                  * grid.memory_bandwidth_bytes_per_s[0]))


def test_the_planner_holds_and_reads_the_stored_bytes(catalog: Catalog) -> None:
    """What the search evaluates (the grid's memory and step models), not only the domain's figure."""
    held, read = _grid_weights(catalog, "llama.cpp")
    assert held / 1e9 == pytest.approx(43.1, rel=0.01)
    assert read == pytest.approx(held, rel=1e-9)  # a pass reads every weight as stored
    held_vllm, _ = _grid_weights(catalog, "vllm")
    assert held / held_vllm == pytest.approx(4.8944 / 4.25, rel=1e-6)


def test_the_70b_q4_k_m_file_does_not_fit_a_40_gb_a100(catalog: Catalog) -> None:
    """43.1 GB of weights against the 43.0 GB the card reports: llama.cpp cannot load it on one. At AWQ's 4.25 bits
    (37.5 GB) it would have been planned there."""
    config = resolve(catalog, model="llama-3.1-70b", hardware="a100-40gb", chips=1, precision="int4",
                     runtime="llama.cpp")
    est = estimate(catalog, config, input_tokens=512, output_tokens=128)
    assert not est.fits
    assert "weights alone need 43.2 GB" in str(est.reason)


WORKLOAD = """
name: gguf-70b
traffic: {requests_per_s: 0.05, input_tokens: {mean: 300}, output_tokens: {mean: 100}}
slo: {ttft_ms: {p95: 60000}, tpot_ms: {p95: 1000}}
quality: {}
constraints:
  models: [llama-3.1-70b]
  runtimes: [llama.cpp]
  precisions: [int4]
  hardware: [a100-40gb, a100-80gb]
  max_chips_per_replica: 1
"""


def test_a_plan_never_puts_the_70b_gguf_on_a_40_gb_card(catalog: Catalog, tmp_path: Path) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD)
    result = plan(load_workload(path), catalog, top=5, explain=False)
    assert result.plans, "the 80 GB card holds it"
    assert {d.hardware for p in result.plans for d in p.deployments} == {"a100-80gb"}


def test_a_runtime_format_needs_a_source_and_a_format_it_serves(tmp_path: Path) -> None:
    """A catalog maintainer's bits per weight: cited, and only for a format the runtime lists."""
    folder = tmp_path / "catalog"
    shutil.copytree(default_catalog_dir(), folder)
    runtimes = folder / "runtimes.yaml"
    text = runtimes.read_text()
    uncited = text.replace("    weight_bits: \"llama.cpp loads GGUF", "    weight_bit_note: \"llama.cpp loads GGUF")
    runtimes.write_text(uncited)
    with pytest.raises(CatalogError, match="weight_bit"):
        load_catalog(folder)
    runtimes.write_text(text.replace("weight_bits: {int8: 8.5008, int4: 4.8944}",
                                     "weight_bits: {int8: 8.5008, int4: 4.8944, fp8: 8.25}"))
    with pytest.raises(CatalogError, match=r"weight_bits: \['fp8'\] not among"):
        load_catalog(folder)


def test_an_int8_kv_cache_on_llama_cpp_is_q8_0s_8_5_bits(catalog: Catalog) -> None:
    """llama-server's q8_0 cache type (the export's for int8 KV): blocks of 32 int8 values and an fp16 scale, 34 bytes
    per 32 values. Basis: that block layout, and llama-3.1-8b's KV shape from its config (32 layers x 8 KV heads x
    128 dims, K and V) in the memory model's KV bytes per token."""
    runtime, int8 = catalog.get_runtime("llama.cpp"), catalog.get_precision("int8")
    assert runtime.stored_kv_bytes(int8) == 34 / 32
    assert catalog.get_runtime("vllm").stored_kv_bytes(int8) == 1.0
    config = resolve(catalog, model="llama-3.1-8b", hardware="a100-80gb", chips=1, precision="int8",
                     kv_precision="int8", runtime="llama.cpp")
    kv = MemoryModel.build(config_grid(catalog, config)).coefficients
    per_token = 2 * 32 * 8 * 128 * 34 / 32
    assert kv.kv_bytes_per_token[0] == pytest.approx(per_token * (1 + runtime.kv_waste_fraction), rel=1e-9)
