"""Quantiles of a mixture of Wilson-Hilferty gammas (the queueing model's TPOT under variable lengths).

Component r of row n is the mean of tokens[r] draws of a per-token time of mean m[n] and variance
v[n, r]: a gamma of those moments, whose cube root Wilson and Hilferty take as normal. With
a = cv^2 / 9 (cv^2 = v / (m^2 tokens), 1 / the gamma's shape), x = (t / m)^(1/3):

    F_r(t) = Phi((x - 1 + a) / sqrt(a)),   F_r'(t) = phi(z) / (3 sqrt(a) m x^2)

The mixture F = sum_r w_r F_r is smooth and strictly increasing where a > 0, and the q-quantile
lies between the components' own, t_r(q) = m (1 - a + sqrt(a) z_q)^3: a bracket from which
safeguarded Newton steps (bisection where a step leaves the bracket) reach double precision in
~5 evaluations of F, where bisection from [0, m (1 + 20 cv)] took 40 (to ~1e-12 of that range:
the two agree to ~1e-11 relative). The steps are taken on log S(t), S = 1 - F (summed from the
components' upper tails, so accurate where it is small): near the upper levels F flattens and
Newton on F itself creeps towards the root, while a normal tail's log S is close to a parabola.
Where v = 0 every component is the point m and so is every quantile.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from planner.model.grid import Array
from planner.model.load.normal import normal_cdf

__all__ = ["gamma_mixture_quantile"]

_STEPS = 60  # cap on Newton-bisection steps (each at least halves the bracket when Newton is unsafe)
_RTOL = 1e-13  # a step below this relative size ends the search (Newton converges quadratically: the next is ~1e-26)
_INV_SQRT_2PI = 0.3989422804014327


def gamma_mixture_quantile(mean: Array, var: Array, tokens: Array, w: Array, q: Array) -> Array:
    """q[c]-quantiles (rows c of the result) of the mixture over r (weights w) of the mean of
    tokens[r] draws of a per-token time of mean mean[n] and variance var[n, r] (module docstring)."""
    levels = np.asarray(q, dtype=np.float64)
    cv2 = var / np.maximum(mean[:, None] ** 2, 1e-300) / tokens[None, :]  # 1 / shape, [n, r]
    out = np.broadcast_to(mean, (len(levels), len(mean))).copy()  # v = 0: the point mass at the mean
    rows = np.flatnonzero(np.all(cv2 > 0, axis=1))
    if rows.size:
        out[:, rows] = _newton(mean[rows], cv2[rows] / 9.0, w, levels)
    return out


def _newton(m: Array, a: Array, w: Array, levels: Array) -> Array:
    """The quantiles [c, n] where every a > 0: Newton steps from the components' quantiles averaged,
    kept inside the bracket of their least and largest (bisection where a step leaves it)."""
    root_a = np.sqrt(a)
    z = np.array([NormalDist().inv_cdf(float(x)) for x in levels])[:, None, None]  # [c, 1, 1]
    own = m[:, None] * np.maximum(1.0 - a + root_a * z, 0.0) ** 3  # [c, n, r]: each component's quantile
    lo, hi = own.min(axis=2), own.max(axis=2)
    t = np.einsum("cnr,r->cn", own, w)
    inv_m, inv_root, shift = 1.0 / m[:, None], 1.0 / root_a, (a - 1.0) / root_a  # z = x / sqrt(a) + shift
    density = _INV_SQRT_2PI / (3.0 * root_a * m[:, None])  # dz/dt = density / x^2, times phi(z)
    target = np.log1p(-levels)[:, None]  # log(1 - q)
    done = np.zeros(t.shape, dtype=bool)  # a (level, row) whose search has ended keeps its t: every row's
    # quantile is then the same bits whatever the rows beside it (a row stepping on until the last settles moved
    # by an ulp with the batch)
    with np.errstate(divide="ignore", invalid="ignore"):  # t = 0, S = 0 or a slope of 0: the step bisects
        for _ in range(_STEPS):
            x = np.cbrt(t[:, :, None] * inv_m)
            zz = x * inv_root + shift
            tail = np.einsum("cnr,r->cn", normal_cdf(-zz), w)  # S = 1 - F, accurate where it is small
            gap = np.log(tail) - target  # > 0: F(t) < q
            pdf = np.einsum("cnr,r->cn", np.exp(-0.5 * zz * zz) * density / (x * x), w)
            below = gap > 0
            lo, hi = np.where(below, t, lo), np.where(below, hi, t)
            step = t + tail * gap / pdf  # Newton on log S(t), nearly linear in t in a tail
            settled = np.abs(step - t) <= _RTOL * t  # (where t is the root, step is t: at an end of the bracket)
            t = np.where(done, t, np.where(settled | ((step > lo) & (step < hi)), step, 0.5 * (lo + hi)))
            done |= settled | (hi - lo <= _RTOL * hi)
            if done.all():
                break
    return np.asarray(t, dtype=np.float64)
