"""An HA control plane: ``spec.cluster.controlPlane: {nodes: N}`` control-plane nodes, each with an
etcd member, an API server replica and a kube-scheduler and kube-controller-manager candidate
(kubeadm docs "Options for Highly Available Topology", stacked etcd).

Upstream numbers used throughout: etcd ``--election-timeout`` 1000 ms and ``--heartbeat-interval``
100 ms (etcd docs "Tuning"; raft's randomized election timeout is in [electionTimeout,
2 x electionTimeout), etcd ``raft/raft.go`` resetRandomizedElectionTimeout); a write needs a
majority of members (etcd docs "Failure modes", "FAQ: Why an odd number of cluster members?");
leader election leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s with JitterFactor 1.2
(client-go ``tools/leaderelection/leaderelection.go``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

from kubechaos.api import errors
from kubechaos.api.discovery import API_RESOURCES
from kubechaos.api.objects import ConfigMap, ObjectMeta
from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.defaults import Settings
from kubechaos.faults import (
    CATALOGUE,
    APIServerCrash,
    Chaos,
    ControlPlaneNodeCrash,
    EtcdMemberCrash,
)
from kubechaos.observe.metrics.components import etcd_families, leader_election_families
from kubechaos.observe.metrics.controlplane import control_plane_families
from kubechaos.scenario.loader import parse_scenario

from .factories import deployment, service
from .harness import available, pods, wait_until
from .test_scenario_loader import GOOD, errors_of
from .test_scenarios import injected_at, reverted_at, run_of

TIMING = (15.0, 10.0, 2.0)  # leaseDuration, renewDeadline, retryPeriod
LEASE_DURATION, RENEW_DEADLINE, RETRY_PERIOD = TIMING
ACQUIRE_RETRY_MAX = RETRY_PERIOD * (1 + 1.2)  # retryPeriod plus JitterFactor 1.2 of it


@asynccontextmanager
async def ha_running(
    control_plane: int = 3, nodes: int = 3, seed: int = 1, settings: Settings | None = None
) -> AsyncIterator[Cluster]:
    """A booted cluster of ``control_plane`` control-plane nodes and ``nodes`` workers."""
    spec = ClusterSpec(
        (NodeGroupSpec("worker", nodes),), settings or Settings(), control_plane_nodes=control_plane
    )
    cluster = Cluster(spec, seed=seed)
    async with trio.open_nursery() as nursery:
        await nursery.start(cluster.run)
        yield cluster
        nursery.cancel_scope.cancel()


async def web_cluster(cluster: Cluster) -> None:
    await cluster.apply([deployment("web", 3), service("web")])
    await wait_until(lambda: available(cluster) == 3, 60, "web available")
    await trio.sleep(30)


def leader_events(cluster: Cluster, component: str, text: str) -> list[tuple[float, str]]:
    return [
        (e.time, e.message)
        for e in cluster.events
        if e.component == component and e.reason == "LeaderElection" and text in e.message
    ]


def config_map(name: str) -> ConfigMap:
    return ConfigMap(ObjectMeta(name=name, namespace="default"), data={"k": "v"})


async def write(cluster: Cluster, name: str) -> None:
    await cluster.api.create(config_map(name))


def master_status(cluster: Cluster) -> dict[tuple[str, str], float]:
    (family,) = leader_election_families(cluster)
    return {(s.labels["name"], s.labels["host"]): s.value for s in family.samples}


def leading_host(cluster: Cluster, component: str) -> str:
    (lead,) = [
        host for (name, host), v in master_status(cluster).items() if name == component and v
    ]
    return lead


def follower(cluster: Cluster) -> int:
    etcd = cluster.control_plane.etcd
    return next(i for i in range(len(etcd.members)) if i != etcd.leader)


# ---------------------------------------------------------------------- wiring
async def test_one_control_plane_node_is_the_cluster_as_before() -> None:
    """The default (``controlPlane.nodes`` 1) is one etcd member, one API server and one
    candidate of each component, named as before (the goldens hold the event logs)."""
    spec = ClusterSpec((NodeGroupSpec("worker", 1),))
    assert spec.control_plane_nodes == 1
    cluster = Cluster(spec)
    assert cluster.control_plane.hosts == ("control-plane-0",)
    assert [p.name for p in cluster.schedulers] == ["kube-scheduler"]
    assert [p.name for p in cluster.controller_managers] == ["kube-controller-manager"]
    assert cluster.scheduler is cluster.schedulers[0]
    assert not cluster.control_plane.ha


async def test_each_control_plane_node_runs_a_candidate_of_each_component_and_one_leads() -> None:
    """kubeadm's stacked HA topology: every control-plane node runs kube-scheduler and
    kube-controller-manager with ``--leader-elect`` (kubeadm docs "Options for Highly Available
    Topology"); one candidate holds each kube-system Lease and the others stand by
    (``leader_election_master_status`` 1 on the leader, 0 on each backup,
    component-base/metrics/prometheus/clientgo/leaderelection/metrics.go)."""
    async with ha_running() as cluster:
        await trio.sleep(10)
        status = master_status(cluster)
        hosts = ("control-plane-0", "control-plane-1", "control-plane-2")
        for name in ("kube-scheduler", "kube-controller-manager"):
            assert sorted(h for (n, h) in status if n == name) == list(hosts)
            assert sum(v for (n, _), v in status.items() if n == name) == 1
            assert len(leader_events(cluster, name, "became leader")) == 1
        assert cluster.controller_manager.acting and cluster.scheduler.acting
        assert [m.name for m in cluster.control_plane.etcd.members] == list(hosts)


# ---------------------------------------------------------------------- etcd quorum
async def test_one_member_of_three_down_is_invisible() -> None:
    """etcd "Failure modes": a follower failure does not affect the cluster while a majority
    (2 of 3) is up; no election, writes go on, pod recovery goes on."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        etcd = cluster.control_plane.etcd
        leader = etcd.leader
        await Chaos(cluster).inject(EtcdMemberCrash(member=follower(cluster)))
        start = trio.current_time()
        await write(cluster, "during")
        assert trio.current_time() - start < 0.1  # no stall
        victim = pods(cluster)[0].metadata.name
        await cluster.api.delete("pods", "default", victim, grace_period_seconds=0)
        await wait_until(
            lambda: (
                victim not in {p.metadata.name for p in pods(cluster)} and available(cluster) == 3
            ),
            30,
            "the pod replaced",
        )
        assert etcd.leader == leader and cluster.etcd.has_leader
        assert not cluster.events.find(reason="LeaderElected")
        assert not leader_events(cluster, "kube-controller-manager", "stopped leading")


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_quorum_loss_fails_writes_keeps_cache_reads_and_stops_leaders_at_renew_deadline(
    seed: int,
) -> None:
    """etcd "Failure modes": with a majority down the cluster cannot commit: every write and
    every linearizable read fails (``etcdserver: no leader``, a 500 from the API server, as the
    etcd-unavailable fault answers). The API server's watch cache still serves
    ``resourceVersion=0`` reads (staging/src/k8s.io/apiserver/pkg/storage/cacher/cacher.go);
    a consistent LIST needs etcd's current revision, a quorum read, and fails. The leaders of
    kube-scheduler and kube-controller-manager cannot renew their Leases (writes) and stop
    leading once renewDeadline (10 s) has passed (client-go leaderelection.go renew)."""
    async with ha_running(seed=seed) as cluster:
        await web_cluster(cluster)
        chaos = Chaos(cluster)
        await chaos.inject(EtcdMemberCrash(member=follower(cluster)))
        await trio.sleep(5)
        start = trio.current_time()
        second = await chaos.inject(EtcdMemberCrash(member="leader"))
        assert cluster.events.find(reason="QuorumLost")
        with pytest.raises(errors.InternalError, match="etcdserver: no leader"):
            await write(cluster, "no-quorum")
        with pytest.raises(errors.InternalError):
            await cluster.api.get("deployments", "default", "web")
        with pytest.raises(errors.InternalError):
            await cluster.api.list("pods", "default")
        cached = await cluster.api.get("deployments", "default", "web", resource_version="0")
        assert cached.metadata.name == "web"
        await trio.sleep(15)
        for name in ("kube-scheduler", "kube-controller-manager"):
            ((lost, _),) = leader_events(cluster, name, "stopped leading")
            assert start + RENEW_DEADLINE <= lost <= start + RENEW_DEADLINE + RETRY_PERIOD + 0.5
        assert all(v == 0 for v in master_status(cluster).values())
        await trio.sleep(30)
        await chaos.revert(second)  # a majority again: an election, then writes commit
        back = trio.current_time()
        await write(cluster, "quorum-again")
        assert back + 1.0 <= trio.current_time() <= back + 2.0 + 0.1  # waited for the election
        (elected,) = cluster.events.find(reason="LeaderElected")
        assert back + 1.0 <= elected.time < back + 2.0
        await wait_until(lambda: cluster.controller_manager.acting, 40, "a leader again")


async def test_leader_member_death_stalls_writes_for_one_election() -> None:
    """etcd docs "Failure modes" (Leader failure): "write requests sent during the election are
    queued for processing until a new leader is elected". raft: followers notice the leader's
    death when their randomized election timeout (in
    [electionTimeout, 2 x electionTimeout), 1-2 s at etcd's default 1000 ms) fires; a write
    arriving meanwhile waits for the new leader and then commits (etcd ``raft/raft.go``). Every
    surviving member counts the change (``etcd_server_leader_changes_seen_total``,
    server/etcdserver/metrics.go); Leases do not expire across it (lessor Promote)."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        etcd = cluster.control_plane.etcd
        old = etcd.leader
        assert old is not None
        seen = [m.leader_changes_seen for m in etcd.members]
        await Chaos(cluster).inject(EtcdMemberCrash(member="leader"))
        start = trio.current_time()
        await write(cluster, "mid-election")
        stalled = trio.current_time() - start
        assert 1.0 <= stalled <= 2.0 + 0.1
        (elected,) = cluster.events.find(reason="LeaderElected")
        assert etcd.leader is not None and etcd.leader != old
        assert elected.object == etcd.members[etcd.leader].name
        for i, member in enumerate(etcd.members):
            assert member.leader_changes_seen == seen[i] + (0 if i == old else 1)
        await trio.sleep(20)  # 1-2 s without a leader is well inside renewDeadline
        assert not leader_events(cluster, "kube-controller-manager", "stopped leading")


async def test_a_returning_member_catches_up_and_counts_the_leader_it_finds() -> None:
    """etcd "Failure modes": a follower that comes back receives what it missed from the leader
    (entries or a snapshot) and serves again; a restarted process counts the leader it finds as
    a leader change (its counter starts afresh, server/etcdserver/metrics.go)."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        chaos = Chaos(cluster)
        i = follower(cluster)
        crash = await chaos.inject(EtcdMemberCrash(member=i))
        await write(cluster, "while-away")
        await chaos.revert(crash)
        (caught,) = cluster.events.find(reason="MemberCaughtUp")
        assert caught.object == f"control-plane-{i}"
        assert cluster.control_plane.etcd.members[i].up


# ---------------------------------------------------------------------- failover
@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_losing_the_controller_manager_leaders_node_fails_over_within_lease_duration(
    seed: int,
) -> None:
    """client-go leaderelection.go: a standby takes a Lease only once it has seen the record
    unchanged for leaseDuration (15 s) as it observed it, trying every retryPeriod (2 s) plus up
    to JitterFactor 1.2 of it. The dead leader's last renewal was at most a retryPeriod before
    its death, so the standby on another node leads between leaseDuration - retryPeriod and
    leaseDuration + 2 x (retryPeriod x 2.2) after it (nominally leaseDuration + retryPeriod,
    15 s + 2 s); then it acts: a deleted pod is replaced."""
    async with ha_running(seed=seed) as cluster:
        await web_cluster(cluster)
        old_host = leading_host(cluster, "kube-controller-manager")
        await Chaos(cluster).inject(ControlPlaneNodeCrash(node="controller-manager-leader"))
        death = trio.current_time()
        await wait_until(
            lambda: len(leader_events(cluster, "kube-controller-manager", "became leader")) == 2,
            40,
            "a standby to lead",
            step=0.1,
        )
        took_over, message = leader_events(cluster, "kube-controller-manager", "became leader")[1]
        assert not message.startswith(old_host)
        delay = took_over - death
        assert LEASE_DURATION - RETRY_PERIOD <= delay <= LEASE_DURATION + 2 * ACQUIRE_RETRY_MAX
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)
        assert cluster.controller_manager.name.endswith(
            leading_host(cluster, "kube-controller-manager")
        )
        victim = pods(cluster)[0].metadata.name
        await cluster.api.delete("pods", "default", victim, grace_period_seconds=0)
        await wait_until(
            lambda: (
                available(cluster) == 3 and victim not in {p.metadata.name for p in pods(cluster)}
            ),
            30,
            "the pod replaced",
        )


async def test_apiserver_crash_of_one_of_three_clients_reconnect_and_the_cluster_carries_on() -> (
    None
):
    """A client of the load balancer holds one HTTP/2 connection; when its replica dies the
    connection breaks, its watches end and the reflector watches again from its last
    resourceVersion (client-go tools/cache/reflector.go: relist only on 410 Gone), dialling the
    load balancer anew, which sends it to a live replica. Nothing else changes: no node goes
    NotReady, no informer relists, pods are still replaced and served."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        replicas = cluster.control_plane.apiservers
        lists_before = sum(
            n for (verb, _, _), n in cluster.api.stats.total.items() if verb == "list"
        )
        leader_host = leading_host(cluster, "kube-controller-manager")
        replica = next(
            h
            for h in cluster.control_plane.hosts
            if h != leader_host and h != leading_host(cluster, "kube-scheduler")
        )
        await Chaos(cluster).inject(APIServerCrash(replica=replica))
        (down,) = cluster.events.find(reason="ReplicaDown")
        broken = int(down.message.split("; ")[1].split()[0])
        assert broken > 0
        await trio.sleep(5)
        assert replicas.reconnects_total > 0
        victim = pods(cluster)[0].metadata.name
        await cluster.api.delete("pods", "default", victim, grace_period_seconds=0)
        await wait_until(
            lambda: (
                available(cluster) == 3 and victim not in {p.metadata.name for p in pods(cluster)}
            ),
            30,
            "the pod replaced",
        )
        await trio.sleep(60)
        assert not cluster.events.find(reason="NodeNotReady")
        lists_after = sum(
            n for (verb, _, _), n in cluster.api.stats.total.items() if verb == "list"
        )
        assert lists_after == lists_before  # watches resumed from their resourceVersion
        assert not leader_events(cluster, "kube-controller-manager", "stopped leading")


async def test_apiserver_crash_cuts_off_its_nodes_leader_which_fails_over() -> None:
    """kubeadm writes scheduler.conf and controller-manager.conf with the node's own API server
    address (localAPIEndpoint; kubelet.conf gets the controlPlaneEndpoint,
    cmd/kubeadm/app/phases/kubeconfig/kubeconfig.go getKubeConfigSpecsBase): a leader whose local replica dies gets connection refused, cannot renew, stops
    leading after renewDeadline (10 s) and exits; a standby elsewhere leads once the Lease has
    gone unrenewed for leaseDuration (client-go leaderelection.go)."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        host = leading_host(cluster, "kube-controller-manager")
        await Chaos(cluster).inject(APIServerCrash(replica=host))
        start = trio.current_time()
        await trio.sleep(35)
        ((lost, message),) = leader_events(cluster, "kube-controller-manager", "stopped leading")
        assert message.startswith(host)
        assert (
            start + RENEW_DEADLINE - RETRY_PERIOD <= lost <= start + RENEW_DEADLINE + RETRY_PERIOD
        )
        assert leading_host(cluster, "kube-controller-manager") != host


async def test_every_replica_down_refuses_every_request() -> None:
    """With one API server and it dead, a client's dial fails: connection refused (a transport
    error upstream, 503 here for the metrics)."""
    async with ha_running(control_plane=1) as cluster:
        await trio.sleep(5)
        crash = await Chaos(cluster).inject(APIServerCrash(replica=0))
        with pytest.raises(errors.APIError, match="connection refused"):
            await write(cluster, "refused")
        await Chaos(cluster).revert(crash)
        await write(cluster, "accepted")


# ---------------------------------------------------------------------- catalogue
def test_the_faults_are_in_the_catalogue() -> None:
    for name in ("etcd-member-crash", "apiserver-crash", "control-plane-node-crash"):
        assert name in CATALOGUE
        assert CATALOGUE[name].summary


# ---------------------------------------------------------------------- scenario files
def with_control_plane(control_plane: str, faults: str = "") -> str:
    text = GOOD.replace("    settings:\n", f"    controlPlane: {control_plane}\n    settings:\n", 1)
    return text + (f"  faults:\n{faults}" if faults else "")


def test_control_plane_nodes_is_read_from_the_cluster_spec() -> None:
    """``spec.cluster.controlPlane.nodes``: the number of control-plane nodes (default 1)."""
    assert parse_scenario(GOOD).cluster.control_plane_nodes == 1
    assert parse_scenario(with_control_plane("{nodes: 3}")).cluster.control_plane_nodes == 3


@pytest.mark.parametrize(
    ("control_plane", "message"),
    [
        ("{nodes: 0}", "spec.cluster.controlPlane.nodes: expected a whole number >= 1, got 0"),
        ("{nodes: three}", "expected a whole number >= 1, got 'three'"),
        ("{nodes: 9}", "9 control-plane nodes, more than the 7 etcd members"),
        (
            "{nodez: 3}",
            'spec.cluster.controlPlane.nodez: unknown field "nodez"; did you mean "nodes"?',
        ),
        ("3", "spec.cluster.controlPlane: expected a mapping"),
    ],
)
def test_a_bad_control_plane_is_one_located_error(control_plane: str, message: str) -> None:
    """etcd FAQ "What is maximum cluster size?": at most 7 members are recommended."""
    (error,) = errors_of(with_control_plane(control_plane))
    assert message in error and error.startswith("s.yaml:")


FAULT = """\
    - type: {type}
      at: 30s
      duration: 20s
      params: {params}
"""


@pytest.mark.parametrize(
    ("fault", "params", "message"),
    [
        (
            "etcd-member-crash",
            "{member: 3}",
            "index 3: the cluster has 3 control-plane node(s), 0..2",
        ),
        ("etcd-member-crash", "{member: 1.5}", "expected a whole number >= 0 or a name, got 1.5"),
        ("etcd-member-crash", "{member: boss}", "'boss': expected an index, a control-plane host"),
        ("apiserver-crash", "{replica: control-plane-7}", "'control-plane-7': expected 0..2"),
        ("control-plane-node-crash", "{node: scheduler-leeder}", "expected an index"),
    ],
)
def test_a_fault_naming_no_control_plane_part_is_one_located_error(
    fault: str, params: str, message: str
) -> None:
    text = with_control_plane("{nodes: 3}", FAULT.format(type=fault, params=params))
    (error,) = errors_of(text)
    assert message in error and "spec.faults[0]" in error


def test_the_faults_load_with_good_params() -> None:
    faults = "".join(
        FAULT.format(type=t, params=p)
        for t, p in (
            ("etcd-member-crash", "{member: leader}"),
            ("etcd-member-crash", "{member: 2}"),
            ("apiserver-crash", "{replica: control-plane-1}"),
            ("control-plane-node-crash", "{node: controller-manager-leader}"),
        )
    )
    scenario = parse_scenario(with_control_plane("{nodes: 3}", faults))
    assert [s.fault.type for s in scenario.faults] == [
        "etcd-member-crash",
        "etcd-member-crash",
        "apiserver-crash",
        "control-plane-node-crash",
    ]


# ---------------------------------------------------------------------- metrics
def by_member(cluster: Cluster, name: str) -> dict[str, float]:
    families = [*control_plane_families(cluster), *etcd_families(cluster)]
    return {
        s.labels.get("member") or s.labels.get("replica", ""): s.value
        for f in families
        for s in f.samples
        if s.name == name
    }


async def test_etcd_member_and_replica_metrics_show_members_leader_and_quorum() -> None:
    """etcd's per-member gauges (server/etcdserver/metrics.go): ``etcd_server_has_leader``,
    ``etcd_server_is_leader`` and ``etcd_server_leader_changes_seen_total``, one series per
    member process (a dead one is not scraped), here labelled ``member``; up-ness of members and
    API server replicas, which Prometheus's ``up`` would give per scrape target."""
    async with ha_running() as cluster:
        await trio.sleep(5)
        etcd = cluster.control_plane.etcd
        old = etcd.members[etcd.leader or 0].name
        assert by_member(cluster, "etcd_server_is_leader") == {
            m.name: float(m.name == old) for m in etcd.members
        }
        assert set(by_member(cluster, "etcd_server_leader_changes_seen_total").values()) == {1}
        chaos = Chaos(cluster)
        await chaos.inject(EtcdMemberCrash(member="leader"))
        await chaos.inject(APIServerCrash(replica=2))
        assert by_member(cluster, "kubechaos_etcd_member_up")[old] == 0
        assert old not in by_member(cluster, "etcd_server_has_leader")
        assert set(by_member(cluster, "etcd_server_has_leader").values()) == {0.0}  # electing
        await trio.sleep(2.5)
        assert set(by_member(cluster, "etcd_server_has_leader").values()) == {1.0}
        assert sum(by_member(cluster, "etcd_server_is_leader").values()) == 1
        assert set(by_member(cluster, "etcd_server_leader_changes_seen_total").values()) == {2}
        assert by_member(cluster, "kubechaos_apiserver_replica_up") == {
            "control-plane-0": 1.0,
            "control-plane-1": 1.0,
            "control-plane-2": 0.0,
        }


# ---------------------------------------------------------------------- scenarios
def test_control_plane_node_loss_costs_one_failover_and_nothing_after() -> None:
    """scenarios/control-plane-node-loss.yaml: the controller-manager leader's node dies; the
    standby leads within leaseDuration + 2 jittered retries (client-go leaderelection.go); the
    kill in that gap waits for it, the kills before and after are repaired in seconds; no node
    goes NotReady (kubelets reconnect through the load balancer)."""
    run = run_of("control-plane-node-loss")
    death = injected_at(run, "lose-control-plane-node")
    became = [
        e.time
        for e in run.events.find(reason="LeaderElection")
        if e.component == "kube-controller-manager"
        and "became leader" in e.message
        and e.time > death
    ]
    assert len(became) == 1
    assert (
        LEASE_DURATION - RETRY_PERIOD <= became[0] - death <= LEASE_DURATION + 2 * ACQUIRE_RETRY_MAX
    )
    recovered = {e.object: e.time for e in run.events.find(reason="Recovered")}
    # whole a few seconds after the new leader acts, seen after the 10 s stability window
    assert became[0] <= recovered["kill-during-failover"] <= became[0] + 10 + 10
    assert not run.events.find(reason="NodeNotReady")


def test_etcd_quorum_loss_stops_writes_and_leaders_but_not_service_traffic() -> None:
    """scenarios/etcd-quorum-loss.yaml: 2 of 3 members down (etcd "Failure modes"): no leader;
    the scheduler and controller manager stop at renewDeadline (10 s); requests to the Service
    keep succeeding from kube-proxy's last rules; after quorum returns an election (1-2 s) and
    the standbys lead at their first read."""
    run = run_of("etcd-quorum-loss")
    start = injected_at(run, "member-2-down")
    back = reverted_at(run, "member-2-down")
    assert run.events.find(reason="QuorumLost")
    stopped = [
        e.time for e in run.events.find(reason="LeaderElection") if "stopped leading" in e.message
    ]
    assert len(stopped) == 2
    assert all(
        start + RENEW_DEADLINE <= t <= start + RENEW_DEADLINE + RETRY_PERIOD for t in stopped
    )
    (elected,) = run.events.find(reason="LeaderElected")
    assert back + 1.0 <= elected.time < back + 2.0
    became = [
        e.time
        for e in run.events.find(reason="LeaderElection")
        if "became leader" in e.message and e.time > back
    ]
    assert len(became) == 2 and max(became) <= elected.time + ACQUIRE_RETRY_MAX
    assert not run.events.find(reason="NodeNotReady")
    timeline = run.traffic.stats.timeline("default", "web")
    during = [(second, ok, failed) for second, ok, failed in timeline if start <= second <= back]
    assert len(during) >= 90 and all(failed == 0 and ok > 0 for _, ok, failed in during)


async def test_the_only_member_crashing_loses_quorum_and_its_return_elects_it() -> None:
    """One member is a quorum of one (etcd FAQ): its death leaves no leader, every write fails;
    back, it elects itself after its election timeout (1-2 s, raft's randomized timeout)."""
    async with ha_running(control_plane=1) as cluster:
        await trio.sleep(5)
        chaos = Chaos(cluster)
        crash = await chaos.inject(EtcdMemberCrash(member="leader"))
        assert cluster.events.find(reason="QuorumLost")
        with pytest.raises(errors.InternalError, match="no leader"):
            await write(cluster, "none")
        await chaos.revert(crash)
        back = trio.current_time()
        await write(cluster, "again")
        assert back + 1.0 <= trio.current_time() <= back + 2.1


async def test_a_client_reconnects_once_for_all_its_watches() -> None:
    """client-go multiplexes a client's watches over one HTTP/2 connection: when it breaks the
    client dials the load balancer once, and all its watches go to the new replica."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        replicas = cluster.control_plane.apiservers
        replica = replicas.replica_of("kube-proxy")  # it watches Services and EndpointSlices
        assert replica is not None
        watchers = {
            w.name
            for r in API_RESOURCES
            for w in cluster.api.cache(r).open_watches()
            if replicas.replica_of(w.name) == replica and "/control-plane-" not in w.name
        }
        watches = sum(
            1
            for r in API_RESOURCES
            for w in cluster.api.cache(r).open_watches()
            if w.name in watchers
        )
        assert len(watchers) >= 1 and watches > len(watchers)
        await Chaos(cluster).inject(APIServerCrash(replica=replica))
        assert replicas.reconnects_total == len(watchers)
        assert all(replicas.replica_of(name) != replica for name in watchers)


def test_several_control_plane_nodes_without_leader_election_is_an_error() -> None:
    """With ``--leader-elect=false`` every kube-scheduler and kube-controller-manager acts at
    once (component-base leaderelectionconfig): an HA control plane needs leader election."""
    text = with_control_plane("{nodes: 3}").replace(
        "      nodeMonitorGracePeriod: 40s\n",
        "      nodeMonitorGracePeriod: 40s\n      leaderElect: false\n",
    )
    (error,) = errors_of(text)
    assert "spec.cluster.settings.leaderElect: 3 control-plane nodes need leader election" in error


async def test_a_follower_dying_mid_election_leaves_one_election() -> None:
    """Five members (etcd FAQ: tolerates two failures): the leader dies, then a follower during
    the election; three are still a majority, so the one election goes on and elects a leader
    among the live members, once."""
    async with ha_running(control_plane=5, nodes=1) as cluster:
        await trio.sleep(5)
        etcd = cluster.control_plane.etcd
        chaos = Chaos(cluster)
        await chaos.inject(EtcdMemberCrash(member="leader"))
        await trio.sleep(0.5)
        live = next(i for i, m in enumerate(etcd.members) if m.up)
        await chaos.inject(EtcdMemberCrash(member=live))
        assert etcd.up_count() == 3
        await trio.sleep(5)
        assert len(cluster.events.find(reason="LeaderElected")) == 1
        assert etcd.leader is not None and etcd.members[etcd.leader].up
        assert not cluster.events.find(reason="QuorumLost")
        await write(cluster, "committed")


def test_an_explore_template_drawing_a_missing_member_is_an_error() -> None:
    """A ``spec.explore`` template is checked against the cluster for every value it may draw."""
    text = with_control_plane("{nodes: 3}") + (
        "  explore:\n"
        "    faults:\n"
        "      - type: etcd-member-crash\n"
        "        duration: 20s\n"
        "        params: {member: [0, leader, 4]}\n"
    )
    (error,) = errors_of(text)
    assert "spec.explore.faults[0].params" in error and "index 4" in error


async def test_every_replica_down_then_back_the_clients_reconnect() -> None:
    """With every API server replica down the load balancer has no backend: each dial is
    refused and informers retry with back-off (client-go reflector); once a replica is back
    they reconnect to it and resume from their last resourceVersion. 20 s is inside
    nodeMonitorGracePeriod (50 s): no node goes NotReady."""
    async with ha_running() as cluster:
        await web_cluster(cluster)
        chaos = Chaos(cluster)
        crashes = [await chaos.inject(APIServerCrash(replica=i)) for i in range(3)]
        with pytest.raises(errors.APIError, match="control-plane-endpoint:6443: connect"):
            await write(cluster, "refused")
        await trio.sleep(20)
        await chaos.revert(crashes[1])
        await write(cluster, "through-replica-1")
        replicas = cluster.control_plane.apiservers
        await wait_until(lambda: replicas.replica_of("kube-proxy") == 1, 30, "kube-proxy back")
        victim = pods(cluster)[0].metadata.name
        await cluster.api.delete("pods", "default", victim, grace_period_seconds=0)
        await wait_until(
            lambda: (
                available(cluster) == 3 and victim not in {p.metadata.name for p in pods(cluster)}
            ),
            40,
            "the pod replaced",
        )
        await trio.sleep(60)
        assert not cluster.events.find(reason="NodeNotReady")
