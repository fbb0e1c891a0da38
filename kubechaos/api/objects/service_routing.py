"""How kube-proxy routes a Service's traffic beyond the uniform pick: ``internalTrafficPolicy``
and ``sessionAffinity`` with its ``sessionAffinityConfig.clientIP.timeoutSeconds``."""

from __future__ import annotations

import attrs

CLUSTER, LOCAL = "Cluster", "Local"  # core/v1 ServiceInternalTrafficPolicy
AFFINITY_NONE, CLIENT_IP = "None", "ClientIP"  # core/v1 ServiceAffinity
# core/v1 DefaultClientIPServiceAffinitySeconds (3 hours) and MaxClientIPServiceAffinitySeconds
DEFAULT_AFFINITY_TIMEOUT = 10800
MAX_AFFINITY_TIMEOUT = 86400


@attrs.frozen(slots=True)
class ServiceRouting:
    """A Service's routing policy, as defaulted by the API server (pkg/apis/core/v1/defaults.go:
    ``internalTrafficPolicy`` Cluster, ``sessionAffinity`` None, a ClientIP affinity's timeout
    10800 s). ``affinity_timeout`` is None when the manifest set no ``sessionAffinityConfig``;
    ``affinity_config_set`` records whether it set one at all (upstream forbids it with None)."""

    internal_traffic_policy: str = CLUSTER
    session_affinity: str = AFFINITY_NONE
    affinity_timeout: int | None = None
    affinity_config_set: bool = False

    @property
    def local(self) -> bool:
        return self.internal_traffic_policy == LOCAL

    @property
    def client_ip(self) -> bool:
        return self.session_affinity == CLIENT_IP

    @property
    def timeout_seconds(self) -> int:
        """The affinity's timeout, defaulted as the API server does."""
        return DEFAULT_AFFINITY_TIMEOUT if self.affinity_timeout is None else self.affinity_timeout

    @property
    def default(self) -> bool:
        """Routes as a plain Service does: kube-proxy's uniform pick across every endpoint."""
        return not self.local and not self.client_ip


DEFAULT_ROUTING = ServiceRouting()

__all__ = [
    "AFFINITY_NONE",
    "CLIENT_IP",
    "CLUSTER",
    "DEFAULT_AFFINITY_TIMEOUT",
    "DEFAULT_ROUTING",
    "LOCAL",
    "MAX_AFFINITY_TIMEOUT",
    "ServiceRouting",
]
