"""The EndpointSlice controller's work grows with the pod events, not with events x pods (issue 16).

Upstream's ``syncService`` (pkg/controller/endpointslice/endpointslice_controller.go) lists the
Service's pods through its selector on every sync, and the reconciler
(staging/src/k8s.io/endpointslice/reconciler.go ``reconcileByPortMapping``) compares every
existing endpoint with the desired one; syncs are coalesced per Service key in the work queue,
after ``--endpointslice-updates-batch-period`` (0 by default, pkg/controller/endpointslice/config).
The model computes the same slices from the pods an event touched: a Service's endpoints are kept
per pod (endpointslice/endpointset.py) and only the slices holding a changed address are compared.

Two kinds of guard, deterministic (work counted, never timed):

- the same history at two sizes (pods doubled): pods read per sync stay flat, pods read and slice
  endpoints compared over the run at most double;
- a long random history (readiness flips, deletions, label changes, two port groups, two pods on
  one IP, nodes changing zone or going away, slices edited or deleted by someone else, Service
  ports, labels and ``publishNotReadyAddresses`` changing): at every sync the endpoints kept
  incrementally and the plan computed from them equal those of a full re-read.
"""

from __future__ import annotations

import contextvars
import functools
import random
from collections.abc import Callable
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import (
    Container,
    ContainerPort,
    EndpointSubset,
    ObjectMeta,
    Pod,
    PodSpec,
    PodStatus,
    Service,
    ServicePort,
    ServiceSpec,
    SliceEndpoint,
    key_of,
)
from kubechaos.control.controllers.endpointaddresses import AddressSet, address_facts
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import controller as slice_controller
from kubechaos.control.controllers.endpointslice.endpointset import EndpointSets
from kubechaos.control.controllers.endpointslice.reconciler import plan_slices
from kubechaos.defaults import Settings
from kubechaos.sim.clock import run_virtual

from .factories import node, service
from .test_endpoints import set_status
from .test_endpointslices import controlling

EndpointSliceController = slice_controller.EndpointSliceController
GROWTH = 2.2  # per doubling of the pods
SMALL, LARGE = 150, 300

_syncing: contextvars.ContextVar[str] = contextvars.ContextVar("syncing", default="")
CONTROLLERS = {"EndpointSlice": EndpointSliceController, "Endpoints": EndpointsController}


@attrs.define
class Work:
    syncs: int = 0
    pod_reads: int = 0  # a pod's conditions or phase looked at during a sync
    compared: int = 0  # SliceEndpoint equality tests during a sync


def _count(mp: pytest.MonkeyPatch, works: dict[str, Work]) -> None:
    def during_sync(field: str, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def counted(*args: Any) -> Any:
            who = _syncing.get()
            if who:
                setattr(works[who], field, getattr(works[who], field) + 1)
            return method(*args)

        return counted

    def counted_sync(name: str, original: Callable[..., Any]) -> Callable[..., Any]:
        async def sync(self: Any, key: str) -> None:
            works[name].syncs += 1
            token = _syncing.set(name)
            try:
                await original(self, key)
            finally:
                _syncing.reset(token)

        return sync

    for name, cls in CONTROLLERS.items():
        mp.setattr(cls, "sync", counted_sync(name, cls.sync))
    mp.setattr(PodStatus, "condition", during_sync("pod_reads", PodStatus.condition))
    mp.setattr(Pod, "is_terminal", during_sync("pod_reads", Pod.is_terminal))
    mp.setattr(SliceEndpoint, "__eq__", during_sync("compared", SliceEndpoint.__eq__))


def _ip(i: int) -> str:
    return f"10.{128 + i // 60000}.{i // 250 % 240}.{i % 250 + 2}"


def _pod(name: str, labels: dict[str, str], node_name: str, port: int = 8080) -> Pod:
    container = Container("app", "nginx:1.27", ports=(ContainerPort(port, name="http"),))
    return Pod(
        ObjectMeta(name=name, namespace="default", labels=labels),
        PodSpec(containers=(container,), node_name=node_name),
    )


async def _start(ctx: Any, name: str, ip: str, labels: dict[str, str], node_name: str) -> None:
    await ctx.api.create(_pod(name, labels, node_name))
    await set_status(ctx, name, ip=ip, ready=True)


def _history(pods: int) -> dict[str, Work]:
    """Pods come one by one, a tenth flip to not ready and back, a tenth are deleted; both
    controllers sync after each change."""
    works = {name: Work() for name in CONTROLLERS}

    async def main() -> None:
        async with controlling() as (ctx, _), trio.open_nursery() as nursery:
            nursery.start_soon(EndpointsController(ctx).run)
            await ctx.api.create(service("web"))
            for i in range(pods):
                await _start(ctx, f"web-{i}", _ip(i), {"app": "web"}, f"n{i % 10}")
                await trio.sleep(0.1)
            for i in range(0, pods, 10):
                await set_status(ctx, f"web-{i}", ready=False)
                await trio.sleep(0.1)
                await set_status(ctx, f"web-{i}", ready=True)
                await trio.sleep(0.1)
            for i in range(5, pods, 10):
                await ctx.api.delete("pods", "default", f"web-{i}", grace_period_seconds=0)
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()

    with pytest.MonkeyPatch.context() as mp:
        _count(mp, works)
        run_virtual(main, seed=5)
    return works


@pytest.fixture(scope="module")
def histories() -> tuple[dict[str, Work], dict[str, Work]]:
    return _history(SMALL), _history(LARGE)


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_a_sync_reads_the_pods_that_changed_not_all_of_the_services(
    histories: tuple[dict[str, Work], dict[str, Work]], controller: str
) -> None:
    """Pods read per sync do not grow with the Service. Upstream's pod handlers
    (pkg/controller/endpointslice/endpointslice_controller.go and
    pkg/controller/endpoint/endpoints_controller.go addPod, updatePod, deletePod) queue the
    Services of the pod that changed, and each syncService re-lists every selected pod
    (podLister.Pods(ns).List(selector)): twice the pods per sync at twice the size. Here a sync
    reads the pods those handlers saw change, with the same result (see the tests below)."""
    small, large = (works[controller] for works in histories)
    assert small.syncs >= SMALL and large.syncs >= LARGE  # a sync per pod event
    per_sync_small = small.pod_reads / small.syncs
    per_sync_large = large.pod_reads / large.syncs
    assert per_sync_large <= 1.2 * per_sync_small, (per_sync_small, per_sync_large)
    assert per_sync_large < 10


@pytest.mark.parametrize("controller", list(CONTROLLERS))
def test_pods_read_over_the_run_grow_linearly(
    histories: tuple[dict[str, Work], dict[str, Work]], controller: str
) -> None:
    """Over the whole history, pods read at most double when the pods double (a re-read of the
    Service's pods per pod event would quadruple them)."""
    small, large = (works[controller] for works in histories)
    assert small.pod_reads > 0
    assert large.pod_reads <= GROWTH * small.pod_reads, (small.pod_reads, large.pod_reads)


def test_slice_endpoints_compared_grow_linearly(
    histories: tuple[dict[str, Work], dict[str, Work]],
) -> None:
    """Slice endpoints compared with the desired ones (reconciler.go compares every endpoint of
    every slice): only the slices holding a changed address are compared, each of at most
    ``maxEndpointsPerSlice`` (100) endpoints, and in those only the changed addresses, so the
    total grows with the events."""
    small, large = (works["EndpointSlice"] for works in histories)
    assert small.compared > 0
    assert large.compared <= GROWTH * small.compared, (small.compared, large.compared)


# ---------------------------------------------------------------------- same result as a re-read
@attrs.define
class Checks:
    desired: int = 0
    incremental_plans: int = 0


def _full_wanted(ctl: Any, svc: Service) -> list[tuple[object, dict[str, SliceEndpoint]]]:
    """The endpoints a full re-read of ``svc``'s pods gives (in group order)."""
    sets = EndpointSets()
    skey = key_of(svc)
    spec = (svc.spec.selector, svc.spec.ports, svc.spec.publish_not_ready_addresses)
    fresh = sets.rebuild(skey, spec, None)
    for pkey, pod in ctl.selected_pods(svc):  # (each pod's ports resolved: getEndpointPorts)
        sets.set(skey, fresh, pkey, ctl._contribution(svc, pod, None))
    fresh.settle(lambda: ctl.selection_order(svc))
    return list(fresh.wanted.items())


def _check(mp: pytest.MonkeyPatch, checks: Checks) -> None:
    original_desired = EndpointSliceController.desired

    def desired(self: Any, svc: Service) -> Any:
        found, rebuilt = original_desired(self, svc)
        assert list(found.wanted.items()) == _full_wanted(self, svc)
        checks.desired += 1
        return found, rebuilt

    def plan(
        existing: Any, wanted: Any, template: Any, limit: int, changed: Any, ips: Any, *kept: Any
    ) -> Any:
        got = plan_slices(existing, wanted, template, limit, changed, ips, *kept)
        if changed is not None:
            assert got == plan_slices(existing, wanted, template, limit)
            checks.incremental_plans += 1
        return got

    mp.setattr(EndpointSliceController, "desired", desired)
    mp.setattr(slice_controller, "plan_slices", plan)


def _named_port_service(name: str, selector: dict[str, str]) -> Service:
    return Service(
        ObjectMeta(name=name, namespace="default", labels={"team": "a"}),
        ServiceSpec(selector=selector, ports=(ServicePort(80, "http", name="web"),)),
    )


async def _random_step(ctx: Any, rng: random.Random, names: list[str], step: int) -> None:
    api = ctx.api
    what = rng.choice(
        ["ready", "ready", "ready", "delete", "create", "relabel", "zone", "slice", "service"]
    )
    name = rng.choice(names)
    try:
        if what == "ready":
            await set_status(ctx, name, ready=rng.random() < 0.6)
        elif what == "delete":
            await api.delete("pods", "default", name, grace_period_seconds=rng.choice([0, 30]))
        elif what == "create":
            labels = {"app": "web", "tier": rng.choice(["a", "b"])}
            port = rng.choice([8080, 8080, 9090])  # a second port group
            await api.create(_pod(name, labels, f"n{rng.randrange(4)}", port))
            ip = _ip(rng.randrange(40))  # sometimes an IP another pod has
            await set_status(ctx, name, ip=ip, ready=rng.random() < 0.7)
        elif what == "relabel":
            tier = rng.choice(["a", "b", "none"])
            await api.patch(
                "pods",
                "default",
                name,
                lambda p: attrs.evolve(
                    p, metadata=attrs.evolve(p.metadata, labels={"app": "web", "tier": tier})
                ),
            )
        elif what == "zone":
            await _zone_step(ctx, rng)
        elif what == "slice":
            await _slice_step(ctx, rng)
        else:
            await _service_step(ctx, rng, step)
    except (errors.NotFound, errors.AlreadyExists, errors.Conflict):
        pass


async def _zone_step(ctx: Any, rng: random.Random) -> None:
    name = f"n{rng.randrange(4)}"
    try:
        await ctx.api.delete("nodes", "", name)
    except errors.NotFound:
        labels = {"topology.kubernetes.io/zone": rng.choice(["a", "b"])}
        await ctx.api.create(node(name, labels=labels))


async def _slice_step(ctx: Any, rng: random.Random) -> None:
    slices, _ = await ctx.api.list("endpointslices", "default")
    if not slices:
        return
    eps = rng.choice(sorted(slices, key=lambda s: s.metadata.name))
    if rng.random() < 0.5:
        await ctx.api.delete("endpointslices", "default", eps.metadata.name)
    else:  # someone else drops an endpoint
        await ctx.api.update(attrs.evolve(eps, endpoints=eps.endpoints[1:]))


async def _service_step(ctx: Any, rng: random.Random, step: int) -> None:
    name = rng.choice(["web", "tiered"])

    def change(svc: Service) -> Service:
        spec, meta = svc.spec, svc.metadata
        pick = rng.randrange(3)
        if pick == 0:
            spec = attrs.evolve(
                spec, publish_not_ready_addresses=not spec.publish_not_ready_addresses
            )
        elif pick == 1:
            targets: list[int | str] = ["http", 8080, 9090]
            port = rng.choice(targets)
            spec = attrs.evolve(spec, ports=(ServicePort(80, port, name="web"),))
        else:
            meta = attrs.evolve(meta, labels={"team": f"t{step}"})
        return attrs.evolve(svc, spec=spec, metadata=meta)

    await ctx.api.patch("services", "default", name, change)


def _random_history() -> None:
    settings = Settings(max_endpoints_per_slice=5)

    async def main() -> None:
        async with controlling(settings) as (ctx, _), trio.open_nursery() as nursery:
            nursery.start_soon(EndpointsController(ctx).run)
            for i in range(3):
                labels = {"topology.kubernetes.io/zone": "ab"[i % 2]}
                await ctx.api.create(node(f"n{i}", labels=labels))
            await ctx.api.create(_named_port_service("web", {"app": "web"}))
            await ctx.api.create(_named_port_service("tiered", {"app": "web", "tier": "a"}))
            names = [f"web-{i}" for i in range(40)]
            rng = random.Random(11)
            for name in names:
                await _start(ctx, name, _ip(names.index(name)), {"app": "web", "tier": "a"}, "n0")
            await trio.sleep(1)
            for step in range(600):
                await _random_step(ctx, rng, names, step)
                await trio.sleep(rng.choice([0, 0.05, 0.5]))
            await trio.sleep(5)
            nursery.cancel_scope.cancel()

    run_virtual(main, seed=5)


def test_incremental_endpoints_and_plans_equal_a_full_re_read() -> None:
    """At every sync of a long random history, the endpoints kept from pod events equal those a
    full re-read of the Service's pods gives (syncService's podLister.List, podToEndpoint in
    staging/src/k8s.io/endpointslice/utils.go, getEndpointPorts resolving named ports), and the
    plan that compares only the slices holding changed addresses equals reconcileByPortMapping's
    over every endpoint: the slices written stay exactly what they were."""
    checks = Checks()
    with pytest.MonkeyPatch.context() as mp:
        _check(mp, checks)
        _random_history()
    assert checks.desired > 300
    assert checks.incremental_plans > 200


def _full_subsets(ctl: EndpointsController, svc: Service) -> tuple[EndpointSubset, ...]:
    fresh = AddressSet((svc.spec.selector, svc.spec.ports, svc.spec.publish_not_ready_addresses))
    for pkey, pod in ctl.selected_pods(svc):
        fresh.set(pkey, address_facts(pkey, pod))
    ready, not_ready = fresh.sorted_addresses()
    return (EndpointSubset(ready, not_ready, svc.spec.ports),) if ready or not_ready else ()


def test_endpoints_kept_from_pod_events_equal_a_full_re_read() -> None:
    """The Endpoints controller (pkg/controller/endpoint/endpoints_controller.go syncService:
    every selected pod through ShouldPodBeInEndpoints, addresses sorted by IP) keeps each
    Service's addresses from the pods an event touched: at every sync of the same random
    history they equal a full re-read's, and after a sync that leaves no pod change pending
    (one that wrote, or one that skipped because nothing changed since its last write), the
    Endpoints object holds exactly them."""
    checks = Checks()
    original_desired = EndpointsController.desired_subsets
    original_sync = EndpointsController.sync

    def desired(
        self: EndpointsController, svc: Service, found: AddressSet
    ) -> tuple[EndpointSubset, ...]:
        got = original_desired(self, svc, found)
        assert got == _full_subsets(self, svc)
        checks.desired += 1
        return got

    async def sync(self: EndpointsController, key: str) -> None:
        await original_sync(self, key)
        svc = self.services.get(key)
        found = self._sets.get(key)
        if svc is None or found is None or found.dirty_pods:
            return
        current = self._current(key)
        assert current is not None and current.subsets == _full_subsets(self, svc)
        checks.incremental_plans += 1

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EndpointsController, "desired_subsets", desired)
        mp.setattr(EndpointsController, "sync", sync)
        _random_history()
    assert checks.desired > 100
    assert checks.incremental_plans > 300
