"""Object metadata and the resource vector every kind shares (upstream's ``metav1.ObjectMeta``,
``OwnerReference``; a pod's and a node's resources).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeAlias

import attrs

Labels: TypeAlias = Mapping[str, str]


@attrs.frozen(slots=True)
class OwnerReference:
    kind: str
    name: str
    uid: str
    controller: bool = True
    api_version: str = ""  # "" for the model's own references: the kind's served version
    block_owner_deletion: bool | None = None  # None: as ``controller`` (NewControllerRef)

    @property
    def blocks(self) -> bool:
        """Whether a foreground deletion of the owner waits for this dependent
        (``blockOwnerDeletion``; the model's controllers set it with ``controller``, as
        metav1.NewControllerRef does)."""
        return self.controller if self.block_owner_deletion is None else self.block_owner_deletion


@attrs.frozen(slots=True)
class ObjectMeta:
    name: str = ""
    namespace: str = ""
    generate_name: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: float | None = None
    deletion_timestamp: float | None = None
    deletion_grace_period_seconds: int | None = None
    labels: Labels = attrs.field(factory=dict)
    annotations: Labels = attrs.field(factory=dict)
    owner_references: tuple[OwnerReference, ...] = ()
    finalizers: tuple[str, ...] = ()

    def controller_ref(self) -> OwnerReference | None:
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None


@attrs.frozen(slots=True)
class Resources:
    """A resource vector: CPU in millicores, memory in bytes, and a pod count."""

    cpu_millis: int = 0
    memory_bytes: int = 0
    pods: int = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis + other.cpu_millis,
            self.memory_bytes + other.memory_bytes,
            self.pods + other.pods,
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_millis - other.cpu_millis,
            self.memory_bytes - other.memory_bytes,
            self.pods - other.pods,
        )
