"""Datasheet order: where is a chip at least as fast as another on paper predicted slower at batch-1 decode
with the same runtime?

Batch-1 decode reads every weight once per token (weight bytes / bandwidth) plus the engine's fixed work
per step, so a chip of the same vendor and family with at least the other's bandwidth and at least its
peak in every precision (H200 against H100 SXM: the same GH100 compute, 4.8 against 3.35 TB/s) should not
take longer per token with the same engine, model and precision. Each chip x runtime pair is fitted on
its own records, so two fits differ by their noise (cross-validated throughput ~8%): a pair more than
--slack slower is printed. With the shipped calibration the H200 x TensorRT-LLM fit (a 7.6 ms fixed cost
per step against H100's 4.0 ms) reads 37% slower than the H100 for llama-3.1-8b fp8. Plans carry the
same check for their own chips (planner.model.chip_order, `order` in the plan document).

A fit that ties one runtime's step overhead across a compute die removed all 20 (97bdd57, reverted: by
round static TPOT 28.7% -> 33.0%, TPOT p99 26.4% -> 29.5%; planner/calibration/fit.py says so).

    PYTHONPATH=$PWD .venv/bin/python bench/chip_order.py [--slack 1.10]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import itertools  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from planner.domain import Catalog  # noqa: E402
from planner.model.chip_order import SLACK, dominates  # noqa: E402
from planner.model.estimate import batch1_tpot  # noqa: E402

MODELS = ("llama-3.1-8b", "qwen2.5-7b", "llama-3.1-70b")
PRECISIONS = ("bf16", "fp8")


def inversions(catalog: Catalog, slack: float) -> tuple[int, list[str]]:
    """Comparisons made, and each dominating pair more than ``slack`` slower than the one it dominates."""
    pairs = catalog.calibration.pairs
    compared, slower = 0, []
    for runtime in sorted({r for _, r in pairs}):
        chips = sorted(h for h, r in pairs if r == runtime)
        for a, b in itertools.permutations(chips, 2):
            if not dominates(catalog.hardware[a], catalog.hardware[b]):
                continue
            for model, precision in itertools.product(MODELS, PRECISIONS):
                tp = None if model.endswith("70b") else 1  # one chip for 8B, the catalog's default for 70B
                ta, tb = (batch1_tpot(catalog, model, h, runtime, precision, None, tp) for h in (a, b))
                if ta is None or tb is None or ta[0] != tb[0]:
                    continue
                compared += 1
                if ta[1] > slack * tb[1]:
                    slower.append(f"{runtime:14} {model:14} {precision:5} {a} {ta[1] * 1e3:6.2f} ms > "
                                  f"{b} {tb[1] * 1e3:6.2f} ms ({ta[1] / tb[1]:.2f}x)")
    return compared, slower


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--slack", type=float, default=SLACK)
    args = ap.parse_args()
    compared, slower = inversions(load_catalog(), args.slack)
    print("\n".join(slower))
    print(f"shipped calibration: {len(slower)} of {compared} comparisons slower than a chip they dominate by more "
          f"than {args.slack:.2f}x")


if __name__ == "__main__":
    main()
