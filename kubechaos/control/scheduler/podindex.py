"""Counts of placed pods that the pod-constraint plugins ask for, kept incrementally.

InterPodAffinity and PodTopologySpread (pkg/scheduler/framework/plugins/interpodaffinity and
podtopologyspread) both ask "how many pods matching this (namespaces, label selector) run on
each node / in each topology domain?", and InterPodAffinity also "which placed pods carry
(anti-)affinity terms, and where?". Upstream answers by walking every node's pods in PreFilter
and PreScore; the model keeps the answers up to date instead:

* a **selector** is registered the first time a pending pod needs it (one scan of the pods that
  carry its first matchLabels pair, or of its namespaces' pods when it has none, once); from then
  on each pod placed or unplaced adjusts the per-node counts of the registered selectors filed
  under one of its label pairs (or under none): a Deployment's pod event looks at its own
  Deployment's selector, not at every Deployment's of the namespace;
* the (anti-)affinity **terms held by placed pods** are grouped by identical term (a Deployment's
  replicas share one), each with its per-node holder counts;
* the **domains** of every node label key (value -> offered nodes carrying it);
* for a registered selector and a topology key a constraint asked about, the matching pods **per
  domain** (``labels.get(key, "")`` of the offered node each sits on), adjusted with the per-node
  counts and on each offered node's label change: what PodTopologySpread's PreFilter sums over
  every node (filtering.go calPreFilterState), kept instead of rebuilt per attempt.

A scheduling attempt then costs O(constraints x domains) when no policy restricts the nodes that
count, else O(constraints x nodes holding matching pods); never O(all pods).
Separate from the cache because it is the constraint plugins' bookkeeping; the cache feeds it
from its place/unplace and node events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubechaos.api.objects import Pod, PodAffinityTerm
from kubechaos.api.selectors import LabelSelector, Requirement

# A selector in hashable form: (namespaces or None for all, matchLabels pairs, expressions,
# live_only). live_only: terminating pods do not count (PodTopologySpread skips them).
SelectorKey = tuple[
    frozenset[str] | None, tuple[tuple[str, str], ...], tuple[Requirement, ...], bool
]
Parts = tuple[tuple[tuple[str, str], ...], tuple[Requirement, ...]]
# (kind, holder namespace, topologyKey, namespaces, namespaceSelector parts, weight, parts)
HeldKey = tuple[int, str, str, frozenset[str], Parts | None, int, Parts | None]

# Kinds of terms a placed pod can hold, as InterPodAffinity's scoring and filtering read them.
REQUIRED_ANTI, REQUIRED_AFFINITY, PREFERRED_AFFINITY, PREFERRED_ANTI = range(4)


def selector_parts(
    selector: LabelSelector | None, extra: tuple[Requirement, ...] = ()
) -> Parts | None:
    """(matchLabels pairs, expressions) of a selector; None for a missing one (matches nothing)."""
    if selector is None:
        return None
    return tuple(sorted(selector.match_labels.items())), (*selector.match_expressions, *extra)


def parts_match(parts: Parts, labels: Mapping[str, str]) -> bool:
    pairs, exprs = parts
    for key, value in pairs:
        if labels.get(key) != value:
            return False
    return all(req.matches(labels) for req in exprs)


def label_key_requirements(
    term: PodAffinityTerm, labels: Mapping[str, str]
) -> tuple[Requirement, ...]:
    """matchLabelKeys / mismatchLabelKeys as the API server merges them into the selector at pod
    creation (MatchLabelKeysInPodAffinity, beta and on by default in v1.32): ``key In (value)`` /
    ``key NotIn (value)`` for each key the pod carries."""
    out = [Requirement(k, "In", (labels[k],)) for k in term.match_label_keys if k in labels]
    out += [Requirement(k, "NotIn", (labels[k],)) for k in term.mismatch_label_keys if k in labels]
    return tuple(out)


class Counted:
    """One registered selector and the number of matching placed pods on each node."""

    __slots__ = ("domains", "exprs", "live_only", "namespaces", "nodes", "pairs")

    def __init__(self, key: SelectorKey) -> None:
        self.namespaces, self.pairs, self.exprs, self.live_only = key
        self.nodes: dict[str, int] = {}
        # topology key -> domain value -> matching pods on the offered nodes of that value
        self.domains: dict[str, dict[str, int]] = {}

    def matches(self, entry: IndexedPod) -> bool:
        if self.live_only and entry.terminating:
            return False
        if self.namespaces is not None and entry.namespace not in self.namespaces:
            return False
        return parts_match((self.pairs, self.exprs), entry.labels)


class HeldTerm:
    """An (anti-)affinity term carried by placed pods, and how many of them sit on each node.

    ``parts`` is the term's selector with the holder's matchLabelKeys merged (None: matches no
    pod); ``namespaces`` and ``namespace_selector`` (selector parts, or None) as in the term,
    ``namespace`` the holder's own."""

    __slots__ = (
        "kind",
        "namespace",
        "namespace_selector",
        "namespaces",
        "nodes",
        "parts",
        "topology_key",
        "weight",
    )

    def __init__(self, key: HeldKey) -> None:
        (
            self.kind,
            self.namespace,
            self.topology_key,
            self.namespaces,
            self.namespace_selector,
            self.weight,
            self.parts,
        ) = key
        self.nodes: dict[str, int] = {}


class IndexedPod:
    """What the index remembers of one placed pod."""

    __slots__ = ("held", "labels", "namespace", "node", "terminating")

    def __init__(self, pod: Pod, node: str) -> None:
        self.namespace = pod.metadata.namespace
        self.labels = pod.metadata.labels
        self.node = node
        self.terminating = pod.metadata.deletion_timestamp is not None
        self.held = _held_keys(pod)


def _held_key(kind: int, pod: Pod, term: PodAffinityTerm, weight: int) -> HeldKey:
    labels = pod.metadata.labels
    return (
        kind,
        pod.metadata.namespace,
        term.topology_key,
        frozenset(term.namespaces),
        selector_parts(term.namespace_selector),
        weight,
        selector_parts(term.label_selector, label_key_requirements(term, labels)),
    )


def _held_keys(pod: Pod) -> tuple[HeldKey, ...]:
    spec = pod.spec
    if not spec.pod_affinity and not spec.pod_anti_affinity:
        return ()
    keys = [_held_key(REQUIRED_AFFINITY, pod, t, 1) for t in spec.pod_affinity.required]
    keys += [_held_key(REQUIRED_ANTI, pod, t, 1) for t in spec.pod_anti_affinity.required]
    keys += [
        _held_key(PREFERRED_AFFINITY, pod, w.term, w.weight) for w in spec.pod_affinity.preferred
    ]
    keys += [
        _held_key(PREFERRED_ANTI, pod, w.term, w.weight) for w in spec.pod_anti_affinity.preferred
    ]
    return tuple(keys)


class PodIndex:
    """Per-node counts of registered selectors, held terms, and node label domains."""

    def __init__(self) -> None:
        self._pods: dict[str, IndexedPod] = {}
        self._by_ns: dict[str, dict[str, IndexedPod]] = {}
        self._selectors: dict[SelectorKey, Counted] = {}
        # registered selectors filed under their first matchLabels pair (a pod event looks up
        # only those its own labels name), or under None when they have no pair
        self._selectors_by_ns: dict[str, dict[tuple[str, str] | None, list[Counted]]] = {}
        self._selectors_all_ns: dict[tuple[str, str] | None, list[Counted]] = {}
        self._by_pair: dict[tuple[str, str], dict[str, IndexedPod]] = {}  # placed pods by label
        self._held: dict[HeldKey, HeldTerm] = {}
        self.held_by_kind: tuple[dict[HeldKey, HeldTerm], ...] = ({}, {}, {}, {})
        self.domains: dict[str, dict[str, int]] = {}  # label key -> value -> offered nodes
        self.key_nodes: dict[str, int] = {}  # label key -> offered nodes carrying it
        self.offered: dict[str, Mapping[str, str]] = {}  # offered node -> its labels
        self._with_domains: list[Counted] = []  # selectors with per-domain counts
        self.visited = 0  # pods visited while registering selectors (the work counter tests read)
        self.domain_visits = 0  # nodes visited while registering per-domain counts (ditto)
        self.on_change: Callable[[IndexedPod], None] | None = None  # a pod placed or unplaced

    # ------------------------------------------------------------------ queries
    def selector(self, key: SelectorKey) -> Counted:
        """The selector ``key`` with its counts, registered if new (one lookup of the key for
        both its per-node and per-domain counts: hashing a key hashes every expression)."""
        counted = self._selectors.get(key)
        if counted is None:
            counted = self._register(key)
        return counted

    def counts(self, key: SelectorKey) -> dict[str, int]:
        """Matching placed pods per node (only nodes with some), registering ``key`` if new."""
        return self.selector(key).nodes

    def domain_counts(self, counted: Counted, topology_key: str) -> dict[str, int]:
        """The selector's matching placed pods per domain of ``topology_key`` over the offered
        nodes (a node without the key is domain ""; only domains with some), registered on
        first use: one walk of the nodes holding matching pods, then kept up to date per
        event."""
        domains = counted.domains.get(topology_key)
        if domains is None:
            if not counted.domains:
                self._with_domains.append(counted)
            domains = counted.domains[topology_key] = {}
            self.domain_visits += len(counted.nodes)
            for node, n in counted.nodes.items():
                labels = self.offered.get(node)
                if labels is not None:
                    value = labels.get(topology_key, "")
                    domains[value] = domains.get(value, 0) + n
        return domains

    @property
    def has_required_anti(self) -> bool:
        return bool(self.held_by_kind[REQUIRED_ANTI])

    @property
    def has_held_terms(self) -> bool:
        return bool(self._held)

    # ------------------------------------------------------------------ pods
    def add(self, key: str, pod: Pod, node: str) -> None:
        entry = IndexedPod(pod, node)
        self._pods[key] = entry
        self._by_ns.setdefault(entry.namespace, {})[key] = entry
        for pair in entry.labels.items():
            self._by_pair.setdefault(pair, {})[key] = entry
        self._count(entry, 1)
        if self.on_change is not None:
            self.on_change(entry)

    def remove(self, key: str) -> None:
        entry = self._pods.pop(key, None)
        if entry is None:
            return
        ns_pods = self._by_ns[entry.namespace]
        del ns_pods[key]
        if not ns_pods:
            del self._by_ns[entry.namespace]
        for pair in entry.labels.items():
            with_pair = self._by_pair[pair]
            del with_pair[key]
            if not with_pair:
                del self._by_pair[pair]
        self._count(entry, -1)
        if self.on_change is not None:
            self.on_change(entry)

    def update(self, key: str, pod: Pod) -> None:
        """A placed pod's new version: re-count it if its labels or terminating state changed."""
        entry = self._pods.get(key)
        if entry is None:
            return
        terminating = pod.metadata.deletion_timestamp is not None
        if entry.labels != pod.metadata.labels or entry.terminating != terminating:
            self.remove(key)
            self.add(key, pod, entry.node)

    def _count(self, entry: IndexedPod, delta: int) -> None:
        node = entry.node
        for counted in self._candidates(entry):
            if counted.matches(entry):
                _bump(counted.nodes, node, delta)
                if counted.domains and (labels := self.offered.get(node)) is not None:
                    for topology_key, domains in counted.domains.items():
                        _bump(domains, labels.get(topology_key, ""), delta)
        for held_key in entry.held:
            held = self._held.get(held_key)
            if held is None:
                held = self._held[held_key] = HeldTerm(held_key)
                self.held_by_kind[held.kind][held_key] = held
            _bump(held.nodes, node, delta)
            if not held.nodes:
                del self._held[held_key]
                del self.held_by_kind[held.kind][held_key]

    def _candidates(self, entry: IndexedPod) -> list[Counted]:
        """The registered selectors that may match ``entry``: those filed under one of its
        label pairs or under no pair, in its namespace or in all namespaces."""
        found: list[Counted] = []
        for filed in (self._selectors_by_ns.get(entry.namespace), self._selectors_all_ns):
            if filed:
                found += filed.get(None, ())
                for pair in entry.labels.items():
                    found += filed.get(pair, ())
        return found

    def _register(self, key: SelectorKey) -> Counted:
        counted = self._selectors[key] = Counted(key)
        namespaces = counted.namespaces
        pivot = _pivot(counted)
        if namespaces is None:
            self._selectors_all_ns.setdefault(pivot, []).append(counted)
            pods = list((self._pods if pivot is None else self._by_pair.get(pivot, {})).values())
        elif pivot is not None:  # the pods carrying its first pair, in placement order
            for ns in namespaces:
                self._selectors_by_ns.setdefault(ns, {}).setdefault(pivot, []).append(counted)
            with_pair = self._by_pair.get(pivot, {}).values()
            pods = [entry for entry in with_pair if entry.namespace in namespaces]
        else:
            pods = []
            for ns in namespaces:
                self._selectors_by_ns.setdefault(ns, {}).setdefault(None, []).append(counted)
                pods.extend(self._by_ns.get(ns, {}).values())
        self.visited += len(pods)
        for entry in pods:
            if counted.matches(entry):
                _bump(counted.nodes, entry.node, 1)
        return counted

    # ------------------------------------------------------------------ nodes
    def node_labels(self, old: Mapping[str, str], new: Mapping[str, str]) -> None:
        """An offered node's labels went from ``old`` to ``new`` (empty: added / removed)."""
        for key, value in old.items():
            if new.get(key) != value:
                values = self.domains[key]
                _bump(values, value, -1)
                if not values:
                    del self.domains[key]
                _bump(self.key_nodes, key, -1)
        for key, value in new.items():
            if old.get(key) != value:
                _bump(self.domains.setdefault(key, {}), value, 1)
                _bump(self.key_nodes, key, 1)

    def node_offered(
        self, name: str, old: Mapping[str, str] | None, new: Mapping[str, str] | None
    ) -> None:
        """Node ``name`` was offered with ``old`` labels (None: was not offered), now ``new``
        (None: no longer): its matching pods leave their old domains for the new ones.
        O(selectors with per-domain counts)."""
        if new is not None:
            self.offered[name] = new
        else:
            self.offered.pop(name, None)
        for counted in self._with_domains:
            n = counted.nodes.get(name)
            if not n:
                continue
            for topology_key, domains in counted.domains.items():
                if old is not None:
                    _bump(domains, old.get(topology_key, ""), -n)
                if new is not None:
                    _bump(domains, new.get(topology_key, ""), n)


def _pivot(counted: Counted) -> tuple[str, str] | None:
    """The label pair every pod the selector matches carries, to file it under: its first
    matchLabels pair, else the first ``key In (value)`` expression of one value (how the system
    default spread's selector holds a ReplicaSet's matchLabels, placement._default_selector),
    else None (filed under no pair: tried against every pod of its namespaces)."""
    if counted.pairs:
        return counted.pairs[0]
    for req in counted.exprs:
        if req.operator == "In" and len(req.values) == 1:
            return req.key, req.values[0]
    return None


def _bump(counts: dict[str, int], key: str, delta: int) -> None:
    count = counts.get(key, 0) + delta
    if count:
        counts[key] = count
    else:
        del counts[key]


__all__ = [
    "PREFERRED_AFFINITY",
    "PREFERRED_ANTI",
    "REQUIRED_AFFINITY",
    "REQUIRED_ANTI",
    "Counted",
    "HeldKey",
    "HeldTerm",
    "IndexedPod",
    "Parts",
    "PodIndex",
    "SelectorKey",
    "label_key_requirements",
    "parts_match",
    "selector_parts",
]
