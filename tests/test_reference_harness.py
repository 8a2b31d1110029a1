"""MLPerf results of the MLCommons reference implementation run against an API server are skipped
(planner.calibration.predict, REFERENCE_HARNESS): its client workers, not the engine, set the
requests in flight. The published numbers show the harness, not the chip, limited them."""

from __future__ import annotations

from hardware_catalog import default_catalog_dir
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import REFERENCE_HARNESS, prepare
from planner.domain import Catalog
from planner.model.grid import CatalogTables

MLPERF = default_catalog_dir() / "measurements" / "mlperf.yaml"
HARNESS_L40S = "mlperf-v4.1-neuralmagic-vllm-8xl40s-reference-cpu-pytorch-v2.3.1-default-config-llama2-70b-99-offline"
ENGINE_L40S = "mlperf-v4.1-redhat-l40s-redhat-openshift-llama2-70b-99.9-offline"


def test_reference_harness_records_are_skipped_with_the_reason(catalog: Catalog, tables: CatalogTables) -> None:
    records = read_measurements(MLPERF).records
    harness = {m.id for m in records if "-reference-" in m.tags.get("system", "")}
    assert len(harness) >= 10  # NeuralMagic's v4.1 L40S, H100, RTX 4090 and AM5 systems, every scenario
    rs, skipped = prepare(catalog, tables, records)
    reasons = {s.id: s.reason for s in skipped}
    assert harness <= set(reasons)
    assert all("reference implementation" in reasons[i] for i in harness if i in reasons
               and not reasons[i].startswith("same log"))
    # nothing else is caught: every predicted record's system is an engine's own harness
    assert not any(REFERENCE_HARNESS.search(m.tags.get("system", "")) for m in rs.records)
    assert any(m.tags.get("submitter") == "NVIDIA" for m in rs.records)


def test_published_harness_result_is_far_below_the_engine_on_the_same_chip() -> None:
    # MLPerf v4.1 closed, llama2-70b Offline on 8 x L40S with vLLM: NeuralMagic's reference-harness
    # run in FP8 against RedHat's engine-native run in FP16 (twice the weight bytes, half the FP8 rate)
    by_id = {m.id: m for m in read_measurements(MLPERF).records}
    harness, engine = by_id[HARNESS_L40S], by_id[ENGINE_L40S]
    assert harness.hardware == engine.hardware == "l40s" and harness.runtime == engine.runtime == "vllm"
    assert (harness.weight_precision, engine.weight_precision) == ("fp8", "fp16")
    per_chip = [m.observed["output_tokens_per_s"] / m.chips for m in (harness, engine)]
    assert per_chip[0] < 0.5 * per_chip[1]  # published: 119 against 429 tokens/s per chip
