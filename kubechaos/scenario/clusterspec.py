"""The ``spec.cluster`` section: node groups (names, counts, capacity, labels, taints) and
overrides of upstream settings, checked field by field.

Node labels and taints are checked as the API server checks a Node's (label keys and values,
taint keys), so a selector a fault or a pod writes can match them; the nodes in all groups
together are bounded by :attr:`~kubechaos.scenario.limits.Limits.nodes`.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable
from typing import Any

from kubechaos.api.duration import DurationError, parse_duration
from kubechaos.api.objects import TAINT_EFFECTS, Resources, Taint
from kubechaos.api.quantity import QuantityError, parse_bytes, parse_count, parse_cpu_millis
from kubechaos.api.validation import (
    LABEL_KEY_RULE,
    LABEL_VALUE_RULE,
    is_dns1123_label,
    validate_label_key,
    validate_label_value,
)
from kubechaos.cluster import ClusterSpec, NodeGroupSpec
from kubechaos.control.leaderelection import election_timing_problem
from kubechaos.defaults import Settings
from kubechaos.scenario.check import Check, Path, printable, string_map
from kubechaos.scenario.limits import Limits, flag_of, show

_CLUSTER_KEYS = ("nodeGroups", "controlPlane", "settings")
_CONTROL_PLANE_KEYS = ("nodes",)
# etcd FAQ "What is maximum cluster size?": 7 members at most is recommended
MAX_CONTROL_PLANE_NODES = 7
_GROUP_KEYS = ("name", "count", "capacity", "labels", "taints")
_CAPACITY_KEYS = ("cpu", "memory", "pods")
_TAINT_KEYS = ("key", "value", "effect")
# Settings that are the period of a loop (or a lease renewed at a fraction of it): at 0 the loop
# would run forever at one instant of virtual time. A grace period of 0 is only impatient.
_PERIODIC = re.compile(
    r"(?<!Grace)(Period|PeriodSeconds|Interval|Frequency|TickSeconds)$|LeaseDurationSeconds$"
)
SHORTEST_PERIOD = 0.001


def read_cluster(check: Check, value: Any, limits: Limits) -> ClusterSpec:
    path: Path = ("spec", "cluster")
    if value is None:
        check.error(path, "required field is missing")
        return ClusterSpec(())
    cluster = check.mapping(value, path, _CLUSTER_KEYS)
    groups: list[NodeGroupSpec] = []
    seen: set[str] = set()
    raw_groups = check.sequence(cluster.get("nodeGroups"), (*path, "nodeGroups"))
    if not raw_groups:
        check.error((*path, "nodeGroups"), "at least one node group is required")
    total = 0
    for i, raw in enumerate(raw_groups):
        gp: Path = (*path, "nodeGroups", i)
        group = _group(check, raw, gp, seen, limits)
        total += group.count
        if total > limits.nodes >= total - group.count:
            check.error(
                (*gp, "count"),
                f"{total:,} nodes in all, more than the limit of {show('nodes', limits.nodes)}"
                + flag_of("nodes"),
            )
        groups.append(group)
    settings = _settings(check, cluster.get("settings"), (*path, "settings"))
    control_plane = _control_plane(check, cluster.get("controlPlane"), (*path, "controlPlane"))
    if control_plane > 1 and not settings.leader_elect:
        check.error(
            (*path, "settings", "leaderElect"),
            f"{control_plane} control-plane nodes need leader election: without it every node's "
            "scheduler and controller manager would act at once",
        )
    return ClusterSpec(tuple(groups), settings, control_plane)


def _control_plane(check: Check, value: Any, path: Path) -> int:
    """``controlPlane: {nodes: N}``: N control-plane nodes (default 1)."""
    nodes = check.mapping(value, path, _CONTROL_PLANE_KEYS).get("nodes", 1)
    if isinstance(nodes, bool) or not isinstance(nodes, int) or nodes < 1:
        check.error((*path, "nodes"), f"expected a whole number >= 1, got {nodes!r}")
        return 1
    if nodes > MAX_CONTROL_PLANE_NODES:
        check.error(
            (*path, "nodes"),
            f"{nodes} control-plane nodes, more than the {MAX_CONTROL_PLANE_NODES} etcd members "
            "etcd recommends at most",
        )
        return 1
    return nodes


def _group(check: Check, raw: Any, gp: Path, seen: set[str], limits: Limits) -> NodeGroupSpec:
    group = check.mapping(raw, gp, _GROUP_KEYS)
    name = printable(check, check.string(group, "name", gp, required=True), (*gp, "name"))
    if name and not is_dns1123_label(name):
        check.error((*gp, "name"), f"{name!r} must be a lowercase RFC 1123 label (a-z, 0-9, '-')")
    if name in seen:
        check.error((*gp, "name"), f"duplicate node group name {name!r}")
    seen.add(name)
    count = group.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        check.error((*gp, "count"), f"expected a whole number >= 1, got {count!r}")
        count = 1
    elif count > limits.nodes:
        check.error(
            (*gp, "count"),
            f"{count:,} nodes, more than the limit of {show('nodes', limits.nodes)}"
            + flag_of("nodes"),
        )
        count = 1
    capacity = _capacity(check, group.get("capacity"), (*gp, "capacity"))
    labels = _labels(check, group.get("labels"), (*gp, "labels"))
    taints = []
    for j, raw_taint in enumerate(check.sequence(group.get("taints"), (*gp, "taints"))):
        taints.append(_taint(check, raw_taint, (*gp, "taints", j)))
    return NodeGroupSpec(name, count, capacity, labels, tuple(taints))


def _labels(check: Check, value: Any, path: Path) -> dict[str, str]:
    """Node labels, each key and value checked as the API server checks a Node's."""
    labels = string_map(check, value, path)
    for key, item in labels.items():
        if not validate_label_key(key):
            check.error((*path, key), f"{key!r} is not a valid label key ({LABEL_KEY_RULE})")
        if not validate_label_value(item):
            check.error((*path, key), f"{item!r} is not a valid label value ({LABEL_VALUE_RULE})")
    return labels


def _taint(check: Check, raw: Any, tp: Path) -> Taint:
    taint = check.mapping(raw, tp, _TAINT_KEYS)
    effect = check.string(taint, "effect", tp, required=True)
    if effect and effect not in TAINT_EFFECTS:
        check.error(
            (*tp, "effect"), f"expected NoSchedule, PreferNoSchedule or NoExecute, got {effect!r}"
        )
    key = check.string(taint, "key", tp, required=True)
    if key and not validate_label_key(key):
        check.error((*tp, "key"), f"{key!r} is not a valid taint key ({LABEL_KEY_RULE})")
    value = check.string(taint, "value", tp)
    if value and not validate_label_value(value):
        check.error((*tp, "value"), f"{value!r} is not a valid taint value ({LABEL_VALUE_RULE})")
    return Taint(key, effect, value)


def _capacity(check: Check, value: Any, path: Path) -> Resources:
    raw = check.mapping(value, path, _CAPACITY_KEYS)
    parsed: dict[str, int] = {}
    defaults = {"cpu": "4", "memory": "16Gi", "pods": 110}
    parsers: dict[str, Callable[[Any], int]] = {
        "cpu": parse_cpu_millis,
        "memory": parse_bytes,
        "pods": parse_count,
    }
    for key, parse in parsers.items():
        try:
            parsed[key] = parse(raw.get(key, defaults[key]))
        except QuantityError as exc:
            check.error((*path, key), str(exc))
            parsed[key] = parse(defaults[key])
    return Resources(parsed["cpu"], parsed["memory"], parsed["pods"])


def _settings(check: Check, value: Any, path: Path) -> Settings:
    names = Settings.names()
    raw = check.mapping(value, path, list(names))
    overrides: dict[str, Any] = {}
    for key, item in raw.items():
        if key not in names:
            continue
        kind = Settings.field_type(key)
        if Settings.is_number(key):
            number = isinstance(item, int | float) and not isinstance(item, bool)
            if not number or not math.isfinite(item) or item < 0:
                check.error((*path, key), f"expected a number >= 0, got {item!r}")
            else:
                overrides[key] = float(item)
        elif kind is bool:
            if not isinstance(item, bool):
                check.error((*path, key), f"expected true or false, got {item!r}")
            else:
                overrides[key] = item
        elif kind is float:
            try:
                overrides[key] = parse_duration(item)
            except DurationError as exc:
                check.error((*path, key), str(exc))
                continue
            if _PERIODIC.search(key) and overrides[key] < SHORTEST_PERIOD:
                check.error((*path, key), "a period must be at least 1ms")
        elif kind is int:
            if isinstance(item, str):
                with contextlib.suppress(DurationError):
                    item = int(parse_duration(item))
            least = 1 if _PERIODIC.search(key) else 0
            if isinstance(item, bool) or not isinstance(item, int) or item < least:
                check.error((*path, key), f"expected a whole number >= {least}, got {item!r}")
            else:
                overrides[key] = item
        elif not isinstance(item, str):
            check.error((*path, key), f"expected a string, got {item!r}")
        else:
            overrides[key] = item
    settings = Settings().with_overrides(overrides)
    problem = election_timing_problem(settings)
    if problem:
        check.error((*path, "leaderElectionRenewDeadline"), problem)
        return Settings()
    return settings


__all__ = ["read_cluster"]
