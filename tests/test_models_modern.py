"""Modern models and attention kinds: MLA, sliding windows, MoE layouts, against published figures.

Independent bases: the DeepSeek-V2/V3 papers' MLA cache formula, brute-force sums over the
layer patterns the configs state, and the vendors' published parameter totals (the counts here
come from layer widths only, never from params_b).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from hardware_catalog.loader import validate_file
from hardware_catalog.schema import ModelFile
from planner.domain import Catalog
from planner.errors import CatalogError
from planner.model.attention import attention_flops_per_token, kv_bytes_per_token, kv_cache_bytes, parameter_counts
from planner.model.estimate import config_grid, resolve
from planner.model.grid import CatalogTables
from planner.model.perf import kv_bytes_per_token as grid_kv_bytes_per_token
from planner.model.perf import memory

MODELS = Path(__file__).parents[1] / "hardware_catalog/data/models"
NEW = ("deepseek-v3", "deepseek-r1", "kimi-k2", "gpt-oss-120b", "gpt-oss-20b", "qwen3-235b-a22b", "qwen3-32b",
       "llama-4-scout", "llama-4-maverick", "gemma-3-27b")
BF16 = 2.0


def test_mla_kv_bytes_per_token_deepseek_v3(catalog: Catalog) -> None:
    # DeepSeek-V2 (arXiv 2405.04434) section 2.1: MLA caches (d_c + d_h^R) l elements per token;
    # DeepSeek-V3 (arXiv 2412.19437): d_c = 512, d_h^R = 64, l = 61 layers. In bf16: 61 x 576 x 2.
    v3 = catalog.models["deepseek-v3"]
    assert float(kv_bytes_per_token(v3, 4096.0, BF16)) == 61 * (512 + 64) * 2 == 70_272
    # GQA for comparison (Llama 3.1 70B: 80 layers, 8 KV heads of 128; K and V): 327,680 bytes
    llama = catalog.models["llama-3.1-70b"]
    assert float(kv_bytes_per_token(llama, 4096.0, BF16)) == 80 * 2 * 8 * 128 * 2 == 327_680
    # MHA with DeepSeek-V3's own 128 heads of 128 would cache 2 x 128 x 128 per layer: 57x more
    assert pytest.approx(56.9, abs=0.1) == 2 * 128 * 128 / (512 + 64)


def test_mla_latent_is_held_whole_on_every_tensor_parallel_chip(catalog: Catalog) -> None:
    """GQA's KV heads split over tp; MLA's single latent cannot, so each chip holds all of it."""
    tables = CatalogTables.from_catalog(catalog)
    for model, tp, expected in (("deepseek-v3", 8, 70_272), ("llama-3.1-70b", 8, 327_680 / 8)):
        config = resolve(catalog, model=model, hardware="h200", tp=tp, precision="bf16", kv_precision="bf16")
        grid = config_grid(catalog, config, tables)
        assert float(grid_kv_bytes_per_token(grid)[0]) == expected


def _brute_force_kv(layer_windows: list[int | None], context: int, per_layer_token_bytes: float) -> float:
    """Sum over layers of the tokens each holds (a windowed layer at most its window)."""
    return sum(min(context, w) if w else context for w in layer_windows) * per_layer_token_bytes


@pytest.mark.parametrize("context", [64, 128, 4096, 131_072])
def test_gpt_oss_sliding_window_caps_kv_at_long_context(catalog: Catalog, context: int) -> None:
    # HF openai/gpt-oss-120b config: 36 layers alternating sliding_attention (window 128) and
    # full_attention; 8 KV heads of 64.
    model = catalog.models["gpt-oss-120b"]
    pattern: list[int | None] = [128 if i % 2 == 0 else None for i in range(36)]
    expected = _brute_force_kv(pattern, context, 2 * 8 * 64 * BF16)
    assert float(kv_cache_bytes(model, float(context), BF16)) == pytest.approx(expected, rel=1e-12)
    full = 36 * 2 * 8 * 64 * BF16 * context
    if context <= 128:
        assert expected == full
    else:  # the 18 windowed layers stop growing: at 128K the cache is ~half of all-full attention
        assert expected < 0.51 * full if context == 131_072 else expected < full


def test_gemma3_five_local_per_global_layer(catalog: Catalog) -> None:
    # Gemma 3 27B: 62 layers, layer i global when (i + 1) % 6 == 0, local window 1024; 16 KV heads of 128
    model = catalog.models["gemma-3-27b"]
    pattern: list[int | None] = [None if (i + 1) % 6 == 0 else 1024 for i in range(62)]
    assert pattern.count(None) == 10
    for context in (512, 32_768, 131_072):
        expected = _brute_force_kv(pattern, context, 2 * 16 * 128 * BF16)
        assert float(kv_cache_bytes(model, float(context), BF16)) == pytest.approx(expected, rel=1e-12)


def test_memory_model_reads_the_window(catalog: Catalog) -> None:
    """The planner's memory model (perf.memory) holds gpt-oss's KV by the layer pattern, not heads x context."""
    config = resolve(catalog, model="gpt-oss-120b", hardware="h200", tp=1, precision="bf16", kv_precision="bf16")
    grid = config_grid(catalog, config, CatalogTables.from_catalog(catalog))
    context = 131_072
    kv = float(memory(grid, batch=1.0, context_tokens=float(context)).kv_cache[0])
    pattern: list[int | None] = [128 if i % 2 == 0 else None for i in range(36)]
    brute = _brute_force_kv(pattern, context, 2 * 8 * 64 * BF16) * (1.0 + config.runtime.kv_waste_fraction)
    assert kv == pytest.approx(brute, rel=1e-12)


def test_windowed_decode_attention_grows_only_with_full_layers(catalog: Catalog) -> None:
    model = catalog.models["gpt-oss-120b"]
    flops = attention_flops_per_token(model, np.array([1e5, 2e5]))
    # one more key costs QK^T + AV in the 18 full layers only: 4 x 18 x 64 heads x 64 FLOPs
    assert (flops[1] - flops[0]) / 1e5 == pytest.approx(4 * 18 * 64 * 64)


# Published totals (B) and the counting convention of each vendor's "active" figure.
PUBLISHED = [
    # DeepSeek-V3 README / tt-metal README_WEIGHTS.md: 671B total, 36.6B active incl. output head
    ("deepseek-v3", 671.0, 36.6, False, 0.02),
    # gpt-oss model card arXiv 2508.10925: 116.83B / 5.13B; 20.91B / 3.61B (unembedding counted once)
    ("gpt-oss-120b", 116.8, 5.1, False, 0.02),
    ("gpt-oss-20b", 20.9, 3.6, False, 0.02),
    # Qwen3 report / model cards: 235B / 22B, Qwen counts the input embedding as active
    ("qwen3-235b-a22b", 235.0, 22.0, True, 0.02),
    ("qwen3-32b", 32.8, 32.8, True, 0.02),
    # Llama 4 card: 109B total (incl. the vision encoder), 17B active incl. embeddings
    ("llama-4-scout", 109.0, 17.0, True, 0.02),
    # Llama 4 card: Maverick 400B total, 17B active incl. embeddings (every other layer MoE, one shared expert)
    ("llama-4-maverick", 400.0, 17.0, True, 0.02),
    # Gemma 3 report: 25.6B non-embedding + 1.4B embedding = 27B
    ("gemma-3-27b", 27.0, 27.0, False, 0.02),
    # Kimi K2 report: "1 trillion" / "32 billion": one significant figure, so 3% on the total
    ("kimi-k2", 1000.0, 32.0, False, 0.03),
]


@pytest.mark.parametrize(("model_id", "total_b", "active_b", "with_input_embedding", "tol"), PUBLISHED)
def test_parameter_counts_from_architecture_match_published(catalog: Catalog, model_id: str, total_b: float,
                                                            active_b: float, with_input_embedding: bool,
                                                            tol: float) -> None:
    counts = parameter_counts(catalog.models[model_id])
    active = counts.active + (counts.embedding if with_input_embedding else 0.0)
    assert counts.total / 1e9 == pytest.approx(total_b, rel=tol)
    assert active / 1e9 == pytest.approx(active_b, rel=0.02)


def test_counted_routed_experts_agree_with_the_planners_expert_params(catalog: Catalog) -> None:
    """Model.expert_params (read by the step-time model) skips DeepSeek-V3's 3 dense layers."""
    v3 = catalog.models["deepseek-v3"]
    assert v3.expert_params == parameter_counts(v3).routed_experts == 58 * 256 * 3 * 7168 * 2048


@pytest.mark.parametrize("model_id", NEW)
def test_every_new_model_file_loads(catalog: Catalog, model_id: str) -> None:
    path = MODELS / f"{model_id}.yaml"
    parsed = validate_file(ModelFile, yaml.safe_load(path.read_text()), file=str(path))
    assert parsed.id == model_id and model_id in catalog.models
    assert all(key.startswith("quality.") or key in ModelFile.model_fields for key in parsed.sources)


def test_mlperf_deepseek_r1_records_resolve(catalog: Catalog) -> None:
    """../shared/calibration/mlperf.yaml names the model deepseek-r1 (MLPerf v5.1)."""
    assert catalog.get_model("deepseek-r1").attention.kind == "mla"


BASE = {"id": "x", "name": "x", "family": "x", "params_b": 1.0, "layers": 4, "hidden_size": 64, "heads": 4,
        "kv_heads": 4, "head_dim": 16, "ffn_size": 128, "vocab_size": 100, "context_length": 1024}


@pytest.mark.parametrize(("extra", "field", "words"), [
    ({"attention": {"kind": "mla", "qk_rope_head_dim": 64}}, "attention", "kv_lora_rank"),
    ({"attention": {"kind": "hybrid", "window": 128}}, "attention", "sliding_layers"),
    ({"attention": {"kind": "gqa", "window": 128}}, "attention", "window"),
    ({"attention": {"kind": "hybrid", "window": 128, "sliding_layers": 4}}, None, "sliding_layers"),
    ({"attention": {"kind": "sliding_window", "window": -1}}, "attention.window", "greater than 0"),
    ({"experts": 8, "experts_per_token": 2, "moe": {"dense_layers": 4, "dense_ffn_size": 256}}, None, "dense_layers"),
    ({"moe": {"shared_experts": 1}}, None, "experts > 1"),
    ({"attention": {"kind": "mla", "kv_lora_rank": 8, "qk_rope_head_dim": 8, "bogus": 1}}, "attention.bogus",
     "unknown field"),
])
def test_bad_attention_and_moe_fields_name_the_field(extra: dict[str, object], field: str | None, words: str) -> None:
    with pytest.raises(CatalogError) as err:
        validate_file(ModelFile, {**BASE, **extra}, file="models/x.yaml")
    assert err.value.file == "models/x.yaml"
    assert field is None or err.value.field == field
    assert words.lower() in err.value.message.lower()
