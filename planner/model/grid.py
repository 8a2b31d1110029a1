"""A grid of deployment configurations as a struct of numpy arrays, gathered from catalog tables.

``CatalogTables`` turns a ``Catalog`` into per-entity arrays once; ``gather`` then builds a
``Grid`` for any number of configurations from integer index arrays, with no Python loop over
configurations, so the performance model evaluates 10^5..10^6 configurations in one call.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, ClassVar, Self

import numpy as np
import numpy.typing as npt

from planner.domain import Catalog
from planner.model.attention import attention_columns
from planner.model.drafting import draft_columns
from planner.model.power import sustained_peak_flops

__all__ = ["ACTIVATION_BYTES", "CatalogTables", "Efficiencies", "Grid", "Rows"]

Array = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

ACTIVATION_BYTES = 2.0  # activations and all-reduce payloads stay 16-bit in every engine modelled


class Rows:
    """Row access for a frozen dataclass whose fields are arrays indexed by row on their first axis.

    ``take(rows)`` (also ``obj[rows]``) slices every field; ``empty(n)`` and ``put(at, other)``
    let a cache fill preallocated rows a block at a time.
    """

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def take(self, rows: npt.ArrayLike) -> Self:
        """The same fields restricted to ``rows`` (any numpy index along the first axis)."""
        return type(self)(**{name: getattr(self, name)[rows] for name in self.__dataclass_fields__})

    def __getitem__(self, rows: npt.ArrayLike) -> Self:
        return self.take(rows)

    def __len__(self) -> int:
        return len(getattr(self, next(iter(self.__dataclass_fields__))))

    @classmethod
    def empty(cls, n: int) -> Self:
        """``n`` uninitialised float64 rows of every field."""
        return cls(**{name: np.empty(n) for name in cls.__dataclass_fields__})

    def put(self, at: npt.ArrayLike, other: Self) -> None:
        """Write ``other``'s rows into rows ``at`` of every field, in place."""
        for name in self.__dataclass_fields__:
            getattr(self, name)[at] = getattr(other, name)

    def stacked(self) -> Array:
        """Every field as one [field, row] array, fields in declaration order (a catalog cache stores
        it transposed: ``Universe.arrays``)."""
        return np.stack([getattr(self, name) for name in self.__dataclass_fields__])

    @classmethod
    def from_stacked(cls, array: Array) -> Self:
        """The inverse of ``stacked``: each field a row view of ``array``."""
        if len(array) != len(cls.__dataclass_fields__):
            raise ValueError(f"{len(array)} stacked fields; {cls.__name__} has {len(cls.__dataclass_fields__)}")
        return cls(**{name: array[i] for i, name in enumerate(cls.__dataclass_fields__)})

    def reshaped(self, extra_axes: int) -> Self:
        """Every field with ``extra_axes`` length-1 axes after the rows, to broadcast against counts."""
        return type(self)(**{name: (a := getattr(self, name)).reshape(a.shape + (1,) * extra_axes)
                             for name in self.__dataclass_fields__})


@dataclass(frozen=True)
class Efficiencies(Rows):
    """A runtime's calibrated efficiency on a chip, one array per coefficient (same names as Grid's).

    In ``CatalogTables`` each field is [hardware, runtime]; in a calibration fit, [record].
    """

    eff_compute: Array  # fraction of peak FLOP/s reached
    eff_memory: Array  # fraction of peak memory bandwidth reached
    eff_communication: Array  # fraction of the link's bandwidth reached by collectives
    step_overhead_s: Array  # fixed seconds per forward pass
    collective_latency_s: Array  # seconds per collective (all-reduce or pipeline send)

    @classmethod
    def from_columns(cls, columns: Array) -> Efficiencies:
        """From a [row, 5] matrix whose columns follow the fields' order (a fit's parameter rows)."""
        return cls(**{name: columns[:, k] for k, name in enumerate(cls.__dataclass_fields__)})


@dataclass(frozen=True)
class Grid:
    """One row per configuration; every field is a float64 array of the same shape."""

    # model
    params: Array
    active_params: Array
    expert_params: Array  # parameters in routed experts (0 for dense models)
    experts: Array
    experts_per_token: Array
    layers: Array
    hidden: Array
    heads: Array
    kv_heads: Array
    head_dim: Array
    ffn: Array
    vocab: Array
    moe_layers: Array  # layers with routed experts (0 for dense models)
    # a speculative draft pass (planner.model.drafting): its share of a one-token step's linear compute, the
    # non-expert parameters it reads, and its share of the routed experts a step reads (one MoE layer's)
    draft_compute_share: Array
    draft_dense_params: Array
    draft_expert_share: Array
    # attention kind (planner.model.attention): KV elements per token per layer, KV shards tp splits (MLA: one,
    # which every rank holds), attention FLOPs per query per key (decode), prefill / decode attention FLOPs,
    # window tokens (inf = none), share of full-attention layers
    kv_per_layer: Array
    kv_shards: Array
    attention_flops: Array
    prefill_attention_ratio: Array
    window: Array
    full_fraction: Array
    # precision (planner.domain.Model.weight_format: an experts-only checkpoint keeps the rest 16-bit)
    expert_weight_bytes: Array  # bytes per routed-expert parameter, as the runtime stores them
    dense_weight_bytes: Array  # bytes per other parameter (= expert_weight_bytes unless such a checkpoint)
    kv_bytes: Array  # bytes per KV element
    # hardware, per chip
    peak_linear_flops_per_s: Array  # at the weight precision's compute precision (the routed experts')
    peak_dense_flops_per_s: Array  # the other matmuls' (= peak_linear_flops_per_s unless such a checkpoint)
    peak_attention_flops_per_s: Array  # attention runs in 16-bit
    memory_bandwidth_bytes_per_s: Array
    memory_capacity_bytes: Array  # usable
    link_bytes_per_s: Array  # chip-to-chip, vendor aggregate
    mesh_links: Array  # 0 = switched; else direct links per chip (full mesh: chips_per_node - 1)
    scale_out_bytes_per_s: Array  # between nodes; 0 = none
    chips_per_node: Array
    tp_ranks_per_chip: Array  # tensor-parallel ranks one chip runs (NeuronCores), 1 elsewhere
    # runtime and its (calibrated) efficiency on this hardware
    eff_compute: Array
    eff_memory: Array
    eff_communication: Array
    step_overhead_s: Array
    collective_latency_s: Array
    memory_reserve_fraction: Array
    memory_overhead_bytes: Array
    kv_waste_fraction: Array
    max_concurrency: Array  # inf = no cap
    max_batched_tokens: Array
    continuous_batching: Array  # 1.0 or 0.0
    slot_reserved: Array  # 1.0: no paged KV cache, a slot's cache is allocated whole at its slot length; else 0.0
    moe_expert_efficiency: Array  # routed experts' FLOP/s as a share of the dense layers' (planner.model.moe)
    serving_iteration_s: Array  # seconds a serving iteration costs beyond its passes (planner.model.load.scheduler)
    # parallelism
    tp: Array
    pp: Array
    ep: Array  # expert-parallel ranks = data-parallel attention ranks = tp (planner.model.moe); 1 = none

    def __len__(self) -> int:
        return int(self.params.shape[0])

    def take(self, index: npt.ArrayLike) -> Grid:
        """The sub-grid of the given rows."""
        return Grid(**{f.name: getattr(self, f.name)[index] for f in fields(self)})


@dataclass(frozen=True)
class CatalogTables:
    """Per-entity arrays of a catalog, indexed by position in the id tuples."""

    model_ids: tuple[str, ...]
    hardware_ids: tuple[str, ...]
    precision_ids: tuple[str, ...]
    runtime_ids: tuple[str, ...]
    model: dict[str, Array]
    hardware: dict[str, Array]
    # [runtime, precision]: bytes per weight as the runtime stores the format (``Runtime.stored_bytes``: its own
    # file format's where runtimes.yaml gives weight_bits, else the precision's)
    stored_weight_bytes: Array
    # [model, precision]: per routed-expert parameter where the published checkpoint a configuration at the
    # precision runs has a format of its own (``Model.checkpoint_expert_bits``), nan elsewhere (stored_weight_bytes)
    checkpoint_expert_bytes: Array
    dense_precision: IntArray  # [model, precision]: the other weights' precision (Model.weight_format)
    stored_kv_bytes: Array  # [runtime, precision]: as the runtime caches it (``Runtime.stored_kv_bytes``), nan = none
    peak_linear: Array  # [hardware, precision], nan = precision cannot run
    peak_attention: Array  # [hardware]
    runtime: dict[str, Array]
    efficiency: Efficiencies  # each field [hardware, runtime]
    calibrated: npt.NDArray[np.bool_]  # [hardware, runtime]
    max_concurrency: Array  # [hardware, runtime]: the engine's cap on concurrent sequences, inf = none
    slot_reserved: Array  # [hardware, runtime]: 1.0 where the engine allocates each slot's cache whole (Grid's)
    # [model, hardware, runtime]: the share of its predicted speed a row runs at (``Calibration.slowed``, a
    # what-if; 1 elsewhere): its fractions of peak times it, its fixed costs over it (``gather``)
    speed: Array
    runnable_weights: npt.NDArray[np.bool_]  # [hardware, runtime, precision]: serves weights in it
    runnable_kv: npt.NDArray[np.bool_]  # [hardware, runtime, precision]: stores the KV cache in it

    def digest(self, *, leave_out: frozenset[str] = frozenset()) -> str:
        """SHA-256 of every field's ids and numbers (``leave_out``: field names not hashed): the compiled catalog
        cache's key (``hardware_catalog.caching.cache``), and how a catalog at measured speed tells that its
        tables differ from the catalog's in ``speed`` alone (``planner.search.shapes.candidates.derived_universe``)."""
        sha = hashlib.sha256()

        def feed(name: str, value: Any) -> None:
            sha.update(name.encode())
            if isinstance(value, dict):
                for key in sorted(value):
                    feed(f"{name}.{key}", value[key])
            elif isinstance(value, tuple):
                sha.update(json.dumps(value).encode())
            elif is_dataclass(value):  # named coefficient arrays (e.g. Efficiencies)
                for f in fields(value):
                    feed(f"{name}.{f.name}", getattr(value, f.name))
            else:
                a = np.ascontiguousarray(value)
                if a.dtype == object:
                    raise TypeError(f"cannot digest {name}: {type(value).__name__}")
                sha.update(f"{a.dtype.str}{a.shape}".encode())
                sha.update(a.tobytes())

        for f in fields(self):
            if f.name not in leave_out:
                feed(f.name, getattr(self, f.name))
        return sha.hexdigest()

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> CatalogTables:
        models = list(catalog.models.values())
        hws = list(catalog.hardware.values())
        precs = list(catalog.precisions.values())
        rts = list(catalog.runtimes.values())
        model = {
            "params": [m.params for m in models],
            "active_params": [m.active_params for m in models],
            "expert_params": [m.expert_params for m in models],
            "experts": [m.experts for m in models],
            "experts_per_token": [m.experts_per_token for m in models],
            "layers": [m.layers for m in models],
            "hidden": [m.hidden_size for m in models],
            "heads": [m.heads for m in models],
            "kv_heads": [m.kv_heads for m in models],
            "head_dim": [m.head_dim for m in models],
            "ffn": [m.ffn_size for m in models],
            "vocab": [m.vocab_size for m in models],
            "moe_layers": [m.moe_layers for m in models],
            **attention_columns(models),
            **draft_columns(models),
        }
        hardware = {
            "memory_bandwidth_bytes_per_s": [h.memory_bandwidth_bytes_per_s for h in hws],
            "memory_capacity_bytes": [h.memory_bytes * h.memory_usable_fraction for h in hws],
            "link_bytes_per_s": [h.interconnect_bytes_per_s for h in hws],
            "mesh_links": [h.chips_per_node - 1.0 if h.interconnect_topology == "mesh" else 0.0 for h in hws],
            "scale_out_bytes_per_s": [h.scale_out_bytes_per_s or 0.0 for h in hws],
            "chips_per_node": [h.chips_per_node for h in hws],
            "tp_ranks_per_chip": [float(h.tp_ranks_per_chip) for h in hws],
        }
        peak_linear = np.full((len(hws), len(precs)), np.nan)
        sustained = [sustained_peak_flops(h, catalog.hardware) for h in hws]  # power-capped parts
        for i, h in enumerate(hws):
            for j, p in enumerate(precs):
                compute = p.compute_precision(h)
                if compute is not None:
                    peak_linear[i, j] = sustained[i][compute]
        sixteen = catalog.precisions.get("bf16")
        peak_attention = np.array([
            sustained[i][c] if (c := sixteen.compute_precision(h) if sixteen else None) else np.nan
            for i, h in enumerate(hws)
        ])
        runtime = {
            "memory_reserve_fraction": [r.memory_reserve_fraction for r in rts],
            "memory_overhead_bytes": [r.memory_overhead_bytes for r in rts],
            "kv_waste_fraction": [r.kv_waste_fraction for r in rts],
            "max_batched_tokens": [r.max_batched_tokens for r in rts],
            "continuous_batching": [1.0 if r.continuous_batching else 0.0 for r in rts],
            "moe_expert_efficiency": [catalog.calibration.moe_expert.get(r.id, 1.0) for r in rts],
            "serving_iteration_s": [catalog.calibration.iteration_s(r.id) for r in rts],
        }
        runnable_weights = np.zeros((len(hws), len(rts), len(precs)), dtype=bool)
        runnable_kv = np.zeros((len(hws), len(rts), len(precs)), dtype=bool)
        for i, h in enumerate(hws):
            for k, r in enumerate(rts):
                if r.id in h.runtimes:  # the runtime runs on the chip, serves the format, the chip computes it
                    weights, kvs = catalog.weight_precisions(r, h), catalog.kv_precisions(r, h)  # (its backend's too)
                    runnable_weights[i, k] = [p.id in weights and not np.isnan(peak_linear[i, j])
                                              and p.id not in h.unsupported_precisions  # chip x runtime gap
                                              for j, p in enumerate(precs)]
                    runnable_kv[i, k] = [p.id in kvs and p.bytes_per_kv is not None for p in precs]
        pairs = [catalog.efficiency(h, r) for h in hws for r in rts]

        def per_pair(attr: str, dtype: type = np.float64) -> Any:  # [hardware, runtime]
            return np.array([getattr(e, attr) for e in pairs], dtype=dtype).reshape(len(hws), len(rts))

        efficiency = Efficiencies(eff_compute=per_pair("compute"), eff_memory=per_pair("memory"),
                                  eff_communication=per_pair("communication"),
                                  step_overhead_s=per_pair("step_overhead_s"),
                                  collective_latency_s=per_pair("collective_latency_s"))
        calibrated = per_pair("calibrated", bool)
        caps = np.array([[float(cap) if (cap := catalog.calibration.max_concurrency(r, h)) else np.inf for r in rts]
                         for h in hws]).reshape(len(hws), len(rts))
        slots = np.array([[0.0 if catalog.paged_kv(r, h) else 1.0 for r in rts]
                          for h in hws]).reshape(len(hws), len(rts))
        speed = np.ones((len(models), len(hws), len(rts)))
        position_of = {"model": {m.id: i for i, m in enumerate(models)},
                       "hardware": {h.id: i for i, h in enumerate(hws)},
                       "runtime": {r.id: i for i, r in enumerate(rts)}}
        for (model_id, hardware_id, runtime_id), factor in catalog.calibration.slowed.items():
            at = [slice(None) if key is None else position_of[kind].get(key) for kind, key in
                  (("model", model_id), ("hardware", hardware_id), ("runtime", runtime_id))]
            if all(a is not None for a in at):  # (an id this catalog lacks slows nothing)
                speed[tuple(at)] = np.minimum(speed[tuple(at)], factor)  # several reaching a row: the slowest
        formats = [[m.weight_format(p, catalog.precisions) for p in precs] for m in models]
        position = {p.id: j for j, p in enumerate(precs)}
        return cls(
            model_ids=tuple(m.id for m in models),
            hardware_ids=tuple(h.id for h in hws),
            precision_ids=tuple(p.id for p in precs),
            runtime_ids=tuple(r.id for r in rts),
            model={k: np.asarray(v, dtype=np.float64) for k, v in model.items()},
            hardware={k: np.asarray(v, dtype=np.float64) for k, v in hardware.items()},
            stored_weight_bytes=np.array([[r.stored_bytes(p) for p in precs] for r in rts],
                                         dtype=np.float64).reshape(len(rts), len(precs)),
            checkpoint_expert_bytes=np.array([[np.nan if (bits := m.checkpoint_expert_bits(p)) is None else bits / 8.0
                                               for p in precs] for m in models],
                                             dtype=np.float64).reshape(len(models), len(precs)),
            dense_precision=np.array([[position[f.rest.id] for f in row] for row in formats],
                                     dtype=np.int64).reshape(len(models), len(precs)),
            stored_kv_bytes=np.array([[np.nan if (b := r.stored_kv_bytes(p)) is None else b for p in precs]
                                      for r in rts], dtype=np.float64).reshape(len(rts), len(precs)),
            peak_linear=peak_linear,
            peak_attention=peak_attention,
            runtime={k: np.asarray(v, dtype=np.float64) for k, v in runtime.items()},
            efficiency=efficiency,
            calibrated=calibrated,
            max_concurrency=caps,
            slot_reserved=slots,
            speed=speed,
            runnable_weights=runnable_weights,
            runnable_kv=runnable_kv,
        )

    def gather(self, *, model: IntArray, hardware: IntArray, weight_precision: IntArray,
               kv_precision: IntArray, runtime: IntArray, tp: npt.ArrayLike,
               pp: npt.ArrayLike, ep: npt.ArrayLike = 1.0) -> Grid:
        """Build a Grid from index arrays (broadcast together)."""
        model, hardware, weight_precision, kv_precision, runtime, tp_a, pp_a, ep_a = np.broadcast_arrays(
            model, hardware, weight_precision, kv_precision, runtime,
            np.asarray(tp, dtype=np.float64), np.asarray(pp, dtype=np.float64),
            np.asarray(ep, dtype=np.float64))
        eff = self.efficiency.take((hardware, runtime))
        speed = self.speed[model, hardware, runtime]  # (1 but in a what-if: x 1 and / 1 are exact)
        dense = self.dense_precision[model, weight_precision]
        own = self.checkpoint_expert_bytes[model, weight_precision]
        return Grid(
            **{k: v[model] for k, v in self.model.items()},
            expert_weight_bytes=np.where(np.isnan(own), self.stored_weight_bytes[runtime, weight_precision], own),
            dense_weight_bytes=self.stored_weight_bytes[runtime, dense],
            kv_bytes=self.stored_kv_bytes[runtime, kv_precision],
            peak_linear_flops_per_s=self.peak_linear[hardware, weight_precision],
            peak_dense_flops_per_s=self.peak_linear[hardware, dense],
            peak_attention_flops_per_s=self.peak_attention[hardware],
            **{k: v[hardware] for k, v in self.hardware.items()},
            eff_compute=eff.eff_compute * speed,
            eff_memory=eff.eff_memory * speed,
            eff_communication=eff.eff_communication * speed,
            step_overhead_s=eff.step_overhead_s / speed,
            collective_latency_s=eff.collective_latency_s / speed,
            max_concurrency=self.max_concurrency[hardware, runtime],
            slot_reserved=self.slot_reserved[hardware, runtime],
            **{k: v[runtime] for k, v in self.runtime.items()},
            tp=tp_a.copy(),
            pp=pp_a.copy(),
            ep=ep_a.copy(),
        )
