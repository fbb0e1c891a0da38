"""Per-ReplicaSet counts of its pods, kept up to date from pod events (issue 16).

Upstream's ReplicaSet controller (pkg/controller/replicaset/replica_set.go) claims its pods and
``calculateStatus`` (replica_set_utils.go) counts them on every sync: a 300-replica ReplicaSet
reads 300 pods per sync, and it syncs on nearly every change of any of its pods. Here what a sync
needs is adjusted by each pod event, so a sync costs O(1) unless it acts on individual pods:

- the counts: active pods owned and selected (kept), fully labelled, Ready; the owned active pods
  the selector no longer matches (strays, which claim releases);
- for a ReplicaSet with ``minReadySeconds``, the Ready times of its kept pods, sorted: how many
  are available at a given time, and when the next one will be, are binary searches;
- per owner and node, its active pods (the rank of a node among a Deployment's ReplicaSets that
  scale-down sorts by), and per pod object the facts the scale-down comparator reads.

The result is the same as counting afresh: a pod's contribution is a pure function of the pod
object and the ReplicaSet's selector and template labels, and the tally is rebuilt from the owner
index when either of those changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable, Mapping

import attrs

from kubechaos.api.objects import OwnerReference, Pod, ReplicaSet, key_of
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.controllers.ownership import OwnedIndex
from kubechaos.control.controllers.rspods import RankFacts, rank_facts

# (kept: active, owned and selected; stray: active, owned, not selected; fully labelled;
# Ready since, None when not Ready)
Contribution = tuple[bool, bool, bool, float | None]


@attrs.define
class Tally:
    """The counts of one ReplicaSet's owned pods, for one selector and template labels; if
    ``timed``, also the Ready times of the kept Ready pods, sorted."""

    selector: LabelSelector
    template_labels: Mapping[str, str]
    timed: bool = False
    members: dict[str, Contribution] = attrs.field(factory=dict)
    kept: int = 0
    fully_labeled: int = 0
    ready: int = 0
    strays: int = 0
    ready_times: list[float] = attrs.field(factory=list)
    # pod key -> (the labels object last read, (selected, fully labelled) for it)
    labels_seen: dict[str, tuple[Mapping[str, str], tuple[bool, bool]]] = attrs.field(factory=dict)

    def contribution(self, pod: Pod, labels_read: tuple[bool, bool] | None = None) -> Contribution:
        """What ``pod`` adds to the counts; ``labels_read``: (selected, fully labelled), known
        already for these very labels (see :meth:`add`)."""
        if pod.metadata.deletion_timestamp is not None or pod.is_terminal():
            return False, False, False, None
        if labels_read is None:
            labels_read = self.read_labels(pod.metadata.labels)
        selected, fully = labels_read
        if not selected:
            return False, True, False, None
        return True, False, fully, pod.ready_since()

    def read_labels(self, labels: Mapping[str, str]) -> tuple[bool, bool]:
        """Whether the selector selects ``labels``, and whether they carry the template's."""
        if not self.selector.matches(labels):
            return False, False
        return True, all(labels.get(k) == v for k, v in self.template_labels.items())

    def add(self, pkey: str, pod: Pod) -> None:
        labels = pod.metadata.labels
        seen = self.labels_seen.get(pkey)
        if seen is not None and seen[0] is labels:
            # The same labels object as the pod's last version (kept through every write
            # that does not change them): the same answer, without reading them again.
            labels_read = seen[1]
        else:
            labels_read = self.read_labels(labels)
            self.labels_seen[pkey] = (labels, labels_read)
        c = self.contribution(pod, labels_read)
        old = self.members.get(pkey)
        if old == c:
            return  # most pod updates (a probe result, a status write) change nothing here
        if old is not None:
            self._count(old, -1)
        self.members[pkey] = c
        self._count(c, 1)

    def remove(self, pkey: str) -> None:
        self.labels_seen.pop(pkey, None)
        c = self.members.pop(pkey, None)
        if c is not None:
            self._count(c, -1)

    def _count(self, c: Contribution, sign: int) -> None:
        kept, stray, fully, since = c
        if kept:
            self.kept += sign
            if fully:
                self.fully_labeled += sign
            if since is not None:
                self.ready += sign
                if self.timed:
                    if sign > 0:
                        bisect.insort(self.ready_times, since)
                    else:
                        del self.ready_times[bisect.bisect_left(self.ready_times, since)]
        elif stray:
            self.strays += sign


def available_count(ready_times: list[float], min_ready_seconds: int, at: float) -> int:
    """How many of the sorted Ready times are available at ``at`` (IsPodAvailable:
    ``since + minReadySeconds <= at``; the sum grows with ``since``, so they are a prefix)."""
    return bisect.bisect_right(ready_times, at, key=lambda since: since + min_ready_seconds)


def next_available(ready_times: list[float], min_ready_seconds: int, at: float) -> float | None:
    """When the next of the sorted Ready times becomes available after ``at``, if any."""
    i = available_count(ready_times, min_ready_seconds, at)
    return ready_times[i] + min_ready_seconds if i < len(ready_times) else None


class TalliedIndex(OwnedIndex[Pod]):
    """Pods by controller owner UID (:class:`OwnedIndex`), plus a :class:`Tally` per owner that
    has asked for one, adjusted on every put and discard; the active pods of each ReplicaSet per
    node; the scale-down facts of each pod object asked for."""

    def __init__(self) -> None:
        super().__init__()
        self._tallies: dict[str, Tally] = {}
        self._tallied_by: dict[str, str] = {}  # pod key -> owner UID whose tally counts it
        self._on_node: dict[str, dict[str, int]] = {}  # ReplicaSet UID -> node -> active pods
        self._placed: dict[str, tuple[str, str]] = {}  # pod key -> (ReplicaSet UID, node)
        self._facts: dict[str, tuple[Pod, RankFacts]] = {}  # pod key -> (pod object, facts)
        # pod key -> (its owner references object, the controller reference among them): the
        # API server keeps the tuple through the writes that do not change it (nearly all)
        self._refs: dict[str, tuple[tuple[OwnerReference, ...], OwnerReference | None]] = {}

    def put(self, obj: Pod, key: str | None = None) -> None:
        pkey = key_of(obj) if key is None else key
        bucket = self._bucket.get(pkey)
        prev = bucket[pkey] if bucket is not None else None  # the version put last, if any
        super().put(obj, pkey)
        meta, status = obj.metadata, obj.status
        # Everything the tally and the node counts below read from a pod: its conditions (Ready),
        # phase, node, deletion, labels and owner references. The very same objects as in the
        # version put last (a probe result, an unrelated status field) -> nothing below would
        # change. Identity checks, stopping at the first difference (usually the conditions);
        # an equal but new object only takes the longer way.
        if prev is not None:
            pm, ps = prev.metadata, prev.status
            if (
                ps.phase is status.phase
                and prev.spec.node_name is obj.spec.node_name
                and pm.deletion_timestamp is meta.deletion_timestamp
                and pm.labels is meta.labels
                and pm.owner_references is meta.owner_references
            ):
                if ps.conditions is status.conditions:
                    return
                # Only the conditions changed (a readiness flip): the same owner and node, so
                # the placement below stays; only the Ready part of the tally can move. What
                # follows would do the same (its owner's tally, if counted by one, adjusted).
                uid = self._tallied_by.get(pkey)
                if uid is not None:
                    self._tallies[uid].add(pkey, obj)
                    return
        refs = meta.owner_references
        seen = self._refs.get(pkey)
        if seen is not None and seen[0] is refs:
            ref = seen[1]  # the same owner references as the pod's last version
        else:
            ref = obj.metadata.controller_ref()
            self._refs[pkey] = (refs, ref)
        if ref is None:
            self._untally(pkey)
            self._unplace(pkey)
            return
        uid = ref.uid
        if self._tallied_by.get(pkey) != uid:
            self._untally(pkey)
            tally = self._tallies.get(uid)
            if tally is not None:
                tally.add(pkey, obj)
                self._tallied_by[pkey] = uid
        else:  # counted by this owner already: adjusted only if its contribution changed
            self._tallies[uid].add(pkey, obj)
        place = None
        if ref.kind == ReplicaSet.KIND and obj.is_active():
            place = (uid, obj.spec.node_name)
        if self._placed.get(pkey) == place:
            return  # same owner and node as before (the common update): counts unchanged
        self._unplace(pkey)
        if place is not None:
            on_node = self._on_node.setdefault(uid, {})
            on_node[place[1]] = on_node.get(place[1], 0) + 1
            self._placed[pkey] = place

    def discard(self, obj: Pod) -> None:
        super().discard(obj)
        pkey = key_of(obj)
        self._untally(pkey)
        self._unplace(pkey)
        self._facts.pop(pkey, None)
        self._refs.pop(pkey, None)

    def _untally(self, pkey: str) -> None:
        uid = self._tallied_by.pop(pkey, None)
        if uid is not None:
            self._tallies[uid].remove(pkey)

    def _unplace(self, pkey: str) -> None:
        placed = self._placed.pop(pkey, None)
        if placed is not None:
            uid, node = placed
            on_node = self._on_node[uid]
            on_node[node] -= 1
            if not on_node[node]:
                del on_node[node]
                if not on_node:
                    del self._on_node[uid]

    def tally(
        self,
        uid: str,
        selector: LabelSelector,
        template_labels: Mapping[str, str],
        timed: bool = False,
    ) -> Tally:
        """The tally of owner ``uid`` for this selector and template labels, with Ready times
        if ``timed`` (built from the index the first time, or again when any of these changed)."""
        tally = self._tallies.get(uid)
        if (
            tally is not None
            and (tally.selector is selector or tally.selector == selector)
            and tally.template_labels == template_labels
            and tally.timed >= timed
        ):
            return tally
        self.forget(uid)
        tally = self._tallies[uid] = Tally(selector, dict(template_labels), timed)
        for pkey, pod in self.owned_items(uid):
            tally.add(pkey, pod)
            self._tallied_by[pkey] = uid
        return tally

    def forget(self, uid: str) -> None:
        """Drop owner ``uid``'s tally (its ReplicaSet is gone)."""
        tally = self._tallies.pop(uid, None)
        if tally is not None:
            for pkey in tally.members:
                self._tallied_by.pop(pkey, None)

    def kept_items(self, uid: str, tally: Tally) -> list[tuple[str, Pod]]:
        """``(key, pod)`` of the pods the tally counts as kept, in the index's order (as claim
        returns them)."""
        members = tally.members
        return [(pkey, pod) for pkey, pod in self.owned_items(uid) if members[pkey][0]]

    def kept(self, uid: str, tally: Tally) -> list[Pod]:
        """The pods the tally counts as kept, in the index's order (as claim returns them)."""
        return [pod for _, pod in self.kept_items(uid, tally)]

    def strays(self, uid: str, tally: Tally) -> list[Pod]:
        """The owned active pods the selector no longer matches, in the index's order."""
        if not tally.strays:
            return []
        members = tally.members
        return [pod for pkey, pod in self.owned_items(uid) if members[pkey][1]]

    def rank_facts(self, pkey: str, pod: Pod) -> RankFacts:
        """:func:`rank_facts` of ``pod``, computed once per pod object."""
        memo = self._facts.get(pkey)
        if memo is not None and memo[0] is pod:
            return memo[1]
        facts = rank_facts(pod)
        self._facts[pkey] = (pod, facts)
        return facts

    def related_on(self, uids: Iterable[str]) -> Callable[[str], int]:
        """``node -> active pods there`` of the ReplicaSets ``uids`` together."""
        counts = [on_node for uid in uids if (on_node := self._on_node.get(uid))]
        if len(counts) == 1:
            only = counts[0]
            return lambda node: only.get(node, 0)
        return lambda node: sum(on_node.get(node, 0) for on_node in counts)


__all__ = ["TalliedIndex", "Tally", "available_count", "next_available"]
