from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import attrs
import trio

from kubechaos.api.objects import Deployment, DeploymentStrategy, Pod, ReplicaSet, key_of
from kubechaos.api.rollout import max_surge, max_unavailable, resolve_fenceposts
from kubechaos.client.context import Context
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllers.deployment import DeploymentController
from kubechaos.control.controllers.deployment.util import fnv32a, pod_template_hash, safe_encode
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.defaults import DEPLOYMENT_REVISION_ANNOTATION, POD_TEMPLATE_HASH_LABEL

from .factories import PodReadier, deployment, replicaset

# The name factories.deployment("web") gets for its first ReplicaSet. A literal on purpose: it
# must not change between processes or runs (it would if it came from Python's salted hash()).
EXPECTED_RS_NAME = "web-6bfd56fc55"


async def control_plane() -> Context:
    _, ctx = new_control_plane(seed=3)
    await bootstrap(ctx)
    return ctx


def start(nursery: trio.Nursery, ctx: Context, **readier: object) -> None:
    nursery.start_soon(ReplicaSetController(ctx).run)
    nursery.start_soon(DeploymentController(ctx).run)
    nursery.start_soon(PodReadier(ctx, **readier).run)


async def get_deployment(ctx: Context, name: str = "web") -> Deployment:
    return await ctx.api.get("deployments", "default", name)


async def replicasets(ctx: Context) -> dict[str, ReplicaSet]:
    items, _ = await ctx.api.list("replicasets", "default")
    return {rs.metadata.name: rs for rs in items}


async def active_pods(ctx: Context) -> list[Pod]:
    items, _ = await ctx.api.list("pods", "default")
    return [p for p in items if p.is_active()]


async def set_image(ctx: Context, image: str, name: str = "web") -> None:
    def change(d: Deployment) -> Deployment:
        template = d.spec.template
        container = attrs.evolve(template.spec.containers[0], image=image)
        template = attrs.evolve(template, spec=attrs.evolve(template.spec, containers=(container,)))
        return attrs.evolve(d, spec=attrs.evolve(d.spec, template=template))

    await ctx.api.patch("deployments", "default", name, change)


async def set_replicas(ctx: Context, replicas: int, name: str = "web") -> None:
    await ctx.api.patch(
        "deployments",
        "default",
        name,
        lambda d: attrs.evolve(d, spec=attrs.evolve(d.spec, replicas=replicas)),
    )


async def wait_complete(ctx: Context, timeout: float = 300.0, name: str = "web") -> Deployment:
    with trio.fail_after(timeout):
        while True:
            d = await get_deployment(ctx, name)
            s = d.status
            replicas = d.spec.replicas
            rss = await replicasets(ctx)
            old_left = sum(
                rs.spec.replicas
                for rs in rss.values()
                if rs.spec.template.spec != d.spec.template.spec
            )
            if (
                s.observed_generation == d.metadata.generation
                and s.updated_replicas == s.replicas == s.available_replicas == replicas
                and old_left == 0
            ):
                return d
            await trio.sleep(1)


class RolloutMonitor:
    """Checks the rollout bounds after every pod change and every Deployment status change."""

    def __init__(self, ctx: Context, min_available: int, max_total: int) -> None:
        self.ctx = ctx
        self.min_available = min_available
        self.max_total = max_total
        self.lowest_available = math.inf
        self.highest_total = 0
        self.samples = 0
        self.violations: list[str] = []

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._pods)
            nursery.start_soon(self._deployment_status)

    async def _pods(self) -> None:
        items, revision = await self.ctx.api.list("pods", "default")
        pods = {key_of(p): p for p in items}
        with await self.ctx.api.watch("pods", "default", resource_version=revision) as watch:
            while True:
                for event in await watch.next_batch():
                    if event.type == "DELETED":
                        pods.pop(key_of(event.object), None)
                    else:
                        pods[key_of(event.object)] = event.object
                    active = [p for p in pods.values() if p.is_active()]
                    available = sum(1 for p in active if p.is_ready())
                    self._check("pods", available, len(active))

    async def _deployment_status(self) -> None:
        _, revision = await self.ctx.api.list("deployments", "default")
        with await self.ctx.api.watch("deployments", "default", resource_version=revision) as w:
            while True:
                for event in await w.next_batch():
                    status = event.object.status
                    self._check("status", status.available_replicas, status.replicas)

    def _check(self, source: str, available: int, total: int) -> None:
        self.samples += 1
        self.lowest_available = min(self.lowest_available, available)
        self.highest_total = max(self.highest_total, total)
        if available < self.min_available or total > self.max_total:
            at = trio.current_time()
            self.violations.append(f"{source} at {at:.3f}: available={available} total={total}")


def test_template_hash_is_fnv32a_in_the_safe_alphabet() -> None:
    assert fnv32a(b"") == 0x811C9DC5
    assert fnv32a(b"a") == 0xE40C292C
    assert fnv32a(b"foobar") == 0xBF9CF968
    assert safe_encode("0123456789") == "456789bcdf"
    assert f"web-{pod_template_hash(deployment('web').spec.template)}" == EXPECTED_RS_NAME


def test_template_hash_is_the_same_in_another_process() -> None:
    code = (
        "from tests.factories import deployment;"
        "from kubechaos.control.controllers.deployment.util import pod_template_hash;"
        "print(pod_template_hash(deployment('web').spec.template))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert f"web-{out.stdout.strip()}" == EXPECTED_RS_NAME


def test_fenceposts_round_surge_up_and_unavailable_down() -> None:
    assert resolve_fenceposts("25%", "25%", 10) == (3, 2)
    assert resolve_fenceposts("25%", "25%", 3) == (1, 0)
    assert resolve_fenceposts("0%", "10%", 3) == (0, 1)  # both zero would never progress
    assert resolve_fenceposts(2, 1, 5) == (2, 1)
    d = deployment("web", replicas=4)
    assert (max_surge(d), max_unavailable(d)) == (1, 1)
    recreate = deployment("web", replicas=4, strategy=DeploymentStrategy("Recreate"))
    assert (max_surge(recreate), max_unavailable(recreate)) == (0, 0)


async def test_creates_a_hashed_replicaset_and_becomes_available() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx)
        created = await ctx.api.create(deployment("web", replicas=3))
        d = await wait_complete(ctx, timeout=60)
        rss = await replicasets(ctx)
        assert list(rss) == [EXPECTED_RS_NAME]
        rs = rss[EXPECTED_RS_NAME]
        template_hash = EXPECTED_RS_NAME.removeprefix("web-")
        assert rs.metadata.labels == {"app": "web", POD_TEMPLATE_HASH_LABEL: template_hash}
        assert rs.spec.selector.match_labels == rs.metadata.labels
        assert rs.spec.template.metadata.labels == rs.metadata.labels
        assert rs.metadata.controller_ref().uid == created.metadata.uid
        assert rs.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
        assert d.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "1"
        s = d.status
        assert (s.replicas, s.updated_replicas, s.ready_replicas) == (3, 3, 3)
        assert (s.available_replicas, s.unavailable_replicas) == (3, 0)
        assert s.observed_generation == 1
        available, progressing = s.condition("Available"), s.condition("Progressing")
        assert available is not None and progressing is not None
        assert (available.status, available.reason) == ("True", "MinimumReplicasAvailable")
        assert (progressing.status, progressing.reason) == ("True", "NewReplicaSetAvailable")
        for p in await active_pods(ctx):
            assert p.metadata.labels[POD_TEMPLATE_HASH_LABEL] == template_hash
        scaling = ctx.events.find(reason="ScalingReplicaSet", obj="default/web")
        assert [e.message for e in scaling] == [
            f"Scaled up replica set {EXPECTED_RS_NAME} from 0 to 3"
        ]
        nursery.cancel_scope.cancel()


async def _rolling_update(
    replicas: int, strategy: DeploymentStrategy, min_available: int, max_total: int
) -> RolloutMonitor:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, delay=2.0)
        await ctx.api.create(deployment("web", replicas=replicas, strategy=strategy))
        await wait_complete(ctx)
        first = set(await replicasets(ctx))
        monitor = RolloutMonitor(ctx, min_available, max_total)
        nursery.start_soon(monitor.run)
        await trio.sleep(1)
        await set_image(ctx, "nginx:1.28")
        d = await wait_complete(ctx)
        rss = await replicasets(ctx)
        (new_name,) = set(rss) - first
        assert rss[new_name].spec.replicas == replicas
        assert all(rss[name].spec.replicas == 0 for name in first)
        assert rss[new_name].metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "2"
        assert d.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "2"
        pods = await active_pods(ctx)
        assert len(pods) == replicas
        assert all(p.spec.containers[0].image == "nginx:1.28" for p in pods)
        nursery.cancel_scope.cancel()
    return monitor


async def test_rolling_update_keeps_within_max_surge_and_max_unavailable() -> None:
    # 4 replicas at the 25% defaults: surge 1 (rounded up), unavailable 1 (rounded down)
    monitor = await _rolling_update(4, DeploymentStrategy(), min_available=3, max_total=5)
    assert monitor.violations == []
    assert monitor.samples > 20
    # the budget was used, not just respected: the bounds were reached
    assert (monitor.lowest_available, monitor.highest_total) == (3, 5)


async def test_rolling_update_with_no_unavailability_surges_one_at_a_time() -> None:
    strategy = DeploymentStrategy(max_surge=1, max_unavailable=0)
    monitor = await _rolling_update(3, strategy, min_available=3, max_total=4)
    assert monitor.violations == []
    assert (monitor.lowest_available, monitor.highest_total) == (3, 4)


async def test_recreate_removes_every_old_pod_before_a_new_one_exists() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        # bound pods: a deleted old pod lingers, terminating, for 5 s before it is gone
        start(nursery, ctx, delay=2.0, node_name="node-1", termination_seconds=5.0)
        strategy = DeploymentStrategy(type="Recreate")
        await ctx.api.create(deployment("web", replicas=3, strategy=strategy))
        await wait_complete(ctx)
        old_on_new_arrival: list[int] = []

        async def watch_pods() -> None:
            items, revision = await ctx.api.list("pods", "default")
            pods = {key_of(p): p for p in items}
            with await ctx.api.watch("pods", "default", resource_version=revision) as watch:
                while True:
                    for event in await watch.next_batch():
                        key = key_of(event.object)
                        if event.type == "DELETED":
                            pods.pop(key, None)
                            continue
                        if event.type == "ADDED" and key not in pods:
                            old = [
                                p
                                for p in pods.values()
                                if p.spec.containers[0].image == "nginx:1.27"
                            ]
                            old_on_new_arrival.append(len(old))
                        pods[key] = event.object

        nursery.start_soon(watch_pods)
        await trio.sleep(1)
        await set_image(ctx, "nginx:1.28")
        await wait_complete(ctx)
        assert old_on_new_arrival == [0, 0, 0]
        scaling = [e.message for e in ctx.events.find(reason="ScalingReplicaSet")]
        assert scaling[1].startswith("Scaled down") and scaling[1].endswith("from 3 to 0")
        assert scaling[2].startswith("Scaled up") and scaling[2].endswith("from 0 to 3")
        nursery.cancel_scope.cancel()


async def test_revision_history_limit_deletes_the_oldest_empty_replicasets() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, delay=1.0)
        d = deployment("web", replicas=2)
        await ctx.api.create(attrs.evolve(d, spec=attrs.evolve(d.spec, revision_history_limit=2)))
        await wait_complete(ctx)
        for version in range(28, 32):
            await set_image(ctx, f"nginx:1.{version}")
            await wait_complete(ctx)
            await trio.sleep(5)
        rss = await replicasets(ctx)
        revisions = sorted(
            int(rs.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION]) for rs in rss.values()
        )
        assert revisions == [3, 4, 5]  # the new one and the two most recent old ones
        images = {rs.spec.template.spec.containers[0].image for rs in rss.values()}
        assert images == {"nginx:1.29", "nginx:1.30", "nginx:1.31"}
        nursery.cancel_scope.cancel()


async def test_rolling_back_reuses_the_old_replicaset_under_a_new_revision() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, delay=1.0)
        await ctx.api.create(deployment("web", replicas=2))
        await wait_complete(ctx)
        await set_image(ctx, "nginx:1.28")
        await wait_complete(ctx)
        await set_image(ctx, "nginx:1.27")
        d = await wait_complete(ctx)
        rss = await replicasets(ctx)
        assert len(rss) == 2
        original = rss[EXPECTED_RS_NAME]
        assert original.spec.replicas == 2
        assert original.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "3"
        assert d.metadata.annotations[DEPLOYMENT_REVISION_ANNOTATION] == "3"
        nursery.cancel_scope.cancel()


async def test_scaling_the_deployment_resizes_its_replicaset() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, delay=1.0)
        await ctx.api.create(deployment("web", replicas=3))
        await wait_complete(ctx)
        await set_replicas(ctx, 5)
        await wait_complete(ctx)
        assert len(await active_pods(ctx)) == 5
        await set_replicas(ctx, 2)
        await wait_complete(ctx)
        assert len(await active_pods(ctx)) == 2
        assert (await replicasets(ctx))[EXPECTED_RS_NAME].spec.replicas == 2
        scaling = [e.message for e in ctx.events.find(reason="ScalingReplicaSet")]
        assert scaling == [
            f"Scaled up replica set {EXPECTED_RS_NAME} from 0 to 3",
            f"Scaled up replica set {EXPECTED_RS_NAME} from 3 to 5",
            f"Scaled down replica set {EXPECTED_RS_NAME} from 5 to 2",
        ]
        nursery.cancel_scope.cancel()


async def test_scaling_mid_rollout_is_proportional() -> None:
    """Upstream's example: 10 replicas stuck mid-rollout at old 8 / new 5, scaled to 20."""
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, delay=1.0, ready=lambda p: p.spec.containers[0].image != "broken")
        await ctx.api.create(deployment("web", replicas=10))
        await wait_complete(ctx)
        await set_image(ctx, "broken")
        await trio.sleep(30)
        sizes = sorted(rs.spec.replicas for rs in (await replicasets(ctx)).values())
        assert sizes == [5, 8]  # surge 3 over 10, unavailable 2, new pods never become ready
        (new_name,) = set(await replicasets(ctx)) - {EXPECTED_RS_NAME}
        before = len(ctx.events.find(reason="ScalingReplicaSet"))
        await set_replicas(ctx, 20)
        await trio.sleep(30)
        # 25 allowed (20 + 25% surge) over sizes 8 and 5: 8*25/13 -> 15, 5*25/13 -> 10
        scaled = [e.message for e in ctx.events.find(reason="ScalingReplicaSet")[before:]]
        assert scaled == [
            f"Scaled up replica set {EXPECTED_RS_NAME} from 8 to 15",
            f"Scaled up replica set {new_name} from 5 to 10",
        ]
        rss = await replicasets(ctx)
        assert (rss[EXPECTED_RS_NAME].spec.replicas, rss[new_name].spec.replicas) == (15, 10)
        nursery.cancel_scope.cancel()


async def test_a_rollout_without_progress_exceeds_its_deadline() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        start(nursery, ctx, ready=lambda p: False)
        d = deployment("web", replicas=3)
        await ctx.api.create(
            attrs.evolve(d, spec=attrs.evolve(d.spec, progress_deadline_seconds=60))
        )
        await trio.sleep(30)
        status = (await get_deployment(ctx)).status
        progressing, available = status.condition("Progressing"), status.condition("Available")
        assert progressing is not None and progressing.status == "True"
        assert available is not None
        assert (available.status, available.reason) == ("False", "MinimumReplicasUnavailable")
        await trio.sleep(40)  # nothing changes any more: only the deadline requeue can notice
        progressing = (await get_deployment(ctx)).status.condition("Progressing")
        assert progressing is not None
        assert (progressing.status, progressing.reason) == ("False", "ProgressDeadlineExceeded")
        assert 60 < progressing.last_transition_time < 65
        nursery.cancel_scope.cancel()


async def test_adopts_an_orphan_replicaset_with_the_same_template() -> None:
    ctx = await control_plane()
    d = deployment("web", replicas=2)
    orphan = replicaset("web-manual", replicas=2, labels={"app": "web"})
    orphan = attrs.evolve(
        orphan,
        metadata=attrs.evolve(orphan.metadata, labels={"app": "web"}),  # what the selector reads
        spec=attrs.evolve(orphan.spec, template=d.spec.template),
    )
    orphan = await ctx.api.create(orphan)
    async with trio.open_nursery() as nursery:
        start(nursery, ctx)
        created = await ctx.api.create(d)
        await wait_complete(ctx)
        rss = await replicasets(ctx)
        assert list(rss) == ["web-manual"]  # adopted as the new ReplicaSet, none created
        ref = rss["web-manual"].metadata.controller_ref()
        assert ref is not None and ref.uid == created.metadata.uid
        nursery.cancel_scope.cancel()


async def test_a_fresh_controller_after_a_crash_finishes_the_rollout() -> None:
    ctx = await control_plane()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ReplicaSetController(ctx).run)
        nursery.start_soon(PodReadier(ctx, delay=2.0).run)
        crashed = trio.CancelScope()

        async def first_life() -> None:
            with crashed:
                await DeploymentController(ctx).run()

        nursery.start_soon(first_life)
        await ctx.api.create(deployment("web", replicas=4))
        await wait_complete(ctx)
        await set_image(ctx, "nginx:1.28")
        await trio.sleep(2.5)  # mid-rollout
        crashed.cancel()
        await trio.sleep(10)
        assert len(await replicasets(ctx)) == 2
        nursery.start_soon(DeploymentController(ctx).run)
        await wait_complete(ctx)
        assert len(await replicasets(ctx)) == 2  # it found its new ReplicaSet, made no other
        nursery.cancel_scope.cancel()
