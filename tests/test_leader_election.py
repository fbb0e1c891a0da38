"""Leader election of kube-scheduler and kube-controller-manager, as upstream runs them.

Both hold a Lease in ``kube-system`` named after themselves (client-go tools/leaderelection,
defaults leaseDuration 15 s, renewDeadline 10 s, retryPeriod 2 s from component-base/config/
v1alpha1 defaults.go). A leader that cannot renew within renewDeadline loses the lease and the
process exits (OnStoppedLeading, "leaderelection lost"); the kubelet restarts the static pod, and
the new process (a new identity) acquires only once the Lease has gone unchanged for
leaseDuration as *it* observed it. The restarted controller manager relists everything: its node
lifecycle controller takes every node's heartbeat as "now".
"""

from __future__ import annotations

import attrs
import pytest
import trio

from kubechaos.api.objects import Lease
from kubechaos.cluster import Cluster
from kubechaos.control.bootstrap import bootstrap, new_control_plane
from kubechaos.control.controllermanager import ControllerManager
from kubechaos.control.leaderelection import ElectionTiming, LeaderElector
from kubechaos.defaults import Settings
from kubechaos.faults import Chaos, ControllerManagerCrash, EtcdUnavailable
from kubechaos.observe.metrics.components import leader_election_families
from kubechaos.scenario.loader import ScenarioError, parse_scenario

from .factories import deployment, service
from .harness import available, pods, running, wait_until
from .test_scenario_loader import GOOD

TIMING = ElectionTiming()  # upstream defaults: 15 s / 10 s / 2 s


def leader_events(cluster: Cluster, component: str, text: str) -> list[float]:
    return [
        e.time
        for e in cluster.events
        if e.component == component and e.reason == "LeaderElection" and text in e.message
    ]


def master_status(cluster: Cluster) -> dict[str, float]:
    (family,) = leader_election_families(cluster)
    return {s.labels["name"]: s.value for s in family.samples}


async def web_cluster(cluster: Cluster) -> None:
    await cluster.apply([deployment("web", 3), service("web")])
    await wait_until(lambda: available(cluster) == 3, 60, "web available")
    await trio.sleep(30)


async def test_both_components_lead_from_the_start_through_their_kube_system_leases() -> None:
    """Upstream: each component creates ``kube-system/<component>`` and records a LeaderElection
    event "<identity> became leader" (client-go tools/leaderelection/resourcelock/leaselock.go
    RecordEvent); the gauge ``leader_election_master_status{name}`` is 1
    (component-base/metrics/prometheus/clientgo/leaderelection/metrics.go)."""
    async with running(nodes=1) as cluster:
        await trio.sleep(5)
        for name in ("kube-scheduler", "kube-controller-manager"):
            lease: Lease = await cluster.api.get("leases", "kube-system", name)
            assert lease.spec.holder_identity.startswith("control-plane-0_")
            assert lease.spec.lease_duration_seconds == 15
            assert lease.spec.lease_transitions == 0
            assert lease.spec.renew_time is not None and lease.spec.renew_time > 3
            assert len(leader_events(cluster, name, "became leader")) == 1
        assert master_status(cluster) == {"kube-scheduler": 1, "kube-controller-manager": 1}


async def test_a_70s_etcd_outage_stops_the_controllers_and_the_restart_prevents_a_notready_storm() -> (
    None
):
    """Upstream: the leader's renew rounds fail while etcd has no leader; after renewDeadline
    (10 s; the round in progress started up to retryPeriod after the last renewal) it loses the
    lease, logs "leaderelection lost" and exits (cmd/kube-controller-manager/app/
    controllermanager.go, cmd/kube-scheduler/app/server.go). The restarted process waits
    leaseDuration (15 s) after it first reads the old record once etcd is back (observedTime,
    client-go leaderelection.go). Its node lifecycle controller starts every node's timestamps
    afresh ("Missing timestamp for Node ... Assuming now", pkg/controller/nodelifecycle), so no
    node is marked NotReady at the revert, whereas without leader election (the measured case)
    the surviving controller manager marks them all NotReady at once. While nobody leads, a
    deleted pod is not replaced."""
    async with running(nodes=3) as cluster:
        await web_cluster(cluster)
        chaos = Chaos(cluster)
        start = trio.current_time()
        outage = await chaos.inject(EtcdUnavailable())
        await trio.sleep(15)
        for name in ("kube-scheduler", "kube-controller-manager"):
            (lost,) = leader_events(cluster, name, "stopped leading")
            assert start + TIMING.renew_deadline <= lost <= start + 12.5
        assert cluster.events.find(reason="LeaderElectionLost")
        assert master_status(cluster) == {"kube-scheduler": 0, "kube-controller-manager": 0}
        await trio.sleep(55)
        await chaos.revert(outage)
        revert = trio.current_time()
        await trio.sleep(2)
        victim = pods(cluster)[0]
        await cluster.api.delete("pods", "default", victim.metadata.name, grace_period_seconds=0)
        gone = victim.metadata.name

        def replaced_pod() -> bool:
            names = {p.metadata.name for p in pods(cluster)}
            return gone not in names and len(names) == 3

        await wait_until(replaced_pod, 60, "web replaced", step=0.1)
        replaced = trio.current_time()
        for name in ("kube-scheduler", "kube-controller-manager"):
            became = leader_events(cluster, name, "became leader")
            assert len(became) == 2
            # the new identity waits a full leaseDuration after its first read post-outage
            assert revert + TIMING.lease_duration <= became[1] <= revert + 15 + 2 * 4.4
        manager_back = leader_events(cluster, "kube-controller-manager", "became leader")[1]
        assert replaced > manager_back  # nothing replaced the pod while nobody led
        acted = [
            e
            for e in cluster.events
            if start + 12.5 < e.time < manager_back
            and (e.component.endswith("-controller") or e.component == "default-scheduler")
        ]
        assert acted == []  # no controller and no scheduler acted in the gap
        manager = cluster.controller_manager.instance
        assert isinstance(manager, ControllerManager)  # a fresh one: its heartbeats are "now"
        assert all(
            h.probe_timestamp >= manager_back for h in manager.node_lifecycle.health.values()
        )
        await trio.sleep(60)
        assert not cluster.events.find(reason="NodeNotReady")
        assert all(n.is_ready() for n in (await cluster.api.list("nodes"))[0])


async def test_without_leader_election_a_70s_outage_marks_every_node_notready_at_revert() -> None:
    """The measured case, upstream ``--leader-elect=false``: the controller manager keeps
    running through the outage, has seen no Lease renewal for over node-monitor-grace-period
    (50 s) and marks the nodes NotReady at its first pass after etcd returns."""
    settings = Settings(leader_elect=False)
    async with running(nodes=3, settings=settings) as cluster:
        await web_cluster(cluster)
        chaos = Chaos(cluster)
        outage = await chaos.inject(EtcdUnavailable())
        await trio.sleep(70)
        await chaos.revert(outage)
        await trio.sleep(30)
        assert not cluster.events.find(reason="LeaderElection")
        assert len({e.object for e in cluster.events.find(reason="NodeNotReady")}) >= 2
        assert master_status(cluster) == {}
        with pytest.raises(Exception, match="not found"):
            await cluster.api.get("leases", "kube-system", "kube-controller-manager")


async def test_an_outage_shorter_than_renew_deadline_changes_nothing() -> None:
    """Upstream: a renew round retries every retryPeriod for up to renewDeadline (10 s); an
    outage shorter than that is absorbed by the retries (client-go leaderelection.go renew):
    the same identity keeps leading and nothing restarts."""
    async with running(nodes=2) as cluster:
        await web_cluster(cluster)
        manager = cluster.controller_manager.instance
        chaos = Chaos(cluster)
        outage = await chaos.inject(EtcdUnavailable())
        await trio.sleep(7.5)
        await chaos.revert(outage)
        await trio.sleep(30)
        for name in ("kube-scheduler", "kube-controller-manager"):
            assert len(leader_events(cluster, name, "became leader")) == 1
            assert not leader_events(cluster, name, "stopped leading")
        assert cluster.controller_manager.instance is manager
        assert master_status(cluster) == {"kube-scheduler": 1, "kube-controller-manager": 1}


async def test_a_crashed_controller_manager_restarts_as_a_new_identity_and_waits_lease_duration() -> (
    None
):
    """Upstream: a killed kube-controller-manager does not release its Lease; the new process
    (hostname + "_" + a fresh UUID, cmd/kube-controller-manager/app/controllermanager.go) sees a
    record held by someone else and must watch it go unchanged for leaseDuration before taking
    it (client-go leaderelection.go tryAcquireOrRenew), which counts a leader transition."""
    async with running(nodes=1) as cluster:
        await trio.sleep(10)
        chaos = Chaos(cluster)
        crash = await chaos.inject(ControllerManagerCrash())
        await trio.sleep(3)
        await chaos.revert(crash)
        restart = trio.current_time()
        await trio.sleep(1)
        assert cluster.controller_manager.instance is None  # waiting for the Lease
        assert master_status(cluster)["kube-controller-manager"] == 0
        await wait_until(
            lambda: isinstance(cluster.controller_manager.instance, ControllerManager),
            30,
            "the restarted controller manager to lead",
            step=0.1,
        )
        assert trio.current_time() >= restart + TIMING.lease_duration
        lease: Lease = await cluster.api.get("leases", "kube-system", "kube-controller-manager")
        assert lease.spec.lease_transitions == 1
        first, second = leader_events(cluster, "kube-controller-manager", "became leader")
        assert first < restart < second


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
async def test_a_standby_takes_over_only_after_lease_duration_as_it_observed_it(seed: int) -> None:
    """Two candidates for one Lease (HA control planes; the model runs one, a second is a
    parameter). Upstream (client-go leaderelection.go): the standby re-reads the Lease every
    retryPeriod..retryPeriod*(1+JitterFactor 1.2) and restarts its clock (observedTime) whenever
    the record changed; it never takes a Lease the leader keeps renewing, and after the leader
    dies it takes over no sooner than leaseDuration after the leader's last renewal and no later
    than leaseDuration plus two of its retry intervals (one to observe the last record, one for
    the try after expiry)."""
    _, ctx = new_control_plane(seed)
    await bootstrap(ctx)
    rng = ctx.stream("test")
    a = LeaderElector(ctx.api, ctx.events, "kube-scheduler", "host-a_1", TIMING, rng)
    b = LeaderElector(ctx.api, ctx.events, "kube-scheduler", "host-b_2", TIMING, rng)
    async with trio.open_nursery() as nursery:
        await a.acquire()
        leader = trio.CancelScope()

        async def lead() -> None:
            with leader:
                await a.renew()

        nursery.start_soon(lead)
        acquired: list[float] = []

        async def stand_by() -> None:
            await b.acquire()
            acquired.append(trio.current_time())

        nursery.start_soon(stand_by)
        await trio.sleep(60 + seed)
        assert not acquired and a.is_leader()
        leader.cancel()  # the leader dies
        died = trio.current_time()
        last_renewal = a.observed_time
        await trio.sleep(40)
        (took_over,) = acquired
        max_retry = TIMING.retry_period * 2.2
        assert last_renewal + TIMING.lease_duration <= took_over
        assert took_over <= died + TIMING.lease_duration + 2 * max_retry
        lease: Lease = await ctx.api.get("leases", "kube-system", "kube-scheduler")
        assert lease.spec.holder_identity == "host-b_2" and lease.spec.lease_transitions == 1
        nursery.cancel_scope.cancel()


def test_scenario_settings_switch_leader_election_off_and_check_its_timings() -> None:
    """``leaderElect: false`` is upstream's ``--leader-elect=false``; timings client-go's
    NewLeaderElector would refuse (leaseDuration <= renewDeadline, renewDeadline <=
    retryPeriod * 1.2) are one located error each."""
    text = GOOD.replace("settings:", "settings:\n      leaderElect: false", 1)
    assert parse_scenario(text).cluster.settings.leader_elect is False
    bad = GOOD.replace("settings:", "settings:\n      leaderElect: 'no'", 1)
    with pytest.raises(ScenarioError, match="leaderElect: expected true or false"):
        parse_scenario(bad)
    short = GOOD.replace("settings:", "settings:\n      leaderElectionLeaseDuration: 10s", 1)
    with pytest.raises(ScenarioError, match="LeaseDuration must be greater than"):
        parse_scenario(short)
    assert attrs.fields(Settings).leader_elect.default is True
