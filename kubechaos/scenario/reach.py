"""What a scenario's faults can reach, as far as it is known before the run.

The pods a scenario will ever have carry the labels of its Pods and of its Deployments',
ReplicaSets', DaemonSets', StatefulSets' and Jobs' pod templates; its nodes carry the labels
``spec.cluster`` gives them. A fault whose target can match none of them would only fail at its
injection (see
:func:`kubechaos.faults.chaos.select_pods`), so the loader reports it as an error at the field,
as it reports ``nodes: [worker-99]``. The same knowledge tells when an injection comes too close
to the end of the run for its recovery to be seen: that is a warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import attrs

from kubechaos.api.duration import format_duration
from kubechaos.api.fieldreader import format_path
from kubechaos.api.objects import (
    APIObject,
    DaemonSet,
    Deployment,
    Job,
    Pod,
    ReplicaSet,
    StatefulSet,
)
from kubechaos.cluster import ClusterSpec
from kubechaos.faults import ScheduledFault, Target
from kubechaos.observe.slo import SLO
from kubechaos.scenario.check import Check, Path, did_you_mean
from kubechaos.scenario.yamlfile import locate

STABILITY_WINDOW = 10.0
"""Seconds of steady state that end a recovery (:mod:`kubechaos.observe.steady`)."""


@attrs.frozen
class PodLabels:
    """The labels of every pod the scenario's workloads can create, by namespace."""

    by_namespace: Mapping[str, tuple[Mapping[str, str], ...]]

    @classmethod
    def of(cls, objects: Iterable[APIObject]) -> PodLabels:
        found: dict[str, list[Mapping[str, str]]] = {}
        for obj in objects:
            if isinstance(obj, Pod):
                labels = obj.metadata.labels
            elif isinstance(obj, Deployment | ReplicaSet | DaemonSet | StatefulSet | Job):
                labels = obj.spec.template.metadata.labels
            else:
                continue
            found.setdefault(obj.metadata.namespace, []).append(labels)
        return cls({ns: tuple(sets) for ns, sets in found.items()})


def _shown(labels: Mapping[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items())


def check_pod_target(check: Check, target: Target, path: Path, pods: PodLabels | None) -> None:
    """An error at ``path``'s namespace or labelSelector if no pod of the workloads can match."""
    if pods is None:  # the workloads have errors of their own: no follow-on errors
        return
    namespaces = sorted(pods.by_namespace)
    if not namespaces:
        check.error(path, "no workload makes pods for this fault to act on")
        return
    if target.namespace is not None and target.namespace not in pods.by_namespace:
        check.error(
            (*path, "namespace"),
            f"no workload makes pods in namespace {target.namespace!r}"
            + (did_you_mean(target.namespace, namespaces) or _among(namespaces)),
        )
        return
    if not target.label_selector:
        return
    scope = [target.namespace] if target.namespace is not None else namespaces
    if not any(
        target.matches_labels(labels) for ns in scope for labels in pods.by_namespace.get(ns, ())
    ):
        where = f" in namespace {target.namespace!r}" if target.namespace is not None else ""
        check.error(
            (*path, "labelSelector"),
            f"no pod of the workloads{where} has the labels {_shown(target.label_selector)}",
        )


def _among(names: Sequence[str]) -> str:
    return f" (pods are made in: {', '.join(names)})"


def check_node_target(check: Check, target: Target, path: Path, cluster: ClusterSpec) -> None:
    """An error at ``path``'s labelSelector (or nodeGroup) if no node of the cluster matches it
    together with its other fields. Unknown groups and nodes are reported where they are read."""
    groups = {g.name for g in cluster.node_groups}
    nodes = {n for g in cluster.node_groups for n in g.node_names()}
    if (target.node_group is not None and target.node_group not in groups) or any(
        n not in nodes for n in target.nodes
    ):
        return
    for group in cluster.node_groups:
        if target.node_group is not None and group.name != target.node_group:
            continue
        for node in group.node_names():
            if target.nodes and node not in target.nodes:
                continue
            if target.matches_labels(group.node_labels(node)):
                return
    if target.label_selector:
        within = f" in node group {target.node_group!r}" if target.node_group else ""
        within += f" among {', '.join(target.nodes)}" if target.nodes else ""
        check.error(
            (*path, "labelSelector"),
            f"no node of the cluster{within} has the labels {_shown(target.label_selector)}",
        )
    elif target.node_group is not None and target.nodes:
        check.error(
            (*path, "nodeGroup"),
            f"none of the nodes {', '.join(target.nodes)} is in node group {target.node_group!r}",
        )


def object_weight(objects: Iterable[APIObject]) -> int:
    """How many objects ``objects`` make: each one, plus the pods its replicas ask for."""
    total = 0
    for obj in objects:
        total += 1
        if isinstance(obj, Deployment | ReplicaSet):
            total += max(obj.spec.replicas, 0)
        elif isinstance(obj, Job):  # the pods it runs to completion, at least parallelism
            total += max(obj.spec.parallelism, obj.spec.completions or 1, 0)
    return total


def late_injection_warnings(
    check: Check, faults: Sequence[ScheduledFault], slos: Sequence[SLO], end: float
) -> list[str]:
    """A warning per fault with an injection too close to ``end`` for its recovery to be seen:
    less than its ``recoveryWithin`` SLO's ``within`` (from the revert, for ``from: revert``),
    or without one the stability window, left before the end."""
    warnings: list[str] = []
    within = {s.fault: s for s in slos if s.kind == "recoveryWithin"}
    entries = check.root.get("spec", {}).get("faults") if isinstance(check.root, Mapping) else None
    for scheduled in faults:
        slo = within.get(scheduled.fault.name)
        needed = slo.within if slo is not None else STABILITY_WINDOW
        after_revert = slo is not None and slo.reference == "revert" and scheduled.duration
        late = []
        for when in scheduled.times(end):
            start = when + (scheduled.duration or 0.0) if after_revert else when
            if end - start < needed:
                late.append((when, end - start))
        if not late:
            continue
        when, left = late[0]
        why = (
            f"its recoveryWithin SLO's {format_duration(needed)}"
            if slo is not None
            else f"the {format_duration(needed)} stability window"
        )
        field = "every" if scheduled.every and len(scheduled.times(end)) > 1 else "at"
        path = _entry_path(entries, scheduled.fault.name, field)
        line, column = locate(check.root, path)
        more = f" (and {len(late) - 1} later)" if len(late) > 1 else ""
        frm = " after its revert" if after_revert else ""
        warnings.append(
            f"{check.file}:{line}:{column}: {format_path(path)}: fault {scheduled.fault.name!r} "
            f"injected at "
            f"{format_duration(when)}{more} leaves {format_duration(max(left, 0.0))}{frm} before "
            f"the end, less than {why}: its recovery cannot be observed"
        )
    return warnings


def _entry_path(entries: object, name: str, field: str) -> Path:
    """The path of ``field`` in the ``spec.faults`` entry of fault ``name``."""
    if isinstance(entries, list):
        for i, entry in enumerate(entries):
            if isinstance(entry, Mapping) and entry.get("name", f"{entry.get('type')}-{i}") == name:
                return ("spec", "faults", i, field if field in entry else "at")
    return ("spec", "faults")


__all__ = [
    "STABILITY_WINDOW",
    "PodLabels",
    "check_node_target",
    "check_pod_target",
    "late_injection_warnings",
    "object_weight",
]
