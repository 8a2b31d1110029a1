"""Experiment: the partial compute / weight-streaming overlap in the step model for EVERY scenario.

``planner.model.scheduler.ServingStep`` times a linear layer as max(c, w) + (1 - overlap) min(c, w),
but only the queueing model (Server / Interactive) uses it; static and max-throughput (Offline)
runs keep the roofline (overlap 1), so the efficiencies are fitted under the roofline. Here, for
each overlap of the command line, ``StepModel.total`` / ``parts`` and ``ServingStep`` all take that
overlap (patched in this process only), the efficiencies are refitted jointly with it and scored
exactly as the project scores the shipped model:

* static accuracy: ``hwplan calibrate``'s 5-fold cross-validation repeated with 5 fold
  assignments on public_benchmarks.yaml (median APE per metric);
* under load: ``group_cross_validate`` by MLPerf round on public_benchmarks.yaml + mlperf.yaml
  (as ``bench/under_load_report.py``): Offline throughput and Server + Interactive SLO capacity,
  TTFT p99 and TPOT p99 of the held-out round.

    PYTHONPATH=$PWD .venv/bin/python bench/joint_overlap_experiment.py \
        ../shared/calibration/public_benchmarks.yaml ../shared/calibration/mlperf.yaml 1.0 0.8 0.6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hardware_catalog import load_catalog
from hardware_catalog.measurements import read_measurements
from planner.calibration.fit import group_cross_validate, repeated_cross_validate
from planner.calibration.predict import METRICS, prepare
from planner.calibration.validate import ape, by_metric, summarise
from planner.model import scheduler
from planner.model.grid import Array, CatalogTables
from planner.model.perf import StepModel, StepTime

_OVERLAP = [1.0]  # the overlap every step model of this process uses


def _linear(self: StepModel, compute: Array, memory: Array) -> Array:
    v = _OVERLAP[0]
    return np.asarray(np.maximum(compute, memory) + (1.0 - v) * np.minimum(compute, memory), dtype=np.float64)


def _total(self: StepModel, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
           prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> Array:
    lc, lm, ac, am, comm, over = self._terms(decode_tokens, decode_context, prefill_tokens, prefill_context)
    return _linear(self, lc, lm) + np.maximum(ac, am) + comm + over


def _parts(self: StepModel, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
           prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> StepTime:
    lc, lm, ac, am, comm, over = self._terms(decode_tokens, decode_context, prefill_tokens, prefill_context)
    linear, attention = _linear(self, lc, lm), np.maximum(ac, am)
    compute = np.where(lc >= lm, linear, 0.0) + np.where(ac >= am, attention, 0.0)
    return StepTime(compute=compute, memory=linear + attention - compute, communication=comm,
                    overhead=over, total=linear + attention + comm + over)


StepModel.total = _total  # type: ignore[method-assign]
StepModel.parts = _parts  # type: ignore[method-assign]
scheduler.ServingStep.total = _total  # type: ignore[method-assign]
scheduler.ServingStep.parts = _parts  # type: ignore[method-assign]
scheduler.ServingStep._linear = _linear  # type: ignore[method-assign]

STATIC = ("output_tokens_per_s", "ttft_s", "tpot_s", "e2e_s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("public", type=Path)
    parser.add_argument("mlperf", type=Path)
    parser.add_argument("overlaps", type=float, nargs="+")
    args = parser.parse_args()
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    public = read_measurements(args.public).records
    rs_pub, _ = prepare(catalog, tables, public)
    both, _ = prepare(catalog, tables, [*public, *read_measurements(args.mlperf).records])
    scen = np.array([m.tags.get("scenario", "") for m in both.records])
    offline, server = scen == "Offline", np.isin(scen, ("Server", "Interactive"))
    print("| overlap | static thr | TTFT | TPOT | e2e | by round: Offline thr (within 25%) | "
          "SLO capacity (within 25%) | TTFT p99 | TPOT p99 | unstable |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for v in args.overlaps:
        _OVERLAP[0] = v
        start = time.perf_counter()
        cv_rs, cv_pred = repeated_cross_validate(catalog, rs_pub, folds=5, repeats=5)
        static = by_metric(cv_rs, cv_pred)
        pred, _ = group_cross_validate(catalog, both, lambda m: m.tags.get("round", "public"))
        err = ape(pred, both.observed)

        def cell(rows: npt.NDArray[np.bool_], metric: str, err: Array = err) -> str:
            e = err[rows, METRICS.index(metric)]
            s = summarise(e[~np.isnan(e)])
            return f"{100 * s.median_ape:.1f}% ({100 * s.within_25pct:.0f}%)"

        tpot = err[server, METRICS.index("tpot_p99_s")]
        print(f"| {v} | " + " | ".join(f"{100 * static[k].median_ape:.1f}%" for k in STATIC)
              + f" | {cell(offline, 'output_tokens_per_s')} | {cell(server, 'slo_capacity_requests_per_s')} | "
              f"{cell(server, 'ttft_p99_s')} | {cell(server, 'tpot_p99_s')} | "
              f"{100 * np.mean(np.isinf(tpot[~np.isnan(tpot)])):.0f}% | ({time.perf_counter() - start:.0f} s)",
              flush=True)


if __name__ == "__main__":
    main()
