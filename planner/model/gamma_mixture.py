"""Quantiles of a mixture of Wilson-Hilferty gammas (the queueing model's TPOT under variable lengths).

Component r of row n is the mean of tokens[r] draws of a per-token time of mean m[n] and variance
v[n, r]: a gamma of those moments, whose cube root Wilson and Hilferty take as normal. With
a = cv^2 / 9 (cv^2 = v / (m^2 tokens), 1 / the gamma's shape), x = (t / m)^(1/3):

    F_r(t) = Phi((x - 1 + a) / sqrt(a)),   F_r'(t) = phi(z) / (3 sqrt(a) m x^2)

The mixture F = sum_r w_r F_r is smooth and strictly increasing where a > 0, and the q-quantile
lies between the components' own, t_r(q) = m (1 - a + sqrt(a) z_q)^3: a bracket from which
safeguarded Newton steps (bisection where a step leaves the bracket) reach double precision in
~5 evaluations of F, where bisection from [0, m (1 + 20 cv)] took 40 (to ~1e-12 of that range:
the two agree to ~1e-11 relative). Where v = 0 every component is the point m and so is every
quantile.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from planner.model.grid import Array
from planner.model.normal import normal_cdf

__all__ = ["gamma_mixture_quantile"]

_STEPS = 60  # cap on Newton-bisection steps (each at least halves the bracket when Newton is unsafe)
_RTOL = 4e-16  # a Newton step below this relative size ends the search (a few ulps)
_INV_SQRT_2PI = 0.3989422804014327


def gamma_mixture_quantile(mean: Array, var: Array, tokens: Array, w: Array, q: Array) -> Array:
    """q[c]-quantiles (rows c of the result) of the mixture over r (weights w) of the mean of
    tokens[r] draws of a per-token time of mean mean[n] and variance var[n, r] (module docstring)."""
    levels = np.asarray(q, dtype=np.float64)
    n, c_n = len(mean), len(levels)
    cv2 = var / np.maximum(mean[:, None] ** 2, 1e-300) / tokens[None, :]  # 1 / shape, [n, r]
    a = cv2 / 9.0
    out = np.broadcast_to(mean, (c_n, n)).copy()  # v = 0: the point mass at the mean
    rows = np.flatnonzero(np.all(a > 0, axis=1))
    if rows.size == 0:
        return out
    m, a = mean[rows], a[rows]
    root_a = np.sqrt(a)
    z = np.array([NormalDist().inv_cdf(float(x)) for x in levels])[:, None, None]  # [c, 1, 1]
    own = m[:, None] * np.maximum(1.0 - a + root_a * z, 0.0) ** 3  # [c, n, r]: each component's quantile
    lo, hi = own.min(axis=2).ravel(), own.max(axis=2).ravel()
    t = np.einsum("cnr,r->cn", own, w).ravel()  # first point: the components' quantiles averaged
    flat_m, flat_a, flat_root = (np.broadcast_to(x, (c_n,) + x.shape).reshape(c_n * len(rows), -1)
                                 for x in (m[:, None], a, root_a))
    level = np.repeat(levels, len(rows))
    found = hi.copy()
    pending = np.arange(len(t))
    for _ in range(_STEPS):
        x = np.cbrt(t[:, None] / flat_m[pending])
        zz = (x - 1.0 + flat_a[pending]) / flat_root[pending]
        f = normal_cdf(zz) @ w - level[pending]
        slope = (np.exp(-0.5 * zz * zz) * _INV_SQRT_2PI / (3.0 * flat_root[pending] * flat_m[pending] * x * x)) @ w
        lo[pending] = np.where(f < 0, t, lo[pending])
        hi[pending] = np.where(f < 0, hi[pending], t)
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t - f / slope
        safe = (step > lo[pending]) & (step < hi[pending])
        nxt = np.where(safe, step, 0.5 * (lo[pending] + hi[pending]))
        done = (f == 0) | (np.abs(nxt - t) <= _RTOL * t) | (hi[pending] - lo[pending] <= _RTOL * hi[pending])
        found[pending[done]] = np.where(f == 0, t, nxt)[done]
        pending, t = pending[~done], nxt[~done]
        if pending.size == 0:
            break
    found[pending] = hi[pending]
    out[:, rows] = found.reshape(c_n, len(rows))
    return out
