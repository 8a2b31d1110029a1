"""Benchmark: the server queueing model (planner.model.load.queueing.server), ms per row, before vs after.

Rows are valid configurations of the default catalog (models x hardware x weight precisions x
runtimes x tp, built with CatalogTables.gather from index arrays, kept where at least one
sequence fits), sampled with a fixed seed. Two workloads per size:

* zero load: request_rate = 1e-9 (what planner.search.shapes.capacity.zero_load_ok asks for);
* load ladder: each row at one of planner.search.shapes.capacity.UTILIZATION x its capacity (what
  planner.search.shapes.capacity.load_curves asks for), with lognormal lengths.

"before" is the committed planner/queueing.py (git HEAD), loaded from git when available; it is
timed on the smaller size only unless --reference-all is given (it costs ~3.5 ms per row). The
script also prints the largest relative difference between the two on every ServerResult field.

    .venv/bin/python bench/queueing_bench.py [--sizes 1000 10000] [--reference-all]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy is imported
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from types import ModuleType  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from hardware_catalog import load_catalog  # noqa: E402
from planner.model.grid import CatalogTables, Grid  # noqa: E402
from planner.model.load import queueing  # noqa: E402
from planner.model.perf import step_time  # noqa: E402
from planner.model.scenarios import operating_batch  # noqa: E402

UTILIZATION = np.array([0.05, 0.2, 0.35, 0.5, 0.6, 0.7, 0.8, 0.87, 0.93])
TP = (1, 2, 4, 8)
IN, OUT = queueing.LengthDist(600.0, 2000.0), queueing.LengthDist(200.0, 600.0)
ROOT = Path(__file__).resolve().parent.parent


def reference(rev: str = "HEAD") -> ModuleType | None:
    """planner/model/load/queueing.py as committed at rev (planner/model/queueing.py before the model's
    load/ subpackage), or None when git cannot provide it."""
    src = None
    for where in ("planner/model/load/queueing.py", "planner/model/queueing.py"):
        try:
            src = subprocess.run(["git", "show", f"{rev}:{where}"], cwd=ROOT, check=True,
                                 capture_output=True, text=True).stdout
            break
        except (OSError, subprocess.CalledProcessError):
            continue
    if src is None:
        return None
    path = Path(tempfile.mkdtemp()) / "queueing_reference.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("queueing_reference", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def valid_rows(tables: CatalogTables) -> tuple[Grid, np.ndarray]:
    """Every configuration of the cross product that fits at least one sequence; its capacity."""
    shape = (len(tables.model_ids), len(tables.hardware_ids), len(tables.precision_ids),
             len(tables.runtime_ids), len(TP))
    m, h, p, r, t = (a.ravel() for a in np.indices(shape))
    kv = np.full_like(m, tables.precision_ids.index("bf16"))
    grid = tables.gather(model=m, hardware=h, weight_precision=p, kv_precision=kv, runtime=r,
                         tp=np.asarray(TP, dtype=np.float64)[t], pp=1.0)
    i, o = IN.mean, OUT.mean
    with np.errstate(all="ignore"):  # as planner.model.load.queueing.server computes capacity
        b_max = np.maximum(operating_batch(grid, cap=np.inf, input_tokens=i, output_tokens=o), 0.0)
        b_run = np.maximum(b_max, 1.0)
        full = step_time(grid, decode_tokens=b_run, decode_context=i + o / 2.0,
                         prefill_tokens=b_run * i / o, prefill_context=i)
        cap = np.where(b_max >= 1, b_max / (o * full.total), 0.0)
    ok = np.isfinite(cap) & (cap > 0)
    return grid.take(np.flatnonzero(ok)), cap[ok]


def fields(res: Any) -> dict[str, np.ndarray]:
    out = {"ttft_mean": res.ttft_mean_s, "tpot_mean": res.tpot_mean_s, "e2e_mean": res.e2e_mean_s,
           "batch_mean": res.batch_mean}
    for pct in res.ttft_s:
        out[f"ttft_p{pct}"], out[f"tpot_p{pct}"], out[f"e2e_p{pct}"] = (
            res.ttft_s[pct], res.tpot_s[pct], res.e2e_s[pct])
    return out


def max_rel_diff(a: Any, b: Any) -> tuple[float, str]:
    worst, where = 0.0, ""
    fa, fb = fields(a), fields(b)
    for key in fa:
        x, y = fa[key], fb[key]
        both = np.isfinite(x) & np.isfinite(y)
        if np.any(np.isfinite(x) != np.isfinite(y)):
            return np.inf, f"{key} (nan pattern)"
        if both.any():
            floor = 1e-6 if key == "batch_mean" else 1e-300  # ~0 sequences at ~zero load
            d = float(np.max(np.abs(x[both] - y[both]) / np.maximum(np.abs(y[both]), floor)))
            if d > worst:
                worst, where = d, key
    if np.any(a.stable != b.stable):
        return np.inf, "stable"
    return worst, where


def timed(fn: Any, runs: int) -> tuple[float, Any]:
    best, out = np.inf, None
    for _ in range(runs):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--reference-all", action="store_true", help="time 'before' on every size")
    ap.add_argument("--before", default="HEAD", help="git revision timed as 'before'")
    args = ap.parse_args()

    tables = CatalogTables.from_catalog(load_catalog())
    grid, cap = valid_rows(tables)
    ref = reference(args.before)
    print(f"{len(grid):,} valid configurations; before = {'git HEAD' if ref else 'unavailable'}")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        rows = rng.choice(len(grid), size=n, replace=True)
        sub = grid.take(rows)
        ladder = cap[rows] * UTILIZATION[np.arange(n) % len(UTILIZATION)]
        cases = {"zero load": 1e-9, "load ladder": ladder}
        for name, rate in cases.items():
            def call(mod: ModuleType, rate: Any = rate, sub: Grid = sub) -> Any:
                with np.errstate(all="ignore"):
                    return mod.server(sub, request_rate=rate, input_tokens=IN, output_tokens=OUT)

            after_s, after = timed(lambda: call(queueing), 3)
            line = f"n={n:6,d} {name:11s} after {after_s * 1e3 / n:7.3f} ms/row"
            if ref is not None and (args.reference_all or n == min(args.sizes)):
                before_s, before = timed(lambda: call(ref), 1)
                diff, key = max_rel_diff(after, before)
                line += (f" | before {before_s * 1e3 / n:7.3f} ms/row | speedup {before_s / after_s:6.1f}x"
                         f" | max rel diff {diff:.2e} ({key})")
            print(line, flush=True)


if __name__ == "__main__":
    main()
