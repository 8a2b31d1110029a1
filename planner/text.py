"""Numbers in the planner's sentences and the CLI's tables: never in exponent notation."""

from __future__ import annotations

__all__ = ["plain"]


def plain(value: float, fmt: str) -> str:
    """``value`` in ``fmt``; a 'g' format shows 1,000 and up whole with separators (94,300, not 9.43e+04)."""
    return f"{value:,.0f}" if fmt.endswith("g") and abs(value) >= 1000 else format(value, fmt)
