"""Length distributions whose tail no lognormal of their mean and p95 has (planner.workload.LOGNORMAL_MAX_P95_RATIO).

Basis: arithmetic on the lognormal. p95 / mean = exp(z95 s - s^2 / 2) is at most exp(z95^2 / 2) = 3.868,
so a stated p95 above that cannot be a lognormal's: the load model had capped it silently (mean 300,
p95 20,000 planned as p95 1,160, the same plan as p95 1,161 or 2,000). A workload file stating one is
refused naming the field; a prompt law shifted by cached prefix tokens (exactly: each prompt less the
cached tokens) keeps its quantiles, its p95 exactly the p95 less the cache.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest
from pydantic import ValidationError

from hardware_catalog.inputs.workload import TokensIn
from planner.model.load.queueing import LengthDist
from planner.model.serving import Served
from planner.search.shapes.capacity import length_dists
from planner.workload import LOGNORMAL_MAX_P95_RATIO, Tokens, Traffic


def test_the_largest_lognormal_tail_is_exp_z95_squared_over_two() -> None:
    z = NormalDist().inv_cdf(0.95)
    ratios = [math.exp(z * s - s * s / 2) for s in (i / 1000 for i in range(1, 4000))]
    assert max(ratios) == pytest.approx(LOGNORMAL_MAX_P95_RATIO, rel=1e-6) == pytest.approx(3.868, abs=1e-3)


def test_a_stated_p95_past_any_lognormal_is_refused_naming_it() -> None:
    assert TokensIn(mean=300, p95=1160).to_tokens() == Tokens(300, 1160)
    with pytest.raises(ValidationError, match=r"p95 20000 is 66.7x the mean 300.*histogram"):
        TokensIn(mean=300, p95=20000)


def test_a_cached_prefix_shifts_the_prompts_quantiles_exactly() -> None:
    prompts = Tokens(5000.0, 15000.0)  # ratio 3: a lognormal
    traffic = Traffic(requests_per_s=1.0, input_tokens=prompts, output_tokens=Tokens(200.0))
    seen, _ = length_dists(Served(prefix_tokens=4000.0, shared_tokens=4000.0).traffic(traffic))
    source = LengthDist(5000.0, 15000.0)
    assert seen.mean == pytest.approx(1000.0)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert seen.quantile(q) == pytest.approx(max(source.quantile(q) - 4000.0, 1.0), rel=1e-9)  # (at least the last)
    assert seen.quantile(0.95) == pytest.approx(11000.0, rel=1e-9)  # was 3,868 (the capped lognormal)
