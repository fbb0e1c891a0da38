"""A Job's pods by the Job's UID, with what one sync reads kept apart from pod events (issue 16).

Upstream's ``syncJob`` (pkg/controller/job/job_controller.go, v1.32) lists all of a Job's pods
(``getPodsForJob``) on every sync and filters them: the active ones, the ones being deleted, the
ones still carrying the ``batch.kubernetes.io/job-tracking`` finalizer. A Job of 10,000
completions keeps its finished pods until it is deleted, so each sync near its end would read
10,000 pods to find the few still running. Here each pod event files the pod into those groups, and
a sync reads only the pods in flight: the active ones, the ones with the finalizer (the finished
ones not yet counted) and, for an Indexed Job, the Succeeded ones (their indexes). Finished,
counted pods of a non-Indexed Job are never read again.

Each group is handed out in the order of the Job's whole pod list (the order the pods were first
seen), so every choice a sync makes in that order (which uncounted UID comes first, which surplus
pod is deleted among equals) is the one a full listing gives.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import Job, Pod, key_of
from kubechaos.control.controllers.job import status as js

# (active, carries the tracking finalizer, Succeeded, terminating, container restarts counted by
# pastBackoffLimitOnFailure)
Facts = tuple[bool, bool, bool, bool, int]


def facts(pod: Pod) -> Facts:
    restarts = 0
    if pod.status.phase in ("Pending", "Running"):
        restarts = sum(
            c.restart_count
            for c in (*pod.status.init_container_statuses, *pod.status.container_statuses)
        )
    return (
        pod.is_active(),
        js.has_finalizer(pod),
        pod.status.phase == "Succeeded",
        js.is_terminating(pod),
        restarts,
    )


@attrs.define
class JobView:
    """What one sync reads of a Job's pods: the groups, each in the pod list's order."""

    active: list[Pod]
    with_finalizer: list[Pod]
    succeeded: list[Pod]
    terminating: int
    restarts: int

    @property
    def visited(self) -> int:
        return len(self.active) + len(self.with_finalizer) + len(self.succeeded)


@attrs.define
class _Owned:
    pods: dict[str, Pod] = attrs.field(factory=dict)
    facts: dict[str, Facts] = attrs.field(factory=dict)
    active: dict[str, None] = attrs.field(factory=dict)
    with_finalizer: dict[str, None] = attrs.field(factory=dict)
    succeeded: dict[str, None] = attrs.field(factory=dict)
    terminating: int = 0
    restarts: int = 0

    def file(self, pkey: str, f: Facts, sign: int) -> None:
        for flag, group in zip(
            f[:3], (self.active, self.with_finalizer, self.succeeded), strict=True
        ):
            if not flag:
                continue
            if sign > 0:
                group[pkey] = None
            else:
                del group[pkey]
        self.terminating += sign * f[3]
        self.restarts += sign * f[4]


class JobPods:
    """Pods whose controller is a Job, by the Job's UID: everything else is one lookup."""

    def __init__(self) -> None:
        self._by_owner: dict[str, _Owned] = {}
        self._owner_of: dict[str, str] = {}  # pod key -> owner uid
        self._seq: dict[str, int] = {}  # pod key -> when it joined its owner's list
        self._next = 0

    def put(self, pod: Pod) -> bool:
        """Index ``pod`` if a Job controls it; False (and nothing kept) otherwise."""
        ref = pod.metadata.controller_ref()
        key = key_of(pod)
        if ref is None or ref.kind != Job.KIND:
            self.discard(pod)
            return False
        old = self._owner_of.get(key)
        if old is not None and old != ref.uid:
            self.discard(pod)
        owned = self._by_owner.setdefault(ref.uid, _Owned())
        before = owned.facts.get(key)
        if before is None:  # joins the end of the owner's list (as a dict insertion would)
            self._seq[key] = self._next
            self._next += 1
        else:
            owned.file(key, before, -1)
        owned.pods[key] = pod
        owned.facts[key] = f = facts(pod)
        owned.file(key, f, 1)
        self._owner_of[key] = ref.uid
        return True

    def discard(self, pod: Pod) -> bool:
        key = key_of(pod)
        owner = self._owner_of.pop(key, None)
        if owner is None:
            return False
        self._seq.pop(key, None)
        owned = self._by_owner.get(owner)
        if owned is not None:
            owned.pods.pop(key, None)
            f = owned.facts.pop(key, None)
            if f is not None:
                owned.file(key, f, -1)
            if not owned.pods:
                del self._by_owner[owner]
        return True

    def of(self, uid: str) -> list[Pod]:
        owned = self._by_owner.get(uid)
        return list(owned.pods.values()) if owned is not None else []

    def view(self, uid: str, indexed: bool) -> JobView:
        """The groups a sync of Job ``uid`` reads (the Succeeded pods only if ``indexed``)."""
        owned = self._by_owner.get(uid)
        if owned is None:
            return JobView([], [], [], 0, 0)
        return JobView(
            self._ordered(owned, owned.active),
            self._ordered(owned, owned.with_finalizer),
            self._ordered(owned, owned.succeeded) if indexed else [],
            owned.terminating,
            owned.restarts,
        )

    def _ordered(self, owned: _Owned, group: dict[str, None]) -> list[Pod]:
        # A group is filled as pods enter it, nearly always in list order already: the sort
        # by list position (linear on sorted input) makes it exactly the listing's order.
        seq, pods = self._seq, owned.pods
        return [pods[k] for k in sorted(group, key=seq.__getitem__)]


__all__ = ["JobPods", "JobView", "facts"]
