"""The pod-constraint plugins wired into the scheduler: InterPodAffinity and PodTopologySpread.

Holds what they share: the :class:`~.podindex.PodIndex` (fed by the cache), informers on
namespaces (namespaceSelector) and on Services, ReplicaSets and StatefulSets (the system default
spread's selector, upstream's helper.DefaultSelector in pkg/scheduler/framework/plugins/helper/
spread.go), and the per-attempt state (:class:`Cycle`) the filter and score hooks of
:mod:`.plugins` call. A pod that has no constraints of its own, in a cluster where no placed pod
holds (anti-)affinity terms and with no owner or Service to spread by, gets no Cycle: it costs
nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from typing import Any

from kubechaos.api.objects import Namespace, Pod, ReplicaSet, Service, StatefulSet
from kubechaos.api.selectors import Requirement
from kubechaos.client.context import Context
from kubechaos.client.informer import Handler, Informer
from kubechaos.control.scheduler.framework import NodeInfo, PodView
from kubechaos.control.scheduler.interpod import (
    InterPodFilter,
    NamespaceView,
    PodTerms,
    normalized_scores,
    topology_scores,
)
from kubechaos.control.scheduler.layout import NodeLayout
from kubechaos.control.scheduler.podindex import IndexedPod, Parts, PodIndex, parts_match
from kubechaos.control.scheduler.spread import (
    Constraint,
    SpreadFilter,
    pod_constraints,
    spread_scores,
)
from kubechaos.control.scheduler.templates import TemplateMemo
from kubechaos.defaults import (
    SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS,
    SCHEDULER_WEIGHT_INTER_POD_AFFINITY,
    SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD,
)

Rejection = tuple[tuple[str, ...], bool]


class PodPlacement:
    """A pending pod's own constraints, read once per pod version (PodView.placement)."""

    __slots__ = ("default_parts", "default_version", "defaults", "hard", "soft", "terms")

    def __init__(self, pod: Pod) -> None:
        self.terms = PodTerms(pod)
        self.hard, self.soft = pod_constraints(pod)
        self.default_parts: Parts | None = None
        self.default_version = -1
        self.defaults: tuple[Constraint, ...] = ()  # the system default ones, with those parts

    @property
    def own_spread(self) -> bool:
        return bool(self.hard or self.soft)


class Cycle:
    """One scheduling attempt's PreFilter/PreScore state for both plugins."""

    def __init__(self, plugins: PlacementPlugins, view: PodView, placement: PodPlacement) -> None:
        pod = view.pod
        self.pod = pod
        self.plugins = plugins
        self.placement = placement
        index, node = plugins.index, plugins.node
        self.spread = (
            SpreadFilter(pod, placement.hard, index, node, plugins.nodes)
            if placement.hard
            else None
        )
        self.affinity: InterPodFilter | None = None
        if placement.terms.required or index.has_required_anti:
            self.affinity = InterPodFilter(
                pod, placement.terms, index, plugins.namespaces, plugins.node_labels
            )
            if not self.affinity.active:
                self.affinity = None
        self.filters = self.spread is not None or self.affinity is not None
        self.domain_filter: tuple[str, Callable[[str | None], Rejection | None]] | None = None
        if self.affinity is None and self.spread is not None and self.spread.key is not None:
            self.domain_filter = (self.spread.key, self.spread.domain_verdict)

    @cached_property
    def node_filter(self) -> Callable[[NodeInfo], Rejection | None]:
        """The per-node hook of the scheduler's full filter loop: with one plugin active, that
        plugin's own Filter on the node's labels (no dispatch through filter() per node). Built
        when first read: the common attempt takes the fast path (``domain_filter``, or no
        pod-constraint filter) and never reads it."""
        if self.affinity is None and self.spread is not None:
            return self.spread.node_filter()
        return self.filter

    def filter(self, info: NodeInfo) -> Rejection | None:
        """PodTopologySpread, then InterPodAffinity (the default profile's filter order)."""
        if self.spread is not None:
            rejection = self.spread.reject(info.labels)
            if rejection is not None:
                return rejection
        if self.affinity is not None:
            return self.affinity.reject(info.labels)
        return None

    def scores(self, feasible: Sequence[NodeInfo]) -> list[int] | None:
        """Both plugins' weighted, normalised scores per feasible node; None if both skip."""
        plugins, placement, pod = self.plugins, self.placement, self.pod
        total: list[int] | None = None
        constraints: Sequence[Constraint] = placement.soft
        system_default = False
        if not placement.own_spread:
            constraints, system_default = plugins.default_constraints(pod, placement), True
        if constraints:
            total = spread_scores(
                pod,
                constraints,
                system_default,
                feasible,
                plugins.index,
                plugins.node,
                SCHEDULER_WEIGHT_POD_TOPOLOGY_SPREAD,
                plugins.layout(),
            )
        if placement.terms.preferred or plugins.index.has_held_terms:
            topo = topology_scores(
                pod, placement.terms, plugins.index, plugins.namespaces, plugins.node_labels
            )
            if topo:
                affinity = normalized_scores(topo, [info.labels for info in feasible])
                weighted = [SCHEDULER_WEIGHT_INTER_POD_AFFINITY * s for s in affinity]
                total = (
                    weighted
                    if total is None
                    else [a + b for a, b in zip(total, weighted, strict=True)]
                )
        return total


class PlacementPlugins:
    """The shared state of the two plugins, and the factory of each attempt's :class:`Cycle`."""

    def __init__(self, ctx: Context, offered: Any, index: PodIndex) -> None:
        self._offered = offered  # the cache: offered_node(name), offered_nodes()
        self.index = index

        def informer(resource: str) -> Informer[Any]:
            return Informer(ctx.api, resource, component="kube-scheduler", events=ctx.events)

        self.namespace_informer: Informer[Namespace] = informer("namespaces")
        self.services: Informer[Service] = informer("services")
        self.replicasets: Informer[ReplicaSet] = informer("replicasets")
        self.statefulsets: Informer[StatefulSet] = informer("statefulsets")
        self._version = 0  # bumped by any Service/ReplicaSet/StatefulSet event
        # only what changes a DefaultSelector: Services' selectors, owners coming and going
        # Services by (namespace, one pair of their selector): a pod's candidates are found
        # from its own labels, not by listing every Service
        self._services: dict[tuple[str, str, str], dict[str, Mapping[str, str]]] = {}
        self.services.add_handler(
            Handler(
                on_add=self._service_added,
                on_update=self._service_updated,
                on_delete=self._service_deleted,
            )
        )
        owners = Handler(on_add=lambda _o: self._bump(), on_delete=lambda _o: self._bump())
        self.replicasets.add_handler(owners)
        self.statefulsets.add_handler(owners)
        self._ns_labels: dict[str, Mapping[str, str]] | None = None
        self.namespace_informer.add_handler(
            Handler(
                on_add=lambda _o: self._ns_changed(),
                on_update=lambda _o, _n: self._ns_changed(),
                on_delete=lambda _o: self._ns_changed(),
            )
        )
        self.namespaces = NamespaceView(self._namespace_labels)
        self.start: Callable[[Informer[Any]], None] | None = None  # runs an informer (set by run)
        self._statefulsets_started = False
        # the pod's parsed constraints and terms, once per template (:mod:`.templates`)
        self.placement_of: TemplateMemo[PodPlacement] = TemplateMemo(PodPlacement)

    @property
    def informers(self) -> tuple[Informer[Any], ...]:
        """Started with the scheduler; the StatefulSet one only once a StatefulSet's pod asks
        (a run without StatefulSets makes no request for them)."""
        return (self.namespace_informer, self.services, self.replicasets)

    def _statefulset(self, key: str) -> StatefulSet | None:
        if not self._statefulsets_started and self.start is not None:
            self._statefulsets_started = True
            self.start(self.statefulsets)  # its adds bump the version: selectors are recomputed
        return self.statefulsets.get(key)

    def _bump(self) -> None:
        self._version += 1

    @staticmethod
    def _service_slot(service: Service) -> tuple[str, str, str] | None:
        selector = service.spec.selector
        if not selector:
            return None  # a Service without a selector selects no pod here
        key = min(selector)
        return service.metadata.namespace, key, selector[key]

    def _service_added(self, service: Service) -> None:
        slot = self._service_slot(service)
        if slot is not None:
            self._services.setdefault(slot, {})[service.metadata.name] = service.spec.selector
            self._bump()

    def _service_deleted(self, service: Service) -> None:
        slot = self._service_slot(service)
        if slot is not None:
            named = self._services.get(slot, {})
            named.pop(service.metadata.name, None)
            if not named:
                self._services.pop(slot, None)
            self._bump()

    def _service_updated(self, old: Service, new: Service) -> None:
        if old.spec.selector != new.spec.selector:
            self._service_deleted(old)
            self._service_added(new)

    def _ns_changed(self) -> None:
        self._ns_labels = None

    def _namespace_labels(self) -> Mapping[str, Mapping[str, str]]:
        if self._ns_labels is None:
            self._ns_labels = {
                ns.metadata.name: ns.metadata.labels for ns in self.namespace_informer.list()
            }
        return self._ns_labels

    # ------------------------------------------------------------------ node access
    def node(self, name: str) -> NodeInfo | None:
        info: NodeInfo | None = self._offered.offered_node(name)
        return info

    def node_labels(self, name: str) -> Mapping[str, str] | None:
        info = self._offered.offered_node(name)
        return info.labels if info is not None else None

    def layout(self) -> NodeLayout:
        layout: NodeLayout = self._offered.layout()
        return layout

    def nodes(self) -> list[NodeInfo]:
        nodes: list[NodeInfo] = self._offered.offered_nodes()
        return nodes

    # ------------------------------------------------------------------ per attempt
    def prefilter(self, view: PodView) -> Cycle | None:
        """The attempt's state, or None when neither plugin has anything to do for ``view``."""
        placement = view.placement
        if placement is None:
            placement = view.placement = self.placement_of(view.pod)
        if (
            not placement.own_spread
            and not placement.terms.required
            and not placement.terms.preferred
            and not self.index.has_held_terms
            and not self.default_constraints(view.pod, placement)
        ):
            return None
        return Cycle(self, view, placement)

    def default_constraints(self, pod: Pod, placement: PodPlacement) -> tuple[Constraint, ...]:
        """The system default constraints with DefaultSelector's selector; () if it is empty."""
        if placement.default_version != self._version:
            parts = placement.default_parts = self._default_selector(pod)
            placement.default_version = self._version
            placement.defaults = (
                ()
                if parts is None
                else tuple(
                    Constraint(pod, key, skew, parts)
                    for key, skew in SCHEDULER_DEFAULT_SPREAD_CONSTRAINTS
                )
            )
        return placement.defaults

    def _default_selector(self, pod: Pod) -> Parts | None:
        """helper.DefaultSelector: the selectors of the Services selecting the pod, merged, and
        its controlling ReplicaSet's or StatefulSet's selector; None if that selects nothing."""
        meta = pod.metadata
        merged: dict[str, str] = {}
        for key, value in meta.labels.items():
            for selector in self._services.get((meta.namespace, key, value), {}).values():
                if all(meta.labels.get(k) == v for k, v in selector.items()):
                    merged.update(selector)
        exprs: list[Requirement] = []
        ref = meta.controller_ref()
        owner: ReplicaSet | StatefulSet | None = None
        if ref is not None and ref.kind == "ReplicaSet":
            owner = self.replicasets.get(f"{meta.namespace}/{ref.name}")
        elif ref is not None and ref.kind == "StatefulSet":
            owner = self._statefulset(f"{meta.namespace}/{ref.name}")
        if owner is not None:
            sel = owner.spec.selector
            exprs += [Requirement(k, "In", (v,)) for k, v in sorted(sel.match_labels.items())]
            exprs += sel.match_expressions
        if not merged and not exprs:
            return None
        return tuple(sorted(merged.items())), tuple(exprs)

    # ------------------------------------------------------------------ unparking
    def could_help(self, view: PodView, changed: Sequence[IndexedPod]) -> bool:
        """Queueing hint: could these placed/unplaced pods let a parked pod in (upstream's
        isSchedulableAfterPodChange of both plugins: the pod matches one of the parked pod's
        selectors, or holds (anti-)affinity terms)?"""
        placement = view.placement
        if placement is None:
            return False
        selectors: list[Parts] = [
            t.parts
            for t in (*placement.terms.required_affinity, *placement.terms.required_anti)
            if t.parts is not None
        ]
        selectors += [c.parts for c in placement.hard if c.parts is not None]
        for entry in changed:
            if entry.held:
                return True
            if any(parts_match(p, entry.labels) for p in selectors):
                return True
        return False


__all__ = ["Cycle", "PlacementPlugins", "PodPlacement"]
