"""A feed of one resource's objects for observers: what the API server's watch cache is fed.

What watches a run must not change it. An informer is a task that makes requests: each request
draws a latency from the API server's seeded stream, and each task joins the seeded scheduler's
batches, so adding one would reorder and reshape the rest of the run. The kinds steady state
judges beyond those the scenario's workloads apply (kubechaos.observe.convergence) and custom
resources (kubechaos.observe.customsteady) are therefore watched as the API server's own watch
caches are: :class:`Feed` subscribes to the etcd events under the resource's key prefix with a
synchronous callback (no task, no request, nothing drawn), first handing over what is stored,
then each put and delete the moment it is committed. It is how the collector reads
kube-state-metrics' series too: straight from the server's state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Put = Callable[[Any], None]


class Feed:
    """Every object under ``prefix`` in ``api``'s etcd: ``on_put`` for each stored now and each
    later create or update, ``on_delete`` for each deletion, until :meth:`stop`."""

    def __init__(self, api: Any, prefix: str, on_put: Put, on_delete: Put) -> None:
        self._on_put, self._on_delete = on_put, on_delete
        self.objects: dict[str, Any] = {}  # key -> the object as last stored
        store = api.etcd.store
        for kv in store.range(prefix):
            self.objects[kv.key] = kv.value
            on_put(kv.value)
        self._handle = store.watch(prefix, store.revision + 1, self._events)

    def _events(self, events: list[Any]) -> None:
        for event in events:
            key = event.kv.key
            if event.type == "PUT":
                self.objects[key] = event.kv.value
                self._on_put(event.kv.value)
            else:
                gone = self.objects.pop(key, None)
                if gone is not None:
                    self._on_delete(gone)

    def stop(self) -> list[Any]:
        """Stop; returns what it held (which the caller may treat as gone)."""
        self._handle.cancel()
        held = list(self.objects.values())
        self.objects.clear()
        return held


def prefix_of(resource: str) -> str:
    """Where a typed kind's objects live in etcd (upstream's generic store keys)."""
    return f"/registry/{resource}/"


__all__ = ["Feed", "prefix_of"]
