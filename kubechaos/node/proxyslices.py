"""kube-proxy's view of EndpointSlices: per Service, the endpoint IPs new connections go to.

Upstream's EndpointSliceCache (pkg/proxy/endpointslicecache.go) merges every slice labelled
``kubernetes.io/service-name`` (whoever manages it) into one endpoint list per Service, and
``CategorizeEndpoints`` (pkg/proxy/topology.go, v1.32) picks which of them the rules send traffic
to: the ``ready`` endpoints; if there is none, the endpoints that are ``serving`` and
``terminating`` (ProxyTerminatingEndpoints, GA in v1.28: a rollout's last old pods keep answering
while they drain); with neither, the Service REJECTs. Unset conditions count as upstream reads
them: ``ready``/``serving`` true, ``terminating`` false.

The table here holds slices by Service so one slice event costs work proportional to that
Service's endpoints, never to the cluster's.
"""

from __future__ import annotations

from kubechaos.api.objects import EndpointSlice, key_of
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME


def service_key(eps: EndpointSlice) -> str | None:
    """``ns/name`` of the Service a slice belongs to (None: no service-name label, ignored)."""
    name = eps.metadata.labels.get(LABEL_SERVICE_NAME)
    return f"{eps.metadata.namespace}/{name}" if name else None


class SliceTable:
    """Every Service's EndpointSlices, as kube-proxy's informer last delivered them."""

    __slots__ = ("_by_service",)

    def __init__(self) -> None:
        self._by_service: dict[str, dict[str, EndpointSlice]] = {}

    def put(self, eps: EndpointSlice) -> str | None:
        """Hold ``eps``; the key of the Service it changed (None if it names none)."""
        skey = service_key(eps)
        if skey is not None:
            self._by_service.setdefault(skey, {})[key_of(eps)] = eps
        return skey

    def remove(self, eps: EndpointSlice) -> str | None:
        skey = service_key(eps)
        slices = self._by_service.get(skey or "")
        if slices is not None:
            slices.pop(key_of(eps), None)
            if not slices:
                del self._by_service[skey or ""]
        return skey

    def slices(self, skey: str) -> list[EndpointSlice]:
        """Service ``skey``'s slices (its endpoints' nodes, for internalTrafficPolicy)."""
        return list(self._by_service.get(skey, {}).values())

    def has(self, skey: str) -> bool:
        return skey in self._by_service

    def routable_ips(self, skey: str) -> tuple[str, ...]:
        """The IPs Service ``skey``'s rules balance across, sorted (empty: REJECT)."""
        slices = self._by_service.get(skey)
        if not slices:
            return ()
        ready: dict[str, None] = {}
        fallback: dict[str, None] = {}
        for eps in slices.values():
            for endpoint in eps.endpoints:
                conditions = endpoint.conditions
                if conditions.ready:
                    for ip in endpoint.addresses:
                        ready[ip] = None
                elif not ready and conditions.serving and conditions.terminating:
                    for ip in endpoint.addresses:
                        fallback[ip] = None
        return tuple(sorted(ready or fallback))


__all__ = ["SliceTable", "service_key"]
