"""Benchmark: the first search in a fresh process, per example (issue #21: median <= 100 ms).

For each examples/*.yaml a new Python process loads the catalog (through the compiled catalog
cache, as ``hwplan plan`` does), reads the workload, and times ``plan(..., explain=False)`` twice:
"first" pays what a search imports and builds on first use (the CP-SAT binding, scipy for the TPOT
quantiles, the length distributions' convolutions), "second" is the same search again. Printed per
example and as medians; with --trees A B each tree is measured in turn per example (interleaved, so
that a busy phase of a shared machine falls on both).

    .venv/bin/python bench/first_search.py [--trees OLD_TREE NEW_TREE] [--only support-chatbot ...]
"""

from __future__ import annotations

import statistics
from pathlib import Path

from per_tree import parse, run_child  # bench/ is the script's directory

CHILD = """
import json, os, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from hardware_catalog import load_catalog
from hardware_catalog.workload_file import load_workload
from planner.model.grid import CatalogTables
from planner.search.planning import plan
catalog = load_catalog()
tables = CatalogTables.from_catalog(catalog)
try:
    from hardware_catalog.cache import prepare_tables
    prepare_tables(catalog, tables)
except ImportError:
    pass
w = load_workload(sys.argv[1])
times = []
for _ in range(2):
    start = time.perf_counter()
    plan(w, catalog, tables=tables, explain=False)
    times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"first_ms": times[0], "second_ms": times[1], "pandas": "pandas" in sys.modules}))
"""



def main() -> None:
    trees, examples = parse(__doc__)
    rows: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    print(f"{'example':26}" + "".join(f" {t.name[:18]:>18} first / second ms" for t in trees))
    for example in examples:
        line = f"{example.stem:26}"
        for tree in trees:
            r = run_child(CHILD, tree, example)
            rows[tree].append(r)
            line += f" {r['first_ms']:18.0f} / {r['second_ms']:6.0f}{' (pandas)' if r['pandas'] else ''}"
        print(line, flush=True)
    for tree in trees:
        firsts = [r["first_ms"] for r in rows[tree]]
        seconds = [r["second_ms"] for r in rows[tree]]
        print(f"{str(tree):40} median first {statistics.median(firsts):6.0f} ms, "
              f"second {statistics.median(seconds):6.0f} ms")


if __name__ == "__main__":
    main()
