"""TTFT mixture quantiles (planner.model.load.queueing._uniform_mixture) against the CDF itself: on random
mixtures of uniforms, each returned quantile t is where the exact CDF (summed component by component,
no shared code) first reaches its level: F(t) >= q and F(t - d) < q. Both paths are covered: a small
mixture (breakpoint sort) and a large one (Newton steps), including flat parts exactly at a level."""

from __future__ import annotations

import numpy as np
import pytest

from planner.model.load.queueing import _SORT_MAX, PERCENTILES, _uniform_mixture


def _cdf(t: float, starts: np.ndarray, widths: np.ndarray, p: np.ndarray, band: np.ndarray) -> float:
    """Exact CDF of one row: sum over (a, b, c) of band[b] p[a, c] clip((t - start[a, b]) / width[c], 0, 1)."""
    u = (t - starts[:, :, None]) / widths[None, None, :]  # [a, b, c]
    return float(np.einsum("b,ac,abc->", band, p, np.clip(u, 0.0, 1.0)))


def _mixture(rng: np.random.Generator, n: int, a: int, b: int, c: int) -> tuple[np.ndarray, ...]:
    starts = np.sort(rng.uniform(0.01, 2.0, (n, a, b)), axis=2)
    widths = rng.choice(rng.uniform(0.01, 1.0, c), size=(n, c))  # repeated widths: ties between ends
    p = rng.exponential(1.0, (a, n, c)) * (rng.uniform(size=(a, n, c)) < 0.7)  # some components empty
    band = rng.dirichlet(np.ones(b))
    p /= p.sum(axis=(0, 2))[None, :, None]
    return starts, widths, p, band


@pytest.mark.parametrize("a, b, c", [(4, 1, 5), (6, 2, 4), (12, 5, 30), (32, 5, 160)])
def test_quantiles_are_where_the_cdf_reaches_each_level(a: int, b: int, c: int) -> None:
    rng = np.random.default_rng(a * 100 + c)
    starts, widths, p, band = _mixture(rng, 6, a, b, c)
    large = a * b * (c + 1) > _SORT_MAX
    got = _uniform_mixture(starts, widths, p.copy(), band)
    for row in range(6):
        args = (starts[row], widths[row], p[:, row], band)
        for pct in PERCENTILES:
            t, q = got[pct][row], pct / 100.0
            step = 1e-9 * max(t, 1.0)
            assert _cdf(t, *args) >= q - 1e-9, (large, row, pct)
            assert _cdf(t - step, *args) < q, (large, row, pct)


def test_a_level_at_a_flat_part_is_its_left_end() -> None:
    """Two bands of weight 1/2 far apart: the median is the end of the first (the CDF is flat at 1/2
    until the second starts), on both paths, though the weights sum to 1 only up to rounding."""
    for a, c in ((2, 3), (40, 60)):
        rng = np.random.default_rng(c)
        n = 3
        starts = np.stack([np.full((n, a), 1.0), np.full((n, a), 50.0)], axis=2)  # band 0 near 1, band 1 at 50
        widths = rng.uniform(0.1, 0.5, (n, c))
        p = rng.exponential(1.0, (a, n, c))
        p /= p.sum(axis=(0, 2))[None, :, None] * (1.0 + 3e-16)  # a total a rounding short of 1
        got = _uniform_mixture(starts, widths, p.copy(), np.array([0.5, 0.5]))
        assert np.allclose(got[50], 1.0 + widths.max(axis=1), rtol=1e-12)
