"""Lazy screening against screening every key, on random small catalogs (hypothesis).

Each case: 2-3 chips derived from the L40S with random prices and memory bandwidths, 2-5 models
(1.5B to 70B, dense and MoE) in 2-3 weight precisions on vLLM (so tens of plan keys, more than the key limit), random
peak demand, TPOT target, max_hardware_types and quota, and a key limit of 1-5 keys (the module
constant, patched) so that most keys lie past it and stay unscreened. The basis is the eager
search itself (``prepare`` without ``prefix``: every key screened, as before lazy screening):
the lazy search must find the same plans (keys, replica counts, costs) with the same status,
stop reason and gap, whatever the order its floor screens keys in.
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from property_cases import case_workload

import planner.search.branch_bound as branch_bound
from hardware_catalog import load_catalog
from planner.domain import Calibration, Catalog
from planner.economics.pricing import PriceBook
from planner.model.grid import CatalogTables
from planner.search.shapes.prepare import Prepared, prepare
from planner.workload import Objective, Workload

MODELS = ("llama-3.1-8b", "qwen2.5-7b", "mistral-7b", "llama-3.2-3b", "gemma-2-9b", "qwen2.5-1.5b", "qwen2.5-14b",
          "gemma-2-27b", "qwen2.5-32b", "mixtral-8x7b", "llama-3.1-70b", "qwen3-30b-a3b")


@functools.cache
def _full() -> Catalog:
    return load_catalog()


def _catalog(chips: tuple[tuple[float, float], ...], models: tuple[str, ...], precisions: tuple[str, ...]) -> Catalog:
    full = _full()
    l40s = full.hardware["l40s"]
    hardware = {f"c{i}": replace(l40s, id=f"c{i}", memory_bandwidth_bytes_per_s=l40s.memory_bandwidth_bytes_per_s * bw)
                for i, (_price, bw) in enumerate(chips)}
    prices = PriceBook.flat({f"c{i}": price for i, (price, _bw) in enumerate(chips)}, source="test: drawn prices")
    return Catalog(hardware=hardware, prices=prices, models={m: full.models[m] for m in models},
                   precisions={p: full.precisions[p] for p in precisions}, runtimes={"vllm": full.runtimes["vllm"]},
                   calibration=Calibration())


cases = st.fixed_dictionaries({
    "chips": st.lists(st.tuples(st.sampled_from([0.8, 1.0, 1.3, 2.0]), st.sampled_from([0.7, 1.0, 1.5])),
                      min_size=2, max_size=3).map(tuple),
    "models": st.lists(st.sampled_from(MODELS), min_size=2, max_size=5, unique=True).map(tuple),
    "precisions": st.sampled_from([("bf16", "fp8"), ("bf16", "fp8", "int4"), ("bf16", "int8")]),
    "peak": st.sampled_from([8.0, 30.0, 60.0, 120.0]),
    "max_types": st.sampled_from([1, 2]),
    "quota": st.one_of(st.none(), st.tuples(st.integers(0, 2), st.sampled_from([1, 2, 4, 6]))),
    "tpot_ms": st.sampled_from([None, 40.0, 80.0]),
    "limit": st.integers(1, 5),
    "top": st.sampled_from([1, 2, 5]),
})


def _workload(case: dict[str, object], catalog: Catalog) -> Workload:
    return case_workload(case, catalog, "lazy")


def _found(p: Prepared, outcome: branch_bound.Outcome) -> list[tuple[object, ...]]:
    c = p.cand
    return [(int(c.model[r := int(p.rows_of[k][0])]), int(c.precision[r]), int(c.kv_precision[r]),
             sorted((int(c.universe_row[i]), n) for i, n in s.counts.items()), s.cost_per_hour, s.status)
            for k, s in outcome.found]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(case=cases)
def test_lazy_screening_matches_screening_every_key(case: dict[str, object], monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = _catalog(case["chips"], case["models"], case["precisions"])  # type: ignore[arg-type]
    tables = CatalogTables.from_catalog(catalog)
    w = _workload(case, catalog)
    limit = int(case["limit"])  # type: ignore[call-overload]
    monkeypatch.setattr(branch_bound, "KEY_LIMIT_COST", limit)
    results = []
    for prefix in (None, limit):
        p = prepare(catalog, tables, w, prefix=prefix)
        if prefix is not None:
            event("keys left unscreened" if p.outside is not None and len(p.outside) else "every key screened")
        outcome = branch_bound.solve_prepared(p, w, objective=Objective.COST, top=int(case["top"]),  # type: ignore[call-overload]
                                              time_limit_s=30.0, deadline=time.perf_counter() + 600)
        results.append((_found(p, outcome), outcome.status, outcome.stop, outcome.gap, outcome.solves))
    event(f"{results[0][1]}, {results[0][2]}")
    assert results[0] == results[1]


def test_an_infeasible_plan_is_explained_from_every_candidate() -> None:
    """With no plan, the explanation counts why every candidate was dropped: none is left
    unscreened (the lazy search's keys past the limit are screened for it)."""
    from hardware_catalog.inputs.workload import load_workload
    from planner.search.planning import plan
    from planner.workload import Budget

    catalog = _full()
    w = load_workload(Path(__file__).resolve().parents[1] / "examples" / "support-chatbot.yaml")
    lazy = prepare(catalog, CatalogTables.from_catalog(catalog), w, prefix=branch_bound.key_limit(Objective.COST))
    assert lazy.outside is not None and len(lazy.outside)  # the feasible search leaves keys unscreened
    result = plan(replace(w, budget=Budget(max_cost_per_month=1.0)), catalog)
    assert not result.plans and result.infeasible is not None
    assert not any(reason.startswith("not screened") for reason in result.search.dropped)
    assert sum(result.search.dropped.values()) >= len(lazy.cand)
