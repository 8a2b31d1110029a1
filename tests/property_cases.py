"""The workload of the search property tests (tests/test_search_property.py,
tests/test_lazy_search_property.py): one 400 -> 120 token stream at the case's peak, an optional
TPOT p99 target, at most 4 chips a replica, the case's type limit and an optional quota on c<i>."""

from __future__ import annotations

from planner.domain import Catalog
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload


def case_workload(case: dict[str, object], catalog: Catalog, name: str) -> Workload:
    quotas = {}
    if case["quota"] is not None:
        i, n = case["quota"]  # type: ignore[misc]
        if i < len(catalog.hardware):
            quotas[f"c{i}"] = n
    slo = Slo(targets={"tpot_ms": {99: case["tpot_ms"]}}) if case["tpot_ms"] else Slo()
    return Workload(name=name, traffic=Traffic(requests_per_s=case["peak"], input_tokens=Tokens(400.0),  # type: ignore[arg-type]
                                              output_tokens=Tokens(120.0)), slo=slo,
                    constraints=Constraints(max_chips_per_replica=4, max_hardware_types=case["max_types"],  # type: ignore[arg-type]
                                            quotas=quotas))
