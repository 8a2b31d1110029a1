"""The lever report on a two-pool top plan (planner.search.lever_report._pinned).

Basis: a lever row re-plans with that lever at its baseline and the rest of plan 1 kept, so a row whose
baseline is the value plan 1 already has (model size: the same model; adaptation: none) re-plans plan 1
itself and saves nothing. On examples/disagg-long-prompts.yaml the rows dropped the workload's
disaggregation rule and re-planned aggregated: 'model size' and 'adaptation' each 'saved' $599,607,
disaggregation's saving.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog
from planner.search.lever_report import lever_report
from planner.search.planning import plan

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-long-prompts.yaml"


def test_rows_at_plan_1s_own_value_save_nothing_and_keep_two_pools() -> None:
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = load_workload(EXAMPLE)
    top = plan(w, catalog, tables=tables, top=1, explain=False).plans[0]
    assert "disaggregation" in top.features
    rows = {r.lever: r for r in lever_report(catalog, w, top, tables=tables)}
    for lever in ("model size", "adaptation"):
        r = rows[lever]
        assert r.plan is not None and r.plan.model == top.model and r.plan.adaptation == top.adaptation
        assert r.saving_per_month == pytest.approx(0.0, abs=0.01), (lever, r.saving_per_month)
    for r in rows.values():
        if r.plan is not None:
            assert "disaggregation" in r.plan.features, (r.lever, r.plan.deployments)
