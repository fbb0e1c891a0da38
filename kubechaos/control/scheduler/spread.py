"""PodTopologySpread: ``DoNotSchedule`` constraints as a filter, ``ScheduleAnyway`` as a score.

Upstream's pkg/scheduler/framework/plugins/podtopologyspread (v1.32): common.go (a constraint's
selector with ``matchLabelKeys`` merged; ``nodeAffinityPolicy`` Honor / ``nodeTaintsPolicy``
Ignore by default; nodes count only if they carry every constraint's topology key),
filtering.go (PreFilter: matching pods per domain and the minimum over the eligible domains,
0 when fewer than ``minDomains``; Filter: a node without the key is unresolvable, else
``count + selfMatch - min > maxSkew`` rejects) and scoring.go (PreScore: feasible nodes without
the keys are ignored unless the constraints are the system defaults; each constraint's weight is
``log(domains + 2)``; Score: ``count x weight + maxSkew - 1`` summed and rounded;
NormalizeScore: ``100 x (max + min - s) / max``). Terminating pods do not count. Counts come
from :mod:`.podindex`; only the domain set of a filter whose nodes are restricted by its
policies (or lack some key) walks the node list, as upstream's PreFilter always does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import cast

from kubechaos.api.nodeaffinity import matches_node
from kubechaos.api.objects import Pod, TopologySpreadConstraint
from kubechaos.api.selectors import Requirement
from kubechaos.control.scheduler.framework import NodeInfo, tolerated
from kubechaos.control.scheduler.layout import NodeLayout
from kubechaos.control.scheduler.podindex import (
    Parts,
    PodIndex,
    SelectorKey,
    parts_match,
    selector_parts,
)
from kubechaos.defaults import LABEL_HOSTNAME, LABEL_ZONE, SCHEDULER_MAX_NODE_SCORE

REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
REASON_SPREAD_MISSING_LABEL = f"{REASON_SPREAD} (missing required label)"

NodeLookup = Callable[[str], NodeInfo | None]
Rejection = tuple[tuple[str, ...], bool]
_UNKNOWN = ((), False)  # a verdict not worked out yet (no real verdict is this object)


class Constraint:
    """One constraint as the plugin uses it (selector merged, policies as flags)."""

    __slots__ = (
        "honor_affinity",
        "honor_taints",
        "max_skew",
        "min_domains",
        "parts",
        "selector_key",
        "self_match",
        "topology_key",
    )

    def __init__(
        self,
        pod: Pod,
        key: str,
        max_skew: int,
        parts: Parts | None,
        source: TopologySpreadConstraint | None = None,
    ) -> None:
        self.topology_key = key
        self.max_skew = max_skew
        self.parts = parts  # None: selects no pod
        self.min_domains = source.min_domains if source is not None else None
        self.honor_affinity = source is None or source.node_affinity_policy == "Honor"
        self.honor_taints = source is not None and source.node_taints_policy == "Honor"
        self.self_match = parts is not None and parts_match(parts, pod.metadata.labels)
        # the pod index's key of the selector in the pod's namespace, live pods only: built
        # once per constraint (one per pod template), not per attempt
        self.selector_key: SelectorKey | None = (
            None
            if parts is None
            else (frozenset((pod.metadata.namespace,)), parts[0], parts[1], True)
        )

    @classmethod
    def of(cls, pod: Pod, c: TopologySpreadConstraint) -> Constraint:
        labels = pod.metadata.labels
        extra = tuple(Requirement(k, "In", (labels[k],)) for k in c.match_label_keys if k in labels)
        return cls(pod, c.topology_key, c.max_skew, selector_parts(c.label_selector, extra), c)


def pod_constraints(pod: Pod) -> tuple[tuple[Constraint, ...], tuple[Constraint, ...]]:
    """(DoNotSchedule, ScheduleAnyway) constraints of the pod's own."""
    hard = tuple(
        Constraint.of(pod, c)
        for c in pod.spec.topology_spread
        if c.when_unsatisfiable == "DoNotSchedule"
    )
    soft = tuple(
        Constraint.of(pod, c)
        for c in pod.spec.topology_spread
        if c.when_unsatisfiable == "ScheduleAnyway"
    )
    return hard, soft


class _Counting:
    """Matching pods per domain of each constraint, over the nodes that may count."""

    def __init__(
        self, pod: Pod, constraints: Sequence[Constraint], index: PodIndex, node: NodeLookup,
        require_all: bool, scoring: bool = False,
    ) -> None:  # fmt: skip
        self.pod = pod
        self.constraints = constraints
        self.keys = {c.topology_key for c in constraints}
        self.require_all = require_all
        self.node_counts: list[Mapping[str, int]] = []
        self.domain_counts: list[Mapping[str, int]] = []
        # a pod without nodeSelector/required affinity matches every node: skip that check
        self.affinity = bool(pod.spec.node_selector or pod.spec.node_affinity)
        # every offered node carries every key: requiring them all excludes no node
        self.all_keyed = not require_all or all(
            index.key_nodes.get(k, 0) == len(index.offered) for k in self.keys
        )
        self.restricted = False  # some constraint's inclusion policies may leave nodes out
        for c in constraints:
            counts: Mapping[str, int] = {}
            selector = None if c.selector_key is None else index.selector(c.selector_key)
            if selector is not None:
                counts = selector.nodes
            self.node_counts.append(counts)
            restricts = bool(c.honor_taints or (c.honor_affinity and self.affinity))
            self.restricted = self.restricted or restricts
            domains: Mapping[str, int] = {}
            if scoring and c.topology_key == LABEL_HOSTNAME:
                # Score counts a node's own pods for the hostname key (scoring.go), never its
                # domain's: no per-domain counts to register or copy
                self.domain_counts.append(domains)
                continue
            every = not (require_all or restricts)
            if self.all_keyed and not restricts:
                # every offered node counts: the index's per-domain counts, no node walk (a
                # copy: the attempt's state must not move under a preemption's dry run)
                if selector is not None:
                    domains = dict(index.domain_counts(selector, c.topology_key))
                self.domain_counts.append(domains)
                continue
            domains = {}
            for name, n in counts.items():
                info = node(name)
                if info is None or not (every or self.counts_on(c, info)):
                    continue
                value = info.labels.get(c.topology_key, "")
                domains[value] = domains.get(value, 0) + n
            self.domain_counts.append(domains)

    def counts_on(self, c: Constraint, info: NodeInfo) -> bool:
        """Does ``info`` take part for ``c`` (all keys present; the inclusion policies)?"""
        labels = info.labels
        if self.require_all and not all(k in labels for k in self.keys):
            return False
        if (
            c.honor_affinity
            and self.affinity
            and not matches_node(self.pod.spec, labels, info.name)
        ):
            return False
        return not (
            c.honor_taints
            and any(not tolerated(self.pod.spec.tolerations, t) for t in info.hard_taints)
        )


class SpreadFilter(_Counting):
    """PreFilter's state for the DoNotSchedule constraints, and Filter on a node's labels."""

    def __init__(
        self, pod: Pod, constraints: Sequence[Constraint], index: PodIndex, node: NodeLookup,
        nodes: Callable[[], list[NodeInfo]],
    ) -> None:  # fmt: skip
        super().__init__(pod, constraints, index, node, require_all=True)
        # How many eligible domains each constraint has. Unrestricted (the common case), that is
        # the label index's count of values: no node walk. Matching pods only sit in eligible
        # domains, so a domain without a count holds none and the minimum is 0.
        if self.restricted or not self.all_keyed:
            domain_sets: list[set[str]] = [set() for _ in constraints]
            for info in nodes():
                for i, c in enumerate(constraints):
                    if self.counts_on(c, info):
                        domain_sets[i].add(info.labels[c.topology_key])
            sizes = [len(s) for s in domain_sets]
        else:
            sizes = [len(index.domains.get(c.topology_key, {})) for c in constraints]
        self.min_match: list[float] = []
        for i, c in enumerate(constraints):
            counts = self.domain_counts[i]
            if c.min_domains is not None and sizes[i] < c.min_domains:
                self.min_match.append(0)
            elif not sizes[i]:
                self.min_match.append(math.inf)
            elif len(counts) < sizes[i]:
                self.min_match.append(0)  # some eligible domain holds no matching pod
            else:
                self.min_match.append(min(counts.values()))

        # Filter's verdict depends only on the node's values of the topology keys and on this
        # attempt's counts (frozen above), so with one constraint (the common case) it is
        # worked out once per domain value: a node costs one label lookup and one dict lookup.
        self.key = constraints[0].topology_key if len(constraints) == 1 else None
        self._verdicts: dict[str | None, Rejection | None] = {}

    def reject(self, labels: Mapping[str, str]) -> Rejection | None:
        if self.key is None:
            return self._reject(labels)
        value = labels.get(self.key)
        verdict = self._verdicts.get(value, _UNKNOWN)
        if verdict is _UNKNOWN:
            verdict = self._verdicts[value] = self._reject(labels)
        return verdict

    def domain_verdict(self, value: str | None) -> Rejection | None:
        """With one constraint: the verdict on every node whose value of :attr:`key` is
        ``value`` (None: nodes without the key), worked out once per value and attempt."""
        verdict = self._verdicts.get(value, _UNKNOWN)
        if verdict is _UNKNOWN:
            assert self.key is not None
            labels = {} if value is None else {self.key: value}
            verdict = self._verdicts[value] = self._reject(labels)
        return verdict

    def node_filter(self) -> Callable[[NodeInfo], Rejection | None]:
        """Filter on a NodeInfo, the scheduler's per-node hook: :meth:`reject` of its labels,
        with the one-constraint memo inlined (one call per node, the hot path)."""
        key, verdicts, compute = self.key, self._verdicts, self._reject
        if key is None:
            return lambda info: compute(info.labels)

        def by_value(info: NodeInfo) -> Rejection | None:
            labels = info.labels
            value = labels.get(key)
            verdict = verdicts.get(value, _UNKNOWN)
            if verdict is _UNKNOWN:
                verdict = verdicts[value] = compute(labels)
            return verdict

        return by_value

    def _reject(self, labels: Mapping[str, str]) -> Rejection | None:
        for i, c in enumerate(self.constraints):
            value = labels.get(c.topology_key)
            if value is None:
                return ((REASON_SPREAD_MISSING_LABEL,), False)
            skew = self.domain_counts[i].get(value, 0) + c.self_match - self.min_match[i]
            if skew > c.max_skew:
                return ((REASON_SPREAD,), True)
        return None


def spread_scores(
    pod: Pod,
    constraints: Sequence[Constraint],
    system_default: bool,
    feasible: Sequence[NodeInfo],
    index: PodIndex,
    node: NodeLookup,
    weight: int = 1,
    layout: NodeLayout | None = None,
) -> list[int]:
    """PreScore + Score + NormalizeScore of the ScheduleAnyway (or system default) constraints,
    each node's score times ``weight`` (the plugin's weight in the profile).

    A node's score is a function of its *key*: per constraint its own matching pods for the
    hostname key, else its value of the topology key (None without the key). So per node only
    the key is built (:func:`_node_keys`); the counts, the Score (:func:`_raw_score`, the same
    float operations in the same order: bit-identical), NormalizeScore and the weight are worked
    out once per distinct key, and the per-node list is one mapping at C speed."""
    counting = _Counting(
        pod, constraints, index, node, require_all=not system_default, scoring=True
    )
    # Nodes without every key are ignored, except under the system default constraints; when
    # none is (the common case: every offered node carries every key), no per-node mask.
    ignored: list[bool] | None = None
    keys = counting.keys
    if not counting.all_keyed:  # (the system defaults require no key: always all_keyed)
        mask = [not all(k in info.labels for k in keys) for info in feasible]
        if any(mask):
            ignored = mask
    node_keys = _node_keys(constraints, counting, feasible, index, layout)
    kept = (
        node_keys
        if ignored is None
        else [k for k, i in zip(node_keys, ignored, strict=True) if not i]
    )
    distinct = {k: k if isinstance(k, tuple) else (0, k) for k in set(kept)}
    weights = []
    for i, c in enumerate(constraints):
        if c.topology_key == LABEL_HOSTNAME:
            size = len(kept)
        else:  # the domains among the kept nodes (a node without the key: domain "")
            size = len({"" if k[i] is None else k[i] for k in distinct.values()})
        weights.append(math.log(size + 2))
    raw = _raw_by_key(constraints, counting, weights, distinct)
    low, high = (min(raw.values()), max(raw.values())) if raw else (0, 0)
    top = SCHEDULER_MAX_NODE_SCORE
    final = {
        k: weight * (top if high == 0 else top * (high + low - s) // high) for k, s in raw.items()
    }
    if ignored is None:
        return list(map(final.__getitem__, node_keys))
    return [0 if i else final[k] for k, i in zip(node_keys, ignored, strict=True)]


# per constraint: matching pods on the node (hostname key) or its domain value, None without
# the key; in the system default's short form a bare value stands for (0, value)
NodeKey = tuple[int | str | None, ...] | str | None
Counts = tuple[int | None, ...]


def _node_keys(
    constraints: Sequence[Constraint],
    counting: _Counting,
    feasible: Sequence[NodeInfo],
    index: PodIndex,
    layout: NodeLayout | None = None,
) -> list[NodeKey]:
    """Each node's key (see :func:`spread_scores`), in ``feasible``'s order. The system
    default's pair (hostname, then a domain key) on nodes that all carry the hostname label
    gets the loop with the fewest operations per node, or none (:func:`_zone_run_keys`)."""
    lookups = [
        (c.topology_key, c.topology_key == LABEL_HOSTNAME, counting.node_counts[i])
        for i, c in enumerate(constraints)
    ]
    if len(lookups) == 2 and lookups[0][1] and not lookups[1][1]:
        (key0, _, nodes0), (key1, _, _) = lookups
        if index.key_nodes.get(key0, 0) == len(index.offered):
            # short keys: the node's domain value alone when no matching pod is on it (most
            # nodes; a str, whose hash Python keeps), else (its matching pods, domain value)
            get0 = nodes0.get
            if key1 == LABEL_ZONE:
                if layout is not None and isinstance(feasible, list):
                    keys = _zone_run_keys(feasible, nodes0, layout)
                    if keys is not None:
                        return keys
                return [
                    info.zone if (n := get0(info.name)) is None else (n, info.zone)
                    for info in feasible
                ]
            return [
                info.labels.get(key1)
                if (n := get0(info.name)) is None
                else (n, info.labels.get(key1))
                for info in feasible
            ]
    out: list[NodeKey] = []
    for info in feasible:
        labels = info.labels
        found: list[int | str | None] = []
        for key, by_node, node_counts in lookups:
            value = labels.get(key)
            if value is None or not by_node:
                found.append(value)
            else:
                found.append(node_counts.get(info.name, 0))
        out.append(tuple(found))
    return out


def _zone_run_keys(
    feasible: list[NodeInfo], nodes0: Mapping[str, int], layout: NodeLayout
) -> list[NodeKey] | None:
    """The short keys of the system default pair (hostname, zone) with no work per feasible
    node: when ``feasible`` is a run of the layout's nodes (the common Filter result) their
    zones are one slice, and only the nodes holding matching pods (``nodes0``, when they are
    fewer than half the feasible ones) get their ``(count, zone)`` key put in. Exactly the
    keys of the per-node comprehension in :func:`_node_keys`; None when this does not apply."""
    size = len(feasible)
    if 2 * len(nodes0) >= size:
        return None
    begin = layout.run_of(feasible)
    if begin is None:
        return None
    zones = layout.zones_twice()[begin : begin + size]
    keys = cast(list[NodeKey], zones)  # filled in place: a str (or None) is a NodeKey
    total = len(layout.nodes)
    by_name = layout.by_name()
    for name, count in nodes0.items():
        info = by_name.get(name)
        if info is not None:
            at = (info.position - begin) % total
            if at < size:
                keys[at] = (count, zones[at])
    return keys


def _raw_by_key(
    constraints: Sequence[Constraint],
    counting: _Counting,
    weights: list[float],
    distinct: dict[NodeKey, tuple[int | str | None, ...]],
) -> dict[NodeKey, int]:
    """Score per distinct key (given with its long form): ``count x weight + maxSkew - 1``
    over the constraints whose key the node has, rounded; once per distinct tuple of counts."""
    memo: dict[Counts, int] = {}
    raw: dict[NodeKey, int] = {}
    for key, parts in distinct.items():
        found: list[int | None] = []
        for i, part in enumerate(parts):
            if part is None or isinstance(part, int):
                found.append(part)  # no key, or the hostname key's count (labels are str)
            else:
                found.append(counting.domain_counts[i].get(part, 0))
        counts: Counts = tuple(found)
        score = memo.get(counts)
        if score is None:
            score = memo[counts] = _raw_score(counts, constraints, weights)
        raw[key] = score
    return raw


def _raw_score(counts: Counts, constraints: Sequence[Constraint], weights: list[float]) -> int:
    """One node's Score from its counts (see :func:`_raw_by_key`)."""
    score = 0.0
    for i, c in enumerate(constraints):
        count = counts[i]
        if count is None:
            continue
        score += count * weights[i] + (c.max_skew - 1)
    return math.floor(score + 0.5)  # Go's math.Round (half away from zero)


__all__ = [
    "REASON_SPREAD",
    "REASON_SPREAD_MISSING_LABEL",
    "Constraint",
    "SpreadFilter",
    "pod_constraints",
    "spread_scores",
]
