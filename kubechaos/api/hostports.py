"""Host ports: which a pod wants, and whether they conflict with the ones in use on a node.

Upstream's ``HostPortInfo`` (pkg/scheduler/framework/types.go: sanitize, Add, Remove,
CheckConflict) and the NodePorts plugin's ``getContainerPorts``
(pkg/scheduler/framework/plugins/nodeports/node_ports.go), v1.32. Shared by the two places
that keep pods apart by host port: the scheduler's NodePorts filter and the kubelet's
admission (which calls the same plugin's ``Fits``). Separate because neither owns the other.
"""

from __future__ import annotations

from collections import Counter
from ipaddress import ip_address

from kubechaos.api.objects import PodSpec

# a host port as HostPortInfo keys it: (host IP, protocol, port)
HostPort = tuple[str, str, int]
BIND_ALL = "0.0.0.0"  # DefaultBindAllHostIP: an empty (or unparsable) hostIP binds every address


def host_ports(spec: PodSpec) -> tuple[HostPort, ...]:
    """getContainerPorts: the ports of the (regular) containers with a host port, sanitized as
    HostPortInfo does (no or no valid IP: every address; no protocol: TCP)."""
    return tuple(
        (_sanitized_ip(port.host_ip), port.protocol or "TCP", port.host_port)
        for container in spec.containers
        for port in container.ports
        if port.host_port is not None and port.host_port > 0
    )


def _sanitized_ip(ip: str) -> str:
    if not ip:
        return BIND_ALL
    try:
        ip_address(ip)
    except ValueError:
        return BIND_ALL
    return ip


class HostPortInfo(Counter[HostPort]):
    """The host ports in use on a node, counted (two pods on different IPs may hold the same
    protocol and port, and a pod bound by hand may hold a port another already holds)."""

    def add(self, ports: tuple[HostPort, ...]) -> None:
        self.update(ports)

    def remove(self, ports: tuple[HostPort, ...]) -> None:
        for port in ports:
            self[port] -= 1
            if not self[port]:
                del self[port]  # an empty count means no port in use

    def conflicts(self, ports: tuple[HostPort, ...]) -> bool:
        """fitsPorts' negation: does any of ``ports`` conflict with the ports in use?"""
        return bool(self) and any(self._conflict(port) for port in ports)

    def _conflict(self, port: HostPort) -> bool:
        """CheckConflict: every address conflicts with any address's use of the protocol and
        port; one address with its own and with every address's."""
        ip, protocol, number = port
        if ip == BIND_ALL:
            return any(p == protocol and n == number for _, p, n in self)
        return self[(BIND_ALL, protocol, number)] > 0 or self[port] > 0


__all__ = ["BIND_ALL", "HostPort", "HostPortInfo", "host_ports"]
