"""The core/v1 types the scheduler reads beyond a pod's requests: node selector terms (required
and preferred node affinity) and the images a node reports in its status.

Upstream's ``k8s.io/api/core/v1`` ``NodeSelectorRequirement``, ``NodeSelectorTerm``,
``PreferredSchedulingTerm`` and ``ContainerImage``. Separate from :mod:`.core` so the pod and
node kinds there stay small; :mod:`.core` imports these for ``PodSpec`` and ``NodeStatus``.
"""

from __future__ import annotations

import attrs


@attrs.frozen(slots=True)
class NodeSelectorRequirement:
    """One requirement of a node selector term (core/v1 ``NodeSelectorRequirement``): a node
    label (``matchExpressions``) or a node field (``matchFields``: only ``metadata.name``)."""

    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist | Gt | Lt
    values: tuple[str, ...] = ()


@attrs.frozen(slots=True)
class NodeSelectorTerm:
    """Requirements ANDed; the terms of a required node affinity are ORed."""

    match_expressions: tuple[NodeSelectorRequirement, ...] = ()
    match_fields: tuple[NodeSelectorRequirement, ...] = ()


@attrs.frozen(slots=True)
class PreferredSchedulingTerm:
    """``affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[]``: a node
    matching ``preference`` gets ``weight`` (1..100) added to its NodeAffinity score."""

    weight: int
    preference: NodeSelectorTerm


@attrs.frozen(slots=True)
class ContainerImage:
    """One entry of a Node's ``status.images``: the image's names and its size in bytes."""

    names: tuple[str, ...]
    size_bytes: int = 0


def normalized_image_name(name: str) -> str:
    """The CRI name of an image as a node reports it: ``:latest`` added to an untagged name
    (imagelocality's normalizedImageName; the kubelet reports what the runtime pulled)."""
    if name.rfind(":") <= name.rfind("/"):
        return name + ":latest"
    return name


__all__ = [
    "ContainerImage",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "PreferredSchedulingTerm",
    "normalized_image_name",
]
