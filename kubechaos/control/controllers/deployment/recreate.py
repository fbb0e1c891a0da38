"""The Recreate strategy: every old pod gone before the first new one is made.

A model of pkg/controller/deployment/recreate.go (rolloutRecreate, oldPodsRunning). All old
ReplicaSets are scaled to zero; the rollout then waits until none of their pods is left running
(a pod in phase Unknown may still be running, so it counts), and only then creates the new
ReplicaSet and scales it to ``replicas``. The controller's pod deletion handler is what wakes it.
"""

from __future__ import annotations

from kubechaos.api.objects import ReplicaSet
from kubechaos.control.controllers.deployment.progress import sync_rollout_status
from kubechaos.control.controllers.deployment.sync import DeploymentSync
from kubechaos.control.controllers.deployment.util import active, deployment_complete


async def rollout_recreate(sync: DeploymentSync) -> None:
    """rolloutRecreate: old ReplicaSets to zero, wait for their pods, then the new one up."""
    # No new ReplicaSet yet: never scale up before the old pods are gone.
    new_rs, old = await sync.get_all(create=False)
    all_rss = [*old, *([new_rs] if new_rs else [])]
    scaled_down = False
    for rs in active(old):
        scaled, _ = await sync.scale_rs_if_needed(rs, 0)
        scaled_down = scaled_down or scaled
    if scaled_down or _old_pods_running(sync, new_rs, old):
        await sync_rollout_status(sync, all_rss, new_rs)
        return
    if new_rs is None:
        new_rs, old = await sync.get_all(create=True)
        assert new_rs is not None
        all_rss = [*old, new_rs]
    await sync.scale_rs_if_needed(new_rs, sync.d.spec.replicas)
    if deployment_complete(sync.d, sync.d.status):
        await sync.cleanup(old)
    await sync_rollout_status(sync, all_rss, new_rs)


def _old_pods_running(
    sync: DeploymentSync, new_rs: ReplicaSet | None, old: list[ReplicaSet]
) -> bool:
    if sum(rs.status.replicas for rs in old) > 0:
        return True
    for rs in sync.rs_list:
        if new_rs is not None and rs.metadata.uid == new_rs.metadata.uid:
            continue
        for pod in sync.ctrl.pods_of(rs):
            if pod.status.phase not in ("Failed", "Succeeded"):
                return True  # Unknown counts: it may still be running
    return False
