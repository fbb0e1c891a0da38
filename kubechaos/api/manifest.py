"""Real Kubernetes manifests (as parsed YAML) into API objects.

The reader accepts what ``kubectl apply`` accepts for the kinds the model serves (Namespace, Pod,
ReplicaSet, Deployment, Service), drops fields the model does not act on (which ones, and which
of those are warned about, is :mod:`kubechaos.api.modelled`'s list: keep it in step with this
reader), and reports every problem it finds at once as :class:`FieldError` s with a path
(``spec.template.spec.containers[0].image``) so the caller can point at the file and line. Semantic validation (names, selectors,
ranges) is the API server's: :func:`kubechaos.api.validation.validate` runs on the result too, so
a manifest that reads fine but the API server would refuse is refused here with the same words.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.fieldreader import FieldReader, ManifestError, Path, type_name
from kubechaos.api.objects import (
    APIObject,
    ConfigMap,
    ConfigRef,
    Container,
    ContainerPort,
    Deployment,
    DeploymentSpec,
    DeploymentStrategy,
    Namespace,
    ObjectMeta,
    Pod,
    PodDisruptionBudget,
    PodDisruptionBudgetSpec,
    PodSpec,
    PodTemplate,
    PriorityClass,
    Probe,
    ReplicaSet,
    ReplicaSetSpec,
    Resources,
    Secret,
    Service,
    ServiceAccount,
    ServicePort,
    ServiceSpec,
    Toleration,
)
from kubechaos.api.quantity import parse_bytes, parse_cpu_millis
from kubechaos.api.selectors import OPERATORS, LabelSelector, Requirement
from kubechaos.api.validation import validate

SUPPORTED_KINDS = {
    "Namespace": "v1",
    "Pod": "v1",
    "Service": "v1",
    "ReplicaSet": "apps/v1",
    "Deployment": "apps/v1",
    "ConfigMap": "v1",
    "Secret": "v1",
    "ServiceAccount": "v1",
    "PriorityClass": "scheduling.k8s.io/v1",
    "PodDisruptionBudget": "policy/v1",
}
_CLUSTER_SCOPED = ("Namespace", "PriorityClass")


class UnsupportedKind(ValueError):
    """A valid manifest of a kind the model does not serve (a warning, not an error)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} is not modelled; skipped")
        self.kind = kind
        self.name = name


def _meta(r: FieldReader, data: Any, path: Path, default_namespace: str = "") -> ObjectMeta:
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


def _pod_spec(r: FieldReader, data: Any, path: Path) -> PodSpec:
    raw = r.map(data, path)
    if "containers" not in raw:
        r.error((*path, "containers"), "Required value")
    containers = tuple(
        _container(r, c, (*path, "containers", i))
        for i, c in enumerate(r.seq(raw.get("containers"), (*path, "containers")))
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
    )


def _template(r: FieldReader, data: Any, path: Path) -> PodTemplate:
    raw = r.map(data, path)
    if "spec" not in raw:
        r.error((*path, "spec"), "Required value")
    return PodTemplate(
        _meta(r, raw.get("metadata"), (*path, "metadata")),
        _pod_spec(r, raw.get("spec"), (*path, "spec")),
    )


def _selector(r: FieldReader, data: Any, path: Path) -> LabelSelector:
    raw = r.map(data, path)
    expressions = []
    for i, expr in enumerate(r.seq(raw.get("matchExpressions"), (*path, "matchExpressions"))):
        ep = (*path, "matchExpressions", i)
        er = r.map(expr, ep)
        op = r.str_(er, "operator", ep, required=True)
        if op and op not in OPERATORS:
            r.error((*ep, "operator"), f"must be one of {', '.join(OPERATORS)}, not {op!r}")
        values = tuple(str(v) for v in r.seq(er.get("values"), (*ep, "values")))
        expressions.append(Requirement(r.str_(er, "key", ep, required=True), op, values))
    return LabelSelector(r.labels(raw, "matchLabels", path), tuple(expressions))


def _workload_common(r: FieldReader, spec: Mapping[str, Any]) -> tuple[LabelSelector, PodTemplate]:
    path: Path = ("spec",)
    if "selector" not in spec:
        r.error((*path, "selector"), "Required value")
    if "template" not in spec:
        r.error((*path, "template"), "Required value")
    return _selector(r, spec.get("selector"), (*path, "selector")), _template(
        r, spec.get("template"), (*path, "template")
    )


def _read_config(kind: str, r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> APIObject:
    if kind == "ConfigMap":
        return ConfigMap(
            meta,
            r.labels(doc, "data", ()),
            r.labels(doc, "binaryData", ()),
            r.bool_(doc, "immutable", (), False),
        )
    if kind == "Secret":
        return Secret(
            meta,
            r.labels(doc, "data", ()),
            r.labels(doc, "stringData", ()),
            r.str_(doc, "type", (), "Opaque"),
            r.bool_(doc, "immutable", (), False),
        )
    if kind == "ServiceAccount":
        automount = doc.get("automountServiceAccountToken")
        return ServiceAccount(
            meta,
            None if automount is None else r.bool_(doc, "automountServiceAccountToken", (), True),
        )
    return PriorityClass(
        meta,
        r.int_(doc, "value", (), 0),
        r.bool_(doc, "globalDefault", (), False),
        r.str_(doc, "preemptionPolicy", (), "PreemptLowerPriority"),
        r.str_(doc, "description", ()),
    )


def _pdb_spec(r: FieldReader, spec: Mapping[str, Any]) -> PodDisruptionBudgetSpec:
    path: Path = ("spec",)
    selector = _selector(r, spec["selector"], (*path, "selector")) if "selector" in spec else None
    bounds = [
        r.int_or_percent(spec, key, path, 0) if key in spec else None
        for key in ("minAvailable", "maxUnavailable")
    ]
    return PodDisruptionBudgetSpec(
        selector=selector,
        min_available=bounds[0],
        max_unavailable=bounds[1],
        unhealthy_pod_eviction_policy=r.str_(
            spec, "unhealthyPodEvictionPolicy", path, "IfHealthyBudget"
        ),
    )


def _read(kind: str, r: FieldReader, doc: Mapping[str, Any], namespace: str) -> APIObject:
    namespaced = kind not in _CLUSTER_SCOPED
    meta = _meta(r, doc.get("metadata"), ("metadata",), namespace if namespaced else "")
    if kind in ("ConfigMap", "Secret", "ServiceAccount", "PriorityClass"):
        return _read_config(kind, r, doc, meta)
    spec = r.map(doc.get("spec"), ("spec",))
    if kind == "Namespace":
        return Namespace(meta)
    if kind == "Pod":
        return Pod(meta, _pod_spec(r, doc.get("spec"), ("spec",)))
    if kind == "Service":
        ports = []
        for i, port in enumerate(r.seq(spec.get("ports"), ("spec", "ports"))):
            pp: Path = ("spec", "ports", i)
            pr = r.map(port, pp)
            if "port" not in pr:
                r.error((*pp, "port"), "Required value")
            target = pr.get("targetPort", 0)
            if isinstance(target, bool) or not isinstance(target, int | str):
                r.error(
                    (*pp, "targetPort"), f"expected a port number or name, got {type_name(target)}"
                )
                target = 0
            ports.append(
                ServicePort(
                    r.int_(pr, "port", pp, 0),
                    target,
                    r.str_(pr, "name", pp),
                    r.str_(pr, "protocol", pp, "TCP"),
                )
            )
        return Service(
            meta,
            ServiceSpec(
                selector=r.labels(spec, "selector", ("spec",)),
                ports=tuple(ports),
                cluster_ip=r.str_(spec, "clusterIP", ("spec",)),
                type=r.str_(spec, "type", ("spec",), "ClusterIP"),
                publish_not_ready_addresses=r.bool_(
                    spec, "publishNotReadyAddresses", ("spec",), False
                ),
            ),
        )
    if kind == "PodDisruptionBudget":
        return PodDisruptionBudget(meta, _pdb_spec(r, spec))
    selector, template = _workload_common(r, spec)
    if kind == "ReplicaSet":
        return ReplicaSet(
            meta,
            ReplicaSetSpec(
                selector=selector,
                template=template,
                replicas=r.int_(spec, "replicas", ("spec",), 1),
                min_ready_seconds=r.int_(spec, "minReadySeconds", ("spec",), 0),
            ),
        )
    strategy_raw = r.map(spec.get("strategy"), ("spec", "strategy"))
    strategy_type = r.str_(strategy_raw, "type", ("spec", "strategy"), "RollingUpdate")
    rolling = r.map(strategy_raw.get("rollingUpdate"), ("spec", "strategy", "rollingUpdate"))
    rp: Path = ("spec", "strategy", "rollingUpdate")
    return Deployment(
        meta,
        DeploymentSpec(
            selector=selector,
            template=template,
            replicas=r.int_(spec, "replicas", ("spec",), 1),
            strategy=DeploymentStrategy(
                type=strategy_type,
                max_surge=r.int_or_percent(rolling, "maxSurge", rp, "25%"),
                max_unavailable=r.int_or_percent(rolling, "maxUnavailable", rp, "25%"),
            ),
            min_ready_seconds=r.int_(spec, "minReadySeconds", ("spec",), 0),
            revision_history_limit=r.int_(spec, "revisionHistoryLimit", ("spec",), 10),
            progress_deadline_seconds=r.int_(spec, "progressDeadlineSeconds", ("spec",), 600),
            paused=r.bool_(spec, "paused", ("spec",), False),
        ),
    )


def read_manifest(doc: Any, namespace: str = "default", base: Path = ()) -> APIObject:
    """One manifest document into an API object.

    Raises :class:`ManifestError` listing every problem (paths prefixed with ``base``), or
    :class:`UnsupportedKind` for well-formed manifests of kinds the model does not serve.
    """
    r = FieldReader(base)
    if not isinstance(doc, Mapping):
        r.error((), f"a manifest must be a mapping, got {type_name(doc)}")
        raise ManifestError(r.errors)
    kind = r.str_(doc, "kind", (), required=True)
    api_version = r.str_(doc, "apiVersion", (), required=True)
    if r.errors:
        raise ManifestError(r.errors)
    if kind not in SUPPORTED_KINDS:
        name = (
            doc.get("metadata", {}).get("name", "")
            if isinstance(doc.get("metadata"), Mapping)
            else ""
        )
        raise UnsupportedKind(kind, str(name))
    if api_version != SUPPORTED_KINDS[kind]:
        r.error(
            ("apiVersion",), f"{kind} is served as {SUPPORTED_KINDS[kind]!r}, not {api_version!r}"
        )
    obj = _read(kind, r, doc, namespace)
    if not r.errors:
        checked = obj
        if not obj.metadata.name and obj.metadata.generate_name:
            # the API server validates the generated name; any suffix stands in for it here
            checked = attrs.evolve(
                obj, metadata=attrs.evolve(obj.metadata, name=obj.metadata.generate_name + "x")
            )
        for cause in validate(checked):
            field, _, message = cause.partition(": ")
            r.error(_parse_dotted(field), message)
    if r.errors:
        raise ManifestError(r.errors)
    return obj


def _parse_dotted(field: str) -> Path:
    """``spec.containers[0].name`` -> ("spec", "containers", 0, "name")."""
    out: list[str | int] = []
    for part in field.split("."):
        while "[" in part:
            head, _, rest = part.partition("[")
            if head:
                out.append(head)
            index, _, part = rest.partition("]")
            out.append(int(index) if index.isdigit() else index)
        if part:
            out.append(part)
    return tuple(out)
