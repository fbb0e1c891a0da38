"""kube-proxy's endpoint sets updated per EndpointSlice change, not re-merged per Service.

Upstream's kube-proxy tracks changes per slice (pkg/proxy/endpointschangetracker.go
EndpointSliceUpdate, pkg/proxy/endpointslicecache.go updatePending): an event replaces that
slice's share of its Service's endpoints; CategorizeEndpoints (pkg/proxy/topology.go) then picks
the ready ones, else the serving-and-terminating ones. The work of one slice event must be the
endpoints of that slice (old and new version), whatever the number of slices of the Service;
the answer must equal a full merge of every slice. Work is counted, never timed.
"""

from __future__ import annotations

import random

from kubechaos.api.objects import EndpointSlice, ObjectMeta
from kubechaos.api.objects.endpointslice import (
    LABEL_SERVICE_NAME,
    EndpointConditions,
    SliceEndpoint,
)
from kubechaos.node.proxyslices import SliceTable

CONDITIONS = (
    EndpointConditions(ready=True, serving=True, terminating=False),
    EndpointConditions(ready=False, serving=False, terminating=False),
    EndpointConditions(ready=False, serving=True, terminating=True),
    EndpointConditions(ready=False, serving=False, terminating=True),
)


def _slice(index: int, ips: list[str], conditions: list[EndpointConditions]) -> EndpointSlice:
    meta = ObjectMeta(name=f"web-{index}", namespace="default", labels={LABEL_SERVICE_NAME: "web"})
    return EndpointSlice(
        meta,
        endpoints=tuple(SliceEndpoint((ip,), c) for ip, c in zip(ips, conditions, strict=True)),
    )


def _merged(slices: dict[int, EndpointSlice]) -> tuple[str, ...]:
    """CategorizeEndpoints over every slice at once: ready, else serving and terminating."""
    ready = {
        ip
        for eps in slices.values()
        for e in eps.endpoints
        if e.conditions.ready
        for ip in e.addresses
    }
    fallback = {
        ip
        for eps in slices.values()
        for e in eps.endpoints
        if not e.conditions.ready and e.conditions.serving and e.conditions.terminating
        for ip in e.addresses
    }
    return tuple(sorted(ready or fallback))


def _service(table: SliceTable, slices: int) -> None:
    for s in range(slices):
        ips = [f"10.{s // 250}.{s % 250}.{i}" for i in range(100)]
        table.put(_slice(s, ips, [CONDITIONS[0]] * 100))


def test_one_slice_change_visits_that_slice_only_at_any_service_size() -> None:
    """A Service of 5 slices and one of 50 (500 and 5,000 endpoints): flipping one endpoint's
    readiness in one slice reads that slice's 100 endpoints and moves one IP, in both."""
    work = []
    for slices in (5, 50):
        table = SliceTable()
        _service(table, slices)
        ips = [f"10.0.3.{i}" for i in range(100)]
        before = table.visited
        table.put(_slice(3, ips, [CONDITIONS[1]] + [CONDITIONS[0]] * 99))
        work.append(table.visited - before)
        assert len(table.routable_ips("default/web")) == slices * 100 - 1
    assert work == [101, 101]


def test_incremental_sets_equal_a_full_merge_through_random_changes() -> None:
    """Random slice adds, updates (IPs moving between slices, any conditions) and removals: the
    routable IPs always equal CategorizeEndpoints over a full merge of the slices."""
    rng = random.Random(3)
    table = SliceTable()
    slices: dict[int, EndpointSlice] = {}
    for step in range(500):
        index = rng.randrange(6)
        if rng.random() < 0.2 and index in slices:
            table.remove(slices.pop(index))
        else:
            ips = rng.sample([f"10.0.0.{i}" for i in range(40)], rng.randrange(1, 8))
            eps = _slice(index, ips, [rng.choice(CONDITIONS) for _ in ips])
            if index in slices and rng.random() < 0.5:
                table.remove(slices[index])  # else put replaces it, as kube-proxy's update does
            table.put(eps)
            slices[index] = eps
        assert table.routable_ips("default/web") == _merged(slices), step
    assert table.has("default/web") == bool(slices)
