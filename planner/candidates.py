"""Enumerate replica configurations a workload allows, as index arrays over the catalog.

A candidate is (model, weight precision, KV precision, runtime, hardware, tp, pp). Only
combinations the catalog says can run are produced: the runtime runs on the hardware, serves the
precision, stores the KV cache in that format, and the chip has a compute path for it. Every
filter counts what it removed, so an infeasible plan can say why.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from planner.adapt_plan import Choice, choose
from planner.domain import Catalog
from planner.errors import InputError
from planner.grid import CatalogTables, Grid
from planner.workload import Workload

__all__ = ["Candidates", "enumerate_candidates"]

# A candidate's quality is its (model, precision, adaptation) central score (planner.quality); the
# adaptation is picked per (model, precision) by planner.adapt_plan.

IntArray = npt.NDArray[np.int64]
PARALLEL = ((1, 1), (2, 1), (4, 1), (8, 1), (16, 1), (4, 2), (8, 2))  # (tp, pp) shapes tried


@dataclass
class Candidates:
    """Struct of index arrays into ``tables`` plus derived per-candidate facts."""

    tables: CatalogTables
    model: IntArray
    hardware: IntArray
    precision: IntArray
    kv_precision: IntArray
    runtime: IntArray
    tp: IntArray
    pp: IntArray
    quality: npt.NDArray[np.float64]
    price_per_chip_hour: npt.NDArray[np.float64]
    dropped: Counter[str] = field(default_factory=Counter)
    # (model index, precision index) -> the adaptation it uses, its quality range and one-time cost
    choices: dict[tuple[int, int], Choice] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.model.shape[0])

    def keep(self, mask: npt.NDArray[np.bool_], reason: str | None) -> None:
        """Drop rows where mask is False, counting them under ``reason`` (None: counted already)."""
        removed = int((~mask).sum())
        if removed and reason is not None:
            self.dropped[reason] += removed
        for name in ("model", "hardware", "precision", "kv_precision", "runtime", "tp", "pp",
                     "quality", "price_per_chip_hour"):
            setattr(self, name, getattr(self, name)[mask])

    def choice(self, row: int) -> Choice | None:
        """The adaptation, quality range and one-time cost of a row's (model, precision)."""
        return self.choices.get((int(self.model[row]), int(self.precision[row])))

    @property
    def chips(self) -> IntArray:
        return self.tp * self.pp

    def grid(self, rows: npt.NDArray[np.int64] | None = None) -> Grid:
        """The performance-model grid of all candidates, or of ``rows``."""
        sel = slice(None) if rows is None else rows
        return self.tables.gather(model=self.model[sel], hardware=self.hardware[sel],
                                  weight_precision=self.precision[sel],
                                  kv_precision=self.kv_precision[sel], runtime=self.runtime[sel],
                                  tp=self.tp[sel], pp=self.pp[sel])


def _check_ids(catalog: Catalog, w: Workload) -> None:
    c = w.constraints
    for name, ids, table in (("hardware", c.hardware, catalog.hardware),
                             ("exclude_hardware", c.exclude_hardware, catalog.hardware),
                             ("models", c.models, catalog.models),
                             ("precisions", c.precisions, catalog.precisions),
                             ("kv_precisions", c.kv_precisions, catalog.precisions),
                             ("runtimes", c.runtimes, catalog.runtimes),
                             ("quotas", tuple(c.quotas), catalog.hardware)):
        for i, value in enumerate(ids or ()):
            if value not in table:
                raise InputError(f"unknown id {value!r}", field=f"constraints.{name}.{i}")


def _allowed(ids: tuple[str, ...], allow: tuple[str, ...] | None, deny: tuple[str, ...] = ()) -> list[int]:
    return [i for i, x in enumerate(ids) if (allow is None or x in allow) and x not in deny]


def enumerate_candidates(catalog: Catalog, tables: CatalogTables, w: Workload) -> Candidates:
    """All runnable configurations within the workload's constraints (before any SLO check).

    A configuration is a runnable combo (hardware, runtime, precision, KV format) x a model x a
    (tp, pp) shape. Every static filter depends on one or two of those factors (price: hardware;
    parallelism: hardware and shape; quality: model and precision; context: model), so the
    filters are evaluated on the factor tables, each one's removals are counted from them (in the
    order the filters are listed, a row counted under the first it fails), and only the survivors
    of the full product are materialised.
    """
    _check_ids(catalog, w)
    c = w.constraints
    combos = _runnable(catalog, tables, w)  # (hardware, runtime, precision, kv) rows
    models = np.array(_allowed(tables.model_ids, c.models), dtype=np.int64)
    shapes = np.array([s for s in PARALLEL if s[0] * s[1] <= c.max_chips_per_replica], dtype=np.int64)
    shapes = shapes.reshape(-1, 2)
    choices = _choices(catalog, tables, w, models, np.unique(combos[:, 2]))
    score = np.full((len(tables.model_ids), len(tables.precision_ids)), np.nan)
    for (m, p), pick in choices.items():
        if pick.quality.score is not None:
            score[m, p] = pick.quality.score
    prices = np.array([catalog.hardware[hid].price(c.pricing) or np.nan for hid in tables.hardware_ids])
    hw, quality = combos[:, 0], score[models[None, :], combos[:, 2:3]]  # quality: [combo, model]
    per_node = tables.hardware["chips_per_node"][hw][:, None]
    scale_out = tables.hardware["scale_out_bytes_per_s"][hw][:, None] > 0
    chips = (shapes[:, 0] * shapes[:, 1])[None, :]
    parallel_ok = (shapes[None, :, 0] <= per_node) & ((chips <= per_node) | scale_out)  # [combo, shape]
    price_ok = ~np.isnan(prices[hw])  # [combo]
    longest = (w.traffic.input_tokens.p95 or w.traffic.input_tokens.mean) + \
        (w.traffic.output_tokens.p95 or w.traffic.output_tokens.mean)
    context = np.array([catalog.models[tables.model_ids[m]].context_length for m in models])
    model_checks = []  # [combo, model] masks, after parallelism and price
    if w.quality.min_score is not None:
        model_checks += [(~np.isnan(quality), f"no '{w.quality.task}' quality score in the catalog"),
                         (quality >= w.quality.min_score, "quality below min_score")]
    model_checks.append((np.broadcast_to(context[None, :] >= longest, quality.shape),
                         "p95 input + output longer than the model's context"))
    # removals, counted on the factor tables: rows = combos x models x shapes
    dropped: Counter[str] = Counter()
    n_models = len(models)
    dropped["parallelism larger than one node with no scale-out network in the catalog"] += \
        n_models * int((~parallel_ok).sum())
    dropped[f"no {c.pricing} price in the catalog"] += n_models * int((parallel_ok.sum(axis=1) * ~price_ok).sum())
    shapes_left = parallel_ok.sum(axis=1) * price_ok  # [combo]
    alive = np.ones(quality.shape, dtype=bool)
    for ok, reason in model_checks:
        dropped[reason] += int((shapes_left[:, None] * (alive & ~ok)).sum())
        alive &= ok
    ci, mi, si = np.nonzero(alive[:, :, None] & price_ok[:, None, None] & parallel_ok[:, None, :])
    cand = Candidates(tables=tables, model=models[mi], hardware=combos[ci, 0], runtime=combos[ci, 1],
                      precision=combos[ci, 2], kv_precision=combos[ci, 3], tp=shapes[si, 0], pp=shapes[si, 1],
                      quality=quality[ci, mi], price_per_chip_hour=prices[combos[ci, 0]], choices=choices)
    cand.dropped.update({k: v for k, v in dropped.items() if v})
    return cand


def _choices(catalog: Catalog, tables: CatalogTables, w: Workload, models: IntArray,
             precisions: IntArray) -> dict[tuple[int, int], Choice]:
    """The adaptation (and quality range) of every (model, precision) pair (planner.adapt_plan)."""
    out = {}
    for m, p in ((int(a), int(b)) for a in models for b in precisions):
        pick = choose(catalog, catalog.models[tables.model_ids[m]], tables.precision_ids[p], w)
        if pick is not None:
            out[(m, p)] = pick
    return out


def _runnable(catalog: Catalog, tables: CatalogTables, w: Workload) -> IntArray:
    """(hardware, runtime, weight precision, KV precision) index rows that can run."""
    c = w.constraints
    rows: list[tuple[int, int, int, int]] = []
    for h in _allowed(tables.hardware_ids, c.hardware, c.exclude_hardware):
        hw = catalog.hardware[tables.hardware_ids[h]]
        for r in _allowed(tables.runtime_ids, c.runtimes):
            rt = catalog.runtimes[tables.runtime_ids[r]]
            if rt.id not in hw.runtimes:
                continue
            weights = [p for p in _allowed(tables.precision_ids, c.precisions)
                       if tables.precision_ids[p] in rt.weight_precisions and not np.isnan(tables.peak_linear[h, p])]
            kvs = [k for k in _allowed(tables.precision_ids, c.kv_precisions)
                   if tables.precision_ids[k] in rt.kv_precisions and not np.isnan(tables.kv_bytes[k])]
            weights = _drop_twins(tables, {p: (float(tables.weight_bytes[p]), float(tables.peak_linear[h, p]))
                                           for p in weights})
            kvs = _drop_twins(tables, {k: (float(tables.kv_bytes[k]),) for k in kvs})
            rows.extend((h, r, p, k) for p in weights for k in kvs)
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


TWINS = ("bf16", "fp16")  # same bytes; where a chip runs both at one rate they are interchangeable


def _drop_twins(tables: CatalogTables, signature: dict[int, tuple[float, ...]]) -> list[int]:
    """Drop fp16 where bf16 is also chosen with the same bytes and speed: the two give identical
    predictions (and 16-bit quality), so keeping both only doubles the search."""
    ids = {tables.precision_ids[i]: i for i in signature}
    if all(t in ids for t in TWINS) and signature[ids["bf16"]] == signature[ids["fp16"]]:
        return [i for i in signature if i != ids["fp16"]]
    return list(signature)
