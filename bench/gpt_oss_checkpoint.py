"""Print what gpt-oss's experts-only checkpoint (planner.domain.Checkpoint) gives: weights against
the published checkpoint sizes, batch-1 TPOT, and max_throughput on 8 x B200 and 8 x MI355X at the
MLPerf gpt-oss-120b lengths of tests/data/next_round_combos.yaml (input 1000, a synthetic pick;
output 1278, the reference mean).

    PYTHONPATH=$PWD python bench/gpt_oss_checkpoint.py [--json]

Run it in two trees (e.g. a ``git worktree`` of the commit before) and compare.
"""

from __future__ import annotations

import argparse
import json

from hardware_catalog import load_catalog
from planner.errors import PlannerError
from planner.model.estimate import Scenario, estimate, resolve

GIB = 2.0**30
PUBLISHED_GIB = {"gpt-oss-120b": 60.8, "gpt-oss-20b": 12.8}  # model card arXiv 2508.10925, checkpoint sizes
INPUT, OUTPUT = 1000, 1278  # tokens (next_round_combos.yaml gpt-oss-120b lengths)
BATCH_ONE = (("gpt-oss-120b", "b200", 1, "fp4"), ("gpt-oss-120b", "h200", 1, "fp4"),
             ("gpt-oss-120b", "mi355x", 1, "fp4"), ("gpt-oss-120b", "b200", 8, "fp4"),
             ("gpt-oss-20b", "b200", 1, "fp4"), ("gpt-oss-20b", "h100-sxm", 1, "fp4"),
             ("gpt-oss-120b", "b200", 1, "fp8"), ("gpt-oss-120b", "h200", 2, "bf16"))
THROUGHPUT = (("b200", "tensorrt-llm"), ("b200", "sglang"), ("mi355x", "vllm"), ("mi355x", "sglang"))


def figures() -> dict[str, dict[str, float] | str]:
    catalog = load_catalog()
    out: dict[str, dict[str, float] | str] = {}
    for model, hw, tp, precision in BATCH_ONE:
        key = f"batch 1: {model} {precision} on {tp} x {hw}"
        config = resolve(catalog, model=model, hardware=hw, tp=tp, chips=tp, precision=precision)
        e = estimate(catalog, config, input_tokens=INPUT, output_tokens=OUTPUT, batch=1)
        row = {"weights_gb": e.weights_bytes * tp / 1e9, "tpot_ms": e.tpot_s * 1e3, "ttft_ms": e.ttft_s * 1e3}
        if precision == "fp4":
            row["weights_vs_published"] = e.weights_bytes * tp / (PUBLISHED_GIB[model] * GIB)
        out[key] = row
    for hw, runtime in THROUGHPUT:
        for tp in (1, 8):
            key = f"max_throughput: gpt-oss-120b fp4 on 8 x {hw}, tp {tp}, {runtime}"
            try:
                config = resolve(catalog, model="gpt-oss-120b", hardware=hw, tp=tp, chips=8, precision="fp4",
                                 runtime=runtime)
            except PlannerError as exc:
                out[key] = str(exc)
                continue
            e = estimate(catalog, config, scenario=Scenario.MAX_THROUGHPUT, input_tokens=INPUT, output_tokens=OUTPUT)
            out[key] = {"output_tokens_per_s": e.output_tokens_per_s, "batch_per_replica": e.batch,
                        "tpot_ms": e.tpot_s * 1e3}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    out = figures()
    if args.json:
        print(json.dumps(out, indent=1))
        return
    for key, value in out.items():
        shown = value if isinstance(value, str) else ", ".join(f"{k} {v:.4g}" for k, v in value.items())
        print(f"{key}: {shown}")


if __name__ == "__main__":
    main()
