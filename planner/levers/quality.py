"""The quality model: a task score with a +/- range and its sources, for (model, precision, adaptation).

    base        the catalog's 16-bit score: ``quality[task]``, or MMLU as a stated proxy for a
                domain task the catalog has no score for
    adaptation  a domain task only: + gain in [gain_low, gain_high] points (quality.yaml), capped
                at 100; distillation: central = max(teacher's score, student fine-tune central),
                low = fine-tune low, high = max(teacher, fine-tune high) (M40)
    precision   x recovery in [low, high] for the model's size band (quality.yaml)

Central values are the midpoints of the evidence ranges; nothing finer is claimed. A catalog
without quality.yaml gives the base score with low = high = score (no precision effect known).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from planner.domain import Catalog, Model, QualityBand
from planner.errors import InputError

__all__ = ["ADAPTATIONS", "GENERAL", "QualityEstimate", "base_score", "best_teacher", "precision_recovery",
           "quality"]

GENERAL = "general"  # the task whose score is MMLU 5-shot
ADAPTATIONS = ("none", "lora", "qlora", "full", "distill")
_LOSSLESS = QualityBand(min_params=0.0, low=1.0, high=1.0)


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


def base_score(catalog: Catalog, model: Model, task: str) -> QualityEstimate:
    """The catalog's 16-bit score for the task; a domain task without one uses MMLU as a proxy."""
    key = "mmlu" if task == GENERAL else task
    own = [v for k, v in model.sources.items() if k == f"quality.{key}"]
    if key in model.quality:
        s = model.quality[key]
        return QualityEstimate(s, s, s, tuple(own) or (f"{model.id} catalog quality.{key}",))
    if task != GENERAL and "mmlu" in model.quality:
        s = model.quality["mmlu"]
        src = [v for k, v in model.sources.items() if k == "quality.mmlu"]
        return QualityEstimate(s, s, s, (*src, f"no '{task}' score in the catalog: MMLU used as the proxy"))
    return NAN


def precision_recovery(catalog: Catalog, model: Model, precision: str) -> tuple[QualityBand, tuple[str, ...]]:
    """The size band of the precision's recovery table that applies to this model."""
    table = catalog.quality.precisions.get(precision)
    if table is None:
        return _LOSSLESS, ()
    band = table.bands[0]
    for b in table.bands:
        if model.params >= b.min_params:
            band = b
    return band, table.sources


def _adapted(catalog: Catalog, base: QualityEstimate, method: str) -> QualityEstimate:
    gain = catalog.quality.adaptations.get(method)
    if gain is None:
        if method == "none" or not catalog.quality.adaptations:
            return base
        raise InputError(f"no quality data for adaptation {method!r}", field="adaptation")
    mid = (gain.gain_low + gain.gain_high) / 2  # central = midpoint of the evidence range
    return QualityEstimate(min(100.0, base.score + mid), min(100.0, base.low + gain.gain_low),
                           min(100.0, base.high + gain.gain_high), base.sources + gain.sources)


def best_teacher(catalog: Catalog, task: str, student: Model) -> Model | None:
    """The catalog model with the highest 16-bit task score, larger than the student (ties: smaller)."""
    scored = [(base_score(catalog, m, task).score, -m.params, m.id) for m in catalog.models.values()
              if m.params > student.params and base_score(catalog, m, task).known]
    if not scored:
        return None
    return catalog.models[max(scored)[2]]


def quality(catalog: Catalog, *, model: Model, precision: str, task: str = GENERAL,
            adaptation: str = "none", teacher: Model | None = None) -> QualityEstimate:
    """Score, low, high and sources for a model served at ``precision`` after ``adaptation``."""
    if adaptation not in ADAPTATIONS:
        raise InputError(f"unknown adaptation {adaptation!r} (one of {', '.join(ADAPTATIONS)})",
                         field="adaptation")
    est = base_score(catalog, model, task)
    if not est.known:
        return NAN
    if task != GENERAL and adaptation != "none":
        tuned = _adapted(catalog, est, "full" if adaptation == "distill" else adaptation)
        if adaptation == "distill":
            t = base_score(catalog, teacher, task) if teacher is not None else NAN
            if not t.known:
                raise InputError("distillation needs a teacher with a score for the task", field="teacher")
            extra = catalog.quality.adaptations.get("distill")
            tuned = QualityEstimate(max(t.score, tuned.score), tuned.low, max(t.score, tuned.high),
                                    tuned.sources + t.sources + (extra.sources if extra else ()))
        est = tuned
    band, sources = precision_recovery(catalog, model, precision)
    mid = (band.low + band.high) / 2  # central = midpoint of the evidence range
    return QualityEstimate(est.score * mid, est.low * band.low, est.high * band.high,
                           tuple(dict.fromkeys(est.sources + sources)))
