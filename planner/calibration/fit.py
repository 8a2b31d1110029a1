"""Fit efficiency coefficients to measurements: hierarchical shrinkage in log space.

Free parameters: theta = log of the five efficiency coefficients (compute, memory and
communication fractions, step overhead, collective latency) per hardware x runtime pair with
data, per vendor's chips of a family x runtime (AMD GPUs x vLLM: one software stack and its
kernels), and per hardware-family x runtime; and, per runtime with MoE records, the log of its
MoE expert efficiency (routed experts' FLOP/s as a share of the dense layers', at most 1,
shrunk toward 1 with ``lam_moe``: planner.model.moe.linear_flop_params). The fit minimises,
with scipy's bounded trust-region least squares (Jacobian by finite differences over a known
sparsity pattern),

    sum_records w_r sum_metrics rho(log predicted - log observed)
  + sum_pairs    sum_j rho(lam_pair_j (theta_pair_j - theta_vendor_j))
  + sum_vendors  sum_j lam_vendor_j^2 (theta_vendor_j - theta_family_j)^2
  + sum_families sum_j lam_fam_j^2  (theta_family_j - log prior_runtime_j)^2
  + sum_runtimes lam_moe^2 theta_moe_runtime^2

(rho: the soft L1 loss of ``FitOptions.robust_scale``, quadratic for small residuals), so a pair
with much data follows its data, a pair with little is pulled toward its vendor's chips, those
toward the family, and a family toward the runtime's prior (runtimes.yaml). A chip without data
takes its vendor's value in its family (``Catalog.efficiency``), else the family's. Fractions are
bounded to (0, 1], so decode at batch 1 is never faster than weight bytes / bandwidth. ``w_r``
weights records by the source's confidence. ``cross_validate`` refits on k - 1 folds and predicts
the held-out fold exactly as ``hwplan validate`` would, through the catalog's efficiency lookup.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import scipy.optimize
import scipy.sparse

from planner.calibration.bounds import log_bound
from planner.calibration.concurrency import fitted_concurrency
from planner.calibration.predict import EFFICIENCY_FIELDS, METRICS, Measurement, RecordSet, predict, predict_calibrated
from planner.calibration.serving_fit import ITERATION_GRID, fitted_serving
from planner.domain import Calibration, Catalog, Efficiency
from planner.errors import InputError
from planner.model.estimate import Scenario
from planner.model.grid import Array, CatalogTables, Efficiencies

__all__ = ["FitOptions", "FitResult", "at_bound", "cross_validate", "fit", "fold_indices", "group_cross_validate",
           "repeated_cross_validate"]

Progress = Callable[[str], None]
K = len(EFFICIENCY_FIELDS)  # coefficients per pair and per family: theta's columns, in EFFICIENCY_FIELDS order
_LOG_BOUNDS = (  # log-space bounds per coefficient
    (math.log(1e-3), 0.0),  # compute fraction
    (math.log(1e-3), 0.0),  # memory fraction
    (math.log(1e-3), 0.0),  # communication fraction
    (math.log(1e-6), math.log(2.0)),  # step overhead, s
    (math.log(1e-7), math.log(1e-2)),  # collective latency, s
)
# A runtime's MoE expert efficiency (planner.model.moe.linear_flop_params), in log space: at most the
# dense layers' FLOP/s (a grouped GEMM over the tokens routed to each expert is no faster than one
# GEMM over all of them), prior 1; the lower end is the efficiencies' numerical floor above, not a
# physical figure (a value there is listed in FitResult.at_bound with its reason).
_MOE_BOUNDS = (math.log(1e-3), 0.0)
CONFIDENCE_WEIGHT = {"high": 1.0, "medium": 0.8, "low": 0.5}
_UNSTABLE_RESIDUAL = math.log(10.0)  # a predicted overload counts as a 10x error


@dataclass(frozen=True)
class FitOptions:
    """Shrinkage strengths per coefficient (compute, memory, communication, overhead, latency)."""

    # The step overhead (4th) is fitted per pair, so nothing keeps a chip faster on paper from being fitted
    # slower: H200 x TensorRT-LLM 7.6 ms against H100's 4.0 ms (planner.model.chip_order flags such plans;
    # bench/chip_order.py lists them). Tying it across a compute die (97bdd57, reverted) or shrinking it at
    # 1.0 removed those inversions but cost TPOT cross-validated by round (static 28.7% -> 33.0% / 29.7%,
    # p99 26.4% -> 29.5% / 27.4%) and moved the pooled serving iteration 6 -> 8 ms: not taken.
    lam_pair: tuple[float, ...] = (0.5, 0.5, 0.3, 0.15, 0.15)
    lam_vendor: tuple[float, ...] = (0.5, 0.5, 0.3, 0.15, 0.15)
    lam_family: tuple[float, ...] = (0.3, 0.3, 0.3, 0.1, 0.1)
    # lam_vendor: the pair-level strengths reused for the vendor level (a prior, not tuned separately).
    # lam_moe: a runtime's MoE expert efficiency against its prior, 1 (``_MOE_BOUNDS``); the family
    # level's compute strength reused, not tuned (MLPerf Offline by round 10.6% / 89% within 25% with it).
    lam_moe: float = 0.3
    # Per METRICS column. TTFT counts double: it has a quarter as many observations as throughput
    # and alone pins prefill compute; p99s of static runs carry no information the model uses.
    # Under load (server records): throughput counts; the latencies at the record's rate and the
    # SLO capacity do not (``server_latencies``), see below.
    metric_weight: tuple[float, ...] = (1.0, 2.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    # Fit server records' latencies at their rate? Off: on MLPerf the queueing model's latency at
    # the submitted rate is biased ~2x low by its form (docs/accuracy.md, under load), not by the
    # efficiencies; fitting it moved them away from throughput (cross-validated by round, Offline
    # median APE 17.6% without them, 27.8% with).
    server_latencies: bool = False
    # Fit server records' throughput at their rate? Off: it equals the offered load wherever the
    # queue is stable, so it carries only the queueing model's stability at the submitted rate; where
    # that model's capacity runs low it forced the step model faster (cross-validated by round, fit
    # on v5.1 + public: v4.1 Offline over-predicted 1.31x, median APE 32%; without them 13%).
    # The step-time coefficients are then identified by static, max-throughput (Offline) records.
    server_throughput: bool = False
    # Robust loss on the records' log residuals (soft L1, Huber-like): quadratic below
    # ``robust_scale``, growing like its square root above it. A record the model misses by far more
    # than the others (a reference implementation submitted unoptimised, a mis-stated precision)
    # then pulls the coefficients it shares with every other record of its chip and runtime as
    # little as an error of a few times the scale would. None: plain least squares.
    robust_scale: float | None = 0.1  # log residual: a 10% miss (cross-validated by round: 0.1 beat 0.2 and 0.3)
    max_nfev: int = 200


@dataclass(frozen=True)
class FitResult:
    calibration: Calibration
    n_records: Mapping[tuple[str, str], int]  # per (hardware, runtime) pair fitted
    cost: float
    evaluations: int


def _eff_vector(e: Efficiency) -> Array:
    return np.log([e.compute, e.memory, e.communication, e.step_overhead_s, e.collective_latency_s])


def _efficiency(theta: Array, *, calibrated: bool, source: str) -> Efficiency:
    v = np.exp(theta)
    c, m, k, o, lat = (float(f"{x:.4g}") for x in v)  # round as calibration.yaml stores them
    return Efficiency(compute=min(c, 1.0), memory=min(m, 1.0), communication=min(k, 1.0),
                      step_overhead_s=o, collective_latency_s=lat, calibrated=calibrated, source=source)


@dataclass(frozen=True)
class _Problem:
    pairs: tuple[tuple[str, str], ...]  # (hardware, runtime)
    vendors: tuple[tuple[str, str, str], ...]  # (family, vendor, runtime)
    families: tuple[tuple[str, str], ...]  # (family, runtime)
    pair_of_record: Array  # int index into pairs
    vendor_of_pair: Array  # int index into vendors
    family_of_vendor: Array  # int index into families
    prior: Array  # [family, K] log prior of the runtime
    weights: Array  # [record]
    mask: Array  # [record, metric] bool: observed
    log_obs: Array
    moe_runtimes: tuple[str, ...]  # runtimes with MoE records: one MoE expert efficiency each
    moe_of_record: Array  # index into moe_runtimes, -1 for dense models
    used: npt.NDArray[np.intp]  # the records with a metric in the fit (``mask``): the only ones ``_residuals`` predicts


def _problem(catalog: Catalog, rs: RecordSet, *, server_latencies: bool, server_throughput: bool) -> _Problem:
    pairs = tuple(sorted({(c.hardware.id, c.runtime.id) for c in rs.configs}))
    vendor_of = {(h, r): (catalog.hardware[h].family, catalog.hardware[h].vendor, r) for h, r in pairs}
    vendors = tuple(sorted(set(vendor_of.values())))
    families = tuple(sorted({(f, r) for f, _v, r in vendors}))
    mask = ~np.isnan(rs.observed)
    server = np.array([m.scenario is Scenario.SERVER for m in rs.records], dtype=bool)
    if not server_latencies:
        mask[server, 1:] = False  # column 0: throughput
    if not server_throughput:
        mask[server, :] = False
    return _Problem(
        pairs=pairs,
        vendors=vendors,
        families=families,
        pair_of_record=np.array([pairs.index((c.hardware.id, c.runtime.id)) for c in rs.configs]),
        vendor_of_pair=np.array([vendors.index(vendor_of[pair]) for pair in pairs], dtype=np.int64),
        family_of_vendor=np.array([families.index((f, r)) for f, _v, r in vendors], dtype=np.int64),
        prior=np.array([_eff_vector(catalog.runtimes[r].prior) for _f, r in families]).reshape(-1, K),
        weights=np.array([CONFIDENCE_WEIGHT.get(m.confidence, 0.8) for m in rs.records]),
        mask=mask,
        log_obs=np.log(np.where(mask, rs.observed, 1.0)),
        moe_runtimes=(moe := tuple(sorted({c.runtime.id for c in rs.configs if c.model.experts > 1}))),
        moe_of_record=np.array([moe.index(c.runtime.id) if c.model.experts > 1 else -1 for c in rs.configs],
                               dtype=np.int64),
        used=np.flatnonzero(mask.any(axis=1)),
    )


def _moe_rows(theta_moe: Array, p: _Problem) -> Array:
    """Each record's MoE expert efficiency (1 for dense models: it does not enter their time)."""
    if theta_moe.size == 0:
        return np.ones(len(p.moe_of_record))
    return np.where(p.moe_of_record >= 0, np.exp(theta_moe[np.maximum(p.moe_of_record, 0)]), 1.0)


def _residuals(x: Array, p: _Problem, tables: CatalogTables, used: RecordSet, opts: FitOptions) -> Array:
    """``used``: the records ``p.used`` (those under load are out of the fit by default, ``FitOptions``: their
    queueing predictions, a third of this function's time, would only be masked away)."""
    n_pair, n_vendor, n_fam = len(p.pairs), len(p.vendors), len(p.families)
    theta_pair = x[: K * n_pair].reshape(n_pair, K)
    theta_vendor = x[K * n_pair: K * (n_pair + n_vendor)].reshape(n_vendor, K)
    theta_fam = x[K * (n_pair + n_vendor): K * (n_pair + n_vendor + n_fam)].reshape(n_fam, K)
    theta_moe = x[K * (n_pair + n_vendor + n_fam):]
    pred = np.full(p.mask.shape, np.nan)
    pred[p.used] = predict(tables, used, Efficiencies.from_columns(np.exp(theta_pair[p.pair_of_record[p.used]])),
                           capacity=False, moe_expert=_moe_rows(theta_moe, p)[p.used])
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.log(pred) - p.log_obs
    r = np.where(np.isfinite(r), r, _UNSTABLE_RESIDUAL)
    data = (r * p.weights[:, None] * np.asarray(opts.metric_weight)[None, :])[p.mask]
    if opts.robust_scale is not None:
        data = soft_l1(data, opts.robust_scale)
    shrink_pair = np.asarray(opts.lam_pair) * (theta_pair - theta_vendor[p.vendor_of_pair])
    if opts.robust_scale is not None:  # a pair far from its group (one submitter's outlier runs) moves it little
        shrink_pair = soft_l1(shrink_pair, opts.robust_scale)
    shrink_vendor = np.asarray(opts.lam_vendor) * (theta_vendor - theta_fam[p.family_of_vendor])
    shrink_fam = np.asarray(opts.lam_family) * (theta_fam - p.prior)
    return np.concatenate([data, shrink_pair.ravel(), shrink_vendor.ravel(), shrink_fam.ravel(),
                           opts.lam_moe * theta_moe])


def soft_l1(r: Array, scale: float) -> Array:
    """Residuals whose squares are the soft L1 loss: scale^2 * 2 (sqrt(1 + (r / scale)^2) - 1).

    Equal to r to first order near 0; beyond ``scale`` the square grows linearly in |r|, so an
    outlier's pull on the fit (the loss's gradient) stays below about 2 scale instead of 2 |r|.
    """
    z = r / scale
    return np.sign(r) * scale * np.sqrt(2.0 * (np.sqrt(1.0 + z * z) - 1.0))


def _sparsity(p: _Problem) -> scipy.sparse.lil_matrix:
    n_pair, n_vendor, n_fam, n_moe = len(p.pairs), len(p.vendors), len(p.families), len(p.moe_runtimes)
    first_moe = K * (n_pair + n_vendor + n_fam)
    rows = int(p.mask.sum()) + first_moe + n_moe
    jac = scipy.sparse.lil_matrix((rows, first_moe + n_moe), dtype=int)
    record_rows = np.nonzero(p.mask)[0]
    for row, rec in enumerate(record_rows):
        jac[row, K * p.pair_of_record[rec]: K * p.pair_of_record[rec] + K] = 1
        if p.moe_of_record[rec] >= 0:
            jac[row, first_moe + p.moe_of_record[rec]] = 1
    for k in range(n_moe):  # each MoE efficiency's shrinkage row
        jac[rows - n_moe + k, first_moe + k] = 1
    base = len(record_rows)
    # shrinkage rows: each level's parameter against its parent's (the family's against the prior)
    parents = [(q, n_pair + p.vendor_of_pair[q]) for q in range(n_pair)]
    parents += [(n_pair + v, n_pair + n_vendor + p.family_of_vendor[v]) for v in range(n_vendor)]
    parents += [(n_pair + n_vendor + f, None) for f in range(n_fam)]
    for k, (child, parent) in enumerate(parents):
        for j in range(K):
            jac[base + K * k + j, K * child + j] = 1
            if parent is not None:
                jac[base + K * k + j, K * parent + j] = 1
    return jac


def _bounds(catalog: Catalog, p: _Problem) -> tuple[Array, Array]:
    """Log-space bounds of every free parameter: _LOG_BOUNDS, with the collective latency held to
    its physical interval (planner.calibration.bounds): a pair's by its chip, a vendor's or family's by
    every catalog chip of that vendor and family or of that family (the value serves each of them)."""
    n = len(p.pairs) + len(p.vendors) + len(p.families)
    lo = np.tile([b[0] for b in _LOG_BOUNDS], n).reshape(-1, K)
    hi = np.tile([b[1] for b in _LOG_BOUNDS], n).reshape(-1, K)
    chips = [[catalog.hardware[h]] for h, _ in p.pairs]
    chips += [[h for h in catalog.hardware.values() if (h.family, h.vendor) == (fam, v)] for fam, v, _ in p.vendors]
    chips += [[h for h in catalog.hardware.values() if h.family == fam] for fam, _ in p.families]
    for row, members in enumerate(chips):
        lo[row, 4], hi[row, 4] = log_bound(members)
    n_moe = len(p.moe_runtimes)
    return (np.concatenate([lo.ravel(), np.full(n_moe, _MOE_BOUNDS[0])]),
            np.concatenate([hi.ravel(), np.full(n_moe, _MOE_BOUNDS[1])]))


BOUND_REASONS = {
    ("collective_latency", "upper"): "the pair's tp > 1 records are slower than link bandwidth plus the physical "
    "all-reduce latency explain (planner.calibration.bounds); the bound keeps that remainder out of "
    "communication, where it would make batch-1 TPOT rise with tp; it stays as prediction error",
    ("collective_latency", "lower"): "the records carry no tp > 1 information that raises it; the floor is one "
    "link round trip",
    ("memory", "upper"): "decode is at or faster than the catalog's peak bandwidth at these records; a chip "
    "cannot exceed its peak, so the peak figure or the bytes counted per step understate (flagged)",
    ("compute", "upper"): "prefill is at or faster than the catalog's peak FLOP/s at these records; a chip "
    "cannot exceed its peak, so the peak figure or the records' TTFT understate (flagged)",
    ("compute", "lower"): "prefill far slower than the peak explains (an engine without optimised kernels)",
    ("memory", "lower"): "decode far slower than the bandwidth explains (an engine without optimised kernels)",
    ("communication", "upper"): "collectives at or above the link's figure: the link figure understates",
    ("communication", "lower"): "collectives far slower than the link explains",
    ("step_overhead", "upper"): "steps far slower than the roofline explains",
    ("step_overhead", "lower"): "no fixed cost per step is visible in the records",
    ("moe_expert", "upper"): "the runtime's MoE records run their routed experts at the dense layers' FLOP/s or "
    "faster: no grouped-GEMM penalty is visible, and a grouped GEMM is not faster than one over all the tokens",
    ("moe_expert", "lower"): "MoE records far slower than their FLOPs explain",
    ("serving_iteration", "upper"): "iterations under load far longer than their passes explain, at the grid's top "
    "(a fixed part of an iteration cannot exceed the fastest records' TPOT)",
}


def at_bound(catalog: Catalog, result: FitResult, *, tolerance: float = 0.01) -> dict[str, dict[str, str]]:
    """Fitted coefficients within ``tolerance`` (relative) of a bound, per pair or family label,
    each with the reason it sits there (``BOUND_REASONS``)."""
    names = ("compute", "memory", "communication", "step_overhead", "collective_latency")
    out: dict[str, dict[str, str]] = {}
    entries = [(f"{h} x {r}", [catalog.hardware[h]], e) for (h, r), e in result.calibration.pairs.items()]
    entries += [(f"{v} {f} x {r}", [h for h in catalog.hardware.values() if (h.family, h.vendor) == (f, v)], e)
                for (f, v, r), e in result.calibration.vendor_runtime.items()]
    entries += [(f"{f} family x {r}", [h for h in catalog.hardware.values() if h.family == f], e)
                for (f, r), e in result.calibration.family_runtime.items()]
    for label, members, e in entries:
        bounds = [*_LOG_BOUNDS[:4], log_bound(members)]
        theta = _eff_vector(e)
        hit = {}
        for j in range(K):
            for side, edge in (("lower", bounds[j][0]), ("upper", bounds[j][1])):
                if abs(theta[j] - edge) <= math.log1p(tolerance):
                    hit[names[j]] = f"at its {side} bound: {BOUND_REASONS[(names[j], side)]}"
        if hit:
            out[label] = hit
    for rt, eta in result.calibration.moe_expert.items():
        for side, edge in (("lower", _MOE_BOUNDS[0]), ("upper", _MOE_BOUNDS[1])):
            if abs(math.log(eta) - edge) <= math.log1p(tolerance):
                reason = BOUND_REASONS[("moe_expert", side)]
                out[f"MoE experts x {rt}"] = {"moe_expert": f"at its {side} bound: {reason}"}
    # the serving iteration cost's lower end, 0, is its prior (kept where the records do not set one)
    cal = result.calibration
    for label, cost in [("serving iteration (pooled)", cal.serving_iteration_s),
                        *((f"serving iteration x {rt}", c) for rt, c in cal.serving_iteration_runtime.items())]:
        if cost is not None and cost >= ITERATION_GRID[-1]:
            out[label] = {"serving_iteration": f"at its upper bound: {BOUND_REASONS[('serving_iteration', 'upper')]}"}
    return out


def fit(catalog: Catalog, rs: RecordSet, *, options: FitOptions | None = None) -> FitResult:
    """Fit per-pair and per-family efficiencies to the records of ``rs`` (see module doc)."""
    if len(rs) == 0:
        raise InputError("no usable measurement to fit", field="measurements")
    opts = options or FitOptions()
    # the efficiencies are fitted at the serving prior (no iteration cost, as at the prior overlap), whatever
    # the catalog's calibration holds; ``fitted_serving`` then fits both on the records under load. The
    # engines' caps on concurrent sequences come first, from these records alone (Little's law): they bound
    # the batch every scenario's prediction runs at
    caps = fitted_concurrency(rs)
    catalog = replace(catalog, calibration=replace(catalog.calibration.at_iteration_prior(), serving_concurrency=caps))
    p = _problem(catalog, rs, server_latencies=opts.server_latencies, server_throughput=opts.server_throughput)
    tables = CatalogTables.from_catalog(catalog)
    x0 = np.concatenate([p.prior[p.family_of_vendor[p.vendor_of_pair]].ravel(),
                         p.prior[p.family_of_vendor].ravel(), p.prior.ravel(), np.zeros(len(p.moe_runtimes))])
    lo, hi = _bounds(catalog, p)
    x0 = np.clip(x0, lo + 1e-9, hi - 1e-9)
    sol = scipy.optimize.least_squares(
        _residuals, x0, jac_sparsity=_sparsity(p), bounds=(lo, hi), method="trf",
        x_scale=1.0, max_nfev=opts.max_nfev, args=(p, tables, rs.take(p.used.tolist()), opts))
    n_pair = len(p.pairs)
    counts = np.bincount(p.pair_of_record, minlength=n_pair)
    pairs = {pair: _efficiency(sol.x[K * q: K * q + K], calibrated=True,
                               source=f"fit on {counts[q]} records")
             for q, pair in enumerate(p.pairs)}
    n_vendor = len(p.vendors)
    vendor_counts = np.bincount(p.vendor_of_pair, weights=counts, minlength=n_vendor)
    vendors = {key: _efficiency(sol.x[K * (n_pair + v): K * (n_pair + v) + K], calibrated=False,
                                source=f"{key[1]} {key[0]} prior fitted on {int(vendor_counts[v])} records")
               for v, key in enumerate(p.vendors)}
    fam_counts = np.bincount(p.family_of_vendor, weights=vendor_counts, minlength=len(p.families))
    first = n_pair + n_vendor
    families = {fam: _efficiency(sol.x[K * (first + f): K * (first + f) + K], calibrated=False,
                                 source=f"{fam[0]} family prior fitted on {int(fam_counts[f])} records")
                for f, fam in enumerate(p.families)}
    theta_moe = sol.x[K * (first + len(p.families)):]
    moe_expert = {rt: float(f"{math.exp(t):.4g}") for rt, t in zip(p.moe_runtimes, theta_moe, strict=True)}
    calibration = fitted_serving(catalog, Calibration(pairs=pairs, family_runtime=families, vendor_runtime=vendors,
                                                      moe_expert=moe_expert, serving_concurrency=caps), rs)
    return FitResult(
        calibration=calibration,
        n_records={pair: int(counts[q]) for q, pair in enumerate(p.pairs)},
        cost=float(sol.cost),
        evaluations=int(sol.nfev),
    )


def fold_indices(n: int, folds: int, *, seed: int = 0) -> list[Array]:
    """Held-out record indices of each of ``folds`` folds (a seeded shuffle, then round robin)."""
    if folds < 2 or folds > n:
        raise InputError(f"must be between 2 and the number of records ({n}), got {folds}", field="folds")
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[k::folds]) for k in range(folds)]


def cross_validate(catalog: Catalog, rs: RecordSet, *, folds: int = 5, options: FitOptions | None = None,
                   progress: Progress | None = None, seed: int = 0, pool: Sequence[int] | None = None) -> Array:
    """Held-out predictions [record, metric] (SI units): each fold predicted by a fit on the rest.

    ``pool``: the records the folds are drawn from (default all); the others are in every fit and
    never predicted (their rows stay nan). The shipped calibration is fitted on the public records
    and the MLPerf records together, so the static records' error is measured with the MLPerf ones
    always in the fit, as they are when it ships."""
    out = np.full((len(rs), len(METRICS)), np.nan)
    candidates = np.arange(len(rs)) if pool is None else np.asarray(pool, dtype=np.int64)
    for k, local in enumerate(fold_indices(len(candidates), folds, seed=seed)):
        test = candidates[local]
        train = np.setdiff1d(np.arange(len(rs)), test)
        result = fit(catalog, rs.take(train.tolist()), options=options)
        fitted = replace(catalog, calibration=result.calibration)
        out[test] = predict_calibrated(CatalogTables.from_catalog(fitted), rs.take(test.tolist()), result.calibration)
        if progress is not None:
            progress(f"fold {k + 1}/{folds}")
    return out


def repeated_cross_validate(catalog: Catalog, rs: RecordSet, *, folds: int = 5, repeats: int = 5,
                            options: FitOptions | None = None, progress: Progress | None = None,
                            pool: Sequence[int] | None = None) -> tuple[RecordSet, Array]:
    """Repeated k-fold CV (seeds 0 .. repeats-1): the records repeated, and their held-out predictions
    (``pool``: as ``cross_validate``).

    With few records per hardware family, one fold assignment decides whether a family's records
    are held out together; pooling several assignments measures the model, not that luck.
    """
    if repeats < 1:
        raise InputError(f"must be at least 1, got {repeats}", field="repeats")
    preds = [cross_validate(catalog, rs, folds=folds, options=options, progress=progress, seed=seed, pool=pool)
             for seed in range(repeats)]
    return rs.take(list(range(len(rs))) * repeats), np.vstack(preds)


def group_cross_validate(catalog: Catalog, rs: RecordSet, key: Callable[[Measurement], str], *,
                         options: FitOptions | None = None, progress: Progress | None = None,
                         fitted: dict[str, Catalog] | None = None,
                         held_out: Collection[str] | None = None) -> tuple[Array, dict[str, int]]:
    """Leave-one-group-out: each group's records predicted by a fit on all the others.

    By MLPerf round (fit on v4.1, predict v5.1 and back) this is the check of a later round; by
    system, of a system never seen. Rows whose group is the only one are left nan (nothing to
    fit on). Returns held-out predictions [record, metric] and the records per group; ``fitted``,
    when given, receives each group's held-out catalog (the one that predicted it). ``held_out``: the
    groups to hold out (default all); the others' records are in every fit and stay nan (as ``pool``
    in ``cross_validate``: the public records beside the MLPerf rounds, one fit fewer)."""
    groups: dict[str, list[int]] = {}
    for j, m in enumerate(rs.records):
        groups.setdefault(key(m), []).append(j)
    out = np.full((len(rs), len(METRICS)), np.nan)
    if len(groups) < 2:
        raise InputError(f"cross-validation by group needs at least two groups, got {sorted(groups)}",
                         field="cv_by")
    tested = {g: rows for g, rows in groups.items() if held_out is None or g in held_out}
    for n, (name, test) in enumerate(sorted(tested.items())):
        train = np.setdiff1d(np.arange(len(rs)), test)
        result = fit(catalog, rs.take(train.tolist()), options=options)
        without = replace(catalog, calibration=result.calibration)
        out[test] = predict_calibrated(CatalogTables.from_catalog(without), rs.take(test), result.calibration)
        if fitted is not None:
            fitted[name] = without
        if progress is not None:
            progress(f"group {n + 1}/{len(tested)}: {name}")
    return out, {g: len(v) for g, v in groups.items()}
