"""Per-budget counts of the pods a PodDisruptionBudget selects, kept up to date from pod events
(issue 16).

Upstream's disruption controller (pkg/controller/disruption/disruption.go, ``trySync``) lists the
budget's pods (``getPodsForPdb``) and counts them (``countHealthyPods``, ``getExpectedScale``) on
every sync: a budget over 300 pods reads 300 pods per sync, and it syncs on every change of any of
them. Here each pod event adjusts what a sync needs, so a sync costs the number of distinct
controllers of its pods plus its ``disruptedPods`` entries, not the number of pods:

- how many pods are selected, how many are Ready and not being deleted (healthy unless listed in
  ``disruptedPods``), how many have no controller (the budget then fails safe);
- how many selected pods each controller reference owns (``getExpectedScale`` sums the scale of
  every distinct one).

The result is that of counting afresh: a pod's contribution is a pure function of the pod object
and the budget's selector, and a tally is rebuilt from the pod informer when the selector changes.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from kubechaos.api.objects import Pod, key_of
from kubechaos.api.selectors import LabelSelector

# A pod's controller reference as getExpectedScale reads it: (kind, name, UID).
Ref = tuple[str, str, str]
# (name, being deleted, Ready and not being deleted, controller reference or None)
Contribution = tuple[str, bool, bool, Ref | None]


def contribution(pod: Pod) -> Contribution:
    meta = pod.metadata
    deleting = meta.deletion_timestamp is not None
    ref = meta.controller_ref()
    return (
        meta.name,
        deleting,
        not deleting and pod.is_ready(),
        None if ref is None else (ref.kind, ref.name, ref.uid),
    )


@attrs.define
class BudgetPods:
    """The pods one selector selects, as counts (in the order the pods were first counted)."""

    selector: LabelSelector
    members: dict[str, Contribution] = attrs.field(factory=dict)
    alive_ready: int = 0
    no_controller: int = 0
    refs: dict[Ref, int] = attrs.field(factory=dict)

    def put(self, pkey: str, pod: Pod) -> None:
        """Count ``pod`` (key ``pkey``) if the selector selects it, else forget it."""
        if not self.selector.matches(pod.metadata.labels):
            self.remove(pkey)
            return
        c = contribution(pod)
        old = self.members.get(pkey)
        if old == c:
            return
        if old is not None:
            self._count(old, -1)
        self.members[pkey] = c
        self._count(c, 1)

    def remove(self, pkey: str) -> None:
        old = self.members.pop(pkey, None)
        if old is not None:
            self._count(old, -1)

    def _count(self, c: Contribution, sign: int) -> None:
        self.alive_ready += sign * c[2]
        ref = c[3]
        if ref is None:
            self.no_controller += sign
            return
        n = self.refs.get(ref, 0) + sign
        if n:
            self.refs[ref] = n
        else:
            del self.refs[ref]

    def __len__(self) -> int:
        return len(self.members)


class BudgetTallies:
    """A :class:`BudgetPods` per budget key that has asked for one, fed by pod events."""

    def __init__(self) -> None:
        self._tallies: dict[str, BudgetPods] = {}

    def tally(self, key: str, selector: LabelSelector, pods: Iterable[Pod]) -> BudgetPods:
        """Budget ``key``'s tally for ``selector``, built from ``pods`` (the informer's
        selection, called only when the tally is new or the selector changed)."""
        found = self._tallies.get(key)
        if found is not None and found.selector == selector:
            return found
        found = self._tallies[key] = BudgetPods(selector)
        for pod in pods:
            found.put(key_of(pod), pod)
        return found

    def built(self, key: str, selector: LabelSelector) -> bool:
        found = self._tallies.get(key)
        return found is not None and found.selector == selector

    def put(self, keys: Iterable[str], pod: Pod) -> None:
        """Pod ``pod`` was added or changed; ``keys``: the budgets that may select it now or
        selected it before."""
        pkey = key_of(pod)
        for key in keys:
            found = self._tallies.get(key)
            if found is not None:
                found.put(pkey, pod)

    def remove(self, keys: Iterable[str], pod: Pod) -> None:
        pkey = key_of(pod)
        for key in keys:
            found = self._tallies.get(key)
            if found is not None:
                found.remove(pkey)

    def forget(self, key: str) -> None:
        self._tallies.pop(key, None)


__all__ = ["BudgetPods", "BudgetTallies", "contribution"]
