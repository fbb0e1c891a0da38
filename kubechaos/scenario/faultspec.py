"""The ``spec.faults`` and ``spec.explore`` sections: fault entries and fault spaces, checked
against the catalogue (types, targets and Chaos Mesh modes, params, timing)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.duration import format_duration
from kubechaos.cluster import ClusterSpec
from kubechaos.faults import CATALOGUE, MODES, ScheduledFault, Target
from kubechaos.faults.base import Fault, Param
from kubechaos.scenario.check import Check, Path, did_you_mean, printable, string_map
from kubechaos.scenario.explorespec import Choice, ExploreSpec, FaultTemplate, Range
from kubechaos.scenario.limits import Limits, flag_of, show
from kubechaos.scenario.reach import PodLabels, check_node_target, check_pod_target

_FAULT_KEYS = ("name", "type", "at", "duration", "target", "params", "every")
_EXPLORE_KEYS = ("faults", "count", "window")
_TEMPLATE_KEYS = ("name", "type", "target", "params", "duration")
_WINDOW_KEYS = ("from", "to")
_POD_TARGET_KEYS = ("namespace", "labelSelector", "names", "mode", "value")
_NODE_TARGET_KEYS = ("nodes", "nodeGroup", "labelSelector", "mode", "value")


def _fault_type(
    check: Check, entry: Mapping[str, Any], path: Path
) -> tuple[str, type[Fault] | None]:
    """The entry's ``type`` and its catalogue class (None, with an error, if it has none)."""
    type_name = check.string(entry, "type", path, required=True)
    cls = CATALOGUE.get(type_name)
    if type_name and cls is None:
        check.error(
            (*path, "type"),
            f"unknown fault type {type_name!r}"
            + (did_you_mean(type_name, list(CATALOGUE)) or "; see `kubechaos faults`"),
        )
    return type_name, cls


def read_faults(
    check: Check,
    value: Any,
    cluster: ClusterSpec,
    end: float,
    limits: Limits,
    pods: PodLabels | None,
) -> list[ScheduledFault]:
    """The fixed schedule; ``pods`` (None when the workloads have errors) are the pods the
    workloads can make, for telling a target that matches none."""
    scheduled: list[ScheduledFault] = []
    names: dict[str, int] = {}
    injections = 0
    for i, raw in enumerate(check.sequence(value, ("spec", "faults"))):
        fp: Path = ("spec", "faults", i)
        entry = check.mapping(raw, fp, _FAULT_KEYS)
        if not isinstance(raw, Mapping):
            continue
        type_name, cls = _fault_type(check, entry, fp)
        name = printable(check, check.string(entry, "name", fp, default=f"{type_name}-{i}"),
                         (*fp, "name"))  # fmt: skip
        if name in names:
            check.error(
                (*fp, "name"), f"duplicate fault name {name!r} (also spec.faults[{names[name]}])"
            )
        names.setdefault(name, i)
        at, every = _timing(check, entry, fp, end, limits)
        before, injections = injections, injections + _occurrences(at, every, end)
        if injections > limits.injections >= before:
            check.error(
                (*fp, "every" if every else "at"),
                f"{injections:,} injections in all, more than the limit of "
                f"{show('injections', limits.injections)}" + flag_of("injections"),
            )
        duration = check.duration(entry, "duration", fp, 0.0) or None
        if "duration" in entry and duration is None:
            check.error((*fp, "duration"), "must be longer than 0s (omit it to last until the end)")
        if cls is None:
            continue
        if duration is not None and not cls.lasting:
            check.error(
                (*fp, "duration"),
                f"{type_name} acts once at its injection time; a duration means nothing for it",
            )
        if duration is None and cls.needs_duration:
            check.error(fp, f"{type_name} needs a duration")
        target = _fault_target(check, entry.get("target"), (*fp, "target"), cls, cluster, pods)
        params = _fault_params(check, entry.get("params"), (*fp, "params"), cls)
        try:
            fault: Fault = cls(name=name, target=target, **params)
        except (TypeError, ValueError) as exc:
            check.error(fp, str(exc))
            continue
        problem = fault.cluster_problem(cluster)
        if problem:
            check.error((*fp, "params"), problem)
        scheduled.append(ScheduledFault(fault, at, duration, every))
    return scheduled


def _timing(
    check: Check, entry: Mapping[str, Any], fp: Path, end: float, limits: Limits
) -> tuple[float, float | None]:
    """A fault entry's ``at`` (before the end) and ``every`` (at least the shortest allowed)."""
    at = check.duration(entry, "at", fp, 0.0)
    if at >= end:
        check.error(
            (*fp, "at"),
            f"{format_duration(at)} is not before the end of the scenario ({format_duration(end)})",
        )
    every = check.duration(entry, "every", fp, 0.0) or None
    if "every" in entry and every is None:
        check.error((*fp, "every"), "must be longer than 0s")
    elif every is not None and every < limits.every:
        check.error(
            (*fp, "every"),
            f"{format_duration(every)} is shorter than the shortest interval, "
            f"{show('every', limits.every)}",
        )
        every = None
    return at, every


def _occurrences(at: float, every: float | None, end: float) -> int:
    """How many times a fault is injected (as :meth:`ScheduledFault.times` counts them)."""
    if at >= end:
        return 0
    return int((end - at) // every) + 1 if every else 1


def read_explore(
    check: Check,
    value: Any,
    cluster: ClusterSpec,
    end: float,
    limits: Limits,
    pods: PodLabels | None,
) -> ExploreSpec | None:
    path: Path = ("spec", "explore")
    raw = check.mapping(value, path, _EXPLORE_KEYS)
    templates: list[FaultTemplate] = []
    names: dict[str, int] = {}
    entries = check.sequence(raw.get("faults"), (*path, "faults"))
    if not entries:
        check.error((*path, "faults"), "list at least one fault template to explore")
    for i, item in enumerate(entries):
        tp: Path = (*path, "faults", i)
        entry = check.mapping(item, tp, _TEMPLATE_KEYS)
        if not isinstance(item, Mapping):
            continue
        type_name, cls = _fault_type(check, entry, tp)
        name = printable(check, check.string(entry, "name", tp, default=f"{type_name}-{i}"),
                         (*tp, "name"))  # fmt: skip
        if name in names or "#" in name:
            check.error((*tp, "name"), f"template names must be unique and without '#': {name!r}")
        names.setdefault(name, i)
        if cls is None:
            continue
        target = _fault_target(check, entry.get("target"), (*tp, "target"), cls, cluster, pods)
        params = _param_space(check, entry.get("params"), (*tp, "params"), cls)
        duration: Any = None
        if "duration" in entry:
            if not cls.lasting:
                check.error((*tp, "duration"), f"{type_name} acts once; a duration means nothing")
            duration = _space(check, entry["duration"], (*tp, "duration"), _duration_param())
        elif cls.needs_duration:
            check.error(tp, f"{type_name} needs a duration")
        problem = _template_problem(cls, params, cluster)
        if problem:
            check.error((*tp, "params"), problem)
        templates.append(FaultTemplate(name, cls, target, params, duration))
    count: Any = 1
    if "count" in raw:
        count = _space(
            check, raw["count"], (*path, "count"), Param("count", "count", "count", 1, "")
        )
        low = count.low if isinstance(count, Range) else count
        high = count.high if isinstance(count, Range) else count
        if isinstance(count, Choice) or not isinstance(low, int | float) or low < 1:
            check.error((*path, "count"), "expected a whole number >= 1 or {min, max}")
            count = 1
        elif high > limits.explore_faults:
            check.error(
                (*path, "count"),
                f"{high:g} faults in one schedule, more than the limit of {limits.explore_faults}",
            )
            count = 1
    window = check.mapping(raw.get("window"), (*path, "window"), _WINDOW_KEYS)
    start = check.duration(window, "from", (*path, "window"), 0.0)
    stop = check.duration(window, "to", (*path, "window"), end)
    if not 0 <= start < stop <= end:
        check.error(
            (*path, "window"), f"expected 0 <= from < to <= the duration ({format_duration(end)})"
        )
    return ExploreSpec(tuple(templates), count, (start, stop))


def _template_problem(cls: type[Fault], params: dict[str, Any], cluster: ClusterSpec) -> str:
    """What makes some value a template may draw impossible on ``cluster`` ("" if nothing)."""
    for field, space in params.items():
        if isinstance(space, Range):
            continue
        for value in space.values if isinstance(space, Choice) else (space,):
            try:
                problem = cls(**{field: value}).cluster_problem(cluster)
            except (TypeError, ValueError):
                continue  # reported where the value was read
            if problem:
                return problem
    return ""


def _duration_param() -> Param:
    return Param("duration", "duration", "duration", None, "")


def _space(check: Check, raw: Any, path: Path, p: Param) -> Any:
    """A value, a list of values to choose from, or a {min, max} range, parsed as ``p``."""
    try:
        if (isinstance(raw, list) and p.kind != "strings") or (
            p.kind == "strings" and isinstance(raw, list) and raw and isinstance(raw[0], list)
        ):
            if not raw:
                raise ValueError("expected at least one value to choose from")
            return Choice(tuple(p.parse(v) for v in raw))
        if isinstance(raw, Mapping) and p.kind != "nodes":
            unknown = [k for k in raw if k not in ("min", "max")]
            if unknown or "min" not in raw or "max" not in raw:
                raise ValueError("expected a value, a list to choose from, or {min, max}")
            if p.kind not in ("duration", "number", "factor", "fraction", "count"):
                raise ValueError(f"a {p.kind} cannot be a range; list the values to choose from")
            low, high = p.parse(raw["min"]), p.parse(raw["max"])
            if low > high:
                raise ValueError(f"min ({raw['min']}) is above max ({raw['max']})")
            return Range(float(low), float(high), whole=p.kind == "count")
        return p.parse(raw)
    except ValueError as exc:
        check.error(path, str(exc))
        return p.default


def _param_space(check: Check, value: Any, path: Path, cls: type[Fault]) -> dict[str, Any]:
    declared = {p.name: p for p in cls.params()}
    if value and not declared:
        check.error(path, f"{cls.type} takes no params")
        return {}
    raw = check.mapping(value, path, list(declared))
    return {
        declared[key].field: _space(check, item, (*path, key), declared[key])
        for key, item in raw.items()
        if key in declared
    }


def _fault_target(
    check: Check,
    value: Any,
    path: Path,
    cls: type[Fault],
    cluster: ClusterSpec,
    pods: PodLabels | None,
) -> Target:
    """The target of a fault of type ``cls``; an error where it can match nothing."""
    errors = len(check.errors)
    target = _read_target(check, value, path, cls, cluster)
    if len(check.errors) == errors and cls.target_kind == "pods":
        check_pod_target(check, target, path, pods)
    elif len(check.errors) == errors and cls.target_kind == "nodes":
        check_node_target(check, target, path, cluster)
    return target


def _read_target(
    check: Check, value: Any, path: Path, cls: type[Fault], cluster: ClusterSpec
) -> Target:
    kind = cls.target_kind
    if kind == "none":
        if value:
            check.error(path, f"{cls.type} takes no target: its parameters name what it acts on")
        return Target()
    keys = _POD_TARGET_KEYS if kind == "pods" else _NODE_TARGET_KEYS
    raw = check.mapping(value, path, keys)
    mode = check.string(raw, "mode", path, default="all")
    if mode not in MODES:
        check.error(
            (*path, "mode"),
            f"expected one of {', '.join(MODES)}, got {mode!r}" + did_you_mean(mode, MODES),
        )
        mode = "all"
    amount = raw.get("value", 0)
    if mode in ("fixed", "fixed-percent", "random-max-percent"):
        limit = "a whole number >= 1" if mode == "fixed" else "a percentage 0-100"
        if "value" not in raw:
            check.error(path, f'mode {mode} needs a "value" ({limit})')
        elif (
            isinstance(amount, bool)
            or not isinstance(amount, int | float)
            or (mode == "fixed" and (not isinstance(amount, int) or amount < 1))
            or (mode != "fixed" and not 0 <= amount <= 100)
        ):
            check.error((*path, "value"), f"expected {limit}, got {amount!r}")
            amount = 0
    elif "value" in raw:
        check.error((*path, "value"), f"mode {mode} takes no value")
        amount = 0
    labels = string_map(check, raw.get("labelSelector"), (*path, "labelSelector"))
    if kind == "pods":
        names = check.sequence(raw.get("names"), (*path, "names"))
        for j, n in enumerate(names):
            if not isinstance(n, str):
                check.error((*path, "names", j), f"expected a pod name, got {n!r}")
        return Target(
            namespace=check.string(raw, "namespace", path) or None,
            label_selector=labels,
            names=tuple(str(n) for n in names),
            mode=mode,
            value=float(amount),
        )
    groups = [g.name for g in cluster.node_groups]
    all_nodes = [n for g in cluster.node_groups for n in g.node_names()]
    group = check.string(raw, "nodeGroup", path) or None
    if group is not None and group not in groups:
        check.error((*path, "nodeGroup"), f"no node group {group!r}" + did_you_mean(group, groups))
    nodes = check.sequence(raw.get("nodes"), (*path, "nodes"))
    for j, n in enumerate(nodes):
        if n not in all_nodes:
            check.error(
                (*path, "nodes", j), f"no node named {n!r}" + did_you_mean(str(n), all_nodes)
            )
    return Target(
        nodes=tuple(str(n) for n in nodes),
        node_group=group,
        label_selector=labels,
        mode=mode,
        value=float(amount),
    )


def _fault_params(check: Check, value: Any, path: Path, cls: type[Fault]) -> dict[str, Any]:
    declared = {p.name: p for p in cls.params()}
    if value and not declared:
        check.error(path, f"{cls.type} takes no params")
        return {}
    raw = check.mapping(value, path, list(declared))
    parsed: dict[str, Any] = {}
    for key, item in raw.items():
        p = declared.get(key)
        if p is None:
            continue
        try:
            parsed[p.field] = p.parse(item)
        except ValueError as exc:
            check.error((*path, key), str(exc))
    return parsed
