"""A workload without SLO targets still needs a steady state: the planner never sizes a replica past
the rate at which its queue stops settling (the queueing model's capacity, where the mean
concurrency reaches the most sequences that fit), and a plan always has latencies to print.

Long prompts make the difference: each 100k-token prompt is prefilled in chunks between decodes, so
the concurrency reaches the memory limit (50 sequences here) below the full-batch rate the load ladder
is read against (``queueing.saturated_rate``), and its top rungs (90-97% of it) have no steady state.
Before the fix those plans were sized at that rung, printed no latency, and the infeasibility
explanation crashed on the NaN.
"""

from __future__ import annotations

import math

from grid_helpers import saturated_capacity

from hardware_catalog import load_catalog
from planner.model.estimate import Scenario, config_grid, estimate, resolve
from planner.model.load.queueing import LengthDist
from planner.model.load.scheduler import overlap_of
from planner.search.planning import plan
from planner.search.shapes.capacity import UTILIZATION
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

NARROW = Constraints(models=("llama-3.2-1b",), hardware=("trainium2",), runtimes=("vllm",), precisions=("int8",),
                     max_chips_per_replica=1)


def _workload(slo: Slo | None = None) -> Workload:
    traffic = Traffic(requests_per_s=10.0, input_tokens=Tokens(100_000.0, p95=120_000.0),
                      output_tokens=Tokens(5_000.0))
    return Workload(name="long-prompts", traffic=traffic, slo=slo or Slo(), constraints=NARROW)


def test_no_slo_plans_stay_below_the_queueing_capacity() -> None:
    catalog = load_catalog()
    config = resolve(catalog, model="llama-3.2-1b", hardware="trainium2", runtime="vllm", precision="int8")
    # the load ladder's reference: the rate at the mean prompt count (``queueing.saturated_rate``)
    full_batch = saturated_capacity(config_grid(catalog, config), LengthDist(100_000.0, 120_000.0),
                                    LengthDist(5_000.0), overlap=overlap_of(catalog.calibration, "vllm"))
    top = estimate(catalog, config, scenario=Scenario.SERVER, input_tokens=100_000, input_p95=120_000,
                   output_tokens=5_000, request_rate=float(UTILIZATION[-1]) * full_batch)
    assert not top.fits, "the premise: the top rung of the ladder is past this engine's steady state"
    # below the rate at the mean prompt count but past what the full engine finishes with its lumpy 100k-token
    # prefills (queueing.full_batch_rate), the capacity serve and the estimate report: the rate exceeds that
    assert top.capacity_requests_per_s is not None and top.capacity_requests_per_s < top.requests_per_s < full_batch
    assert top.reason is not None and "exceeds the capacity" in top.reason, top.reason

    result = plan(_workload(), catalog, top=3)
    assert result.plans
    for p in result.plans:
        for d in p.deployments:
            assert d.requests_per_s_per_replica <= d.slo_capacity_per_replica * (1 + 1e-9)
            at = estimate(catalog, resolve(catalog, model=p.model, hardware=d.hardware, runtime=p.runtime,
                                           precision=p.precision, kv_precision=p.kv_precision),
                          scenario=Scenario.SERVER, input_tokens=100_000, output_tokens=5_000,
                          request_rate=d.slo_capacity_per_replica)
            assert at.fits, f"{d.hardware} planned at {d.slo_capacity_per_replica} req/s: {at.reason}"
        assert all(math.isfinite(p.predicted[f"{m}_p99"]) for m in ("ttft_ms", "tpot_ms", "e2e_ms"))


def test_an_unreachable_ttft_target_is_explained() -> None:
    result = plan(_workload(Slo(targets={"ttft_ms": {99: 100.0}})), load_catalog(), top=3)
    assert result.plans == ()
    fields = [r.constraint for r in result.infeasible.relaxations]
    assert "slo.ttft_ms.p99" in fields
