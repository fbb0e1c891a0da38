"""``threshold`` SLOs on any kube-state-metrics series of an object, matched by its labels
(kubechaos/observe/slo.py, kubechaos/observe/metrics/collector.py FAMILIES)."""

from __future__ import annotations

import functools
from pathlib import Path

from kubechaos.observe.metrics import family_of
from kubechaos.observe.metrics.kubestate import OBJECT_FAMILIES
from kubechaos.observe.slo import SLO, SLOResult
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import Run, run_scenario

MANIFESTS = Path(__file__).resolve().parent.parent / "scenarios" / "manifests"

SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: series}}
spec:
  duration: 3m
  cluster: {{nodeGroups: [{{name: worker, count: 3}}]}}
  workloads:
    - path: {web}
    - path: {db}
    - path: {job}
  slo:
    - name: deployment
      threshold: {{metric: kube_deployment_status_replicas_available,
                   labels: {{namespace: default, deployment: web}}, atLeast: 3, during: end}}
    - name: deployment-whole
      threshold: {{metric: kube_deployment_spec_replicas,
                   labels: {{namespace: default, deployment: web}}, atMost: 3}}
    - name: other-deployment
      threshold: {{metric: kube_deployment_status_replicas_available,
                   labels: {{deployment: nope}}, atLeast: 0, during: end}}
    - name: statefulset
      threshold: {{metric: kube_statefulset_status_replicas_available,
                   labels: {{namespace: default, statefulset: db}}, atLeast: 3, during: end}}
    - name: statefulset-too-many
      threshold: {{metric: kube_statefulset_status_replicas_available,
                   labels: {{namespace: default, statefulset: db}}, atLeast: 4, during: end}}
    - name: job
      threshold: {{metric: kube_job_status_succeeded,
                   labels: {{namespace: default, job_name: batch}}, atLeast: 6, during: end}}
    - name: job-complete
      threshold: {{metric: kube_job_complete,
                   labels: {{job_name: batch, condition: "true"}}, atLeast: 1, during: end}}
    - name: pods-ready
      threshold: {{metric: kube_pod_status_ready,
                   labels: {{namespace: default, condition: "true"}}, atLeast: 6, during: end}}
    - name: pods-running
      threshold: {{metric: kube_pod_status_phase,
                   labels: {{namespace: default, phase: Running}}, atMost: 8, during: whole}}
    - name: counter-by-family
      threshold: {{metric: apiserver_request, atLeast: 1, during: end}}
"""


@functools.cache
def the_run() -> Run:
    text = SCENARIO.format(
        web=MANIFESTS / "web.yaml", db=MANIFESTS / "db.yaml", job=MANIFESTS / "batch-job.yaml"
    )
    return run_scenario(parse_scenario(text, "series.yaml"))


def verdict(name: str) -> SLOResult:
    (result,) = [r for r in the_run().results if r.slo.name == name]
    return result


def test_a_deployment_series_by_namespace_and_name() -> None:
    """kube-state-metrics internal/store/deployment.go: kube_deployment_status_replicas_available
    and kube_deployment_spec_replicas, labelled namespace and deployment."""
    assert verdict("deployment").ok and verdict("deployment").measured == "3 at the end"
    assert verdict("deployment-whole").ok
    other = verdict("other-deployment")
    assert not other.ok and other.measured == "no such series"


def test_a_statefulset_series() -> None:
    """internal/store/statefulset.go: kube_statefulset_status_replicas_available{namespace,
    statefulset}; the bound is checked, not just the presence."""
    assert verdict("statefulset").ok
    too_many = verdict("statefulset-too-many")
    assert not too_many.ok and too_many.measured == "3 at the end"


def test_a_job_series() -> None:
    """internal/store/job.go: kube_job_status_succeeded{namespace, job_name} and
    kube_job_complete{condition="true"} once its 6 completions are done."""
    assert verdict("job").ok and verdict("job").measured == "6 at the end"
    assert verdict("job-complete").ok


def test_a_pod_series_summed_over_the_pods_it_matches() -> None:
    """internal/store/pod.go: kube_pod_status_ready{namespace, pod, condition} and
    kube_pod_status_phase{phase}: summed over every pod the labels match (3 web and 3 db pods
    ready at the end; the Job's finished pods are not; never more than 8 running: 3 + 3 and the
    Job's parallelism of 2)."""
    assert verdict("pods-ready").ok and verdict("pods-ready").measured == "6 at the end"
    assert verdict("pods-running").ok


def test_a_counter_named_by_its_family() -> None:
    """A counter's family name (apiserver_request, as FAMILIES lists it and validation accepts
    it) means its ``_total`` samples (OpenMetrics: a counter family's samples carry the
    suffix)."""
    result = verdict("counter-by-family")
    assert result.ok and result.measured != "no such series"


def test_every_kube_state_family_of_the_objects_is_a_threshold_series() -> None:
    """Every family kube-state-metrics exports for Deployments, StatefulSets, Jobs and Pods is
    accepted by validation and found by a threshold at the end of a run that has those objects
    (bar those upstream writes only when a field is set: the Job's activeDeadlineSeconds and
    Failed condition, a StatefulSet's spec.ordinals, a waiting reason while none waits)."""
    conditional = {
        "kube_job_failed",
        "kube_statefulset_ordinals_start",
        "kube_job_spec_active_deadline_seconds",
        "kube_pod_container_status_waiting_reason",
        "kube_pod_init_container_status_restarts",
        "kube_pod_init_container_status_waiting_reason",
    }
    monitor = the_run().slo
    missing = []
    for resource in ("deployments", "statefulsets", "jobs", "pods"):
        for name, _, kind in OBJECT_FAMILIES[resource]:
            assert family_of(name) is not None, name
            sample = name + "_total" if kind == "counter" else name
            if name in conditional:
                continue
            if monitor._series_value(SLO("threshold", name, metric=sample)) is None:
                missing.append(name)
    assert missing == []
