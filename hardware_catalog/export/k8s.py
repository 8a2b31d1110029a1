"""Kubernetes manifests for one plan: per deployment a Deployment (or a LeaderWorkerSet when a
replica spans nodes, or always with the ``lws`` format), a Service and an autoscaling/v2
HorizontalPodAutoscaler; with ``kserve`` an InferenceService per deployment instead.

Each pod asks for its chips as the accelerator's extended resource (``data/deploy/deploy.yaml``:
nvidia.com/gpu, amd.com/gpu, google.com/tpu, aws.amazon.com/neuron, habana.ai/gaudi) and is
placed by a node selector: GKE's TPU accelerator label for TPUs, else ``hwplan.io/accelerator``
(a label the operator puts on the nodes of each chip type: the catalog has no cluster-neutral
product label). The autoscaler keeps ``hwplan_requests_per_second`` per pod at the plan's
per-replica SLO capacity (a custom pods metric served by a metrics adapter) between the replicas
the average load needs and the replicas the plan sized for the peak.

Core kinds validate against Kubernetes' OpenAPI schemas (``KUBERNETES_VERSION``); LeaderWorkerSet
and InferenceService are CRDs outside those schemas, so the tests validate the pod templates they
embed as Pods and check the CRD fields by name only.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from hardware_catalog.export.base import _REFERENCE, ExportError, _Ctx, deploy_data
from hardware_catalog.export.engines import PLACEHOLDERS, PORT, engine_argv, k8s_name, placeholders, shell_join
from hardware_catalog.export.serving import header as serving_header
from hardware_catalog.export.serving import pool_container

if TYPE_CHECKING:
    from hardware_catalog.outputs import DeploymentOut

__all__ = ["METRIC", "manifests"]

METRIC = "hwplan_requests_per_second"
LWS_LEADER = "leaderworkerset.sigs.k8s.io/worker-index"  # the LWS controller's pod label; the leader is "0"
LWS_API = "leaderworkerset.x-k8s.io/v1"


def _dump_all(docs: list[dict[str, Any]]) -> str:
    """The manifests as YAML, repeated objects written out in full (no &anchors: some tools reject them in
    manifests). The YAML module is imported here, not with the package: ``hwplan plan`` reports each plan's
    ``deploy`` through this package without it (issue #21)."""
    import yaml

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return str(yaml.dump_all(docs, Dumper=NoAliases, sort_keys=False))

KSERVE_API = "serving.kserve.io/v1beta1"


def _resource(ctx: _Ctx, hardware: str) -> str:
    hw = ctx.catalog.get_hardware(hardware)
    for row in deploy_data()["k8s_resources"]:
        if row["family"] == hw.family and row["vendor"] == hw.vendor:
            return str(row["resource"])
    raise ExportError(f"{hw.id} ({hw.vendor} {hw.family}) has no Kubernetes device-plugin resource in "
                      "data/deploy/deploy.yaml, so a pod cannot ask for it", field="format")


def _node_selector(hardware: str, chips: int) -> dict[str, str]:
    """Where a pod of ``chips`` chips runs: GKE's TPU accelerator and slice topology labels for a TPU, else
    the operator's ``hwplan.io/accelerator`` label."""
    tpu = deploy_data()["gke_tpu_accelerator"].get(hardware)
    if tpu is None:
        return {"hwplan.io/accelerator": hardware}
    topology = deploy_data()["gke_tpu_topology"].get(hardware, {}).get(chips)
    if topology is None:
        raise ExportError(f"{chips} {hardware} chips in one pod is no single-host slice topology GKE schedules "
                          f"(data/deploy/deploy.yaml gke_tpu_topology)", field="format")
    return {"cloud.google.com/gke-tpu-accelerator": str(tpu), "cloud.google.com/gke-tpu-topology": str(topology)}


def _image(ctx: _Ctx, engine: str, hardware: str) -> str:
    """The engine's image for the chip's vendor: its CUDA build for NVIDIA (and where no other is named)."""
    spec = deploy_data()["engines"][engine]
    vendor = ctx.catalog.get_hardware(hardware).vendor
    return str(spec.get("vendor_images", {}).get(vendor, spec["image"]))


def _image_notes(ctx: _Ctx, engine: str) -> list[str]:
    """Header lines for deployments whose vendor has no build of the engine named here."""
    spec = deploy_data()["engines"][engine]
    out = []
    for hardware in dict.fromkeys(d.hardware for d in ctx.plan.deployments):
        vendor = ctx.catalog.get_hardware(hardware).vendor
        if vendor not in ("NVIDIA", "AWS") and vendor not in spec.get("vendor_images", {}) and engine != "jetstream":
            out.append(f"# NOTE: {spec['image']} is the engine's NVIDIA (CUDA) build; {hardware} ({vendor}) needs the "
                       f"engine's {vendor} build: set the image of its containers")
    return out


def _container(ctx: _Ctx, engine: str, argv: list[str], resource: str, chips: int, role: str,
               operator: list[str], hardware: str) -> dict[str, Any]:
    """The engine's container; ``operator``: the PLACEHOLDERS its command reads, declared in its env for
    the operator to fill in (Kubernetes expands $(NAME) in args, and sh -c expands ${NAME}, from there)."""
    image = _image(ctx, engine, hardware)
    pool = pool_container(engine, role)  # a disaggregated pool's KV-transfer handshake (serving.py)
    if argv[:2] != ["sh", "-c"]:
        argv = [_REFERENCE.sub(r"$(\1)", a) for a in argv]
    env = [*pool.get("env", []), *({"name": name, "value": ""} for name in operator)]
    spec = deploy_data()["engines"][engine]
    command = [str(spec.get("container_command", argv[0]))] if argv[:2] != ["sh", "-c"] else argv[:1]
    name, port = _port(engine)
    return {"name": "engine", "image": image, "command": command, "args": argv[1:],
            **({"env": env} if env else {}),
            "ports": [{"name": name, "containerPort": port, "protocol": "TCP"}, *pool.get("ports", [])],
            "resources": {"limits": {resource: str(chips)}, "requests": {resource: str(chips)}}}


def _quantity(x: float | None) -> str:
    """A Kubernetes quantity in thousandths (e.g. 4.25 -> 4250m); at least 1m."""
    return f"{max(1, round((x or 0) * 1000))}m"


def _min_replicas(ctx: _Ctx, d: DeploymentOut) -> int:
    if ctx.workload is None:
        return d.replicas
    t = ctx.workload.traffic
    peak = t.peak_requests_per_s or t.requests_per_s
    return max(1, min(d.replicas, math.ceil(d.replicas * t.requests_per_s / peak)))


def _hpa(name: str, kind: str, api: str, ctx: _Ctx, d: DeploymentOut) -> dict[str, Any]:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": api, "kind": kind, "name": name},
                     "minReplicas": _min_replicas(ctx, d), "maxReplicas": d.replicas,
                     "metrics": [{"type": "Pods", "pods": {
                         "metric": {"name": METRIC},
                         "target": {"type": "AverageValue",
                                    "averageValue": _quantity(d.slo_capacity_per_replica)}}}]}}


def _port(engine: str) -> tuple[str, int]:
    """The engine's serving port and its name: HTTP on PORT, or what the engine serves instead (JetStream's
    MaxText engine server: gRPC on 9000)."""
    spec = deploy_data()["engines"][engine]
    return str(spec.get("port_name", "http")), int(spec.get("port", PORT))


def _service(name: str, engine: str, *, leaders_only: bool = False) -> dict[str, Any]:
    """The deployment's Service; ``leaders_only`` for a replica over several pods, whose workers only run
    Ray and serve nothing on the port."""
    selector = {"app": name, **({LWS_LEADER: "0"} if leaders_only else {})}
    port_name, port = _port(engine)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"selector": selector,
                     "ports": [{"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"}]}}


def _multinode_argv(engine: str, argv: list[str], nodes: int) -> tuple[list[str], list[str]]:
    """Leader and worker commands for a replica over ``nodes`` pods (vLLM over a Ray cluster: the
    leader starts Ray's head and the engine, workers join it at the leader's address)."""
    if engine != "vllm":
        raise ExportError(f"a replica over {nodes} nodes is exported for vllm (over Ray) only, not {engine}",
                          field="format")
    if "--data-parallel-size" in argv:
        raise ExportError(f"a replica with DP attention over {nodes} nodes needs per-node data-parallel ranks "
                          "(--data-parallel-size-local, --data-parallel-address), which this export does not write",
                          field="format")
    leader = ["sh", "-c", "ray start --head --port=6379 && exec " + shell_join(argv)]
    worker = ["sh", "-c", "exec ray start --address=$(LWS_LEADER_ADDRESS):6379 --block"]
    return leader, worker


def _deployment_docs(ctx: _Ctx, fmt: str, engine: str, name: str, d: DeploymentOut) -> list[dict[str, Any]]:
    resource = _resource(ctx, d.hardware)
    argv = engine_argv(ctx, engine, d)
    hw = ctx.catalog.get_hardware(d.hardware)
    labels = {"app": name, "hwplan.io/hardware": d.hardware, "hwplan.io/role": d.role}
    per_node = min(d.chips_per_replica, hw.chips_per_node)
    selector = _node_selector(d.hardware, per_node)
    nodes = math.ceil(d.chips_per_replica / per_node)
    if nodes * per_node != d.chips_per_replica:
        raise ExportError(f"{d.chips_per_replica} chips per replica do not split evenly over nodes of "
                          f"{hw.chips_per_node} {hw.id}", field="format")

    operator = placeholders(argv)

    def pod(args: list[str]) -> dict[str, Any]:
        container = _container(ctx, engine, args, resource, per_node, d.role, operator, d.hardware)
        spec: dict[str, Any] = {"nodeSelector": selector, "containers": [container]}
        if _hf_repo_loaded(args):
            # gated repositories (meta-llama/*) answer 401 without a token: read from a Secret the operator
            # creates (optional, so an ungated model starts without one)
            container.setdefault("env", []).append(
                {"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {"name": "hf-token", "key": "token",
                                                                   "optional": True}}})
        if per_node > 1:
            # tensor-parallel ranks in one pod exchange through shared memory, which a container's default
            # 64 MiB /dev/shm starves (vLLM docs/deployment/k8s.md mounts a memory-backed emptyDir)
            container["volumeMounts"] = [{"name": "dshm", "mountPath": "/dev/shm"}]
            spec["volumes"] = [{"name": "dshm", "emptyDir": {"medium": "Memory"}}]
        return {"metadata": {"labels": labels}, "spec": spec}

    if fmt == "kserve":
        if nodes > 1:
            raise ExportError(f"a replica over {nodes} nodes needs a LeaderWorkerSet; use --format lws", field="format")
        spec = pod(argv)["spec"]
        # KServe's serverless mode runs the predictor on Knative, whose container port name must be http1
        # or h2c (Knative Serving API, ContainerPort.name)
        port = spec["containers"][0]["ports"][0]
        port["name"] = "h2c" if port["name"] == "grpc" else "http1"
        return [{"apiVersion": KSERVE_API, "kind": "InferenceService", "metadata": {"name": name, "labels": labels},
                 "spec": {"predictor": {"minReplicas": _min_replicas(ctx, d), "maxReplicas": d.replicas,
                                        "scaleMetric": "rps",
                                        "scaleTarget": max(1, math.floor(d.slo_capacity_per_replica or 0)),
                                        **spec}}}]
    if fmt == "k8s" and nodes == 1:
        workload = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels},
                    "spec": {"replicas": d.replicas, "selector": {"matchLabels": {"app": name}},
                             "template": pod(argv)}}
        return [workload, _service(name, engine), _hpa(name, "Deployment", "apps/v1", ctx, d)]
    lws_spec: dict[str, Any] = {"size": nodes}
    if nodes > 1:
        leader, worker = _multinode_argv(engine, argv, nodes)
        lws_spec |= {"leaderTemplate": pod(leader), "workerTemplate": pod(worker)}
    else:
        lws_spec["workerTemplate"] = pod(argv)
    workload = {"apiVersion": LWS_API, "kind": "LeaderWorkerSet", "metadata": {"name": name, "labels": labels},
                "spec": {"replicas": d.replicas, "leaderWorkerTemplate": lws_spec}}
    return [workload, _service(name, engine, leaders_only=nodes > 1), _hpa(name, "LeaderWorkerSet", LWS_API, ctx, d)]


def _hf_repo_loaded(argv: list[str]) -> bool:
    """Whether the engine pulls a Hugging Face repository (not a mounted ${MODEL_PATH}, ${QUANTISED_CHECKPOINT} or
    /models file)."""
    return not any("MODEL_PATH" in a or "QUANTISED_CHECKPOINT" in a or a.startswith("/models/") for a in argv)


def _traffic_lines(ctx: _Ctx, names: list[str]) -> list[str]:
    """Where the plan sends its traffic: each deployment's share, which separate Services do not carry."""
    ds = ctx.plan.deployments
    rates = [d.requests_per_s_per_replica for d in ds]
    if len(ds) < 2 or any(d.role != "both" for d in ds) or any(r is None for r in rates):
        return []
    loads = [float(r or 0.0) * d.replicas for r, d in zip(rates, ds, strict=True)]
    total = sum(loads) or 1.0
    return ["# the plan splits its traffic between the deployments, which are separate Services: a load balancer "
            "in front must weight them so (an even split overloads the slower ones)",
            *(f"#   {n}: {r:g} requests/s per replica x {d.replicas} = {100 * load / total:.0f}% (SLO capacity "
              f"{d.slo_capacity_per_replica or 0:g} per replica)"
              for n, r, d, load in zip(names, rates, ds, loads, strict=True))]


def manifests(ctx: _Ctx, fmt: str, engine: str, workload_name: str) -> str:
    docs: list[dict[str, Any]] = []
    names = []
    for i, d in enumerate(ctx.plan.deployments):
        role = "" if d.role == "both" else f"-{d.role}"  # a disaggregated plan's prefill and decode pools
        name = k8s_name(workload_name, f"{i + 1}{role}-{d.hardware}")
        names.append(name)
        docs += _deployment_docs(ctx, fmt, engine, name, d)
    operator = placeholders([a for d in ctx.plan.deployments for a in engine_argv(ctx, engine, d)])
    lines = [f"# hwplan plan rank {ctx.plan.rank}: {ctx.plan.model} on {ctx.plan.runtime}; "
             f"{len(ctx.plan.deployments)} deployment(s)",
             *(f"# set {n} in each engine container's env: {PLACEHOLDERS[n]}" for n in operator),
             f"# engine flags checked against {deploy_data()['engines'][engine]['reference']}",
             (f"# autoscaling reads the pods metric {METRIC} (serve it through a metrics adapter)" if fmt != "kserve"
              else "# autoscaling: KServe's requests-per-second scaling (scaleMetric rps, scaleTarget each replica's "
                   "SLO capacity)"),
             "# the engines read HF_TOKEN from the Secret hf-token (key token) where they pull a gated repository",
             *_traffic_lines(ctx, names),
             *_image_notes(ctx, engine),
             *([f"# NOTE: {deploy_data()['engines'][engine]['note']}"] if "note" in deploy_data()["engines"][engine]
               else []),
             *serving_header(ctx, engine)]
    header = "".join("".join(c if c.isprintable() else " " for c in line) + "\n" for line in lines)
    return header + _dump_all(docs)
