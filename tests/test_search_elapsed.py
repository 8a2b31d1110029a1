"""The search time a plan reports (``search.elapsed_ms``: `hwplan plan` prints it, bench/cli_startup.py reads it for
issue #21's first-search figure) covers every search the plan ran.

Basis: a lower bound by construction. The two-pool search (``planner.search.disagg.disaggregated_plans``) is
slowed by a known sleep; the plan's reported time can be no shorter than that sleep. It failed when the figure
was taken at the end of the aggregated search: examples/disagg-long-prompts.yaml reported 67 ms where the whole
search took about 160.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import planner.search.planning as planning
from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.loader import load_catalog

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "disagg-long-prompts.yaml"
PAUSE_S = 0.4


def test_elapsed_covers_the_disaggregated_search(monkeypatch: pytest.MonkeyPatch) -> None:
    catalog = load_catalog()
    w = load_workload(EXAMPLE)
    inner = planning.disaggregated_plans

    def slow(*args: object, **kwargs: object) -> object:
        time.sleep(PAUSE_S)
        return inner(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(planning, "disaggregated_plans", slow)
    result = planning.plan(w, catalog, tables=catalog_tables(catalog), top=3, explain=False)
    assert any("disaggregation" in p.features for p in result.plans)
    assert result.search.elapsed_ms >= PAUSE_S * 1e3, result.search.elapsed_ms
