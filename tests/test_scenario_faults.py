"""The ``spec.faults`` section: every fault field checked, with file, line and a useful hint."""

from __future__ import annotations

import pytest

from kubechaos.faults import PodKill
from kubechaos.scenario.loader import ScenarioError, parse_scenario

HEAD = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata: {name: t}
spec:
  duration: 10m
  cluster:
    nodeGroups:
      - {name: worker, count: 3}
      - {name: infra, count: 1}
  faults:
"""


WEB_PODS = """\
  workloads:
    - manifest:
        apiVersion: v1
        kind: Pod
        metadata: {name: web, labels: {app: web}}
        spec: {containers: [{name: web, image: nginx}]}
"""


def load(faults: str):  # type: ignore[no-untyped-def]
    """The scenario with ``faults``, and a web pod for pod faults to act on (a pod fault where
    no workload makes pods is an error of its own)."""
    return parse_scenario(HEAD + faults + WEB_PODS, "s.yaml")


def errors_of(faults: str) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        load(faults)
    return [str(e) for e in exc.value.errors]


def test_a_full_fault_entry_becomes_a_scheduled_fault() -> None:
    scenario = load(
        """\
    - name: kill-web
      type: pod-kill
      at: 2m
      every: 5m
      target: {namespace: default, labelSelector: {app: web}, mode: fixed, value: 2}
      params: {gracePeriod: 0s}
"""
    )
    (scheduled,) = scenario.faults
    assert scheduled.at == 120 and scheduled.every == 300 and scheduled.duration is None
    fault = scheduled.fault
    assert isinstance(fault, PodKill) and fault.name == "kill-web" and fault.grace_period == 0
    assert fault.target.label_selector == {"app": "web"} and fault.target.mode == "fixed"
    assert fault.target.value == 2


def test_names_default_to_type_and_index() -> None:
    scenario = load("    - {type: pod-kill}\n    - {type: pod-kill, at: 1m}\n")
    assert [s.fault.name for s in scenario.faults] == ["pod-kill-0", "pod-kill-1"]


def test_unknown_type_gets_a_suggestion_with_its_line() -> None:
    (error,) = errors_of("    - {type: pod-kil}\n")
    assert error == (
        "s.yaml:11:8: spec.faults[0].type: unknown fault type 'pod-kil'; did you mean \"pod-kill\"?"
    )


def test_unknown_target_key_and_bad_mode_are_both_reported() -> None:
    errors = errors_of(
        """\
    - type: pod-kill
      target: {namespace: default, labelSelectr: {app: web}, mode: sometimes}
"""
    )
    assert any(
        "spec.faults[0].target.labelSelectr" in e and 'did you mean "labelSelector"' in e
        for e in errors
    )
    assert any("spec.faults[0].target.mode: expected one of one, all" in e for e in errors)


def test_bad_params_name_the_param_and_what_was_expected() -> None:
    errors = errors_of(
        """\
    - type: pod-kill
      params: {gracePeriod: soon, grace: 1s}
"""
    )
    assert any(
        e.startswith("s.yaml:12:") and "spec.faults[0].params.gracePeriod" in e for e in errors
    )
    assert any(
        'params.grace: unknown field "grace"; did you mean "gracePeriod"?' in e for e in errors
    )


def test_instantaneous_faults_take_no_duration() -> None:
    (error,) = errors_of("    - {type: pod-kill, duration: 1m}\n")
    assert "spec.faults[0].duration: pod-kill acts once" in error


def test_injection_after_the_end_is_refused() -> None:
    (error,) = errors_of("    - {type: pod-kill, at: 11m}\n")
    assert "spec.faults[0].at: 11m is not before the end of the scenario (10m)" in error


def test_percent_modes_need_a_value_in_range() -> None:
    errors = errors_of(
        """\
    - {type: pod-kill, target: {mode: fixed-percent}}
    - {type: pod-kill, target: {mode: fixed-percent, value: 150}}
    - {type: pod-kill, target: {mode: one, value: 3}}
"""
    )
    assert 'needs a "value"' in errors[0]
    assert "spec.faults[1].target.value: expected a percentage 0-100, got 150" in errors[1]
    assert "spec.faults[2].target.value: mode one takes no value" in errors[2]


def test_duplicate_fault_names_are_refused() -> None:
    (error,) = errors_of("    - {type: pod-kill, name: a}\n    - {type: pod-kill, name: a}\n")
    assert "duplicate fault name 'a'" in error and "spec.faults[1].name" in error


def test_faults_section_must_be_a_list_of_mappings() -> None:
    (error,) = errors_of("    oops\n")
    assert "spec.faults: expected a list" in error
