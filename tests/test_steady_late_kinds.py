"""Late kinds: every workload kind steady state judges is watched in every run, so one a client
or an operator creates during the run counts (kubechaos/observe/convergence.py)."""

from __future__ import annotations

import attrs

from tests.steadyruns import ROOT, apply, run_with, scenario

DB = (ROOT / "scenarios" / "manifests" / "db.yaml").read_text()

BODY = f"""\
  duration: 5m
  workloads:
    - path: {ROOT / "scenarios" / "manifests" / "web.yaml"}
    - path: {ROOT / "scenarios" / "manifests" / "db.yaml"}
  faults:
    - name: kill-db
      type: pod-kill
      at: 2m
      target: {{namespace: default, labelSelector: {{app: db}}}}
  slo:
    - recoveryWithin: {{fault: kill-db, within: 2m}}
"""


def test_a_statefulset_created_mid_run_is_measured() -> None:
    """A StatefulSet a client creates at 30 s (the scenario's workloads have only a Deployment)
    is judged like one of the workloads: killing its pods at 2 m takes it out of steady state
    until the StatefulSet controller has recreated them, one after the other
    (``OrderedReady``: pkg/controller/statefulset/stateful_set_control.go), and they are ready
    and available (kube-state-metrics' ``kube_statefulset_status_replicas_available``, the
    steady-state rule). Before every run watched StatefulSets, the informer was started only
    for kinds among the scenario's workloads, and the kill read a recovery of 0 s."""
    loaded = scenario(BODY)
    # the loader checks a fault's target against the workloads: load it with db.yaml, then
    # leave db.yaml to the client
    web_only = tuple(o for o in loaded.workloads if o.metadata.name == "web")
    run = run_with(attrs.evolve(loaded, workloads=web_only), [(30.0, apply(DB))])
    (rec,) = run.steady.recoveries
    assert rec.known and rec.seconds is not None, rec
    assert rec.disturbed_at is not None and rec.disturbed_at - rec.injected_at < 1
    # three pods recreated in order, each Ready before the next is created
    assert rec.seconds >= 3, rec
    (slo,) = run.results
    assert slo.ok, slo
    assert any(e.reason == "StatefulSetDegraded" for e in run.events.find(kind="StatefulSet"))
