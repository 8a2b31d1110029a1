"""The queueing model's sums of prompt lengths (``planner.model.load.queueing._sum_nodes``: the j-fold
convolution of a length's law, read as the conditional means of probability bands) against Monte
Carlo sums of independent draws, and the smaller chains' tables against the largest's.
"""

from __future__ import annotations

import numpy as np
import pytest

from planner.model.load.queueing import PROMPT_STRATA, STATES, LengthDist, _sum_nodes

DISTS = {
    "lognormal": LengthDist(1500.0, 4000.0),
    "mixture": LengthDist.mixture([(0.8, LengthDist(400.0, 900.0)), (0.2, LengthDist(6000.0, 9000.0))]),
}


def _draws(dist: LengthDist, size: int, rng: np.random.Generator) -> np.ndarray:
    if dist.parts:
        pick = rng.random(size)
        edges = np.cumsum([w for w, _ in dist.parts])
        out = np.empty(size)
        for k, (_, part) in enumerate(dist.parts):
            chosen = (pick < edges[k]) & (pick >= (edges[k - 1] if k else 0.0))
            out[chosen] = _draws(part, int(chosen.sum()), rng)
        return out
    s = dist.sigma
    return dist.mean * np.exp(s * rng.standard_normal(size) - s * s / 2.0)


@pytest.mark.parametrize("name", sorted(DISTS))
@pytest.mark.parametrize("j", [1, 2, 5, 17, 32])
def test_band_means_match_monte_carlo(name: str, j: int) -> None:
    dist = DISTS[name]
    y, w = _sum_nodes(dist, STATES, PROMPT_STRATA)
    rng = np.random.default_rng(j)
    sums = np.sort(sum(_draws(dist, 200_000, rng) for _ in range(j)))
    cuts = (np.asarray(PROMPT_STRATA) * len(sums)).astype(int)
    simulated = np.array([sums[a:b].mean() for a, b in zip(cuts[:-1], cuts[1:], strict=True)])
    # the top band holds 1% of the sums (2,000 draws): its Monte Carlo mean is the noisiest
    assert y[j] == pytest.approx(simulated, rel=0.03)
