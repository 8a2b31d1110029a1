"""Tensor-parallel attention splits the heads evenly, as the engines require.

vLLM refuses to start a tp that does not divide the attention heads ("Total number of attention
heads (28) must be divisible by tensor parallel size (8)": ``ModelConfig.verify_with_parallel_config``)
and its QKV layer splits the KV heads, or replicates them when tp is larger, only evenly; SGLang's
and LMDeploy's configs assert the same. Qwen2.5-7B (28 heads, 4 KV heads) at tp 8 and Qwen2.5-0.5B
(14 heads) at tp 4 are the catalog's cases on 8-chip nodes. On Neuron the heads are padded: AWS's
own tables ran llama-3-8b (32 heads) at tp 12 on inf2 (public_benchmarks.yaml), so those stay.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path

import pytest

from hardware_catalog import load_catalog
from planner.domain import Catalog
from planner.errors import CatalogError, InputError
from planner.model.attention import head_split_problem
from planner.model.estimate import resolve
from planner.model.grid import CatalogTables
from planner.search.shapes.candidates import enumerate_candidates
from planner.workload import Constraints, Tokens, Traffic, Workload

SHIPPED = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data"


@functools.cache
def _catalog() -> Catalog:
    return load_catalog()


# (model, tp, splits): by hand from the models' config.json head counts (heads, KV heads)
CASES = [
    ("qwen2.5-7b", 4, True),  # 28 / 4 = 7 query heads, 4 KV heads one each
    ("qwen2.5-7b", 8, False),  # 28 % 8
    ("qwen2.5-0.5b", 2, True),  # 14 heads, 2 KV heads
    ("qwen2.5-0.5b", 4, False),  # 14 % 4
    ("llama-3.1-8b", 16, True),  # 32 / 16; 8 KV heads each on 2 ranks
    ("llama-3.1-8b", 3, False),
    ("llama-3.2-3b", 16, False),  # 24 % 16
    ("llama-2-13b", 8, True),  # 40 heads, 40 KV heads: 5 each
    ("deepseek-r1", 16, True),  # MLA: 128 query heads, one shared latent
]


@pytest.mark.parametrize(("model", "tp", "splits"), CASES)
def test_the_rule_matches_the_head_counts(model: str, tp: int, splits: bool) -> None:
    assert (head_split_problem(_catalog().models[model], tp) is None) is splits


def test_estimate_refuses_an_uneven_split_naming_tp_and_the_ones_that_work() -> None:
    with pytest.raises(InputError) as info:
        resolve(_catalog(), model="qwen2.5-7b", hardware="h100-sxm", tp=8, runtime="vllm")
    assert info.value.field == "tp"
    assert "28 attention heads" in str(info.value) and "1, 2, 4" in str(info.value)
    # Neuron pads the heads: the measured tp 12 runs resolve
    config = resolve(_catalog(), model="llama-3-8b", hardware="inferentia2", tp=12, runtime="neuronx")
    assert config.tp == 12


def _candidates(model: str, hardware: str, runtime: str) -> set[tuple[int, int]]:
    catalog = _catalog()
    w = Workload(name="heads", traffic=Traffic(requests_per_s=1.0, input_tokens=Tokens(500.0),
                                               output_tokens=Tokens(100.0)),
                 constraints=Constraints(models=(model,), hardware=(hardware,), runtimes=(runtime,)))
    cand = enumerate_candidates(catalog, CatalogTables.from_catalog(catalog), w)
    assert len(cand)
    return {(int(tp), int(ep)) for tp, ep in zip(cand.tp, cand.ep, strict=True)}


def test_the_search_never_enumerates_a_shape_the_engine_refuses() -> None:
    gpu = _candidates("qwen2.5-7b", "h100-sxm", "vllm")
    assert {tp for tp, _ in gpu} == {1, 2, 4}
    neuron = _candidates("qwen2.5-7b", "trainium2", "neuronx")
    assert 8 in {tp for tp, _ in neuron}  # padded on Neuron


def test_uneven_heads_needs_a_source_and_a_family_of_the_runtime(tmp_path: Path) -> None:
    root = tmp_path / "catalog"
    shutil.copytree(SHIPPED, root)
    runtimes = root / "runtimes.yaml"
    text = runtimes.read_text(encoding="utf-8")
    # drop neuronx's source line: the list alone is refused
    lines = [line for line in text.splitlines(keepends=True) if "AWS Neuron's own performance tables" not in line]
    runtimes.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(CatalogError, match="uneven_heads needs a source"):
        load_catalog(root)
    runtimes.write_text(text.replace("  uneven_heads: [inferentia, trainium]\n", "  uneven_heads: [gpu]\n", 1),
                        encoding="utf-8")
    with pytest.raises(CatalogError, match="uneven_heads: families"):
        load_catalog(root)


def test_native_only_needs_a_source_and_formats_the_runtime_serves(tmp_path: Path) -> None:
    """runtimes.yaml's native_only (TensorRT-LLM's FP8 and FP4) is refused without its source, and where it names a
    weight format the runtime does not serve; a bad file replaces nothing (the load fails, naming the field)."""
    root = tmp_path / "catalog"
    shutil.copytree(SHIPPED, root)
    runtimes = root / "runtimes.yaml"
    text = runtimes.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines(keepends=True)
             if "TensorRT-LLM support matrix (nvidia.github.io" not in line]
    runtimes.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(CatalogError, match="native_only needs a source"):
        load_catalog(root)
    runtimes.write_text(text.replace("  native_only: [fp8]\n", "  native_only: [fp8, tf32]\n", 1),
                        encoding="utf-8")
    with pytest.raises(CatalogError, match=r"native_only: \['tf32'\] not among"):
        load_catalog(root)


def _shapes(model: str, hardware: str, runtime: str) -> tuple[set[tuple[int, int]], dict[str, int]]:
    """(tp, pp) shapes the search enumerates for the model on the chip and runtime, and its drop counts."""
    catalog = _catalog()
    w = Workload(name="splits", traffic=Traffic(requests_per_s=1.0, input_tokens=Tokens(500.0),
                                                output_tokens=Tokens(100.0)),
                 constraints=Constraints(models=(model,), hardware=(hardware,), runtimes=(runtime,)))
    cand = enumerate_candidates(catalog, CatalogTables.from_catalog(catalog), w)
    return {(int(tp), int(pp)) for tp, pp in zip(cand.tp, cand.pp, strict=True)}, dict(cand.dropped)


def test_a_runtime_is_planned_only_with_the_splits_it_runs() -> None:
    """runtimes.yaml no_split: llama.cpp's row split keeps the KV cache on one GPU (its --main-gpu help), so a
    multi-GPU llama.cpp replica is planned as layer stages (pp) only; MaxText serves no pipeline stages, so JetStream
    is planned with tp only (a new-user audit: plans the export then refused, or that could not hold their cache).
    Basis: the engines' documented options; vLLM on the same chips keeps both splits."""
    # (the searched shapes split pipelines only beside tp 4 or 8: a llama.cpp replica is planned on one chip;
    # hwplan estimate --pp runs its layer split)
    llama, dropped = _shapes("llama-3.1-8b", "l40s", "llama.cpp")
    assert llama == {(1, 1)}
    assert dropped["a split of the replica the runtime does not run (runtimes.yaml no_split)"] > 0
    assert {tp for tp, _ in _shapes("llama-3.1-8b", "l40s", "vllm")[0]} >= {1, 2, 4}
    jet, _ = _shapes("llama-3.1-70b", "tpu-v5e", "jetstream")
    assert jet and all(pp == 1 for _, pp in jet) and any(tp > 1 for tp, _ in jet)
    vllm, _ = _shapes("llama-3.1-70b", "tpu-v5e", "vllm")
    assert any(pp > 1 for _, pp in vllm)
    catalog = _catalog()
    with pytest.raises(InputError, match="llama.cpp has no tensor-parallel split"):
        resolve(catalog, model="llama-3.1-8b", hardware="rtx-4090", chips=2, tp=2, runtime="llama.cpp")
    with pytest.raises(InputError, match="jetstream has no pipeline-parallel split"):
        resolve(catalog, model="llama-3.1-8b", hardware="tpu-v5e", chips=4, tp=2, pp=2, runtime="jetstream")
    assert resolve(catalog, model="llama-3.1-8b", hardware="rtx-4090", chips=2, tp=1, pp=2, runtime="llama.cpp")
