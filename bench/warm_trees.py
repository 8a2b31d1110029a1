"""Benchmark: the warm search per example, source tree against source tree (issue #21: warm <= 50 ms median).

For each examples/*.yaml and each tree (interleaved, so that a busy phase of a shared machine falls
on both), a fresh process loads the catalog through the compiled catalog cache, plans the workload
once (the first plan, which fills the Universe blocks it reads, is not counted) and then --runs
times more, timing each ``plan(..., explain=False)`` by wall clock and by process CPU time (the
steadier figure on a shared machine). Printed per example: the median CPU ms per tree and their
ratio; then the medians over the examples and the sums.

    .venv/bin/python bench/warm_trees.py --trees OLD_TREE NEW_TREE [--runs 5] [--only support-chatbot ...]
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

from per_tree import parse, run_child  # bench/ is the script's directory

RUNS = 5

CHILD = """
import json, os, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from hardware_catalog import load_catalog
try:
    from hardware_catalog.inputs.workload import load_workload
except ImportError:  # a tree from before hardware_catalog/inputs/ (6ce275a)
    from hardware_catalog.workload_file import load_workload
from planner.model.grid import CatalogTables
from planner.search.planning import plan
catalog = load_catalog()
tables = CatalogTables.from_catalog(catalog)
try:  # before the caching subpackage: hardware_catalog.cache
    from hardware_catalog.caching.cache import prepare_tables
except ImportError:
    from hardware_catalog.cache import prepare_tables
prepare_tables(catalog, tables)
w = load_workload(sys.argv[1])
plan(w, catalog, tables=tables, explain=False)
cpu, wall = [], []
for _ in range(RUNS):
    c, t = time.process_time(), time.perf_counter()
    plan(w, catalog, tables=tables, explain=False)
    cpu.append((time.process_time() - c) * 1e3)
    wall.append((time.perf_counter() - t) * 1e3)
print(json.dumps({"cpu_ms": cpu, "wall_ms": wall}))
"""


def main() -> None:
    runs = RUNS
    if "--runs" in sys.argv:  # (per_tree.parse knows --trees and --only)
        at = sys.argv.index("--runs")
        runs = int(sys.argv[at + 1])
        del sys.argv[at:at + 2]
    trees, examples = parse(__doc__)
    child = CHILD.replace("range(RUNS)", f"range({runs})")
    medians: dict[Path, list[float]] = {t: [] for t in trees}
    print(f"{'example':26}" + "".join(f" {t.name[:18]:>18} cpu / wall ms" for t in trees) + "   ratio (cpu)")
    for example in examples:
        line = f"{example.stem:26}"
        for tree in trees:
            r = run_child(child, tree, example)
            cpu, wall = statistics.median(r["cpu_ms"]), statistics.median(r["wall_ms"])
            medians[tree].append(cpu)
            line += f" {cpu:18.0f} / {wall:6.0f}"
        print(line + f"   {medians[trees[-1]][-1] / medians[trees[0]][-1]:.3f}", flush=True)
    for tree in trees:
        print(f"{str(tree):40} median over examples {statistics.median(medians[tree]):6.0f} ms CPU, "
              f"sum {sum(medians[tree]):6.0f} ms")


if __name__ == "__main__":
    main()
