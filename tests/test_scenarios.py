"""Every ready-made scenario under scenarios/ is valid, runs to its end, ends with the SLO verdicts
its comment promises, and shows the behaviour it was written to teach.

Each scenario is run once per test session (``run_of``, in tests/golden.py, caches the runs; the
golden comparison reads the same runs), so the behaviour tests below cost nothing beyond the
parametrized run of the whole library.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import attrs
import jsonschema
import pytest

from kubechaos.api.objects import Pod
from kubechaos.defaults import (
    CONTROLLER_EXPECTATIONS_TIMEOUT,
    NODE_LEASE_RENEW_INTERVAL_FRACTION,
    Settings,
)
from kubechaos.faults import CATALOGUE
from kubechaos.report.html.page import render_html
from kubechaos.report.result import result_of
from kubechaos.report.result import schema as result_schema
from kubechaos.scenario.loader import load_scenario
from kubechaos.scenario.runner import Run, run_scenario
from kubechaos.sim.events import Event
from tests.golden import run_of, scenario_of

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
ALL_SCENARIOS = sorted(SCENARIO_DIR.glob("*.yaml"))
# Those running external processes (own-controller) run in wall time against real programs:
# tests/test_kopf_operator.py runs them, not the model alone.
SCENARIOS = [p for p in ALL_SCENARIOS if not load_scenario(p).processes]
# a restarted kube-scheduler / kube-controller-manager acts only once its old Lease has expired
LEASE_DURATION = Settings().leader_election_lease_duration

# scenario -> do all its SLOs hold? Only a scenario whose point is a violation may say False, and
# its top comment must say so (at most two of them).
EXPECTED_SLO_OK = {
    "anti-affinity-node-crash": True,
    "apiserver-brownout": True,
    "container-failures": True,
    "controller-manager-crash": True,
    "control-plane-node-loss": True,
    "crashloop": True,
    "daemonset-node-reboot": True,
    "degraded-network": True,
    "drain-blocked-by-pdb": True,
    "drain-during-registry-outage": True,
    "etcd-outage": True,
    "etcd-outage-leader-loss": True,
    "etcd-quorum-loss": True,
    "etcd-silent-write-drop": True,
    "hpa-node-loss": True,
    "hung-container": True,
    "job-pods-killed": True,
    "kubelet-stop": True,
    "node-crash": True,
    "node-reboot": True,
    "pod-kill": True,
    "preemption-storm": True,
    "proxy-partition": False,  # a 99% availability objective broken by a stale route
    "quickstart": True,
    "prestop-rollout": True,
    "rollout-silent-drops": True,
    "scheduler-crash": True,
    "service-traffic-policies": True,
    "slow-init-recovery": True,
    "singleton-rollout": True,
    "stale-informers": True,
    "statefulset-force-delete": True,
    "statefulset-node-crash": True,
    "statefulset-out-of-service": True,
    "zone-partition": True,
    "zone-spread-partition": True,
    "zone-outage-small": True,
    "zone-outage-large": True,
    "all-kubelets-stop": True,
    "scores": True,
}


def fault_events(run: Run, fault: str, reason: str) -> list[Event]:
    return [e for e in run.events.find(reason=reason, kind="Fault") if e.object == fault]


def injected_at(run: Run, fault: str) -> float:
    (event,) = fault_events(run, fault, "FaultInjected")
    return event.time


def reverted_at(run: Run, fault: str) -> float:
    (event,) = fault_events(run, fault, "FaultReverted")
    return event.time


def times(run: Run, reason: str, after: float = 0.0, before: float = float("inf")) -> list[float]:
    return [e.time for e in run.events.find(reason=reason) if after <= e.time < before]


def default_pods(run: Run) -> list[Pod]:
    return list(run.cluster.api.cache("pods").list("default"))


def ready_since(pod: Pod) -> float | None:
    for condition in pod.status.conditions:
        if condition.type == "Ready" and condition.status == "True":
            return condition.last_transition_time
    return None


def restarts(run: Run) -> int:
    return sum(cs.restart_count for p in default_pods(run) for cs in p.status.container_statuses)


# ---------------------------------------------------------------------- the whole library
@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_runs(path: Path) -> None:
    scenario = scenario_of(path.stem)
    assert scenario.description, "every scenario says what it shows"
    assert scenario.slos, "every scenario states what it teaches as SLOs"
    run = run_of(path.stem)
    assert run.finished_at == scenario.duration
    assert run.traffic.stats.totals_by_service() or not scenario.traffic
    assert not run.events.find(reason="FaultFailed"), "every fault of a scenario takes effect"


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_slo_verdicts_are_as_documented(path: Path) -> None:
    assert path.stem in EXPECTED_SLO_OK, "add the scenario to EXPECTED_SLO_OK"
    run = run_of(path.stem)
    violated = [r.slo.name for r in run.results if not r.ok]
    assert run.slo_ok is EXPECTED_SLO_OK[path.stem], violated
    header = path.read_text(encoding="utf-8").split("apiVersion:")[0]
    assert ("INTENTIONALLY FAILS" in header) is (not EXPECTED_SLO_OK[path.stem])


def test_the_library_is_complete() -> None:
    assert {p.stem for p in SCENARIOS} == set(EXPECTED_SLO_OK)
    assert len(SCENARIOS) >= 12
    assert sum(not ok for ok in EXPECTED_SLO_OK.values()) <= 2


def test_every_catalogue_type_is_used_by_a_scenario() -> None:
    used = {s.fault.type for p in ALL_SCENARIOS for s in load_scenario(p).faults}
    assert used == set(CATALOGUE), f"unused: {sorted(set(CATALOGUE) - used)}"


# ---------------------------------------------------------------------- what each one teaches
def test_crashloop_backs_off() -> None:
    run = run_of("crashloop")
    assert run.events.find(reason="BackOff")
    pods = run.cluster.api.cache("pods").list("default")
    assert all(p.status.container_statuses[0].restart_count >= 4 for p in pods)


def test_node_crash_replacement_after_grace_period_plus_toleration() -> None:
    run = run_of("node-crash")
    s = run.cluster.ctx.settings
    crash = injected_at(run, "crash-worker-1")
    # The node's last Lease renewal may predate the crash by up to one renew interval; the node
    # lifecycle controller notices the silence at its next monitor pass.
    renew = s.node_lease_duration_seconds * NODE_LEASE_RENEW_INTERVAL_FRACTION
    grace = s.node_monitor_grace_period
    (not_ready,) = [e.time for e in run.events.find(reason="NodeNotReady", obj="worker-1")]
    assert grace - renew <= not_ready - crash <= grace + s.node_monitor_period
    toleration = s.default_unreachable_toleration_seconds
    (eviction,) = times(run, "TaintManagerEviction", after=crash)
    # The NoExecute taint comes from the next monitor pass, which observes the Unknown the
    # previous one wrote (node_lifecycle_controller.go processTaintBaseEviction).
    period = s.node_monitor_period
    assert toleration + period - 0.1 <= eviction - not_ready <= toleration + period + 1
    replacements = [p for p in default_pods(run) if p.metadata.creation_timestamp > crash]
    assert len(replacements) == 1 and replacements[0].spec.node_name != "worker-1"
    ready = ready_since(replacements[0])
    assert ready is not None
    assert grace - renew + toleration <= ready - crash <= grace + toleration + 60
    (recovery,) = run.steady.recoveries
    assert recovery.seconds is not None and recovery.seconds > grace + toleration - renew


def test_convergence_follows_the_daemonset_like_kubectl_rollout_status() -> None:
    """kubectl rollout status daemonset (its DaemonSetStatusViewer): complete when the
    controller saw the latest spec and updatedNumberScheduled and numberAvailable equal
    desiredNumberScheduled. The convergence watch used to follow Deployments only, so a
    DaemonSet's nodes never showed in the timeline (and a DaemonSet-only run never converged)."""
    run = run_of("daemonset-node-reboot")
    crash = injected_at(run, "worker-1-down")
    reboot = reverted_at(run, "worker-1-down")
    degraded = times(run, "DaemonSetDegraded")
    available = times(run, "DaemonSetAvailable")
    assert available[0] < crash and degraded and crash < degraded[0] < reboot
    booted = reboot + boot_seconds(run)  # Ready once booted (kubechaos/node/boot.py)
    assert any(booted < t < booted + 30 for t in available), "Ready again after the reboot"
    (first, *_) = run.events.find(reason="Converged")
    assert first.message == "all 1 deployments and 1 daemonsets available"
    assert run.convergence.converged


def test_daemonset_pod_stays_bound_through_a_long_node_outage() -> None:
    """pkg/controller/daemon (util.AddOrUpdateDaemonPodTolerations, NodeShouldRunDaemonPod,
    updateDaemonSetStatus): the crashed node's agent tolerates the unreachable NoExecute taint
    without limit, so taint eviction deletes only the web pod; the agent is marked NotReady,
    the node stops counting as desired (its NoSchedule taint) while its agent counts as
    misscheduled, and after the reboot the same pod runs Ready on worker-1 again."""
    run = run_of("daemonset-node-reboot")
    crash = injected_at(run, "worker-1-down")
    reboot = reverted_at(run, "worker-1-down")
    agents = [p for p in default_pods(run) if p.metadata.labels.get("app") == "log-agent"]
    (agent,) = [p for p in agents if p.spec.node_name == "worker-1"]
    assert len(agents) == 3 and agent.metadata.creation_timestamp < crash
    evicted = [e.object for e in run.events.find(reason="TaintManagerEviction")]
    assert evicted and all(not name.startswith("default/log-agent") for name in evicted)
    not_ready = [
        e.time for e in run.events.find(reason="NodeNotReady", obj=f"default/{agent.metadata.name}")
    ]
    assert len(not_ready) == 1 and crash < not_ready[0] < reboot
    ready = ready_since(agent)
    booted = reboot + boot_seconds(run)  # OS, kubelet, runtime and CNI (kubechaos/node/boot.py)
    assert ready is not None and booted < ready < booted + 30
    history = run.history.daemonsets["default/log-agent"]
    down = [(d, a) for t, d, a in history if crash < t < reboot]
    assert (2, 2) in down and all(d >= 2 for d, _ in down)
    status = (
        run.cluster.api.cache("daemonsets").get("/registry/daemonsets/default/log-agent").status
    )
    assert (status.desired_number_scheduled, status.number_available) == (3, 3)
    assert status.number_misscheduled == 0


def test_proxy_partition_strands_the_partitioned_node_on_a_stale_route() -> None:
    run = run_of("proxy-partition")
    stats = run.traffic.stats
    refused = {n: stats.count("default", "web", "connection_refused", n) for n in run.cluster.nodes}
    # worker-0 (a third of the 20 rps) sends a third of its requests to the dead IP from the
    # kill until the partition heals
    stale = reverted_at(run, "stale-proxy-worker-0") - injected_at(run, "kill-one-web-pod")
    expected = 20 / 3 * stale / 3
    assert 0.8 * expected <= refused["worker-0"] <= 1.2 * expected
    # the other nodes' proxies dropped the dead IP within their min-sync period
    assert refused["worker-1"] + refused["worker-2"] <= 3
    for node in ("worker-1", "worker-2"):
        assert stats.count("default", "web", "success", node) > 0
    (availability,) = [r for r in run.results if r.slo.kind == "availability"]
    assert not availability.ok and all(r.ok for r in run.results if r is not availability)


def test_controller_manager_crash_defers_the_replacement_until_the_restart() -> None:
    run = run_of("controller-manager-crash")
    kill, restart = injected_at(run, "kill-one-web-pod"), reverted_at(run, "kcm-down")
    assert not times(run, "SuccessfulCreate", after=kill, before=restart)
    (created,) = times(run, "SuccessfulCreate", after=kill)
    # the restarted process leads only once its old Lease expired as it observed it
    assert LEASE_DURATION <= created - restart < LEASE_DURATION + 5
    # Endpoints were not updated either: every node routed to the dead IP meanwhile
    stats = run.traffic.stats
    assert all(
        stats.count("default", "web", "connection_refused", n) > 50 for n in run.cluster.nodes
    )


def test_scheduler_crash_leaves_the_replacement_pending_until_the_restart() -> None:
    run = run_of("scheduler-crash")
    kill, restart = injected_at(run, "kill-one-web-pod"), reverted_at(run, "scheduler-down")
    (created,) = times(run, "SuccessfulCreate", after=kill)
    assert created - kill < 1.0
    (scheduled,) = times(run, "Scheduled", after=kill)
    assert restart + LEASE_DURATION <= scheduled < restart + LEASE_DURATION + 5


def test_etcd_silent_drops_stall_the_replicaset_for_its_expectations_timeout() -> None:
    run = run_of("etcd-silent-write-drop")
    assert run.cluster.etcd.writes_dropped_total["silent"] >= 2
    restart = reverted_at(run, "kcm-upgrade")
    lost, again = [e for e in run.events.find(reason="SuccessfulCreate") if e.time > restart]
    assert LEASE_DURATION <= lost.time - restart < LEASE_DURATION + 5  # leading again
    # acknowledged, never stored: the pod the restarted controller created does not exist
    existing = {p.metadata.name for p in default_pods(run)}
    assert lost.message.split()[-1] not in existing and again.message.split()[-1] in existing
    delay = again.time - lost.time
    assert CONTROLLER_EXPECTATIONS_TIMEOUT <= delay <= CONTROLLER_EXPECTATIONS_TIMEOUT + 5
    # the kubelet re-posted the status writes etcd lost: the API shows the OOM kill's restart
    assert restarts(run) == 1


def test_etcd_outage_costs_the_leases_and_marks_no_node_not_ready() -> None:
    """Both quorum losses outlast renewDeadline (10 s): the scheduler and controller manager lose
    their Leases and restart; the restarted node lifecycle controller takes every heartbeat as
    "now", so the long one marks no node NotReady (see tests/test_leader_election.py for the
    run without leader election, which does)."""
    run = run_of("etcd-outage")
    assert not run.events.find(reason="NodeNotReady")
    for fault in ("short-quorum-loss", "long-quorum-loss"):
        start, end = injected_at(run, fault), reverted_at(run, fault)
        lost = [e for e in run.events.find(reason="LeaderElectionLost") if start < e.time < end]
        assert {e.component for e in lost} == {"kube-scheduler", "kube-controller-manager"}
        became = [
            e.time
            for e in run.events.find(reason="LeaderElection")
            if "became leader" in e.message and e.time > end
        ]
        assert len(became) >= 2 and min(became) >= end + LEASE_DURATION


def test_kubelet_stop_takes_healthy_pods_out_of_the_service_without_a_restart() -> None:
    run = run_of("kubelet-stop")
    assert run.events.find(reason="NodeNotReady", obj="worker-1")
    assert not [e for e in run.events.find(reason="TaintManagerEviction") if "Marking" in e.message]
    assert restarts(run) == 0
    assert run.traffic.stats.count("default", "web", "timeout") == 0


def test_a_reboot_under_the_grace_period_is_not_one_once_the_node_has_to_boot() -> None:
    """kubechaos/node/boot.py: 40 s off is under node-monitor-grace-period (50 s), but the node
    is silent until its kubelet has started (OS boot, kubelet start), so the node lifecycle
    controller marks it NotReady (node_lifecycle_controller.go tryUpdateNodeHealth); the kubelet
    then reports NotReady itself (KubeletNotReady) until the runtime and CNI are ready
    (pkg/kubelet/nodestatus/setters.go ReadyCondition). The pod restarts in place."""
    run = run_of("node-reboot")
    s = run.cluster.ctx.settings
    crash = injected_at(run, "reboot-worker-1")
    reboot = reverted_at(run, "reboot-worker-1")
    marked = [e.time for e in run.events.find(reason="NodeNotReady", obj="worker-1")]
    controller, kubelet = marked
    # the grace period runs from its last Lease renewal, up to 10 s (+4 %) before the crash
    renew = s.node_lease_duration_seconds / 4 * 1.04
    assert crash + s.node_monitor_grace_period - renew <= controller < reboot + s.node_boot_duration
    assert kubelet > reboot + s.node_boot_duration + s.kubelet_startup_duration
    (ready,) = [e.time for e in run.events.find(reason="NodeReady", obj="worker-1")
                if e.component == "kubelet" and e.time > reboot]  # fmt: skip
    assert reboot + boot_seconds(run) <= ready < reboot + boot_seconds(run) + 0.5
    assert len(default_pods(run)) == 3 and restarts(run) == 1
    assert run.traffic.stats.count("default", "web", "timeout") > 100


def boot_seconds(run: Run) -> float:
    """How long a node takes from power-on to Ready: OS, kubelet, runtime, CNI."""
    s = run.cluster.ctx.settings
    return (
        s.node_boot_duration
        + s.kubelet_startup_duration
        + s.container_runtime_startup_duration
        + s.cni_startup_duration
    )


def test_zone_partition_evicts_the_cut_zone_after_grace_period_plus_toleration() -> None:
    run = run_of("zone-partition")
    s = run.cluster.ctx.settings
    cut = injected_at(run, "cut-zone-a")
    evictions = [
        e.time for e in run.events.find(reason="TaintManagerEviction") if "Marking" in e.message
    ]
    assert len(evictions) == 2
    first, second = evictions
    grace, period = s.node_monitor_grace_period, s.node_monitor_period
    toleration = s.default_unreachable_toleration_seconds
    assert grace + period + toleration - 10 <= first - cut <= grace + 2 * period + toleration
    # zone-a is FullDisruption beside Normal zones: its nodes are tainted at nodeEvictionRate
    # (0.1/s), so the second node's pods go 10 s after the first's (handleDisruption,
    # HealthyQPSFunc).
    assert 9.9 <= second - first <= 10.3
    (change, back) = [e.message for e in run.events.find(reason="ZoneStateChange")]
    assert change == "Controller detected that zone ::zone-a is now in state FullDisruption."
    assert back == "Controller detected that zone ::zone-a is now in state Normal."
    late = [p for p in default_pods(run) if p.metadata.creation_timestamp > cut]
    assert len(late) == 2 and all(not p.spec.node_name.startswith("zone-a") for p in late)


def marked_for_deletion(run: Run) -> list[float]:
    return [
        e.time for e in run.events.find(reason="TaintManagerEviction") if "Marking" in e.message
    ]


def test_zone_outage_small_taints_the_dead_zone_at_the_normal_rate() -> None:
    """A fully disrupted zone beside a healthy one is tainted at nodeEvictionRate (0.1/s):
    zone-a's three nodes' pods are evicted 10 s apart (handleDisruption, HealthyQPSFunc)."""
    run = run_of("zone-outage-small")
    crash = injected_at(run, "zone-a-down")
    (change,) = [e.message for e in run.events.find(reason="ZoneStateChange")]
    assert change == "Controller detected that zone ::zone-a is now in state FullDisruption."
    batches = sorted({round(t) for t in marked_for_deletion(run)})
    assert [b - batches[0] for b in batches] == [0, 10, 20]
    assert 350 <= batches[0] - crash <= 360
    assert not run.events.find(reason="EnteringMasterDisruptionMode")
    live = [p for p in default_pods(run) if p.metadata.deletion_timestamp is None]
    assert len(live) == 6 and all(p.spec.node_name.startswith("zone-b") for p in live)


def test_zone_outage_large_taints_at_the_secondary_rate() -> None:
    """A partially disrupted zone of more than largeClusterSizeThreshold (50) nodes is tainted
    at secondaryNodeEvictionRate 0.01/s: one dead node's pods every 100 s (ReducedQPSFunc)."""
    run = run_of("zone-outage-large")
    (change,) = [e.message for e in run.events.find(reason="ZoneStateChange")]
    assert change == "Controller detected that zone ::zone-a is now in state PartialDisruption."
    evictions = marked_for_deletion(run)
    assert len(evictions) == 5
    assert all(99.9 <= b - a <= 100.2 for a, b in itertools.pairwise(evictions))


def test_all_kubelets_stop_evicts_nothing_in_master_disruption_mode() -> None:
    """Every zone fully disrupted: master disruption mode, no taint, no eviction; the pods are
    Ready again when the kubelets return, without a restart (handleDisruption)."""
    run = run_of("all-kubelets-stop")
    stop, back = injected_at(run, "all-kubelets-down"), reverted_at(run, "all-kubelets-down")
    (entered,) = times(run, "EnteringMasterDisruptionMode")
    (left,) = times(run, "ExitingMasterDisruptionMode")
    assert stop + 40 <= entered <= stop + 60 and back <= left <= back + 6
    assert not run.events.find(reason="TaintManagerEviction")
    assert len(default_pods(run)) == 3 and restarts(run) == 0


def test_stale_informers_a_dropped_deletion_waits_for_a_relist() -> None:
    run = run_of("stale-informers")
    kill, restart = injected_at(run, "kill-during-drop"), injected_at(run, "restart-kcm")
    assert not times(run, "SuccessfulCreate", after=kill, before=restart)
    assert times(run, "SuccessfulCreate", after=restart)


def test_drain_during_registry_outage_waits_for_the_pull_back_off() -> None:
    run = run_of("drain-during-registry-outage")
    drain, registry_back = injected_at(run, "drain-worker-0"), reverted_at(run, "registry-down")
    (replacement,) = [p for p in default_pods(run) if p.metadata.creation_timestamp > drain]
    assert replacement.spec.node_name == "spare-0"
    key = f"default/{replacement.metadata.name}"
    assert run.events.find(reason="Failed", obj=key)
    (pulled,) = [e.time for e in run.events.find(reason="Pulled", obj=key)]
    assert pulled > registry_back


def test_drain_blocked_by_pdb_evicts_nothing_until_a_fourth_replica_is_ready() -> None:
    """eviction.go refuses (429) while the budget allows no disruption; drain.go retries every
    5 s; the disruption controller allows one once the scaled-up replica is Ready elsewhere;
    drain.go waitForDelete reports the pod evicted once it is gone, after it was killed."""
    run = run_of("drain-blocked-by-pdb")
    drain = injected_at(run, "drain-worker-0")
    assert len(times(run, "EvictionRefused", before=drain)) == 1  # pod-evict: tried once
    refused = times(run, "EvictionRefused", after=drain)
    assert refused and refused[0] < drain + 1
    assert all(4.9 < b - a < 5.2 for a, b in itertools.pairwise(refused))
    (evicted,) = [e.time for e in run.events.find(reason="Evicted")]
    assert evicted > 180 + 2  # only after the fourth replica (applied at 3m) is Ready
    killed = times(run, "Killing")
    assert killed and all(t > refused[-1] for t in killed), "nothing dies while refused"
    assert killed[0] < evicted <= killed[0] + 1 + 1  # gone, then seen within a 1 s poll
    assert run.events.find(reason="Drained")


def test_hpa_node_loss_holds_for_the_crash_and_scales_out_for_the_surge() -> None:
    """pkg/controller/podautoscaler/replica_calculator.go: the dead node's pod has no metrics and
    counts as 0% on a scale-up, so the crash alone changes nothing (within the 0.1 tolerance);
    the surge at 3m puts the whole load over target and the next 15 s sync scales out, long
    before taint eviction replaces the dead pod (node-monitor grace 50 s + 300 s)."""
    run = run_of("hpa-node-loss")
    crash = injected_at(run, "crash-worker-1")
    rescales = run.events.find(reason="SuccessfulRescale")
    assert [e.message for e in rescales] == [
        "New size: 5; reason: cpu resource utilization (percentage of request) above target"
    ]
    (scaled,) = [e.time for e in rescales]
    assert 180 < scaled <= 180 + 15 + 1, "the first sync after the surge"
    (evicted,) = times(run, "TaintManagerEviction")
    assert evicted > crash + 40 + 300 > scaled  # grace 50 s from the last heartbeat (<= 10 s)
    hpa = run.cluster.api.cache("horizontalpodautoscalers").list()[0]
    assert (hpa.status.current_replicas, hpa.status.desired_replicas) == (5, 5)


def test_a_lost_binding_wedges_the_rollout_until_the_scheduler_restarts() -> None:
    run = run_of("rollout-silent-drops")
    restart = next(
        e.time for e in run.events.find(reason="FaultReverted") if e.object == "scheduler-restart"
    )
    scaled = [e.time for e in run.events.find(reason="ScalingReplicaSet")]
    stalled = [t for t in scaled if 181 < t < restart]
    assert stalled == [], "nothing moves while the assumed pod waits"
    assert any(restart < t < restart + 60 for t in scaled), "the rollout resumes after the restart"
    (web,) = run.cluster.api.cache("deployments").list()
    assert web.status.updated_replicas == 3 and web.status.available_replicas == 3
    assert run.cluster.etcd.writes_dropped_total["silent"] >= 1


def _db_1_creations(run: Run) -> list[float]:
    return [
        e.time
        for e in run.events.find(reason="SuccessfulCreate")
        if e.message == "create Pod db-1 in StatefulSet db successful"
    ]


def test_statefulset_pod_on_a_dead_node_is_never_replaced() -> None:
    """statefulset-node-crash: taint eviction marks db-1 for deletion 300 s after the node is
    unreachable, nothing completes the deletion, and the StatefulSet controller never creates a
    second db-1: the crash is NotRecovered and the set ends 2/3 ready."""
    run = run_of("statefulset-node-crash")
    crash = injected_at(run, "crash-db-1-node")
    (evicted,) = [e for e in run.events.find(reason="TaintManagerEviction")]
    assert evicted.object == "default/db-1" and evicted.time - crash >= 300
    assert len(_db_1_creations(run)) == 1
    pod = run.cluster.api.cache("pods").get("/registry/pods/default/db-1")
    assert pod is not None and pod.metadata.deletion_timestamp is not None
    assert run.events.find(reason="NotRecovered")
    sts = run.cluster.api.cache("statefulsets").get("/registry/statefulsets/default/db")
    assert (sts.status.replicas, sts.status.ready_replicas) == (3, 2)


def test_statefulset_force_delete_replaces_the_terminating_pod_at_once() -> None:
    """statefulset-force-delete: the pod-kill with gracePeriod 0s removes the Terminating db-1,
    and the StatefulSet controller creates db-1 again within a second, on a live node."""
    run = run_of("statefulset-force-delete")
    kill = injected_at(run, "force-delete-db-1")
    first, again = _db_1_creations(run)
    assert first < injected_at(run, "crash-db-1-node") and 0 <= again - kill < 1.0
    pod = run.cluster.api.cache("pods").get("/registry/pods/default/db-1")
    assert pod is not None and pod.is_ready() and pod.spec.node_name != "worker-1"
    recovery = [e for e in run.events.find(reason="Recovered") if e.object == "force-delete-db-1"]
    assert recovery


def test_statefulset_out_of_service_taint_has_pod_gc_replace_the_terminating_pod() -> None:
    """statefulset-out-of-service: pod GC (pkg/controller/podgc gc_controller.go
    gcTerminating) force-deletes the Terminating db-1 of the NotReady node at its first pass
    after the out-of-service taint (within gcCheckPeriod, 20 s), and the StatefulSet controller
    creates db-1 again on a live node ("Non-Graceful Node Shutdown" docs)."""
    run = run_of("statefulset-out-of-service")
    taint = injected_at(run, "out-of-service-taint")
    first, again = _db_1_creations(run)
    assert first < injected_at(run, "crash-db-1-node") and 0 <= again - taint <= 20
    (gc,) = run.events.find(reason="PodGCForceDelete")
    assert gc.object == "default/db-1" and gc.time <= again
    pod = run.cluster.api.cache("pods").get("/registry/pods/default/db-1")
    assert pod is not None and pod.is_ready() and pod.spec.node_name != "worker-1"


def test_job_pods_killed_complete_later_with_the_replacements() -> None:
    """job_controller.go: killed pods count as failed (isPodFailed), the replacements wait the
    back-off of two consecutive failures (20 s, backoff_utils.go), and the Job still completes,
    later than the same scenario without the kill."""
    run = run_of("job-pods-killed")
    kill = injected_at(run, "kill-workers")
    (job,) = run.cluster.api.cache("jobs").list()
    assert job.status.finished() == "Complete"
    assert (job.status.succeeded, job.status.failed) == (6, 2)
    created = times(run, "SuccessfulCreate", after=kill)
    assert 20 <= created[0] - kill < 21.5
    calm = run_scenario(attrs.evolve(scenario_of("job-pods-killed"), faults=(), slos=()))
    (undisturbed,) = calm.cluster.api.cache("jobs").list()
    assert job.status.completion_time is not None
    assert undisturbed.status.completion_time is not None
    assert job.status.completion_time > undisturbed.status.completion_time + 30


def test_job_pods_killed_report_shows_the_job() -> None:
    """The result lists the Job with its active/succeeded/failed history (valid against the
    result schema), and the HTML report charts it."""
    run = run_of("job-pods-killed")
    result = result_of(run)
    jsonschema.validate(result, result_schema())
    (job,) = result["jobs"]
    assert (job["status"], job["succeeded"], job["failed"]) == ("Complete", 6, 2)
    assert [0, 0, 2] in [row[1:] for row in job["history"]]  # active 0 in the back-off
    page = render_html(result, run.events)
    assert "Job default/batch: active, succeeded and failed pods" in page
    assert "jobs" not in result_of(run_of("pod-kill"))
