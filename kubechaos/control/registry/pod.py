"""Pods: DefaultTolerationSeconds on create, a nearly immutable spec, graceful deletion.

Upstream's pkg/registry/core/pod/strategy.go, plus the DefaultTolerationSeconds and Priority
admission plugins (plugin/pkg/admission/defaulttolerationseconds, :mod:`.priority`) and the PodScheduled condition the binding
subresource sets (pkg/registry/core/pod/storage).
"""

from __future__ import annotations

from typing import Any

from kubechaos.api import discovery, errors
from kubechaos.api.objects import ObjectMeta, Pod, PodCondition, PodStatus, Toleration
from kubechaos.api.objects.copying import replace
from kubechaos.api.validation import validate_pod
from kubechaos.control.registry.priority import admit_priority
from kubechaos.control.registry.statuswrite import merge_foreign_pod_conditions
from kubechaos.control.registry.strategy import ResourceType, Strategy
from kubechaos.defaults import TAINT_NOT_READY, TAINT_UNREACHABLE
from kubechaos.sim.clock import now


class PodStrategy(Strategy[Pod]):
    delete_when_finalized = False  # the kubelet's final delete removes a pod

    def create_changes(self, obj: Pod, meta: ObjectMeta) -> dict[str, Any]:
        """PrepareForCreate (a fresh status; PodScheduled if created bound), then the
        DefaultTolerationSeconds and Priority admission plugins: one spec for both (neither
        reads what the other sets), made by the generic step in its one copy of the pod."""
        status = type(obj.status)()
        if obj.spec.node_name:
            status = _with_scheduled(status)
        priority = admit_priority(obj.spec, meta, self.options.cached("priorityclasses"))
        spec = replace(obj.spec, tolerations=self._tolerations(obj), **priority)
        return {"status": status, "spec": spec}

    def _tolerations(self, pod: Pod) -> tuple[Toleration, ...]:
        """DefaultTolerationSeconds: tolerate not-ready/unreachable NoExecute for 300 s."""
        settings = self.options.settings
        tolerations = list(pod.spec.tolerations)
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
        return validate_pod(obj)

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
        (The base class's status write with the merged status, in one copy, stamped.)"""
        meta = replace(old.metadata, resource_version=version)
        status = merge_foreign_pod_conditions(old.status, new.status)
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
