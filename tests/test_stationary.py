"""The queueing chain's stationary law (planner.model.load.queueing._stationary, _stationary_of via
_mix_bands) against the eigenvector of the transition matrix built here from the Poisson formula
(math.exp / math.factorial, the tail lumped into the last state), without the module's arrivals,
solve or band mixing: pi P = pi, sum pi = 1."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.model.load.queueing import _arrivals, _mix_bands, _stationary, _stationary_of


def _transitions(means: np.ndarray, states: int) -> np.ndarray:
    """P[j, k] = P(k arrivals | mean[j]) for k < states - 1, the rest lumped into k = states - 1."""
    p = np.array([[math.exp(-m) * m**k / math.factorial(k) for k in range(states)] for m in means])
    p[:, -1] = 1.0 - p[:, :-1].sum(axis=1)
    return p


def _eigen_law(p: np.ndarray) -> np.ndarray:
    """The left eigenvector of P for eigenvalue 1, normalised to sum 1."""
    values, vectors = np.linalg.eig(p.T)
    v = np.real(vectors[:, np.argmin(np.abs(values - 1.0))])
    return v / v.sum()


@pytest.mark.parametrize("states", [2, 3, 8, 32])
def test_stationary_law_is_the_transition_matrix_eigenvector(states: int) -> None:
    rng = np.random.default_rng(states)
    means = np.sort(rng.uniform(0.05, 0.9, (4, states)), axis=1) * np.array([[0.2], [1.0], [3.0], [6.0]])
    got = _stationary(means)
    for row in range(len(means)):
        np.testing.assert_allclose(got[row], _eigen_law(_transitions(means[row], states)), rtol=1e-9, atol=1e-14)


def test_band_mixed_law_is_the_eigenvector_of_the_mixed_matrix() -> None:
    """Prompt bands: each state j's arrivals are a mixture over bands m of Poisson(mean[j, m]) (weights wy)."""
    states, bands = 12, 3
    rng = np.random.default_rng(7)
    wy = np.array([0.5, 0.3, 0.2])
    means = np.sort(rng.uniform(0.1, 2.0, (2, states, bands)), axis=1)
    arr = _arrivals(means.reshape(2, states * bands), states - 1)
    got = _stationary_of(_mix_bands(arr, wy, states))
    for row in range(2):
        p = sum(w * _transitions(means[row, :, m], states) for m, w in enumerate(wy))
        np.testing.assert_allclose(got[row], _eigen_law(p), rtol=1e-9, atol=1e-14)
