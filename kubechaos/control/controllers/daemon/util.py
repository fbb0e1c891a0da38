"""What the DaemonSet controller decides per (DaemonSet, node), and the pods it makes.

Upstream's pkg/controller/daemon/util/daemonset_util.go (the tolerations every daemon pod gets,
the pod template with its revision labels, the node-name affinity, ``IsPodUpdated``) and
``NodeShouldRunDaemonPod`` / ``predicates`` of daemon_controller.go.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import NamedTuple

import attrs

from kubechaos.api.nodeaffinity import matches_node, node_name_affinity
from kubechaos.api.objects import (
    NO_EXECUTE,
    NO_SCHEDULE,
    DaemonSet,
    Node,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodSpec,
    Taint,
    Toleration,
)
from kubechaos.defaults import (
    CONTROLLER_REVISION_HASH_LABEL,
    DAEMONSET_TEMPLATE_GENERATION_ANNOTATION,
    DAEMONSET_TEMPLATE_GENERATION_LABEL,
    TAINT_DISK_PRESSURE,
    TAINT_MEMORY_PRESSURE,
    TAINT_NOT_READY,
    TAINT_PID_PRESSURE,
    TAINT_UNREACHABLE,
    TAINT_UNSCHEDULABLE,
)
from kubechaos.sim.rand import SAFE_ENCODE_ALPHABET

# util.AddOrUpdateDaemonPodTolerations, in upstream's order: a daemon pod stays on a node that is
# not ready or unreachable for as long as it lasts (no tolerationSeconds), and is placed on nodes
# under disk, memory or PID pressure and on cordoned nodes. (The network-unavailable toleration
# upstream adds for hostNetwork pods is not modelled: hostNetwork is not read.)
DAEMON_POD_TOLERATIONS = (
    Toleration(TAINT_NOT_READY, "Exists", "", NO_EXECUTE),
    Toleration(TAINT_UNREACHABLE, "Exists", "", NO_EXECUTE),
    Toleration(TAINT_DISK_PRESSURE, "Exists", "", NO_SCHEDULE),
    Toleration(TAINT_MEMORY_PRESSURE, "Exists", "", NO_SCHEDULE),
    Toleration(TAINT_PID_PRESSURE, "Exists", "", NO_SCHEDULE),
    Toleration(TAINT_UNSCHEDULABLE, "Exists", "", NO_SCHEDULE),
)


def daemon_tolerations(tolerations: tuple[Toleration, ...]) -> tuple[Toleration, ...]:
    """The template's tolerations plus each of :data:`DAEMON_POD_TOLERATIONS` it lacks
    (AddOrUpdateTolerationInPodSpec: one with the same key, operator and effect is replaced)."""
    out = list(tolerations)
    for wanted in DAEMON_POD_TOLERATIONS:
        for i, tol in enumerate(out):
            if (tol.key, tol.operator, tol.effect) == (wanted.key, wanted.operator, wanted.effect):
                out[i] = wanted
                break
        else:
            out.append(wanted)
    return tuple(out)


def _untolerated(
    taints: Iterable[Taint], tolerations: tuple[Toleration, ...], effects: tuple[str, ...]
) -> bool:
    return any(
        taint.effect in effects and not any(t.tolerates(taint) for t in tolerations)
        for taint in taints
    )


def node_should_run(
    node: Node, ds: DaemonSet, tolerations: tuple[Toleration, ...]
) -> tuple[bool, bool]:
    """NodeShouldRunDaemonPod: (shouldRun, shouldContinueRunning).

    The template's nodeName, nodeSelector and required node affinity must match the node; then
    a NoSchedule or NoExecute taint the pod does not tolerate stops new pods, and only an
    untolerated NoExecute taint removes a running one. ``tolerations`` are the daemon pod's
    (:func:`daemon_tolerations`). A cordon (``spec.unschedulable``) does not count.
    """
    spec = ds.spec.template.spec
    name = node.metadata.name
    if spec.node_name and spec.node_name != name:
        return False, False
    if not matches_node(spec, node.metadata.labels, name):
        return False, False
    taints = node.spec.taints
    if _untolerated(taints, tolerations, (NO_SCHEDULE, NO_EXECUTE)):
        return False, not _untolerated(taints, tolerations, (NO_EXECUTE,))
    return True, True


def template_generation(ds: DaemonSet) -> str:
    return ds.metadata.annotations.get(DAEMONSET_TEMPLATE_GENERATION_ANNOTATION, "")


def revision_hash(ds: DaemonSet) -> str:
    """The current revision's hash (the ``controller-revision-hash`` label): FNV-32a of the
    template, safe-encoded, as ControllerRevision names are (here without the revision
    objects: rollback history is not modelled)."""
    text = json.dumps(attrs.asdict(ds.spec.template), sort_keys=True, default=str)
    value = 0x811C9DC5
    for byte in text.encode():
        value = ((value ^ byte) * 0x01000193) & 0xFFFFFFFF
    return "".join(SAFE_ENCODE_ALPHABET[b % len(SAFE_ENCODE_ALPHABET)] for b in str(value).encode())


def is_pod_updated(pod: Pod, hash_: str, generation: str) -> bool:
    """util.IsPodUpdated: the pod carries the current template generation or revision hash."""
    labels = pod.metadata.labels
    generation_matches = bool(generation) and (
        labels.get(DAEMONSET_TEMPLATE_GENERATION_LABEL) == generation
    )
    return generation_matches or (
        bool(hash_) and labels.get(CONTROLLER_REVISION_HASH_LABEL) == hash_
    )


def new_daemon_pod(
    ds: DaemonSet, node_name: str, hash_: str, tolerations: tuple[Toleration, ...]
) -> Pod:
    """util.CreatePodTemplate plus ReplaceDaemonSetPodNodeNameNodeAffinity: the template with
    the revision labels and the daemon tolerations, its required node affinity replaced by the
    one term ``metadata.name In [node]`` so the default scheduler binds it to that node."""
    template = ds.spec.template
    meta = ds.metadata
    labels = dict(template.metadata.labels)
    generation = template_generation(ds)
    if generation:
        labels[DAEMONSET_TEMPLATE_GENERATION_LABEL] = generation
    labels[CONTROLLER_REVISION_HASH_LABEL] = hash_
    spec: PodSpec = attrs.evolve(
        template.spec, tolerations=tolerations, node_affinity=node_name_affinity(node_name)
    )
    return Pod(
        ObjectMeta(
            generate_name=f"{meta.name}-",
            namespace=meta.namespace,
            labels=labels,
            annotations=dict(template.metadata.annotations),
            finalizers=template.metadata.finalizers,
            owner_references=(OwnerReference(DaemonSet.KIND, meta.name, meta.uid, True),),
        ),
        spec,
    )


def by_creation(pod: Pod) -> tuple[bool, float, str]:
    """podByCreationTimestampAndPhase: scheduled pods first, then oldest, then by name."""
    created = pod.metadata.creation_timestamp
    return (not pod.spec.node_name, created if created is not None else 0.0, pod.metadata.name)


def is_pod_available(pod: Pod, min_ready_seconds: int, at: float) -> bool:
    """podutil.IsPodAvailable (ready for minReadySeconds; equal counts, as the ReplicaSet
    controller of the model has it, so a requeue at that instant sees it available)."""
    return available(pod.ready_since(), min_ready_seconds, at)


class NodeFacts(NamedTuple):
    """What one node's daemon pods are, for status and the rolling update: the oldest pod's
    Ready time (None: not Ready) and whether it is updated (updateDaemonSetStatus); the node's
    new and old pod and whether it has at most one of each (findUpdatedPodsOnNode), with their
    Ready times (IsPodAvailable)."""

    ready_since: float | None
    updated: bool
    new: Pod | None
    old: Pod | None
    ok: bool
    new_since: float | None
    old_since: float | None


def available(since: float | None, min_ready_seconds: int, at: float) -> bool:
    """podutil.IsPodAvailable from a pod's Ready time (equal counts, as :func:`is_pod_available`)."""
    return since is not None and (min_ready_seconds == 0 or since + min_ready_seconds <= at)


def should_ignore_node_update(old: Node, new: Node) -> bool:
    """shouldIgnoreNodeUpdate: nothing changed but heartbeats (the set of True conditions and
    everything outside the conditions are the same)."""
    if {c.type for c in old.status.conditions if c.status == "True"} != {
        c.type for c in new.status.conditions if c.status == "True"
    }:
        return False
    same = attrs.evolve(
        old,
        metadata=attrs.evolve(old.metadata, resource_version=new.metadata.resource_version),
        status=attrs.evolve(old.status, conditions=new.status.conditions),
    )
    return same == new


__all__ = [
    "DAEMON_POD_TOLERATIONS",
    "NodeFacts",
    "available",
    "by_creation",
    "daemon_tolerations",
    "is_pod_available",
    "is_pod_updated",
    "new_daemon_pod",
    "node_should_run",
    "revision_hash",
    "should_ignore_node_update",
    "template_generation",
]
