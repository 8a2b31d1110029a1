"""Replay the queueing model's calls of the examples' searches: are two versions of serve identical,
bit for bit, and which is faster (issue #21)?

    python bench/serve_replay.py record CALLS.pkl [--tree OLD_TREE]   # plan every example, keep every serve call
    python bench/serve_replay.py compare CALLS.pkl [--base OLD_TREE] [--only 0:390] [--repeats 5] [--cpu]

``record`` plans each examples/*.yaml (as ``hwplan plan`` does, through the compiled catalog cache)
with ``planner.model.load.queueing.serve`` wrapped, and pickles its arguments with what it returned
(with --tree, that tree's planner and catalog: record before a change, compare after it).
``compare`` runs serve again on every recorded call (or the slice --only gives) and prints how many
result arrays are bitwise equal to the recorded ones, the largest relative difference of each field
that is not, and, with --base, the time of this tree's serve against OLD_TREE's
planner/model/load/queueing.py (the rest of planner from this tree), interleaved, best of --repeats
(--cpu: process CPU time instead of wall time, the steadier figure on a shared machine: a serve
unchanged but for two cached properties read 0.94-1.10 against its base by wall time, best of 3,
and 0.999-1.002 by CPU time, best of 5, while other work ran; best of 3 once read 1.04).
A speed-up that keeps every array bitwise equal changes no plan; golden_diff.py, which compares
printed documents to 1e-9, is the check for changes that do.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pickle
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, before numpy is imported

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

FIELDS = ("ttft_mean_s", "tpot_mean_s", "e2e_mean_s", "batch_mean", "max_batch", "capacity_requests_per_s",
          "utilization", "stable", "output_tokens_per_s")
BY_PERCENTILE = ("ttft_s", "tpot_s", "e2e_s")


def _arrays(result: Any) -> dict[str, np.ndarray]:
    out = {f: np.asarray(getattr(result, f)) for f in FIELDS}
    out.update({f"{f}[{pct}]": np.asarray(v) for f in BY_PERCENTILE for pct, v in getattr(result, f).items()})
    return out


def record(path: Path) -> None:
    import planner.model.load.queueing as queueing
    from hardware_catalog import load_catalog
    from hardware_catalog.caching.cache import prepare_tables
    try:
        from hardware_catalog.inputs.workload import load_workload
    except ImportError:  # a tree from before hardware_catalog/inputs/ (6ce275a)
        from hardware_catalog.workload_file import load_workload
    from planner.model.grid import CatalogTables
    from planner.search.planning import plan

    calls: list[tuple[Any, Any, dict[str, Any], dict[str, np.ndarray]]] = []
    original = queueing.serve

    def spy(model: Any, mem: Any, **kwargs: Any) -> Any:
        result = original(model, mem, **kwargs)
        calls.append((model, mem, kwargs, _arrays(result)))
        return result

    for name, module in list(sys.modules.items()):  # every module that imported serve by name
        if name.startswith("planner") and getattr(module, "serve", None) is original:
            module.serve = spy  # type: ignore[attr-defined]
    catalog = load_catalog()
    tables = CatalogTables.from_catalog(catalog)
    prepare_tables(catalog, tables)
    for example in sorted((ROOT / "examples").glob("*.yaml")):
        before = len(calls)
        try:
            plan(load_workload(example), catalog, tables=tables, explain=False)
        except Exception as exc:  # an infeasible example still made its calls  # noqa: BLE001
            print(f"{example.name}: {type(exc).__name__}")
        print(f"{example.name}: calls {before}..{len(calls)}")
    path.write_bytes(pickle.dumps(calls))
    print(f"recorded {len(calls)} serve calls to {path}")


def _load(tree: Path) -> ModuleType:
    """OLD_TREE's queueing module, under its own name (imports resolve to this tree's planner)."""
    path = tree / "planner" / "model" / "load" / "queueing.py"
    if not path.exists():  # a tree from before the model's load/ subpackage
        path = tree / "planner" / "model" / "queueing.py"
    spec = importlib.util.spec_from_file_location("queueing_base", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["queueing_base"] = module
    spec.loader.exec_module(module)
    return module


def compare(path: Path, base: Path | None, only: slice, repeats: int, clock: Any = time.perf_counter) -> int:
    import planner.model.load.queueing as queueing

    calls = pickle.loads(path.read_bytes())[only]
    equal, worst = 0, {}
    for model, mem, kwargs, before in calls:
        now = _arrays(queueing.serve(model, mem, **kwargs))
        for key, old in before.items():
            new = now[key]
            if np.array_equal(old, new, equal_nan=True):
                equal += 1
                continue
            a, b = old.astype(np.float64), new.astype(np.float64)
            with np.errstate(all="ignore"):
                rel = np.where(a == b, 0.0, np.abs(a - b) / np.abs(a))
            worst[key] = max(worst.get(key, 0.0), float(np.nanmax(np.where(np.isnan(a) != np.isnan(b), np.inf, rel))))
    print(f"{len(calls)} calls: {equal} result arrays bitwise equal, {sum(1 for c in calls for _ in c[3]) - equal} not")
    for key, rel in sorted(worst.items(), key=lambda kv: -kv[1]):
        print(f"  {key:24} largest relative difference {rel:.3e}")
    if base is not None:
        old_module = _load(base)
        times: dict[str, list[float]] = {"base": [], "this": []}
        for _ in range(repeats + 1):  # the first round warms both (caches, imports)
            for label, module in (("base", old_module), ("this", queueing)):
                start = clock()
                for model, mem, kwargs, _ in calls:
                    module.serve(model, mem, **kwargs)
                times[label].append((clock() - start) * 1e3)
        best = {label: min(t[1:]) for label, t in times.items()}
        print(f"serve over {len(calls)} calls, best of {repeats} ({'CPU' if clock is time.process_time else 'wall'}): "
              f"base {best['base']:.0f} ms, "
              f"this tree {best['this']:.0f} ms, ratio {best['this'] / best['base']:.3f}")
    return 1 if worst else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("record", "compare"))
    parser.add_argument("calls", type=Path)
    parser.add_argument("--tree", type=Path, default=ROOT, help="record: the source tree to plan with")
    parser.add_argument("--base", type=Path, default=None, help="compare: a source tree whose serve to time against")
    parser.add_argument("--only", default=":", help="a slice of the recorded calls, e.g. 358:390")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cpu", action="store_true", help="compare: time by process CPU time, not wall time")
    args = parser.parse_args()
    sys.path.insert(0, str((args.tree if args.mode == "record" else ROOT).resolve()))
    if args.mode == "record":
        record(args.calls)
        return 0
    lo, _, hi = args.only.partition(":")
    return compare(args.calls, args.base, slice(int(lo) if lo else None, int(hi) if hi else None), args.repeats,
                   time.process_time if args.cpu else time.perf_counter)


if __name__ == "__main__":
    sys.exit(main())
