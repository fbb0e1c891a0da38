"""kube-proxy's routing policies beyond the uniform pick: ``internalTrafficPolicy: Local`` and
``sessionAffinity: ClientIP``, for the Services that set them.

Upstream (pkg/proxy/iptables/proxier.go, ``syncProxyRules`` and
``writeServiceToEndpointRules``):

* ``internalTrafficPolicy: Local``: a node's rules for the Service's cluster IP list only the
  endpoints on that node (``endpoint.IsLocal``, from the endpoint's ``nodeName``). A Service
  with endpoints but none on the node gets a DROP rule ("has no local endpoints"): the client's
  packets vanish and it times out. A Service with no endpoints at all still REJECTs.
* ``sessionAffinity: ClientIP``: each endpoint chain records the client's source address in an
  xt_recent list (``-m recent --name <endpoint chain> --set``), and the Service chain sends a new
  connection to the endpoint whose list has seen that address within
  ``sessionAffinityConfig.clientIP.timeoutSeconds`` (``--rcheck --seconds <timeout> --reap``)
  before the random pick; so a client sticks to one endpoint while that endpoint stays in the
  rules and it keeps connecting at least once per timeout (the timeout slides with every
  connection). A client whose endpoint left the rules is balanced anew.

In the model a *client* (one source IP) is one traffic flow's client on one source node:
``(source node, flow)``. Every request a flow sends from a node comes from the same client IP,
as from one client pod there; two flows (a surge joining the steady traffic) are two clients.

Cost: a Service without these fields is not in :attr:`ServiceRoutes.policies`, and traffic
tests that dict only when it is not empty, so plain Services pay nothing. For a Local Service,
each node's local subset of the endpoints is recomputed only when the proxy's rules for it
change; an affinity lookup is two dict operations.

Differences from upstream: the policy is the latest the informer has seen, not the one the
node's proxy last synced (a frozen proxy follows a policy change at once); the xt_recent
lists are not emptied when a node reboots.
"""

from __future__ import annotations

import random

from kubechaos.api.objects import EndpointSlice, Service, ServiceRouting, key_of
from kubechaos.client.informer import Handler, Informer
from kubechaos.node.proxyslices import SliceTable, service_key

Ips = tuple[str, ...]


class ServiceRoutes:
    """The routing policies of every Service that sets one, and the state they need."""

    def __init__(
        self,
        services: Informer[Service],
        endpoints: Informer[EndpointSlice],
        slices: SliceTable,
    ) -> None:
        self._slices = slices
        # Services whose routing is not the default (absent: the uniform pick)
        self.policies: dict[str, ServiceRouting] = {}
        # endpoint IP -> its node, recorded for Local Services' endpoints only; kept after
        # the IP leaves (a stale rule still knows where it pointed)
        self._node_of: dict[str, str] = {}
        # (node, service key) -> (the proxy's endpoint IPs, the local ones among them)
        self._local: dict[tuple[str, str], tuple[Ips, Ips]] = {}
        # (node, service key) -> (IPs, the same as a set), for affinity's membership test
        self._sets: dict[tuple[str, str], tuple[Ips, frozenset[str]]] = {}
        # (service key, node, client) -> (the endpoint IP it sticks to, last connection)
        self._affinity: dict[tuple[str, str, int], tuple[str, float]] = {}
        services.add_handler(Handler(self._service, self._service_updated, self._service_gone))
        endpoints.add_handler(Handler(self._endpoints_seen, self._endpoints_updated, None))

    # ------------------------------------------------------------------ informer handlers
    def _service(self, svc: Service) -> None:
        key = key_of(svc)
        routing = svc.spec.routing
        if routing.default:
            self._service_gone(svc)
            return
        was_local = key in self.policies and self.policies[key].local
        self.policies[key] = routing
        if routing.local and not was_local:
            for eps in self._slices.slices(key):
                self._record_nodes(eps)

    def _service_updated(self, old: Service, new: Service) -> None:
        self._service(new)

    def _service_gone(self, svc: Service) -> None:
        key = key_of(svc)
        if self.policies.pop(key, None) is not None:
            self._local = {k: v for k, v in self._local.items() if k[1] != key}
            self._affinity = {k: v for k, v in self._affinity.items() if k[0] != key}

    def _endpoints_seen(self, eps: EndpointSlice) -> None:
        if not self.policies:  # no Service sets a policy: a slice event costs a truth test
            return
        policy = self.policies.get(service_key(eps) or "")
        if policy is not None and policy.local:
            self._record_nodes(eps)

    def _endpoints_updated(self, old: EndpointSlice, new: EndpointSlice) -> None:
        self._endpoints_seen(new)

    def _record_nodes(self, eps: EndpointSlice) -> None:
        for endpoint in eps.endpoints:
            if endpoint.node_name:
                for ip in endpoint.addresses:
                    self._node_of[ip] = endpoint.node_name

    # ------------------------------------------------------------------ routing
    def pick(
        self,
        policy: ServiceRouting,
        node: str,
        key: str,
        ips: Ips,
        client: int,
        t: float,
        rng: random.Random,
    ) -> str | None:
        """The endpoint IP a new connection from ``client`` on ``node`` goes to, among the
        (non-empty) ``ips`` its proxy has for ``key``; None: dropped (Local, none on the node)."""
        if policy.local:
            ips = self._local_ips(node, key, ips)
            if not ips:
                return None
        if not policy.client_ip:
            return ips[int(rng.random() * len(ips))] if len(ips) > 1 else ips[0]
        sticky = (key, node, client)
        last = self._affinity.get(sticky)
        if (
            last is not None
            and t - last[1] <= policy.timeout_seconds
            and last[0] in self._ip_set(node, key, ips)
        ):
            ip = last[0]
        else:
            ip = ips[int(rng.random() * len(ips))] if len(ips) > 1 else ips[0]
        self._affinity[sticky] = (ip, t)
        return ip

    def _local_ips(self, node: str, key: str, ips: Ips) -> Ips:
        cached = self._local.get((node, key))
        if cached is not None and cached[0] is ips:
            return cached[1]
        node_of = self._node_of
        local = tuple(ip for ip in ips if node_of.get(ip) == node)
        self._local[(node, key)] = (ips, local)
        return local

    def _ip_set(self, node: str, key: str, ips: Ips) -> frozenset[str]:
        cached = self._sets.get((node, key))
        if cached is not None and cached[0] is ips:
            return cached[1]
        members = frozenset(ips)
        self._sets[(node, key)] = (ips, members)
        return members


__all__ = ["ServiceRoutes"]
