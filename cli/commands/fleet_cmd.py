"""``hwplan plan-fleet FLEET.yaml``: several workloads over months, planned together."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import EXIT_INFEASIBLE, EXIT_TIMEOUT, CatalogOpt, JsonOpt, OverlayOpt, app, load, print_doc, seconds

if TYPE_CHECKING:
    from rich.console import Console

    from hardware_catalog.fleet_outputs import FleetPlanOut

__all__ = ["plan_fleet_cmd", "render_fleet"]


@app.command("plan-fleet")
def plan_fleet_cmd(
    fleet: Annotated[Path, typer.Argument(help="Fleet YAML (see examples/fleet/).")],
    time_limit: Annotated[float, typer.Option(parser=seconds(1, 600), help=(
        "Seconds per workload search and per CP-SAT schedule solve (1 to 600)."))] = 30.0,
    deadline: Annotated[float | None, typer.Option(parser=seconds(1, 86_400), help=(
        "Seconds for the whole run (1 to 86,400): each search and solve gets at most what is left (0.5 s once "
        "it is spent, so a solve returns its hint), and the comparison with each workload alone is skipped "
        "then."))] = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A schedule per workload and month: committed baseline, on-demand / spot burst, autoscaling
    bounds and when to commit more, all workloads in one CP-SAT model sharing the fleet's quotas.

    Exit code 0 when a schedule fits, 1 when none does, 3 when time ran out before any was found.
    """
    from cli.output.console import Console
    from hardware_catalog.fleet_outputs import fleet_plan_out
    from hardware_catalog.inputs.fleet import fleet_prices, load_fleet
    from planner.fleet import plan_fleet

    cat = load(catalog, add)
    f, raw = load_fleet(fleet)
    out = fleet_plan_out(plan_fleet(f, cat, prices=fleet_prices(raw, cat), time_limit_s=time_limit,
                                    deadline_s=deadline))
    if as_json:
        print_doc(out)
    else:
        render_fleet(Console(), out)
    if out.cost is None:  # out of time before any schedule (a search, or the joint solve: UNKNOWN), or none fits
        raise typer.Exit(EXIT_TIMEOUT if out.status in ("TIME_LIMIT", "UNKNOWN") else EXIT_INFEASIBLE)


def _usd(x: float | None) -> str:
    if x is None:
        return "-"
    whole = round(x)  # (a saving of -$0.30 is $0, not "$-0")
    return f"-${-whole:,}" if whole < 0 else f"${whole:,}"


def render_fleet(console: Console, out: FleetPlanOut) -> None:
    from rich.markup import escape
    from rich.table import Table

    proven = "" if out.gap is None or out.status == "OPTIMAL" else \
        " (no lower bound proven: how far from optimal is unknown)" if not (out.lower_bound or 0) > 0 else \
        f" (an optimal one costs at most {out.gap:.1%} less: none costs less than {_usd(out.lower_bound)})"
    console.print(f"[bold]{escape(out.name)}[/bold]: {out.months} months, status {out.status}{proven}, "
                  f"{out.elapsed_s:.1f} s")
    for w in out.workloads:
        head = f"[bold]{escape(w.name)}[/bold]: {w.model} {w.precision} on {w.runtime}" if w.model \
            else f"[bold]{escape(w.name)}[/bold]"
        if len(w.serves) > 1:
            head += f" (shared: serves {escape(', '.join(w.serves))})"
        console.print(head + ("; " + escape("; ".join(w.reasons)) if w.reasons else ""))
        if w.autoscaling:
            console.print("  autoscaling: " + ", ".join(f"{b.shape} {b.min_replicas}-{b.max_replicas}"
                                                        for b in w.autoscaling))
        if w.commits:
            console.print("  commit: " + ", ".join(f"month {c.month} +{c.added} {c.shape}" for c in w.commits))
    table = Table(title="cost by month (USD)")
    table.add_column("month", justify="right")
    for w in out.workloads:
        table.add_column(escape(w.name), justify="right")
    table.add_column("total", justify="right")
    for m in range(out.months):
        cells = [_usd(w.months[m].cost) if m < len(w.months) else "-" for w in out.workloads]
        table.add_row(str(m + 1), *cells, _usd(out.cost_by_month[m] if m < len(out.cost_by_month) else None))
    if out.beyond_horizon_cost:  # a term is paid in full: its months past the horizon are in the cost
        table.add_row(f"after {out.months}", *[_usd(w.beyond_horizon_cost) for w in out.workloads],
                      _usd(out.beyond_horizon_cost))
    table.add_row("all", *[_usd(w.cost) for w in out.workloads], _usd(out.cost))
    console.print(table)
    alone = "" if out.independent_cost is None else (  # (None: not compared, a note says why)
        f" Each alone with the whole quota: {_usd(out.independent_cost)}"
        + (f" (at least {_usd(out.independent_bound)})." if out.independent_bound is not None
           and out.independent_bound < out.independent_cost - 0.5 else "."))
    console.print(f"planned one at a time within the quotas: {_usd(out.alone_cost)}; jointly: {_usd(out.cost)}; "
                  f"saving {_usd(out.saving_vs_alone)}.{alone}")
    if out.one_time_cost > 0:
        console.print(f"one-time adaptation costs (paid once, outside the monthly schedule): "
                      f"${out.one_time_cost:,.2f}; the horizon in all: {_usd(out.total_cost)}")
    if out.quota_peak:
        use = ", ".join(f"{h} {u}/{q}" for h, (u, q) in out.quota_peak.items())
        console.print(f"quota use (peak chips / quota): {use}")
    if out.prices:
        console.print("prices ($/chip-hour): " + "; ".join(
            f"{p.hardware} {p.mode} ${p.usd_per_chip_hour:.4g} ({escape(p.rule)})" for p in out.prices))
    for note in out.notes:
        console.print(f"[yellow]note:[/yellow] {escape(note)}")
