"""Readers for the pieces every workload kind shares: metadata, the pod spec and its
containers, probes, resources and config references, the pod template and the label selector.

A kind's own reader (``core``, ``apps``, ``policy``, ...) calls these; each adds its
:class:`~kubechaos.api.fieldreader.FieldError` s to the reader it is given and returns what it
could read, so one pass reports every problem in a manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader, Path, type_name
from kubechaos.api.objects import (
    ConfigRef,
    Container,
    ContainerPort,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    ObjectMeta,
    PodSpec,
    PodTemplate,
    PreferredSchedulingTerm,
    Probe,
    Resources,
    Toleration,
)
from kubechaos.api.quantity import parse_bytes, parse_cpu_millis
from kubechaos.api.readers.lifecycle import read_lifecycle, read_optional_int
from kubechaos.api.readers.podaffinity import read_pod_placement
from kubechaos.api.readers.selectors import read_selector
from kubechaos.api.selectors import LabelSelector


def read_meta(r: FieldReader, data: Any, path: Path, default_namespace: str = "") -> ObjectMeta:
    meta = r.map(data, path)
    return ObjectMeta(
        name=r.str_(meta, "name", path),
        generate_name=r.str_(meta, "generateName", path),
        namespace=r.str_(meta, "namespace", path, default_namespace),
        labels=r.labels(meta, "labels", path),
        annotations=r.labels(meta, "annotations", path),
    )


def _resources(r: FieldReader, data: Any, path: Path) -> Resources:
    raw = r.map(data, path)
    return Resources(
        cpu_millis=r.quantity(parse_cpu_millis, raw, "cpu", path),
        memory_bytes=r.quantity(parse_bytes, raw, "memory", path),
    )


def _probe(r: FieldReader, data: Any, path: Path) -> Probe | None:
    if data is None:
        return None
    raw = r.map(data, path)
    handlers = [h for h in ("httpGet", "tcpSocket", "exec", "grpc") if h in raw]
    if len(handlers) != 1:
        r.error(path, "must specify exactly one handler: httpGet, tcpSocket, exec or grpc")
    return Probe(
        handler=handlers[0] if handlers else "httpGet",
        initial_delay_seconds=r.int_(raw, "initialDelaySeconds", path, 0),
        period_seconds=r.int_(raw, "periodSeconds", path, 10),
        timeout_seconds=r.int_(raw, "timeoutSeconds", path, 1),
        success_threshold=r.int_(raw, "successThreshold", path, 1),
        failure_threshold=r.int_(raw, "failureThreshold", path, 3),
        termination_grace_period_seconds=read_optional_int(
            r, raw, "terminationGracePeriodSeconds", path
        ),
    )


def _container(r: FieldReader, data: Any, path: Path) -> Container:
    raw = r.map(data, path)
    resources = r.map(raw.get("resources"), (*path, "resources"))
    ports = []
    for i, port in enumerate(r.seq(raw.get("ports"), (*path, "ports"))):
        port_raw = r.map(port, (*path, "ports", i))
        ports.append(
            ContainerPort(
                r.int_(port_raw, "containerPort", (*path, "ports", i), 0),
                r.str_(port_raw, "name", (*path, "ports", i)),
                r.str_(port_raw, "protocol", (*path, "ports", i), "TCP"),
                r.int_(port_raw, "hostPort", (*path, "ports", i), 0) or None,
                r.str_(port_raw, "hostIP", (*path, "ports", i)),
            )
        )
    return Container(
        name=r.str_(raw, "name", path, required=True),
        image=r.str_(raw, "image", path, required=True),
        requests=_resources(r, resources.get("requests"), (*path, "resources", "requests")),
        limits=_resources(r, resources.get("limits"), (*path, "resources", "limits")),
        ports=tuple(ports),
        liveness_probe=_probe(r, raw.get("livenessProbe"), (*path, "livenessProbe")),
        readiness_probe=_probe(r, raw.get("readinessProbe"), (*path, "readinessProbe")),
        startup_probe=_probe(r, raw.get("startupProbe"), (*path, "startupProbe")),
        image_pull_policy=r.str_(raw, "imagePullPolicy", path, "IfNotPresent"),
        config_refs=_env_refs(r, raw, path),
        lifecycle=read_lifecycle(r, raw.get("lifecycle"), (*path, "lifecycle")),
        restart_policy=r.str_(raw, "restartPolicy", path),
    )


_REF_KINDS = {"configMapKeyRef": "ConfigMap", "secretKeyRef": "Secret"}
_FROM_KINDS = {"configMapRef": "ConfigMap", "secretRef": "Secret"}
_VOLUME_KINDS = {"configMap": ("ConfigMap", "name"), "secret": ("Secret", "secretName")}


def _env_refs(r: FieldReader, raw: Mapping[str, Any], path: Path) -> tuple[ConfigRef, ...]:
    """``env[].valueFrom.{configMapKeyRef,secretKeyRef}`` and ``envFrom[].{configMapRef,
    secretRef}``: what the kubelet must find before it starts the container."""
    refs = []
    for i, env in enumerate(r.seq(raw.get("env"), (*path, "env"))):
        ep = (*path, "env", i, "valueFrom")
        value_from = r.map(r.map(env, (*path, "env", i)).get("valueFrom"), ep)
        for field, kind in _REF_KINDS.items():
            if field in value_from:
                ref = r.map(value_from[field], (*ep, field))
                refs.append(
                    ConfigRef(
                        kind,
                        r.str_(ref, "name", (*ep, field), required=True),
                        r.str_(ref, "key", (*ep, field), required=True),
                        r.bool_(ref, "optional", (*ep, field), False),
                    )
                )
    for i, source in enumerate(r.seq(raw.get("envFrom"), (*path, "envFrom"))):
        fp = (*path, "envFrom", i)
        source_raw = r.map(source, fp)
        for field, kind in _FROM_KINDS.items():
            if field in source_raw:
                ref = r.map(source_raw[field], (*fp, field))
                refs.append(
                    ConfigRef(
                        kind,
                        r.str_(ref, "name", (*fp, field), required=True),
                        optional=r.bool_(ref, "optional", (*fp, field), False),
                    )
                )
    return tuple(refs)


def _volume_refs(r: FieldReader, raw: Mapping[str, Any], path: Path) -> tuple[ConfigRef, ...]:
    """configMap and secret volumes (other volume types are warned about, not read)."""
    refs = []
    for i, volume in enumerate(r.seq(raw.get("volumes"), (*path, "volumes"))):
        vp = (*path, "volumes", i)
        volume_raw = r.map(volume, vp)
        for field, (kind, name_field) in _VOLUME_KINDS.items():
            if field in volume_raw:
                source = r.map(volume_raw[field], (*vp, field))
                refs.append(
                    ConfigRef(
                        kind,
                        r.str_(source, name_field, (*vp, field), required=True),
                        optional=r.bool_(source, "optional", (*vp, field), False),
                        volume=r.str_(volume_raw, "name", vp, required=True),
                    )
                )
    return tuple(refs)


def _node_requirements(
    r: FieldReader, term: Mapping[str, Any], key: str, path: Path
) -> tuple[NodeSelectorRequirement, ...]:
    out = []
    for i, req in enumerate(r.seq(term.get(key), (*path, key))):
        rp = (*path, key, i)
        raw = r.map(req, rp)
        values = r.seq(raw.get("values"), (*rp, "values"))
        for j, value in enumerate(values):
            if not isinstance(value, str):
                r.error((*rp, "values", j), f"expected a string, got {type_name(value)}")
        out.append(
            NodeSelectorRequirement(
                r.str_(raw, "key", rp, required=True),
                r.str_(raw, "operator", rp, required=True),
                tuple(str(v) for v in values),
            )
        )
    return tuple(out)


def _node_affinity(
    r: FieldReader, raw: Mapping[str, Any], path: Path
) -> tuple[NodeSelectorTerm, ...]:
    """``affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``'s terms (pod
    (anti-)affinity is warned about, not read)."""
    ap = (*path, "affinity")
    node = r.map(r.map(raw.get("affinity"), ap).get("nodeAffinity"), (*ap, "nodeAffinity"))
    field = "requiredDuringSchedulingIgnoredDuringExecution"
    np: Path = (*ap, "nodeAffinity", field)
    if node.get(field) is None:
        return ()
    required = r.map(node.get(field), np)
    if not r.seq(required.get("nodeSelectorTerms"), (*np, "nodeSelectorTerms")):
        r.error(
            (*np, "nodeSelectorTerms"), "Required value: must have at least one node selector term"
        )
    terms = []
    for i, term in enumerate(r.seq(required.get("nodeSelectorTerms"), (*np, "nodeSelectorTerms"))):
        tp = (*np, "nodeSelectorTerms", i)
        term_raw = r.map(term, tp)
        terms.append(
            NodeSelectorTerm(
                _node_requirements(r, term_raw, "matchExpressions", tp),
                _node_requirements(r, term_raw, "matchFields", tp),
            )
        )
    return tuple(terms)


def _preferred_node_affinity(
    r: FieldReader, raw: Mapping[str, Any], path: Path
) -> tuple[PreferredSchedulingTerm, ...]:
    """``affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution``: weighted
    node selector terms (the NodeAffinity score plugin sums the weights a node matches)."""
    ap = (*path, "affinity")
    node = r.map(r.map(raw.get("affinity"), ap).get("nodeAffinity"), (*ap, "nodeAffinity"))
    field = "preferredDuringSchedulingIgnoredDuringExecution"
    np: Path = (*ap, "nodeAffinity", field)
    terms = []
    for i, item in enumerate(r.seq(node.get(field), np)):
        tp = (*np, i)
        term_raw = r.map(item, tp)
        pp = (*tp, "preference")
        pref = r.map(term_raw.get("preference"), pp)
        terms.append(
            PreferredSchedulingTerm(
                r.int_(term_raw, "weight", tp, 0),
                NodeSelectorTerm(
                    _node_requirements(r, pref, "matchExpressions", pp),
                    _node_requirements(r, pref, "matchFields", pp),
                ),
            )
        )
    return tuple(terms)


def read_pod_spec(r: FieldReader, data: Any, path: Path) -> PodSpec:
    raw = r.map(data, path)
    if "containers" not in raw:
        r.error((*path, "containers"), "Required value")
    containers = tuple(
        _container(r, c, (*path, "containers", i))
        for i, c in enumerate(r.seq(raw.get("containers"), (*path, "containers")))
    )
    init_containers = tuple(
        _container(r, c, (*path, "initContainers", i))
        for i, c in enumerate(r.seq(raw.get("initContainers"), (*path, "initContainers")))
    )
    tolerations = []
    for i, tol in enumerate(r.seq(raw.get("tolerations"), (*path, "tolerations"))):
        tp = (*path, "tolerations", i)
        tr = r.map(tol, tp)
        seconds = tr.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            r.error((*tp, "tolerationSeconds"), f"expected an integer, got {type_name(seconds)}")
            seconds = None
        tolerations.append(
            Toleration(
                key=r.str_(tr, "key", tp),
                operator=r.str_(tr, "operator", tp, "Equal"),
                value=r.str_(tr, "value", tp),
                effect=r.str_(tr, "effect", tp),
                toleration_seconds=seconds,
            )
        )
    return PodSpec(
        containers=containers,
        node_name=r.str_(raw, "nodeName", path),
        node_selector=r.labels(raw, "nodeSelector", path),
        tolerations=tuple(tolerations),
        restart_policy=r.str_(raw, "restartPolicy", path, "Always"),
        termination_grace_period_seconds=r.int_(raw, "terminationGracePeriodSeconds", path, 30),
        scheduler_name=r.str_(raw, "schedulerName", path, "default-scheduler"),
        volume_refs=_volume_refs(r, raw, path),
        node_affinity=_node_affinity(r, raw, path),
        init_containers=init_containers,
        preferred_node_affinity=_preferred_node_affinity(r, raw, path),
        priority_class_name=r.str_(raw, "priorityClassName", path),
        priority=None if raw.get("priority") is None else r.int_(raw, "priority", path, 0),
        preemption_policy=r.str_(raw, "preemptionPolicy", path),
        readiness_gates=_readiness_gates(r, raw, path),
        **read_pod_placement(r, raw, path),
    )


def _readiness_gates(r: FieldReader, raw: Mapping[str, Any], path: Path) -> tuple[str, ...]:
    """``readinessGates[].conditionType`` (core/v1 PodReadinessGate)."""
    gates = []
    for i, gate in enumerate(r.seq(raw.get("readinessGates"), (*path, "readinessGates"))):
        gp = (*path, "readinessGates", i)
        kind = r.str_(r.map(gate, gp), "conditionType", gp)
        if not kind:
            r.error((*gp, "conditionType"), "Required value")
        gates.append(kind)
    return tuple(gates)


def read_template(r: FieldReader, data: Any, path: Path) -> PodTemplate:
    raw = r.map(data, path)
    if "spec" not in raw:
        r.error((*path, "spec"), "Required value")
    return PodTemplate(
        read_meta(r, raw.get("metadata"), (*path, "metadata")),
        read_pod_spec(r, raw.get("spec"), (*path, "spec")),
    )


def read_workload_common(
    r: FieldReader, spec: Mapping[str, Any]
) -> tuple[LabelSelector, PodTemplate]:
    path: Path = ("spec",)
    if "selector" not in spec:
        r.error((*path, "selector"), "Required value")
    if "template" not in spec:
        r.error((*path, "template"), "Required value")
    return read_selector(r, spec.get("selector"), (*path, "selector")), read_template(
        r, spec.get("template"), (*path, "template")
    )
