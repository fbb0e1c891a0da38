"""The RollingUpdate strategy: grow the new ReplicaSet and shrink the old ones within bounds.

A model of pkg/controller/deployment/rolling.go (rolloutRolling, reconcileNewReplicaSet,
reconcileOldReplicaSets, cleanupUnhealthyReplicas, scaleDownOldReplicaSetsForRollingUpdate). The
new ReplicaSet grows while the total stays within ``replicas + maxSurge``; old ones shrink while
the available count stays at or above ``replicas - maxUnavailable``, unhealthy old replicas first
(losing them costs nothing). Each pass makes at most one kind of move and returns; the ReplicaSet
events it causes bring the Deployment back for the next.
"""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import ReplicaSet
from kubechaos.api.rollout import max_unavailable
from kubechaos.control.controllers.deployment.progress import sync_rollout_status
from kubechaos.control.controllers.deployment.sync import DeploymentSync
from kubechaos.control.controllers.deployment.util import (
    active,
    by_creation,
    deployment_complete,
    new_rs_new_replicas,
    spec_total,
)


class InvalidScale(Exception):
    """A computed scale-down that would grow a ReplicaSet (stale status); upstream gives up."""


async def rollout_rolling(sync: DeploymentSync) -> None:
    """rolloutRolling: scale up, else scale down, else clean up; then the rollout status."""
    new_rs, old = await sync.get_all(create=True)
    assert new_rs is not None  # created when missing
    all_rss = [*old, new_rs]
    if await reconcile_new_rs(sync, all_rss, new_rs):
        await sync_rollout_status(sync, all_rss, new_rs)
        return
    if await reconcile_old_rss(sync, all_rss, active(old), new_rs):
        await sync_rollout_status(sync, all_rss, new_rs)
        return
    if deployment_complete(sync.d, sync.d.status):
        await sync.cleanup(old)
    await sync_rollout_status(sync, all_rss, new_rs)


async def reconcile_new_rs(
    sync: DeploymentSync, all_rss: list[ReplicaSet], new_rs: ReplicaSet
) -> bool:
    """reconcileNewReplicaSet: grow it within maxSurge (or shrink it to replicas); True if so."""
    replicas = sync.d.spec.replicas
    if new_rs.spec.replicas == replicas:
        return False
    if new_rs.spec.replicas > replicas:
        return (await sync.scale_rs_if_needed(new_rs, replicas))[0]
    target = new_rs_new_replicas(sync.d, all_rss, new_rs)
    return (await sync.scale_rs_if_needed(new_rs, target))[0]


async def reconcile_old_rss(
    sync: DeploymentSync, all_rss: list[ReplicaSet], old: list[ReplicaSet], new_rs: ReplicaSet
) -> bool:
    """reconcileOldReplicaSets: shrink old ReplicaSets within maxUnavailable; True if any."""
    if spec_total(old) == 0:
        return False
    min_available = sync.d.spec.replicas - max_unavailable(sync.d)
    new_unavailable = new_rs.spec.replicas - new_rs.status.available_replicas
    # Count the new ReplicaSet's unavailable pods against the budget, so a broken new
    # template does not let old, working pods be scaled away.
    max_scaled_down = spec_total(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return False
    try:
        old, cleaned = await cleanup_unhealthy_replicas(sync, old, max_scaled_down)
        scaled_down = await _scale_down_old_rolling(sync, [*old, new_rs], old)
    except (errors.APIError, InvalidScale):
        return False  # as upstream: give up this pass; the ReplicaSet events bring us back
    return cleaned + scaled_down > 0


async def cleanup_unhealthy_replicas(
    sync: DeploymentSync, old: list[ReplicaSet], limit: int
) -> tuple[list[ReplicaSet], int]:
    """Scale old ReplicaSets down by their unavailable replicas first: that loses nothing."""
    old = sorted(old, key=by_creation)
    total = 0
    for i, rs in enumerate(old):
        if total >= limit:
            break
        if rs.spec.replicas == 0 or rs.spec.replicas == rs.status.available_replicas:
            continue
        count = min(limit - total, rs.spec.replicas - rs.status.available_replicas)
        if count < 0:
            raise InvalidScale(rs.metadata.name)
        _, old[i] = await sync.scale_rs_if_needed(rs, rs.spec.replicas - count)
        total += count
    return old, total


async def _scale_down_old_rolling(
    sync: DeploymentSync, all_rss: list[ReplicaSet], old: list[ReplicaSet]
) -> int:
    """scaleDownOldReplicaSetsForRollingUpdate: oldest first, down to minimum availability."""
    min_available = sync.d.spec.replicas - max_unavailable(sync.d)
    available = sum(rs.status.available_replicas for rs in all_rss)
    if available <= min_available:
        return 0
    budget = available - min_available
    total = 0
    for rs in sorted(old, key=by_creation):
        if total >= budget:
            break
        if rs.spec.replicas == 0:
            continue
        count = min(rs.spec.replicas, budget - total)
        await sync.scale_rs_if_needed(rs, rs.spec.replicas - count)
        total += count
    return total
