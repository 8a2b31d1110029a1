"""Disaggregated plans pair the two pools' searches in a common format (planner.search.disagg).

Basis: brute force over formats. For every weight x KV format, each pool is searched pinned to it
and the two cheapest pools are joined; the planner's cheapest two-pool plan can cost no more than
the cheapest such pair. It failed when the pools' own fronts shared no cheap format (the long-prompt
example: fp8 weights with bf16 KV lead the prefill side and are dominated on the decode side), and
the planner paired bf16 pools at 2.5x the cost.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.search import disagg
from planner.search.run import run_search
from planner.workload import Objective, Tokens

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-long-prompts.yaml"


def test_two_pool_plan_no_dearer_than_any_pinned_pair() -> None:
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = load_workload(EXAMPLE)
    t = w.traffic
    found = disagg.disaggregated_plans(w, catalog, top=1, objective=Objective.COST, time_limit_s=10.0,
                                       tables=tables).plans
    assert found, "no two-pool plan"
    prefill_w = replace(w, traffic=replace(t, output_tokens=Tokens(1.0), prefix=None),
                        slo=disagg._only(w.slo, "ttft_ms"))
    decode_w = replace(w, slo=disagg._only(w.slo, "tpot_ms"))
    decode = disagg.DecodePool(prefix_tokens=t.input_tokens.mean - 1.0)
    pairs = []
    for precision in ("bf16", "fp8"):
        for kv in ("bf16", "fp8"):
            key = ("llama-3.1-70b", precision, kv, "sglang", "none")
            pre = run_search(disagg._pinned(prefill_w, key), catalog, top=1, objective=Objective.COST,
                             time_limit_s=5.0, tables=tables, served=disagg.PrefillPool()).result.plans
            dec = run_search(disagg._pinned(decode_w, key), catalog, top=1, objective=Objective.COST,
                             time_limit_s=5.0, tables=tables, served=decode).result.plans
            if not pre or not dec:
                continue
            moved = disagg.transfer_s(catalog, pre[0], dec[0], t.input_tokens.p95 or t.input_tokens.mean)
            joined = None if moved is None else disagg._join(pre[0], dec[0], moved, w)
            if joined is not None:
                pairs.append(joined.cost.per_month)
    assert pairs, "no pinned pair meets the SLOs"
    assert found[0].cost.per_month <= min(pairs) * (1 + 1e-9)


def test_a_two_pool_plans_cost_adds_the_pools_and_counts_adaptation_once() -> None:
    """Hand arithmetic: both pools serve the same requests, so hourly costs and parts add; the adapted
    weights are shared, so the one-time cost is amortised once; input tokens carry the prefill
    pool's hourly cost, output tokens the decode pool's (not the pools' own per-token prices added:
    the prefill pool's are over one-token outputs)."""
    from planner.economics.breakdown import CostParts, TokenPrices
    from planner.search.disagg import _joined_cost
    from planner.search.results import Cost

    def pool(per_hour: float) -> Cost:
        parts = CostParts(compute=per_hour * 730, energy=0.0, hosting=0.0, adaptation=100.0)
        return Cost(per_hour=per_hour, per_month=parts.total, per_million_tokens=1.0, one_time=1200.0,
                    pricing="on_demand", parts=parts, tokens=TokenPrices(0.1, 1.0, 0.3))

    joined = _joined_cost(pool(10.0), pool(2.0), input_tokens_per_hour=1e6, output_tokens_per_hour=0.5e6)
    assert joined.per_hour == 12.0
    assert joined.per_month == 12.0 * 730 + 100.0  # not + 200: one adaptation
    assert joined.parts is not None and joined.parts.total == joined.per_month
    assert joined.tokens == TokenPrices(10.0, 4.0, 12.0 / 1.5) and joined.one_time == 1200.0
    # the whole monthly cost, the adaptation's share included, over the month's 0.5 M x 730 output tokens
    assert joined.per_million_tokens == pytest.approx((12.0 * 730 + 100.0) / (0.5 * 730))


def test_a_pairs_first_token_waits_for_both_pools_and_the_transfer() -> None:
    """The pair's TTFT quantiles are the prefill pool's + the KV transfer + the decode pool's own (its slot wait and
    first step), the sum the validator predicts a stated pair with; the decode pool's is not nothing (it runs at
    least one step before the first token leaves)."""
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = load_workload(EXAMPLE)
    t = w.traffic
    key = ("llama-3.1-70b", "fp8", "fp8", "sglang", "none")
    prefill_w = replace(w, traffic=replace(t, output_tokens=Tokens(1.0), prefix=None),
                        slo=disagg._only(w.slo, "ttft_ms"))
    (pre,) = run_search(disagg._pinned(prefill_w, key), catalog, top=1, objective=Objective.COST, time_limit_s=5.0,
                        tables=tables, served=disagg.PrefillPool()).result.plans
    (dec,) = run_search(disagg._pinned(replace(w, slo=disagg._only(w.slo, "tpot_ms")), key), catalog, top=1,
                        objective=Objective.COST, time_limit_s=5.0, tables=tables,
                        served=disagg.DecodePool(prefix_tokens=t.input_tokens.mean - 1.0)).result.plans
    relaxed = replace(w, slo=disagg._only(w.slo, "tpot_ms"))  # (no TTFT target: the join always returns a plan)
    joined = disagg._join(pre, dec, 0.02, relaxed)
    assert joined is not None
    for pct in (50, 99):
        key_ = f"ttft_ms_p{pct}"
        assert dec.predicted[key_] > 0
        assert joined.predicted[key_] == pytest.approx(pre.predicted[key_] + 20.0 + dec.predicted[key_], rel=1e-12)


@pytest.mark.parametrize(("model", "senders"), [("deepseek-v3", 1), ("llama-3.1-70b", 8)])
def test_a_plans_kv_transfer_counts_the_chips_that_hold_distinct_shards(model: str, senders: int) -> None:
    """Basis: the architecture. DeepSeek-V3's MLA caches one latent of (512 + 64) values a layer, 61 layers, that every
    tensor-parallel rank holds whole (DeepSeek-V2, arXiv 2405.04434 section 2.1), so a 16-chip replica has one shard to
    send; Llama 3.1 70B's 8 KV heads split over at most 8 chips. Over H100's 50 GB/s scale-out per chip, an FP8 prompt
    of 1,000 tokens moves in bytes / (50e9 x senders). The planner had counted every chip of the replica (16 for both),
    16x too fast for DeepSeek-V3: it now shares the validator's rule (``serving.kv_senders``)."""
    from types import SimpleNamespace

    catalog = load_catalog()
    per_token = {"deepseek-v3": 61 * (512 + 64) * 1.0, "llama-3.1-70b": 80 * 8 * 128 * 2 * 1.0}[model]
    deployment = SimpleNamespace(hardware="h100-sxm", chips_per_replica=16)
    plan = SimpleNamespace(model=model, runtime="vllm", kv_precision="fp8", deployments=(deployment,))
    moved = disagg.transfer_s(catalog, plan, plan, 1000.0)  # type: ignore[arg-type]
    assert catalog.hardware["h100-sxm"].scale_out_bytes_per_s == 50e9
    assert moved == pytest.approx(per_token * 1000.0 / (50e9 * senders), rel=1e-9)
