"""The ``condition`` SLO on a custom kind, including one whose CustomResourceDefinition is
installed only at run time (kubechaos/scenario/conditioncustom.py, kubechaos/observe/
conditions.py): validated as far as it can be at load, measured when the kind is served, and
never a pass on nothing."""

from __future__ import annotations

import pytest

from kubechaos.observe.slo import SLOResult
from kubechaos.scenario.check import ScenarioError
from kubechaos.scenario.runner import Run
from tests.steadyruns import ROOT, run_with, scenario
from tests.test_steady_custom import CRD, bump, create, install, ready, set_status

WEB = ROOT / "scenarios" / "manifests" / "web.yaml"


def body(condition: str, workloads: str = "") -> str:
    return f"""\
  duration: 4m
  workloads: [{{path: {WEB}}}{workloads}]
  faults:
    - name: poke
      type: apiserver-throttle
      at: 2m
      duration: 5s
      params: {{fraction: "50%", clients: [gadget-operator]}}
  slo:
    - name: gadget-ready
      condition: {condition}
"""


GADGET = (
    '{kind: Gadget, apiVersion: example.com/v1, name: g, type: Ready, status: "True", '
    "within: 30s, after: poke}"
)


def verdict(run: Run) -> SLOResult:
    (result,) = run.results
    return result


def reached(result: SLOResult) -> float:
    """The seconds of "reached in 10.004s (worst of 1)"."""
    assert result.measured.startswith("reached in "), result
    return float(result.measured.split()[2].rstrip("s"))


def test_a_kind_unknown_at_load_is_accepted_with_a_located_warning() -> None:
    """The kind is neither the model's nor declared by the workloads: the scenario loads, and
    says (file:line:column) what it could not check yet."""
    loaded = scenario(body(GADGET))
    (warning,) = [w for w in loaded.warnings if "Gadget" in w]
    assert warning.startswith("steady.yaml:")
    assert "spec.slo[0].condition.kind" in warning
    assert "installed at run time" in warning and "not measured" in warning
    (slo,) = loaded.slos
    assert (slo.object_kind, slo.custom_group, slo.namespace) == (
        "Gadget",
        "example.com",
        "default",
    )


def test_a_kind_declared_by_the_workloads_is_resolved_at_load(tmp_path: object) -> None:
    """A definition among the workloads (apiextensions.k8s.io/v1) resolves the kind: no
    warning, and the group is the definition's even when the SLO gives none."""
    crd = ROOT / "tests" / "data" / "crd" / "widgets-crd.yaml"
    condition = '{kind: Widget, name: w, type: Ready, status: "True", within: 30s, after: poke}'
    loaded = scenario(body(condition, f", {{path: {crd}}}"))
    assert not [w for w in loaded.warnings if "Widget" in w]
    (slo,) = loaded.slos
    assert slo.custom_group == "example.com"


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ('{kind: Gadget, apiVersion: "example.com", name: g, type: Ready, status: "True", '
         "within: 30s, after: poke}", "expected group/version (e.g. example.com/v1)"),
        ('{kind: ConfigMap, name: g, type: Ready, status: "True", within: 30s, after: poke}',
         "'ConfigMap' has no status.conditions in the model"),
        ('{kind: "web app", apiVersion: example.com/v1, name: g, type: Ready, status: "True", '
         "within: 30s, after: poke}", "is not a kind"),
    ],
)  # fmt: skip
def test_what_can_be_checked_at_load_is(condition: str, message: str) -> None:
    """A malformed apiVersion, a model kind without conditions, a kind that is not one word:
    located errors, as before custom kinds were allowed."""
    with pytest.raises(ScenarioError) as raised:
        scenario(body(condition))
    assert message in str(raised.value)
    assert "spec.slo[0].condition." in str(raised.value)


def test_a_condition_on_a_kind_installed_at_run_time_is_measured() -> None:
    """The operator installs its definition at 10 s and reports Ready=False from just before
    the fault until 10 s after it: the condition is reached 10 s after the injection, at the informer event that
    showed it (kubectl wait --for=condition=Ready=True: staging/src/k8s.io/kubectl/pkg/cmd/
    wait/condition.go)."""
    run = run_with(
        scenario(body(GADGET)),
        [(10, install), (20, create("g", ready("True"))), (119, set_status("g", ready("False"))),
         (130, set_status("g", ready("True")))],
    )  # fmt: skip
    result = verdict(run)
    assert result.ok, result
    assert reached(result) == pytest.approx(10, abs=0.1), result


def test_a_kind_never_served_fails_not_measured() -> None:
    """No definition of the kind was ever installed: the SLO measured nothing and fails."""
    run = run_with(scenario(body(GADGET)), [])
    result = verdict(run)
    assert not result.ok
    assert result.measured == "not measured"
    assert "no CustomResourceDefinition served kind Gadget in group example.com" in result.detail


def test_an_object_that_never_appeared_fails_not_measured() -> None:
    """The kind is served but object ``g`` never existed."""
    run = run_with(scenario(body(GADGET)), [(10, install), (20, create("other", ready("True")))])
    result = verdict(run)
    assert (result.ok, result.measured) == (False, "not measured"), result
    assert "never existed" in result.detail


def test_a_kind_named_without_a_group_matches_any_served_one() -> None:
    """``kind: Gadget`` without apiVersion is resolved when a definition of that kind is
    served, whichever its group."""
    condition = '{kind: Gadget, name: g, type: Ready, status: "True", within: 30s, after: poke}'
    run = run_with(
        scenario(body(condition)),
        [(10, install), (20, create("g", ready("True"))), (119, set_status("g", ready("False"))),
         (125, set_status("g", ready("True")))],
    )  # fmt: skip
    result = verdict(run)
    assert result.ok and reached(result) == pytest.approx(5, abs=0.1), result
    assert CRD["spec"]["group"] == "example.com"


def test_a_condition_written_for_an_earlier_generation_is_not_met() -> None:
    """kubectl wait's checkCondition (staging/src/k8s.io/kubectl/pkg/cmd/wait/condition.go,
    getObservedGeneration): a condition whose observedGeneration (its own, else the status's)
    is below ``metadata.generation`` is not met, whatever its status. The spec changes just
    before the fault; Ready=True stays, written for generation 1, until the controller reports
    generation 2 observed 8 s later: reached then, not at once."""
    ready_seen = {"observedGeneration": 1, **ready("True")}
    run = run_with(
        scenario(body(GADGET)),
        [(10, install), (20, create("g", ready_seen)), (119, bump("g")),
         (128, set_status("g", {"observedGeneration": 2, **ready("True")}))],
    )  # fmt: skip
    result = verdict(run)
    assert result.ok and reached(result) == pytest.approx(8, abs=0.1), result
