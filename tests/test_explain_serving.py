"""An infeasible workload that requires (or forbids) a serving feature is told to allow it, where that alone gives a
plan: qwen2.5-7b has no published EAGLE head (models/*.yaml eagle_head), so `speculative: required` left no
plan, and the explanation listed the dropped configurations with no relaxation ("no one constraint relaxed alone").

Basis: the planner itself on the relaxed workload (the relaxation is offered only where that re-solve finds a
plan), and a workload whose infeasibility the feature does not cause (a budget below every plan), which must not
be told to allow it."""

from __future__ import annotations

from dataclasses import replace

from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.inputs.workload import WorkloadIn, to_workload
from hardware_catalog.outputs import plan_result_out
from planner.domain import Catalog
from planner.search.planning import plan
from planner.workload import Workload

SPEC = {"name": "spec-required",
        "traffic": {"requests_per_s": 2, "input_tokens": {"mean": 500, "p95": 1500},
                    "output_tokens": {"mean": 300, "p95": 800}},
        "slo": {"ttft_ms": {"p99": 2000}, "tpot_ms": {"p99": 60}},
        "constraints": {"models": ["qwen2.5-7b"], "serving": {"speculative": "required"}}}


def _workload(**changes: object) -> Workload:
    return to_workload(WorkloadIn.model_validate({**SPEC, **changes}))


def test_a_required_drafter_the_model_lacks_is_relaxed_to_allowed(catalog: Catalog) -> None:
    w = _workload()
    result = plan(w, catalog, tables=catalog_tables(catalog), time_limit_s=10)
    assert not result.plans and result.infeasible is not None
    (relaxation,) = [x for x in result.infeasible.relaxations if x.constraint.startswith("constraints.serving")]
    assert relaxation.constraint == "constraints.serving.speculative" and relaxation.value == "allowed"
    assert relaxation.needed == "allowed (not required)"
    # as the service answers it: the value is the rule, a string
    out = plan_result_out(result).model_dump(mode="json")
    assert {"constraint": "constraints.serving.speculative", "needed": "allowed (not required)",
            "value": "allowed"} in out["infeasible"]["relaxations"]
    # the relaxed workload plans (independently of the explanation's own re-solve)
    relaxed = replace(w, constraints=replace(w.constraints, serving={"speculative": "allowed"}))
    assert plan(relaxed, catalog, tables=catalog_tables(catalog), time_limit_s=10, explain=False).plans


def test_a_feature_that_is_not_the_cause_is_not_offered(catalog: Catalog) -> None:
    """A forbidden feature no plan of a dense model uses (expert parallelism) and a budget no plan meets: allowing
    the feature gives no plan, so it is not offered; the budget is."""
    w = _workload(constraints={"models": ["qwen2.5-7b"], "serving": {"expert_parallel": "forbidden"}},
                  budget={"max_cost_per_month": 1})
    result = plan(w, catalog, tables=catalog_tables(catalog), time_limit_s=10)
    assert not result.plans and result.infeasible is not None
    constraints = [x.constraint for x in result.infeasible.relaxations]
    assert "budget.max_cost_per_month" in constraints
    assert not [c for c in constraints if c.startswith("constraints.serving")]


def test_the_pooled_status_of_serving_shapes_says_what_was_found(catalog: Catalog) -> None:
    """With speculative decoding allowed, qwen2.5-7b is searched plain and with each drafter; the EAGLE shape has no
    candidates (no head). The pooled status said NO_CANDIDATES over five plans (a new user), where the plain shape's
    search had proven its best: a status must agree with the plans it heads."""
    w = _workload(constraints={"models": ["qwen2.5-7b"], "serving": {"speculative": "allowed"}})
    result = plan(w, catalog, tables=catalog_tables(catalog), time_limit_s=10, explain=False)
    assert result.plans
    assert result.search.solver_status in ("OPTIMAL", "FEASIBLE")
    plain = plan(_workload(constraints={"models": ["qwen2.5-7b"]}), catalog, tables=catalog_tables(catalog),
                 time_limit_s=10, explain=False)
    assert result.search.solver_status == plain.search.solver_status  # the drafters' shapes add nothing unproven
