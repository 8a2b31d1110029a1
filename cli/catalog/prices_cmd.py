"""``hwplan prices list|show``: the offers the ranking rests on and the price each pricing selects."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from cli.app import PLAIN_HELP, CatalogOpt, JsonOpt, OverlayOpt, app, load, print_doc

if TYPE_CHECKING:
    from rich.console import Console

    from hardware_catalog.price_outputs import PriceListOut

__all__ = ["prices_app", "prices_list", "prices_show"]

prices_app = typer.Typer(help="Public offers by chip, market and mode, and the price a plan selects.",
                         no_args_is_help=True, **PLAIN_HELP)
app.add_typer(prices_app, name="prices")

MarketOpt = Annotated[str | None, typer.Option(help="hyperscaler | neocloud | marketplace")]
ModeOpt = Annotated[str | None, typer.Option(help="on_demand | reserved_1y | reserved_3y | spot | capacity_block")]


def _check(market: str | None, mode: str | None) -> None:
    from planner.economics.pricing import MARKETS, OFFER_MODES
    from planner.errors import InputError

    for name, value, allowed in (("market", market, MARKETS), ("mode", mode, OFFER_MODES)):
        if value is not None and value not in allowed:
            raise InputError(f"unknown {name} {value!r} (one of {', '.join(allowed)})", field=name)


def render_prices(console: Console, out: PriceListOut) -> None:
    """The selected prices as a table (80 columns), then each offer as one line."""
    from cli.output.tables import Column, print_table

    columns = [Column("hardware"), Column("market"), Column("mode"), Column("$/chip-h", justify="right"),
               Column("rule", wrap=True, optional=True)]
    rows = [[q.hardware, q.market, q.mode, f"{q.usd_per_chip_hour:.3g}", q.rule] for q in out.selected]
    print_table(console, f"selected prices ({len(rows)})", columns, rows,
                caption="the price a plan uses for a one-chip replica: per (chip, market, mode), the median of one "
                        "offer per provider; a replica of n chips takes only instances of at least n (the offers' "
                        "x n below)")
    for o in out.offers:
        flags = f" [{', '.join(o.flags)}]" if o.flags else ""
        size = f" {o.instance or 'instance'} x{o.chips_per_instance}" if o.chips_per_instance else ""
        console.print(f"{o.hardware} {o.market} {o.mode} {o.provider} {o.region}{size} ${o.usd_per_chip_hour:.4g} "
                      f"{o.as_of or 'undated'}{flags}: {o.source}", markup=False, highlight=False)
    for line in out.skipped:
        console.print(f"skipped: {line}", markup=False, highlight=False)


@prices_app.command("list")
def prices_list(
    hardware: Annotated[str | None, typer.Option(help="Only this hardware id.")] = None,
    market: MarketOpt = None,
    mode: ModeOpt = None,
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every offer (filtered), and the price selected for each chip, market and mode."""
    from cli.output.console import Console
    from hardware_catalog.price_outputs import price_list

    _check(market, mode)
    cat = load(catalog, add)
    if hardware is not None:
        cat.get_hardware(hardware, field_name="hardware")
    out = price_list(cat.prices, hardware=hardware, market=market, mode=mode)
    if as_json:
        print_doc(out)
    else:
        render_prices(Console(), out)


@prices_app.command("show")
def prices_show(
    hardware: Annotated[str, typer.Argument(metavar="HARDWARE", help="Hardware id.")],
    catalog: CatalogOpt = None,
    add: OverlayOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One chip's offers and the price each (market, mode) selects."""
    prices_list(hardware=hardware, market=None, mode=None, catalog=catalog, add=add, as_json=as_json)
