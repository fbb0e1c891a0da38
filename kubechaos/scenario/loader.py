"""Scenario files: read, check every field, and report all problems at once with file and line.

The format (``apiVersion: kubechaos/v1``, ``kind: Scenario``) is documented in the README. An error
reads ``scenarios/web.yaml:14:9: spec.cluster.nodeGroups[0].count: expected a whole number >= 1,
got -2``; unknown keys get a "did you mean" suggestion. Manifests are read by
:mod:`kubechaos.scenario.workloads` (as a test's ``kubechaos.apply`` reads them) and checked like
the API server would; manifests of kinds the model does not serve become warnings.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path as FsPath
from typing import Any

import attrs

from kubechaos.api.duration import format_duration
from kubechaos.api.objects import APIObject, Service
from kubechaos.cluster import ClusterSpec
from kubechaos.faults import ScheduledFault
from kubechaos.observe.slo import SLO
from kubechaos.scenario.check import (
    Check,
    LocatedError,
    Path,
    ScenarioError,
    did_you_mean,
    printable,
)
from kubechaos.scenario.clusterspec import read_cluster
from kubechaos.scenario.customworkloads import CustomKinds
from kubechaos.scenario.explorespec import ExploreSpec
from kubechaos.scenario.faultspec import read_explore, read_faults
from kubechaos.scenario.limits import Limits, finite_number, flag_of, show
from kubechaos.scenario.priorities import unknown_priority_classes
from kubechaos.scenario.procspec import ProcessSpec, read_processes
from kubechaos.scenario.reach import PodLabels, late_injection_warnings, object_weight
from kubechaos.scenario.slospec import read_slos
from kubechaos.scenario.workloads import WorkloadReading, read_workloads
from kubechaos.scenario.yamlfile import (
    FileRefused,
    MarkedDict,
    YAMLSyntaxError,
    load_all,
    read_text,
)
from kubechaos.traffic import TrafficSpec

API_VERSION = "kubechaos/v1"
KIND = "Scenario"
DEFAULT_DURATION = 600.0
DEFAULT_LIMITS = Limits()


_TOP_KEYS = ("apiVersion", "kind", "metadata", "spec")
_META_KEYS = ("name", "description")
_SPEC_KEYS = (
    "seed", "duration", "cluster", "workloads", "traffic", "faults", "slo", "explore", "processes",
)  # fmt: skip
_WORKLOAD_KEYS = ("path", "manifest", "at")
_TRAFFIC_KEYS = ("service", "namespace", "rate", "from", "at")
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
    processes: tuple[ProcessSpec, ...] = ()  # external processes run against its API


def load_scenario(
    path: str | FsPath, limits: Limits = DEFAULT_LIMITS, *, strict: bool = False
) -> Scenario:
    """Read and check a scenario file. Raises :class:`ScenarioError` listing every problem;
    with ``strict``, a kind or field the model does not serve is one too (else a warning)."""
    file = FsPath(path)
    name = str(path)
    try:
        text = read_text(file, limits.file_bytes)
    except FileRefused as exc:
        raise ScenarioError([LocatedError(name, 1, 1, "", str(exc))]) from None
    except OSError as exc:
        raise ScenarioError(
            [LocatedError(name, 1, 1, "", f"cannot read file: {exc.strerror or exc}")]
        ) from None
    return parse_scenario(text, name, base_dir=file.parent, limits=limits, strict=strict)


def parse_scenario(
    text: str,
    name: str = "<scenario>",
    base_dir: FsPath | None = None,
    limits: Limits = DEFAULT_LIMITS,
    *,
    strict: bool = False,
) -> Scenario:
    """Check the scenario in ``text`` (named ``name`` in errors; workload paths relative to
    ``base_dir``) within ``limits``. Raises :class:`ScenarioError` listing every problem
    (with ``strict``, every kind and field the model does not serve among them)."""
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
    elif duration > limits.duration:
        check.error(
            ("spec", "duration"),
            f"{format_duration(duration)} is longer than the limit of "
            f"{show('duration', limits.duration)}" + flag_of("duration"),
        )
        duration = DEFAULT_DURATION
    scenario = _spec(check, spec, base_dir or FsPath("."), duration, limits, strict)
    if check.errors:
        raise ScenarioError(check.errors)
    return attrs.evolve(scenario, name=scenario_name, description=description, seed=seed)


def _spec(
    check: Check,
    spec: Mapping[str, Any],
    base_dir: FsPath,
    duration: float,
    limits: Limits,
    strict: bool,
) -> Scenario:
    """Everything under ``spec`` but its seed and duration, checked; errors go to ``check``."""
    cluster = read_cluster(check, spec.get("cluster"), limits)
    cluster_ok = not check.errors  # else node names may be wrong: don't report follow-on errors
    warnings: list[str] = []
    before_workloads = len(check.errors)
    later: list[tuple[float, tuple[APIObject, ...]]] = []
    reading = Reading(base_dir, warnings, duration, later, limits, strict)
    workloads = _workloads(check, spec.get("workloads"), reading)
    workloads_ok = len(check.errors) == before_workloads
    traffic = _traffic(check, spec.get("traffic"), cluster, cluster_ok, limits)
    services = _services(workloads, later)
    if workloads_ok:
        _check_traffic_targets(check, traffic, services, _headless(workloads, later))
    pods = (
        PodLabels.of([*workloads, *(o for _, objs in later for o in objs)])
        if workloads_ok
        else None
    )
    faults = read_faults(check, spec.get("faults"), cluster, duration, limits, pods)
    explore = (
        read_explore(check, spec.get("explore"), cluster, duration, limits, pods)
        if "explore" in spec
        else None
    )
    slos = read_slos(
        check,
        spec.get("slo"),
        [
            *(s.fault.name for s in faults),
            *(t.name for t in (explore.templates if explore else ())),
        ],
        services if workloads_ok else None,
        reading.custom.declared(),
        warnings,
    )
    if not check.errors:
        warnings += late_injection_warnings(check, faults, slos, duration)
    processes = read_processes(check, spec.get("processes"), str(base_dir.resolve()))
    return Scenario(
        "", "", None, duration, cluster, tuple(workloads), tuple(traffic), check.file,
        tuple(warnings), tuple(faults), tuple(slos), explore,
        tuple(sorted(later, key=lambda u: u[0])), tuple(reading.files), processes,
    )  # fmt: skip


def _header(check: Check, top: Mapping[str, Any]) -> tuple[str, str]:
    """Check ``apiVersion`` and ``kind``; the scenario's name and description, printable."""
    if top.get("apiVersion") != API_VERSION:
        check.error(("apiVersion",), f'expected "{API_VERSION}", got {top.get("apiVersion")!r}')
    if top.get("kind") != KIND:
        check.error(("kind",), f'expected "{KIND}", got {top.get("kind")!r}')
    meta = check.mapping(top.get("metadata"), ("metadata",), _META_KEYS)
    name = check.string(meta, "name", ("metadata",), required=True)
    description = check.string(meta, "description", ("metadata",))
    return (
        printable(check, name, ("metadata", "name")),
        printable(check, description, ("metadata", "description"), multiline=True),
    )


def _services(
    workloads: list[APIObject], later: list[tuple[float, tuple[APIObject, ...]]]
) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every Service the scenario creates, at the start or later."""
    return {
        (o.metadata.namespace, o.metadata.name)
        for o in (*workloads, *(obj for _, objs in later for obj in objs))
        if type(o).__name__ == "Service"
    }


def _headless(
    workloads: list[APIObject], later: list[tuple[float, tuple[APIObject, ...]]]
) -> set[tuple[str, str]]:
    """``(namespace, name)`` of every headless Service (``clusterIP: None``)."""
    return {
        (o.metadata.namespace, o.metadata.name)
        for o in (*workloads, *(obj for _, objs in later for obj in objs))
        if isinstance(o, Service) and o.spec.cluster_ip == "None"
    }


def _check_traffic_targets(
    check: Check,
    traffic: list[TrafficSpec],
    services: set[tuple[str, str]],
    headless: set[tuple[str, str]],
) -> None:
    for i, entry in enumerate(traffic):
        key = (entry.namespace, entry.service)
        if entry.service and key not in services:
            check.error(
                ("spec", "traffic", i, "service"),
                f"no Service {entry.namespace}/{entry.service} among the workloads",
            )
        elif key in headless:
            # kube-proxy programs no rule for a headless Service; its clients resolve the pods'
            # IPs through DNS, which the model does not carry: refused rather than all failing.
            check.error(
                ("spec", "traffic", i, "service"),
                f"Service {entry.namespace}/{entry.service} is headless (clusterIP: None): its "
                "clients reach pods through DNS, which the model does not carry; send traffic "
                "to a ClusterIP Service that selects the same pods",
            )


@attrs.define
class Reading:
    """What reading ``spec.workloads`` needs and gathers besides the objects applied at once."""

    base_dir: FsPath  # workload paths are relative to it
    warnings: list[str]  # kinds and fields the model does not serve
    end: float  # the scenario's duration: an update is applied before it
    later: list[tuple[float, tuple[APIObject, ...]]]  # (at, objects) applied mid-run
    limits: Limits
    strict: bool  # kinds and fields the model does not serve are errors, not warnings
    weight: int = 0  # objects read so far, counting the pods their replicas ask for
    files: list[str] = attrs.field(factory=list)  # the workload files read, in order
    custom: CustomKinds = attrs.field(factory=CustomKinds)  # CRDs the workloads declared so far


def _workloads(check: Check, value: Any, reading: Reading) -> list[APIObject]:
    """The objects applied at the start; those with ``at`` go to ``reading.later`` (an update
    applied mid-run, such as a new version of a Deployment: a rollout)."""
    objects: list[APIObject] = []
    entries: list[tuple[Path, tuple[APIObject, ...]]] = []
    for i, raw in enumerate(check.sequence(value, ("spec", "workloads"))):
        wp: Path = ("spec", "workloads", i)
        entry = check.mapping(raw, wp, _WORKLOAD_KEYS)
        at = check.duration(entry, "at", wp, 0.0)
        if at >= reading.end:
            check.error((*wp, "at"), f"{format_duration(at)} is not before the end of the scenario")
        found = _workload(check, entry, wp, reading)
        entries.append((wp, found))
        if at > 0:
            reading.later.append((at, found))
        else:
            objects += found
        before, reading.weight = reading.weight, reading.weight + object_weight(found)
        if reading.weight > reading.limits.objects >= before:
            check.error(
                wp,
                f"{reading.weight:,} objects in all (counting the pods their replicas ask for), "
                f"more than the limit of {show('objects', reading.limits.objects)}"
                + flag_of("objects"),
            )
    for path, message in unknown_priority_classes(entries):
        check.error(path, message)
    return objects


def _workload(
    check: Check, entry: Mapping[str, Any], wp: Path, reading: Reading
) -> tuple[APIObject, ...]:
    """The objects of one ``spec.workloads`` entry: an inline manifest or a file of them."""
    if ("path" in entry) == ("manifest" in entry):
        check.error(wp, 'each workload needs exactly one of "path" or "manifest"')
        return ()
    if "manifest" in entry:
        inline = read_workloads(
            [entry["manifest"]],
            check.file,
            base=(*wp, "manifest"),
            root=check.root,
            custom=reading.custom,
        )
        return _taken(check, inline, check.file, reading)
    rel = check.string(entry, "path", wp, required=True)
    if not rel:
        return ()
    file = reading.base_dir / rel
    reading.files.append(str(file))
    try:
        docs = load_all(read_text(file, reading.limits.file_bytes))
    except FileRefused as exc:
        check.error((*wp, "path"), str(exc))
        return ()
    except OSError as exc:
        check.error((*wp, "path"), f"cannot read {file}: {exc.strerror or exc}")
        return ()
    except YAMLSyntaxError as exc:
        check.errors.append(
            LocatedError(str(file), exc.line, exc.column, "", f"invalid YAML: {exc}")
        )
        return ()
    found = read_workloads(docs, str(file), custom=reading.custom)
    return _taken(check, found, str(file), reading)


def _taken(
    check: Check, workloads: WorkloadReading, source: str, reading: Reading
) -> tuple[APIObject, ...]:
    """The objects read; their problems become the scenario's errors, the kinds and fields the
    model does not serve warnings (errors too with ``--strict``)."""
    check.errors += [problem.located(source) for problem in workloads.problems]
    if reading.strict:
        check.errors += [
            attrs.evolve(p, message=f"{p.message} (an error with --strict)").located(source)
            for p in workloads.unmodelled
        ]
    else:
        reading.warnings += workloads.not_modelled
    return workloads.objects


def _traffic(
    check: Check, value: Any, cluster: ClusterSpec, check_nodes: bool, limits: Limits
) -> list[TrafficSpec]:
    specs = []
    total = 0.0
    for i, raw in enumerate(check.sequence(value, ("spec", "traffic"))):
        tp: Path = ("spec", "traffic", i)
        entry = check.mapping(raw, tp, _TRAFFIC_KEYS)
        service = check.string(entry, "service", tp, required=True)
        namespace = check.string(entry, "namespace", tp, default="default")
        raw_rate = entry.get("rate")
        rate = float(raw_rate) if finite_number(raw_rate) and raw_rate > 0 else 0.0
        if not rate:
            check.error((*tp, "rate"), f"expected requests per second > 0, got {raw_rate!r}")
            rate = 1.0
        elif rate > limits.rate:
            check.error(
                (*tp, "rate"),
                f"{rate:g} requests per second, more than the limit of "
                f"{show('rate', limits.rate)}" + flag_of("rate"),
            )
            rate = 1.0
        elif total + rate > limits.total_rate >= total:
            check.error(
                (*tp, "rate"),
                f"{total + rate:g} requests per second in all, more than the limit of "
                f"{show('total_rate', limits.total_rate)}" + flag_of("total_rate"),
            )
        total += rate
        source = check.mapping(entry.get("from"), (*tp, "from"), _FROM_KEYS)
        nodes = _sources(check, source, (*tp, "from"), cluster, check_nodes)
        start = check.duration(entry, "at", tp, 0.0)
        specs.append(
            TrafficSpec(
                service=service, namespace=namespace, rate=rate, source_nodes=nodes, start=start
            )
        )
    return specs


def _sources(
    check: Check, source: Mapping[str, Any], fp: Path, cluster: ClusterSpec, check_nodes: bool
) -> tuple[str, ...]:
    """The nodes a traffic entry's ``from`` names (none: every node)."""
    groups = {g.name: g for g in cluster.node_groups}
    if "nodeGroup" in source and "nodes" in source:
        check.error(fp, 'give either "nodeGroup" or "nodes", not both')
    elif "nodeGroup" in source:
        group = check.string(source, "nodeGroup", fp, required=True)
        if group and group not in groups:
            check.error(
                (*fp, "nodeGroup"), f"no node group {group!r}" + did_you_mean(group, list(groups))
            )
        elif group:
            return groups[group].node_names()
    elif "nodes" in source:
        all_nodes = {n for g in cluster.node_groups for n in g.node_names()}
        names = check.sequence(source["nodes"], (*fp, "nodes"))
        for j, node in enumerate(names):
            if not isinstance(node, str):
                check.error((*fp, "nodes", j), f"expected a node name, got {node!r}")
            elif check_nodes and node not in all_nodes:
                check.error((*fp, "nodes", j), f"no node named {node!r}")
        return tuple(str(n) for n in names)
    return ()


__all__ = [
    "DEFAULT_LIMITS",
    "Limits",
    "LocatedError",
    "MarkedDict",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]
