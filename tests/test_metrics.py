"""The run's Prometheus metrics: names, labels and values as upstream dashboards expect them."""

from __future__ import annotations

import re
from pathlib import Path

import prometheus_client
import pytest

from kubechaos.observe.metrics import FAMILIES, family_of, samples
from kubechaos.observe.metrics.kubestate import OBJECT_FAMILIES, OPTIONAL_RESOURCES
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import Run
from tests.golden import run_of

ROOT = Path(__file__).resolve().parent.parent
POD_KILL = ROOT / "scenarios" / "pod-kill.yaml"

# kube-state-metrics and component families with the label names dashboards group by
UPSTREAM_LABELS = {
    "kube_pod_status_phase": {"namespace", "pod", "phase"},
    "kube_pod_status_ready": {"namespace", "pod", "condition"},
    "kube_pod_owner": {"namespace", "pod", "owner_kind", "owner_name", "owner_is_controller"},
    "kube_pod_container_status_restarts_total": {"namespace", "pod", "container"},
    "kube_deployment_spec_replicas": {"namespace", "deployment"},
    "kube_deployment_status_replicas_available": {"namespace", "deployment"},
    "kube_node_status_condition": {"node", "condition", "status"},
    "kube_endpoint_address": {"namespace", "endpoint", "ip", "ready"},
    "apiserver_request_total": {"verb", "resource", "code"},
    "scheduler_schedule_attempts_total": {"result"},
    "scheduler_pending_pods": {"queue"},
    "workqueue_depth": {"name"},
    "leader_election_master_status": {"name"},
    "kubelet_running_pods": {"node"},
    "kubeproxy_sync_proxy_rules_last_timestamp_seconds": {"node"},
    "kubechaos_service_requests_total": {"namespace", "service", "source_node", "outcome"},
    "kubechaos_fault_injections_total": {"fault", "type"},
    "kubechaos_fault_active": {"fault", "type"},
    "kubechaos_recovery_seconds_count": {"fault", "type"},
    "kubechaos_steady_state": {"scenario"},
    "kubechaos_slo_ok": {"slo"},
}


@pytest.fixture(scope="module")
def pod_kill_run() -> Run:
    return run_of(POD_KILL.stem)


def test_every_declared_family_is_exposed_with_help_and_conventional_names(
    pod_kill_run: Run,
) -> None:
    metrics = {m.name: m for m in pod_kill_run.registry.collect()}
    # Families of optional kinds (budgets, config objects) are exposed only while the cluster has
    # such an object (pod-kill has none; their own tests check them where there is one), but
    # pod-kill's Service has an EndpointSlice, so those families are there
    optional = {
        name
        for r in OPTIONAL_RESOURCES
        if r != "endpointslices"
        for name, _, _ in OBJECT_FAMILIES[r]
    }
    assert set(metrics) == set(FAMILIES) - optional
    for name, metric in metrics.items():
        assert metric.documentation, name
        assert re.fullmatch(r"[a-z_]+[a-z]", name), name
        if metric.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in metric.samples), name
        if name.endswith("_seconds"):
            assert metric.unit == "seconds" or metric.type == "histogram", name
        assert not name.endswith("_total"), "counter families are named without _total"


def test_series_carry_the_upstream_label_names(pod_kill_run: Run) -> None:
    seen: dict[str, set[str]] = {}
    for metric in pod_kill_run.registry.collect():
        for s in metric.samples:
            seen.setdefault(s.name, set(s.labels))
    for name, labels in UPSTREAM_LABELS.items():
        assert name in seen, name
        assert labels <= seen[name], (name, seen[name])


def test_values_reflect_the_run(pod_kill_run: Run) -> None:
    reg = pod_kill_run.registry
    (available,) = samples(reg, "kube_deployment_status_replicas_available", deployment="web")
    assert available[1] == 3
    running = [v for labels, v in samples(reg, "kube_pod_status_phase", phase="Running")]
    assert sum(running) == 3
    (injections,) = samples(reg, "kubechaos_fault_injections_total", fault="kill-one-web-pod")
    assert injections[0]["type"] == "pod-kill" and injections[1] == 3
    (active,) = samples(reg, "kubechaos_fault_active")
    assert active[1] == 0, "pod-kill is instantaneous: never active"
    total = sum(v for _, v in samples(reg, "kubechaos_service_requests_total"))
    assert total == sum(pod_kill_run.traffic.stats.requests.values()) == 18000
    deletes = samples(reg, "apiserver_request_total", verb="DELETE", resource="pods", code="200")
    assert deletes and deletes[0][1] >= 3
    (leader,) = samples(reg, "etcd_server_has_leader")
    assert leader[1] == 1
    (count,) = samples(reg, "kubechaos_recovery_seconds_count", fault="kill-one-web-pod")
    assert count[1] == 3
    (clock,) = samples(reg, "kubechaos_virtual_time_seconds")
    assert clock[1] == 900
    nodes_ready = samples(reg, "kube_node_status_condition", condition="Ready", status="true")
    assert [v for _, v in nodes_ready] == [1.0, 1.0, 1.0]
    assert sum(v for _, v in samples(reg, "kubelet_running_pods")) == 3


def test_each_run_has_its_own_registry_and_never_the_global_one() -> None:
    text = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: tiny}
spec:
  duration: 30s
  cluster: {nodeGroups: [{name: worker, count: 1}]}
"""
    a = Run(parse_scenario(text)).run()
    b = Run(parse_scenario(text.replace("count: 1", "count: 2"))).run()
    assert a.registry is not b.registry
    assert [v for _, v in samples(a.registry, "kubelet_running_pods")] == [0]
    assert (
        len(samples(a.registry, "kube_node_status_condition", condition="Ready", status="true"))
        == 1
    )
    assert (
        len(samples(b.registry, "kube_node_status_condition", condition="Ready", status="true"))
        == 2
    )
    global_names = {m.name for m in prometheus_client.REGISTRY.collect()}
    assert not global_names & set(FAMILIES)


def test_family_of_maps_sample_names_to_families() -> None:
    assert family_of("apiserver_request_total") == "apiserver_request"
    assert family_of("kubechaos_recovery_seconds_bucket") == "kubechaos_recovery_seconds"
    assert family_of("kube_pod_info") == "kube_pod_info"
    assert family_of("no_such_metric") is None


def test_a_collect_outside_the_trio_thread_sees_the_last_snapshot(pod_kill_run: Run) -> None:
    import threading

    collector = pod_kill_run.collector
    collector.snapshot()
    seen: list[int] = []
    thread = threading.Thread(target=lambda: seen.append(len(collector.collect())))
    thread.start()
    thread.join()
    assert seen == [len(collector.families())]
