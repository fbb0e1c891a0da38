"""One :class:`~.placement.PodPlacement` per pod template, not per pod.

Upstream's PreFilter of PodTopologySpread and InterPodAffinity
(pkg/scheduler/framework/plugins/podtopologyspread/filtering.go, interpodaffinity/filtering.go)
parses the pod's constraints and terms on every attempt of every pod. What that parse reads of
the pod is only: its namespace, its labels (matchLabelKeys, a constraint's selfMatch, the
DefaultSelector's Services), its controller reference (the DefaultSelector's owner) and the
spec's podAffinity, podAntiAffinity and topologySpreadConstraints. The pods of one ReplicaSet
share all of these, so the parse is done once and the result shared: a PodPlacement holds no
reference to the pod it was built from, and its lazily recomputed system default constraints
depend on the same inputs (plus the Service/owner version it checks itself).

The memo's key holds the three spec parts by identity (the pods of a template share those
objects: the controller builds each pod from its template's spec); the entry keeps them alive,
so an id is never reused while its entry exists. Equal parts that are not the same objects only
miss the memo (a fresh parse, the same result).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from kubechaos.api.objects import Pod
from kubechaos.defaults import SCHEDULER_PLACEMENT_MEMO_SIZE

T = TypeVar("T")

Key = tuple[object, ...]


class TemplateMemo(Generic[T]):
    """``build(pod)`` memoised by what it reads of the pod (see the module docstring)."""

    def __init__(self, build: Callable[[Pod], T], size: int = SCHEDULER_PLACEMENT_MEMO_SIZE):
        self._build = build
        self._size = size
        self._entries: dict[Key, tuple[object, object, object, T]] = {}
        self.built = 0  # how many times build ran (read by the cost tests)

    def __call__(self, pod: Pod) -> T:
        meta, spec = pod.metadata, pod.spec
        affinity, anti, spread = spec.pod_affinity, spec.pod_anti_affinity, spec.topology_spread
        ref = meta.controller_ref()
        key: Key = (
            meta.namespace,
            tuple(meta.labels.items()),
            None if ref is None else (ref.kind, ref.name),
            id(affinity),
            id(anti),
            id(spread),
        )
        entry = self._entries.get(key)
        if entry is not None:
            return entry[3]
        value = self._build(pod)
        self.built += 1
        if len(self._entries) >= self._size:
            self._entries.clear()  # bounded (a StatefulSet's pods each have their own labels)
        self._entries[key] = (affinity, anti, spread, value)
        return value


__all__ = ["TemplateMemo"]
