"""kube-proxy's work on an EndpointSlice update that changes nothing it routes.

Upstream's EndpointSliceCache.updatePending (pkg/proxy/endpointslicecache.go) records a slice
update only when what kube-proxy keeps of it differs from what is pending or applied
(``esInfoChanged``), and the proxier's OnEndpointSliceUpdate (pkg/proxy/iptables/proxier.go)
asks for a sync only then. In the model an update whose endpoints moved no IP in or out of the
ready or the serving-and-terminating set leaves the Service's rules as they were: no sync is
asked for and the Service's IPs are not re-read. Work is counted, never timed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
import trio

from kubechaos.api.objects import EndpointSlice
from kubechaos.api.objects.endpointslice import EndpointConditions
from kubechaos.node.proxy import ProxyFleet

from .factories import service
from .test_proxy import endpoints, plane
from .test_proxy_slices_complexity import CONDITIONS

_, NOT_READY, _, GONE = CONDITIONS


def _flip(eps: EndpointSlice, at: int, conditions: EndpointConditions) -> EndpointSlice:
    """``eps`` with endpoint ``at`` rewritten with ``conditions``, the others kept (the same
    objects), as the EndpointSlice controller updates a slice."""
    endpoints = list(eps.endpoints)
    endpoints[at] = attrs.evolve(endpoints[at], conditions=conditions)
    return attrs.evolve(eps, endpoints=tuple(endpoints))


async def test_an_update_that_moves_no_ip_does_not_reread_the_service() -> None:
    """kube-proxy's fleet: a slice update whose endpoints change but whose routable IPs do not
    (a not-ready endpoint turns terminating without serving; a label change) neither asks for
    a sync nor re-reads the Service's IPs; an update that moves an IP does both. Upstream's
    EndpointSliceCache.updatePending (pkg/proxy/endpointslicecache.go) records a slice only
    when it differs from what is pending or applied, and OnEndpointSliceUpdate
    (pkg/proxy/iptables/proxier.go) asks for a sync only then."""
    ctx = await plane()
    fleet = ProxyFleet(ctx)
    fleet.register("n1")
    wanted: Counter[str] = Counter()
    reread = fleet._wanted

    def counted(key: str) -> Any:
        wanted[key] += 1
        return reread(key)

    fleet._wanted = counted  # type: ignore[method-assign]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(fleet.run)
        await ctx.api.create(service("web"))
        await ctx.api.create(endpoints("web", ["10.128.0.2", "10.128.0.3"], ["10.128.0.4"]))
        await fleet.synced.wait()
        await trio.sleep(2)
        syncs, wanted_before = fleet.syncs_total, wanted["default/web"]
        stored = await ctx.api.get("endpointslices", "default", "web-abcde")
        stored = await ctx.api.update(_flip(stored, 2, GONE))
        await trio.sleep(2)
        assert (fleet.syncs_total, wanted["default/web"]) == (syncs, wanted_before)
        await ctx.api.update(_flip(stored, 1, NOT_READY))
        await trio.sleep(2)
        assert fleet.syncs_total == syncs + 1
        assert wanted["default/web"] == wanted_before + 1
        assert fleet.proxy("n1").endpoints("default/web") == ("10.128.0.2",)
        nursery.cancel_scope.cancel()
