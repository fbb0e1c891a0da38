"""The job controller (pkg/controller/job/job_controller.go, v1.32): run a Job's pods to
completion, count them through the tracking finalizer, fail the Job past its back-off limit or
deadline.

One sync (``syncJob``):

1. Its pods (owned through a controller reference; adoption of orphans is not modelled), the
   active ones, the ones being deleted (``status.terminating``), and the finished ones not yet
   counted (they still carry ``batch.kubernetes.io/job-tracking``).
2. A finish: ``failed > backoffLimit`` (or, with restartPolicy OnFailure, the container
   restarts of its running pods reaching it) → ``FailureTarget`` reason BackoffLimitExceeded;
   ``activeDeadlineSeconds`` since ``startTime`` → DeadlineExceeded; enough successes →
   ``SuccessCriteriaMet``. A failing Job deletes its active pods.
3. Otherwise ``manageJob``: create pods up to ``wantActive`` (after the pod-failure back-off of
   :mod:`.backoff`), or delete the surplus.
4. ``trackJobStatusAndRemoveFinalizers``: finished pods to ``uncountedTerminatedPods``, their
   finalizers removed, then counted; the terminal ``Complete`` / ``Failed`` condition (and
   ``completionTime``) only once nothing is uncounted and no pod is still terminating — the
   v1.31+ order with JobManagedBy / JobPodReplacementPolicy on, as in v1.32.

Pod events are batched (a sync 1 s later, ``syncJobBatchPeriod``); Job creation and spec changes
sync at once. A pod event for a pod no Job controls costs a dict lookup.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import trio

from kubechaos.api import errors, workcount
from kubechaos.api.objects import Job, JobCondition, JobStatus, Pod, key_of, with_meta
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.control.controllers.expectations import Expectations
from kubechaos.control.controllers.job import status as js
from kubechaos.control.controllers.job.backoff import BackoffRecord, next_record, remaining_time
from kubechaos.control.controllers.job.owned import JobPods, JobView
from kubechaos.control.controllers.job.pods import PodControl, surplus
from kubechaos.control.controllers.job.ttlafterfinished import TTLAfterFinishedController
from kubechaos.control.controllers.ownership import still_owned_by_other_kind
from kubechaos.defaults import JOB_SYNC_BATCH_PERIOD, JOB_TRACKING_FINALIZER
from kubechaos.sim.clock import now

_FAILED_MESSAGES = {
    "BackoffLimitExceeded": "Job has reached the specified backoff limit",
    "DeadlineExceeded": "Job was active longer than specified deadline",
}


@attrs.define
class _Sync:
    """syncJobCtx: what one sync learnt, and the status it is building."""

    job: Job
    key: str
    pods: JobView  # the pods in flight, not every pod of the Job
    active: list[Pod]
    status: JobStatus
    succeeded: int
    failed: int
    record: BackoffRecord
    finished: JobCondition | None = None
    terminating: int = 0
    ready: int = 0


class JobController(Controller):
    name = "job-controller"
    queue_name = "job"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.jobs: Informer[Job] = ctx.informer("jobs", self.name)
        self.pods: Informer[Pod] = ctx.informer("pods", self.name)
        self.expectations = Expectations()
        self.owned = JobPods()
        self.control = PodControl(self.api, self.events, self.name)
        self._rm_expected: dict[str, set[str]] = {}  # job key -> UIDs losing their finalizer
        self._backoff: dict[str, BackoffRecord] = {}
        self.ttl = TTLAfterFinishedController(ctx, self.jobs)
        self.orphans = _OrphanPods(ctx, self)
        self.jobs.add_handler(Handler(self._job_add, self._job_update, self._job_delete))
        self.pods.add_handler(Handler(self._pod_add, self._pod_update, self._pod_delete))

    @property
    def companions(self) -> tuple[Controller, ...]:
        """Controllers this one runs beside it, for the workqueue_* metrics."""
        return (self.ttl, self.orphans)

    async def wait_synced(self) -> None:
        await self.jobs.synced.wait()
        await self.pods.synced.wait()

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.jobs.run)
            nursery.start_soon(self.pods.run)
            nursery.start_soon(self.ttl.run)
            nursery.start_soon(self.orphans.run)
            await super().run()

    # ------------------------------------------------------------------ job events
    def _job_add(self, job: Job) -> None:
        self.enqueue(key_of(job))

    def _job_update(self, old: Job, job: Job) -> None:
        key = key_of(job)
        if old.metadata.generation == job.metadata.generation:
            self.queue.add_after(key, JOB_SYNC_BATCH_PERIOD)
        else:
            self.enqueue(key)
        if job.status.finished():
            self._cleanup_finalizers(job)
        ads, start = job.spec.active_deadline_seconds, job.status.start_time
        if ads is not None and start is not None and ads != old.spec.active_deadline_seconds:
            self.queue.add_after(key, start + ads - now())

    def _job_delete(self, job: Job) -> None:
        self.enqueue(key_of(job))
        self._cleanup_finalizers(job)

    def _cleanup_finalizers(self, job: Job) -> None:
        for pod in self.owned.of(job.metadata.uid):
            if js.has_finalizer(pod):
                self.orphans.enqueue(key_of(pod))

    # ------------------------------------------------------------------ pod events
    def _job_of(self, pod: Pod) -> Job | None:
        ref = pod.metadata.controller_ref()
        if ref is None or ref.kind != Job.KIND:
            return None
        job = self.jobs.get(f"{pod.metadata.namespace}/{ref.name}")
        return job if job is not None and job.metadata.uid == ref.uid else None

    def _pod_add(self, pod: Pod) -> None:
        if not self.owned.put(pod):
            return
        if pod.metadata.deletion_timestamp is not None:
            self._pod_gone(pod, final=False)
            return
        job = self._job_of(pod)
        if job is None:
            if js.has_finalizer(pod):
                self.orphans.enqueue(key_of(pod))
            return
        self.expectations.creation_observed(key_of(job))
        self.queue.add_after(key_of(job), JOB_SYNC_BATCH_PERIOD)

    def _pod_update(self, old: Pod, pod: Pod) -> None:
        if still_owned_by_other_kind(old, pod, Job.KIND):  # (JobPods.put kept nothing of it)
            return
        if (
            not self.owned.put(pod)
            or old.metadata.resource_version == pod.metadata.resource_version
        ):
            return
        if pod.metadata.deletion_timestamp is not None:
            self._pod_gone(pod, final=False)
            return
        job = self._job_of(pod)
        if job is None or job.status.finished():
            if js.has_finalizer(pod):
                self.orphans.enqueue(key_of(pod))
            return
        if not js.has_finalizer(pod):
            self._rm_observed(key_of(job), pod.metadata.uid)
        self.queue.add_after(key_of(job), JOB_SYNC_BATCH_PERIOD)

    def _pod_delete(self, pod: Pod) -> None:
        if self.owned.discard(pod):
            self._pod_gone(pod, final=True)

    def _pod_gone(self, pod: Pod, final: bool) -> None:
        job = self._job_of(pod)
        if job is None or job.status.finished():
            if js.has_finalizer(pod) and not final:
                self.orphans.enqueue(key_of(pod))
            return
        key = key_of(job)
        self.expectations.deletion_observed(key, key_of(pod))
        if final or not js.has_finalizer(pod):
            self._rm_observed(key, pod.metadata.uid)
        self.queue.add_after(key, JOB_SYNC_BATCH_PERIOD)

    def _rm_observed(self, key: str, uid: str) -> None:
        awaited = self._rm_expected.get(key)
        if awaited is not None:
            awaited.discard(uid)

    # ------------------------------------------------------------------ sync
    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None:
            self.expectations.forget(key)
            self._rm_expected.pop(key, None)
            self._backoff.pop(key, None)
            return
        if job.status.finished():
            self._backoff.pop(key, None)
            return
        satisfied = self.expectations.satisfied(key)
        sync = self._observe(key, job)
        self._judge(sync)
        if sync.finished is not None:
            deleted = await self._delete_active(sync)
            if deleted != len(sync.active) or not satisfied:
                sync.finished = None  # pods or finalizers still to go: finish in a later sync
            active = len(sync.active) - deleted
            sync.terminating += deleted
        else:
            active = len(sync.active)
            managed = satisfied and job.metadata.deletion_timestamp is None
            if managed:
                active = await self._manage(sync)
            if js.is_complete(job, sync.succeeded, active):
                sync.finished = js.new_condition("SuccessCriteriaMet", "", "", now())
            elif managed:
                self._suspension(sync)
        sync.status = attrs.evolve(
            sync.status, active=active, ready=sync.ready, terminating=sync.terminating
        )
        await self._track(sync)

    def _observe(self, key: str, job: Job) -> _Sync:
        """The pods in flight (active, with the tracking finalizer, and for an Indexed Job the
        Succeeded ones), kept grouped by pod events (:mod:`.owned`): a pod that finished and
        was counted is not read again."""
        indexed = job.spec.completion_mode == "Indexed"
        pods = self.owned.view(job.metadata.uid, indexed)
        workcount.PODS_VISITED += pods.visited
        active = pods.active
        status = job.status
        if status.start_time is None and not job.spec.suspend:
            status = attrs.evolve(status, start_time=now())
        awaited = self._rm_expected.get(key, set())
        fresh = [p for p in pods.with_finalizer if p.metadata.uid not in awaited]
        new_succeeded = [
            p
            for p in fresh
            if p.status.phase == "Succeeded" and p.metadata.uid not in status.uncounted_succeeded
        ]
        new_failed = [
            p for p in fresh if js.is_failed(p) and p.metadata.uid not in status.uncounted_failed
        ]
        succeeded = status.succeeded + len(new_succeeded) + len(status.uncounted_succeeded)
        if indexed:
            succeeded = len(js.succeeded_indexes(job, pods.succeeded, status))
        return _Sync(
            job,
            key,
            pods,
            active,
            status,
            succeeded,
            status.failed + len(new_failed) + len(status.uncounted_failed),
            next_record(self._backoff.get(key, BackoffRecord()), new_succeeded, new_failed),
            terminating=pods.terminating,
            ready=sum(1 for p in active if p.is_ready()),
        )

    def _judge(self, sync: _Sync) -> None:
        """The finish a sync can already see: an earlier SuccessCriteriaMet or FailureTarget,
        the back-off limit, the active deadline (and a sync again when it will pass)."""
        status, spec, t = sync.status, sync.job.spec, now()
        done = status.condition("SuccessCriteriaMet")
        target = status.condition("FailureTarget")
        if done is not None:
            sync.finished = done
        elif target is not None and target.status == "True":
            sync.finished = js.new_condition("Failed", target.reason, target.message, t)
        elif sync.failed > spec.backoff_limit or js.past_backoff_limit_on_failure(
            sync.job, sync.pods.restarts
        ):
            sync.finished = _failure("BackoffLimitExceeded", t)
        elif spec.active_deadline_seconds is not None and not spec.suspend:
            start = status.start_time if status.start_time is not None else t
            if t - start >= spec.active_deadline_seconds:
                sync.finished = _failure("DeadlineExceeded", t)
            else:
                self.queue.add_after(sync.key, start + spec.active_deadline_seconds - t)

    async def _delete_active(self, sync: _Sync) -> int:
        """deleteActivePods: DELETE each active pod, keeping its finalizer (it is counted as
        failed, then freed, by the tracking below)."""
        deleted = 0
        for pod in sync.active:
            if await self.control.delete(sync.job, pod, keep_finalizer=True):
                deleted += 1
                sync.ready -= pod.is_ready()
        return deleted

    async def _manage(self, sync: _Sync) -> int:
        """manageJob; returns the active count it leaves (0 while the back-off holds creations
        back, as upstream's manageJob returns)."""
        job, key = sync.job, sync.key
        active = len(sync.active)
        want = 0 if job.spec.suspend else js.wanted_active(job, sync.succeeded, active)
        if active > want:
            victims = surplus(sync.active, active - want)
            self.expectations.expect_deletions(key, [key_of(p) for p in victims])
            removed = 0
            for pod in victims:
                if await self.control.delete(job, pod, keep_finalizer=False):
                    removed += 1
                    sync.terminating += 1
                    sync.ready -= pod.is_ready()
                else:
                    self.expectations.deletion_observed(key, key_of(pod))
            return active - removed
        diff = want - active
        if diff <= 0:
            return active
        wait = remaining_time(sync.record, now())
        if wait > 0:
            self.queue.add_after(key, max(wait, JOB_SYNC_BATCH_PERIOD))
            return 0
        indexes: list[int | None] = [None] * diff
        if job.spec.completion_mode == "Indexed":
            done = js.succeeded_indexes(job, sync.pods.succeeded, sync.status)
            indexes = list(js.first_pending_indexes(job, sync.active, done, diff))
        self.expectations.expect_creations(key, len(indexes))
        created = await self.control.create(job, indexes)
        for _ in range(len(indexes) - created):
            self.expectations.creation_observed(key)
        return active + created

    def _suspension(self, sync: _Sync) -> None:
        """The Suspended condition: True (JobSuspended) while ``suspend``; False (JobResumed)
        when it is lifted, which restarts ``startTime`` (activeDeadlineSeconds counts the
        time a Job is continuously active)."""
        status, t = sync.status, now()
        cond = status.condition("Suspended")
        if sync.job.spec.suspend:
            if cond is None or cond.status != "True":
                sync.status = _set_condition(
                    status, JobCondition("Suspended", "True", "JobSuspended", "Job suspended", t, t)
                )
                self._record(sync.job, "Suspended", "Job suspended")
        elif cond is not None and cond.status == "True":
            resumed = JobCondition("Suspended", "False", "JobResumed", "Job resumed", t, t)
            sync.status = attrs.evolve(_set_condition(status, resumed), start_time=t)
            self._record(sync.job, "Resumed", "Job resumed")

    # ------------------------------------------------------------------ tracking
    async def _track(self, sync: _Sync) -> None:
        """trackJobStatusAndRemoveFinalizers."""
        job, status = sync.job, sync.status
        awaited = self._rm_expected.setdefault(sync.key, set())
        with_finalizer = {
            p.metadata.uid for p in sync.pods.with_finalizer if p.metadata.uid not in awaited
        }
        status = _count_freed(status, with_finalizer)
        to_free: list[Pod] = []
        succ, fail = list(status.uncounted_succeeded), list(status.uncounted_failed)
        failing = sync.finished is not None and sync.finished.type != "SuccessCriteriaMet"
        indexed = job.spec.completion_mode == "Indexed"
        for pod in sync.pods.with_finalizer:  # (a pod without the finalizer is skipped)
            uid = pod.metadata.uid
            if uid not in with_finalizer:
                continue
            failed = js.is_failed(pod)
            ended = pod.status.phase == "Succeeded"
            if not (job.metadata.deletion_timestamp or sync.finished or ended or failed):
                continue
            to_free.append(pod)
            if ended and uid not in fail:
                if not indexed and uid not in succ:
                    succ.append(uid)
            elif (failed or failing) and uid not in fail:
                fail.append(uid)
        status = attrs.evolve(status, uncounted_succeeded=tuple(succ), uncounted_failed=tuple(fail))
        if indexed:
            done = js.succeeded_indexes(job, sync.pods.succeeded, status)
            status = attrs.evolve(
                status, succeeded=len(done), completed_indexes=js.format_indexes(done)
            )
        final = sync.finished
        if final is not None and final.type == "FailureTarget":
            status = js.with_condition(status, final)
            final = js.new_condition("Failed", final.reason, final.message, now())
        elif final is not None and final.type == "SuccessCriteriaMet":
            status = js.with_condition(status, final)
            final = js.new_condition("Complete", final.reason, final.message, now())
        job = await self._write(job, status)
        self._backoff[sync.key] = sync.record
        freed = await self._free(sync.key, to_free)
        status = _count_freed(job.status, with_finalizer - freed)
        finishing = final is not None and not status.uncounted_succeeded
        finishing = finishing and not status.uncounted_failed and sync.terminating == 0
        if final is not None and finishing:
            status = js.with_condition(status, final)
            if final.type == "Complete":
                status = attrs.evolve(status, completion_time=final.last_transition_time)
        job = await self._write(job, status)
        if final is not None and finishing:
            self._record_finished(job, final)

    async def _write(self, job: Job, status: JobStatus) -> Job:
        if status == job.status:
            return job
        return await self.api.update_status(attrs.evolve(job, status=status))

    async def _free(self, key: str, pods: list[Pod]) -> set[str]:
        """removeTrackingFinalizerFromPods: the UIDs whose finalizer is gone."""
        if not pods:
            return set()
        awaited = self._rm_expected.setdefault(key, set())
        freed: set[str] = set()
        for pod in pods:
            uid = pod.metadata.uid
            awaited.add(uid)
            try:
                await self.api.patch(
                    "pods", pod.metadata.namespace, pod.metadata.name, _without_finalizer(uid)
                )
            except errors.NotFound:
                awaited.discard(uid)
            except errors.APIError:
                awaited.discard(uid)
                continue
            freed.add(uid)
        return freed

    async def sync_orphan(self, pod_key: str) -> None:
        """syncOrphanPod: drop the finalizer of a pod whose Job is gone or finished."""
        pod = self.pods.get(pod_key)
        if pod is None or not js.has_finalizer(pod):
            return
        ref = pod.metadata.controller_ref()
        if ref is not None and ref.kind == Job.KIND:
            job = self._job_of(pod)
            if job is not None and not job.status.finished():
                return
        try:
            await self.api.patch(
                "pods",
                pod.metadata.namespace,
                pod.metadata.name,
                _without_finalizer(pod.metadata.uid),
            )
        except errors.NotFound:
            return

    # ------------------------------------------------------------------ events
    def _record(self, job: Job, reason: str, message: str) -> None:
        self.events.record(self.name, Job.KIND, key_of(job), reason, message)

    def _record_finished(self, job: Job, cond: JobCondition) -> None:
        if cond.type == "Complete":
            self._record(job, "Completed", "Job completed")
        else:
            self._record(job, cond.reason, cond.message)


class _OrphanPods(Controller):
    """Upstream's orphan queue (``job_orphan_pod``): pods whose Job is gone or finished and
    that still carry the tracking finalizer, worked off by :meth:`JobController.sync_orphan`."""

    name = "job-controller"
    queue_name = "job_orphan_pod"

    def __init__(self, ctx: Context, owner: JobController) -> None:
        super().__init__(ctx)
        self.owner = owner

    async def wait_synced(self) -> None:
        await self.owner.wait_synced()

    async def sync(self, key: str) -> None:
        await self.owner.sync_orphan(key)


def _set_condition(status: JobStatus, cond: JobCondition) -> JobStatus:
    """The condition of ``cond``'s type replaced by ``cond``, or appended."""
    if status.condition(cond.type) is None:
        return attrs.evolve(status, conditions=(*status.conditions, cond))
    return attrs.evolve(
        status, conditions=tuple(cond if c.type == cond.type else c for c in status.conditions)
    )


def _failure(reason: str, at: float) -> JobCondition:
    return js.new_condition("FailureTarget", reason, _FAILED_MESSAGES[reason], at)


def _count_freed(status: JobStatus, with_finalizer: set[str]) -> JobStatus:
    """cleanUncountedPodsWithoutFinalizers: uncounted UIDs whose finalizer is gone are counted."""
    succ = tuple(u for u in status.uncounted_succeeded if u in with_finalizer)
    fail = tuple(u for u in status.uncounted_failed if u in with_finalizer)
    if (succ, fail) == (status.uncounted_succeeded, status.uncounted_failed):
        return status
    return attrs.evolve(
        status,
        succeeded=status.succeeded + len(status.uncounted_succeeded) - len(succ),
        failed=status.failed + len(status.uncounted_failed) - len(fail),
        uncounted_succeeded=succ,
        uncounted_failed=fail,
    )


def _without_finalizer(uid: str) -> Callable[[Any], Any]:
    def mutate(current: Any) -> Any:
        if current.metadata.uid != uid:
            raise errors.NotFound(f"pod {current.metadata.name}: UID precondition failed")
        kept = tuple(f for f in current.metadata.finalizers if f != JOB_TRACKING_FINALIZER)
        return with_meta(current, finalizers=kept)

    return mutate


__all__ = ["JobController"]
