"""``hwplan cache info|clear``: the compiled catalog cache (hardware_catalog.caching.cache)."""

from __future__ import annotations

import typer

from cli.app import PLAIN_HELP, JsonOpt, app, print_json

__all__ = ["cache_app", "cache_clear", "cache_info"]

cache_app = typer.Typer(help="Show or empty the compiled catalog cache.", no_args_is_help=True, **PLAIN_HELP)
app.add_typer(cache_app, name="cache")


@cache_app.command("info")
def cache_info(as_json: JsonOpt = False) -> None:
    """Where the cache is, whether it is on (HWPLAN_NO_CACHE=1 turns it off) and its entries."""
    from hardware_catalog.caching.cache import info

    out = info()
    if as_json:
        print_json(out)
        return
    state = "on" if out["enabled"] else "off (HWPLAN_NO_CACHE)"
    if out["enabled"] and not out["usable"]:
        state = "on, but not a directory: nothing is kept"  # (it said "on": every run then computed everything)
    typer.echo(f"cache: {out['directory']} ({state}); {len(out['entries'])} entries, "
               f"{len(out['catalogs'])} compiled catalogs, {len(out['workloads'])} compiled workloads, "
               f"{len(out['code'])} kept dataclass code files, {len(out['answers'])} capacity answer files, "
               f"{len(out['rows'])} per-row value files, {len(out['deploy'])} compiled deploy data, "
               f"{out['bytes'] / 2**20:,.0f} MiB")
    for e in out["entries"]:
        typer.echo(f"  {e['key']}  catalog {e['catalog_version']}  {e['bytes'] / 2**20:,.0f} MiB")


@cache_app.command("clear")
def cache_clear() -> None:
    """Remove every cache entry (the next plan rebuilds what it needs)."""
    from hardware_catalog.caching.cache import clear

    freed = clear()
    typer.echo(f"cleared {freed / 2**20:,.0f} MiB")
