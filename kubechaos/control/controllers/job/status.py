"""What one sync of a Job computes before it writes anything: the pure half of upstream's
``syncJob`` (pkg/controller/job/job_controller.go, v1.32).

Pods are counted the way the ``batch.kubernetes.io/job-tracking`` finalizer lets upstream count
them: a finished pod that still carries the finalizer is new; its UID goes to
``status.uncountedTerminatedPods`` first, its finalizer is removed, and only then is it added to
``succeeded`` or ``failed``. A pod being deleted before it succeeded counts as failed (the
default ``podReplacementPolicy: TerminatingOrFailed``), so a killed pod is a failure, counts
towards ``backoffLimit`` and starts the back-off, as upstream.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import Job, JobCondition, JobStatus, Pod
from kubechaos.defaults import JOB_COMPLETION_INDEX_ANNOTATION, JOB_TRACKING_FINALIZER


def has_finalizer(pod: Pod) -> bool:
    return JOB_TRACKING_FINALIZER in pod.metadata.finalizers


def is_failed(pod: Pod) -> bool:
    """isPodFailed with podReplacementPolicy TerminatingOrFailed: Failed, or deleted unfinished."""
    if pod.status.phase == "Failed":
        return True
    return pod.metadata.deletion_timestamp is not None and pod.status.phase != "Succeeded"


def is_terminating(pod: Pod) -> bool:
    """CountTerminatingPods: being deleted and not yet terminal."""
    return pod.metadata.deletion_timestamp is not None and not pod.is_terminal()


def completion_index(pod: Pod) -> int | None:
    raw = pod.metadata.annotations.get(JOB_COMPLETION_INDEX_ANNOTATION)
    if raw is None or not raw.isdigit():
        return None
    return int(raw)


def new_condition(type_: str, reason: str, message: str, at: float) -> JobCondition:
    return JobCondition(type_, "True", reason, message, at, at)


def past_backoff_limit_on_failure(job: Job, restarts: int) -> bool:
    """pastBackoffLimitOnFailure: with restartPolicy OnFailure the container restarts (init
    containers' included) of the Pending and Running pods (``restarts``, summed as pod events
    come: :func:`kubechaos.control.controllers.job.owned.facts`) count against
    ``backoffLimit`` (any restart when it is 0)."""
    if job.spec.template.spec.restart_policy != "OnFailure":
        return False
    limit = job.spec.backoff_limit
    return restarts > 0 if limit == 0 else restarts >= limit


def wanted_active(job: Job, succeeded: int, active: int) -> int:
    """manageJob's wantActive: parallelism, bounded by the completions still missing; without
    completions, parallelism until the first success, then whatever still runs."""
    parallelism = job.spec.parallelism
    if job.spec.completions is None:
        return active if succeeded > 0 else parallelism
    return max(0, min(job.spec.completions - succeeded, parallelism))


def is_complete(job: Job, succeeded: int, active: int) -> bool:
    if job.spec.completions is None:
        return succeeded > 0 and active == 0
    return succeeded >= job.spec.completions and active == 0


def succeeded_indexes(job: Job, pods: list[Pod], status: JobStatus) -> set[int]:
    """The completion indexes with a succeeded pod (Indexed Jobs count indexes, not pods)."""
    done = _parse_indexes(status.completed_indexes)
    completions = job.spec.completions or 0
    for pod in pods:
        ix = completion_index(pod)
        if pod.status.phase == "Succeeded" and ix is not None and ix < completions:
            done.add(ix)
    return done


def _parse_indexes(text: str) -> set[int]:
    found: set[int] = set()
    for part in filter(None, text.split(",")):
        first, _, last = part.partition("-")
        found.update(range(int(first), int(last or first) + 1))
    return found


def format_indexes(indexes: set[int]) -> str:
    """``completedIndexes`` as upstream writes it: ``1,3-5,7``."""
    parts: list[str] = []
    ordered = sorted(indexes)
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)


def first_pending_indexes(job: Job, active: list[Pod], done: set[int], count: int) -> list[int]:
    """firstPendingIndexes: the lowest indexes neither succeeded nor held by an active pod."""
    taken = done | {ix for p in active if (ix := completion_index(p)) is not None}
    free = (ix for ix in range(job.spec.completions or 0) if ix not in taken)
    return [ix for _, ix in zip(range(count), free, strict=False)]


def with_condition(status: JobStatus, cond: JobCondition) -> JobStatus:
    """ensureJobConditionStatus for a True condition: appended, or replaced if it changed."""
    for c in status.conditions:
        if c.type == cond.type:
            if (c.status, c.reason, c.message) == (cond.status, cond.reason, cond.message):
                return status
            conditions = tuple(cond if x.type == cond.type else x for x in status.conditions)
            return attrs.evolve(status, conditions=conditions)
    return attrs.evolve(status, conditions=(*status.conditions, cond))


__all__ = [
    "completion_index",
    "first_pending_indexes",
    "format_indexes",
    "has_finalizer",
    "is_complete",
    "is_failed",
    "is_terminating",
    "new_condition",
    "past_backoff_limit_on_failure",
    "succeeded_indexes",
    "wanted_active",
    "with_condition",
]
