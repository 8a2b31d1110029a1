"""The queueing model computes quantiles only at the percentiles asked for: each must equal the
same percentile computed among all of PERCENTILES (the full computation is the basis), the means
must not depend on the subset, and an empty subset (an SLO without percentile targets) gives no
quantiles and the same means."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from planner.model.grid import Grid
from planner.model.load.queueing import PERCENTILES, LengthDist, server

PROMPTS = LengthDist(1000.0, 4000.0)
OUTPUTS = LengthDist(300.0, 900.0)


@pytest.mark.parametrize("subset", [(), (99,), (50, 95), (90,)])
def test_a_subset_of_percentiles_matches_the_full_set(one_row: Callable[..., Grid], subset: tuple[int, ...]) -> None:
    grid = one_row(model="llama-3.1-70b", hardware="h100-sxm", tp=4, precision="fp8")
    top = float(server(grid, request_rate=1e-3, input_tokens=PROMPTS, output_tokens=OUTPUTS).capacity_requests_per_s[0])
    for load in (0.1, 0.6, 0.85):
        kwargs = {"request_rate": load * top, "input_tokens": PROMPTS, "output_tokens": OUTPUTS}
        full = server(grid, percentiles=PERCENTILES, **kwargs)
        part = server(grid, percentiles=subset, **kwargs)
        assert set(part.ttft_s) == set(part.tpot_s) == set(part.e2e_s) == set(subset)
        for pct in subset:
            for got, want in ((part.ttft_s, full.ttft_s), (part.tpot_s, full.tpot_s), (part.e2e_s, full.e2e_s)):
                assert got[pct] == pytest.approx(want[pct], rel=1e-12)
        for name in ("ttft_mean_s", "tpot_mean_s", "e2e_mean_s", "batch_mean"):
            got_mean, want_mean = np.asarray(getattr(part, name)), np.asarray(getattr(full, name))
            assert np.isfinite(want_mean).all()  # a stable load: the means exist
            assert got_mean == pytest.approx(want_mean, rel=1e-12)
