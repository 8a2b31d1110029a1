"""Turn validated file models into planner's domain objects: cross-checks and unit conversion.

Units are converted exactly once, here: GB -> bytes (1e9), GB/s -> bytes/s (1e9),
TFLOPS -> FLOP/s (1e12), ms -> s (1e-3), us -> s (1e-6), bits -> bytes (/8).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field

from hardware_catalog.schema import (
    CalibrationFile,
    EfficiencyIn,
    HardwareFile,
    MeasuredBiasFile,
    ModelFile,
    PrecisionFile,
    QualityFile,
    RuntimeFile,
)
from planner.domain import (
    AdaptationGain,
    Attention,
    Calibration,
    Catalog,
    Checkpoint,
    DistillEvidence,
    EagleHead,
    Efficiency,
    Hardware,
    MeasuredBias,
    Model,
    MoeLayout,
    Precision,
    PrecisionQuality,
    QualityBand,
    QualityData,
    Runtime,
    ServingSupport,
    Toolchain,
)
from planner.errors import CatalogError
from planner.model.attention import parameter_counts

__all__ = ["RawCatalog", "efficiency_from_file", "to_domain"]

GB = 1e9
TFLOPS = 1e12


@dataclass
class RawCatalog:
    """Validated file models keyed by id, each with the file it came from."""

    hardware: dict[str, tuple[str, HardwareFile]] = field(default_factory=dict)
    models: dict[str, tuple[str, ModelFile]] = field(default_factory=dict)
    precisions: dict[str, tuple[str, PrecisionFile]] = field(default_factory=dict)
    runtimes: dict[str, tuple[str, RuntimeFile]] = field(default_factory=dict)
    calibration: tuple[str, CalibrationFile] | None = None
    quality: tuple[str, QualityFile] | None = None
    measured_bias: tuple[str, MeasuredBiasFile] | None = None


def efficiency_from_file(eff: EfficiencyIn, *, calibrated: bool, source: str) -> Efficiency:
    return Efficiency(
        compute=eff.compute,
        memory=eff.memory,
        communication=eff.communication,
        step_overhead_s=eff.step_overhead_ms * 1e-3,
        collective_latency_s=eff.collective_latency_us * 1e-6,
        calibrated=calibrated,
        source=source,
    )


def to_domain(raw: RawCatalog, *, version: str) -> Catalog:
    precisions = {pid: _precision(file, p, raw) for pid, (file, p) in raw.precisions.items()}
    runtimes = {rid: _runtime(file, r, raw) for rid, (file, r) in raw.runtimes.items()}
    hardware = {hid: _hardware(file, h, raw) for hid, (file, h) in raw.hardware.items()}
    models = {mid: _model(file, m, raw) for mid, (file, m) in raw.models.items()}
    _check_aliases(raw)
    calibration = _calibration(raw)
    return Catalog(hardware=hardware, models=models, precisions=precisions, runtimes=runtimes,
                   calibration=calibration, version=version, quality=_quality(raw), measured_bias=_measured_bias(raw))


def _measured_bias(raw: RawCatalog) -> tuple[MeasuredBias, ...]:
    """measured_bias.yaml -> MeasuredBias entries, every one (``Catalog.measured_for`` applies those whose
    model and runtime the catalog has: a trimmed copy of the shipped catalog still loads)."""
    if raw.measured_bias is None:
        return ()
    return tuple(MeasuredBias(model=e.model, runtime=e.runtime, metric=e.metric, records=e.records, median=e.median,
                              low=e.low, high=e.high, hardware=tuple(e.hardware), sample=e.sample, file=e.file,
                              holds=e.holds, models=tuple(e.models))
                 for e in raw.measured_bias[1].entries)


def _precision(file: str, p: PrecisionFile, raw: RawCatalog) -> Precision:
    for i, target in enumerate(p.compute_as):
        if target not in raw.precisions:
            raise CatalogError(f"unknown precision id {target!r}", file=file,
                               field=f"precisions.{p.id}.compute_as.{i}")
    return Precision(
        id=p.id,
        bytes_per_weight=p.bits_per_weight / 8,
        bytes_per_kv=None if p.bits_per_kv is None else p.bits_per_kv / 8,
        compute_as=tuple(p.compute_as),
        description=p.description,
        sources=dict(p.sources),
    )


def _runtime(file: str, r: RuntimeFile, raw: RawCatalog) -> Runtime:
    for key in ("weight_precisions", "kv_precisions"):
        for i, pid in enumerate(getattr(r, key)):
            if pid not in raw.precisions:
                raise CatalogError(f"unknown precision id {pid!r}", file=file,
                                   field=f"runtimes.{r.id}.{key}.{i}")
            if key == "kv_precisions" and raw.precisions[pid][1].bits_per_kv is None:
                raise CatalogError(f"precision {pid!r} has no bits_per_kv", file=file,
                                   field=f"runtimes.{r.id}.{key}.{i}")
    if r.based_on is not None:  # one level: the base is a runtime of its own (no chains, no cycles)
        base = raw.runtimes.get(r.based_on)
        if base is None or base[1].based_on is not None or r.based_on == r.id:
            raise CatalogError(f"based_on {r.based_on!r} names no runtime without a based_on of its own", file=file,
                               field=f"runtimes.{r.id}.based_on")
    for family, backend in r.backends.items():  # a runtime of this catalog that runs on that family itself
        b = raw.runtimes.get(backend)
        if b is None or family not in b[1].families:
            raise CatalogError(f"backend {backend!r} names no runtime of this catalog that runs on {family} chips",
                               file=file, field=f"runtimes.{r.id}.backends.{family}")
        if b[1].backends:
            raise CatalogError(f"backend {backend!r} has backends of its own (one level: a backend runs the "
                               "formats itself)", file=file, field=f"runtimes.{r.id}.backends.{family}")
    return Runtime(
        id=r.id,
        name=r.name,
        families=tuple(r.families),
        features=dict(r.features),
        weight_precisions=tuple(r.weight_precisions),
        kv_precisions=tuple(r.kv_precisions),
        prior=efficiency_from_file(r.efficiency, calibrated=False, source=f"prior ({file})"),
        memory_reserve_fraction=r.memory_reserve_fraction,
        memory_overhead_bytes=r.memory_overhead_gb * GB,
        kv_waste_fraction=r.kv_waste_fraction,
        max_concurrency=r.max_concurrency,
        max_batched_tokens=r.max_batched_tokens,
        sources=dict(r.sources),
        serving=tuple(ServingSupport(feature=x.feature, families=tuple(x.families), since=x.since, source=x.source,
                                      export_checked=x.export_checked or "", methods=tuple(x.methods))
                      for x in r.serving),
        explicit_only=r.explicit_only,
        based_on=r.based_on,
        uneven_heads=tuple(r.uneven_heads),
        backends={str(family): backend for family, backend in r.backends.items()},
        native_only=tuple(r.native_only),
        fp8_kv_with=tuple(r.fp8_kv_with),
        no_split={str(kind): why for kind, why in r.no_split.items()},
        weight_bits={str(p): bits for p, bits in r.weight_bits.items()},
        kv_bits={str(p): bits for p, bits in r.kv_bits.items()},
    )


def _hardware(file: str, h: HardwareFile, raw: RawCatalog) -> Hardware:
    for i, rid in enumerate(h.runtimes):
        if rid not in raw.runtimes:
            raise CatalogError(f"unknown runtime id {rid!r}", file=file, field=f"runtimes.{i}")
        families = raw.runtimes[rid][1].families
        if h.family not in families:
            raise CatalogError(f"runtime {rid!r} does not run on family {h.family!r} "
                               f"(it runs on {', '.join(families)})", file=file, field=f"runtimes.{i}")
    for pid in h.peak_tflops:
        if pid not in raw.precisions and pid != "tf32":
            raise CatalogError(f"unknown precision id {pid!r}", file=file, field=f"peak_tflops.{pid}")
    _check_power_reference(file, h, raw)
    _check_runtime_kernels(file, h, raw)
    return Hardware(
        id=h.id,
        name=h.name,
        vendor=h.vendor,
        family=h.family,
        memory_bytes=h.memory_gb * GB,
        memory_bandwidth_bytes_per_s=h.memory_bandwidth_gb_s * GB,
        peak_flops_per_s={pid: tf * TFLOPS for pid, tf in h.peak_tflops.items()},
        chips_per_node=h.chips_per_node,
        interconnect_bytes_per_s=h.interconnect_gb_s * GB,
        interconnect_topology=h.interconnect_topology,
        tp_ranks_per_chip=h.tp_ranks_per_chip,
        scale_out_bytes_per_s=None if h.scale_out_gb_s is None else h.scale_out_gb_s * GB,
        tdp_w=h.tdp_w,
        runtimes=tuple(h.runtimes),
        default_runtime=h.default_runtime,
        memory_usable_fraction=h.memory_usable_fraction,
        unsupported_precisions={str(p): why for p, why in h.unsupported_precisions.items()},
        fp4_format=h.fp4_format,
        sources=dict(h.sources),
        notes=h.notes,
        power_reference=h.power_reference,
        runtime_kernels={rid: {str(p): str(k) for p, k in kernels.items()}
                         for rid, kernels in h.runtime_kernels.items()},
    )


def _check_power_reference(file: str, h: HardwareFile, raw: RawCatalog) -> None:
    """A power reference is another chip of the same vendor, and both state a TDP."""
    ref_id = h.power_reference
    if ref_id is None:
        return
    if ref_id not in raw.hardware or ref_id == h.id:
        raise CatalogError(f"names no other hardware entry: {ref_id!r}", file=file, field="power_reference")
    ref_file, ref = raw.hardware[ref_id]
    named = f"{ref_id!r} ({ref_file})"  # the file that defines it: an overlay's own, where it redefines the id
    if ref.vendor != h.vendor:
        raise CatalogError(f"{named} is made by {ref.vendor}, this one by {h.vendor}: not the same die",
                           file=file, field="power_reference")
    if h.tdp_w is None or ref.tdp_w is None:
        raise CatalogError(f"needs tdp_w here and in {named}", file=file, field="power_reference")


def _check_runtime_kernels(file: str, h: HardwareFile, raw: RawCatalog) -> None:
    """Each entry maps a weight precision one of the chip's runtimes serves to a precision with the
    same stored bits (a kernel choice, not a different checkpoint) that the chip computes natively."""
    for rid, kernels in h.runtime_kernels.items():
        if rid not in h.runtimes:
            raise CatalogError(f"runtime {rid!r} is not one of this chip's runtimes ({', '.join(h.runtimes)})",
                               file=file, field=f"runtime_kernels.{rid}")
        served = raw.runtimes[rid][1].weight_precisions
        for source, target in kernels.items():
            where = f"runtime_kernels.{rid}.{source}"
            if source not in served:
                raise CatalogError(f"{rid} does not serve {source} weights (it serves {', '.join(served)})",
                                   file=file, field=where)
            for pid in (source, target):
                if pid not in raw.precisions:
                    raise CatalogError(f"unknown precision id {pid!r}", file=file, field=where)
            stored, computed = raw.precisions[source][1], raw.precisions[target][1]
            if computed.bits_per_weight != stored.bits_per_weight:
                raise CatalogError(f"{target} stores {computed.bits_per_weight} bits per weight, {source} "
                                   f"{stored.bits_per_weight}: a kernel reads the weights as stored",
                                   file=file, field=where)
            if not set(computed.compute_as) & set(h.peak_tflops):
                raise CatalogError(f"{target} computes as {', '.join(computed.compute_as)}; this chip lists no "
                                   f"peak_tflops for any of them", file=file, field=where)


def _model(file: str, m: ModelFile, raw: RawCatalog) -> Model:
    for key in ("precision", "rest"):
        pid = getattr(m.checkpoint, key, None)
        if pid is not None and pid not in raw.precisions:
            raise CatalogError(f"unknown precision id {pid!r}", file=file, field=f"checkpoint.{key}")
    _check_benchmarks(file, m, raw)
    model = _model_of(m)
    _check_parameter_count(file, model)
    return model


def _check_benchmarks(file: str, m: ModelFile, raw: RawCatalog) -> None:
    """Each ``quality`` key names a benchmark quality.yaml lists: a misspelt key (``mmmlu``) had loaded, and the
    model could then meet no general floor, without a word."""
    known = raw.quality[1].benchmarks if raw.quality is not None else {}
    if not known:
        return
    for key in m.quality:
        if key not in known:
            close = difflib.get_close_matches(key, list(known), n=1)
            raise CatalogError(
                f"unknown benchmark {key!r}" + (f" ({close[0]!r}, misspelt?)" if close else "")
                + f": {raw.quality[0] if raw.quality else 'quality.yaml'} benchmarks lists {', '.join(sorted(known))} "
                "(a new benchmark goes there, with what it measures; an --add directory's quality.yaml replaces the "
                "shipped one, its benchmarks too where it lists some)",
                file=file, field=f"quality.{key}")


# params_b / active_params_b over the count from the architecture (planner.model.attention.parameter_counts):
# 0.76-1.09 over the shipped models (GELU MLPs of two matrices, counted as three, are the low end; a vision
# encoder beside the text model would be the high). Past these a figure is in the wrong unit or a typo:
# memory and FLOPs both read it.
PARAMS_RATIO = (0.5, 2.0)


def _check_parameter_count(file: str, model: Model) -> None:
    counts = parameter_counts(model)
    for name, stated, counted in (("params_b", model.params, counts.total),
                                  ("active_params_b", model.active_params, counts.active)):
        ratio = stated / counted
        if not PARAMS_RATIO[0] <= ratio <= PARAMS_RATIO[1]:
            raise CatalogError(
                f"{stated / 1e9:g} B parameters, {ratio:.3g}x the {counted / 1e9:.4g} B the architecture gives "
                "(layers, hidden_size, heads, kv_heads, head_dim, ffn_size, vocab_size, experts, attention, moe): "
                f"outside {PARAMS_RATIO[0]:g}-{PARAMS_RATIO[1]:g}x; check the figure and its unit (billions)",
                file=file, field=name)


def _model_of(m: ModelFile) -> Model:
    return Model(
        id=m.id,
        name=m.name,
        family=m.family,
        params=m.params_b * 1e9,
        active_params=(m.active_params_b or m.params_b) * 1e9,
        layers=m.layers,
        hidden_size=m.hidden_size,
        heads=m.heads,
        kv_heads=m.kv_heads,
        head_dim=m.head_dim,
        ffn_size=m.ffn_size,
        vocab_size=m.vocab_size,
        context_length=m.context_length,
        experts=m.experts,
        experts_per_token=m.experts_per_token,
        tied_embeddings=m.tied_embeddings,
        routed_expert_params=None if m.expert_params_b is None else m.expert_params_b * 1e9,
        quality=dict(m.quality),
        aliases=tuple(m.aliases),
        sources=dict(m.sources),
        attention=_attention(m),
        moe=MoeLayout() if m.moe is None else MoeLayout(
            shared_experts=m.moe.shared_experts, shared_ffn_size=m.moe.shared_ffn_size or m.ffn_size,
            dense_layers=m.moe.dense_layers, dense_ffn_size=m.moe.dense_ffn_size or 0),
        mtp_layers=m.mtp_layers,
        checkpoint=None if m.checkpoint is None else Checkpoint(
            precision=m.checkpoint.precision, quantised=m.checkpoint.quantised, rest=m.checkpoint.rest,
            bits_per_weight=m.checkpoint.bits_per_weight),
        released_precision=m.released_precision,
        eagle_head=None if m.eagle_head is None else EagleHead(
            repo=m.eagle_head.repo, method=m.eagle_head.method, target=m.eagle_head.target),
    )


def _attention(m: ModelFile) -> Attention:
    a = m.attention
    if a is None:
        return Attention(kind="mha" if m.kv_heads == m.heads else "gqa")
    return Attention(kind=a.kind, kv_lora_rank=a.kv_lora_rank or 0, qk_rope_head_dim=a.qk_rope_head_dim or 0,
                     qk_nope_head_dim=a.qk_nope_head_dim or 0, v_head_dim=a.v_head_dim or 0,
                     q_lora_rank=a.q_lora_rank or 0, window=a.window or 0,
                     sliding_layers=m.layers if a.kind == "sliding_window" else a.sliding_layers or 0)


def _check_aliases(raw: RawCatalog) -> None:
    """An id or alias names one entry of one kind: a model and a chip both 'a10' loaded, and `hwplan catalog
    show a10` showed the chip and no word of the model."""
    kinds: dict[str, str] = {}
    for kind, table in (("precision", raw.precisions), ("runtime", raw.runtimes), ("hardware", raw.hardware),
                        ("model", raw.models)):
        for eid, (file, _entry) in table.items():
            if eid in kinds:
                raise CatalogError(f"id {eid!r} is already the id of the {kinds[eid]}: an id names one catalog "
                                   "entry (`hwplan catalog show ID` takes any kind)", file=file, field="id")
            kinds[eid] = f"{kind} in {file}"
    seen: dict[str, str] = {}
    for mid, (file, m) in raw.models.items():
        for i, alias in enumerate(m.aliases):
            if alias in kinds or alias in seen:
                raise CatalogError(f"alias {alias!r} is already " + (f"the id of the {kinds[alias]}" if alias in kinds
                                                                      else "a model alias"),
                                   file=file, field=f"aliases.{i}")
            seen[alias] = mid


def _calibration(raw: RawCatalog) -> Calibration:
    if raw.calibration is None:
        return Calibration()
    file, cal = raw.calibration
    pairs: dict[tuple[str, str], Efficiency] = {}
    families: dict[tuple[str, str], Efficiency] = {}
    vendors: dict[tuple[str, str, str], Efficiency] = {}
    for i, entry in enumerate(cal.entries):
        if entry.runtime not in raw.runtimes:
            raise CatalogError(f"unknown runtime id {entry.runtime!r}", file=file,
                               field=f"entries.{i}.runtime")
        if entry.hardware is not None:
            source = f"fit on {entry.n_records} records ({file})"
            eff = efficiency_from_file(entry.efficiency, calibrated=True, source=source)
            if entry.hardware not in raw.hardware:
                raise CatalogError(f"unknown hardware id {entry.hardware!r}", file=file,
                                   field=f"entries.{i}.hardware")
            pairs[(entry.hardware, entry.runtime)] = eff
        elif entry.vendor is not None:
            assert entry.family is not None
            # A vendor-level fit is a prior for that vendor's chips of the family with no data of their own.
            source = f"{entry.vendor} {entry.family} prior fitted on {entry.n_records} records ({file})"
            vendors[(entry.family, entry.vendor, entry.runtime)] = efficiency_from_file(
                entry.efficiency, calibrated=False, source=source)
        else:
            assert entry.family is not None
            # A family-level fit is a prior for chips of that family with no data of their own.
            source = f"{entry.family} family prior fitted on {entry.n_records} records ({file})"
            eff = efficiency_from_file(entry.efficiency, calibrated=False, source=source)
            families[(entry.family, entry.runtime)] = eff
    for name, per_runtime in (("moe_expert", cal.moe_expert), ("serving_overlap_runtime", cal.serving_overlap_runtime),
                              ("serving_iteration_runtime", cal.serving_iteration_runtime),
                              ("serving_iteration_interval_runtime", cal.serving_iteration_interval_runtime),
                              ("serving_concurrency_runtime", cal.serving_concurrency_runtime)):
        for rid in per_runtime:
            if rid not in raw.runtimes:
                raise CatalogError(f"unknown runtime id {rid!r}", file=file, field=f"{name}.{rid}")
    return Calibration(pairs=pairs, family_runtime=families, vendor_runtime=vendors,
                       fitted_on=dict(cal.fitted_on), moe_expert=dict(cal.moe_expert),
                       serving_overlap=cal.serving_overlap, serving_overlap_runtime=dict(cal.serving_overlap_runtime),
                       serving_iteration_s=cal.serving_iteration_s,
                       serving_iteration_runtime=dict(cal.serving_iteration_runtime),
                       serving_iteration_interval=cal.serving_iteration_interval,
                       serving_iteration_interval_runtime=dict(cal.serving_iteration_interval_runtime),
                       serving_concurrency={(rid, family): cap
                                            for rid, by_family in cal.serving_concurrency_runtime.items()
                                            for family, cap in by_family.items()})


def _quality(raw: RawCatalog) -> QualityData:
    """quality.yaml -> QualityData (billions of parameters -> parameters)."""
    if raw.quality is None:
        return QualityData()
    file, q = raw.quality
    precisions: dict[str, PrecisionQuality] = {}
    for i, p in enumerate(q.precisions):
        if p.precision not in raw.precisions:
            raise CatalogError(f"unknown precision id {p.precision!r}", file=file,
                               field=f"precisions.{i}.precision")
        bands = tuple(QualityBand(min_params=b.min_active_params_b * 1e9, low=b.low, high=b.high)
                      for b in p.bands)
        precisions[p.precision] = PrecisionQuality(precision=p.precision, method=p.method, bands=bands,
                                                   sources=tuple(p.sources))
    adaptations: dict[str, tuple[AdaptationGain, ...]] = {}
    for a in q.finetune:
        adaptations[a.method] = (*adaptations.get(a.method, ()), AdaptationGain(
            method=a.method, gain_low=a.gain_low, gain_high=a.gain_high, sources=tuple(a.sources),
            min_params=a.min_params_b * 1e9, max_params=a.max_params_b * 1e9))
    distillation = tuple(DistillEvidence(
        name=d.name, task_types=tuple(d.task_types), teacher_prompting=d.teacher_prompting,
        min_student_params=d.min_student_params_b * 1e9,
        max_student_params=math.inf if d.max_student_params_b is None else d.max_student_params_b * 1e9,
        above_teacher_points=d.above_teacher_points, sources=tuple(d.sources)) for d in q.distillation)
    toolchains = tuple(Toolchain(method=t.method, families=tuple(t.families), name=t.name, source=t.source)
                       for t in q.toolchains)
    return QualityData(precisions=precisions, adaptations=adaptations, full_data_tokens=q.full_data_tokens,
                       distillation=distillation, toolchains=toolchains, references=dict(q.references))
