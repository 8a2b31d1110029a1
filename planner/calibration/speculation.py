"""Speculative decoding and disaggregation as a measurement states them, mapped onto the planner's
own serving model (``planner.model.serving``): one mechanism for plans and for records.

A record's ``mlperf.speculative_decoding`` names a method and, where the submitter published them,
the drafted tokens k, the per-token acceptance a or the mean accepted length (tokens one verify
pass emits, E). ``drafter_of`` turns it into the planner's ``Drafter``:

* k: the record's, else the catalog drafter's (``planner.model.serving.ACCEPTANCE``).
* a: the record's; else solved from its E = (1 - a^(k+1)) / (1 - a) (Leviathan et al. 2023,
  arXiv 2211.17192, eq. 1; E rises with a, so the root is unique); else the catalog's published
  figure for the method (MTP: DeepSeek-V3 report s5.4.3; EAGLE: Li et al. 2024), applied per token
  at the record's k as the planner's model does (independent acceptances: eq. 1's assumption).
  A method with no sourced figure (EAGLE-2/3, Medusa, a draft model, n-gram lookup) and no
  published one in the record cannot be predicted: skipped with that reason, never a guessed rate.
* the draft pass's cost: one decoder layer of the target and its LM head (``planner.model.drafting``:
  MTP one block; EAGLE-1/2/3 one decoder layer [the EAGLE-3 head is one decoder layer, arXiv
  2503.01840 s3]); other methods: skipped (no draft cost model).

A record with ``mlperf.disaggregated`` ran prefill and decode on separate pools: the KV transfer,
the pools' sizes and the router are not in what the record states in a form
``planner.search.disagg`` can take as given (it searches pools, it does not predict a fixed pair),
so such a record is skipped with that reason rather than predicted as aggregated.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from planner.errors import InputError
from planner.model.estimate import Scenario
from planner.model.grid import Array, Grid
from planner.model.load.queueing import LengthDist
from planner.model.perf import MemoryModel, StepModel
from planner.model.scenarios import max_throughput, static_batch
from planner.model.serving import ACCEPTANCE, Drafter, Served, accepted_tokens
from planner.search.shapes.capacity import length_dists
from planner.workload import Tokens, Traffic

__all__ = [
    "METHODS", "ServedView", "StatedDisaggregation", "StatedSpeculation", "disaggregation_reason", "drafted_columns",
    "drafter_of", "method_of", "per_iteration", "served_view",
]

# How submitters and engines name a method -> the name used here
METHODS: dict[str, str] = {
    "mtp": "mtp", "nextn": "mtp", "deepseek_mtp": "mtp", "multi-token prediction": "mtp",
    "multi token prediction": "mtp",
    "eagle": "eagle", "eagle1": "eagle", "eagle-1": "eagle",
    "eagle2": "eagle2", "eagle-2": "eagle2",
    "eagle3": "eagle3", "eagle-3": "eagle3",
    "medusa": "medusa",
    "draft model": "draft_model", "draft_model": "draft_model", "draft-model": "draft_model",
    "draft": "draft_model", "speculative sampling": "draft_model",
    "ngram": "ngram", "n-gram": "ngram", "prompt lookup": "ngram", "lookahead": "lookahead",
}
# the methods whose draft pass ``planner.model.drafting`` models (one decoder layer of the target + its LM head)
_DRAFTED = frozenset({"mtp", "eagle", "eagle2", "eagle3"})
_FIELD = "mlperf.speculative_decoding"


def method_of(text: str) -> str | None:
    """The method a submitter's name stands for (None: not one known here)."""
    key = " ".join(text.lower().split())
    return METHODS.get(key) or METHODS.get(key.replace("_", " "))


@dataclass(frozen=True)
class StatedSpeculation:
    """Speculative decoding as a record states it (None fields: not stated)."""

    method: str  # a value of METHODS
    draft_tokens: int | None = None  # k
    acceptance: float | None = None  # per-token acceptance a, in (0, 1)
    accepted_length: float | None = None  # mean tokens per verify pass E, in [1, k + 1]
    draft_model: str | None = None


@dataclass(frozen=True)
class StatedDisaggregation:
    """Prefill and decode on separate pools, with their chips and workers (replicas) where stated."""

    prefill_chips: int | None = None
    decode_chips: int | None = None
    prefill_workers: int | None = None
    decode_workers: int | None = None

    @property
    def pools(self) -> tuple[int, int, int, int] | None:
        """(prefill chips, prefill workers, decode chips, decode workers) where all four are stated and each
        pool's chips divide evenly over its workers; None otherwise (the pair cannot be predicted)."""
        pc, pw, dc, dw = self.prefill_chips, self.prefill_workers, self.decode_chips, self.decode_workers
        if pc is None or pw is None or dc is None or dw is None or pc % pw or dc % dw:
            return None
        return pc, pw, dc, dw


def _acceptance_from_length(length: float, k: int) -> float:
    """The per-token a whose E(a, k) is ``length`` (E rises strictly with a from 1 at a = 0 to k + 1
    at a = 1, so the root is unique and bracketed)."""
    if not 1.0 <= length <= k + 1.0:
        raise InputError(f"mean accepted length {length:g} is outside [1, k + 1 = {k + 1}]", field=_FIELD)
    if length in (1.0, k + 1.0):
        return 0.0 if length == 1.0 else 1.0
    from scipy.optimize import brentq  # here: reading records needs scipy only for a stated length

    return float(brentq(lambda a: float(accepted_tokens(a, k)) - length, 0.0, 1.0, xtol=1e-12))


def drafter_of(s: StatedSpeculation) -> Drafter:
    """The planner's drafter for a stated speculation (module docstring); an InputError naming
    ``mlperf.speculative_decoding`` where no sourced figure or cost model covers it."""
    if s.method not in _DRAFTED:
        raise InputError(f"{s.method}: no draft-cost model for this method in the planner "
                         "(planner.model.drafting covers MTP and EAGLE-1/2/3)", field=_FIELD)
    catalog = ACCEPTANCE.get(s.method)
    if catalog is None and s.acceptance is None and s.accepted_length is None:
        raise InputError(f"{s.method}: no sourced per-token acceptance rate in the catalog "
                         "(planner.model.serving.ACCEPTANCE has mtp and eagle) and the record "
                         "publishes neither an acceptance rate nor a mean accepted length", field=_FIELD)
    k = s.draft_tokens or (catalog[0] if catalog else None)
    if k is None:
        raise InputError(f"{s.method}: the record states no draft tokens k and the catalog has no "
                         "default for the method", field=_FIELD)
    if s.acceptance is not None:
        a, band, source = s.acceptance, (s.acceptance, s.acceptance), "the record's stated acceptance"
    elif s.accepted_length is not None:
        a = _acceptance_from_length(s.accepted_length, k)
        band, source = (a, a), f"the record's mean accepted length {s.accepted_length:g} at k = {k}"
    else:
        assert catalog is not None  # checked above
        a, band, source = catalog[1], catalog[2], catalog[3]
    return Drafter(method=s.method, draft_tokens=k, acceptance=a, acceptance_range=band, source=source)


def disaggregation_reason(d: StatedDisaggregation) -> str:
    """Why a disaggregated record is not predicted: a stated pair is predicted (``predict._disaggregated``) only
    where both pools' chips and workers are stated and each pool's chips divide evenly over its workers."""
    pools = "" if d.prefill_chips is None or d.decode_chips is None else \
        f" ({d.prefill_chips} prefill + {d.decode_chips} decode chips)"
    return (f"prefill and decode on separate pools{pools}: predicted as a pair only with each pool's chips and "
            "workers stated (prefill_workers, decode_workers, the chips dividing evenly) and under load (server); "
            "not predicted as aggregated")


@dataclass(frozen=True)
class ServedView:
    """Rows of records as the engine runs them with a drafter (``Served``): the step and memory
    models, the lengths the queueing model takes (decode iterations, not tokens), the tokens one
    iteration emits per sequence (E; a TPOT per iteration is E x the per-token one) and output
    tokens per decode iteration of a request (tokens/s = iterations/s x ``tokens_per_iteration``)."""

    step: StepModel
    mem: MemoryModel
    input_tokens: LengthDist
    output_tokens: LengthDist
    emitted: float
    tokens_per_iteration: float


def _tokens(d: LengthDist) -> Tokens:
    if d.parts:
        raise ValueError("a mixture of lengths has no Tokens form")
    return Tokens(d.mean, d.p95, d.knots)


def served_view(grid: Grid, drafter: Drafter | None, input_tokens: LengthDist, output_tokens: LengthDist) -> ServedView:
    """The grid's rows under ``Served(drafter=drafter)``: ``Served.apply`` and ``Served.traffic``, the
    transform plans are searched with; without a drafter, the plain models and lengths."""
    if drafter is None:
        return ServedView(StepModel.build(grid), MemoryModel.build(grid), input_tokens, output_tokens, 1.0, 1.0)
    return pool_view(grid, Served(drafter=drafter), input_tokens, output_tokens)


def pool_view(grid: Grid, served: Served, input_tokens: LengthDist, output_tokens: LengthDist) -> ServedView:
    """The grid's rows under any ``Served`` transform (a drafter's, a disaggregated pool's): its step and memory
    models and the lengths the engine runs, as ``served_view``."""
    step, mem = StepModel.build(grid), MemoryModel.build(grid)
    original = Traffic(requests_per_s=1.0, input_tokens=_tokens(input_tokens), output_tokens=_tokens(output_tokens))
    seen = served.traffic(original)
    o = seen.output_tokens
    step, mem = served.apply(step, mem, original)
    return ServedView(step, mem, *length_dists(seen), served.emitted, output_tokens.mean / o.mean)


def drafted_columns(grid: Grid, drafter: Drafter | None, scenario: Scenario, *, batch: float, input_mean: float,
                    output_mean: float, replicas: float) -> Array:
    """One static-batch or max-throughput record's first six ``predict`` columns (tokens/s, TTFT,
    TPOT, e2e, TTFT p99, TPOT p99) with its drafter, on the mean lengths as the plain rows: the
    scenario runs the engine's decode iterations (``served_view``); tokens/s counts tokens, TPOT is
    per token (an iteration over the E tokens it emits)."""
    view = served_view(grid, drafter, LengthDist(input_mean), LengthDist(output_mean))
    i, o, cap = np.array([view.input_tokens.mean]), np.array([view.output_tokens.mean]), np.array([batch])
    if scenario is Scenario.STATIC_BATCH:
        res = static_batch(grid, batch=cap, input_tokens=i, output_tokens=o, models=(view.step, view.mem))
    else:
        res = max_throughput(grid, input_tokens=i, output_tokens=o, batch_cap=cap, models=(view.step, view.mem))
    tpot = res.tpot_s / view.emitted
    return np.concatenate([res.output_tokens_per_s * view.tokens_per_iteration * replicas, res.ttft_s, tpot,
                           res.e2e_s, res.ttft_s, tpot])


def per_iteration(slo: Mapping[str, float], emitted: float) -> dict[str, float]:
    """``slo`` as the queueing model checks it: a TPOT limit per decode iteration is E x the per-token
    one (``Served.workload``); the others unchanged."""
    return {key: v * emitted if key == "tpot_p99_s" else v for key, v in slo.items()}
