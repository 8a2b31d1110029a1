"""``hwplan plan WORKLOAD.yaml``: ranked deployment plans for a workload."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, app, load, print_json
from cli.serve_cmd import ServerOpt, call_server
from hardware_catalog.loader import read_yaml
from hardware_catalog.workload_file import load_workload
from planner.model.grid import CatalogTables
from planner.report import levers_dict, plan_result_dict
from planner.search.lever_report import lever_report
from planner.search.planning import plan
from planner.workload import Objective

__all__ = ["plan_cmd"]


@app.command("plan")
def plan_cmd(
    workload: Annotated[Path, typer.Argument(help="Workload YAML (see examples/).")],
    top: Annotated[int, typer.Option(min=1, max=50, help="How many plans to return.")] = 5,
    objective: Annotated[Objective, typer.Option(help="What to optimise.")] = Objective.COST,
    time_limit: Annotated[float, typer.Option(min=0.5, max=600, help="Seconds for the search.")] = 20.0,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    levers: Annotated[bool, typer.Option("--levers", help="Add the lever report for the top plan.")] = False,
) -> None:
    """Search models, precisions, runtimes and hardware mixes for the cheapest plans meeting the SLOs."""
    if server:
        data = call_server(server, "/v1/plans", read_yaml(workload), timeout_s=time_limit + 60,
                           params={"top": top, "objective": str(objective), "time_limit_s": time_limit})
    else:
        w = load_workload(workload)
        cat = load(catalog, add)
        tables = CatalogTables.from_catalog(cat)
        result = plan(w, cat, top=top, objective=objective, time_limit_s=time_limit, tables=tables)
        data = plan_result_dict(result)
        if levers and result.plans:
            data["levers"] = levers_dict(lever_report(cat, w, result.plans[0], tables=tables), result.plans[0])
    if as_json:
        print_json(data)
    else:
        render_plans(Console(), data)


def _deployments(plan: dict[str, Any]) -> str:
    parts = []
    for d in plan["deployments"]:
        shape = f"tp{d['tp']}" + ("" if d["pp"] == 1 else f" pp{d['pp']}")
        parts.append(f"{d['replicas']} x {d['chips_per_replica']} {d['hardware']} ({shape})")
    return " + ".join(parts)


def _quality(q: dict[str, Any]) -> str:
    if q["score"] is None:
        return "—"
    if q.get("low") is None or q.get("high") is None or q["low"] == q["high"]:
        return f"{q['score']:.1f}"
    return f"{q['score']:.1f}\n({q['low']:.1f}-{q['high']:.1f})"


def _render_levers(console: Console, rows: list[dict[str, Any]]) -> None:
    table = Table(title="What each lever is worth for plan 1 (the lever set to its baseline, the rest kept)")
    for col in ("lever", "plan 1", "baseline", "baseline $/month", "baseline quality", "saving $/month"):
        table.add_column(col, overflow="fold")
    for r in rows:
        cost, quality, saving = r["baseline_cost_per_month"], r["baseline_quality"], r["saving_per_month"]
        table.add_row(r["lever"], str(r["top_plan_value"]), r["baseline"],
                      "—" if cost is None else f"{cost:,.0f}", "—" if quality is None else f"{quality:.1f}",
                      r["note"] or ("—" if saving is None else f"{saving:,.0f}"))
    console.print(table)


WIDE = 120  # narrower terminals get one block per plan instead of a table


def _plans_table(console: Console, plans: list[dict[str, Any]]) -> None:
    table = Table(show_lines=True)
    for col in ("#", "model / precision / runtime", "deployment"):
        table.add_column(col, overflow="fold")  # wrap long ids rather than cut them
    for col in ("TTFT p99", "TPOT p99", "e2e p99", "quality", "$/month", "$/M tok"):
        table.add_column(col, no_wrap=True, justify="right")  # a number is never split
    table.add_column("binding", overflow="fold")
    for p in plans:
        pr = p["predicted"]
        table.add_row(
            f"{p['rank']}{'*' if p['pareto'] else ''}",
            f"{p['model']}\n{p['precision']} (KV {p['kv_precision']}), {p['runtime']}",
            _deployments(p), f"{pr['ttft_ms_p99']:.0f} ms", f"{pr['tpot_ms_p99']:.1f} ms",
            f"{pr['e2e_ms_p99'] / 1e3:.1f} s", _quality(p["quality"]),
            f"{p['cost']['per_month']:,.0f}", f"{p['cost']['per_million_tokens']:.3g}",
            "\n".join(p["binding"]) or "—")
    console.print(table)


def _plans_blocks(console: Console, plans: list[dict[str, Any]]) -> None:
    for p in plans:
        pr, cost = p["predicted"], p["cost"]
        adaptation = "" if p["adaptation"] == "none" else f" · {p['adaptation']}"
        console.print(f"[bold]{p['rank']}{'*' if p['pareto'] else ''} {p['model']}[/bold] · {p['precision']} "
                      f"(KV {p['kv_precision']}) · {p['runtime']}{adaptation} · "
                      f"[bold]${cost['per_month']:,.0f}/month[/bold] · ${cost['per_million_tokens']:.3g}/M tokens")
        console.print(f"   {_deployments(p)}")
        console.print(f"   p99: TTFT {pr['ttft_ms_p99']:.0f} ms · TPOT {pr['tpot_ms_p99']:.1f} ms · "
                      f"e2e {pr['e2e_ms_p99'] / 1e3:.1f} s · quality {_quality(p['quality']).replace(chr(10), ' ')}")
        console.print(f"   binding: {', '.join(p['binding']) or 'none'}")


def render_plans(console: Console, data: dict[str, Any]) -> None:
    s = data["search"]
    console.print(f"[bold]{data['workload']}[/bold]: objective {data['objective']}; "
                  f"{s['candidates']:,} configurations, {s['evaluated']:,} through the load model, "
                  f"{s['solves']} solves ({s['solver_status']}), {s['elapsed_ms']:.0f} ms")
    if data["plans"]:
        (_plans_table if console.width >= WIDE else _plans_blocks)(console, data["plans"])
        console.print("* on the Pareto front (cost, p99 latency, quality)")
    if data.get("levers"):
        _render_levers(console, data["levers"])
    inf = data["infeasible"]
    if inf:
        console.print("[red bold]No plan meets every constraint.[/red bold]")
        for r in inf["reasons"]:
            console.print(f"  - {r}")
        if inf["relaxations"]:
            console.print("[bold]Nearest relaxations (each verified by re-solving):[/bold]")
            for x in inf["relaxations"]:
                console.print(f"  - {x['constraint']}: {x['needed']}")
