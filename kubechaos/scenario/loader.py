"""Scenario files: read, check every field, and report all problems at once with file and line.

The format (``apiVersion: kubechaos/v1``, ``kind: Scenario``) is documented in the README. An error
reads ``scenarios/web.yaml:14:9: spec.cluster.nodeGroups[0].count: expected a whole number >= 1,
got -2``; unknown keys get a "did you mean" suggestion. Manifests are read by
:mod:`kubechaos.api.manifest` and checked like the API server would; manifests of kinds the model
does not serve become warnings.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import attrs

from kubechaos.api.duration import DurationError, format_duration, parse_duration
from kubechaos.api.manifest import (
    ManifestError,
    UnsupportedKind,
    format_path,
    read_manifest,
    show_key,
)
from kubechaos.api.objects import APIObject, Resources, Taint
from kubechaos.api.quantity import QuantityError, parse_bytes, parse_count, parse_cpu_millis
from kubechaos.api.validation import is_dns1123_label
from kubechaos.cluster import ClusterSpec, NodeGroupSpec
from kubechaos.defaults import Settings
from kubechaos.faults import CATALOGUE, MODES, ScheduledFault, Target
from kubechaos.faults.base import Fault, Param
from kubechaos.observe.metrics import FAMILIES, family_of
from kubechaos.observe.slo import DURING, KINDS, SLO, default_name
from kubechaos.scenario.explore import Choice, ExploreSpec, FaultTemplate, Range
from kubechaos.scenario.yamlfile import MarkedDict, YAMLSyntaxError, load_all, locate
from kubechaos.traffic import TrafficSpec

API_VERSION = "kubechaos/v1"
KIND = "Scenario"
DEFAULT_DURATION = 600.0

Path = tuple[str | int, ...]

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
_FAULT_KEYS = ("name", "type", "at", "duration", "target", "params", "every")
_EXPLORE_KEYS = ("faults", "count", "window")
_TEMPLATE_KEYS = ("name", "type", "target", "params", "duration")
_WINDOW_KEYS = ("from", "to")
_SLO_KEYS: dict[str, tuple[str, ...]] = {
    "recoveryWithin": ("fault", "within", "from"),
    "availability": ("service", "namespace", "atLeast"),
    "maxErrors": ("service", "namespace", "count"),
    "threshold": ("metric", "labels", "atLeast", "atMost", "during"),
}
_POD_TARGET_KEYS = ("namespace", "labelSelector", "names", "mode", "value")
_NODE_TARGET_KEYS = ("nodes", "nodeGroup", "labelSelector", "mode", "value")


@attrs.frozen
class LocatedError:
    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ScenarioError(ValueError):
    """A scenario file that cannot be run; ``errors`` lists every problem found."""

    def __init__(self, errors: list[LocatedError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


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


class _Check:
    """Collects located errors for one YAML document."""

    def __init__(self, file: str, root: Any) -> None:
        self.file = file
        self.root = root
        self.errors: list[LocatedError] = []

    def error(self, path: Path, message: str, root: Any = None, file: str | None = None) -> None:
        line, column = locate(self.root if root is None else root, path)
        self.errors.append(
            LocatedError(file or self.file, line, column, format_path(path), message)
        )

    def mapping(self, value: Any, path: Path, keys: Sequence[str]) -> Mapping[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, got {type(value).__name__}")
            return {}
        for key in value:
            if key not in keys:
                hint = difflib.get_close_matches(str(key), keys, n=1)
                suggestion = (
                    f'; did you mean "{hint[0]}"?'
                    if hint
                    else f"; expected one of: {', '.join(keys)}"
                )
                self.error((*path, key), f"unknown field {show_key(key)}{suggestion}")
        return value

    def sequence(self, value: Any, path: Path) -> Sequence[Any]:
        if value is None:
            return ()
        if not isinstance(value, list):
            self.error(path, f"expected a list, got {type(value).__name__}")
            return ()
        return value

    def string(
        self,
        data: Mapping[str, Any],
        key: str,
        path: Path,
        required: bool = False,
        default: str = "",
    ) -> str:
        value = data.get(key)
        if value is None:
            if required:
                self.error((*path, key), "required field is missing")
            return default
        if not isinstance(value, str):
            self.error((*path, key), f"expected a string, got {value!r}")
            return default
        return value

    def duration(self, data: Mapping[str, Any], key: str, path: Path, default: float) -> float:
        value = data.get(key)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except DurationError as exc:
            self.error((*path, key), str(exc))
            return default


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
    check = _Check(name, root)
    top = check.mapping(root, (), _TOP_KEYS)
    if not isinstance(root, Mapping):
        raise ScenarioError(check.errors)
    if top.get("apiVersion") != API_VERSION:
        check.error(("apiVersion",), f'expected "{API_VERSION}", got {top.get("apiVersion")!r}')
    if top.get("kind") != KIND:
        check.error(("kind",), f'expected "{KIND}", got {top.get("kind")!r}')
    meta = check.mapping(top.get("metadata"), ("metadata",), _META_KEYS)
    scenario_name = check.string(meta, "name", ("metadata",), required=True)
    description = check.string(meta, "description", ("metadata",))
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
    workloads = _workloads(
        check, spec.get("workloads"), base_dir or FsPath("."), warnings, duration, later
    )
    workloads_ok = len(check.errors) == before_workloads
    traffic = _traffic(check, spec.get("traffic"), cluster, cluster_ok)
    services = {
        (o.metadata.namespace, o.metadata.name)
        for o in (*workloads, *(obj for _, objs in later for obj in objs))
        if type(o).__name__ == "Service"
    }
    for i, entry in enumerate(traffic):
        if workloads_ok and entry.service and (entry.namespace, entry.service) not in services:
            check.error(
                ("spec", "traffic", i, "service"),
                f"no Service {entry.namespace}/{entry.service} among the workloads",
            )
    faults = _faults(check, spec.get("faults"), cluster, duration)
    explore = _explore(check, spec.get("explore"), cluster, duration) if "explore" in spec else None
    slos = _slos(
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
    )


def _cluster(check: _Check, value: Any) -> ClusterSpec:
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
        labels = _string_map(check, group.get("labels"), (*gp, "labels"))
        taints = []
        for j, raw_taint in enumerate(check.sequence(group.get("taints"), (*gp, "taints"))):
            tp: Path = (*gp, "taints", j)
            taint = check.mapping(raw_taint, tp, _TAINT_KEYS)
            effect = check.string(taint, "effect", tp, required=True)
            if effect and effect not in ("NoSchedule", "PreferNoSchedule", "NoExecute"):
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


def _capacity(check: _Check, value: Any, path: Path) -> Resources:
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


def _settings(check: _Check, value: Any, path: Path) -> Settings:
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
    check: _Check,
    value: Any,
    base_dir: FsPath,
    warnings: list[str],
    end: float,
    later: list[tuple[float, tuple[APIObject, ...]]],
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
                               warnings, end, later)  # fmt: skip
            later.append((at, tuple(found)))
            continue
        if ("path" in entry) == ("manifest" in entry):
            check.error(wp, 'each workload needs exactly one of "path" or "manifest"')
            continue
        if "manifest" in entry:
            objects += _manifests(
                check,
                [entry["manifest"]],
                (*wp, "manifest"),
                check.root,
                check.file,
                warnings,
                per_doc_path=False,
            )
            continue
        rel = check.string(entry, "path", wp, required=True)
        if not rel:
            continue
        file = base_dir / rel
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
        objects += _manifests(check, docs, (), docs, str(file), warnings, per_doc_path=True)
    return objects


def _manifests(
    check: _Check,
    docs: Sequence[Any],
    base: Path,
    root: Any,
    file: str,
    warnings: list[str],
    per_doc_path: bool,
) -> list[APIObject]:
    objects = []
    for index, doc in enumerate(docs):
        doc_root = doc if per_doc_path else root
        try:
            objects.append(read_manifest(doc, base=base))
        except UnsupportedKind as exc:
            line, _ = locate(doc_root, base) if not per_doc_path else getattr(doc, "mark", (1, 1))
            warnings.append(f"{file}:{line}: {exc}")
        except ManifestError as exc:
            for err in exc.errors:
                prefix = f"document {index + 1}: " if per_doc_path and len(docs) > 1 else ""
                line, column = locate(doc_root, err.path)
                check.errors.append(
                    LocatedError(file, line, column, err.dotted(), prefix + err.message)
                )
    return objects


def _traffic(
    check: _Check, value: Any, cluster: ClusterSpec, check_nodes: bool
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


def _did_you_mean(value: str, choices: Sequence[str]) -> str:
    hint = difflib.get_close_matches(value, list(choices), n=1)
    return f'; did you mean "{hint[0]}"?' if hint else ""


def _faults(check: _Check, value: Any, cluster: ClusterSpec, end: float) -> list[ScheduledFault]:
    scheduled: list[ScheduledFault] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(check.sequence(value, ("spec", "faults"))):
        fp: Path = ("spec", "faults", i)
        entry = check.mapping(raw, fp, _FAULT_KEYS)
        if not isinstance(raw, Mapping):
            continue
        type_name = check.string(entry, "type", fp, required=True)
        cls = CATALOGUE.get(type_name)
        if type_name and cls is None:
            check.error(
                (*fp, "type"),
                f"unknown fault type {type_name!r}"
                + (_did_you_mean(type_name, list(CATALOGUE)) or "; see `kubechaos faults`"),
            )
        name = check.string(entry, "name", fp, default=f"{type_name}-{i}")
        if name in names:
            check.error(
                (*fp, "name"), f"duplicate fault name {name!r} (also spec.faults[{names[name]}])"
            )
        names.setdefault(name, i)
        at = check.duration(entry, "at", fp, 0.0)
        if at >= end:
            check.error(
                (*fp, "at"),
                f"{format_duration(at)} is not before the end of the scenario ({format_duration(end)})",
            )
        every = check.duration(entry, "every", fp, 0.0) or None
        if "every" in entry and every is None:
            check.error((*fp, "every"), "must be longer than 0s")
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
        target = _fault_target(check, entry.get("target"), (*fp, "target"), cls, cluster)
        params = _fault_params(check, entry.get("params"), (*fp, "params"), cls)
        try:
            fault: Fault = cls(name=name, target=target, **params)
        except (TypeError, ValueError) as exc:
            check.error(fp, str(exc))
            continue
        scheduled.append(ScheduledFault(fault, at, duration, every))
    return scheduled


def _slos(
    check: _Check,
    value: Any,
    fault_names: list[str],
    services: set[tuple[str, str]] | None,
) -> list[SLO]:
    slos: list[SLO] = []
    names: dict[str, int] = {}
    for i, raw in enumerate(check.sequence(value, ("spec", "slo"))):
        sp: Path = ("spec", "slo", i)
        entry = check.mapping(raw, sp, [*KINDS, "name"])
        kinds = [k for k in entry if k in KINDS]
        if not isinstance(raw, Mapping):
            continue
        if len(kinds) != 1:
            check.error(sp, f"each SLO needs exactly one of: {', '.join(KINDS)}")
            continue
        kind = kinds[0]
        kp: Path = (*sp, kind)
        body = check.mapping(entry[kind], kp, _SLO_KEYS[kind])
        slo = SLO(kind=kind, name="")
        if kind == "recoveryWithin":
            fault = check.string(body, "fault", kp, required=True)
            if (
                fault
                and fault not in fault_names
                and fault not in {n.split("#")[0] for n in fault_names}
            ):
                check.error(
                    (*kp, "fault"),
                    f"no fault named {fault!r} in spec.faults or spec.explore.faults"
                    + _did_you_mean(fault, fault_names),
                )
            within = check.duration(body, "within", kp, 0.0)
            if "within" not in body:
                check.error((*kp, "within"), "required field is missing")
            reference = check.string(body, "from", kp, default="injection")
            if reference not in ("injection", "revert"):
                check.error((*kp, "from"), f"expected injection or revert, got {reference!r}")
            slo = attrs.evolve(slo, fault=fault, within=within, reference=reference)
        elif kind in ("availability", "maxErrors"):
            service = check.string(body, "service", kp, required=True)
            namespace = check.string(body, "namespace", kp, default="default")
            if services is not None and service and (namespace, service) not in services:
                check.error(
                    (*kp, "service"), f"no Service {namespace}/{service} among the workloads"
                )
            slo = attrs.evolve(slo, service=service, namespace=namespace)
            if kind == "availability":
                slo = attrs.evolve(slo, at_least=_ratio(check, body, "atLeast", kp))
            else:
                count = body.get("count")
                if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                    check.error((*kp, "count"), f"expected a whole number >= 0, got {count!r}")
                    count = 0
                slo = attrs.evolve(slo, count=count)
        else:
            metric = check.string(body, "metric", kp, required=True)
            if metric and family_of(metric) is None:
                check.error(
                    (*kp, "metric"),
                    f"{metric!r} is not a series kubechaos exposes"
                    + (_did_you_mean(metric, list(FAMILIES)) or "; see the README's metrics list"),
                )
            labels = _string_map(check, body.get("labels"), (*kp, "labels"))
            bounds = {}
            for key in ("atLeast", "atMost"):
                if key in body:
                    item = body[key]
                    if isinstance(item, bool) or not isinstance(item, int | float) or item != item:
                        check.error((*kp, key), f"expected a number, got {item!r}")
                    else:
                        bounds[key] = float(item)
            if len([k for k in ("atLeast", "atMost") if k in body]) != 1:
                check.error(kp, 'give exactly one of "atLeast" or "atMost"')
            during = check.string(body, "during", kp, default="whole")
            if during not in DURING:
                check.error((*kp, "during"), f"expected one of {', '.join(DURING)}, got {during!r}")
            slo = attrs.evolve(
                slo, metric=metric, labels=labels, at_least=bounds.get("atLeast"),
                at_most=bounds.get("atMost"), during=during,
            )  # fmt: skip
        name = check.string(entry, "name", sp) or default_name(slo)
        if name in names:
            check.error(sp, f'two SLOs are named {name!r}; give one a "name"')
        names.setdefault(name, i)
        slos.append(attrs.evolve(slo, name=name))
    return slos


def _ratio(check: _Check, body: Mapping[str, Any], key: str, path: Path) -> float:
    """A share written as "99.5%" or 0.995."""
    raw = body.get(key)
    if raw is None:
        check.error((*path, key), 'required field is missing (e.g. "99.5%")')
        return 0.0
    value: Any = raw
    if isinstance(raw, str) and raw.strip().endswith("%"):
        try:
            value = float(raw.strip()[:-1]) / 100
        except ValueError:
            value = None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        check.error((*path, key), f'expected a share like "99.5%" or 0.995, got {raw!r}')
        return 0.0
    return float(value)


def _explore(check: _Check, value: Any, cluster: ClusterSpec, end: float) -> ExploreSpec | None:
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
        type_name = check.string(entry, "type", tp, required=True)
        cls = CATALOGUE.get(type_name)
        if type_name and cls is None:
            check.error(
                (*tp, "type"),
                f"unknown fault type {type_name!r}"
                + (_did_you_mean(type_name, list(CATALOGUE)) or "; see `kubechaos faults`"),
            )
        name = check.string(entry, "name", tp, default=f"{type_name}-{i}")
        if name in names or "#" in name:
            check.error((*tp, "name"), f"template names must be unique and without '#': {name!r}")
        names.setdefault(name, i)
        if cls is None:
            continue
        target = _fault_target(check, entry.get("target"), (*tp, "target"), cls, cluster)
        params = _param_space(check, entry.get("params"), (*tp, "params"), cls)
        duration: Any = None
        if "duration" in entry:
            if not cls.lasting:
                check.error((*tp, "duration"), f"{type_name} acts once; a duration means nothing")
            duration = _space(check, entry["duration"], (*tp, "duration"), _duration_param())
        elif cls.needs_duration:
            check.error(tp, f"{type_name} needs a duration")
        templates.append(FaultTemplate(name, cls, target, params, duration))
    count: Any = 1
    if "count" in raw:
        count = _space(
            check, raw["count"], (*path, "count"), Param("count", "count", "count", 1, "")
        )
        low = count.low if isinstance(count, Range) else count
        if isinstance(count, Choice) or not isinstance(low, int | float) or low < 1:
            check.error((*path, "count"), "expected a whole number >= 1 or {min, max}")
            count = 1
    window = check.mapping(raw.get("window"), (*path, "window"), _WINDOW_KEYS)
    start = check.duration(window, "from", (*path, "window"), 0.0)
    stop = check.duration(window, "to", (*path, "window"), end)
    if not 0 <= start < stop <= end:
        check.error(
            (*path, "window"), f"expected 0 <= from < to <= the duration ({format_duration(end)})"
        )
    return ExploreSpec(tuple(templates), count, (start, stop))


def _duration_param() -> Param:
    return Param("duration", "duration", "duration", None, "")


def _space(check: _Check, raw: Any, path: Path, p: Param) -> Any:
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


def _param_space(check: _Check, value: Any, path: Path, cls: type[Fault]) -> dict[str, Any]:
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
    check: _Check, value: Any, path: Path, cls: type[Fault], cluster: ClusterSpec
) -> Target:
    kind = cls.target_kind
    if kind == "none":
        if value:
            check.error(path, f"{cls.type} acts on the control plane and takes no target")
        return Target()
    keys = _POD_TARGET_KEYS if kind == "pods" else _NODE_TARGET_KEYS
    raw = check.mapping(value, path, keys)
    mode = check.string(raw, "mode", path, default="all")
    if mode not in MODES:
        check.error(
            (*path, "mode"),
            f"expected one of {', '.join(MODES)}, got {mode!r}" + _did_you_mean(mode, MODES),
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
    labels = _string_map(check, raw.get("labelSelector"), (*path, "labelSelector"))
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
        check.error((*path, "nodeGroup"), f"no node group {group!r}" + _did_you_mean(group, groups))
    nodes = check.sequence(raw.get("nodes"), (*path, "nodes"))
    for j, n in enumerate(nodes):
        if n not in all_nodes:
            check.error(
                (*path, "nodes", j), f"no node named {n!r}" + _did_you_mean(str(n), all_nodes)
            )
    return Target(
        nodes=tuple(str(n) for n in nodes),
        node_group=group,
        label_selector=labels,
        mode=mode,
        value=float(amount),
    )


def _string_map(check: _Check, value: Any, path: Path) -> dict[str, str]:
    raw = check.mapping(value, path, list(value) if isinstance(value, Mapping) else [])
    result = {}
    for key, item in raw.items():
        if not isinstance(item, str):
            check.error((*path, key), f"expected a string value, got {item!r} (quote it)")
        else:
            result[str(key)] = item
    return result


def _fault_params(check: _Check, value: Any, path: Path, cls: type[Fault]) -> dict[str, Any]:
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


__all__ = [
    "LocatedError",
    "MarkedDict",
    "Scenario",
    "ScenarioError",
    "load_scenario",
    "parse_scenario",
]
