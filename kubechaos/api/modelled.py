"""Which fields of a manifest the model acts on, kind by kind: the one list of them.

:mod:`kubechaos.api.manifest` reads a manifest of a served kind into an API object and drops
every field it does not read. A dropped field is a difference from a real cluster the user
cannot see (a ``preStop`` hook, a topology spread
that keeps a zone's pods apart), so each one that is present gets a warning:
:func:`unmodelled_fields` lists their paths, and the scenario loader words them as
``web.yaml:23: spec.template.spec.affinity.podAffinity: not modelled (ignored); recovery times may
differ from a real cluster``. A field this module calls read must be read by the reader: the
trees below follow ``manifest.py`` line for line (keep them in step when the reader changes).

A tree maps each field name to what the model does with it:

- ``READ``: the reader reads it, and everything beneath it (a probe's ``httpGet`` is read as
  "an HTTP probe": its outcome is the container behaviour's, not the path's or the port's);
- a tree: the reader reads some fields beneath it; the rest are looked at one by one;
- ``SILENT``: not read, and deliberately not warned about, because it cannot change what the
  modelled cluster does or how fast it recovers;
- :class:`Default`: not read, silent while it holds upstream's default (what an exported
  manifest carries), warned about otherwise;
- a field not in the tree: not read, and warned about.

Deliberately silent, and why:

- ``status``, and metadata the API server sets itself (``uid``, ``resourceVersion``,
  ``generation``, ``creationTimestamp``, ``managedFields``, ``selfLink``,
  ``deletionTimestamp``, ``deletionGracePeriodSeconds``): the API server ignores them on
  create, as the model does. Labels and annotations are read (selectors, the
  ``kubechaos.io/behaviour`` annotation, the load model's ``kubechaos.io/cpu-per-request`` and
  ``kubechaos.io/cpu-idle``, ``controller.kubernetes.io/pod-deletion-cost``); other
  annotations are notes to people and tools.
- What a container's process is (``command``, ``args``, ``workingDir``, ``env`` values,
  ``stdin``, ``stdinOnce``, ``tty``, ``terminationMessagePath``, ``terminationMessagePolicy``):
  the ``kubechaos.io/behaviour`` annotation stands for what the process does. An ``env``
  entry's ``valueFrom`` is warned about (a missing reference stops a real container).
- A pod's names (``hostname``, ``subdomain``, ``setHostnameAsFQDN``), and a Service's address
  families (``clusterIPs``, ``ipFamilies``, ``ipFamilyPolicy``) and ``ports[].appProtocol``:
  the model's traffic reaches pods through Services by IP, so these change nothing it measures.
- A Service's ``externalTrafficPolicy``: it applies only to traffic from outside the cluster
  (NodePorts, load balancers, external IPs), and the model's clients are all inside it; their
  Service traffic follows ``internalTrafficPolicy`` (read).
- An empty value (``securityContext: {}``, ``volumes: []``, ``null``, ``""``): it asks
  for nothing.

Kinds the reader does not serve at all are skipped with their own warning
(:class:`kubechaos.api.manifest.UnsupportedKind`); :func:`coverage_markdown` renders all of
this for the README, whose copy a test keeps equal to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kubechaos.api.schema import definition_properties


class _Mark:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


READ = _Mark("READ")
SILENT = _Mark("SILENT")


@attrs.frozen
class Default:
    """Not read; silent while the field holds upstream's default ``value``."""

    value: Any


Tree = Mapping[str, Any]  # field name -> READ | SILENT | Default | Tree

_META: Tree = {
    "name": READ,
    "generateName": READ,
    "namespace": READ,
    "labels": READ,
    "annotations": READ,
    **{
        field: SILENT
        for field in (
            "uid",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "managedFields",
            "selfLink",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
        )
    },
}  # ownerReferences and finalizers change deletion and adoption: warned about
_PROBE: Tree = {
    **{handler: READ for handler in ("httpGet", "tcpSocket", "exec", "grpc")},
    **{
        field: READ
        for field in (
            "initialDelaySeconds",
            "periodSeconds",
            "timeoutSeconds",
            "successThreshold",
            "failureThreshold",
            "terminationGracePeriodSeconds",
        )
    },
}
# a hook's tcpSocket is deprecated and fails at run time upstream: warned
_HOOK: Tree = {"exec": READ, "httpGet": READ, "sleep": READ}
_QUANTITIES: Tree = {"cpu": READ, "memory": READ}
_CONTAINER: Tree = {
    "name": READ,
    "image": READ,
    "imagePullPolicy": READ,
    "ports": {
        "containerPort": READ,
        "name": READ,
        "protocol": READ,
        "hostPort": READ,
        "hostIP": READ,
    },
    "resources": {"requests": _QUANTITIES, "limits": _QUANTITIES},
    "livenessProbe": _PROBE,
    "readinessProbe": _PROBE,
    "startupProbe": _PROBE,
    "lifecycle": {"postStart": _HOOK, "preStop": _HOOK},
    "env": {
        "name": SILENT,
        "value": SILENT,
        "valueFrom": {"configMapKeyRef": READ, "secretKeyRef": READ},
    },
    "envFrom": {"configMapRef": READ, "secretRef": READ, "prefix": SILENT},
    "restartPolicy": READ,  # init containers only: Always makes a sidecar (validated)
    **{
        field: SILENT
        for field in (
            "command",
            "args",
            "workingDir",
            "stdin",
            "stdinOnce",
            "tty",
            "terminationMessagePath",
            "terminationMessagePolicy",
        )
    },
}
_POD_SPEC: Tree = {
    "containers": _CONTAINER,
    "initContainers": _CONTAINER,
    "nodeName": READ,
    "nodeSelector": READ,
    "tolerations": READ,
    # node affinity (required and preferred), pod (anti-)affinity and topology spread are read
    "affinity": {
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": READ,
            "preferredDuringSchedulingIgnoredDuringExecution": READ,
        },
        "podAffinity": READ,
        "podAntiAffinity": READ,
    },
    "topologySpreadConstraints": READ,
    "restartPolicy": READ,
    "terminationGracePeriodSeconds": READ,
    "schedulerName": READ,
    "volumes": {"name": READ, "configMap": READ, "secret": READ, "emptyDir": SILENT},
    "hostname": SILENT,
    "subdomain": SILENT,
    "setHostnameAsFQDN": SILENT,
    "dnsPolicy": Default("ClusterFirst"),
    "enableServiceLinks": Default(True),
    "hostNetwork": Default(False),
    "hostPID": Default(False),
    "hostIPC": Default(False),
    "shareProcessNamespace": Default(False),
    "automountServiceAccountToken": Default(True),
    "serviceAccountName": Default("default"),
    "serviceAccount": Default("default"),
    # resolved by the Priority admission plugin; drive queue order and preemption
    "priorityClassName": READ,
    "priority": READ,
    "preemptionPolicy": READ,
    # the kubelet's Ready waits for each gate's condition (set by a client) to be True
    "readinessGates": READ,
}
_TEMPLATE: Tree = {"metadata": _META, "spec": _POD_SPEC}
_SERVICE_SPEC: Tree = {
    "selector": READ,
    "ports": {
        "port": READ,
        "targetPort": READ,
        "name": READ,
        "protocol": READ,
        "appProtocol": SILENT,
    },
    "clusterIP": READ,
    "type": READ,
    "publishNotReadyAddresses": READ,
    "clusterIPs": SILENT,
    "ipFamilies": SILENT,
    "ipFamilyPolicy": SILENT,
    "sessionAffinity": READ,
    "sessionAffinityConfig": READ,
    "internalTrafficPolicy": READ,
    "externalTrafficPolicy": SILENT,
}
_TOP: Tree = {"apiVersion": READ, "kind": READ, "metadata": _META, "status": SILENT}

MODELLED_FIELDS: dict[str, Tree] = {
    "ConfigMap": {**_TOP, "data": READ, "binaryData": READ, "immutable": READ},
    "Secret": {**_TOP, "data": READ, "stringData": READ, "type": READ, "immutable": READ},
    "ServiceAccount": {**_TOP, "automountServiceAccountToken": READ, "secrets": SILENT},
    "PriorityClass": {
        **_TOP,
        **{f: READ for f in ("value", "globalDefault", "preemptionPolicy", "description")},
    },
    "Namespace": {**_TOP, "spec": {"finalizers": Default(["kubernetes"])}},
    "Pod": {**_TOP, "spec": _POD_SPEC},
    "Service": {**_TOP, "spec": _SERVICE_SPEC},
    "ReplicaSet": {
        **_TOP,
        "spec": {
            "selector": READ,
            "template": _TEMPLATE,
            "replicas": READ,
            "minReadySeconds": READ,
        },
    },
    "Deployment": {
        **_TOP,
        "spec": {
            "selector": READ,
            "template": _TEMPLATE,
            "replicas": READ,
            "strategy": READ,
            "minReadySeconds": READ,
            "revisionHistoryLimit": READ,
            "progressDeadlineSeconds": READ,
            "paused": READ,
        },
    },
    "DaemonSet": {
        **_TOP,
        "spec": {
            "selector": READ,
            "template": _TEMPLATE,
            "updateStrategy": READ,
            "minReadySeconds": READ,
            "revisionHistoryLimit": SILENT,  # ControllerRevisions are not modelled
        },
    },
    "Job": {
        **_TOP,
        "spec": {
            "template": _TEMPLATE,
            "selector": READ,
            "manualSelector": READ,
            "parallelism": READ,
            "completions": READ,
            "completionMode": READ,
            "backoffLimit": READ,
            "activeDeadlineSeconds": READ,
            "ttlSecondsAfterFinished": READ,
            "suspend": READ,
            # podFailurePolicy, backoffLimitPerIndex, maxFailedIndexes, successPolicy,
            # podReplacementPolicy (other than its default) and managedBy: warned about
            "podReplacementPolicy": Default("TerminatingOrFailed"),
            "managedBy": Default("kubernetes.io/job-controller"),
        },
    },
    "PodDisruptionBudget": {
        **_TOP,
        "spec": {
            "selector": READ,
            "minAvailable": READ,
            "maxUnavailable": READ,
            "unhealthyPodEvictionPolicy": READ,
        },
    },
    "HorizontalPodAutoscaler": {
        **_TOP,
        "spec": {
            "scaleTargetRef": READ,
            "minReplicas": READ,
            "maxReplicas": READ,
            # Resource metrics of cpu are computed; any other source (pods, object, external,
            # containerResource) or resource (memory) is warned about here and reported by the
            # controller as a metric it cannot get (ScalingActive False)
            "metrics": {
                "type": READ,
                "resource": {"name": Default("cpu"), "target": READ},
            },
            "behavior": READ,
        },
    },
    "StatefulSet": {
        **_TOP,
        "spec": {
            "selector": READ,
            "template": _TEMPLATE,
            "replicas": READ,
            "serviceName": READ,
            "podManagementPolicy": READ,
            # rollingUpdate.maxUnavailable: the MaxUnavailableStatefulSet gate is alpha and off
            # in v1.32, so the API server drops it: warned (the update goes one pod at a time)
            "updateStrategy": {"type": READ, "rollingUpdate": {"partition": READ}},
            "minReadySeconds": READ,
            "ordinals": READ,
            # no ControllerRevision objects are kept (revisions are template hashes), so there
            # is no history to prune
            "revisionHistoryLimit": SILENT,
            # volumes are not modelled: volumeClaimTemplates is warned about, and a retention
            # policy other than Retain (which would delete claims) too
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": Default("Retain"),
                "whenScaled": Default("Retain"),
            },
        },
    },
}
# CustomResourceDefinitions (read by kubechaos.api.crd, not by manifest.py's readers)
_CRD_SPEC: Tree = {
    "group": READ,
    "names": READ,  # plural, singular, kind, listKind, shortNames, categories
    "scope": READ,
    "versions": {
        "name": READ,
        "served": READ,
        "storage": READ,
        # validation, pruning and defaults; CEL rules (x-kubernetes-validations) are warned
        # about by unmodelled_fields
        "schema": READ,
        "subresources": READ,
        "additionalPrinterColumns": READ,
        # clients are not warned about deprecated versions, and no field selector is served
        # beyond metadata.name and metadata.namespace
        "deprecated": Default(False),
    },
    # one stored version is served as every version (no conversion webhook is called)
    "conversion": {"strategy": Default("None")},
    "preserveUnknownFields": Default(False),
}
APIEXTENSIONS_FIELDS: dict[str, Tree] = {"CustomResourceDefinition": {**_TOP, "spec": _CRD_SPEC}}
NOT_MODELLED = "not modelled (ignored); recovery times may differ from a real cluster"


def unmodelled_fields(doc: Mapping[str, Any]) -> list[tuple[str | int, ...]]:
    """The path of every field of ``doc`` (a manifest of a served kind) that the model does not
    read and that may change what a real cluster does, in document order; the shallowest one
    of each branch only (``spec.template.spec.affinity.podAffinity``, not what it holds)."""
    kind = str(doc.get("kind"))
    tree = MODELLED_FIELDS.get(kind) or APIEXTENSIONS_FIELDS.get(kind)
    found: list[tuple[str | int, ...]] = []
    if tree is not None:
        _walk(doc, tree, (), found)
    if kind in APIEXTENSIONS_FIELDS:
        found += cel_rule_paths(doc)
    return found


CEL = "x-kubernetes-validations"


def cel_rule_paths(doc: Any) -> list[tuple[str | int, ...]]:
    """Where a CustomResourceDefinition's schemas hold CEL validation rules
    (``x-kubernetes-validations``): the model does not evaluate them."""
    found: list[tuple[str | int, ...]] = []

    def scan(node: Any, path: tuple[str | int, ...]) -> None:
        if isinstance(node, Mapping):
            for key, child in node.items():
                if key == CEL:
                    found.append((*path, key))
                else:
                    scan(child, (*path, key))
        elif isinstance(node, list):
            for i, child in enumerate(node):
                scan(child, (*path, i))

    spec = doc.get("spec") if isinstance(doc, Mapping) else None
    if isinstance(spec, Mapping):
        scan(spec.get("versions"), ("spec", "versions"))
    return found


def _walk(value: Any, tree: Tree, path: tuple[str | int, ...], found: list[Any]) -> None:
    if isinstance(value, list):
        for i, item in enumerate(value):
            _walk(item, tree, (*path, i), found)
        return
    if not isinstance(value, Mapping):
        return
    for key, child in value.items():
        what = tree.get(key)
        if what is READ or what is SILENT or _empty(child):
            continue
        if isinstance(what, Mapping):
            _walk(child, what, (*path, key), found)
        elif not (isinstance(what, Default) and child == what.value):
            found.append((*path, key))


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str | list | Mapping) and not value)


# The README's table: for the pod spec, its containers and a Service's spec, every upstream field
# by what the model does with it.
_SECTIONS = {
    "io.k8s.api.core.v1.PodSpec": ("Pod spec (`spec`, `spec.template.spec`)", _POD_SPEC),
    "io.k8s.api.core.v1.Container": (
        "Container (`containers[]`, `initContainers[]`)",
        _CONTAINER,
    ),
    "io.k8s.api.core.v1.Probe": (
        "Probe (`livenessProbe`, `readinessProbe`, `startupProbe`)",
        _PROBE,
    ),
    "io.k8s.api.core.v1.ServiceSpec": ("Service `spec`", _SERVICE_SPEC),
    "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinitionSpec": (
        "CustomResourceDefinition `spec`",
        _CRD_SPEC,
    ),
}


def coverage_markdown() -> str:
    """The README's list of the fields the model reads, ignores silently and warns about."""
    lines = []
    for definition, (title, tree) in _SECTIONS.items():
        columns: dict[str, list[str]] = {"read": [], "silent": [], "warned": []}
        _classify(definition, tree, "", columns)
        lines.append(f"- **{title}**")
        for column, words in _COLUMNS.items():
            lines.append(f"  - {words}: {', '.join(columns[column]) or '(none)'}")
    return "\n".join(lines)


_COLUMNS = {
    "read": "read",
    "silent": "ignored silently",
    "warned": "ignored with a warning when set",
}


def _classify(definition: str, tree: Tree, prefix: str, columns: dict[str, list[str]]) -> None:
    for field, (held, is_list) in sorted(definition_properties(definition).items()):
        what, name = tree.get(field), prefix + field
        if what is SILENT:
            columns["silent"].append(f"`{name}`")
        elif isinstance(what, Default):
            columns["silent"].append(f"`{name}` (if {_shown(what.value)})")
        elif what is None:
            columns["warned"].append(f"`{name}`")
        elif held in _SECTIONS:
            columns["read"].append(f"`{name}` (below)")
        elif isinstance(what, Mapping) and held is None:  # a map: only these keys are read
            columns["read"].append(f"`{name}` ({', '.join(what)}; others warned)")
        elif isinstance(what, Mapping) and held is not None:
            columns["read"].append(f"`{name}` (partly)")
            _classify(held, what, name + ("[]." if is_list else "."), columns)
        else:
            columns["read"].append(f"`{name}`")


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


__all__ = [
    "APIEXTENSIONS_FIELDS",
    "CEL",
    "MODELLED_FIELDS",
    "NOT_MODELLED",
    "READ",
    "SILENT",
    "Default",
    "cel_rule_paths",
    "coverage_markdown",
    "unmodelled_fields",
]
