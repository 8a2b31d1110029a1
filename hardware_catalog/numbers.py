"""Display rounding shared by the output documents and the CLI's catalog listing (no imports, so
``hwplan catalog list`` need not load the output models)."""

from __future__ import annotations

import math

__all__ = ["rounded"]


def rounded(value: float | None, digits: int = 5) -> float | None:
    """``value`` to ``digits`` significant digits for display; None when absent or not finite
    (JSON has no NaN)."""
    if value is None or not math.isfinite(value):
        return None
    return float(f"{value:.{digits}g}")
