"""The pod-failure back-off of the job controller (pkg/controller/job/backoff_utils.go, v1.32).

A Job remembers, across syncs, how many of its pods failed since its last success and when the
last of them finished (``backoffRecord``). Each sync folds in the pods that finished since the
previous one, ordered by when they finished: a success resets the count, except for failures
that finished after it. A replacement pod is then created only once
``10 s x 2^(failures - 1)`` (capped at 10 min) has passed since that last failure.

When a pod finished is read as upstream's ``getFinishedTime`` does: the latest ``finishedAt``
if every container terminated; else when its Ready condition turned False; else its deletion
time (``deletionTimestamp`` minus the grace period, for a pod deleted while running); else
its creation.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import Pod
from kubechaos.defaults import JOB_POD_FAILURE_BACKOFF, JOB_POD_FAILURE_BACKOFF_MAX


@attrs.frozen
class BackoffRecord:
    failures_after_last_success: int = 0
    last_failure_time: float | None = None


def finished_time(pod: Pod) -> float:
    """getFinishedTime."""
    statuses = pod.status.container_statuses
    if statuses and all(c.state == "terminated" and c.finished_at is not None for c in statuses):
        return max(c.finished_at for c in statuses if c.finished_at is not None)
    ready = pod.status.condition("Ready")
    if ready is not None and ready.status == "False" and ready.last_transition_time:
        return ready.last_transition_time
    meta = pod.metadata
    if meta.deletion_timestamp is not None:
        return meta.deletion_timestamp - (meta.deletion_grace_period_seconds or 0)
    return meta.creation_timestamp or 0.0


def next_record(old: BackoffRecord, succeeded: list[Pod], failed: list[Pod]) -> BackoffRecord:
    """newBackoffRecord: ``old`` with the pods that finished since it was stored."""
    if not failed:
        return old if not succeeded else BackoffRecord()
    failed_times = sorted(finished_time(p) for p in failed)
    if not succeeded:
        return BackoffRecord(old.failures_after_last_success + len(failed), failed_times[-1])
    last_success = max(finished_time(p) for p in succeeded)
    after = [t for t in failed_times if t > last_success]
    return BackoffRecord(len(after), after[-1] if after else None)


def failure_backoff(failures: int) -> float:
    """The delay after ``failures`` consecutive failures: 10 s doubling, capped at 10 min."""
    delay = JOB_POD_FAILURE_BACKOFF
    for _ in range(1, failures):
        delay *= 2
        if delay >= JOB_POD_FAILURE_BACKOFF_MAX:
            return JOB_POD_FAILURE_BACKOFF_MAX
    return delay


def remaining_time(record: BackoffRecord, at: float) -> float:
    """getRemainingTime: how long replacements must still wait at ``at``."""
    if record.failures_after_last_success == 0 or record.last_failure_time is None:
        return 0.0
    elapsed = at - record.last_failure_time
    delay = failure_backoff(record.failures_after_last_success)
    return 0.0 if delay < elapsed else delay - elapsed


__all__ = ["BackoffRecord", "failure_backoff", "finished_time", "next_record", "remaining_time"]
