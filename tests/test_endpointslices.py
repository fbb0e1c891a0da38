"""EndpointSlices (discovery.k8s.io/v1), the EndpointSlice controller and kube-proxy's use of them.

Upstream sources: pkg/controller/endpointslice (the controller), staging/src/k8s.io/endpointslice
(reconciler.go, utils.go podToEndpoint), pkg/proxy/topology.go (CategorizeEndpoints), KEP-1672
(terminating endpoints) and KEP-1669 (ProxyTerminatingEndpoints), and the "EndpointSlices" and
"Service" concept pages.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.manifest import UnsupportedKind, read_manifest
from kubechaos.api.objects import (
    DeploymentStrategy,
    EndpointConditions,
    EndpointSlice,
    ObjectMeta,
    Probe,
    SliceEndpoint,
)
from kubechaos.api.objects.endpointslice import (
    CONTROLLER_NAME,
    LABEL_MANAGED_BY,
    LABEL_SERVICE_NAME,
)
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.endpoints import EndpointsController
from kubechaos.control.controllers.endpointslice import EndpointSliceController
from kubechaos.defaults import BEHAVIOUR_ANNOTATION, Settings
from kubechaos.node.proxyslices import SliceTable
from kubechaos.report.result import result_of
from kubechaos.traffic import TrafficGenerator, TrafficSpec
from tests.golden import run_of

from .factories import deployment, service
from .harness import pods, running, wait_until
from .test_endpoints import set_status, start_pod

READY = EndpointConditions(ready=True, serving=True, terminating=False)
TERMINATING_SERVING = EndpointConditions(ready=False, serving=True, terminating=True)
TERMINATING = EndpointConditions(ready=False, serving=False, terminating=True)
NOT_READY = EndpointConditions(ready=False, serving=False, terminating=False)
SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@asynccontextmanager
async def controlling(
    settings: Settings | None = None,
) -> AsyncIterator[tuple[Context, EndpointSliceController]]:
    _, ctx = new_control_plane(1, settings or Settings())
    await bootstrap(ctx)
    controller = EndpointSliceController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.run)
        yield ctx, controller
        nursery.cancel_scope.cancel()


def slices_of(controller: EndpointSliceController, svc: str = "web") -> list[EndpointSlice]:
    return controller.current_slices(f"default/{svc}")


def conditions(controller: EndpointSliceController, svc: str = "web") -> dict[str, object]:
    """IP -> conditions, over every slice of ``svc``."""
    return {e.addresses[0]: e.conditions for s in slices_of(controller, svc) for e in s.endpoints}


async def test_slice_follows_a_pod_from_ready_through_terminating_to_gone() -> None:
    """A pod's endpoint is ready and serving while it is Ready; once deleted it stays in the
    slice as terminating, serving while still Ready, ready=false (podToEndpoint in
    staging/src/k8s.io/endpointslice/utils.go: ready = serving && !terminating; KEP-1672); it
    leaves when the pod object is gone, and the Service keeps one empty placeholder slice
    (reconciler.go). The slice carries the service-name and managed-by labels and is owned by
    the Service."""
    async with controlling() as (ctx, controller):
        await ctx.api.create(service("web"))
        await start_pod(ctx, "web-1", "10.128.0.2", node="n1")
        await trio.sleep(1)
        (eps,) = slices_of(controller)
        assert eps.metadata.labels[LABEL_SERVICE_NAME] == "web"
        assert eps.metadata.labels[LABEL_MANAGED_BY] == CONTROLLER_NAME
        assert eps.metadata.owner_references[0].kind == "Service"
        assert eps.metadata.name.startswith("web-") and eps.address_type == "IPv4"
        (endpoint,) = eps.endpoints
        assert endpoint.conditions == READY
        assert endpoint.node_name == "n1" and endpoint.target_ref is not None
        assert endpoint.target_ref.name == "web-1"
        assert [p.port for p in eps.ports] == [8080]  # the Service port's targetPort

        await ctx.api.delete("pods", "default", "web-1", grace_period_seconds=30)
        await trio.sleep(1)
        assert conditions(controller) == {"10.128.0.2": TERMINATING_SERVING}
        await set_status(ctx, "web-1", ready=False)
        await trio.sleep(1)
        assert conditions(controller) == {"10.128.0.2": TERMINATING}

        await ctx.api.delete("pods", "default", "web-1", grace_period_seconds=0)
        await trio.sleep(1)
        (placeholder,) = slices_of(controller)
        assert placeholder.endpoints == () and placeholder.ports == ()
        assert placeholder.metadata.name == eps.metadata.name  # recycled, not recreated

        await ctx.api.delete("services", "default", "web")
        await trio.sleep(1)
        assert slices_of(controller) == []
        assert (await ctx.api.list("endpointslices", "default"))[0] == []


async def test_more_than_100_endpoints_are_split_and_a_removal_touches_one_slice() -> None:
    """``--max-endpoints-per-slice`` defaults to 100 (pkg/controller/endpointslice/config): 250
    pods make slices of at most 100; removing a pod rewrites only the slice that held it, and a
    new pod fills that slice's room instead of creating a slice (reconciler.go
    reconcileByPortMapping)."""
    async with controlling() as (ctx, controller):
        await ctx.api.create(service("web"))
        for i in range(250):
            await start_pod(ctx, f"web-{i}", f"10.128.{i // 200}.{i % 200 + 2}")
        await trio.sleep(2)
        sizes = sorted(len(s.endpoints) for s in slices_of(controller))
        assert sum(sizes) == 250 and max(sizes) == 100 and len(sizes) == 3
        versions = {s.metadata.name: s.metadata.resource_version for s in slices_of(controller)}

        await ctx.api.delete("pods", "default", "web-7", grace_period_seconds=0)
        await trio.sleep(1)
        changed = [
            s.metadata.name
            for s in slices_of(controller)
            if versions[s.metadata.name] != s.metadata.resource_version
        ]
        assert len(changed) == 1
        await start_pod(ctx, "web-new", "10.128.9.9")
        await trio.sleep(1)
        assert len(slices_of(controller)) == 3
        assert sum(len(s.endpoints) for s in slices_of(controller)) == 250


async def test_publish_not_ready_addresses_makes_every_endpoint_ready() -> None:
    """``publishNotReadyAddresses``: every endpoint is ready, a not-ready pod and a terminating
    one too (podToEndpoint: ready = publishNotReadyAddresses || ...); the Endpoints controller
    then also keeps terminating pods (ShouldPodBeInEndpoints(pod, publishNotReadyAddresses) in
    pkg/controller/endpoint/endpoints_controller.go) and lists them as ready addresses."""
    async with controlling() as (ctx, controller):
        endpoints = EndpointsController(ctx)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(endpoints.run)
            svc = service("web")
            await ctx.api.create(
                attrs.evolve(svc, spec=attrs.evolve(svc.spec, publish_not_ready_addresses=True))
            )
            await start_pod(ctx, "web-1", "10.128.0.2", ready=False)
            await start_pod(ctx, "web-2", "10.128.0.3")
            await ctx.api.delete("pods", "default", "web-2", grace_period_seconds=30)
            await trio.sleep(1)
            got = conditions(controller)
            assert got["10.128.0.2"] == EndpointConditions(True, False, False)
            assert got["10.128.0.3"] == EndpointConditions(True, True, True)
            ep = endpoints.endpoints.get("default/web")
            assert ep is not None
            assert sorted(a.ip for a in ep.ready_addresses()) == ["10.128.0.2", "10.128.0.3"]
            nursery.cancel_scope.cancel()


def test_kube_proxy_routes_to_ready_endpoints_else_serving_terminating_ones() -> None:
    """kube-proxy (pkg/proxy/topology.go CategorizeEndpoints, ProxyTerminatingEndpoints GA in
    v1.28, KEP-1669): the ready endpoints when there are any; with none, those both serving and
    terminating; a not-serving terminating endpoint never; endpoints of every slice labelled with
    the Service's name are merged."""
    table = SliceTable()

    def slice_(name: str, *endpoints: tuple[str, EndpointConditions]) -> EndpointSlice:
        meta = ObjectMeta(name=name, namespace="default", labels={LABEL_SERVICE_NAME: "web"})
        return EndpointSlice(meta, endpoints=tuple(SliceEndpoint((ip,), c) for ip, c in endpoints))

    table.put(slice_("web-a", ("10.0.0.3", READY), ("10.0.0.1", TERMINATING_SERVING)))
    table.put(slice_("web-b", ("10.0.0.2", READY)))
    assert table.routable_ips("default/web") == ("10.0.0.2", "10.0.0.3")
    table.put(slice_("web-a", ("10.0.0.1", TERMINATING_SERVING), ("10.0.0.4", TERMINATING)))
    table.put(slice_("web-b", ("10.0.0.2", NOT_READY)))
    assert table.routable_ips("default/web") == ("10.0.0.1",)
    table.put(slice_("web-a", ("10.0.0.4", TERMINATING)))
    assert table.routable_ips("default/web") == ()
    assert table.routable_ips("default/other") == ()


async def test_a_one_replica_rollout_keeps_serving_through_the_terminating_old_pod() -> None:
    """A 1-replica Deployment rolled with maxSurge 0 / maxUnavailable 1: the old pod is deleted
    before its replacement is Ready. It takes 20 s to shut down (grace 30 s) and stays Ready
    meanwhile, so its endpoint is serving and terminating; with no ready endpoint left
    kube-proxy routes to it (ProxyTerminatingEndpoints, KEP-1669; "Service" docs, "Terminating
    endpoints"), and no request meets an empty Service while the new pod starts (10 s)."""
    async with running(nodes=2) as cluster:
        strategy = DeploymentStrategy(max_surge=0, max_unavailable=1)
        web = deployment(
            "web",
            replicas=1,
            strategy=strategy,
            annotations={BEHAVIOUR_ANNOTATION: "startup=10s,shutdown=20s"},
            readiness=Probe(period_seconds=1),
            termination_grace_period_seconds=30,
        )
        await cluster.apply([web, service("web")])
        traffic = TrafficGenerator(
            cluster.ctx, cluster.proxies, cluster.network, [TrafficSpec("web", rate=10)]
        )
        cluster.nursery.start_soon(traffic.run)
        await wait_until(lambda: traffic.stats.count("default", "web", "success") > 50, 120, "up")
        before = traffic.stats.count("default", "web", "no_endpoints")
        (old,) = pods(cluster)
        rolled = attrs.evolve(
            web,
            spec=attrs.evolve(
                web.spec,
                template=attrs.evolve(
                    web.spec.template,
                    metadata=attrs.evolve(
                        web.spec.template.metadata,
                        annotations={BEHAVIOUR_ANNOTATION: "startup=10s,shutdown=20s", "v": "2"},
                    ),
                ),
            ),
        )
        current = await cluster.api.get("deployments", "default", "web")
        await cluster.api.update(attrs.evolve(rolled, metadata=current.metadata))
        await wait_until(
            lambda: all(p.metadata.name != old.metadata.name for p in pods(cluster)),
            120,
            "the old pod gone",
        )
        await trio.sleep(5)
        assert traffic.stats.count("default", "web", "no_endpoints") == before
        assert traffic.stats.count("default", "web", "success") > 300


def test_a_user_authored_endpointslice_manifest_is_skipped_with_a_warning() -> None:
    """Slices are written by the EndpointSlice controller for Services with a selector; a
    manifest's own EndpointSlice (upstream allows them, for Services without a selector) is not
    modelled and is skipped loudly rather than silently."""
    doc = {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {"name": "ext-1", "labels": {LABEL_SERVICE_NAME: "ext"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": ["10.1.2.3"]}],
    }
    with pytest.raises(UnsupportedKind, match="EndpointSlice 'ext-1'"):
        read_manifest(doc)


async def test_registry_validates_slices_like_upstream() -> None:
    """pkg/apis/discovery/validation: addressType must be IPv4, IPv6 or FQDN and is immutable;
    an endpoint needs an address."""
    _, ctx = new_control_plane(1)
    await bootstrap(ctx)
    meta = ObjectMeta(name="s", namespace="default")
    with pytest.raises(errors.Invalid, match="addressType"):
        await ctx.api.create(EndpointSlice(meta, address_type="IPv5"))
    with pytest.raises(errors.Invalid, match="addresses"):
        await ctx.api.create(EndpointSlice(meta, endpoints=(SliceEndpoint(()),)))
    created = await ctx.api.create(EndpointSlice(meta))
    with pytest.raises(errors.Invalid, match="immutable"):
        await ctx.api.update(attrs.evolve(created, address_type="IPv6"))


async def test_a_pod_event_syncs_only_its_services_never_scanning_all_pods() -> None:
    """The controller is woken per Service that selects the changed pod (services by selector
    index) and reads that Service's pods from the pods-by-label index: with 200 Services of 10
    pods each, a readiness flip of one pod syncs one Service and looks at ~10 pods, not 2,000."""
    async with controlling() as (ctx, controller):
        for s in range(200):
            await ctx.api.create(service(f"svc-{s}", {"app": f"a{s}"}))
            for p in range(10):
                await start_pod(
                    ctx, f"p-{s}-{p}", f"10.{s // 250}.{s % 250}.{p + 2}", labels={"app": f"a{s}"}
                )
        await trio.sleep(2)
        syncs = controller.syncs
        looked: list[str] = []
        original = controller.pods.get

        def counting_get(key: str) -> object:
            looked.append(key)
            return original(key)

        controller.pods.get = counting_get  # type: ignore[method-assign]
        await set_status(ctx, "p-17-3", ready=False)
        await trio.sleep(1)
        assert controller.syncs - syncs == 1
        assert len(looked) <= 10
        assert conditions(controller, "svc-17")["10.0.17.5"] == NOT_READY


def test_singleton_rollout_scenario_never_empties_the_service_after_steady_state() -> None:
    """scenarios/singleton-rollout.yaml: the rollout at 3m and the pod kill at 8m each leave the
    Service without a ready endpoint for ~15 s, and kube-proxy serves from the draining
    terminating pod meanwhile (ProxyTerminatingEndpoints, KEP-1669): requests after the first
    convergence are served (the 99.9% availability objective holds); the peers Service
    (publishNotReadyAddresses) lists every pod as ready."""
    run = run_of("singleton-rollout")
    timeline = run.traffic.stats
    converged = min(e.time for e in run.events.find(reason="Converged"))
    assert converged < 60
    assert timeline.count("default", "singleton", "no_endpoints") > 0  # only before converging
    late = [e for e in run.events.find(reason="Killing") if e.time > converged]
    assert len(late) == 2  # the rollout's and the fault's
    slices = run.cluster.api.cache("endpointslices").list("default")
    peers = [s for s in slices if s.service_name == "singleton-peers"]
    assert peers and all(e.conditions.ready for s in peers for e in s.endpoints)
    result = result_of(run, wall_seconds=0.0)
    (slo,) = [s for s in result["slos"] if "availability" in s["name"]]
    assert slo["ok"], slo
