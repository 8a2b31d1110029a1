"""Token prices and energy per token of disaggregated plans (planner.search.disagg._joined_cost).

Basis: conservation, which any attribution of a plan's cost to its tokens must obey. The workload's
input and output tokens per hour, priced at the plan's $/M input and $/M output, give back the
plan's hourly cost; no token type costs more than the whole plan spread over that type alone; and
energy per million output tokens times the month's output tokens is the month's energy. It failed
when the joined plan summed each pool's own per-token figures: the prefill pool's outputs are one
token long, so examples/disagg-long-prompts.yaml printed $403/M output tokens and 553 kWh/M for a plan
whose whole cost is $34/M output tokens.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.economics.owned import HOURS_PER_MONTH
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("example", ["disagg-long-prompts.yaml", "disagg-loses.yaml"])
def test_two_pool_token_prices_conserve_the_plans_cost(example: str) -> None:
    catalog = load_catalog()
    w = load_workload(EXAMPLES / example)
    result = plan(w, catalog, tables=catalog_tables(catalog), top=5, explain=False)
    two_pool = [p for p in result.plans if any(d.role == "decode" for d in p.deployments)]
    assert two_pool, "no disaggregated plan to check"
    t = w.traffic
    in_h = t.requests_per_s * t.input_tokens.mean * 3600.0
    out_h = t.requests_per_s * t.output_tokens.mean * 3600.0
    for p in two_pool:
        c = p.cost
        assert c.tokens is not None
        assert c.tokens.per_million_input * in_h / 1e6 + c.tokens.per_million_output * out_h / 1e6 == \
            pytest.approx(c.per_hour, rel=1e-6)
        assert c.tokens.per_million_blended * (in_h + out_h) / 1e6 == pytest.approx(c.per_hour, rel=1e-6)
        assert c.tokens.per_million_output <= c.per_hour / out_h * 1e6 * (1 + 1e-9)
        assert c.tokens.per_million_input <= c.per_hour / in_h * 1e6 * (1 + 1e-9)
        e = c.energy
        if e is not None and e.kwh_per_million_output_tokens is not None:
            assert e.kwh_per_month is not None
            assert e.kwh_per_million_output_tokens * out_h * HOURS_PER_MONTH / 1e6 == \
                pytest.approx(e.kwh_per_month, rel=1e-6)


def test_a_two_pool_plan_keeps_each_pools_caveats() -> None:
    """The joined plan runs on both pools' chips, so a caveat of either pool's chip is the plan's (a chip's
    measured entry, a chip-order flag): the join kept only the decode pool's, so a caveat of the prefill
    chip was dropped."""
    from dataclasses import replace

    from planner.domain import MeasuredBias
    from planner.model.chip_order import OrderFlag
    from planner.search.disagg import _join

    catalog = load_catalog()
    w = load_workload(EXAMPLES / "disagg-long-prompts.yaml")
    top = plan(w, catalog, tables=catalog_tables(catalog), top=1, explain=False).plans[0]
    pre = [d for d in top.deployments if d.role == "prefill"]
    dec = [d for d in top.deployments if d.role == "decode"]
    assert pre and dec
    bias = MeasuredBias(model=None, runtime=top.runtime, metric="throughput", records=5, median=0.5, low=0.4,
                        high=0.6, hardware=(pre[0].hardware,), sample="out", file="runs.yaml", holds="runs",
                        models=("a", "b", "c"))
    flag = OrderFlag(hardware=pre[0].hardware, runtime=top.runtime, slower_than="x", ratio=1.5, tpot_s=0.02,
                     other_tpot_s=0.01, overhead_s=0.008, other_overhead_s=0.004)
    p = replace(top, deployments=tuple(replace(d, role="both") for d in pre), measured=(bias,), order=(flag,))
    d = replace(top, deployments=tuple(replace(x, role="both") for x in dec), measured=(), order=())
    no_targets = replace(w, slo=replace(w.slo, targets={}))
    joined = _join(p, d, 0.0, no_targets)
    assert joined is not None
    assert joined.measured == (bias,) and joined.order == (flag,)
    both = _join(p, replace(d, measured=(bias,), order=(flag,)), 0.0, no_targets)
    assert both is not None and both.measured == (bias,) and both.order == (flag,)  # once, not twice
