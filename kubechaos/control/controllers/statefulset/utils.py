"""The pure pieces of the StatefulSet controller (pkg/controller/statefulset/stateful_set_utils.go,
v1.32): ordinals, identity, revisions, the pod a replica should be, and the status of a set of
pods. Nothing here reads a cache or writes to the API server.

Revisions: upstream stores each template the set has had as a ControllerRevision named
``<set>-<hash>`` and labels pods with that name (``controller-revision-hash``). The model serves
no ControllerRevision objects; a revision's name is computed the same way from the template (the
FNV-32a template hash the Deployment controller uses), so pods carry the same kind of label and
status the same kind of names.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs

from kubechaos.api.objects import (
    ObjectMeta,
    OwnerReference,
    Pod,
    PodTemplate,
    StatefulSet,
    StatefulSetStatus,
)
from kubechaos.api.objects.statefulset import PARALLEL, ROLLING_UPDATE
from kubechaos.control.controllers.deployment.util import pod_template_hash
from kubechaos.defaults import (
    CONTROLLER_REVISION_HASH_LABEL,
    STATEFULSET_POD_INDEX_LABEL,
    STATEFULSET_POD_NAME_LABEL,
)

_ORDINAL = re.compile(r"(.*)-([0-9]+)$")  # statefulPodRegex


def parent_and_ordinal(pod: Pod) -> tuple[str, int]:
    """getParentNameAndOrdinal: ``("web", 2)`` for ``web-2``; ``("", -1)`` if it has no ordinal."""
    match = _ORDINAL.fullmatch(pod.metadata.name)
    if match is None:
        return "", -1
    return match.group(1), int(match.group(2))


def is_member_of(sts: StatefulSet, pod: Pod) -> bool:
    return parent_and_ordinal(pod)[0] == sts.metadata.name


def pod_name(sts: StatefulSet, ordinal: int) -> str:
    return f"{sts.metadata.name}-{ordinal}"


def start_ordinal(sts: StatefulSet) -> int:
    return sts.spec.ordinals_start


def end_ordinal(sts: StatefulSet) -> int:
    """getEndOrdinal: the last ordinal of the range (start - 1 when replicas is 0)."""
    return sts.spec.ordinals_start + sts.spec.replicas - 1


def in_ordinal_range(sts: StatefulSet, pod: Pod) -> bool:
    ordinal = parent_and_ordinal(pod)[1]
    return start_ordinal(sts) <= ordinal <= end_ordinal(sts)


def revision_name(sts: StatefulSet, template: PodTemplate) -> str:
    """ControllerRevisionName(set name, hash of the template)."""
    return f"{sts.metadata.name}-{pod_template_hash(template)}"


def pod_revision(pod: Pod) -> str:
    return pod.metadata.labels.get(CONTROLLER_REVISION_HASH_LABEL, "")


def allows_burst(sts: StatefulSet) -> bool:
    return sts.spec.pod_management_policy == PARALLEL


# ---------------------------------------------------------------------------- pod predicates


def is_created(pod: Pod) -> bool:
    """isCreated: the pod exists in the API (it has a phase)."""
    return bool(pod.status.phase)


def is_terminating(pod: Pod) -> bool:
    return pod.metadata.deletion_timestamp is not None


# ``since`` is the pod's Ready time (None: not Ready), read once per pod version (:mod:`.podfacts`)


def is_available(since: float | None, min_ready_seconds: int, at: float) -> bool:
    """podutil.IsPodAvailable from the Ready time (equal counts, as the model's ReplicaSet
    controller has it, so a requeue at that instant sees the pod available)."""
    return since is not None and (min_ready_seconds == 0 or since + min_ready_seconds <= at)


def is_running_and_ready(pod: Pod, since: float | None) -> bool:
    return pod.status.phase == "Running" and since is not None


def is_running_and_available(
    pod: Pod, since: float | None, min_ready_seconds: int, at: float
) -> bool:
    return pod.status.phase == "Running" and is_available(since, min_ready_seconds, at)


def is_unavailable(pod: Pod, since: float | None, min_ready_seconds: int, at: float) -> bool:
    """isUnavailable: not available, or terminating."""
    return not is_available(since, min_ready_seconds, at) or is_terminating(pod)


# ---------------------------------------------------------------------------- new pods


def new_pod(sts: StatefulSet, template: PodTemplate, revision: str, ordinal: int) -> Pod:
    """newStatefulSetPod + setPodRevision: the template's pod with the replica's identity.

    (Upstream also sets ``spec.hostname`` and ``spec.subdomain``; the model has no DNS.)
    """
    name = pod_name(sts, ordinal)
    meta = template.metadata
    labels = {
        **meta.labels,
        STATEFULSET_POD_NAME_LABEL: name,
        STATEFULSET_POD_INDEX_LABEL: str(ordinal),
        CONTROLLER_REVISION_HASH_LABEL: revision,
    }
    owner = OwnerReference(StatefulSet.KIND, sts.metadata.name, sts.metadata.uid, True)
    return Pod(
        ObjectMeta(
            name=name,
            namespace=sts.metadata.namespace,
            labels=labels,
            annotations=dict(meta.annotations),
            finalizers=meta.finalizers,
            owner_references=(owner,),
        ),
        template.spec,
    )


def versioned_pod(
    sts: StatefulSet,
    current: tuple[str, PodTemplate],
    update: tuple[str, PodTemplate],
    ordinal: int,
) -> Pod:
    """newVersionedStatefulSetPod: below the partition a missing replica comes back at the
    current revision, at or above it at the update revision."""
    strategy = sts.spec.update_strategy
    if strategy.type == ROLLING_UPDATE and ordinal < start_ordinal(sts) + strategy.partition:
        return new_pod(sts, current[1], current[0], ordinal)
    return new_pod(sts, update[1], update[0], ordinal)


# ---------------------------------------------------------------------------- status


def replica_status(
    status: StatefulSetStatus,
    sts: StatefulSet,
    pods: list[Pod],
    ready_since: Callable[[Pod], float | None],
    at: float,
) -> StatefulSetStatus:
    """updateStatus / computeReplicaStatus over ``pods`` (placeholders not yet created count
    nothing)."""
    replicas = ready = available = current = updated = 0
    min_ready = sts.spec.min_ready_seconds
    for pod in pods:
        if is_created(pod):
            replicas += 1
        since = ready_since(pod)
        if is_running_and_ready(pod, since):
            ready += 1
            if is_running_and_available(pod, since, min_ready, at):
                available += 1
        if is_created(pod) and not is_terminating(pod):
            revision = pod_revision(pod)
            current += revision == status.current_revision
            updated += revision == status.update_revision
    return attrs.evolve(
        status,
        replicas=replicas,
        ready_replicas=ready,
        available_replicas=available,
        current_replicas=current,
        updated_replicas=updated,
    )


def complete_rolling_update(sts: StatefulSet, status: StatefulSetStatus) -> StatefulSetStatus:
    """completeRollingUpdate: once every replica is updated and ready, the update revision
    becomes the current one."""
    if (
        sts.spec.update_strategy.type == ROLLING_UPDATE
        and status.updated_replicas == status.replicas
        and status.ready_replicas == status.replicas
    ):
        return attrs.evolve(
            status,
            current_replicas=status.updated_replicas,
            current_revision=status.update_revision,
        )
    return status
