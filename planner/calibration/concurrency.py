"""The scheduler cap on concurrent sequences that records under load show an engine ran with.

A runtime's documented cap (runtimes.yaml ``max_concurrency``: vLLM's ``max_num_seqs`` default 256,
TensorRT-LLM's ``max_batch_size`` 2048, ...) is what a deployment gets by default; a tuned one sets it
higher, and a measurement does not say what it was set to. Little's law bounds it from below: a
Server / Interactive run at rate lam with mean TPOT t and outputs of mean O kept lam (O - 1) t
sequences decoding on average, split over its replicas; the engine's cap was at least that (its
sequences in prefill, not counted, only add to it). A record that does not state tp runs at the tp the
model predicts the most for (``planner.calibration.predict._tuned_tp``); where that is above the
submitter's (Intel's v5.1 Arc Pro B60 llama2-70b Server maps to tp 4, Intel's run script sets 2), its
replicas are fewer than the run's and the figure is not a bound: the caps fitted today come from records
that state tp (AMD's, tp 1). MLPerf's AMD vLLM submissions ran 350-1,088 sequences per MI300X /
MI325X engine, up to 4x vLLM's default: predicted at 256, their eight v5.1 llama2-70b Server runs came out
at 0.84-0.89x their rate and 0.38-0.55x their TPOT p99 (the engine could not hold the batch they ran); at
the cap their records show, 0.92-1.01x and a median 1.16x (tests/test_concurrency_cap.py).

``fitted_concurrency``: per runtime and hardware family whose records show more than the runtime's
documented cap, the largest such figure (rounded up): the least cap every one of its runs there is
consistent with. A runtime whose runs stayed within its documented cap keeps it (nothing shows it
was raised), one without a documented cap has none to raise, and a family without such runs keeps
the documented cap (vLLM's GPU engines say nothing of its Neuron backend, whose graphs are compiled
for a fixed batch). What it changes: the concurrency the queueing model and the
throughput model let a replica reach (``planner.model.grid``: the runtime's cap, this one where
fitted), for the records' predictions and for plans alike; a plan's deployment sets it
(``hardware_catalog.export``: ``--max-num-seqs`` is the plan's batch).
"""

from __future__ import annotations

import math

import numpy as np

from planner.calibration.predict import METRICS, RecordSet
from planner.model.estimate import Scenario

__all__ = ["concurrency_evidence", "fitted_concurrency", "running_concurrency"]

_RATE, _TPOT = METRICS.index("slo_capacity_requests_per_s"), METRICS.index("tpot_s")


def running_concurrency(rs: RecordSet) -> np.ndarray:
    """Per record, the mean sequences decoding per replica by Little's law (nan where the record is not
    a Server / Interactive run stating its rate and mean TPOT, or runs prefill and decode apart)."""
    out = np.full(len(rs), np.nan)
    for k, m in enumerate(rs.records):
        rate, tpot = rs.observed[k, _RATE], rs.observed[k, _TPOT]
        if m.scenario is not Scenario.SERVER or m.disaggregated is not None or not (rate > 0 and tpot > 0):
            continue
        output = m.lengths()[1].mean
        out[k] = rate * max(output - 1.0, 0.0) * tpot / rs.replicas[k]
    return out


def concurrency_evidence(rs: RecordSet) -> dict[tuple[str, str], tuple[int, int]]:
    """(runtime id, hardware family) -> (the least cap its records under load there are consistent with, where above
    the runtime's documented one; the index in ``rs`` of the record that sets it: its largest figure). One record
    sets a cap for every engine of its runtime there, so ``hwplan calibrate`` names it: a maintainer adding one large
    engine's run (an 8-GPU attention-data-parallel DeepSeek-R1 engine of MLPerf v6.0 ran 4,689 sequences) sees which
    record moved the cap that every other engine of that runtime now runs at."""
    running = running_concurrency(rs)
    most: dict[tuple[str, str], tuple[float, int]] = {}  # the largest figure itself, then rounded up
    for k, (c, config) in enumerate(zip(running, rs.configs, strict=True)):
        key, documented = (config.runtime.id, config.hardware.family), config.runtime.max_concurrency
        if documented is not None and c > max(documented, most.get(key, (0.0, -1))[0]):  # (nan compares False)
            most[key] = (float(c), k)
    return {key: (math.ceil(c), k) for key, (c, k) in most.items()}


def fitted_concurrency(rs: RecordSet) -> dict[tuple[str, str], int]:
    """(runtime id, hardware family) -> the least cap its records under load there are consistent with,
    where above the runtime's documented one (module docstring)."""
    return {key: cap for key, (cap, _record) in concurrency_evidence(rs).items()}
