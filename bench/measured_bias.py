"""Write hardware_catalog/data/measured_bias.yaml: where the shipped calibration's predictions miss
measured runs of a model on a runtime by more than 0.8-1.25x (planner.calibration.measured_bias).

    .venv/bin/python bench/measured_bias.py [--check]

Sources: the measurement files the calibration was fitted on (in sample: a bias the fit left) and
the InferenceMAX files no fit reads (out of sample). Plans and estimates of a listed model (or one of
its architecture) on a listed runtime print the entry beside their figures. Re-run after every
`hwplan calibrate`; tests/test_measured_bias.py fails while the file disagrees with the calibration.
--check prints the entries without writing.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import os
import sys
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from out_of_sample_report import FILES as OUT_OF_SAMPLE  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from hardware_catalog.inputs.measurements import read_measurements  # noqa: E402
from planner.calibration.measured_bias import HIGH, LOW, MIN_MODELS, MIN_RECORDS, Source, fitted_on, measured_bias  # noqa: E402
from planner.domain import Catalog  # noqa: E402

OUT = ROOT / "hardware_catalog/data/measured_bias.yaml"
CALIBRATION = ROOT / "hardware_catalog/data/calibration.yaml"
MEASUREMENTS = ROOT / "hardware_catalog/data/measurements"  # the copies of the files the calibration names
HOLDS = {  # what each file's runs are, as an entry cites them (by file name; others: "measured runs")
    "mlperf.yaml": "MLPerf Inference v4.1 / v5.1 (Offline: throughput; Server and Interactive: the submitted rate, "
                   "a lower bound of the SLO capacity)",
    "public_benchmarks.yaml": "published static and max-throughput runs",
    "inferencemax_gpt_oss.yaml": "InferenceMAX gpt-oss-120b runs under concurrency",
    "inferencemax_deepseek_r1.yaml": "InferenceMAX DeepSeek-R1 runs under concurrency",
    "jetstream_pytorch_tpu_v5e.yaml": "JetStream-PyTorch max-throughput runs on TPU v5e-8 (token lengths not "
                                      "published: predicted at an assumed 220 / 200)",
    "mlperf_v6_0_out_of_sample.yaml": "MLPerf Inference v6.0, the round after the fit's (Offline: throughput; Server "
                                      "and Interactive: the submitted rate, a lower bound of the SLO capacity)",
}
TPU = ROOT / "tests/data/jetstream_pytorch_tpu_v5e.yaml"  # the only public TPU serving runs found (no fit reads it)
MLPERF_NEXT = ROOT / "tests/data/mlperf_v6_0_out_of_sample.yaml"  # the round after the fit's (no fit reads it)


def sources(catalog: Catalog) -> list[Source]:
    """The files the calibration names (``fitted_on``) and the out-of-sample ones; whether a fit read each
    is decided by its content against the calibration's SHA-256s, not by where it lies."""
    files = catalog.calibration.fitted_on.get("files", [])
    fitted = [MEASUREMENTS / str(f["name"]) for f in files if isinstance(f, dict)] if isinstance(files, list) else []
    out = []
    for path in (*fitted, *OUT_OF_SAMPLE, TPU, MLPERF_NEXT):
        out.append(Source(records=read_measurements(path).records, file=str(path.relative_to(ROOT)),
                          holds=HOLDS.get(path.name, "measured runs"),
                          sample="in" if fitted_on(catalog.calibration, path.read_bytes()) else "out"))
    return out


def document() -> dict[str, object]:
    catalog = load_catalog()
    entries = measured_bias(catalog, sources(catalog))
    return {
        "generated": f"{datetime.date.today().isoformat()} by bench/measured_bias.py with the shipped calibration "
                     f"(calibration.yaml sha256 {hashlib.sha256(CALIBRATION.read_bytes()).hexdigest()[:12]})",
        "rule": f"per (model, runtime, metric) of each file: at least {MIN_RECORDS} distinct runs whose median "
                f"observed / predicted lies outside {LOW}-{HIGH}; and per (hardware, runtime, metric) the same over "
                f"runs of at least {MIN_MODELS} models (a chip's entry: no model, its models listed); low / high: "
                "10th / 90th percentile",
        "entries": [{**({"model": b.model} if b.model is not None else {"models": list(b.models)}),
                     "runtime": b.runtime, "metric": b.metric, "records": b.records,
                     "median": b.median, "low": b.low, "high": b.high, "hardware": list(b.hardware),
                     "sample": b.sample, "file": b.file, "holds": b.holds} for b in entries],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="print the entries, write nothing")
    args = parser.parse_args()
    doc = document()
    text = ("# Where the shipped calibration's predictions measurably miss (planner/calibration/measured_bias.py).\n"
            "# Written by bench/measured_bias.py; do not edit by hand: re-run it after `hwplan calibrate`.\n"
            + yaml.safe_dump(doc, sort_keys=False, width=110))
    if args.check:
        print(text)
        return
    tmp = OUT.with_suffix(".yaml.tmp")
    tmp.write_text(text)
    tmp.replace(OUT)  # a half-written file never replaces the catalog's
    print(f"wrote {OUT.relative_to(ROOT)}: {len(doc['entries'])} entries")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
