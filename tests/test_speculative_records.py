"""Speculative decoding and disaggregation as MLPerf records state them (issue #16), and the
``Served`` transform they go through.

Bases: the quantiles of a monotone map of a distribution are the map of its quantiles (a histogram
stays a histogram); the speedup of speculative decoding is bounded by the tokens one verify pass
emits, E = (1 - a^(k+1)) / (1 - a) (Leviathan et al. 2023, arXiv 2211.17192, eq. 1).
"""

from __future__ import annotations

import pytest

from planner.model.queueing import LengthDist
from planner.model.serving import Served, accepted_tokens, drafter_for
from planner.search.capacity import length_dists
from planner.workload import Prefix, Tokens, Traffic


def _histogram_traffic() -> Traffic:
    out = LengthDist.histogram(((200.0, 0.5), (1000.0, 0.4), (4000.0, 0.1)))  # a long tail of outputs
    inp = LengthDist.histogram(((500.0, 0.7), (3000.0, 0.3)))
    return Traffic(requests_per_s=1.0, input_tokens=Tokens(inp.mean, None, inp.knots),
                   output_tokens=Tokens(out.mean, None, out.knots), prefix=Prefix(shared_tokens=100.0, hit_rate=1.0))


def test_served_traffic_keeps_a_histogram_length_distribution() -> None:
    """A drafter turns O output tokens into 1 + (O - 1) / E decode iterations and a cached prefix
    takes h S tokens off every prompt: both monotone, so each quantile maps as the tokens do."""
    t = _histogram_traffic()
    drafter = drafter_for("mtp")
    e = float(accepted_tokens(drafter.acceptance, drafter.draft_tokens))
    seen_in, seen_out = length_dists(Served(prefix_tokens=100.0, shared_tokens=100.0, drafter=drafter).traffic(t))
    plain_in, plain_out = length_dists(t)
    for q in (0.5, 0.9, 0.95, 0.99):
        assert seen_out.quantile(q) == pytest.approx(1.0 + (plain_out.quantile(q) - 1.0) / e)
        assert seen_in.quantile(q) == pytest.approx(plain_in.quantile(q) - 100.0)
    assert seen_out.mean == pytest.approx(1.0 + (plain_out.mean - 1.0) / e)
    assert seen_out.quantile(0.99) > 2.0 * seen_out.mean  # the tail is kept, not collapsed to the mean
