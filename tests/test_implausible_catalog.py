"""Well-formed but physically impossible catalog figures, found by a maintainer's audit (2026-12-07): a figure
in the wrong unit (TB/s or MiB where GB/s or GB is asked, PFLOPS for TFLOPS) or a parameter count a factor of
ten off passed `catalog validate` and gave plausible-looking, wrong plans and costs. Basis: physics and
arithmetic independent of the planner: the time to read a chip's whole memory once (memory / bandwidth) is
0.02-0.08 s for HBM and GDDR and ~1.3-1.7 s for a socket's DDR5; a chip's peak FLOP per byte runs
26-3,791 over the catalog; a transformer's parameters follow from its layers and widths (the Qwen3-8B config:
8.19 B). Each slip is 1,000x (or 10x) off; the bounds sit 10x (2x) outside what ships.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware_catalog.loader import load_catalog
from hardware_catalog.schema import RIDGE_FLOP_PER_BYTE, SWEEP_S
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.attention import parameter_counts

Cli = Callable[..., tuple[int, str, str]]

H20: dict[str, Any] = {  # NVIDIA H20 datasheet: 96 GB HBM3 at 4.0 TB/s, 296 dense FP8 TFLOPS
    "id": "h20", "name": "NVIDIA H20", "vendor": "NVIDIA", "family": "gpu", "memory_gb": 103.08,
    "memory_bandwidth_gb_s": 4000, "peak_tflops": {"bf16": 148, "fp8": 296}, "chips_per_node": 8,
    "interconnect_gb_s": 900, "runtimes": ["vllm"], "default_runtime": "vllm",
    "sources": {k: "NVIDIA H20 datasheet" for k in ("memory_gb", "memory_bandwidth_gb_s", "peak_tflops",
                                                    "chips_per_node", "interconnect_gb_s")}}

QWEN3_8B: dict[str, Any] = {  # HF Qwen/Qwen3-8B config.json: 36 layers, 4096 wide, 32 / 8 heads of 128, 12288 FFN
    "id": "qwen3-8b-test", "name": "Qwen3-8B", "family": "qwen3", "params_b": 8.19, "layers": 36,
    "hidden_size": 4096, "heads": 32, "kv_heads": 8, "head_dim": 128, "ffn_size": 12288, "vocab_size": 151936,
    "context_length": 32768,
    "sources": {k: "HF Qwen/Qwen3-8B config.json" for k in ("params_b", "layers", "hidden_size", "heads",
                                                            "kv_heads", "head_dim", "ffn_size", "vocab_size",
                                                            "context_length")}}


def _overlay(tmp_path: Path, sub: str, entry: dict[str, Any]) -> Path:
    folder = tmp_path / "add"
    (folder / sub).mkdir(parents=True)
    (folder / sub / f"{entry['id']}.yaml").write_text(yaml.safe_dump(entry), encoding="utf-8")
    return folder


def test_the_datasheet_chip_and_model_load(tmp_path: Path) -> None:
    cat = load_catalog(overlays=[_overlay(tmp_path / "h", "hardware", H20), _overlay(tmp_path / "m", "models",
                                                                                      QWEN3_8B)])
    assert "h20" in cat.hardware
    counted = parameter_counts(cat.models["qwen3-8b-test"]).total
    assert counted / 1e9 == pytest.approx(8.19, rel=0.005)  # the config's published total


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"memory_bandwidth_gb_s": 4.0}, "memory_bandwidth_gb_s", "takes 25.8 s"),  # TB/s as GB/s
    ({"memory_gb": 98_304.0}, "memory_bandwidth_gb_s", "memory_gb 98304"),  # MiB as GB
    ({"memory_gb": 0.096}, "memory_bandwidth_gb_s", "memory_gb 0.096"),  # TB as GB
    ({"peak_tflops": {"bf16": 0.148, "fp8": 0.296}}, "peak_tflops", "0.074 FLOP per byte"),  # PFLOPS
    ({"peak_tflops": {"bf16": 148_000.0, "fp8": 296_000.0}}, "peak_tflops", "7.4e+04 FLOP per byte"),  # GFLOPS
])
def test_a_chip_figure_in_the_wrong_unit_is_refused_naming_it(tmp_path: Path, hwplan: Cli, change: dict[str, Any],
                                                              field: str, words: str) -> None:
    folder = _overlay(tmp_path, "hardware", {**H20, **change})
    with pytest.raises(CatalogError, match=field):
        load_catalog(overlays=[folder])
    code, _out, err = hwplan("catalog", "validate", "--add", str(folder))
    assert code == 2 and "h20.yaml" in err and field in err and words in err and "unit" in err, err


def test_every_shipped_chip_sits_well_inside_the_bounds(catalog: Catalog) -> None:
    # the bounds are 10x past the catalog's range on each side, so a 1,000x slip cannot hide in the margin
    for h in catalog.hardware.values():
        sweep = h.memory_bytes / h.memory_bandwidth_bytes_per_s
        low, high = SWEEP_S[h.family]
        assert low * 10 <= sweep <= high / 3  # (TPU v5e: 0.0195 s, HBM2e), (h.id, sweep)
        ridge = max(h.peak_flops_per_s.values()) / h.memory_bandwidth_bytes_per_s
        assert RIDGE_FLOP_PER_BYTE[0] * 5 <= ridge <= RIDGE_FLOP_PER_BYTE[1] / 5, (h.id, ridge)


SLIP = {"active_params_b": 0.8, "sources": {**QWEN3_8B["sources"], "active_params_b": "a slip"}}


@pytest.mark.parametrize(("change", "field"), [({"params_b": 0.819}, "params_b"),  # a decimal point off
                                               ({"params_b": 8190.0}, "params_b"),  # millions as billions
                                               (SLIP, "active_params_b")])
def test_a_parameter_count_the_architecture_contradicts_is_refused(tmp_path: Path, hwplan: Cli,
                                                                   change: dict[str, Any], field: str) -> None:
    folder = _overlay(tmp_path, "models", {**QWEN3_8B, **change})
    with pytest.raises(CatalogError, match=f"{field}: .*x the (8.19|7.568) B the architecture gives"):
        load_catalog(overlays=[folder])
    code, _out, err = hwplan("catalog", "validate", "--add", str(folder))
    assert code == 2 and "qwen3-8b-test.yaml" in err and field in err, err


def test_every_shipped_model_count_agrees_with_its_architecture(catalog: Catalog) -> None:
    # within 25% (two-matrix GELU MLPs of GPT-J and Phi counted as three are the low end), far inside 0.5-2x
    for m in catalog.models.values():
        counts = parameter_counts(m)
        assert 0.75 <= m.params / counts.total <= 1.25, m.id
        assert 0.75 <= m.active_params / counts.active <= 1.25, m.id


def test_validate_names_a_replaced_entry_and_the_chips_its_prices_skip(tmp_path: Path, hwplan: Cli) -> None:
    folder = _overlay(tmp_path, "hardware", {**H20, "id": "h100-sxm", "tdp_w": 400,
                                              "sources": {**H20["sources"], "tdp_w": "NVIDIA H20 datasheet"}})
    (folder / "prices").mkdir()
    typo = {"offers": [{"hardware": "h2o", "provider": "aws", "market": "hyperscaler", "mode": "on_demand",
                        "usd_per_chip_hour": 1.5, "chips_per_instance": 1, "instance": "test",
                        "region": "unspecified", "as_of": "2026-11-01", "source": "a test offer"}]}
    (folder / "prices" / "h2o.yaml").write_text(yaml.safe_dump(typo), encoding="utf-8")
    code, out, err = hwplan("catalog", "validate", "--add", str(folder))
    assert code == 0, err
    assert "replaces hardware 'h100-sxm'" in out and "h2o" in out.split("chips not in the catalog:")[1], out


def test_an_add_path_that_is_a_file_or_a_base_that_is_an_overlay_says_so(tmp_path: Path, hwplan: Cli) -> None:
    folder = _overlay(tmp_path, "hardware", H20)
    code, _out, err = hwplan("catalog", "validate", "--add", str(folder / "hardware" / "h20.yaml"))
    assert code == 2 and "not a directory" in err, err
    code, _out, err = hwplan("catalog", "validate", str(folder))
    assert code == 2 and "--add DIR" in err, err
