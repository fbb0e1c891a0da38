"""The scheduling queue: activeQ, backoffQ and unschedulablePods, and the per-pod backoff.

Upstream's pkg/scheduler/internal/queue/scheduling_queue.go (PriorityQueue), with activeQ ordered
as the PrioritySort plugin orders it (pkg/scheduler/framework/plugins/queuesort).
Separate from the scheduler because it is a self-contained state machine: the informer side adds,
updates and deletes pods, the scheduling loop pops and requeues them, and one timer task moves
pods whose backoff ended; nothing here knows about nodes.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import trio

from kubechaos.control.scheduler.framework import PodView
from kubechaos.defaults import Settings
from kubechaos.sim import timers
from kubechaos.sim.clock import now

ACTIVE, BACKOFF, UNSCHEDULABLE, IN_FLIGHT = "active", "backoff", "unschedulable", "in-flight"


def backoff_duration(attempts: int, initial: float, maximum: float) -> float:
    """Upstream's per-pod backoff: ``initial`` after the first attempt, doubling, capped."""
    duration = initial
    for _ in range(1, attempts):
        duration *= 2
        if duration > maximum:
            return maximum
    return min(duration, maximum)


class QueuedPod:
    """A pending pod's entry in the scheduling queue (upstream's QueuedPodInfo)."""

    __slots__ = ("attempts", "creation", "heap_seq", "key", "queue", "timestamp", "view")

    def __init__(self, view: PodView, timestamp: float) -> None:
        self.key = view.key
        self.view = view
        self.creation = view.pod.metadata.creation_timestamp or 0.0
        self.attempts = 0  # scheduling attempts so far; drives the backoff
        self.timestamp = timestamp  # entered the queue, or last failed: orders activeQ
        self.queue = ""
        self.heap_seq = -1  # the live heap entry of this pod; older entries are stale


class SchedulingQueue:
    """activeQ, backoffQ and unschedulablePods, as upstream's PriorityQueue. activeQ pops the
    highest ``spec.priority`` first, then the earliest entry (PrioritySort's Less).

    Heaps use lazy deletion: moving or deleting a pod leaves its old heap entry behind, and an
    entry counts only if it carries the pod's current ``heap_seq``. One timer task moves pods
    whose backoff ended to activeQ and flushes pods parked too long; the scheduling loop waits on
    :meth:`wait` for work. Both happen exactly on time, where upstream polls (backoffQ every
    second, unschedulablePods every 30 s), so there a retry can come a little later.
    """

    def __init__(self, settings: Settings) -> None:
        self.initial_backoff = settings.pod_initial_backoff
        self.max_backoff = settings.pod_max_backoff
        self.max_in_unschedulable = settings.pod_max_in_unschedulable
        self._pods: dict[str, QueuedPod] = {}
        self._active: dict[str, QueuedPod] = {}
        self._backoff: dict[str, QueuedPod] = {}
        self._unschedulable: dict[str, QueuedPod] = {}
        self._in_flight: dict[str, QueuedPod] = {}
        self._active_heap: list[tuple[int, float, float, int, QueuedPod]] = []
        self._backoff_heap: list[tuple[float, int, QueuedPod]] = []
        self._flush_heap: list[tuple[float, int, QueuedPod]] = []
        self._seq = itertools.count()
        self._work: trio.Event | None = None
        self._timer_event: trio.Event | None = None
        self._timer_deadline = math.inf

    # ------------------------------------------------------------------ sizes
    def counts(self) -> dict[str, int]:
        return {
            ACTIVE: len(self._active),
            BACKOFF: len(self._backoff),
            UNSCHEDULABLE: len(self._unschedulable),
        }

    @property
    def unschedulable_count(self) -> int:
        return len(self._unschedulable)

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def __contains__(self, key: str) -> bool:
        return key in self._pods

    # ------------------------------------------------------------------ informer side
    def add_or_update(self, view: PodView) -> None:
        """A pending pod was seen: queue it if new; if parked and its spec changed, unpark it."""
        qp = self._pods.get(view.key)
        if qp is None:
            qp = QueuedPod(view, now())
            self._pods[view.key] = qp
            self._push_active(qp)
            return
        old = qp.view
        qp.view = view
        if qp.queue == UNSCHEDULABLE and old.pod.spec != view.pod.spec:
            self._leave_unschedulable(qp)

    def delete(self, key: str) -> None:
        """The pod is gone, bound, or no longer ours: drop it from wherever it is."""
        qp = self._pods.pop(key, None)
        if qp is None:
            return
        for queue in (self._active, self._backoff, self._unschedulable, self._in_flight):
            queue.pop(key, None)
        qp.queue = ""

    def move_unschedulable(self, could_fit: Callable[[PodView], bool]) -> None:
        """A cluster event happened: unpark every parked pod for which ``could_fit`` holds."""
        for qp in list(self._unschedulable.values()):
            if could_fit(qp.view):
                self._leave_unschedulable(qp)

    # ------------------------------------------------------------------ scheduling side
    def pop(self) -> QueuedPod | None:
        """The next pod to try (now in flight), or None if activeQ is empty."""
        heap = self._active_heap
        while heap:
            _, _, _, seq, qp = heapq.heappop(heap)
            if qp.queue == ACTIVE and qp.heap_seq == seq:
                del self._active[qp.key]
                qp.queue = IN_FLIGHT
                self._in_flight[qp.key] = qp
                qp.attempts += 1
                return qp
        return None

    def requeue(self, qp: QueuedPod, unschedulable: bool) -> None:
        """Put back a pod whose attempt failed: parked if no node fit, else to backoffQ."""
        if self._in_flight.pop(qp.key, None) is not qp:
            return  # deleted or bound while in flight
        qp.timestamp = now()
        if unschedulable:
            qp.queue = UNSCHEDULABLE
            self._unschedulable[qp.key] = qp
            qp.heap_seq = seq = next(self._seq)
            at = qp.timestamp + self.max_in_unschedulable
            heapq.heappush(self._flush_heap, (at, seq, qp))
            self._timer_changed(at)
        else:
            self._push_backoff(qp)

    def done(self, qp: QueuedPod) -> None:
        """The pod was bound: forget it."""
        if self._in_flight.get(qp.key) is qp:
            del self._in_flight[qp.key]
            del self._pods[qp.key]
            qp.queue = ""

    async def wait(self) -> None:
        """Sleep until a pod enters activeQ or :meth:`kick` is called."""
        self._work = trio.Event()
        await self._work.wait()
        self._work = None

    def kick(self) -> None:
        if self._work is not None:
            self._work.set()

    async def run_timers(self) -> None:
        """The one timer task: end backoffs and flush long-parked pods, on time."""
        while True:
            self._timer_deadline = self._flush_due(now())
            self._timer_event = trio.Event()
            await timers.wait_until(self._timer_event.wait, self._timer_deadline)

    # ------------------------------------------------------------------ internals
    def backoff_expiry(self, qp: QueuedPod) -> float:
        return qp.timestamp + backoff_duration(qp.attempts, self.initial_backoff, self.max_backoff)

    def _push_active(self, qp: QueuedPod) -> None:
        qp.queue = ACTIVE
        self._active[qp.key] = qp
        qp.heap_seq = seq = next(self._seq)
        entry = (-qp.view.priority, qp.timestamp, qp.creation, seq, qp)
        heapq.heappush(self._active_heap, entry)
        self.kick()

    def _push_backoff(self, qp: QueuedPod) -> None:
        qp.queue = BACKOFF
        self._backoff[qp.key] = qp
        qp.heap_seq = seq = next(self._seq)
        at = self.backoff_expiry(qp)
        heapq.heappush(self._backoff_heap, (at, seq, qp))
        self._timer_changed(at)

    def _leave_unschedulable(self, qp: QueuedPod) -> None:
        """To backoffQ if the pod's backoff has not run out yet, else straight to activeQ."""
        del self._unschedulable[qp.key]
        if self.backoff_expiry(qp) > now():
            self._push_backoff(qp)
        else:
            self._push_active(qp)

    def _timer_changed(self, at: float) -> None:
        if at < self._timer_deadline and self._timer_event is not None:
            self._timer_event.set()

    def _flush_due(self, t: float) -> float:
        """Move what is due at ``t``; return when the next thing falls due."""
        backoff = self._backoff_heap
        while backoff and backoff[0][0] <= t:
            _, seq, qp = heapq.heappop(backoff)
            if qp.queue == BACKOFF and qp.heap_seq == seq:
                del self._backoff[qp.key]
                self._push_active(qp)
        flush = self._flush_heap
        while flush and flush[0][0] <= t:
            _, seq, qp = heapq.heappop(flush)
            if qp.queue == UNSCHEDULABLE and qp.heap_seq == seq:
                self._leave_unschedulable(qp)
        return min(
            backoff[0][0] if backoff else math.inf,
            flush[0][0] if flush else math.inf,
        )


__all__ = ["QueuedPod", "SchedulingQueue", "backoff_duration"]
