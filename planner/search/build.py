"""Turn solver solutions into Plan objects: per-deployment load, predicted latency, cost, binding.

Traffic is split across replicas in proportion to their SLO capacity, so every replica runs at
the same fraction of what it may carry; each deployment is then re-evaluated with the queueing
model at exactly its share, and a plan reports the worst deployment's latency percentiles.

The engine a deployment runs: the capacity search credits each replica shape what its engine carries
with the most sequences that fit (the runtime's cap, memory); at the deployment's share, the cap tuned to
the TPOT targets (``capacity.tuned_cap``: TPOT then holds at any load, a burst waits for a slot) is taken
wherever that engine also meets every SLO target there. Its cap is the deployment's ``max_batch``
(``--max-num-seqs``) and its latencies the plan's. Where the tuned engine would carry more than the
default, the search does not credit it (asking both engines in the search cost 15% more plan time for one
changed example plan: docs/design.md), so a plan is at worst costlier than it needs to be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import date

import numpy as np

from planner.domain import Catalog
from planner.economics.breakdown import explain_cost, mode_notes, owned_warnings
from planner.economics.rates import ChipRate, Pricing, chip_rate
from planner.levers.adaptation import Choice, confidence
from planner.levers.quality import unclaimed_on
from planner.model.chip_order import OrderFlag, order_flags
from planner.model.estimate import batch1_tpot
from planner.model.grid import Array
from planner.model.load.queueing import PERCENTILES, serve
from planner.model.perf import MemoryModel, StepModel
from planner.search.mix.solver import Solution
from planner.search.results import Cost, Deployment, Plan, QualityScore, per_million
from planner.search.shapes.candidates import universe
from planner.search.shapes.capacity import UTILIZATION, length_dists, meets_slo, tuned_cap
from planner.search.shapes.prepare import Prepared
from planner.search.shapes.row_memo import memoised
from planner.workload import HOURS_PER_MONTH, METRICS, Workload

__all__ = ["BINDING_SLACK", "build_plans", "limit_binding"]

BINDING_SLACK = 0.05  # a limit within 5% of the plan's value counts as binding


def build_plans(catalog: Catalog, p: Prepared, w: Workload, found: list[tuple[int, Solution]]) -> list[Plan]:
    if not found:
        return []
    rows = np.array([i for _, sol in found for i in sol.counts], dtype=np.int64)
    shares = np.concatenate([_shares(p, sol, w.traffic.peak) for _, sol in found])
    step, mem = p.served.apply(*universe(p.cand.tables).models(p.cand.universe_row[rows]), w.traffic)
    seen = p.served.workload(w)  # what the queueing model runs: computed tokens, TPOT per iteration
    input_tokens, output_tokens = length_dists(seen.traffic)
    overlap = p.overlap_of(rows)
    res = serve(step, mem, request_rate=shares, input_tokens=input_tokens, output_tokens=output_tokens,
                overlap=overlap)
    latency = {attr: dict(getattr(res, attr)) for attr in _LATENCIES}
    caps = p.max_batch[rows].astype(np.float64)
    # the tuned cap reads a row's constants and the question alone: kept per Universe row (``row_memo``)
    tuned = memoised(p.rows_memo, p.context, "tuned_cap", np.asarray(p.cand.universe_row[rows], dtype=np.int64), 1,
                     lambda at: tuned_cap(step.take(at), mem.take(at), seen.traffic, seen.slo,
                                          overlap if np.ndim(overlap) == 0 else np.asarray(overlap)[at])[None, :])[0]
    _tuned_engines(step, mem, seen, shares, overlap, latency, caps, tuned)
    plans, offset = [], 0
    for _, sol in found:
        n = len(sol.counts)
        sl = slice(offset, offset + n)
        offset += n
        plans.append(_plan(catalog, p, w, sol, rows[sl], shares[sl], latency, caps[sl], sl))
    return plans


_LATENCIES = ("ttft_s", "tpot_s", "e2e_s")  # ServerResult's, in METRICS order


def _tuned_engines(step: StepModel, mem: MemoryModel, seen: Workload, shares: np.ndarray, overlap: float | Array,
                   latency: dict[str, dict[int, Array]], caps: Array, tuned: Array) -> None:
    """Where the cap tuned to the TPOT targets (``tuned``: ``capacity.tuned_cap`` per row) binds and that engine
    meets every SLO target at the deployment's share, its cap and latencies replace the default engine's in
    ``caps`` and ``latency`` (module docstring)."""
    rows = np.flatnonzero(tuned < caps)
    if not rows.size:
        return
    i, o = length_dists(seen.traffic)
    alt = serve(step.take(rows), mem.take(rows), request_rate=shares[rows], input_tokens=i, output_tokens=o,
                batch_cap=tuned[rows], overlap=overlap if np.ndim(overlap) == 0 else np.asarray(overlap)[rows])
    ok = meets_slo(alt, seen.slo)
    take = rows[ok]
    for attr, by_pct in latency.items():
        for pct, values in by_pct.items():
            by_pct[pct] = values.copy()
            by_pct[pct][take] = getattr(alt, attr)[pct][ok]
    caps[take] = alt.max_batch[ok]


def _shares(p: Prepared, sol: Solution, demand: float) -> np.ndarray:
    idx = np.array(list(sol.counts), dtype=np.int64)
    counts = np.array(list(sol.counts.values()), dtype=np.float64)
    total = float(np.sum(counts * p.rate[idx]))
    return p.rate[idx] * demand / total


def _plan(catalog: Catalog, p: Prepared, w: Workload, sol: Solution, rows: np.ndarray,
          shares: np.ndarray, latency: dict[str, dict[int, Array]], caps: Array, sl: slice) -> Plan:
    c, t = p.cand, p.cand.tables
    counts = list(sol.counts.values())
    deployments = tuple(
        Deployment(hardware=t.hardware_ids[c.hardware[i]], chips_per_replica=int(c.tp[i] * c.pp[i]), tp=int(c.tp[i]),
                   pp=int(c.pp[i]), replicas=int(n), max_batch=int(cap),
                   requests_per_s_per_replica=float(s), slo_capacity_per_replica=float(p.rate[i]),
                   calibrated=bool(t.calibrated[c.hardware[i], c.runtime[i]]), ep=int(c.ep[i]),
                   dp_attention=int(c.ep[i]))  # EP runs with DP attention over the same chips (planner.model.moe)
        for i, n, s, cap in zip(rows, counts, shares, caps, strict=True))
    wide = ("expert_parallel", "dp_attention") if any(d.ep > 1 for d in deployments) else ()
    predicted: dict[str, float] = {}
    for metric, attr in zip(METRICS, _LATENCIES, strict=True):
        for pct in PERCENTILES:
            per_token = p.served.emitted if metric == "tpot_ms" else 1.0  # speculation: E tokens per iteration
            predicted[f"{metric}_p{pct}"] = float(np.max(latency[attr][pct][sl])) * 1e3 / per_token
    slo_cap = float(sum(n * p.rate[i] for i, n in zip(rows, counts, strict=True)))
    raw_cap = float(sum(n * p.raw_capacity[i] for i, n in zip(rows, counts, strict=True)))
    predicted["capacity_requests_per_s"] = slo_cap
    predicted["utilization"] = w.traffic.peak / raw_cap
    predicted["output_tokens_per_s_at_peak"] = w.traffic.peak * w.traffic.output_tokens.mean
    first = rows[0]  # model, formats, runtime and adaptation are the plan key's, shared by its rows
    model_id, runtime = t.model_ids[c.model[first]], t.runtime_ids[c.runtime[first]]
    precision, kv_precision = t.precision_ids[c.precision[first]], t.precision_ids[c.kv_precision[first]]
    pick = c.choice(int(first))
    cost = _cost(catalog, w, sol.cost_per_hour, one_time=pick.one_time if pick is not None else 0.0,
                 deployments=deployments, raw_capacity=raw_cap, predicted=predicted)
    plan = Plan(rank=0, model=model_id, precision=precision, kv_precision=kv_precision,
                adaptation=pick.adaptation if pick is not None else "none",
                runtime=runtime, deployments=deployments, predicted=predicted,
                quality=_quality(catalog, model_id, precision, kv_precision, w, pick, deployments), cost=cost,
                binding=(),
                features=p.served.features + wide,
                measured=catalog.measured_for(model_id, runtime, [d.hardware for d in deployments]),
                order=_order(catalog, model_id, precision, kv_precision, runtime, deployments))
    return _with_binding(plan, p, w, rows)


def _order(catalog: Catalog, model: str, precision: str, kv_precision: str, runtime: str,
           deployments: tuple[Deployment, ...]) -> tuple[OrderFlag, ...]:
    """Each deployment's chip where it reads slower at batch 1 than a chip it beats on paper."""
    def at(tp: int) -> Callable[[str], tuple[int, float] | None]:
        return lambda chip: batch1_tpot(catalog, model, chip, runtime, precision, kv_precision, tp)

    flags = {f.hardware: f for d in deployments
             for f in order_flags(catalog, runtime=runtime, hardware=d.hardware, tpot=at(d.tp))}
    return tuple(flags[h] for h in sorted(flags))


def _quality(catalog: Catalog, model_id: str, precision: str, kv_precision: str, w: Workload, pick: Choice | None,
             deployments: tuple[Deployment, ...]) -> QualityScore:
    """The plan's score with its evidence range and sources (planner.levers.quality); a KV cache below 16 bits
    is said to be outside them (quality.yaml has no evidence on it: the score neither gains nor loses by it); none
    where a deployment's chip computes the format in one the evidence does not cover (``unclaimed_on``), saying so."""
    model = catalog.models[model_id]
    why = next((r for d in deployments if (r := unclaimed_on(model, precision, catalog.hardware[d.hardware]))), None)
    if why is not None:
        return QualityScore(score=None, low=None, high=None, task=w.quality.task, sources=(why,))
    if pick is None or not pick.quality.known:
        return QualityScore(score=None, low=None, high=None, task=w.quality.task, sources=())
    q = pick.quality
    extra: tuple[str, ...] = () if pick.teacher is None else (f"distilled from {pick.teacher}",)
    kv = catalog.precisions.get(kv_precision)
    if kv is not None and kv.bytes_per_kv is not None and kv.bytes_per_kv < 2.0:  # below 16 bits
        extra += (f"KV cache at {kv_precision}: its effect on the score is not modelled (no source in quality.yaml)",)
    return QualityScore(score=q.score, low=q.low, high=q.high, task=w.quality.task, sources=q.sources + extra,
                        confidence=confidence(w, pick.adaptation))


def _grid_region(regions: tuple[str, ...], rates: list[tuple[ChipRate, int]]) -> str | None:
    """The region whose grid the plan's energy draws on: the first listed region where an offer behind
    its prices is (regions [us-west-2, us-east-1] priced by us-east-1 offers alone emit at us-east-1's
    grid, not us-west-2's), else the first listed; None: none listed (the default region)."""
    if not regions:
        return None
    used = {o.region for rate, _ in rates if rate.quote is not None for o in rate.quote.offers}
    return next((r for r in regions if r in used), regions[0])


def _cost(catalog: Catalog, w: Workload, per_hour: float, *, one_time: float, deployments: tuple[Deployment, ...],
          raw_capacity: float, predicted: dict[str, float]) -> Cost:
    """The plan's cost with its parts, token prices, energy and price sources (planner.economics.breakdown)."""
    t, pricing = w.traffic, w.constraints.pricing
    tokens_per_hour = t.requests_per_s * t.output_tokens.mean * 3600.0
    rates = []
    for d in deployments:
        rate = chip_rate(catalog, d.hardware, pricing, chips_per_replica=d.chips_per_replica)
        assert isinstance(rate, ChipRate)  # unpriced chips never reach a plan
        rates.append((rate, d.chips_per_replica * d.replicas))
    parts, energy, token_prices, sources = explain_cost(
        catalog, rates, one_time_per_month=one_time / w.budget.horizon_months,
        utilisation=t.requests_per_s / raw_capacity if raw_capacity > 0 else 1.0,
        region=_grid_region(pricing.regions, rates),
        input_tokens_per_hour=t.requests_per_s * t.input_tokens.mean * 3600.0, output_tokens_per_hour=tokens_per_hour,
        prefill_s=predicted["ttft_ms_p50"] / 1e3, decode_s=t.output_tokens.mean * predicted["tpot_ms_p50"] / 1e3,
        today=date.today())
    per_month = per_hour * HOURS_PER_MONTH + one_time / w.budget.horizon_months
    return Cost(per_hour=per_hour, per_month=per_month,
                per_million_tokens=per_million(per_month, tokens_per_hour), one_time=one_time,
                pricing=_label(pricing, rates), parts=parts, tokens=token_prices, energy=energy, sources=sources,
                rates=tuple(rates), notes=(*mode_notes(pricing.mode, per_hour, w.budget.horizon_months),
                                           *owned_warnings(catalog.owned, rates, today=date.today())))


def _label(pricing: Pricing, rates: list[tuple[ChipRate, int]]) -> str:
    """The pricing as the plan's cost was priced: '+ sheet' only where the price sheet priced one of its chips (a
    reviewer found 'on_demand + sheet' on a plan whose every price was public, the sheet having none that applied)."""
    sheet_used = any(rate.quote is not None and rate.quote.from_sheet for rate, _ in rates)
    return pricing.label if sheet_used else replace(pricing, sheet=None).label


def _with_binding(plan: Plan, p: Prepared, w: Workload, rows: np.ndarray) -> Plan:
    """Constraints that limit this plan: an SLO that stopped a replica's load, a full budget or quota."""
    binding = []
    last = len(UTILIZATION) - 1
    for metric, pct, limit in w.slo.items():
        above = p.above_ms[(metric, pct)]
        # the rung above a replica's load missed this target; where it has no latency (no steady state
        # there: above_ms is NaN or inf) stability stopped the load, which no relaxed target changes
        stopped = any(p.rung[i] < last and np.isfinite(above[i]) and above[i] > limit for i in rows)
        if stopped or plan.predicted[f"{metric}_p{pct}"] >= (1 - BINDING_SLACK) * limit:
            binding.append(f"slo.{metric}.p{pct}")
    q = w.quality.min_score
    if q is not None and plan.quality.score is not None and plan.quality.score - q <= 2.0:
        binding.append("quality.min_score")
    return Plan(**{**plan.__dict__, "binding": tuple(binding + limit_binding(plan, w))})


def limit_binding(plan: Plan, w: Workload) -> list[str]:
    """The budget, quota and hardware-type limits ``plan`` comes within ``BINDING_SLACK`` of (a quota: less
    than one more replica of its largest shape on that chip fits)."""
    binding = []
    b, near = w.budget, 1 - BINDING_SLACK
    if b.max_cost_per_month is not None and plan.cost.per_month >= near * b.max_cost_per_month:
        binding.append("budget.max_cost_per_month")
    per_million = b.max_cost_per_million_tokens
    if per_million is not None and plan.cost.per_million_tokens >= near * per_million:
        binding.append("budget.max_cost_per_million_tokens")
    for hw, quota in w.constraints.quotas.items():
        largest = max((d.chips_per_replica for d in plan.deployments if d.hardware == hw), default=0)
        if largest and plan.chips(hw) >= quota - largest + 1:
            binding.append(f"constraints.quotas.{hw}")
    if len(plan.hardware_types) >= w.constraints.max_hardware_types > 1:
        binding.append("constraints.max_hardware_types")
    return binding
