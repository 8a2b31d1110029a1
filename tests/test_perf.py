"""Physics of the performance model (planner.model.perf), the issue's Must-show list, and hand-computed
formula checks. Architecture figures are the catalog's (each model file cites its model card)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import pytest

from planner.domain import Catalog
from planner.model.estimate import estimate, resolve
from planner.model.grid import CatalogTables, Grid
from planner.model.perf import StepModel, kv_bytes_per_token, memory, step_time

GB = 1e9


def _full_grid(tables: CatalogTables, tp: int = 1, runtime: int = 0) -> tuple[Grid, np.ndarray]:
    """Every model x hardware x precision the hardware can compute (runtime: the catalog's first, or ``runtime``)."""
    m, h, p = np.meshgrid(np.arange(len(tables.model_ids)), np.arange(len(tables.hardware_ids)),
                          np.arange(len(tables.precision_ids)), indexing="ij")
    m, h, p = m.ravel(), h.ravel(), p.ravel()
    ok = np.isfinite(tables.peak_linear[h, p])
    m, h, p = m[ok], h[ok], p[ok]
    bf16 = tables.precision_ids.index("bf16")
    grid = tables.gather(model=m, hardware=h, weight_precision=p, kv_precision=np.full_like(m, bf16),
                         runtime=np.full_like(m, runtime), tp=tp, pp=1)
    return grid, m


def _weight_bytes_per_token(grid: Grid) -> np.ndarray:
    """Bytes of weights one decode token must read: all dense weights, k of E experts (MoE)."""
    routed = grid.expert_params * grid.experts_per_token / grid.experts
    return (grid.params - grid.expert_params) * grid.dense_weight_bytes + routed * grid.expert_weight_bytes


@pytest.mark.parametrize("tp", [1, 2, 8])
def test_decode_never_beats_weight_bytes_over_bandwidth(tables: CatalogTables, tp: int) -> None:
    """Issue Must-show: decode time per token at batch 1 >= weight bytes / memory bandwidth,
    exhaustively over the default catalog (models x hardware x computable precisions)."""
    grid, _ = _full_grid(tables, tp)
    assert len(grid) > 1000
    for context in (1.0, 640.0, 8192.0):
        t = step_time(grid, decode_tokens=1.0, decode_context=context).total
        floor = _weight_bytes_per_token(grid) / (tp * grid.memory_bandwidth_bytes_per_s)
        assert np.all(t >= floor), "a decode step is faster than reading the weights once"


@pytest.mark.parametrize("batch", [1.0, 16.0, 256.0])
def test_more_bandwidth_never_slows_decode(tables: CatalogTables, batch: float) -> None:
    grid, _ = _full_grid(tables)
    before = step_time(grid, decode_tokens=batch, decode_context=640.0).total
    for factor in (1.01, 2.0, 10.0):
        faster = replace(grid, memory_bandwidth_bytes_per_s=grid.memory_bandwidth_bytes_per_s * factor)
        after = step_time(faster, decode_tokens=batch, decode_context=640.0).total
        assert np.all(after <= before)
    # and bandwidth does matter where decode is memory-bound (batch 1)
    if batch == 1.0:
        assert np.mean(after < before) > 0.9


def test_llama_3_1_70b_bf16_needs_more_than_one_h100(catalog: Catalog) -> None:
    """Must-show: 70.6B x 2 bytes = 141 GB > 80 GB; tp = 4 puts 35 GB on each chip."""
    one = estimate(catalog, resolve(catalog, model="llama-3.1-70b", hardware="h100-sxm", precision="bf16"))
    assert not one.fits
    assert "weights alone" in (one.reason or "")
    assert one.weights_bytes > 80 * GB
    four = estimate(catalog, resolve(catalog, model="llama-3.1-70b", hardware="h100-sxm",
                                     precision="bf16", tp=4))
    assert four.fits and four.reason is None
    assert four.weights_bytes == pytest.approx(one.weights_bytes / 4)
    assert four.max_batch >= 1


def test_llama_2_70b_int4_fits_one_48gb_gpu(catalog: Catalog) -> None:
    """Must-show: 69e9 x 4.25 bits / 8 = 36.7 GB of int4 weights fit one 48 GB L40S."""
    cfg = resolve(catalog, model="llama-2-70b", hardware="l40s", precision="int4", runtime="vllm")
    est = estimate(catalog, cfg)
    assert est.weights_bytes == pytest.approx(cfg.model.params * 4.25 / 8)
    assert est.weights_bytes < 48 * GB
    assert est.fits, est.reason


def test_kv_bytes_per_token_hand_computed(one_row: Callable[..., Grid]) -> None:
    """Llama 3.1 8B: 32 layers, 8 KV heads (GQA), head_dim 128, bf16 -> 2*32*8*128*2 = 131072 B."""
    assert kv_bytes_per_token(one_row(model="llama-3.1-8b", hardware="h100-sxm"))[0] == 131072
    assert kv_bytes_per_token(one_row(model="llama-3.1-8b", hardware="h100-sxm", tp=2))[0] == 65536
    assert kv_bytes_per_token(one_row(model="llama-3.1-8b", hardware="h100-sxm", pp=2))[0] == 65536
    fp8 = one_row(model="llama-3.1-8b", hardware="h100-sxm", kv_precision="fp8")
    assert kv_bytes_per_token(fp8)[0] == 65536  # 1 byte per element


def test_kv_heads_replicated_when_fewer_than_tp(one_row: Callable[..., Grid]) -> None:
    """8 KV heads over tp = 16: each chip keeps ceil(8/16) = 1 head -> 2*32*1*128*2 = 16384 B."""
    grid = replace(one_row(model="llama-3.1-8b", hardware="h100-sxm"), tp=np.array([16.0]))
    assert kv_bytes_per_token(grid)[0] == 16384


def test_weights_per_chip_under_tp_and_pp(catalog: Catalog, one_row: Callable[..., Grid]) -> None:
    params = catalog.get_model("llama-3.1-70b").params
    for tp, pp in ((1, 1), (4, 1), (2, 2), (8, 2)):
        grid = replace(one_row(model="llama-3.1-70b", hardware="h100-sxm"),
                       tp=np.array([float(tp)]), pp=np.array([float(pp)]))
        mem = memory(grid, batch=1.0, context_tokens=640.0)
        assert mem.weights[0] == pytest.approx(params * 2.0 / (tp * pp))  # bf16 = 2 bytes


def test_moe_uses_active_params_for_compute(one_row: Callable[..., Grid]) -> None:
    """Mixtral 8x7B: 46.7B total, 12.9B active. A 4096-token prefill is compute-bound:
    linear time = 2 * 12.9e9 * 4096 / (peak_bf16 * e_compute), not 2 * 46.7e9 * ... (routed experts at
    the dense layers' FLOP/s here: the fitted share below 1 is tests/test_moe_expert.py's)."""
    grid = replace(one_row(model="mixtral-8x7b", hardware="h100-sxm"), moe_expert_efficiency=np.ones(1))
    step = step_time(grid, decode_tokens=0.0, decode_context=0.0, prefill_tokens=4096.0,
                     prefill_context=0.0)
    expected = 2.0 * 12.9e9 * 4096 / (989e12 * grid.eff_compute[0])
    assert step.compute[0] == pytest.approx(expected, rel=1e-9)
    # batch-1 decode reads the dense part plus 2 of 8 experts' weights, not all 46.7B
    d1 = step_time(grid, decode_tokens=1.0, decode_context=1.0)
    total_read = 46.7e9 * 2.0 / (3350e9 * grid.eff_memory[0])
    assert d1.memory[0] < 0.5 * total_read
    assert d1.memory[0] >= _weight_bytes_per_token(grid)[0] / (3350e9 * grid.eff_memory[0])


def test_max_batch_monotone_in_memory(tables: CatalogTables) -> None:
    grid, _ = _full_grid(tables)
    prev = memory(grid, batch=1.0, context_tokens=640.0).max_batch
    for factor in (1.1, 1.5, 2.0, 4.0):
        bigger = replace(grid, memory_capacity_bytes=grid.memory_capacity_bytes * factor)
        now = memory(bigger, batch=1.0, context_tokens=640.0).max_batch
        assert np.all(now >= prev)
        prev = now
    # and longer contexts never let more sequences fit
    short = memory(grid, batch=1.0, context_tokens=640.0).max_batch
    long = memory(grid, batch=1.0, context_tokens=4096.0).max_batch
    assert np.all(long <= short)


def test_step_model_floors_lie_below_the_step_time(tables: CatalogTables) -> None:
    """StepModel.floors (the planner's bound on SLO capacity rests on them) never exceed the step
    time, over every model x hardware x precision, tp and pp, and random decode/prefill mixes."""
    rng = np.random.default_rng(7)
    for tp, pp in ((1, 1), (2, 1), (8, 1), (4, 2)):
        grid, _ = _full_grid(tables, tp=tp)
        grid = replace(grid, pp=np.full(len(grid), float(pp)))
        model = StepModel.build(grid)
        with np.errstate(invalid="ignore"):  # tp beyond a chip's links: infinite communication
            _check_floors(model, rng)


def _check_floors(model: StepModel, rng: np.random.Generator) -> None:
    n = len(model)
    a, b_d, b_p = model.floors(decode_context=900.0, prefill_context=600.0)
    for _ in range(5):
        d = rng.uniform(0, 400, n) * rng.integers(0, 2, n)
        p = rng.uniform(0, 30000, n) * rng.integers(0, 2, n)
        exact = model.total(decode_tokens=d, decode_context=900.0, prefill_tokens=p, prefill_context=600.0)
        floor = np.max(a + b_d * d + b_p * p, axis=0)
        ok = np.isfinite(exact)
        assert ok.sum() > n // 2
        assert np.all(floor[ok] <= exact[ok] * (1 + 1e-12))


@pytest.mark.parametrize(("tp", "pp"), [(1, 1), (4, 2), (2, 4)])
def test_more_decodes_beside_a_prompt_never_shorten_the_iteration(tables: CatalogTables, tp: int, pp: int) -> None:
    """Basis: work. An iteration that runs one more decode beside the same prompt tokens does at least the same
    work, so it takes at least as long, over every model x hardware x precision. Under pipeline parallelism the
    prompt tokens were spread over as many microbatches as there were decodes: a 12,000-token prompt beside one
    decode took 0.24 s on 4 x 2 H100s, beside two 0.12 s, and the queueing model's TTFT fell as the load rose."""
    grid, _ = _full_grid(tables, tp=tp)
    model = StepModel.build(replace(grid, pp=np.full(len(grid), float(pp))))
    decodes = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 64.0])
    for prompt in (0.0, 512.0, 12000.0):
        with np.errstate(invalid="ignore"):  # tp beyond a chip's links: infinite communication
            t = model.total(decode_tokens=np.tile(decodes, (len(model), 1)), decode_context=12200.0,
                            prefill_tokens=prompt, prefill_context=max(prompt, 1.0))
        ok = np.all(np.isfinite(t), axis=1)
        assert ok.sum() > len(model) // 2
        assert np.all(np.diff(t[ok], axis=1) >= -1e-12 * t[ok][:, 1:]), prompt


def test_the_step_time_does_not_depend_on_how_a_count_is_passed(tables: CatalogTables) -> None:
    """Basis: the same work. A scalar decode count took another path than an array of it on pipelined rows (a
    prompt beside 0.0 decodes 0.42 s, beside np.array([0.0]) 0.21 s, beside 1.01 0.21 s on 4 x 2 H100s), so the
    simulation, which passes scalars, kept the fall the queueing model had lost. A prompt's own pass through every
    stage (``whole_prompts``) is never shorter than a pipeline cycle."""
    grid, _ = _full_grid(tables, tp=4)
    model = StepModel.build(replace(grid, pp=np.full(len(grid), 2.0)))
    with np.errstate(invalid="ignore"):
        previous = None
        for d in (0.0, 0.5, 1.0, 1.01, 2.0, 3.0):
            scalar = model.total(decode_tokens=d, decode_context=8400.0, prefill_tokens=8000.0, prefill_context=8000.0)
            array = model.total(decode_tokens=np.full(len(model), d), decode_context=8400.0, prefill_tokens=8000.0,
                                prefill_context=8000.0)
            ok = np.isfinite(array)
            assert ok.sum() > len(model) // 2
            assert np.array_equal(scalar[ok], array[ok]), d
            if previous is not None:
                assert np.all(array[ok] >= previous[ok] * (1 - 1e-12)), d
            previous = array
        whole = model.whole_prompts().total(decode_tokens=0.0, decode_context=0.0, prefill_tokens=8000.0,
                                            prefill_context=8000.0)
        cycle = model.total(decode_tokens=0.0, decode_context=0.0, prefill_tokens=8000.0, prefill_context=8000.0)
    assert np.all(whole[ok] >= cycle[ok]) and np.any(whole[ok] > 1.5 * cycle[ok])


@pytest.mark.parametrize("runtime", ["tensorrt-llm", "sglang", "llama.cpp"])  # token budgets 8,192 / 8,192 / 2,048
@pytest.mark.parametrize(("cap", "prompt"), [(1.0, 8192.0), (8.0, 2048.0), (np.inf, 512.0), (np.inf, 8192.0)])
def test_max_throughput_ttft_never_beats_the_prompts_own_compute(tables: CatalogTables, cap: float,
                                                                 prompt: float, runtime: str) -> None:
    """Basis: compute. A prompt of N tokens needs 2 x active params x N FLOPs before its first token, at no more
    than the chip's peak: TTFT >= that over (tp x peak). max_throughput priced each of the prompt's iterations
    at the mean iteration, which carries only batch x input / output prompt tokens: llama-3.1-8b on one H100 at
    batch 1 and 8,192 tokens read 22 ms against 133 ms; and with more sequences than the token budget the
    prompt got one token an iteration (qwen2.5-0.5b on an H100 NVL with SGLang: 100 s at 512 tokens, 0.3 s at
    1,024)."""
    from planner.model.scenarios import max_throughput

    grid, _ = _full_grid(tables, runtime=tables.runtime_ids.index(runtime))
    res = max_throughput(grid, input_tokens=prompt, output_tokens=128.0, batch_cap=cap)
    ok = np.asarray(res.fits) & np.isfinite(res.ttft_s)
    floor = 2.0 * grid.active_params * prompt / (grid.tp * grid.peak_linear_flops_per_s)
    bad = ok & (res.ttft_s < floor * (1 - 1e-9))
    assert ok.sum() > 1000 and not bad.any(), f"{int(bad.sum())} rows below the prefill compute floor"
    longer = max_throughput(grid, input_tokens=2 * prompt, output_tokens=128.0, batch_cap=cap)
    both = ok & np.asarray(longer.fits) & np.isfinite(longer.ttft_s) & (longer.batch == res.batch)
    assert not (both & (longer.ttft_s < res.ttft_s * (1 - 1e-9))).any()  # a longer prompt, at the same batch
