"""Same answers with and without the compiled catalog cache (hardware_catalog.caching.cache).

The compiled catalog (hardware_catalog.caching.compiled) read back equals the loader's catalog. For every
examples/*.yaml, plans (top 5, cost objective, explanation included) with the cache off, with every
Universe row's constants read back from a cache entry (built first if missing), and as a second
``hwplan plan`` run does: fresh tables taking the capacity answers a first run saved
(hardware_catalog.caching.answers_cache), and compares the JSON documents the CLI prints
(search.elapsed_ms aside; ``evaluated`` counts the shapes given a capacity, from the queueing model or
the saved answers alike); for each shared calibration
file (../shared/calibration/*.yaml, or --calibration), the predictions of every record with both
tables. Exit 1 on any difference. Plans get a 120 s time limit; one that still differs is planned once
more without the cache, and when the two plain runs disagree or either search stopped at its deadline
(a loaded machine) it is reported UNSTABLE, not as a difference the cache made.

    .venv/bin/python bench/cache_diff.py [--calibration FILE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from hardware_catalog import load_catalog
from hardware_catalog.caching import cache
from hardware_catalog.inputs.workload import load_workload
from hardware_catalog.outputs import document, plan_result_out
from planner.model.grid import CatalogTables
from planner.search.planning import plan
from planner.search.shapes.candidates import universe

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "calibration"
TIME_LIMIT_S = 120.0


def _plan_doc(path: Path, catalog, tables: CatalogTables) -> dict:  # type: ignore[no-untyped-def, type-arg]
    # a long time limit: a search stopped by its deadline depends on the machine's load, not the cache
    doc = json.loads(document(plan_result_out(plan(load_workload(path), catalog, tables=tables,
                                                   time_limit_s=TIME_LIMIT_S), None)))
    doc["search"].pop("elapsed_ms", None)
    return doc  # type: ignore[no-any-return]


def _second_run_doc(path: Path, catalog) -> dict:  # type: ignore[no-untyped-def, type-arg]
    """The plan of a second ``hwplan plan`` run: the first saves its capacity answers, the second takes them."""
    from hardware_catalog.caching import answers_cache

    first = cache.catalog_tables(catalog, answers=True)
    _plan_doc(path, catalog, first)
    answers_cache.save(first)
    return _plan_doc(path, catalog, cache.catalog_tables(catalog, answers=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calibration", nargs="*", type=Path, default=sorted(SHARED.glob("*.yaml")))
    args = parser.parse_args()
    catalog = load_catalog()
    plain = CatalogTables.from_catalog(catalog)
    state = cache.prepare_tables(catalog, CatalogTables.from_catalog(catalog))  # make sure an entry exists
    cached = CatalogTables.from_catalog(catalog)
    state = cache.prepare_tables(catalog, cached) if state != "off" else state
    print(f"cache: {state} ({cache.cache_dir()}); cached tables' Universe complete: "
          f"{bool(universe(cached)._built.all())}")
    from hardware_catalog.caching import compiled

    compiled.load_catalog()  # make sure a compiled entry exists, then read it back
    same_catalog = compiled.load_catalog() == catalog
    print(f"{'same' if same_catalog else 'DIFFERENT':9} compiled catalog (hardware_catalog.caching.compiled) "
          "vs the loader")
    differences, unstable = int(not same_catalog), 0
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        a, b = _plan_doc(path, catalog, plain), _plan_doc(path, catalog, cached)
        if a != b:  # a search cut short by a time limit depends on the machine's load: the control
            # is a second run without the cache; when the two plain runs disagree the cache is not to blame
            control = _plan_doc(path, catalog, CatalogTables.from_catalog(catalog))
            stopped = "deadline" in (a["search"].get("stop"), b["search"].get("stop"))
            if control != a or stopped:
                unstable += 1
                print(f"{'UNSTABLE':9} plan {path.name} (stopped by the deadline: "
                      f"{a['search'].get('stop')} / {b['search'].get('stop')}; "
                      f"two runs without the cache {'agree' if control == a else 'disagree too'})")
                continue
        differences += a != b
        print(f"{'same' if a == b else 'DIFFERENT':9} plan {path.name}")
        if state != "off":
            c = _second_run_doc(path, catalog)
            differences += c != a
            print(f"{'same' if c == a else 'DIFFERENT':9} plan {path.name}, a second run taking the saved "
                  "capacity answers")
    if args.calibration:
        from cli.catalog.calibration_cmds import load_records
        from planner.calibration.predict import predict, prepare

        for path in args.calibration:
            _reads, records, _bad = load_records([path])
            a = predict(plain, prepare(catalog, plain, records)[0])
            b = predict(cached, prepare(catalog, cached, records)[0])
            same = bool(np.array_equal(a, b, equal_nan=True))
            differences += not same
            print(f"{'same' if same else 'DIFFERENT':9} predictions {path}")
    print(f"{differences} difference(s)" + (f"; {unstable} plan(s) unstable without the cache too" if unstable else ""))
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
