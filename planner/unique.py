"""Sorted distinct values of an integer array, without ``np.unique``.

``np.unique`` without ``return_index``/``return_inverse``/``return_counts`` asks
``np.ma.is_masked``, and the first such call imports ``numpy.ma`` (~10 ms of a fresh process's
first search). The search only takes distinct values of index arrays, which a sort and a
comparison of neighbours give exactly as ``np.unique`` does: sorted ascending, each once.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["distinct"]


def distinct(values: npt.ArrayLike) -> npt.NDArray[np.int64]:
    """The distinct values of an integer array (flattened), in ascending order."""
    a = np.sort(np.asarray(values, dtype=np.int64).ravel())
    if len(a) < 2:
        return a
    keep = np.empty(len(a), dtype=bool)
    keep[0] = True
    np.not_equal(a[1:], a[:-1], out=keep[1:])
    return a[keep]
