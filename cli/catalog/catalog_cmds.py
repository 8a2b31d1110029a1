"""``hwplan catalog validate|list|show``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import CatalogOpt, JsonOpt, OverlayOpt, WideOpt, catalog_app, load, print_json

if TYPE_CHECKING:
    from planner.economics.pricing import SkippedOffer

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
               f"{_skipped(cat.prices.skipped)}, "
               f"owned.yaml {'ok' if cat.owned is not None else 'absent'} (version {cat.version})")
    for line in _replaced(directory, add or []):
        typer.echo(line)
    apart = [f"{b.model or ', '.join(b.hardware)} on {b.runtime}" for b in cat.measured_bias
             if (b.model not in cat.models if b.model is not None else not set(b.hardware) & set(cat.hardware))
             or b.runtime not in cat.runtimes]
    if apart:
        typer.echo(f"measured_bias.yaml: {len(apart)} entries name a model, hardware or runtime this catalog lacks "
                   f"and apply to nothing: {', '.join(apart)}")


def _skipped(skipped: Sequence[SkippedOffer]) -> str:
    """' (n for chips not in the catalog: ids)', or nothing: a price file for a misspelt chip shows here."""
    if not skipped:
        return ""
    ids = sorted({o.hardware for o in skipped})
    named = ", ".join(ids[:_SHOWN]) + (f" and {len(ids) - _SHOWN} more" if len(ids) > _SHOWN else "")
    return f" ({len(skipped)} for chips not in the catalog: {named})"


_SHOWN = 12  # chip ids named on the validate line; the rest counted


def _replaced(directory: Path | None, overlays: Sequence[Path]) -> list[str]:
    """A line per hardware or model file that an --add directory puts in place of one read before it (the
    shipped entry, its calibration pairs and prices included, now describe the new file's figures)."""
    from hardware_catalog.loader import default_catalog_dir

    seen: dict[tuple[str, str], Path] = {}
    lines = []
    for folder in (directory or default_catalog_dir(), *overlays):
        for sub in ("hardware", "models"):
            for path in sorted(Path(folder, sub).glob("*.yaml")):
                if (sub, path.stem) in seen:
                    lines.append(f"{path}: replaces {sub.rstrip('s')} {path.stem!r} of {seen[(sub, path.stem)]} "
                                 "(its calibration pairs and prices stay with the id)")
                seen[(sub, path.stem)] = path
    return lines


@catalog_app.command("list")
def catalog_list(
    kind: Annotated[str, typer.Argument(help="hardware | models | runtimes | precisions")] = "hardware",
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
    wide: WideOpt = False,
) -> None:
    """List catalog entries of one kind."""
    from cli.output import render
    from cli.output.console import Console
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
    from cli.output import render
    from cli.output.console import Console

    data = render.catalog_entry(load(catalog, add), entry_id)
    if as_json:
        print_json(data)
    else:
        Console().print_json(json.dumps(data))
