"""Pod admission on the node: may this pod run here, and what admitted pods hold of the node.

Mirrors upstream's ``pkg/kubelet/lifecycle/predicate.go`` (the kubelet's ``GeneralPredicates``
admit handler): the scheduler already checked, but the kubelet checks again with what it knows,
so a pod bound by a stale scheduler cache or by hand is rejected (``OutOfcpu``,
``NodeAffinity``...) instead of overcommitting the node. Separate from the pod workers because it
owns one piece of state of its own, the requests of the admitted, non-terminal pods.
"""

from __future__ import annotations

from kubechaos.api.objects import Resources
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.podstate import PodState

# the resources admission checks, in order: (Resources field, the name its rejection gives)
_CHECKED = (("cpu_millis", "cpu"), ("memory_bytes", "memory"), ("pods", "pods"))


class Admission:
    """The kubelet's admission check and the resources its admitted pods hold."""

    def __init__(self, config: NodeConfig) -> None:
        self.config = config
        self.used = Resources()  # requests of the admitted, non-terminal pods

    def failure(self, ps: PodState) -> tuple[str, str] | None:
        """Why ``ps`` may not run here, as (reason, message): node selector, then resources."""
        selector = ps.pod.spec.node_selector
        if selector:  # the node's labels are built only for a pod that selects on them
            labels = self.config.node_labels()
            for key, value in selector.items():
                if labels.get(key) != value:
                    return (
                        "NodeAffinity",
                        "Pod was rejected: Predicate NodeAffinity failed: node(s) didn't match "
                        "Pod's node affinity/selector",
                    )
        capacity, used, requests = self.config.capacity, self.used, ps.requests
        # used + requests against capacity, field by field, without building their sum
        for field, resource in _CHECKED:
            if getattr(used, field) + getattr(requests, field) > getattr(capacity, field):
                return (
                    f"OutOf{resource}",
                    f"Pod was rejected: Node didn't have enough resource: {resource}, "
                    f"requested: {getattr(requests, field)}, used: {getattr(used, field)}, "
                    f"capacity: {getattr(capacity, field)}",
                )
        return None

    def hold(self, ps: PodState) -> None:
        """``ps`` is admitted: its requests count against the node until :meth:`release`."""
        ps.counted = True
        self.used = self.used + ps.requests

    def release(self, ps: PodState) -> None:
        """``ps`` no longer runs: give back its requests (once)."""
        if ps.counted:
            ps.counted = False
            self.used = self.used - ps.requests
