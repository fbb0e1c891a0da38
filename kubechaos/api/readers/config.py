"""Config kinds: ConfigMap, Secret, ServiceAccount (core/v1) and PriorityClass
(scheduling.k8s.io/v1). Their data sits at the top level of the manifest, not under ``spec``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kubechaos.api.fieldreader import FieldReader
from kubechaos.api.objects import ConfigMap, ObjectMeta, PriorityClass, Secret, ServiceAccount


def read_configmap(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> ConfigMap:
    return ConfigMap(
        meta,
        r.labels(doc, "data", ()),
        r.labels(doc, "binaryData", ()),
        r.bool_(doc, "immutable", (), False),
    )


def read_secret(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> Secret:
    return Secret(
        meta,
        r.labels(doc, "data", ()),
        r.labels(doc, "stringData", ()),
        r.str_(doc, "type", (), "Opaque"),
        r.bool_(doc, "immutable", (), False),
    )


def read_serviceaccount(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> ServiceAccount:
    automount = doc.get("automountServiceAccountToken")
    return ServiceAccount(
        meta,
        None if automount is None else r.bool_(doc, "automountServiceAccountToken", (), True),
    )


def read_priorityclass(r: FieldReader, doc: Mapping[str, Any], meta: ObjectMeta) -> PriorityClass:
    return PriorityClass(
        meta,
        r.int_(doc, "value", (), 0),
        r.bool_(doc, "globalDefault", (), False),
        r.str_(doc, "preemptionPolicy", (), "PreemptLowerPriority"),
        r.str_(doc, "description", ()),
    )
