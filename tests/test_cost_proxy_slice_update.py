"""kube-proxy's work on an EndpointSlice update: the endpoints that changed, not the slice.

Upstream's kube-proxy replaces a slice's share of its Service's endpoints on every slice event
(pkg/proxy/endpointschangetracker.go ``EndpointSliceUpdate``, pkg/proxy/endpointslicecache.go
``updatePending``) and CategorizeEndpoints (pkg/proxy/topology.go) routes to the ready ones,
else to the serving-and-terminating ones. Nearly every slice event in a running cluster is one
pod's readiness or terminating flip (the EndpointSlice controller,
pkg/controller/endpointslice/reconciler.go, rewrites that endpoint in place and keeps the
others) or a new pod appended; the model's controller keeps the unchanged endpoints as the same
objects, so kube-proxy's table categorizes only the endpoints that changed. The routable IPs
must equal a full CategorizeEndpoints merge of every slice after any sequence of updates. Work
is counted (:attr:`SliceTable.visited`), never timed.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import attrs
import trio

from kubechaos.api.objects import EndpointSlice, ObjectMeta
from kubechaos.api.objects.endpointslice import (
    LABEL_SERVICE_NAME,
    EndpointConditions,
    SliceEndpoint,
)
from kubechaos.node.proxy import ProxyFleet
from kubechaos.node.proxyslices import SliceTable

from .factories import service
from .test_proxy import endpoints, plane
from .test_proxy_slices_complexity import CONDITIONS, _merged

READY, NOT_READY, TERMINATING, GONE = CONDITIONS
KEY = "default/web"


def _slice(index: int, endpoints: tuple[SliceEndpoint, ...]) -> EndpointSlice:
    meta = ObjectMeta(name=f"web-{index}", namespace="default", labels={LABEL_SERVICE_NAME: "web"})
    return EndpointSlice(meta, endpoints=endpoints)


def _flip(eps: EndpointSlice, at: int, conditions: EndpointConditions) -> EndpointSlice:
    """``eps`` with endpoint ``at`` rewritten with ``conditions``, the others kept (the same
    objects), as the EndpointSlice controller updates a slice."""
    endpoints = list(eps.endpoints)
    endpoints[at] = attrs.evolve(endpoints[at], conditions=conditions)
    return attrs.evolve(eps, endpoints=tuple(endpoints))


def _hundred() -> tuple[SliceTable, EndpointSlice]:
    table = SliceTable()
    eps = _slice(0, tuple(SliceEndpoint((f"10.0.0.{i}",), READY) for i in range(100)))
    table.put(eps)
    return table, eps


def test_a_readiness_flip_categorizes_one_endpoint_of_a_hundred() -> None:
    """One endpoint of a 100-endpoint slice turns not ready, then terminating and serving, then
    ready again: each update categorizes that endpoint alone and moves its IP between the ready
    and the fallback sets (work 2, 2 and 3: the endpoint and the IP's moves, not the 100
    endpoints of re-reading the slice), and the Service routes as upstream's full merge says."""
    table, eps = _hundred()
    for conditions, routable, work in ((NOT_READY, 99, 2), (TERMINATING, 99, 2), (READY, 100, 3)):
        before = table.visited
        eps = _flip(eps, 7, conditions)
        table.put(eps)
        assert table.visited - before == work
        assert table.routable_ips(KEY) == _merged({0: eps})
        assert len(table.routable_ips(KEY)) == routable


def test_an_appended_endpoint_and_a_label_change_cost_only_what_changed() -> None:
    """A new pod's endpoint appended to the slice: one endpoint categorized, one IP moved. An
    update that keeps the endpoints (a label or annotation change) categorizes nothing."""
    table, eps = _hundred()
    before = table.visited
    eps = attrs.evolve(eps, endpoints=(*eps.endpoints, SliceEndpoint(("10.0.1.1",), READY)))
    table.put(eps)
    assert table.visited - before == 2
    assert "10.0.1.1" in table.routable_ips(KEY)
    before = table.visited
    table.put(attrs.evolve(eps, metadata=attrs.evolve(eps.metadata, annotations={"a": "b"})))
    assert table.visited == before
    assert table.routable_ips(KEY) == _merged({0: eps})


def test_an_ip_listed_twice_is_categorized_in_full() -> None:
    """A hand-written slice listing one IP in two endpoints (one ready, one not): flipping the
    ready one leaves the IP listed by the other, so the update is read in full (101 endpoints)
    and the IP leaves the ready set only as the full merge says."""
    endpoints = [SliceEndpoint((f"10.0.0.{i}",), READY) for i in range(100)]
    endpoints.append(SliceEndpoint(("10.0.0.5",), READY))
    table = SliceTable()
    eps = _slice(0, tuple(endpoints))
    table.put(eps)
    before = table.visited
    eps = _flip(eps, 5, NOT_READY)
    table.put(eps)
    assert table.visited - before == 101
    assert "10.0.0.5" in table.routable_ips(KEY)
    assert table.routable_ips(KEY) == _merged({0: eps})


def test_shared_endpoint_updates_equal_a_full_merge_through_random_changes() -> None:
    """Random updates as the controller makes them (flips in place, appends, removals, IPs
    listed twice, new slices, deletions) over three slices: the routable IPs always equal
    CategorizeEndpoints over a full merge of the slices."""
    rng = random.Random(5)
    table = SliceTable()
    slices: dict[int, EndpointSlice] = {}
    pool = [f"10.0.0.{i}" for i in range(30)]
    for step in range(2000):
        index = rng.randrange(3)
        eps = slices.get(index)
        roll = rng.random()
        if eps is None or roll < 0.05:
            if eps is not None and rng.random() < 0.5:
                table.remove(slices.pop(index))
                continue
            ips = rng.sample(pool, rng.randrange(1, 12))
            eps = _slice(index, tuple(SliceEndpoint((ip,), rng.choice(CONDITIONS)) for ip in ips))
        elif roll < 0.7 and eps.endpoints:
            for _ in range(rng.randrange(1, 3)):
                eps = _flip(eps, rng.randrange(len(eps.endpoints)), rng.choice(CONDITIONS))
        elif roll < 0.9:
            added = SliceEndpoint((rng.choice(pool),), rng.choice(CONDITIONS))
            eps = attrs.evolve(eps, endpoints=(*eps.endpoints, added))
        elif eps.endpoints:
            gone = rng.randrange(len(eps.endpoints))
            eps = attrs.evolve(eps, endpoints=eps.endpoints[:gone] + eps.endpoints[gone + 1 :])
        table.put(eps)
        slices[index] = eps
        assert table.routable_ips(KEY) == _merged(slices), step


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
