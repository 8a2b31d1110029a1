"""Enumerate replica configurations a workload allows, as index arrays over the catalog.

A candidate is (model, weight precision, KV precision, runtime, hardware, tp, pp). Only
combinations the catalog says can run are produced: the runtime runs on the hardware, serves the
precision, stores the KV cache in that format, and the chip has a compute path for it. Every
filter counts what it removed, so an infeasible plan can say why.
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from planner.domain import Catalog, Runtime
from planner.economics.pricing import Unpriced
from planner.economics.rates import ChipRate, chip_rate
from planner.errors import InputError
from planner.levers.adaptation import Choice, choose, floor_score
from planner.levers.quality import unclaimed_on
from planner.memo import Bounded, cached
from planner.model.attention import head_split_problem
from planner.model.grid import Array, CatalogTables, Grid
from planner.model.moe import EP_RANKS, expert_parallel_ok
from planner.model.perf import MemoryCoefficients, MemoryModel, StepCoefficients, StepModel
from planner.unique import distinct
from planner.workload import Constraints, Workload

__all__ = ["ENUMERATIONS_KEPT", "Candidates", "derived_universe", "enumerate_candidates", "enumerated",
           "searched_runtimes"]

# A candidate's quality is its (model, precision, adaptation) central score (planner.levers.quality); the
# adaptation is picked per (model, precision) by planner.levers.adaptation.

IntArray = npt.NDArray[np.int64]
# (tp, pp, ep) shapes tried; ep > 1: expert parallelism with data-parallel attention over tp chips
# (planner.model.moe), enumerated only for MoE models with >= 8 experts that ep divides
PARALLEL = ((1, 1, 1), (2, 1, 1), (4, 1, 1), (8, 1, 1), (16, 1, 1), (4, 2, 1), (8, 2, 1),
            *((ep, 1, ep) for ep in EP_RANKS))
MIN_BLOCKS = 64  # first allocation of the Universe's block store: an allocation size (a few MB), not a model number
_SHAPE_COLUMNS = tuple(np.ascontiguousarray(np.array(PARALLEL, dtype=np.int64)[:, j]) for j in range(3))  # tp, pp, ep
TWINS = ("bf16", "fp16")  # same bytes; where a chip runs both at one rate they give identical predictions
# (and 16-bit quality), so fp16 is dropped where bf16 is also chosen: keeping both only doubles the search


@dataclass
class Candidates:
    """Candidate configurations as rows of the catalog's ``Universe``; the factors of each row
    (model, hardware, precisions, runtime, shape) and its quality and price are derived from the
    row on first use (filtering keeps one array, not ten)."""

    tables: CatalogTables
    universe_row: IntArray
    score: npt.NDArray[np.float64]  # quality score per (model, precision) (NaN: none)
    prices: npt.NDArray[np.float64]  # price per chip-hour per [hardware, PARALLEL shape] (NaN: none)
    dropped: Counter[str] = field(default_factory=Counter)
    # (model index, precision index) -> the adaptation it uses, its quality range and one-time cost
    choices: dict[tuple[int, int], Choice] = field(default_factory=dict)
    unpriced: tuple[Unpriced, ...] = ()  # allowed chips with no price under the workload's pricing
    _factors: dict[str, npt.NDArray[Any]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return int(self.universe_row.shape[0])

    def keep(self, mask: npt.NDArray[np.bool_], reason: str | None) -> None:
        """Drop rows where mask is False, counting them under ``reason`` (None: counted already)."""
        removed = int((~mask).sum())
        if removed and reason is not None:
            self.dropped[reason] += removed
        self.universe_row = self.universe_row[mask]
        self._factors.clear()

    def _factor(self, name: str) -> npt.NDArray[Any]:
        if not self._factors:
            self._factors.update(universe(self.tables).factors(self.universe_row))
            model, precision, hardware = self._factors["model"], self._factors["precision"], self._factors["hardware"]
            self._factors.update(quality=self.score[model, precision],
                                 price_per_chip_hour=self.prices[hardware, self.universe_row % len(PARALLEL)])
        return self._factors[name]

    model = property(lambda self: self._factor("model"))
    hardware = property(lambda self: self._factor("hardware"))
    precision = property(lambda self: self._factor("precision"))
    kv_precision = property(lambda self: self._factor("kv_precision"))
    runtime = property(lambda self: self._factor("runtime"))
    tp = property(lambda self: self._factor("tp"))
    pp = property(lambda self: self._factor("pp"))
    ep = property(lambda self: self._factor("ep"))
    quality = property(lambda self: self._factor("quality"))
    price_per_chip_hour = property(lambda self: self._factor("price_per_chip_hour"))

    def choice(self, row: int) -> Choice | None:
        """The adaptation, quality range and one-time cost of a row's (model, precision)."""
        return self.choices.get((int(self.model[row]), int(self.precision[row])))

    @property
    def chips(self) -> IntArray:
        return np.asarray(self.tp * self.pp, dtype=np.int64)

    def grid(self, rows: npt.NDArray[np.int64] | None = None) -> Grid:
        """The performance-model grid of all candidates, or of ``rows``."""
        sel = slice(None) if rows is None else rows
        return self.tables.gather(model=self.model[sel], hardware=self.hardware[sel],
                                  weight_precision=self.precision[sel],
                                  kv_precision=self.kv_precision[sel], runtime=self.runtime[sel],
                                  tp=self.tp[sel], pp=self.pp[sel], ep=self.ep[sel])


def _check_ids(catalog: Catalog, w: Workload) -> None:
    c = w.constraints
    for name, ids, table in (("hardware", c.hardware, catalog.hardware),
                             ("exclude_hardware", c.exclude_hardware, catalog.hardware),
                             ("models", c.models, catalog.models),
                             ("precisions", c.precisions, catalog.precisions),
                             ("kv_precisions", c.kv_precisions, catalog.precisions),
                             ("runtimes", c.runtimes, catalog.runtimes)):
        for i, value in enumerate(ids or ()):
            if value not in table:
                raise InputError(f"unknown id {value!r}", field=f"constraints.{name}.{i}")
    # maps are named by key
    for name, keys in (("quotas", tuple(c.quotas)), ("pricing.owned.chips", tuple(dict(c.pricing.owned_chips)))):
        for value in keys:
            if value not in catalog.hardware:
                raise InputError(f"unknown hardware id {value[:64]!r}", field=f"constraints.{name}.{value[:64]}")
    if c.hardware is not None and c.exclude_hardware and set(c.hardware) <= set(c.exclude_hardware):
        raise InputError(f"every chip constraints.hardware allows is in exclude_hardware too "
                         f"({', '.join(c.hardware)}): nothing is left to plan on", field="constraints.exclude_hardware")
    # a provider or region no offer names filters out every rented price (and read as "no on_demand price")
    if c.pricing.providers or c.pricing.regions:
        offers = (*catalog.prices.offers, *(c.pricing.sheet.offers if c.pricing.sheet is not None else ()))
        for name, asked, known in (("providers", c.pricing.providers, {o.provider for o in offers}),
                                   ("regions", c.pricing.regions, {o.region for o in offers})):
            for i, value in enumerate(asked):
                if value not in known:
                    close = ", ".join(sorted(k for k in known if k.lower() == value.lower())) or \
                        ", ".join(sorted(known)[:12]) + (" ..." if len(known) > 12 else "")
                    raise InputError(f"no price offer names {name[:-1]} {value!r} (the catalog's and the "
                                     f"sheet's offers name: {close})", field=f"constraints.pricing.{name}.{i}")


def searched_runtimes(catalog: Catalog, c: Constraints) -> tuple[str, ...] | None:
    """The runtimes a search may pick: those the workload names, else every runtime but the
    ``explicit_only`` ones (a commercial engine with no public price: a plan's cost would omit its
    licence); None: every runtime."""
    if c.runtimes is not None:
        return c.runtimes
    left_out = {r.id for r in catalog.runtimes.values() if r.explicit_only is not None}
    return tuple(r for r in catalog.runtimes if r not in left_out) if left_out else None


def _allowed(ids: tuple[str, ...], allow: tuple[str, ...] | None, deny: tuple[str, ...] = ()) -> list[int]:
    return [i for i, x in enumerate(ids) if (allow is None or x in allow) and x not in deny]


ENUMERATIONS_KEPT = 16  # enumerations kept per catalog's tables (``enumerated``), the most recently asked


Parts = tuple[Any, ...]  # a Candidates' parts without its tables: ``enumerated`` keeps them on the tables
# (``planner.memo``), which must not be held


def enumerations(tables: CatalogTables) -> Bounded[Parts]:
    """The enumerations kept for these tables (``enumerated``)."""
    return cached(tables, "enumerations", lambda: Bounded[Parts](ENUMERATIONS_KEPT))


def enumerated(catalog: Catalog, tables: CatalogTables, w: Workload, features: tuple[str, ...] = ()) -> Candidates:
    """``enumerate_candidates``, kept per catalog's tables for the workload as it reads it: every field but its
    name, its request rate (mean and peak) and its running-cost limits (per month, per million tokens, of
    emissions), which no filter reads (the adaptation choices read the one-time cost limit: kept), so a
    re-plan of an edited rate or budget (a planner iterating on a workload, a sweep over traffic, an
    explanation's relaxed budget, a service asked again) takes the first one's enumeration: the same rows,
    counts and choices (a copy: ``prepare`` filters it). Any other edit (a constraint, the quality floor,
    the one-time cost limit, the lengths) is another key."""
    t, b = w.traffic, w.budget
    seen = replace(w, name="", traffic=replace(t, requests_per_s=0.0, peak_requests_per_s=None),
                   budget=replace(b, max_cost_per_month=None, max_cost_per_million_tokens=None,
                                  max_kgco2e_per_month=None))
    key = hashlib.blake2b(repr((id(catalog), features, seen)).encode(), digest_size=16).digest()
    store = enumerations(tables)
    parts = store.get(key)
    if parts is None:
        c = enumerate_candidates(catalog, tables, w, features)
        parts = (c.universe_row, c.score, c.prices, Counter(c.dropped), dict(c.choices), c.unpriced)
        for array in parts[:3]:
            array.flags.writeable = False  # shared by every copy handed out
        store.put(key, parts)
    row, score, prices, dropped, choices, unpriced = parts
    return Candidates(tables=tables, universe_row=row, score=score, prices=prices, dropped=Counter(dropped),
                      choices=dict(choices), unpriced=unpriced)


def enumerate_candidates(catalog: Catalog, tables: CatalogTables, w: Workload,
                         features: tuple[str, ...] = ()) -> Candidates:
    """All runnable configurations within the workload's constraints (before any SLO check).

    A configuration is a runnable combo (hardware, runtime, precision, KV format) x a model x a
    (tp, pp) shape. Every static filter depends on one or two of those factors (price: hardware;
    parallelism: hardware and shape; quality: model and precision; context: model), so the
    filters are evaluated on the factor tables, each one's removals are counted from them (in the
    order the filters are listed, a row counted under the first it fails), and only the survivors
    of the full product are materialised, as rows of the catalog's ``Universe``.
    """
    _check_ids(catalog, w)
    c = w.constraints
    combos = _runnable(tables, w, searched_runtimes(catalog, c))  # (hardware, runtime, precision, kv) rows
    unsupported = 0  # combos whose runtime does not list the features on the chip's family
    if features:  # serving features (planner.model.serving): the runtime supports each on the chip's family
        supported = _supports(catalog, tables, features)[combos[:, 0], combos[:, 1]]
        combos, unsupported = combos[supported], int((~supported).sum())
    models = np.array(_allowed(tables.model_ids, c.models), dtype=np.int64)
    shape_ok = _shape_rule(catalog, tables, w, models)  # [model, shape]: EP opt-in by model and rule
    shape_ids = np.array([i for i, (tp, pp, _) in enumerate(PARALLEL)
                          if tp * pp <= c.max_chips_per_replica and shape_ok[:, i].any()], dtype=np.int64)
    shapes = np.array(PARALLEL, dtype=np.int64)[shape_ids].reshape(-1, 3)
    shape_ok = shape_ok[:, shape_ids]
    hw, precision = combos[:, 0], combos[:, 2]  # combo columns: hardware, runtime, precision, kv
    choices = _choices(catalog, tables, w, models, distinct(precision))
    score = np.full((len(tables.model_ids), len(tables.precision_ids)), np.nan)
    at_confidence = score.copy()  # the end of the range the floor is compared with (central or low)
    for (m, p), pick in choices.items():
        score[m, p] = pick.quality.score
        at_confidence[m, p] = floor_score(pick, w)
    prices, rates = _prices(catalog, tables, c, distinct(hw))
    quality = at_confidence[models[None, :], precision[:, None]]  # [combo, model]
    # where the evidence behind a format does not cover the chip (``unclaimed_on``: fp4 on an MXFP4 chip), no claim
    unclaimed = _unclaimed(catalog, tables)[hw[:, None], precision[:, None], models[None, :]]  # [combo, model]
    quality = np.where(unclaimed, np.nan, quality)
    per_node = tables.hardware["chips_per_node"][hw][:, None]
    scale_out = tables.hardware["scale_out_bytes_per_s"][hw][:, None] > 0
    chips = (shapes[:, 0] * shapes[:, 1])[None, :]
    is_ep = (shapes[:, 2] > 1)[None, :]  # EP + DP attention: attention is not split, so no tp <= node rule
    parallel_ok = ((shapes[None, :, 0] <= per_node) | is_ep) & ((chips <= per_node) | scale_out)  # [combo, shape]
    if is_ep.any():  # the runtime supports EP and DP attention on the chip's family
        wide = _supports(catalog, tables, ("expert_parallel", "dp_attention"))[hw, combos[:, 1]]
        parallel_ok &= ~is_ep | wide[:, None]
    # tensor-parallel attention splits the heads evenly, unless the runtime pads them on the chip's family
    heads_ok = _heads_split(catalog, tables)[models][:, shape_ids]  # [model, shape]
    pads = _uneven_heads(catalog, tables)[hw, combos[:, 1]]  # [combo]
    priced = ~np.isnan(prices[hw][:, shape_ids])  # [combo, shape]: an offer of an instance that holds the replica
    longest = (w.traffic.input_tokens.p95 or w.traffic.input_tokens.mean) + \
        (w.traffic.output_tokens.p95 or w.traffic.output_tokens.mean)
    context = np.array([catalog.models[tables.model_ids[m]].context_length for m in models])
    model_checks = []  # [combo, model] masks, after parallelism and price
    if w.quality.min_score is not None:
        model_checks += [(~unclaimed, "the format's quality evidence does not cover the chip (fp4 on a chip that "
                                      "computes OCP MXFP4, where quality.yaml's is NVFP4's): no claim meets the floor"),
                         (~np.isnan(quality), f"no '{w.quality.task}' quality score in the catalog"),
                         (quality >= w.quality.min_score, "quality below min_score")]
    model_checks.append((np.broadcast_to(context[None, :] >= longest, quality.shape),
                         "p95 input + output longer than the model's context"))
    # a format the runtime computes natively only, on a chip that does not: only a model's own checkpoint in it
    # (``Runtime.lacks_native``; SGLang's NVFP4 needs Blackwell, gpt-oss's MXFP4 experts run weight-only on Hopper)
    native = _lacks_native(catalog, tables)[hw[:, None], combos[:, 1, None], precision[:, None], models[None, :]]
    model_checks.append((~native, "the runtime computes the weight format natively only and the chip does not "
                                  "(runtimes.yaml native_only)"))
    if "speculative:eagle" in features:  # EAGLE drafts with a head trained for the model: one must be published
        heads = np.array([catalog.models[tables.model_ids[m]].eagle_head is not None for m in models])
        having = sorted(mid for mid, m in catalog.models.items() if m.eagle_head is not None)
        model_checks.append((np.broadcast_to(heads[None, :], quality.shape),
                             "speculative decoding with an EAGLE drafter: no published EAGLE head for the model "
                             f"(models/<id>.yaml eagle_head; the catalog has heads for {', '.join(having) or 'none'})"))
    # removals, counted on the factor tables: rows = combos x models x shapes
    dropped: Counter[str] = Counter()
    per_model = shape_ok.astype(np.int64).T  # [shape, model]: shapes each model is tried with
    for reason, n_combos in _unsupported(catalog, tables, w).items():
        dropped[reason] += n_combos * int(per_model.sum())
    if unsupported:  # (they were counted under no reason, and an infeasible plan said "none survives" of nothing)
        named = ", ".join(f"speculative decoding with an {f.partition(':')[2]} drafter" if ":" in f else f
                          for f in features)
        dropped[f"the runtime's support matrix lists no {named} on the chip's family (runtimes.yaml serving; "
                "constraints.serving asks for it)"] += unsupported * int(per_model.sum())
    dropped["parallelism larger than one node with no scale-out network in the catalog"] += \
        int(((~parallel_ok).astype(np.int64) @ per_model).sum())
    # a runtime that does not split a replica so (runtimes.yaml no_split: MaxText has no pipeline stages, llama.cpp's
    # row split keeps the KV cache on one chip): those shapes are out
    no_split = np.zeros_like(parallel_ok)
    for column, kind in ((0, "tensor"), (1, "pipeline")):  # shape column: tp, pp
        refuses = _no_split(catalog, tables, kind)[hw, combos[:, 1]]  # [combo]
        no_split |= (shapes[None, :, column] > 1) & refuses[:, None]
    dropped["a split of the replica the runtime does not run (runtimes.yaml no_split)"] += \
        int(((parallel_ok & no_split).astype(np.int64) @ per_model).sum())
    parallel_ok &= ~no_split
    in_node = parallel_ok.astype(np.int64) @ per_model  # [combo, model]: shapes that pass the parallelism rule
    split = np.where(pads[:, None], in_node, parallel_ok.astype(np.int64) @ (shape_ok & heads_ok).T.astype(np.int64))
    dropped["tp does not split the model's attention heads evenly (the runtime refuses to start)"] += \
        int((in_node - split).sum())
    usable = parallel_ok & priced  # [combo, shape]
    shapes_left = np.where(pads[:, None], usable.astype(np.int64) @ per_model,
                           usable.astype(np.int64) @ (shape_ok & heads_ok).T.astype(np.int64))  # [combo, model]
    any_price = ~np.isnan(prices[hw, 0])  # [combo]: priced at all (every offer holds one chip)
    dropped[f"no {c.pricing.label} price"] += int((split * ~any_price[:, None]).sum())
    dropped[f"no {c.pricing.label} offer of an instance that holds the replica's chips"] += \
        int(((split - shapes_left) * any_price[:, None]).sum())
    alive = np.ones(quality.shape, dtype=bool)
    for ok, reason in model_checks:
        dropped[reason] += int((shapes_left * (alive & ~ok)).sum())
        alive &= ok
    rows = universe(tables).row(combos[:, None, None], models[None, :, None], shape_ids[None, None, :])
    row = rows[alive[:, :, None] & usable[:, None, :] & shape_ok[None, :, :]
               & (heads_ok[None, :, :] | pads[:, None, None])]
    unpriced = tuple(r for h in distinct(hw) if isinstance(r := rates[int(h)], Unpriced))  # at any size
    cand = Candidates(tables=tables, universe_row=row, score=score, prices=prices, choices=choices,
                      unpriced=unpriced)
    cand.dropped.update({k: v for k, v in dropped.items() if v})
    return cand


def _prices(catalog: Catalog, tables: CatalogTables, c: Constraints, used: IntArray
            ) -> tuple[npt.NDArray[np.float64], dict[int, ChipRate | Unpriced]]:
    """Price per chip-hour per [hardware, PARALLEL shape] (NaN: no offer of an instance that holds the
    shape's chips, ``planner.economics.pricing.instance_chips``) for the ``used`` hardware indices, and
    each one's rate for one chip (``Unpriced``: the chip has no price at any size)."""
    prices = np.full((len(tables.hardware_ids), len(PARALLEL)), np.nan)
    ones: dict[int, ChipRate | Unpriced] = {}
    for h in used:
        hid = tables.hardware_ids[int(h)]
        for j, (tp, pp, _ep) in enumerate(PARALLEL):
            rate = chip_rate(catalog, hid, c.pricing, chips_per_replica=tp * pp)
            if j == 0:
                ones[int(h)] = rate
            if isinstance(rate, ChipRate):
                prices[h, j] = rate.usd_per_chip_hour
    return prices, ones


class Universe:
    """Every runnable configuration of a catalog, with the performance model's per-row constants.

    Rows are runnable (hardware, runtime, precision, KV) combos x all models x PARALLEL shapes,
    in that order (``combo_id`` numbers the combos). Kept per ``CatalogTables`` while they live;
    a (combo, model) block of rows is gathered and reduced to StepModel and MemoryModel constants
    the first time a workload needs it, so screening later workloads takes rows instead of
    building a Grid for every plan.
    """

    def __init__(self, tables: CatalogTables, base: Universe | None = None) -> None:
        # weakly: the Universe is cached on its tables (planner.memo), whose store holds it strongly, so a
        # strong reference back would keep both alive for good (a service leaked ~365 MB per catalog write)
        self._tables = weakref.ref(tables)
        # another catalog's Universe whose rows this one takes where its tables' speed is the same (``derived``)
        self._base = base
        runnable = tables.runnable_weights[:, :, :, None] & tables.runnable_kv[:, :, None, :]
        combos = np.argwhere(runnable)
        self.combo_columns = tuple(np.ascontiguousarray(combos[:, j]) for j in range(4))  # (faster to gather)
        self.combo_id = np.full(runnable.shape, -1, dtype=np.int64)
        self.combo_id[tuple(combos.T)] = np.arange(len(combos))
        self.n_blocks = len(combos) * len(tables.model_ids)  # a block: one (combo, model), every shape
        # Built blocks only, in the order they were built (a search that bounds most blocks out
        # never builds them, so memory follows the blocks it screens, not the catalog's product):
        # block b's rows are rows slot[b] * len(PARALLEL) + shape of the stored constants.
        self._slot = np.full(self.n_blocks, -1, dtype=np.int64)
        self._stored = 0  # blocks stored
        # searches in threads (the service) share a catalog's Universe: storing blocks moves them
        # when the storage grows, so building and reading take turns
        self._lock = threading.Lock()
        # [row, coefficient]: a row's constants lie together, so a gather is one indexing (not one per field)
        self._step = np.empty((0, len(fields(StepCoefficients))))
        self._memory = np.empty((0, len(fields(MemoryCoefficients))))

    @property
    def tables(self) -> CatalogTables:
        """The tables this Universe was built from (alive while anyone asks: ``universe(tables)``)."""
        tables = self._tables()
        assert tables is not None, "a Universe outlived its CatalogTables"
        return tables

    @property
    def _built(self) -> npt.NDArray[np.bool_]:
        """Per block, whether its constants are built."""
        return np.asarray(self._slot >= 0)

    def arrays(self) -> tuple[Array, Array]:
        """Every block built: the (step, memory) constants of every row in Universe row order, one
        row of constants after another ([row, coefficient]: what a catalog cache stores)."""
        missing = np.flatnonzero(self._slot < 0)
        if len(missing):
            self.models(missing * len(PARALLEL))
        s = len(PARALLEL)
        with self._lock:
            at = (self._slot[:, None] * s + np.arange(s)).ravel()
            return np.ascontiguousarray(self._step[at]), np.ascontiguousarray(self._memory[at])

    def array_shapes(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """The shapes ``arrays`` returns: [row, coefficient] of the step and memory constants."""
        rows = self.n_blocks * len(PARALLEL)
        return (rows, len(fields(StepCoefficients))), (rows, len(fields(MemoryCoefficients)))

    def adopt(self, step: Array, memory: Array) -> None:
        """Take every row's constants as ``arrays`` gave them for this catalog's tables (a catalog
        cache's copy, mapped from disk): every block counts as built.

        A row's constants lie together (a row is 112 + 80 bytes), so the few thousand rows a search
        gathers from the mapped file touch a page or two per run of nearby rows; stored coefficient
        by coefficient, the same gather touched a page per coefficient (24 x as many: page faults
        were most of a fresh process's first search on the shipped catalog's 1.9 million rows)."""
        if (step.shape, memory.shape) != self.array_shapes():
            raise ValueError(f"universe arrays of shape {step.shape}, {memory.shape}; "
                             f"expected {self.array_shapes()}")
        with self._lock:
            self._step, self._memory = step, memory
            self._slot = np.arange(self.n_blocks, dtype=np.int64)
            self._stored = self.n_blocks

    def row(self, combo: IntArray, model: IntArray, shape: IntArray) -> IntArray:
        """Universe rows of (combo: (hardware, runtime, precision, KV) index rows, model, PARALLEL
        index), broadcast against each other (combo's last axis holds its four indices)."""
        combo_id = self.combo_id[combo[..., 0], combo[..., 1], combo[..., 2], combo[..., 3]]
        return np.asarray((combo_id * len(self.tables.model_ids) + model) * len(PARALLEL) + shape, dtype=np.int64)

    def factors(self, rows: IntArray) -> dict[str, IntArray]:
        """Per row: model, hardware, runtime, precision, kv_precision, tp and pp (index arrays)."""
        block, shape = np.divmod(rows, len(PARALLEL))
        combo, model = np.divmod(block, len(self.tables.model_ids))
        hardware, runtime, precision, kv = (column[combo] for column in self.combo_columns)
        tp, pp, ep = (column[shape] for column in _SHAPE_COLUMNS)
        return {"model": model, "hardware": hardware, "runtime": runtime, "precision": precision,
                "kv_precision": kv, "tp": tp, "pp": pp, "ep": ep}

    def models(self, rows: IntArray) -> tuple[StepModel, MemoryModel]:
        """The step-time and memory models of ``rows``."""
        step, memory = self._gather(rows)
        # one gather of whole rows, then each coefficient a contiguous row of the transposed copy
        return (StepModel(StepCoefficients.from_stacked(np.ascontiguousarray(step.T))),
                MemoryModel(MemoryCoefficients.from_stacked(np.ascontiguousarray(memory.T))))

    def _gather(self, rows: IntArray) -> tuple[Array, Array]:
        """[row, coefficient] step and memory constants of ``rows``: the base's where it has the same ones
        (``derived``), the others built here."""
        if self._base is not None:
            tables, base = self.tables, self._base.tables
            combo, model = np.divmod(rows // len(PARALLEL), len(tables.model_ids))
            hardware, runtime = self.combo_columns[0][combo], self.combo_columns[1][combo]
            same = tables.speed[model, hardware, runtime] == base.speed[model, hardware, runtime]
            if same.all():
                return self._base._gather(rows)
            if same.any():
                step, memory = np.empty((len(rows), self._step.shape[1])), np.empty((len(rows), self._memory.shape[1]))
                step[same], memory[same] = self._base._gather(rows[same])
                step[~same], memory[~same] = self._own(rows[~same])
                return step, memory
        return self._own(rows)

    def _own(self, rows: IntArray) -> tuple[Array, Array]:
        """``_gather`` from this Universe's own blocks (built on first use)."""
        s = len(PARALLEL)
        blocks = rows // s
        with self._lock:
            new = distinct(blocks[self._slot[blocks] < 0])
            if len(new):
                at = (new[:, None] * s + np.arange(s)).ravel()
                f = self.factors(at)
                grid = self.tables.gather(model=f["model"], hardware=f["hardware"], runtime=f["runtime"],
                                          weight_precision=f["precision"], kv_precision=f["kv_precision"],
                                          tp=f["tp"], pp=f["pp"], ep=f["ep"])
                self._reserve(self._stored + len(new))
                self._slot[new] = self._stored + np.arange(len(new))
                self._stored += len(new)
                stored = (self._slot[new][:, None] * s + np.arange(s)).ravel()
                with np.errstate(divide="ignore", invalid="ignore"):  # shapes beyond a chip's links
                    self._step[stored] = StepModel.build(grid).coefficients.stacked().T
                    self._memory[stored] = MemoryModel.build(grid).coefficients.stacked().T
            at = self._slot[blocks] * s + rows % s
            return self._step[at], self._memory[at]

    def _reserve(self, blocks: int) -> None:
        """Room for ``blocks`` stored blocks (grown by doubling, copying what is stored)."""
        s, have = len(PARALLEL), len(self._step) // len(PARALLEL)
        if blocks <= have:
            return
        room = max(blocks, 2 * have, MIN_BLOCKS) * s
        used = self._stored * s
        step, memory = np.empty((room, self._step.shape[1])), np.empty((room, self._memory.shape[1]))
        step[:used], memory[:used] = self._step[:used], self._memory[:used]
        self._step, self._memory = step, memory


def universe(tables: CatalogTables) -> Universe:
    """The catalog's Universe (one per CatalogTables object, dropped with it)."""
    return cached(tables, "universe", lambda: Universe(tables))


def derived_universe(tables: CatalogTables, base: CatalogTables) -> Universe:
    """``universe(tables)`` for tables that differ from ``base`` in their speed alone (a catalog at measured speed,
    ``planner.search.measured_replan``): it takes ``base``'s Universe's rows wherever the speed is the same (a
    row's constants then are the same numbers: ``CatalogTables.gather`` multiplies and divides by a speed of 1
    exactly), so a what-if builds only the blocks it slows instead of every block it reads again (~190 ms of
    domain-task's run). Tables that differ in anything else get a Universe of their own. Call it before anything
    asks ``universe(tables)``."""
    def build() -> Universe:
        same = tables.digest(leave_out=_SPEED) == base.digest(leave_out=_SPEED)
        return Universe(tables, universe(base) if same else None)

    return cached(tables, "universe", build)


_SPEED = frozenset({"speed"})


def _shape_rule(catalog: Catalog, tables: CatalogTables, w: Workload, models: IntArray) -> npt.NDArray[np.bool_]:
    """[model, PARALLEL shape]: the shapes a model is tried with. EP shapes only for MoE models with
    >= 8 experts that ep divides (planner.model.moe) unless ``constraints.serving.expert_parallel``
    is forbidden; required: such models only with EP shapes (other models keep theirs)."""
    rule = w.constraints.serving_rule("expert_parallel")
    ep = np.array([s[2] for s in PARALLEL])
    experts = [catalog.models[tables.model_ids[m]].experts for m in models]
    eligible = np.array([[expert_parallel_ok(experts=e, ep=int(x)) for x in ep] for e in experts],
                        dtype=bool).reshape(len(models), len(PARALLEL))
    plain: npt.NDArray[np.bool_] = np.broadcast_to(ep == 1, eligible.shape).copy()
    if rule == "forbidden":
        return plain
    if rule == "required":
        return np.asarray(np.where(eligible.any(axis=1, keepdims=True), eligible, plain), dtype=bool)
    either: npt.NDArray[np.bool_] = plain | eligible
    return either


def _choices(catalog: Catalog, tables: CatalogTables, w: Workload, models: IntArray,
             precisions: IntArray) -> dict[tuple[int, int], Choice]:
    """The adaptation (and quality range) of every (model, precision) pair (planner.levers.adaptation)."""
    out = {}
    for m, p in ((int(a), int(b)) for a in models for b in precisions):
        pick = choose(catalog, catalog.models[tables.model_ids[m]], tables.precision_ids[p], w)
        if pick is not None:
            out[(m, p)] = pick
    return out


def _unsupported(catalog: Catalog, tables: CatalogTables, w: Workload) -> Counter[str]:
    """(hardware, runtime, format) combos left out for the format, by reason: weights a runtime lists but
    the chip cannot run with it (hardware ``unsupported_precisions``), x the KV formats they would pair
    with; formats the runtime lists but its backend on the chip's family lacks (``Runtime.backends``);
    and, where the workload lists formats, those of them the runtime does not serve at all."""
    out: Counter[str] = Counter()
    c = w.constraints
    for hid in _ids(tables.hardware_ids, c.hardware, c.exclude_hardware):
        hw = catalog.hardware[hid]
        for rid in _ids(tables.runtime_ids, searched_runtimes(catalog, c)):
            if rid not in hw.runtimes:
                continue
            r, at = catalog.runtimes[rid], (tables.hardware_ids.index(hid), tables.runtime_ids.index(rid))
            kvs, weights = int(tables.runnable_kv[at].sum()), int(tables.runnable_weights[at].sum())
            for pid, why in hw.unsupported_precisions.items():
                if (c.precisions is None or pid in c.precisions) and pid in catalog.precisions \
                        and pid in r.weight_precisions:
                    # (one line per chip and precision, whatever the runtime: the reason is the chip's, cited once)
                    out[f"{pid} weights not supported on {hid}: {why}"] += kvs
            through = r.through(hw.family)
            served = catalog.weight_precisions(r, hw)
            for pid in (c.precisions if c.precisions is not None else r.weight_precisions):
                if pid in catalog.precisions and pid not in served and pid not in hw.unsupported_precisions:
                    out[f"{pid} weights not served by {rid} on {hid}{through}"] += kvs
            stored = catalog.kv_precisions(r, hw)
            for pid in (c.kv_precisions if c.kv_precisions is not None else r.kv_precisions):
                if pid in catalog.precisions and pid not in stored:
                    out[f"{pid} KV cache not stored by {rid} on {hid}{through}"] += weights
    return out


def _chip_runtime_table(catalog: Catalog, tables: CatalogTables, key: tuple[object, ...],
                        holds: Callable[[Runtime, str], bool]) -> npt.NDArray[np.bool_]:
    """[hardware, runtime]: ``holds(runtime, chip family)``, once per catalog and tables' ids under ``key`` (a
    pure function of them, read by every plan; read-only)."""
    def compute() -> npt.NDArray[np.bool_]:
        table = np.array([[holds(catalog.runtimes[r], catalog.hardware[h].family) for r in tables.runtime_ids]
                          for h in tables.hardware_ids], dtype=bool).reshape(len(tables.hardware_ids),
                                                                             len(tables.runtime_ids))
        table.flags.writeable = False
        return table
    return cached(catalog, (*key, tables.hardware_ids, tables.runtime_ids), compute)


def _unclaimed(catalog: Catalog, tables: CatalogTables) -> npt.NDArray[np.bool_]:
    """[hardware, precision, model]: the quality evidence for the format does not cover the model on the chip
    (``planner.levers.quality.unclaimed_on``; once per catalog, over all its models, read-only: keyed by a search's
    model subset, a service would keep one table per subset it was asked)."""
    def compute() -> npt.NDArray[np.bool_]:
        ms = [catalog.models[mid] for mid in tables.model_ids]
        table = np.array([[[unclaimed_on(m, pid, catalog.hardware[hid]) is not None for m in ms]
                           for pid in tables.precision_ids] for hid in tables.hardware_ids], dtype=bool)
        table = table.reshape(len(tables.hardware_ids), len(tables.precision_ids), len(ms))
        table.flags.writeable = False
        return table
    return cached(catalog, ("unclaimed", tables.hardware_ids, tables.precision_ids, tables.model_ids), compute)


def _lacks_native(catalog: Catalog, tables: CatalogTables) -> npt.NDArray[np.bool_]:
    """[hardware, runtime, precision, model]: the runtime does not serve the model's weights in the format on the
    chip (``Runtime.lacks_native``; once per catalog, over all its models, read-only)."""
    def compute() -> npt.NDArray[np.bool_]:
        ms = [catalog.models[mid] for mid in tables.model_ids]
        table = np.zeros((len(tables.hardware_ids), len(tables.runtime_ids), len(tables.precision_ids), len(ms)),
                         dtype=bool)
        for i, hid in enumerate(tables.hardware_ids):
            for k, rid in enumerate(tables.runtime_ids):
                rt = catalog.runtimes[rid]
                for j, pid in enumerate(tables.precision_ids):
                    if rt.lacks_native(pid, catalog.hardware[hid]):  # (else no model lacks it)
                        table[i, k, j] = [rt.lacks_native(pid, catalog.hardware[hid], m) for m in ms]
        table.flags.writeable = False
        return table
    return cached(catalog, ("lacks_native", tables.hardware_ids, tables.runtime_ids, tables.precision_ids,
                            tables.model_ids), compute)


def _supports(catalog: Catalog, tables: CatalogTables, features: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """[hardware, runtime]: the runtime's support matrix lists every feature on the chip's family."""
    return _chip_runtime_table(catalog, tables, ("supports", features),
                               lambda runtime, family: all(runtime.supports(f, family) for f in features))


def _no_split(catalog: Catalog, tables: CatalogTables, kind: str) -> npt.NDArray[np.bool_]:
    """[hardware, runtime]: the runtime runs no ``kind`` ("tensor" / "pipeline") split of a replica
    (``Runtime.no_split``)."""
    return _chip_runtime_table(catalog, tables, ("no_split", kind), lambda runtime, _family: kind in runtime.no_split)


def _uneven_heads(catalog: Catalog, tables: CatalogTables) -> npt.NDArray[np.bool_]:
    """[hardware, runtime]: the runtime pads the heads on the chip's family (``Runtime.uneven_heads``)."""
    return _chip_runtime_table(catalog, tables, ("uneven_heads",),
                               lambda runtime, family: family in runtime.uneven_heads)


def _heads_split(catalog: Catalog, tables: CatalogTables) -> npt.NDArray[np.bool_]:
    """[model, PARALLEL shape]: the shape's tensor-parallel attention splits the model's heads evenly
    (``head_split_problem``); EP shapes run attention data parallel, unsplit (once per catalog; read-only)."""
    def compute() -> npt.NDArray[np.bool_]:
        table = np.array([[ep > 1 or head_split_problem(catalog.models[mid], tp) is None for tp, _pp, ep in PARALLEL]
                          for mid in tables.model_ids], dtype=bool).reshape(len(tables.model_ids), len(PARALLEL))
        table.flags.writeable = False
        return table
    return cached(catalog, ("heads_split", tables.model_ids), compute)


def _ids(ids: tuple[str, ...], allow: tuple[str, ...] | None, deny: tuple[str, ...] = ()) -> list[str]:
    return [ids[i] for i in _allowed(ids, allow, deny)]


def _runnable(tables: CatalogTables, w: Workload, runtimes: tuple[str, ...] | None) -> IntArray:
    """(hardware, runtime, weight precision, KV precision) index rows that can run within the
    constraints (``runtimes``: ``searched_runtimes``), in lexicographic order, fp16 dropped where
    it is bf16's twin (``_twins``)."""
    c = w.constraints

    def allowed(ids: tuple[str, ...], allow: tuple[str, ...] | None, deny: tuple[str, ...] = ()) -> np.ndarray:
        mask = np.zeros(len(ids), dtype=bool)
        mask[_allowed(ids, allow, deny)] = True
        return mask

    hw = allowed(tables.hardware_ids, c.hardware, c.exclude_hardware)[:, None, None]
    rt = allowed(tables.runtime_ids, runtimes)[None, :, None]
    weights = tables.runnable_weights & hw & rt & allowed(tables.precision_ids, c.precisions)
    kvs = tables.runnable_kv & hw & rt & allowed(tables.precision_ids, c.kv_precisions)
    if all(t in tables.precision_ids for t in TWINS):
        bf16, fp16 = (tables.precision_ids.index(t) for t in TWINS)
        same_weights = (tables.stored_weight_bytes[:, bf16] == tables.stored_weight_bytes[:, fp16])[None, :] & \
            (tables.peak_linear[:, bf16] == tables.peak_linear[:, fp16])[:, None]  # [hardware, runtime]
        weights[:, :, fp16] &= ~(weights[:, :, bf16] & same_weights)
        same_kv = (tables.stored_kv_bytes[:, bf16] == tables.stored_kv_bytes[:, fp16])[None, :]  # [1, runtime]
        kvs[:, :, fp16] &= ~(kvs[:, :, bf16] & same_kv)
    return np.argwhere(weights[:, :, :, None] & kvs[:, :, None, :]).astype(np.int64)
