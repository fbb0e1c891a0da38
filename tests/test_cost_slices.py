"""An EndpointSlice version's cost to validate and to categorise: proportional to what changed.

A readiness flip rewrites one endpoint of a slice of up to 100 (the EndpointSlice controller's
``maxEndpointsPerSlice``), and the controller keeps the other endpoint objects as they were.

- The API server validates the whole object on every write (ValidateEndpointSliceUpdate in
  pkg/apis/discovery/validation/validation.go calls ValidateEndpointSlice on the new object): the
  causes must be those of a full validation, but an endpoint that is the stored version's own
  object at its position passed the per-endpoint rules already and is not checked again.
- kube-proxy's EndpointSliceCache (pkg/proxy/endpointslicecache.go) holds each slice's endpoints
  and CategorizeEndpoints (pkg/proxy/topology.go) picks the ready ones, else the serving and
  terminating ones: the model categorises a slice version once for every kube-proxy of the
  cluster (one fleet), and from the endpoints that changed only.

Work is counted (endpoints checked, endpoints read), never timed.
"""

from __future__ import annotations

import random

import attrs
import trio

from kubechaos.api import errors
from kubechaos.api import validation_endpointslice as validation
from kubechaos.api.objects import EndpointSlice, ObjectMeta, ServicePort, SliceEndpoint
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME, EndpointConditions
from kubechaos.api.validation_endpointslice import (
    validate_endpointslice,
    validate_endpointslice_update,
)
from kubechaos.node.proxy import ProxyFleet
from kubechaos.node.proxyslices import SliceTable

from .factories import service
from .test_proxy import endpoints, plane
from .test_proxy_slices_complexity import CONDITIONS, _merged

NOT_READY = EndpointConditions(ready=False, serving=False, terminating=False)
IPS = [f"10.128.0.{i + 2}" for i in range(100)]


def _flip(eps: EndpointSlice, at: int, conditions: EndpointConditions) -> EndpointSlice:
    """``eps`` with endpoint ``at`` rewritten, every other endpoint the same object (as the
    EndpointSlice controller's update of a readiness flip)."""
    kept = list(eps.endpoints)
    kept[at] = attrs.evolve(kept[at], conditions=conditions)
    return attrs.evolve(eps, endpoints=tuple(kept))


async def test_an_update_validates_only_the_endpoints_it_changed() -> None:
    """Updating a 100-endpoint slice with one endpoint flipped checks one endpoint, not 100;
    a create checks all 100. Upstream: ValidateEndpointSliceUpdate
    (pkg/apis/discovery/validation/validation.go) validates the whole new object; the result
    is the same, the stored endpoints having passed the same rules."""
    ctx = await plane()
    before = validation.ENDPOINTS_VALIDATED
    stored = await ctx.api.create(endpoints("web", IPS))
    assert validation.ENDPOINTS_VALIDATED - before == 100
    for at in (0, 57, 99):
        before = validation.ENDPOINTS_VALIDATED
        stored = await ctx.api.update(_flip(stored, at, NOT_READY))
        assert validation.ENDPOINTS_VALIDATED - before == 1
    before = validation.ENDPOINTS_VALIDATED
    meta = attrs.evolve(stored.metadata, labels={**stored.metadata.labels, "tier": "web"})
    await ctx.api.update(attrs.evolve(stored, metadata=meta))  # labels only: no endpoint
    assert validation.ENDPOINTS_VALIDATED - before == 0


async def test_an_update_with_a_bad_endpoint_is_refused_as_in_full() -> None:
    """An endpoint without addresses, written among 99 kept ones, is refused with the cause a
    full validation gives, at its position: ``endpoints[42].addresses: Required value``
    (validateEndpoints in pkg/apis/discovery/validation/validation.go, minAddresses 1)."""
    ctx = await plane()
    stored = await ctx.api.create(endpoints("web", IPS))
    kept = list(stored.endpoints)
    kept[42] = attrs.evolve(kept[42], addresses=())
    try:
        await ctx.api.update(attrs.evolve(stored, endpoints=tuple(kept)))
    except errors.Invalid as refused:
        assert "endpoints[42].addresses: Required value: must contain at least 1" in str(refused)
    else:
        raise AssertionError("an endpoint without addresses was accepted")


def _endpoint(rng: random.Random, i: int) -> SliceEndpoint:
    size = rng.choice((1, 1, 1, 2, 0, 101))
    return SliceEndpoint(tuple(f"10.0.{i}.{a}" for a in range(size)), rng.choice(CONDITIONS))


def test_update_validation_gives_the_full_validations_causes() -> None:
    """Random updates of a valid stored slice (endpoints kept, replaced, appended, dropped; bad
    address counts, too many ports, bad labels, a bad address type): the causes of
    validate_endpointslice_update are exactly those of validate_endpointslice on the new
    object (ValidateEndpointSliceUpdate validates the new object whole)."""
    rng = random.Random(5)
    meta = ObjectMeta(name="web-abcde", namespace="default", labels={LABEL_SERVICE_NAME: "web"})
    valid = [SliceEndpoint((f"10.1.0.{i}",)) for i in range(20)]
    for step in range(400):
        old = EndpointSlice(meta, endpoints=tuple(rng.sample(valid, rng.randrange(1, 20))))
        assert validate_endpointslice(old) == []
        news = list(old.endpoints)
        for _ in range(rng.randrange(3)):
            news[rng.randrange(len(news))] = _endpoint(rng, step)
        if rng.random() < 0.3:
            news += [_endpoint(rng, step) for _ in range(rng.randrange(1, 3))]
        if rng.random() < 0.2:
            del news[rng.randrange(len(news)) :]
        new = attrs.evolve(old, endpoints=tuple(news))
        if rng.random() < 0.1:
            new = attrs.evolve(new, ports=(ServicePort(80),) * 101)
        if rng.random() < 0.1:
            bad = attrs.evolve(meta, labels={**meta.labels, "-bad": "x"})
            new = attrs.evolve(new, metadata=bad)
        if rng.random() < 0.05:
            new = attrs.evolve(new, address_type="IPv5")
        assert validate_endpointslice_update(new, old) == validate_endpointslice(new), step


def _slice(endpoint_list: list[SliceEndpoint], index: int = 0) -> EndpointSlice:
    meta = ObjectMeta(name=f"web-{index}", namespace="default", labels={LABEL_SERVICE_NAME: "web"})
    return EndpointSlice(meta, endpoints=tuple(endpoint_list))


def test_a_flip_reads_the_changed_endpoint_only_a_rebuilt_slice_all() -> None:
    """kube-proxy's table: a 100-endpoint slice whose update flips one endpoint (the others the
    same objects) reads that endpoint's old and new version and moves 1 IP (work 3, was 101
    when every version was categorised whole); a rebuilt version (every endpoint a new object) is categorised whole
    (pkg/proxy/endpointslicecache.go, CategorizeEndpoints in pkg/proxy/topology.go)."""
    table = SliceTable()
    eps = _slice([SliceEndpoint((ip,)) for ip in IPS])
    table.put(eps)
    before = table.visited
    flipped = _flip(eps, 30, NOT_READY)
    table.put(flipped)
    assert table.visited - before == 3
    assert len(table.routable_ips("default/web")) == 99
    before = table.visited
    table.put(attrs.evolve(flipped, endpoints=tuple(attrs.evolve(e) for e in flipped.endpoints)))
    assert table.visited - before == 100
    assert len(table.routable_ips("default/web")) == 99


def test_incremental_categories_equal_a_full_merge_with_kept_endpoints() -> None:
    """Random updates that keep most endpoint objects (as the controller does) and replace,
    append or drop a few, with IPs listed twice in a slice at times (then the slice is
    categorised whole until it is exact again): the routable IPs always equal
    CategorizeEndpoints over a full merge of every slice."""
    rng = random.Random(11)
    table = SliceTable()
    slices: dict[int, EndpointSlice] = {}
    pool = [f"10.2.0.{i}" for i in range(30)]

    def endpoint() -> SliceEndpoint:
        return SliceEndpoint((rng.choice(pool),), rng.choice(CONDITIONS))

    for step in range(1500):
        index = rng.randrange(3)
        current = slices.get(index)
        if current is None or not current.endpoints:
            new = _slice([endpoint() for _ in range(rng.randrange(1, 10))], index)
        elif rng.random() < 0.05:
            table.remove(slices.pop(index))
            continue
        else:
            news = list(current.endpoints)
            for _ in range(rng.randrange(1, 3)):
                news[rng.randrange(len(news))] = endpoint()
            if rng.random() < 0.2:
                news.append(endpoint())
            if rng.random() < 0.2 and len(news) > 1:
                news.pop(rng.randrange(1, len(news)))
            new = attrs.evolve(current, endpoints=tuple(news))
        table.put(new)
        slices[index] = new
        assert table.routable_ips("default/web") == _merged(slices), step


async def test_one_categorisation_per_slice_version_whatever_the_nodes() -> None:
    """Every kube-proxy of the cluster receives the same slice version; the fleet categorises
    it once for all of them: a one-endpoint flip reads the same 3 (the endpoint's two versions,
    the IP moved; 101 categorised whole) with 1 kube-proxy as with 60, and each node's proxy routes the result
    (pkg/proxy/endpointslicecache.go holds a node's slices; the model holds them once)."""
    work = []
    for nodes in (1, 60):
        ctx = await plane()
        fleet = ProxyFleet(ctx)
        for i in range(nodes):
            fleet.register(f"n{i}")
        async with trio.open_nursery() as nursery:
            nursery.start_soon(fleet.run)
            await ctx.api.create(service("web"))
            stored = await ctx.api.create(endpoints("web", IPS))
            await fleet.synced.wait()
            await trio.sleep(2)
            before = fleet._slices.visited
            await ctx.api.update(_flip(stored, 7, NOT_READY))
            await trio.sleep(2)
            work.append(fleet._slices.visited - before)
            for i in range(nodes):
                assert len(fleet.proxy(f"n{i}").endpoints("default/web")) == 99
            nursery.cancel_scope.cancel()
    assert work == [3, 3]


def test_more_than_1000_endpoints_is_one_cause_and_no_endpoint_checked() -> None:
    """A slice of 1001 endpoints, one without addresses: the one cause ``endpoints: Too many``,
    and no endpoint is checked (validateEndpoints in pkg/apis/discovery/validation/validation.go
    returns at maxEndpoints = 1000 before its per-endpoint loop); the same on update."""
    many = [SliceEndpoint((f"10.3.{i // 250}.{i % 250}",)) for i in range(1001)]
    many[500] = SliceEndpoint(())
    eps = _slice(many)
    before = validation.ENDPOINTS_VALIDATED
    assert validate_endpointslice(eps) == [
        "endpoints: Too many: 1001: must have at most 1000 items"
    ]
    old = _slice(many[:499])  # the stored version: valid
    assert validate_endpointslice_update(eps, old) == validate_endpointslice(eps)
    assert validation.ENDPOINTS_VALIDATED - before == 0
