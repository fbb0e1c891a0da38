"""One DaemonSet's pods by node, kept between syncs and refreshed only where pods changed.

Upstream's syncDaemonSet builds nodeToDaemonPods from the informer on every sync
(daemon_controller.go getNodesToDaemonPods: list the namespace's pods, ClaimPods, group by
node), then manage, rollingUpdate and updateDaemonSetStatus read each node's pods. One sync per
pod event over a DaemonSet of one pod per node reads nodes x pods over a run. Here the DaemonSet's
claimed pods by node, and what the sync needs from each node's pods (:class:`NodeFacts`), are
kept from one sync to the next: a sync claims again only the pods of the nodes whose pods the
informer changed since the previous one (:meth:`DaemonPods.take_dirty`, marked by the pod
handlers), plus the namespace's orphans, and recomputes those nodes' facts. Claiming a pod that
did not change, for a selector that did not change, would keep it again (ClaimObject is a
function of the pod's labels and controller reference and of the owner), so the result is the
one a full claim gives. A new UID, generation, template generation or selector starts over.

``stable`` remembers the nodes where podsShouldBeOnNode last found nothing to do without looking
at the clock or a failed or succeeded pod: with the same pods and the same NodeShouldRunDaemonPod
verdict it finds nothing again, so manage skips them.
"""

from __future__ import annotations

from collections.abc import Callable

from kubechaos.api.objects import DaemonSet, DaemonSetStatus, Node, Pod
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.controllers.daemon.index import DaemonPods
from kubechaos.control.controllers.daemon.update import find_updated_pods_on_node
from kubechaos.control.controllers.daemon.util import (
    NodeFacts,
    available,
    by_creation,
    is_pod_updated,
    revision_hash,
    template_generation,
)


def node_facts(pods: list[Pod], hash_: str, generation: str) -> NodeFacts:
    oldest = min(pods, key=by_creation)
    new, old, ok = find_updated_pods_on_node(
        pods, lambda pod: is_pod_updated(pod, hash_, generation)
    )
    return NodeFacts(
        oldest.ready_since(),
        is_pod_updated(oldest, hash_, generation),
        new,
        old,
        ok,
        new.ready_since() if new is not None else None,
        old.ready_since() if old is not None else None,
    )


class DaemonState:
    """One DaemonSet's claimed pods by node and their facts, valid for one (UID, generation,
    template generation, selector)."""

    def __init__(self, ds: DaemonSet) -> None:
        self.key = state_key(ds)
        self.hash = revision_hash(ds)
        self.generation = template_generation(ds)
        self.pods: dict[str, list[Pod]] = {}  # node -> its claimed pods, as nodeToDaemonPods
        self._facts: dict[str, NodeFacts] = {}
        self.stable: dict[str, tuple[bool, bool]] = {}  # node -> verdict it had nothing under
        self.complete = False  # every node claimed once
        self.unsettled: dict[str, None] = {}  # nodes with adopted pods: claimed again next sync

    def candidates(
        self, index: DaemonPods, uid: str, namespace: str
    ) -> tuple[list[str], list[Pod]]:
        """The nodes to claim again and the pods to offer ClaimPods: theirs, then the orphans."""
        dirty = index.take_dirty(uid)
        if not self.complete:
            nodes = [*index.owned_nodes(uid), *dirty]
        else:
            nodes = [*dirty, *self.unsettled]
        nodes = list(dict.fromkeys(nodes))
        pods = [pod for node in nodes for pod in index.on_node(uid, node)]
        return nodes, pods + index.orphans(namespace)

    def refresh(self, nodes: list[str], claimed: list[Pod]) -> None:
        """Take the claim's result for ``nodes`` (and adopted pods on any node)."""
        grouped: dict[str, list[Pod]] = {}
        for pod in claimed:
            node = DaemonPods.node_of(pod)
            if node is not None:
                grouped.setdefault(node, []).append(pod)
        self.unsettled = {}
        for node in nodes:
            self._forget(node)
            pods = grouped.pop(node, None)
            if pods:
                self.pods[node] = pods
        for node, adopted in grouped.items():  # orphans adopted on a node not claimed again
            self._forget(node)
            self.pods[node] = [*self.pods.get(node, ()), *adopted]
            self.unsettled[node] = None
        self.complete = True

    def _forget(self, node: str) -> None:
        self.pods.pop(node, None)
        self._facts.pop(node, None)
        self.stable.pop(node, None)

    def facts(self, node: str) -> NodeFacts:
        """The node's facts (it has pods), computed once per change of its pods."""
        found = self._facts.get(node)
        if found is None:
            found = self._facts[node] = node_facts(self.pods[node], self.hash, self.generation)
        return found


def state_key(ds: DaemonSet) -> tuple[str, int, str, LabelSelector]:
    meta = ds.metadata
    return meta.uid, meta.generation, template_generation(ds), ds.spec.selector


def daemon_status(
    ds: DaemonSet,
    nodes: list[Node],
    state: DaemonState,
    should_run: Callable[[str], bool],
    at: float,
) -> DaemonSetStatus:
    """updateDaemonSetStatus's counts. A node that should run the pod counts as desired, as
    current if it has one, and its oldest pod as ready, available (ready minReadySeconds) and
    updated; a node that should not but has one counts as misscheduled (a crashed node, once
    tainted, is one of these: its pod stays, but it is no longer desired)."""
    desired = current = misscheduled = ready = updated = available_ = 0
    min_ready = ds.spec.min_ready_seconds
    pods = state.pods
    for node in nodes:
        name = node.metadata.name
        if not should_run(name):
            misscheduled += name in pods
            continue
        desired += 1
        if name not in pods:
            continue
        current += 1
        facts = state.facts(name)
        if facts.ready_since is not None:
            ready += 1
            available_ += available(facts.ready_since, min_ready, at)
        updated += facts.updated
    return DaemonSetStatus(
        current_number_scheduled=current,
        number_misscheduled=misscheduled,
        desired_number_scheduled=desired,
        number_ready=ready,
        observed_generation=ds.metadata.generation,
        updated_number_scheduled=updated,
        number_available=available_,
        number_unavailable=desired - available_,
    )


__all__ = ["DaemonState", "daemon_status", "node_facts", "state_key"]
