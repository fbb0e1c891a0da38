from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import EndpointAddress, Namespace, ObjectMeta, PodCondition, ServicePort
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers import servicepods as endpoints_module
from kubechaos.control.controllers.endpoints import EndpointsController, selector_matches

from .factories import pod, service


@asynccontextmanager
async def running(seed: int = 1) -> AsyncIterator[tuple[Context, EndpointsController]]:
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    controller = EndpointsController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.run)
        yield ctx, controller
        nursery.cancel_scope.cancel()


async def settle(seconds: float = 1.0) -> None:
    await trio.sleep(seconds)


async def start_pod(
    ctx: Context,
    name: str,
    ip: str,
    ready: bool = True,
    labels: dict[str, str] | None = None,
    namespace: str = "default",
    node: str = "n1",
) -> None:
    """Create a bound pod and post the status its kubelet would: an IP and a Ready condition."""
    await ctx.api.create(pod(name, namespace, labels or {"app": "web"}, node_name=node))
    await set_status(ctx, name, ip=ip, ready=ready, namespace=namespace)


async def set_status(
    ctx: Context,
    name: str,
    *,
    ip: str | None = None,
    ready: bool | None = None,
    phase: str = "Running",
    namespace: str = "default",
) -> None:
    current = await ctx.api.get("pods", namespace, name)
    status = current.status
    conditions = status.conditions
    if ready is not None:
        others = tuple(c for c in conditions if c.type != "Ready")
        conditions = (*others, PodCondition("Ready", "True" if ready else "False"))
    await ctx.api.update_status(
        attrs.evolve(
            current,
            status=attrs.evolve(
                status,
                phase=phase,
                pod_ip=status.pod_ip if ip is None else ip,
                conditions=conditions,
            ),
        )
    )


async def relabel(ctx: Context, name: str, labels: dict[str, str]) -> None:
    await ctx.api.patch(
        "pods",
        "default",
        name,
        lambda p: attrs.evolve(p, metadata=attrs.evolve(p.metadata, labels=labels)),
    )


async def addresses(ctx: Context, name: str, namespace: str = "default") -> tuple[list, list]:
    ep = await ctx.api.get("endpoints", namespace, name)
    if not ep.subsets:
        return [], []
    (subset,) = ep.subsets
    return [a.ip for a in subset.addresses], [a.ip for a in subset.not_ready_addresses]


async def test_ready_and_not_ready_pods_fill_the_endpoints() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(service("web"))
        await start_pod(ctx, "web-b", "10.128.0.12")
        await start_pod(ctx, "web-a", "10.128.0.11", node="n2")
        await start_pod(ctx, "web-c", "10.128.0.13", ready=False)
        await ctx.api.create(pod("web-pending", labels={"app": "web"}))  # no IP yet
        await start_pod(ctx, "db", "10.128.0.20", labels={"app": "db"})
        await ctx.api.create(Namespace(ObjectMeta(name="other")))
        await start_pod(ctx, "web-elsewhere", "10.128.0.30", namespace="other")
        await settle()
        ep = await ctx.api.get("endpoints", "default", "web")
        (subset,) = ep.subsets
        assert subset.addresses == (
            EndpointAddress("10.128.0.11", "n2", "default/web-a"),
            EndpointAddress("10.128.0.12", "n1", "default/web-b"),
        )
        assert subset.not_ready_addresses == (
            EndpointAddress("10.128.0.13", "n1", "default/web-c"),
        )
        assert subset.ports == (ServicePort(80, 8080),)


async def test_endpoints_follow_readiness_flips() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(service("web"))
        await start_pod(ctx, "web-a", "10.128.0.11")
        await start_pod(ctx, "web-b", "10.128.0.12")
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11", "10.128.0.12"], [])
        await set_status(ctx, "web-a", ready=False)
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.12"], ["10.128.0.11"])
        await set_status(ctx, "web-a", ready=True)
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11", "10.128.0.12"], [])


async def test_deleted_terminating_and_finished_pods_leave_the_endpoints() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(service("web"))
        for i in range(1, 5):
            await start_pod(ctx, f"web-{i}", f"10.128.0.1{i}")
        await settle()
        assert (await addresses(ctx, "web"))[0] == [f"10.128.0.1{i}" for i in range(1, 5)]
        marked = await ctx.api.delete("pods", "default", "web-1")  # graceful: still exists
        assert marked.metadata.deletion_timestamp is not None
        await ctx.api.delete("pods", "default", "web-2", grace_period_seconds=0)
        await set_status(ctx, "web-3", phase="Succeeded")
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.14"], [])
        await ctx.api.delete("pods", "default", "web-4", grace_period_seconds=0)
        await settle()
        ep = await ctx.api.get("endpoints", "default", "web")
        assert ep.subsets == ()  # the object stays, empty, while the Service exists


async def test_label_changes_move_a_pod_between_services() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(service("web", {"app": "web"}))
        await ctx.api.create(service("canary", {"app": "canary"}))
        await start_pod(ctx, "p", "10.128.0.11", labels={"app": "web"})
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11"], [])
        assert await addresses(ctx, "canary") == ([], [])
        await relabel(ctx, "p", {"app": "canary"})
        await settle()
        assert await addresses(ctx, "web") == ([], [])
        assert await addresses(ctx, "canary") == (["10.128.0.11"], [])


async def test_service_selector_change_and_deletion() -> None:
    async with running() as (ctx, _):
        svc = await ctx.api.create(service("web", {"app": "web"}))
        await start_pod(ctx, "a", "10.128.0.11", labels={"app": "web"})
        await start_pod(ctx, "b", "10.128.0.12", labels={"app": "api"})
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11"], [])
        await ctx.api.update(
            attrs.evolve(svc, spec=attrs.evolve(svc.spec, selector={"app": "api"}))
        )
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.12"], [])
        await ctx.api.delete("services", "default", "web")
        await settle()
        with pytest.raises(errors.NotFound):
            await ctx.api.get("endpoints", "default", "web")


async def test_services_without_selector_are_left_alone() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(
            attrs.evolve(service("ext"), spec=attrs.evolve(service("ext").spec, selector={}))
        )
        await start_pod(ctx, "a", "10.128.0.11")
        await settle()
        with pytest.raises(errors.NotFound):
            await ctx.api.get("endpoints", "default", "ext")


async def test_publish_not_ready_addresses_lists_every_pod_as_ready() -> None:
    async with running() as (ctx, _):
        svc = service("web")
        await ctx.api.create(
            attrs.evolve(svc, spec=attrs.evolve(svc.spec, publish_not_ready_addresses=True))
        )
        await start_pod(ctx, "a", "10.128.0.11", ready=False)
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11"], [])


async def test_endpoints_are_rewritten_only_when_they_change() -> None:
    async with running() as (ctx, _):
        await ctx.api.create(service("web"))
        await start_pod(ctx, "a", "10.128.0.11")
        await settle()
        writes = ctx.api.stats.total[("update", "endpoints", 200)]
        # A status change that does not touch IP or readiness (e.g. a restart count) is ignored...
        current = await ctx.api.get("pods", "default", "a")
        await ctx.api.update_status(
            attrs.evolve(current, status=attrs.evolve(current.status, message="restarted"))
        )
        # ...and a resync of an unchanged service writes nothing either.
        svc = await ctx.api.get("services", "default", "web")
        await ctx.api.update(
            attrs.evolve(svc, metadata=attrs.evolve(svc.metadata, annotations={"a": "b"}))
        )
        await settle()
        assert ctx.api.stats.total[("update", "endpoints", 200)] == writes
        await set_status(ctx, "a", ready=False)
        await settle()
        assert ctx.api.stats.total[("update", "endpoints", 200)] == writes + 1


async def test_deleted_endpoints_are_recreated_and_leftovers_removed_after_restart() -> None:
    _, ctx = new_control_plane(3)
    await bootstrap(ctx)
    await ctx.api.create(service("web"))
    await ctx.api.create(service("gone"))
    await start_pod(ctx, "a", "10.128.0.11")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(EndpointsController(ctx).run)
        await settle()
        await ctx.api.delete("endpoints", "default", "web")
        await settle()
        assert await addresses(ctx, "web") == (["10.128.0.11"], [])
        nursery.cancel_scope.cancel()
    # The Service goes while no controller runs; a fresh controller cleans up after it.
    await ctx.api.delete("services", "default", "gone")
    await ctx.api.get("endpoints", "default", "gone")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(EndpointsController(ctx).run)
        await settle()
        with pytest.raises(errors.NotFound):
            await ctx.api.get("endpoints", "default", "gone")
        assert await addresses(ctx, "web") == (["10.128.0.11"], [])
        nursery.cancel_scope.cancel()


async def test_many_services_index_matches_brute_force_and_stays_local(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """2,000 services sharing label keys: every Endpoints object equals what a full scan of the
    pods gives, and a pod event evaluates the selectors of a few buckets, not of every service."""
    async with running() as (ctx, controller):
        selectors: list[dict[str, str]] = []
        for i in range(2000):
            if i % 10 == 1:  # indexed by "tier", not "app"
                selector = {"tier": f"t{i % 3}", "zone": f"z{i % 7}"}
            elif i % 2 == 0:
                selector = {"app": f"app-{i % 40}", "tier": f"t{i % 3}"}
            else:
                selector = {"app": f"app-{i % 40}"}
            selectors.append(selector)
            await ctx.api.create(service(f"svc-{i}", selector))
        pod_labels: dict[str, dict[str, str]] = {}
        for j in range(60):
            labels = {"app": f"app-{j % 40}", "tier": f"t{j % 3}", "zone": f"z{j % 7}"}
            pod_labels[f"p-{j}"] = labels
            await start_pod(ctx, f"p-{j}", f"10.128.0.{j + 2}", ready=j % 5 != 0, labels=labels)
        pod_labels["p-7"] = {"app": "app-8", "tier": "t0", "zone": "z1"}
        await relabel(ctx, "p-7", pod_labels["p-7"])
        await settle(5)

        pods = {p.metadata.name: p for p in (await ctx.api.list("pods", "default"))[0]}
        for i, selector in enumerate(selectors):
            members = [pods[n] for n, lab in pod_labels.items() if selector_matches(selector, lab)]
            want = (
                sorted(p.status.pod_ip for p in members if p.is_ready()),
                sorted(p.status.pod_ip for p in members if not p.is_ready()),
            )
            ep = controller.endpoints.get(f"default/svc-{i}")
            assert ep is not None
            got: tuple[list[str], list[str]] = ([], [])
            if ep.subsets:
                (subset,) = ep.subsets
                got = (
                    [a.ip for a in subset.addresses],
                    [a.ip for a in subset.not_ready_addresses],
                )
            assert got == want, selector

        # One label change, handled synchronously: count selector evaluations and enqueued keys.
        evaluations = 0

        def counting(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
            nonlocal evaluations
            evaluations += 1
            return selector_matches(selector, labels)

        enqueued: list[str] = []
        monkeypatch.setattr(endpoints_module, "selector_matches", counting)
        monkeypatch.setattr(controller, "enqueue", enqueued.append)
        old = controller.pods.get("default/p-9")
        assert old is not None
        new_labels = {"app": "app-21", "tier": "t1", "zone": "z3"}
        new = attrs.evolve(old, metadata=attrs.evolve(old.metadata, labels=new_labels))
        controller._on_pod_update(old, new)
        expected = {
            f"default/svc-{i}"
            for i, selector in enumerate(selectors)
            if selector_matches(selector, old.metadata.labels)
            or selector_matches(selector, new_labels)
        }
        assert set(enqueued) == expected and expected
        assert evaluations < 300  # a scan would evaluate 2 x 2,000 selectors
