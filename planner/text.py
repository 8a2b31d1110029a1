"""Numbers in the planner's sentences and the CLI's tables (never in exponent notation), and the sentence comparing
two plans' costs."""

from __future__ import annotations

__all__ = ["compared_with", "plain"]


def plain(value: float, fmt: str) -> str:
    """``value`` in ``fmt``; a 'g' format shows 1,000 and up whole with separators (94,300, not 9.43e+04)."""
    return f"{value:,.0f}" if fmt.endswith("g") and abs(value) >= 1000 else format(value, fmt)


def compared_with(saving: float, other: str) -> str:
    """'saves $X/month against', 'costs $X/month more than' or 'costs the same as' ``other`` (a plan's price beside
    the figure read as its own cost: a new user read 'costs $15,375/month against ... ($15,375)' so)."""
    if round(saving) > 0:
        return f"saves ${saving:,.0f}/month against {other}"
    if round(saving) < 0:
        return f"costs ${-saving:,.0f}/month more than {other}"
    return f"costs the same as {other}"
