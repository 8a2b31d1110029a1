"""CPU time of the first plan in a fresh process when the disk caches hold the question (a ``hwplan plan`` re-run
after an edit of the rate, budget or quotas): the compiled catalog, the capacity answers and, since 4c98443, the
per-row screen and tuned cap (hardware_catalog.caching.answers_cache). Imports and catalog loading are left out:
``bench/cli_startup.py`` times the whole command; this isolates what the caches change, on CPU time (a shared
machine stretches wall time far more).

    python bench/fresh_replan.py [--runs 5] [--before TREE | --rows]

Each (tree, example, run) is its own process; trees alternate run by run, so both see the same machine phase.
One unmeasured process per tree and example fills its cache directory first (HWPLAN_CACHE_DIR per tree).
``--rows``: this tree alone, each run twice, with the per-row files (``*.rows.npz``) removed first and kept,
alternated: what they save, free of the noise between two trees.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
from hardware_catalog import load_catalog
from hardware_catalog.caching import answers_cache
from hardware_catalog.caching.cache import catalog_tables
from hardware_catalog.caching.compiled_workload import load_workload
from planner.search.planning import plan
catalog = load_catalog()
tables = catalog_tables(catalog, answers=True)
w = load_workload(sys.argv[1])
start = time.process_time()
plan(w, catalog, tables=tables)
cpu = time.process_time() - start
answers_cache.save(tables)
print(json.dumps({"cpu_ms": cpu * 1e3}))
"""


def _one(tree: Path, cache: Path, example: Path) -> float:
    env = {**os.environ, "PYTHONPATH": str(tree), "HWPLAN_CACHE_DIR": str(cache), "OPENBLAS_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", CHILD, str(example)], env=env, cwd=tree, capture_output=True,
                         text=True, check=True)
    return float(json.loads(out.stdout.strip().splitlines()[-1])["cpu_ms"])


def _rows(runs: int) -> None:
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        cache, aside = Path(tmp) / "cache", Path(tmp) / "aside"
        aside.mkdir()
        for ex in examples:
            _one(ROOT, cache, ex)
        print(f"first plan in a fresh process, the question's answers on disk: CPU ms, median of {runs}")
        print(f"{'example':28s}{'rows computed':>16s}{'rows from disk':>16s}")
        pairs = []
        for ex in examples:
            without, with_rows = [], []
            for _ in range(runs):
                kept = sorted(cache.glob("*.rows.npz"))
                for path in kept:  # set aside (the run without them writes its own; those are dropped after)
                    shutil.move(path, aside / path.name)
                without.append(_one(ROOT, cache, ex))
                for path in kept:
                    shutil.move(aside / path.name, path)
                with_rows.append(_one(ROOT, cache, ex))
            pairs.append((statistics.median(without), statistics.median(with_rows)))
            print(f"{ex.stem:28s}{pairs[-1][0]:16.0f}{pairs[-1][1]:16.0f}")
        print(f"{'median over examples':28s}{statistics.median(a for a, _ in pairs):16.0f}"
              f"{statistics.median(b for _, b in pairs):16.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout measured alongside (printed first)")
    parser.add_argument("--rows", action="store_true", help="with and without the per-row files, this tree")
    args = parser.parse_args()
    if args.rows:
        _rows(args.runs)
        return
    trees = ([args.before.resolve()] if args.before else []) + [ROOT]
    examples = sorted((ROOT / "examples").glob("*.yaml"))
    with tempfile.TemporaryDirectory() as tmp:
        caches = {tree: Path(tmp) / f"cache{i}" for i, tree in enumerate(trees)}
        for tree in trees:
            for ex in examples:
                _one(tree, caches[tree], ex)  # fills the catalog, answers and rows caches for the question
        cpu = {(tree, ex): [] for tree in trees for ex in examples}
        for _ in range(args.runs):
            for ex in examples:
                for tree in trees:
                    cpu[(tree, ex)].append(_one(tree, caches[tree], ex))
    print(f"first plan in a fresh process, the question's caches on disk: CPU ms, median of {args.runs}")
    print(f"{'example':28s}" + "".join(f"{tree.name:>14s}" for tree in trees))
    medians = {tree: [] for tree in trees}
    for ex in examples:
        row = [statistics.median(cpu[(tree, ex)]) for tree in trees]
        for tree, value in zip(trees, row, strict=True):
            medians[tree].append(value)
        print(f"{ex.stem:28s}" + "".join(f"{v:14.0f}" for v in row))
    print(f"{'median over examples':28s}" + "".join(f"{statistics.median(medians[t]):14.0f}" for t in trees))


if __name__ == "__main__":
    main()
