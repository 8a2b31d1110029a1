"""Tables that fit the terminal without cutting ids: identifying columns never wrap, optional
columns are dropped (last first) until the table fits, and ``--wide`` keeps every column."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from cli.output.console import Console as OutConsole

__all__ = ["Column", "fit_table", "min_width", "print_table"]


@dataclass(frozen=True)
class Column:
    header: str
    optional: bool = False  # may be dropped on a narrow terminal
    drop_first: int = 0  # among optional columns, the highest goes first (then the rightmost)
    wrap: bool = False  # prose that may wrap at spaces (ids and numbers never do)
    justify: str = "left"


def _table(title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]], keep: Sequence[int],
           caption: str | None) -> Table:
    table = Table(title=title, caption=caption, caption_justify="left", show_lines=any("\n" in c for r in rows
                                                                                         for c in r))
    for i in keep:
        col = columns[i]
        table.add_column(col.header, no_wrap=not col.wrap, overflow="fold",
                         justify="right" if col.justify == "right" else "left")
    for row in rows:
        table.add_row(*(row[i] for i in keep))
    return table


def min_width(columns: Sequence[Column], rows: Sequence[Sequence[str]], keep: Sequence[int] | None = None) -> int:
    """Columns the table needs with no id or number cut: the widest line of each unwrapped column,
    the longest word of each wrapped one, plus padding and borders."""
    keep = range(len(columns)) if keep is None else keep
    total = 1
    for i in keep:
        texts = [columns[i].header, *(row[i] for row in rows)]
        pieces = [w for t in texts for w in (t.split() if columns[i].wrap else t.splitlines())]
        total += max((cell_len(p) for p in pieces), default=1) + 3
    return total


def fit_table(console: Console, title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
              caption: str | None = None, wide: bool = False) -> tuple[Table, list[str]]:
    """The table with as many columns as fit ``console.width`` (all with ``wide``), and the
    headers of the columns it dropped."""
    keep = list(range(len(columns)))
    dropped: list[str] = []
    optional = sorted((i for i, c in enumerate(columns) if c.optional), key=lambda i: (columns[i].drop_first, i))
    while not wide:
        if min_width(columns, rows, keep) <= console.width or not optional:
            return _table(title, columns, rows, keep, caption), dropped
        i = optional.pop()
        keep.remove(i)
        dropped.insert(0, columns[i].header)
    return _table(title, columns, rows, keep, caption), dropped


def print_table(console: Console, title: str | None, columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
                caption: str | None = None, wide: bool = False) -> None:
    table, dropped = fit_table(console, title, columns, rows, caption=caption, wide=wide)
    terminal = console.width
    if wide:  # every column at its full width, even past the terminal's edge
        width = min_width([replace(c, wrap=False) for c in columns], rows)
        console = OutConsole(width=max(console.width, width), file=console.file)
    else:  # what is left after every optional column went may still not fit: printed wider, never cut
        # (rich cropped the rest: 1555.0 GB/s read "155" at 40 columns)
        kept = [i for i, c in enumerate(columns) if c.header not in dropped]
        width = min_width(columns, rows, kept)
        if width > console.width:
            console = OutConsole(width=width, file=console.file)
    console.print(table)
    if dropped:
        console.print(f"(left out to fit {terminal} columns: {', '.join(dropped)}; --wide shows every column)")
