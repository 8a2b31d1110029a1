"""End-to-end latency of disaggregated plans over the workload's output lengths (planner.search.disagg).

Basis: a lower bound no load can beat. A request of o output tokens spends at least o - 1 decode
steps on its decode replica, each no shorter than that replica's step with one sequence in flight
(``hwplan estimate`` at batch 1: the weights read once per step). At least 100 - q % of requests
have o_q tokens or more, so e2e_q >= (o_q - 1) x that step. It failed when the joined plan took the
mean output for every percentile: examples/disagg-loses.yaml (outputs mean 300, p95 800) gave its
two-pool plan an e2e p95 of 7.6 s against a bound of about 8.4 s, and a workload with an e2e p95 target
of 12 s got a disaggregated plan whose 800-token requests take about 20 s.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.model.estimate import Scenario, estimate, resolve
from planner.search.planning import plan
from planner.search.shapes.capacity import length_dists

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-loses.yaml"


@pytest.mark.parametrize("e2e_p95_ms", [None, 12_000.0])
def test_two_pool_e2e_is_never_below_the_long_outputs_decode_floor(e2e_p95_ms: float | None) -> None:
    catalog = load_catalog()
    w = load_workload(EXAMPLE)
    if e2e_p95_ms is not None:
        w = dataclasses.replace(w, slo=w.slo.with_target("e2e_ms", 95, e2e_p95_ms))
    result = plan(w, catalog, tables=catalog_tables(catalog), top=5, explain=False)
    two_pool = [p for p in result.plans if any(d.role == "decode" for d in p.deployments)]
    assert two_pool, "no disaggregated plan to check"
    _, out = length_dists(w.traffic)
    i = int(w.traffic.input_tokens.mean)
    for p in two_pool:
        d = next(d for d in p.deployments if d.role == "decode")
        config = resolve(catalog, model=p.model, hardware=d.hardware, tp=d.tp, pp=d.pp, precision=p.precision,
                         kv_precision=p.kv_precision, runtime=p.runtime)
        step_s = estimate(catalog, config, scenario=Scenario.STATIC_BATCH, input_tokens=i, output_tokens=2,
                          batch=1).tpot_s
        for pct in (50, 90, 95, 99):
            if (e2e := p.predicted.get(f"e2e_ms_p{pct}")) is not None:
                floor_ms = (out.quantile(pct / 100.0) - 1.0) * step_s * 1e3
                assert e2e >= floor_ms, (p.deployments, pct, e2e, floor_ms)
        if e2e_p95_ms is not None:
            assert p.predicted["e2e_ms_p95"] <= e2e_p95_ms

