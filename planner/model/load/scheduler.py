"""Serving iterations under load: how much of a linear layer's weight streaming hides under its compute.

The step model (``planner.model.perf``) times a linear layer as the roofline max(compute, weight
reads): the two overlap perfectly. An engine under Poisson load runs mixed iterations (a decode
batch plus the prefill chunks of the prompts that arrived) near the roofline's knee, where
compute and weight streaming are comparable and the overlap is partial. With the hard max the
step time is flat up to the knee and then proportional to the tokens, so the Little's-law root
B = lam (O - 1) tau(B) sits at the knee for any rate below capacity: the model predicts short
iterations and a capacity at the memory cap, where MLPerf Server submitters, at 89-97% of their
own Offline throughput, run 2-5x longer iterations (TPOT p50 120-190 ms at the 200 ms limit of
llama2-70b, where the roofline predicts 30-90 ms), so, by Little's law at the same rate, 2-5x more
sequences; at that observed concurrency the roofline's own step time is within ~20% of their TPOT
for most systems, so it is the operating point, not the step at a given batch, that is off.

``ServingStep`` times a linear layer as

    max(compute, weights) + (1 - overlap) min(compute, weights)

overlap = 1 is the roofline, 0 the additive form (each weight byte streamed, then used, as in
Vidur's and Splitwise's profiled step models). It is bounded to [0, 1] by construction and
changes no term's size, only how two of them combine, so every roofline bound the planner's
screen takes from ``StepModel`` (``planner.search.shapes.capacity``) still holds: it only lengthens
iterations.

``ServingStep`` also charges the runtime's serving iteration cost (``StepCoefficients.
serving_iteration_s``, fitted on the records under load by ``planner.calibration.serving_fit``; the
prior is 0) once per iteration, the queueing model's unit that emits a token per running sequence,
however many passes it runs, and not per draft pass of a drafter (``planner.model.serving``);
``queueing.overload_tpot``, which counts every pass of a full batch as a token, charges it per pass.
It stands for the work an engine does per scheduling step beside the forward pass itself:
admitting and retiring sequences, building the batch's metadata, sampling, detokenising, and mixed
prefill + decode iterations run outside the decode CUDA graphs. vLLM's v0.6.0 notes
(blog.vllm.ai/2024/09/05/perf-update.html) profiled Llama 3 8B on one H100 spending most of its
time outside GPU execution, in the API server and the scheduler, before multi-step scheduling
amortised it. No published figure bounds it per engine, so it is fitted, within a grid of 0-12 ms
(under the 16-25 ms TPOT p50 of the fastest MLPerf Interactive records, which a fixed part of an
iteration cannot exceed). MLPerf's Server / Interactive pairs of one system identify it
(``bench/interactive_intercept_diag.py``: a line through the two operating points has an intercept
of 15-23 ms on six chips for llama2-70b, 6-12 ms in the model without it).

Scope. Only the queueing model (Server / Interactive, ``planner.model.load.queueing.serve``) uses the
overlap and the iteration cost (in the static and Offline scenarios a fixed cost per iteration is
part of the per-pass overhead those records fit). Offline's max_throughput runs deep in the
compute-bound regime, where min / max is small and the overlap barely matters, and its
efficiencies are fitted with the roofline (folding the overlap into the step model is that fit's
business: applied there without a refit it moves MLPerf Offline from 10.5% to 13.2% median APE at
overlap 0.5).

FITTED_OVERLAP is what ``bench/fit_serving_overlap.py`` picks (one scalar for every chip and
model: a grid over [0, 1] of the median APE of the SLO capacity of MLPerf Server and Interactive
records with the shipped efficiencies, shrunk toward the roofline). It is NOT shipped:
SERVING_OVERLAP stays 1 (the roofline). With it, the shipped calibration's SLO capacity improves
(median APE 24.4% -> 19.5%, 52% -> 60% within 25%, before the FCFS prefill share and the slot wait below;
with them the refit is the roofline itself), but the fit (``planner.calibration.fit``)
counts a server record predicted over capacity at its submitted rate as a 10x error, and MLPerf Server rates reach
0.93-1.0 of the same system's Offline throughput: a server-only overlap puts the model's server
capacity below that, so a refit raises the efficiencies and Offline worsens (cross-validated by
round: Offline 17.7% -> 26.0%, SLO capacity 30.0% -> 33.0%, under the calibration before the
vendor-level robust fit, when 0.6 was fitted). Adopting it needs the overlap in the step model
for every scenario and a joint refit (the step model's owner). Tried
(``bench/joint_overlap_experiment.py``): one overlap in every scenario, efficiencies refitted
with it, improves the static 5-fold figures (TTFT 23.1% -> 21.8% at 0.8) but, cross-validated by
round, worsens MLPerf Offline (12.8% -> 13.7%) for an SLO capacity of 24.0% -> 22.7%; at 0.95
Offline holds (12.7%) and the capacity does not move: not adopted.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from planner.domain import Calibration
from planner.model.grid import Array
from planner.model.load.normal import normal_cdf
from planner.model.perf import FloorPair, StepCoefficients, StepModel, StepTime

__all__ = ["FITTED_OVERLAP", "SERVING_OVERLAP", "ServingStep", "busy_probability", "busy_threshold",
           "fcfs_prefill_share", "overlap_of", "runtime_overlaps", "slot_wait"]

# share of min(compute, weight reads) that hides under the larger: bench/fit_serving_overlap.py on
# ../shared/calibration/mlperf.yaml with the shipped (vendor-level, robust, power-capped, MoE expert)
# calibration (226 Server + Interactive records), FCFS prefill (fcfs_prefill_share) and the slot wait
# (slot_wait): SLO capacity median APE 15.2% at 0.2 .. 13.6% at 0.5 .. 14.2% at 0.8 .. 16.3% at 1 (within
# 25%: 78%, 80%, 73%, 71%); by round: 1.0 from v4.1 (held out 14.0%), 0.6 from v5.1 (17.3%), held out
# 15.5% / 76% within 25%; all rounds: 0.8, the largest within one bootstrap standard error of the best.
# (Before FCFS prefill and the slot wait: 0.8, 24.4% -> 19.5%.) With efficiencies fitted per round,
# planner.calibration.serving_fit picks 0.6-0.7.
FITTED_OVERLAP = 0.8
SERVING_OVERLAP = 1.0  # shipped: the roofline (see the module docstring for why not FITTED_OVERLAP)
_MAX_BATCHED_TOKENS = list(StepCoefficients.__dataclass_fields__).index("max_batched_tokens")  # in ``stacked``


class ServingStep(StepModel):
    """``StepModel`` whose linear layers overlap compute and weight streaming only partly
    (``overlap``: one for every row, or one per row, as a calibration's per-runtime overlaps give).
    ``under_load``: whether each iteration also pays the serving iteration cost; true for the steps
    ``of`` gives the queueing model, false for a serving feature's transform (``planner.model.serving.
    Served.apply``), which the static and max-throughput scenarios also run."""

    def __init__(self, coefficients: StepCoefficients, overlap: float | Array = SERVING_OVERLAP, *,
                 under_load: bool = True) -> None:
        if not np.all((np.asarray(overlap) >= 0.0) & (np.asarray(overlap) <= 1.0)):
            raise ValueError(f"overlap must lie in [0, 1], got {overlap}")
        super().__init__(coefficients)
        self.under_load = under_load
        self._set_overlap(overlap, 1.0 - overlap if np.ndim(overlap) == 0 else 1.0 - np.asarray(overlap))
        self._stacked: Array | None = None  # the coefficients as one [field, row] array, once a take needs it
        self._row_flags: npt.NDArray[np.uint8] | None = None  # per row, bits: windowed, MoE, pipelined (``take``)

    def _set_overlap(self, overlap: float | Array, hidden: float | Array) -> None:
        self.overlap = overlap
        self._hidden = hidden  # 1 - overlap, once (``_linear`` applies it on every evaluation): a float or per row
        self._hidden_axes: dict[int, Array] = {}  # per row, shaped for counts of this many axes

    @classmethod
    def of(cls, step: StepModel, overlap: float | Array = SERVING_OVERLAP) -> ServingStep:
        """``step`` with this overlap, under load: a ServingStep of both as is, another ServingStep
        (``planner.model.serving.ServedStep`` included) as the same kind of step (``with_overlap``),
        a plain StepModel's coefficients as a ServingStep."""
        if isinstance(step, ServingStep):
            same = step.under_load and np.array_equal(step.overlap, overlap)
            return step if same else step.with_overlap(overlap)
        return cls(step.coefficients, overlap)

    def with_overlap(self, overlap: float | Array) -> ServingStep:
        """This step with another overlap, under load (a subclass keeps what it adds:
        ``planner.model.serving.ServedStep``)."""
        return ServingStep(self.coefficients, overlap)

    def _carry(self, step: ServingStep) -> None:
        """Set on ``step`` (a subset ``take`` built without ``__init__``) what a subclass adds; nothing here."""

    def take(self, rows: npt.NDArray[np.intp]) -> ServingStep:
        """These rows: one gather of the stacked coefficients, each field a view of it (the queueing
        model takes row subsets several times per call; a gather per field was a tenth of its time).
        The overlap was checked when this step was built, and the flags of ``StepModel`` come from
        one gather of this step's per-row flags: the same values ``StepModel.__init__`` computes
        (the step is built without ``__init__``: every attribute it sets is set here)."""
        if self._stacked is None or self._row_flags is None:
            self._stacked = self.coefficients.stacked()
            self._row_flags = np.packbits(self.row_flags(), axis=0, bitorder="little")[0]  # bit k: flag k
        part = self._stacked[:, rows]
        flags = self._row_flags[rows]
        bits = int(np.bitwise_or.reduce(flags))
        step = type(self).__new__(type(self))
        step.coefficients = StepCoefficients(*part)  # = from_stacked(part): fields in declaration order
        step.windowed, step.moe, step.pipelined = bool(bits & 1), bool(bits & 2), bool(bits & 4)
        step.expert_parallel = bool(bits & 8)
        step.one_pass = float(part[_MAX_BATCHED_TOKENS].min(initial=np.inf))
        step._broadcast = {0: step.coefficients}
        if isinstance(self._hidden, float):
            step._set_overlap(self.overlap, self._hidden)
        else:  # one per row
            step._set_overlap(np.asarray(self.overlap)[rows], self._hidden[rows])
        step._stacked, step._row_flags = part, flags
        step.under_load = self.under_load
        self._carry(step)
        return step

    def _with_axes(self, extra_axes: int) -> StepCoefficients:
        """As ``StepModel._with_axes``, each field a view of one reshape of the stacked coefficients."""
        if extra_axes not in self._broadcast and self._stacked is not None:
            self._broadcast[extra_axes] = StepCoefficients(*self._stacked.reshape(
                self._stacked.shape + (1,) * extra_axes))
        return super()._with_axes(extra_axes)

    def _linear(self, compute: Array, memory: Array) -> Array:
        hidden = self._hidden
        if not isinstance(hidden, float):  # one per row: rows along the first axis
            axes = compute.ndim
            if axes not in self._hidden_axes:
                self._hidden_axes[axes] = np.reshape(hidden, (-1,) + (1,) * (axes - 1))
            hidden = self._hidden_axes[axes]
        return np.asarray(np.maximum(compute, memory) + hidden * np.minimum(compute, memory), dtype=np.float64)

    def floor_terms(self, *, decode_context: float, prefill_context: float
                    ) -> tuple[tuple[FloorPair, FloorPair], tuple[FloorPair, FloorPair]]:
        """``StepModel.floor_terms`` with the serving iteration cost in both fixed parts: ``total`` adds
        it to every iteration, so the plain floors plus it bound ``total`` (the overlap's part is left
        out: an overlap below 1 only lengthens iterations, so the roofline's floors still hold)."""
        (a, per_token), attention = super().floor_terms(decode_context=decode_context, prefill_context=prefill_context)
        if not self.under_load:
            return (a, per_token), attention
        cost = self.coefficients.serving_iteration_s
        return ((a[0] + cost, a[1] + cost), per_token), attention

    def per_iteration(self, ndim: int) -> Array | None:
        """The rows' serving iteration cost shaped to broadcast against a result of ``ndim`` axes (rows
        first); None where every row's is 0 (the prior) or the step is not ``under_load``."""
        cost = self.coefficients.serving_iteration_s
        return cost.reshape((-1,) + (1,) * (ndim - 1)) if self.under_load and cost.any() else None

    def total(self, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
              prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> Array:
        """``StepModel.total`` plus the serving iteration cost, once per iteration (however many passes)."""
        out = super().total(decode_tokens=decode_tokens, decode_context=decode_context, prefill_tokens=prefill_tokens,
                            prefill_context=prefill_context)
        cost = self.per_iteration(out.ndim)
        return out if cost is None else out + cost

    def parts(self, *, decode_tokens: npt.ArrayLike, decode_context: npt.ArrayLike,
              prefill_tokens: npt.ArrayLike = 0.0, prefill_context: npt.ArrayLike = 0.0) -> StepTime:
        """``StepModel.parts`` with the serving iteration cost in the overhead."""
        st = super().parts(decode_tokens=decode_tokens, decode_context=decode_context, prefill_tokens=prefill_tokens,
                           prefill_context=prefill_context)
        cost = self.per_iteration(st.total.ndim)
        return st if cost is None else replace(st, overhead=st.overhead + cost, total=st.total + cost)


def runtime_overlaps(calibration: Calibration, runtime_ids: Sequence[str], runtime: npt.NDArray[np.intp]
                     ) -> float | Array:
    """Per row (``runtime``: indices into ``runtime_ids``), the overlap its runtime runs with
    (``overlap_of``); one float where no runtime has its own."""
    if not calibration.serving_overlap_runtime:
        return overlap_of(calibration)
    return np.array([overlap_of(calibration, rid) for rid in runtime_ids], dtype=np.float64)[runtime]


def fcfs_prefill_share(decodes: Array, prompt_tokens: Array, budget: Array) -> Array:
    """Mean share of an iteration's prefill passes a prompt waits for, first come first served.

    The prompts that arrived during one iteration are prefilled in the next in arrival order,
    chunked into passes of ``budget`` tokens (the decodes ride in every pass), as vLLM's and
    TensorRT-LLM's FCFS schedulers do: the p-th prompt has its first token at the end of the pass
    holding its last prompt token, not when the last of them is done. ``prompt_tokens[..., j]``
    (rows of ``decodes`` and ``budget`` first) are the tokens of the first j + 1 prompts; a
    request is equally likely at each of the j + 1 places, so the result is, per j, the mean over
    p <= j of passes(p) / passes(j), with passes(x) = max(1, (decodes + x) / budget) (pass
    lengths taken equal: one whole pass when everything fits in one). 1 where every prompt fits
    in one pass (short prompts: the whole iteration's prefill ends at once); about (j + 2) /
    (2 (j + 1)) where each prompt fills passes of its own (long prompts under load).
    """
    extra = prompt_tokens.ndim - 1  # axes after the rows: prompts (j), then any bands
    shape = (-1,) + (1,) * extra
    passes = np.maximum((np.reshape(decodes, shape) + prompt_tokens) / np.reshape(budget, shape), 1.0)
    count = np.arange(1.0, passes.shape[1] + 1.0).reshape((1, -1) + (1,) * (extra - 1))
    return np.asarray(np.cumsum(passes, axis=1) / count / passes, dtype=np.float64)


def busy_probability(beta: npt.ArrayLike) -> Array:
    """Probability that an arrival finds every slot taken, with the slots ``beta`` spreads of the concurrency
    above its mean: Halfin and Whitt's many-server limit of the Erlang C formula (Halfin & Whitt 1981,
    "Heavy-traffic limits for queues with many exponential servers", Oper. Res. 29(3), thm. 4),
    1 / (1 + beta Phi(beta) / phi(beta)) for beta > 0, and 1 at or below the mean."""
    b = np.asarray(beta, dtype=np.float64)
    positive = np.maximum(b, 0.0)
    with np.errstate(over="ignore"):  # beta past ~38: phi underflows, the probability is 0
        ratio = positive * normal_cdf(positive) * np.sqrt(2.0 * np.pi) * np.exp(0.5 * positive * positive)
    return np.asarray(np.where(b > 0.0, 1.0 / (1.0 + ratio), 1.0), dtype=np.float64)


@functools.cache
def busy_threshold(level: float) -> float:
    """The beta at which ``busy_probability`` is 1 - ``level``: above it a ``level`` share of arrivals
    never waits for a slot (bisection; the probability falls with beta)."""
    lo, hi = 0.0, 40.0  # (past ~38 the probability underflows to 0)
    for _ in range(64):  # 40 / 2^64: below a double's resolution
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if busy_probability(mid) > 1.0 - level else (lo, mid)
    return hi


def slot_wait(beta: Array, rate: Array, full_rate: Array, levels: Sequence[float], service_cv2: float = 1.0) -> Array:
    """w[c, n]: seconds within which a share ``levels[c]`` of arrivals gets a free slot, rows last.

    An arrival finds every slot taken with ``busy_probability(beta)`` (``beta``: the slots' distance above
    the mean concurrency, in spreads of that concurrency: a Poisson sqrt(B) in Halfin and Whitt's M/M/c,
    here amplified by the batch's feedback on iteration length). It then queues, first come first served,
    behind requests that a full engine serves at ``full_rate`` (sequences finish that fast with every slot
    busy: ``queueing.full_batch_rate``) while arrivals keep coming at ``rate``: the queue above the slots is
    that of an M/M/1 queue at load rate / full_rate, so the wait of those who wait is exponential with rate
    full_rate - rate (Erlang C's law). The q-quantile is ln(P_busy / (1 - q)) / (full_rate - rate) where
    P_busy > 1 - q, else 0; inf where a full engine serves no faster than arrivals come. That is M/M/c's;
    for other holding times the wait scales by (1 + cv^2) / 2, ``service_cv2`` = cv^2 the holding time's
    squared coefficient of variation (Allen and Cunneen's G/G/c approximation with Poisson arrivals; Allen,
    "Probability, Statistics and Queueing Theory", 1990, sec. 6.4): 1 leaves M/M/c, a fixed output length
    (0) halves the wait, since its slots free up more regularly than exponential ones.

    Against the discrete-event simulation (its slots block arrivals request by request) at the caps tuned
    to 20-60 ms TPOT limits (10-77 sequences; llama-3.1 8B and 70B on H100) at 60-96% of the full engine's
    rate, three seeds of 6,000 requests: TTFT p99 0.50-1.62x the simulation's with lognormal lengths, 0.52-1.15x
    with fixed ones (M/M/c's wait, without the cv^2 factor, read 1.87-2.26x there at 92-96%); the largest
    ratios at 92-96%, where a finite simulated run is still filling its queue. The fluid estimate this
    replaced ((concurrency - slots) / rate, sequences taken to finish at the arrival rate) read 0.09-0.98x,
    0.16-0.26x at 10 slots and 85-96% (tests/test_slot_wait.py). With long, variable prompts chunked over
    several passes (12,000 / p95 30,000 tokens on Trainium2) the full engine's rate is 1.03x the simulation's and
    TTFT p99 1.00x at 93% of the model's rate (p95 0.69x).
    """
    q = np.asarray(levels, dtype=np.float64)[:, None]
    p_busy = busy_probability(beta)[None, :]
    gap = np.asarray(full_rate - rate, dtype=np.float64)[None, :]
    waits = p_busy > 1.0 - q
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.log(p_busy / (1.0 - q)) / gap * ((1.0 + service_cv2) / 2.0)
    return np.asarray(np.where(waits, np.where(gap > 0.0, t, np.inf), 0.0), dtype=np.float64)


def overlap_of(calibration: Calibration, runtime: str | None = None) -> float:
    """The serving overlap a calibration runs with on ``runtime``: the one fitted on that runtime's
    records under load, else the one fitted on all of them (``planner.calibration.serving_fit``),
    else the prior SERVING_OVERLAP."""
    if runtime is not None and runtime in calibration.serving_overlap_runtime:
        return calibration.serving_overlap_runtime[runtime]
    return SERVING_OVERLAP if calibration.serving_overlap is None else calibration.serving_overlap
