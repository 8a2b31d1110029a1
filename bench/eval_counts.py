"""Benchmark: how much queueing-model work a warm plan of each example does (issue #21 (b)).

For each examples/*.yaml and each source tree (--trees, default this one), a fresh process plans
the example twice with the shipped catalog (``plan(..., explain=False)``), forgetting between them
the capacity answers the first filed (``planner.search.shapes.answers``: without that the second
asks the queueing model nothing, and every count read 0), and counts, during the second plan:
capacity searches (``search_capacity`` calls: one per batch of shapes sent to the queueing model),
the shapes in them, the queueing-model calls those make (``serve``), the ``evaluated`` figure the
plan reports, CP-SAT solves, and the plan's wall and CPU milliseconds.
Counting wraps the functions where ``planner.search.shapes.prepare`` and ``planner.search.shapes.capacity``
look them up, so it reads any tree of this layout.

    .venv/bin/python bench/eval_counts.py [--trees OLD_TREE NEW_TREE] [--only code-assistant ...]
"""

from __future__ import annotations

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
import planner.search.shapes.capacity as capacity
import planner.search.shapes.prepare as prepare
counts = {"searches": 0, "shapes": 0, "serve": 0}
search, serve = prepare.search_capacity, capacity.serve
def counted_search(step, mem, traffic, ceiling, *args, **kwargs):
    counts["searches"] += 1
    counts["shapes"] += len(ceiling)
    return search(step, mem, traffic, ceiling, *args, **kwargs)
def counted_serve(*args, **kwargs):
    counts["serve"] += 1
    return serve(*args, **kwargs)
prepare.search_capacity, capacity.serve = counted_search, counted_serve
catalog = load_catalog()
tables = CatalogTables.from_catalog(catalog)
w = load_workload(sys.argv[1])
plan(w, catalog, tables=tables, explain=False)
try:  # the answers the first plan filed are forgotten (else the second asks the queueing model nothing)
    from planner.search.shapes import answers
    if hasattr(answers, "forget"):
        answers.forget(tables)
    else:
        answers.shared(tables).clear()
except ImportError:  # a tree from before the answers memo
    pass
counts = dict.fromkeys(counts, 0)
wall, cpu = time.perf_counter(), time.process_time()
result = plan(w, catalog, tables=tables, explain=False)
counts.update(wall_ms=(time.perf_counter() - wall) * 1e3, cpu_ms=(time.process_time() - cpu) * 1e3,
              evaluated=result.search.evaluated, solves=result.search.solves, status=result.search.solver_status,
              best=result.plans[0].cost.per_month if result.plans else None)
print(json.dumps(counts))
"""



def main() -> None:
    trees, examples = parse(__doc__)
    print(f"{'example':26} {'tree':24} {'searches':>8} {'shapes':>6} {'serve':>5} {'evaluated':>9} {'solves':>6} "
          f"{'wall ms':>8} {'cpu ms':>7}  status     best $/month")
    for example in examples:
        for tree in trees:
            r = run_child(CHILD, tree, example)
            best = f"{r['best']:.2f}" if r["best"] is not None else "-"
            print(f"{example.stem:26} {tree.name[-24:]:24} {r['searches']:8d} {r['shapes']:6d} "
                  f"{r['serve']:5d} {r['evaluated']:9d} {r['solves']:6d} {r['wall_ms']:8.0f} {r['cpu_ms']:7.0f}  "
                  f"{r['status']:10} {best}")


if __name__ == "__main__":
    main()
