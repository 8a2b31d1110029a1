"""vLLM on Inferentia / Trainium is planned in the formats its Neuron backend serves (runtimes.yaml ``backends``).

Basis: the export's own reading of the engines (hardware_catalog/export, written from their argument
references), a separate statement of what vLLM on Neuron takes: `--format neuron` refuses an fp8 KV cache.
The planner ranked vLLM fp8-KV plans on Trainium first for examples/long-document-summarizer.yaml (and in
support-chatbot's and offline-batch's lists), which no format could export. A plan the planner ranks on a
Neuron chip is now refused by the export at most for the documented reason, a quantised checkpoint the
catalog does not name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from hardware_catalog import load_catalog
from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.export import ExportError, export
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import plan_result_out
from planner.errors import InputError
from planner.model.estimate import resolve
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("example", ["long-document-summarizer", "support-chatbot", "offline-batch"])
def test_plans_on_neuron_chips_export_but_for_a_named_checkpoint(example: str) -> None:
    catalog = load_catalog()
    path = EXAMPLES / f"{example}.yaml"
    w = load_workload(path)
    doc = plan_result_out(plan(w, catalog, tables=catalog_tables(catalog), top=8, explain=False))
    neuron = [p for p in doc.plans if all(catalog.hardware[d.hardware].family in ("inferentia", "trainium")
                                          for d in p.deployments)]
    for p in neuron:
        try:
            export(doc, catalog, "neuron", rank=p.rank, workload=w)
        except ExportError as e:
            assert "pre-quantised checkpoint" in str(e), (p.rank, p.runtime, p.precision, p.kv_precision, str(e))


def test_estimate_names_the_backend_that_refuses_a_format() -> None:
    catalog = load_catalog()
    with pytest.raises(InputError, match=r"\(through neuronx on trainium chips\)") as e:
        resolve(catalog, model="qwen2.5-3b", hardware="trainium2", runtime="vllm", kv_precision="fp8")
    assert e.value.field == "kv_precision"
    assert resolve(catalog, model="qwen2.5-3b", hardware="h100-sxm", runtime="vllm", kv_precision="fp8")


def test_a_workload_only_the_backend_refuses_is_told_why() -> None:
    """An infeasible workload asking vLLM on Inferentia2 for an fp8 KV cache said 'no configuration survives
    the constraints above' with nothing above it naming the cause; the reasons now name the backend, and
    widening the KV list alone gives a plan (the reason is the one that binds)."""
    from dataclasses import replace

    from planner.workload import Constraints, Slo, Tokens, Traffic, Workload

    catalog = load_catalog()
    tables = catalog_tables(catalog)
    w = Workload(name="inf", traffic=Traffic(requests_per_s=2.0, input_tokens=Tokens(500.0, 1000.0),
                                             output_tokens=Tokens(200.0, 400.0)),
                 slo=Slo(targets={"ttft_ms": {99: 5000.0}, "tpot_ms": {99: 200.0}}),
                 constraints=Constraints(hardware=("inferentia2",), models=("llama-3.1-8b",), runtimes=("vllm",),
                                         kv_precisions=("fp8",)))
    result = plan(w, catalog, tables=tables, top=1)
    assert not result.plans and result.infeasible is not None
    assert any("fp8 KV cache not stored by vllm on inferentia2 (through neuronx on inferentia chips)" in r
               for r in result.infeasible.reasons), result.infeasible.reasons
    wider = replace(w, constraints=replace(w.constraints, kv_precisions=("fp8", "bf16")))
    assert plan(wider, catalog, tables=tables, top=1, explain=False).plans
