"""What every part of the kubelet shares: the node it runs as, and how it records events.

:class:`NodeConfig` is the node as its kubelet registers it: upstream this comes from the
kubelet's flags and ``KubeletConfiguration`` (capacity, labels, taints, pod CIDR, address) and
feeds ``kubelet_node_status.go``'s ``initialNode``. :class:`KubeletEvents` records events under
the ``kubelet`` component, as upstream's one event recorder for the kubelet does.

They are separate so that each manager of the package (node status, admission, pod workers,
status manager) can use them without importing another manager.
"""

from __future__ import annotations

import attrs

from kubechaos.api.objects import Resources, Taint
from kubechaos.defaults import LABEL_ARCH, LABEL_HOSTNAME, LABEL_OS
from kubechaos.node.podstate import PodState
from kubechaos.sim.events import EventLog

COMPONENT = "kubelet"


@attrs.frozen
class NodeConfig:
    """What a node is, as its kubelet registers it."""

    name: str
    capacity: Resources
    labels: dict[str, str] = attrs.field(factory=dict)
    taints: tuple[Taint, ...] = ()
    pod_cidr: str = ""
    address: str = ""

    def node_labels(self) -> dict[str, str]:
        """The Node's labels: the well-known ones the kubelet always sets, then the configured."""
        return {LABEL_HOSTNAME: self.name, LABEL_OS: "linux", LABEL_ARCH: "amd64"} | dict(
            self.labels
        )


class KubeletEvents:
    """Records the kubelet's events about its Node and its pods."""

    def __init__(self, log: EventLog) -> None:
        self._log = log

    def node(self, name: str, reason: str, message: str) -> None:
        self._log.record(COMPONENT, "Node", name, reason, message)

    def pod(self, ps: PodState, reason: str, message: str) -> None:
        # no extra fields: 150,000 pods make ~600,000 start-up events, and the pod's node is
        # in its spec anyway
        self._log.record(COMPONENT, "Pod", ps.key, reason, message)
