"""``hwplan catalog validate|list|show``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, WideOpt, catalog_app, load, print_json

if TYPE_CHECKING:
    from planner.domain import Catalog

__all__ = ["catalog_list", "catalog_show", "catalog_validate"]

KINDS = ("hardware", "models", "runtimes", "precisions")


@catalog_app.command("validate")
def catalog_validate(
    directory: Annotated[Path | None, typer.Argument(help="Catalog directory (default: shipped).")] = None,
    add: OverlayOpt = None,
) -> None:
    """Check every file of a catalog directory; exit 2 with the first problem."""
    cat = load(directory, add)
    typer.echo(f"ok: {len(cat.hardware)} hardware, {len(cat.models)} models, "
               f"{len(cat.runtimes)} runtimes, {len(cat.precisions)} precisions, "
               f"{len(cat.calibration.pairs)} calibrated hardware x runtime pairs, "
               f"{len(cat.prices.offers)} price offers for {len(cat.prices.hardware_ids())} chips"
               f"{f' ({len(cat.prices.skipped)} for chips not in the catalog)' if cat.prices.skipped else ''}, "
               f"owned.yaml {'ok' if cat.owned is not None else 'absent'} (version {cat.version})")
    left_out = _measured_left_out(directory, add or [], cat)
    if left_out:
        typer.echo(f"measured_bias.yaml: {len(left_out)} entries name a model or runtime this catalog lacks and "
                   f"apply to nothing: {', '.join(left_out)}")


def _measured_left_out(directory: Path | None, add: list[Path], cat: Catalog) -> list[str]:
    """'model on runtime' of each entry of the measured_bias.yaml in force (the last folder's) that the
    catalog left out (``hardware_catalog.convert``: its model or runtime is not in this catalog)."""
    from hardware_catalog.files import default_catalog_dir, read_yaml, validate_file
    from hardware_catalog.schema import MeasuredBiasFile

    files = [f / "measured_bias.yaml" for f in (directory or default_catalog_dir(), *add)
             if (f / "measured_bias.yaml").is_file()]
    if not files:
        return []
    entries = validate_file(MeasuredBiasFile, read_yaml(files[-1]), file=str(files[-1])).entries
    kept = {(b.model, b.runtime, b.metric, b.source) for b in cat.measured_bias}
    return [f"{e.model} on {e.runtime}" for e in entries if (e.model, e.runtime, e.metric, e.source) not in kept]


@catalog_app.command("list")
def catalog_list(
    kind: Annotated[str, typer.Argument(help="hardware | models | runtimes | precisions")] = "hardware",
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List catalog entries of one kind."""
    from rich.console import Console

    from cli.output import render
    from planner.errors import InputError

    if kind not in KINDS:
        raise InputError(f"unknown kind {kind!r} (one of {', '.join(KINDS)})", field="kind")
    rows = render.catalog_rows(load(catalog, add), kind)
    if as_json:
        print_json(rows)
    else:
        render.rows_table(Console(), kind, rows, wide=wide)


@catalog_app.command("show")
def catalog_show(
    entry_id: Annotated[str, typer.Argument(metavar="ID", help="Any hardware/model/runtime/precision id.")],
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one catalog entry with its sources."""
    from rich.console import Console

    from cli.output import render

    data = render.catalog_entry(load(catalog, add), entry_id)
    if as_json:
        print_json(data)
    else:
        Console().print_json(json.dumps(data))
