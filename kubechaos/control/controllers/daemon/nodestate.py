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

The rest of the sync follows from what changed, too. Manage (podsShouldBeOnNode per node) looks
at every node once, then only at the nodes whose pods or NodeShouldRunDaemonPod verdict changed
(the node handlers :meth:`DaemonState.touch` them) and those where it last had something to do,
or met a failed or succeeded pod or a second pod (whose outcome may depend on the clock): a node
where it found nothing to do, with the same pods and verdict, has nothing to do again. The status
counts (updateDaemonSetStatus: desired, current, misscheduled, ready, updated, available) are
kept per node and in total, and recounted on the nodes that changed; a ready pod waiting out
minReadySeconds is looked at again on each sync until it counts as available. The rolling update
walks the nodes only while one of them has an old pod. So a sync costs what changed since the
previous one (and, during a rollout, the nodes with pods), where upstream's costs nodes + pods.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

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


Counts = tuple[int, int, int, int, int, int]  # desired current misscheduled ready updated available
ZERO: Counts = (0, 0, 0, 0, 0, 0)
Verdict = Callable[[Node], tuple[bool, bool]]


class DaemonState:
    """One DaemonSet's claimed pods by node, their facts, what manage must look at again and
    the status counts per node, valid for one (UID, generation, template generation,
    selector)."""

    def __init__(self, ds: DaemonSet) -> None:
        self.key = state_key(ds)
        self.hash = revision_hash(ds)
        self.generation = template_generation(ds)
        self.min_ready = ds.spec.min_ready_seconds
        self.pods: dict[str, list[Pod]] = {}  # node -> its claimed pods, as nodeToDaemonPods
        self._facts: dict[str, NodeFacts] = {}
        self.with_old: dict[str, None] = {}  # nodes with one old pod (the rolling update's)
        self.complete = False  # every node claimed once
        self.unsettled: dict[str, None] = {}  # nodes with adopted pods: claimed again next sync
        # manage looks at every node once, then at the nodes whose pods or verdict changed
        # and those where it last had something to do (or waited on a failed pod's back-off)
        self.todo: dict[str, None] = {}
        self._manage_all = True
        # updateDaemonSetStatus's counts per node and in total, recounted where things changed;
        # ready pods not yet available for minReadySeconds are looked at again each time
        self._recount: dict[str, None] = {}
        self._count_all = True
        self._counts: dict[str, Counts] = {}
        self.totals = list(ZERO)
        self._waiting: dict[str, float] = {}  # node -> its pod's Ready time

    def touch(self, node: str) -> None:
        """The node, or its pods, changed: manage and the counts look at it again."""
        self.todo[node] = None
        self._recount[node] = None

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
            self._set(node, grouped.pop(node, None))
        for node, adopted in grouped.items():  # orphans adopted on a node not claimed again
            self._set(node, [*self.pods.get(node, ()), *adopted])
            self.unsettled[node] = None
        self.complete = True

    def _set(self, node: str, pods: list[Pod] | None) -> None:
        self.pods.pop(node, None)
        self._facts.pop(node, None)
        self.with_old.pop(node, None)
        self.touch(node)
        if pods:
            self.pods[node] = pods
            self.facts(node)

    def facts(self, node: str) -> NodeFacts:
        """The node's facts (it has pods), computed once per change of its pods."""
        found = self._facts.get(node)
        if found is None:
            found = self._facts[node] = node_facts(self.pods[node], self.hash, self.generation)
            if found.ok and found.old is not None:
                self.with_old[node] = None
        return found

    def take_todo(self, nodes: Mapping[str, Node]) -> list[str]:
        """The nodes manage looks at this time, by name (all of them the first time);
        ``nodes`` is the node informer's store (by name)."""
        if self._manage_all:
            names: Iterable[str] = {*nodes, *self.pods}
            self._manage_all = False
        else:
            names = self.todo
        self.todo = {}
        return sorted(names)

    def recount(self, nodes: Mapping[str, Node], verdict: Verdict, at: float) -> None:
        """Bring the counts up to date: the nodes that changed, and the ready pods that have
        now been ready for minReadySeconds. ``nodes`` is the node informer's store (by name)."""
        if self._count_all:
            names: Iterable[str] = {*nodes, *self.pods}
            self._count_all = False
        else:
            names = self._recount
        self._recount = {}
        for name in names:
            self._count(name, nodes.get(name), verdict, at)
        for name, since in list(self._waiting.items()):
            if available(since, self.min_ready, at):
                del self._waiting[name]
                self._add(name, (*self._counts[name][:5], 1))

    def _count(self, name: str, node: Node | None, verdict: Verdict, at: float) -> None:
        """The node's share of updateDaemonSetStatus's counts: a node that should run the pod
        counts as desired, as current if it has one, and its oldest pod as ready, available
        (ready minReadySeconds) and updated; a node that should not but has one counts as
        misscheduled (a crashed node, once tainted, is one of these: its pod stays, but it is
        no longer desired)."""
        self._waiting.pop(name, None)
        counts = ZERO
        has_pods = name in self.pods
        if node is None:
            pass  # not a node (any more): counted nowhere
        elif not verdict(node)[0]:
            counts = (0, 0, int(has_pods), 0, 0, 0)
        elif not has_pods:
            counts = (1, 0, 0, 0, 0, 0)
        else:
            facts = self.facts(name)
            since = facts.ready_since
            is_available = available(since, self.min_ready, at)
            if since is not None and not is_available:
                self._waiting[name] = since
            counts = (1, 1, 0, int(since is not None), int(facts.updated), int(is_available))
        self._add(name, counts)

    def _add(self, name: str, counts: Counts) -> None:
        old = self._counts.pop(name, ZERO)
        if counts != ZERO:
            self._counts[name] = counts
        if counts != old:
            for i, (before, after) in enumerate(zip(old, counts, strict=True)):
                self.totals[i] += after - before

    def status(self, ds: DaemonSet) -> DaemonSetStatus:
        """updateDaemonSetStatus's status from the counts (after :meth:`recount`)."""
        desired, current, misscheduled, ready, updated, available_ = self.totals
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


def state_key(ds: DaemonSet) -> tuple[str, int, str, LabelSelector]:
    meta = ds.metadata
    return meta.uid, meta.generation, template_generation(ds), ds.spec.selector


__all__ = ["DaemonState", "node_facts", "state_key"]
