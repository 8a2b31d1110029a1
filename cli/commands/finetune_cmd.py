"""``hwplan finetune``: where, and at what one-time cost, a model can be adapted (LoRA, QLoRA, full,
distillation)."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, app, load, print_doc

__all__ = ["finetune_cmd"]


class Method(StrEnum):
    LORA = "lora"
    QLORA = "qlora"
    FULL = "full"
    DISTILL = "distill"


@app.command("finetune")
def finetune_cmd(
    model: Annotated[str, typer.Option(help="Model to adapt (the student for distill).")],
    method: Annotated[Method, typer.Option(help="Adaptation method.")],
    dataset_tokens: Annotated[float, typer.Option(help="Training tokens per epoch (1 to 1e13).")],
    teacher: Annotated[str | None, typer.Option(help="distill: the teacher model.")] = None,
    hardware: Annotated[list[str] | None, typer.Option(help="Only this hardware id (repeatable).")] = None,
    epochs: Annotated[float, typer.Option(help="Passes over the dataset (0.01 to 100).")] = 1.0,
    pricing: Annotated[str, typer.Option(help="on_demand|spot|reserved_1y|reserved_3y|owned")] = "on_demand",
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Training memory, chips, hours and dollars of adapting a model, per hardware, cheapest first."""
    from rich.table import Table

    from cli.output.console import Console
    from hardware_catalog.inputs.options import FinetuneOptions, check_options
    from hardware_catalog.outputs import finetune_out
    from planner.levers.finetune import adaptation_options

    check_options(FinetuneOptions, {"model": model, "method": str(method), "dataset_tokens": dataset_tokens,
                                    "teacher": teacher, "hardware": hardware, "epochs": epochs})
    cat = load(catalog, add)
    student = cat.get_model(model)
    t = cat.get_model(teacher, field_name="teacher") if teacher else None
    options, basis = adaptation_options(cat, model=student, method=str(method), dataset_tokens=dataset_tokens,
                                        epochs=epochs, teacher=t, hardware=tuple(hardware or ()),
                                        pricing=pricing)
    out = finetune_out(options, basis, model=student.id, method=str(method), teacher=t.id if t else None,
                       dataset_tokens=dataset_tokens, epochs=epochs, pricing=pricing)
    if as_json:
        print_doc(out)
        return
    table = Table(title=f"{method} of {student.id}" + (f" from {t.id}" if t else ""))
    for col in ("hardware", "chips", "GB/chip", "fits", "hours (range)", "MFU", "cost $"):
        table.add_column(col, no_wrap=col in ("hardware", "chips"), overflow="fold")
    for o in out.options:
        lo, hi = o.hours_range
        fits = "yes" if o.fits else f"no: {o.reason}"
        hours = "—" if o.hours is None else f"{o.hours:.3g} ({lo:.3g}-{hi:.3g})"
        chips = f"{o.chips} (+{o.teacher_chips} teacher)" if o.teacher_chips else str(o.chips)
        mfu = "—" if o.mfu is None else f"{o.mfu.central:.3g}"  # (its range gives the hours' range; --json)
        table.add_row(o.hardware, chips, f"{o.memory_per_chip_gb:.1f}", fits, hours, mfu,
                      "—" if o.cost is None else f"{o.cost:,.0f}" if o.cost >= 100 else f"{o.cost:.3g}")
    console = Console()
    console.print(table)
    console.print(f"FLOPs {basis.flops:.3g} = {basis.flops_formula}; memory: {basis.memory_formula}; "
                  "MFU: each option's chip family's (column; its source: --json basis.sources)")
