"""Tables on a narrow terminal (cli.output.tables): optional columns go first and are named, and what is left is
never cut. Basis: every cell's text, which must appear whole in what is printed (a 40-column terminal showed
a100-40gb's 1555.0 GB/s as "155" and its 42.95 GB as "42.").
"""

from __future__ import annotations

import io

import pytest

from cli.output.console import Console
from cli.output.tables import Column, print_table

COLUMNS = [Column("id"), Column("GB", justify="right"), Column("GB/s", justify="right"),
           Column("runtime", optional=True), Column("family", optional=True, drop_first=1)]
ROWS = [["a100-40gb", "42.95", "1555.0", "vllm", "gpu"], ["gb200-nvl72-superchip", "192.27", "8000.0", "trt", "gpu"]]


def _printed(width: int, *, wide: bool = False) -> str:
    out = io.StringIO()
    print_table(Console(file=out, width=width, force_terminal=False, color_system=None), "hardware", COLUMNS, ROWS,
                wide=wide)
    return out.getvalue()


@pytest.mark.parametrize("width", [20, 40, 60, 200])
def test_no_id_or_number_is_cut_at_any_width(width: int) -> None:
    text = _printed(width)
    for row in ROWS:
        for cell in row[:3]:
            assert f" {cell} " in text, (cell, text)


def test_the_optional_columns_go_first_and_are_named() -> None:
    text = _printed(40)
    assert "left out to fit 40 columns: runtime, family" in " ".join(text.split())  # (the note wraps)
    assert "vllm" not in text
    wide = _printed(200)
    assert "left out" not in wide and " vllm " in wide and " gpu " in wide
