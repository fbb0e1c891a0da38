"""Pod admission on the node: may this pod run here, and what admitted pods hold of the node.

Mirrors upstream's ``pkg/kubelet/lifecycle/predicate.go`` (the kubelet's ``GeneralPredicates``
admit handler): the scheduler already checked, but the kubelet checks again with what it knows,
so a pod bound by a stale scheduler cache or by hand is rejected (``OutOfcpu``,
``NodeAffinity``...) instead of overcommitting the node. Separate from the pod workers because it
owns state of its own: the requests and the host ports of the admitted, non-terminal pods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from kubechaos.api.hostports import HostPort, HostPortInfo, host_ports
from kubechaos.api.nodeaffinity import matches_node
from kubechaos.api.objects import NO_EXECUTE, Node, PodSpec, Resources, Taint
from kubechaos.node.kubelet.config import NodeConfig
from kubechaos.node.podstate import PodState

# the resources checked after the pod count, in noderesources.fitsRequest's order, each only when
# the pod requests some: (Resources field, the name its rejection gives)
_REQUESTED = (("cpu_millis", "cpu"), ("memory_bytes", "memory"))


def _predicate_failure(name: str, reason: str) -> tuple[str, str]:
    """A PredicateFailureError as the kubelet reports it: (reason, message) of its event; the
    pod's status message prefixes the message (:data:`~kubechaos.node.podstate.POD_REJECTED`)."""
    return name, f"Predicate {name} failed: {reason}"


NODE_AFFINITY_FAILURE = _predicate_failure(
    "NodeAffinity", "node(s) didn't match Pod's node affinity/selector"
)
NODE_PORTS_FAILURE = _predicate_failure(
    "NodePorts", "node(s) didn't have free ports for the requested pod ports"
)
TAINT_FAILURE = _predicate_failure(
    "TaintToleration", "node(s) had taints that the pod didn't tolerate"
)


class Admission:
    """The kubelet's admission check and what its admitted pods hold of the node."""

    def __init__(self, config: NodeConfig, current_node: Callable[[], Node | None]) -> None:
        """``current_node``: the Node as the kubelet last read it (None before it registered),
        whose labels and taints admission checks, as upstream's getNodeAnyWayFunc."""
        self.config = config
        self._current_node = current_node
        self.used = Resources()  # requests of the admitted, non-terminal pods
        # host ports of the admitted, non-terminal pods, and each such pod's, to give back
        self._ports_in_use = HostPortInfo()
        self._held_ports: dict[str, tuple[HostPort, ...]] = {}

    def failure(self, ps: PodState) -> tuple[str, str] | None:
        """Why ``ps`` may not run here, as (reason, message): the first of upstream's
        generalFilter (scheduler.AdmissionCheck: resources, required node affinity, node name,
        host ports; then untolerated NoExecute taints)."""
        spec = ps.pod.spec
        rejection = self._resource_failure(ps.requests)
        if rejection is not None:
            return rejection
        node = self._current_node()
        if spec.node_selector or spec.node_affinity:  # labels are looked up only when selected
            labels: Mapping[str, str] = (
                node.metadata.labels if node is not None else self.config.node_labels()
            )
            if not matches_node(spec, labels, self.config.name):
                return NODE_AFFINITY_FAILURE
        # NodeName holds: this kubelet is only handed the pods whose spec.nodeName is its node
        if self._ports_in_use and self._ports_in_use.conflicts(host_ports(spec)):
            return NODE_PORTS_FAILURE
        # static pods skip the taint check upstream; the model runs none on its nodes
        taints = node.spec.taints if node is not None else self.config.taints
        if _untolerated_no_execute(taints, spec):
            return TAINT_FAILURE
        return None

    def _resource_failure(self, requests: Resources) -> tuple[str, str] | None:
        """noderesources.Fits: the first resource ``requests`` would take the node beyond."""
        capacity, used = self.config.capacity, self.used
        if requests.pods > capacity.pods - used.pods:
            return _insufficient("pods", requests.pods, used.pods, capacity.pods)
        for field, resource in _REQUESTED:
            wanted = getattr(requests, field)
            have, total = getattr(used, field), getattr(capacity, field)
            if wanted and wanted > total - have:
                return _insufficient(resource, wanted, have, total)
        return None

    def hold(self, ps: PodState) -> None:
        """``ps`` is admitted: its requests and host ports count against the node until
        :meth:`release`."""
        ps.counted = True
        self.used = self.used + ps.requests
        ports = host_ports(ps.pod.spec)
        if ports:
            self._held_ports[ps.uid] = ports
            self._ports_in_use.add(ports)

    def release(self, ps: PodState) -> None:
        """``ps`` no longer runs: give back its requests and host ports (once)."""
        if ps.counted:
            ps.counted = False
            self.used = self.used - ps.requests
            self._ports_in_use.remove(self._held_ports.pop(ps.uid, ()))


def _insufficient(resource: str, wanted: int, have: int, total: int) -> tuple[str, str]:
    """An InsufficientResourceError as the kubelet reports it: (reason, event message)."""
    return (
        f"OutOf{resource}",
        f"Node didn't have enough resource: {resource}, "
        f"requested: {wanted}, used: {have}, capacity: {total}",
    )


def _untolerated_no_execute(taints: tuple[Taint, ...], spec: PodSpec) -> bool:
    """FindMatchingUntoleratedTaint with the kubelet's filter: only NoExecute taints count."""
    return any(
        taint.effect == NO_EXECUTE and not any(t.tolerates(taint) for t in spec.tolerations)
        for taint in taints
    )
