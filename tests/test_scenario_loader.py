from __future__ import annotations

from pathlib import Path

import pytest

from kubechaos.api.objects import Deployment, Service
from kubechaos.scenario.loader import ScenarioError, load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
apiVersion: kubechaos/v1
kind: Scenario
metadata:
  name: t
spec:
  duration: 2m
  cluster:
    nodeGroups:
      - name: worker
        count: 2
        capacity: {cpu: "2", memory: 4Gi, pods: 30}
    settings:
      nodeMonitorGracePeriod: 40s
  workloads:
    - manifest:
        apiVersion: v1
        kind: Service
        metadata: {name: web}
        spec:
          selector: {app: web}
          ports: [{port: 80}]
  traffic:
    - service: web
      rate: 5
      from: {nodes: [worker-1]}
"""


def errors_of(text: str) -> list[str]:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "s.yaml")
    return [str(e) for e in exc.value.errors]


def test_quickstart_loads() -> None:
    scenario = load_scenario(ROOT / "scenarios" / "quickstart.yaml")
    assert scenario.name == "quickstart" and scenario.seed == 42 and scenario.duration == 300
    assert scenario.cluster.node_count() == 3
    kinds = sorted(type(o).__name__ for o in scenario.workloads)
    assert kinds == ["Deployment", "Service"]
    deployment = next(o for o in scenario.workloads if isinstance(o, Deployment))
    assert deployment.spec.template.spec.containers[0].requests.cpu_millis == 250
    assert deployment.spec.template.spec.containers[0].requests.memory_bytes == 128 * 2**20
    assert scenario.traffic[0].source_nodes == ("worker-0", "worker-1", "worker-2")


def test_settings_overrides_and_inline_manifests() -> None:
    scenario = parse_scenario(GOOD)
    assert scenario.cluster.settings.node_monitor_grace_period == 40.0
    assert scenario.cluster.node_groups[0].capacity.memory_bytes == 4 * 2**30
    assert isinstance(scenario.workloads[0], Service)
    assert scenario.traffic[0].source_nodes == ("worker-1",)


def test_errors_name_file_line_column_and_field() -> None:
    text = GOOD.replace("count: 2", "count: -2")
    assert errors_of(text) == [
        "s.yaml:10:9: spec.cluster.nodeGroups[0].count: expected a whole number >= 1, got -2"
    ]


def test_unknown_keys_get_a_suggestion_and_all_errors_are_reported() -> None:
    text = (
        GOOD.replace("count: 2", "cuont: 2").replace("rate: 5", "rate: -1").replace("40s", "forty")
    )
    errors = errors_of(text)
    assert any(
        'nodeGroups[0].cuont: unknown field "cuont"; did you mean "count"?' in e for e in errors
    )
    assert any("spec.traffic[0].rate: expected requests per second > 0" in e for e in errors)
    assert any("settings.nodeMonitorGracePeriod: 'forty' is not a duration" in e for e in errors)
    assert len(errors) == 3


def test_manifest_errors_point_into_the_manifest() -> None:
    text = GOOD.replace("ports: [{port: 80}]", "ports: [{port: 80}]\n          type: Fancy")
    (error,) = errors_of(text)
    assert error.startswith("s.yaml:") and 'spec.type: Unsupported value: "Fancy"' in error


def test_manifest_file_errors_name_the_manifest_file(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  replicas: 2\n  selector: {matchLabels: {app: web}}\n  template:\n"
        "    metadata: {labels: {app: web}}\n    spec:\n      containers:\n"
        "        - name: web\n          image: nginx\n          resources: {requests: {cpu: lots}}\n"
    )
    text = GOOD.replace("    - manifest:", "    - path: m.yaml\n    - manifest:")
    scenario_file = tmp_path / "s.yaml"
    scenario_file.write_text(text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(scenario_file)
    (error,) = exc.value.errors
    assert error.file.endswith("m.yaml") and error.line == 13
    assert error.path == "spec.template.spec.containers[0].resources.requests.cpu"
    assert "'lots' is not a quantity" in error.message


def test_unsupported_kinds_are_warnings(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata: {name: data}\n"
        "spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}\n"
    )
    (tmp_path / "s.yaml").write_text(
        GOOD.replace("    - manifest:", "    - path: m.yaml\n    - manifest:")
    )
    scenario = load_scenario(tmp_path / "s.yaml")
    assert len(scenario.workloads) == 1
    assert (
        scenario.warnings and "PersistentVolumeClaim 'data' is not modelled" in scenario.warnings[0]
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: [1,\n", "s.yaml:2:1: invalid YAML"),
        ("- 1\n", "s.yaml:1:1: expected a mapping"),
        (GOOD.replace("kubechaos/v1", "v2"), 's.yaml:1:1: apiVersion: expected "kubechaos/v1"'),
        (
            GOOD.replace("service: web", "service: api"),
            "spec.traffic[0].service: no Service default/api",
        ),
        (GOOD.replace("nodes: [worker-1]", "nodes: [worker-9]"), "no node named 'worker-9'"),
        (
            GOOD.replace("duration: 2m", "duration: 2 minutes"),
            "spec.duration: '2 minutes' is not a duration",
        ),
        (GOOD.replace("memory: 4Gi", "memory: 4GB"), "capacity.memory: '4GB' is not a quantity"),
    ],
)
def test_bad_input_is_one_clear_line(text: str, expected: str) -> None:
    errors = errors_of(text)
    assert any(expected in e for e in errors), errors


def test_missing_file() -> None:
    with pytest.raises(ScenarioError) as exc:
        load_scenario("does/not/exist.yaml")
    assert "does/not/exist.yaml:1:1: cannot read file" in str(exc.value)
