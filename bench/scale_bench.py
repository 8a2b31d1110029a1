"""Benchmark: how the search grows with the catalog (issue #21 "Scale").

Each configuration plans the chosen example workloads on the shipped catalog with every hardware
entry multiplied ``hw`` times and every model ``models`` times: variants under new ids (hardware
variant j costs 1 + 0.05 j times the original per chip-hour and keeps its calibration; model
variants are copies without aliases), in a fresh process per configuration. Printed per
configuration: candidates enumerated, shapes evaluated by the queueing model, the first search
(which also builds the Universe rows it needs) and the warm search (median of --runs, each with the
capacity answers of the runs before it removed, so that it searches rather than reads; wall and CPU
time: on a shared machine CPU time is the steadier figure), peak resident memory of the process,
and the growth exponent of warm search time against candidates relative to the base (1 = linear).
HWPLAN_BENCH_ROOT=OTHER_TREE measures another source tree with this script.

    .venv/bin/python bench/scale_bench.py [--runs 3] [--only support-chatbot code-assistant]
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(os.environ.get("HWPLAN_BENCH_ROOT") or Path(__file__).resolve().parents[1])  # the tree to measure
CONFIGS = ((1, 1), (2, 1), (4, 1), (2, 2), (4, 4))  # (hardware x, models x)
DEFAULT = ("support-chatbot", "code-assistant", "long-document-summarizer")


def scaled_catalog(hw: int, models: int):  # type: ignore[no-untyped-def]
    from hardware_catalog import load_catalog
    from planner.economics.pricing import PriceBook

    base = load_catalog()
    hardware = {}
    pairs = dict(base.calibration.pairs)
    offers = list(base.prices.offers)
    for hid, h in base.hardware.items():
        for j in range(hw):
            vid = hid if j == 0 else f"{hid}-v{j}"
            hardware[vid] = h if j == 0 else replace(h, id=vid)
            offers += [replace(o, hardware=vid, usd_per_chip_hour=o.usd_per_chip_hour * (1 + 0.05 * j))
                       for o in base.prices.offers if j and o.hardware == hid]
            for (ph, rt), eff in base.calibration.pairs.items():
                if ph == hid and j:
                    pairs[(vid, rt)] = eff
    model_map = {}
    for mid, m in base.models.items():
        for j in range(models):
            vid = mid if j == 0 else f"{mid}-v{j}"
            model_map[vid] = m if j == 0 else replace(m, id=vid, aliases=())
    # the shipped calibration with the variants' pairs added: its vendor and family priors, MoE expert
    # efficiencies and serving fits (overlap, iteration cost) stay (they were dropped before 2026-12-04,
    # so the scaled catalogs ran at the serving prior)
    calibration = replace(base.calibration, pairs=pairs)
    return replace(base, hardware=hardware, models=model_map, calibration=calibration,
                   prices=PriceBook(offers=tuple(offers), skipped=base.prices.skipped),
                   version=f"{base.version}-x{hw}x{models}")


def child(hw: int, models: int, names: list[str], runs: int) -> dict[str, object]:
    try:
        from hardware_catalog.inputs.workload import load_workload
    except ImportError:  # a tree from before hardware_catalog/inputs/ (6ce275a)
        from hardware_catalog.workload_file import load_workload
    from planner.model.grid import CatalogTables
    from planner.search.planning import plan

    catalog = scaled_catalog(hw, models)
    tables = CatalogTables.from_catalog(catalog)
    try:  # the warm runs search again: without the capacity answers the first filed (planner.search.shapes.answers)
        from planner.search.shapes import answers

        def forget() -> None:
            if hasattr(answers, "forget"):  # with the per-row screen and tuned engine (row_memo)
                answers.forget(tables)
            else:
                answers.shared(tables).clear()
    except ImportError:  # a tree from before the store
        def forget() -> None:
            pass
    out = {}
    for name in names:
        w = load_workload(ROOT / "examples" / f"{name}.yaml")
        start = time.perf_counter()
        first = plan(w, catalog, tables=tables, explain=False)
        first_ms = (time.perf_counter() - start) * 1e3
        warm, cpu = [], []
        for _ in range(runs):
            forget()
            start, start_cpu = time.perf_counter(), time.process_time()
            result = plan(w, catalog, tables=tables, explain=False)
            warm.append((time.perf_counter() - start) * 1e3)
            cpu.append((time.process_time() - start_cpu) * 1e3)
        out[name] = {"candidates": result.search.candidates, "evaluated": result.search.evaluated,
                     "first_ms": first_ms, "warm_ms": statistics.median(warm),
                     "warm_cpu_ms": statistics.median(cpu), "status": result.search.solver_status,
                     "best": result.plans[0].cost.per_month if result.plans else None,
                     "first_best": first.plans[0].cost.per_month if first.plans else None}
    return {"hardware": len(catalog.hardware), "models": len(catalog.models), "workloads": out,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", nargs="*", default=list(DEFAULT))
    parser.add_argument("--configs", nargs="*", default=[f"{h}x{m}" for h, m in CONFIGS],
                        help="hardware x models multipliers, e.g. 1x1 4x1 4x4")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        hw, models = (int(x) for x in args.child.split("x"))
        print(json.dumps(child(hw, models, args.only, args.runs)))
        return
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    rows = []
    for config in args.configs:
        proc = subprocess.run([sys.executable, __file__, "--child", config, "--runs", str(args.runs),
                               "--only", *args.only], capture_output=True, text=True, env=env, cwd=ROOT, check=True)
        rows.append((config, json.loads(proc.stdout.strip().splitlines()[-1])))
    print(f"{'config':7} {'hw':>4} {'models':>6} {'workload':26} {'candidates':>11} {'evaluated':>9} "
          f"{'first ms':>9} {'warm ms':>8} {'cpu ms':>7} {'x base':>7} {'exponent':>8} {'peak MiB':>9}  status")
    base = rows[0][1]["workloads"]
    for config, row in rows:
        for name, r in row["workloads"].items():
            b = base[name]
            growth = r["warm_ms"] / b["warm_ms"]
            cand = r["candidates"] / b["candidates"]
            exponent = math.log(growth) / math.log(cand) if cand > 1.01 else float("nan")
            print(f"{config:7} {row['hardware']:4d} {row['models']:6d} {name:26} {r['candidates']:11,d} "
                  f"{r['evaluated']:9d} {r['first_ms']:9.0f} {r['warm_ms']:8.0f} {r['warm_cpu_ms']:7.0f} {growth:7.2f} "
                  f"{exponent:8.2f} "
                  f"{row['peak_rss_mib']:9.0f}  {r['status']}")


if __name__ == "__main__":
    main()
