"""The pods on each node: an index over a pod informer's cache, keyed by ``spec.nodeName``.

Upstream's node lifecycle and taint eviction controllers each add a ``spec.nodeName`` indexer to
the shared pod informer (``nodeNameKeyIndex``) to find a node's pods without scanning them all.
Here both controllers read one such index; it lives in a module of its own so that neither
controller's module imports the other's.
"""

from __future__ import annotations

from kubechaos.api.objects import Pod, key_of
from kubechaos.client.informer import Handler, Informer


class PodsByNode:
    """The pod informer's store indexed by ``spec.nodeName`` (register before other handlers)."""

    def __init__(self, pods: Informer[Pod]) -> None:
        self._pods = pods
        self._by_node: dict[str, dict[str, None]] = {}
        pods.add_handler(Handler(self._add, self._update, self._delete))

    def pods(self, node_name: str) -> list[Pod]:
        found = []
        for key in list(self._by_node.get(node_name, ())):
            pod = self._pods.get(key)
            if pod is not None:
                found.append(pod)
        return found

    def _add(self, pod: Pod) -> None:
        if pod.spec.node_name:
            self._by_node.setdefault(pod.spec.node_name, {})[key_of(pod)] = None

    def _delete(self, pod: Pod) -> None:
        bucket = self._by_node.get(pod.spec.node_name)
        if bucket is not None:
            bucket.pop(key_of(pod), None)
            if not bucket:
                del self._by_node[pod.spec.node_name]

    def _update(self, old: Pod, new: Pod) -> None:
        if old.spec.node_name != new.spec.node_name:
            self._delete(old)
            self._add(new)


__all__ = ["PodsByNode"]
