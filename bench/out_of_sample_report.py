"""The out-of-sample section of docs/accuracy.md: measurement files no fit reads, predicted with the
shipped calibration exactly as `hwplan validate` does.

    .venv/bin/python bench/out_of_sample_report.py [FILE]   # print the section (default: the gpt-oss file)

Today one file: tests/data/inferencemax_gpt_oss.yaml (gpt-oss-120b, InferenceMAX). Rows group the
records by hardware x runtime and by concurrency (at most 16 requests in flight, where the fixed
cost of a step dominates, against 32 and more, where weights, KV reads and compute do).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.measurements import read_measurements
from planner.calibration.predict import METRICS, Measurement, RecordSet, predict_calibrated, prepare
from planner.calibration.validate import ape, summarise
from planner.domain import Catalog
from planner.model.grid import Array, CatalogTables

ROOT = Path(__file__).resolve().parents[1]
GPT_OSS = ROOT / "tests/data/inferencemax_gpt_oss.yaml"
COLUMNS = ("output_tokens_per_s", "tpot_s")


def _group_rows(rs: RecordSet, predicted: Array, key: Callable[[Measurement], str]) -> list[str]:
    errors = ape(predicted, rs.observed)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = predicted / rs.observed
    groups: dict[str, list[int]] = {}
    for j, m in enumerate(rs.records):
        groups.setdefault(key(m), []).append(j)
    lines = []
    for name, idx in sorted(groups.items()):
        cells = []
        for metric in COLUMNS:
            k = METRICS.index(metric)
            s = summarise(errors[idx, k])
            r = ratio[idx, k]
            r = r[np.isfinite(r)]
            cells += [f"{np.median(r):.2f}" if r.size else "—", f"{100 * s.median_ape:.1f}%",
                      f"{100 * s.within_25pct:.0f}%"]
        lines.append(f"| {name} | {len(idx)} | " + " | ".join(cells) + " |")
    return lines


def _pair(m: Measurement) -> str:
    return f"{m.hardware} x {m.runtime}"


def _load(m: Measurement) -> str:
    return "concurrency <= 16" if (m.batch or 0) <= 16 else "concurrency >= 32"


def _pair_and_load(m: Measurement) -> str:
    return f"{_pair(m)}, {_load(m)}"


def section(catalog: Catalog, path: Path = GPT_OSS) -> list[str]:
    """Markdown lines of the out-of-sample section for ``path``."""
    tables = CatalogTables.from_catalog(catalog)
    read = read_measurements(path)
    rs, skipped = prepare(catalog, tables, read.records)
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    header = ["| group | n | tokens/s predicted / observed (median) | tokens/s median APE | within 25% "
              "| TPOT predicted / observed (median) | TPOT median APE | within 25% |",
              "|---|---|---|---|---|---|---|---|"]
    return [
        "## Out of sample: gpt-oss-120b under concurrency (InferenceMAX)", "",
        f"Data: `{path.relative_to(ROOT)}` (sha256 `{read.sha256[:12]}…`), {len(read.records)} records, "
        f"{len(rs)} predicted, {len(skipped)} skipped; no fit reads this file, so every number here is out of "
        "sample, predicted with the shipped calibration as `hwplan validate` does. InferenceMAX (SemiAnalysis) "
        "runs a closed loop of CONC requests with uniform random lengths (mean 0.9 x the nominal), predicted as "
        "`max_throughput` capped at CONC sequences (prompts prefilled in chunks: "
        "`planner/model/scenarios.py`). B200 x TensorRT-LLM's fixed cost per step comes from three "
        "max-throughput records of 70B-400B models with no latency, so it is essentially the NVIDIA x "
        "TensorRT-LLM prior (Known weak spots).", "",
        "### By hardware x runtime", "", *header, *_group_rows(rs, predicted, _pair), "",
        "### By load", "", *header, *_group_rows(rs, predicted, _load), *_group_rows(rs, predicted, _pair_and_load),
        "",
        *([f"Skipped: {', '.join(f'`{s.id}` ({s.reason})' for s in skipped)}", ""] if skipped else []),
    ]


if __name__ == "__main__":
    print("\n".join(section(load_catalog(), Path(sys.argv[1]) if len(sys.argv) > 1 else GPT_OSS)))
