"""The DaemonSet controller's bookkeeping: its pods by (DaemonSet, node), expectations, and the
back-off on deleting failed pods.

Upstream lists a DaemonSet's namespace's pods from the informer on every sync and maps them to
nodes; here the pod handlers keep them indexed by owner UID and target node as they arrive, so a
pod event costs O(1), and remember which nodes' pods changed, so a sync reads again only those
(and the namespace's orphans, which it may adopt; see :mod:`.nodestate`).
"""

from __future__ import annotations

from kubechaos.api.nodeaffinity import target_node_name
from kubechaos.api.objects import DaemonSet, Pod, key_of
from kubechaos.control.controllers.ownership import SelectorIndex
from kubechaos.defaults import (
    DAEMONSET_FAILED_POD_BACKOFF_INITIAL,
    DAEMONSET_FAILED_POD_BACKOFF_MAX,
)


class DaemonPods:
    """Pods owned by a DaemonSet, by owner UID then target node; orphans by namespace; and the
    DaemonSets' selectors, to find who may adopt an orphan."""

    def __init__(self) -> None:
        self._owned: dict[str, dict[str, dict[str, Pod]]] = {}  # uid -> node -> key -> pod
        self._orphans: dict[str, dict[str, Pod]] = {}  # namespace -> key -> pod
        self._where: dict[str, tuple[str, str]] = {}  # pod key -> (uid or "", node or namespace)
        self._selectors = SelectorIndex()
        # uid -> nodes whose pods changed since the DaemonSet's last sync took them, for the
        # DaemonSets being synced (a DaemonSet not synced yet reads all its nodes first)
        self._dirty: dict[str, dict[str, None]] = {}

    def put(self, pod: Pod) -> None:
        key = key_of(pod)
        ref = pod.metadata.controller_ref()
        if ref is None:
            slot = ("", pod.metadata.namespace)
        elif ref.kind == DaemonSet.KIND:
            slot = (ref.uid, target_node_name(pod.spec) or "")
        else:
            if key in self._where:
                self.discard(pod)
            return
        if self._where.get(key) != slot:
            self.discard(pod)
            self._where[key] = slot
        if slot[0]:
            if slot[0] in self._dirty:
                self._dirty[slot[0]][slot[1]] = None
            self._owned.setdefault(slot[0], {}).setdefault(slot[1], {})[key] = pod
        else:
            self._orphans.setdefault(slot[1], {})[key] = pod

    def discard(self, pod: Pod) -> None:
        key = key_of(pod)
        slot = self._where.pop(key, None)
        if slot is None:
            return
        uid, place = slot
        if uid:
            if uid in self._dirty:
                self._dirty[uid][place] = None
            nodes = self._owned[uid]
            del nodes[place][key]
            if not nodes[place]:
                del nodes[place]
            if not nodes:
                del self._owned[uid]
        else:
            del self._orphans[place][key]
            if not self._orphans[place]:
                del self._orphans[place]

    def owned(self, uid: str) -> list[Pod]:
        return [pod for pods in self._owned.get(uid, {}).values() for pod in pods.values()]

    def owned_nodes(self, uid: str) -> list[str]:
        return list(self._owned.get(uid, ()))

    def take_dirty(self, uid: str) -> list[str]:
        """The nodes whose pods of the DaemonSet were added, changed or removed since the last
        call (the sync that reads them); from the first call on, changes are noted."""
        dirty = list(self._dirty.get(uid, ()))
        self._dirty[uid] = {}
        return dirty

    def mark_dirty(self, uid: str, nodes: list[str]) -> None:
        """Give back nodes a failed sync took: the next one reads them again."""
        slot = self._dirty.setdefault(uid, {})
        for node in nodes:
            slot[node] = None

    def forget_dirty(self, uid: str) -> None:
        self._dirty.pop(uid, None)

    def on_node(self, uid: str, node: str) -> list[Pod]:
        return list(self._owned.get(uid, {}).get(node, {}).values())

    def orphans(self, namespace: str) -> list[Pod]:
        return list(self._orphans.get(namespace, {}).values())

    @staticmethod
    def node_of(pod: Pod) -> str | None:
        return target_node_name(pod.spec)

    def watch_selector(self, ds: DaemonSet) -> None:
        self._selectors.put(key_of(ds), ds.metadata.namespace, ds.spec.selector)

    def forget_selector(self, key: str) -> None:
        self._selectors.discard(key)

    def adopters(self, pod: Pod) -> list[str]:
        """getDaemonSetsForPod: the DaemonSets whose selector matches an orphan's labels."""
        return self._selectors.matching(pod.metadata.namespace, pod.metadata.labels)


class FailedBackoff:
    """client-go flowcontrol.Backoff (1 s doubling to 15 min) per (DaemonSet, generation, node)."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, float]] = {}  # key -> (delay, last update)

    def in_backoff(self, key: str, at: float) -> float | None:
        """IsInBackOffSinceUpdate: the delay still to wait, or None."""
        entry = self._entries.get(key)
        if entry is None or at - entry[1] >= entry[0]:
            return None
        return entry[0] - (at - entry[1])

    def next(self, key: str, at: float) -> None:
        entry = self._entries.get(key)
        if entry is None or at - entry[1] > 2 * DAEMONSET_FAILED_POD_BACKOFF_MAX:
            delay = DAEMONSET_FAILED_POD_BACKOFF_INITIAL
        else:
            delay = min(entry[0] * 2, DAEMONSET_FAILED_POD_BACKOFF_MAX)
        self._entries[key] = (delay, at)


__all__ = ["DaemonPods", "FailedBackoff"]
