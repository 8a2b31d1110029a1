"""The typer application and the options its commands share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from hardware_catalog import load_catalog
from planner.domain import Catalog

__all__ = ["CatalogOpt", "JsonOpt", "OverlayOpt", "app", "catalog_app", "load", "print_json"]

app = typer.Typer(help="hwplan: hardware-aware deployment planner for LLMs.", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)
catalog_app = typer.Typer(help="Read and check the hardware/model/runtime catalog.", no_args_is_help=True)
app.add_typer(catalog_app, name="catalog")

CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog directory (default: shipped).",
                                                 envvar="HWPLAN_CATALOG")]
OverlayOpt = Annotated[list[Path] | None, typer.Option(
    "--add", help="Extra catalog directory layered on top (e.g. your own chip). Repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def load(directory: Path | None, overlays: list[Path] | None) -> Catalog:
    return load_catalog(directory, overlays=overlays or ())


def print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, allow_nan=False))
