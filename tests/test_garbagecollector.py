from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Endpoints, ObjectMeta, OwnerReference, Pod
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.garbagecollector import GarbageCollector

from .factories import deployment, pod, replicaset, service


def owned_by(owner: Any, controller: bool = True) -> OwnerReference:
    return OwnerReference(type(owner).__name__, owner.metadata.name, owner.metadata.uid, controller)


def with_owners(obj: Any, *refs: OwnerReference) -> Any:
    return attrs.evolve(obj, metadata=attrs.evolve(obj.metadata, owner_references=refs))


async def exists(ctx: Context, resource: str, name: str) -> bool:
    try:
        await ctx.api.get(resource, "default", name)
    except errors.NotFound:
        return False
    return True


@asynccontextmanager
async def collecting(seed: int = 1) -> AsyncIterator[tuple[Context, GarbageCollector]]:
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    gc = GarbageCollector(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gc.run)
        yield ctx, gc
        nursery.cancel_scope.cancel()


async def test_deleting_a_replicaset_deletes_its_pods_but_not_ownerless_ones() -> None:
    async with collecting() as (ctx, _):
        rs = await ctx.api.create(replicaset("web"))
        await ctx.api.create(with_owners(pod("web-pending"), owned_by(rs)))
        await ctx.api.create(with_owners(pod("web-bound", node_name="n1"), owned_by(rs)))
        await ctx.api.create(pod("loner"))
        await trio.sleep(1)
        assert await exists(ctx, "pods", "web-pending")  # the owner exists: nothing happens
        await ctx.api.delete("replicasets", "default", "web")
        await trio.sleep(1)
        assert not await exists(ctx, "pods", "web-pending")
        bound: Pod = await ctx.api.get("pods", "default", "web-bound")
        assert bound.metadata.deletion_timestamp is not None  # graceful, the kubelet finishes it
        assert await exists(ctx, "pods", "loner")
        collected = sorted(e.object for e in ctx.events.find("GarbageCollected"))
        assert collected == ["default/web-bound", "default/web-pending"]


async def test_deleting_a_deployment_cascades_through_its_replicasets() -> None:
    async with collecting() as (ctx, _):
        deploy = await ctx.api.create(deployment("web"))
        rs = await ctx.api.create(with_owners(replicaset("web-1"), owned_by(deploy)))
        for i in range(3):
            await ctx.api.create(with_owners(pod(f"web-1-{i}"), owned_by(rs)))
        await trio.sleep(1)
        await ctx.api.delete("deployments", "default", "web")
        await trio.sleep(1)
        assert not await exists(ctx, "replicasets", "web-1")
        assert (await ctx.api.list("pods", "default"))[0] == []


async def test_an_owner_the_informer_has_not_seen_yet_is_looked_up_live() -> None:
    async with collecting() as (ctx, gc):
        rs = await ctx.api.create(replicaset("web"))
        await ctx.api.create(with_owners(pod("web-x"), owned_by(rs)))
        await trio.sleep(1)
        # As if the pod informer were ahead of the ReplicaSet informer.
        del gc.live[rs.metadata.uid]
        gets = ctx.api.stats.total[("get", "replicasets", 200)]
        gc.enqueue("pods/default/web-x")
        await trio.sleep(1)
        assert ctx.api.stats.total[("get", "replicasets", 200)] == gets + 1
        assert await exists(ctx, "pods", "web-x")


async def test_an_owner_recreated_under_the_same_name_counts_as_gone() -> None:
    async with collecting() as (ctx, _):
        old = await ctx.api.create(replicaset("web"))
        await ctx.api.delete("replicasets", "default", "web")
        await ctx.api.create(replicaset("web"))  # same name, new uid
        await ctx.api.create(with_owners(pod("web-x"), owned_by(old)))
        await trio.sleep(1)
        assert not await exists(ctx, "pods", "web-x")


async def test_a_dangling_reference_is_removed_while_another_owner_remains() -> None:
    async with collecting() as (ctx, _):
        keep = await ctx.api.create(replicaset("keep"))
        drop = await ctx.api.create(replicaset("drop"))
        await ctx.api.create(with_owners(pod("shared"), owned_by(keep), owned_by(drop, False)))
        await trio.sleep(1)
        await ctx.api.delete("replicasets", "default", "drop")
        await trio.sleep(1)
        shared = await ctx.api.get("pods", "default", "shared")
        assert shared.metadata.owner_references == (owned_by(keep),)


async def test_owners_of_kinds_the_model_does_not_serve_keep_their_dependents() -> None:
    async with collecting() as (ctx, _):
        ref = OwnerReference("CronJob", "nightly", "not-a-known-uid")
        await ctx.api.create(with_owners(pod("job-pod"), ref))
        await trio.sleep(1)
        assert await exists(ctx, "pods", "job-pod")


async def test_a_fresh_collector_finds_dependents_orphaned_while_it_was_down() -> None:
    _, ctx = new_control_plane(2)
    await bootstrap(ctx)
    rs = await ctx.api.create(replicaset("web"))
    await ctx.api.create(with_owners(pod("web-x"), owned_by(rs)))
    await ctx.api.create(pod("loner"))
    await ctx.api.delete("replicasets", "default", "web")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(GarbageCollector(ctx).run)
        await trio.sleep(1)
        assert not await exists(ctx, "pods", "web-x")
        assert await exists(ctx, "pods", "loner")
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("resource", ["endpoints", "services"])
async def test_other_watched_resources_are_collected_too(resource: str) -> None:
    async with collecting() as (ctx, _):
        rs = await ctx.api.create(replicaset("web"))
        obj = service("web") if resource == "services" else Endpoints(ObjectMeta(name="web"))
        await ctx.api.create(with_owners(obj, owned_by(rs)))
        await ctx.api.delete("replicasets", "default", "web")
        await trio.sleep(1)
        assert not await exists(ctx, resource, "web")
