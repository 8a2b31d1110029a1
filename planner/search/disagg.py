"""Disaggregated prefill/decode serving as a plan shape: a prefill pool and a decode pool.

A request is prefilled on a prefill replica, its prompt's KV cache moves to a decode replica over
the network, and the decode replica generates the rest (DistServe, Zhong et al., OSDI 2024, arXiv
2401.09670; SGLang, vLLM, TensorRT-LLM/Dynamo: runtimes.yaml ``disaggregation`` rows).

    prefill pool  a queue of prefill jobs: the queueing model with one output token, TTFT targets
                  less the KV transfer; the engine's chunked-prefill scheduler batches the prompts
    decode pool   continuous batching of decode-only work: the prompt's KV arrives whole (it is
                  held, I + O tokens per sequence, but not computed: ``DecodePool``), TPOT targets,
                  tightened to leave an e2e target room behind the slowest prefill plan (``_decode_slo``);
                  its wait for a slot and first step join the pair's TTFT (``_join``)
    transfer      KV bytes of the prompt / the slower of the two pools' scale-out networks (each
                  replica's chips send or receive their shards in parallel); a chip without a
                  scale-out network cannot take part (the pools are separate replicas)

Each pool is sized by its own search (CP-SAT over replica counts, ``planner.search.run``). With the
TTFT budget split fixed, the joint problem separates exactly: costs add and every constraint is
one pool's. The split is the transfer time, which depends on the pair; pairs of the pools' best
plans (same model, weight and KV format, runtime) are checked against the full TTFT target; a
format on one pool's list but not the other's, or combined from the lists' weight and KV formats,
is searched in the pool that lacks it (``_paired_keys``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from planner.domain import Catalog
from planner.economics.breakdown import CostParts, Energy, TokenPrices, mode_notes
from planner.economics.owned import HOURS_PER_MONTH
from planner.model.grid import CatalogTables
from planner.model.serving import DISAGGREGATION, DecodePool, PrefillPool, kv_senders, prompt_kv_bytes
from planner.search.build import limit_binding
from planner.search.results import Cost, Plan, SearchStats, per_million
from planner.search.run import run_search
from planner.search.shapes.capacity import length_dists
from planner.text import compared_with
from planner.workload import Budget, Objective, Slo, Tokens, Traffic, Workload

__all__ = ["DecodePool", "PrefillPool", "compare", "disaggregated_plans", "transfer_s"]

PAIRS = 6  # best plans of each pool paired


def transfer_s(catalog: Catalog, plan_p: Plan, plan_d: Plan, input_tokens: float) -> float | None:
    """Seconds to move one prompt's KV from a prefill to a decode replica over the scale-out network (None: none):
    each chip of a replica holding a distinct shard sends it at once (``serving.kv_senders``), the slower side
    setting the pace."""
    kv = _prompt_kv_bytes(catalog, plan_p, input_tokens)
    model = catalog.models[plan_p.model]
    rates = []
    for d in (*plan_p.deployments, *plan_d.deployments):
        link = catalog.hardware[d.hardware].scale_out_bytes_per_s
        if not link:
            return None
        rates.append(link * kv_senders(model, d.chips_per_replica))
    return kv / min(rates)


def _prompt_kv_bytes(catalog: Catalog, p: Plan, input_tokens: float) -> float:
    """Bytes of one prompt's KV cache in plan ``p``'s KV precision (a plan's KV precision always
    has a byte size: grid.runnable_kv admits no other)."""
    kv = prompt_kv_bytes(catalog.models[p.model], catalog.runtimes[p.runtime], catalog.precisions[p.kv_precision],
                         input_tokens)
    if kv is None:
        raise ValueError(f"KV precision {p.kv_precision!r} has no bytes_per_kv")
    return kv


def _only(slo: Slo, metric: str, less_ms: float = 0.0) -> Slo:
    return Slo(targets={m: {p: v - less_ms for p, v in by.items()} for m, by in slo.targets.items() if m == metric})


def _decode_slo(w: Workload, pre: list[Plan], catalog: Catalog) -> Slo | None:
    """The decode pool's TPOT targets: the workload's, tightened so that an e2e target holds behind
    the slowest prefill plan found (its TTFT at that percentile and the KV transfer to a one-chip
    replica); None when that leaves decode no time. Without this the decode pool of an e2e-only
    workload was sized with no latency target, ran at its largest batch and no pair met the e2e."""
    slo = _only(w.slo, "tpot_ms")
    _, out = length_dists(w.traffic)
    if not pre or out.mean <= 1.0:
        return slo
    tokens = w.traffic.input_tokens.p95 or w.traffic.input_tokens.mean
    typical = out.quantile(0.5)
    for pct, limit in w.slo.targets.get("e2e_ms", {}).items():
        # a prefill plan predicts TTFT at its own targets' percentiles; p99 (the largest integer
        # percentile) stands in, conservatively, for one it lacks
        ahead = max(p.predicted.get(f"ttft_ms_p{pct}", p.predicted["ttft_ms_p99"])
                    + _transfer_bound_s(catalog, p, tokens) * 1e3 for p in pre)
        ahead_typical = max(p.predicted.get("ttft_ms_p50", p.predicted["ttft_ms_p99"])
                            + _transfer_bound_s(catalog, p, tokens) * 1e3 for p in pre)
        # both tails of ``_e2e``: a slow TTFT then a typical output, a typical TTFT then a long output
        tpot = min((limit - ahead) / max(typical - 1.0, 1e-9),
                   (limit - ahead_typical) / max(out.quantile(pct / 100.0) - 1.0, 1e-9))
        if tpot <= 0.0:
            return None
        slo = slo.with_target("tpot_ms", pct, min(tpot, slo.targets.get("tpot_ms", {}).get(pct, tpot)))
    return slo


def _transfer_bound_s(catalog: Catalog, p: Plan, input_tokens: float) -> float:
    """An upper bound on ``transfer_s`` from prefill plan ``p``: its slowest link, one chip sending."""
    link = min(catalog.hardware[d.hardware].scale_out_bytes_per_s or np.inf for d in p.deployments)
    return _prompt_kv_bytes(catalog, p, input_tokens) / link


def _pinned(w: Workload, key: tuple[str, str, str, str, str]) -> Workload:
    """``w`` searched only in the format of ``key`` (``Plan.key``: model, weights, KV, runtime, adaptation)."""
    model, precision, kv, runtime, adaptation = key
    c = replace(w.constraints, models=(model,), precisions=(precision,), kv_precisions=(kv,), runtimes=(runtime,),
                adaptations=(adaptation,))
    return replace(w, constraints=c)


@dataclass(frozen=True)
class TwoPool:
    """The two-pool search's plans and the statistics of each pool search it ran."""

    plans: list[Plan]
    searches: tuple[SearchStats, ...]


def disaggregated_plans(workload: Workload, catalog: Catalog, *, top: int, objective: Objective,
                        time_limit_s: float, tables: CatalogTables) -> TwoPool:
    """Plans of two pools, cheapest pairs first (``why`` left to the caller, which compares shapes), in about
    ``time_limit_s`` (half to each pool's first search, the pinned ones a share of that)."""
    t = workload.traffic
    prefill_w = replace(workload, name=f"{workload.name} (prefill pool)",
                        traffic=replace(t, output_tokens=Tokens(1.0), prefix=None),
                        slo=_only(workload.slo, "ttft_ms"), budget=_pool_budget(workload, 1.0))
    budget = max(0.5, time_limit_s / 2)
    # each pool's searches (its own, then pinned to the other pool's formats) ask the queueing model the
    # same questions of the shapes they share: the tables' store answers the repeats (planner.search.shapes.answers)
    searches: list[SearchStats] = []

    def searched(w: Workload, n: int, limit: float, served: PrefillPool | DecodePool) -> list[Plan]:
        result = run_search(w, catalog, top=n, objective=objective, time_limit_s=limit, tables=tables,
                            served=served).result
        searches.append(result.search)
        return list(result.plans)

    pre = searched(prefill_w, PAIRS, budget, PrefillPool())
    decode_slo = _decode_slo(workload, pre, catalog)
    if decode_slo is None:
        return TwoPool([], tuple(searches))
    decode_w = replace(workload, name=f"{workload.name} (decode pool)", slo=decode_slo,
                       budget=_pool_budget(workload, t.output_tokens.mean))
    decode = DecodePool(prefix_tokens=t.input_tokens.mean - 1.0)
    dec = searched(decode_w, PAIRS, budget, decode)
    # Each list is its own pool's front: a format cheap for prefill (fp8 weights, bf16 KV) can be
    # dominated on the decode side (by bf16 weights with fp8 KV at the same cost), and the format that
    # pairs best can be dominated on both (fp8 weights with fp8 KV: as cheap as fp8 / bf16 to prefill,
    # as bf16 / fp8 to decode, and of lower quality than either), so the lists may share no key and
    # miss the best pair's. A pair needs one key: every key one pool found, and every weight x KV
    # format of the lists' formats for a model, runtime and adaptation one of them has, is searched in
    # the pool that lacks it.
    keys = _paired_keys([*pre, *dec])
    for key in [k for k in keys if k not in {p.key for p in pre}]:
        pre += searched(_pinned(prefill_w, key), 1, budget / PAIRS, PrefillPool())
    for key in [k for k in keys if k not in {d.key for d in dec}]:
        dec += searched(_pinned(decode_w, key), 1, budget / PAIRS, decode)
    out = []
    for p in pre:
        for d in dec:
            if p.key != d.key:
                continue
            moved = transfer_s(catalog, p, d, t.input_tokens.p95 or t.input_tokens.mean)
            if moved is None:
                continue
            joined = _join(p, d, moved, workload)
            if joined is not None and _within_limits(joined, workload):
                out.append(replace(joined, binding=_binding(joined, workload)))
    return TwoPool(sorted(out, key=lambda x: x.cost.per_month)[:top], tuple(searches))


def _pool_budget(w: Workload, output_tokens: float) -> Budget:
    """The workload's budget as a pool of ``output_tokens`` outputs per request sees it. A per-month,
    carbon or one-time limit holds for each pool as for the pair (a pool costs and emits less than
    both), so each pool's search keeps it to prune; ``_within_limits`` checks the pair. A limit per
    million output tokens is one on the hourly cost: the pool's own outputs (one token per request
    in the prefill pool) would tighten it by the ratio of the output lengths, so it is scaled back."""
    b = w.budget
    if b.max_cost_per_million_tokens is None:
        return b
    return replace(b, max_cost_per_million_tokens=b.max_cost_per_million_tokens
                   * w.traffic.output_tokens.mean / output_tokens)


def _within_limits(plan: Plan, w: Workload) -> bool:
    """Whether the two pools together keep the workload's budget, carbon limit, quotas and limit on
    hardware types: each pool was searched within them alone, and what the pair uses adds up."""
    b, c = w.budget, w.constraints
    if b.max_cost_per_month is not None and plan.cost.per_month > b.max_cost_per_month:
        return False
    if b.max_cost_per_million_tokens is not None and plan.cost.per_million_tokens > b.max_cost_per_million_tokens:
        return False
    if b.max_kgco2e_per_month is not None:
        kg = plan.cost.energy.kgco2e_per_month if plan.cost.energy is not None else None
        if kg is None or kg > b.max_kgco2e_per_month:
            return False
    if any(plan.chips(hw) > quota for hw, quota in c.quotas.items()):
        return False
    return len(plan.hardware_types) <= c.max_hardware_types


def _binding(plan: Plan, w: Workload) -> tuple[str, ...]:
    """The pools' binding SLOs and quality floor, and the budget, quota and hardware-type limits the pair
    comes within ``BINDING_SLACK`` of (a pool's own nearness to a budget says nothing of the pair's)."""
    own = [b for b in plan.binding if b.startswith("slo.") or b == "quality.min_score"]
    return tuple(own + limit_binding(plan, w))


def _paired_keys(plans: list[Plan]) -> list[tuple[str, str, str, str, str]]:
    """The keys two pools' lists hold, then the formats they combine: for each model, runtime and
    adaptation the lists hold, every weight precision with every KV precision the lists hold for it
    (in the lists' order: the cheapest plans' formats first)."""
    found = list(dict.fromkeys(p.key for p in plans))
    formats: dict[tuple[str, str, str], tuple[dict[str, None], dict[str, None]]] = {}
    for model, weights, kv, runtime, adaptation in found:
        w, k = formats.setdefault((model, runtime, adaptation), ({}, {}))
        w[weights], k[kv] = None, None
    combined = [(model, weights, kv, runtime, adaptation)
                for (model, runtime, adaptation), (w, k) in formats.items() for weights in w for kv in k]
    return list(dict.fromkeys([*found, *combined]))


def compare(plans: list[Plan], disagg: list[Plan], rule: str) -> list[Plan]:
    """Pool aggregated and disaggregated plans (only the latter when required: each then says so, and
    what it costs against the best aggregated plan the rule leaves out), each saying why."""
    agg_best = min(plans, key=lambda x: x.cost.per_month, default=None)
    dis_best = min(disagg, key=lambda x: x.cost.per_month, default=None)
    if rule == "required":
        return [replace(p, why="required by constraints.serving.disaggregation; "
                        + _why(p, agg_best, "disaggregated", "aggregated")) for p in disagg]
    out = [replace(p, why=_why(p, dis_best, "aggregated", "disaggregated")) for p in plans]
    return out + [replace(p, why=_why(p, agg_best, "disaggregated", "aggregated")) for p in disagg]


def _why(p: Plan, other: Plan | None, shape: str, alt: str) -> str:
    """Which SLO the shape relieves and at what cost, against the best plan of the other shape."""
    if other is None:
        needs = " (disaggregation needs a scale-out network and runtime support)" if alt == "disaggregated" else ""
        return f"{shape}: no {alt} plan meets the SLOs{needs}"
    saving = other.cost.per_month - p.cost.per_month
    tpot = (p.predicted.get("tpot_ms_p50", 0.0), other.predicted.get("tpot_ms_p50", 0.0))
    ttft = (p.predicted.get("ttft_ms_p50", 0.0), other.predicted.get("ttft_ms_p50", 0.0))
    relief = ""
    if shape == "disaggregated":
        # (each side as predicted: a decode pool at its tuned batch can run a slower TPOT than the aggregated engine)
        relief = (f"decode in a pool of its own (p50 TPOT {tpot[0]:.1f} ms against {tpot[1]:.1f} aggregated), "
                  f"prefill in another (p50 TTFT {ttft[0]:.0f} against {ttft[1]:.0f} ms, incl. {p.why}); ")
    else:
        relief = (f"one pool, no KV transfer (p50 TTFT {ttft[0]:.0f} vs {ttft[1]:.0f} ms, "
                  f"TPOT {tpot[0]:.1f} vs {tpot[1]:.1f} ms); ")
    return f"{shape}: {relief}{compared_with(saving, f'the best {alt} plan (${other.cost.per_month:,.0f})')}"


def _join(p: Plan, d: Plan, moved_s: float, w: Workload) -> Plan | None:
    """The two pools as one plan, or None when TTFT with the transfer misses a target. A request's first token
    waits for the prefill pool, the KV transfer and then the decode pool's slot and first step (its own TTFT, the
    one-token prompt's): each TTFT quantile is the sum of the pools' (an upper bound where they are not
    comonotone), as the validator predicts a stated pair (``planner.calibration.predict._disaggregated``)."""
    predicted = dict(d.predicted)
    for pct in (50, 90, 95, 99):
        key = f"ttft_ms_p{pct}"
        if key in p.predicted:
            predicted[key] = p.predicted[key] + moved_s * 1e3 + d.predicted.get(key, 0.0)
    for pct, limit in w.slo.targets.get("ttft_ms", {}).items():
        if predicted.get(f"ttft_ms_p{pct}", np.inf) > limit:
            return None
    out = w.traffic.output_tokens.mean
    for pct in (50, 90, 95, 99):
        if f"e2e_ms_p{pct}" in predicted:
            predicted[f"e2e_ms_p{pct}"] = _e2e(predicted, w.traffic, pct)
    for pct, limit in w.slo.targets.get("e2e_ms", {}).items():
        if predicted.get(f"e2e_ms_p{pct}", np.inf) > limit:
            return None
    predicted["capacity_requests_per_s"] = min(p.predicted["capacity_requests_per_s"],
                                               d.predicted["capacity_requests_per_s"])
    cost = _joined_cost(p.cost, d.cost,
                        input_tokens_per_hour=w.traffic.requests_per_s * w.traffic.input_tokens.mean * 3600.0,
                        output_tokens_per_hour=w.traffic.requests_per_s * out * 3600.0)
    cost = replace(cost, notes=mode_notes(w.constraints.pricing.mode, cost.per_hour, w.budget.horizon_months))
    deployments = tuple(replace(x, role="prefill") for x in p.deployments) + \
        tuple(replace(x, role="decode") for x in d.deployments)
    features = tuple(dict.fromkeys((*DISAGGREGATION, *p.features, *d.features)))
    return replace(d, deployments=deployments, predicted=predicted, cost=cost, features=features,
                   why=f"{moved_s * 1e3:.1f} ms KV transfer",  # completed by ``compare``
                   binding=tuple(dict.fromkeys(p.binding + d.binding)),
                   # each pool's caveats: a chip's measured entry or chip-order flag may be the prefill pool's
                   measured=tuple(dict.fromkeys(p.measured + d.measured)),
                   order=tuple(dict.fromkeys(p.order + d.order)))


def _e2e(predicted: dict[str, float], traffic: Traffic, pct: int) -> float:
    """e2e at ``pct`` of the joined plan, as the aggregated model takes it
    (``planner.model.load.queueing``): the larger of a TTFT-driven tail (TTFT_q, then a median output
    at the median TPOT) and an output-driven one (the median TTFT, then the output's q-quantile at
    TPOT_q; the decode pool's TPOT_q bounds the mean per-token time of a long output from above).
    With the mean output for every percentile, a plan of lognormal outputs (p95 = 2.7 x the mean)
    passed e2e targets its long requests miss."""
    _, out = length_dists(traffic)
    typical = out.quantile(0.5)
    return max(predicted[f"ttft_ms_p{pct}"] + predicted["tpot_ms_p50"] * (typical - 1.0),
               predicted["ttft_ms_p50"] + predicted[f"tpot_ms_p{pct}"] * (out.quantile(pct / 100.0) - 1.0))


def _joined_cost(p: Cost, d: Cost, *, input_tokens_per_hour: float, output_tokens_per_hour: float) -> Cost:
    """The two pools' costs as one plan's: hourly costs, parts and energy add up (both pools serve the
    same requests), the one-time adaptation counts once (the pools share the adapted weights), and
    every chip's price keeps its offers.

    Token prices are the workload's, not the pools' sums: each pool's own figures are per token of
    what it sees (the prefill pool's outputs are one token long, so its $/M output was a prefill
    cost spread over one token per request). Input tokens carry the prefill pool's cost, output
    tokens the decode pool's, and the blend both over all tokens; energy per million output tokens
    is the pools' energy over the workload's output tokens."""
    parts = None if p.parts is None or d.parts is None else CostParts(
        compute=p.parts.compute + d.parts.compute, energy=p.parts.energy + d.parts.energy,
        hosting=p.parts.hosting + d.parts.hosting, adaptation=p.parts.adaptation)
    per_month = parts.total if parts is not None else p.per_month + d.per_month
    tokens = None if p.tokens is None or d.tokens is None else TokenPrices(
        per_million_input=p.per_hour / input_tokens_per_hour * 1e6,
        per_million_output=d.per_hour / output_tokens_per_hour * 1e6,
        per_million_blended=(p.per_hour + d.per_hour) / (input_tokens_per_hour + output_tokens_per_hour) * 1e6)
    sources = tuple({(s.hardware, s.usd_per_chip_hour): s for s in (*p.sources, *d.sources)}.values())
    return Cost(per_hour=p.per_hour + d.per_hour, per_month=per_month,
                per_million_tokens=per_million(per_month, output_tokens_per_hour),
                one_time=p.one_time, pricing=p.pricing, parts=parts, tokens=tokens,
                energy=_joined_energy(p.energy, d.energy, p.per_hour, d.per_hour,
                                      output_tokens_per_hour=output_tokens_per_hour), sources=sources,
                rates=p.rates + d.rates)


def _joined_energy(p: Energy | None, d: Energy | None, p_hour: float, d_hour: float, *,
                   output_tokens_per_hour: float) -> Energy | None:
    """Energies add; utilisation is the pools' mean weighted by their hourly cost (a stand-in for
    their chips' share); an unknown board power on either side leaves the total unknown. Energy per
    million output tokens is the total over the workload's output tokens."""
    if p is None or d is None:
        return p or d

    def add(a: float | None, b: float | None) -> float | None:
        return None if a is None or b is None else a + b

    kwh_month = add(p.kwh_per_month, d.kwh_per_month)
    return Energy(utilisation=(p.utilisation * p_hour + d.utilisation * d_hour) / max(p_hour + d_hour, 1e-12),
                  kwh_per_month=kwh_month,
                  kwh_per_million_output_tokens=None if kwh_month is None else
                  kwh_month / HOURS_PER_MONTH / output_tokens_per_hour * 1e6,
                  kgco2e_per_month=add(p.kgco2e_per_month, d.kgco2e_per_month), region=p.region,
                  g_co2e_per_kwh=p.g_co2e_per_kwh, note="; ".join(dict.fromkeys(n for n in (p.note, d.note) if n)))
