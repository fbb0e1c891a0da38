"""The ``DisruptionTarget`` pod condition a controller adds before it deletes a pod.

Upstream v1.32 (pkg/apis/core/types.go ``DisruptionTarget``; the reasons in
pkg/apis/core/types.go and the controllers): the taint eviction controller
(pkg/controller/tainteviction/taint_eviction.go ``addConditionAndDeletePod``: reason
``DeletionByTaintManager``, message "Taint manager: deleting due to NoExecute taint") GETs the
pod, patches its status with the condition (``apipod.UpdatePodCondition``: nothing written
when it is already there) and then deletes it. Pod GC (``DeletionByPodGC``) and the Eviction
API (``EvictionByEvictionAPI``) write theirs in their own modules.
"""

from __future__ import annotations

import attrs

from kubechaos.api import errors
from kubechaos.api.objects import Pod, PodCondition
from kubechaos.client.interface import APIClient
from kubechaos.sim.clock import now

DELETION_BY_TAINT_MANAGER = "DeletionByTaintManager"
_PATCH_ATTEMPTS = 3  # PatchPodStatus does not conflict upstream: re-read and write again


async def mark_disruption_target(api: APIClient, pod: Pod, reason: str) -> None:
    """Give ``pod`` (as its UID is now) ``DisruptionTarget`` True with ``reason``.

    Raises NotFound when the pod is gone and Conflict when its name holds another pod now.
    """
    meta = pod.metadata
    for _ in range(_PATCH_ATTEMPTS):
        current: Pod = await api.get("pods", meta.namespace, meta.name)
        if current.metadata.uid != meta.uid:
            raise errors.Conflict(f"pod {meta.namespace}/{meta.name} was replaced")
        existing = current.status.condition("DisruptionTarget")
        if existing is not None and existing.status == "True" and existing.reason == reason:
            return
        cond = PodCondition("DisruptionTarget", "True", now(), reason)
        kept = tuple(c for c in current.status.conditions if c.type != "DisruptionTarget")
        status = attrs.evolve(current.status, conditions=(*kept, cond))
        try:
            await api.update_status(attrs.evolve(current, status=status))
            return
        except errors.Conflict:
            continue


__all__ = ["DELETION_BY_TAINT_MANAGER", "mark_disruption_target"]
