"""An engine without a paged KV cache (runtimes.yaml ``features.paged_kv: false``: JetStream/MaxText, llama.cpp,
Saxml, HF Transformers) allocates each slot's cache whole at its slot length, so under load the planner sizes its
batch at the workload's slot (``queueing.slot_tokens``: the p95 prompt and output, each in steps of 256), the
length ``hwplan export`` gives the engine (MaxText's max_target_length, llama.cpp's context per slot).

Independent bases: the KV bytes of a token from the model's published shape (Qwen2.5-7B: 28 layers x 4 KV heads x
128 dims, K and V; its config.json); the paged engine on the same chip, whose batch is not held to the slot; and
the export's own allocation check, which must accept the batch of every plan the planner makes on such an engine
(before, MaxText was given twice the p95 with the plan's paged-style batch: 120 GB of cache on 64 GB of TPUs).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from hardware_catalog import load_catalog
from hardware_catalog.export import export
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import plan_result_out
from planner.domain import Catalog
from planner.model.estimate import config_grid, resolve
from planner.model.load.queueing import LengthDist, serve, slot_tokens
from planner.model.perf import MemoryModel, StepModel
from planner.search.planning import plan

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
KV_BYTES_INT8 = 2 * 28 * 4 * 128 * 1  # Qwen2.5-7B, one byte per KV element


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def test_the_runtimes_without_paged_kv_are_the_ones_that_allocate_slots(catalog: Catalog) -> None:
    unpaged = {r.id for r in catalog.runtimes.values() if not r.paged_kv}
    assert unpaged == {"jetstream", "llama.cpp", "saxml", "hf-transformers", "neuronx"}
    # vLLM on Neuron chips runs NxD Inference's cache (its backend there): one block of max_model_len a sequence
    vllm = catalog.runtimes["vllm"]
    assert catalog.paged_kv(vllm, catalog.get_hardware("h100-sxm"))
    assert not catalog.paged_kv(vllm, catalog.get_hardware("inferentia2"))
    assert not catalog.paged_kv(vllm, catalog.get_hardware("trainium2"))


def test_a_slot_is_the_p95_prompt_and_output_in_steps_of_256() -> None:
    assert slot_tokens(LengthDist(800, 2000), LengthDist(150, 400)) == 2048 + 512
    assert slot_tokens(LengthDist(256), LengthDist(100)) == 256 + 256  # fixed lengths: their own, rounded up


def _row(catalog: Catalog, runtime: str) -> tuple[StepModel, MemoryModel]:
    config = resolve(catalog, model="qwen2.5-7b", hardware="tpu-v5e", chips=1, tp=1, precision="int8",
                     kv_precision="int8" if runtime == "jetstream" else "fp8", runtime=runtime)
    grid = config_grid(catalog, config)
    return StepModel.build(grid), MemoryModel.build(grid)


def test_the_batch_of_an_unpaged_engine_fits_its_slots(catalog: Catalog) -> None:
    inp, out = LengthDist(800, 2000), LengthDist(150, 400)
    slot = 2560
    step, mem = _row(catalog, "jetstream")
    c = mem.coefficients
    free = float(c.capacity_bytes[0] - c.weight_bytes[0] - c.overhead_bytes[0])
    res = serve(step, mem, request_rate=0.5, input_tokens=inp, output_tokens=out)
    b = float(res.max_batch[0])
    assert b >= 1
    full = mem.parts(batch=b, context_tokens=950.0, slot_tokens=slot)  # its memory with every slot taken
    assert b * slot * KV_BYTES_INT8 + float(full.activations[0]) <= free  # every slot's whole cache is allocated
    more = mem.parts(batch=b + 1, context_tokens=950.0, slot_tokens=slot)
    assert (b + 1) * slot * KV_BYTES_INT8 + float(more.activations[0]) > free  # and not one more beside it
    # the paged engine on the same chip, weights and KV bytes (vLLM's fp8 cache) holds more: its sequences take
    # their context
    paged_step, paged_mem = _row(catalog, "vllm")
    paged = serve(paged_step, paged_mem, request_rate=0.5, input_tokens=inp, output_tokens=out)
    assert float(paged.max_batch[0]) > 1.5 * b
    # the memory the result reports holds the slots' caches
    assert float(res.memory.kv_cache[0]) == pytest.approx(max(float(res.batch_mean[0]), 1.0) * slot * KV_BYTES_INT8,
                                                          rel=1e-9)


TPU_CHAT = """\
name: tpu-chat
traffic:
  requests_per_s: 10
  peak_requests_per_s: 20
  input_tokens: {mean: 800, p95: 2000}
  output_tokens: {mean: 150, p95: 400}
slo:
  ttft_ms: {p99: 3000}
  tpot_ms: {p99: 100}
constraints:
  models: [llama-3.1-8b]
  hardware: [tpu-v5e, tpu-v6e]
  max_chips_per_replica: 8
"""


@pytest.mark.parametrize(("workload", "fmt"), [("tpu-chat", "jetstream"),
                                               ("examples/edge-assistant.yaml", "llama.cpp"),
                                               ("examples/long-document-summarizer.yaml", "neuron")])
def test_every_plan_on_such_an_engine_exports(catalog: Catalog, tmp_path: Path, workload: str, fmt: str) -> None:
    """The export allocates the plan's batch at the slot and refuses what does not fit: the planner's batches fit
    (long-document-summarizer's 6,000 / 1,300-token p95s on NxD Inference: slots of 7,424 tokens)."""
    path = Path(__file__).resolve().parents[1] / workload
    if workload == "tpu-chat":
        path = tmp_path / "w.yaml"
        path.write_text(TPU_CHAT)
    w = load_workload(path)
    runtime = "neuronx" if fmt == "neuron" else fmt
    # (the export writes 16-bit weights for Neuron: other formats need a pre-quantised checkpoint)
    only = replace(w, constraints=replace(w.constraints, runtimes=(runtime,),
                                          precisions=("bf16",) if fmt == "neuron" else w.constraints.precisions))
    result = plan(only, catalog, top=3, explain=False)
    assert result.plans and all(p.runtime == runtime for p in result.plans), f"no {runtime} plan for {workload}"
    doc = plan_result_out(result)
    for rank in range(1, len(doc.plans) + 1):
        assert export(doc, catalog, fmt, rank=rank, workload=only)
    assert any(d.max_batch > 1 for p in doc.plans for d in p.deployments)
    assert np.isfinite(doc.plans[0].cost.per_month)
