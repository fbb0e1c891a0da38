from __future__ import annotations

import attrs
import trio

from kubechaos.api.objects import (
    ContainerStatus,
    ObjectMeta,
    OwnerReference,
    Pod,
    PodCondition,
    PodStatus,
    ReplicaSet,
)
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.expectations import Expectations
from kubechaos.control.controllers.replicaset import (
    ReplicaSetController,
    is_pod_available,
    pods_to_delete,
)
from kubechaos.defaults import POD_DELETION_COST_ANNOTATION

from .factories import PodReadier, pod, pod_spec, replicaset


async def control_plane() -> Context:
    _, ctx = new_control_plane(seed=7)
    await bootstrap(ctx)
    return ctx


async def owned_pods(ctx: Context, rs_name: str = "web", active_only: bool = True) -> list[Pod]:
    rs = await ctx.api.get("replicasets", "default", rs_name)
    pods, _ = await ctx.api.list("pods", "default")
    return [
        p
        for p in pods
        if (ref := p.metadata.controller_ref()) is not None
        and ref.uid == rs.metadata.uid
        and (p.is_active() or not active_only)
    ]


async def set_status(ctx: Context, name: str, **changes: object) -> Pod:
    current = await ctx.api.get("pods", "default", name)
    return await ctx.api.update_status(
        attrs.evolve(current, status=attrs.evolve(current.status, **changes))
    )


async def scale(ctx: Context, name: str, replicas: int) -> None:
    await ctx.api.patch(
        "replicasets",
        "default",
        name,
        lambda rs: attrs.evolve(rs, spec=attrs.evolve(rs.spec, replicas=replicas)),
    )


async def test_creates_exactly_n_pods_from_the_template() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        rs = await ctx.api.create(replicaset("web", replicas=3))
        await trio.sleep(10)
        pods = await owned_pods(ctx)
        assert len(pods) == 3
        for p in pods:
            assert p.metadata.name.startswith("web-") and len(p.metadata.name) == len("web-") + 5
            assert p.metadata.labels == {"app": "web"}
            assert p.metadata.owner_references == (
                OwnerReference("ReplicaSet", "web", rs.metadata.uid, True),
            )
            assert p.spec.containers == rs.spec.template.spec.containers
        created = ctx.events.find(reason="SuccessfulCreate", obj="default/web")
        assert sorted(e.message for e in created) == sorted(
            f"Created pod: {p.metadata.name}" for p in pods
        )
        status = (await ctx.api.get("replicasets", "default", "web")).status
        assert (status.replicas, status.fully_labeled_replicas) == (3, 3)
        assert (status.ready_replicas, status.available_replicas) == (3, 3)
        assert status.observed_generation == 1
        nursery.cancel_scope.cancel()


async def test_replaces_a_deleted_pod_and_a_failed_pod() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        await ctx.api.create(replicaset("web", replicas=3))
        await trio.sleep(5)
        first = {p.metadata.name for p in await owned_pods(ctx)}
        deleted, failed, _ = sorted(first)

        await ctx.api.delete("pods", "default", deleted)
        await trio.sleep(5)
        after_delete = {p.metadata.name for p in await owned_pods(ctx)}
        assert len(after_delete) == 3 and deleted not in after_delete

        await set_status(ctx, failed, phase="Failed")
        await trio.sleep(5)
        active = {p.metadata.name for p in await owned_pods(ctx)}
        assert len(active) == 3 and failed not in active
        everything = {p.metadata.name for p in await owned_pods(ctx, active_only=False)}
        assert failed in everything  # a failed pod stays for inspection; it is just not counted
        assert len(ctx.events.find(reason="SuccessfulCreate")) == 5
        assert (await ctx.api.get("replicasets", "default", "web")).status.replicas == 3
        nursery.cancel_scope.cancel()


async def test_graceful_deletion_is_replaced_at_once_and_counted_once() -> None:
    """A bound pod being deleted lingers with a deletionTimestamp; it is replaced right away."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        await ctx.api.create(replicaset("web", replicas=2))
        await trio.sleep(5)
        for p in await owned_pods(ctx):
            await ctx.api.bind("default", p.metadata.name, "node-1")
        victim = (await owned_pods(ctx))[0].metadata.name
        marked = await ctx.api.delete("pods", "default", victim)
        assert marked.metadata.deletion_timestamp is not None  # no kubelet finishes it here
        await trio.sleep(5)
        active = await owned_pods(ctx)
        assert len(active) == 2 and victim not in {p.metadata.name for p in active}
        # the kubelet finishing the deletion later does not cause another replacement
        await ctx.api.delete("pods", "default", victim, grace_period_seconds=0)
        await trio.sleep(5)
        assert len(await owned_pods(ctx, active_only=False)) == 2
        assert len(ctx.events.find(reason="SuccessfulCreate")) == 3
        nursery.cancel_scope.cancel()


async def test_scale_down_deletes_not_ready_pods_first() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx).run)
        await ctx.api.create(replicaset("web", replicas=5))
        await trio.sleep(10)
        names = sorted(p.metadata.name for p in await owned_pods(ctx))
        not_ready = names[1:3]
        for name in not_ready:
            await set_status(
                ctx, name, conditions=(PodCondition("Ready", "False", trio.current_time()),)
            )
        await scale(ctx, "web", 3)
        await trio.sleep(5)
        remaining = {p.metadata.name for p in await owned_pods(ctx)}
        assert remaining == set(names) - set(not_ready)
        deleted = ctx.events.find(reason="SuccessfulDelete")
        assert sorted(e.message for e in deleted) == [f"Deleted pod: {n}" for n in not_ready]
        nursery.cancel_scope.cancel()


def _pod(
    name: str, *, created: float, node: str = "n1", phase: str = "Running", **kw: object
) -> Pod:
    ready_since = kw.pop("ready_since", None)
    conditions = (
        (PodCondition("Ready", "True", ready_since),) if isinstance(ready_since, float) else ()
    )
    restarts = kw.pop("restarts", 0)
    return Pod(
        ObjectMeta(
            name=name,
            namespace="default",
            uid=name,
            creation_timestamp=created,
            annotations=kw.pop("annotations", {}),
        ),
        pod_spec(node_name=node),
        PodStatus(
            phase=phase,
            conditions=conditions,
            container_statuses=(ContainerStatus("app", restart_count=restarts),),
        ),
    )


def test_deletion_order_follows_upstream_ranking() -> None:
    at = 10_000.0
    old_ready = _pod("old-ready", created=0.0, ready_since=10.0)
    cases = [
        # (preferred victim, the pod it is preferred over)
        (_pod("unscheduled", created=0.0, node="", phase="Pending"), old_ready),
        (
            _pod("pending", created=0.0, phase="Pending"),
            _pod("unknown", created=0.0, phase="Unknown"),
        ),
        (_pod("unknown", created=0.0, phase="Unknown"), old_ready),
        (_pod("not-ready", created=0.0), old_ready),
        (
            _pod(
                "cheap",
                created=0.0,
                ready_since=10.0,
                annotations={POD_DELETION_COST_ANNOTATION: "-5"},
            ),
            old_ready,
        ),
        (_pod("recently-ready", created=0.0, ready_since=9_990.0), old_ready),
        (_pod("restarted", created=0.0, ready_since=10.0, restarts=4), old_ready),
        (_pod("newer", created=9_000.0, ready_since=10.0), old_ready),
    ]
    for victim, keeper in cases:
        for order in ([victim, keeper], [keeper, victim]):
            chosen = pods_to_delete(order, [], 1, at)
            assert chosen == [victim], (victim.metadata.name, keeper.metadata.name)
    # doubled up: a pod sharing its node with more of the same owner's pods goes first
    lonely = _pod("lonely", created=0.0, node="n1", ready_since=10.0)
    crowded = _pod("crowded", created=0.0, node="n2", ready_since=10.0)
    related = [crowded, _pod("sibling", created=0.0, node="n2")]
    assert pods_to_delete([lonely, crowded], related, 1, at) == [crowded]


def test_availability_needs_min_ready_seconds_of_readiness() -> None:
    p = _pod("p", created=0.0, ready_since=100.0)
    assert is_pod_available(p, 0, 100.0)
    assert not is_pod_available(p, 30, 129.0)
    assert is_pod_available(p, 30, 130.0)
    assert not is_pod_available(_pod("q", created=0.0), 0, 100.0)


async def test_min_ready_seconds_requeues_to_count_available_pods() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx, delay=1.0).run)
        rs = replicaset("web", replicas=3)
        await ctx.api.create(attrs.evolve(rs, spec=attrs.evolve(rs.spec, min_ready_seconds=20)))
        await trio.sleep(10)
        status = (await ctx.api.get("replicasets", "default", "web")).status
        assert (status.ready_replicas, status.available_replicas) == (3, 0)
        await trio.sleep(15)  # no pod changes in between: only the requeue can notice
        status = (await ctx.api.get("replicasets", "default", "web")).status
        assert status.available_replicas == 3
        nursery.cancel_scope.cancel()


async def test_adopts_matching_orphans_and_releases_pods_that_stop_matching() -> None:
    ctx = await control_plane()
    orphan = await ctx.api.create(pod("stray", labels={"app": "web"}))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        rs = await ctx.api.create(replicaset("web", replicas=2))
        await trio.sleep(5)
        adopted = await ctx.api.get("pods", "default", "stray")
        assert adopted.metadata.uid == orphan.metadata.uid
        assert adopted.metadata.controller_ref() == OwnerReference(
            "ReplicaSet", "web", rs.metadata.uid, True
        )
        assert len(await owned_pods(ctx)) == 2
        assert len(ctx.events.find(reason="SuccessfulCreate")) == 1

        await ctx.api.patch(
            "pods",
            "default",
            "stray",
            lambda p: attrs.evolve(p, metadata=attrs.evolve(p.metadata, labels={"app": "debug"})),
        )
        await trio.sleep(5)
        released = await ctx.api.get("pods", "default", "stray")
        assert released.metadata.owner_references == ()
        assert len(await owned_pods(ctx)) == 2  # a replacement took its place
        nursery.cancel_scope.cancel()


class _LaggyWatch:
    """A watch whose batches reach the client ``lag`` seconds late: a slow informer."""

    def __init__(self, inner, lag: float) -> None:
        self._inner = inner
        self._lag = lag

    async def next_batch(self):
        batch = await self._inner.next_batch()
        await trio.sleep(self._lag)
        return batch

    def __enter__(self) -> _LaggyWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self._inner.stop()


class _LaggyPodsAPI:
    """The API server, except that pod watches lag."""

    def __init__(self, api, lag: float) -> None:
        self._api = api
        self._lag = lag

    def __getattr__(self, name: str):
        return getattr(self._api, name)

    async def watch(self, resource: str, *args, **kwargs):
        watch = await self._api.watch(resource, *args, **kwargs)
        return _LaggyWatch(watch, self._lag) if resource == "pods" else watch


async def _creations_with_lagging_informer(with_expectations: bool) -> int:
    ctx = await control_plane()
    laggy = attrs.evolve(ctx, api=_LaggyPodsAPI(ctx.api, lag=3.0))
    controller = ReplicaSetController(laggy)
    if not with_expectations:
        controller.expectations = _NoExpectations()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.run)
        await trio.sleep(1)
        await ctx.api.create(replicaset("web", replicas=5))
        for _ in range(40):  # many syncs while the pod cache is still empty
            controller.enqueue("default/web")
            await trio.sleep(0.05)
        await trio.sleep(20)
        nursery.cancel_scope.cancel()
    return len(ctx.events.find(reason="SuccessfulCreate"))


class _NoExpectations(Expectations):
    def satisfied(self, key: str) -> bool:
        return True


async def test_expectations_prevent_over_creation_while_the_informer_lags() -> None:
    assert await _creations_with_lagging_informer(with_expectations=True) == 5
    # the same run without expectations double-creates: the test can see the difference
    assert await _creations_with_lagging_informer(with_expectations=False) > 5


async def test_expectations_expire_after_five_minutes() -> None:
    expectations = Expectations()
    expectations.expect_creations("default/web", 2)
    expectations.creation_observed("default/web")
    assert not expectations.satisfied("default/web")
    await trio.sleep(301)
    assert expectations.satisfied("default/web")
    expectations.expect_deletions("default/web", ["default/a", "default/b"])
    expectations.deletion_observed("default/web", "default/a")
    expectations.deletion_observed("default/web", "default/a")  # the same pod twice counts once
    assert not expectations.satisfied("default/web")
    expectations.deletion_observed("default/web", "default/b")
    assert expectations.satisfied("default/web")


async def test_a_fresh_controller_after_a_crash_rebuilds_from_informers() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        crashed = trio.CancelScope()

        async def first_life() -> None:
            with crashed:
                await ReplicaSetController(ctx).run()

        nursery.start_soon(first_life)
        await ctx.api.create(replicaset("web", replicas=3))
        await trio.sleep(5)
        crashed.cancel()
        survivors = sorted(p.metadata.name for p in await owned_pods(ctx))
        await ctx.api.delete("pods", "default", survivors[0])
        await trio.sleep(5)
        assert len(await owned_pods(ctx)) == 2  # nobody is minding the ReplicaSet

        nursery.start_soon(ReplicaSetController(ctx).run)
        await trio.sleep(5)
        after = {p.metadata.name for p in await owned_pods(ctx)}
        assert len(after) == 3 and set(survivors[1:]) <= after
        assert len(ctx.events.find(reason="SuccessfulCreate")) == 4
        nursery.cancel_scope.cancel()


async def test_pods_are_created_in_slow_start_batches_and_stop_at_the_first_failure() -> None:
    ctx = await control_plane()
    created_at: list[float] = []
    real_create = ctx.api.create

    async def flaky_create(obj):
        if isinstance(obj, Pod) and len(created_at) >= 6:
            from kubechaos.api import errors

            raise errors.TooManyRequests("quota exceeded")
        if isinstance(obj, Pod):
            created_at.append(trio.current_time())
        return await real_create(obj)

    ctx.api.create = flaky_create
    controller = ReplicaSetController(ctx)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(controller.run)
        await ctx.api.create(replicaset("web", replicas=20))
        await trio.sleep(0.5)
        # batches of 1, 2, 4: the third batch has 3 successes and 1 failure, then it stops
        assert len(created_at) == 6
        failed = ctx.events.find(reason="FailedCreate")
        assert failed and "quota exceeded" in failed[0].message
        nursery.cancel_scope.cancel()


async def test_observed_generation_follows_spec_changes() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        await ctx.api.create(replicaset("web", replicas=2))
        await ctx.api.create(replicaset("db", replicas=1))
        await trio.sleep(5)
        await scale(ctx, "web", 1)
        await trio.sleep(5)
        web: ReplicaSet = await ctx.api.get("replicasets", "default", "web")
        assert web.metadata.generation == 2 and web.status.observed_generation == 2
        assert web.status.replicas == 1 and len(await owned_pods(ctx, "db")) == 1
        nursery.cancel_scope.cancel()


async def test_a_pod_recreated_behind_a_relist_counts_as_deleted_and_added() -> None:
    """After a relist the informer reports a same-named pod with a new UID as an update."""
    ctx = await control_plane()
    controller = ReplicaSetController(ctx)
    rs = await ctx.api.create(replicaset("web", replicas=1))
    controller.replicasets.store["default/web"] = rs
    ref = OwnerReference("ReplicaSet", "web", rs.metadata.uid, True)
    old = pod("web-a", labels={"app": "web"})
    old = attrs.evolve(
        old,
        metadata=attrs.evolve(
            old.metadata, uid="uid-1", resource_version="5", owner_references=(ref,)
        ),
    )
    new = attrs.evolve(old, metadata=attrs.evolve(old.metadata, uid="uid-2", resource_version="9"))
    controller._on_pod_add(old)
    controller.expectations.expect_deletions("default/web", ["default/web-a"])
    controller._on_pod_update(old, new)
    assert controller.expectations.satisfied("default/web")


async def test_counted_deletions_count_every_sight() -> None:
    """ControllerExpectations (controller_utils.go), as the DaemonSet controller uses them:
    deletions awaited as a count are lowered by every observed deletion, with no pod identity;
    the ReplicaSet's tracked deletions (above) count each pod once."""
    expectations = Expectations()
    expectations.expect("default/agent", 1, 2)
    expectations.creation_observed("default/agent")
    expectations.deletion_observed("default/agent")
    assert not expectations.satisfied("default/agent")
    expectations.deletion_observed("default/agent")
    assert expectations.satisfied("default/agent")
