"""The whole cost per million output tokens (an auditor's recomputation, 2026-12-07): the plan's $/M tokens
left out the one-time adaptation cost that its per_month amortises, though the output calls it the whole
cost, and a budget per million tokens was checked on the serving cost alone. Basis: arithmetic on the plan's
own per_month and the workload's traffic (1 request/s x 150 output tokens x 3,600 s x 730 h a month), and a
budget set between the two readings, which only the whole cost breaks.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.search.planning import plan

WORKLOAD = """\
name: full-fine-tune
traffic: {requests_per_s: 1, peak_requests_per_s: 2, input_tokens: {mean: 800, p95: 2000},
          output_tokens: {mean: 150, p95: 400}}
slo: {ttft_ms: {p99: 3000}, tpot_ms: {p99: 100}}
budget: {max_one_time_cost: 100000, horizon_months: 12}
quality: {min_score: 90, task: claims_triage, adaptation_tokens: 200000000, confidence: central}
constraints: {models: [qwen2.5-32b], adaptations: [full], max_chips_per_replica: 8, max_hardware_types: 1,
              pricing: on_demand}
"""
TOKENS_PER_MONTH = 1 * 150 * 3600 * 730


def test_the_cost_per_million_tokens_is_the_whole_monthly_cost_and_its_budget_holds_it(tmp_path: Path,
                                                                                     catalog: Catalog) -> None:
    path = tmp_path / "w.yaml"
    path.write_text(WORKLOAD, encoding="utf-8")
    w = load_workload(path)
    tables = catalog_tables(catalog)
    best = plan(w, catalog, tables=tables, explain=False).plans[0]
    assert best.cost.one_time > 0  # the full fine-tune, amortised over 12 months
    assert best.cost.per_million_tokens == pytest.approx(best.cost.per_month / TOKENS_PER_MONTH * 1e6, rel=1e-9)
    serving_only = best.cost.per_hour * 730 / TOKENS_PER_MONTH * 1e6
    assert best.cost.per_million_tokens > serving_only * 1.002  # the adaptation's $7.56 of $1,587 a month
    # a limit between the serving cost and the whole cost per million: the plan no longer fits it
    between = (serving_only + best.cost.per_million_tokens) / 2
    tight = replace(w, budget=replace(w.budget, max_cost_per_million_tokens=between))
    kept = plan(tight, catalog, tables=tables, explain=False).plans
    assert all(p.cost.per_million_tokens <= between for p in kept)
    assert not any(p.deployments == best.deployments and p.model == best.model for p in kept)
