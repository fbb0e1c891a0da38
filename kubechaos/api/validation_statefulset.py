"""StatefulSet validation (pkg/apis/apps/validation/validation.go, ValidateStatefulSet, v1.32)."""

from __future__ import annotations

from kubechaos.api.objects import StatefulSet
from kubechaos.api.objects.statefulset import ON_DELETE, ORDERED_READY, PARALLEL, ROLLING_UPDATE
from kubechaos.api.validation import validate_label_key, validate_meta, validate_pod_spec

_RETENTION = ("Retain", "Delete")


def validate_statefulset(obj: StatefulSet) -> list[str]:
    """ValidateStatefulSetSpec: the name is a DNS-1123 label (a pod's hostname is
    ``<name>-<ordinal>``), the selector matches the template, the template restarts always."""
    spec = obj.spec
    causes = validate_meta(obj.metadata, True, "label")
    if spec.pod_management_policy not in (ORDERED_READY, PARALLEL):
        causes.append(
            f"spec.podManagementPolicy: Unsupported value: {spec.pod_management_policy!r}: "
            f'supported values: "{ORDERED_READY}", "{PARALLEL}"'
        )
    strategy = spec.update_strategy
    if strategy.type not in (ROLLING_UPDATE, ON_DELETE):
        causes.append(
            f"spec.updateStrategy.type: Unsupported value: {strategy.type!r}: "
            f'supported values: "{ON_DELETE}", "{ROLLING_UPDATE}"'
        )
    if strategy.partition < 0:
        causes.append(
            f"spec.updateStrategy.rollingUpdate.partition: Invalid value: {strategy.partition}: "
            "must be greater than or equal to 0"
        )
    for field, number in (
        ("spec.replicas", spec.replicas),
        ("spec.minReadySeconds", spec.min_ready_seconds),
        ("spec.ordinals.start", spec.ordinals_start),
    ):
        if number < 0:
            causes.append(f"{field}: Invalid value: {number}: must be greater than or equal to 0")
    for field, value in zip(("whenDeleted", "whenScaled"), spec.pvc_retention, strict=True):
        if value not in _RETENTION:
            causes.append(
                f"spec.persistentVolumeClaimRetentionPolicy.{field}: Unsupported value: "
                f'{value!r}: supported values: "Delete", "Retain"'
            )
    labels = spec.template.metadata.labels
    if spec.selector.is_empty():
        causes.append("spec.selector: Required value")
    elif not spec.selector.matches(labels):
        causes.append(
            "spec.template.metadata.labels: Invalid value: selector does not match template labels"
        )
    causes += [
        f"spec.template.metadata.labels: Invalid value: {key!r}: not a valid label key"
        for key in labels
        if not validate_label_key(key)
    ]
    if spec.template.spec.restart_policy != "Always":
        causes.append(
            "spec.template.spec.restartPolicy: Unsupported value: "
            f'{spec.template.spec.restart_policy!r}: supported values: "Always"'
        )
    return causes + validate_pod_spec("spec.template.spec", spec.template.spec)
