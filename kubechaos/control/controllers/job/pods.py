"""A Job's pods: the index of them by owner, and creating or deleting them as upstream's
``manageJob`` does (pkg/controller/job/job_controller.go, v1.32).

A Job pod is the template with the ``batch.kubernetes.io/job-tracking`` finalizer, a controller
reference to the Job and, for an Indexed Job, its completion index (the
``batch.kubernetes.io/job-completion-index`` annotation and label, ``JOB_COMPLETION_INDEX`` in
the generated name ``<job>-<index>-``). The pod's ``hostname`` (``<job>-<index>``) is not
modelled: the model addresses pods by IP.
"""

from __future__ import annotations

import functools

from kubechaos.api import errors
from kubechaos.api.objects import Job, ObjectMeta, OwnerReference, Pod, key_of, with_meta
from kubechaos.client.interface import APIClient
from kubechaos.control.controllers.replicaset import pods_to_delete, slow_start_batch
from kubechaos.defaults import (
    JOB_COMPLETION_INDEX_ANNOTATION,
    JOB_TRACKING_FINALIZER,
    SLOW_START_INITIAL_BATCH_SIZE,
)
from kubechaos.sim.clock import now
from kubechaos.sim.events import EventLog


def surplus(active: list[Pod], count: int) -> list[Pod]:
    """activePodsForRemoval: the ``count`` active pods cheapest to lose (not ready, then
    unscheduled, then pending, as controller.ActivePods sorts them)."""
    return pods_to_delete(active, [], count, now())


class PodControl:
    """Creates and deletes a Job's pods through the API, recording upstream's events."""

    def __init__(self, api: APIClient, events: EventLog, component: str) -> None:
        self.api = api
        self.events = events
        self.component = component

    def _record(self, job: Job, reason: str, message: str) -> None:
        self.events.record(self.component, Job.KIND, key_of(job), reason, message)

    async def create(self, job: Job, indexes: list[int | None]) -> int:
        """Create one pod per entry of ``indexes`` in slow-start batches; the count created."""
        pending = list(indexes)

        async def create_one() -> None:
            await self._create(job, pending.pop(0))

        created, _ = await slow_start_batch(
            len(indexes), SLOW_START_INITIAL_BATCH_SIZE, functools.partial(create_one)
        )
        return created

    async def _create(self, job: Job, index: int | None) -> None:
        template = job.spec.template
        meta = job.metadata
        labels = dict(template.metadata.labels)
        annotations = dict(template.metadata.annotations)
        generate_name = f"{meta.name}-"
        if index is not None:
            annotations[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)
            labels[JOB_COMPLETION_INDEX_ANNOTATION] = str(index)  # PodIndexLabel (beta, on)
            generate_name = f"{meta.name}-{index}-"
        finalizers = template.metadata.finalizers
        if JOB_TRACKING_FINALIZER not in finalizers:
            finalizers = (*finalizers, JOB_TRACKING_FINALIZER)
        pod = Pod(
            ObjectMeta(
                generate_name=generate_name,
                namespace=meta.namespace,
                labels=labels,
                annotations=annotations,
                finalizers=finalizers,
                owner_references=(OwnerReference(Job.KIND, meta.name, meta.uid, True),),
            ),
            template.spec,
        )
        try:
            created = await self.api.create(pod)
        except errors.APIError as exc:
            self._record(job, "FailedCreate", f"Error creating: {exc}")
            raise
        self._record(job, "SuccessfulCreate", f"Created pod: {created.metadata.name}")

    async def delete(self, job: Job, pod: Pod, keep_finalizer: bool) -> bool:
        """DELETE ``pod`` (deleteJobPods removes the tracking finalizer first; deleteActivePods
        keeps it so the pod is counted); False if the request failed."""
        meta = pod.metadata
        try:
            if not keep_finalizer and JOB_TRACKING_FINALIZER in meta.finalizers:
                await self.api.patch("pods", meta.namespace, meta.name, _finalizer_dropped)
            await self.api.delete("pods", meta.namespace, meta.name)
        except errors.NotFound:
            return True
        except errors.APIError as exc:
            self._record(job, "FailedDelete", f"Error deleting: {exc}")
            return False
        self._record(job, "SuccessfulDelete", f"Deleted pod: {meta.name}")
        return True


def _finalizer_dropped(current: Pod) -> Pod:
    kept = tuple(f for f in current.metadata.finalizers if f != JOB_TRACKING_FINALIZER)
    return with_meta(current, finalizers=kept)  # type: ignore[return-value]


__all__ = ["PodControl", "surplus"]
