"""One StatefulSet's pods brought toward its spec (pkg/controller/statefulset/
stateful_set_control.go ``updateStatefulSet`` and stateful_pod_control.go, v1.32).

The pods are split into *replicas* (ordinals in ``[start, start + replicas)``, a placeholder
standing in for each missing one) and *condemned* (valid ordinals beyond the range, highest
first). Then, in order:

1. each replica, lowest ordinal first: a failed or succeeded pod is deleted (its replacement waits
   for the object to be gone); a missing one is created **with the same name** at its revision.
   With ``OrderedReady`` the pass stops at the first pod it creates, or that is terminating, not
   Running and Ready, or not yet available for ``minReadySeconds``; with ``Parallel`` it creates
   every missing pod in slow-start batches and waits for nothing;
2. each condemned pod, highest ordinal first: ``OrderedReady`` deletes one and stops (and waits
   while any replica or condemned pod is terminating or unhealthy, unless the unhealthy one is
   the pod to delete); ``Parallel`` deletes them all;
3. ``OnDelete`` stops here; ``RollingUpdate`` deletes the highest-ordinal pod at or above the
   partition that is not at the update revision, one at a time, waiting while a pod in that
   range is unavailable. (``maxUnavailable`` is behind the MaxUnavailableStatefulSet gate, alpha
   and off in v1.32: the update goes one pod at a time.)

A terminating pod is never replaced while its object exists: that is the waiting in step 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Pod, PodTemplate, StatefulSet, StatefulSetStatus, key_of
from kubechaos.client.context import Context
from kubechaos.control.controllers.statefulset.podfacts import PodFacts
from kubechaos.control.controllers.statefulset.utils import (
    allows_burst,
    in_ordinal_range,
    is_running_and_available,
    is_running_and_ready,
    is_terminating,
    is_unavailable,
    parent_and_ordinal,
    pod_revision,
    replica_status,
    start_ordinal,
    versioned_pod,
)
from kubechaos.defaults import STATEFULSET_MAX_BATCH_SIZE
from kubechaos.sim.clock import now

Revision = tuple[str, PodTemplate]


class StatefulPodControl:
    """stateful_pod_control.go: create and delete a set's pods, recording an Event for each."""

    def __init__(self, ctx: Context, component: str) -> None:
        self.api = ctx.api
        self.events = ctx.events
        self.component = component

    def _record(self, verb: str, sts: StatefulSet, pod: Pod, err: errors.APIError | None) -> None:
        name, set_name = pod.metadata.name, sts.metadata.name
        if err is None:
            reason = f"Successful{verb.title()}"
            message = f"{verb} Pod {name} in StatefulSet {set_name} successful"
        else:
            reason = f"Failed{verb.title()}"
            message = f"{verb} Pod {name} in StatefulSet {set_name} failed error: {err}"
        self.events.record(self.component, StatefulSet.KIND, key_of(sts), reason, message)

    async def create(self, sts: StatefulSet, pod: Pod) -> None:
        try:
            await self.api.create(pod)
        except errors.AlreadyExists:
            raise  # the informer is behind: no Event, as upstream sinks it
        except errors.APIError as exc:
            self._record("create", sts, pod, exc)
            raise
        self._record("create", sts, pod, None)

    async def delete(self, sts: StatefulSet, pod: Pod) -> None:
        meta = pod.metadata
        try:
            await self.api.delete("pods", meta.namespace, meta.name)
        except errors.APIError as exc:
            self._record("delete", sts, pod, exc)
            raise
        self._record("delete", sts, pod, None)


async def _slow_start(count: int, fn: Callable[[int], Awaitable[Any]]) -> errors.APIError | None:
    """slowStartBatch(1, count, fn): batches of 1, 2, 4, ... (at most MaxBatchSize) run
    together; a batch with a failure ends the run."""
    done, batch = 0, min(count, 1)
    while batch > 0:
        failures: list[errors.APIError] = []

        async def one(i: int, failures: list[errors.APIError] = failures) -> None:
            try:
                await fn(i)
            except errors.APIError as exc:
                failures.append(exc)

        async with trio.open_nursery() as nursery:
            for i in range(done, done + batch):
                nursery.start_soon(one, i)
        if failures:
            return failures[0]
        done += batch
        batch = min(2 * batch, count - done, STATEFULSET_MAX_BATCH_SIZE)
    return None


class _Stop(Exception):
    """A monotonic pass must wait (not an error)."""


@attrs.define
class _Pass:
    """The state of one ``updateStatefulSet`` call: ``replicas[i]`` is the pod of ordinal
    ``start + i``, a placeholder (not yet created) for each index in ``missing``."""

    sts: StatefulSet
    replicas: list[Pod]
    missing: set[int]
    condemned: list[Pod]
    first_unhealthy: Pod | None
    at: float
    facts: PodFacts

    def since(self, pod: Pod) -> float | None:
        return self.facts.since(pod)

    def created(self) -> list[Pod]:
        return [p for i, p in enumerate(self.replicas) if i not in self.missing] + self.condemned


def _partition(
    sts: StatefulSet, current: Revision, update: Revision, pods: list[Pod], facts: PodFacts
) -> _Pass:
    start = start_ordinal(sts)
    found: dict[int, Pod] = {}
    condemned: list[Pod] = []
    for pod in pods:
        ordinal = parent_and_ordinal(pod)[1]
        if in_ordinal_range(sts, pod):
            found[ordinal - start] = pod
        elif ordinal >= 0:
            condemned.append(pod)
    missing = {i for i in range(sts.spec.replicas) if i not in found}
    replicas = [
        found[i] if i in found else versioned_pod(sts, current, update, start + i)
        for i in range(sts.spec.replicas)
    ]
    condemned.sort(key=lambda p: parent_and_ordinal(p)[1], reverse=True)
    at = now()
    min_ready = sts.spec.min_ready_seconds

    def unavailable(pod: Pod) -> bool:
        return is_unavailable(pod, facts.since(pod), min_ready, at)

    first = next((p for p in replicas if unavailable(p)), None)
    if first is None:
        first = next((p for p in reversed(condemned) if unavailable(p)), None)
    return _Pass(sts, replicas, missing, condemned, first, at, facts)


class StatefulSetControl:
    def __init__(self, pods: StatefulPodControl) -> None:
        self.pods = pods
        self.facts = PodFacts()

    async def update(
        self, sts: StatefulSet, pods: list[Pod], current: Revision, update: Revision
    ) -> tuple[StatefulSetStatus, errors.APIError | None]:
        """updateStatefulSet: act, and return the status to write (and any failure)."""
        status = StatefulSetStatus(
            observed_generation=sts.metadata.generation,
            current_revision=current[0],
            update_revision=update[0],
            collision_count=sts.status.collision_count,
        )
        state = _partition(sts, current, update, pods, self.facts)
        since = self.facts.since
        if sts.metadata.deletion_timestamp is not None:
            return replica_status(status, sts, pods, since, state.at), None
        try:
            await self._replicas(state)
            await self._condemned(state)
        except _Stop:
            return replica_status(status, sts, state.created(), since, state.at), None
        except errors.APIError as exc:
            return replica_status(status, sts, state.created(), since, state.at), exc
        status = replica_status(status, sts, state.created(), since, state.at)
        if sts.spec.update_strategy.type != "RollingUpdate":
            return status, None  # OnDelete: pods change only when someone deletes them
        return await self._rolling_update(state, update[0], status)

    # ------------------------------------------------------------------ replicas
    async def _replicas(self, s: _Pass) -> None:
        if allows_burst(s.sts):
            failure = await _slow_start(len(s.replicas), lambda i: self._replica(s, i, False))
            if failure is not None:
                raise failure
            return
        for i in range(len(s.replicas)):
            if await self._replica(s, i, True):
                raise _Stop

    async def _replica(self, s: _Pass, i: int, monotonic: bool) -> bool:
        """processReplica: True when a monotonic pass must stop here."""
        pod = s.replicas[i]
        if i in s.missing:
            await self.pods.create(s.sts, pod)
            return monotonic
        terminal, since = s.facts.of(pod)
        if terminal:
            # Failed or Succeeded: deleted; its replacement comes once the object is gone.
            if not is_terminating(pod):
                await self.pods.delete(s.sts, pod)
            return True
        if not monotonic:
            return False
        # Wait for a terminating pod to go, and for each pod to be Running, Ready and available
        # before the next ordinal is touched.
        return (
            is_terminating(pod)
            or not is_running_and_ready(pod, since)
            or not is_running_and_available(pod, since, s.sts.spec.min_ready_seconds, s.at)
        )

    # ------------------------------------------------------------------ condemned
    async def _condemned(self, s: _Pass) -> None:
        if allows_burst(s.sts):
            failure = await _slow_start(
                len(s.condemned), lambda i: self._condemn(s, s.condemned[i], False)
            )
            if failure is not None:
                raise failure
            return
        for pod in s.condemned:
            if await self._condemn(s, pod, True):
                raise _Stop

    async def _condemn(self, s: _Pass, pod: Pod, monotonic: bool) -> bool:
        """processCondemned: scale down, highest ordinal first, one at a time when monotonic."""
        if is_terminating(pod):
            return monotonic  # wait for it to be gone
        if monotonic and pod is not s.first_unhealthy:
            min_ready = s.sts.spec.min_ready_seconds
            since = s.since(pod)
            if not is_running_and_ready(pod, since) or not is_running_and_available(
                pod, since, min_ready, s.at
            ):
                return True
        await self.pods.delete(s.sts, pod)
        return True

    # ------------------------------------------------------------------ rolling update
    async def _rolling_update(
        self, s: _Pass, update_revision: str, status: StatefulSetStatus
    ) -> tuple[StatefulSetStatus, errors.APIError | None]:
        """The highest ordinal at or above the partition not at the update revision is deleted
        (its replacement comes at the update revision); wait while one there is unavailable."""
        partition = s.sts.spec.update_strategy.partition
        for target in range(len(s.replicas) - 1, partition - 1, -1):
            pod = s.replicas[target]
            if pod_revision(pod) != update_revision and not is_terminating(pod):
                try:
                    await self.pods.delete(s.sts, pod)
                except errors.NotFound:
                    pass
                except errors.APIError as exc:
                    return status, exc
                return attrs.evolve(status, current_replicas=status.current_replicas - 1), None
            if is_unavailable(pod, s.since(pod), s.sts.spec.min_ready_seconds, s.at):
                break
        return status, None
