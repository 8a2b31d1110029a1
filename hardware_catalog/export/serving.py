"""Serving-feature flags of an exported plan: prefix caching, expert parallelism, DP attention,
speculative decoding and prefill/decode disaggregation (planner.model.serving.FEATURES).

A plan uses a feature when its ``features`` list names it or a deployment shows it (a role other
than ``both``, ``ep`` > 1, ``dp_attention`` > 1). ``check`` refuses, naming the feature and the
engine, a plan whose feature the format's runtime lacks on the chip's family (the runtime support
matrix, ``runtimes.yaml`` ``serving``) or whose flags this export does not write for that engine
(``deploy.yaml`` ``engines.<format>.serving`` lists what is written and the source each flag set was
checked against; ``refuses`` says why a supported feature is not written). Then the engine helpers
return the flags:

- vLLM: ``--enable-prefix-caching``; EP ``--enable-expert-parallel`` (vLLM's EP group is the DP x TP
  ranks); DP attention ``--data-parallel-size dp`` with ``--tensor-parallel-size tp/dp`` and
  ``--max-num-seqs`` per DP rank (each rank schedules its own sequences); speculative
  ``--speculative-config '{"method": ..., "num_speculative_tokens": k}'`` (``deepseek_mtp`` for MTP
  models, the EAGLE head of ``deploy.yaml`` otherwise); disaggregation ``--kv-transfer-config`` with
  the NixlConnector, ``kv_producer`` for the prefill pool and ``kv_consumer`` for the decode pool.
- SGLang: prefix caching needs no flag (RadixAttention is on unless ``--disable-radix-cache``); EP
  ``--ep-size``; DP attention ``--enable-dp-attention --dp-size`` (``--max-running-requests`` stays the
  server's total: SGLang divides it by dp_size per worker); speculative ``--speculative-algorithm
  NEXTN`` (MTP) or ``EAGLE``/``EAGLE3`` with ``--speculative-draft-model-path``, ``--speculative-num-steps
  k --speculative-eagle-topk 1 --speculative-num-draft-tokens k+1`` (a chain of k drafted tokens, the
  planner's model); disaggregation ``--disaggregation-mode prefill|decode`` with
  ``--disaggregation-transfer-backend mooncake``.
- TensorRT-LLM: EP ``--ep_size``; the others live in its ``--config`` YAML or ``trtllm-serve
  disaggregated`` files, which this export does not write (refused with that reason).

The drafter (method, k) is the planner's own (``drafter_for``: MTP for models shipping MTP modules,
EAGLE otherwise), so the flags run what was predicted.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from hardware_catalog.export.base import ExportError, _Ctx, deploy_data
from planner.domain import EagleHead
from planner.model.serving import FEATURES, drafter_for, uses_mtp

if TYPE_CHECKING:
    from hardware_catalog.outputs import DeploymentOut, PlanOut
    from planner.domain import Runtime

__all__ = ["check", "header", "pool_container", "sglang_flags", "trtllm_flags", "used", "vllm_flags"]

ROLES = ("prefill", "decode")
# vLLM's NixlConnector handshake: VLLM_NIXL_SIDE_CHANNEL_HOST (default localhost: set it when the pools run on
# different hosts) and VLLM_NIXL_SIDE_CHANNEL_PORT (default 5600), vllm docs/features/nixl_connector_usage.md
# @ 026c83f974fcee0e1887060ebdcc53dc427bacfc. SGLang's prefill server listens for the decode side's bootstrap on
# --disaggregation-bootstrap-port (default 8998), server_args.py @ 001067fffe33427bee0ed2f007fb7551a1d76b44.
NIXL_SIDE_CHANNEL_PORT = 5600
SGLANG_BOOTSTRAP_PORT = 8998


def used(plan: PlanOut) -> tuple[str, ...]:
    """The serving features the plan runs with, in FEATURES order."""
    out = set(plan.features)
    if any(d.role != "both" for d in plan.deployments):
        out.add("disaggregation")
    if any(d.ep > 1 for d in plan.deployments):
        out.add("expert_parallel")
    if any(d.dp_attention > 1 for d in plan.deployments):
        out.add("dp_attention")
    return tuple(f for f in FEATURES if f in out)


def check(ctx: _Ctx, fmt: str) -> None:
    """Raise ExportError naming the feature and engine where ``fmt`` cannot run or write the plan's features."""
    engine = deploy_data()["engines"][fmt]
    runtime = ctx.catalog.runtimes.get(engine["runtime"])
    p = ctx.plan
    for feature in used(p):
        for d in p.deployments:
            family = ctx.catalog.get_hardware(d.hardware).family
            if runtime is not None and not runtime.supports(feature, family):
                raise ExportError(f"plan {p.rank} uses {feature}, which {fmt} ({runtime.name}) does not support on "
                                  f"{family} chips ({d.hardware}) in the catalog's runtime support matrix "
                                  "(runtimes.yaml serving)", field="format")
        if (reason := engine.get("refuses", {}).get(feature)) is not None:
            raise ExportError(f"plan {p.rank} uses {feature}, which this export cannot write for {fmt}: {reason}",
                              field="format")
        if feature not in engine.get("serving", {}):
            raise ExportError(f"plan {p.rank} uses {feature}, whose {fmt} flags this export does not write",
                              field="format")
        if runtime is not None and not _checked(runtime, feature):
            raise ExportError(f"plan {p.rank} uses {feature}: the runtime support matrix names no {runtime.name} "
                              "release its flags were checked against (export_checked), so none are written",
                              field="format")
    _check_shapes(ctx)


def _checked(runtime: Runtime, feature: str) -> str:
    """The engine commit the export's flags for ``feature`` were checked against ('' when none)."""
    return next((s.export_checked for s in runtime.serving if s.feature == feature and s.export_checked), "")


def _check_shapes(ctx: _Ctx) -> None:
    """Shapes the engines cannot express: a lone pool, EP on a dense model or beside pipeline stages."""
    p = ctx.plan
    roles = {d.role for d in p.deployments}
    if roles != {"both"} and roles != set(ROLES):
        raise ExportError(f"plan {p.rank} mixes deployment roles {sorted(roles)}: disaggregation needs a prefill "
                          "pool and a decode pool and nothing else", field="rank")
    model = ctx.catalog.get_model(p.model)
    for d in p.deployments:
        if d.ep > 1 and not model.is_moe:
            raise ExportError(f"plan {p.rank} sets expert_parallel (ep {d.ep}) on {p.model}, which has no experts",
                              field="rank")
        if d.ep > 1 and (d.ep != d.tp or d.pp != 1):
            raise ExportError(f"expert_parallel over {d.ep} of a replica's tp {d.tp} x pp {d.pp} chips: the engines "
                              "exported here form the EP group from all of a replica's ranks (ep = tp, pp 1)",
                              field="rank")
        if d.dp_attention > 1 and (d.tp % d.dp_attention or d.pp != 1):
            raise ExportError(f"dp_attention {d.dp_attention} over a replica of tp {d.tp} x pp {d.pp}: the engines "
                              "exported here split tp into data-parallel attention ranks (dp divides tp, pp 1)",
                              field="rank")


def _drafter(ctx: _Ctx) -> tuple[str, int]:
    """The plan's speculative method ('mtp' | 'eagle') and its drafted tokens k, as the planner chose them."""
    method = "mtp" if uses_mtp(ctx.catalog.get_model(ctx.plan.model)) else "eagle"
    return method, drafter_for(method).draft_tokens


def _eagle_head(ctx: _Ctx, fmt: str) -> EagleHead:
    head = ctx.catalog.get_model(ctx.plan.model).eagle_head
    if head is None:  # the planner drafts with EAGLE only where the model has a head; a hand-edited plan may not
        raise ExportError(f"plan {ctx.plan.rank} uses speculative (EAGLE) decoding, and the catalog names no EAGLE "
                          f"draft head for {ctx.plan.model} (models/{ctx.plan.model}.yaml eagle_head), so {fmt} "
                          "cannot be told what to draft with", field="format")
    return head


def _speculative(ctx: _Ctx) -> bool:
    return "speculative" in ctx.plan.features


def vllm_flags(ctx: _Ctx, d: DeploymentOut, tp: int) -> tuple[int, int, list[str]]:
    """(tensor-parallel size, max sequences per engine, extra flags) of one vLLM deployment."""
    feats = used(ctx.plan)
    out: list[str] = []
    max_seqs = d.max_batch
    if "prefix_caching" in feats:
        out.append("--enable-prefix-caching")
    if d.dp_attention > 1:
        tp, max_seqs = tp // d.dp_attention, -(-d.max_batch // d.dp_attention)
        out += ["--data-parallel-size", str(d.dp_attention)]
    if d.ep > 1:
        out.append("--enable-expert-parallel")
    if _speculative(ctx):
        method, k = _drafter(ctx)
        config: dict[str, Any] = {"method": "deepseek_mtp", "num_speculative_tokens": k}
        if method == "eagle":
            head = _eagle_head(ctx, "vllm")
            config = {"method": head.method, "model": head.repo, "num_speculative_tokens": k}
        out += ["--speculative-config", json.dumps(config, separators=(",", ":"))]
    if d.role in ROLES:
        role = {"prefill": "kv_producer", "decode": "kv_consumer"}[d.role]
        out += ["--kv-transfer-config",
                json.dumps({"kv_connector": "NixlConnector", "kv_role": role}, separators=(",", ":"))]
    return tp, max_seqs, out


def sglang_flags(ctx: _Ctx, d: DeploymentOut) -> list[str]:
    out: list[str] = []
    if d.ep > 1:
        out += ["--ep-size", str(d.ep)]
    if d.dp_attention > 1:
        out += ["--enable-dp-attention", "--dp-size", str(d.dp_attention)]
    if _speculative(ctx):
        method, k = _drafter(ctx)
        if method == "mtp":
            out += ["--speculative-algorithm", "NEXTN"]
        else:
            head = _eagle_head(ctx, "sglang")
            out += ["--speculative-algorithm", {"eagle3": "EAGLE3", "eagle": "EAGLE"}[head.method],
                    "--speculative-draft-model-path", head.repo]
        out += ["--speculative-num-steps", str(k), "--speculative-eagle-topk", "1",
                "--speculative-num-draft-tokens", str(k + 1)]
    if d.role in ROLES:
        out += ["--disaggregation-mode", d.role, "--disaggregation-transfer-backend", "mooncake"]
    return out


def pool_container(engine: str, role: str) -> dict[str, Any]:
    """Container fields a disaggregated pool's pod adds (Kubernetes ``env``/``ports`` entries): vLLM's NIXL
    side channel on the pod's own address, SGLang's prefill bootstrap port."""
    if engine == "vllm" and role in ROLES:
        return {"env": [{"name": "VLLM_NIXL_SIDE_CHANNEL_HOST",
                         "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        {"name": "VLLM_NIXL_SIDE_CHANNEL_PORT", "value": str(NIXL_SIDE_CHANNEL_PORT)}],
                "ports": [{"name": "nixl", "containerPort": NIXL_SIDE_CHANNEL_PORT, "protocol": "TCP"}]}
    if engine == "sglang" and role == "prefill":
        return {"ports": [{"name": "bootstrap", "containerPort": SGLANG_BOOTSTRAP_PORT, "protocol": "TCP"}]}
    return {}


def trtllm_flags(d: DeploymentOut) -> list[str]:
    return ["--ep_size", str(d.ep)] if d.ep > 1 else []


def header(ctx: _Ctx, fmt: str) -> list[str]:
    """Comment lines: each feature written, the flags' source and the runtime version it needs."""
    engine = deploy_data()["engines"][fmt]
    runtime = ctx.catalog.runtimes.get(engine["runtime"])
    if runtime is None:  # engine_argv refuses it
        return []
    lines = []
    for feature in used(ctx.plan):  # check() saw a matrix row for each
        since = next(s.since for s in runtime.serving if s.feature == feature)
        lines.append(f"# {feature}: {engine['serving'][feature]}. Runtime support matrix: {engine['runtime']} "
                     f"since {since}; these flags checked at {_checked(runtime, feature)} (older releases "
                     "may spell them differently)")
    if _speculative(ctx):
        method, k = _drafter(ctx)
        lines.append(f"# speculative decoding as planned: {method.upper()}, {k} drafted token(s) per step")
        head = ctx.catalog.get_model(ctx.plan.model).eagle_head if method == "eagle" else None
        repo = deploy_data()["hf_repos"].get(ctx.plan.model)
        if head is not None and repo is not None and head.target != repo:
            lines.append(f"# NOTE: the EAGLE head {head.repo} was trained against {head.target}; with another "
                         "checkpoint its acceptance (and the predicted TPOT) may be lower")
    if "disaggregation" in used(ctx.plan):
        lines.append("# disaggregated: requests reach the prefill pool first and the decode pool next through a "
                     "P/D-aware router that addresses pods, not a Service (vLLM: a NixlConnector proxy, llm-d or "
                     "Dynamo; SGLang: sglang-router --pd-disaggregation); the export does not write it. Pods carry "
                     "the label hwplan.io/role=prefill|decode for its discovery")
        if fmt == "vllm":
            lines.append(f"# NIXL handshake: set VLLM_NIXL_SIDE_CHANNEL_HOST to this host's address when the pools "
                         f"run on different hosts (port VLLM_NIXL_SIDE_CHANNEL_PORT, default {NIXL_SIDE_CHANNEL_PORT})")
        if fmt == "sglang":
            lines.append(f"# the prefill pool serves the KV bootstrap on port {SGLANG_BOOTSTRAP_PORT} "
                         "(--disaggregation-bootstrap-port's default); the decode pool must reach it")
    return lines
