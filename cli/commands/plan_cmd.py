"""``hwplan plan WORKLOAD.yaml``: ranked deployment plans for a workload."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli.app import (
    EXIT_INFEASIBLE,
    EXIT_TIMEOUT,
    CatalogOpt,
    JsonOpt,
    OverlayOpt,
    PricesOpt,
    ServerOpt,
    WideOpt,
    app,
    load,
    print_doc,
    seconds,
)
from planner.workload import Objective

if TYPE_CHECKING:
    from rich.console import Console

    from cli.output.tables import Column
    from hardware_catalog.outputs import LeverOut, LeverReportOut, PlanOut, PlanResultOut, QualityOut
    from planner.domain import Calibration, Catalog
    from planner.workload import Workload

__all__ = ["exit_code", "plan_cmd", "render_plans"]

DEPLOYMENT_NOTE = ("deployment: replicas x chips per replica, hardware (tp = tensor parallel, pp = pipeline "
                   "parallel degree; tp x pp = chips per replica; ep = expert parallel, dp-attn = data-parallel "
                   "attention degree; prefill/decode: a disaggregated plan's pools)")


@app.command("plan")
def plan_cmd(
    workload: Annotated[Path, typer.Argument(help="Workload YAML (see examples/).")],
    top: Annotated[int, typer.Option(min=1, max=50, help="How many plans to return.")] = 5,
    objective: Annotated[Objective, typer.Option(help="What to optimise.")] = Objective.COST,
    time_limit: Annotated[float, typer.Option(parser=seconds(0.5, 600),
                                              help="Seconds for the search (0.5 to 600).")] = 20.0,
    prices: PricesOpt = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    server: ServerOpt = None,
    levers: Annotated[bool, typer.Option("--levers", help="Add the lever report for the top plan.")] = False,
    wide: WideOpt = False,
    iteration_range: Annotated[bool, typer.Option(
        "--iteration-range", help="Re-plan at both ends of the serving iteration cost the records under load "
                                  "admit (two more searches): the cost span it leaves.")] = False,
    save: Annotated[bool, typer.Option("--save", help="Save the result (HWPLAN_DATABASE_URL or ~/.hwplan/plans.db); "
                                                      "its id goes to stderr.")] = False,
) -> None:
    """Search models, precisions, runtimes and hardware mixes for the cheapest plans meeting the SLOs.

    Exit code 0 when a plan fits, 1 when none does, 3 when the search timed out before any plan.
    """
    from hardware_catalog.outputs import PlanResultOut, levers_out, plan_result_out

    if server:
        if save:  # the service's catalog made the plan: it saves it (POST /v1/plans?save=true)
            from planner.errors import InputError

            raise InputError("--save with --server: save on the service (POST /v1/plans?save=true)", field="save")
        from cli.commands.serve_cmd import call_server
        from hardware_catalog.files import read_yaml
        from hardware_catalog.prices import raw_sheet

        body = with_sheet_body(read_yaml(workload), raw_sheet(prices) if prices else None)
        out = PlanResultOut.model_validate(call_server(
            server, "/v1/plans", body, timeout_s=time_limit + 60,
            params={"top": top, "objective": str(objective), "time_limit_s": time_limit, "levers": levers,
                    "iteration_range": iteration_range}))
    else:
        from hardware_catalog.caching import answers_cache
        from hardware_catalog.caching.cache import catalog_tables
        from hardware_catalog.caching.compiled_workload import load_workload  # (no YAML, no schema when compiled)
        from planner.errors import CatalogError, InputError
        from planner.search.lever_report import lever_report
        from planner.search.measured_replan import measured_replan
        from planner.search.planning import plan

        w = load_workload(workload, prices=prices)
        cat = load(catalog, add)
        # with every Universe row's constants, and the capacity answers of earlier runs, from the cache
        tables = catalog_tables(cat, answers=True)
        # one deadline for the search and its re-plans, from here: not the loading (a cold cache's Universe
        # build took ~4 s of a 3 s --time-limit and left the measured re-plan none)
        started = time.perf_counter()
        try:
            result = plan(w, cat, top=top, objective=objective, time_limit_s=time_limit, tables=tables)
        except InputError as exc:  # a field of the workload file (an unknown id): named with the file, as its others
            if exc.field is None or not exc.field.startswith("constraints."):
                raise
            raise CatalogError(exc.detail, file=str(workload), field=exc.field) from exc
        report = span = None
        if levers and result.plans:
            report = levers_out(lever_report(cat, w, result.plans[0], tables=tables,
                                             deadline_s=time_limit - (time.perf_counter() - started)),
                                result.plans[0])
        if iteration_range and result.plans:
            from planner.search.iteration_range import iteration_range as replan_at_ends

            span = replan_at_ends(cat, w, result.plans[0], objective=objective,
                                  time_limit_s=time_limit - (time.perf_counter() - started))
            if span is None:
                typer.echo("--iteration-range: the calibration records no interval for the serving iteration "
                           "cost (calibration.yaml: serving_iteration_interval; hwplan calibrate writes it): "
                           "nothing to re-plan", err=True)
        slowed = measured_replan(cat, w, result.plans, objective=objective,
                                 time_limit_s=time_limit - (time.perf_counter() - started), tables=tables)
        answers_cache.save(tables)  # what this run's searches found (the re-plan's too), for the next run
        from hardware_catalog.export import with_deploy

        out = with_deploy(plan_result_out(result, report, span, slowed), cat, w)
    if as_json:
        print_doc(out)
    else:
        _render_text(out, None if server else (cat, w), wide=wide, iteration_range=iteration_range)
    if save:  # (after the output: a database that cannot be written leaves the plan printed, and exits 2)
        _save(workload, out, cat.version)
    code = exit_code(out)
    if code:
        raise typer.Exit(code)


def _save(workload: Path, out: PlanResultOut, catalog_version: str) -> None:
    """Save the result with the catalog version that produced it (the one already loaded)."""
    from hardware_catalog.files import read_yaml
    from hardware_catalog.inputs.workload import WorkloadIn
    from hardware_catalog.saved import PlanStore, not_saved, prices_used

    result = out.model_dump(mode="json", exclude_unset=True)
    if (why := not_saved(result)) is not None:
        typer.echo(f"not saved: {why}", err=True)
        return
    saved = PlanStore().save(workload=WorkloadIn.model_validate(read_yaml(workload)).model_dump(mode="json"),
                             result=result, catalog_version=catalog_version, prices=prices_used(result),
                             saved_by="cli")
    typer.echo(f"saved plan {saved.id}", err=True)


def with_sheet_body(body: Any, sheet: Any) -> Any:
    """A workload body with a price sheet file's offers as its ``constraints.pricing.sheet`` (they win
    over an inline sheet's offers for the same chip)."""
    if sheet is None or not isinstance(body, dict) or not isinstance(sheet, dict):
        return body
    constraints = dict(body.get("constraints") or {})
    pricing = constraints.get("pricing", "on_demand")
    pricing = dict(pricing) if isinstance(pricing, dict) else {"mode": pricing}
    new = list(sheet.get("offers") or [])
    chips = {o.get("hardware") for o in new if isinstance(o, dict)}
    old = [o for o in (pricing.get("sheet") or {}).get("offers", []) if o.get("hardware") not in chips]
    pricing["sheet"] = {"offers": new + old}
    return {**body, "constraints": {**constraints, "pricing": pricing}}


def exit_code(out: PlanResultOut) -> int:
    """0 with a plan; otherwise 3 when the search ran out of time, 1 when nothing fits."""
    if out.plans:
        return 0
    return EXIT_TIMEOUT if out.search.solver_status == "TIME_LIMIT" else EXIT_INFEASIBLE


def _deployments(plan: PlanOut, sep: str = " + ") -> str:
    parts = []
    for d in plan.deployments:
        shape = " ".join([f"tp{d.tp}"] + [f"{name}{n}" for name, n in (("pp", d.pp), ("ep", d.ep),
                                                                         ("dp-attn", d.dp_attention)) if n > 1])
        role = "" if d.role == "both" else f"{d.role} "
        flag = "" if d.calibrated else ", uncalibrated"
        parts.append(f"{role}{d.replicas} x {d.chips_per_replica} {d.hardware} ({shape}{flag})")
    return sep.join(parts)


def _quality(q: QualityOut, sep: str = "\n") -> str:
    if q.score is None:
        return "—"
    if q.low is None or q.high is None or q.low == q.high:
        return f"{q.score:.1f}"
    return f"{q.score:.1f}{sep}({q.low:.1f}-{q.high:.1f})"


def _num(value: float | None, fmt: str, scale: float = 1.0) -> str:
    """``value`` x ``scale`` in ``fmt`` (planner.text.plain: no exponents), or a dash when absent."""
    from planner.text import plain

    return "—" if value is None else plain(value * scale, fmt)


def _saving(r: LeverOut) -> str:
    """The saving, or the note where there is none (no baseline plan); an unproven one says so."""
    if r.saving_per_month is None:
        return r.note or "-"
    return _num(r.saving_per_month, ",.0f") + (f" ({r.note})" if r.note else "")


def _render_levers(console: Console, report: LeverReportOut, *, wide: bool) -> None:
    from cli.output.tables import Column, print_table

    columns = [Column("lever"), Column("plan 1"), Column("baseline", wrap=True),
               Column("$/month", justify="right"), Column("quality", optional=True, justify="right"),
               Column("saving", justify="right", wrap=True)]
    rows = [[r.lever, r.top_plan_value, r.baseline, _num(r.baseline_cost_per_month, ",.0f"),
             _num(r.baseline_quality, ".1f"), _saving(r)] for r in report.root]
    print_table(console, "What each lever is worth for plan 1", columns, rows, wide=wide,
                caption="Each row re-plans with one lever set to its baseline and the rest of plan 1 kept; "
                        "$/month and quality are the baseline plan's, saving = its $/month - plan 1's.")


# the latencies a plan line shows: (metric, label, format, scale to the unit shown, unit)
_LATENCIES = (("ttft_ms", "TTFT", ".0f", 1.0, "ms"), ("tpot_ms", "TPOT", ".1f", 1.0, "ms"),
              ("e2e_ms", "e2e", ".1f", 1e-3, "s"))


def _percentiles(out: PlanResultOut) -> list[int]:
    """Per latency of ``_LATENCIES``, the percentile shown: the workload's highest target on it, else 99 (a p95
    target shown at p99 read as missed: support-chatbot's e2e p99 36.0 s against its p95 target of 20 s)."""
    return [max((int(k.removeprefix("p")) for k in out.slo.get(metric, {})), default=99)
            for metric, *_ in _LATENCIES]


def _latency(p: PlanOut, metric: str, pct: int, fmt: str, scale: float, unit: str) -> str:
    return _num(getattr(p.predicted, f"{metric}_p{pct}"), fmt, scale) + f" {unit}"


def _plans_table(plans: list[PlanOut], shown: list[int]) -> tuple[list[Column], list[list[str]]]:
    from cli.output.tables import Column

    columns = [
        Column("#"), Column("model / precision / runtime", wrap=True), Column("deployment", wrap=True),
        *(Column(f"{label} p{pct}", justify="right") for (_m, label, *_), pct in zip(_LATENCIES, shown, strict=True)),
        Column("quality", justify="right"), Column("$/month", justify="right"), Column("$/M tok", justify="right"),
        Column("binding", wrap=True)]
    rows = []
    for p in plans:
        rows.append([f"{p.rank}{'*' if p.pareto else ''}",
                     f"{p.model}\n{p.precision} (KV {p.kv_precision}), {p.runtime}",
                     _deployments(p, "\n+ "),
                     *(_latency(p, m, pct, fmt, scale, unit)
                       for (m, _label, fmt, scale, unit), pct in zip(_LATENCIES, shown, strict=True)),
                     _quality(p.quality), _num(p.cost.per_month, ",.0f"), _num(p.cost.per_million_tokens, ".3g"),
                     "\n".join(p.binding) or "—"])
    return columns, rows


def _plans_blocks(console: Console, plans: list[PlanOut], shown: list[int]) -> None:
    for p in plans:
        cost = p.cost
        adaptation = "" if p.adaptation == "none" else f" · {p.adaptation}"
        console.print(f"[bold]{p.rank}{'*' if p.pareto else ''} {p.model}[/bold] · {p.precision} "
                      f"(KV {p.kv_precision}) · {p.runtime}{adaptation} · "
                      f"[bold]${_num(cost.per_month, ',.0f')}/month[/bold] · "
                      f"${_num(cost.per_million_tokens, '.3g')}/M tokens")
        console.print(f"   {_deployments(p)}")
        latencies = " · ".join(f"{label} p{pct} {_latency(p, m, pct, fmt, scale, unit)}"
                               for (m, label, fmt, scale, unit), pct in zip(_LATENCIES, shown, strict=True))
        console.print(f"   {latencies} · quality {_quality(p.quality, ' ')}")
        console.print(f"   binding: {', '.join(p.binding) or 'none'}")
        if p.features or p.why:
            console.print(f"   serving: {', '.join(p.features) or 'plain'}" + (f"; {p.why}" if p.why else ""))


# the quality model's own notes (planner.levers.quality.base_score / unclaimed_on, planner.search.build._quality)
_STAND_IN, _NOT_MODELLED, _NO_CLAIM = "MMLU used as the proxy", "its effect on the score is not modelled", \
    "no quality claim"
_UNCHECKED = "not re-checked against the table"  # a model file's own flag on a score (its sources)


def _render_caveats(console: Console, out: PlanResultOut) -> None:
    """Each distinct caveat once, with the plans it applies to: ``quality`` (a score that rests on a stand-in for
    the task, or beside an effect it does not model: a KV cache below 16 bits), ``measured`` (measured_bias.yaml:
    runs of the plan's model and runtime, or of several models on its chips and runtime, landed outside the file's band
    around the prediction) and ``chip order``
    (planner.model.chip_order: a chip predicted slower than one it beats on paper), so that a plan's
    capacity and latencies are read with them in mind; then what the measured lines cost (the best plan
    at the measured speed), where the result has it."""
    kinds: dict[str, dict[str, list[int]]] = {"measured": {}, "chip order": {}, "quality": {}}  # label -> note -> ranks
    for p in out.plans:
        # what a score rests on beyond the catalog's own figure: a stand-in for the task, an effect not modelled
        basis = [s for s in p.quality.sources if s.endswith(_STAND_IN) or _NOT_MODELLED in s or _NO_CLAIM in s
                 or _UNCHECKED in s]
        for label, notes in (("measured", [m.note for m in p.measured]), ("chip order", [f.note for f in p.order]),
                             ("quality", basis)):
            for note in notes:
                kinds[label].setdefault(note, []).append(p.rank)
    for label, ranks in kinds.items():
        for note, which in ranks.items():
            plural = "plan" if len(which) == 1 else "plans"
            console.print(f"[yellow]{label}[/yellow] ({plural} {', '.join(map(str, which))}): {note}")
    if out.measured_replan is not None:
        _render_measured_replan(console, out)


def _render_text(out: PlanResultOut, local: tuple[Catalog, Workload] | None, *, wide: bool, iteration_range: bool
                 ) -> None:
    """The plans as text, with plan 1's export line (its ``deploy``, the service's too) and, where the catalog is
    local (``local``: the catalog and the workload as the search read them), its iteration-cost line."""
    from cli.output.console import Console  # (not for --json: rich is ~50 ms of start-up)

    console = Console()
    render_plans(console, out, wide=wide)
    if out.plans:
        _flag_export(console, out)
    if local is not None and out.plans and not iteration_range:
        _flag_iteration_interval(console, local[0].calibration, out.plans[0].runtime)


def _flag_export(console: Console, out: PlanResultOut) -> None:
    """One line where plan 1 cannot be exported (``hwplan export`` would refuse it, named as it would), or where
    its launch files load weights quantised beforehand by a job ``--format quantise`` writes (its ``deploy``)."""
    deploy = out.plans[0].deploy
    if deploy is None or deploy.status == "ready":
        return
    if deploy.status == "refused":
        where = "no format" if deploy.format == "any" else f"--format {deploy.format}"
        console.print(f"[yellow]export[/yellow]: plan 1 cannot be exported ({where}: {deploy.detail}); its predicted "
                      "figures stand, but hwplan writes no launch files for it", markup=True, highlight=False)
    else:
        console.print(f"[yellow]export[/yellow]: plan 1 serves {out.plans[0].precision} weights quantised once "
                      f"beforehand ({deploy.detail}; `hwplan export --format quantise` writes the job); its GPU hours "
                      "are not in the plan's cost", markup=True, highlight=False)


def _flag_iteration_interval(console: Console, calibration: Calibration, runtime: str) -> None:
    """One line where the records under load admit more than one serving iteration cost for plan 1's
    runtime (the calibration's least identified figure)."""
    interval = calibration.iteration_interval(runtime)
    if interval is not None and interval[0] < interval[1]:
        console.print(f"Plan 1's {runtime} iterations are charged {calibration.iteration_s(runtime) * 1e3:.3g} ms "
                      f"each; the MLPerf records under load admit {interval[0] * 1e3:.3g}-{interval[1] * 1e3:.3g} ms "
                      "(--iteration-range re-plans at both ends).")


def _render_iteration_range(console: Console, out: PlanResultOut) -> None:
    """The best plan at each end of the serving iteration cost's interval, against plan 1."""
    r = out.iteration_range
    assert r is not None
    low, high = r.interval_ms
    console.print(f"[bold]Serving iteration cost[/bold] ({r.runtime}): plans above ran at "
                  f"{_num(r.fitted_ms, '.3g')} ms ({r.basis}); the records under load admit "
                  f"{_num(low, '.3g')}-{_num(high, '.3g')} ms.")
    top = out.plans[0].cost.per_month if out.plans else None
    for name, end in (("low", r.low), ("high", r.high)):
        if end.plan is None:
            console.print(f"  at {_num(end.iteration_ms, '.3g')} ms ({name} end): "
                          f"{'no plan found in time' if not end.complete else 'no plan fits'}")
            continue
        console.print(f"  at {_num(end.iteration_ms, '.3g')} ms ({name} end): "
                      + _replan_text(end.plan, end.cost_per_month, top, end.complete), highlight=False)


def _render_measured_replan(console: Console, out: PlanResultOut) -> None:
    """The best plan with what measured slower than predicted (a model or a chip, on a runtime) at that speed,
    against plan 1."""
    r = out.measured_replan
    assert r is not None
    from cli.output.render import slowed_label

    head = f"[bold]At the measured speed[/bold] ({slowed_label(r.slowed)}), the best plan: "
    if r.plan is None:
        console.print(head + ("none found in time" if not r.complete else "none fits"))
        return
    top = out.plans[0].cost.per_month if out.plans else None
    console.print(head + _replan_text(r.plan, r.cost_per_month, top, r.complete, r.listed_rank), highlight=False)


def _replan_text(p: PlanOut, cost: float | None, top: float | None, complete: bool, listed: int | None = None) -> str:
    """A re-plan's best plan against plan 1 (``top``: its cost): the cost and its change, the plan above that
    deploys the same servers (``listed``), what it runs, and its own p99s (on the re-plan's model: a listed
    plan's deployment may run slower there than its row says)."""
    delta = "" if top is None or cost is None else f" ({cost / top - 1:+.0%} vs plan 1)"
    same = "" if listed is None else f", plan {listed}'s deployment"
    cut = "" if complete else " (the re-plan ran out of time: unproven)"
    pr = p.predicted
    return (f"${_num(cost, ',.0f')}/month{delta}{same}: {p.model} {p.precision} {p.runtime}, {_deployments(p)}; "
            f"p99 TTFT {_num(pr.ttft_ms_p99, '.0f')} ms, TPOT {_num(pr.tpot_ms_p99, '.1f')} ms{cut}")


def _render_footnotes(console: Console, out: PlanResultOut) -> None:
    """What the plans' columns and flags mean, then how accurate the model behind them measured."""
    console.print(f"* on the Pareto front (cost, p99 latency, quality); {DEPLOYMENT_NOTE}; "
                  "latencies at peak load, at each SLO target's percentile (p99 where none); binding: the "
                  "targets and limits that capped a replica's load or the plan (not how close it runs to them); "
                  "$/M tok: the whole cost per million output tokens (the #1 $/M line prices input and output "
                  "tokens apart)"
                  + ("; uncalibrated: no measurement of that chip with that runtime was fitted, so its "
                     "efficiencies come from the same die's, its vendor's or its family's fit, or the runtime's "
                     "prior (`hwplan estimate` says which), and the accuracy below, of chips in the fit, is not its: "
                     "with each chip's records held out of the fit its SLO capacity erred more (docs/accuracy.md, "
                     "cross-validated by chip)"
                     if any(not d.calibrated for p in out.plans for d in p.deployments) else ""))
    if out.accuracy is not None:
        console.print(f"accuracy: {out.accuracy.note}", highlight=False)


def _render_header(console: Console, out: PlanResultOut) -> None:
    """The search's line, then what the plans do not size for (``warnings``)."""
    from rich.markup import escape

    s = out.search
    console.print(f"[bold]{escape(out.workload)}[/bold]: objective {out.objective}; "
                  f"{s.candidates:,} configurations, {s.evaluated:,} through the load model, "
                  f"{s.solves} solves ({s.solver_status}), {s.elapsed_ms or 0:.0f} ms")
    for warning in out.warnings:
        console.print(f"[yellow]warning[/yellow]: {escape(warning)}")


def render_plans(console: Console, out: PlanResultOut, *, wide: bool = False) -> None:
    """The plans as one table when it fits the terminal (or with ``wide``), else one block per plan."""

    from cli.output.cost_render import render_costs
    from cli.output.tables import min_width, print_table

    _render_header(console, out)
    if out.plans:
        shown = _percentiles(out)
        columns, rows = _plans_table(out.plans, shown)
        if wide or min_width(columns, rows) <= console.width:
            print_table(console, None, columns, rows, wide=wide)
            for p in out.plans:
                if p.why:
                    console.print(f"#{p.rank} serving ({', '.join(p.features) or 'no serving features'}): {p.why}")
        else:
            _plans_blocks(console, out.plans, shown)
        _render_caveats(console, out)
        _render_footnotes(console, out)
    render_costs(console, out)
    if out.levers is not None and out.levers.root:
        _render_levers(console, out.levers, wide=wide)
    if out.iteration_range is not None:
        _render_iteration_range(console, out)
    inf = out.infeasible
    if inf:
        console.print("[red bold]No plan meets every constraint.[/red bold]")
        for r in inf.reasons:
            console.print(f"  - {r}")
        if inf.relaxations:
            console.print("[bold]Nearest relaxations (each verified by re-solving):[/bold]")
            for x in inf.relaxations:
                console.print(f"  - {x.constraint}: {x.needed}")
    elif not out.plans and out.search.solver_status == "TIME_LIMIT":
        console.print("[red bold]The search ran out of time before it found a plan[/red bold] "
                      "(try a longer --time-limit).")
