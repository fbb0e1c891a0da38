"""Recovery at event resolution: measured from the events that change steady state, not from
the 1 s samples (kubechaos/observe/resolution.py, kubechaos/observe/steady.py)."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest

from kubechaos.api.objects import Job, JobCondition, JobSpec, JobStatus, ObjectMeta
from kubechaos.observe.resolution import SteadyRecord, unsteady_reason
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import Run
from kubechaos.sim.events import Event
from tests.factories import deployment, template
from tests.test_attribution import CRASH, KILL, scenario

ROOT = Path(__file__).resolve().parent.parent
WEB = ROOT / "scenarios" / "manifests" / "web.yaml"

SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: resolution}}
spec:
  duration: 2m
  cluster: {{nodeGroups: [{{name: worker, count: 3}}]}}
  workloads: [{{path: {web}}}]
  traffic: [{{service: web, rate: 50}}]
  faults:
{faults}
"""


def run(faults: str) -> tuple[Run, list[float]]:
    """Run the scenario; also return the virtual time of every batch of requests that had a
    failure, as the traffic counters announced them."""
    the_run = Run(parse_scenario(SCENARIO.format(web=WEB, faults=faults), "resolution.yaml"))
    failures: list[float] = []
    assert the_run.traffic.stats is not None
    the_run.traffic.stats.on_failure.append(failures.append)
    the_run.run()
    return the_run, failures


def recovered(the_run: Run, fault: str) -> Event:
    (event,) = [e for e in the_run.events.find(reason="Recovered") if e.object == fault]
    return event


def test_a_disturbance_shorter_than_a_sample_reads_its_real_length() -> None:
    """kube-proxy's DROP of a partitioned node's traffic, as a network fault of 350 ms: the
    requests that touch worker-0 time out while it lasts (Service traffic is sent every 0.1 s,
    ``traffic_tick_seconds``). Steady state is out from the first failed request to the last, so
    the recovery is the time from the injection to the last failure: under a second, not 0 s and
    not rounded up to the next 1 s sample (which read 2 s: the sample after the failures was
    unsteady, the next one steady). Basis: Kubernetes does not notice a sub-second network
    blip at all (node heartbeats every 10 s, ``--node-status-update-frequency``), so only the
    requests show it."""
    the_run, failures = run(
        """\
    - {name: blip, type: network-loss, at: 1m, duration: 350ms, target: {nodes: [worker-0]},
       params: {probability: 1.0}}
"""
    )
    (injected,) = the_run.events.find(reason="FaultInjected")
    during = [t for t in failures if injected.time <= t <= injected.time + 0.35]
    assert during, "the blip failed requests"
    assert [t for t in failures if t > injected.time + 0.35] == []
    seconds = recovered(the_run, "blip").fields["seconds"]
    assert seconds == pytest.approx(max(during) - injected.time, abs=1e-6)
    assert 0.2 <= seconds < 0.35
    assert the_run.steady.recoveries[0].recovered_at == pytest.approx(max(during), abs=1e-6)


def test_a_recovery_ends_exactly_at_the_event_that_restored_steady_state() -> None:
    """A killed pod (force delete, ``gracePeriod: 0s``): the ReplicaSet controller creates a
    replacement, which counts once Ready (``DeploymentStatus.availableReplicas``,
    pkg/controller/deployment/sync.go calculateStatus). Recovery ends at the informer event that
    showed the Deployment available again: the ``DeploymentAvailable`` event of the log, to the
    microsecond, not the next whole second."""
    the_run, _ = run(
        """\
    - {name: kill, type: pod-kill, at: 1m, target: {labelSelector: {app: web}, mode: one},
       params: {gracePeriod: 0s}}
"""
    )
    (injected,) = the_run.events.find(reason="FaultInjected")
    back = [e for e in the_run.events.find(reason="DeploymentAvailable") if e.time > injected.time]
    assert back, "the Deployment came back"
    seconds = recovered(the_run, "kill").fields["seconds"]
    assert seconds == pytest.approx(back[0].time - injected.time, abs=1e-6)
    assert back[0].time != int(back[0].time), "an event between two samples"
    message = recovered(the_run, "kill").message
    assert f"(at {back[0].time:.3f}s)" in message


def test_the_one_second_samples_stay_for_the_steady_state_gauge() -> None:
    """``kubechaos_steady_state`` is still sampled every second (what Prometheus and Grafana
    plot); the record of change points is what recoveries are measured on."""
    the_run, _ = run(
        """\
    - {name: kill, type: pod-kill, at: 1m, target: {labelSelector: {app: web}, mode: one},
       params: {gracePeriod: 0s}}
"""
    )
    assert all(t == int(t) for t in the_run.steady.times[1:-1])
    flips = the_run.steady.record.times
    assert any(t != int(t) for t in flips)
    assert len(flips) < 10, "change points only, not one per event"


def test_each_object_is_judged_on_its_own_event() -> None:
    """Per-object steady state is incremental: an event updates one object's entry, and steady
    state flips when the first object goes short or the last one comes back."""
    record = SteadyRecord(window=10)
    a = deployment("a", replicas=2)
    b = deployment("b", replicas=1)
    record.changed(a, at=1.0)
    record.changed(b, at=1.0)
    assert record.steady == [True, False] and set(record.unsteady) == {
        ("Deployment", "default/a"),
        ("Deployment", "default/b"),
    }
    record.deleted(b, at=2.0)
    assert record.steady == [True, False]
    record.deleted(a, at=3.0)
    assert record.steady == [True, False, True]


def test_failed_requests_closer_than_the_window_are_one_disturbance() -> None:
    """No steady run between two failures less than a stability window apart could count
    (steady.py's rule: a run must last the window), so they make one disturbance, from the first
    failure to the last; failures further apart are two."""
    record = SteadyRecord(window=10)
    for t in (5.0, 5.1, 5.2, 30.0):
        record.failed(t)
    assert list(zip(record.times, record.steady, strict=True)) == [
        (0.0, True),
        (5.0, False),
        (5.2, True),
        (30.0, False),
        (30.0, True),
    ]
    assert record.state_at(5.1) is False and record.state_at(5.2) is True


def test_a_job_is_judged_as_kube_state_metrics_shows_it() -> None:
    """The per-object rule is the sampled one (steady.py's docstring, read there from
    kube-state-metrics' kube_job_* series): a Job short of ``min(parallelism, completions -
    succeeded)`` active pods is not steady, a failed one never is, a complete one is."""
    tmpl = template({"app": "j"})
    spec = JobSpec(tmpl, completions=3, parallelism=2)  # type: ignore[arg-type]
    job = Job(ObjectMeta(name="j", namespace="default"), spec)
    assert unsteady_reason(job) == "has 0/2 active pods"
    assert unsteady_reason(attrs.evolve(job, status=JobStatus(active=1, succeeded=2))) is None
    failed = JobStatus(conditions=(JobCondition("Failed", "True"),))
    assert unsteady_reason(attrs.evolve(job, status=failed)) == "failed"
    complete = JobStatus(succeeded=3, conditions=(JobCondition("Complete", "True"),))
    assert unsteady_reason(attrs.evolve(job, status=complete)) is None


def test_a_per_object_recovery_ends_at_the_event_too(tmp_path: Path) -> None:
    """A pod kill during a node crash is measured on its own pods (observe/attribution.py): they
    are whole again when the replacement the ReplicaSet created is Ready (its ``Ready``
    condition's lastTransitionTime, set by the kubelet's status manager,
    pkg/kubelet/status/status_manager.go) and the Deployment's informer event that followed
    showed it, not at the next whole second."""
    the_run = scenario(tmp_path, CRASH + KILL)
    (kill,) = [r for r in the_run.steady.recoveries if r.fault == "kill-web"]
    assert kill.attribution == "per-object" and kill.scope is not None
    replacement = kill.scope.objects()[-1]
    pod = the_run.cluster.api.cache("pods").get(f"/registry/pods/{replacement}")
    assert pod is not None
    ready = pod.status.condition("Ready")
    assert ready is not None and ready.status == "True"
    assert kill.recovered_at is not None
    assert ready.last_transition_time <= kill.recovered_at < ready.last_transition_time + 0.1
