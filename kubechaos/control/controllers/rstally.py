"""Per-ReplicaSet counts of its pods, kept up to date from pod events (issue 16).

Upstream's ReplicaSet controller (pkg/controller/replicaset/replica_set.go) claims its pods and
``calculateStatus`` counts them on every sync: a 300-replica ReplicaSet reads 300 pods per sync,
and it syncs on nearly every change of any of its pods. Here the counts a sync needs (the active
pods it owns and selects, how many are fully labelled and Ready, and the owned active pods its
selector no longer matches) are adjusted by each pod event, so a sync costs O(1) unless it has
to act on individual pods: releasing strays, adopting orphans, deleting surplus pods, or
timing availability (``minReadySeconds``). The result is the same as counting afresh: a pod's
contribution is a pure function of the pod object and the ReplicaSet's selector and template
labels, and the tally is rebuilt from the owner index when either of those changes.
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs

from kubechaos.api.objects import Pod, key_of
from kubechaos.api.selectors import LabelSelector
from kubechaos.control.controllers.ownership import OwnedIndex

# (kept: active, owned and selected; stray: active, owned, not selected; fully labelled; ready)
Contribution = tuple[bool, bool, bool, bool]


@attrs.define
class Tally:
    """The counts of one ReplicaSet's owned pods, for one selector and template labels."""

    selector: LabelSelector
    template_labels: Mapping[str, str]
    members: dict[str, Contribution] = attrs.field(factory=dict)
    kept: int = 0
    fully_labeled: int = 0
    ready: int = 0
    strays: int = 0

    def contribution(self, pod: Pod) -> Contribution:
        if pod.metadata.deletion_timestamp is not None or pod.is_terminal():
            return False, False, False, False
        labels = pod.metadata.labels
        if not self.selector.matches(labels):
            return False, True, False, False
        fully = all(labels.get(k) == v for k, v in self.template_labels.items())
        return True, False, fully, pod.is_ready()

    def add(self, pkey: str, pod: Pod) -> None:
        self.remove(pkey)
        c = self.members[pkey] = self.contribution(pod)
        self._count(c, 1)

    def remove(self, pkey: str) -> None:
        c = self.members.pop(pkey, None)
        if c is not None:
            self._count(c, -1)

    def _count(self, c: Contribution, sign: int) -> None:
        kept, stray, fully, ready = c
        if kept:
            self.kept += sign
            if fully:
                self.fully_labeled += sign
            if ready:
                self.ready += sign
        elif stray:
            self.strays += sign


class TalliedIndex(OwnedIndex[Pod]):
    """Pods by controller owner UID (:class:`OwnedIndex`), plus a :class:`Tally` per owner that
    has asked for one, adjusted on every put and discard."""

    def __init__(self) -> None:
        super().__init__()
        self._tallies: dict[str, Tally] = {}
        self._tallied_by: dict[str, str] = {}  # pod key -> owner UID whose tally counts it

    def put(self, obj: Pod) -> None:
        super().put(obj)
        pkey = key_of(obj)
        self._untally(pkey)
        ref = obj.metadata.controller_ref()
        tally = self._tallies.get(ref.uid) if ref is not None else None
        if tally is not None and ref is not None:
            tally.add(pkey, obj)
            self._tallied_by[pkey] = ref.uid

    def discard(self, obj: Pod) -> None:
        super().discard(obj)
        self._untally(key_of(obj))

    def _untally(self, pkey: str) -> None:
        uid = self._tallied_by.pop(pkey, None)
        if uid is not None:
            self._tallies[uid].remove(pkey)

    def tally(self, uid: str, selector: LabelSelector, template_labels: Mapping[str, str]) -> Tally:
        """The tally of owner ``uid`` for this selector and template labels (built from the
        index the first time, or again when either changed)."""
        tally = self._tallies.get(uid)
        if (
            tally is not None
            and tally.selector == selector
            and tally.template_labels == template_labels
        ):
            return tally
        self.forget(uid)
        tally = self._tallies[uid] = Tally(selector, dict(template_labels))
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

    def kept(self, uid: str, tally: Tally) -> list[Pod]:
        """The pods the tally counts as kept, in the index's order (as claim returns them)."""
        members = tally.members
        return [pod for pkey, pod in self.owned_items(uid) if members[pkey][0]]


__all__ = ["TalliedIndex", "Tally"]
