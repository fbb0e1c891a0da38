"""The EndpointSlice and Endpoints controllers' syncs: what a sync reads again is what changed.

- A Service growing one pod at a time (the commonest write of a scaling Deployment): upstream's
  reconciler (staging/src/k8s.io/endpointslice/reconciler.go ``reconcileByPortMapping``) puts
  the new endpoint into the fullest slice with room. The model remembers each slice version's
  addresses with their positions; the version it writes by appending is remembered from the
  plan, so the next sync does not read the slice's endpoints again.
- A readiness flip in the Endpoints controller (pkg/controller/endpoint/endpoints_controller.go
  ``syncService`` rebuilds the subsets from the Service's pods): the model brings the Service's
  kept addresses up to date once per sync, and the subsets it writes are built from that same
  set, not from a second pass over the pods touched.

Work is counted (slice versions whose endpoints are read, address sets brought up to date),
never timed.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio

from kubechaos.api.objects import EndpointSlice, Service, key_of
from kubechaos.control.controllers.endpointaddresses import AddressSet
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice.controller import EndpointSliceController
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
