"""A client's write to the ``/status`` subresource, as each kind's status strategy stores it.

Upstream's ``<kind>StatusStrategy.PrepareForUpdate`` (pkg/registry/{core,apps,batch,autoscaling,
policy}/<kind>/strategy.go) keeps the stored spec and takes the status (and the metadata) from the
request; a few kinds keep more of the old object:

- Deployment: ``metadata.labels`` too (deploymentStatusStrategy, resetFields ``metadata.labels``);
- Pod: ``metadata.ownerReferences`` and ``deletionTimestamp`` (podStatusStrategy: "old kubelets
  corrupt them in a way that breaks garbage collection");
- Node, ReplicaSet, StatefulSet, DaemonSet, Job, HorizontalPodAutoscaler, PodDisruptionBudget,
  Namespace: the spec only.

Identity, timestamps and ``generation`` are the server's (rest.BeforeUpdate); a status write never
bumps ``generation``. ValidateUpdate is each kind's ``Validate<Kind>StatusUpdate`` for what the
model holds: every counter of a workload status non-negative (``ValidateNonnegativeField``), a
Deployment's and a ReplicaSet's ready/available counts bounded as upstream's
``ValidateDeploymentStatus`` / ``ValidateReplicaSetStatus``, a Namespace's phase ``Active`` (or
``Terminating`` once deleted) as ``ValidateNamespaceStatusUpdate``; a Pod's status as
``ValidatePodStatusUpdate`` (:mod:`kubechaos.api.validation_podstatus`), also for a model
component's pod status write.

A model component's status write (:meth:`Strategy.update_status`) is not this: it is the model's
own, whole status, and takes no metadata, but for Deployments (registry/deployment.py), whose
controller writes its revision annotation through ``/status`` as upstream's does
(:func:`status_write_meta`, the same rule as a client's). For pods, :func:`merge_foreign_pod_conditions` keeps the conditions of types a
writer's status leaves out, as upstream's writers' patches do (the kubelet's PatchPodStatus, the
scheduler's, a strategic merge keyed by ``type``), so a condition a client wrote meanwhile stays.
"""

from __future__ import annotations

from typing import Any

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import (
    Deployment,
    Namespace,
    ObjectMeta,
    Pod,
    PodStatus,
    ReplicaSet,
    Service,
)
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation_podstatus import pod_status_update_causes
from kubechaos.control.registry.strategy import Strategy

# kinds whose status strategy also keeps these metadata fields of the stored object
_KEPT_META: dict[type, tuple[str, ...]] = {
    Deployment: ("labels",),
    Pod: ("owner_references", "deletion_timestamp", "deletion_grace_period_seconds"),
}
_CLIENT_META = ("labels", "annotations", "finalizers", "owner_references")
# upstream's bounds: (field, bound field, message) for the status of these kinds
_BOUNDS: dict[type, tuple[tuple[str, str, str], ...]] = {
    Deployment: (
        ("updated_replicas", "replicas", "cannot be greater than status.replicas"),
        ("available_replicas", "replicas", "cannot be greater than status.replicas"),
        ("available_replicas", "ready_replicas", "cannot be greater than readyReplicas"),
    ),
    ReplicaSet: (
        ("fully_labeled_replicas", "replicas", "cannot be greater than the number of replicas"),
        ("ready_replicas", "replicas", "cannot be greater than the number of replicas"),
        ("available_replicas", "replicas", "cannot be greater than the number of replicas"),
        ("available_replicas", "ready_replicas", "cannot be greater than readyReplicas"),
    ),
}


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def prepared(strategy: Strategy[Any], old: Any, new: Any, status: bool, version: str = "") -> Any:
    """What an update (or, with ``status``, a client's status write) of ``old`` to ``new``
    stores, before validation of the whole object, stamped with ``version`` (the
    resourceVersion the write will commit at: registry.stamp; never the client's)."""
    if status:
        return client_status_update(strategy.resource.has_status, old, new, version)
    return strategy.update(old, new, version)


def client_status_update(has_status: bool, old: Any, new: Any, version: str = "") -> Any:
    """``old`` with ``new``'s status and the metadata the kind's status strategy takes from a
    request; 422 Invalid if the status fails the kind's status validation; 404 for a kind
    without a status subresource."""
    kind = type(old)
    if kind is Service:  # services/status exists upstream; the model holds no Service status
        return attrs.evolve(old, metadata=attrs.evolve(old.metadata, resource_version=version))
    if not has_status:
        raise errors.NotFound("the server could not find the requested resource")
    meta = status_write_meta(kind, old.metadata, new.metadata, version)
    if isinstance(old, Namespace):
        merged: Any = attrs.evolve(old, metadata=meta, phase=new.phase)
    else:
        merged = attrs.evolve(old, metadata=meta, status=new.status)
    causes = validate_status(merged, old)
    if causes:
        raise errors.Invalid(kind.__name__, old.metadata.name, causes)
    return merged


def status_write_meta(kind: type, old: ObjectMeta, new: ObjectMeta, version: str) -> ObjectMeta:
    """``old``'s metadata with what ``kind``'s status strategy takes of the request's ``new``
    (the client-settable fields it does not keep), stamped with ``version``."""
    if new is old:  # the served metadata sent back (a controller's status write): none to take
        return replace(old, resource_version=version)
    kept = _KEPT_META.get(kind, ())
    taken = {name: getattr(new, name) for name in _CLIENT_META if name not in kept}
    return replace(old, resource_version=version, **taken)


def validate_status(obj: Any, old: Any) -> list[str]:
    """The causes the kind's ``Validate<Kind>StatusUpdate`` finds in what the model holds of
    ``obj`` replacing ``old``."""
    if isinstance(obj, Namespace):
        return _namespace_phase(obj)
    if isinstance(obj, Pod):
        return pod_status_update_causes(obj.status, old.status, old.spec)
    status = obj.status
    causes = []
    for field in attrs.fields(type(status)):
        value = getattr(status, field.name)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            causes.append(
                f"status.{_camel(field.name)}: Invalid value: {value}: "
                "must be greater than or equal to 0"
            )
    for name, bound, message in _BOUNDS.get(type(obj), ()):
        value = getattr(status, name)
        if value > getattr(status, bound):
            causes.append(f"status.{_camel(name)}: Invalid value: {value}: {message}")
    for i, cond in enumerate(getattr(status, "conditions", ())):
        if not cond.type:
            causes.append(f"status.conditions[{i}].type: Required value")
    return causes


def _namespace_phase(ns: Namespace) -> list[str]:
    """ValidateNamespaceStatusUpdate: Active unless deleted, then Terminating."""
    deleting = ns.metadata.deletion_timestamp is not None
    wanted = "Terminating" if deleting else "Active"
    if ns.phase == wanted:
        return []
    when = "not empty" if deleting else "empty"
    return [
        f"status.Phase: Invalid value: \"{ns.phase}\": may only be '{wanted}' if "
        f"`deletionTimestamp` is {when}"
    ]


def merge_foreign_pod_conditions(old: PodStatus, new: PodStatus) -> PodStatus:
    """``new`` with the conditions of ``old`` whose types ``new`` does not hold (appended)."""
    held = {c.type for c in new.conditions}
    missing = tuple(c for c in old.conditions if c.type not in held)
    if not missing:
        return new
    return replace(new, conditions=(*new.conditions, *missing))


__all__ = [
    "client_status_update",
    "merge_foreign_pod_conditions",
    "prepared",
    "status_write_meta",
    "validate_status",
]
