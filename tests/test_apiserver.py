from __future__ import annotations

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.selectors import FieldSelector, LabelSelector
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.defaults import TAINT_NOT_READY, TAINT_UNREACHABLE

from .factories import deployment, pod, service


async def started():
    etcd, ctx = new_control_plane(seed=1)
    await bootstrap(ctx)
    return etcd, ctx


async def test_create_get_and_storage_key() -> None:
    etcd, ctx = await started()
    created = await ctx.api.create(pod("web-1"))
    assert created.metadata.uid and created.metadata.resource_version
    assert etcd.store.get("/registry/pods/default/web-1") is not None
    got = await ctx.api.get("pods", "default", "web-1")
    assert got == created
    with pytest.raises(errors.AlreadyExists) as exc:
        await ctx.api.create(pod("web-1"))
    assert exc.value.code == 409
    with pytest.raises(errors.NotFound) as missing:
        await ctx.api.get("pods", "default", "nope")
    assert missing.value.code == 404


async def test_validation_rejects_bad_objects_with_422() -> None:
    _, ctx = await started()
    with pytest.raises(errors.Invalid) as exc:
        await ctx.api.create(pod("Bad_Name"))
    assert exc.value.code == 422 and "metadata.name" in str(exc.value)
    bad = deployment("web", replicas=-1)
    with pytest.raises(errors.Invalid, match=r"spec\.replicas"):
        await ctx.api.create(bad)
    with pytest.raises(errors.NotFound, match="namespaces"):
        await ctx.api.create(pod("x", namespace="missing"))


async def test_default_toleration_seconds_admission() -> None:
    _, ctx = await started()
    created = await ctx.api.create(pod("p"))
    tolerations = {(t.key, t.effect): t.toleration_seconds for t in created.spec.tolerations}
    assert tolerations == {
        (TAINT_NOT_READY, "NoExecute"): 300,
        (TAINT_UNREACHABLE, "NoExecute"): 300,
    }


async def test_optimistic_concurrency_conflict() -> None:
    _, ctx = await started()
    created = await ctx.api.create(deployment("web"))
    first = await ctx.api.update(attrs.evolve(created, spec=attrs.evolve(created.spec, replicas=5)))
    assert first.metadata.generation == 2
    with pytest.raises(errors.Conflict) as exc:
        await ctx.api.update(attrs.evolve(created, spec=attrs.evolve(created.spec, replicas=7)))
    assert exc.value.code == 409


async def test_update_status_keeps_spec_and_update_keeps_status() -> None:
    _, ctx = await started()
    created = await ctx.api.create(deployment("web"))
    with_status = await ctx.api.update_status(
        attrs.evolve(
            created,
            spec=attrs.evolve(created.spec, replicas=9),
            status=attrs.evolve(created.status, replicas=3),
        )
    )
    assert with_status.spec.replicas == 3 and with_status.status.replicas == 3
    updated = await ctx.api.update(
        attrs.evolve(with_status, status=attrs.evolve(with_status.status, replicas=0))
    )
    assert updated.status.replicas == 3


async def test_service_gets_cluster_ip() -> None:
    _, ctx = await started()
    svc = await ctx.api.create(service("web"))
    assert svc.spec.cluster_ip.startswith("10.")


async def test_graceful_pod_deletion_and_force_delete() -> None:
    _, ctx = await started()
    await ctx.api.create(pod("unbound"))
    gone = await ctx.api.delete("pods", "default", "unbound")
    assert gone.metadata.name == "unbound"  # unscheduled pods go at once
    await ctx.api.create(pod("bound", node_name="n1"))
    marked = await ctx.api.delete("pods", "default", "bound")
    assert (
        marked.metadata.deletion_timestamp is not None
        and marked.metadata.deletion_grace_period_seconds == 30
    )
    assert await ctx.api.get("pods", "default", "bound")
    await ctx.api.delete("pods", "default", "bound", grace_period_seconds=0)
    with pytest.raises(errors.NotFound):
        await ctx.api.get("pods", "default", "bound")


async def test_bind_sets_node_name_once() -> None:
    _, ctx = await started()
    await ctx.api.create(pod("p"))
    bound = await ctx.api.bind("default", "p", "n1")
    assert bound.spec.node_name == "n1" and bound.status.condition("PodScheduled").status == "True"
    with pytest.raises(errors.Conflict):
        await ctx.api.bind("default", "p", "n2")


async def test_watch_with_label_and_field_selectors() -> None:
    _, ctx = await started()
    _, rv = await ctx.api.list("pods")
    by_label = await ctx.api.watch("pods", "default", LabelSelector({"app": "web"}), None, rv)
    by_node = await ctx.api.watch("pods", None, None, FieldSelector("n1"), rv)
    await ctx.api.create(pod("a", labels={"app": "web"}))
    await ctx.api.create(pod("b", labels={"app": "db"}, node_name="n1"))
    relabeled = await ctx.api.patch(
        "pods",
        "default",
        "a",
        lambda p: attrs.evolve(p, metadata=attrs.evolve(p.metadata, labels={"app": "other"})),
    )
    assert relabeled.metadata.labels == {"app": "other"}
    label_events = [(e.type, e.object.metadata.name) for e in await by_label.next_batch()]
    assert label_events == [("ADDED", "a"), ("DELETED", "a")]
    node_events = [(e.type, e.object.metadata.name) for e in await by_node.next_batch()]
    assert node_events == [("ADDED", "b")]


async def test_watch_too_old_resource_version_is_gone() -> None:
    etcd, ctx = await started()
    _, rv = await ctx.api.list("pods")
    for i in range(3):
        await ctx.api.create(pod(f"p{i}"))
    etcd.store.compact(etcd.store.revision)
    ctx.api.cache("pods").expire_window_before(etcd.store.revision)
    with pytest.raises(errors.Gone) as exc:
        await ctx.api.watch("pods", resource_version=rv)
    assert exc.value.code == 410


async def test_requests_cost_virtual_time_and_are_counted() -> None:
    _, ctx = await started()
    before = trio.current_time()
    await ctx.api.create(pod("p"))
    assert trio.current_time() > before
    assert ctx.api.stats.total[("create", "pods", 201)] == 1


async def test_tests_run_on_virtual_time() -> None:
    await trio.sleep(3600)
    assert trio.current_time() >= 3600


async def test_get_with_resource_version_zero_is_served_from_the_watch_cache() -> None:
    etcd, ctx = await started()
    await ctx.api.create(pod("p"))
    cached = await ctx.api.get("pods", "default", "p", resource_version="0")
    assert cached == await ctx.api.get("pods", "default", "p")
    etcd.has_leader = False  # a cache read does not need etcd
    assert await ctx.api.get("pods", "default", "p", resource_version="0") == cached
    with pytest.raises(errors.InternalError):
        await ctx.api.get("pods", "default", "p")


async def test_shared_informers_use_one_watch_per_resource() -> None:
    from kubechaos.client.informer import Handler

    _, ctx = await started()
    shared = ctx.sharing_informers("kube-controller-manager")
    first, second = shared.informer("pods", "a"), shared.informer("pods", "b")
    assert first is second and ctx.informer("pods", "a") is not first
    seen: list[str] = []
    first.add_handler(Handler(on_add=lambda p: seen.append("a:" + p.metadata.name)))
    second.add_handler(Handler(on_add=lambda p: seen.append("b:" + p.metadata.name)))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(first.run)
        nursery.start_soon(second.run)  # joins the running informer, opens no second watch
        await first.synced.wait()
        await ctx.api.create(pod("p"))
        await trio.sleep(1)
        assert seen == ["a:p", "b:p"]
        assert len(ctx.api.cache("pods")._watch_all) == 1
        late: list[str] = []
        first.add_handler(Handler(on_add=lambda p: late.append(p.metadata.name)))
        assert late == ["p"]  # a handler that joins late hears of what is already there
        nursery.cancel_scope.cancel()
