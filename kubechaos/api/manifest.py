"""Real Kubernetes manifests (as parsed YAML) into API objects.

The reader accepts what ``kubectl apply`` accepts for the kinds the model serves (one reader per
kind in :mod:`kubechaos.api.readers`), drops fields the model does not act on (which ones, and
which of those are warned about, is :mod:`kubechaos.api.modelled`'s list: keep it in step with
the readers), and reports every problem it finds at once as :class:`FieldError` s with a path
(``spec.template.spec.containers[0].image``) so the caller can point at the file and line.
Semantic validation (names, selectors, ranges) is the API server's:
:func:`kubechaos.api.validators.validate` runs on the result too, so
a manifest that reads fine but the API server would refuse is refused here with the same words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from kubechaos.api.fieldreader import FieldReader, ManifestError, Path, type_name
from kubechaos.api.objects import APIObject, ObjectMeta
from kubechaos.api.readers.apps import read_deployment, read_replicaset
from kubechaos.api.readers.autoscaling import read_hpa
from kubechaos.api.readers.batch import read_job
from kubechaos.api.readers.config import (
    read_configmap,
    read_priorityclass,
    read_secret,
    read_serviceaccount,
)
from kubechaos.api.readers.core import read_namespace, read_pod, read_service
from kubechaos.api.readers.daemonset import read_daemonset
from kubechaos.api.readers.pods import read_meta
from kubechaos.api.readers.policy import read_pdb
from kubechaos.api.readers.statefulset import read_statefulset
from kubechaos.api.validators import validate

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
    "DaemonSet": "apps/v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "StatefulSet": "apps/v1",
    "Job": "batch/v1",
}
_CLUSTER_SCOPED = ("Namespace", "PriorityClass")


class UnsupportedKind(ValueError):
    """A valid manifest of a kind the model does not serve (a warning, not an error)."""

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} {name!r} is not modelled; skipped")
        self.kind = kind
        self.name = name


Reader = Callable[[FieldReader, Mapping[str, Any], ObjectMeta], APIObject]

# One reader per served kind (each in its API group's module under kubechaos/api/readers).
_READERS: dict[str, Reader] = {
    "Namespace": read_namespace,
    "Pod": read_pod,
    "Service": read_service,
    "ReplicaSet": read_replicaset,
    "Deployment": read_deployment,
    "ConfigMap": read_configmap,
    "Secret": read_secret,
    "ServiceAccount": read_serviceaccount,
    "PriorityClass": read_priorityclass,
    "PodDisruptionBudget": read_pdb,
    "DaemonSet": read_daemonset,
    "HorizontalPodAutoscaler": read_hpa,
    "StatefulSet": read_statefulset,
    "Job": read_job,
}
assert set(_READERS) == set(SUPPORTED_KINDS), "a reader for every supported kind"


def _read(kind: str, r: FieldReader, doc: Mapping[str, Any], namespace: str) -> APIObject:
    namespaced = kind not in _CLUSTER_SCOPED
    meta = read_meta(r, doc.get("metadata"), ("metadata",), namespace if namespaced else "")
    return _READERS[kind](r, doc, meta)


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
