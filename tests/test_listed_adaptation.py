"""An adaptation the workload lists is the one its plans use (planner.levers.adaptation).

Basis: the user's list. examples/fleet/lora-pool.yaml's workloads are LoRA adapters of one base model on
the general task, listing adaptations: [lora]; their plans came back with adaptation 'none' and no
training cost, since adaptation moves only a domain score. Listed, it is costed (the training's one-time
cost, > 0) and credited no gain: the plan's quality is the unadapted model's at the same precision.
"""

from __future__ import annotations

from dataclasses import replace

from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from planner.search.planning import plan
from planner.workload import Constraints, Slo, Tokens, Traffic, Workload


def test_lora_listed_on_the_general_task_is_costed_and_credited_nothing() -> None:
    catalog = load_catalog()
    tables = catalog_tables(catalog)
    traffic = Traffic(requests_per_s=6.0, input_tokens=Tokens(800.0, 2500.0), output_tokens=Tokens(250.0, 700.0))
    w = Workload(name="adapter", traffic=traffic, slo=Slo(targets={"ttft_ms": {99: 2000.0}, "tpot_ms": {99: 80.0}}),
                 constraints=Constraints(models=("qwen2.5-7b",), hardware=("l40s", "a100-80gb"), adaptations=("lora",)))
    listed = plan(w, catalog, tables=tables, top=3, explain=False)
    assert listed.plans
    for p in listed.plans:
        assert p.adaptation == "lora" and p.cost.one_time > 0, (p.adaptation, p.cost.one_time)
        bare = plan(replace(w, constraints=replace(w.constraints, adaptations=("none",), precisions=(p.precision,))),
                    catalog, tables=tables, top=1, explain=False).plans[0]
        assert p.quality.score == bare.quality.score
