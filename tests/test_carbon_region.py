"""The grid a plan's carbon is read at (planner.search.build._grid_region).

Basis: location-based carbon is energy x the intensity of the grid the chips draw from, and a rented
chip draws where its offer is. With regions [us-west-2, us-east-1] and every offer behind the plan in
us-east-1, carbon was read at us-west-2's 97.85 g/kWh (18.1 kg/month where us-east-1's 343 g/kWh gives
63.5): the first listed region, holding none of the plan's chips.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from planner.economics.rates import Pricing
from planner.search.planning import plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload


def test_carbon_is_read_where_the_plans_offers_are() -> None:
    catalog = load_catalog()
    traffic = Traffic(requests_per_s=5.0, input_tokens=Tokens(600.0, 2000.0), output_tokens=Tokens(200.0, 600.0))
    w = Workload(name="region", traffic=traffic, slo=Slo(targets={"ttft_ms": {99: 1500.0}, "tpot_ms": {99: 80.0}}),
                 constraints=Constraints(models=("llama-3.1-8b",), hardware=("l4", "a10g", "l40s"),
                                         pricing=Pricing(regions=("us-west-2", "us-east-1"))))
    result = plan(w, catalog, tables=catalog_tables(catalog), top=3, explain=False)
    assert result.plans
    checked = 0
    for p in result.plans:
        offered = {o.region for s in p.cost.sources for o in s.offers}
        e = p.cost.energy
        assert e is not None
        if offered == {"us-east-1"}:  # the case above: the survey has no us-west-2 row for these chips
            checked += 1
            assert e.region == "us-east-1"
            east = replace(w, constraints=replace(w.constraints, pricing=Pricing(regions=("us-east-1",))))
            same = plan(east, catalog, tables=catalog_tables(catalog), top=3, explain=False).plans
            twin = next(q for q in same if q.deployments == p.deployments)
            assert twin.cost.energy is not None
            assert e.kgco2e_per_month == pytest.approx(twin.cost.energy.kgco2e_per_month)
        else:
            assert e.region in offered or not (offered & set(w.constraints.pricing.regions))
    assert checked, "no plan priced by us-east-1 offers alone: pick other chips"
