"""Control-plane faults end to end: etcd, the API server, watches, and the control-plane processes.

Each test shows the fault's effect on a running cluster and the recovery once it is reverted;
overlap tests show that two faults on one seam stack and reverting one leaves the other in force.
"""

from __future__ import annotations

import attrs
import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.objects import Endpoints, Probe
from kubechaos.client.identity import as_client
from kubechaos.cluster import Cluster
from kubechaos.control.apiserver import Request
from kubechaos.faults import (
    APIServerLatency,
    APIServerThrottle,
    APIServerUnavailable,
    Chaos,
    ControllerManagerCrash,
    EtcdLatency,
    EtcdUnavailable,
    EtcdWriteDrop,
    Injection,
    SchedulerCrash,
    WatchDelay,
    WatchDrop,
)
from kubechaos.faults.base import Fault
from kubechaos.faults.controlplane import RequestFault, name_matches

from .factories import deployment, pod, service
from .harness import available, deployment_of, pods, ready_pods, running, wait_until


async def inject(chaos: Chaos, fault: Fault) -> Injection:
    injection = await chaos.inject(fault)
    assert injection is not None, fault
    return injection


def seams_are_idle(cluster: Cluster) -> bool:
    """Every seam is back to its empty, one-truth-test state."""
    api, etcd = cluster.api, cluster.etcd
    watches = [
        w for resource in ("pods", "deployments") for w in api.cache(resource).open_watches()
    ]
    return (
        not api.request_hooks
        and not api.watch_hooks
        and not etcd.write_hooks
        and not etcd.latency_hooks
        and etcd.has_leader
        and not any(w.interceptors for w in watches)
    )


def endpoint_ips(cluster: Cluster, name: str = "web") -> set[str]:
    endpoints: Endpoints | None = cluster.api.cache("endpoints").get(
        f"/registry/endpoints/default/{name}"
    )
    return {a.ip for a in endpoints.ready_addresses()} if endpoints else set()


async def scale(cluster: Cluster, replicas: int, name: str = "web") -> None:
    current = await cluster.api.get("deployments", "default", name)
    await cluster.api.update(
        attrs.evolve(current, spec=attrs.evolve(current.spec, replicas=replicas))
    )


def spec_replicas(cluster: Cluster, name: str = "web") -> int:
    return deployment_of(cluster, name).spec.replicas


# ---------------------------------------------------------------------------- matching
def test_filters_match_exact_names_and_the_part_before_the_separator() -> None:
    assert name_matches("kubelet/worker-1", ["kubelet"])
    assert name_matches("kubelet/worker-1", ["kubelet/worker-1"])
    assert not name_matches("kubelet/worker-1", ["kubelet/worker-2"])
    assert not name_matches("kube-scheduler", ["kubelet"])
    fault = RequestFault(verbs=("update",), resources=("pods",), clients=("kubelet",))
    assert fault.selects(Request("update_status", "pods", "kubelet/worker-0"))
    assert not fault.selects(Request("update_status", "pods", "kube-scheduler"))
    assert not fault.selects(Request("get", "pods", "kubelet/worker-0"))
    assert RequestFault(resources=("pods",)).selects(Request("create", "pods/binding", ""))


def test_bad_filters_and_a_missing_component_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown resource 'pod'"):
        APIServerUnavailable(resources=("pod",))
    with pytest.raises(ValueError, match="unknown verb 'put'"):
        APIServerUnavailable(verbs=("put",))
    with pytest.raises(ValueError, match="needs a component"):
        WatchDrop()
    with pytest.raises(ValueError, match="mode must be one of"):
        EtcdWriteDrop(mode="loud")


# ---------------------------------------------------------------------------- etcd
async def test_etcd_write_drop_error_fails_matching_writes_with_an_etcd_timeout() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        drop = await inject(chaos, EtcdWriteDrop(key_prefix="/registry/services/"))
        with pytest.raises(errors.InternalError, match="etcdserver: request timed out") as exc:
            await cluster.api.create(service("web"))
        assert exc.value.code == 500
        assert cluster.etcd.writes_dropped_total == {"error": 1, "silent": 0}
        assert cluster.api.stats.total[("create", "services", 500)] == 1
        await cluster.apply([pod("other")])  # other prefixes are untouched
        with pytest.raises(errors.NotFound):
            await cluster.api.get("services", "default", "web")
        await chaos.revert(drop)
        await cluster.api.create(service("web"))
        assert seams_are_idle(cluster)


async def test_etcd_write_drop_probability_loses_about_that_share() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        await inject(chaos, EtcdWriteDrop(key_prefix="/registry/services/", probability=0.3))
        failed = 0
        for i in range(100):
            try:
                await cluster.api.create(service(f"s{i}"))
            except errors.InternalError:
                failed += 1
        assert 15 <= failed <= 45
        assert cluster.etcd.writes_dropped_total["error"] == failed
        services, _ = await cluster.api.list("services")
        assert len(services) == 100 - failed


async def test_silent_drop_acknowledges_a_revision_no_object_ever_gets() -> None:
    async with running(nodes=1) as cluster:
        api = cluster.api
        created = await api.create(service("s"))
        chaos = Chaos(cluster)
        drop = await inject(chaos, EtcdWriteDrop(key_prefix="/registry/services/", mode="silent"))
        labelled = attrs.evolve(
            created, metadata=attrs.evolve(created.metadata, labels={"lost": "yes"})
        )
        acked = await api.update(labelled)  # success, and a resourceVersion
        assert acked.metadata.labels == {"lost": "yes"}
        assert int(acked.metadata.resource_version) > int(created.metadata.resource_version)
        ghost = await api.create(service("ghost"))
        assert ghost.metadata.resource_version != acked.metadata.resource_version
        assert cluster.etcd.writes_dropped_total == {"error": 0, "silent": 2}
        stored = await api.get("services", "default", "s")
        assert stored.metadata.labels == {}  # lost
        assert stored.metadata.resource_version == created.metadata.resource_version
        with pytest.raises(errors.NotFound):
            await api.get("services", "default", "ghost")
        await chaos.revert(drop)
        # The acknowledged version matches nothing stored: a write based on it conflicts ...
        with pytest.raises(errors.Conflict):
            await api.update(acked)
        # ... and no later object reuses it; revisions only went forward.
        later = await api.update(labelled)
        assert int(later.metadata.resource_version) > int(ghost.metadata.resource_version)
        assert seams_are_idle(cluster)


async def test_silent_status_loss_is_repaired_by_the_kubelets_next_status_sync() -> None:
    slow_ready = Probe(initial_delay_seconds=30)
    async with running(nodes=1) as cluster:
        await cluster.apply([deployment("web", 1, readiness=slow_ready), service("web")])
        await wait_until(
            lambda: any(p.status.phase == "Running" and p.status.pod_ip for p in pods(cluster)),
            60,
            "a running pod",
        )
        (web,) = pods(cluster)
        assert not web.is_ready()
        kubelet = cluster.nodes["worker-0"].kubelet
        assert kubelet is not None
        writes = kubelet.status_writes
        chaos = Chaos(cluster)
        drop = await inject(chaos, EtcdWriteDrop(key_prefix="/registry/pods/", mode="silent"))
        # The kubelet sees the pod turn ready and posts it; etcd says yes and keeps nothing.
        await wait_until(lambda: kubelet.status_writes > writes, 60, "a status post")
        await trio.sleep(30)  # re-posts every sync period while the fault lasts: all lost
        assert cluster.etcd.writes_dropped_total["silent"] >= 2
        (web,) = pods(cluster)
        fresh = await cluster.api.get("pods", "default", web.metadata.name)
        assert not fresh.is_ready() and not web.is_ready()
        assert endpoint_ips(cluster) == set()
        await chaos.revert(drop)
        repaired = await wait_until(
            lambda: endpoint_ips(cluster) == {web.status.pod_ip}, 15, "the pod in the endpoints"
        )
        assert repaired - chaos.injections[0].reverted_at <= 11  # the next sync, not a restart
        assert len(ready_pods(cluster)) == 1
        assert seams_are_idle(cluster)


async def test_etcd_latency_slows_quorum_requests_and_not_the_watch_cache() -> None:
    async with running(nodes=1) as cluster:
        api = cluster.api

        async def took(request: object) -> float:
            start = trio.current_time()
            await request  # type: ignore[misc]
            return trio.current_time() - start

        assert await took(api.get("namespaces", "", "default")) < 0.1
        chaos = Chaos(cluster)
        slow = await inject(chaos, EtcdLatency(latency=2.0, jitter=0.5))
        assert 1.5 <= await took(api.get("namespaces", "", "default")) <= 2.6
        assert await took(api.list("namespaces")) < 0.1  # served from the watch cache
        await chaos.revert(slow)
        assert await took(api.get("namespaces", "", "default")) < 0.1
        assert seams_are_idle(cluster)


async def test_etcd_unavailable_fails_every_request_and_the_cluster_recovers() -> None:
    async with running(nodes=2) as cluster:
        chaos = Chaos(cluster)
        first = await inject(chaos, EtcdUnavailable())
        second = await inject(chaos, EtcdUnavailable(name="again"))
        with pytest.raises(errors.InternalError, match="etcdserver: no leader") as exc:
            await cluster.api.create(pod("p"))
        assert exc.value.code == 500
        with pytest.raises(errors.InternalError):
            await cluster.api.list("pods")  # a consistent list needs etcd's revision
        with pytest.raises(errors.InternalError):
            await cluster.api.get("nodes", "", "worker-0")
        await trio.sleep(20)
        assert cluster.etcd.proposals_failed_total > 0  # the kubelets' lease renewals
        await chaos.revert(first)
        with pytest.raises(errors.InternalError):  # the other outage still holds
            await cluster.api.create(pod("p"))
        await chaos.revert(second)
        await cluster.apply([deployment("web", 2)])
        await wait_until(lambda: available(cluster) == 2, 60, "a deployment after the outage")
        nodes, _ = await cluster.api.list("nodes")
        assert all(n.is_ready() for n in nodes)
        assert not cluster.events.find(reason="NodeNotReady")
        assert seams_are_idle(cluster)


# ---------------------------------------------------------------------------- API server
async def test_overlapping_apiserver_unavailable_faults_stack() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        one = await inject(chaos, APIServerUnavailable(name="one"))
        two = await inject(chaos, APIServerUnavailable(name="two"))
        with pytest.raises(errors.ServiceUnavailable) as exc:
            await cluster.api.get("namespaces", "", "default")
        assert exc.value.code == 503
        await chaos.revert(one)
        with pytest.raises(errors.ServiceUnavailable):
            await cluster.api.get("namespaces", "", "default")
        await chaos.revert(two)
        assert (await cluster.api.get("namespaces", "", "default")).metadata.name == "default"
        assert seams_are_idle(cluster)
        # One fault object injected twice (a schedule repeating faster than its duration):
        # each injection reverts only itself.
        outage = APIServerUnavailable(name="repeated")
        first, second = await inject(chaos, outage), await inject(chaos, outage)
        await chaos.revert(first)
        with pytest.raises(errors.ServiceUnavailable):
            await cluster.api.get("namespaces", "", "default")
        await chaos.revert(second)
        assert seams_are_idle(cluster)


async def test_apiserver_unavailable_for_the_scheduler_leaves_pods_pending() -> None:
    async with running(nodes=2) as cluster:
        await trio.sleep(5)  # the scheduler has listed and watches: only its binds will fail
        chaos = Chaos(cluster)
        outage = await inject(chaos, APIServerUnavailable(clients=("kube-scheduler",)))
        await cluster.apply([deployment("web", 2)])  # other clients are served
        await wait_until(lambda: len(pods(cluster)) == 2, 30, "the pods created")
        await trio.sleep(30)
        assert all(not p.spec.node_name for p in pods(cluster))
        assert cluster.api.stats.total[("create", "pods/binding", 503)] >= 1
        await chaos.revert(outage)
        await wait_until(lambda: available(cluster) == 2, 60, "the pods scheduled and ready")
        assert seams_are_idle(cluster)


async def test_apiserver_throttle_refuses_a_fraction_and_clients_retry() -> None:
    async with running(nodes=1) as cluster:
        chaos = Chaos(cluster)
        throttle = await inject(chaos, APIServerThrottle(fraction=0.5, verbs=("get",)))
        refused = 0
        for _ in range(200):
            try:
                await cluster.api.get("namespaces", "", "default")
            except errors.TooManyRequests as exc:
                assert exc.code == 429
                refused += 1
        assert 70 <= refused <= 130
        assert cluster.api.stats.total[("get", "namespaces", 429)] == refused
        await cluster.api.list("pods")  # another verb: never refused
        await cluster.apply([deployment("web", 3)])
        everything = await inject(chaos, APIServerThrottle(name="all", fraction=0.3))
        await wait_until(lambda: available(cluster) == 3, 120, "the workload despite 429s")
        await chaos.revert(everything)
        await chaos.revert(throttle)
        for _ in range(20):
            await cluster.api.get("namespaces", "", "default")
        assert seams_are_idle(cluster)


async def test_apiserver_latency_slows_only_matching_requests() -> None:
    async with running(nodes=1) as cluster:
        api = cluster.api
        chaos = Chaos(cluster)
        slow = await inject(
            chaos, APIServerLatency(latency=3.0, verbs=("create",), resources=("pods",))
        )
        start = trio.current_time()
        await api.create(pod("p"))
        assert trio.current_time() - start >= 3.0
        start = trio.current_time()
        await api.get("pods", "default", "p")
        assert trio.current_time() - start < 0.1
        with as_client("kubelet/worker-0"):
            kubelets = await inject(
                chaos, APIServerLatency(name="k", latency=5, clients=("kubelet",))
            )
            start = trio.current_time()
            await api.get("pods", "default", "p")
            assert trio.current_time() - start >= 5.0
        await chaos.revert(slow)
        await chaos.revert(kubelets)
        start = trio.current_time()
        await api.create(pod("q"))
        assert trio.current_time() - start < 0.1
        assert seams_are_idle(cluster)


# ---------------------------------------------------------------------------- watches
CM = "kube-controller-manager"


async def test_watch_drop_leaves_a_stale_view_until_the_object_changes_again() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 1)])
        await wait_until(lambda: available(cluster) == 1, 60, "one available")
        chaos = Chaos(cluster)
        drop = await inject(chaos, WatchDrop(component=CM, resources=("deployments",)))
        assert drop.targets == [CM]
        await scale(cluster, 3)
        await trio.sleep(30)
        assert len(pods(cluster)) == 1  # the controllers never heard of the new spec
        await chaos.revert(drop)
        assert seams_are_idle(cluster)
        await trio.sleep(30)
        assert len(pods(cluster)) == 1  # reverting heals nothing: the view is still stale
        await scale(cluster, 2)  # the next change carries the whole object
        await wait_until(lambda: available(cluster) == 2, 60, "two available")


async def test_watch_drop_reaches_a_kubelet_by_its_node_name() -> None:
    async with running(nodes=2) as cluster:
        chaos = Chaos(cluster)
        drop = await inject(chaos, WatchDrop(component="kubelet/worker-0", resources=("pods",)))
        await cluster.apply(
            [pod("deaf", node_name="worker-0"), pod("hearing", node_name="worker-1")]
        )
        await trio.sleep(30)
        phases = {p.metadata.name: p.status.phase for p in cluster.api.cache("pods").list()}
        assert phases == {"deaf": "Pending", "hearing": "Running"}
        await chaos.revert(drop)
        assert seams_are_idle(cluster)
        await trio.sleep(30)  # the kubelet never heard of the pod, and nothing changes it
        assert (
            cluster.api.cache("pods").get("/registry/pods/default/deaf").status.phase == "Pending"
        )


async def test_watch_delay_shows_events_late_and_in_order() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 1)])
        await wait_until(lambda: available(cluster) == 1, 60, "one available")
        chaos = Chaos(cluster)
        tasks = len(cluster.nursery.child_tasks)
        delay = await inject(chaos, WatchDelay(component=CM, resources=("deployments",), delay=30))
        assert len(cluster.nursery.child_tasks) == tasks + 1  # one task for the injection
        start = trio.current_time()
        await scale(cluster, 4)
        await scale(cluster, 2)  # both events arrive late, in this order: 2 wins
        await trio.sleep(20)
        assert len(pods(cluster)) == 1
        seen = await wait_until(lambda: available(cluster) == 2, 60, "the late scale-up")
        assert seen - start >= 30
        await trio.sleep(30)
        assert len([p for p in pods(cluster) if p.metadata.deletion_timestamp is None]) == 2
        await chaos.revert(delay)
        for _ in range(3):  # the cancelled task ends at its next turn (batch order is seeded)
            await trio.sleep(0)
        assert len(cluster.nursery.child_tasks) == tasks
        assert seams_are_idle(cluster)


async def test_reverting_a_watch_delay_hands_on_what_it_held_at_once() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 1)])
        await wait_until(lambda: available(cluster) == 1, 60, "one available")
        chaos = Chaos(cluster)
        delay = await inject(chaos, WatchDelay(component=CM, delay=3600))
        await scale(cluster, 3)
        await trio.sleep(10)
        assert len(pods(cluster)) == 1
        await chaos.revert(delay)
        reverted = trio.current_time()
        seen = await wait_until(lambda: len(pods(cluster)) == 3, 10, "the held scale-up")
        assert seen - reverted < 2
        assert seams_are_idle(cluster)


async def test_a_watch_delay_and_a_drop_stack_on_one_watch() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 1)])
        await wait_until(lambda: available(cluster) == 1, 60, "one available")
        chaos = Chaos(cluster)
        delay = await inject(chaos, WatchDelay(component=CM, resources=("deployments",), delay=20))
        drop = await inject(chaos, WatchDrop(component=CM, resources=("deployments",)))
        await scale(cluster, 3)
        await chaos.revert(drop)  # the held event has not yet passed the drop: it survives
        await wait_until(lambda: len(pods(cluster)) == 3, 40, "the delayed scale-up")
        drop = await inject(chaos, WatchDrop(name="again", component=CM))
        await scale(cluster, 1)
        await trio.sleep(40)  # delayed, then dropped behind the delay
        assert len(pods(cluster)) == 3
        await chaos.revert(delay)
        await chaos.revert(drop)
        assert seams_are_idle(cluster)


# ---------------------------------------------------------------------------- processes
async def test_scheduler_crash_leaves_pods_pending_until_a_fresh_scheduler_relists() -> None:
    async with running(nodes=2) as cluster:
        old = cluster.scheduler.instance
        chaos = Chaos(cluster)
        crash = await inject(chaos, SchedulerCrash())
        again = await inject(chaos, SchedulerCrash(name="again"))
        assert crash.targets == ["kube-scheduler"] and not cluster.scheduler.running
        await cluster.apply([deployment("web", 2)])
        await trio.sleep(60)
        assert len(pods(cluster)) == 2 and all(not p.spec.node_name for p in pods(cluster))
        await chaos.revert(crash)
        assert not cluster.scheduler.running  # the other crash still holds it down
        await chaos.revert(again)
        assert cluster.scheduler.running and cluster.scheduler.instance is not old
        await wait_until(lambda: available(cluster) == 2, 60, "the pods scheduled")


async def test_controller_manager_crash_then_restarted_controllers_finish_the_work() -> None:
    async with running(nodes=2) as cluster:
        await cluster.apply([deployment("web", 2), service("web")])
        await wait_until(lambda: available(cluster) == 2, 60, "two available")
        old = cluster.controller_manager.instance
        chaos = Chaos(cluster)
        crash = await inject(chaos, ControllerManagerCrash())
        assert crash.targets == [CM] and not cluster.controller_manager.running
        await scale(cluster, 4)
        await trio.sleep(60)
        assert spec_replicas(cluster) == 4
        assert len(pods(cluster)) == 2  # nobody acts on the new spec
        await chaos.revert(crash)
        assert cluster.controller_manager.running
        assert cluster.controller_manager.instance is not old  # fresh, with empty caches
        await wait_until(lambda: available(cluster) == 4, 60, "four available")
        await wait_until(lambda: len(endpoint_ips(cluster)) == 4, 30, "four endpoints")


async def test_a_crash_without_a_revert_keeps_the_process_down() -> None:
    async with running(nodes=1) as cluster:
        await inject(Chaos(cluster), ControllerManagerCrash())
        await cluster.apply([deployment("web", 1)])
        await trio.sleep(120)
        assert pods(cluster) == [] and not cluster.controller_manager.running
