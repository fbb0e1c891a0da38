"""Recovery and SLOs: the definition on synthetic series, then on real runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubechaos.cluster import Cluster, ClusterSpec, NodeGroupSpec
from kubechaos.observe.metrics import ClusterCollector, samples
from kubechaos.observe.steady import FaultRecovery, SteadyStateMonitor
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import run_scenario
from tests.golden import run_of

ROOT = Path(__file__).resolve().parent.parent


def monitor(series: str, window: float = 3.0) -> SteadyStateMonitor:
    """A monitor whose samples, one per second from t=0, are ``series`` ('s' steady, '.' not)."""
    cluster = Cluster(ClusterSpec((NodeGroupSpec("worker", 1),)))
    m = SteadyStateMonitor(ClusterCollector(cluster), cluster.events, window=window)
    m.times = [float(t) for t in range(len(series))]
    m.steady = [c == "s" for c in series]
    return as_record(m)


def as_record(m: SteadyStateMonitor) -> SteadyStateMonitor:
    """Recoveries are measured on the event-resolution record (observe/resolution.py): here
    the samples double as its change points (each state holds for the second it starts)."""
    m.record.times, m.record.steady = list(m.times), list(m.steady)
    return m


def recovery(m: SteadyStateMonitor, injected: float, final: bool = True, **kw: float) -> object:
    rec = FaultRecovery("f", "pod-kill", injected, **kw)  # type: ignore[arg-type]
    m.recoveries.append(rec)
    return m.recovery_from(rec, kw.get("reverted_at", injected) if kw else injected, final)


def test_recovery_runs_to_the_start_of_the_stable_steady_period() -> None:
    #                 0123456789
    m = monitor("sssss...sssssss")
    assert recovery(m, injected=4.5) == 8 - 4.5


def test_a_steady_blip_shorter_than_the_window_does_not_count() -> None:
    m = monitor("sss..ss..sssss")
    assert recovery(m, injected=2.5) == 9 - 2.5


def test_a_fault_that_disturbs_nothing_recovers_at_once() -> None:
    m = monitor("ssssssssss")
    assert recovery(m, injected=3) == 0


def test_no_stable_period_before_the_end_is_a_failed_recovery_not_a_number() -> None:
    m = monitor("sss.....ss")
    assert recovery(m, injected=2.5) is None
    assert recovery(monitor("sss.....ss"), injected=2.5, final=False) is False


def test_a_disturbance_after_the_next_fault_is_not_this_faults() -> None:
    m = monitor("ssssssss....ssss")
    m.recoveries.append(FaultRecovery("g", "pod-kill", 7.5))
    assert recovery(m, injected=2) == 0


def test_a_lasting_fault_that_disturbs_late_is_not_recovered_before_it_shows() -> None:
    #                 0         1         2
    #                 0123456789012345678901234567
    m = monitor("ssssssssssss.......ssssssssss", window=3)
    m.recoveries.append(FaultRecovery("other", "pod-kill", 5))  # injected meanwhile
    rec = FaultRecovery("stop", "kubelet-stop", 1, reverted_at=25, lasting=True)
    m.recoveries.append(rec)
    m.times, m.steady = m.times[:10], m.steady[:10]
    as_record(m)
    assert m.recovery_from(rec, 1, final=False) is False, "still in force: not known yet"
    m.times = [float(t) for t in range(29)]
    m.steady = [c == "s" for c in "ssssssssssss.......ssssssssss"]
    as_record(m)
    assert m.recovery_from(rec, 1, final=True) == 19 - 1


def test_recovery_from_revert_is_measured_from_the_revert() -> None:
    m = monitor("ss.........ssss")
    rec = FaultRecovery("f", "network-partition", 1.5, reverted_at=6)
    m.recoveries.append(rec)
    assert m.recovery_from(rec, 1.5, True) == 11 - 1.5
    assert m.recovery_from(rec, 6, True) == 11 - 6


SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: slo-test}}
spec:
  duration: 3m
  cluster: {{nodeGroups: [{{name: worker, count: 3}}]}}
  workloads: [{{path: {web}}}]
  traffic: [{{service: web, rate: 20}}]
  faults:
    - {{name: kill, type: pod-kill, at: 1m, target: {{labelSelector: {{app: web}}, mode: one}},
       params: {{gracePeriod: 0s}}}}
    - {{name: lossy, type: network-loss, at: 2m, duration: 10s, target: {{nodes: [worker-0]}},
       params: {{probability: 0.5}}}}
  slo:
{slos}
"""


def run_with(slos: str):  # type: ignore[no-untyped-def]
    text = SCENARIO.format(web=ROOT / "scenarios" / "manifests" / "web.yaml", slos=slos)
    return run_scenario(parse_scenario(text, "slo.yaml"))


def test_slos_hold_and_fail_as_measured() -> None:
    run = run_with(
        """\
    - recoveryWithin: {fault: kill, within: 30s}
    - name: too-tight
      recoveryWithin: {fault: kill, within: 1s}
    - availability: {service: web, atLeast: "90%"}
    - name: perfect
      availability: {service: web, atLeast: "100%"}
    - maxErrors: {service: web, count: 100000}
    - threshold: {metric: kube_deployment_status_replicas_available, labels: {deployment: web}, atLeast: 2}
    - name: never-below-3
      threshold: {metric: kube_deployment_status_replicas_available, labels: {deployment: web}, atLeast: 3}
    - threshold: {metric: kubechaos_fault_injections_total, atMost: 2, during: end}
"""
    )
    verdicts = {r.slo.name: r.ok for r in run.results}
    assert verdicts == {
        "recovery-kill": True,
        "too-tight": False,
        "default-web-availability": True,
        "perfect": False,
        "default-web-errors": True,
        "kube_deployment_status_replicas_available-min": True,
        "never-below-3": False,
        "kubechaos_fault_injections_total-max": True,
    }
    ok = {labels["slo"]: v for labels, v in samples(run.registry, "kubechaos_slo_ok")}
    assert ok["too-tight"] == 0 and ok["recovery-kill"] == 1
    rec, _lossy = run.steady.recoveries
    assert rec.known and rec.seconds is not None and 1 < rec.seconds < 30
    # The recovery is the histogram's observation: one series, one source of truth.
    (total,) = samples(run.registry, "kubechaos_recovery_seconds_sum", fault="kill")
    assert total[1] == pytest.approx(rec.seconds)
    recovered = run.events.find(reason="Recovered")
    assert recovered and recovered[0].fields["seconds"] == pytest.approx(rec.seconds, abs=1e-6)


def test_a_recovery_slo_on_a_fault_that_never_ran_fails() -> None:
    run = run_with("    - recoveryWithin: {fault: kill, within: 30s}\n").scenario
    assert run.slos[0].fault == "kill"


def test_slo_errors_are_located_and_explained() -> None:
    text = SCENARIO.format(
        web=ROOT / "scenarios" / "manifests" / "web.yaml",
        slos="""\
    - recoveryWithin: {fault: kil, within: 30s}
    - availability: {service: nope, atLeast: "120%"}
    - threshold: {metric: kube_deployment_replicas, atLeast: 1, atMost: 3}
    - latency: {}
""",
    )
    with pytest.raises(Exception) as exc:
        parse_scenario(text, "slo.yaml")
    errors = [str(e) for e in exc.value.errors]  # type: ignore[attr-defined]
    assert any(
        "spec.slo[0].recoveryWithin.fault: no fault named 'kil'" in e and '"kill"' in e
        for e in errors
    )
    assert any("spec.slo[1].availability.service: no Service default/nope" in e for e in errors)
    assert any("spec.slo[1].availability.atLeast: expected a share" in e for e in errors)
    assert any(
        "spec.slo[2].threshold.metric: 'kube_deployment_replicas' is not a series" in e
        for e in errors
    )
    assert any("spec.slo[2].threshold: give exactly one of" in e for e in errors)
    assert any("spec.slo[3].latency: unknown field" in e for e in errors)


def test_pod_kill_scenario_recovers_within_its_slo() -> None:
    run = run_of("pod-kill")
    assert run.slo_ok
    assert [r.known and r.seconds is not None for r in run.steady.recoveries] == [True] * 3
