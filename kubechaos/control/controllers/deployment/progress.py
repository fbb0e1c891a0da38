"""The Progressing condition of a rollout: complete, progressing, or past its deadline.

A model of pkg/controller/deployment/progress.go (syncRolloutStatus, requeueStuckDeployment).
Kept apart from the sync because only rollouts (rolling and recreate) call it: a scaling event or
a paused Deployment writes plain status. Nothing marks the moment a progress deadline passes, so
a rollout that has stopped moving asks its work queue to come back just after it.
"""

from __future__ import annotations

from kubechaos.api.objects import Deployment, DeploymentStatus, ReplicaSet, key_of
from kubechaos.control.controllers.deployment.sync import DeploymentSync
from kubechaos.control.controllers.deployment.util import (
    NEW_RS_AVAILABLE,
    PROGRESSING,
    RS_UPDATED,
    TIMED_OUT,
    deployment_complete,
    deployment_progressing,
    deployment_timed_out,
    has_progress_deadline,
    new_condition,
    remove_condition,
    set_condition,
)
from kubechaos.sim.clock import now


async def sync_rollout_status(
    sync: DeploymentSync, all_rss: list[ReplicaSet], new_rs: ReplicaSet | None
) -> None:
    """Status plus the Progressing condition: complete, progressing, or timed out."""
    d = sync.d
    # the Deployment's own status object when nothing changes (no copy made to compare)
    status = sync.current_or_calculated(all_rss, new_rs)
    if not has_progress_deadline(d) and status.condition(PROGRESSING) is not None:
        status = remove_condition(status, PROGRESSING)
    current = d.status.condition(PROGRESSING)
    complete_before = (
        status.replicas == status.updated_replicas
        and current is not None
        and current.reason == NEW_RS_AVAILABLE
    )
    if has_progress_deadline(d) and not complete_before:
        if deployment_complete(d, status):
            cond = new_condition(
                PROGRESSING,
                "True",
                NEW_RS_AVAILABLE,
                f"{_subject(d, new_rs)} has successfully progressed.",
            )
            status = set_condition(status, cond)
        elif deployment_progressing(d, status):
            # Progress refreshes lastUpdateTime even with an unchanged reason (which
            # set_condition would ignore), and keeps the transition time while True.
            since = None
            if current is not None and current.status == "True":
                since = current.last_transition_time
            cond = new_condition(
                PROGRESSING, "True", RS_UPDATED, f"{_subject(d, new_rs)} is progressing.", since
            )
            status = remove_condition(status, PROGRESSING, append=cond)
        elif deployment_timed_out(d, status):
            cond = new_condition(
                PROGRESSING, "False", TIMED_OUT, f"{_subject(d, new_rs)} has timed out progressing."
            )
            status = set_condition(status, cond)
    if status is d.status or status == d.status:
        _requeue_stuck(sync, status)
        return
    await sync.write_status(status)


def _subject(d: Deployment, new_rs: ReplicaSet | None) -> str:
    """What a Progressing message names: the new ReplicaSet, else the Deployment."""
    if new_rs is not None:
        return f'ReplicaSet "{new_rs.metadata.name}"'
    return f'Deployment "{d.metadata.name}"'


def _requeue_stuck(sync: DeploymentSync, status: DeploymentStatus) -> None:
    """Come back when the progress deadline passes: no event would mark that moment."""
    d = sync.d
    current = d.status.condition(PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return
    if deployment_complete(d, status) or current.reason == TIMED_OUT:
        return
    after = current.last_update_time + d.spec.progress_deadline_seconds - now()
    key = key_of(d)
    if after < 1.0:
        sync.ctrl.queue.add_rate_limited(key)
    else:
        sync.ctrl.queue.add_after(key, after + 1.0)
