"""Nodes: cluster-scoped, status written by their kubelet through ``/status``.

Upstream's pkg/registry/core/node/strategy.go.
"""

from __future__ import annotations

from kubechaos.api import discovery
from kubechaos.api.objects import Node
from kubechaos.api.validation import validate_node
from kubechaos.control.registry.strategy import ResourceType, Strategy


class NodeStrategy(Strategy[Node]):
    def validate(self, obj: Node) -> list[str]:
        return validate_node(obj)


NODES = ResourceType(discovery.NODES, Node, True, False, NodeStrategy)
