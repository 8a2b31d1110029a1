"""From a plan to what runs it: engine launch commands and Kubernetes manifests (``hwplan export``).

``export(plan_doc, catalog, fmt, rank=1, workload=None)`` turns one ranked plan of a
``PlanResultOut`` into files; ``engines`` writes the launch commands (and documents which flags
the plan implies), ``serving`` the serving features' flags (refusing those an engine lacks),
``k8s`` the manifests (a disaggregated plan: its prefill and decode pools). A plan an engine or
chip cannot express raises ``ExportError`` naming why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hardware_catalog.export.base import Artifact, ExportError, _Ctx, _sixteen_bit_shard, deploy_data
from hardware_catalog.export.engines import (
    CLUSTER_FORMATS,
    ENGINE_FORMATS,
    FORMATS,
    KUBERNETES_VERSION,
    PLACEHOLDERS,
    QUANTISE_FORMAT,
    _slug,
    _weights,
    engine_argv,
    placeholders,
    shell_join,
)
from hardware_catalog.export.k8s import manifests
from hardware_catalog.export.quantise import CHECKPOINT, fp8_at_load, prequantised, quantise_script
from hardware_catalog.export.quantise import ENGINES as QUANTISE_ENGINES
from hardware_catalog.export.serving import check as check_serving
from hardware_catalog.export.serving import header as serving_header

if TYPE_CHECKING:
    from hardware_catalog.outputs import PlanOut, PlanResultOut
    from planner.domain import Catalog
    from planner.workload import Workload

__all__ = ["CLUSTER_FORMATS", "ENGINE_FORMATS", "FORMATS", "KUBERNETES_VERSION", "QUANTISE_FORMAT", "Artifact",
           "ExportError", "deploy_data", "engine_argv", "export", "one_deployment", "refusal", "with_deploy"]


def _choose(doc: PlanResultOut, rank: int) -> PlanOut:
    """The plan of ``rank`` among the ranked plans or, past them, the Pareto front's (the page lists both)."""
    for p in (*doc.plans, *doc.pareto):
        if p.rank == rank:
            return p
    if not doc.plans:
        why = ("the search ran out of its time limit before it found one" if doc.search.solver_status == "TIME_LIMIT"
               else "no plan met every constraint")
        raise ExportError(f"the result has no plan to export ({why})", field="rank")
    front = sorted({p.rank for p in doc.pareto} - {p.rank for p in doc.plans})
    ranked = "rank 1 only" if len(doc.plans) == 1 else f"ranks 1-{len(doc.plans)}"
    also = f"; the Pareto front adds rank{'s' if len(front) > 1 else ''} {', '.join(map(str, front))}" if front else ""
    raise ExportError(f"the result has no plan of rank {rank}: its ranked plans are {ranked}{also}", field="rank")


def _check_known(ctx: _Ctx) -> None:
    """Every id the plan names is in this catalog: a saved plan outlives catalog edits (an entry deleted
    since was reported as a bad query parameter 'hardware')."""
    p, cat = ctx.plan, ctx.catalog
    known = {"runtime": set(cat.runtimes), "hardware": set(cat.hardware)}
    named = [("model", p.model), ("runtime", p.runtime), *(("hardware", d.hardware) for d in p.deployments)]
    for what, ident in named:
        if (ident not in cat.models and cat.aliased(ident) is None) if what == "model" else ident not in known[what]:
            raise ExportError(f"plan {p.rank}'s {what} {ident!r} is not in this catalog (removed since the plan was "
                              "made?): re-plan the workload on the catalog as it is (hwplan replan)", field="rank")


def _check_exportable(ctx: _Ctx) -> None:
    """Refuse a plan on an ``explicit_only`` runtime (a commercial engine): hwplan has no launch
    command for it, and another engine's commands would not deliver the capacity predicted for it."""
    runtime = ctx.catalog.runtimes.get(ctx.plan.runtime)
    if runtime is not None and runtime.explicit_only is not None:
        raise ExportError(f"plan {ctx.plan.rank} runs on {runtime.name} ({runtime.id}), which hwplan does not "
                          f"export: {runtime.explicit_only}. Deploy it with the vendor's tooling, or re-plan with "
                          "constraints.runtimes naming an exportable engine (its latency and capacity were "
                          f"predicted for {runtime.id}, not for another engine)", field="runtime")


NEURON_FAMILIES = ("inferentia", "trainium")  # AWS Neuron chips: vLLM runs on them through its Neuron backend


def _engine_for(ctx: _Ctx) -> str:
    for fmt, engine in deploy_data()["engines"].items():
        if engine["runtime"] == ctx.plan.runtime:
            if fmt == "vllm" and all(ctx.catalog.get_hardware(d.hardware).family in NEURON_FAMILIES
                                     for d in ctx.plan.deployments):
                return "neuron"  # (its image and NeuronCore counts; the CUDA image does not run there)
            return str(fmt)
    raise ExportError(f"the plan's runtime {ctx.plan.runtime} has no launch command here (exportable: "
                      f"{', '.join(e['runtime'] for e in deploy_data()['engines'].values())})", field="format")


def _one_line(text: object) -> str:
    """``text`` fit for a comment line: control characters (a newline would end the comment and
    start a command) become spaces."""
    return "".join(c if c.isprintable() else " " for c in str(text))


def _check_shape(ctx: _Ctx) -> None:
    """A plan file is data from outside: its deployments must be ones an engine can be given."""
    for i, d in enumerate(ctx.plan.deployments):
        where = f"plans.{ctx.plan.rank}.deployments.{i}"
        if min(d.tp, d.pp, d.replicas, d.chips_per_replica) < 1 or d.max_batch < 1:
            raise ExportError("tp, pp, replicas, chips_per_replica and max_batch must each be at least 1",
                              field=where)
        if d.tp * d.pp != d.chips_per_replica:
            raise ExportError(f"tp x pp = {d.tp * d.pp} is not chips_per_replica = {d.chips_per_replica}", field=where)


def _header(ctx: _Ctx, fmt: str, argv: list[str] | None = None) -> list[str]:
    p = ctx.plan
    engine = deploy_data()["engines"][fmt]
    lines = [f"# hwplan plan rank {p.rank}: {p.model} {p.precision} (KV {p.kv_precision}) on {p.runtime}"
             + ("" if p.adaptation == "none" else f", {p.adaptation}"),
             f"# flags checked against {engine['reference']}"]
    lines += [f"# set {name}: {PLACEHOLDERS[name]}" for name in placeholders(argv or [])]
    if "note" in engine:
        lines.append(f"# NOTE: {engine['note']}")
    lines += serving_header(ctx, fmt)
    if engine["runtime"] != p.runtime:
        lines.append(f"# NOTE: the plan's latency and capacity were predicted for {p.runtime}, not {fmt}")
    if ctx.workload is None:
        lines.append("# no workload given: the engine takes the model's own maximum length")
    return [_one_line(line) for line in lines]  # (a plan file's strings must not end a comment)


def export(doc: PlanResultOut, catalog: Catalog, fmt: str, *, rank: int = 1,
           workload: Workload | None = None) -> list[Artifact]:
    """The files for plan ``rank`` of ``doc`` in ``fmt`` (raises ExportError when it cannot be expressed)."""
    if fmt not in FORMATS:
        import difflib

        near = difflib.get_close_matches(fmt.lower(), FORMATS, n=1, cutoff=0.75)
        raise ExportError(f"unknown format {fmt!r}" + (f": did you mean {near[0]!r}?" if near else "")
                          + f" (one of {', '.join(FORMATS)})", field="format")
    ctx = _Ctx(_choose(doc, rank), catalog, workload)
    _check_known(ctx)
    _check_shape(ctx)
    _check_exportable(ctx)
    if fmt == QUANTISE_FORMAT:
        return [_quantise_job(ctx, doc.workload)]
    if fmt in ENGINE_FORMATS:
        check_serving(ctx, fmt)  # a feature the engine lacks or this export cannot write: refused, named
        for i, d in enumerate(ctx.plan.deployments):
            per_node = catalog.get_hardware(d.hardware).chips_per_node
            if d.chips_per_replica > per_node:
                raise ExportError(f"deployment {i + 1}: a replica of {d.chips_per_replica} {d.hardware} spans "
                                  f"{-(-d.chips_per_replica // per_node)} nodes, and a launch script runs one "
                                  "process on one node (its engine needs Ray or MPI ranks across them): use "
                                  "--format k8s or lws, which start vLLM over Ray", field="format")
        out = []
        for i, d in enumerate(ctx.plan.deployments):
            argv = engine_argv(ctx, fmt, d)
            pool = "" if d.role == "both" else f"{d.role} pool, "
            text = "\n".join(["#!/bin/sh", *_header(ctx, fmt, argv),
                              _one_line(f"# deployment {i + 1} ({pool}{d.replicas} replica(s) of "
                                        f"{d.chips_per_replica} x {d.hardware}): run one per replica"),
                              *_required(argv), "exec " + shell_join(argv), ""])
            role = "" if d.role == "both" else f"{d.role}-"
            name = f"{_file_stem(doc.workload)}-{i + 1}-{role}{d.hardware}.{_slug(fmt)}.sh"
            out.append(Artifact(name, text, "text/x-shellscript"))
        return out
    engine = _engine_for(ctx)
    check_serving(ctx, engine)
    docs = manifests(ctx, fmt, engine, doc.workload)
    return [Artifact(f"{_file_stem(doc.workload)}.{fmt}.yaml", docs, "application/yaml")]


def _required(argv: list[str]) -> list[str]:
    """Shell lines that stop with a message where a placeholder the command reads is unset or empty (the engine
    was started with an empty model path)."""
    return [f': "${{{name}:?set {name} first (see above)}}"' for name in placeholders(argv)]


def _why_quantised(ctx: _Ctx, engine: str) -> str:
    """Why the plan's weights are quantised beforehand, for the job's header."""
    p = ctx.plan
    if p.precision != "fp8" or engine == "trtllm":
        return f"{engine} loads {p.precision} weights only from a checkpoint quantised beforehand"
    # FP8 at load needs every deployment's 16-bit shard to fit (quantise.fp8_at_load): name the first that does not
    i, d, shard, usable = next((i, d, *sizes) for i, d in enumerate(p.deployments)
                               if (sizes := _sixteen_bit_shard(ctx, d))[0] > sizes[1])
    return (f"{engine} quantises to FP8 at load only where each chip holds the 16-bit weights first: deployment "
            f"{i + 1}'s {d.hardware} has {usable / 1e9:.1f} GB for a {shard / 1e9:.1f} GB shard, and every "
            "deployment loads the same weights")


def _quantise_job(ctx: _Ctx, workload: str) -> Artifact:
    """The one-time job writing the checkpoint the plan's launch files load (``quantise.prequantised``), for the
    engine format of the plan's runtime; refused where those launch files would be (a serving feature, a shape)."""
    p = ctx.plan
    engine = _engine_for(ctx)
    check_serving(ctx, engine)
    for d in p.deployments:
        engine_argv(ctx, engine, d)  # (refused as the launch files are: no job for files that are not written)
    if engine not in QUANTISE_ENGINES:
        how = {"llama.cpp": ": its GGUF is converted and quantised with llama.cpp's own tools (docs/deploy.md)",
               "jetstream": ": MaxText quantises at load, or restores a checkpoint it quantised (docs/deploy.md)"}
        raise ExportError(f"--format quantise writes jobs for vLLM, SGLang and TensorRT-LLM plans; plan {p.rank} runs "
                          f"on {p.runtime} ({engine}){how.get(engine, '')}", field="format")
    r = prequantised(ctx, engine)
    if r is None:
        loaded = ("quantises its 16-bit checkpoint to FP8 at load time" if fp8_at_load(ctx, engine)
                  else f"loads its published checkpoint ({p.precision})")
        raise ExportError(f"plan {p.rank} needs no quantisation job: {engine} {loaded} for {p.model}", field="format")
    source = _weights(ctx)
    header = [_one_line(line) for line in (
        f"# hwplan plan rank {p.rank}: {p.model} {p.precision} on {p.runtime}: writes ${{QUANTISED_CHECKPOINT}}, "
        f"the checkpoint its --format {engine} launch scripts (and k8s manifests) load, once before they start",
        f"# why: {_why_quantised(ctx, engine)}",
        f"# recipe: {r.name}, the method the plan's {p.precision} quality band assumes (quality.yaml)",
        *([] if source == "${MODEL_PATH}" else
          [f"# reads {source} from the Hugging Face Hub (a gated repository needs HF_TOKEN in the environment)"]),
        *(f"# set {name}: {PLACEHOLDERS[name]}" for name in placeholders([source, CHECKPOINT])))]
    suffix, text, media = quantise_script(ctx, r, source, header)
    return Artifact(f"{_file_stem(workload)}.quantise.{suffix}", text, media)


def _file_stem(workload: str) -> str:
    """The workload's slug as the start of a file name, "w" where it has no ASCII letter or digit ("日本語" gave
    ".k8s.yaml", a hidden file, and "-1-l4.sglang.sh", which a shell reads as an option), as ``k8s_name`` does."""
    return _slug(workload) or "w"


def one_deployment(artifacts: list[Artifact], fmt: str, deployment: int | None, *, all_hint: str
                   ) -> list[Artifact]:
    """The launch script of deployment ``deployment`` (1-based) among an engine format's files, one per
    deployment; None: the only one. A plan of several deployments runs each on its own machines, so no one
    script starts them all: without a choice that is an ExportError naming the files and ``all_hint`` (how to
    get every file). Kubernetes manifests are one file holding every deployment: no choice applies."""
    if fmt == QUANTISE_FORMAT:
        if deployment is None:
            return artifacts
        raise ExportError("the quantisation job writes the one checkpoint every deployment loads: a deployment is "
                          "chosen for engine launch scripts only", field="deployment")
    if fmt in CLUSTER_FORMATS:
        raise ExportError(f"{fmt} manifests are one file holding every deployment: a deployment is chosen for "
                          "engine launch scripts only", field="deployment")
    names = ", ".join(a.name for a in artifacts)
    if deployment is None:
        if len(artifacts) == 1:
            return artifacts
        raise ExportError(f"the plan has {len(artifacts)} deployments, each with its own launch script to run on "
                          f"its own machines ({names}): choose one with deployment 1-{len(artifacts)}, or "
                          f"{all_hint}", field="deployment")
    if deployment > len(artifacts):
        raise ExportError(f"the plan has {len(artifacts)} deployment(s) ({names}): there is no deployment "
                          f"{deployment}", field="deployment")
    return [artifacts[deployment - 1]]


def with_deploy(doc: PlanResultOut, catalog: Catalog, workload: Workload | None) -> PlanResultOut:
    """``doc`` with each plan's ``deploy``: whether ``export`` writes its launch files as they are, after a
    quantisation job (``quantise.prequantised``), or not (``refusal``), so that a plan chosen for its cost is not
    found undeployable only at export, by the CLI's reader or the service's."""
    from hardware_catalog.outputs import DeployOut

    def deploy(rank: int) -> DeployOut:
        written, refused = _written(doc, catalog, rank=rank, workload=workload)
        if written is None:
            assert refused is not None
            fmt, exc = refused
            return DeployOut(format=fmt, status="refused", detail=exc.detail)
        ctx = _Ctx(_choose(doc, rank), catalog, workload)
        engine = _engine_for(ctx)  # (its files were written: prequantised answered there already)
        job = prequantised(ctx, engine) if engine in QUANTISE_ENGINES else None
        # the format written: the engine's launch commands, or Kubernetes manifests where those span nodes
        return DeployOut(format=written, status="ready") if job is None else DeployOut(
            format=written, status="quantise_first", detail=job.name)

    found = {p.rank: deploy(p.rank) for p in (*doc.plans, *doc.pareto)}
    return doc.model_copy(update={
        "plans": [p.model_copy(update={"deploy": found[p.rank]}) for p in doc.plans],
        "pareto": [p.model_copy(update={"deploy": found[p.rank]}) for p in doc.pareto]})


def refusal(doc: PlanResultOut, catalog: Catalog, *, rank: int = 1,
            workload: Workload | None = None) -> tuple[str, ExportError] | None:
    """Why plan ``rank`` cannot be exported, as (format, error) of its own engine's launch commands
    (the format its runtime and chips take), where Kubernetes manifests are refused too; None where
    either is written. ``hwplan plan`` says so under the plans, so that a plan chosen for its cost is
    not found unexportable only at ``hwplan export`` (a quantised plan without a pre-quantised
    checkpoint in the catalog, a commercial engine)."""
    written, refused = _written(doc, catalog, rank=rank, workload=workload)
    return None if written is not None else refused


def _written(doc: PlanResultOut, catalog: Catalog, *, rank: int, workload: Workload | None
             ) -> tuple[str | None, tuple[str, ExportError] | None]:
    """The format ``export`` writes plan ``rank``'s files in: its engine's launch commands, else Kubernetes
    manifests (a replica spanning nodes: ``--format k8s``); (None, (format, error)) where neither is written."""
    try:
        fmt = _engine_for(_Ctx(_choose(doc, rank), catalog, workload))
    except ExportError as exc:
        return None, ("any", exc)
    first: ExportError | None = None
    for candidate in (fmt, "k8s"):
        try:
            export(doc, catalog, candidate, rank=rank, workload=workload)
        except ExportError as exc:
            first = first or exc
            continue
        return candidate, None
    assert first is not None
    return None, (fmt, first)
