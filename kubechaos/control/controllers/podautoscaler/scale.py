"""The scale subresource of the kinds an HPA can target (``<resource>/scale``).

Upstream's HPA reads and writes ``autoscaling/v1 Scale`` through the scale client: ``spec.
replicas`` (what the HPA sets), ``status.replicas`` and ``status.selector`` (which pods to read
metrics of). The kinds the model serves all hold these in the same places (``spec.replicas``,
``spec.selector``, ``status.replicas``), so a kind with a scale subresource is one row of
:data:`SCALABLE`: its resource name.
"""

from __future__ import annotations

from typing import Any

import attrs

from kubechaos.api.selectors import LabelSelector
from kubechaos.client.identity import writing_subresource
from kubechaos.client.interface import APIClient

# kind -> resource whose /scale subresource it serves
SCALABLE: dict[str, str] = {
    "Deployment": "deployments",
    "ReplicaSet": "replicasets",
    "StatefulSet": "statefulsets",
}


@attrs.frozen
class Scale:
    """autoscaling/v1 Scale, with the object it was read from (kept to write it back)."""

    spec_replicas: int
    status_replicas: int
    selector: LabelSelector | None
    target: Any


async def get_scale(api: APIClient, kind: str, namespace: str, name: str) -> Scale:
    """GET <resource>/scale. Raises KeyError for a kind without a scale subresource."""
    obj = await api.get(SCALABLE[kind], namespace, name)
    return Scale(obj.spec.replicas, obj.status.replicas, obj.spec.selector, obj)


async def update_scale(api: APIClient, scale: Scale, replicas: int) -> None:
    """PUT <resource>/scale: only ``spec.replicas`` changes (a Conflict if the object changed
    since it was read, as upstream's scale update at the read resourceVersion)."""
    target = scale.target
    with writing_subresource("scale"):
        await api.update(attrs.evolve(target, spec=attrs.evolve(target.spec, replicas=replicas)))
