"""The plan text says which deployments run on a chip and runtime with no fitted measurement of their
own (``calibrated: false`` in the JSON), so a reader sees where the figures rest on another chip's fit
or a prior; the JSON flag and the text agree."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

Cli = Callable[..., tuple[int, str, str]]

def _workload(tmp_path: Path, hardware: str, runtime: str) -> Path:
    body = {"name": "flags",
            "traffic": {"requests_per_s": 5, "input_tokens": {"mean": 500}, "output_tokens": {"mean": 100}},
            "slo": {"ttft_ms": {"p99": 2000}},
            "constraints": {"hardware": [hardware], "runtimes": [runtime], "models": ["llama-3.1-8b"],
                            "max_chips_per_replica": 1}}
    path = tmp_path / f"{hardware}-{runtime}.json"
    path.write_text(json.dumps(body))
    return path


def test_the_text_flags_exactly_the_uncalibrated_deployments(hwplan: Cli, tmp_path: Path) -> None:
    seen = set()
    for hardware, runtime in (("h100-sxm", "tensorrt-llm"), ("l4", "sglang")):
        path = _workload(tmp_path, hardware, runtime)
        code, out, _ = hwplan("plan", str(path), "--json")
        assert code == 0
        flags = {d["calibrated"] for p in json.loads(out)["plans"] for d in p["deployments"]}
        assert len(flags) == 1
        calibrated = flags.pop()
        seen.add(calibrated)
        code, text, _ = hwplan("plan", str(path))
        flat = " ".join(text.split())
        assert code == 0 and ("uncalibrated)" in flat) is (not calibrated), flat
    assert seen == {True, False}  # H100 x TensorRT-LLM has records of its own, L4 x SGLang none
