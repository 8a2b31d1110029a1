"""The planner against brute force on random tiny catalogs (hypothesis).

Each case: 2-3 chips derived from the L40S with random prices and memory bandwidths, llama-3.1-8b
in bf16 on vLLM, replicas of 1, 2 or 4 chips, random peak demand, quotas, max_hardware_types,
a $/month or $/M-token budget and any objective. Brute force enumerates every vector of replica
counts over every shape with an SLO capacity (the same per-shape capacities the planner computes,
every shape evaluated, not lazily), keeps those that carry the peak within quotas, type mix and
budget, and takes the cheapest. Checked: the cheapest plan the planner found costs exactly that
(no cheaper plan missed, none infeasible), no plan when brute force finds none, each used shape's
capacity re-checked by the queueing model at that rate, and top 2 = the first 2 of top 4.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import replace

import numpy as np
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from property_cases import case_workload

from hardware_catalog import load_catalog
from planner.domain import Calibration, Catalog
from planner.economics.pricing import PriceBook
from planner.model.estimate import config_grid, resolve
from planner.model.grid import CatalogTables
from planner.model.load.queueing import server
from planner.search.mix.solver import BUDGET_SCALE, rate_scale
from planner.search.planning import plan
from planner.search.rank import content
from planner.search.shapes.capacity import length_dists
from planner.search.shapes.prepare import prepare
from planner.workload import HOURS_PER_MONTH, Budget, Objective, Workload

_ATTR = {"ttft_ms": "ttft_s", "tpot_ms": "tpot_s", "e2e_ms": "e2e_s"}


@functools.cache
def _full() -> Catalog:
    return load_catalog()


def _catalog(chips: tuple[tuple[float, float], ...]) -> Catalog:
    full = _full()
    l40s = full.hardware["l40s"]
    hardware = {f"c{i}": replace(l40s, id=f"c{i}", memory_bandwidth_bytes_per_s=l40s.memory_bandwidth_bytes_per_s * bw)
                for i, (_price, bw) in enumerate(chips)}
    prices = PriceBook.flat({f"c{i}": price for i, (price, _bw) in enumerate(chips)}, source="test: drawn prices")
    return Catalog(hardware=hardware, prices=prices, models={"llama-3.1-8b": full.models["llama-3.1-8b"]},
                   precisions={"bf16": full.precisions["bf16"]}, runtimes={"vllm": full.runtimes["vllm"]},
                   calibration=Calibration())


cases = st.fixed_dictionaries({
    "chips": st.lists(st.tuples(st.sampled_from([0.8, 1.0, 1.3, 2.0]), st.sampled_from([0.7, 1.0, 1.5])),
                      min_size=2, max_size=3).map(tuple),
    "peak": st.sampled_from([3.0, 8.0, 17.0, 30.0]),
    "max_types": st.sampled_from([1, 2]),
    "quota": st.one_of(st.none(), st.tuples(st.integers(0, 2), st.sampled_from([1, 2, 4, 6]))),
    "budget": st.one_of(st.none(), st.tuples(st.sampled_from(["max_cost_per_month", "max_cost_per_million_tokens"]),
                                             st.sampled_from([0.5, 1.0, 2.0, 4.0]))),
    "tpot_ms": st.sampled_from([None, 40.0, 80.0]),
    "objective": st.sampled_from(list(Objective)),
})


def _workload(case: dict[str, object], catalog: Catalog) -> Workload:
    w = case_workload(case, catalog, "prop")
    if case["budget"] is not None:
        key, scale = case["budget"]  # type: ignore[misc]
        # around one L40S's price x the replicas the peak needs, so budgets bind in some cases
        month = scale * 1.0 * HOURS_PER_MONTH * max(1.0, case["peak"] / 10.0)  # type: ignore[operator]
        tokens_per_month = w.traffic.requests_per_s * w.traffic.output_tokens.mean * 3600.0 * HOURS_PER_MONTH
        value = month if key == "max_cost_per_month" else month / tokens_per_month * 1e6
        w = replace(w, budget=Budget(**{key: value}))
    return w


def _brute_force(catalog: Catalog, w: Workload) -> tuple[float, np.ndarray, object]:
    """Cheapest hourly cost over every replica-count vector (inf: none), with every shape evaluated."""
    p = prepare(catalog, CatalogTables.from_catalog(catalog), w)
    p.evaluate(np.arange(len(p.cand)), w)
    rows = np.flatnonzero(p.rate > 0)
    if not len(rows):
        return math.inf, rows, p
    unit = rate_scale(p.rate[rows])  # RATE_SCALE unless a replica carries under 1 request/s
    need = math.ceil(w.traffic.peak * unit)
    rate = np.floor(p.rate[rows] * unit)  # the solver's integer units: rates round down
    cost = p.cost_per_hour[rows]
    chips = p.cand.tp[rows] * p.cand.pp[rows]
    hw = p.cand.hardware[rows]
    ids = p.cand.tables.hardware_ids
    upper = [int(-(-need // r)) for r in rate]
    counts = np.array(list(itertools.product(*(range(u + 1) for u in upper))), dtype=np.int64)
    ok = counts @ rate >= need
    types = np.stack([(counts[:, hw == h].sum(axis=1) > 0) for h in range(len(ids))], axis=1)
    ok &= types.sum(axis=1) <= w.constraints.max_hardware_types
    for h, quota in w.constraints.quotas.items():
        ok &= counts[:, hw == ids.index(h)] @ chips[hw == ids.index(h)] <= quota
    b, tokens_per_hour = w.budget, w.traffic.requests_per_s * w.traffic.output_tokens.mean * 3600.0
    limits = [b.max_cost_per_month / HOURS_PER_MONTH] if b.max_cost_per_month is not None else []
    if b.max_cost_per_million_tokens is not None:  # $/M output tokens at the average rate
        limits.append(b.max_cost_per_million_tokens * tokens_per_hour / 1e6)
    budget = min(limits) if limits else None
    if budget is not None:
        ok &= counts @ np.ceil(cost * BUDGET_SCALE) <= math.floor(budget * BUDGET_SCALE)  # (the solver's budget unit)
    total = counts @ cost
    return (float(total[ok].min()) if ok.any() else math.inf), rows, p


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=cases)
def test_planner_matches_brute_force_and_top_k_is_a_prefix(case: dict[str, object]) -> None:
    catalog = _catalog(case["chips"])  # type: ignore[arg-type]
    w = _workload(case, catalog)
    objective = case["objective"]
    four = plan(w, catalog, top=4, objective=objective, explain=False)  # type: ignore[arg-type]
    two = plan(w, catalog, top=2, objective=objective, explain=False)  # type: ignore[arg-type]
    best, _, _ = _brute_force(catalog, w)
    event("brute force finds a plan" if math.isfinite(best) else "no plan")
    if math.isinf(best):
        assert four.plans == () and two.plans == ()
        return
    assert four.plans, f"brute force found ${best:.2f}/h, the planner nothing"
    cheapest = min(p.cost.per_hour for p in four.pareto)  # every objective keeps its cheapest plan on the front
    assert cheapest == np.float64(cheapest)
    assert math.isclose(cheapest, best, rel_tol=1e-9), (cheapest, best)
    if objective is Objective.COST:
        assert math.isclose(four.plans[0].cost.per_hour, best, rel_tol=1e-9)
        assert four.search.solver_status == "OPTIMAL" and four.search.gap == 0.0
    assert [(content(p), p.cost.per_month) for p in two.plans] == \
        [(content(p), p.cost.per_month) for p in four.plans[:2]]
    input_tokens, output_tokens = length_dists(w.traffic)
    for p in four.plans:  # each used shape meets every SLO at its stated capacity
        for d in p.deployments:
            grid = config_grid(catalog, resolve(catalog, model="llama-3.1-8b", hardware=d.hardware, tp=d.tp,
                                                 pp=d.pp, runtime="vllm", precision="bf16"))
            res = server(grid, request_rate=np.array([d.slo_capacity_per_replica]), input_tokens=input_tokens,
                         output_tokens=output_tokens)
            assert bool(res.stable[0])
            for metric, pct, limit in w.slo.items():
                assert float(getattr(res, _ATTR[metric])[pct][0]) * 1e3 <= limit * (1 + 1e-9)
