"""Pods: DefaultTolerationSeconds on create, a nearly immutable spec, graceful deletion.

Upstream's pkg/registry/core/pod/strategy.go, plus the DefaultTolerationSeconds and Priority
admission plugins (plugin/pkg/admission/defaulttolerationseconds, :mod:`.priority`) and the PodScheduled condition the binding
subresource sets (pkg/registry/core/pod/storage).
"""

from __future__ import annotations

from typing import Any

from kubechaos.api import discovery, errors
from kubechaos.api.objects import (
    ObjectMeta,
    Pod,
    PodCondition,
    PodSpec,
    PodStatus,
    PriorityClass,
    Toleration,
)
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation import pod_spec_causes, validate_pod
from kubechaos.api.validation_podstatus import pod_status_update_causes
from kubechaos.control.registry.identitymemo import IdentityMemo
from kubechaos.control.registry.priority import admit_priority
from kubechaos.control.registry.statuswrite import merge_foreign_pod_conditions
from kubechaos.control.registry.strategy import ResourceType, Strategy, StrategyOptions
from kubechaos.defaults import TAINT_NOT_READY, TAINT_UNREACHABLE
from kubechaos.sim.clock import now


class PodStrategy(Strategy[Pod]):
    delete_when_finalized = False  # the kubelet's final delete removes a pod

    def __init__(self, resource: ResourceType, options: StrategyOptions) -> None:
        super().__init__(resource, options)
        # A ReplicaSet's pods share their spec object (identitymemo): a client's spec -> the
        # PriorityClasses it was admitted against and the admitted spec; an admitted spec ->
        # its validation causes.
        self._admitted: IdentityMemo[PodSpec, tuple[list[PriorityClass], PodSpec]]
        self._admitted = IdentityMemo()
        self._validated: IdentityMemo[PodSpec, list[str]] = IdentityMemo()

    def create_changes(self, obj: Pod, meta: ObjectMeta) -> dict[str, Any]:
        """PrepareForCreate (a fresh status; PodScheduled if created bound), then the
        DefaultTolerationSeconds and Priority admission plugins: one spec for both (neither
        reads what the other sets), made by the generic step in its one copy of the pod."""
        status = type(obj.status)()
        if obj.spec.node_name:
            status = _with_scheduled(status)
        return {"status": status, "spec": self._admitted_spec(obj.spec, meta)}

    def _admitted_spec(self, spec: PodSpec, meta: ObjectMeta) -> PodSpec:
        """``spec`` as both admission plugins leave it. It depends on ``spec``, the settings
        and the PriorityClasses alone (``meta`` only names a refusal), so a spec admitted
        before against equal classes (in the same order: the first of a name, the first of
        the lowest default value wins) is admitted the same: that spec object is reused."""
        classes = self.options.cached("priorityclasses")
        hit = self._admitted.get(spec)
        if hit is not None and hit[0] == classes:
            return hit[1]
        priority = admit_priority(spec, meta, classes)
        admitted = replace(spec, tolerations=self._tolerations(spec), **priority)
        self._admitted.put(spec, (classes, admitted))
        return admitted

    def _tolerations(self, spec: PodSpec) -> tuple[Toleration, ...]:
        """DefaultTolerationSeconds: tolerate not-ready/unreachable NoExecute for 300 s."""
        settings = self.options.settings
        tolerations = list(spec.tolerations)
        for key, seconds in (
            (TAINT_NOT_READY, settings.default_not_ready_toleration_seconds),
            (TAINT_UNREACHABLE, settings.default_unreachable_toleration_seconds),
        ):
            if not any(
                t.effect in ("", "NoExecute")
                and (t.key == key or (not t.key and t.operator == "Exists"))
                for t in tolerations
            ):
                tolerations.append(Toleration(key, "Exists", "", "NoExecute", seconds))
        return tuple(tolerations)

    def validate(self, obj: Pod) -> list[str]:
        return validate_pod(obj, self._spec_causes)

    def _spec_causes(self, spec: PodSpec) -> list[str]:
        """The spec's causes, once per spec object (the list is only ever concatenated)."""
        causes = self._validated.get(spec)
        if causes is None:
            causes = pod_spec_causes(spec)
            self._validated.put(spec, causes)
        return causes

    def prepare_for_update(self, old: Pod, new: Pod) -> Pod:
        """Only container images and tolerations may change."""
        unchanged = replace(
            new.spec, containers=old.spec.containers, tolerations=old.spec.tolerations
        )
        if unchanged != old.spec:
            raise errors.Invalid(
                "Pod",
                old.metadata.name,
                [
                    "spec: Forbidden: pod updates may not change fields other than "
                    "spec.containers[*].image and spec.tolerations (additions)"
                ],
            )
        return new

    def update_status(self, old: Pod, new: Pod, version: str = "") -> Pod:
        """A model component's status: the conditions it leaves out are kept (a client's).
        (The base class's status write with the merged status, in one copy, stamped.) 422
        Invalid if the merged status fails podStatusStrategy.ValidateUpdate."""
        status = merge_foreign_pod_conditions(old.status, new.status)
        causes = pod_status_update_causes(status, old.status, old.spec)
        if causes:
            raise errors.Invalid("Pod", old.metadata.name, causes)
        meta = replace(old.metadata, resource_version=version)
        return replace(old, metadata=meta, status=status)

    def deletion_grace(self, obj: Pod, requested: int | None) -> int:
        """A pod bound to a node and still running gets its grace period (or the one the
        request asks for); its kubelet stops it and then completes the deletion."""
        if not obj.spec.node_name or obj.is_terminal():
            return 0
        if requested is None:
            return obj.spec.termination_grace_period_seconds
        return requested


def with_scheduled_condition(pod: Pod, **changes: Any) -> Pod:
    """``pod`` with its PodScheduled condition True as of now (replaced if present), and the
    other ``changes`` (the binding's) in the same copy."""
    return replace(pod, status=_with_scheduled(pod.status), **changes)


def _with_scheduled(status: PodStatus) -> PodStatus:
    if status.condition("PodScheduled") is not None:
        conditions = tuple(
            PodCondition("PodScheduled", "True", now()) if c.type == "PodScheduled" else c
            for c in status.conditions
        )
    else:
        conditions = (*status.conditions, PodCondition("PodScheduled", "True", now()))
    return replace(status, conditions=conditions)


PODS = ResourceType(discovery.PODS, Pod, True, False, PodStrategy)
