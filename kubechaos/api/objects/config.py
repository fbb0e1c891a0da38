"""Config objects: ConfigMap, Secret, ServiceAccount (core/v1) and PriorityClass
(scheduling.k8s.io/v1). Stored and served; pods reference them."""

from __future__ import annotations

from typing import ClassVar

import attrs

from kubechaos.api.objects.meta import Labels, ObjectMeta

# ---------------------------------------------------------------------------- config


@attrs.frozen(slots=True)
class ConfigMap:
    KIND: ClassVar[str] = "ConfigMap"
    metadata: ObjectMeta
    data: Labels = attrs.field(factory=dict)
    binary_data: Labels = attrs.field(factory=dict)  # base64 text, as the manifest has it
    immutable: bool = False


@attrs.frozen(slots=True)
class Secret:
    KIND: ClassVar[str] = "Secret"
    metadata: ObjectMeta
    data: Labels = attrs.field(factory=dict)  # base64 text, as the manifest has it
    string_data: Labels = attrs.field(factory=dict)
    type: str = "Opaque"
    immutable: bool = False


@attrs.frozen(slots=True)
class ServiceAccount:
    KIND: ClassVar[str] = "ServiceAccount"
    metadata: ObjectMeta
    automount_service_account_token: bool | None = None


@attrs.frozen(slots=True)
class PriorityClass:
    KIND: ClassVar[str] = "PriorityClass"
    metadata: ObjectMeta
    value: int = 0
    global_default: bool = False
    preemption_policy: str = "PreemptLowerPriority"
    description: str = ""
