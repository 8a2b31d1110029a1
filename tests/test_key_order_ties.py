"""Where the key limit stops a search (status FEASIBLE), the keys it reached first at a given cost are
those whose plans rank first there (``branch_bound._key_order``: equal bounds in the ranking's
tie-break order, higher quality first). Basis: the same workload searched one model at a time is
exhaustive (few keys, OPTIMAL), so its best plan is the ranking's own choice for that model; the
full search must show each model it lists with that plan. Before the tie-break every edge-assistant
plan carried an fp32 KV cache (the first KV format in catalog order, visited first among equal
bounds): a dearer and slower twin of the bf16 one, and the 32B model's lower-quality int4 variant.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.inputs.workload import load_workload
from planner.domain import Catalog
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@functools.cache
def _catalog() -> Catalog:
    return load_catalog()


@pytest.mark.parametrize("name", ["edge-assistant"])
def test_a_key_limited_search_shows_each_model_with_its_own_best_plan(name: str) -> None:
    w = load_workload(EXAMPLES / f"{name}.yaml")
    full = plan(w, _catalog(), top=5, explain=False)
    assert full.plans and full.search.solver_status == "FEASIBLE"  # the premise: the key limit stopped it
    for p in full.plans:
        alone = plan(replace(w, constraints=replace(w.constraints, models=(p.model,))), _catalog(), top=1,
                     explain=False)
        best = alone.plans[0]
        assert alone.search.solver_status == "OPTIMAL"
        assert best.cost.per_month == pytest.approx(p.cost.per_month)
        assert (best.key, best.hardware_types) == (p.key, p.hardware_types), (p.key, best.key)
