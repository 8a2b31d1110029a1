"""FP4 weights off Blackwell are weight-only: multiplied in 16-bit, never at the chip's FP8 rate.

Basis: vLLM's compressed-tensors loader (vllm/model_executor/layers/quantization/compressed_tensors/
compressed_tensors.py, ``_get_scheme_from_parts``) runs an NVFP4 checkpoint as CompressedTensorsW4A16Fp4 (FP4
Marlin, 16-bit activations) on a GPU without FP4; llm-compressor's NVFP4 example README says the same (below
SM100 vLLM runs it weight-only). SGLang and TensorRT-LLM do not load NVFP4 there at all (runtimes.yaml
native_only). So a long prompt's prefill, compute-bound, costs an fp4 plan on an H100 what it costs a bf16 one:
the same FLOPs at the same 16-bit rate (its smaller weight reads only shorten the memory-bound part). The
catalog's fp4 compute_as listed fp8 before bf16, which timed that prefill at the H100's FP8 rate, about half.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from cli.main import app

HARDWARE = Path(__file__).resolve().parents[1] / "hardware_catalog" / "data" / "hardware"


def _estimate(hardware: str, precision: str) -> dict[str, object]:
    result = CliRunner().invoke(app, ["estimate", "--model", "qwen2.5-32b", "--hardware", hardware, "--tp", "2",
                                      "--precision", precision, "--runtime", "vllm", "--input-tokens", "8192",
                                      "--output-tokens", "16", "--batch", "1", "--json"])
    assert result.exit_code == 0, result.output
    doc: dict[str, object] = json.loads(result.stdout)
    return doc


def _peaks(hardware: str) -> dict[str, float]:
    peaks: dict[str, float] = yaml.safe_load((HARDWARE / f"{hardware}.yaml").read_text())["peak_tflops"]
    return peaks


@pytest.mark.parametrize("hardware", ["h100-sxm", "h200", "l40s", "rtx-4090", "l4"])
def test_fp4_on_a_chip_with_fp8_but_no_fp4_prefills_at_the_16_bit_rate(hardware: str) -> None:
    peaks = _peaks(hardware)
    assert "fp8" in peaks and "fp4" not in peaks  # (the raw datasheet figures: the case this test is about)
    fp4, bf16 = _estimate(hardware, "fp4"), _estimate(hardware, "bf16")
    assert fp4["compute_precision"] in ("bf16", "fp16")
    # the same FLOPs at the same rate: the fp4 prefill is not shorter than the 16-bit one's by more than its
    # smaller weight reads (at 8,192 tokens a small part); at the FP8 rate it was ~0.5x
    assert float(fp4["ttft_ms"]) >= 0.9 * float(bf16["ttft_ms"])  # type: ignore[arg-type]


def test_fp4_on_blackwell_computes_in_fp4() -> None:
    assert "fp4" in _peaks("b200")
    fp4, bf16 = _estimate("b200", "fp4"), _estimate("b200", "bf16")
    assert fp4["compute_precision"] == "fp4"
    assert float(fp4["ttft_ms"]) < 0.6 * float(bf16["ttft_ms"])  # type: ignore[arg-type]
