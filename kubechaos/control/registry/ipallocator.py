"""The ClusterIP allocator: which service IPs are taken, and a seeded draw of a free one.

Upstream's pkg/registry/core/service/ipallocator, compressed to a set. Separate from the service
strategy because it is state (the strategy is rules): one allocator per API server, handed to
the strategy through :class:`~kubechaos.control.registry.strategy.StrategyOptions`.
"""

from __future__ import annotations

import ipaddress
import random

from kubechaos.api import errors
from kubechaos.defaults import SERVICE_CIDR


class ClusterIPAllocator:
    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.network = ipaddress.ip_network(SERVICE_CIDR)
        self._allocated: set[str] = set()

    def __contains__(self, ip: str) -> bool:
        return ip in self._allocated

    def allocate(self) -> str:
        """A free IP of the range, drawn at random (seeded); not yet marked as taken."""
        net = self.network
        size = net.num_addresses - 2
        for _ in range(1000):
            ip = str(net.network_address + 1 + self._rng.randrange(size))
            if ip not in self._allocated:
                return ip
        raise errors.InternalError("failed to allocate a ClusterIP: range is full")

    def mark_taken(self, ip: str) -> None:
        self._allocated.add(ip)

    def release(self, ip: str) -> None:
        self._allocated.discard(ip)
