"""Scenario files: read, check every field, and report all problems at once with file and line.

The format (``apiVersion: kubechaos/v1``, ``kind: Scenario``) is documented in the README. An error
reads ``scenarios/web.yaml:14:9: spec.cluster.nodeGroups[0].count: expected a whole number >= 1,
got -2``; unknown keys get a "did you mean" suggestion. Manifests are read by
:mod:`kubechaos.scenario.workloads` (as a test's ``kubechaos.apply`` reads them) and checked like
the API server would; manifests of kinds the model does not serve become warnings.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Mapping
from pathlib import Path as FsPath
from typing import Any

import attrs

from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.api.objects import TAINT_EFFECTS, APIObject, Resources, Taint
from kubechaos.api.quantity import QuantityError, parse_bytes, parse_count, parse_cpu_millis
from kubechaos.api.validation import is_dns1123_label
from kubechaos.cluster import ClusterSpec, NodeGroupSpec
from kubechaos.defaults import Settings
from kubechaos.faults import ScheduledFault
from kubechaos.observe.slo import SLO
from kubechaos.scenario.check import (
    Check,
    LocatedError,
    Path,
    ScenarioError,
    string_map,
)
from kubechaos.scenario.explorespec import ExploreSpec
from kubechaos.scenario.faultspec import read_explore, read_faults
from kubechaos.scenario.slospec import read_slos
from kubechaos.scenario.workloads import WorkloadReading, read_workloads
from kubechaos.scenario.yamlfile import MarkedDict, YAMLSyntaxError, load_all
from kubechaos.traffic import TrafficSpec

API_VERSION = "kubechaos/v1"
KIND = "Scenario"
DEFAULT_DURATION = 600.0


_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_META_KEYS = ("name", "description")
_SPEC_KEYS = ("seed", "duration", "cluster", "workloads", "traffic", "faults", "slo", "explore")
_CLUSTER_KEYS = ("nodeGroups", "settings")
_GROUP_KEYS = ("name", "count", "capacity", "labels", "taints")
_CAPACITY_KEYS = ("cpu", "memory", "pods")
_TAINT_KEYS = ("key", "value", "effect")
_WORKLOAD_KEYS = ("path", "manifest", "at")
_TRAFFIC_KEYS = ("service", "namespace", "rate", "from")
_FROM_KEYS = ("nodeGroup", "nodes")


@attrs.frozen
class Scenario:
    name: str
    description: str
    seed: int | None
    duration: float
    cluster: ClusterSpec
    workloads: tuple[APIObject, ...]
    traffic: tuple[TrafficSpec, ...]
    source: str = ""
    warnings: tuple[str, ...] = ()
    faults: tuple[ScheduledFault, ...] = ()
    slos: tuple[SLO, ...] = ()
    explore: ExploreSpec | None = None
    updates: tuple[tuple[float, tuple[APIObject, ...]], ...] = ()  # (at, objects) applied later
    manifest_files: tuple[str, ...] = ()  # the workload files it read (spec.workloads[*].path)


def load_scenario(path: str | FsPath) -> Scenario:
    """Read and check a scenario file. Raises :class:`ScenarioError` listing every problem."""
    file = FsPath(path)
    name = str(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(
            [LocatedError(name, 1, 1, "", f"cannot read file: {exc.strerror or exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ScenarioError([LocatedError(name, 1, 1, "", "not a UTF-8 text file")]) from None
    return parse_scenario(text, name, base_dir=file.parent)


def parse_scenario(text: str, name: str = "<scenario>", base_dir: FsPath | None = None) -> Scenario:
    try:
        docs = load_all(text)
    except YAMLSyntaxError as exc:
        raise ScenarioError(
            [LocatedError(name, exc.line, exc.column, "", f"invalid YAML: {exc}")]
        ) from None
    if len(docs) != 1:
        raise ScenarioError(
            [LocatedError(name, 1, 1, "", f"expected exactly one YAML document, found {len(docs)}")]
        )
    root = docs[0]
    check = Check(name, root)
    top = check.mapping(root, (), _TOP_KEYS)
    if not isinstance(root, Mapping):
        raise ScenarioError(check.errors)
    scenario_name, description = _header(check, top)
    if "spec" not in top:
        check.error(("spec",), "required field is missing")
    spec = check.mapping(top.get("spec"), ("spec",), _SPEC_KEYS)

    seed = spec.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        check.error(("spec", "seed"), f"expected a whole number >= 0, got {seed!r}")
        seed = None
    duration = check.duration(spec, "duration", ("spec",), DEFAULT_DURATION)
    if duration <= 0:
        check.error(("spec", "duration"), "must be longer than 0s")

    cluster = _cluster(check, spec.get("cluster"))
    cluster_ok = not check.errors  # else node names may be wrong: don't report follow-on errors
    warnings: list[str] = []
    before_workloads = len(check.errors)
    later: list[tuple[float, tuple[APIObject, ...]]] = []
    files: list[str] = []
    workloads = _workloads(
        check, spec.get("workloads"), base_dir or FsPath("."), warnings, duration, later, files
    )
    workloads_ok = len(check.errors) == before_workloads
    traffic = _traffic(check, spec.get("traffic"), cluster, cluster_ok)
    services = _services(workloads, later)
    if workloads_ok:
        _check_traffic_targets(check, traffic, services)
    faults = read_faults(check, spec.get("faults"), cluster, duration)
    explore = (
        read_explore(check, spec.get("explore"), cluster, duration) if "explore" in spec else None
    )
    slos = read_slos(
        check,
        spec.get("slo"),
        [
            *(s.fault.name for s in faults),
            *(t.name for t in (explore.templates if explore else ())),
        ],
        services if workloads_ok else None,
    )
    if check.errors:
        raise ScenarioError(check.errors)
    return Scenario(
        scenario_name,
        description,
        seed,
        duration,
        cluster,
        tuple(workloads),
        tuple(traffic),
        name,
        tuple(warnings),
        tuple(faults),
        tuple(slos),
        explore,
        tuple(sorted(later, key=lambda u: u[0])),
        tuple(files),
    )


def _header(check: Check, top: Mapping[str, Any]) -> tuple[str, str]:
    """Check ``apiVersion`` and ``kind``; the scenario's name and description."""
    if top.get("apiVersion") != API_VERSION:
        check.error(("apiVersion",), f'expected "{API_VERSION}", got {top.get("apiVersion")!r}')
    if top.get("kind") != KIND:
        check.error(("kind",), f'expected "{KIND}", got {top.get("kind")!r}')
    meta = check.mapping(top.get("metadata"), ("metadata",), _META_KEYS)
    name = check.string(meta, "name", ("metadata",), required=True)
    return name, check.string(meta, "description", ("metadata",))


def _services(
    workloads: list[APIObject], later: list[tuple[float, tuple[APIObject, ...]]]
) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every Service the scenario creates, at the start or later."""
    return {
        (o.metadata.namespace, o.metadata.name)
        for o in (*workloads, *(obj for _, objs in later for obj in objs))
        if type(o).__name__ == "Service"
    }


def _check_traffic_targets(
    check: Check, traffic: list[TrafficSpec], services: set[tuple[str, str]]
) -> None:
    for i, entry in enumerate(traffic):
        if entry.service and (entry.namespace, entry.service) not in services:
            check.error(
                ("spec", "traffic", i, "service"),
                f"no Service {entry.namespace}/{entry.service} among the workloads",
            )


def _cluster(check: Check, value: Any) -> ClusterSpec:
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
    for i, raw in enumerate(raw_groups):
        gp: Path = (*path, "nodeGroups", i)
        group = check.mapping(raw, gp, _GROUP_KEYS)
        name = check.string(group, "name", gp, required=True)
        if name and not is_dns1123_label(name):
            check.error(
                (*gp, "name"), f"{name!r} must be a lowercase RFC 1123 label (a-z, 0-9, '-')"
            )
        if name in seen:
            check.error((*gp, "name"), f"duplicate node group name {name!r}")
        seen.add(name)
        count = group.get("count", 1)
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            check.error((*gp, "count"), f"expected a whole number >= 1, got {count!r}")
            count = 1
        capacity = _capacity(check, group.get("capacity"), (*gp, "capacity"))
        labels = string_map(check, group.get("labels"), (*gp, "labels"))
        taints = []
        for j, raw_taint in enumerate(check.sequence(group.get("taints"), (*gp, "taints"))):
            tp: Path = (*gp, "taints", j)
            taint = check.mapping(raw_taint, tp, _TAINT_KEYS)
            effect = check.string(taint, "effect", tp, required=True)
            if effect and effect not in TAINT_EFFECTS:
                check.error(
                    (*tp, "effect"),
                    f"expected NoSchedule, PreferNoSchedule or NoExecute, got {effect!r}",
                )
            taints.append(
                Taint(
                    check.string(taint, "key", tp, required=True),
                    effect,
                    check.string(taint, "value", tp),
                )
            )
        groups.append(NodeGroupSpec(name, count, capacity, labels, tuple(taints)))
    settings = _settings(check, cluster.get("settings"), (*path, "settings"))
    return ClusterSpec(tuple(groups), settings)


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
        if kind is float:
            try:
                overrides[key] = parse_duration(item)
            except DurationError as exc:
                check.error((*path, key), str(exc))
        elif kind is int:
            if isinstance(item, str):
                with contextlib.suppress(DurationError):
                    item = int(parse_duration(item))
            if isinstance(item, bool) or not isinstance(item, int) or item < 0:
                check.error((*path, key), f"expected a whole number >= 0, got {item!r}")
            else:
                overrides[key] = item
        elif not isinstance(item, str):
            check.error((*path, key), f"expected a string, got {item!r}")
        else:
            overrides[key] = item
    return Settings().with_overrides(overrides)


def _workloads(
    check: Check,
    value: Any,
    base_dir: FsPath,
    warnings: list[str],
    end: float,
    later: list[tuple[float, tuple[APIObject, ...]]],
    files: list[str],
) -> list[APIObject]:
    """The objects applied at the start; those with ``at`` go to ``later`` (an update applied
    mid-run, such as a new version of a Deployment: a rollout)."""
    objects: list[APIObject] = []
    for i, raw in enumerate(check.sequence(value, ("spec", "workloads"))):
        wp: Path = ("spec", "workloads", i)
        entry = check.mapping(raw, wp, _WORKLOAD_KEYS)
        at = check.duration(entry, "at", wp, 0.0)
        if at >= end:
            check.error((*wp, "at"), f"{format_duration(at)} is not before the end of the scenario")
        if at > 0:
            found = _workloads(check, [{k: v for k, v in entry.items() if k != "at"}], base_dir,
                               warnings, end, later, files)  # fmt: skip
            later.append((at, tuple(found)))
            continue
        if ("path" in entry) == ("manifest" in entry):
            check.error(wp, 'each workload needs exactly one of "path" or "manifest"')
            continue
        if "manifest" in entry:
            reading = read_workloads(
                [entry["manifest"]], check.file, base=(*wp, "manifest"), root=check.root
            )
            objects += _taken(check, reading, check.file, warnings)
            continue
        rel = check.string(entry, "path", wp, required=True)
        if not rel:
            continue
        file = base_dir / rel
        files.append(str(file))
        try:
            docs = load_all(file.read_text(encoding="utf-8"))
        except OSError as exc:
            check.error((*wp, "path"), f"cannot read {file}: {exc.strerror or exc}")
            continue
        except YAMLSyntaxError as exc:
            check.errors.append(
                LocatedError(str(file), exc.line, exc.column, "", f"invalid YAML: {exc}")
            )
            continue
        objects += _taken(check, read_workloads(docs, str(file)), str(file), warnings)
    return objects


def _taken(
    check: Check, reading: WorkloadReading, source: str, warnings: list[str]
) -> tuple[APIObject, ...]:
    """The objects read; their problems become the scenario's errors, skipped kinds warnings."""
    check.errors += [problem.located(source) for problem in reading.problems]
    warnings += reading.not_modelled
    return reading.objects


def _traffic(
    check: Check, value: Any, cluster: ClusterSpec, check_nodes: bool
) -> list[TrafficSpec]:
    specs = []
    groups = {g.name: g for g in cluster.node_groups}
    all_nodes = {n for g in cluster.node_groups for n in g.node_names()}
    for i, raw in enumerate(check.sequence(value, ("spec", "traffic"))):
        tp: Path = ("spec", "traffic", i)
        entry = check.mapping(raw, tp, _TRAFFIC_KEYS)
        service = check.string(entry, "service", tp, required=True)
        namespace = check.string(entry, "namespace", tp, default="default")
        rate = entry.get("rate")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            check.error((*tp, "rate"), f"expected requests per second > 0, got {rate!r}")
            rate = 1.0
        source = check.mapping(entry.get("from"), (*tp, "from"), _FROM_KEYS)
        nodes: tuple[str, ...] = ()
        if "nodeGroup" in source and "nodes" in source:
            check.error((*tp, "from"), 'give either "nodeGroup" or "nodes", not both')
        elif "nodeGroup" in source:
            group = check.string(source, "nodeGroup", (*tp, "from"), required=True)
            if not group:
                pass
            elif group not in groups:
                hint = difflib.get_close_matches(str(group), list(groups), n=1)
                check.error(
                    (*tp, "from", "nodeGroup"),
                    f"no node group {group!r}" + (f'; did you mean "{hint[0]}"?' if hint else ""),
                )
            else:
                nodes = groups[group].node_names()
        elif "nodes" in source:
            names = check.sequence(source["nodes"], (*tp, "from", "nodes"))
            for j, node in enumerate(names):
                if not isinstance(node, str):
                    check.error((*tp, "from", "nodes", j), f"expected a node name, got {node!r}")
                elif check_nodes and node not in all_nodes:
                    check.error((*tp, "from", "nodes", j), f"no node named {node!r}")
            nodes = tuple(str(n) for n in names)
        specs.append(
            TrafficSpec(service=service, namespace=namespace, rate=float(rate), source_nodes=nodes)
        )
    return specs


__all__ = [
    "LocatedError",
    "MarkedDict",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]
