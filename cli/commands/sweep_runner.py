"""Run a sweep's scenarios on Ray and stream the rows to a CSV file (the I/O side of planner.fleet.sweep).

Ray: a local instance by default (``workers`` CPUs, no set-up), the cluster at ``RAY_ADDRESS`` when
that is set, or the instance already running in this process (tests start one per session). Each
of ``workers`` actors holds the catalog and its tables (per price variant) for its lifetime, so a
scenario costs one plan, not a catalog load; an actor has at most ``IN_FLIGHT`` scenarios queued,
and rows are written in the order they finish. A scenario whose actor dies is written as an error
row. Resuming: scenario ids already in the output file are not run again.
"""

from __future__ import annotations

import csv
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from hardware_catalog.caching.cache_store import atomic_write
from planner.domain import Catalog
from planner.errors import InputError
from planner.fleet.prices import ChipPrices
from planner.fleet.sweep import (
    ROW_FIELDS,
    Scenario,
    Sweep,
    priced,
    resume_mismatch,
    run_scenario,
    scaled_prices,
    scenarios,
    variant_key,
)
from planner.model.grid import CatalogTables
from planner.search.shapes.answers import Answers, share

__all__ = ["IN_FLIGHT", "SweepPlanner", "done_ids", "read_rows", "run_local", "run_sweep"]

IN_FLIGHT = 2  # scenarios queued per actor: one running, one waiting, so no actor idles between calls


class SweepPlanner:
    """One Ray actor's state: the catalog, and per price variant its catalog and tables."""

    def __init__(self, sweep: Sweep, catalog: Catalog, prices: ChipPrices | None = None) -> None:
        self.sweep, self.catalog, self.prices = sweep, catalog, prices
        self.variants: dict[float, tuple[Catalog, CatalogTables]] = {}
        self.answers = Answers()  # planner.search.shapes.answers, shared by the price variants

    def run_many(self, batch: Sequence[Scenario]) -> list[dict[str, Any]]:
        return [self.run(sc) for sc in batch]

    def run(self, sc: Scenario) -> dict[str, Any]:
        key = variant_key(sc)
        if key not in self.variants:
            cat = priced(self.catalog, key)
            tables = CatalogTables.from_catalog(cat)
            share(tables, self.answers)  # prices are no part of what a replica carries: one store for the variants
            self.variants[key] = (cat, tables)
        cat, tables = self.variants[key]
        prices = None if self.prices is None else scaled_prices(self.prices, key)
        return run_scenario(self.sweep, sc, cat, tables, prices)


def read_rows(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def done_ids(path: Path) -> set[int]:
    return {int(r["scenario"]) for r in read_rows(path) if r.get("scenario", "").isdigit()}


def _drop_torn_row(out: Path) -> None:
    """A last line without its newline is a row cut off mid-write (a kill, a full disk): dropped, so its
    scenario runs again and the next row starts on a line of its own (it was read as done, and the next row
    glued onto it)."""
    if not out.is_file() or out.stat().st_size == 0:
        return
    data = out.read_bytes()
    if not data.endswith(b"\n"):
        with out.open("r+b") as fh:
            fh.truncate(data.rfind(b"\n") + 1)


def _check_header(out: Path) -> None:
    """An existing ``out`` must be a sweep CSV: rows appended under another header are unreadable (a traceback
    after the whole run)."""
    if not out.is_file() or out.stat().st_size == 0:
        return
    with out.open(newline="") as fh:
        header = next(csv.reader(fh), [])
    if header != list(ROW_FIELDS):
        raise InputError(f"{out} is not a sweep's CSV (its header is {','.join(header)[:80]!r}): write to a new "
                         "--out file or delete that one", field="--out")


def sweep_identity(sweep: Sweep, catalog: Catalog, prices: ChipPrices | None) -> str:
    """What a sweep's rows depend on beyond their axis values: the base workload or fleet, the time limit, the
    catalog (its version covers every file and price sheet) and which prices a fleet is scheduled at."""
    basis = repr((sweep.base, sweep.time_limit_s, catalog.version, prices is None))
    return hashlib.sha256(basis.encode()).hexdigest()


def _identity_file(out: Path) -> Path:
    return out.with_name(out.name + ".sweep")


def _resumable(sweep: Sweep, out: Path, identity: str) -> set[int]:
    """The scenarios ``out`` already holds, once its rows are checked to be this sweep's: the same axis values
    under the same ids (ids number the axes' product), and the same base, time limit and catalog
    (``sweep_identity``, kept beside the CSV: a sweep of another workload over the same axes resumed as this
    one's, its rows reported for it). A CSV without that file (written before it existed) is checked by its
    axis values alone."""
    _check_header(out)
    _drop_torn_row(out)
    rows = read_rows(out)
    if (why := resume_mismatch(sweep, rows)) is None and rows and _identity_file(out).is_file() \
            and _identity_file(out).read_text().strip() != identity:
        why = "its base workload or fleet, time limit, catalog or prices differ"
    if why is not None:
        raise InputError(f"{out} holds rows of another sweep ({why}): resuming would report them as this "
                         "sweep's; write to a new --out file or delete that one", field="--out")
    atomic_write(_identity_file(out), lambda fh: fh.write((identity + "\n").encode()))
    return done_ids(out)


def _writer(path: Path) -> tuple[Any, csv.DictWriter[str]]:
    new = not path.is_file() or path.stat().st_size == 0
    fh = path.open("a", newline="")
    w = csv.DictWriter(fh, fieldnames=list(ROW_FIELDS))
    if new:
        w.writeheader()
    return fh, w


def run_local(sweep: Sweep, catalog: Catalog, todo: Sequence[Scenario],
              prices: ChipPrices | None = None) -> list[dict[str, Any]]:
    """The sequential loop (no Ray): the reference a sweep's rows are compared with."""
    planner = SweepPlanner(sweep, catalog, prices)
    return [planner.run(sc) for sc in todo]


def _ray(workers: int) -> Any:
    import ray

    if not ray.is_initialized():
        address = os.environ.get("RAY_ADDRESS")
        if address:
            ray.init(address=address, log_to_driver=False,
                     runtime_env={"env_vars": {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}})
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, configure_logging=False)
    return ray


def run_sweep(sweep: Sweep, catalog: Catalog, out: Path, *, workers: int = 2, chunk: int = 1,
              prices: ChipPrices | None = None,
              on_row: Callable[[dict[str, Any], int, int], None] | None = None) -> list[dict[str, Any]]:
    """Run the scenarios not yet in ``out`` on ``workers`` Ray actors, ``chunk`` scenarios per call
    (more per call: fewer round trips through the driver, for large clusters); append each row as
    it comes. ``on_row(row, done, total)`` after each (a progress bar). Returns this run's rows."""
    already = _resumable(sweep, out, sweep_identity(sweep, catalog, prices))
    ray = _ray(workers)
    todo = [sc for sc in scenarios(sweep) if sc.id not in already]
    if not todo:
        return []
    actor_cls = ray.remote(num_cpus=1)(SweepPlanner)
    sweep_ref, catalog_ref, prices_ref = ray.put(sweep), ray.put(catalog), ray.put(prices)
    actors = [actor_cls.remote(sweep_ref, catalog_ref, prices_ref) for _ in range(min(workers, len(todo)))]
    pending: dict[Any, tuple[list[Scenario], int]] = {}
    queue = list(reversed(todo))
    rows: list[dict[str, Any]] = []
    fh, writer = _writer(out)
    try:
        def submit(a: int) -> None:
            batch = [queue.pop() for _ in range(min(chunk, len(queue)))]
            pending[actors[a].run_many.remote(batch)] = (batch, a)

        for a in range(len(actors)):
            for _ in range(IN_FLIGHT):
                if queue:
                    submit(a)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            batch, a = pending.pop(ready[0])
            try:
                got = ray.get(ready[0])
            except Exception as exc:  # noqa: BLE001  (an actor that died: its scenarios' rows say so)
                error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                got = [{**dict.fromkeys(ROW_FIELDS, ""), "scenario": sc.id, "status": "error", "error": error}
                       for sc in batch]
                actors[a] = actor_cls.remote(sweep_ref, catalog_ref, prices_ref)
            for row in got:
                writer.writerow(row)
                rows.append(row)
                if on_row is not None:
                    on_row(row, len(rows), len(todo))
            fh.flush()
            if queue:
                submit(a)
    finally:
        fh.close()
        for actor in actors:
            ray.kill(actor)
    return rows


def write_parquet(csv_path: Path) -> Path | None:
    """The CSV's rows as Parquet next to it when pyarrow is installed (None otherwise)."""
    try:
        import pyarrow.csv as pacsv
        import pyarrow.parquet as pq
    except ImportError:
        return None
    target = csv_path.with_suffix(".parquet")
    pq.write_table(pacsv.read_csv(csv_path), target)
    return target


def write_plot(rows: Sequence[dict[str, Any]], axis: str, target: Path) -> Path | None:
    """Least and median monthly cost against ``axis`` (matplotlib when installed; None otherwise)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    import statistics

    by: dict[float, list[float]] = {}
    for r in rows:
        if r["status"] == "ok" and r["cost_per_month"] not in ("", None):
            by.setdefault(float(r[axis]), []).append(float(r["cost_per_month"]))
    xs = sorted(by)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(xs, [min(by[x]) for x in xs], marker="o", label="least")
    ax.plot(xs, [statistics.median(by[x]) for x in xs], marker="s", label="median")
    ax.set_xlabel(axis)
    ax.set_ylabel("USD per month")
    ax.legend()
    fig.tight_layout()
    fig.savefig(target)
    plt.close(fig)
    return target


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    return fn(), time.perf_counter() - start
