"""The scipy-free normal CDF and the Wilson-Hilferty gamma-mixture quantiles of the queueing model.

Bases: published values of Phi (the 97.5% point 1.959963984540054 of every statistics table,
Phi(-3) = 0.0013498980316301 and Phi(1) = 0.8413447460685429 of the standard tables), the C
library's erfc (``math.erfc``, an implementation independent of the table Taylor series), the
closed-form quantile of a single Wilson-Hilferty component, and a brute-force bisection on a
CDF built from ``math.erfc``.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from planner.model.load.gamma_mixture import gamma_mixture_quantile
from planner.model.load.normal import normal_cdf

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("z", "phi"), [(1.959963984540054, 0.975), (-3.0, 0.0013498980316301),
                                        (1.0, 0.8413447460685429), (0.0, 0.5), (-1.959963984540054, 0.025),
                                        (-6.0, 9.865876450376982e-10), (8.2, 1.0 - 1.1e-16)])
def test_published_values(z: float, phi: float) -> None:
    assert float(normal_cdf(z)) == pytest.approx(phi, rel=1e-12, abs=1e-16)


def test_matches_libm_erfc_everywhere() -> None:
    z = np.concatenate([np.linspace(-12.0, 12.0, 48_001), np.random.default_rng(7).normal(scale=4.0, size=20_000)])
    reference = np.array([0.5 * math.erfc(-x / math.sqrt(2.0)) for x in z])
    got = normal_cdf(z)
    assert np.max(np.abs(got - reference)) < 1e-15
    tail = reference > 1e-12
    assert np.max(np.abs(got - reference)[tail] / reference[tail]) < 1e-9  # relative, far into the lower tail


def test_limits_shapes_and_nan() -> None:
    got = normal_cdf(np.array([[-np.inf, np.inf], [np.nan, -40.0]]))
    assert got.shape == (2, 2)
    assert got[0, 0] == 0.0 or got[0, 0] < 1e-22
    assert got[0, 1] == 1.0
    assert np.isnan(got[1, 0])
    assert got[1, 1] < 1e-22
    z = np.linspace(-9.0, 9.0, 10_001)
    assert np.all(np.diff(normal_cdf(z)) >= 0.0)  # monotone across the table's nodes
    assert np.max(np.abs(normal_cdf(z) + normal_cdf(-z) - 1.0)) < 2e-16  # symmetric


def _mixture_cdf(t: float, mean: float, var: np.ndarray, tokens: np.ndarray, w: np.ndarray) -> float:
    a = var / mean**2 / tokens / 9.0
    x = (t / mean) ** (1.0 / 3.0)
    return float(sum(wr * 0.5 * math.erfc(-((x - 1.0 + ar) / math.sqrt(ar)) / math.sqrt(2.0))
                     for wr, ar in zip(w, a, strict=True)))


def test_single_component_is_the_closed_form() -> None:
    mean, var, tokens = np.array([0.02, 0.5]), np.array([[4e-5], [0.3]]), np.array([7.0])
    q = np.array([0.5, 0.9, 0.99])
    got = gamma_mixture_quantile(mean, var, tokens, np.ones(1), q)
    for n in range(2):
        a = var[n, 0] / mean[n] ** 2 / tokens[0] / 9.0
        for c, level in enumerate(q):
            z = math.sqrt(2.0) * _inverse_erf(2.0 * level - 1.0)
            assert got[c, n] == pytest.approx(mean[n] * (1.0 - a + math.sqrt(a) * z) ** 3, rel=1e-12)


def _inverse_erf(y: float) -> float:
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if math.erf(mid) < y else (lo, mid)
    return 0.5 * (lo + hi)


def test_mixture_quantile_against_bisection() -> None:
    rng = np.random.default_rng(3)
    mean = rng.uniform(0.005, 0.2, size=12)
    var = (mean[:, None] * rng.uniform(0.05, 2.0, size=(12, 1))) ** 2 * np.ones((1, 8))
    tokens = np.array([1.0, 2.0, 5.0, 20.0, 60.0, 150.0, 400.0, 1200.0])
    w = np.diff(np.array([0.0, 0.01, 0.03, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0]))
    q = np.array([0.5, 0.9, 0.95, 0.99])
    got = gamma_mixture_quantile(mean, var, tokens, w, q)
    for n in range(len(mean)):
        for c, level in enumerate(q):
            lo, hi = 0.0, mean[n] * 50.0
            for _ in range(80):
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if _mixture_cdf(mid, mean[n], var[n], tokens, w) < level else (lo, mid)
            assert got[c, n] == pytest.approx(hi, rel=1e-10)


def test_no_variance_is_the_mean() -> None:
    mean = np.array([0.01, 0.03])
    got = gamma_mixture_quantile(mean, np.zeros((2, 3)), np.array([1.0, 4.0, 9.0]), np.full(3, 1 / 3),
                                 np.array([0.5, 0.99]))
    assert np.array_equal(got, np.broadcast_to(mean, (2, 2)))


def test_plan_imports_no_scipy_pandas_or_web_stack(tmp_path: Path) -> None:
    """`hwplan plan` runs the queueing model (the TPOT quantiles above) without scipy, pandas,
    fastapi or uvicorn: ~0.2-1 s of imports a plan does not need (issue #21)."""
    code = ("import sys\nfrom cli.main import main\n"
            "sys.argv = ['hwplan', 'plan', 'examples/heterogeneous-mix.yaml', '--json']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None, 1), e.code\n"
            "print('HEAVY', sorted(m for m in ('scipy', 'pandas', 'fastapi', 'uvicorn') if m in sys.modules))\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HWPLAN_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True).stdout
    assert '"plans"' in out or '"plan' in out  # it did plan
    assert out.strip().splitlines()[-1] == "HEAVY []"
