"""``hwplan sweep SWEEP.yaml``: what-if scenarios on Ray, streamed to CSV (and Parquet), summarised."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.app import CatalogOpt, OverlayOpt, app, load

__all__ = ["sweep_cmd"]


@app.command("sweep")
def sweep_cmd(
    sweep: Annotated[Path, typer.Argument(help="Sweep YAML: a base workload or fleet and axes.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file the rows stream to (resumed if present).")] = Path(
        "sweep.csv"),
    workers: Annotated[int, typer.Option(min=1, max=4096, help="Ray actors (local CPUs without RAY_ADDRESS).")] = 2,
    chunk: Annotated[int, typer.Option(min=1, max=10_000, help="Scenarios per Ray call (large clusters: 8-64).")] = 1,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
) -> None:
    """Plan every scenario (the axes' cartesian product) on Ray: local by default, the cluster at
    RAY_ADDRESS when set. A failed scenario is a row with its error; the sweep goes on. Run again
    with the same --out to finish an interrupted sweep."""
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from cli.commands.sweep_runner import read_rows, run_sweep, write_parquet, write_plot
    from cli.output.console import Console
    from hardware_catalog.inputs.fleet import book_prices
    from hardware_catalog.inputs.sweep import load_sweep_with_prices
    from planner.fleet.sweep import AXES, check_ids, summarise

    console = Console(stderr=True)
    cat = load(catalog, add)
    s, price_source = load_sweep_with_prices(sweep)
    check_ids(s, cat)
    _check_writable(out)  # before Ray starts (a directory or /proc/x.csv failed ~8 s in, among Ray's own logs)
    prices = book_prices(cat) if price_source == "price_book" else None
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=console) as bar:
        task = bar.add_task(escape(s.name), total=None)

        def tick(row: dict[str, object], done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            if row["status"] == "error":
                bar.console.print(f"scenario {row['scenario']} failed: {escape(str(row['error']))}")

        run_sweep(s, cat, out, workers=workers, chunk=chunk, prices=prices, on_row=tick)
    rows = read_rows(out)
    out_console = Console()
    for axis in (a for a in AXES if a in s.axes and len(s.axes[a]) > 1):
        table = Table(title=f"monthly cost by {axis}")
        for col in (axis, "scenarios", "ok", "least", "most"):
            table.add_column(col, justify="right")
        for value, n, ok, low, high in summarise(rows, axis):
            table.add_row(str(value), str(n), str(ok), "-" if low is None else f"${low:,.0f}",
                          "-" if high is None else f"${high:,.0f}")
        out_console.print(table)
    failed = sum(r["status"] == "error" for r in rows)
    out_console.print(f"{len(rows)} scenarios in {out} ({failed} failed)")
    if rows and failed == len(rows):  # nothing planned: the axes (or the base) are what is wrong
        from planner.errors import InputError

        raise InputError(f"every scenario failed; the first: {rows[0]['error']}", field="axes")
    parquet = write_parquet(out)
    out_console.print(f"Parquet: {parquet}" if parquet else "Parquet: skipped (pyarrow is not installed: "
                      "pip install 'hwplan\\[fleet]')")  # (escaped: rich reads [fleet] as markup)
    numeric = next((a for a in ("traffic_scale", "price_scale", "slo_scale") if a in s.axes), None)
    if numeric:
        plot = write_plot(rows, numeric, out.with_suffix(".png"))
        out_console.print(f"plot: {plot}" if plot else "plot: skipped (matplotlib is not installed)")


def _check_writable(out: Path) -> None:
    """--out can be created (or appended to) where it is: a file written beside it and removed."""
    import tempfile

    from planner.errors import InputError

    if out.is_dir():
        raise InputError(f"{out} is a directory: name the CSV file the rows go to", field="--out")
    if out.suffix.lower() not in (".csv", ""):  # (x.json received CSV rows, silently)
        raise InputError(f"{out}: the rows are written as CSV (a Parquet copy beside it where pyarrow is installed): "
                         "name a .csv file", field="--out")
    try:
        with tempfile.NamedTemporaryFile(dir=out.parent if str(out.parent) else ".", prefix=".hwplan-sweep-"):
            pass
        if out.exists():
            with open(out, "ab"):
                pass
    except OSError as exc:
        raise InputError(f"{out} cannot be written: {exc.strerror or exc}", field="--out") from exc
