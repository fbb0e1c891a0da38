"""The node loop's timers: everything about a node's pods that will happen at a known time.

Upstream each pod worker, prober worker and backoff is a goroutine sleeping until its moment.
Here one heap per node holds all those moments as :class:`Timer` records, and the node loop
(:mod:`kubechaos.node.kubelet.pod_workers`) wakes once per distinct instant that has work. It is
its own module because every manager that schedules work (sandboxes, containers, probes,
adoption) pushes onto the same queue, and the queue's order decides the order of the event log.

Ordering: timers run by time, and timers due at the same instant in the order they were set
(the ``seq`` counter). ``seq`` is unique, so nothing else of a timer is ever compared.

A timer is stale when its ``token`` no longer matches its target's: whatever it was waiting for
was superseded (the container stopped, the pod was deleted), and it is dropped when it comes
due rather than removed from the heap.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
from typing import Any

import attrs

from kubechaos.node.podstate import ContainerRun, PodState


class TimerKind(enum.Enum):
    """What happens when a timer comes due; ``arg`` is what the handler needs besides its target."""

    SANDBOX = enum.auto()  # a pod's sandbox is created (target: the PodState)
    PULLED = enum.auto()  # an image pull ends (arg: the PullTicket and when it was asked for)
    CREATED = enum.auto()  # a container is created
    STARTED = enum.auto()  # a container's process starts
    EXITED = enum.auto()  # a process ends as its script says (arg: the exit code)
    STOPPED = enum.auto()  # a SIGTERMed process is gone (arg: the exit code)
    PROBE = enum.auto()  # a probe's result flips (arg: kind, new result, when, the Probe)
    RESTART = enum.auto()  # a CrashLoopBackOff is over
    PULL_RETRY = enum.auto()  # an ImagePullBackOff is over
    CONFIG_RETRY = enum.auto()  # try a container's ConfigMap/Secret references again
    MOUNT_RETRY = enum.auto()  # try a pod's configMap/secret volumes again (target: PodState)
    POST_STARTED = enum.auto()  # a postStart hook returned (arg: its HookRun)
    PRE_STOP_FAILED = enum.auto()  # a preStop hook failed (arg: the event message)
    RELISTED = enum.auto()  # PLEG sees an exit (arg: the exit code and when it happened)

    # Each container timer looks its handler up by kind (ContainerLifecycle.handle): identity's
    # hash is computed in C, Enum's own hashes the member's name in a Python call. Members are
    # singletons compared by identity, so the lookups find the same handlers.
    __hash__ = object.__hash__


@attrs.define(slots=True, eq=False)
class Timer:
    """One moment on the heap: at ``when``, handle ``kind`` for ``target`` if ``token`` holds."""

    when: float
    seq: int  # order of setting: breaks ties between timers due at the same instant
    kind: TimerKind
    target: PodState | ContainerRun  # the PodState for SANDBOX, else the ContainerRun
    token: int  # the target's token when the timer was set
    arg: Any = None

    def __lt__(self, other: Timer) -> bool:
        # (when, seq) compared as a tuple would be: the order of the 6-tuples this replaces,
        # whose unique seq meant nothing after it was ever compared
        return self.when < other.when or (self.when == other.when and self.seq < other.seq)


class TimerQueue:
    """The node's timer heap."""

    def __init__(self) -> None:
        self._heap: list[Timer] = []
        self._seq = itertools.count()

    def at(
        self,
        when: float,
        kind: TimerKind,
        target: PodState | ContainerRun,
        token: int,
        arg: Any = None,
    ) -> None:
        """Set a timer for ``when``."""
        heapq.heappush(self._heap, Timer(when, next(self._seq), kind, target, token, arg))

    def pop_due(self, t: float) -> Timer | None:
        """The earliest timer if it is due at ``t`` (removed from the heap), else None."""
        heap = self._heap
        if heap and heap[0].when <= t:
            return heapq.heappop(heap)
        return None

    def deadline(self) -> float:
        """When the earliest timer is due; infinity when there is none."""
        return self._heap[0].when if self._heap else math.inf
