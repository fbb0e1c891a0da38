"""kube-state-metrics families: one series per API object, read from the API server's watch cache.

Each kind has its renderer (``pod_samples``, ``deployment_samples``, ``node_samples``,
``endpoint_samples``, ...), mirroring kube-state-metrics' ``internal/store/<kind>.go``: same family names, labels and HELP texts, so dashboards and alerts written for
a real cluster read a run unchanged. What kube-state-metrics' informers would hold is what the
watch cache holds; nothing here reads a component's internals.

An object's samples depend on that object alone, so :class:`KubeStateMetrics` keeps them per
resourceVersion and rebuilds only what changed: the OpenMetrics recorder writes them per object
(:meth:`KubeStateMetrics.object_samples`), a scrape gets them grouped into families.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample

from kubechaos.api.objects import (
    ConfigMap,
    DaemonSet,
    Deployment,
    Endpoints,
    HorizontalPodAutoscaler,
    Job,
    Node,
    Pod,
    PodDisruptionBudget,
    Secret,
    StatefulSet,
)
from kubechaos.cluster import Cluster
from kubechaos.observe.metrics.builders import family
from kubechaos.observe.metrics.kubestate_endpointslice import FAMILIES as ENDPOINTSLICE_FAMILIES
from kubechaos.observe.metrics.kubestate_endpointslice import endpointslice_samples

POD_PHASES = ("Pending", "Running", "Succeeded", "Failed", "Unknown")
CONDITION_STATUSES = ("true", "false", "unknown")


ObjectSample = tuple[str, Sample]  # (family name, sample)


def _sample(name: str, labels: dict[str, str], value: float) -> Sample:
    return Sample(name, labels, value, None, None)


def pod_samples(pod: Pod) -> list[ObjectSample]:
    meta = pod.metadata
    base = {"namespace": meta.namespace, "pod": meta.name}
    out: list[ObjectSample] = []
    phase = pod.status.phase
    for name in POD_PHASES:
        out.append(("kube_pod_status_phase", _sample(
            "kube_pod_status_phase", {**base, "phase": name}, 1.0 if phase == name else 0.0
        )))  # fmt: skip
    cond = pod.status.condition("Ready")
    status = cond.status.lower() if cond is not None else "unknown"
    for name in CONDITION_STATUSES:
        out.append(("kube_pod_status_ready", _sample(
            "kube_pod_status_ready", {**base, "condition": name}, 1.0 if status == name else 0.0
        )))  # fmt: skip
    ref = meta.controller_ref()
    kind, owner = (ref.kind, ref.name) if ref else ("<none>", "<none>")
    out.append(("kube_pod_info", _sample("kube_pod_info", {
        **base, "uid": meta.uid, "node": pod.spec.node_name, "pod_ip": pod.status.pod_ip,
        "host_ip": pod.status.host_ip, "created_by_kind": kind, "created_by_name": owner,
    }, 1.0)))  # fmt: skip
    out.append(("kube_pod_owner", _sample("kube_pod_owner", {
        **base, "owner_kind": kind, "owner_name": owner,
        "owner_is_controller": "true" if ref else "<none>",
    }, 1.0)))  # fmt: skip
    for cs in pod.status.container_statuses:
        labels = {**base, "container": cs.name}
        out.append(("kube_pod_container_status_restarts", _sample(
            "kube_pod_container_status_restarts_total", labels, cs.restart_count
        )))  # fmt: skip
        if cs.state == "waiting":
            out.append(("kube_pod_container_status_waiting_reason", _sample(
                "kube_pod_container_status_waiting_reason", {**labels, "reason": cs.reason}, 1.0
            )))  # fmt: skip
    for cs in pod.status.init_container_statuses:  # internal/store/pod.go, init containers
        labels = {**base, "container": cs.name}
        out.append(("kube_pod_init_container_status_restarts", _sample(
            "kube_pod_init_container_status_restarts_total", labels, cs.restart_count
        )))  # fmt: skip
        if cs.state == "waiting":
            out.append(("kube_pod_init_container_status_waiting_reason", _sample(
                "kube_pod_init_container_status_waiting_reason",
                {**labels, "reason": cs.reason},
                1.0,
            )))  # fmt: skip
    return out


def deployment_samples(d: Deployment) -> list[ObjectSample]:
    labels = {"namespace": d.metadata.namespace, "deployment": d.metadata.name}
    values = (
        ("kube_deployment_spec_replicas", d.spec.replicas),
        ("kube_deployment_status_replicas_available", d.status.available_replicas),
        ("kube_deployment_status_replicas_updated", d.status.updated_replicas),
        ("kube_deployment_status_observed_generation", d.status.observed_generation),
        ("kube_deployment_metadata_generation", d.metadata.generation),
    )
    return [(name, _sample(name, labels, value)) for name, value in values]


def node_samples(node: Node) -> list[ObjectSample]:
    name = node.metadata.name
    out: list[ObjectSample] = []
    for cond in node.status.conditions:
        status = cond.status.lower()
        for s in CONDITION_STATUSES:
            out.append(("kube_node_status_condition", _sample(
                "kube_node_status_condition",
                {"node": name, "condition": cond.type, "status": s},
                1.0 if status == s else 0.0,
            )))  # fmt: skip
    for t in node.spec.taints:
        out.append(("kube_node_spec_taint", _sample(
            "kube_node_spec_taint",
            {"node": name, "key": t.key, "value": t.value, "effect": t.effect},
            1.0,
        )))  # fmt: skip
    return out


def endpoint_samples(ep: Endpoints) -> list[ObjectSample]:
    base = {"namespace": ep.metadata.namespace, "endpoint": ep.metadata.name}
    out: list[ObjectSample] = []
    for subset in ep.subsets:
        for ready, addresses in (("true", subset.addresses), ("false", subset.not_ready_addresses)):
            for a in addresses:
                out.append(("kube_endpoint_address", _sample(
                    "kube_endpoint_address", {**base, "ip": a.ip, "ready": ready}, 1.0
                )))  # fmt: skip
    return out


def pdb_samples(pdb: PodDisruptionBudget) -> list[ObjectSample]:
    """kube-state-metrics internal/store/poddisruptionbudget.go."""
    labels = {"namespace": pdb.metadata.namespace, "poddisruptionbudget": pdb.metadata.name}
    st = pdb.status
    values: list[tuple[str, float]] = []
    if pdb.metadata.creation_timestamp is not None:
        values.append(("kube_poddisruptionbudget_created", pdb.metadata.creation_timestamp))
    values += [
        ("kube_poddisruptionbudget_status_current_healthy", st.current_healthy),
        ("kube_poddisruptionbudget_status_desired_healthy", st.desired_healthy),
        ("kube_poddisruptionbudget_status_pod_disruptions_allowed", st.disruptions_allowed),
        ("kube_poddisruptionbudget_status_expected_pods", st.expected_pods),
        ("kube_poddisruptionbudget_status_observed_generation", st.observed_generation),
    ]
    return [(name, _sample(name, labels, value)) for name, value in values]


def daemonset_samples(ds: DaemonSet) -> list[ObjectSample]:
    """kube-state-metrics internal/store/daemonset.go (v2 names)."""
    labels = {"namespace": ds.metadata.namespace, "daemonset": ds.metadata.name}
    st = ds.status
    values: list[tuple[str, float]] = []
    if ds.metadata.creation_timestamp is not None:
        values.append(("kube_daemonset_created", ds.metadata.creation_timestamp))
    values += [
        ("kube_daemonset_status_current_number_scheduled", st.current_number_scheduled),
        ("kube_daemonset_status_desired_number_scheduled", st.desired_number_scheduled),
        ("kube_daemonset_status_number_available", st.number_available),
        ("kube_daemonset_status_number_misscheduled", st.number_misscheduled),
        ("kube_daemonset_status_number_ready", st.number_ready),
        ("kube_daemonset_status_number_unavailable", st.number_unavailable),
        ("kube_daemonset_status_observed_generation", st.observed_generation),
        ("kube_daemonset_status_updated_number_scheduled", st.updated_number_scheduled),
        ("kube_daemonset_metadata_generation", ds.metadata.generation),
    ]
    return [(name, _sample(name, labels, value)) for name, value in values]


def _info_and_created(
    obj: ConfigMap | Secret, prefix: str, labels: dict[str, str]
) -> list[ObjectSample]:
    out = [(f"{prefix}_info", _sample(f"{prefix}_info", labels, 1.0))]
    created = obj.metadata.creation_timestamp
    if created is not None:
        out.append((f"{prefix}_created", _sample(f"{prefix}_created", labels, created)))
    return out


def configmap_samples(cm: ConfigMap) -> list[ObjectSample]:
    """kube-state-metrics internal/store/configmap.go (the default families, labels and
    annotations being opt-in there)."""
    labels = {"namespace": cm.metadata.namespace, "configmap": cm.metadata.name}
    return _info_and_created(cm, "kube_configmap", labels)


def secret_samples(secret: Secret) -> list[ObjectSample]:
    """kube-state-metrics internal/store/secret.go: info, type (label ``type``) and created."""
    labels = {"namespace": secret.metadata.namespace, "secret": secret.metadata.name}
    out = _info_and_created(secret, "kube_secret", labels)
    out.insert(
        1, ("kube_secret_type", _sample("kube_secret_type", {**labels, "type": secret.type}, 1.0))
    )
    return out


def hpa_samples(hpa: HorizontalPodAutoscaler) -> list[ObjectSample]:
    """kube-state-metrics internal/store/hpa.go."""
    base = {"namespace": hpa.metadata.namespace, "horizontalpodautoscaler": hpa.metadata.name}
    spec, st = hpa.spec, hpa.status
    ref = spec.scale_target_ref
    out: list[ObjectSample] = [("kube_horizontalpodautoscaler_info", _sample(
        "kube_horizontalpodautoscaler_info",
        {**base, "scaletargetref_api_version": ref.api_version,
         "scaletargetref_kind": ref.kind, "scaletargetref_name": ref.name},
        1.0,
    ))]  # fmt: skip
    for name, value in (
        ("kube_horizontalpodautoscaler_metadata_generation", hpa.metadata.generation),
        ("kube_horizontalpodautoscaler_spec_max_replicas", spec.max_replicas),
        ("kube_horizontalpodautoscaler_spec_min_replicas", spec.min_replicas),
    ):
        out.append((name, _sample(name, base, value)))
    for metric in spec.metrics:
        target = metric.target
        if target is None or not metric.resource_name:
            continue  # hpa.go names pods/object/external metrics by their metric name: not kept
        targets: tuple[tuple[str, float | None], ...] = (
            ("value", None if target.value is None else target.value / 1000),
            ("average", None if target.average_value is None else target.average_value / 1000),
            ("utilization", target.average_utilization),
        )
        for kind, target_value in targets:
            if target_value is not None:
                out.append(("kube_horizontalpodautoscaler_spec_target_metric", _sample(
                    "kube_horizontalpodautoscaler_spec_target_metric",
                    {**base, "metric_name": metric.resource_name, "metric_target_type": kind},
                    target_value,
                )))  # fmt: skip
    for name, value in (
        ("kube_horizontalpodautoscaler_status_current_replicas", st.current_replicas),
        ("kube_horizontalpodautoscaler_status_desired_replicas", st.desired_replicas),
    ):
        out.append((name, _sample(name, base, value)))
    for cond in st.conditions:
        status = cond.status.lower()
        for s in CONDITION_STATUSES:
            out.append(("kube_horizontalpodautoscaler_status_condition", _sample(
                "kube_horizontalpodautoscaler_status_condition",
                {**base, "condition": cond.type, "status": s},
                1.0 if status == s else 0.0,
            )))  # fmt: skip
    return out


def statefulset_samples(sts: StatefulSet) -> list[ObjectSample]:
    """kube-state-metrics internal/store/statefulset.go (``kube_statefulset_ordinals_start``
    only when ``ordinals.start`` is not 0: the model does not keep whether ``ordinals`` was
    given)."""
    labels = {"namespace": sts.metadata.namespace, "statefulset": sts.metadata.name}
    st = sts.status
    values: list[tuple[str, float]] = []
    if sts.metadata.creation_timestamp is not None:
        values.append(("kube_statefulset_created", sts.metadata.creation_timestamp))
    values += [
        ("kube_statefulset_status_replicas", st.replicas),
        ("kube_statefulset_status_replicas_available", st.available_replicas),
        ("kube_statefulset_status_replicas_current", st.current_replicas),
        ("kube_statefulset_status_replicas_ready", st.ready_replicas),
        ("kube_statefulset_status_replicas_updated", st.updated_replicas),
        ("kube_statefulset_status_observed_generation", st.observed_generation),
        ("kube_statefulset_replicas", sts.spec.replicas),
    ]
    if sts.spec.ordinals_start:
        values.append(("kube_statefulset_ordinals_start", sts.spec.ordinals_start))
    values.append(("kube_statefulset_metadata_generation", sts.metadata.generation))
    out = [(name, _sample(name, labels, value)) for name, value in values]
    deleted, scaled = sts.spec.pvc_retention
    name = "kube_statefulset_persistentvolumeclaim_retention_policy"
    out.append((name, _sample(name, {**labels, "when_deleted": deleted, "when_scaled": scaled}, 1)))
    for name, revision in (
        ("kube_statefulset_status_current_revision", st.current_revision),
        ("kube_statefulset_status_update_revision", st.update_revision),
    ):
        out.append((name, _sample(name, {**labels, "revision": revision}, 1.0)))
    return out


JOB_FAILURE_REASONS = ("BackoffLimitExceeded", "DeadlineExceeded", "Evicted")


def _condition_samples(name: str, base: dict[str, str], status: str) -> list[ObjectSample]:
    """addConditionMetrics: one series per condition status, 1 for the one that holds."""
    return [
        (name, _sample(name, {**base, "condition": c}, 1.0 if status.lower() == c else 0.0))
        for c in CONDITION_STATUSES
    ]


def job_samples(job: Job) -> list[ObjectSample]:
    """kube-state-metrics internal/store/job.go (times as Unix seconds, as its ``.Unix()``)."""
    meta, spec, st = job.metadata, job.spec, job.status
    base = {"namespace": meta.namespace, "job_name": meta.name}
    values: list[tuple[str, dict[str, str], float]] = [("kube_job_info", base, 1.0)]
    if meta.creation_timestamp is not None:
        values.append(("kube_job_created", base, float(int(meta.creation_timestamp))))
    values.append(("kube_job_spec_parallelism", base, spec.parallelism))
    if spec.completions is not None:
        values.append(("kube_job_spec_completions", base, spec.completions))
    if spec.active_deadline_seconds is not None:
        values.append(("kube_job_spec_active_deadline_seconds", base, spec.active_deadline_seconds))
    values.append(("kube_job_status_succeeded", base, st.succeeded))
    failed = st.condition("Failed")
    if st.failed == 0:
        values.append(("kube_job_status_failed", base, 0.0))
    else:
        known = failed is not None and failed.reason in JOB_FAILURE_REASONS
        if failed is not None:
            values += [
                ("kube_job_status_failed", {**base, "reason": r}, float(failed.reason == r))
                for r in JOB_FAILURE_REASONS
            ]
        if not known:
            values.append(("kube_job_status_failed", {**base, "reason": ""}, st.failed))
    values += [
        ("kube_job_status_active", base, st.active),
        ("kube_job_status_ready", base, st.ready),
    ]
    out = [(name, _sample(name, labels, value)) for name, labels, value in values]
    for type_, fam in (("Complete", "kube_job_complete"), ("Failed", "kube_job_failed")):
        cond = st.condition(type_)
        if cond is not None:
            out += _condition_samples(fam, base, cond.status)
    times = (("kube_job_status_start_time", st.start_time),
             ("kube_job_status_completion_time", st.completion_time))  # fmt: skip
    out += [(n, _sample(n, base, float(int(t)))) for n, t in times if t is not None]
    ref = meta.controller_ref()
    owner = (ref.kind, ref.name, "true") if ref is not None else ("", "", "")
    out.append(("kube_job_owner", _sample("kube_job_owner", {
        **base, "owner_kind": owner[0], "owner_name": owner[1], "owner_is_controller": owner[2],
    }, 1.0)))  # fmt: skip
    return out


OBJECT_RENDERERS: dict[str, Callable[[Any], list[ObjectSample]]] = {
    "pods": pod_samples,
    "deployments": deployment_samples,
    "nodes": node_samples,
    "endpoints": endpoint_samples,
    "poddisruptionbudgets": pdb_samples,
    "configmaps": configmap_samples,
    "secrets": secret_samples,
    "daemonsets": daemonset_samples,
    "horizontalpodautoscalers": hpa_samples,
    "statefulsets": statefulset_samples,
    "jobs": job_samples,
    "endpointslices": endpointslice_samples,
}
# (family, HELP, type) per resource, in exposition order (kube-state-metrics' own HELP texts)
OBJECT_FAMILIES: dict[str, tuple[tuple[str, str, str], ...]] = {
    "pods": (
        ("kube_pod_status_phase", "The pods current phase.", "gauge"),
        ("kube_pod_status_ready", "Describes whether the pod is ready to serve requests.", "gauge"),
        ("kube_pod_info", "Information about pod.", "gauge"),
        ("kube_pod_owner", "Information about the Pod's owner.", "gauge"),
        ("kube_pod_container_status_restarts", "The number of container restarts per container.", "counter"),
        ("kube_pod_container_status_waiting_reason",
         "Describes the reason the container is currently in waiting state.", "gauge"),
        ("kube_pod_init_container_status_restarts",
         "The number of restarts for the init container.", "counter"),
        ("kube_pod_init_container_status_waiting_reason",
         "Describes the reason the init container is currently in waiting state.", "gauge"),
    ),
    "deployments": (
        ("kube_deployment_spec_replicas", "Number of desired pods for a deployment.", "gauge"),
        ("kube_deployment_status_replicas_available",
         "The number of available replicas per deployment.", "gauge"),
        ("kube_deployment_status_replicas_updated",
         "The number of updated replicas per deployment.", "gauge"),
        ("kube_deployment_status_observed_generation",
         "The generation observed by the deployment controller.", "gauge"),
        ("kube_deployment_metadata_generation",
         "Sequence number representing a specific generation of the desired state.", "gauge"),
    ),
    "nodes": (
        ("kube_node_status_condition", "The condition of a cluster node.", "gauge"),
        ("kube_node_spec_taint", "The taint of a cluster node.", "gauge"),
    ),
    "endpoints": (
        ("kube_endpoint_address",
         "Information about Endpoint available and non available addresses.", "gauge"),
    ),
    "poddisruptionbudgets": (
        ("kube_poddisruptionbudget_created", "Unix creation timestamp", "gauge"),
        ("kube_poddisruptionbudget_status_current_healthy", "Current number of healthy pods", "gauge"),
        ("kube_poddisruptionbudget_status_desired_healthy",
         "Minimum desired number of healthy pods", "gauge"),
        ("kube_poddisruptionbudget_status_pod_disruptions_allowed",
         "Number of pod disruptions that are currently allowed", "gauge"),
        ("kube_poddisruptionbudget_status_expected_pods",
         "Total number of pods counted by this disruption budget", "gauge"),
        ("kube_poddisruptionbudget_status_observed_generation",
         "Most recent generation observed when updating this PDB status", "gauge"),
    ),
    "configmaps": (
        ("kube_configmap_info", "Information about configmap.", "gauge"),
        ("kube_configmap_created", "Unix creation timestamp", "gauge"),
    ),
    "secrets": (
        ("kube_secret_info", "Information about secret.", "gauge"),
        ("kube_secret_type", "Type about secret.", "gauge"),
        ("kube_secret_created", "Unix creation timestamp", "gauge"),
    ),
    "daemonsets": (
        ("kube_daemonset_created", "Unix creation timestamp", "gauge"),
        ("kube_daemonset_status_current_number_scheduled",
         "The number of nodes running at least one daemon pod and are supposed to.", "gauge"),
        ("kube_daemonset_status_desired_number_scheduled",
         "The number of nodes that should be running the daemon pod.", "gauge"),
        ("kube_daemonset_status_number_available",
         "The number of nodes that should be running the daemon pod and have one or more of the "
         "daemon pod running and available", "gauge"),
        ("kube_daemonset_status_number_misscheduled",
         "The number of nodes running a daemon pod but are not supposed to.", "gauge"),
        ("kube_daemonset_status_number_ready",
         "The number of nodes that should be running the daemon pod and have one or more of the "
         "daemon pod running and ready.", "gauge"),
        ("kube_daemonset_status_number_unavailable",
         "The number of nodes that should be running the daemon pod and have none of the daemon "
         "pod running and available", "gauge"),
        ("kube_daemonset_status_observed_generation",
         "The most recent generation observed by the daemon set controller.", "gauge"),
        ("kube_daemonset_status_updated_number_scheduled",
         "The total number of nodes that are running updated daemon pod", "gauge"),
        ("kube_daemonset_metadata_generation",
         "Sequence number representing a specific generation of the desired state.", "gauge"),
    ),
    "horizontalpodautoscalers": (
        ("kube_horizontalpodautoscaler_info", "Information about this autoscaler.", "gauge"),
        ("kube_horizontalpodautoscaler_metadata_generation",
         "The generation observed by the HorizontalPodAutoscaler controller.", "gauge"),
        ("kube_horizontalpodautoscaler_spec_max_replicas",
         "Upper limit for the number of pods that can be set by the autoscaler; cannot be "
         "smaller than MinReplicas.", "gauge"),
        ("kube_horizontalpodautoscaler_spec_min_replicas",
         "Lower limit for the number of pods that can be set by the autoscaler, default 1.",
         "gauge"),
        ("kube_horizontalpodautoscaler_spec_target_metric",
         "The metric specifications used by this autoscaler when calculating the desired "
         "replica count.", "gauge"),
        ("kube_horizontalpodautoscaler_status_current_replicas",
         "Current number of replicas of pods managed by this autoscaler.", "gauge"),
        ("kube_horizontalpodautoscaler_status_desired_replicas",
         "Desired number of replicas of pods managed by this autoscaler.", "gauge"),
        ("kube_horizontalpodautoscaler_status_condition",
         "The condition of this autoscaler.", "gauge"),
    ),
    "statefulsets": (
        ("kube_statefulset_created", "Unix creation timestamp", "gauge"),
        ("kube_statefulset_status_replicas", "The number of replicas per StatefulSet.", "gauge"),
        ("kube_statefulset_status_replicas_available",
         "The number of available replicas per StatefulSet.", "gauge"),
        ("kube_statefulset_status_replicas_current",
         "The number of current replicas per StatefulSet.", "gauge"),
        ("kube_statefulset_status_replicas_ready",
         "The number of ready replicas per StatefulSet.", "gauge"),
        ("kube_statefulset_status_replicas_updated",
         "The number of updated replicas per StatefulSet.", "gauge"),
        ("kube_statefulset_status_observed_generation",
         "The generation observed by the StatefulSet controller.", "gauge"),
        ("kube_statefulset_replicas", "Number of desired pods for a StatefulSet.", "gauge"),
        ("kube_statefulset_ordinals_start", "Start ordinal of the StatefulSet.", "gauge"),
        ("kube_statefulset_metadata_generation",
         "Sequence number representing a specific generation of the desired state for the "
         "StatefulSet.", "gauge"),
        ("kube_statefulset_persistentvolumeclaim_retention_policy",
         "Count of retention policy for StatefulSet template PVCs", "gauge"),
        ("kube_statefulset_status_current_revision",
         "Indicates the version of the StatefulSet used to generate Pods in the sequence "
         "[0,currentReplicas).", "gauge"),
        ("kube_statefulset_status_update_revision",
         "Indicates the version of the StatefulSet used to generate Pods in the sequence "
         "[replicas-updatedReplicas,replicas)", "gauge"),
    ),
    "jobs": (
        ("kube_job_info", "Information about job.", "gauge"),
        ("kube_job_created", "Unix creation timestamp", "gauge"),
        ("kube_job_spec_parallelism",
         "The maximum desired number of pods the job should run at any given time.", "gauge"),
        ("kube_job_spec_completions",
         "The desired number of successfully finished pods the job should be run with.", "gauge"),
        ("kube_job_spec_active_deadline_seconds",
         "The duration in seconds relative to the startTime that the job may be active before "
         "the system tries to terminate it.", "gauge"),
        ("kube_job_status_succeeded", "The number of pods which reached Phase Succeeded.", "gauge"),
        ("kube_job_status_failed",
         "The number of pods which reached Phase Failed and the reason for failure.", "gauge"),
        ("kube_job_status_active", "The number of actively running pods.", "gauge"),
        ("kube_job_status_ready", "The number of ready pods that belong to this Job.", "gauge"),
        ("kube_job_complete", "The job has completed its execution.", "gauge"),
        ("kube_job_failed", "The job has failed its execution.", "gauge"),
        ("kube_job_status_start_time",
         "StartTime represents time when the job was acknowledged by the Job Manager.", "gauge"),
        ("kube_job_status_completion_time",
         "CompletionTime represents time when the job was completed.", "gauge"),
        ("kube_job_owner", "Information about the Job's owner.", "gauge"),
    ),
    "endpointslices": ENDPOINTSLICE_FAMILIES,
}  # fmt: skip
# Resources whose families exist only while the cluster has an object of theirs: kinds a run
# may never use, so a run without them exposes and records exactly what it did before the kind
# was modelled (in this order, after the endpoints family).
OPTIONAL_RESOURCES: tuple[str, ...] = (
    "poddisruptionbudgets",
    "configmaps",
    "secrets",
    "daemonsets",
    "horizontalpodautoscalers",
    "statefulsets",
    "jobs",
    "endpointslices",
)


class KubeStateMetrics:
    """The kube-state-metrics families of one cluster, each object's samples cached per
    resourceVersion."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self._object_cache: dict[str, dict[str, tuple[str, list[ObjectSample]]]] = {}

    def object_samples(self, resource: str) -> list[tuple[str, str, list[ObjectSample]]]:
        """``(uid, resourceVersion, samples)`` for every object of ``resource``.

        An object's kube-state-metrics samples depend on the object alone, so they are built
        once per resourceVersion and reused: in a steady cluster a collection costs a lookup
        per object, not a rebuild of every series.
        """
        render = OBJECT_RENDERERS[resource]
        cache = self._object_cache.setdefault(resource, {})
        fresh: dict[str, tuple[str, list[ObjectSample]]] = {}
        out = []
        for obj in self.cluster.api.cache(resource).list():
            meta = obj.metadata
            hit = cache.get(meta.uid)
            if hit is None or hit[0] != meta.resource_version:
                hit = (meta.resource_version, render(obj))
            fresh[meta.uid] = hit
            out.append((meta.uid, hit[0], hit[1]))
        self._object_cache[resource] = fresh
        return out

    def families(self, resource: str) -> list[Metric]:
        """``resource``'s families in exposition order, each object's samples in the order the
        watch cache lists the objects."""
        metrics = {name: family(name, help, typ) for name, help, typ in OBJECT_FAMILIES[resource]}
        for _, _, object_samples in self.object_samples(resource):
            for family_name, sample in object_samples:
                metrics[family_name].samples.append(sample)
        return list(metrics.values())
