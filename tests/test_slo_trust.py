"""A verdict never passes without having measured something.

Request objectives (availability, maxErrors) count from the moment the workloads first reach
steady state, so the initial rollout is not an outage. A run that never gets there measured
nothing from that point: the objective is *not evaluated* and fails, with the whole-run figures
in its detail. So does one that counted no request at all, and a ``during: whole`` threshold on
a series that exists when the workloads never settled.
"""

from __future__ import annotations

from kubechaos.observe.slo import NOT_EVALUATED
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
