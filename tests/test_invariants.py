"""Each invariant, broken on purpose, is caught; a healthy run (and a faulted one) breaks none."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest
import trio
from click.testing import CliRunner

from kubechaos.api.objects import ObjectMeta, OwnerReference, Pod
from kubechaos.cli import main
from kubechaos.cluster import Cluster
from kubechaos.control.controllers.replicaset import ReplicaSetController
from kubechaos.faults import Chaos
from kubechaos.faults.controlplane import EtcdWriteDrop
from kubechaos.node.network import NodeIPAM, PodNetwork
from kubechaos.observe.invariants import INVARIANTS, SURGE_CHECK_INTERVAL, InvariantChecker
from kubechaos.observe.ticker import Ticker
from kubechaos.sim.invariants import InvariantViolation

from .factories import deployment, pod_spec
from .harness import pods, ready_pods, running, wait_until

ROOT = Path(__file__).resolve().parent.parent


async def web(cluster: Cluster, replicas: int = 2) -> InvariantChecker:
    checker = InvariantChecker(cluster)
    await cluster.apply([deployment("web", replicas)])
    await wait_until(lambda: len(ready_pods(cluster)) == replicas, 60, "ready pods")
    return checker


def caught(checker: InvariantChecker) -> list[str]:
    return [v.invariant for v in checker.violations]


async def test_a_healthy_run_and_a_silently_dropping_etcd_break_nothing() -> None:
    async with running() as cluster:
        checker = await web(cluster)
        chaos = Chaos(cluster)
        drop = await chaos.inject(
            EtcdWriteDrop(key_prefix="/registry/leases/", mode="silent", probability=1.0)
        )
        await trio.sleep(20)
        assert drop is not None
        await chaos.revert(drop)
        await trio.sleep(20)
        assert cluster.etcd.silent_drops, "the fault did lose writes"
        assert checker.violations == []


async def test_revisions_going_backwards_are_caught() -> None:
    async with running() as cluster:
        checker = await web(cluster)
        cluster.etcd.store.revision -= 10  # a broken store hands out old revisions again
        await trio.sleep(15)
        assert "etcd-revision-monotonic" in caught(checker)


async def test_an_acknowledged_write_that_vanishes_is_caught() -> None:
    async with running() as cluster:
        checker = await web(cluster)
        # A lossy etcd that does not admit what it lost (no silent fault declared it).
        cluster.etcd.write_hooks.append(lambda key: "silent" if "/leases/" in key else None)
        cluster.etcd.silent_drops = _Forgetful()
        await trio.sleep(15)
        assert "etcd-acknowledged-write-durable" in caught(checker)


class _Forgetful(set[tuple[str, int]]):
    def add(self, item: tuple[str, int]) -> None:
        pass


async def test_a_reused_resource_version_is_caught() -> None:
    async with running() as cluster:
        checker = await web(cluster)
        store = cluster.etcd.store
        victim = pods(cluster)[0]
        key = f"/registry/pods/default/{victim.metadata.name}"
        stored = store.get(key)
        assert stored is not None
        store.revision = stored.mod_revision - 1  # the next write reuses an old revision
        store.put(key, stored.value)
        assert "resource-version-unique" in caught(checker)


async def test_a_pod_moving_between_nodes_is_caught() -> None:
    async with running() as cluster:
        checker = await web(cluster)
        victim = pods(cluster)[0]
        key = f"/registry/pods/default/{victim.metadata.name}"
        other = next(n for n in cluster.nodes if n != victim.spec.node_name)
        moved = attrs.evolve(victim, spec=attrs.evolve(victim.spec, node_name=other))
        cluster.etcd.store.put(key, moved)
        assert caught(checker) == ["pod-bound-once"]


def test_two_pods_on_one_ip_are_refused_by_the_network() -> None:
    network = PodNetwork()
    network.attach("10.128.0.2", "worker-0", "default/a")
    with pytest.raises(InvariantViolation, match="pod-ip-unique"):
        network.attach("10.128.0.2", "worker-0", "default/b")


async def test_a_replicaset_that_never_trims_its_surplus_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def never_delete(self: object, *args: object, **kwargs: object) -> None:
        return None

    monkeypatch.setattr(ReplicaSetController, "_delete_pod", never_delete)
    async with running() as cluster:
        checker = await web(cluster, replicas=2)
        rs = cluster.api.cache("replicasets").list()[0]
        template = pods(cluster)[0]
        for i in range(3):  # far beyond replicas + maxSurge (2 + 1)
            extra = Pod(
                ObjectMeta(
                    name=f"extra-{i}",
                    namespace="default",
                    labels=dict(template.metadata.labels),
                    owner_references=(
                        OwnerReference("ReplicaSet", rs.metadata.name, rs.metadata.uid),
                    ),
                ),
                pod_spec(),
            )
            await cluster.api.create(extra)
        async with trio.open_nursery() as nursery:
            ticker = Ticker()
            ticker.every(SURGE_CHECK_INTERVAL, checker.check_surge)
            nursery.start_soon(ticker.run)
            await wait_until(lambda: bool(checker.violations), 120, "the surge to be caught")
            nursery.cancel_scope.cancel()
        assert caught(checker) == ["replicaset-surge-bounded"]
        assert trio.current_time() - 60 > 0


async def test_a_short_surge_within_a_reconcile_is_fine() -> None:
    async with running() as cluster:
        checker = await web(cluster, replicas=2)
        rs = cluster.api.cache("replicasets").list()[0]
        template = pods(cluster)[0]
        extra = Pod(
            ObjectMeta(
                name="extra",
                namespace="default",
                labels=dict(template.metadata.labels),
                owner_references=(OwnerReference("ReplicaSet", rs.metadata.name, rs.metadata.uid),),
            ),
            pod_spec(),
        )
        for i in range(2):
            await cluster.api.create(
                attrs.evolve(extra, metadata=attrs.evolve(extra.metadata, name=f"extra-{i}"))
            )
        async with trio.open_nursery() as nursery:
            ticker = Ticker()
            ticker.every(SURGE_CHECK_INTERVAL, checker.check_surge)
            nursery.start_soon(ticker.run)
            await trio.sleep(90)
            nursery.cancel_scope.cancel()
        assert checker.violations == []
        await wait_until(lambda: len(ready_pods(cluster)) == 2, 30, "surplus trimmed")


def test_every_invariant_is_documented() -> None:
    import kubechaos.observe.invariants as module

    assert module.__doc__ is not None
    for name in INVARIANTS:
        assert f"``{name}``" in module.__doc__


def test_a_run_that_breaks_an_invariant_exits_3_and_keeps_its_event_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(NodeIPAM, "allocate", lambda self: "10.128.0.7")  # hands out one IP twice
    events = tmp_path / "events.jsonl"
    report = tmp_path / "r.json"
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(ROOT / "scenarios" / "quickstart.yaml"),
            "--events",
            str(events),
            "--json",
            str(report),
        ],
    )
    assert result.exit_code == 3, result.stdout
    assert "pod-ip-unique" in result.stdout
    assert events.exists() and events.read_text()
    data = json.loads(report.read_text())
    assert data["verdict"] == "error" and "pod-ip-unique" in data["error"]
