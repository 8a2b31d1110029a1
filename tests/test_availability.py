"""Redundancy and headroom (``availability``): N+k and max_utilization, re-estimated independently.

The check does not trust the solver's capacity figures for the failure case: it removes k replicas
of each deployment in turn, spreads the peak over the survivors in proportion to their SLO
capacity (as the load balancer of ``build`` does), and runs the queueing model (``server`` on the
configuration's own grid) at each survivor's new load.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.model.estimate import config_grid, resolve
from planner.model.grid import CatalogTables
from planner.model.load.queueing import server
from planner.search.lever_report import lever_report
from planner.search.planning import plan
from planner.search.results import Plan
from planner.search.shapes.capacity import length_dists
from planner.workload import Availability, Workload

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
_ATTR = {"ttft_ms": "ttft_s", "tpot_ms": "tpot_s", "e2e_ms": "e2e_s"}


def _worst_after_failure(catalog: Catalog, w: Workload, p: Plan, k: int) -> tuple[float, dict[str, float]]:
    """(spare capacity left, worst latency per SLO target) over every way of losing k replicas of
    one deployment; capacity left < 0 means the survivors cannot carry the peak at all."""
    worst: dict[str, float] = {}
    least_left = float("inf")
    input_tokens, output_tokens = length_dists(w.traffic)
    for lost in range(len(p.deployments)):
        counts = [d.replicas - (min(k, d.replicas) if i == lost else 0) for i, d in enumerate(p.deployments)]
        capacity = sum(n * d.slo_capacity_per_replica for n, d in zip(counts, p.deployments, strict=True))
        least_left = min(least_left, capacity - w.traffic.peak)
        if capacity <= 0:
            continue
        for n, d in zip(counts, p.deployments, strict=True):
            if n == 0:
                continue
            load = d.slo_capacity_per_replica * w.traffic.peak / capacity  # the balancer's share
            config = resolve(catalog, model=p.model, hardware=d.hardware, tp=d.tp, pp=d.pp, precision=p.precision,
                             kv_precision=p.kv_precision, runtime=p.runtime)
            srv = server(config_grid(catalog, config), request_rate=load, input_tokens=input_tokens,
                         output_tokens=output_tokens)
            for metric, pct, _limit in w.slo.items():
                value = float(getattr(srv, _ATTR[metric])[pct][0]) * 1e3
                worst[f"{metric}_p{pct}"] = max(worst.get(f"{metric}_p{pct}", 0.0), value)
    return least_left, worst


def _meets(w: Workload, worst: dict[str, float]) -> bool:
    return all(worst[f"{m}_p{pct}"] <= limit * 1.001 for m, pct, limit in w.slo.items())


@pytest.fixture(scope="module")
def chatbot() -> Workload:
    return load_workload(EXAMPLES / "support-chatbot.yaml")


@pytest.mark.parametrize("k", [1, 2])
def test_n_plus_k_keeps_every_slo_with_k_replicas_removed(catalog: Catalog, tables: CatalogTables,
                                                          chatbot: Workload, k: int) -> None:
    w = replace(chatbot, availability=Availability(spare=k), constraints=replace(chatbot.constraints, quotas={}))
    result = plan(w, catalog, top=3, tables=tables, explain=False)
    assert result.plans
    for p in result.plans:
        left, worst = _worst_after_failure(catalog, w, p, k)
        assert left >= -1e-6, f"{p.model} on {p.hardware_types}: survivors carry {left:+.2f} req/s vs the peak"
        assert _meets(w, worst), worst


def test_without_spare_a_failure_breaks_the_plan(catalog: Catalog, tables: CatalogTables, chatbot: Workload) -> None:
    """The check above has teeth: the plain plan (no spare) loses its peak capacity with one replica down."""
    w = replace(chatbot, constraints=replace(chatbot.constraints, quotas={}))
    p = plan(w, catalog, top=1, tables=tables, explain=False).plans[0]
    left, worst = _worst_after_failure(catalog, w, p, 1)
    assert left < 0 or not _meets(w, worst)


def test_max_utilization_caps_the_load_per_replica(catalog: Catalog, tables: CatalogTables,
                                                   chatbot: Workload) -> None:
    w = replace(chatbot, availability=Availability(max_utilization=0.6, min_replicas=3))
    for p in plan(w, catalog, top=3, tables=tables, explain=False).plans:
        assert sum(d.replicas for d in p.deployments) >= 3
        for d in p.deployments:
            assert d.requests_per_s_per_replica <= 0.6 * d.slo_capacity_per_replica * (1 + 1e-9)


def test_zones_need_a_replica_in_each(catalog: Catalog, tables: CatalogTables, chatbot: Workload) -> None:
    w = replace(chatbot, availability=Availability(zones=5))
    for p in plan(w, catalog, top=2, tables=tables, explain=False).plans:
        assert sum(d.replicas for d in p.deployments) >= 5


def test_availability_costs_show_in_the_lever_report(catalog: Catalog, tables: CatalogTables,
                                                     chatbot: Workload) -> None:
    w = replace(chatbot, availability=Availability(spare=1, max_utilization=0.8))
    top = plan(w, catalog, top=1, tables=tables, explain=False).plans[0]
    rows = {r.lever: r for r in lever_report(catalog, w, top, tables=tables)}
    row = rows["availability"]
    assert row.plan is not None and row.saving_per_month is not None
    assert row.saving_per_month < 0  # the baseline (no spare, full load) is cheaper: the row is a cost
    assert sum(d.replicas for d in row.plan.deployments) < sum(d.replicas for d in top.deployments)
