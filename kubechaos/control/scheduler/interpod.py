"""InterPodAffinity: required pod (anti-)affinity as a filter, preferred terms as a score.

Upstream's pkg/scheduler/framework/plugins/interpodaffinity (v1.32): filtering.go (PreFilter's
three topology-pair counts, then Filter: the incoming pod's required affinity, its required
anti-affinity, then the existing pods' required anti-affinity against it) and scoring.go
(PreScore's per-topology-pair score from the incoming pod's preferred terms and the existing
pods' required affinity (hardPodAffinityWeight) and preferred terms; Score sums the node's pairs;
NormalizeScore maps min..max to 0..100). The counts come from :mod:`.podindex` rather than
from walking every node's pods.

A term's namespaces are ``namespaces`` plus those whose labels match ``namespaceSelector``
(an empty selector: all), or the pod's own when neither is set (GetNamespacesFromPodAffinityTerm);
its selector has the pod's ``matchLabelKeys``/``mismatchLabelKeys`` merged in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubechaos.api.objects import Pod, PodAffinityTerm
from kubechaos.control.scheduler.podindex import (
    PREFERRED_AFFINITY,
    PREFERRED_ANTI,
    REQUIRED_AFFINITY,
    REQUIRED_ANTI,
    HeldTerm,
    Parts,
    PodIndex,
    SelectorKey,
    label_key_requirements,
    parts_match,
    selector_parts,
)
from kubechaos.defaults import SCHEDULER_HARD_POD_AFFINITY_WEIGHT, SCHEDULER_MAX_NODE_SCORE

# Upstream's reasons (interpodaffinity/filtering.go).
REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"

NodeLabels = Callable[[str], Mapping[str, str] | None]  # an offered node's labels, else None
Pair = tuple[str, str]


class Term:
    """One of the incoming pod's terms, its selector merged with the pod's label keys."""

    __slots__ = ("namespace", "namespace_selector", "namespaces", "parts", "topology_key", "weight")

    def __init__(self, pod: Pod, term: PodAffinityTerm, weight: int = 1) -> None:
        self.topology_key = term.topology_key
        self.namespace = pod.metadata.namespace
        self.namespaces = frozenset(term.namespaces)
        self.namespace_selector = selector_parts(term.namespace_selector)
        self.parts = selector_parts(
            term.label_selector, label_key_requirements(term, pod.metadata.labels)
        )
        self.weight = weight


class PodTerms:
    """The incoming pod's four kinds of terms, read once per pod version."""

    __slots__ = ("preferred_affinity", "preferred_anti", "required_affinity", "required_anti")

    def __init__(self, pod: Pod) -> None:
        spec = pod.spec
        self.required_affinity = tuple(Term(pod, t) for t in spec.pod_affinity.required)
        self.required_anti = tuple(Term(pod, t) for t in spec.pod_anti_affinity.required)
        self.preferred_affinity = tuple(
            Term(pod, w.term, w.weight) for w in spec.pod_affinity.preferred
        )
        self.preferred_anti = tuple(
            Term(pod, w.term, w.weight) for w in spec.pod_anti_affinity.preferred
        )

    @property
    def required(self) -> bool:
        return bool(self.required_affinity or self.required_anti)

    @property
    def preferred(self) -> bool:
        return bool(self.preferred_affinity or self.preferred_anti)


class NamespaceView:
    """Namespace labels, for namespaceSelector (upstream's namespace lister)."""

    def __init__(self, labels_of: Callable[[], Mapping[str, Mapping[str, str]]]) -> None:
        self._labels_of = labels_of

    def labels(self, namespace: str) -> Mapping[str, str]:
        return self._labels_of().get(namespace, {})

    def resolve(
        self, own: str, namespaces: frozenset[str], selector: Parts | None
    ) -> frozenset[str] | None:
        """The term's namespaces; None means every namespace (an empty namespaceSelector)."""
        if selector is None:
            return namespaces or frozenset((own,))
        if not selector[0] and not selector[1]:
            return None
        chosen = {ns for ns, labels in self._labels_of().items() if parts_match(selector, labels)}
        return frozenset(chosen | namespaces)

    def held_matches(self, held: HeldTerm, pod: Pod) -> bool:
        """Does an existing pod's term select the incoming ``pod``?"""
        if held.parts is None or not parts_match(held.parts, pod.metadata.labels):
            return False
        ns = pod.metadata.namespace
        if held.namespace_selector is None:
            return ns in (held.namespaces or (held.namespace,))
        if ns in held.namespaces:
            return True
        return parts_match(held.namespace_selector, self.labels(ns))


def _key(namespaces: frozenset[str] | None, parts: Parts) -> SelectorKey:
    return namespaces, parts[0], parts[1], False


def _domain_counts(counts: Mapping[str, int], key: str, node_labels: NodeLabels) -> dict[str, int]:
    out: dict[str, int] = {}
    for node, n in counts.items():
        labels = node_labels(node)
        if labels is not None and key in labels:
            value = labels[key]
            out[value] = out.get(value, 0) + n
    return out


class InterPodFilter:
    """PreFilter's state for one attempt, and Filter on a node's labels."""

    def __init__(
        self, pod: Pod, terms: PodTerms, index: PodIndex, ns: NamespaceView, node_labels: NodeLabels
    ) -> None:
        self.terms = terms
        # existing pods' required anti-affinity terms that select this pod: the domains they ban
        self.banned: dict[str, set[str]] = {}
        for held in index.held_by_kind[REQUIRED_ANTI].values():
            if ns.held_matches(held, pod):
                domains = _domain_counts(held.nodes, held.topology_key, node_labels)
                self.banned.setdefault(held.topology_key, set()).update(domains)
        # pods matching ALL required affinity terms, per term's domain (affinityCounts)
        self.affinity: list[tuple[str, dict[str, int]]] = []
        self.first_of_group = False
        if terms.required_affinity:
            counts = self._all_terms_counts(pod, index, ns)
            self.affinity = [
                (t.topology_key, _domain_counts(counts, t.topology_key, node_labels))
                for t in terms.required_affinity
            ]
            self.first_of_group = not any(d for _, d in self.affinity) and self._self_affine(
                pod, ns
            )
        # pods matching each required anti-affinity term, per its domain (antiAffinityCounts)
        self.anti: list[tuple[str, dict[str, int]]] = []
        for t in terms.required_anti:
            if t.parts is None:
                continue
            namespaces = ns.resolve(t.namespace, t.namespaces, t.namespace_selector)
            counts = index.counts(_key(namespaces, t.parts))
            self.anti.append((t.topology_key, _domain_counts(counts, t.topology_key, node_labels)))

    def _all_terms_counts(self, pod: Pod, index: PodIndex, ns: NamespaceView) -> Mapping[str, int]:
        namespaces: frozenset[str] | None = None
        pairs: list[tuple[str, str]] = []
        exprs: list = []
        for t in self.terms.required_affinity:
            if t.parts is None:
                return {}
            resolved = ns.resolve(t.namespace, t.namespaces, t.namespace_selector)
            if resolved is not None:
                namespaces = resolved if namespaces is None else namespaces & resolved
            pairs.extend(t.parts[0])
            exprs.extend(t.parts[1])
        return index.counts(_key(namespaces, (tuple(sorted(set(pairs))), tuple(exprs))))

    def _self_affine(self, pod: Pod, ns: NamespaceView) -> bool:
        """podMatchesAllAffinityTerms: the pod itself matches every required affinity term."""
        own = pod.metadata.namespace
        for t in self.terms.required_affinity:
            if t.parts is None or not parts_match(t.parts, pod.metadata.labels):
                return False
            namespaces = ns.resolve(t.namespace, t.namespaces, t.namespace_selector)
            if namespaces is not None and own not in namespaces:
                return False
        return True

    @property
    def active(self) -> bool:
        return bool(self.banned or self.terms.required)

    def reject(self, labels: Mapping[str, str]) -> tuple[tuple[str, ...], bool] | None:
        """Filter: affinity (unresolvable), anti-affinity, existing pods' anti-affinity."""
        if self.affinity:
            exist = True
            for key, domains in self.affinity:
                value = labels.get(key)
                if value is None:
                    return ((REASON_AFFINITY,), False)
                if domains.get(value, 0) <= 0:
                    exist = False
            if not exist and not self.first_of_group:
                return ((REASON_AFFINITY,), False)
        for key, domains in self.anti:
            value = labels.get(key)
            if value is not None and domains.get(value, 0) > 0:
                return ((REASON_ANTI_AFFINITY,), True)
        for key, values in self.banned.items():
            if labels.get(key) in values:
                return ((REASON_EXISTING_ANTI_AFFINITY,), True)
        return None


def topology_scores(
    pod: Pod, terms: PodTerms, index: PodIndex, ns: NamespaceView, node_labels: NodeLabels
) -> dict[str, dict[str, int]]:
    """PreScore: topology key -> value -> summed weights (empty: the plugin skips scoring)."""
    scores: dict[str, dict[str, int]] = {}

    def add(key: str, counts: Mapping[str, int], weight: int) -> None:
        for value, n in _domain_counts(counts, key, node_labels).items():
            domain = scores.setdefault(key, {})
            domain[value] = domain.get(value, 0) + weight * n

    for sign, own in ((1, terms.preferred_affinity), (-1, terms.preferred_anti)):
        for t in own:
            if t.parts is not None:
                namespaces = ns.resolve(t.namespace, t.namespaces, t.namespace_selector)
                add(t.topology_key, index.counts(_key(namespaces, t.parts)), sign * t.weight)
    for kind, sign in ((REQUIRED_AFFINITY, 1), (PREFERRED_AFFINITY, 1), (PREFERRED_ANTI, -1)):
        for held in index.held_by_kind[kind].values():
            if ns.held_matches(held, pod):
                weight = (
                    SCHEDULER_HARD_POD_AFFINITY_WEIGHT if kind == REQUIRED_AFFINITY else held.weight
                )
                add(held.topology_key, held.nodes, sign * weight)
    return scores


def normalized_scores(
    scores: dict[str, dict[str, int]], labels: list[Mapping[str, str]]
) -> list[int]:
    """Score each node (the sum of its pairs' scores) and NormalizeScore to 0..100."""
    raw = []
    for node_labels in labels:
        total = 0
        for key, values in scores.items():
            value = node_labels.get(key)
            if value is not None:
                total += values.get(value, 0)
        raw.append(total)
    low, high = min(raw), max(raw)
    if high == low:
        return [0] * len(raw)
    return [int(SCHEDULER_MAX_NODE_SCORE * ((s - low) / (high - low))) for s in raw]


__all__ = [
    "REASON_AFFINITY",
    "REASON_ANTI_AFFINITY",
    "REASON_EXISTING_ANTI_AFFINITY",
    "InterPodFilter",
    "NamespaceView",
    "PodTerms",
    "normalized_scores",
    "topology_scores",
]
