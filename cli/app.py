"""The typer application and the options its commands share.

Start-up matters here: ``hwplan --help`` imports every command module to build its help, so
command modules import typer and light standard modules only at load time, and the catalog,
numpy, SciPy, the solver, httpx and the server inside their command functions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel

    from planner.domain import Catalog

__all__ = ["EXIT_BAD_INPUT", "EXIT_INFEASIBLE", "EXIT_OK", "EXIT_PIPE", "EXIT_TIMEOUT", "CatalogOpt", "JsonOpt",
           "ServerOpt", "OverlayOpt", "PLAIN_HELP", "PricesOpt",
           "WideOpt", "app", "catalog_app", "load", "print_doc", "print_json", "seconds", "version"]

# Exit codes (README "Exit codes"): keep them, scripts depend on them.
EXIT_OK = 0  # done; for `plan`, at least one plan meets every constraint
EXIT_INFEASIBLE = 1  # `plan`: no plan meets every constraint (the output says why)
EXIT_BAD_INPUT = 2  # a usage error, a bad file or value, an unknown id: one line on stderr
EXIT_TIMEOUT = 3  # `plan`, `plan-fleet`: the search (or schedule solve) ran out of time before it found any
EXIT_PIPE = 141  # stdout closed before the output was written (piped to head): 128 + SIGPIPE, as a shell reports

# Help is click's plain text (rich_markup_mode=None): typer's rich help imports rich and doubles the
# CPU time of `hwplan --help`; every Typer here passes PLAIN_HELP.
PLAIN_HELP: dict[str, Any] = {"rich_markup_mode": None}
app = typer.Typer(help="hwplan: hardware-aware deployment planner for LLMs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, **PLAIN_HELP)
catalog_app = typer.Typer(help="Read and check the hardware/model/runtime catalog.", no_args_is_help=True,
                          **PLAIN_HELP)
app.add_typer(catalog_app, name="catalog")

CatalogOpt = Annotated[Path | None, typer.Option("--catalog", help="Catalog directory (default: shipped).",
                                                 envvar="HWPLAN_CATALOG")]
PricesOpt = Annotated[Path | None, typer.Option(
    "--prices", help="A price sheet YAML (prices/ format) layered over the catalog; it wins where it has a price.")]
OverlayOpt = Annotated[list[Path] | None, typer.Option(
    "--add", help="Extra catalog directory layered on top (e.g. your own chip). Repeatable.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
WideOpt = Annotated[bool, typer.Option("--wide", help="Every column, however wide the terminal.")]
ServerOpt = Annotated[str | None, typer.Option(
    "--server", envvar="HWPLAN_SERVER", help="Call a running `hwplan serve` at this URL instead of "
                                             "computing locally (catalog options are the server's).")]


def version() -> str:
    from importlib import metadata  # (~10 ms to import: only for --version)

    try:
        return metadata.version("hwplan")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"hwplan {version()}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option(
        "--version", help="Print the version and exit.", is_eager=True, callback=_print_version)] = False) -> None:
    """hwplan: hardware-aware deployment planner for LLMs."""


def load_catalog(directory: Path | None, *, overlays: Sequence[Path] = ()) -> Catalog:
    """hardware_catalog.load_catalog through the compiled catalog (hardware_catalog.caching.compiled: the
    validated catalog kept between runs), imported when a command first needs it (tests replace this)."""
    from hardware_catalog.caching.compiled import load_catalog as load_files

    return load_files(directory, overlays=overlays)


def seconds(lo: float, hi: float) -> Any:
    """The parser of an option in seconds from ``lo`` to ``hi``: a number that is not finite ('nan', 'inf') is
    said to be one (the range check alone answered --time-limit nan with "should be less than or equal to
    600"). typer leaves its own min/max unchecked for an option with a parser, so the bounds are checked here."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise typer.BadParameter(f"{text!r} is not a number of seconds") from None
        if not math.isfinite(value):
            raise typer.BadParameter(f"must be a finite number of seconds ({lo:g} to {hi:g}), not {text!r}")
        if not lo <= value <= hi:
            raise typer.BadParameter(f"must be from {lo:g} to {hi:g} seconds, not {value:g}")
        return value

    return parse


def load(directory: Path | None, overlays: list[Path] | None) -> Catalog:
    return load_catalog(directory, overlays=overlays or ())


def print_json(data: Any) -> None:
    import json

    typer.echo(json.dumps(data, indent=2, allow_nan=False))


def print_doc(out: BaseModel) -> None:
    """An output model's document: the same JSON the REST service answers."""
    from hardware_catalog.outputs import document

    typer.echo(document(out))
