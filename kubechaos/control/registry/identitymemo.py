"""Results the API server computed from an immutable object, found again by the object itself.

A ReplicaSet controller sends the same pod object for every pod of a template (its prototype,
:meth:`~kubechaos.control.controllers.replicaset.ReplicaSetController._pod_prototype`), so the
pod strategy sees the same ``PodSpec`` object thousands of times: its admission and validation
need computing once per spec object. The entries are found by identity, not equality (a PodSpec
holds dicts, so it has no usable hash, and comparing two costs about what a hit saves); each
entry holds its object, so no other object can take its id while the entry lasts. The memo is
emptied when full: a spec sent once (a DaemonSet's per-node pod) only costs an entry, and one
computed again is computed the same.
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class IdentityMemo(Generic[K, V]):
    def __init__(self, limit: int = 1024) -> None:
        self._entries: dict[int, tuple[K, V]] = {}
        self._limit = limit

    def get(self, key: K) -> V | None:
        entry = self._entries.get(id(key))
        return None if entry is None else entry[1]

    def put(self, key: K, value: V) -> None:
        if len(self._entries) >= self._limit:
            self._entries.clear()
        self._entries[id(key)] = (key, value)


__all__ = ["IdentityMemo"]
