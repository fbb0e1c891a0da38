"""A verdict never passes without having measured something.

A fault that could not be injected measured nothing either: the run fails (exit 1).

Request objectives (availability, maxErrors) count from the moment the workloads first reach
steady state, so the initial rollout is not an outage. A run that never gets there measured
nothing from that point: the objective is *not evaluated* and fails, with the whole-run figures
in its detail. So does one that counted no request at all, and a ``during: whole`` threshold on
a series that exists when the workloads never settled.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

from click.testing import CliRunner
from prometheus_client.metrics_core import Metric

from kubechaos.cli import main
from kubechaos.observe.slo import NOT_EVALUATED, SLO, SLOMonitor
from kubechaos.scenario.loader import parse_scenario
from kubechaos.scenario.runner import run_scenario

SCENARIO = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {{name: trust}}
spec:
  duration: 2m
  cluster: {{nodeGroups: [{{name: worker, count: 2}}]}}
  workloads:
    - manifest:
        apiVersion: apps/v1
        kind: Deployment
        metadata: {{name: web}}
        spec:
          replicas: 2
          selector: {{matchLabels: {{app: web}}}}
          template:
            metadata:
              labels: {{app: web}}
              annotations: {{kubechaos.io/behaviour: "{behaviour}"}}
            spec:
              containers:
                - name: web
                  image: nginx
                  readinessProbe: {{httpGet: {{path: /, port: 80}}, periodSeconds: 1}}
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {{name: web}}
        spec:
          selector: {{app: {selector}}}
          ports: [{{port: 80}}]
  traffic: [{traffic}]
  slo:
    - availability: {{service: web, atLeast: "50%"}}
    - maxErrors: {{service: web, count: 1000000}}
    - threshold: {{metric: kube_deployment_spec_replicas, labels: {{deployment: web}}, atLeast: 1}}
"""


def run(
    behaviour: str = "startup=1s", selector: str = "web", traffic: str = "{service: web, rate: 10}"
):  # type: ignore[no-untyped-def]
    text = SCENARIO.format(behaviour=behaviour, selector=selector, traffic=traffic)
    return run_scenario(parse_scenario(text, "trust.yaml"))


def test_a_healthy_run_measures_and_passes() -> None:
    the_run = run()
    assert [(r.slo.kind, r.ok) for r in the_run.results] == [
        ("availability", True),
        ("maxErrors", True),
        ("threshold", True),
    ]
    assert (
        the_run.results[0].measured.endswith("requests")
        and "of 0 " not in the_run.results[0].measured
    )


def test_a_container_that_never_starts_is_not_evaluated_not_passed() -> None:
    """`startup=forever`: no replica ever becomes available, so steady state is never reached.
    Before, availability read "100% of 0 requests" and passed while every request failed."""
    availability, errors, threshold = run(behaviour="startup=forever").results
    for result in (availability, errors, threshold):
        assert not result.ok
        assert result.measured == NOT_EVALUATED
        assert "never reached steady state" in result.detail
    assert "over the whole run 0 of 1200 requests succeeded" in availability.detail


def test_a_service_with_no_endpoints_is_not_evaluated_not_passed() -> None:
    """A Service whose selector matches no pod: every request fails (no endpoints) and the
    workloads never count as steady; nothing may pass."""
    availability, errors, _ = run(selector="nothing-has-this-label").results
    assert not availability.ok and availability.measured == NOT_EVALUATED
    assert not errors.ok and errors.measured == NOT_EVALUATED


def test_no_request_after_steady_state_is_nothing_measured() -> None:
    """Traffic to another Service only: the workloads settle, but not one request to `web` was
    counted, so its availability and error budget measured nothing."""
    availability, errors, threshold = run(traffic="").results
    assert not availability.ok and availability.measured == "0 requests"
    assert "is there traffic for this Service?" in availability.detail
    assert not errors.ok and errors.measured == "0 requests"
    assert threshold.ok


def test_a_fault_that_could_not_be_injected_fails_the_run(tmp_path: Path) -> None:
    """A pod-kill whose target matches no pod (a pod name: only the run can tell, as a
    Deployment's pods get generated names; a selector no workload's pods can match is a
    validation error instead) could not act: the run exits 1 with the failed injection named,
    the JSON verdict is "failed" and JUnit has a failing case for it. Before, it logged
    "nothing matched", read "recovered 0.000s" and passed."""
    scenario = tmp_path / "s.yaml"
    text = SCENARIO.format(
        behaviour="startup=1s", selector="web", traffic="{service: web, rate: 10}"
    )
    text = text.replace(
        "  slo:\n",
        "  faults:\n"
        "    - {name: kill-db, type: pod-kill, at: 30s, target: {names: [db-0]}}\n"
        "  slo:\n",
    )
    scenario.write_text(text)
    result = CliRunner().invoke(
        main,
        [
            "run",
            str(scenario),
            "--json",
            str(tmp_path / "r.json"),
            "--junit",
            str(tmp_path / "r.xml"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "could not be injected: its target matched no pod (names=db-0 all)" in result.output
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["verdict"] == "failed" and report["exitCode"] == 1
    assert [f["name"] for f in report["failedInjections"]] == ["kill-db"]
    assert all(slo["ok"] for slo in report["slos"])  # every SLO held: the fault is why it failed
    junit = (tmp_path / "r.xml").read_text()
    assert 'name="fault kill-db injected"' in junit and 'type="FaultNotInjected"' in junit


class _Series:
    """A collector stub whose one series exists only while ``value`` is not None."""

    def __init__(self) -> None:
        self.value: float | None = None

    def add_source(self, source: object) -> None:
        pass

    def service_totals(self) -> dict[tuple[str, str], tuple[int, int]]:
        return {}

    def families_named(self, name: str) -> list[Metric]:
        metric = Metric(name, "", "gauge")
        if self.value is not None:
            metric.add_sample(name, {"pod": "web-1"}, self.value)
        return [metric]


def test_a_whole_run_threshold_judges_the_samples_its_series_had() -> None:
    """A series that existed while the run was sampled and is gone at the end (a pod's series
    goes with the pod) was measured: the threshold held on what it saw, not "no such series"."""
    series = _Series()
    steady = SimpleNamespace(first_steady_at=1.0)
    slo = SLO("threshold", "restarts", metric="restarts", at_most=2)
    monitor = SLOMonitor([slo], series, steady)  # type: ignore[arg-type]
    for at, value in enumerate([0.0, 1.0, 2.0, None, None]):
        series.value = value
        monitor.tick(float(at))
    [result] = monitor.results(final=True)
    assert result.ok and result.measured == "held (last 2)"
    never = SLOMonitor([SLO("threshold", "x", metric="nope", at_most=1)], _Series(), steady)  # type: ignore[arg-type]
    never.tick(1.0)
    [missing] = never.results(final=True)
    assert not missing.ok and missing.measured == "no such series"
