"""``hwplan compare`` and ``hwplan replan`` as text: the two top plans side by side, then what changed
from a to b. The figures are the ``CompareOut`` document's (``--json`` prints it whole)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape

from cli.output.cost_render import _money
from cli.output.tables import Column, print_table
from hardware_catalog.outputs import CompareOut, TopPlanOut

__all__ = ["compare_lines", "render_compare"]


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def _side(plan: TopPlanOut | None) -> list[str]:
    """One column of the side-by-side table (``_ROWS`` order)."""
    if plan is None:
        return ["no plan"] + [""] * (len(_ROWS) - 1)
    return [f"{plan.model} {plan.precision} (KV {plan.kv_precision}) on {plan.runtime}",
            ", ".join(plan.hardware), _money(plan.per_month), _money(plan.per_million_tokens, ".3g"),
            _ms(plan.ttft_ms_p99), _ms(plan.tpot_ms_p99), _ms(plan.e2e_ms_p99),
            "—" if plan.quality is None else f"{plan.quality:.1f}"]


_ROWS = ("top plan", "hardware", "$/month", "$/M tokens", "TTFT p99 ms", "TPOT p99 ms", "e2e p99 ms", "quality")
# a TopPlanOut field -> the table row that shows it (the model, its formats and runtime share the first row)
_ROW_OF = {"model": "model", "precision": "precision", "kv_precision": "KV precision", "runtime": "runtime",
           "hardware": "hardware", "per_month": "$/month", "per_million_tokens": "$/M tokens",
           "ttft_ms_p99": "TTFT p99 ms", "tpot_ms_p99": "TPOT p99 ms", "e2e_ms_p99": "e2e p99 ms", "quality": "quality"}


def _value(value: Any) -> str:
    if value is None:
        return "(absent)"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def compare_lines(out: CompareOut, *, files: bool = False) -> list[str]:
    """What changed from a to b, one line each (the table above them shows the top plans); ``files``: a side is a
    `hwplan plan --json` file, which keeps the workload's name only and no prices."""
    lines = []
    delta = out.cost_per_month_change
    before = out.a.top_plan.per_month if out.a.top_plan else None
    if delta == 0 and before is not None:
        lines.append(f"top plan's cost: the same, {_money(before)}/month")
    elif delta is not None:
        share = f" ({delta / before:+.1%})" if before else ""
        lines.append(f"top plan's cost: {'+' if delta >= 0 else ''}{_money(delta)}/month from a to b{share}")
    elif out.a.top_plan is None and out.b.top_plan is None:
        lines.append("top plan's cost: not compared (neither side has a plan)")
    elif out.a.top_plan is None or out.b.top_plan is None:
        lines.append(f"top plan's cost: not compared ({'a' if out.a.top_plan is None else 'b'} has no plan)")
    changed = out.changed
    if changed.objective is not None:
        lines.append(f"objective: {_value(changed.objective.a)} -> {_value(changed.objective.b)}")
    if changed.catalog_version is not None:
        lines.append(f"catalog version: {changed.catalog_version.a or '(a plan file: none)'} -> "
                     f"{changed.catalog_version.b or '(a plan file: none)'}")
    if changed.workload:
        lines.append("workload:")
        lines += [f"  {c.field}: {_value(c.a)} -> {_value(c.b)}" for c in changed.workload]
    else:
        lines.append("workload: the same name (a `hwplan plan --json` file keeps no more)" if files
                     else "workload: no change")
    if changed.prices:
        lines.append("prices per chip-hour:")
        lines += [f"  {c.field}: {_value(c.a)} -> {_value(c.b)}" for c in changed.prices]
    elif changed.prices_compared == 0:
        lines.append("prices per chip-hour: not compared (a `hwplan plan --json` file keeps none)" if files else
                     "prices per chip-hour: not compared (no chip is priced at the same pricing mode on both sides)")
    else:
        lines.append(f"prices per chip-hour: no change ({changed.prices_compared} chip price(s) both sides use)")
    order = list(_ROW_OF.values())  # (the table's order: what runs, on what, cost, latency, quality)
    rows = sorted({_ROW_OF.get(c.field, c.field) for c in changed.top_plan},
                  key=lambda r: order.index(r) if r in order else len(order))
    lines.append(f"top plan: {', '.join(rows)} changed (above)" if rows else "top plan: no change")
    return lines


def render_compare(console: Console, out: CompareOut, labels: tuple[str, str], *, files: bool = False,
                   wide: bool = False) -> None:
    """``labels``: what the user named a and b (a saved plan's id or a file; b of a re-plan: "re-planned");
    ``files``: as ``compare_lines``."""
    columns = [Column(""), Column(f"a: {labels[0]}", wrap=True), Column(f"b: {labels[1]}", wrap=True)]
    rows = [[name, x, y] for name, x, y in zip(_ROWS, _side(out.a.top_plan), _side(out.b.top_plan), strict=True)]
    print_table(console, None, columns, rows, wide=wide)
    for line in compare_lines(out, files=files):
        console.print(escape(line), highlight=False)
