"""What a plan says binds it (planner.search.build._with_binding).

Basis: a target that no plan's latency comes near cannot bind: relaxing it changes nothing. With
every target at 10^9 ms (11.6 days) the plans are stopped by the engine's stability, as with no
targets at all; before, a rung above a replica's load with no steady state (no latency) counted as a
missed target, and every target was listed as binding on plans whose TTFT p99 is ~6 s.
"""

from __future__ import annotations

from dataclasses import replace

from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from planner.search.planning import plan
from planner.workload import Slo, Tokens, Traffic, Workload


def test_targets_no_latency_comes_near_never_bind() -> None:
    catalog = load_catalog()
    traffic = Traffic(requests_per_s=5.0, input_tokens=Tokens(600.0, 2000.0), output_tokens=Tokens(200.0, 600.0))
    w = Workload(name="loose", traffic=traffic,
                 slo=Slo(targets={"ttft_ms": {99: 1e9}, "tpot_ms": {99: 1e9}, "e2e_ms": {99: 1e9}}))
    loose = plan(w, catalog, tables=catalog_tables(catalog), top=5, explain=False)
    free = plan(replace(w, slo=Slo(targets={})), catalog, tables=catalog_tables(catalog), top=5, explain=False)
    assert loose.plans
    for p in loose.plans:
        assert max(v for k, v in p.predicted.items() if k.endswith("_ms_p99")) < 1e7  # nowhere near 1e9
        assert not [b for b in p.binding if b.startswith("slo.")], (p.deployments, p.binding)
    assert [p.cost.per_month for p in loose.plans] == [p.cost.per_month for p in free.plans]
