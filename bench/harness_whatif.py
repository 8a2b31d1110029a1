"""What-ifs of the MLPerf harness settings the records do not state but the submissions' code does (issue #16,
docs/accuracy.md "Known weak spots"): each re-predicts the shipped MLPerf records (shipped calibration, no refit:
in sample) with one engine setting changed on the records it concerns, and prints the Server + Interactive
medians beside the shipped ones and the changed records' own figures.

    PYTHONPATH=$PWD .venv/bin/python bench/harness_whatif.py

* ``405b-2048``: llama3.1-405b on TensorRT-LLM at max_num_tokens 2048, NVIDIA's v5.1 Server / Interactive setting
  on B200 (closed/NVIDIA/configs/B200-SXM-180GBx8/Server/llama3_1-405b.py: tp 4, gpu_batch_size 256,
  max_num_tokens 2048, chunked context first come first served), where the catalog's TensorRT-LLM default is 8192.
* ``8b-graphs``: llama3.1-8b on TensorRT-LLM with no serving iteration cost: NVIDIA's v5.1 8b configs run with
  CUDA graphs (use_graphs True; False for llama2-70b and llama3.1-405b), which the fitted per-iteration cost
  (6 ms pooled, fitted mostly on graph-less 70b harnesses) does not know.
* ``per-layer-<us>``: every record's iteration cost proportional to its model's layers (<us> microseconds per
  layer) instead of one figure per runtime: an eager engine's kernel launches scale with layers.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.inputs.measurements import read_measurements
from planner.model.grid import CatalogTables

P = importlib.import_module("planner.calibration.predict")  # (the package's ``predict`` shadows the module)
ROOT = Path(__file__).resolve().parents[1]
SHOWN = ("slo_capacity_requests_per_s", "tpot_p99_s", "ttft_p99_s")


def _summary(rs: object, pred: np.ndarray, rows: np.ndarray) -> str:
    out = []
    for name in SHOWN:
        p, o = pred[rows, P.METRICS.index(name)], rs.observed[rows, P.METRICS.index(name)]  # type: ignore[attr-defined]
        ok = ~np.isnan(o)
        e = np.where(np.isfinite(p[ok]), np.abs(p[ok] - o[ok]) / o[ok], np.inf)
        out.append(f"{name} {100 * np.median(e):.1f}% ({100 * np.mean(e <= 0.25):.0f}% within 25%)")
    return "; ".join(out)


def main() -> None:
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    records = read_measurements(ROOT / "hardware_catalog/data/measurements/mlperf.yaml").records
    rs, _ = P.prepare(catalog, tables, records)
    layers = {m: catalog.get_model(m).layers for m in catalog.models}
    under_load = np.flatnonzero([m.tags.get("scenario") in ("Server", "Interactive") for m in rs.records])
    original = P.record_grid
    cases: dict[str, tuple[str, object]] = {
        "405b-2048": ("max_batched_tokens", lambda m, v: 2048.0 if (m.model, m.runtime) == (
            "llama-3.1-405b", "tensorrt-llm") else v),
        "8b-graphs": ("serving_iteration_s", lambda m, v: 0.0 if (m.model, m.runtime) == (
            "llama-3.1-8b", "tensorrt-llm") else v),
        **{f"per-layer-{us}": ("serving_iteration_s", lambda m, v, us=us: us * 1e-6 * layers[m.model])
           for us in (50, 100)},
    }
    shipped = P.predict_calibrated(tables, rs, catalog.calibration)
    print(f"shipped                 all {len(under_load)}: {_summary(rs, shipped, under_load)}")
    for name, (field, change) in cases.items():
        def grid(t: CatalogTables, sub: object, eff: object = None, moe: object = None, *, field: str = field,
                 change: object = change) -> object:
            g = original(t, sub, eff, moe)
            values = np.array(getattr(g, field), dtype=np.float64)
            values = np.array([change(m, v) for m, v in zip(sub.records, values, strict=True)])  # type: ignore
            return replace(g, **{field: values})

        P.record_grid = grid
        try:
            pred = P.predict_calibrated(tables, rs, catalog.calibration)
        finally:
            P.record_grid = original
        a, b = pred[under_load], shipped[under_load]
        moved = np.flatnonzero(~np.all((a == b) | (np.isnan(a) & np.isnan(b)), axis=1))
        rows = under_load[moved]
        print(f"{name:23s} all {len(under_load)}: {_summary(rs, pred, under_load)}")
        if len(rows):
            print(f"{'':23s} the {len(rows)} changed, before: {_summary(rs, shipped, rows)}")
            print(f"{'':23s} the {len(rows)} changed, after:  {_summary(rs, pred, rows)}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
