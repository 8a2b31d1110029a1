"""Sweep throughput: scenarios per second on 1 and 2 Ray workers against the sequential loop.

    PYTHONPATH=$PWD python bench/sweep_bench.py [--scenarios 24]

The scenarios are examples/sweep/chatbot-what-if.yaml's axes, widened to --scenarios by more
traffic scales. The sequential loop plans them one after another in this process with warm tables
(``cli.commands.sweep_runner.run_local``). A Ray run includes starting its actors (each imports the planner
and builds its catalog tables once) but not starting Ray itself, which is reported apart. Prints
figures; asserts nothing (timings depend on the machine and on what else it runs).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", type=int, default=24)
    args = ap.parse_args()
    import ray

    from cli.commands.sweep_runner import _ray, run_local, run_sweep
    from hardware_catalog import load_catalog
    from hardware_catalog.inputs.sweep import load_sweep
    from planner.fleet.sweep import scenarios

    catalog = load_catalog()
    base = load_sweep(ROOT / "examples" / "sweep" / "chatbot-what-if.yaml")
    per_scale = len(scenarios(replace(base, axes={**base.axes, "traffic_scale": (1.0,)})))
    n_scales = max(1, -(-args.scenarios // per_scale))
    sweep = replace(base, axes={**base.axes, "traffic_scale": tuple(0.25 * (i + 1) for i in range(n_scales))})
    todo = scenarios(sweep)
    n = len(todo)
    run_local(sweep, catalog, todo[:1])  # warm this process's tables
    start = time.perf_counter()
    reference = run_local(sweep, catalog, todo)
    seq_s = time.perf_counter() - start
    start = time.perf_counter()
    _ray(2)
    ray_start_s = time.perf_counter() - start
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            start = time.perf_counter()
            rows = run_sweep(sweep, catalog, Path(tmp) / f"w{workers}.csv", workers=workers)
            figures[workers] = time.perf_counter() - start
            same = sorted((r["scenario"], r["cost_per_month"]) for r in rows) == \
                sorted((r["scenario"], r["cost_per_month"]) for r in reference)
            print(f"ray, {workers} worker(s): {n} scenarios in {figures[workers]:.1f} s = "
                  f"{n / figures[workers]:.2f} scenarios/s (same rows as sequential: {same})")
    ray.shutdown()
    print(f"sequential loop: {n} scenarios in {seq_s:.1f} s = {n / seq_s:.2f} scenarios/s "
          f"({seq_s / n * 1e3:.0f} ms each)")
    print(f"ray start-up (local, 2 CPUs): {ray_start_s:.1f} s")
    for workers, s in figures.items():
        print(f"ratio to sequential, {workers} worker(s): {seq_s / s:.2f}x")


if __name__ == "__main__":
    main()
