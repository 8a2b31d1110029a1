"""Reference tests: the shipped catalog's predictions against published measurements.

Records come from hardware_catalog/data/measurements/public_benchmarks.yaml when the package
ships it, else from ../shared/calibration/public_benchmarks.yaml (both in the SCHEMA.md
format). Each case names the record id; the record's `source` field is the citation and is
checked to be present. Tolerance: within 35% (prediction / observed in [1/1.35, 1.35]) for a
handful of high-confidence records. The efficiencies are fitted on the same file by calibration,
so these are fit-quality checks, not hold-out validation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from hardware_catalog import default_catalog_dir
from planner.domain import Catalog
from planner.model.estimate import Scenario, estimate, resolve

SHIPPED = default_catalog_dir() / "measurements" / "public_benchmarks.yaml"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "calibration" / "public_benchmarks.yaml"
TOLERANCE = 1.35

# record id -> (observed field, why this record: source summary)
CASES = {
    # NVIDIA TensorRT-LLM docs/source/performance.md (v0.9.0), static batch, FP8
    "tensorrt-llm-0.9.0-llama-2-7b-h200-c1-tp1-pp1-fp8-kvfp8-sb-b896-128-128": "output_tokens_per_s",
    "tensorrt-llm-0.9.0-llama-2-7b-h200-c1-tp1-pp1-fp8-kvfp8-sb-b64-2048-128": "output_tokens_per_s",
    "tensorrt-llm-0.9.0-llama-2-7b-a100-80gb-c1-tp1-pp1-fp16-kvfp16-sb-b32-128-2048": "output_tokens_per_s",
    "tensorrt-llm-0.9.0-llama-2-7b-h100-sxm-c1-tp1-pp1-fp8-kvfp8-sb-b1-2048-1": "ttft_ms",
    # NVIDIA TensorRT-LLM docs/source/performance/perf-overview.md (v0.13.0), max throughput
    "tensorrt-llm-0.13.0-llama-3.1-70b-h100-sxm-c4-tp4-pp1-fp8-kvfp8-mt-2048-128": "output_tokens_per_s",
    "tensorrt-llm-0.13.0-llama-3.1-70b-h100-sxm-c4-tp4-pp1-fp16-kvfp16-mt-1000-1000": "output_tokens_per_s",
    "tensorrt-llm-0.13.0-llama-3.1-8b-h100-sxm-c1-tp1-pp1-fp8-kvfp8-mt-1000-1000": "output_tokens_per_s",
    # AWS Neuron docs, inference performance (neuronx 2.18), trn1.32xlarge / inf2.48xlarge
    "neuronx-2.18.0-llama-2-70b-trainium1-c16-tp16-pp1-bf16-kvdef-sb-b1-1024-1024": "tpot_ms",
    "neuronx-2.18.0-llama-2-70b-inferentia2-c12-tp12-pp1-bf16-kvdef-sb-b1-1024-1024": "tpot_ms",
    # llama.cpp community benchmarks (GPU and Xeon), batch 1 decode
    "llama.cpp-llama-3-8b-rtx-4090-c1-tp1-pp1-int4-q4-k-m-kvdef-sb-b1-0-512": "tpot_ms",
    "llama.cpp-llama-7b-xeon-8480-c1-tp1-pp1-int4-int4-g32-kvdef-sb-b1-32-32": "tpot_ms",
}


def _records() -> dict[str, dict[str, Any]]:
    path = SHIPPED if SHIPPED.is_file() else SHARED
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {r["id"]: r for r in data["measurements"]}


RECORDS = _records()


def _observed(record: dict[str, Any], key: str) -> float:
    obs = record["observed"]
    if key == "tpot_ms" and obs.get("tpot_ms") is None:
        # batch-1 decode rate with a (near) empty prompt: tpot = 1000 / tokens per second
        return 1000.0 / float(obs["output_tokens_per_s"])
    return float(obs[key])


def _predict(catalog: Catalog, r: dict[str, Any], key: str) -> float:
    cfg = resolve(catalog, model=r["model"], hardware=r["hardware"], chips=r["chips"], tp=r["tp"],
                  pp=r["pp"], precision=r["weight_precision"], kv_precision=r["kv_precision"],
                  runtime=r["runtime"])
    est = estimate(catalog, cfg, scenario=Scenario(r["scenario"]),
                   input_tokens=max(int(r["input_tokens"]), 1),  # llama.cpp tg512: no prompt
                   output_tokens=int(r["output_tokens"]), batch=r["batch"])
    return {"output_tokens_per_s": est.output_tokens_per_s, "ttft_ms": est.ttft_s * 1e3,
            "tpot_ms": est.tpot_s * 1e3}[key]


@pytest.mark.parametrize("record_id", list(CASES))
def test_prediction_within_tolerance_of_published(catalog: Catalog, record_id: str) -> None:
    record = RECORDS[record_id]
    assert record["source"] and record["confidence"] in {"high", "medium"}
    key = CASES[record_id]
    observed = _observed(record, key)
    predicted = _predict(catalog, record, key)
    ratio = predicted / observed
    assert 1.0 / TOLERANCE <= ratio <= TOLERANCE, (
        f"{record_id} ({record['source']}): {key} predicted {predicted:.4g} vs published "
        f"{observed:.4g} (ratio {ratio:.2f}, tolerance x{TOLERANCE})")
