"""The out-of-sample section of docs/accuracy.md: measurement files no fit reads, predicted with the
shipped calibration exactly as `hwplan validate` does.

    .venv/bin/python bench/out_of_sample_report.py [FILE ...]   # print the sections (default: both files)
    .venv/bin/python bench/out_of_sample_report.py --mlperf     # the MLPerf v5.0 and v6.0 sections
    .venv/bin/python bench/out_of_sample_report.py --published  # vendors' published tables (tests/data/)

Two files from InferenceMAX: tests/data/inferencemax_gpt_oss.yaml (gpt-oss-120b) and
tests/data/inferencemax_deepseek_r1.yaml (DeepSeek-R1 on SGLang). Rows group the records by hardware
x runtime (x precision) and by concurrency (at most 16 requests in flight, where the fixed cost of a
step dominates, against 32 and more, where weights, KV reads and compute do).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.calibration.predict import METRICS, Measurement, RecordSet, predict_calibrated, prepare
from planner.calibration.validate import ape, summarise
from planner.domain import Catalog
from planner.model.grid import Array, CatalogTables

ROOT = Path(__file__).resolve().parents[1]
GPT_OSS = ROOT / "tests/data/inferencemax_gpt_oss.yaml"
DEEPSEEK = ROOT / "tests/data/inferencemax_deepseek_r1.yaml"
FILES = (GPT_OSS, DEEPSEEK)
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
            cells += [f"{np.median(r):.2f}" if r.size else "—", f"{100 * s.median_ape:.1f}%" if s.n else "—",
                      f"{100 * s.within_25pct:.0f}%" if s.n else "—"]
        lines.append(f"| {name} | {len(idx)} | " + " | ".join(cells) + " |")
    return lines


def _pair(m: Measurement) -> str:
    return f"{m.hardware} x {m.runtime} {m.weight_precision}"


def _load(m: Measurement) -> str:
    return "concurrency <= 16" if (m.batch or 0) <= 16 else "concurrency >= 32"


def _pair_and_load(m: Measurement) -> str:
    return f"{_pair(m)}, {_load(m)}"


INTRO = {
    "gpt-oss-120b": "B200 x TensorRT-LLM's fixed cost per step comes from three max-throughput records of 70B-400B "
                    "models with no latency, so it is essentially the NVIDIA x TensorRT-LLM prior (Known weak spots).",
    "deepseek-r1": "Every pair is uncalibrated for this model: its step overhead and MoE efficiency come from dense "
                   "and Mixtral records; DeepSeek-R1 has 61 layers, 256 routed experts and MLA (Known weak spots). "
                   "B200 FP4 runs used SGLang expert parallelism (ep = tp) with tensor-parallel attention and are "
                   "predicted tensor parallel.",
}


def section(catalog: Catalog, path: Path) -> list[str]:
    """Markdown lines of the out-of-sample section for ``path``."""
    tables = CatalogTables.from_catalog(catalog)
    read = read_measurements(path)
    rs, skipped = prepare(catalog, tables, read.records)
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    model = read.records[0].model
    header = ["| group | n | tokens/s predicted / observed (median) | tokens/s median APE | within 25% "
              "| TPOT predicted / observed (median) | TPOT median APE | within 25% |",
              "|---|---|---|---|---|---|---|---|"]
    return [
        f"## Out of sample: {model} under concurrency (InferenceMAX)", "",
        f"Data: `{path.resolve().relative_to(ROOT)}` (sha256 `{read.sha256[:12]}…`), {len(read.records)} records, "
        f"{len(rs)} predicted, {len(skipped)} skipped; no fit reads this file, so every number here is out of "
        "sample, predicted with the shipped calibration as `hwplan validate` does. InferenceMAX (SemiAnalysis) "
        "runs a closed loop of CONC requests with uniform random lengths (mean 0.9 x the nominal), predicted as "
        "`max_throughput` capped at CONC sequences (a mixture of experts' prompts prefilled in chunks: "
        f"`planner/model/scenarios.py`). {INTRO.get(model, '')}", "",
        "### By hardware x runtime", "", *header, *_group_rows(rs, predicted, _pair), "",
        "### By load", "", *header, *_group_rows(rs, predicted, _load), *_group_rows(rs, predicted, _pair_and_load),
        "",
        *([f"Skipped: {', '.join(f'`{s.id}` ({s.reason})' for s in skipped)}", ""] if skipped else []),
    ]


MLPERF_OOS = ROOT / "bench/data/mlperf_v50_oos.yaml"  # a round neither the fit nor the shared file has
MLPERF_V60 = ROOT / "tests/data/mlperf_v6_0_out_of_sample.yaml"  # the round after the fit's
SHIPPED_MLPERF = ROOT / "hardware_catalog/data/measurements/mlperf.yaml"
UNDER_LOAD = ("slo_capacity_requests_per_s", "ttft_p99_s", "tpot_p99_s")
# how each file was made (the section's data line)
MLPERF_NOTES = {
    MLPERF_OOS: "closed-division LLM results transcribed from their `mlperf_log_summary.txt` files (each record's "
                "`source`; read through a fork of the results repository, `mlperf.read_via`, not checked file for file "
                "against the official one). Where a submission's code does not state the tp or the weight precision, "
                "`tp_source` / `precision_source` say what was assumed (B200 Mixtral fp4: a guess).",
    MLPERF_V60: "every closed-division LLM run of a catalog model whose benchmark has a length distribution "
                "in the shared file, written by `bench/mlperf_round_records.py` from the round's loadgen summaries, "
                "system and measurements JSON (a public copy with the official repository's layout; the file's "
                "header lists the runs not written and why: gpt-oss-120b and Qwen3-VL lack a length distribution, "
                "open-division runs may modify the model). tp, pp, expert parallelism, MTP and the KV cache's "
                "precision are stated where the run's own files state them ({stated} of {records} records, "
                "`mlperf.stated_source`: NVIDIA-harness configs, an atomic system's config for NVIDIA's scale-out "
                "runs, and the submission's scripts and documentation where its measurements JSON is a template "
                "copied into every result, as Intel's and Dell_MangoBoost's are: bench/mlperf_hand_read.py), else "
                "left to the validator's tp rule and the runtime's defaults.",
}


def _note(path: Path) -> str:
    """The file's ``MLPERF_NOTES`` entry, its counts read off the file (records, those with a stated config)."""
    raw = yaml.safe_load(path.read_text())["measurements"]
    stated = sum(1 for r in raw if (r.get("mlperf") or {}).get("stated_source"))
    return MLPERF_NOTES.get(path, "").format(stated=stated, records=len(raw))


def _same_system(m: Measurement) -> tuple[str, ...]:
    """A run's system, benchmark and scenario, whatever the round (the accuracy variant 99 / 99.9 aside)."""
    t = m.tags
    return (t.get("submitter", ""), t.get("system", ""), t.get("benchmark", "").rsplit("-99", 1)[0],
            t.get("scenario", ""))


def mlperf_section(catalog: Catalog, path: Path = MLPERF_OOS, fitted: Path = SHIPPED_MLPERF) -> list[str]:
    """Markdown lines of the section on an MLPerf round no fit reads: per scenario and metric, and beside it the
    error of copying the same system's figure from the rounds the fit has (the baseline a model should beat); then
    per model x chip x scenario, the median ratio of the scenario's figure (Offline tokens/s, else SLO capacity)."""
    tables = CatalogTables.from_catalog(catalog)
    read = read_measurements(path)
    rs, skipped = prepare(catalog, tables, read.records)
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    errors = ape(predicted, rs.observed)
    known: dict[tuple[str, ...], Measurement] = {}
    for m in read_measurements(fitted).records:
        if m.same_log_as is None:
            known.setdefault(_same_system(m), m)
    lines = [
        f"## Out of sample: MLPerf Inference {read.records[0].tags.get('round', '')} (a round no fit reads)", "",
        f"Data: `{path.resolve().relative_to(ROOT)}` (sha256 `{read.sha256[:12]}…`), {len(read.records)} records, "
        f"{len(rs)} predicted, {len(skipped)} skipped: {_note(path)} Predicted with the shipped "
        "calibration as `hwplan validate` does. Baseline: the same system's figure in the rounds the fit has (v4.1, "
        "v5.1), where it ran the same benchmark and scenario.", "",
        "| scenario | metric | n | median APE | within 25% | over capacity at the rate "
        "| same system, other round: n | its median APE | the model's on those |",
        "|---|---|---|---|---|---|---|---|---|"]
    scen = [m.tags.get("scenario", str(m.scenario)) for m in rs.records]
    for name in ("Offline", "Server", "Interactive"):
        idx = [j for j, s in enumerate(scen) if s == name]
        if not idx:
            continue
        metrics = ("output_tokens_per_s",) if name == "Offline" else UNDER_LOAD
        over = [j for j in idx if np.isnan(predicted[j, METRICS.index("ttft_p99_s")])] if name != "Offline" else []
        for metric in metrics:
            k = METRICS.index(metric)
            s = summarise(errors[idx, k])
            pairs = [(j, known[_same_system(rs.records[j])]) for j in idx if _same_system(rs.records[j]) in known]
            paired = [(j, b) for j, b in pairs
                      if np.isfinite(rs.observed[j, k]) and np.isfinite(b.observed.get(metric, np.nan))]
            base = [abs(b.observed[metric] / rs.observed[j, k] - 1.0) for j, b in paired]
            own = [float(errors[j, k]) for j, _ in paired]  # the model's error on the same records (inf: none)
            lines.append(f"| {name} | {metric} | {s.n} | {100 * s.median_ape:.1f}% | {100 * s.within_25pct:.0f}% | "
                         f"{len(over)} of {len(idx)} | {len(base)} | "
                         + (f"{100 * float(np.median(base)):.1f}% | {100 * float(np.median(own)):.1f}% |" if base
                            else "— | — |"))
    lines += ["", *_by_group(rs, predicted, scen), "",
              *([f"Skipped: {', '.join(f'`{s.id}` ({s.reason})' for s in skipped)}", ""] if skipped else [])]
    return lines


def _by_group(rs: RecordSet, predicted: Array, scen: list[str]) -> list[str]:
    """Per model x chip x runtime x scenario: records, the median predicted / observed of the scenario's figure and
    of TPOT p99 at the record's rate (under load)."""
    groups: dict[tuple[str, ...], list[int]] = {}
    for j, m in enumerate(rs.records):
        groups.setdefault((m.model, m.hardware, m.runtime, scen[j]), []).append(j)
    lines = ["| model | chip | runtime | scenario | n | tokens/s or SLO capacity, predicted / observed (median, range) "
             "| TPOT p99 at the rate, predicted / observed |", "|---|---|---|---|---|---|---|"]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = predicted / rs.observed
    for (model, hw, runtime, name), idx in sorted(groups.items()):
        k = METRICS.index("output_tokens_per_s" if name == "Offline" else "slo_capacity_requests_per_s")
        r = ratio[idx, k]
        tpot = "—" if name == "Offline" else f"{float(np.nanmedian(ratio[idx, METRICS.index('tpot_p99_s')])):.2f}"
        lines.append(f"| {model} | {hw} | {runtime} | {name} | {len(idx)} | {float(np.nanmedian(r)):.2f} "
                     f"({float(np.nanmin(r)):.2f}-{float(np.nanmax(r)):.2f}) | {tpot} |")
    return lines


MLPERF_ROUNDS = (MLPERF_OOS, MLPERF_V60)


PUBLISHED = ROOT / "tests/data/published_oos_2026_12.yaml"


def published_section(catalog: Catalog, path: Path = PUBLISHED) -> list[str]:
    """Markdown lines of the section on vendors' and engines' published tables no fit reads (the file's header)."""
    tables = CatalogTables.from_catalog(catalog)
    read = read_measurements(path)
    rs, skipped = prepare(catalog, tables, read.records)
    predicted = predict_calibrated(tables, rs, catalog.calibration)
    moe = {m.id for m in catalog.models.values() if m.is_moe}

    def group(m: Measurement) -> str:
        return f"{m.hardware} x {m.runtime}" + (" (MoE)" if m.model in moe else "")

    k = METRICS.index("output_tokens_per_s")
    errors = ape(predicted, rs.observed)[:, k]
    stated = np.array([m.confidence != "low" for m in rs.records])
    whole, sure = summarise(errors), summarise(errors[stated])
    header = ["| group | n | tokens/s predicted / observed (median) | tokens/s median APE | within 25% "
              "| TPOT predicted / observed (median) | TPOT median APE | within 25% |",
              "|---|---|---|---|---|---|---|---|"]
    return [
        "## Out of sample: published vendor and engine tables", "",
        f"Data: `{path.resolve().relative_to(ROOT)}` (sha256 `{read.sha256[:12]}…`), {len(read.records)} records, "
        f"{len(rs)} predicted, {len(skipped)} skipped (sources and assumptions in the file's header). Output "
        f"tokens/s: median APE {100 * whole.median_ape:.1f}% ({100 * whole.within_25pct:.0f}% within 25%); "
        f"{100 * sure.median_ape:.1f}% ({100 * sure.within_25pct:.0f}%) on the {int(stated.sum())} records whose "
        "setup the source states (confidence high or medium).", "",
        *header, *_group_rows(rs, predicted, group), "",
    ]


if __name__ == "__main__":
    catalog = load_catalog()
    if sys.argv[1:] == ["--mlperf"]:
        print("\n".join(line for path in MLPERF_ROUNDS for line in mlperf_section(catalog, path)))
    elif sys.argv[1:] == ["--published"]:
        print("\n".join(published_section(catalog)))
    else:
        for name in sys.argv[1:] or FILES:
            print("\n".join(section(catalog, Path(name))))
