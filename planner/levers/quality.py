"""The quality model: a task score with a +/- range and its sources, for (model, precision, adaptation).

    base        the catalog's 16-bit score: ``quality[task]``, or base 5-shot MMLU as a stated
                proxy for a domain task (one no catalog model has a score for: ``domain_task``). A
                published benchmark some model is scored on (HumanEval, GSM8K, ...) has no proxy: a
                model without its score gets none (MMLU is no stand-in for GSM8K: Gemma 2 2B reads
                51.3 on one, 23.9 on the other)
    fine-tune   a domain task only (the evidence's gains are on the tasks fine-tuned for, not on a
                fixed public benchmark, where no gain is claimed): + gain in [gain_low, gain_high]
                points from the evidence record whose student-size range covers the model
                (quality.yaml ``finetune``), each end capped by the headroom (ceiling - base,
                ceiling 100) and scaled by data size:
                x min(1, log10(1 + tokens / 1e4) / log10(1 + full_data_tokens / 1e4))
    distill     the same gain with the TEACHER's score as the ceiling: a student stays below its
                teacher, unless a distillation record covers the setting (task type, few-shot
                teacher, student size); then its central value closes the gap to the teacher's
                score, and its high end to the teacher's plus the record's published margin, by
                the data factor (the record's student matched its teacher with most of its data)
    precision   x recovery in [low, high] for the model's ACTIVE-parameter band (quality.yaml); none at the
                precision of a model's published checkpoint (``Model.checkpoint``), whose scores they are

Central values are the midpoints of the evidence ranges; nothing finer is claimed. A precision
quality.yaml has no record for gives no score (no evidence, no claim); a catalog without the file
scores only the precisions its scores were measured at (``_REFERENCE``: 16 bits and up) and
published checkpoints at their own precision (it used to score every precision as lossless).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.domain import AdaptationGain, Catalog, DistillEvidence, Hardware, Model, QualityBand
from planner.errors import InputError
from planner.memo import cached

__all__ = ["ADAPTATIONS", "GENERAL", "QualityEstimate", "base_score", "best_teacher", "data_factor", "domain_task",
           "precision_recovery", "quality", "unclaimed_on"]

GENERAL = "general"  # the task whose score is MMLU 5-shot
ADAPTATIONS = ("none", "lora", "qlora", "full", "distill")
_LOSSLESS = QualityBand(min_params=0.0, low=1.0, high=1.0)
_REFERENCE = ("fp32", "tf32", "fp16", "bf16")  # the catalog's scores are 16-bit scores: no effect by definition


@dataclass(frozen=True)
class QualityEstimate:
    score: float  # central value; nan when the model has no score for the task
    low: float
    high: float
    sources: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return not math.isnan(self.score)


NAN = QualityEstimate(math.nan, math.nan, math.nan)


def _cited(model: Model, key: str) -> tuple[str, ...]:
    """The citation of ``quality.<key>``: its own, else the one the file gives for its whole quality block."""
    own = model.sources.get(f"quality.{key}") or model.sources.get("quality")
    return (own,) if own else ()


def domain_task(catalog: Catalog, task: str) -> bool:
    """Whether ``task`` is the user's own (no catalog model has a score for it), not the general task or a
    published benchmark some model is scored on."""
    scored = cached(catalog, ("scored tasks",),
                    lambda: frozenset(key for m in catalog.models.values() for key in m.quality))
    return task != GENERAL and task not in scored


def base_score(catalog: Catalog, model: Model, task: str) -> QualityEstimate:
    """The catalog's 16-bit score for the task; a domain task (``domain_task``) uses MMLU as a proxy."""
    key = "mmlu" if task == GENERAL else task
    if key in model.quality:
        s = model.quality[key]
        return QualityEstimate(s, s, s, _cited(model, key) or (f"{model.id} catalog quality.{key}",))
    if domain_task(catalog, task) and "mmlu" in model.quality:
        s = model.quality["mmlu"]
        return QualityEstimate(s, s, s, (*_cited(model, "mmlu"),
                                         f"no '{task}' score in the catalog: MMLU used as the proxy"))
    return NAN


def precision_recovery(catalog: Catalog, model: Model, precision: str) -> tuple[QualityBand, tuple[str, ...]]:
    """The size band of the precision's recovery table that applies to this model."""
    table = catalog.quality.precisions.get(precision)
    if table is None:
        return _LOSSLESS, ()
    band = table.bands[0]
    for b in table.bands:
        if model.active_params >= b.min_params:  # MoE: banded by the parameters used per token
            band = b
    return band, table.sources


def _finetune_record(catalog: Catalog, model: Model, method: str) -> AdaptationGain | None:
    """The fine-tuning evidence whose student-size range covers the model (first listed wins)."""
    records = catalog.quality.adaptations.get(method, ())
    return next((r for r in records if r.min_params <= model.params < r.max_params), None)


def data_factor(catalog: Catalog, tokens: float | None) -> float:
    """Fraction of the evidence's gain reached with ``tokens`` training tokens (module docstring)."""
    if tokens is None:
        return 1.0
    full = catalog.quality.full_data_tokens
    return min(1.0, math.log10(1.0 + tokens / 1e4) / math.log10(1.0 + full / 1e4))


def _gained(base: QualityEstimate, gain: AdaptationGain, ceiling: float, scale: float) -> QualityEstimate:
    """base + [gain_low, gain_high] x scale, each end capped at the ceiling (the task's headroom)."""
    room = max(0.0, ceiling - base.score)
    low, high = min(room, gain.gain_low * scale), min(room, gain.gain_high * scale)
    mid = (low + high) / 2  # central = midpoint of the evidence range
    return QualityEstimate(base.score + mid, base.low + low, base.high + high, base.sources + gain.sources)


def _distill_record(catalog: Catalog, student: Model, task_type: str | None) -> DistillEvidence | None:
    """The record that lets a student reach a few-shot teacher in this setting, if any."""
    for r in catalog.quality.distillation:
        if task_type in r.task_types and r.teacher_prompting == "few_shot" and \
                r.min_student_params <= student.params <= r.max_student_params:
            return r
    return None


def _distilled(catalog: Catalog, base: QualityEstimate, student: Model, teacher: QualityEstimate,
               gain: AdaptationGain, scale: float, task_type: str | None) -> QualityEstimate:
    """Student fine-tuned on teacher outputs: bounded by the teacher unless evidence covers it."""
    record = _distill_record(catalog, student, task_type)
    if record is None:
        tuned = _gained(base, gain, min(100.0, teacher.score), scale)
        general = [r for r in catalog.quality.distillation if not r.task_types]
        extra = general[0].sources if general else ()
        return QualityEstimate(tuned.score, tuned.low, tuned.high, tuned.sources + teacher.sources + extra)
    # the record's student reaches the teacher with (most of) its training data: the gap to the teacher
    # closes with the data factor, as a fine-tune's gain does, and nothing passes the teacher's score
    # plus the record's published margin (a 5-example distillation is not the teacher)
    reach = teacher.score + record.above_teacher_points
    tuned = _gained(base, gain, reach, scale)
    high = min(100.0, max(tuned.high, base.high + (reach - base.score) * scale))
    central = max(tuned.score, base.score + (teacher.score - base.score) * scale)
    return QualityEstimate(central, tuned.low, high, tuned.sources + teacher.sources + record.sources)


def best_teacher(catalog: Catalog, task: str, student: Model) -> Model | None:
    """The catalog model with the highest 16-bit task score, larger than the student (ties: smaller)."""
    scored = [(base_score(catalog, m, task).score, -m.params, m.id) for m in catalog.models.values()
              if m.params > student.params and base_score(catalog, m, task).known]
    if not scored:
        return None
    return catalog.models[max(scored)[2]]


def unclaimed_on(model: Model, precision: str, hardware: Hardware) -> str | None:
    """Why the catalog's quality evidence for ``precision`` does not cover ``model`` served on ``hardware`` (None: it
    does). quality.yaml's fp4 bands are NVFP4's; a chip that computes fp4 as OCP MXFP4 (``Hardware.fp4_format``: AMD
    CDNA 4) loses more below 30B by AMD's own figures (Llama-3.1-8B GSM8K 62.55% against 80.44% at FP8), so no claim is
    made there, unless the model's scores are of its own published fp4 checkpoint (gpt-oss: MXFP4 experts)."""
    if precision == "fp4" and hardware.fp4_format == "mxfp4" and not model.scored_at(precision):
        return (f"fp4 on {hardware.id} is OCP MXFP4, and quality.yaml's fp4 evidence is NVFP4's: no quality claim "
                "(AMD reports MXFP4 losing more below 30B)")
    return None


def quality(catalog: Catalog, *, model: Model, precision: str, task: str = GENERAL,
            adaptation: str = "none", teacher: Model | None = None, tokens: float | None = None,
            task_type: str | None = None) -> QualityEstimate:
    """Score, low, high and sources for a model served at ``precision`` after ``adaptation``."""
    if adaptation not in ADAPTATIONS:
        raise InputError(f"unknown adaptation {adaptation!r} (one of {', '.join(ADAPTATIONS)})",
                         field="adaptation")
    est = base_score(catalog, model, task)
    if not est.known:
        return NAN
    # the scores are of this format's published weights (``Model.scored_at``: gpt-oss's MXFP4 experts, DeepSeek-V3's
    # FP8 release, which had read 86.7 at fp8 under bf16's 87.1, a conversion of the same weights: a quality audit)
    own = model.scored_at(precision)
    known = precision in catalog.quality.precisions or (not catalog.quality.precisions and precision in _REFERENCE)
    if not (known or own):
        return NAN  # a precision quality.yaml has no evidence for (or no quality.yaml): no claim, not lossless
    if domain_task(catalog, task) and adaptation != "none" and catalog.quality.adaptations:
        gain = _finetune_record(catalog, model, "full" if adaptation == "distill" else adaptation)
        if gain is None:
            return NAN  # no evidence for this method at this size: no claim is made
        scale = data_factor(catalog, tokens)
        if adaptation == "distill":
            t = base_score(catalog, teacher, task) if teacher is not None else NAN
            if not t.known:
                raise InputError("distillation needs a teacher with a score for the task", field="teacher")
            est = _distilled(catalog, est, model, t, gain, scale, task_type)
        else:
            est = _gained(est, gain, 100.0, scale)
    sources: tuple[str, ...]
    if own:
        # the scores are the published checkpoint's own (gpt-oss: its MXFP4 release): no recovery applies again
        band, sources = _LOSSLESS, (f"{model.id}: its scores are of its published "
                                    f"{model.released_precision or precision} checkpoint",)
    else:
        band, sources = precision_recovery(catalog, model, precision)
    mid = (band.low + band.high) / 2  # central = midpoint of the evidence range
    return QualityEstimate(est.score * mid, est.low * band.low, est.high * band.high,
                           tuple(dict.fromkeys(est.sources + sources)))
