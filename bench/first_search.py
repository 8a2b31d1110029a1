"""Benchmark: the first search in a fresh process, per example (issue #21: median <= 100 ms).

For each examples/*.yaml a new Python process loads the catalog (through the compiled catalog
cache, as ``hwplan plan`` does, without the capacity answers saved by earlier runs), reads the
workload, and times ``plan(..., explain=False)`` three times: "first" pays what a search imports and
builds on first use (the length distributions' convolutions, the Universe blocks it reads), "second"
is the same search again with the capacity answers the first filed removed (``planner.search.shapes.answers``:
the search's own speed, warm), "again" the same with them kept (a re-plan after an edit that leaves
lengths and SLOs alone asks the queueing model only about shapes the first did not reach). Printed per
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
try:
    from hardware_catalog.inputs.workload import load_workload
except ImportError:  # a tree from before hardware_catalog/inputs/ (6ce275a)
    from hardware_catalog.workload_file import load_workload
from planner.model.grid import CatalogTables
from planner.search.planning import plan
catalog = load_catalog()
tables = CatalogTables.from_catalog(catalog)
try:  # hardware_catalog.caching.cache; before the caching subpackage, hardware_catalog.cache
    from hardware_catalog.caching.cache import prepare_tables
except ImportError:
    try:
        from hardware_catalog.cache import prepare_tables
    except ImportError:  # a tree from before the catalog cache
        prepare_tables = lambda catalog, tables: None
prepare_tables(catalog, tables)
w = load_workload(sys.argv[1])
try:
    from planner.search.shapes import answers
    forget = ((lambda: answers.forget(tables)) if hasattr(answers, "forget")  # with the per-row memo (row_memo)
              else (lambda: answers.shared(tables).clear()))
except ImportError:
    forget = lambda: None
times = []
for run in range(3):
    if run == 1:
        forget()
    start = time.perf_counter()
    plan(w, catalog, tables=tables, explain=False)
    times.append((time.perf_counter() - start) * 1e3)
print(json.dumps({"first_ms": times[0], "second_ms": times[1], "again_ms": times[2],
                  "pandas": "pandas" in sys.modules}))
"""



def main() -> None:
    trees, examples = parse(__doc__)
    rows: dict[Path, list[dict[str, float]]] = {t: [] for t in trees}
    print(f"{'example':26}" + "".join(f" {t.name[:18]:>18} first / second / again ms" for t in trees))
    for example in examples:
        line = f"{example.stem:26}"
        for tree in trees:
            r = run_child(CHILD, tree, example)
            rows[tree].append(r)
            line += (f" {r['first_ms']:18.0f} / {r['second_ms']:6.0f} / {r['again_ms']:5.0f}"
                     f"{' (pandas)' if r['pandas'] else ''}")
        print(line, flush=True)
    for tree in trees:
        firsts = [r["first_ms"] for r in rows[tree]]
        seconds = [r["second_ms"] for r in rows[tree]]
        again = [r["again_ms"] for r in rows[tree]]
        print(f"{str(tree):40} median first {statistics.median(firsts):6.0f} ms, "
              f"second {statistics.median(seconds):6.0f} ms, again (answers kept) {statistics.median(again):6.0f} ms")


if __name__ == "__main__":
    main()
