"""Server scenario: Poisson arrivals served by a continuous-batching engine (chunked prefill).

Model (checked against the discrete-event simulation in ``planner.model.load.simulate`` by the tests):

* Iterations as a Markov chain. With B sequences decoding, an iteration that prefills j prompts
  lasts s_j = step_time(B decodes + j * I prompt tokens). The prompts it prefills are the ones
  that arrived during the previous iteration, so j_next ~ Poisson(lam * s_j): a chain on j
  (0 .. K - 1, the tail lumped into the last state) whose stationary law pi gives the mean
  iteration tau = sum_j pi_j s_j. Prefills are lumpy (a whole prompt at a time), so tau is well
  above the step time of the mean token mix (Jensen: step time is a max of rooflines); a fluid
  model underestimates it by up to 2x near capacity.
* Little's law closes the loop: B = lam * (O - 1) * tau(B). tau is increasing in B and the
  smallest root is found by Chandrupatla's method on [0, B_max] (bracketed inverse quadratic
  interpolation, bisection where that is unsafe; a handful of chain evaluations instead of 40
  bisection steps). The engine is stable while lam is below its capacity, the rate at which an engine with
  every slot busy (the largest concurrency that fits: memory, scheduler cap) finishes requests
  (``capacity_rate``, ``full_batch_rate``), and while the root B stays below those slots.
* TPOT. Mean = tau. Concurrency behaves like an M/G/infinity count, so B is Poisson, its
  spread sqrt(B) amplified by the feedback 1 / (1 - lam (O - 1) dtau/dB) (more sequences ->
  longer iterations -> more sequences); TPOT_q is tau of the chain at B + z_q * that spread.
* TTFT. A request lands in an iteration of type j with the length-biased probability
  pi_j s_j / tau, waits for the rest of it (uniform on [0, s_j]), then is prefilled together
  with the k ~ Poisson(lam s_j) others that arrived in it: TTFT = U s_j + s_(k+1). The mean is
  exact; so are the quantiles: the mixture's CDF is piecewise linear, and each quantile is the
  exact interpolation on the segment where it crosses the level (prompts longer than
  max_batched_tokens - B run as extra passes inside step_time).
  First come first served: the request's own prefill ends with the pass that holds its last
  prompt token, so s_(k+1) is scaled by ``scheduler.fcfs_prefill_share`` (1 when all fit in one pass).
* Lengths. Token counts are lognormal fitted to mean and p95 (deterministic when no p95),
  mixtures of such, or empirical (quantile knots: a histogram, a benchmark's p50 / p99 / max).
  B, tau, the means and the chain size use the mean lengths.
* Percentiles under variable lengths (``_varied``, at the root B). The chain is rebuilt with
  iterations of random length: an iteration of j prompts holds Y_j tokens, the sum of j
  independent prompt lengths (its law by FFT convolution of the length's, cached per
  distribution), represented by the conditional means y_jm of probability bands m
  (PROMPT_STRATA, finer at the top: the long prompts make the tails). Then j' ~ Poisson(lam
  s(y_jm)) mixed over m: the chain stays Markov on j (the lengths in an iteration are fresh
  draws), so its stationary law is exact up to the bands. Assumed: a prompt longer than the
  token budget runs as extra passes of one iteration (the engine chunks it over several).
  TTFT: land in (j, m) with probability pi_j w_m s_jm / E[s] and wait U s_jm; the k' others that
  arrived and the request's own prompt (a fresh draw) are prefilled together: an iteration of
  k' + 1 prompts in band m'. The mixture of uniforms is inverted exactly as above, so a short
  prompt is credited its short prefill and a long one charged its own and the waiting it makes.
  With fixed prompts there is one band and this is the chain above.
  TPOT: a decoding request sees every iteration once (per token: weights pi_j w_m, an iteration
  of more prompt tokens than the budget counting as that many chunked ones); its TPOT is the
  mean of O - 1 such per-token times. Consecutive ones are correlated (a long iteration brings
  more prompts into the next): as an AR(1) of coefficient rho = lam ds/dj the mean of n has
  variance var / n (1 + 2 rho / (1 - rho) (1 - (1 - rho^n) / (n (1 - rho)))). Each output band
  (OUTPUT_STRATA, finer at the short end: short outputs see the tail) is a gamma of those moments
  (Wilson-Hilferty), the mixture's quantile found by safeguarded Newton steps
  (``planner.model.load.gamma_mixture``); TPOT_q is the larger of it and the concurrency quantile
  above. Each band's variance adds the load's slow drift over its lifetime, which its iterations
  do not average away (``planner.model.load.tpot_tail``: concurrency and arrival rate averaged over the
  window, amplified by the feedback gain): without it the TPOT tail p99 - p50 of long outputs was
  0.54-0.64 of the simulation's. Not modelled: short outputs that start decoding in a busy period
  (TPOT p99 -29..-36% vs the simulation with bimodal lengths at 60-85% load), and arrivals
  waiting for a slot when the concurrency reaches its cap.
* e2e_q: the larger of TTFT_q plus a median output at tau and a mean TTFT plus o_q tokens at
  the concurrency TPOT quantile (a long output averages its per-token noise away).
* The cap on concurrent sequences (``batch_cap``; else the runtime's and memory's). An engine tuned for a
  TPOT SLO runs with the largest cap at which its full batch meets the TPOT limit (``tpot_tuned_cap``:
  TPOT then holds at any load, and a burst past the cap waits for a slot, ``scheduler.slot_wait``), or
  with its default where that carries more within the SLO: the MLPerf records' predictions
  (``planner.calibration.predict``) choose so; a plan's deployment takes the tuned cap where that engine
  meets the SLO at its share, its capacity the default engine's (``planner.search.build``). The slot wait
  (``scheduler.slot_wait``: Halfin-Whitt's probability that every slot is taken, then an exponential wait
  behind a queue that the full engine, ``full_batch_rate``, drains, scaled by Allen-Cunneen's (1 + cv^2) / 2
  of the output length) puts the TTFT p99 at 0.50-1.62x the simulation's at 10-77 slots and 60-96% of the
  full engine's rate (tests/test_slot_wait.py).
* Past the capacity (rate at or above it, or B at the cap) there is no steady state: requests
  queue for a slot without bound, and ``serve`` gives nan latencies. The requests the engine
  admits decode at its full batch: ``overload_tpot`` (checked against the simulation run past
  capacity, tests/test_overload_tpot.py).

Cost. The chain size K (at most ``STATES`` at first) is chosen per row: a first guess from the chain at
the largest concurrency (``_sized``), checked at the root: a row whose last,
lumped state holds more than ``_TAIL`` of the stationary mass is solved again one size up.
Rows are grouped by K, so a lightly loaded row runs a chain of a few states (at ~zero load,
lam s_0 <= _TAIL, K = 1: all mass at j = 0, TTFT = U s_0 + s_1) and only rows near capacity
pay for 32. Short prompts at high rates bring more prompts into an iteration than that: a row whose
32-state chain still lumps more than ``_TAIL_WIDE`` goes on up to ``MAX_STATES`` (the sums of
more than STATES prompts by central-limit scaling, ``_sum_nodes``), unless its figures already
exceed a limit the caller gives (``serve``'s ``limits``: lumping only lowers them); a row whose
largest chain lumps its tail while one more prompt brings in one or more has no steady state.
Past MAX_STATES prompts per iteration the figures are lower bounds (tests/test_queueing_vs_simulation.py).
A chain evaluation is one StepModel call for the lengths, the transposed Poisson
matrix by doubled powers (``_arrivals``) and one batched LAPACK solve, which dominates at
K = 32. A row costs ~10 of them: both ends of its bracket (together), ~4-5 root steps (rows
leave as they converge, without the step that would only confirm the answer: ``_next_point``),
the chain at B + h for the feedback gain and one per distinct TPOT percentile (the median is B
itself; ones pinned by the clip are shared, and one capped at b_run is the bracket's top), all
in two calls.
Where the tail is already too heavy at a low end of the bracket, the row is given up there
(the tail only grows with B), and TTFT and TPOT are computed only for the rows that keep
their size. TTFT with fixed prompts sorts the K + K^2 breakpoints per row (a value sort, the
index riding in the low mantissa bits); with variable prompts (5 K starts x 5 K widths, ~26,000
breakpoints a row at K = 32) each quantile is found by ~5 Newton steps on the exact CDF, read from
prefix sums over the sorted widths, which never sorts the ends (``_uniform_mixture``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from planner.model.grid import Array, Grid
from planner.model.load.gamma_mixture import gamma_mixture_quantile
from planner.model.load.scheduler import (
    SERVING_OVERLAP,
    ServingStep,
    busy_probability,
    busy_threshold,
    fcfs_prefill_share,
    slot_wait,
)
from planner.model.load.tpot_tail import MAX_GAIN, MAX_RHO, slow_variance
from planner.model.perf import Memory, MemoryModel, StepModel, StepTime

if TYPE_CHECKING:
    from planner.workload import Tokens

__all__ = ["PERCENTILES", "SLOT_STEP", "STATES", "EndLengths", "LengthDist", "OverloadTpot", "ServerResult",
           "batch_limit", "capacity_rate", "end_lengths", "overload_tpot", "prefill_alone", "saturated_rate", "serve",
           "server", "slot_tokens", "tpot_tuned_cap"]

PERCENTILES = (50, 90, 95, 99)
STATES = 32  # prompts per iteration the standard chain tracks (0 .. STATES - 1): the size check's chain
# Short prompts at high rates bring more prompts into one iteration than STATES (a 0.5B model on B200 at
# 100-token prompts: ~60 near capacity); there the chain grows to MAX_STATES, and where even that lumps
# its tail the engine has no steady state (prompts arrive faster than iterations prefill them)
MAX_STATES = 128  # (1 / k! and the powers of _arrivals stay finite below ~170)
# experiments behind the values: docs/design.md, "Tuning constants and the experiments behind them"
_SIZES = (1, 2, 3, 4, 6, 8, 11, 16, 22, STATES, 64, MAX_STATES)  # chain sizes rows are grouped by
GUESS_CHECK = 4  # normal-tail guesses this large are sized on the chain at b_hi: a check vs a missed size
_TAIL = 1e-8  # largest probability a chain of size K < STATES may lump into its last state
_TAIL_WIDE = 0.1  # the same for STATES <= K < MAX_STATES: the standard chain grows only where it lumps a share
_CALL_COST = 4000  # fixed cost of a chain evaluation, in per-row state pairs: fewer groups vs larger chains
_TOL = 1e-9  # relative tolerance of the root finder for B (of its bracket, [0, B_max])
_ITERATIONS = 100  # cap on root-finder iterations
_STEP = 0.005  # least step of the root finder, in units of its tolerance
_SETTLE = 0.3  # a root predicted this many least steps from the newest point is taken there (``_next_point``)
_CONVERGING = 1e6  # ... once the last step was within this many tolerances (1e-3 of the bracket [0, B_max])
_Z95 = NormalDist().inv_cdf(0.95)
Limits = dict[tuple[str, int], float]  # ("ttft" | "tpot", percentile) -> seconds: latencies a caller rejects above


@functools.cache
def _inverse_factorials(states: int) -> Array:
    """1 / k!, k = 0 .. states - 1, as a column (read-only: shared between calls)."""
    inverse = np.ones((states, 1))
    inverse[1:, 0] = 1.0 / np.cumprod(np.arange(1.0, states))
    inverse.flags.writeable = False
    return inverse


@functools.cache
def _last_unit(states: int) -> Array:
    """The column (0, .., 0, 1) (read-only: shared between calls)."""
    unit = np.zeros((states, 1))
    unit[-1] = 1.0
    unit.flags.writeable = False
    return unit


def _arrivals(mean: Array, states: int, *, spare: int = 0, factorials: bool = True) -> Array:
    """a[k, n, j] = P(K = k), K ~ Poisson(mean[n, j]), k = 0 .. states - 1 (the tail is not lumped),
    then ``spare`` rows left unset (the stationary solve's normalisation row goes there).
    ``factorials=False``: e^-m m^k without the 1 / k!, for a caller that sums over j first and divides
    the smaller result (``_chain``'s band mixture: a pass over the whole tensor spared).

    Row j of the transition matrix of row n is a[:, n, j]. e^-m m^k / k!, with the powers built
    by doubling (the block k = h .. 2h - 1 is the block 0 .. h - 1 times m^h): log2(states)
    products over whole blocks, where a cumulative product along k runs one element at a time.
    Past m ~ 745, e^-m underflows and every probability is 0; m is capped at 1e3 so that the
    powers stay finite.
    """
    m = np.minimum(mean, 1e3)
    whole = np.empty((states + spare,) + m.shape)
    a = whole[:states]
    a[0] = np.exp(-m)
    done, power = 1, m
    while done < states:
        size = min(done, states - done)
        np.multiply(a[:size], power, out=a[done:done + size])
        done += size
        if done < states:  # (the square past the last block is not needed, and would overflow at m^128)
            power = power * power
    if factorials:
        a.reshape(states, -1)[...] *= _inverse_factorials(states)
    return whole


@dataclass(frozen=True)
class LengthDist:
    """Token-count distribution: lognormal with the given mean and 95th percentile, a mixture of
    such (``LengthDist.mixture``: e.g. mostly short prompts and a share of long documents), or
    empirical.

    ``knots`` (cumulative share, tokens), shares ascending in (0, 1], make it empirical: the
    quantile function is the piecewise-linear interpolation through them (flat below the first
    knot: only upper quantiles are read), as a published length histogram or a benchmark's
    p50 / p99 / max give it. ``mean`` is always the distribution's mean (the chain runs on it).
    """

    mean: float
    p95: float | None = None
    parts: tuple[tuple[float, LengthDist], ...] = ()  # a mixture's (weight, component) pairs
    knots: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        shares = [q for q, _ in self.knots]
        tokens = [t for _, t in self.knots]
        if any(not 0.0 < q <= 1.0 for q in shares) or shares != sorted(shares) or tokens != sorted(tokens):
            raise ValueError(f"knots must rise in share (0, 1] and in tokens, got {self.knots}")

    @classmethod
    def of(cls, tokens: Tokens) -> LengthDist:
        """A workload's token counts (``planner.workload.Tokens``: mean, p95, knots) as this distribution."""
        return cls(tokens.mean, tokens.p95, knots=tokens.knots)

    @classmethod
    def mixture(cls, parts: Sequence[tuple[float, LengthDist]]) -> LengthDist:
        """The mixture drawing component k with probability weight_k (weights > 0, summing to 1)."""
        weights = [w for w, _ in parts]
        if not parts or min(weights) <= 0 or not math.isclose(sum(weights), 1.0, abs_tol=1e-9):
            raise ValueError(f"mixture weights must be positive and sum to 1, got {weights}")
        if any(d.parts or d.knots for _, d in parts):
            raise ValueError("mixture components must be lognormal or fixed, not mixtures or empirical")
        mix = cls(sum(w * d.mean for w, d in parts), None, tuple(parts))
        return cls(mix.mean, mix.quantile(0.95), mix.parts)

    @classmethod
    def histogram(cls, bins: tuple[tuple[float, float], ...]) -> LengthDist:
        """From histogram bins (upper edge in tokens, share of requests), edges ascending.

        Within a bin tokens are taken uniform between the previous edge and this one (the first bin
        starts at 1 token: a request has at least one, so a first bin up to 1 is exactly one token),
        so the mean is sum share x (lower + upper) / 2 and the quantile function is linear inside
        each bin."""
        total = sum(share for _, share in bins)
        if total <= 0 or any(share < 0 for _, share in bins):
            raise ValueError("histogram shares must be non-negative with a positive sum")
        knots, cum, lower, mean = [], 0.0, min(1.0, bins[0][0]), 0.0  # (bins is not empty: total > 0)
        for edge, share in bins:
            mean += share / total * (lower + edge) / 2.0
            cum += share / total
            if share > 0:
                knots.append((min(cum, 1.0), float(edge)))
            lower = edge
        return cls(mean=mean, knots=tuple(knots))

    @functools.cached_property
    def sigma(self) -> float:
        """Solve p95 = mean * exp(z95 sigma - sigma^2 / 2) for the smaller root (of a lognormal)."""
        if self.parts:
            raise ValueError("a mixture has no single sigma: use its parts")
        if self.p95 is None or self.p95 <= self.mean:
            return 0.0
        disc = _Z95**2 - 2.0 * math.log(self.p95 / self.mean)
        return _Z95 - math.sqrt(disc) if disc > 0 else _Z95

    @functools.cached_property
    def cv2(self) -> float:
        """Squared coefficient of variation, variance / mean^2: exp(sigma^2) - 1 of a lognormal, 0 of a fixed
        length, from the components' second moments of a mixture, and of an empirical law from its quantile
        function (piecewise linear through the knots, flat below the first and above the last)."""
        if self.parts:
            second = sum(w * d.mean * d.mean * (1.0 + d.cv2) for w, d in self.parts)
            return max(second / (self.mean * self.mean) - 1.0, 0.0)
        if self.knots:
            shares = [0.0] + [q for q, _ in self.knots] + [1.0]
            tokens = [self.knots[0][1]] + [t for _, t in self.knots] + [self.knots[-1][1]]
            first = second = 0.0
            for k in range(len(shares) - 1):
                qa, ta, qb, tb = shares[k], tokens[k], shares[k + 1], tokens[k + 1]
                first += (qb - qa) * (ta + tb) / 2.0
                second += (qb - qa) * (ta * ta + ta * tb + tb * tb) / 3.0
            return max(second / (first * first) - 1.0, 0.0) if first > 0 else 0.0
        return math.expm1(self.sigma * self.sigma)

    @functools.cached_property
    def fixed(self) -> bool:
        """Every request has the mean length (a lognormal without a p95 above its mean)."""
        return not self.parts and not self.knots and self.sigma == 0.0

    def cdf(self, x: float) -> float:
        """P(length <= x)."""
        if self.parts:
            return sum(w * d.cdf(x) for w, d in self.parts)
        if self.knots:
            return float(np.interp(x, [k[1] for k in self.knots], [k[0] for k in self.knots], left=0.0))
        s = self.sigma
        if s == 0.0:
            return 1.0 if x >= self.mean else 0.0
        if x <= 0.0:
            return 0.0
        return NormalDist().cdf((math.log(x / self.mean) + s * s / 2.0) / s)

    def quantile(self, q: float) -> float:
        if self.knots:
            return float(np.interp(q, [k[0] for k in self.knots], [k[1] for k in self.knots]))
        if self.parts:  # between the components' own q-quantiles; the mixture's CDF is monotone
            lo = min(d.quantile(q) for _, d in self.parts)
            hi = max(d.quantile(q) for _, d in self.parts)
            for _ in range(100):
                if hi - lo <= 1e-9 * hi:
                    break
                mid = 0.5 * (lo + hi)
                lo, hi = (mid, hi) if self.cdf(mid) < q else (lo, mid)
            return hi
        s = self.sigma
        if s == 0.0:
            return self.mean
        return self.mean * math.exp(NormalDist().inv_cdf(q) * s - s * s / 2.0)


# tokens a slot's length is rounded up to: a policy of hwplan export (MaxText's max_prefill_predict_length and
# llama.cpp's context per slot are written in these steps), not a measured figure; the planner reserves what the
# export sets
SLOT_STEP = 256


@functools.cache
def slot_tokens(inp: LengthDist, out: LengthDist) -> float:
    """The length an engine without a paged KV cache allocates each slot's cache at for a workload: the p95
    prompt and the p95 output, each rounded up to SLOT_STEP tokens (what ``hwplan export`` sets: llama.cpp's
    --ctx-size per slot, MaxText's max_target_length, whose max_prefill_predict_length is the rounded
    prompt; a request past it is cut). The planner sizes such an engine's batch by it
    (``perf.MemoryModel``), so that the exported engine holds the planned slots."""
    def up(tokens: float) -> float:
        return SLOT_STEP * math.ceil(max(tokens, 1.0) / SLOT_STEP)

    return float(up(inp.quantile(0.95)) + up(out.quantile(0.95)))


def batch_limit(mem: MemoryModel, cap: npt.ArrayLike, inp: LengthDist, out: LengthDist) -> Array:
    """The most sequences an engine runs at these lengths (``MemoryModel.operating_batch`` at the mean lengths), an
    engine without a paged KV cache holding each at the workload's slot (``slot_tokens``): every caller with the
    length distributions asks this, so none sizes such an engine by the mean alone."""
    return mem.operating_batch(cap=cap, input_tokens=inp.mean, output_tokens=out.mean,
                               slot_tokens=slot_tokens(inp, out))


@dataclass(frozen=True)
class ServerResult:
    """Per-configuration latency figures at one arrival rate (seconds)."""

    ttft_mean_s: Array
    tpot_mean_s: Array
    e2e_mean_s: Array
    ttft_s: dict[int, Array]  # by percentile
    tpot_s: dict[int, Array]
    e2e_s: dict[int, Array]
    batch_mean: Array
    max_batch: Array
    capacity_requests_per_s: Array
    utilization: Array  # request_rate / capacity
    stable: npt.NDArray[np.bool_]
    output_tokens_per_s: Array
    memory: Memory
    decode: StepTime


@dataclass(frozen=True)
class _Chain:
    """The chain of K states at B decodes, per row: s[n, 0..K], pi[n, j], tau[n], and the band-mean
    iteration lengths d[n, 0..K, m] behind s (``_band_lengths``; one band with fixed prompts), which
    ``_varied`` reads at the root. The transitions are not kept: TTFT, which needs them at the root
    only, rebuilds them from d."""

    s: Array
    pi: Array
    tau: Array
    d: Array

    def take(self, rows: npt.NDArray[np.intp]) -> _Chain:
        return _Chain(self.s[rows], self.pi[rows], self.tau[rows], self.d[rows])

    def put(self, rows: npt.NDArray[np.intp], other: _Chain) -> None:
        self.s[rows], self.pi[rows], self.tau[rows], self.d[rows] = other.s, other.pi, other.tau, other.d


@dataclass(frozen=True)
class EndLengths:
    """Per row, the band-mean iteration lengths d[n, j, m] (j = 0 .. STATES, as ``_chain`` reads them) with
    no decodes and with the most sequences that fit (``serve``'s b_run): what every ``serve`` call on these
    rows evaluates for its first size guess (``_sized``) and its root's bracket (``_ends``), whatever the
    rate. A caller asking ``serve`` about many rates of the same rows computes them once (``end_lengths``)."""

    idle: Array
    full: Array

    def take(self, rows: npt.NDArray[np.intp]) -> EndLengths:
        return EndLengths(self.idle[rows], self.full[rows])


def end_lengths(model: StepModel, mem: MemoryModel, *, input_tokens: LengthDist, output_tokens: LengthDist,
                batch_cap: npt.ArrayLike = np.inf, overlap: float | Array = SERVING_OVERLAP) -> EndLengths:
    """``EndLengths`` of these rows as ``serve`` evaluates them at these lengths, cap and overlap: the same bits
    per row (a row's step time does not depend on the rows beside it)."""
    step = ServingStep.of(model, overlap)
    b_run = np.maximum(np.maximum(batch_limit(mem, batch_cap, input_tokens, output_tokens), 0.0), 1.0)
    return EndLengths(*(_state_lengths(step, b, input_tokens, output_tokens.mean, STATES)
                        for b in (np.zeros(len(b_run)), b_run)))


def _state_lengths(step: StepModel, b: Array, inp: LengthDist, o: float, states: int) -> Array:
    """d[n, j, m]: the iteration lengths ``_chain`` runs on at b[n] decodes, j = 0 .. states (one band m with
    fixed prompts: ``_lengths``; else ``_band_lengths`` over ``_sum_nodes``' bands)."""
    if inp.fixed:
        return _lengths(step, b, inp.mean, o, states)[:, :, None]
    return _band_lengths(step, b, _sum_nodes(inp, states, PROMPT_STRATA)[0], inp.mean, o)


def _known(lengths: EndLengths | None, states: int) -> EndLengths | None:
    """``lengths`` cut to a chain of ``states`` states (None past STATES: their tables go on past the STATES
    prompts kept; the first STATES + 1 rows of ``_sum_nodes``' table are any smaller chain's own)."""
    if lengths is None or states > STATES:
        return None
    return EndLengths(lengths.idle[:, : states + 1], lengths.full[:, : states + 1])


def _lengths(step: StepModel, b: Array, i: float, o: float, states: int) -> Array:
    """s[n, j]: iteration time with b[n] decodes and j prompts of i tokens, j = 0 .. states."""
    return step.total(decode_tokens=b[:, None], decode_context=i + o / 2.0,
                      prefill_tokens=np.arange(states + 1, dtype=np.float64)[None, :] * i, prefill_context=i)


def _stationary(mean: Array) -> Array:
    """pi with pi P = pi, sum pi = 1, for every row (batched linear solve), P_jk = P(k | mean[n, j]).

    pi (P - I) = 0 is (P^T - I) pi = 0, whose equation for the last state (the lumped tail) is
    replaced by sum pi = 1: that row of P^T, the only one the lumping changes, is never used (nor
    computed).
    """
    n, k = mean.shape
    if k == 1:
        return np.ones((n, 1))
    return _stationary_of(_arrivals(mean, k - 1, spare=1))


def _stationary_of(a: Array) -> Array:
    """``_stationary`` of the transposed transitions a[k, n, j] = P_jk of row n (overwritten; its last
    row k = K - 1 is replaced by the normalisation, so it may arrive unset)."""
    k, n = a.shape[:2]
    if k == 1:
        return np.ones((n, 1))
    a[-1] = 1.0
    _diagonal(a)[...] -= 1.0
    return np.asarray(np.linalg.solve(a.transpose(1, 0, 2), _last_unit(k))[..., 0], dtype=np.float64)


def _diagonal(a: Array) -> Array:
    """A writeable view [k, n] of a[k, n, k] for k = 0 .. K - 2 (a contiguous, [K, n, K]): every row's diagonal
    but the last state's. Element (k, n) lies at k (n K + 1) + n K of the flat buffer, so rows of n K + 1
    elements, read every K-th, are the diagonal (a plain view: einsum's "knk->nk" parsed its subscripts per call)."""
    assert a.flags.c_contiguous  # (reshape(-1) of another layout copies: the caller's -= would be lost)
    k, n = a.shape[:2]
    return a.reshape(-1)[: (k - 1) * (n * k + 1)].reshape(k - 1, n * k + 1)[:, : n * k : k]


def _band_lengths(step: StepModel, b: Array, y: Array, i: float, o: float) -> Array:
    """d[n, j, m]: iteration time with b[n] decodes and j prompts holding y[j, m] tokens (band m)."""
    per = y / np.maximum(np.arange(len(y), dtype=np.float64), 1.0)[:, None]  # mean prompt of the iteration
    return step.total(decode_tokens=b[:, None, None], decode_context=i + o / 2.0, prefill_tokens=y[None],
                      prefill_context=per[None])


def _chain(step: StepModel, b: Array, rate: Array, inp: LengthDist, o: float, states: int,
           lengths: Array | None = None) -> _Chain:
    """Iteration lengths, stationary law and mean iteration at b decodes (``lengths``: the band-mean
    iteration lengths d[n, j, m] at b where the caller has them, ``step`` then unused).

    With prompts of random length an iteration of j prompts holds Y_j tokens (``_sum_nodes``'
    bands): j' ~ Poisson(lam s(Y_j)) mixed over the bands, and s_j is the band-mean iteration.
    The step time is convex in the tokens (a max of rooflines), so this mean is above the step
    time of the mean prompt (Jensen), and Little's law turns that into more sequences in flight
    (against the simulation with a skewed prompt law at 90% load: B 422 at the mean prompt,
    804 simulated)."""
    if inp.fixed:
        s = _lengths(step, b, inp.mean, o, states) if lengths is None else lengths[:, :, 0]
        pi = _stationary(rate[:, None] * s[:, :states])
        return _Chain(s, pi, np.einsum("nj,nj->n", pi, s[:, :states]), s[:, :, None])
    y, wy = _sum_nodes(inp, states, PROMPT_STRATA)
    d = _band_lengths(step, b, y, inp.mean, o) if lengths is None else lengths
    s = d @ wy
    n, m_n = len(b), len(wy)
    if states == 1:
        pi = np.ones((n, 1))
    else:
        # the powers without their 1 / k'!, which divides the mixed law instead: a pass over a band count fewer
        arr = _arrivals((rate[:, None, None] * d[:, :states]).reshape(n, states * m_n), states - 1, factorials=False)
        mixed = _mix_bands(arr, wy, states)
        mixed[: states - 1] *= _inverse_factorials(states - 1)[:, :, None]
        pi = _stationary_of(mixed)  # (the last k', replaced there, is not computed)
    return _Chain(s, pi, np.einsum("nj,nj->n", pi, s[:, :states]), d)


def _mix_bands(arr: Array, wy: Array, states: int) -> Array:
    """P(k' | j) = sum_m wy[m] arr[k', n, (j, m)]: the transitions mixed over the prompt bands, [k', n, j]
    (one BLAS matrix-vector product; einsum's generic loop took twice as long); k' = 0 .. states - 1,
    those after arr's rows left unset."""
    mixed = np.empty((states, arr.shape[1], states))
    np.matmul(arr.reshape(-1, len(wy)), wy, out=mixed[:len(arr)].reshape(-1))
    return mixed


def _next_point(x1: Array, f1: Array, x2: Array, f2: Array, x3: Array, f3: Array, tol: Array
                ) -> tuple[Array, npt.NDArray[np.bool_]]:
    """Chandrupatla's next point, as a fraction t of the way from x1 (newest) to x2 (the other end),
    and the rows where x1 is the answer already.

    Inverse quadratic interpolation through the three latest points where it is safe (the
    points are close enough to a parabola in x(f): the test on xi and phi), bisection elsewhere.
    t is kept _STEP tol from both ends: once x1 is that close to the root, the next point lands
    across it and the bracket closes (Chandrupatla's tol / 2 would leave B only within tol / 2).

    That closing step only confirms x1: it lands _STEP tol across the root, and of the two ends
    the one with the smaller |g| is taken, x1 wherever the root is within _STEP tol / 2 of it (g
    is linear on that scale). So where the interpolation (converging: its last step below
    _CONVERGING tol) puts the root within _SETTLE _STEP tol of x1, x1 is the answer without that
    evaluation (the margin to _STEP tol / 2 covers the interpolation's own error, far smaller
    there). On the examples' 453 recorded calls this spares 10% of the root finder's chain
    evaluations and changes no result bit (bench/serve_replay.py).
    """
    dx, d12, d32 = x2 - x1, f1 - f2, f3 - f2
    with np.errstate(divide="ignore", invalid="ignore"):  # degenerate triples fall back to bisection
        xi, phi = dx / (x2 - x3), d12 / d32
        iqi = f1 / d32 * (f3 / d12 + (x3 - x1) / dx * f2 / (f3 - f1))
        t = np.where((phi * phi < xi) & ((1.0 - phi) ** 2 < 1.0 - xi), iqi, 0.5)
        edge = _STEP * tol / np.abs(dx)
        settled = (t == iqi) & (iqi >= 0.0) & (iqi < _SETTLE * edge) & (np.abs(x1 - x3) <= _CONVERGING * tol)
    return np.minimum(np.maximum(t, edge), 1.0 - edge), settled  # (np.clip, without its wrapper's cost)


def _tail_limit(states: int) -> float:
    """Largest probability a chain of ``states`` states may lump into its last state before its rows are
    solved again one size up (inf: never; one state is all mass at j = 0, MAX_STATES is the largest)."""
    if 1 < states < STATES:
        return _TAIL
    return _TAIL_WIDE if STATES <= states < MAX_STATES else math.inf


def _solve_batch(step: StepModel, rate: Array, b_hi: Array, grows: Array, inp: LengthDist, o: float,
                 states: int, top: tuple[_Chain, npt.NDArray[np.bool_]] | None = None, *, give_up: bool = True,
                 at_ends: EndLengths | None = None) -> tuple[Array, _Chain, npt.NDArray[np.bool_], Array]:
    """Smallest B with lam (O - 1) tau(B) <= B on [0, b_hi], the chain there, the rows given up, and
    tau at b_hi (``_group`` reads the TPOT of a percentile whose concurrency is capped there).

    g(B) = lam (O - 1) tau(B) - B: g(0) > 0 >= g(b_hi) brackets a root; with no sign change the
    answer is b_hi (over capacity) and with lam = 0 it is 0. Chandrupatla's method narrows each
    row's bracket [x1, x2] (x1 the newest point, x3 the one it replaced), the chains at both ends
    kept; a row is done once its bracket is within _TOL of b_hi, at the end where |g| is smaller
    (or once the interpolation puts the root so close to the newest point that the step closing
    the bracket could only confirm it: ``_next_point``).
    The first step is false position (exact where g is linear: at ~zero load, where the root is
    far below the tolerance).

    A chain of K < STATES states must hold at most _TAIL in its last, lumped state at the root.
    From B = grows on, every s_j grows with B, so the chain's law only moves up (its Poisson means
    lam s_j grow) and so does that mass: once the low end of a bracket holds more, so does the
    root, and the row is given up, to be solved again one size up.

    ``top`` (the chain at b_hi, for the rows marked: ``_sized`` solved it there) spares those rows
    that end's evaluation; ``at_ends`` (the iteration lengths at both ends, cut to this chain: ``_known``)
    every row its step times there. ``give_up=False``: every root is solved however much its chain lumps
    (``_group`` then weighs the row's figures).
    """
    c = rate * max(o - 1.0, 0.0)
    n = len(b_hi)
    ends = _ends(step, rate, b_hi, inp, o, states, top, at_ends)
    g_lo, g_hi = c * ends.tau[:n], c * ends.tau[n:] - b_hi
    b = np.where(g_hi > 0, b_hi, 0.0)
    out = ends.take(np.where(g_hi > 0, np.arange(n, 2 * n), np.arange(n)))
    limit = _tail_limit(states)
    checked, given_up = give_up and limit < math.inf, np.zeros(n, dtype=bool)
    rows = np.flatnonzero((g_lo > 0) & (g_hi <= 0))
    given_up[rows] = checked & (grows[rows] <= 0.0) & (ends.pi[rows, -1] > limit)
    rows = rows[~given_up[rows]]
    if rows.size == 0:
        return b, out, given_up, ends.tau[n:]
    lam, c_row, above, tol, sub = rate[rows], c[rows], grows[rows], _TOL * b_hi[rows], step.take(rows)
    # Each end's chain is not carried along (a copy per step): it is named by the evaluation it came
    # from (an index into ``seen``: 0 the ends, then one per step) and its row there, and read from
    # there for the rows that finish.
    seen = [ends]
    x1, f1, at1, row1 = np.zeros(rows.size), g_lo[rows], np.zeros(rows.size, dtype=np.intp), rows
    x2, f2, at2, row2 = b_hi[rows], g_hi[rows], np.zeros(rows.size, dtype=np.intp), rows + n
    x3, f3 = x2, f2
    t = f1 / (f1 - f2)
    for it in range(_ITERATIONS):
        x = x1 + t * (x2 - x1)
        ch = _chain(sub, x, lam, inp, o, states)
        fx = c_row * ch.tau - x
        same = (fx > 0) == (f1 > 0)  # x replaces x1 as the end on its side, else x1 becomes the other end
        x3, f3 = np.where(same, x1, x2), np.where(same, f1, f2)
        x2, f2, at2, row2 = (np.where(same, v2, v1) for v2, v1 in ((x2, x1), (f2, f1), (at2, at1), (row2, row1)))
        x1, f1, at1, row1 = x, fx, np.full(x.size, len(seen)), np.arange(x.size)
        seen.append(ch)
        done = (np.abs(x2 - x1) <= tol) | (np.abs(fx) <= 1e-14)
        heavy = (fx > 0) & (x >= above) & (ch.pi[:, -1] > limit) if checked else np.zeros_like(done)
        if it == _ITERATIONS - 1:
            done[:] = True
        done |= heavy
        t, settled = _next_point(x1, f1, x2, f2, x3, f3, tol)
        settled &= ~done
        if done.any() or settled.any():
            given_up[rows[heavy]] = True
            end = np.flatnonzero((done & ~heavy) | settled)
            first = settled[end] | (np.abs(f1[end]) < np.abs(f2[end]))
            b[rows[end]] = np.where(first, x1[end], x2[end])
            at, row = np.where(first, at1[end], at2[end]), np.where(first, row1[end], row2[end])
            for source in set(at.tolist()):
                pick = at == source
                out.put(rows[end[pick]], seen[source].take(row[pick]))
            left = np.flatnonzero(~(done | settled))
            if left.size == 0:
                break
            rows, sub = rows[left], sub.take(left)
            x1, f1, x2, f2, x3, f3, lam, c_row, above, tol, t = (
                v[left] for v in (x1, f1, x2, f2, x3, f3, lam, c_row, above, tol, t))
            at1, row1, at2, row2 = (v[left] for v in (at1, row1, at2, row2))
    return b, out, given_up, ends.tau[n:]


def _ends(step: StepModel, rate: Array, b_hi: Array, inp: LengthDist, o: float, states: int,
          top: tuple[_Chain, npt.NDArray[np.bool_]] | None, at_ends: EndLengths | None = None) -> _Chain:
    """The chains at 0 decodes, then at b_hi, of every row (n rows each), in one evaluation; the
    rows ``top`` marks take its chain at b_hi (and every row its iteration lengths from ``at_ends``, where given)."""
    n = len(b_hi)
    upper = np.arange(n) if top is None else np.flatnonzero(~top[1])
    rows = np.concatenate([np.arange(n), upper])
    lengths = None if at_ends is None else np.concatenate([at_ends.idle, at_ends.full[upper]])
    ch = _chain(step.take(rows), np.concatenate([np.zeros(n), b_hi[upper]]), rate[rows], inp, o, states, lengths)
    if top is None:
        return ch
    at_top = top[0].take(np.arange(n))  # a copy, filled in where ``top`` has none
    at_top.put(upper, ch.take(np.arange(n, rows.size)))
    lower = ch.take(np.arange(n))
    return _Chain(*(np.concatenate([a, b]) for a, b in zip((lower.s, lower.pi, lower.tau, lower.d),
                                                           (at_top.s, at_top.pi, at_top.tau, at_top.d), strict=True)))


def _ttft(ch: _Chain, rate: Array, share: Array) -> Array:
    """Mean of U s_j + share_k s_(k+1), j length-biased, k ~ Poisson(lam s_j) (share:
    ``planner.model.load.scheduler.fcfs_prefill_share``; its quantiles are those of ``_varied``, which
    takes this mixture as its one-band case)."""
    n, k = ch.pi.shape
    s_j, s_next = ch.s[:, :k], ch.s[:, 1:] * share
    p = _arrivals(rate[:, None] * s_j, k)  # p[k, n, j]: k arrivals in an iteration of type j
    p[-1] += np.maximum(1.0 - p.sum(axis=0), 0.0)  # the tail, lumped into the last k
    w = ch.pi * s_j / np.where(ch.tau > 0, ch.tau, 1.0)[:, None]  # length-biased landing probability
    p *= w  # the weight of component (j, k)
    return np.asarray(np.einsum("nj,nj->n", w, s_j) / 2.0 + np.einsum("knj,nk->n", p, s_next), dtype=np.float64)


def _uniform_mixture(starts: Array, widths: Array, p: Array, band: Array,
                     percentiles: tuple[int, ...] = PERCENTILES) -> dict[int, Array]:
    """``percentiles`` of the mixture of uniforms on [starts[n, a, b], starts[n, a, b] + widths[n, c]]
    of weights band[b] p[a, n, c] (p is overwritten): per row and level, the least t with CDF(t) >= the
    level (a CDF within _LEVEL_EPS below it counts: the weights sum to 1 up to rounding).

    The CDF is piecewise linear and each quantile an exact linear interpolation on its segment. A
    small mixture (``_SORT_MAX`` breakpoints per row: the chain's own TTFT) sorts its breakpoints
    (``_by_sorting``); a large one (variable lengths: 160 starts x 160 widths) finds each segment
    by Newton steps on the CDF (``_by_newton``), which never sorts the starts x widths ends.
    """
    n, k, b_n = starts.shape
    if not percentiles:  # (an SLO with no percentile targets)
        return {}
    if k * b_n * (widths.shape[1] + 1) <= _SORT_MAX:
        whole = (p[:, :, None, :] * band[:, None]).transpose(0, 2, 1, 3).reshape(k * b_n, n, -1) if b_n > 1 \
            else p * band[0]
        return _by_sorting(starts.reshape(n, k * b_n), widths, whole, percentiles)
    return _by_newton(starts, widths, p, band, percentiles)


def _argsort_rows(x: Array) -> npt.NDArray[np.int64]:
    """np.argsort(x, axis=1) for x >= 0, by sorting values rather than indices (~3x faster).

    The bit patterns of non-negative floats order like the floats. With the low mantissa bits
    of each replaced by its column index, the keys are distinct and sort into the order of the
    values, to 2^-(52 - bits) relative (~4e-13 with 2^11 columns): only values closer than that
    may come out in either order.
    """
    low = (1 << max((x.shape[1] - 1).bit_length(), 1)) - 1
    keys: npt.NDArray[np.int64] = x.view(np.int64) & ~low
    keys |= np.arange(x.shape[1])
    keys.sort(axis=1)
    keys &= low
    return keys


def _by_sorting(starts: Array, widths: Array, p: Array, percentiles: tuple[int, ...]) -> dict[int, Array]:
    """``_uniform_mixture`` of starts[n, a], weights p[a, n, c] (overwritten): the A starts are shared
    by all c (their density steps are summed), the A C ends are not; sorting the A + A C breakpoints
    and accumulating the density steps gives the CDF at each of them, and each level's segment is
    the count of breakpoints whose CDF is below it."""
    n, k = starts.shape
    c_n = widths.shape[1]
    p /= widths  # its density
    width = k + k * c_n  # per row: the A starts, then the end of component (a, c) at A + C a + c
    points, steps = np.empty((n, width)), np.empty((n, width))
    points[:, :k] = starts
    np.add(starts[:, :, None], widths[:, None, :], out=points[:, k:].reshape(n, k, c_n))
    steps[:, :k] = p.sum(axis=2).T
    np.negative(p.transpose(1, 0, 2), out=steps[:, k:].reshape(n, k, c_n))
    base = (np.arange(n) * width)[:, None]  # flat index of each row's first breakpoint
    order = _argsort_rows(points)
    order += base
    x = points.reshape(-1)[order]  # the breakpoints in order; the arrays they came from are reused
    slope = np.take(steps.reshape(-1), order, out=points, mode="clip")  # (clip: unbuffered; all in range)
    np.cumsum(slope, axis=1, out=slope)  # slope[:, m] holds on [x[:, m], x[:, m + 1]]
    cdf = steps
    cdf[:, 0] = 0.0
    np.subtract(x[:, 1:], x[:, :-1], out=cdf[:, 1:])
    cdf[:, 1:] *= slope[:, :-1]
    np.cumsum(cdf, axis=1, out=cdf)
    levels = np.asarray(percentiles) / 100.0
    below = (cdf[:, :, None] < levels - _LEVEL_EPS).sum(axis=1)  # [n, level]: the CDF rises along a row
    m = np.clip(below - 1, 0, width - 2) + base  # cdf[m] < q <= cdf[m + 1]
    a, f, d = x.reshape(-1)[m], cdf.reshape(-1)[m], slope.reshape(-1)[m]
    at = np.clip(a + (levels - f) / np.where(d > 0, d, np.inf), a, x.reshape(-1)[m + 1])
    return {pct: at[:, c] for c, pct in enumerate(percentiles)}


def _by_newton(starts: Array, widths: Array, p: Array, band: Array, percentiles: tuple[int, ...]) -> dict[int, Array]:
    """``_uniform_mixture`` by Newton steps. With the widths sorted, prefix sums over them of each a's
    weights (the mass of the components that have ended) and suffix sums of its densities (those
    still rising) give F and its slope at any t from one search per start: F(t) = sum over (a, b)
    of band[b] (ended(t - start) + (t - start) rising(t - start)); band[b] is shared by every
    start of a, so the sums are per a, not per (a, b). Each quantile starts at the normal one of
    the mixture's mean and variance and is kept in a bracket (bisection where a step leaves it or
    the slope is 0); it is exact once a step lands inside the linear segment it was taken on
    (the breakpoints next to t come from the same search)."""
    n, k, b_n = starts.shape
    levels = np.asarray(percentiles) / 100.0
    t = _normal_guess(starts, widths, p, band, levels)
    order = np.argsort(widths, axis=1)
    w = np.take_along_axis(widths, order, axis=1)  # [n, C], ascending
    sums = _ended_rising(p, w, order)
    first = starts.reshape(n, k * b_n)
    lo = np.repeat(first.min(axis=1), len(levels))  # F(lo) = 0: below every level
    hi = np.repeat(first.max(axis=1) + w[:, -1], len(levels))  # F(hi) = total weight
    t = np.clip(t, lo, hi)
    at, row = hi.copy(), np.repeat(np.arange(n), len(levels))
    a_of, weight = np.repeat(np.arange(k), b_n), np.tile(band, k)  # flat start -> its a, its band weight
    # the widths padded with 0 below and inf above: the breakpoints next to t read without clipping
    padded = np.concatenate([np.zeros((n, 1)), w, np.full((n, 1), np.inf)], axis=1)
    # the pending (row, level) pairs, each of these arrays aligned with them (compacted as pairs finish)
    pending, q, s_p, block = np.arange(n * len(levels)), np.tile(levels, n), first[row], a_of * n + row[:, None]
    for _ in range(_NEWTON):
        cdf, slope, before, after = _cdf_at(t, s_p, (w, padded), row, sums, block, weight)
        # The quantile is the least t with F(t) >= q: the root of F(t) = q, or the left end of a flat part
        # at the level (there F(t) within _LEVEL_EPS below q counts as reaching it).
        under = (cdf < q - _LEVEL_EPS) | ((cdf < q) & (slope > 0))
        with np.errstate(divide="ignore", invalid="ignore"):
            step = t + (q - cdf) / slope  # exact within t's linear segment [before, after]
            at_before = cdf - slope * (t - before)  # F(before), t's segment being linear down to it
        # below: the root is on [t, after] (or [t, hi] when no breakpoint lies between); above: on [before, t]
        done = np.where(under, (slope > 0) & ((step <= after) | (after >= hi)),
                        (at_before < q - _LEVEL_EPS) & (before < t))
        if done.any():
            at[pending[done]] = np.clip(step, np.where(under, t, before),
                                        np.where(under, np.minimum(after, hi), t))[done]
        lo = np.where(under, t, lo)
        hi = np.where(under, hi, np.where(before < t, before, t))  # F(before) >= q here
        closed = ~done & (hi - lo <= 4.0 * np.spacing(hi))  # a bracket of ulps
        if closed.any():
            at[pending[closed]] = hi[closed]
        left = ~(done | closed)
        if not left.all():
            if not left.any():
                break
            pending, q, s_p, block, row, lo, hi, step, t = (
                v[left] for v in (pending, q, s_p, block, row, lo, hi, step, t))
        t = np.where((step > lo) & (step < hi), step, 0.5 * (lo + hi))
    return {pct: at.reshape(n, -1)[:, c] for c, pct in enumerate(percentiles)}


def _ended_rising(p: Array, w: Array, order: npt.NDArray[np.intp]) -> Array:
    """Table row a n + r (a in row r of p[a, n, c], whose widths ``order`` sorts into w [n, C]): ended, the
    weight of its i narrowest components (real part, column i), and rising, the density of those from the i-th
    on (imaginary part, column C - i): the prefix sums of the weights and the suffix sums of the densities.

    Both run in one cumulative sum over complex numbers, weight + i density (the densities in reverse order):
    its real and imaginary parts are added apart, in the very order two sums would add them, and a cumulative
    sum is bound by the latency of each addition, so two at once cost about what one did."""
    k, n, c_n = p.shape
    parts = np.empty((k * n, c_n), dtype=np.complex128)
    mass = parts.real.reshape(k, n, c_n)  # the weight of a's i-th narrowest component (one gather along (n, c))
    mass[...] = np.take(p.reshape(k, n * c_n), order + (np.arange(n) * c_n)[:, None], axis=1)
    np.divide(mass, w, out=parts.imag.reshape(k, n, c_n)[:, :, ::-1])  # its density, the widest first
    sums = np.empty((k * n, c_n + 1), dtype=np.complex128)
    sums[:, 0] = 0.0
    np.cumsum(parts, axis=1, out=sums[:, 1:])
    return sums


def _normal_guess(starts: Array, widths: Array, p: Array, band: Array, levels: Array) -> Array:
    """Per (row, level), flattened: the level's quantile of the normal law of the mixture's mean and
    variance (the first Newton point)."""
    s1, s2 = starts @ band, (starts**2) @ band  # [n, a]: sum over b of band[b] start, start^2
    total = float(band.sum())
    # [n, a, 0 | 1 | 2]: sum over c of p, p w and p w^2 in one batched BLAS product, one pass over p (three
    # einsums over it, one of three operands, took twice this whole function)
    moments = np.matmul(p.transpose(1, 0, 2), np.stack([np.ones_like(widths), widths, widths * widths], axis=2))
    mass, by_width, by_square = moments[:, :, 0], moments[:, :, 1], moments[:, :, 2]
    mean = np.einsum("na,na->n", mass, s1) + total * by_width.sum(axis=1) / 2.0
    second = (np.einsum("na,na->n", mass, s2) + np.einsum("na,na->n", by_width, s1)
              + total * by_square.sum(axis=1) / 3.0)  # E[(s + U w)^2]
    z = np.array([NormalDist().inv_cdf(q) for q in levels])
    return np.asarray((mean[:, None] + z * np.sqrt(np.maximum(second - mean**2, 0.0))[:, None]).ravel())


def _cdf_at(t: Array, s: Array, widths: tuple[Array, Array], rows: npt.NDArray[np.intp], sums: Array,
            block: npt.NDArray[np.intp], weight: Array) -> tuple[Array, Array, Array, Array]:
    """F(t), its slope on the right of t, and the breakpoints next to t (the last at or below it, the
    first above), for rows[p] at t[p], with starts s[p, start] (``_by_newton``; flat indices throughout).
    ``widths``: the sorted widths [n, C] and the same padded with 0 before and inf after; ``sums``: the
    ended and rising table (``_ended_rising``)."""
    w, padded = widths
    c_n = w.shape[1]
    u = t[:, None] - s  # [p, start]: time since each start
    rose = u >= 0
    since = np.maximum(u, 0.0)
    i = _count_below(w, rows, since)  # components of each start ended by t
    at = block * (c_n + 1)
    slope_a = np.where(rose, sums.imag.reshape(-1)[at + (c_n - i)], 0.0)
    at += i
    cdf = (sums.real.reshape(-1)[at] + since * slope_a) @ weight
    # the width ending before t is padded[i] (0: the start itself), the next one padded[i + 1] (inf: none)
    near = i + (rows * (c_n + 2))[:, None]  # flat index into padded of the width ending before t
    edge = padded.reshape(-1)[near]
    before = np.where(rose | (i > 0), s + edge, -np.inf)
    near += 1
    edge = padded.reshape(-1)[near]
    after = np.where(rose, s + edge, s)
    return cdf, slope_a @ weight, before.max(axis=1), after.min(axis=1)


def _count_below(w: Array, rows: npt.NDArray[np.intp], u: Array) -> npt.NDArray[np.intp]:
    """Per (p, start): how many of the sorted widths w[rows[p]] are <= u[p, start] (rows ascending:
    one search per row, on its run of pairs)."""
    count = np.empty(u.shape, dtype=np.intp)
    starts = np.flatnonzero(rows[1:] != rows[:-1]) + 1  # where each row's run begins (after the first)
    bounds = [0, *starts.tolist(), len(rows)]
    for row, lo, hi in zip(rows[bounds[:-1]].tolist(), bounds[:-1], bounds[1:], strict=True):
        count[lo:hi] = w[row].searchsorted(u[lo:hi], side="right")
    return count


# Length strata: a token-count sum is represented by the conditional means of these probability
# bands (finer towards the top: the tails of TTFT and TPOT are made by the longest prompts)
PROMPT_STRATA = (0.0, 0.5, 0.8, 0.95, 0.99, 1.0)
OUTPUT_STRATA = (0.0, 0.01, 0.03, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0)
_BINS = 512  # grid cells over one length's range (its 1 - 1e-5 quantile) for the sums' convolutions
_NEWTON = 200  # cap on Newton-bisection steps for a TTFT quantile (bisection alone needs ~60)
_LEVEL_EPS = 1e-12  # a mixture's CDF within this of a level reaches it (its weights sum to 1 up to rounding)
# breakpoints per row up to which a TTFT mixture sorts them: on the examples' mixtures, sorting the chain's
# own (at most 32 x 33) was ~4x faster than Newton steps, and Newton ~2x faster on 5 x 32 bands (~26,000)
_SORT_MAX = 2048


@functools.cache
def _length_pmf(dist: LengthDist) -> tuple[float, Array]:
    """(h, pmf): the length's probabilities on _BINS cells of width h up to its 1 - 1e-5 quantile,
    the far tail in the last cell."""
    h = dist.quantile(1.0 - 1e-5) / _BINS
    cdf = np.array([dist.cdf(x) for x in np.arange(_BINS + 1) * h])
    pmf = np.diff(cdf)
    pmf[-1] += 1.0 - cdf[-1]  # the far tail in the last cell
    pmf.flags.writeable = False
    return h, pmf


@functools.cache
def _sum_nodes(dist: LengthDist, states: int, strata: tuple[float, ...]) -> tuple[Array, Array]:
    """y[j, m], w[m]: Y_j, the sum of j independent lengths (j = 0 .. states), as the conditional
    means of the probability bands ``strata`` (w their widths). A fixed length has one node, j
    times it. Y_j's law is the j-fold convolution of the length's, on a grid (by FFT, each j on the
    least power-of-two length that holds it). Y_j does not depend on K: a chain of 1 < K < STATES
    states reads the first K + 1 rows of the STATES table, one convolution series per distribution;
    a larger one extends that table by the central limit scaling (below)."""
    if dist.fixed:
        return np.arange(states + 1.0)[:, None] * dist.mean, np.ones(1)
    if 1 < states < STATES:
        y, w = _sum_nodes(dist, STATES, strata)
        return y[: states + 1], w
    if states > STATES:
        # past STATES prompts the centred sum is scaled from the STATES-fold one by sqrt(j / STATES): its variance
        # exactly, its skew (falling as 1 / sqrt(j)) kept at the STATES-fold value, so its long bands a little long
        y, w = _sum_nodes(dist, STATES, strata)
        parts = np.arange(STATES + 1.0, states + 1.0)[:, None]
        wide = parts * dist.mean + np.sqrt(parts / STATES) * (y[-1] - STATES * dist.mean)
        out = np.vstack([y, wide])
        out.flags.writeable = False
        return out, w
    h, pmf = _length_pmf(dist)
    w = np.diff(np.asarray(strata))
    sub = 16  # quantile levels per band, averaged for its conditional mean
    levels = np.asarray(strata)[:-1, None] + w[:, None] * (np.arange(sub) + 0.5) / sub
    y = np.zeros((states + 1, len(w)))
    size, spectrum = 0, np.zeros(0, dtype=np.complex128)
    power = spectrum
    for j in range(1, states + 1):
        # the j-fold sum spans j (_BINS - 1) + 1 cells: a transform of j _BINS points (a power of two) holds
        # it without wrapping around, the j-fold spectrum a product per j at each size
        if (need := 1 << (j * _BINS - 1).bit_length()) != size:
            size, spectrum = need, np.fft.rfft(pmf, need)
            power = spectrum ** (j - 1)
        power = power * spectrum
        law = np.maximum(np.fft.irfft(power, size)[: j * _BINS], 0.0)
        edges = np.concatenate([[0.0], np.cumsum(law)])
        edges /= edges[-1]
        # cell c holds [c h, (c + 1) h) of each part's length, so the sum of j lies in [c h, (c + j) h):
        # read as uniform on the cell shifted by j / 2 cells (each part's mean offset)
        y[j] = (np.interp(levels, edges, np.arange(j * _BINS + 1.0)) + (j - 1) / 2.0).mean(axis=1) * h
    y *= np.arange(states + 1.0)[:, None] * dist.mean / np.maximum(y @ w, 1e-300)[:, None]  # E[Y_j] = j mean
    y.flags.writeable = False
    return y, w


def _varied(step: StepModel, b: Array, lam: Array, root: _Chain, inp: LengthDist, out: LengthDist, states: int,
            percentiles: tuple[int, ...], feedback: tuple[Array, Array]) -> tuple[dict[int, Array], dict[int, Array]]:
    """TTFT and TPOT quantiles at the root (``root``: the chain at b decodes) with prompts and outputs
    of random length (module docstring); ``feedback``: the chain's slope d tau / dB and the feedback
    gain (``planner.model.load.tpot_tail``)."""
    n = len(b)
    y, wy = _sum_nodes(inp, states, PROMPT_STRATA)
    m_n = len(wy)
    d, pi, tau = root.d, root.pi, root.tau  # d[n, j, m]: an iteration of j prompts, of band m
    k = states
    arr = _arrivals((lam[:, None, None] * d[:, :k]).reshape(n, k * m_n), k)  # arr[k', n, (j, m)]
    # TTFT: land in (j, m) length-biased, wait U d_jm, then ride an iteration of the k' others
    # that arrived and the request's own prompt: j = k' + 1 prompts, of band m'
    land = pi[:, :, None] * wy * d[:, :k]
    land = (land / land.sum(axis=(1, 2))[:, None, None]).reshape(n, k * m_n)
    arr[-1] += np.maximum(1.0 - arr.sum(axis=0), 0.0)  # the tail, lumped into the last k'
    weights = arr * land  # [k', n, (j, m)]; band m' of the k' + 1 prompts weighs wy[m']
    # first come first served: the request's prefill ends with its own prompt's last pass
    share = fcfs_prefill_share(b, y[None, 1:k + 1], step.coefficients.max_batched_tokens)
    ttft = _uniform_mixture(d[:, 1:] * share, d[:, :k].reshape(n, k * m_n), weights, wy, percentiles)
    # TPOT: the per-token time is an iteration's, an iteration of more than max_batched_tokens
    # being that many chunked iterations, each a token; a request's TPOT averages O - 1 of them
    budget = step.coefficients.max_batched_tokens[:, None, None]  # tokens per pass
    passes = np.maximum(np.ceil((b[:, None, None] + y[None, :k]) / budget), 1.0)
    tw = pi[:, :, None] * wy * passes
    tw /= tw.sum(axis=(1, 2))[:, None, None]
    tt = d[:, :k] / passes
    mu = np.einsum("njm,njm->n", tw, tt)
    var = np.einsum("njm,njm->n", tw, (tt - mu[:, None, None]) ** 2)
    on, wo = _sum_nodes(out, 1, OUTPUT_STRATA)
    tokens = np.maximum(on[1] - 1.0, 1.0)
    # consecutive iterations are correlated (a long one brings more prompts into the next): as an
    # AR(1) of coefficient rho = lam ds/dj, the mean of n draws has variance var / n * f(n)
    slope = np.diff(d @ wy, axis=1)  # [n, j]: what one more prompt adds to an iteration
    rho = np.clip(lam * np.einsum("nj,nj->n", pi, slope), 0.0, MAX_RHO)[:, None]
    factor = 1.0 + 2.0 * rho / (1.0 - rho) * (1.0 - (1.0 - rho ** tokens) / (tokens * (1.0 - rho)))
    mean = np.maximum(tau, mu)  # the chain at mean lengths underestimates the mean iteration (Jensen)
    # the load's slow drift over the request's lifetime, which its n - 1 iterations do not average away
    slow = slow_variance(lam, mean, rho[:, 0], *feedback, tokens, wo) * tokens
    levels = gamma_mixture_quantile(mean, var[:, None] * factor + slow, tokens, wo, np.asarray(percentiles) / 100.0)
    tpot = {pct: levels[c] for c, pct in enumerate(percentiles)}
    return ttft, tpot


def _sized(step: StepModel, rate: Array, b_hi: Array, inp: LengthDist, o: float, full: Array | None = None
           ) -> tuple[npt.NDArray[np.intp], _Chain | None, npt.NDArray[np.bool_]]:
    """Per row, a first guess of the chain size K (a size of _SIZES; checked after the solve), and
    the chain of STATES states at b_hi where it was solved for the check (None: nowhere) with the
    rows that have it: a row that runs on STATES states needs that very chain at the top of its
    root's bracket (``_solve_batch``).

    With s_j ~ s_0 + j d at the largest concurrency (an upper bound on every chain used; with
    prompts of random length the band-mean iterations the chain runs on), the chain
    j' ~ Poisson(a + b j), a = lam s_0, b = lam d, has mean a / (1 - b) and variance
    mean / (1 - b^2) (slope d over j = 0 .. 8): K covers the mean + 7 sd + 3. K = 1 (all mass at
    j = 0) when an arrival during an iteration is itself below _TAIL. Where that normal guess
    reaches GUESS_CHECK states its tail is too light: prefills feed back, and with prompts of random
    length the arrivals are a mixture of Poissons over the bands, overdispersed (on the examples'
    capacity searches 36% of the rows solved were solved again one size up, most from guesses of
    6 and 8). There the chain the rows run on (``_chain``, bands and all) at b_hi itself, from
    ``grows`` on more loaded than any the root finder meets, is solved on STATES states, and K is
    the smallest size whose last, lumped state would hold at most _TAIL of its stationary law.
    """
    # (with prompts of random length, the band-mean iterations the chain runs on: longer than at the mean prompt;
    # ``full``: these, ``EndLengths.full``, where the caller has them)
    d = _state_lengths(step, b_hi, inp, o, STATES) if full is None else full
    s = d[:, :, 0] if inp.fixed else d @ _sum_nodes(inp, STATES, PROMPT_STRATA)[1]
    a, b = rate * s[:, 0], np.clip(rate * (s[:, 8] - s[:, 0]) / 8.0, 0.0, 0.99)
    mean = a / (1.0 - b)
    need = mean + 7.0 * np.sqrt(mean / (1.0 - b * b)) + 3.0
    sizes = np.asarray(_SIZES[:_SIZES.index(STATES) + 1])  # a first guess is at most STATES (retries go on up)
    size = np.where(a <= _TAIL, 1, sizes[np.minimum(np.searchsorted(sizes, np.nan_to_num(need, nan=0.0)),
                                                    len(sizes) - 1)])
    check = np.flatnonzero(size >= GUESS_CHECK)
    checked = np.zeros(len(size), dtype=bool)
    if not check.size:
        return size, None, checked
    top = _chain(step, b_hi[check], rate[check], inp, o, STATES, d[check])  # (its lengths are d's)
    tail = np.cumsum(top.pi[:, ::-1], axis=1)[:, ::-1]  # tail[n, k] = P(j >= k)
    fits = tail[:, sizes - 1] <= _TAIL
    fits[:, -1] = True  # (past STATES a row goes on up by its root's own tail: ``_group``'s retries)
    size[check] = sizes[np.argmax(fits, axis=1)]
    checked[check] = True
    whole = _Chain(*(np.zeros((len(size),) + x.shape[1:]) for x in (top.s, top.pi, top.tau, top.d)))
    whole.put(check, top)
    return size, whole, checked


def _next_group(size: npt.NDArray[np.intp]) -> tuple[int, npt.NDArray[np.intp]]:
    """The rows to solve next and their chain size: those of the smallest pending size, lifted into
    the next larger pending size while that costs less than a separate set of chain evaluations
    (a larger chain is as accurate or more: it only lumps less of the tail)."""
    count = np.bincount(size, minlength=MAX_STATES + 1)  # rows per chain size (0: solved)
    pending = [k for k in _SIZES if count[k]]
    k, rows = pending[0], int(count[pending[0]])
    for bigger in pending[1:]:
        if rows * (bigger**2 - k * k) >= _CALL_COST:
            break
        k, rows = bigger, rows + int(count[bigger])
    return k, np.flatnonzero((size > 0) & (size <= k))


def _group(step: ServingStep, lam: Array, b_run: Array, grows: Array, inp: LengthDist, out: LengthDist,
           states: int, percentiles: tuple[int, ...], top: tuple[_Chain, npt.NDArray[np.bool_]] | None = None,
           limits: Limits | None = None, *, full: Array, at_ends: EndLengths | None = None
           ) -> tuple[npt.NDArray[np.bool_], Array, Array, Array, dict[int, Array], dict[int, Array], dict[int, Array]]:
    """For rows sharing a chain size K: the rows to solve again one size up (their last, lumped
    state holds more than ``_tail_limit``), then for the others b_mean, tau, TTFT mean, and the TTFT and
    TPOT quantiles of ``percentiles`` (ascending); ``top``: ``_solve_batch``'s. From STATES states on, a
    row whose quantiles already exceed one of ``limits`` is not solved again: lumping the tail drops
    prompts from the longest iterations, so every latency of the larger chain would only be higher. ``full``: per
    row the full engine's rate (``serve``'s capacity, ``capacity_rate``), what a queue for a slot drains at;
    ``at_ends``: the rows' iteration lengths at their bracket's ends (``_known``)."""
    o = out.mean
    defer = limits is not None and states >= STATES  # heavy rows' roots are solved, then checked against limits
    b_mean, ch, retry, tau_run = _solve_batch(step, lam, b_run, grows, inp, o, states, top, give_up=not defer,
                                              at_ends=at_ends)
    heavy = np.zeros(len(retry), dtype=bool)
    if (limit := _tail_limit(states)) < math.inf:
        heavy = ~retry & (ch.pi[:, -1] > limit)
        if not defer:
            retry, heavy = retry | heavy, np.zeros(len(retry), dtype=bool)
    if retry.any():
        keep = np.flatnonzero(~retry)
        step, lam, b_run, b_mean, ch = step.take(keep), lam[keep], b_run[keep], b_mean[keep], ch.take(keep)
        tau_run, full = tau_run[keep], full[keep]
    if states == MAX_STATES:
        # the largest chain still lumps its tail and one more prompt in an iteration brings in a prompt or
        # more while it runs: prompts arrive faster than iterations prefill them, no steady state (marked as
        # the full batch, which ``serve`` reads as past capacity). Where it brings in less, the chain is
        # only too short: its figures stand, lower bounds.
        unsettled = (ch.pi[:, -1] > _TAIL_WIDE) & (lam * (ch.s[:, states - 1] - ch.s[:, states - 2]) >= 1.0)
        b_mean = np.where(unsettled, b_run, b_mean)
    tau = ch.tau
    if tau.size == 0:
        return (retry, tau, tau, tau, {pct: tau for pct in percentiles}, {pct: tau for pct in percentiles},
                {pct: tau for pct in percentiles})
    prompts = inp.mean * np.arange(1.0, states + 1.0)[None, :]  # of the first j + 1 prompts
    ttft_mean = _ttft(ch, lam, fcfs_prefill_share(b_mean, prompts, step.coefficients.max_batched_tokens))
    # Feedback: a surplus of dB decodes lengthens iterations, which keeps lam (O - 1) dtau more
    # sequences in flight; a Poisson surplus sqrt(B) is amplified by 1 / (1 - gain), gain in
    # [0, MAX_GAIN]. The gain needs the chain at B + h, but only where it moves a percentile's
    # concurrency: not where the clip to [1, b_run] pins it for every gain (at ~zero load, all 1).
    n = len(b_mean)
    sd = np.sqrt(b_mean)
    # slope (d tau / dB) and gain stay 0 where the chain at B + h is not run: rows at ~zero load, where
    # every percentile's concurrency clips to 1 and the slow-drift term (tpot_tail) vanishes with the load
    gain, slope = np.zeros(n), np.zeros(n)
    z = np.array([NormalDist().inv_cdf(pct / 100.0) for pct in percentiles])[:, None]  # per percentile, a column
    moves = np.any(np.clip(b_mean + z * (sd / (1.0 - 0.0)), 1.0, b_run)
                   != np.clip(b_mean + z * (sd / (1.0 - MAX_GAIN)), 1.0, b_run), axis=0)
    if percentiles:  # and the slot wait's: wherever the slots lie within its threshold's spreads at the largest gain
        moves |= (b_run - b_mean) * (1.0 - MAX_GAIN) < busy_threshold(percentiles[-1] / 100.0) * sd
    need = np.flatnonzero(moves)
    if need.size:
        # the slope is a secant over twice the concurrency's own spread (at least 5% of B): the surplus the
        # gain amplifies is ~sqrt(B) sequences either side, so a narrower step reads a jump of tau in that range
        # (a token budget's prompt count changing with B) as a spike at one load and not the next: TTFT p99 of
        # deepseek-v3 on B300 with TGI read 145 / 2,848 / 187 ms at 6.3 / 6.5 / 6.7 req/s with h = 5% of B.
        # Over 1,996 TGI and SaXML configurations at 49 loads (2,000 / 300-token requests) the load steps whose
        # TTFT p99 falls went from 259 to 0 (sqrt(B): 35), TPOT p99 from 397 to 5 (sqrt(B): 157); over 1,500
        # configurations of every runtime (512 / 128 tokens) TPOT p99 from 89 to 21. `hwplan validate` on the
        # MLPerf file: TPOT p99 median error 23.95% -> 24.52%, TTFT p99 85.3% -> 85.4%, SLO capacity unchanged
        h = np.maximum(np.maximum(0.05 * b_mean[need], 2.0 * sd[need]), 1.0)
        first = _chain(step.take(need), b_mean[need] + h, lam[need], inp, o, states).tau
        slope[need] = (first - tau[need]) / h
        gain[need] = lam[need] * max(o - 1.0, 0.0) * slope[need]
    spread = sd / (1.0 - np.clip(gain, 0.0, MAX_GAIN))
    # TPOT_q is tau at each percentile's concurrency. These rise with the percentile from B
    # itself (clipped to [1, b_run]), so a repeat is a copy of the one above: where the median
    # is at B, or the clip pins several percentiles. Each distinct one is evaluated once, all in
    # one call.
    b_q = np.vstack([b_mean, np.clip(b_mean + z * spread, 1.0, b_run)])  # rows: B, then each percentile
    fresh = b_q[1:] != b_q[:-1]
    level, rows = np.nonzero(fresh)
    taus = np.empty_like(b_q)
    taus[0] = tau
    capped = b_q[level + 1, rows] == b_run[rows]  # the chain at b_run: the top of the root's bracket, solved
    taus[level[capped] + 1, rows[capped]] = tau_run[rows[capped]]
    level, rows = level[~capped], rows[~capped]
    if rows.size:
        taus[level + 1, rows] = _chain(step.take(rows), b_q[level + 1, rows], lam[rows], inp, o, states).tau
    source = np.maximum.accumulate(np.arange(1, len(b_q))[:, None] * fresh, axis=0)  # last fresh row above
    ttft_q, tpot_draws = _varied(step, b_mean, lam, ch, inp, out, states, percentiles, (slope, gain))
    wait = _slot_waits(step, b_mean, spread, b_run, lam, inp, out, percentiles, full)
    ttft_q = {pct: v + wait[percentiles.index(pct)] if pct in percentiles else v for pct, v in ttft_q.items()}
    tpot_b = {pct: np.maximum(taus[source[m], np.arange(n)], tau) for m, pct in enumerate(percentiles)}
    tpot = {pct: np.maximum(tpot_b[pct], tpot_draws[pct]) for pct in percentiles}
    if heavy.any() and limits is not None:  # the heavy rows that meet every limit so far: solved again one size up
        kept = np.flatnonzero(~retry)
        fails = np.zeros(len(kept), dtype=bool)
        for (metric, pct), bound in limits.items():
            fails |= {"ttft": ttft_q, "tpot": tpot}[metric].get(pct, np.zeros(len(kept))) > bound
        if (again := heavy[kept] & ~fails).any():
            retry[kept[again]] = True
            sel = ~again
            b_mean, tau, ttft_mean = b_mean[sel], tau[sel], ttft_mean[sel]
            ttft_q, tpot, tpot_b = ({pct: v[sel] for pct, v in d.items()} for d in (ttft_q, tpot, tpot_b))
    return retry, b_mean, tau, ttft_mean, ttft_q, tpot, tpot_b


def _slot_waits(step: ServingStep, b_mean: Array, spread: Array, b_run: Array, lam: Array, inp: LengthDist,
                out: LengthDist, percentiles: tuple[int, ...], full: Array) -> Array:
    """w[c, n]: ``scheduler.slot_wait`` at each of ``percentiles`` (ascending), the slots' distance above the mean
    concurrency B in its spreads, behind a queue the full engine (``full``: its rate per row) drains."""
    wait = np.zeros((len(percentiles), len(b_mean)))
    if not percentiles:
        return wait
    with np.errstate(divide="ignore", invalid="ignore"):
        beta = np.where(spread > 0, (b_run - b_mean) / spread, np.inf)
    levels = [pct / 100.0 for pct in percentiles]
    if (busy := np.flatnonzero(busy_probability(beta) > 1.0 - levels[-1])).size:
        wait[:, busy] = slot_wait(beta[busy], lam[busy], full[busy], levels, out.cv2)
    return wait


def saturated_rate(model: StepModel, b_run: Array, i: float, o: float) -> Array:
    """Requests/s per row with ``b_run`` sequences always in flight: each iteration decodes b_run
    tokens and prefills the b_run I / O prompt tokens that keep the batch full (the continuous-
    batching rate of ``scenarios.max_throughput``). The queueing model is stable below it."""
    return np.asarray(b_run / (o * model.total(decode_tokens=b_run, decode_context=i + o / 2.0,
                                                prefill_tokens=b_run * i / o, prefill_context=i)), dtype=np.float64)


def capacity_rate(model: ServingStep, b_max: Array, input_tokens: LengthDist, output_tokens: LengthDist) -> Array:
    """Per row, the rate past which ``serve`` has no steady state: what the engine finishes with all of its
    ``b_max`` slots busy (``full_batch_rate``; ``b_max``: memory, the scheduler's cap, the caller's), 0 where not
    one fits. A queue for a slot drains at that rate, so past it the queue grows without bound; the queueing
    chain's own steady state ends at ~0.99 of it, where ``saturated_rate`` at the mean prompt count reads 6-22%
    above it (the lumpy prefills of a full engine lengthen its mean pass: tests/test_slot_wait.py). ``model``
    times iterations as the queueing model does."""
    rate = np.zeros(len(b_max))
    rows = np.flatnonzero(b_max >= 1)
    if rows.size:
        part = model if rows.size == len(b_max) else model.take(rows)
        rate[rows] = full_batch_rate(part, b_max[rows], input_tokens, output_tokens)
    return rate


def engine_capacity(model: StepModel, mem: MemoryModel, *, input_tokens: LengthDist, output_tokens: LengthDist,
                    batch_cap: npt.ArrayLike = np.inf, overlap: float | Array = SERVING_OVERLAP) -> Array:
    """Per row, ``serve``'s capacity (``capacity_rate`` at the most sequences memory and ``batch_cap`` let run,
    iterations timed at ``overlap``): what a caller asking ``serve`` about many rates of the same rows computes
    once (``planner.search.shapes.capacity.full_rates``, the calibration's SLO-capacity bracket)."""
    b_max = batch_limit(mem, batch_cap, input_tokens, output_tokens)
    return capacity_rate(ServingStep.of(model, overlap), np.maximum(b_max, 0.0), input_tokens, output_tokens)


@dataclass(frozen=True)
class OverloadTpot:
    """TPOT of the requests an engine admits while it runs past its capacity (seconds; nan where
    not even one sequence fits)."""

    mean_s: Array
    quantile_s: dict[int, Array]  # by percentile


def overload_tpot(model: StepModel, mem: MemoryModel, *, input_tokens: LengthDist, output_tokens: LengthDist,
                  batch_cap: npt.ArrayLike = np.inf, percentiles: tuple[int, ...] = PERCENTILES,
                  overlap: float | Array = SERVING_OVERLAP) -> OverloadTpot:
    """TPOT at and above the capacity (where ``serve`` has no steady state: requests queue for a
    slot without bound, so TTFT and e2e grow with the length of the run).

    The engine then runs its full batch. Each iteration decodes B_max tokens and prefills the
    prompts of the sequences that finished: j ~ Poisson prompts of Y_j tokens (the length's bands,
    ``_sum_nodes``; B_max / O of them per pass, ``_admissions``), an iteration of more tokens than the
    budget taking as many passes, each a token beside its chunk (as ``_varied``). A request's TPOT is
    the mean of its O - 1 per-token times; admissions follow completions rather than a queue's feedback, so consecutive
    iterations are taken as independent and there is no load drift. The mean per-token time is the
    iteration of ``saturated_rate`` made convex by the lumpy prefills (Jensen). Where those prompts
    do not fit in the token budget beside the decodes (long prompts, short outputs), the engine is
    budget-bound: slots wait for their prefill chunks, every pass is a full budget of d decodes and
    the chunks of d / O prompts (d (1 + I / O) = budget), and the TPOT is that pass. There, and where
    B_max / O passes STATES / 2 (the bands' STATES prompts would cut the Poisson law), an iteration's
    prompts are taken at their mean count and length, whose spread over that many prompts is small:
    every percentile is that mean. Checked against the simulation run past its capacity
    (tests/test_overload_tpot.py)."""
    step = ServingStep.of(model, overlap)
    percentiles = tuple(sorted(set(percentiles)))
    b_max = np.maximum(batch_limit(mem, batch_cap, input_tokens, output_tokens), 0.0)
    _, mean, levels = _full_batch(step, np.maximum(b_max, 1.0), input_tokens, output_tokens, percentiles)
    nan = np.where(b_max >= 1, 1.0, np.nan)
    return OverloadTpot(mean_s=mean * nan, quantile_s={pct: levels[c] * nan for c, pct in enumerate(percentiles)})


def full_batch_rate(step: ServingStep, b: Array, input_tokens: LengthDist, output_tokens: LengthDist) -> Array:
    """Requests/s an engine finishes with every one of its ``b`` slots busy (``overload_tpot``'s passes: each
    of its d decodes finishes after O of them): d / (O x the mean pass). The rate a queue for a slot drains
    at (``scheduler.slot_wait``); the simulation's full engine finishes within 0.3-3% of it (10-77 slots, and 33 on
    L4; tests/test_slot_wait.py), where ``saturated_rate`` at the mean prompt count reads 6-22% more; with
    prompts chunked over several passes (12,000-20,000 tokens at 8,192 a pass) 1.03-1.05x (the same file)."""
    decodes, mean, _ = _full_batch(step, b, input_tokens, output_tokens, ())
    return np.asarray(decodes / (output_tokens.mean * mean), dtype=np.float64)


def _full_batch(step: ServingStep, b: Array, input_tokens: LengthDist, output_tokens: LengthDist,
                percentiles: tuple[int, ...]) -> tuple[Array, Array, Array]:
    """``overload_tpot``'s engine with b slots (b >= 1) all busy: per row its decodes per pass, the mean
    per-token time and that time's ``percentiles`` [c, n]."""
    i, o = input_tokens.mean, output_tokens.mean
    # decodes per pass: all B_max slots, or (budget-bound) those whose replacements' prompts fit beside them
    budget = step.coefficients.max_batched_tokens
    decodes = np.minimum(b, budget * o / (i + o))
    # an iteration's prompts at their mean count and length, in one pass (d (1 + I / O) <= budget)
    mean = np.asarray(step.total(decode_tokens=decodes, decode_context=i + o / 2.0, prefill_tokens=decodes / o * i,
                                 prefill_context=i), dtype=np.float64)
    levels = np.tile(mean, (len(percentiles), 1))
    poisson = np.flatnonzero((decodes >= b) & (b / o <= STATES / 2.0))  # slot-bound, within the bands' prompts
    if poisson.size:
        mean[poisson], spread = _admissions(step.take(poisson), b[poisson], input_tokens, output_tokens,
                                            percentiles)
        levels[:, poisson] = spread
    return decodes, mean, levels


_SECTIONS = 6  # ``tpot_tuned_cap``: log-spaced batches per row per call, beside the chord's two (fewer calls vs rows)


def tpot_tuned_cap(model: StepModel, mem: MemoryModel, *, input_tokens: LengthDist, output_tokens: LengthDist,
                   tpot_limits: Mapping[int, npt.ArrayLike], batch_cap: npt.ArrayLike = np.inf,
                   overlap: float | Array = SERVING_OVERLAP) -> Array:
    """Per row, the engine's cap on concurrent sequences tuned to TPOT limits (``tpot_limits``: percentile ->
    seconds per decode iteration, one for all rows or one per row; inf: none): the largest whole concurrency
    at which the requests admitted to a full batch (``overload_tpot``) still meet every limit.

    An engine's cap (vLLM's ``max_num_seqs``, TensorRT-LLM's ``max_batch_size``, SGLang's
    ``max_running_requests``) is what holds TPOT under load: with it, a burst that would push the
    concurrency past the cap queues for a slot (a longer TTFT, ``scheduler.slot_wait``) instead of
    lengthening every running sequence's iterations. MLPerf Server and Interactive submitters tune it
    to the round's TPOT limit, and their records show it: TPOT p99 at 0.69-0.95 of the limit (quartiles,
    234 records of ../shared/calibration/mlperf.yaml), TTFT p99 at 0.27-0.82 of its. A plan's deployment
    sets it where that engine meets every SLO target at its share (``planner.search.build``). Where the full
    batch the memory and ``batch_cap`` allow meets every limit, that cap stands (returned as ``batch_cap``),
    and so it does where not even one sequence does (no cap meets the limit: nothing to tune it to).
    The full-batch TPOT rises with the batch (more decodes and more prompts replacing the finished ones per
    iteration), about linearly where compute-bound: the whole batch where it crosses the limit is found on
    a bracket [1, full batch] narrowed by a few batches per row per ``overload_tpot`` call (the chord's crossing
    and log-spaced sections): 4.3 calls a search over rag-prefix-cache's where bisection took 11 (docs/design.md)."""
    n = len(model)
    cap = np.broadcast_to(np.asarray(batch_cap, dtype=np.float64), (n,)).copy()
    limits = {pct: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for pct, v in tpot_limits.items()}
    limited = np.zeros(n, dtype=bool)
    for v in limits.values():
        limited |= np.isfinite(v)
    b_max = np.floor(batch_limit(mem, cap, input_tokens, output_tokens))
    percentiles = tuple(sorted(limits))

    def ratio(rows: npt.NDArray[np.intp], batch: Array) -> Array:
        """The largest full-batch TPOT quantile over its limit (<= 1: every limit met; inf where none fits)."""
        full = overload_tpot(model.take(rows), mem.take(rows), input_tokens=input_tokens, output_tokens=output_tokens,
                             batch_cap=batch, percentiles=percentiles,
                             overlap=overlap if np.ndim(overlap) == 0 else np.asarray(overlap)[rows])
        worst = np.zeros(len(rows))
        with np.errstate(divide="ignore", invalid="ignore"):
            for pct in percentiles:
                worst = np.maximum(worst, np.nan_to_num(full.quantile_s[pct], nan=np.inf) / limits[pct][rows])
        return worst

    # the ends of the bracket in one call: the full batch (meets the limits: the cap stands) and one sequence
    rows = np.flatnonzero(limited & (b_max > 1))
    f_hi, f_lo = np.full(n, np.inf), np.full(n, np.inf)
    if rows.size:
        both = ratio(np.concatenate([rows, rows]), np.concatenate([b_max[rows], np.ones(rows.size)]))
        f_hi[rows], f_lo[rows] = both[: rows.size], both[rows.size:]
    missed = rows[f_hi[rows] > 1.0]  # the full batch misses a limit: the cap is below it
    missed = missed[f_lo[missed] <= 1.0]  # where not even one sequence meets them, no cap does: the cap stands
    lo, hi = np.ones(n), b_max.copy()  # lo: meets the limits; hi: misses them
    rows = missed
    while rows.size:
        # points per row in one call: where the chord between the bracket's ends crosses 1 and the batch after
        # it (the ratio rises with the batch, about linearly where compute-bound: a right guess closes the
        # bracket), and _SECTIONS - 1 batches spread evenly in log between the ends (a wrong one still cuts it
        # ~_SECTIONS-fold)
        low, h = lo[rows], hi[rows]
        with np.errstate(divide="ignore", invalid="ignore"):
            chord = low + (1.0 - f_lo[rows]) / (f_hi[rows] - f_lo[rows]) * (h - low)
        chord = np.where(np.isfinite(chord), chord, (low + h) / 2.0)
        spread = np.exp(np.log(low)[:, None] + np.log(h / low)[:, None] * np.arange(1, _SECTIONS) / _SECTIONS)
        points = np.clip(np.floor(np.column_stack([chord, chord + 1.0, spread])), low[:, None] + 1.0, h[:, None] - 1.0)
        values = ratio(np.repeat(rows, points.shape[1]), points.ravel()).reshape(points.shape)
        below = np.where(values <= 1.0, points, -np.inf).max(axis=1)  # the largest batch that meets the limits
        new_lo = np.maximum(low, below)
        above = np.where((values > 1.0) & (points > new_lo[:, None]), points, np.inf)
        new_hi = np.minimum(h, above.min(axis=1))
        pick = np.arange(rows.size)
        f_lo[rows] = np.where(new_lo > low, values[pick, np.argmax(np.where(points == new_lo[:, None], 1, 0), axis=1)],
                              f_lo[rows])
        f_hi[rows] = np.where(new_hi < h, values[pick, np.argmax(np.where(points == new_hi[:, None], 1, 0), axis=1)],
                              f_hi[rows])
        lo[rows], hi[rows] = new_lo, new_hi
        rows = rows[hi[rows] - lo[rows] > 1.0]
    cap[missed] = lo[missed]
    return cap


_ADMISSION_STEPS = 50  # at most: ``_admissions``' secant steps to its fixed point (5-8 reach _ADMISSION_TOL)
_ADMISSION_TOL = 1e-10  # relative: |g(m) - m| <= this m


def _admissions(step: ServingStep, b: Array, inp: LengthDist, out: LengthDist, percentiles: tuple[int, ...]
                ) -> tuple[Array, Array]:
    """``overload_tpot``'s slot-bound rows: the mean per-token time and its ``percentiles`` [c, n]
    with j ~ Poisson(m) prompts of Y_j tokens per iteration (the tail past STATES lumped there).
    Each pass is a token here and is timed as a step of its own (``step``'s serving iteration cost
    included): every slot decodes beside a chunk of the iteration's prompts, packed first come first
    served, so all but the last pass carry a full budget's chunk and the last the rest.

    Every pass finishes B / O sequences on average, and each is replaced by a prompt: an iteration of
    k passes brings in k B / O of them, so m = (B / O) E[k], E[k] the mean passes of an iteration
    under Poisson(m) (a fixed point, found by secant steps from B / O, each row until its own residual is
    within _ADMISSION_TOL: the map's slope, B / O times the passes a prompt adds, is below 1 wherever the
    prompts fit in the budget beside the decodes, the rows this takes). Where every iteration is one pass
    (short prompts) m is B / O and nothing changes.
    With 12,000-20,000-token prompts on 64 slots the full engine was 8-17% above the simulation's (Poisson(B / O)
    prompts per iteration of several passes prefilled too few tokens per pass, and an iteration's decodes were
    charged once however many passes it took); it is 2-5% above (tests/test_slot_wait.py)."""
    i, o = inp.mean, out.mean
    y, wy = _sum_nodes(inp, STATES, PROMPT_STRATA)  # j = 0 .. STATES prompts of band m
    passes = np.maximum(np.ceil((b[:, None, None] + y[None]) / step.coefficients.max_batched_tokens[:, None, None]),
                        1.0)
    per_iteration = np.einsum("njm,m->nj", passes, wy)  # [n, j]: mean passes of an iteration of j prompts

    def admitted(mean: Array) -> Array:  # [n, j]: Poisson(mean) prompts, the tail past STATES lumped there
        # (contiguous rows: numpy sums each alike whatever the rows beside it, where a transposed array's sum
        # runs across them and the tail, 1 - a sum near 1, moves by an ulp with the batch)
        law = np.ascontiguousarray(_arrivals(mean[:, None], STATES + 1)[:, :, 0].T)
        law[:, -1] += np.maximum(1.0 - law.sum(axis=1), 0.0)
        return law

    base = b / o
    m1 = base
    p = admitted(m1)
    if np.any(per_iteration > 1.0):  # the fixed point m = (B / O) E_m[k], by secant steps from B / O
        f1 = base * np.einsum("nj,nj->n", p, per_iteration) - m1  # g(m) - m, g the map; >= 0 at B / O
        m0, f0 = m1, f1
        m1 = m1 + f1  # the first step a plain fixed-point one
        # each row steps until its own g(m) - m is within the tolerance, whatever the other rows do (a row's
        # figures do not depend on the rows beside it)
        active = f1 > _ADMISSION_TOL * m0
        for _ in range(_ADMISSION_STEPS):
            if not active.any():
                break
            p = admitted(m1)
            f1 = np.where(active, base * np.einsum("nj,nj->n", p, per_iteration) - m1, 0.0)
            active &= np.abs(f1) > _ADMISSION_TOL * m1
            with np.errstate(divide="ignore", invalid="ignore"):
                secant = m1 - f1 * (m1 - m0) / (f1 - f0)
            nxt = np.maximum(np.where(np.isfinite(secant), secant, m1 + f1), base)  # fixed-point step where undefined
            m0, f0, m1 = np.where(active, m1, m0), np.where(active, f1, f0), np.where(active, nxt, m1)
        p = admitted(m1)
    weight = p[:, :, None] * wy * passes
    weight /= weight.sum(axis=(1, 2))[:, None, None]
    # Each pass decodes every slot beside a chunk of the prompts, packed first come first served: all but the
    # last pass carry a full budget's chunk (budget - B tokens), the last what is left.
    per = y / np.maximum(np.arange(len(y), dtype=np.float64), 1.0)[:, None]  # mean prompt of the iteration
    chunk = np.maximum(step.coefficients.max_batched_tokens - b, 0.0)[:, None, None]
    left = np.maximum(y[None] - (passes - 1.0) * chunk, 0.0)

    def pass_time(prefill: Array) -> Array:
        return step.total(decode_tokens=b[:, None, None], decode_context=i + o / 2.0, prefill_tokens=prefill,
                          prefill_context=per[None])

    per_token = pass_time(left)
    if np.any(passes > 1.0):
        per_token += (passes - 1.0) * pass_time(np.broadcast_to(chunk, passes.shape))
        per_token /= passes
    mean = np.einsum("njm,njm->n", weight, per_token)
    if not percentiles:  # (the mean alone: ``full_batch_rate``)
        return mean, np.zeros((0, len(b)))
    var = np.einsum("njm,njm->n", weight, (per_token - mean[:, None, None]) ** 2)
    on, wo = _sum_nodes(out, 1, OUTPUT_STRATA)
    tokens = np.maximum(on[1] - 1.0, 1.0)
    return mean, gamma_mixture_quantile(mean, np.broadcast_to(var[:, None], (len(b), len(wo))), tokens, wo,
                                        np.asarray(percentiles) / 100.0)


def prefill_alone(model: StepModel, tokens: float) -> Array:
    """Per row, a prompt of ``tokens`` prefilled with nothing beside it (chunked where over the budget)."""
    return np.asarray(model.whole_prompts().total(decode_tokens=0.0, decode_context=0.0, prefill_tokens=tokens,
                                                   prefill_context=tokens), dtype=np.float64)


def server(grid: Grid, *, request_rate: npt.ArrayLike, input_tokens: LengthDist,
           output_tokens: LengthDist, batch_cap: npt.ArrayLike = np.inf,
           percentiles: tuple[int, ...] = PERCENTILES, overlap: float | Array = SERVING_OVERLAP) -> ServerResult:
    """Latency figures at ``request_rate`` per row of ``grid`` (see the module docstring), at
    ``percentiles`` (a subset of PERCENTILES: TPOT quantiles above the median each cost a chain
    evaluation); ``overlap`` as ``planner.model.load.scheduler``."""
    return serve(StepModel.build(grid), MemoryModel.build(grid), request_rate=request_rate,
                 input_tokens=input_tokens, output_tokens=output_tokens, batch_cap=batch_cap,
                 percentiles=percentiles, overlap=overlap)


def serve(model: StepModel, mem: MemoryModel, *, request_rate: npt.ArrayLike, input_tokens: LengthDist,
          output_tokens: LengthDist, batch_cap: npt.ArrayLike = np.inf,
          percentiles: tuple[int, ...] = PERCENTILES, overlap: float | Array = SERVING_OVERLAP,
          limits: Limits | None = None, capacity: Array | None = None, lengths: EndLengths | None = None
          ) -> ServerResult:
    """``server`` on rows given by their step-time and memory constants (the planner keeps them per
    catalog); iterations are timed by ``ServingStep`` (partial overlap, ``planner.model.load.scheduler``).
    ``limits``: TTFT / TPOT quantiles the caller rejects above (an SLO): a row whose quantiles exceed one
    on a chain of STATES states or more is not refined on a larger chain (``_group``); its figures are
    then lower bounds, above that limit. ``capacity``: the rows' ``capacity_rate`` at these lengths, cap and
    overlap where the caller has it (it does not depend on the rate: a search over rates computes it once), and
    ``lengths`` the rows' ``end_lengths`` alike."""
    model = ServingStep.of(model, overlap)
    percentiles = tuple(sorted(set(percentiles)))
    if not set(percentiles) <= set(PERCENTILES):
        raise ValueError(f"percentiles must be among {PERCENTILES}, got {percentiles}")
    i, o = input_tokens.mean, output_tokens.mean
    rate = np.broadcast_to(np.asarray(request_rate, dtype=np.float64), (len(model),)).copy()
    b_max = np.maximum(batch_limit(mem, batch_cap, input_tokens, output_tokens), 0.0)
    b_run = np.maximum(b_max, 1.0)
    ctx = {"decode_context": i + o / 2.0, "prefill_context": i}
    if capacity is None:
        capacity = engine_capacity(model, mem, input_tokens=input_tokens, output_tokens=output_tokens,
                                   batch_cap=batch_cap, overlap=overlap)
    lam = np.where(rate < capacity, rate, 0.0)

    n = len(rate)
    b_mean, tau, ttft_mean = np.zeros(n), np.zeros(n), np.zeros(n)
    ttft_q = {pct: np.zeros(n) for pct in percentiles}
    tpot = {pct: np.zeros(n) for pct in percentiles}
    tpot_b = {pct: np.zeros(n) for pct in percentiles}  # TPOT_q from the concurrency's spread alone
    # B from which every s_j grows with B: a pipelined engine splits a pass into min(B, pp) microbatches
    grows = np.where(model.coefficients.pp > 1, model.coefficients.pp, 0.0)
    size, top, checked = _sized(model, lam, b_run, input_tokens, o,  # size 0 once a row is solved
                                None if lengths is None else lengths.full)
    while np.any(size):
        k, rows = _next_group(size)
        part = model.take(rows) if rows.size < n else model
        known = (top.take(rows), checked[rows]) if k == STATES and top is not None else None
        retry, g_b, g_tau, g_mean, g_q, g_tpot, g_tpot_b = _group(part, lam[rows], b_run[rows], grows[rows],
                                                                  input_tokens, output_tokens, k, percentiles, known,
                                                                  limits, full=capacity[rows],
                                                                  at_ends=_known(None if lengths is None
                                                                                 else lengths.take(rows), k))
        size[rows] = 0
        if retry.any():  # their last state holds mass: solved again one size up
            size[rows[retry]] = _SIZES[_SIZES.index(k) + 1]
            rows = rows[~retry]
        b_mean[rows], tau[rows], ttft_mean[rows] = g_b, g_tau, g_mean
        for pct in percentiles:
            ttft_q[pct][rows], tpot[pct][rows], tpot_b[pct][rows] = g_q[pct], g_tpot[pct], g_tpot_b[pct]

    stable = (rate < capacity) & (b_max >= 1) & (b_mean < b_run)
    step = model.parts(decode_tokens=b_mean, prefill_tokens=rate * i * tau, **ctx)
    # e2e_q: the larger of a TTFT-driven tail (TTFT_q, then a typical request's decode: the median output,
    # below the mean for skewed lengths) and an output-driven one (a typical TTFT, then o_q tokens at TPOT_q)
    o_typical = output_tokens.quantile(0.5)
    # Every request's TTFT is at least its own prompt prefilled alone, so TTFT_q is at least that of the prompt's
    # q-quantile (and the mean at least the mean prompt's, the pass time being convex in tokens): where the chain's
    # bands under-count a long prompt's own chunked passes under load (docs/accuracy.md, known weak spots) the
    # figure is held at that floor rather than below it
    ttft_mean = np.maximum(ttft_mean, prefill_alone(model, i))
    ttft, e2e = {}, {}
    for pct in percentiles:
        ttft[pct] = np.maximum(ttft_q[pct], prefill_alone(model, input_tokens.quantile(pct / 100.0)))
        o_q = output_tokens.quantile(pct / 100.0)
        e2e[pct] = np.maximum(ttft[pct] + (o_typical - 1.0) * tau, ttft_mean + (o_q - 1.0) * tpot_b[pct])
    nan = np.where(stable, 1.0, np.nan)  # an unstable queue has no steady-state latency
    return ServerResult(
        ttft_mean_s=ttft_mean * nan,
        tpot_mean_s=tau * nan,
        e2e_mean_s=(ttft_mean + (o - 1.0) * tau) * nan,
        ttft_s={k: v * nan for k, v in ttft.items()},
        tpot_s={k: v * nan for k, v in tpot.items()},
        e2e_s={k: v * nan for k, v in e2e.items()},
        batch_mean=b_mean,
        max_batch=b_max,
        capacity_requests_per_s=capacity,
        utilization=np.where(capacity > 0, rate / np.maximum(capacity, 1e-300), np.inf),
        stable=stable,
        output_tokens_per_s=np.where(stable, rate * o, np.nan),
        memory=mem.parts(batch=np.maximum(b_mean, 1.0), context_tokens=i + o,
                         slot_tokens=slot_tokens(input_tokens, output_tokens)),
        decode=step,
    )
