"""Display rounding shared by the output documents and the CLI's catalog listing (no imports, so
``hwplan catalog list`` need not load the output models)."""

from __future__ import annotations

import math

__all__ = ["money", "rounded"]


def money(value: float | None) -> float | None:
    """USD for display: to the cent, or to 5 significant digits where that is finer (a $0.52634/h rate
    keeps its digits; a $322,865.13 month is not shown as $322,870, which 5 digits alone gave)."""
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    whole = math.floor(math.log10(abs(value))) + 1  # digits before the point
    return float(f"{value:.{max(5, whole + 2)}g}")


def rounded(value: float | None, digits: int = 5) -> float | None:
    """``value`` to ``digits`` significant digits for display; None when absent or not finite
    (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")
