"""Numbers as the outputs show them (hardware_catalog.numbers.money, the CLI's and explanation's formats).

Basis: arithmetic. A month of 42 H100s at $10.5305/chip-h is 42 x 10.5305 x 730 = $322,865.13; five
significant digits showed $322,870, $4.87 off a figure a planner copies into a budget. Large values in a
'g' format read as exponents (9.43e+04 ms, $1.05e+03/M tokens).
"""

from __future__ import annotations

import pytest

from hardware_catalog.numbers import money


@pytest.mark.parametrize(("value", "shown"), [
    (42 * 10.5305 * 730, 322865.13), (2_521_423.449, 2521423.45), (0.52634, 0.52634), (10.53051, 10.531),
    (0.0, 0.0), (-1234.567, -1234.57), (float("nan"), None), (None, None),
])
def test_money_is_to_the_cent_or_five_digits_where_finer(value: float | None, shown: float | None) -> None:
    assert money(value) == shown


def test_large_values_read_without_exponents() -> None:
    from cli.commands.plan_cmd import _num
    from cli.output.cost_render import _money
    from planner.text import plain

    assert plain(94_300.0, ".4g") == "94,300" and plain(36.2, ".4g") == "36.2" and plain(0.14612, ".4g") == "0.1461"
    assert _num(1047.3, ".3g") == "1,047" and _num(3.14159, ".3g") == "3.14"
    assert _money(95_612.0, ".3g") == "$95,612" and _money(0.993, ".3g") == "$0.993"


def test_prices_of_a_dollar_and_more_show_the_cent() -> None:
    """A chip-hour price reads as the catalog and the page print it ($10.53, $2.70), not $10.5 or $2.7."""
    from cli.output.cost_render import _money

    assert _money(10.5305, ".3g") == "$10.53" and _money(2.7, ".3g") == "$2.70" and _money(6.0, ".3g") == "$6.00"
    assert _money(0.52634, ".3g") == "$0.526" and _money(0.00097, ".3g") == "$0.00097"


def test_a_part_under_a_dollar_is_not_shown_as_zero() -> None:
    """domain-task's LoRA costs $1.12 once, $0.09 a month over its 12-month horizon: the cost line read
    "adaptation $0" beside a $876.09 total."""
    from cli.output.cost_render import _money

    assert _money(0.092974) == "$0.09" and _money(0.0) == "$0" and _money(875.9) == "$876"
    assert _money(0.004) == "<$0.01"  # (under a cent: the part exists)
    assert _money(-0.3) == "-$0.30" and _money(-0.004) == "-<$0.01" and _money(-1234.0) == "-$1,234"
