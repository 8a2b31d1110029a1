"""A request's TPOT under slow load fluctuations: the variance its own lifetime does not average away.

A request's TPOT is the mean iteration over its decode lifetime, a window of T = (n - 1) tau for an
output of n tokens. ``planner.model.load.queueing`` gives it the variance of n - 1 iteration draws at the
mean concurrency B (prefill lumps, AR(1)-correlated), which averages away as 1 / n. What does not
average away is the load itself moving on the timescale of a lifetime: the concurrency B(t) and the
arrival rate drift together (a burst of arrivals is more prompts to prefill now and more sequences
decoding for the next lifetime), so a request that lives through a busy period decodes in one.

Linearised, an iteration is tau(B, lam) (the chain's mean iteration), and over the request's window
its TPOT deviates by d TPOT = alpha dB_T + beta dlam_T, with

* B_T the concurrency averaged over the window, alpha = d tau / dB (the chain's slope, at the
  request's rate: ``queueing._group``'s gain / (lam (O - 1)));
* lam_T the arrival rate over the window (its prompts are prefilled inside it), beta = d tau / d lam
  at fixed B = tau rho / (lam (1 - rho)) with rho = lam ds/dj (``queueing._varied``'s AR(1)
  coefficient: with s_j = s_0 + j ds, tau = s_0 / (1 - lam ds)).

Without feedback the concurrency is an M/G/infinity count: B(t) = arrivals u with u <= t <= u + S_u,
S the other requests' lifetimes (S = (n' - 1) tau, n' over the output bands). Both averages are linear
in the Poisson arrivals, B_T = int w_B dN, lam_T = int w_lam dN, with w_lam = 1 / T on [0, T] and
w_B(u) = L(u) / T, L(u) the overlap of [u, u + S] with [0, T]: a trapezoid of ramps m = min(S, T) and
a flat top of M - m, M = max(S, T). Campbell's theorem (Var int w dN = lam int w^2, Cov likewise):

    Var B_T = lam E_S[2 m^3 / 3 + m^2 (M - m)] / T^2        (T -> 0: lam E[S] = B, Poisson; T = S: 2 B / 3)
    Cov(B_T, lam_T) = lam E_S[min(S, T) T - min(S, T)^2 / 2] / T^2      (lam / 2 when S >= T)

Var lam_T = lam / T is the arrivals' own noise, already in the iteration draws' variance (the prompts
prefilled over n - 1 iterations are the window's arrivals): it is not added again. Feedback: a
slower window lengthens the lifetimes begun in it, which keeps more sequences decoding, so
d TPOT (1 - g) = alpha dB_T + beta dlam_T with g the gain ``_group`` already computes (its clip to
[0, 0.9]):

    Var_slow TPOT = (alpha^2 Var B_T + 2 alpha beta Cov(B_T, lam_T)) / (1 - g)^2

added to the draws' variance of each output band (``gamma_mixture_quantile``'s per-token variance, so
times the band's n - 1). Its lam cancels in the cross term, so it vanishes with the load (alpha -> 0).
Checked against ``planner.model.load.simulate`` (tests/test_tpot_tail.py; bench/tail_vs_simulation.py at
the MLPerf operating points).
"""

from __future__ import annotations

import numpy as np

from planner.model.grid import Array

__all__ = ["MAX_GAIN", "MAX_RHO", "slow_variance"]

# Numerical guards, not fitted: the feedback gain's amplification 1 / (1 - g) and the AR(1) factor
# rho / (1 - rho) diverge as they reach 1 (a queue at its capacity), so both are capped below it
# (``planner.model.load.queueing`` clips with the same values).
MAX_GAIN = 0.9
MAX_RHO = 0.95


def slow_variance(lam: Array, tau: Array, rho: Array, alpha: Array, gain: Array, tokens: Array, w: Array) -> Array:
    """Var_slow of a request's TPOT [n, r] (s^2) for an output of tokens[r] + 1 tokens (band weights w[r])
    at rate lam[n], mean iteration tau[n], AR(1) coefficient rho[n], chain slope alpha[n] = d tau / dB and
    feedback gain[n] (module docstring)."""
    t = tokens[:, None]  # the window T and the others' lifetimes S, in iterations: [r, s]
    s = tokens[None, :]
    m, big = np.minimum(s, t), np.maximum(s, t)
    var_b = (2.0 * m**3 / 3.0 + m * m * (big - m)) @ w / tokens**2  # Var B_T / (lam tau): [r]
    cov = (m * t - m * m / 2.0) @ w / tokens**2  # Cov(B_T, lam_T) / lam: [r]
    g, r, a = np.clip(gain, 0.0, MAX_GAIN), np.clip(rho, 0.0, MAX_RHO), np.maximum(alpha, 0.0)
    slow = (a * a * lam * tau)[:, None] * var_b + (2.0 * a * tau * r / (1.0 - r))[:, None] * cov
    return np.asarray(slow / ((1.0 - g) ** 2)[:, None], dtype=np.float64)
