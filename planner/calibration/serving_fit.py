"""Fit the serving iteration cost and the serving overlap (``planner.model.load.scheduler``) on Server /
Interactive records.

What ships (``fitted_serving``): first the iteration cost (seconds each serving iteration costs
beyond its passes; the prior 0), on ITERATION_GRID by the rule below, shrunk toward 0, pooled and
per runtime (toward the pooled one); then the overlap at that cost. The two explain the same
thing, iterations under load longer than the roofline's passes; a fixed cost per iteration
explains it across Server's 100-200 ms and Interactive's 30-40 ms iterations at once, where an
overlap below 1 only lengthens iterations near the roofline's knee. Cross-validated by MLPerf
round (``hwplan calibrate --cv-by round``; each fold fits both on the public records and the other
round: 4 ms from v4.1, 6 ms from v5.1, the roofline overlap in both), against the overlap alone:
SLO capacity 15.0% -> 13.5% median APE (76% -> 78% within 25%; Server 13.8% -> 14.0%,
Interactive 21.0% -> 13.2%), TPOT p99 at the record's rate 42.2% -> 35.1%, TTFT p99 94.8% ->
92.9%; Offline unchanged (10.6%), the static scenarios do not use it. The shipped calibration's
figures are in docs/accuracy.md.

The overlap, as it was fitted alone (the rule and the per-runtime scheme are the same for both):

One scalar per calibration (and one per runtime where its records set it apart, below): the share
of min(compute, weight reads) of a linear layer that hides under the larger in a serving iteration
(1 = the roofline, the prior). It is identified only by records under load with a published SLO
capacity (MLPerf Server and Interactive: the submitted rate is the highest rate meeting the round's
p99 limits): offline and static records run deep in the compute-bound regime or at batch 1, where
it does not matter, so the efficiency fit (``planner.calibration.fit``) cannot see it and it is
fitted after the efficiencies, with them.

Rule: on a grid over [0.3, 1] (below 0.3 no fit on either MLPerf round came close: see
bench/fit_serving_overlap.py), the median absolute percentage error of the predicted SLO capacity;
the chosen overlap is the largest whose median is within one bootstrap standard error of the
smallest (shrinkage toward the roofline: the data do not tell those apart). The shipped calibration
is fitted on public_benchmarks.yaml and the MLPerf records together (hardware_catalog/data/
measurements/), whose Server and Interactive records set it: fitted alone, pooled the roofline (1.0)
and vLLM 0.9; after the iteration cost (6 ms pooled for every runtime: vLLM's own records favour 4 ms,
7.5% against 9.8% median APE, within one bootstrap standard error), the roofline for every runtime.

Per runtime (``serving_overlap_runtime``; calibration.yaml's optional map runtime id -> overlap):
each runtime with at least MIN_RECORDS such records gets, by the same rule on its own records, the
grid overlap within one bootstrap standard error of its best that is nearest the pooled one
(shrinkage toward the pooled overlap); only one that differs from it is kept. Engines schedule
differently (``bench/operating_point_diag.py``: H200 TensorRT-LLM Interactive iterations centre
near 0.6, MI300X/MI325X vLLM near 0.5). Cross-validated by MLPerf round (``group_cross_validate``:
efficiencies and overlaps fitted on the public records plus the other round; TensorRT-LLM 180 and
vLLM 38 of the 226 records under load, v4.1 has 5 vLLM): fitted on v5.1 the pooled overlap is 0.9
and TensorRT-LLM's 0.7 (its records alone do not admit 0.9), fitted on v4.1 0.7 for both; the
held-out SLO capacity goes from 16.4% / 75% within 25% (pooled only) to 15.4% / 77% (Server 15.4% ->
13.8%, Interactive 21.0% / 67% and Offline 10.6% / 89% unchanged). Not adopted: the same rule
shrunk toward the roofline per runtime (TensorRT-LLM 0.9 from v4.1: 16.1% / 73%, Interactive
23.2% / 51%), per hardware vendor toward the roofline (17.5% / 73%) or toward the pooled one (NVIDIA
keeps it: 16.4% / 75%), per runtime from 5 records (ipex 0.5: no v4.1 ipex record, 15.4% / 77%).

Scope: ``predict`` (``hwplan validate``, the cross-validation, the under-load report) and the
planner's queueing calls (``planner.model.estimate``, ``planner.search.shapes.prepare`` / ``capacity`` /
``build``) run each row at its runtime's calibrated overlap (``planner.model.load.scheduler.overlap_of``,
``runtime_overlaps``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from planner.calibration.predict import METRICS, RecordSet, predict
from planner.domain import Calibration, Catalog
from planner.model.estimate import Scenario
from planner.model.grid import Array, CatalogTables
from planner.model.load.scheduler import SERVING_OVERLAP, overlap_of

__all__ = ["GRID", "ITERATION_GRID", "MIN_RECORDS", "best_and_spread", "fit_runtime_overlaps", "fit_serving_overlap",
           "fitted_iteration", "fitted_overlap", "fitted_serving", "iteration_errors", "server_records", "within"]

GRID = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
# serving iteration costs tried (seconds; 0 the prior): up to 12 ms, under the 16-25 ms TPOT p50 of the
# fastest Interactive records (llama3.1-8b), which an iteration's fixed part cannot exceed
ITERATION_GRID = (0.0, 0.002, 0.004, 0.006, 0.008, 0.010, 0.012)
MIN_RECORDS = 20  # fewer server records with an SLO capacity: keep the prior (a median of a handful moves a lot)
_BOOTSTRAP = 200  # resamples for the standard error of the best overlap's median APE
_CAPACITY = METRICS.index("slo_capacity_requests_per_s")


def _server_rows(rs: RecordSet) -> list[int]:
    return [k for k, m in enumerate(rs.records)
            if m.scenario is Scenario.SERVER and np.isfinite(rs.observed[k, _CAPACITY]) and m.slo]


def fitted_serving(catalog: Catalog, calibration: Calibration, rs: RecordSet) -> Calibration:
    """``calibration`` with its serving iteration cost fitted on ``rs``'s server records at its
    overlap (``fitted_iteration``), then its overlap at that cost (``fitted_overlap``): what
    ``planner.calibration.fit`` ships."""
    return fitted_overlap(catalog, fitted_iteration(catalog, calibration, rs), rs)


def fitted_iteration(catalog: Catalog, calibration: Calibration, rs: RecordSet) -> Calibration:
    """``calibration`` with the serving iteration cost fitted on ``rs``'s server records at its
    efficiencies and overlaps, pooled and per runtime, by the overlap's rule on ITERATION_GRID:
    shrunk toward 0, the prior (unchanged where fewer than MIN_RECORDS publish an SLO capacity)."""
    rows = _server_rows(rs)
    if len(rows) < MIN_RECORDS:
        return calibration
    sub = rs.take(rows)
    errors = iteration_errors(catalog, calibration, sub)
    pooled = _choose(errors, 0.0)
    own = {rid: _interval(mine) for rid, mine in _by_runtime(sub, errors).items()}
    return replace(calibration, serving_iteration_s=None if pooled == 0.0 else pooled,
                   serving_iteration_runtime=_per_runtime(sub, errors, pooled),
                   serving_iteration_interval=_interval(errors), serving_iteration_interval_runtime=own)


def iteration_errors(catalog: Catalog, calibration: Calibration, sub: RecordSet) -> dict[float, Array]:
    """Per ITERATION_GRID cost (one for every runtime), each of ``sub``'s server records' absolute
    relative error of the predicted SLO capacity, at ``calibration``'s efficiencies and overlaps."""
    overlap = np.array([overlap_of(calibration, c.runtime.id) for c in sub.configs])
    errors = {}
    for cost in ITERATION_GRID:
        trial = replace(calibration, serving_iteration_s=cost, serving_iteration_runtime={})
        errors[cost] = _capacity_error(CatalogTables.from_catalog(replace(catalog, calibration=trial)), sub, overlap)
    return errors


def server_records(rs: RecordSet) -> RecordSet:
    """``rs``'s Server and Interactive records with a published SLO capacity: what the serving fits read."""
    return rs.take(_server_rows(rs))


def fitted_overlap(catalog: Catalog, calibration: Calibration, rs: RecordSet) -> Calibration:
    """``calibration`` with the serving overlap fitted on ``rs``'s server records at its efficiencies,
    pooled and per runtime (unchanged, the prior, where fewer than MIN_RECORDS publish an SLO capacity)."""
    rows = _server_rows(rs)
    if len(rows) < MIN_RECORDS:
        return calibration
    tables = CatalogTables.from_catalog(replace(catalog, calibration=calibration))
    sub = rs.take(rows)
    errors = _errors(tables, sub)
    pooled = _choose(errors, SERVING_OVERLAP)
    return replace(calibration, serving_overlap=None if pooled == SERVING_OVERLAP else pooled,
                   serving_overlap_runtime=_per_runtime(sub, errors, pooled))


def _errors(tables: CatalogTables, sub: RecordSet) -> dict[float, Array]:
    """Per grid overlap, each record's absolute relative error of the predicted SLO capacity."""
    return {overlap: _capacity_error(tables, sub, overlap) for overlap in GRID}


def _capacity_error(tables: CatalogTables, sub: RecordSet, overlap: float | Array) -> Array:
    """Each record's absolute relative error of the predicted SLO capacity."""
    return np.asarray(np.abs(predict(tables, sub, overlap=overlap)[:, _CAPACITY] / sub.observed[:, _CAPACITY] - 1.0))


def best_and_spread(errors: dict[float, Array], *, seed: int = 0) -> tuple[float, float]:
    """The grid value of the smallest median error and one bootstrap standard error of that median."""
    medians = {v: float(np.median(e)) for v, e in errors.items()}
    best = min(medians, key=lambda v: medians[v])
    rng = np.random.default_rng(seed)
    e = errors[best]
    return best, float(np.std([np.median(e[rng.integers(0, len(e), len(e))]) for _ in range(_BOOTSTRAP)]))


def within(errors: dict[float, Array], *, seed: int = 0) -> list[float]:
    """The grid values whose median error is within one bootstrap standard error of the smallest:
    those the records do not tell apart from the best."""
    best, spread = best_and_spread(errors, seed=seed)
    limit = float(np.median(errors[best])) + spread
    return [v for v, e in errors.items() if float(np.median(e)) <= limit]


def _choose(errors: dict[float, Array], toward: float, *, seed: int = 0) -> float:
    """Of the grid values within one bootstrap standard error of the best (``within``), the one
    nearest ``toward`` (the larger of two as near)."""
    return min(within(errors, seed=seed), key=lambda v: (abs(v - toward), -v))


def _interval(errors: dict[float, Array], *, seed: int = 0) -> tuple[float, float]:
    """(lowest, highest) of ``within``: the span of figures the records admit, which holds ``_choose``'s."""
    admitted = within(errors, seed=seed)
    return min(admitted), max(admitted)


def fit_serving_overlap(tables: CatalogTables, rs: RecordSet, *, seed: int = 0) -> tuple[float | None, int]:
    """(overlap, records used): None where fewer than MIN_RECORDS server records publish an SLO
    capacity, or where the rule keeps the prior (SERVING_OVERLAP)."""
    rows = _server_rows(rs)
    if len(rows) < MIN_RECORDS:
        return None, len(rows)
    chosen = _choose(_errors(tables, rs.take(rows)), SERVING_OVERLAP, seed=seed)
    return (None if chosen == SERVING_OVERLAP else chosen), len(rows)


def fit_runtime_overlaps(tables: CatalogTables, rs: RecordSet, pooled: float, *, seed: int = 0) -> dict[str, float]:
    """Per runtime id with at least MIN_RECORDS server records publishing an SLO capacity, its own
    overlap where its records set it apart from ``pooled`` (the rule shrinks toward it)."""
    sub = rs.take(_server_rows(rs))
    return _per_runtime(sub, _errors(tables, sub), pooled, seed=seed)


def _by_runtime(sub: RecordSet, errors: dict[float, Array]) -> dict[str, dict[float, Array]]:
    """``errors`` (per grid value, one per record of ``sub``) split by runtime id, for each runtime with at
    least MIN_RECORDS records of its own."""
    runtimes = np.array([c.runtime.id for c in sub.configs])
    return {rid: {v: e[runtimes == rid] for v, e in errors.items()}
            for rid in sorted(set(runtimes.tolist())) if (runtimes == rid).sum() >= MIN_RECORDS}


def _per_runtime(sub: RecordSet, errors: dict[float, Array], pooled: float, *, seed: int = 0) -> dict[str, float]:
    """Per runtime with enough records (``_by_runtime``), its own choice where it differs from ``pooled``."""
    chosen = {rid: _choose(mine, pooled, seed=seed) for rid, mine in _by_runtime(sub, errors).items()}
    return {rid: value for rid, value in chosen.items() if value != pooled}
