"""Aggregated vs disaggregated serving against NVIDIA AIConfigurator's published case (planner.search.disagg).

Source: ai-dynamo/aiconfigurator, docs/cli_user_guide.md at commit 095f58a51c4ca8e61b66ec108d86f223f8d559ce
(github.com/ai-dynamo/aiconfigurator/blob/095f58a51c4ca8e61b66ec108d86f223f8d559ce/docs/cli_user_guide.md),
the ``--request-latency`` example: ``aiconfigurator cli default --model-path Qwen/Qwen3-32B-FP8 --total-gpus 16
--system h200_sxm --backend trtllm --request-latency 12000 --isl 4000 --osl 500 --ttft 4000`` prints

    disagg  932.91 tokens/s/gpu, 14,926.50 tokens/s on 16 GPUs: 10 prefill workers tp1 + 3 decode workers tp2
    agg     852.23 tokens/s/gpu: 8 replicas tp2, batch 40
    "Best Experiment Chosen: disagg at 932.91 tokens/s/gpu (disagg 1.09x better)"

Those are AIConfigurator's estimates from its TRT-LLM kernel database, not a measurement. The same guide's
headline case (Qwen3-32B-FP8, 32 H200, ISL 3000, OSL 512, TTFT <= 1000 ms, TPOT <= 10 ms: disagg 913.82 vs
agg 638.28 tokens/s/gpu, 1.43x) is out of the planner's reach: its TPOT floor there is 11.0 ms (TP4,
batch 1), most of it the calibrated per-step overhead of h200 x tensorrt-llm (6.66 ms, fitted on 16 public
records; the runtime's prior is 1 ms). docs/serving_references.md gives both cases and the figures.

The planner gets the same model, weights, chip and runtime, the published lengths, the published
throughput as its request rate (14,926.5 / 500 = 29.85 requests/s) and the SLOs at p50 (AIConfigurator
checks its static estimates, a typical request, not a tail). Each shape's output tokens/s per chip is
rate x 500 / chips of its cheapest plan (one chip type, one price: cost follows chips).

Tolerances: each shape within 0.5x..1.5x of its published tokens/s/gpu (the band of the large-EP
reference, tests/test_expert_parallel.py); the same winner; the advantage within a factor 2 of the
published 1.09x. The planner sits low on the aggregated side (its calibrated 6.66 ms step overhead is
paid by every mixed prefill/decode iteration; with the 1 ms prior it prices aggregated at 878
tokens/s/gpu and the advantage at 1.42x), so its advantage is larger than published; a factor 2
beyond that means a term missing or doubled in one pool. The prefill pool's share of the chips
follows from the prefill/decode work ratio that both models compute (published 10 of 16).
The planner runs at the serving prior here: no serving iteration cost (``planner.model.load.scheduler``).
The shipped calibration charges TensorRT-LLM 6 ms per iteration under load, fitted on MLPerf's
Server / Interactive records (mixed prefill + decode iterations of aggregated engines, llama2-70b and
others at hundreds of sequences per GPU); with it the planner prices this case's aggregated plan at
241 tokens/s/gpu (0.28x the estimate), the advantage at 2.48x and the prefill pool at 36% of the
chips: AIConfigurator's kernel database and the audited MLPerf results disagree on a TensorRT-LLM
iteration's fixed part, and this estimate is not a measurement, so the comparison here checks the
two-pool mechanics on like assumptions (docs/accuracy.md, weak spots).
Before the decode pool got its share of an e2e target (``disagg._decode_slo``) this workload had no
two-pool plan at all: the decode pool was sized with no latency target and no pair met the e2e.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from planner.domain import Catalog
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.results import Plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

ISL, OSL = 4000.0, 500.0
RATE = 14_926.50 / OSL  # the published disaggregated throughput, in requests/s
AGG_PER_GPU, DISAGG_PER_GPU = 852.23, 932.91  # published tokens/s/gpu
PREFILL_SHARE = 10 / 16  # published: 10 prefill GPUs of 16
BAND = (0.5, 1.5)


def _chips(p: Plan, role: str | None = None) -> int:
    return sum(d.replicas * d.chips_per_replica for d in p.deployments if role is None or d.role == role)


@pytest.fixture(scope="module")
def plans(catalog: Catalog) -> tuple[Plan, Plan]:
    catalog = replace(catalog, calibration=catalog.calibration.at_iteration_prior())
    tables = CatalogTables.from_catalog(catalog)
    w = Workload(name="aiconfigurator-qwen3-32b-e2e", traffic=Traffic(RATE, Tokens(ISL), Tokens(OSL)),
                 slo=Slo({"ttft_ms": {50: 4000.0}, "e2e_ms": {50: 12_000.0}}),
                 constraints=Constraints(models=("qwen3-32b",), hardware=("h200",), runtimes=("tensorrt-llm",),
                                         precisions=("fp8",), serving={"disaggregation": "allowed"}))
    found = plan(w, catalog, top=10, tables=tables, explain=False, time_limit_s=10.0).plans
    two_pool = [p for p in found if "disaggregation" in p.features]
    one_pool = [p for p in found if "disaggregation" not in p.features]
    assert two_pool, "no disaggregated plan meets the published SLOs"
    assert one_pool, "no aggregated plan meets the published SLOs"
    return min(one_pool, key=_chips), min(two_pool, key=_chips)


def test_disaggregated_plan_meets_the_published_slos(plans: tuple[Plan, Plan]) -> None:
    _, dis = plans
    assert {d.role for d in dis.deployments} == {"prefill", "decode"}
    assert dis.predicted["ttft_ms_p50"] <= 4000.0
    assert dis.predicted["e2e_ms_p50"] <= 12_000.0


def test_each_shape_near_its_published_throughput_per_gpu(plans: tuple[Plan, Plan]) -> None:
    agg, dis = plans
    for p, published in ((agg, AGG_PER_GPU), (dis, DISAGG_PER_GPU)):
        per_gpu = RATE * OSL / _chips(p)
        assert BAND[0] * published <= per_gpu <= BAND[1] * published, (per_gpu, published)


def test_disaggregation_wins_by_about_the_published_margin(plans: tuple[Plan, Plan]) -> None:
    agg, dis = plans
    published = DISAGG_PER_GPU / AGG_PER_GPU  # 1.09
    advantage = _chips(agg) / _chips(dis)
    assert advantage > 1.0  # the same winner
    assert published / 2.0 <= advantage <= published * 2.0, advantage
    assert dis.cost.per_month < agg.cost.per_month


def test_prefill_pool_share_of_the_chips(plans: tuple[Plan, Plan]) -> None:
    _, dis = plans
    share = _chips(dis, "prefill") / _chips(dis)
    assert 0.75 * PREFILL_SHARE <= share <= 1.25 * PREFILL_SHARE, share
