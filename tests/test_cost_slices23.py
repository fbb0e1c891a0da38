"""The EndpointSlice and Endpoints controllers' syncs: what a sync reads again is what changed.

- A Service growing one pod at a time (the commonest write of a scaling Deployment): upstream's
  reconciler (staging/src/k8s.io/endpointslice/reconciler.go ``reconcileByPortMapping``) puts
  the new endpoint into the fullest slice with room. The model remembers each slice version's
  addresses with their positions; the version it writes by appending is remembered from the
  plan, so the next sync does not read the slice's endpoints again.
- A pod's endpoint (staging/src/k8s.io/endpointslice/utils.go ``podToEndpoint``, ports from
  ``getEndpointPorts``): its conditions are one of eight immutable values and, when no target
  port is named, its port list is the Service's alone; neither is built again per pod event.
- A readiness flip in a slice of 100 endpoints, while the Service's slices are as the controller
  last wrote them: reconcileByPortMapping compares every endpoint; the model, which knows the
  addresses changed since, looks at the flipped one alone (every other endpoint of the slice was
  wanted, with the same endpoint, when it was written), and the plan is the one a full
  comparison gives.
- A readiness flip in the Endpoints controller (pkg/controller/endpoint/endpoints_controller.go
  ``syncService`` rebuilds the subsets from the Service's pods): the model brings the Service's
  kept addresses up to date once per sync, and the subsets it writes are built from that same
  set (not looked up and brought up to date a second time).

Work is counted (slice versions whose endpoints are read, objects built, a slice's addresses
looked at, address sets brought up to date), never timed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import trio

from kubechaos.api.objects import (
    EndpointSlice,
    ObjectMeta,
    Service,
    ServicePort,
    SliceEndpoint,
    key_of,
)
from kubechaos.api.objects.endpointslice import LABEL_SERVICE_NAME, EndpointConditions
from kubechaos.control.controllers.endpointaddresses import AddressSet
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice.controller import EndpointSliceController
from kubechaos.control.controllers.endpointslice.reconciler import plan_slices
from kubechaos.sim.clock import run_virtual

from .factories import service
from .test_endpoints import set_status
from .test_endpointslice_incremental import _ip, _start
from .test_endpointslices import controlling

PODS = 60


def _slice_reads(mp: pytest.MonkeyPatch) -> list[str]:
    """Counts the slice versions whose endpoints ``_ips`` reads (a version it has no positions
    for): the keys, one per read."""
    reads: list[str] = []
    original = EndpointSliceController._ips

    def counted(self: EndpointSliceController, eps: EndpointSlice) -> Any:
        known = self._ips_of.get(key_of(eps))
        if known is None or known[0] != int(eps.metadata.resource_version or 0):
            reads.append(key_of(eps))
        return original(self, eps)

    mp.setattr(EndpointSliceController, "_ips", counted)
    return reads


def test_a_growing_service_reads_no_slice_it_wrote_by_appending() -> None:
    """Sixty pods join a Service one by one, a sync after each: every sync appends one endpoint
    to the one slice (reconcileByPortMapping fills the fullest slice with room), and only the
    slice created from nothing (the first pod's) is read again, not one version per pod."""
    with pytest.MonkeyPatch.context() as mp:
        reads = _slice_reads(mp)

        async def main() -> None:
            async with controlling() as (ctx, ctl):
                await ctx.api.create(service("web"))
                for i in range(PODS):
                    await _start(ctx, f"web-{i}", _ip(i), {"app": "web"}, "n0")
                    await trio.sleep(0.1)
                slices = ctl.current_slices("default/web")
                assert [len(s.endpoints) for s in slices] == [PODS]

        run_virtual(main, seed=5)
    assert len(reads) == 1, reads


def test_an_endpoints_sync_brings_the_addresses_up_to_date_once() -> None:
    """Twenty pods, then ten readiness flips, each written: every Endpoints sync, writing or
    not, brings its Service's addresses up to date exactly once."""
    calls = {"syncs": 0, "addresses": 0}
    original_sync, original_addresses = EndpointsController.sync, EndpointsController.addresses

    async def sync(self: EndpointsController, key: str) -> None:
        calls["syncs"] += 1
        await original_sync(self, key)

    def addresses(self: EndpointsController, svc: Service) -> AddressSet:
        calls["addresses"] += 1
        return original_addresses(self, svc)

    async def main() -> None:
        async with controlling() as (ctx, _), trio.open_nursery() as nursery:
            nursery.start_soon(EndpointsController(ctx).run)
            await ctx.api.create(service("web"))
            for i in range(20):
                await _start(ctx, f"web-{i}", _ip(i), {"app": "web"}, "n0")
                await trio.sleep(0.1)
            for i in range(10):
                await set_status(ctx, f"web-{i}", ready=False)
                await trio.sleep(0.1)
            endpoints = await ctx.api.get("endpoints", "default", "web")
            assert [len(s.addresses) for s in endpoints.subsets] == [10]
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EndpointsController, "sync", sync)
        mp.setattr(EndpointsController, "addresses", addresses)
        run_virtual(main, seed=5)
    assert calls["syncs"] >= 30
    assert calls["addresses"] == calls["syncs"]


class CountedPositions(Mapping[str, int]):
    """A slice's addresses with their positions, counting the addresses visited."""

    def __init__(self, positions: dict[str, int]) -> None:
        self.positions = positions
        self.visited = 0

    def __getitem__(self, key: str) -> int:
        self.visited += 1
        return self.positions[key]

    def __contains__(self, key: object) -> bool:
        self.visited += 1
        return key in self.positions

    def __iter__(self) -> Iterator[str]:
        for key in self.positions:
            self.visited += 1
            yield key

    def __len__(self) -> int:
        return len(self.positions)


def test_a_flip_in_a_full_slice_looks_at_the_flipped_address_alone() -> None:
    """One endpoint of 100 turns not ready: the incremental plan updates the slice with that
    endpoint replaced, as the full comparison does, visiting a handful of the slice's
    addresses (three looks at the flipped one) rather than all 100, twice (a subset test and
    a placing of every address)."""
    ports = (ServicePort(8080),)
    labels = {LABEL_SERVICE_NAME: "web"}
    template = EndpointSlice(ObjectMeta(generate_name="web-", labels=labels))
    endpoints = tuple(SliceEndpoint((_ip(i),)) for i in range(100))
    meta = ObjectMeta(name="web-abcde", namespace="default", labels=labels, resource_version="7")
    existing = [EndpointSlice(meta, endpoints=endpoints, ports=ports)]
    wanted = {e.addresses[0]: e for e in endpoints}
    flipped = _ip(42)
    wanted[flipped] = SliceEndpoint((flipped,), EndpointConditions(False, False, False))
    held = CountedPositions({e.addresses[0]: i for i, e in enumerate(endpoints)})

    plan = plan_slices(existing, {ports: wanted}, template, 100, {ports: {flipped}}, lambda _: held)

    full = plan_slices(existing, {ports: wanted}, template, 100)
    assert plan == full and len(plan.update) == 1
    assert plan.update[0].endpoints[42] == wanted[flipped]
    assert held.visited == 3  # is it disjoint, which does it hold, where is it


def test_a_pod_event_builds_no_ports_or_conditions() -> None:
    """Twenty pods, then ten readiness flips and back, each synced: while the EndpointSlice
    controller brings its endpoints up to date, the one port list is built once (when the
    Service's endpoints are first built) and no conditions object is built."""
    built = {"ports": 0, "conditions": 0, "desired": 0}
    originals = {
        "ports": ServicePort.__init__,
        "conditions": EndpointConditions.__init__,
    }
    original_desired = EndpointSliceController.desired
    desiring = [False]

    def counting(kind: str) -> Any:
        def init(self: Any, *args: Any, **kwargs: Any) -> None:
            if desiring[0]:
                built[kind] += 1
            originals[kind](self, *args, **kwargs)

        return init

    def desired(self: EndpointSliceController, svc: Service) -> Any:
        built["desired"] += 1
        desiring[0] = True
        try:
            return original_desired(self, svc)
        finally:
            desiring[0] = False

    async def main() -> None:
        async with controlling() as (ctx, _):
            await ctx.api.create(service("web"))
            for i in range(20):
                await _start(ctx, f"web-{i}", _ip(i), {"app": "web"}, "n0")
                await trio.sleep(0.1)
            for ready in (False, True):
                for i in range(10):
                    await set_status(ctx, f"web-{i}", ready=ready)
                    await trio.sleep(0.1)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ServicePort, "__init__", counting("ports"))
        mp.setattr(EndpointConditions, "__init__", counting("conditions"))
        mp.setattr(EndpointSliceController, "desired", desired)
        run_virtual(main, seed=5)
    assert built["desired"] >= 60
    assert (built["ports"], built["conditions"]) == (1, 0)
