"""The TTL-after-finished controller (pkg/controller/ttlafterfinished, v1.32): a finished Job
with ``ttlSecondsAfterFinished`` is deleted that many seconds after it finished (the
``lastTransitionTime`` of its Complete or Failed condition); the garbage collector then deletes
its pods.

As upstream, it deletes with ``propagationPolicy: Foreground``: the Job stays, with the
``foregroundDeletion`` finalizer, until the garbage collector has deleted its pods.
"""

from __future__ import annotations

from kubechaos.api import errors
from kubechaos.api.objects import Job, key_of
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.controller import Controller
from kubechaos.sim.clock import now


class TTLAfterFinishedController(Controller):
    name = "ttl-after-finished-controller"
    queue_name = "ttl_jobs_to_delete"  # upstream's workqueue name

    def __init__(self, ctx: Context, jobs: Informer[Job]) -> None:
        super().__init__(ctx)
        self.jobs = jobs
        jobs.add_handler(Handler(self._changed, lambda old, new: self._changed(new), _ignore))

    async def wait_synced(self) -> None:
        await self.jobs.synced.wait()

    def _changed(self, job: Job) -> None:
        """addJob / updateJob: only Jobs being cleaned up (a TTL, finished, not deleting)."""
        if (
            job.spec.ttl_seconds_after_finished is not None
            and job.status.finished()
            and job.metadata.deletion_timestamp is None
        ):
            self.enqueue(key_of(job))

    async def sync(self, key: str) -> None:
        job = self.jobs.get(key)
        if job is None or job.metadata.deletion_timestamp is not None:
            return
        finished_at = job.status.finished_at()
        ttl = job.spec.ttl_seconds_after_finished
        if finished_at is None or ttl is None:
            return
        remaining = finished_at + ttl - now()
        if remaining > 0:
            self.queue.add_after(key, remaining)
            return
        # processTTL re-reads the Job from the API server before deleting it
        try:
            fresh = await self.api.get("jobs", job.metadata.namespace, job.metadata.name)
            if fresh.metadata.uid != job.metadata.uid:
                return
            await self.api.delete(
                "jobs",
                job.metadata.namespace,
                job.metadata.name,
                uid=job.metadata.uid,
                propagation_policy="Foreground",
            )
        except errors.NotFound:
            return
        self.events.record(
            self.name,
            Job.KIND,
            key,
            "TTLAfterFinished",
            f"Deleted job {key}: ttlSecondsAfterFinished expired",
        )


def _ignore(job: Job) -> None:
    return None


__all__ = ["TTLAfterFinishedController"]
